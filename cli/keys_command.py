"""``campuslab keys create|list|revoke``: the API keys in ``<data-dir>/keys.json``.

``create`` prints the key once, alone on stdout (so ``KEY=$(campuslab keys
create ...)`` works), and what it is on stderr; the key itself is never stored,
listed or logged, only its HMAC-SHA256 with the server secret
(``<data-dir>/key-secret``, or ``CAMPUSLAB_KEY_SECRET_FILE``). A running
``campuslab serve``/``api`` over the same data folder picks up changes on its
next request.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from campuslab.api.keys import KEY_ROLES, ApiKey, KeyStore, KeyStoreError, Role, UnknownKey

DEMO_KEY_NAME = "demo (local user)"

# the roles a key may have (public needs no key), as choices typer checks and lists
KeyRole = StrEnum("KeyRole", {r.name: r.value for r in KEY_ROLES})

keys_app = typer.Typer(
    help="API keys: create, list and revoke the keys callers send as "
    "'Authorization: Bearer <key>'.",
    no_args_is_help=True,
)

DataDir = Annotated[
    Path,
    typer.Option(
        envvar="CAMPUSLAB_DATA_DIR",
        help="Data folder of the API (the same --data-dir as `campuslab serve`); the keys "
        "are in keys.json there.",
    ),
]


def _fail(exc: KeyStoreError) -> typer.Exit:
    typer.secho(str(exc), fg="red", err=True)
    return typer.Exit(1)


def _store(data_dir: Path) -> KeyStore:
    try:
        return KeyStore.in_data_dir(data_dir)
    except KeyStoreError as exc:
        raise _fail(exc) from None


@keys_app.command("create")
def create(
    role: Annotated[
        KeyRole,
        typer.Option(
            case_sensitive=False,
            help="researcher (series, KPIs, exports; privacy-suppressed), planner (+ reports, "
            "recommendations), facilities (everything, unsuppressed), admin (+ keys).",
        ),
    ],
    name: Annotated[str, typer.Option(help="Who or what the key is for.")],
    data_dir: DataDir = Path("data"),
) -> None:
    """Create a key and print it, once: it is stored only as a keyed hash (HMAC-SHA256)."""
    store = _store(data_dir)
    try:
        created = store.create(Role(role.value), name)
    except KeyStoreError as exc:  # e.g. the server secret could not be written
        raise _fail(exc) from None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--name") from None
    typer.echo(created.secret)
    typer.echo(
        f"created key {created.key.id} ({created.key.name!r}, role {created.key.role}) in "
        f"{store.path}. This is the only time the key is shown: store it now. Send it as "
        "'Authorization: Bearer <key>'.",
        err=True,
    )


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M")


def _as_json(key: ApiKey) -> dict[str, object]:
    return {
        "id": key.id,
        "name": key.name,
        "role": key.role.value,
        "created": key.created.isoformat(),
        "last_used": key.last_used.isoformat() if key.last_used else None,
        "revoked": key.revoked,
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }


@keys_app.command("list")
def list_keys(
    data_dir: DataDir = Path("data"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List the keys (never the keys themselves): id, role, name, created, last used, state."""
    keys = _store(data_dir).list()
    if as_json:
        typer.echo(json.dumps([_as_json(k) for k in keys], indent=2))
        return
    if not keys:
        typer.echo(f"no API keys in {data_dir}; create one with `campuslab keys create`")
        return
    rows = [("ID", "ROLE", "STATE", "CREATED (UTC)", "LAST USED", "NAME")]
    rows += [
        (
            k.id,
            k.role.value,
            "revoked" if k.revoked else "active",
            _when(k.created),
            _when(k.last_used),
            k.name,
        )
        for k in keys
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)] + [0]
    for row in rows:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@keys_app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id, as `campuslab keys list` shows.")],
    data_dir: DataDir = Path("data"),
) -> None:
    """Revoke a key: it is refused from the next request on (it stays listed)."""
    try:
        key = _store(data_dir).revoke(key_id)
    except UnknownKey:
        typer.secho(
            f"no key {key_id!r} in {data_dir}; `campuslab keys list` shows the ids",
            fg="red",
            err=True,
        )
        raise typer.Exit(1) from None
    except KeyStoreError as exc:
        raise _fail(exc) from None
    typer.echo(f"revoked key {key.id} ({key.name!r}, role {key.role})")


def create_demo_key(data_dir: Path) -> str:
    """A fresh facilities key for the person running ``campuslab demo``; returns the key.

    Keys are stored only as hashes, so an earlier run's key cannot be shown
    again: earlier demo keys are revoked and a new one is made each run.
    """
    store = KeyStore.in_data_dir(data_dir)
    for key in store.list():
        if key.name == DEMO_KEY_NAME and not key.revoked:
            store.revoke(key.id)
    return store.create(Role.FACILITIES, DEMO_KEY_NAME).secret
