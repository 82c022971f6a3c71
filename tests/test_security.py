"""API keys, roles and hardening, against create_app over a real DuckDB store.

Roles: public < researcher < planner < facilities < admin. The role matrix
below is the contract: every route the app has must appear in ROUTE_ROLES.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
import typer
from fastapi import APIRouter
from typer.testing import CliRunner

from campuslab.api import create_app
from campuslab.api.keys import (
    LAST_USED_GRANULARITY,
    SECRET_FILE_ENV,
    KeyRejected,
    KeyRejection,
    KeyStore,
    KeyStoreError,
    Role,
)
from campuslab.api.security import Principal, ResearcherDep, api_routes, required_role
from campuslab.cli.keys_command import DEMO_KEY_NAME, create_demo_key, keys_app
from campuslab.core.readings import ReadingBatch, to_epoch_us
from campuslab.core.registry import Campus
from campuslab.core.store.duckdb import DuckDBStore

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PROBLEM = "application/problem+json"
WINDOW = {"start": "2026-11-26T10:00:00Z", "end": "2026-11-26T11:00:00Z"}
CO2 = [("2026-11-26T10:00:00Z", 600.0), ("2026-11-26T10:15:00Z", 700.0)]


def seed(store: DuckDBStore) -> None:
    batch = ReadingBatch()
    for stamp, value in CO2:
        batch.append(to_epoch_us(datetime.fromisoformat(stamp)), "rfb", "rfb-101", "co2", value)
    batch.append(
        to_epoch_us(datetime(2026, 11, 26, 10, tzinfo=UTC)), "rfb", "rfb-106", "occupancy", 3.0
    )
    store.write(batch)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    store = DuckDBStore(tmp_path / "campus.duckdb")
    seed(store)
    yield store
    store.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def keys(data_dir: Path) -> KeyStore:
    return KeyStore.in_data_dir(data_dir)


@pytest.fixture
def secrets(keys: KeyStore) -> dict[Role, str]:
    """One key per role that has keys."""
    return {
        role: keys.create(role, f"{role} tester").secret
        for role in (Role.RESEARCHER, Role.PLANNER, Role.FACILITIES, Role.ADMIN)
    }


@pytest.fixture
def app(store: DuckDBStore, campus: Campus, keys: KeyStore):
    return create_app(store, campus, keys=keys, status=lambda: _INGEST_STATUS)


@pytest.fixture
def client(app) -> TestClient:
    return TestClient(app)


_INGEST_STATUS = {
    "broker": "mqtt://broker.internal:1883",
    "connected": True,
    "subscription": "campus/#",
    "backlog": 0,
    "stored": 12,
}


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def assert_problem(response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    for word in words:
        assert word in body["detail"], (word, body["detail"])
    assert "Traceback" not in response.text
    return body


# -- the role matrix -----------------------------------------------------------------------

# (method, route template) -> the lowest role that may use it; None = public
ROUTE_ROLES: dict[tuple[str, str], Role | None] = {
    ("GET", "/api/v1/spaces"): None,
    ("GET", "/api/v1/spaces/available"): None,  # free study spaces now
    ("GET", "/api/v1/stream"): None,  # the overview page's live updates (SSE)
    ("GET", "/api/v1/spaces/{space_id}"): None,
    ("GET", "/api/v1/health"): None,
    ("GET", "/api/v1/problems"): None,
    ("GET", "/api/v1/problems/{name}"): None,
    ("GET", "/api/v1/spaces/{space_id}/readings"): Role.RESEARCHER,
    ("GET", "/api/v1/spaces/{space_id}/utilisation"): Role.RESEARCHER,
    ("GET", "/metrics"): Role.FACILITIES,
    ("GET", "/api/v1/export"): Role.RESEARCHER,
    ("GET", "/api/v1/export.zip"): Role.RESEARCHER,
    ("GET", "/api/v1/export/card"): Role.RESEARCHER,
    ("GET", "/api/v1/export/card.md"): Role.RESEARCHER,
    ("GET", "/api/v1/campus.ttl"): None,
    ("GET", "/api/v1/keys"): Role.ADMIN,
    ("POST", "/api/v1/keys"): Role.ADMIN,
    ("GET", "/api/v1/keys/{key_id}"): Role.ADMIN,
    ("DELETE", "/api/v1/keys/{key_id}"): Role.ADMIN,
    # analytics (tests/test_analytics_api.py); counts of people suppressed below facilities
    ("GET", "/api/v1/spaces/{space_id}/ieq"): Role.RESEARCHER,
    ("GET", "/api/v1/spaces/{space_id}/bookings"): Role.RESEARCHER,
    ("POST", "/api/v1/spaces/{space_id}/timetable"): Role.PLANNER,
    ("GET", "/api/v1/buildings/{building_id}/energy"): Role.RESEARCHER,
    ("GET", "/api/v1/buildings/{building_id}/savings"): Role.RESEARCHER,
    ("GET", "/api/v1/buildings/{building_id}/utilisation"): Role.RESEARCHER,
    ("GET", "/api/v1/campus/utilisation"): Role.RESEARCHER,
    ("GET", "/api/v1/quality"): Role.FACILITIES,
    ("GET", "/api/v1/dead-letters"): Role.FACILITIES,  # rejected messages (ingest)
    ("GET", "/api/v1/devices"): Role.FACILITIES,  # device health (test_device_health_api.py)
    ("GET", "/api/v1/recommendations"): Role.PLANNER,
    ("GET", "/api/v1/report"): Role.PLANNER,
}
# routes of the overview page and of other parts whose own tests cover them
OTHER_ROUTES = {"/", "/static/{name}", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
# endless answers (server-sent events) are left out of the request matrix
NOT_REQUESTED = {"/api/v1/stream"}
# needs an iCalendar body; its roles are requested in tests/test_analytics_api.py
NOT_REQUESTED.add("/api/v1/spaces/{space_id}/timetable")
# needs a baseline with data; its roles are requested in tests/test_savings_api.py
NOT_REQUESTED.add("/api/v1/buildings/{building_id}/savings")
MATRIX = [(m, r) for m, r in ROUTE_ROLES if r not in NOT_REQUESTED]

CALLERS = [Role.PUBLIC, Role.RESEARCHER, Role.PLANNER, Role.FACILITIES, Role.ADMIN]


def _request(client: TestClient, keys: KeyStore, method: str, route: str, headers: dict):
    """One well-formed request to ``route``, so only the caller's role decides the answer."""
    if route.startswith("/api/v1/keys/"):
        victim = keys.create(Role.RESEARCHER, "victim").key.id
        return client.request(method, route.replace("{key_id}", victim), headers=headers)
    if route == "/api/v1/keys" and method == "POST":
        return client.post(route, json={"name": "new", "role": "planner"}, headers=headers)
    path = route.replace("{space_id}", "rfb-106" if "utilisation" in route else "rfb-101").replace(
        "{name}", "unauthorized"
    )
    path = path.replace("{building_id}", "rfb")
    params = {"quantity": "co2", "every": "15m", **WINDOW} if path.endswith("/readings") else {}
    if path.endswith("/utilisation") or path == "/api/v1/report":
        params = WINDOW  # a report of a period without data is a 404 no-data problem
    if path.startswith("/api/v1/export"):
        params = {"quantity": "co2", "every": "15m", **WINDOW}
    return client.request(method, path, params=params, headers=headers)


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "route"), MATRIX)
def test_role_matrix(client, keys, secrets, caller: Role, method: str, route: str):
    minimum = ROUTE_ROLES[(method, route)]
    headers = {} if caller is Role.PUBLIC else bearer(secrets[caller])
    response = _request(client, keys, method, route, headers)
    if minimum is None or caller.includes(minimum):
        assert response.status_code in (200, 201), (caller, route, response.text)
    elif caller is Role.PUBLIC:
        body = assert_problem(response, 401, "needs an API key", "Authorization: Bearer")
        assert body["type"] == "/api/v1/problems/unauthorized"
        assert body["required_role"] == minimum.value
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="campuslab"'
    else:
        body = assert_problem(response, 403, f"needs role {minimum.value}", caller.value)
        assert body["type"] == "/api/v1/problems/forbidden"
        assert body["required_role"] == minimum.value
        assert "insufficient_scope" in response.headers["WWW-Authenticate"]


def test_every_route_has_a_decided_role(app):
    """A new route must be added to ROUTE_ROLES, with the role it was meant to have."""
    seen = set()
    for route in api_routes(app):
        if route.path_format in OTHER_ROUTES:
            continue
        for method in route.methods:
            seen.add((method, route.path_format))
            assert (method, route.path_format) in ROUTE_ROLES, (
                f"{method} {route.path_format} (role {required_role(route) or 'public'}) "
                "is not in ROUTE_ROLES"
            )
            assert required_role(route) == ROUTE_ROLES[(method, route.path_format)], route
    assert seen == set(ROUTE_ROLES)


def test_unknown_space_on_a_protected_route_is_401_not_404(client):
    """Without a key, a protected route says nothing about what exists."""
    assert_problem(client.get("/api/v1/spaces/nope/readings", params={"quantity": "co2"}), 401)


def test_role_order_and_suppression():
    assert [r.rank for r in CALLERS] == sorted(r.rank for r in CALLERS)
    assert Role.ADMIN.includes(Role.FACILITIES) and not Role.PLANNER.includes(Role.FACILITIES)
    seen = {role: Principal(role, "k", "n").sees_unsuppressed for role in CALLERS}
    assert seen == {
        Role.PUBLIC: False,
        Role.RESEARCHER: False,
        Role.PLANNER: False,
        Role.FACILITIES: True,
        Role.ADMIN: True,
    }
    assert Principal.PUBLIC.role is Role.PUBLIC and Principal.PUBLIC.key_id is None


def test_health_shows_ingest_internals_only_to_facilities(client, secrets):
    public = client.get("/api/v1/health").json()
    assert public["ingest"] == {"connected": True}
    assert public["store"]["readings"] == 3
    for role in (Role.RESEARCHER, Role.PLANNER):
        assert client.get("/api/v1/health", headers=bearer(secrets[role])).json()["ingest"] == {
            "connected": True
        }
    for role in (Role.FACILITIES, Role.ADMIN):
        body = client.get("/api/v1/health", headers=bearer(secrets[role])).json()
        assert body["ingest"] == _INGEST_STATUS


# -- bad keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        ("Bearer", "malformed"),
        ("Bearer ", "malformed"),
        ("Basic dXNlcjpwYXNz", "malformed"),
        ("Bearer not-a-key", "malformed"),
        ("Bearer clk_000000000000_" + "A" * 43, "unknown"),
        ("Bearer " + "clk_" + "a" * 5000, "malformed"),
    ],
)
def test_bad_keys_are_401_everywhere(client, authorization: str, reason: str):
    for path in ("/api/v1/spaces", "/api/v1/spaces/rfb-101/readings?quantity=co2"):
        response = client.get(path, headers={"Authorization": authorization})
        assert_problem(response, 401)
        assert response.headers["WWW-Authenticate"] == (
            'Bearer realm="campuslab", error="invalid_token"'
        )
    metrics = client.get("/metrics", headers={"Authorization": authorization})
    assert metrics.status_code == 401


def test_a_wrong_secret_for_a_real_key_id_is_unknown(client, keys, secrets):
    real = secrets[Role.FACILITIES]
    forged = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    assert_problem(client.get("/api/v1/spaces", headers=bearer(forged)), 401, "not valid")
    with pytest.raises(KeyRejected) as rejected:
        keys.verify(forged)
    assert rejected.value.reason is KeyRejection.UNKNOWN


def test_revoked_key_is_refused_at_once_even_when_revoked_by_another_process(
    client, data_dir, secrets
):
    secret = secrets[Role.RESEARCHER]
    readings = "/api/v1/spaces/rfb-101/readings"
    params = {"quantity": "co2", "every": "15m", **WINDOW}
    assert client.get(readings, params=params, headers=bearer(secret)).status_code == 200
    key_id = secret.split("_")[1]
    KeyStore.in_data_dir(data_dir).revoke(key_id)  # what `campuslab keys revoke` does
    body = assert_problem(client.get(readings, params=params, headers=bearer(secret)), 401)
    assert "revoked" in body["detail"]
    assert_problem(client.get("/api/v1/spaces", headers=bearer(secret)), 401, "revoked")


def test_no_key_store_means_everyone_is_public(store, campus):
    client = TestClient(create_app(store, campus))
    assert client.get("/api/v1/spaces").status_code == 200
    assert_problem(client.get("/metrics"), 401)
    assert_problem(
        client.get("/api/v1/spaces", headers=bearer("clk_000000000000_" + "A" * 43)), 401
    )


def test_metrics_can_be_public_for_a_scraper(store, campus, keys):
    client = TestClient(create_app(store, campus, keys=keys, metrics_public=True))
    assert client.get("/metrics").status_code == 200
    metrics = client.get("/openapi.json").json()["paths"]["/metrics"]["get"]
    assert metrics["x-required-role"] == "public"


# -- the key store ------------------------------------------------------------------------


def server_secret(data_dir: Path) -> bytes:
    """The server secret as an operator (or a thief of the data folder) finds it."""
    return bytes.fromhex((data_dir / "key-secret").read_text().strip())


def hmac_sha256(server_secret: bytes, key: str) -> str:
    return hmac.new(server_secret, key.encode(), hashlib.sha256).hexdigest()


def plain_sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def test_keys_are_stored_only_as_hashes_in_a_private_file(keys, secrets, data_dir):
    path = data_dir / "keys.json"
    text = path.read_text()
    document = json.loads(text)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert document["format"] == "campuslab-api-keys/2" and document["hash"] == "hmac-sha256"
    for role, secret in secrets.items():
        assert secret not in text
        secret_part = secret.split("_", 2)[2]
        assert secret_part[:20] not in text
        assert plain_sha256(secret) not in text  # what earlier versions stored
        key_id = secret.split("_")[1]
        (entry,) = [k for k in document["keys"] if k["id"] == key_id]
        assert entry["hash"] == "hmac-sha256"
        assert entry["digest"] == hmac_sha256(server_secret(data_dir), secret)
        assert entry["role"] == role.value
        assert set(entry) == {
            "id",
            "name",
            "role",
            "created",
            "last_used",
            "revoked",
            "revoked_at",
            "hash",
            "digest",
        }
    assert not [p.name for p in data_dir.iterdir() if p.name.startswith(".keys-")]


def test_keys_survive_a_restart(store, campus, data_dir, secrets):
    again = TestClient(create_app(store, campus, keys=KeyStore.in_data_dir(data_dir)))
    readings = "/api/v1/spaces/rfb-101/readings"
    for role, secret in secrets.items():
        response = again.get(
            readings, params={"quantity": "co2", "every": "15m", **WINDOW}, headers=bearer(secret)
        )
        assert response.status_code == 200, (role, response.text)
        assert len(response.json()["points"]) == len(CO2)


def test_last_used_is_recorded_without_a_write_per_request(data_dir):
    now = [datetime(2026, 11, 26, 10, tzinfo=UTC)]
    keys = KeyStore.in_data_dir(data_dir, clock=lambda: now[0])
    secret = keys.create(Role.PLANNER, "planner").secret
    key_id = secret.split("_")[1]
    assert keys.get(key_id).last_used is None
    keys.verify(secret)
    written = (data_dir / "keys.json").stat().st_mtime_ns
    assert KeyStore.in_data_dir(data_dir).get(key_id).last_used == now[0]
    now[0] += timedelta(seconds=30)
    keys.verify(secret)
    assert keys.get(key_id).last_used == now[0]  # in memory at once
    assert (data_dir / "keys.json").stat().st_mtime_ns == written  # not written again yet
    now[0] += LAST_USED_GRANULARITY
    keys.verify(secret)
    assert KeyStore.in_data_dir(data_dir).get(key_id).last_used == now[0]


def test_two_stores_on_one_file_do_not_lose_each_others_keys(data_dir):
    first, second = KeyStore.in_data_dir(data_dir), KeyStore.in_data_dir(data_dir)
    a = first.create(Role.RESEARCHER, "a").secret
    b = second.create(Role.PLANNER, "b").secret
    c = first.create(Role.ADMIN, "c").secret
    fresh = KeyStore.in_data_dir(data_dir)
    assert [fresh.verify(s).role for s in (a, b, c)] == [Role.RESEARCHER, Role.PLANNER, Role.ADMIN]


@pytest.mark.parametrize(
    ("role", "name"),
    [("public", "x"), ("root", "x"), ("admin", " "), ("admin", "a\nb"), ("admin", "x" * 101)],
)
def test_key_store_refuses_bad_roles_and_names(keys, role, name):
    with pytest.raises(ValueError):
        keys.create(role, name)


# -- the server secret: keys are stored as HMAC-SHA256(secret, key) ------------------------


def test_the_server_secret_is_private_made_once_and_never_logged(
    data_dir, caplog: pytest.LogCaptureFixture
):
    with caplog.at_level(logging.DEBUG, logger="campuslab"):
        keys = KeyStore.in_data_dir(data_dir)
        assert not (data_dir / "key-secret").exists()  # made on first use, not on opening
        secret = keys.create(Role.RESEARCHER, "r").secret
        made = (data_dir / "key-secret").read_text()
        keys.verify(secret)
        KeyStore.in_data_dir(data_dir).create(Role.PLANNER, "p")
    path = data_dir / "key-secret"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(server_secret(data_dir)) == 32
    assert path.read_text() == made  # the second store used it, and did not replace it
    assert made.strip() not in (data_dir / "keys.json").read_text()
    assert f"created the API key secret {path}" in caplog.text
    assert made.strip() not in caplog.text
    assert not [p.name for p in data_dir.iterdir() if p.name.startswith(".key-secret-")]


def test_the_same_key_verifies_after_a_restart(data_dir):
    secret = KeyStore.in_data_dir(data_dir).create(Role.FACILITIES, "f").secret
    before = (data_dir / "key-secret").read_bytes()
    restarted = KeyStore.in_data_dir(data_dir)
    assert restarted.verify(secret).role is Role.FACILITIES
    assert (data_dir / "key-secret").read_bytes() == before


_CREATE_WHEN_TOLD = """
import sys, time
from pathlib import Path
from campuslab.api.keys import KeyStore
data_dir, ready, go = (Path(a) for a in sys.argv[1:4])
ready.touch()
deadline = time.monotonic() + 60
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.001)
print(KeyStore.in_data_dir(data_dir).create("researcher", ready.name).secret)
"""


def test_processes_starting_at_once_end_with_one_secret(data_dir, tmp_path):
    go, ready = tmp_path / "go", [tmp_path / f"ready-{i}" for i in range(4)]
    env = {k: v for k, v in os.environ.items() if k != SECRET_FILE_ENV}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _CREATE_WHEN_TOLD, str(data_dir), str(r), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for r in ready
    ]
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=60)
        while not all(r.exists() for r in ready) and datetime.now(UTC) < deadline:
            assert all(p.poll() is None for p in processes), "a process ended early"
        go.touch()  # all four imported: create a key (and the secret) at once
        outputs = [p.communicate(timeout=60) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in processes] == [0] * 4, [err for _, err in outputs]
    made = [out.strip() for out, _ in outputs]
    fresh = KeyStore.in_data_dir(data_dir)
    assert [fresh.verify(k).name for k in made] == [r.name for r in ready]
    digests = {e["digest"] for e in json.loads((data_dir / "keys.json").read_text())["keys"]}
    assert digests == {hmac_sha256(server_secret(data_dir), k) for k in made}


def test_a_copy_of_keys_json_does_not_authenticate_with_another_secret(data_dir, secrets, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(data_dir / "keys.json", elsewhere / "keys.json")
    with pytest.raises(KeyStoreError, match="is missing, and the 4 key"):
        KeyStore.in_data_dir(elsewhere)  # no secret there: refused, not made anew
    assert not (elsewhere / "key-secret").exists()
    (elsewhere / "key-secret").write_text(os.urandom(32).hex() + "\n")
    with pytest.raises(KeyStoreError, match="is not the one the keys in"):
        KeyStore.in_data_dir(elsewhere)
    # with the check value edited out, the store opens, and every key is simply unknown
    document = json.loads((elsewhere / "keys.json").read_text())
    del document["secret_check"]
    (elsewhere / "keys.json").write_text(json.dumps(document))
    copy = KeyStore.in_data_dir(elsewhere)
    for secret in secrets.values():
        with pytest.raises(KeyRejected) as rejected:
            copy.verify(secret)
        assert rejected.value.reason is KeyRejection.UNKNOWN
    assert KeyStore.in_data_dir(data_dir).verify(secrets[Role.ADMIN]).role is Role.ADMIN


LEGACY_KEYS = {
    Role.PLANNER: "clk_0123456789ab_" + "P" * 43,
    Role.RESEARCHER: "clk_ba9876543210_" + "R" * 43,
    Role.FACILITIES: "clk_00000000abcd_" + "F" * 43,  # revoked
}


def write_legacy_keys(data_dir: Path) -> None:
    """keys.json as CampusLab wrote it before hmac-sha256: plain SHA-256, no server secret."""
    entries = [
        {
            "id": key.split("_")[1],
            "name": f"old {role}",
            "role": role.value,
            "created": "2026-01-05T09:00:00Z",
            "last_used": None,
            "revoked": role is Role.FACILITIES,
            "revoked_at": "2026-02-01T00:00:00Z" if role is Role.FACILITIES else None,
            "sha256": plain_sha256(key),
        }
        for role, key in LEGACY_KEYS.items()
    ]
    data_dir.mkdir(parents=True)
    document = {"format": "campuslab-api-keys/1", "hash": "sha256", "keys": entries}
    (data_dir / "keys.json").write_text(json.dumps(document, indent=2))
    (data_dir / "keys.json").chmod(0o600)


def stored_entries(data_dir: Path) -> dict[Role, dict]:
    entries = {e["id"]: e for e in json.loads((data_dir / "keys.json").read_text())["keys"]}
    return {role: entries[key.split("_")[1]] for role, key in LEGACY_KEYS.items()}


def test_a_key_from_an_earlier_version_works_and_is_then_stored_as_hmac(
    data_dir, store, campus, caplog: pytest.LogCaptureFixture
):
    write_legacy_keys(data_dir)
    keys = KeyStore.in_data_dir(data_dir)
    assert not (data_dir / "key-secret").exists()
    client = TestClient(create_app(store, campus, keys=keys))
    readings = "/api/v1/spaces/rfb-101/readings"
    params = {"quantity": "co2", "every": "15m", **WINDOW}
    planner = LEGACY_KEYS[Role.PLANNER]
    with caplog.at_level(logging.INFO, logger="campuslab.api.keys"):
        response = client.get(readings, params=params, headers=bearer(planner))
    assert response.status_code == 200, response.text
    assert f"rewrote API key {planner.split('_')[1]}" in caplog.text

    entries = stored_entries(data_dir)
    assert entries[Role.PLANNER]["hash"] == "hmac-sha256"
    assert entries[Role.PLANNER]["digest"] == hmac_sha256(server_secret(data_dir), planner)
    assert plain_sha256(planner) not in (data_dir / "keys.json").read_text()
    assert entries[Role.PLANNER]["name"] == "old planner"
    assert entries[Role.PLANNER]["created"] == "2026-01-05T09:00:00Z"
    for role in (Role.RESEARCHER, Role.FACILITIES):  # untouched until their own first use
        assert entries[role]["hash"] == "sha256"
        assert entries[role]["digest"] == plain_sha256(LEGACY_KEYS[role])

    revoked = client.get(readings, params=params, headers=bearer(LEGACY_KEYS[Role.FACILITIES]))
    assert_problem(revoked, 401, "revoked")
    wrong = LEGACY_KEYS[Role.RESEARCHER][:-1] + "X"
    assert_problem(client.get(readings, params=params, headers=bearer(wrong)), 401, "not valid")
    assert stored_entries(data_dir)[Role.FACILITIES]["hash"] == "sha256"  # refused: as it was
    assert stored_entries(data_dir)[Role.RESEARCHER]["hash"] == "sha256"

    restarted = KeyStore.in_data_dir(data_dir)
    assert restarted.verify(planner).role is Role.PLANNER
    assert restarted.verify(LEGACY_KEYS[Role.RESEARCHER]).role is Role.RESEARCHER
    assert stored_entries(data_dir)[Role.RESEARCHER]["hash"] == "hmac-sha256"
    assert client.get(readings, params=params, headers=bearer(planner)).status_code == 200


def test_a_failed_rewrite_leaves_an_earlier_versions_key_working(
    data_dir, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    write_legacy_keys(data_dir)
    before = (data_dir / "keys.json").read_bytes()
    keys = KeyStore.in_data_dir(data_dir)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("campuslab.api.keys._replace_file", disk_full)
    with caplog.at_level(logging.WARNING, logger="campuslab.api.keys"):
        assert keys.verify(LEGACY_KEYS[Role.PLANNER]).role is Role.PLANNER
    assert "No space left on device" in caplog.text
    assert (data_dir / "keys.json").read_bytes() == before  # as the earlier version left it
    assert not (data_dir / "key-secret").exists()
    monkeypatch.undo()
    assert keys.verify(LEGACY_KEYS[Role.PLANNER]).role is Role.PLANNER  # the next use retries
    assert stored_entries(data_dir)[Role.PLANNER]["hash"] == "hmac-sha256"


@pytest.mark.parametrize(
    "content",
    [b"", b"\n", b"not a secret\n", b"ab" * 31 + b"\n", b"ab" * 33, bytes(range(32))],
    ids=["empty", "newline", "text", "too-short", "too-long", "raw-bytes"],
)
def test_a_corrupt_secret_file_is_a_clear_error(data_dir, secrets, cli, content: bytes):
    path = data_dir / "key-secret"
    path.write_bytes(content)
    with pytest.raises(KeyStoreError) as error:
        KeyStore.in_data_dir(data_dir)
    message = str(error.value)
    for words in (f"{path} is corrupt", "64 hex digits", "Restore it from a backup"):
        assert words in message
    assert "move" in message and "campuslab keys create" in message
    assert "ababab" not in message  # the content is never quoted
    listed = CliRunner().invoke(cli, ["keys", "list", "--data-dir", str(data_dir)])
    assert listed.exit_code == 1 and f"{path} is corrupt" in listed.stderr
    assert listed.exception is None or isinstance(listed.exception, SystemExit)


def test_an_unreadable_secret_file_is_a_clear_error(data_dir, secrets):
    path = data_dir / "key-secret"
    path.unlink()
    path.mkdir()
    with pytest.raises(KeyStoreError) as error:
        KeyStore.in_data_dir(data_dir)
    assert f"cannot read the API key secret {path}: Is a directory" in str(error.value)
    assert "Restore it from a backup" in str(error.value)


@pytest.mark.parametrize("command", ["api", "serve"])
def test_the_api_does_not_start_without_its_key_secret(
    command: str, data_dir, secrets, monkeypatch: pytest.MonkeyPatch
):
    import uvicorn

    from campuslab.cli.main import app as campuslab

    started = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: started.append(args))
    (data_dir / "key-secret").unlink()
    result = CliRunner().invoke(campuslab, [command, "--data-dir", str(data_dir), "--port", "1"])
    assert result.exit_code == 1 and not started
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert not list(data_dir.glob("*.duckdb"))  # stopped before the store was opened
    said = " ".join(result.stderr.split())  # rich wraps long lines
    assert f"{data_dir / 'key-secret'} is missing, and the 4 key(s)" in said
    assert not (data_dir / "key-secret").exists()  # not silently replaced by a new one


def test_a_secret_file_named_by_the_environment(data_dir, tmp_path, monkeypatch):
    mounted = tmp_path / "run-secrets" / "campuslab-key-secret"
    monkeypatch.setenv(SECRET_FILE_ENV, str(mounted))
    with pytest.raises(KeyStoreError) as missing:
        KeyStore.in_data_dir(data_dir)
    for words in (f"{mounted} does not exist", SECRET_FILE_ENV, "openssl rand -hex 32"):
        assert words in str(missing.value)
    assert not mounted.exists()  # a secret named from outside is never made

    mounted.parent.mkdir()
    value = os.urandom(32)
    mounted.write_text(value.hex() + "\n")  # as `openssl rand -hex 32` writes it
    mounted.chmod(0o400)  # read-only, as a container secret is
    secret = KeyStore.in_data_dir(data_dir).create(Role.ADMIN, "ops").secret
    assert not (data_dir / "key-secret").exists()
    (entry,) = json.loads((data_dir / "keys.json").read_text())["keys"]
    assert entry["digest"] == hmac_sha256(value, secret)
    assert KeyStore.in_data_dir(data_dir).verify(secret).role is Role.ADMIN
    assert mounted.read_text() == value.hex() + "\n"

    monkeypatch.delenv(SECRET_FILE_ENV)
    with pytest.raises(KeyStoreError, match="is missing, and the 1 key"):
        KeyStore.in_data_dir(data_dir)


def test_an_in_memory_store_keeps_its_secret_in_memory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    keys = KeyStore.in_memory()
    secret = keys.create(Role.PLANNER, "p").secret
    assert keys.verify(secret).role is Role.PLANNER
    keys.revoke(secret.split("_")[1])
    with pytest.raises(KeyRejected) as rejected:
        keys.verify(secret)
    assert rejected.value.reason is KeyRejection.REVOKED
    assert list(tmp_path.iterdir()) == []  # nothing written anywhere
    with pytest.raises(ValueError, match="in memory"):
        KeyStore.in_memory(secret_file=tmp_path / "key-secret")


def _set_first_entry(document: dict, **values) -> None:
    document["keys"][0].update(values)


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda d: _set_first_entry(d, hash="md5"), "hash 'md5' is not hmac-sha256 or sha256"),
        (lambda d: _set_first_entry(d, digest="zz" * 32), "digest is not 64 hex digits"),
        (lambda d: _set_first_entry(d, digest="ab" * 20), "digest is not 64 hex digits"),
        (lambda d: d["keys"][0].pop("digest"), "'digest'"),
        (lambda d: [d["keys"][0].pop(k) for k in ("hash", "digest")], "'sha256'"),
        (lambda d: d.update(secret_check="é" * 16), "secret_check is not 16 hex digits"),
        (lambda d: d.update(secret_check=1234567890123456), "secret_check is not 16 hex"),
        (lambda d: d.update(keys={"id": "x"}), "cannot read the API keys"),
    ],
)
def test_a_damaged_keys_json_is_a_clear_error(data_dir, secrets, damage, words: str):
    path = data_dir / "keys.json"
    document = json.loads(path.read_text())
    damage(document)
    path.write_text(json.dumps(document))
    with pytest.raises(KeyStoreError) as error:
        KeyStore.in_data_dir(data_dir)
    assert f"cannot read the API keys in {path}" in str(error.value)
    assert words in str(error.value)


# -- the CLI -------------------------------------------------------------------------------


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(keys_app, name="keys")
    return app


def test_cli_create_prints_the_key_once_and_list_never_shows_it(cli, data_dir, store, campus):
    runner = CliRunner()
    args = ["--data-dir", str(data_dir)]
    created = runner.invoke(
        cli, ["keys", "create", "--role", "planner", "--name", "Ola, space study", *args]
    )
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip()
    assert secret.startswith("clk_") and "\n" not in secret
    assert "only time the key is shown" in created.stderr
    assert secret not in created.stderr
    assert secret not in (data_dir / "keys.json").read_text()

    listed = runner.invoke(cli, ["keys", "list", *args])
    assert listed.exit_code == 0
    key_id = secret.split("_")[1]
    assert key_id in listed.stdout and "planner" in listed.stdout and "active" in listed.stdout
    assert "Ola, space study" in listed.stdout
    assert secret not in listed.stdout and secret.split("_", 2)[2] not in listed.stdout
    as_json = json.loads(runner.invoke(cli, ["keys", "list", "--json", *args]).stdout)
    assert as_json[0]["id"] == key_id and not {"digest", "sha256"} & as_json[0].keys()

    client = TestClient(create_app(store, campus, keys=KeyStore.in_data_dir(data_dir)))
    assert client.get("/api/v1/keys", headers=bearer(secret)).status_code == 403  # planner
    readings = "/api/v1/spaces/rfb-101/readings"
    params = {"quantity": "co2", "every": "15m", **WINDOW}
    assert client.get(readings, params=params, headers=bearer(secret)).status_code == 200

    revoked = runner.invoke(cli, ["keys", "revoke", key_id, *args])
    assert revoked.exit_code == 0 and f"revoked key {key_id}" in revoked.stdout
    assert_problem(client.get(readings, params=params, headers=bearer(secret)), 401, "revoked")
    assert "revoked" in runner.invoke(cli, ["keys", "list", *args]).stdout


def test_cli_bad_role_lists_the_valid_ones(cli, data_dir):
    result = CliRunner().invoke(
        cli, ["keys", "create", "--role", "boss", "--name", "x", "--data-dir", str(data_dir)]
    )
    assert result.exit_code == 2
    for role in ("researcher", "planner", "facilities", "admin"):
        assert role in result.output
    assert not (data_dir / "keys.json").exists()


def test_cli_revoke_unknown_and_data_dir_from_the_environment(cli, data_dir):
    runner = CliRunner()
    env = {"CAMPUSLAB_DATA_DIR": str(data_dir)}
    created = runner.invoke(cli, ["keys", "create", "--role", "admin", "--name", "ops"], env=env)
    assert created.exit_code == 0
    assert (data_dir / "keys.json").exists()
    missing = runner.invoke(cli, ["keys", "revoke", "ffffffffffff"], env=env)
    assert missing.exit_code == 1 and "keys list" in missing.stderr


def test_demo_key_is_facilities_and_replaces_the_previous_one(data_dir):
    first = create_demo_key(data_dir)
    second = create_demo_key(data_dir)
    keys = KeyStore.in_data_dir(data_dir)
    assert keys.verify(second).role is Role.FACILITIES
    with pytest.raises(KeyRejected):
        keys.verify(first)
    demo_keys = [k for k in keys.list() if k.name == DEMO_KEY_NAME]
    assert [k.revoked for k in demo_keys] == [True, False]


# -- the key admin API ---------------------------------------------------------------------


def test_admin_creates_lists_and_revokes_keys_over_http(client, secrets):
    admin = bearer(secrets[Role.ADMIN])
    created = client.post(
        "/api/v1/keys", json={"name": "Kari", "role": "researcher"}, headers=admin
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["Location"] == f"/api/v1/keys/{body['id']}"
    assert created.headers["Cache-Control"] == "no-store"
    new_key = body["key"]
    assert body["role"] == "researcher" and not body["revoked"]
    listing = client.get("/api/v1/keys", headers=admin)
    assert body["id"] in listing.text and new_key not in listing.text
    assert all(not {"key", "digest", "sha256"} & item.keys() for item in listing.json())
    assert client.get(f"/api/v1/keys/{body['id']}", headers=admin).json()["name"] == "Kari"

    readings = "/api/v1/spaces/rfb-101/readings"
    params = {"quantity": "co2", "every": "15m", **WINDOW}
    assert client.get(readings, params=params, headers=bearer(new_key)).status_code == 200
    revoked = client.delete(f"/api/v1/keys/{body['id']}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    assert client.get(readings, params=params, headers=bearer(new_key)).status_code == 401
    assert client.delete(f"/api/v1/keys/{body['id']}", headers=admin).status_code == 200


@pytest.mark.parametrize(
    "payload",
    [
        {"name": "x", "role": "public"},
        {"name": "x", "role": "god"},
        {"name": "", "role": "planner"},
        {"name": "a\r\nX-Injected: 1", "role": "planner"},
        {"role": "planner"},
        {"name": "x" * 101, "role": "planner"},
    ],
)
def test_admin_api_refuses_bad_keys_to_create(client, secrets, keys, payload):
    before = len(keys.list())
    response = client.post("/api/v1/keys", json=payload, headers=bearer(secrets[Role.ADMIN]))
    assert_problem(response, 422)
    assert len(keys.list()) == before


def test_admin_api_unknown_key_ids(client, secrets):
    admin = bearer(secrets[Role.ADMIN])
    body = assert_problem(client.get("/api/v1/keys/ffffffffffff", headers=admin), 404)
    assert body["type"] == "/api/v1/problems/unknown-key"
    assert_problem(client.delete("/api/v1/keys/ffffffffffff", headers=admin), 404)
    assert_problem(client.delete("/api/v1/keys/..%2F..%2Fetc%2Fpasswd", headers=admin), 404)
    assert_problem(client.get("/api/v1/keys/NOT-AN-ID", headers=admin), 422)


# -- failed authentication: counted, logged without the key -----------------------------


def test_failed_authentications_are_counted_and_logged_without_the_key(
    client, keys, secrets, caplog: pytest.LogCaptureFixture
):
    revoked = keys.create(Role.RESEARCHER, "gone")
    keys.revoke(revoked.key.id)
    facilities = bearer(secrets[Role.FACILITIES])
    wrong = secrets[Role.ADMIN][:-3] + "zzz"
    readings = "/api/v1/spaces/rfb-101/readings?quantity=co2"
    with caplog.at_level(logging.INFO, logger="campuslab"):
        client.get(readings)  # missing
        client.get(readings, headers={"Authorization": "Token abc"})  # malformed
        client.get(readings, headers=bearer(wrong))  # unknown
        client.get(readings, headers=bearer(revoked.secret))  # revoked
        client.get(readings, headers=bearer(revoked.secret))
        client.get("/api/v1/keys", headers=bearer(secrets[Role.PLANNER]))  # insufficient
    lines = client.get("/metrics", headers=facilities).text.splitlines()
    for reason, count in [
        ("missing", 1),
        ("malformed", 1),
        ("unknown", 1),
        ("revoked", 2),
        ("insufficient_role", 1),
    ]:
        assert f'campuslab_api_auth_failures_total{{reason="{reason}"}} {count}.0' in lines
    for secret in [*secrets.values(), revoked.secret, wrong]:
        assert secret not in caplog.text
        assert secret.split("_", 2)[2] not in caplog.text
    refused = [r for r in caplog.records if r.name == "campuslab.api.security"]
    assert len(refused) == 6
    assert revoked.key.id in caplog.text  # the key's id (not secret) says which key it was
    assert all(r.levelno == logging.WARNING for r in refused)


# -- OpenAPI -------------------------------------------------------------------------------


def test_openapi_declares_the_bearer_scheme_and_each_operations_role(client):
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "CampusLab API key (clk_...)",
        "description": spec["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    paths = spec["paths"]
    readings = paths["/api/v1/spaces/{space_id}/readings"]["get"]
    assert readings["security"] == [{"bearerAuth": []}]
    assert readings["x-required-role"] == "researcher"
    assert {"401", "403"} <= readings["responses"].keys()
    assert PROBLEM in readings["responses"]["401"]["content"]
    assert "**Role:** researcher or higher" in readings["description"]
    assert paths["/metrics"]["get"]["x-required-role"] == "facilities"
    assert paths["/api/v1/keys"]["post"]["x-required-role"] == "admin"
    for public in ("/api/v1/spaces", "/api/v1/health"):
        operation = paths[public]["get"]
        assert operation["x-required-role"] == "public"
        assert operation["security"] == [{}, {"bearerAuth": []}]  # optional; checked if sent
        assert "401" in operation["responses"] and "403" not in operation["responses"]
    for path, operations in paths.items():
        for operation in operations.values():
            assert "x-required-role" in operation, path


# -- request ids ---------------------------------------------------------------------------


def test_request_id_round_trip(client, secrets, caplog: pytest.LogCaptureFixture):
    sent = "req-2026.11.26:abc_DEF-1"
    assert (
        client.get("/api/v1/spaces", headers={"X-Request-ID": sent}).headers["X-Request-ID"] == sent
    )
    made = client.get("/api/v1/spaces").headers["X-Request-ID"]
    assert len(made) == 32 and int(made, 16) >= 0
    assert client.get("/api/v1/spaces").headers["X-Request-ID"] != made
    for hostile in ("a b", "x" * 129, "<script>", "id;rm -rf", "é".encode(), ""):
        echoed = client.get("/api/v1/spaces", headers={"X-Request-ID": hostile}).headers
        assert echoed["X-Request-ID"] != hostile and len(echoed["X-Request-ID"]) == 32
    # on errors too, and in the log records written while the request was handled
    with caplog.at_level(logging.WARNING, logger="campuslab"):
        refused = client.get(
            "/api/v1/spaces/rfb-101/readings", headers={"X-Request-ID": "trace-401"}
        )
    assert refused.status_code == 401 and refused.headers["X-Request-ID"] == "trace-401"
    assert any(getattr(r, "request_id", None) == "trace-401" for r in caplog.records)
    missing = client.get("/api/v2/none", headers={"X-Request-ID": "trace-404"})
    assert missing.status_code == 404 and missing.headers["X-Request-ID"] == "trace-404"


def test_request_id_on_a_500(client, secrets, caplog: pytest.LogCaptureFixture):
    from campuslab.api.dependencies import get_store

    class BrokenStore:
        def read_series(self, *args, **kwargs):
            raise RuntimeError("boom")

    client.app.dependency_overrides[get_store] = lambda: BrokenStore()
    with caplog.at_level(logging.ERROR, logger="campuslab.api"):
        response = client.get(
            "/api/v1/spaces/rfb-101/readings",
            params={"quantity": "co2"},
            headers={**bearer(secrets[Role.FACILITIES]), "X-Request-ID": "trace-500"},
        )
    assert_problem(response, 500)
    assert response.headers["X-Request-ID"] == "trace-500"
    assert [r.request_id for r in caplog.records if r.levelno >= logging.ERROR] == ["trace-500"]


# -- CORS ----------------------------------------------------------------------------------


def test_cors_is_off_by_default(client):
    origin = {"Origin": "https://evil.example"}
    response = client.get("/api/v1/spaces", headers=origin)
    assert response.status_code == 200
    assert not [h for h in response.headers if h.lower().startswith("access-control-")]
    preflight = client.options(
        "/api/v1/spaces",
        headers={**origin, "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_allow_list(store, campus, keys):
    client = TestClient(
        create_app(store, campus, keys=keys, cors_origins=["https://dash.campus.example"])
    )
    allowed = client.get("/api/v1/spaces", headers={"Origin": "https://dash.campus.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://dash.campus.example"
    assert "X-Request-ID" in allowed.headers["access-control-expose-headers"]
    assert "access-control-allow-credentials" not in allowed.headers
    other = client.get("/api/v1/spaces", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    preflight = client.options(
        "/api/v1/spaces/rfb-101/readings",
        headers={
            "Origin": "https://dash.campus.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 200
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()


# -- pagination ----------------------------------------------------------------------------


def test_spaces_are_paged_with_link_headers(client, campus):
    everything = [s.id for _, s in campus.spaces()]
    assert len(everything) > 20
    first = client.get("/api/v1/spaces")
    assert [s["id"] for s in first.json()] == everything  # the default page holds the campus
    assert first.headers["X-Total-Count"] == str(len(everything))
    assert "Link" not in first.headers

    seen, url = [], "/api/v1/spaces?limit=20"
    while url:
        page = client.get(url)
        assert page.status_code == 200 and len(page.json()) <= 20
        seen += [s["id"] for s in page.json()]
        links = dict(
            (part.split(";")[1].strip(), part.split(";")[0].strip(" <>"))
            for part in page.headers.get("Link", "").split(",")
            if part
        )
        url = links.get('rel="next"')
    assert seen == everything

    second = client.get("/api/v1/spaces", params={"limit": 20, "offset": 20})
    assert 'rel="prev"' in second.headers["Link"] and "offset=0" in second.headers["Link"]
    assert client.get("/api/v1/spaces", params={"offset": 10_000}).json() == []


def test_paging_keeps_the_filters(client):
    page = client.get("/api/v1/spaces", params={"building": "rfb", "type": "lab", "limit": 2})
    assert len(page.json()) == 2 and page.headers["X-Total-Count"] == "5"
    link = page.headers["Link"]
    assert "building=rfb" in link and "type=lab" in link and "offset=2" in link


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": "1; DROP TABLE readings"}, "offset"),
    ],
)
def test_bad_paging_is_a_422_naming_the_parameter(client, params, parameter):
    body = assert_problem(client.get("/api/v1/spaces", params=params), 422)
    assert body["parameter"] == parameter


# -- injection attempts ---------------------------------------------------------------------

INJECTIONS = [
    "rfb-101'; DROP TABLE readings; --",
    'rfb-101" OR 1=1 --',
    "' UNION SELECT * FROM readings --",
    'co2" WHERE space =~ /.*/ --',  # InfluxQL
    "co2; DROP MEASUREMENT co2",
    "/.*/",
    "rfb-101' OR space =~ /.*/ AND '1'='1",
    "../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "....//....//etc/passwd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/etc/passwd",
    "rfb-101%0d%0aSet-Cookie: pwned=1",
    "rfb-101\r\nX-Injected: 1",
    "rfb-101\x00",
    "${jndi:ldap://evil/a}",
    "{{7*7}}",
    "RFB-101",
]


@pytest.fixture
def facilities_client(client, secrets) -> TestClient:
    client.headers.update(bearer(secrets[Role.FACILITIES]))
    return client


def _assert_refused(response, *allowed: int) -> None:
    assert response.status_code in allowed, (response.request.url, response.text)
    assert response.headers["content-type"] == PROBLEM
    assert "pwned" not in response.headers.get("set-cookie", "")
    assert "x-injected" not in response.headers
    assert "root:" not in response.text  # no file was read


def test_injection_in_space_ids_is_refused_and_changes_nothing(facilities_client, store):
    client = facilities_client
    before = store.count()
    for attempt in INJECTIONS:
        encoded = quote(attempt, safe="")
        for suffix in ("", "/readings?quantity=co2", "/utilisation"):
            _assert_refused(client.get(f"/api/v1/spaces/{encoded}{suffix}"), 404, 422)
    for raw in ("../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%2e%2e/%2e%2e/etc/passwd"):
        _assert_refused(client.get(f"/api/v1/spaces/{raw}/readings?quantity=co2"), 404, 422)
    assert store.count() == before
    body = client.get("/api/v1/spaces/rfb-101/readings", params={"quantity": "co2", **WINDOW})
    assert [p[1] for p in body.json()["points"]] == [v for _, v in CO2]


def test_injection_in_query_parameters_is_refused_and_changes_nothing(facilities_client, store):
    client = facilities_client
    before = store.count()
    readings = "/api/v1/spaces/rfb-101/readings"
    valid = {"quantity": "co2", "every": "15m", "agg": "max", **WINDOW}
    for attempt in INJECTIONS:
        for name in valid:
            _assert_refused(client.get(readings, params={**valid, name: attempt}), 422)
        for name in ("start", "end"):
            _assert_refused(
                client.get("/api/v1/spaces/rfb-106/utilisation", params={name: attempt}), 422
            )
        for name in ("building", "type"):
            response = client.get("/api/v1/spaces", params={name: attempt})
            _assert_refused(response, 422)
            assert "Link" not in response.headers
        _assert_refused(client.get(f"/api/v1/problems/{quote(attempt, safe='')}"), 404, 422)
    assert store.count() == before
    assert len(client.get(readings, params={"quantity": "co2", **WINDOW}).json()["points"]) == 2


def test_injection_in_headers_is_refused(client, store, secrets):
    before = store.count()
    for attempt in ("' OR '1'='1", "../../etc/passwd", "Bearer x' OR 1=1 --"):
        for header in (f"Bearer {attempt}", attempt, f"Bearer {secrets[Role.ADMIN]} {attempt}"):
            response = client.get("/api/v1/spaces", headers={"Authorization": header})
            _assert_refused(response, 401)
        echoed = client.get("/api/v1/spaces", headers={"X-Request-ID": attempt})
        assert echoed.headers["X-Request-ID"] != attempt
    two = client.get(
        "/api/v1/spaces",
        headers=[("Authorization", f"Bearer {secrets[Role.ADMIN]}"), ("Authorization", "x")],
    )
    _assert_refused(two, 401)
    assert store.count() == before


def test_later_routers_get_the_caller_through_require_role(app, secrets):
    router = APIRouter()

    @router.get("/api/v1/example-export")
    def export(principal: ResearcherDep) -> dict:
        return {
            "role": principal.role,
            "key_id": principal.key_id,
            "unsuppressed": principal.sees_unsuppressed,
        }

    app.include_router(router)
    client = TestClient(app)
    assert_problem(client.get("/api/v1/example-export"), 401)
    researcher = client.get("/api/v1/example-export", headers=bearer(secrets[Role.RESEARCHER]))
    assert researcher.json() == {
        "role": "researcher",
        "key_id": secrets[Role.RESEARCHER].split("_")[1],
        "unsuppressed": False,
    }
    facilities = client.get("/api/v1/example-export", headers=bearer(secrets[Role.FACILITIES]))
    assert facilities.json()["unsuppressed"] is True
    operation = client.get("/openapi.json").json()["paths"]["/api/v1/example-export"]["get"]
    assert operation["x-required-role"] == "researcher"
    assert operation["security"] == [{"bearerAuth": []}]


@pytest.mark.parametrize("command", ["api", "serve"])
def test_a_bad_suppression_k_stops_the_server_before_it_starts(command: str, data_dir: Path):
    from campuslab.cli.main import app as campuslab

    result = CliRunner().invoke(
        campuslab,
        [command, "--data-dir", str(data_dir), "--port", "1"],
        env={"CAMPUSLAB_SUPPRESSION_K": "2"},
    )
    assert result.exit_code == 2, result.output
    assert "CAMPUSLAB_SUPPRESSION_K must be a whole number >= 3, not '2'" in result.stderr
    assert not list(data_dir.glob("*.duckdb"))  # no store was opened
