"""``campuslab dashboards sync``: push the dashboards as code to a running Grafana.

The repository's ``dashboards/`` folder is the source (ARCHITECTURE.md,
"Grafana: dashboards as code"): the data-source provisioning YAML and the
dashboard JSON. docker compose mounts them for Grafana's file provisioning;
this command is the other way in, for a Grafana that is already running
(Grafana Cloud, a shared instance), through its HTTP API with grafana-client.

What it does, keyed by uid so that it is idempotent:

1. the data source from ``provisioning/datasources/campuslab.yaml``, with
   ``${INFLUX_URL}``-style references resolved the way Grafana resolves them
   (options first, then the environment): created, or updated in place;
2. the folder (``--folder``, default "CampusLab", uid ``campuslab``, the uid the
   file provider uses), created when missing;
3. every ``json/*.json`` dashboard, posted to ``/api/dashboards/db`` with
   ``overwrite`` into that folder.

Something already equal to the source is left alone and reported "unchanged",
so a second run writes nothing and dashboard versions stay put. Secrets cannot
be compared (Grafana never returns them): the token is sent when the data
source is created or changed, or when ``--update-secrets`` is given.
A data source or dashboard that Grafana loaded from provisioning files is
read-only through the API; it is reported and left as it is.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import typer
import yaml
from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException, GrafanaUnauthorizedError

DEFAULT_FOLDER = "CampusLab"
DATASOURCE_FILE = Path("provisioning") / "datasources" / "campuslab.yaml"
DASHBOARD_GLOB = "json/*.json"
SYNC_MESSAGE = "campuslab dashboards sync"
# Data-source settings the HTTP API takes (the provisioning file also has orgId, editable, version).
DATASOURCE_API_FIELDS = (
    "uid",
    "name",
    "type",
    "access",
    "url",
    "user",
    "database",
    "basicAuth",
    "basicAuthUser",
    "withCredentials",
    "isDefault",
    "jsonData",
    "secureJsonData",
)
_REFERENCE = re.compile(r"\$\$|\$\{(\w+)\}|\$(\w+)")


class SyncError(Exception):
    """Sync cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Change:
    """What sync did (or, in a dry run, would do) to one Grafana object."""

    kind: str  # "data source", "folder" or "dashboard"
    title: str
    uid: str
    outcome: str  # created, updated, unchanged, skipped; "would create"/"would update" in a dry run
    detail: str = ""

    def line(self) -> str:
        detail = f" — {self.detail}" if self.detail else ""
        return f"{self.kind:<12} {self.title} ({self.uid}): {self.outcome}{detail}"


# -- the source files ---------------------------------------------------------------------


def default_dashboards_dir() -> Path | None:
    """``dashboards/`` beside the installed code (a source checkout or editable install)."""
    candidate = Path(__file__).resolve().parents[1] / "dashboards"
    return candidate if (candidate / DATASOURCE_FILE).is_file() else None


def interpolate(text: str, values: Mapping[str, str]) -> str:
    """Resolve ``$VAR`` and ``${VAR}`` as Grafana does in provisioning files (``$$`` is a ``$``).

    An unknown variable becomes the empty string, as in Grafana.
    """

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return values.get(match.group(1) or match.group(2), "")

    return _REFERENCE.sub(replace, text)


def load_datasource(path: Path, values: Mapping[str, str]) -> dict[str, Any]:
    """The one data source of the provisioning file, ready for the HTTP API.

    Raises SyncError when the URL or the database/bucket resolve to nothing.
    Without a token the Authorization header is left out (an InfluxDB 1.x
    without authentication), instead of sending "Token " with nothing after it.
    """
    try:
        config = yaml.safe_load(interpolate(path.read_text(encoding="utf-8"), values))
        (source,) = config["datasources"]
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise SyncError(f"{path}: not a provisioning file with one data source ({exc})") from None
    payload = {key: source[key] for key in DATASOURCE_API_FIELDS if key in source}
    json_data = payload.setdefault("jsonData", {})
    if not payload.get("url"):
        raise SyncError(
            "the data source needs the InfluxDB URL: pass --influx-url or set INFLUX_URL"
        )
    if not (json_data.get("dbName") or payload.get("database")):
        raise SyncError(
            "the data source needs the bucket (or 1.x database): "
            "pass --influx-bucket or set INFLUX_BUCKET"
        )
    secure = payload.get("secureJsonData", {})
    if (
        json_data.get("httpHeaderName1") == "Authorization"
        and not str(secure.get("httpHeaderValue1", "")).removeprefix("Token").strip()
    ):
        json_data.pop("httpHeaderName1")
        secure.pop("httpHeaderValue1", None)
    if not secure:
        payload.pop("secureJsonData", None)
    return payload


def load_dashboards(folder: Path) -> list[dict[str, Any]]:
    """Every dashboard JSON of ``folder/json``, in file-name order; each must have a uid."""
    boards = []
    for path in sorted(folder.glob(DASHBOARD_GLOB)):
        try:
            board = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise SyncError(f"{path}: not valid dashboard JSON ({exc})") from None
        if not isinstance(board, dict) or not board.get("uid") or not board.get("title"):
            raise SyncError(f"{path}: a dashboard needs a uid and a title")
        boards.append(board)
    if not boards:
        raise SyncError(f"no dashboards in {folder / 'json'}")
    return boards


# -- talking to Grafana ----------------------------------------------------------------------


def public_url(url: str) -> str:
    """The URL without user and password, for messages."""
    parts = urlsplit(url)
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=host))


def connect(url: str, credential: str | tuple[str, str] | None, timeout: float) -> GrafanaApi:
    """A client for Grafana at ``url``, checked: reachable, and the credentials accepted.

    Raises SyncError with the reason when Grafana is unreachable, is not
    Grafana, or refuses the credentials.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SyncError(
            f"--grafana-url must be an http(s) URL such as http://localhost:3000, not {url!r}"
        )
    if parts.path not in ("", "/") and not parts.path.endswith("/"):
        url = urlunsplit(parts._replace(path=parts.path + "/"))  # Grafana under a sub-path
    api = GrafanaApi.from_url(url, credential=credential, timeout=timeout)
    shown = public_url(url)
    try:
        api.client.GET("/health")
    except (OSError, GrafanaException) as exc:
        status = getattr(exc, "status_code", 0)
        if status in (401, 403):  # Grafana itself answers /api/health without credentials
            raise SyncError(
                f"{shown} asked for credentials on GET /api/health ({status}); "
                "is a proxy in front of Grafana?"
            ) from None
        if status:
            raise SyncError(
                f"{shown} does not look like Grafana: GET /api/health answered {status}"
            ) from None
        raise SyncError(f"Grafana at {shown} is unreachable: {exc}") from None
    try:
        api.folder.get_all_folders()
    except GrafanaUnauthorizedError:
        raise SyncError(
            f"Grafana at {shown} refused the credentials (401 Unauthorized): check --token "
            "(or GRAFANA_TOKEN; a service account token) or --user/--password"
        ) from None
    except GrafanaClientError as exc:
        raise SyncError(_refused(shown, exc)) from None
    return api


def _refused(where: str, exc: GrafanaException) -> str:
    if exc.status_code == 403:
        return (
            f"Grafana at {where} refused the request (403 Forbidden): the token's role is too "
            "low; data sources need the Admin role, dashboards and folders the Editor role"
        )
    return f"Grafana at {where} answered {exc.status_code}: {exc.message}"


def _not_found(call: Callable[[], Any]) -> Any | None:
    try:
        return call()
    except GrafanaClientError as exc:
        if exc.status_code == 404:
            return None
        raise


def contains(actual: Any, wanted: Any) -> bool:
    """Whether ``actual`` holds everything ``wanted`` says (Grafana may add keys of its own)."""
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(
            key in actual and contains(actual[key], value) for key, value in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(wanted)
            and all(contains(a, w) for a, w in zip(actual, wanted, strict=True))
        )
    if _is_number(wanted) and _is_number(actual):
        return float(actual) == float(wanted)  # JSON may give 1 for 1.0
    return type(actual) is type(wanted) and actual == wanted


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def sync_datasource(
    api: GrafanaApi, wanted: dict[str, Any], dry_run: bool, update_secrets: bool = False
) -> Change:
    uid, name = wanted["uid"], wanted["name"]
    secrets = wanted.get("secureJsonData", {})
    current = _not_found(lambda: api.datasource.get_datasource_by_uid(uid))
    if current is None:
        if dry_run:
            return Change("data source", name, uid, "would create")
        try:
            api.datasource.create_datasource(wanted)
        except GrafanaClientError as exc:
            if exc.status_code == 409:
                raise SyncError(
                    f"Grafana already has a data source named {name!r} with another uid; "
                    f"rename or delete it, or give it uid {uid!r}"
                ) from None
            raise
        return Change("data source", name, uid, "created", f"{wanted['url']}")
    public = {key: value for key, value in wanted.items() if key != "secureJsonData"}
    secrets_set = current.get("secureJsonFields") or {}
    same = contains(current, public) and all(secrets_set.get(key) for key in secrets)
    if same and not (update_secrets and secrets):
        return Change("data source", name, uid, "unchanged", f"version {current.get('version')}")
    if current.get("readOnly"):
        return Change(
            "data source",
            name,
            uid,
            "skipped",
            "provisioned from file (read-only); change dashboards/provisioning instead",
        )
    if dry_run:
        return Change("data source", name, uid, "would update")
    api.datasource.update_datasource_by_uid(uid, {**wanted, "id": current.get("id")})
    detail = "secrets sent again" if same else f"{wanted['url']}"
    return Change("data source", name, uid, "updated", detail)


def folder_uid_for(title: str) -> str:
    """The folder uid for a title: "CampusLab" -> "campuslab" (the file provider's folderUid)."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return slug[:40] or "campuslab"


def ensure_folder(api: GrafanaApi, title: str, dry_run: bool) -> tuple[Change, str | None]:
    """The folder with this title (found by uid or by title), created when missing."""
    uid = folder_uid_for(title)
    found = _not_found(lambda: api.folder.get_folder(uid))
    if found is None:
        found = next((f for f in api.folder.get_all_folders() if f.get("title") == title), None)
    if found is not None:
        return Change("folder", title, found["uid"], "unchanged"), found["uid"]
    if dry_run:
        return Change("folder", title, uid, "would create"), None
    created = api.folder.create_folder(title, uid=uid)
    return Change("folder", title, created["uid"], "created"), created["uid"]


# Set by Grafana (id, version), or migrated on load by newer Grafanas (schemaVersion).
_NOT_COMPARED = ("id", "version", "schemaVersion")


def _comparable(board: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in board.items() if key not in _NOT_COMPARED}


def sync_dashboard(
    api: GrafanaApi, board: dict[str, Any], folder_uid: str | None, dry_run: bool
) -> Change:
    uid, title = board["uid"], board["title"]
    current = _not_found(lambda: api.dashboard.get_dashboard(uid))
    if current is not None:
        meta = current.get("meta", {})
        stored = current.get("dashboard", {})
        version = meta.get("version", stored.get("version"))
        same_folder = folder_uid is not None and meta.get("folderUid", "") == folder_uid
        if same_folder and contains(stored, _comparable(board)):
            return Change("dashboard", title, uid, "unchanged", f"version {version}")
        if meta.get("provisioned"):
            return Change(
                "dashboard",
                title,
                uid,
                "skipped",
                "provisioned from file (read-only in the API); the file provider keeps it in step",
            )
        if dry_run:
            return Change("dashboard", title, uid, "would update", f"version {version}")
    elif dry_run:
        return Change("dashboard", title, uid, "would create")
    answer = api.dashboard.update_dashboard(
        {
            "dashboard": {**board, "id": None},
            "folderUid": folder_uid,
            "overwrite": True,
            "message": SYNC_MESSAGE,
        }
    )
    if current is None:
        return Change("dashboard", title, uid, "created", f"version {answer.get('version')}")
    return Change(
        "dashboard",
        title,
        uid,
        "updated",
        f"version {current.get('meta', {}).get('version')} → {answer.get('version')}",
    )


def sync(
    api: GrafanaApi,
    datasource: dict[str, Any] | None,
    dashboards: list[dict[str, Any]],
    folder: str = DEFAULT_FOLDER,
    dry_run: bool = False,
    update_secrets: bool = False,
    where: str = "Grafana",
) -> list[Change]:
    """Push the data source (unless None), the folder and the dashboards; keyed by uid."""
    changes = []
    try:
        if datasource is not None:
            changes.append(sync_datasource(api, datasource, dry_run, update_secrets))
        folder_change, folder_uid = ensure_folder(api, folder, dry_run)
        changes.append(folder_change)
        for board in dashboards:
            changes.append(sync_dashboard(api, board, folder_uid, dry_run))
    except GrafanaUnauthorizedError:
        raise SyncError(f"{where} refused the credentials (401 Unauthorized)") from None
    except GrafanaException as exc:
        raise SyncError(_refused(where, exc)) from None
    except OSError as exc:
        raise SyncError(f"lost the connection to {where}: {exc}") from None
    return changes


# -- the command -------------------------------------------------------------------------------

dashboards_app = typer.Typer(
    name="dashboards",
    help="Grafana dashboards as code (dashboards/ in the repository).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@dashboards_app.callback()
def dashboards_group() -> None:
    """Grafana dashboards as code: push dashboards/ to a running Grafana."""


def _credential(
    token: str | None, user: str | None, password: str | None
) -> str | tuple[str, str] | None:
    if token and (user or password):
        raise SyncError("give either a token (--token/GRAFANA_TOKEN) or --user and --password")
    if token:
        return token
    if user or password:
        if not (user and password):
            raise SyncError("basic authentication needs both --user and --password")
        return (user, password)
    return None  # credentials in the URL (http://user:pass@host), or none


@dashboards_app.command("sync")
def sync_command(
    grafana_url: str = typer.Option(
        ..., "--grafana-url", envvar="GRAFANA_URL", help="Grafana, e.g. http://localhost:3000."
    ),
    token: str | None = typer.Option(
        None, "--token", envvar="GRAFANA_TOKEN", help="Service account token (Admin role)."
    ),
    user: str | None = typer.Option(None, "--user", envvar="GRAFANA_USER", help="Basic auth user."),
    password: str | None = typer.Option(
        None, "--password", envvar="GRAFANA_PASSWORD", help="Basic auth password."
    ),
    folder: str = typer.Option(DEFAULT_FOLDER, "--folder", help="Folder for the dashboards."),
    influx_url: str | None = typer.Option(
        None, "--influx-url", envvar="INFLUX_URL", help="InfluxDB URL as Grafana reaches it."
    ),
    influx_bucket: str | None = typer.Option(
        None, "--influx-bucket", envvar="INFLUX_BUCKET", help="Bucket (1.x: database)."
    ),
    influx_token: str | None = typer.Option(
        None, "--influx-token", envvar="INFLUX_TOKEN", help="InfluxDB read token."
    ),
    datasource: bool = typer.Option(
        True, "--datasource/--no-datasource", help="Also push the data source."
    ),
    update_secrets: bool = typer.Option(
        False, "--update-secrets", help="Send the InfluxDB token even if nothing else changed."
    ),
    dashboards_dir: Path | None = typer.Option(
        None,
        "--dashboards-dir",
        envvar="CAMPUSLAB_DASHBOARDS_DIR",
        help="The dashboards/ folder (default: the one beside the code).",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would change; write nothing."),
    timeout: float = typer.Option(10.0, "--timeout", min=0.1, help="Seconds per HTTP request."),
) -> None:
    """Create or update the InfluxDB data source, the folder and every dashboard, by uid.

    Idempotent: objects equal to dashboards/ are left alone ("unchanged").
    """
    try:
        source_dir = dashboards_dir or default_dashboards_dir()
        if source_dir is None:
            raise SyncError(
                "cannot find the dashboards/ folder: pass --dashboards-dir "
                "or set CAMPUSLAB_DASHBOARDS_DIR"
            )
        values = dict(os.environ)
        options = {
            "INFLUX_URL": influx_url,
            "INFLUX_BUCKET": influx_bucket,
            "INFLUX_TOKEN": influx_token,
        }
        values |= {key: value for key, value in options.items() if value is not None}
        wanted = load_datasource(source_dir / DATASOURCE_FILE, values) if datasource else None
        boards = load_dashboards(source_dir)
        api = connect(grafana_url, _credential(token, user, password), timeout)
        changes = sync(
            api,
            wanted,
            boards,
            folder,
            dry_run,
            update_secrets,
            f"Grafana at {public_url(grafana_url)}",
        )
    except SyncError as exc:
        typer.secho(f"campuslab dashboards sync: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
    for change in changes:
        typer.echo(change.line())
    counts: dict[str, int] = {}
    for change in changes:
        counts[change.outcome] = counts.get(change.outcome, 0) + 1
    summary = ", ".join(f"{count} {outcome}" for outcome, count in counts.items())
    typer.echo(("dry run: " if dry_run else "") + summary)
