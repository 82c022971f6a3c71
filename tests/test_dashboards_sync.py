"""``campuslab dashboards sync`` against a stand-in for Grafana, and against a real one if given.

Grafana cannot be installed on this machine (no package registry carries it,
and there is no Docker engine; ARCHITECTURE.md). These tests therefore run the
command, through grafana-client and real HTTP, against a small stand-in
server started here: a FastAPI app implementing only the Grafana HTTP API
endpoints that sync calls (/api/health, /api/datasources..., /api/folders...,
/api/dashboards/db, /api/dashboards/uid/{uid}), with Grafana's status codes
for the cases sync handles (401, 403, 404, 409, read-only provisioned objects).
It records what it stores, so the tests assert outcomes: what exists after a
sync, and that a second sync writes nothing.

The stand-in is not Grafana. ``test_live_grafana`` runs the same sync twice
against a real Grafana when CAMPUSLAB_TEST_GRAFANA_URL is set (see its skip
message for the docker command).
"""

from __future__ import annotations

import base64
import copy
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from servers.mosquitto import free_port
from typer.testing import CliRunner

from campuslab.cli.dashboards_command import (
    connect,
    contains,
    dashboards_app,
    interpolate,
    load_dashboards,
    load_datasource,
    sync,
)

DASHBOARDS = Path(__file__).resolve().parents[1] / "dashboards"
DATASOURCE_FILE = DASHBOARDS / "provisioning" / "datasources" / "campuslab.yaml"
TOKEN = "glsa_test_token"
INFLUX = {
    "INFLUX_URL": "http://influxdb:8086",
    "INFLUX_BUCKET": "campuslab",
    "INFLUX_TOKEN": "influx-secret",
}


class FakeGrafana:
    """The slice of Grafana's HTTP API that sync uses, with state and a request log."""

    def __init__(self) -> None:
        self.datasources: dict[str, dict] = {}
        self.secrets: dict[str, dict] = {}  # uid -> secureJsonData as sent (Grafana keeps it)
        self.folders: dict[str, dict] = {}
        self.dashboards: dict[str, dict] = {}  # uid -> {"dashboard", "folderUid", "provisioned"}
        self.writes: list[str] = []
        self.next_id = 1
        self.app = self._build()

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    def _authorised(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if header == f"Bearer {TOKEN}":
            return True
        basic = "Basic " + base64.b64encode(b"admin:admin").decode()
        return header == basic

    def _build(self) -> FastAPI:
        app = FastAPI()
        fake = self

        @app.middleware("http")
        async def auth(request: Request, call_next):
            if request.url.path != "/api/health" and not fake._authorised(request):
                return JSONResponse({"message": "invalid API key"}, status_code=401)
            if request.method in ("POST", "PUT", "DELETE"):
                fake.writes.append(f"{request.method} {request.url.path}")
            return await call_next(request)

        @app.get("/api/health")
        def health():
            return {"commit": "stand-in", "database": "ok", "version": "11.2.0"}

        @app.get("/api/datasources")
        def list_datasources():
            return list(fake.datasources.values())

        @app.get("/api/datasources/uid/{uid}")
        def get_datasource(uid: str):
            if uid not in fake.datasources:
                return JSONResponse({"message": "Data source not found"}, status_code=404)
            return fake.datasources[uid]

        @app.post("/api/datasources")
        async def create_datasource(request: Request):
            body = await request.json()
            if any(d["name"] == body["name"] for d in fake.datasources.values()):
                return JSONResponse(
                    {"message": "data source with the same name already exists"}, status_code=409
                )
            uid = body.get("uid") or uuid.uuid4().hex[:12]
            record = fake._datasource_record(uid, body, self_id=fake._id(), version=1)
            fake.datasources[uid] = record
            return {"datasource": record, "id": record["id"], "message": "Datasource added"}

        @app.put("/api/datasources/uid/{uid}")
        async def update_datasource(uid: str, request: Request):
            current = fake.datasources.get(uid)
            if current is None:
                return JSONResponse({"message": "Data source not found"}, status_code=404)
            if current["readOnly"]:
                return JSONResponse(
                    {"message": "Cannot update read-only data source"}, status_code=403
                )
            body = await request.json()
            record = fake._datasource_record(
                uid, body, self_id=current["id"], version=current["version"] + 1
            )
            fake.datasources[uid] = record
            return {"datasource": record, "id": record["id"], "message": "Datasource updated"}

        @app.get("/api/folders")
        def list_folders():
            return [
                {"id": f["id"], "uid": f["uid"], "title": f["title"]} for f in fake.folders.values()
            ]

        @app.get("/api/folders/{uid}")
        def get_folder(uid: str):
            if uid not in fake.folders:
                return JSONResponse({"message": "folder not found"}, status_code=404)
            return fake.folders[uid]

        @app.post("/api/folders")
        async def create_folder(request: Request):
            body = await request.json()
            uid = body.get("uid") or uuid.uuid4().hex[:12]
            if uid in fake.folders or any(
                f["title"] == body["title"] for f in fake.folders.values()
            ):
                return JSONResponse(
                    {"message": "a folder with the same name already exists"}, status_code=409
                )
            fake.folders[uid] = {"id": fake._id(), "uid": uid, "title": body["title"], "version": 1}
            return fake.folders[uid]

        @app.post("/api/dashboards/db")
        async def save_dashboard(request: Request):
            body = await request.json()
            board = copy.deepcopy(body["dashboard"])
            uid = board.get("uid")
            if not uid or not board.get("title"):
                return JSONResponse({"message": "Dashboard title cannot be empty"}, 400)
            folder_uid = body.get("folderUid") or ""
            if folder_uid and folder_uid not in fake.folders:
                return JSONResponse({"message": "folder not found"}, status_code=400)
            current = fake.dashboards.get(uid)
            if current and current["provisioned"]:
                return JSONResponse({"message": "Cannot save provisioned dashboard"}, 400)
            if current and not body.get("overwrite"):
                return JSONResponse({"status": "version-mismatch"}, status_code=412)
            version = current["dashboard"]["version"] + 1 if current else 1
            board_id = current["dashboard"]["id"] if current else fake._id()
            board.update(id=board_id, uid=uid, version=version)
            fake.dashboards[uid] = {
                "dashboard": board,
                "folderUid": folder_uid,
                "provisioned": False,
            }
            return {
                "id": board_id,
                "uid": uid,
                "status": "success",
                "version": version,
                "url": f"/d/{uid}/x",
                "slug": "x",
            }

        @app.get("/api/dashboards/uid/{uid}")
        def get_dashboard(uid: str):
            stored = fake.dashboards.get(uid)
            if stored is None:
                return JSONResponse({"message": "Dashboard not found"}, status_code=404)
            folder = fake.folders.get(stored["folderUid"], {"id": 0, "title": "General"})
            return {
                "dashboard": stored["dashboard"],
                "meta": {
                    "folderUid": stored["folderUid"],
                    "folderId": folder["id"],
                    "folderTitle": folder["title"],
                    "version": stored["dashboard"]["version"],
                    "provisioned": stored["provisioned"],
                    "slug": "x",
                },
            }

        return app

    def _datasource_record(self, uid: str, body: dict, self_id: int, version: int) -> dict:
        secure = body.get("secureJsonData") or {}
        kept = self.secrets.setdefault(uid, {})
        kept.update(secure)
        record = {key: value for key, value in body.items() if key not in ("secureJsonData", "id")}
        record.update(
            id=self_id,
            uid=uid,
            orgId=1,
            version=version,
            readOnly=False,
            basicAuth=body.get("basicAuth", False),
            database=body.get("database", ""),
            user=body.get("user", ""),
            typeLogoUrl="public/app/plugins/datasource/influxdb/img/influxdb_logo.svg",
            jsonData=body.get("jsonData", {}),
            secureJsonFields={key: True for key in kept},
        )
        return record


@pytest.fixture
def grafana() -> Iterator[tuple[FakeGrafana, str]]:
    fake = FakeGrafana()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(fake.app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "stand-in Grafana did not start"
        time.sleep(0.02)
    yield fake, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def cli() -> typer.Typer:
    """The command as the lead registers it: app.add_typer(dashboards_app, name="dashboards")."""
    app = typer.Typer()
    app.add_typer(dashboards_app, name="dashboards")
    return app


def run_sync(url: str, *extra: str, env: dict | None = None, dashboards_dir: Path = DASHBOARDS):
    environment = {**INFLUX, "GRAFANA_TOKEN": TOKEN, **(env or {})}
    args = ["dashboards", "sync", "--grafana-url", url, "--dashboards-dir", str(dashboards_dir)]
    return CliRunner().invoke(cli(), [*args, *extra], env=environment)


def outcomes(output: str) -> dict[str, str]:
    """'dashboard    Title (uid): outcome — detail' lines -> {uid: outcome}."""
    found = {}
    for line in output.splitlines():
        if "): " in line:
            uid = line.split("(", 1)[1].split(")", 1)[0]
            found[uid] = line.split("): ", 1)[1].split(" — ")[0]
    return found


def source_boards() -> dict[str, dict]:
    return {board["uid"]: board for board in load_dashboards(DASHBOARDS)}


# -- the source files ---------------------------------------------------------------------------


def test_provisioning_references_resolve_like_grafana():
    assert interpolate("${A}/$B/$$C/${MISSING}", {"A": "a", "B": "b"}) == "a/b/$C/"
    source = load_datasource(DATASOURCE_FILE, INFLUX)
    assert source["uid"] == "campuslab-influxdb"
    assert source["url"] == "http://influxdb:8086"
    assert source["jsonData"]["dbName"] == "campuslab"
    assert source["jsonData"]["version"] == "InfluxQL"
    assert source["secureJsonData"] == {"httpHeaderValue1": "Token influx-secret"}
    assert "editable" not in source and "orgId" not in source  # provisioning-only keys


def test_without_a_token_no_authorization_header_is_sent():
    source = load_datasource(DATASOURCE_FILE, {**INFLUX, "INFLUX_TOKEN": ""})
    assert "httpHeaderName1" not in source["jsonData"]
    assert "secureJsonData" not in source


def test_comparison_ignores_what_grafana_adds_but_not_what_it_changes():
    source = {"title": "T", "panels": [{"id": 1, "gridPos": {"h": 5}}], "refresh": "1m"}
    stored = {
        **source,
        "id": 7,
        "version": 3,
        "panels": [{"id": 1, "gridPos": {"h": 5.0}, "pluginVersion": "11.4.0"}],
    }
    assert contains(stored, source)
    assert not contains({**stored, "refresh": "5m"}, source)
    assert not contains({**stored, "panels": []}, source)
    assert not contains({**stored, "panels": [{"id": "1", "gridPos": {"h": 5}}]}, source)
    assert not contains({"flag": 1}, {"flag": True})


# -- sync against the stand-in ------------------------------------------------------------------


def test_first_sync_creates_the_datasource_folder_and_dashboards(grafana):
    fake, url = grafana
    result = run_sync(url)
    assert result.exit_code == 0, result.output
    done = outcomes(result.output)
    assert done["campuslab-influxdb"] == "created"
    assert done["campuslab"] == "created"
    boards = source_boards()
    assert len(boards) >= 4
    assert all(done[uid] == "created" for uid in boards)

    source = fake.datasources["campuslab-influxdb"]
    assert source["type"] == "influxdb" and source["url"] == "http://influxdb:8086"
    assert source["jsonData"]["dbName"] == "campuslab"
    assert source["jsonData"]["httpHeaderName1"] == "Authorization"
    assert fake.secrets["campuslab-influxdb"] == {"httpHeaderValue1": "Token influx-secret"}
    assert fake.folders["campuslab"]["title"] == "CampusLab"
    assert set(fake.dashboards) == set(boards)
    for uid, stored in fake.dashboards.items():
        assert stored["folderUid"] == "campuslab"
        assert stored["dashboard"]["panels"] == boards[uid]["panels"]
        assert stored["dashboard"]["version"] == 1


def test_second_sync_changes_nothing(grafana):
    fake, url = grafana
    assert run_sync(url).exit_code == 0
    writes_after_first = list(fake.writes)
    versions = {uid: d["dashboard"]["version"] for uid, d in fake.dashboards.items()}

    result = run_sync(url)
    assert result.exit_code == 0, result.output
    assert set(outcomes(result.output).values()) == {"unchanged"}
    assert fake.writes == writes_after_first, "the second run wrote to Grafana"
    assert {uid: d["dashboard"]["version"] for uid, d in fake.dashboards.items()} == versions
    assert fake.datasources["campuslab-influxdb"]["version"] == 1
    assert len(fake.folders) == 1


def test_a_dashboard_edited_on_disk_is_updated_in_place(grafana, tmp_path):
    fake, url = grafana
    copy_dir = tmp_path / "dashboards"
    shutil.copytree(DASHBOARDS, copy_dir)
    assert run_sync(url, dashboards_dir=copy_dir).exit_code == 0
    edited = copy_dir / "json" / "campuslab-climate.json"
    board = json.loads(edited.read_text())
    board["panels"][0]["title"] = "CO₂ (edited)"
    edited.write_text(json.dumps(board, indent=2))
    ids_before = {uid: d["dashboard"]["id"] for uid, d in fake.dashboards.items()}

    result = run_sync(url, dashboards_dir=copy_dir)
    assert result.exit_code == 0, result.output
    done = outcomes(result.output)
    assert done["campuslab-climate"] == "updated"
    assert [o for uid, o in done.items() if uid != "campuslab-climate"] == ["unchanged"] * (
        len(done) - 1
    )
    stored = fake.dashboards["campuslab-climate"]["dashboard"]
    assert stored["panels"][0]["title"] == "CO₂ (edited)"
    assert stored["version"] == 2
    assert {uid: d["dashboard"]["id"] for uid, d in fake.dashboards.items()} == ids_before
    assert "version 1 → 2" in result.output


def test_a_changed_influx_url_updates_the_datasource_in_place(grafana):
    fake, url = grafana
    assert run_sync(url).exit_code == 0
    result = run_sync(url, env={"INFLUX_URL": "http://influx.campus.example:8086"})
    assert outcomes(result.output)["campuslab-influxdb"] == "updated"
    source = fake.datasources["campuslab-influxdb"]
    assert source["url"] == "http://influx.campus.example:8086"
    assert source["version"] == 2 and len(fake.datasources) == 1


def test_update_secrets_sends_a_rotated_token(grafana):
    fake, url = grafana
    assert run_sync(url).exit_code == 0
    rotated = {"INFLUX_TOKEN": "rotated"}
    assert outcomes(run_sync(url, env=rotated).output)["campuslab-influxdb"] == "unchanged"
    result = run_sync(url, "--update-secrets", env=rotated)
    assert outcomes(result.output)["campuslab-influxdb"] == "updated"
    assert fake.secrets["campuslab-influxdb"]["httpHeaderValue1"] == "Token rotated"


def test_dry_run_writes_nothing(grafana):
    fake, url = grafana
    result = run_sync(url, "--dry-run")
    assert result.exit_code == 0, result.output
    assert set(outcomes(result.output).values()) == {"would create"}
    assert fake.writes == [] and not fake.dashboards and not fake.datasources


def test_basic_auth_and_folder_option(grafana):
    fake, url = grafana
    result = run_sync(
        url,
        "--user",
        "admin",
        "--password",
        "admin",
        "--folder",
        "Facilities",
        "--no-datasource",
        env={"GRAFANA_TOKEN": ""},
    )
    assert result.exit_code == 0, result.output
    assert not fake.datasources
    assert fake.folders["facilities"]["title"] == "Facilities"
    assert {d["folderUid"] for d in fake.dashboards.values()} == {"facilities"}


def test_an_existing_folder_with_that_title_is_reused(grafana):
    fake, url = grafana
    fake.folders["Xy12"] = {"id": 50, "uid": "Xy12", "title": "CampusLab", "version": 1}
    result = run_sync(url)
    assert result.exit_code == 0, result.output
    assert outcomes(result.output)["Xy12"] == "unchanged"
    assert list(fake.folders) == ["Xy12"]
    assert {d["folderUid"] for d in fake.dashboards.values()} == {"Xy12"}
    assert set(outcomes(run_sync(url).output).values()) == {"unchanged"}


def test_provisioned_datasource_is_left_alone(grafana):
    fake, url = grafana
    assert run_sync(url).exit_code == 0
    fake.datasources["campuslab-influxdb"]["readOnly"] = True
    result = run_sync(url, env={"INFLUX_URL": "http://elsewhere:8086"})
    assert result.exit_code == 0, result.output
    assert outcomes(result.output)["campuslab-influxdb"] == "skipped"
    assert "provisioned" in result.output
    assert fake.datasources["campuslab-influxdb"]["url"] == "http://influxdb:8086"


def test_refused_token_is_a_clear_error(grafana):
    fake, url = grafana
    result = run_sync(url, env={"GRAFANA_TOKEN": "wrong"})
    assert result.exit_code == 1
    assert "refused the credentials (401 Unauthorized)" in result.output
    assert fake.writes == []


def test_unreachable_grafana_is_a_clear_error():
    url = f"http://127.0.0.1:{free_port()}"
    result = run_sync(url)
    assert result.exit_code == 1
    assert f"Grafana at {url} is unreachable" in result.output


@pytest.mark.servers
def test_a_server_that_is_not_grafana_is_a_clear_error(influxdb1):
    result = run_sync(influxdb1.url)
    assert result.exit_code == 1
    assert "does not look like Grafana: GET /api/health answered 404" in result.output


def test_missing_influx_url_is_a_clear_error(grafana):
    _, url = grafana
    result = run_sync(url, env={"INFLUX_URL": ""})
    assert result.exit_code == 1
    assert "--influx-url" in result.output


def test_name_clash_with_another_datasource_is_a_clear_error(grafana):
    fake, url = grafana
    fake.datasources["other"] = {"uid": "other", "name": "CampusLab InfluxDB", "id": 99}
    result = run_sync(url)
    assert result.exit_code == 1
    assert "already has a data source named 'CampusLab InfluxDB'" in result.output


# -- a real Grafana, when one is given ----------------------------------------------------------

LIVE_URL = os.environ.get("CAMPUSLAB_TEST_GRAFANA_URL")
LIVE_TOKEN = os.environ.get("CAMPUSLAB_TEST_GRAFANA_TOKEN")


@pytest.mark.skipif(
    not LIVE_URL,
    reason=(
        "no real Grafana: it cannot be installed here. To run this test, start one with "
        "`docker run -d --rm -p 3000:3000 grafana/grafana-oss:11.4.0`, then "
        "`CAMPUSLAB_TEST_GRAFANA_URL=http://admin:admin@localhost:3000 "
        ".venv/bin/pytest tests/test_dashboards_sync.py -k live` (or set "
        "CAMPUSLAB_TEST_GRAFANA_URL=http://localhost:3000 and CAMPUSLAB_TEST_GRAFANA_TOKEN "
        "to a service account token with the Admin role)"
    ),
)
def test_live_grafana():
    """Sync twice against a real Grafana: the second run must find everything unchanged."""
    api = connect(LIVE_URL, LIVE_TOKEN, timeout=10)
    source = load_datasource(DATASOURCE_FILE, INFLUX)
    boards = load_dashboards(DASHBOARDS)
    first = sync(api, source, boards)
    assert {c.outcome for c in first} <= {"created", "updated", "unchanged"}, first
    second = sync(api, source, boards)
    assert {c.outcome for c in second} == {"unchanged"}, [c.line() for c in second]
    for board in boards:
        stored = api.dashboard.get_dashboard(board["uid"])
        assert stored["meta"]["folderUid"] == "campuslab"
        assert len(stored["dashboard"]["panels"]) == len(board["panels"])
