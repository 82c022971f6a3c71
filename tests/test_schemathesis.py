"""Schemathesis against our own OpenAPI: no generated input may get a 5xx.

Every operation in /openapi.json gets up to 20 generated requests (set
CAMPUSLAB_FUZZ_EXAMPLES to fuzz deeper), valid and invalid ones (schemathesis
4's positive and negative modes), each sent once per role: as public (no key),
and with a researcher, a planner, a facilities and an admin key. Researcher and
planner are where small counts are suppressed and small spaces withheld;
facilities and admin see everything. The app runs over a real DuckDB store
seeded with readings and dead letters. The examples are derandomized (same
inputs every run) and not shrunk, so a failure shows the raw input.

Requests go through Starlette's TestClient (httpx) rather than ``case.call()``:
schemathesis' ASGI transport runs on ``requests``, whose connection-pool
bookkeeping breaks when ``urllib3-future`` (pulled in by niquests, which
grafana-client uses) has replaced ``urllib3`` in the environment.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

from campuslab.api import create_app
from campuslab.api.dependencies import get_clock
from campuslab.api.keys import KeyStore, Role
from campuslab.api.problems import PROBLEM_MEDIA_TYPE
from campuslab.core.readings import DeadLetter, ReadingBatch, to_epoch_us
from campuslab.core.registry import Campus, load_campus, sample_campus_path
from campuslab.core.store.duckdb import DuckDBStore
from campuslab.core.timetables import TimetableStore

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import schemathesis
    from fastapi.testclient import TestClient

NOW = datetime(2026, 11, 26, 15, 30, tzinfo=UTC)
# endless answers (server-sent events) cannot be fuzzed request by request
ENDLESS = "/api/v1/stream"


# rejected messages for /api/v1/dead-letters; two share a microsecond (one SenML pack)
DEAD_LETTERS = [
    DeadLetter(to_epoch_us(NOW) - 60_000_000 * n, topic, payload, reason, "what was wrong")
    for n, (topic, payload, reason) in enumerate(
        [
            ("campus/rfb/rfb-101/co2", "{not json", "unparseable"),
            ("campus/rfb/rfb-101/co2", "\ufffd\ufffd\x00binary", "unparseable"),
            ("campus/nowhere/x/co2", "600", "unknown_building"),
            ("campus/rfb/rfb-101/co2/extra", "600", "bad_topic"),
            ("campus/rfb/rfb-102/co2", "x" * 512 + "... (70000 bytes)", "too_large"),
        ]
    )
] + [DeadLetter(to_epoch_us(NOW), "campus/rfb/rfb-101/senml", "[]", "bad_unit", "a unit")]


@pytest.fixture
def store(tmp_path: Path, campus: Campus) -> Iterator[DuckDBStore]:
    store = DuckDBStore(tmp_path / "campus.duckdb")
    batch = ReadingBatch()
    spaces = [s.id for _, s in campus.spaces()][:10]
    for step in range(96):  # a day of quarter hours, so utilisation and series have data
        moment = to_epoch_us(NOW - timedelta(minutes=15 * step))
        for i, space in enumerate(spaces):
            building = campus.building_of(space).id
            batch.append(moment, building, space, "occupancy", float((step + i) % 7))
            batch.append(moment, building, space, "co2", 450.0 + 10 * ((step * i) % 50))
    store.write(batch)
    store.write_dead_letters(DEAD_LETTERS)
    yield store
    store.close()


# The schema is loaded when the module is imported (schemathesis.pytest.from_fixture, the
# lazy loader, does not work with pytest 9), so the app is made here and each test hands
# it a freshly seeded store through the `app` fixture.
KEYS = KeyStore.in_memory()
CALLERS = {
    "public": {},
    # below facilities, small counts are suppressed and small spaces withheld: that code
    # runs only for these two
    "researcher": {"Authorization": f"Bearer {KEYS.create(Role.RESEARCHER, 'fuzz r').secret}"},
    "planner": {"Authorization": f"Bearer {KEYS.create(Role.PLANNER, 'fuzz p').secret}"},
    "facilities": {"Authorization": f"Bearer {KEYS.create(Role.FACILITIES, 'fuzz').secret}"},
    "admin": {"Authorization": f"Bearer {KEYS.create(Role.ADMIN, 'fuzz admin').secret}"},
}
APP = create_app(
    None,  # type: ignore[arg-type]  # the `app` fixture puts a store in before any request
    load_campus(sample_campus_path()),
    keys=KEYS,
    status=lambda: {"connected": True, "backlog": 0},
    # as `campuslab serve` has: uploads are stored, so every input reaches the real code
    timetables=TimetableStore(Path(tempfile.mkdtemp(prefix="campuslab-fuzz-")) / "timetables"),
)
APP.dependency_overrides[get_clock] = lambda: lambda: NOW
schema = schemathesis.openapi.from_dict(APP.openapi()).exclude(path=ENDLESS)
BASE_URL = "http://testserver"
# per operation, each sent as every caller; CAMPUSLAB_FUZZ_EXAMPLES=200 fuzzes deeper
MAX_EXAMPLES = int(os.environ.get("CAMPUSLAB_FUZZ_EXAMPLES", "20"))


@pytest.fixture
def client(store: DuckDBStore) -> Iterator[TestClient]:
    APP.state.store = store
    with TestClient(APP, base_url=BASE_URL, raise_server_exceptions=False) as client:
        yield client
    APP.state.store = None


def send(client: TestClient, case, headers: dict[str, str]):
    """The generated request, as schemathesis serializes it, sent through httpx."""
    request = case.as_transport_kwargs(base_url=BASE_URL, headers=headers)
    body = {}
    if "json" in request:
        body["json"] = request["json"]
    elif isinstance(request.get("data"), bytes | str):
        body["content"] = request["data"]
    elif request.get("data") is not None:
        body["data"] = request["data"]
    return client.request(
        request["method"],
        request["url"],
        params=request.get("params"),
        headers=request.get("headers"),
        **body,
    )


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure shows the raw input
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_input_gets_a_server_error(case, client: TestClient):
    for caller, headers in CALLERS.items():
        response = send(client, case, headers)
        assert response.status_code < 500, (
            f"{caller}: {case.method} {case.formatted_path} query={case.query} "
            f"headers={case.headers} body={case.body!r} -> {response.status_code} "
            f"{response.text[:500]}"
        )
        if response.status_code >= 400:
            assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE, response.text
            assert "Traceback" not in response.text


def test_the_fuzzed_schema_covers_every_operation():
    operations = {
        (result.ok().method.upper(), result.ok().path) for result in schema.get_all_operations()
    }
    assert ("GET", "/api/v1/spaces/{space_id}/readings") in operations
    assert ("POST", "/api/v1/keys") in operations
    assert ("DELETE", "/api/v1/keys/{key_id}") in operations
    assert ("GET", "/api/v1/dead-letters") in operations
    assert not any(path == ENDLESS for _, path in operations)
    assert len(operations) >= 13
