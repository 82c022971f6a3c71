"""The HTTP API and overview page, against a real DuckDB store seeded with readings.

Times: 2026-11-26 is a Thursday; Oslo is on UTC+1 in November, so the sample
campus's core hours (Mon–Fri 08–16 local) are 07:00–15:00 UTC that day.
"""

from __future__ import annotations

import logging
import random
import string
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter

from campuslab.api import create_app
from campuslab.api.dependencies import ReadLimits, get_clock, get_read_limits, get_store
from campuslab.api.keys import KeyStore, Role
from campuslab.core.readings import ReadingBatch, isoformat_utc, to_epoch_us
from campuslab.core.registry import Campus
from campuslab.core.store.duckdb import DuckDBStore

with warnings.catch_warnings():
    # Starlette asks for httpx2 in its test client; httpx is what the project installs.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PROBLEM = "application/problem+json"
# Thursday 2026-11-26, 16:30 in Oslo: core hours of the day are over.
NOW = datetime(2026, 11, 26, 15, 30, tzinfo=UTC)
DAY_START = "2026-11-26T00:00:00+01:00"
DAY_END = "2026-11-27T00:00:00+01:00"

# CO2 in rfb-101, published with these exact timestamps (note the fractional seconds).
CO2 = [
    ("2026-11-26T10:00:00Z", 600.0),
    ("2026-11-26T10:05:00.5Z", 630.0),
    ("2026-11-26T10:10:00.000123Z", 660.0),
    ("2026-11-26T10:15:00Z", 700.0),
    ("2026-11-26T10:20:00Z", 800.0),
    ("2026-11-26T10:44:59.999999Z", 1300.0),
]


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def seed(store: DuckDBStore) -> None:
    batch = ReadingBatch()
    for stamp, value in CO2:
        batch.append(to_epoch_us(ts(stamp)), "rfb", "rfb-101", "co2", value)
    batch.append(to_epoch_us(ts("2026-11-26T10:44:00Z")), "rfb", "rfb-101", "occupancy", 120)
    batch.append(to_epoch_us(ts("2026-11-26T10:44:00Z")), "rfb", "rfb-101", "temperature", 21.34)
    # Worked example, rfb-106 (Seminar room 6, 40 seats): 20 people every quarter hour from
    # 08:00 to 12:00 local, nobody from 12:00 to 16:00 -> in use 4 of 8 core hours.
    for quarter in range(32):
        moment = datetime(2026, 11, 26, 7, tzinfo=UTC) + timedelta(minutes=15 * quarter)
        batch.append(
            to_epoch_us(moment), "rfb", "rfb-106", "occupancy", 20.0 if quarter < 16 else 0.0
        )
    # Outside core hours: an evening class and a Saturday, neither counts.
    batch.append(to_epoch_us(ts("2026-11-26T17:00:00Z")), "rfb", "rfb-106", "occupancy", 35.0)
    batch.append(to_epoch_us(ts("2026-11-28T10:00:00Z")), "rfb", "rfb-106", "occupancy", 40.0)
    store.write(batch)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    store = DuckDBStore(tmp_path / "campus.duckdb")
    yield store
    store.close()


@pytest.fixture
def ingest_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    received = Counter("campuslab_ingest_received_total", "messages received", registry=registry)
    received.inc(7)
    return registry


def make_client(store, campus: Campus, **kwargs) -> TestClient:
    """A client holding a facilities key: it sees everything (roles: test_security.py)."""
    keys = KeyStore.in_memory()
    app = create_app(store, campus, keys=keys, **kwargs)
    app.dependency_overrides[get_clock] = lambda: lambda: NOW
    secret = keys.create(Role.FACILITIES, "test_api").secret
    return TestClient(app, headers={"Authorization": f"Bearer {secret}"})


@pytest.fixture
def client(store: DuckDBStore, campus: Campus, ingest_registry: CollectorRegistry) -> TestClient:
    seed(store)
    return make_client(
        store,
        campus,
        metrics_registry=ingest_registry,
        status=lambda: {"connected": True, "backlog": 0},
    )


def readings(client: TestClient, space: str = "rfb-101", **params: str):
    return client.get(f"/api/v1/spaces/{space}/readings", params=params)


def assert_problem(response, status: int, *words: str, parameter: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    for word in words:
        assert word in body["detail"], (word, body["detail"])
    if parameter is not None:
        assert body.get("parameter") == parameter, body
    assert "Traceback" not in response.text
    return body


# -- health, spaces -------------------------------------------------------------------


def test_health_reports_store_and_ingest(client: TestClient, store: DuckDBStore):
    body = client.get("/api/v1/health").json()
    assert body == {
        "status": "ok",
        "version": "0.1.0",
        "store": {"backend": "DuckDBStore", "readings": store.count()},
        "ingest": {"connected": True, "backlog": 0},
    }
    assert store.count() == len(CO2) + 2 + 32 + 2


def test_health_without_ingestor_has_null_ingest(store: DuckDBStore, campus: Campus):
    assert make_client(store, campus).get("/api/v1/health").json()["ingest"] is None


def test_health_is_503_when_the_store_does_not_answer(client: TestClient):
    class DeadStore:
        def count(self, quantity=None):
            raise OSError("disk on fire")

    client.app.dependency_overrides[get_store] = lambda: DeadStore()
    body = assert_problem(client.get("/api/v1/health"), 503, "did not answer")
    assert "disk on fire" not in body["detail"]


def test_spaces_list_the_registry(client: TestClient, campus: Campus):
    spaces = client.get("/api/v1/spaces").json()
    assert len(spaces) == sum(1 for _ in campus.spaces())
    first = next(s for s in spaces if s["id"] == "rfb-101")
    assert first == {
        "id": "rfb-101",
        "name": "Auditorium R1",
        "building": "rfb",
        "floor": 1,
        "type": "lecture_hall",
        "capacity": 280,
        "area_m2": 310.7,
    }


def test_spaces_filter_by_building_and_type(client: TestClient):
    labs = client.get("/api/v1/spaces", params={"building": "rfb", "type": "lab"}).json()
    assert {s["id"] for s in labs} == {"rfb-202", "rfb-108", "rfb-203", "rfb-204", "rfb-109"}
    assert all(s["building"] == "rfb" and s["type"] == "lab" for s in labs)


@pytest.mark.parametrize(
    ("params", "parameter", "words"),
    [
        ({"building": "nowhere"}, "building", ["'nowhere'", "rfb", "hb"]),
        ({"type": "kitchen"}, "type", ["'kitchen'", "lecture_hall", "seminar_room"]),
    ],
)
def test_spaces_bad_filters(client: TestClient, params, parameter, words):
    assert_problem(client.get("/api/v1/spaces", params=params), 422, *words, parameter=parameter)


def test_one_space(client: TestClient):
    assert client.get("/api/v1/spaces/rfb-106").json()["capacity"] == 40
    assert_problem(client.get("/api/v1/spaces/nope"), 404, "no space 'nope'")


# -- readings ---------------------------------------------------------------------------


def test_readings_come_back_exactly_as_published(client: TestClient):
    body = readings(
        client, quantity="co2", start="2026-11-26T10:00:00Z", end="2026-11-26T11:00:00Z"
    ).json()
    assert body == {
        "space_id": "rfb-101",
        "quantity": "co2",
        "unit": "ppm",
        "start": "2026-11-26T10:00:00Z",
        "end": "2026-11-26T11:00:00Z",
        "every": None,
        "agg": None,
        "points": [[stamp, value] for stamp, value in CO2],
    }
    # and they are what the core's formatter writes for the stored instants
    assert [p[0] for p in body["points"]] == [isoformat_utc(ts(s)) for s, _ in CO2]


def test_range_is_half_open(client: TestClient):
    body = readings(
        client, quantity="co2", start="2026-11-26T10:05:00.5Z", end="2026-11-26T10:15:00Z"
    ).json()
    assert [p[0] for p in body["points"]] == [
        "2026-11-26T10:05:00.5Z",
        "2026-11-26T10:10:00.000123Z",
    ]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-11-26T11:00:00+01:00", "2026-11-26T12:00:00+01:00"),  # offsets
        ("2026-11-26T11:00:00", "2026-11-26T12:00:00"),  # no offset: local (Oslo)
        ("2026-11-26t10:00:00z", "2026-11-26 11:00:00Z"),  # RFC 3339 allows t, z and a space
        ("2026-11-26T11:00:00 01:00", "2026-11-26T12:00:00 01:00"),  # an unencoded + became a space
    ],
)
def test_timestamps_in_parameters(client: TestClient, start: str, end: str):
    body = readings(client, quantity="co2", start=start, end=end).json()
    assert body["start"] == "2026-11-26T10:00:00Z"
    assert body["end"] == "2026-11-26T11:00:00Z"
    assert len(body["points"]) == len(CO2)


def test_a_bare_date_is_the_sites_local_midnight_and_end_is_not_included(client: TestClient):
    """One rule at every entry point (core.instants): 2026-11-26 is 00:00 in Oslo."""
    body = readings(client, quantity="co2", start="2026-11-26", end="2026-11-27").json()
    assert body["start"] == "2026-11-25T23:00:00Z"  # local midnight, not UTC midnight
    assert body["end"] == "2026-11-26T23:00:00Z"  # the 27th itself is not included
    summer = readings(client, quantity="co2", start="2026-07-01", end="2026-07-01T12:00").json()
    assert (summer["start"], summer["end"]) == ("2026-06-30T22:00:00Z", "2026-07-01T10:00:00Z")


def test_default_range_is_the_last_24_hours(client: TestClient):
    body = readings(client, quantity="co2").json()
    assert body["end"] == isoformat_utc(NOW)
    assert body["start"] == isoformat_utc(NOW - timedelta(hours=24))
    assert len(body["points"]) == len(CO2)
    only_end = readings(client, quantity="co2", end="2026-11-26T10:10:00Z").json()
    assert only_end["start"] == "2026-11-25T10:10:00Z"
    assert len(only_end["points"]) == 2


@pytest.mark.parametrize(
    ("agg", "expected"),
    [
        (None, [600 + 630 + 660, 700 + 800, 1300]),  # default mean; sums divided below
        ("mean", [600 + 630 + 660, 700 + 800, 1300]),
        ("max", [660.0, 800.0, 1300.0]),
        ("min", [600.0, 700.0, 1300.0]),
    ],
)
def test_resampling(client: TestClient, agg, expected):
    params = {
        "quantity": "co2",
        "start": "2026-11-26T10:00:00Z",
        "end": "2026-11-26T11:00:00Z",
        "every": "15m",
    }
    if agg:
        params["agg"] = agg
    body = readings(client, **params).json()
    if agg in (None, "mean"):
        expected = [expected[0] / 3, expected[1] / 2, expected[2]]
    assert body["every"] == "15m"
    assert body["agg"] == (agg or "mean")
    assert body["points"] == [
        ["2026-11-26T10:00:00Z", pytest.approx(expected[0])],
        ["2026-11-26T10:15:00Z", pytest.approx(expected[1])],
        ["2026-11-26T10:30:00Z", pytest.approx(expected[2])],
    ]


def test_resampling_buckets_align_to_the_epoch_not_to_start(client: TestClient):
    body = readings(
        client,
        quantity="co2",
        start="2026-11-26T09:50:00Z",
        end="2026-11-26T11:00:00Z",
        every="1h",
        agg="max",
    ).json()
    assert body["points"] == [["2026-11-26T10:00:00Z", 1300.0]]


# -- bad parameters: the right 4xx, naming the parameter --------------------------------


def test_unknown_space(client: TestClient):
    body = assert_problem(
        readings(client, "nope", quantity="co2"),
        404,
        "no space 'nope'",
        "GET /api/v1/spaces",
        parameter="space_id",
    )
    assert body["type"] == "/api/v1/problems/unknown-space"
    assert_problem(readings(client, "rfb-el", quantity="energy"), 404, "meter", "not a space")
    assert_problem(client.get("/api/v1/spaces/nope/utilisation"), 404, "no space 'nope'")


@pytest.mark.parametrize(
    ("params", "status", "parameter", "words"),
    [
        ({}, 422, "quantity", ["'quantity' is required"]),
        ({"quantity": "co3"}, 422, "quantity", ["'co3'", "occupancy, co2, temperature, humidity"]),
        ({"quantity": "energy"}, 422, "quantity", ["building meters", "occupancy, co2"]),
        (
            {"quantity": "co2", "start": "2026-11-26T11:00:00Z", "end": "2026-11-26T10:00:00Z"},
            422,
            "end",
            ["must be after start"],
        ),
        (
            {"quantity": "co2", "start": "2026-11-26T10:00:00Z", "end": "2026-11-26T10:00:00Z"},
            422,
            "end",
            ["must be after start"],
        ),
        (
            {"quantity": "co2", "start": "2026-11-27T00:00:00Z"},
            422,
            "end",
            ["end defaults to now", "must be after start"],
        ),
        (
            {"quantity": "co2", "start": "2026-10-01T00:00:00Z", "end": "2026-11-26T00:00:00Z"},
            422,
            "start",
            ["56 days", "raw readings", "31 days", "every="],
        ),
        (
            {
                "quantity": "co2",
                "start": "2025-01-01T00:00:00Z",
                "end": "2026-11-26T00:00:00Z",
                "every": "1d",
            },
            422,
            "start",
            ["694 days", "366 days"],
        ),
        (
            {"quantity": "co2", "every": "fast"},
            422,
            "every",
            ["'fast'", "not a positive duration", "15m"],
        ),
        ({"quantity": "co2", "every": "15"}, 422, "every", ["not a positive duration"]),
        ({"quantity": "co2", "every": "-5m"}, 422, "every", ["not a positive duration"]),
        ({"quantity": "co2", "every": "0s"}, 422, "every", ["not a positive duration"]),
        ({"quantity": "co2", "every": "500ms"}, 422, "every", ["finer than 1s"]),
        ({"quantity": "co2", "every": "99999999999999999999d"}, 422, "every", ["longer than"]),
        (
            {"quantity": "co2", "every": "15m", "agg": "median"},
            422,
            "agg",
            ["'median'", "mean, max, min"],
        ),
        ({"quantity": "co2", "agg": "max"}, 422, "agg", ["only when resampling", "every="]),
        (
            {"quantity": "co2", "start": "yesterday"},
            422,
            "start",
            ["'yesterday'", "RFC 3339", "2026-11-26T10:00:00Z"],
        ),
        ({"quantity": "co2", "end": "2026-13-01T00:00:00Z"}, 422, "end", ["RFC 3339"]),
        ({"quantity": "co2", "end": "2026-11-26T25:00:00Z"}, 422, "end", ["RFC 3339"]),
        ({"quantity": "co2", "start": "1e99"}, 422, "start", ["RFC 3339"]),
        ({"quantity": "co2", "start": "0001-01-01T00:00:00Z"}, 422, "start", ["1970"]),
        ({"quantity": "co2", "end": "9999-12-31T23:59:59-05:00"}, 422, "end", ["1970–2199"]),
    ],
)
def test_bad_reading_parameters(client: TestClient, params, status, parameter, words):
    assert_problem(readings(client, **params), status, *words, parameter=parameter)


def test_too_many_points(client: TestClient):
    client.app.dependency_overrides[get_read_limits] = lambda: ReadLimits(max_points=3)
    window = {"quantity": "co2", "start": "2026-11-26T10:00:00Z", "end": "2026-11-26T11:00:00Z"}
    body = assert_problem(
        readings(client, **window), 422, "more than 3 points", "add every=15m", parameter="every"
    )
    assert body["type"] == "/api/v1/problems/too-many-points"
    assert len(readings(client, **window, every="15m").json()["points"]) == 3
    assert_problem(
        readings(client, **window, every="1m"), 422, "more than 3 points", "coarser than 1m"
    )


def test_problem_types_resolve_to_a_description(client: TestClient):
    body = readings(client, quantity="co3").json()
    described = client.get(body["type"]).json()
    assert described["title"] == body["title"] == "Invalid parameter"
    assert described["status"] == 422
    assert len(client.get("/api/v1/problems").json()) >= 4


def test_http_errors_are_problems_too(client: TestClient):
    assert_problem(client.get("/api/v2/nothing"), 404, "/api/v1")
    assert_problem(client.post("/api/v1/spaces"), 405, "POST", "GET")


def test_unexpected_errors_are_500_problems_without_a_trace(
    client: TestClient, caplog: pytest.LogCaptureFixture
):
    class BrokenStore:
        def read_series(self, *args, **kwargs):
            raise RuntimeError("secret connection string postgres://admin:hunter2@db")

    client.app.dependency_overrides[get_store] = lambda: BrokenStore()
    with caplog.at_level(logging.ERROR, logger="campuslab.api"):
        response = readings(client, quantity="co2")
    body = assert_problem(response, 500, "unexpected error", "reference")
    assert "hunter2" not in response.text and "RuntimeError" not in response.text
    assert body["reference"] in caplog.text
    assert "hunter2" in caplog.text  # the cause stays in the server log


GARBAGE = [
    "",
    " ",
    "x'; DROP TABLE readings;--",
    "' OR '1'='1",
    "1; DELETE FROM readings",
    "9" * 400,
    "-1",
    "1e308",
    "NaN",
    "inf",
    "-inf",
    "0",
    "null",
    "[]",
    "{}",
    "%00",
    "\\",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "ÅØÆ∂ƒ😀",
    "\u202e",
    "2026-11-26T10:00:00Z" * 5,
    "P1D",
    "15m15m",
    "1h" + "0" * 300,
    "٣m",
]


def _random_strings(count: int) -> list[str]:
    rng = random.Random(20261126)
    alphabet = string.printable + "æøåÅ€😀\u0301"
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(count)]


@pytest.mark.parametrize("parameter", ["quantity", "start", "end", "every", "agg"])
def test_garbage_in_reading_parameters_is_never_a_server_error(
    client: TestClient, store: DuckDBStore, parameter: str
):
    before = store.count()
    valid = {
        "quantity": "co2",
        "start": "2026-11-26T10:00:00Z",
        "end": "2026-11-26T11:00:00Z",
        "every": "15m",
        "agg": "max",
    }
    for junk in GARBAGE + _random_strings(40):
        response = readings(client, **{**valid, parameter: junk})
        assert response.status_code < 500, (parameter, junk, response.text)
        if response.status_code >= 400:
            assert response.headers["content-type"] == PROBLEM
    assert store.count() == before
    assert len(
        readings(
            client, quantity="co2", start="2026-11-26T10:00:00Z", end="2026-11-26T11:00:00Z"
        ).json()["points"]
    ) == len(CO2)


def test_garbage_in_paths_and_filters_is_never_a_server_error(
    client: TestClient, store: DuckDBStore
):
    before = store.count()
    for junk in GARBAGE + _random_strings(40):
        for url in (
            f"/api/v1/spaces/{quote(junk, safe='')}/readings?quantity=co2",
            f"/api/v1/spaces/{quote(junk, safe='')}/utilisation",
            f"/api/v1/spaces/{quote(junk, safe='')}",
        ):
            response = client.get(url)
            assert response.status_code in (404, 405, 422) or response.status_code < 300, (
                url,
                response.text,
            )
        for name in ("building", "type"):
            assert client.get("/api/v1/spaces", params={name: junk}).status_code < 500
        for name in ("start", "end"):
            response = client.get("/api/v1/spaces/rfb-106/utilisation", params={name: junk})
            assert response.status_code < 500, (name, junk, response.text)
    assert store.count() == before


# -- utilisation -----------------------------------------------------------------------

WORKED_EXAMPLE = {
    "frequency_rate": 0.5,
    "occupancy_rate": 0.5,
    "utilisation": 0.25,
    "peak_occupancy": 0.5,
    "used_seat_hours": 80.0,
    "available_hours": 8,
    "in_use_hours": 4,
    "hours_without_data": 0,
    "capacity": 40,
}


def test_utilisation_worked_example(client: TestClient):
    body = client.get(
        "/api/v1/spaces/rfb-106/utilisation", params={"start": DAY_START, "end": DAY_END}
    ).json()
    assert {k: body[k] for k in WORKED_EXAMPLE} == pytest.approx(WORKED_EXAMPLE)
    assert body["p95_occupancy"] == pytest.approx(0.5)
    assert body["available_seat_hours"] == pytest.approx(320.0)
    assert body["start"] == "2026-11-25T23:00:00Z"
    assert body["end"] == "2026-11-26T23:00:00Z"
    assert body["core_hours"]["description"] == "Mon–Fri 08:00–16:00 (Europe/Oslo)"


def test_utilisation_has_the_shape_of_a_building_group(client: TestClient):
    """Hour's-peak figures, band, period, units and suppression, as the building answers."""
    body = client.get(
        "/api/v1/spaces/rfb-106/utilisation", params={"start": DAY_START, "end": DAY_END}
    ).json()
    # 20 people in every quarter from 08 to 12: the hour's peak is its mean
    peak = body["at_hourly_peak"]
    assert peak["utilisation"] == pytest.approx(0.25) and peak["frequency_rate"] == 0.5
    assert peak["used_seat_hours"] == pytest.approx(80.0)
    assert (peak["available_room_hours"], peak["in_use_room_hours"]) == (8, 4)
    assert peak["lower_bound"] is False and peak["suppressed_cells"] == 0
    assert (body["name"], body["building"], body["band"]) == ("Seminar room 6", "rfb", "fair")
    assert body["period"] == {
        "start": "2026-11-25T23:00:00Z",
        "end": "2026-11-26T23:00:00Z",
        "hours": 24.0,
        "timezone": "Europe/Oslo",
    }
    assert body["units"]["used_seat_hours, used_seat_hours_upper_bound"] == "person-hours"
    assert body["suppression"]["applied"] is False and body["suppression"]["suppressed_counts"] == 0
    # the issue-2 contract is still at the top level
    assert {k: body[k] for k in WORKED_EXAMPLE} == pytest.approx(WORKED_EXAMPLE)


def researcher_client(store: DuckDBStore, campus: Campus) -> TestClient:
    keys = KeyStore.in_memory()
    app = create_app(store, campus, keys=keys)
    app.dependency_overrides[get_clock] = lambda: lambda: NOW
    secret = keys.create(Role.RESEARCHER, "test_api").secret
    return TestClient(app, headers={"Authorization": f"Bearer {secret}"})


def test_utilisation_at_the_hours_peak_follows_the_published_cells(
    client: TestClient, store: DuckDBStore, campus: Campus
):
    """Wednesday 25 November, 08–09 local: quarters of 20, 20, 20 and 3 people in rfb-106."""
    batch = ReadingBatch()
    for quarter, people in enumerate((20.0, 20.0, 20.0, 3.0)):
        moment = datetime(2026, 11, 25, 7, tzinfo=UTC) + timedelta(minutes=15 * quarter)
        batch.append(to_epoch_us(moment), "rfb", "rfb-106", "occupancy", people)
    store.write(batch)
    params = {"start": "2026-11-25T00:00:00+01:00", "end": "2026-11-26T00:00:00+01:00"}
    exact = client.get("/api/v1/spaces/rfb-106/utilisation", params=params).json()
    assert exact["used_seat_hours"] == pytest.approx(15.75)  # the hour's mean
    assert exact["at_hourly_peak"]["used_seat_hours"] == pytest.approx(20.0)
    assert exact["available_hours"] == 1 and exact["hours_without_data"] == 7
    assert exact["frequency_rate"] == 1.0  # of the one observed core hour, not of eight

    body = researcher_client(store, campus).get("/api/v1/spaces/rfb-106/utilisation", params=params)
    assert body.status_code == 200, body.text
    shown = body.json()
    # the quarter of 3 people is suppressed and counted as 0: (20 + 20 + 20 + 0) / 4
    assert shown["used_seat_hours"] == pytest.approx(15.0)
    assert shown["lower_bound"] and shown["suppressed_cells"] == 1
    peak = shown["at_hourly_peak"]
    assert peak["used_seat_hours"] == pytest.approx(20.0)  # the published maxima: 20, 0
    assert peak["lower_bound"] and peak["suppressed_cells"] == 1
    assert peak["used_seat_hours_upper_bound"] >= peak["used_seat_hours"]
    assert peak["peak_occupancy"] == pytest.approx(0.5)  # 20 people: no small count
    assert shown["suppression"]["applied"] and shown["suppression"]["lower_bound"]
    assert shown["period"]["end"] == "2026-11-25T23:00:00Z"


def test_utilisation_defaults_to_today_in_the_site_time_zone(client: TestClient):
    body = client.get("/api/v1/spaces/rfb-106/utilisation").json()
    assert body["start"] == "2026-11-25T23:00:00Z"  # local midnight in Oslo
    assert body["end"] == isoformat_utc(NOW)
    assert {k: body[k] for k in WORKED_EXAMPLE} == pytest.approx(WORKED_EXAMPLE)


def test_utilisation_of_a_day_without_core_hours_is_null_not_zero(client: TestClient):
    body = client.get(
        "/api/v1/spaces/rfb-106/utilisation",
        params={"start": "2026-11-28T00:00:00+01:00", "end": "2026-11-29T00:00:00+01:00"},
    ).json()
    assert body["available_hours"] == 0
    assert body["utilisation"] is None and body["frequency_rate"] is None


@pytest.mark.parametrize(
    ("params", "parameter", "words"),
    [
        ({"start": DAY_END, "end": DAY_START}, "end", ["must be after start"]),
        (
            {"start": "2024-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
            "start",
            ["731 days", "366 days"],
        ),
        ({"start": "monday"}, "start", ["RFC 3339"]),
        ({"end": "1e99"}, "end", ["RFC 3339"]),
    ],
)
def test_bad_utilisation_parameters(client: TestClient, params, parameter, words):
    assert_problem(
        client.get("/api/v1/spaces/rfb-106/utilisation", params=params),
        422,
        *words,
        parameter=parameter,
    )


# -- metrics, overview, docs -----------------------------------------------------------


def test_metrics_render_the_ingest_registry_and_request_counts(client: TestClient):
    client.get("/api/v1/spaces/rfb-101/readings", params={"quantity": "co2"})
    client.get("/api/v1/spaces/nope/readings", params={"quantity": "co2"})
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    lines = response.text.splitlines()
    assert "campuslab_ingest_received_total 7.0" in lines
    route = "/api/v1/spaces/{space_id}/readings"
    assert f'campuslab_api_requests_total{{method="GET",route="{route}",status="200"}} 1.0' in lines
    assert f'campuslab_api_requests_total{{method="GET",route="{route}",status="404"}} 1.0' in lines


def test_two_apps_on_one_ingest_registry(store, campus, ingest_registry):
    for _ in range(2):
        app_client = make_client(store, campus, metrics_registry=ingest_registry)
        assert "campuslab_ingest_received_total 7.0" in app_client.get("/metrics").text


def test_overview_page(client: TestClient):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "<title>CampusLab — Nordfjell University, Campus Elvebakken</title>" in page
    assert "Realfagbygget (Science)" in page and "Hovedbygget (Main building)" in page
    assert "<caption>" in page and '<th scope="col">People</th>' in page
    row = page[page.index('id="space-rfb-101"') : page.index('id="space-rfb-102"')]
    assert "Auditorium R1" in row
    assert "120 / 280" in row
    assert "1300 ppm" in row and "Cat. III" in row  # ΔCO2 880 ppm: category III, as text
    assert "21.3 °C" in row
    assert "11:44" in row  # the newest reading, local time
    worked = page[page.index('id="space-rfb-106"') : page.index('id="space-rfb-107"')]
    assert "25 %" in worked and "in use 4 of 8 h" in worked
    assert 'href="/docs"' in page and 'href="/api/v1/spaces"' in page
    assert "No readings yet" not in page


def test_overview_without_readings(store: DuckDBStore, campus: Campus):
    page = make_client(store, campus).get("/").text
    assert "No readings yet" in page
    assert "Auditorium R1" in page


def test_overview_reads_the_store_in_a_fixed_number_of_calls(
    client: TestClient, store: DuckDBStore
):
    calls: list[str] = []

    class CountingStore:
        def __getattr__(self, name):
            calls.append(name)
            return getattr(store, name)

    client.app.dependency_overrides[get_store] = lambda: CountingStore()
    assert client.get("/").status_code == 200
    assert sorted(calls) == ["latest", "read_quality_flags", "read_resampled"]


def test_openapi_and_docs(client: TestClient):
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    readings_op = spec["paths"]["/api/v1/spaces/{space_id}/readings"]["get"]
    assert readings_op["summary"] and readings_op["tags"] == ["readings"]
    assert {"200", "404", "422"} <= readings_op["responses"].keys()
    assert spec["paths"]["/api/v1/spaces/{space_id}/utilisation"]["get"]["tags"] == ["utilisation"]
    assert "/" not in spec["paths"]


# -- ids as the campus writes them (tests/data/campus_codes.yaml) ------------------------------

CAMPUS_CODES = Path(__file__).parent / "data" / "campus_codes.yaml"


def test_campus_codes_are_paths_and_filters_exactly_as_written(store: DuckDBStore):
    from campuslab.core.registry import load_campus

    codes = load_campus(CAMPUS_CODES)
    batch = ReadingBatch()
    for stamp, value in CO2:
        batch.append(to_epoch_us(ts(stamp)), "HB", "A2.14", "co2", value)
    batch.append(to_epoch_us(ts(CO2[0][0])), "HB", "A2x14", "co2", 999.0)
    for quarter in range(32):  # 20 people 08:00–12:00 local, as in the worked example
        moment = datetime(2026, 11, 26, 7, tzinfo=UTC) + timedelta(minutes=15 * quarter)
        batch.append(to_epoch_us(moment), "EL", "EL5", "occupancy", 20.0 if quarter < 16 else 0.0)
    store.write(batch)
    client = make_client(store, codes)

    assert client.get("/api/v1/spaces/A2.14").json()["name"] == "Lesesal A2.14"
    hb = client.get("/api/v1/spaces", params={"building": "HB"}).json()
    assert [s["id"] for s in hb] == ["HB-101", "A2.14", "A2x14"]
    assert_problem(client.get("/api/v1/spaces", params={"building": "hb"}), 422, "'hb'", "HB")
    points = readings(client, "A2.14", quantity="co2", start=DAY_START, end=DAY_END).json()
    assert [v for _, v in points["points"]] == [v for _, v in CO2]
    assert readings(client, "A2x14", quantity="co2", start=DAY_START, end=DAY_END).json()[
        "points"
    ] == [["2026-11-26T10:00:00Z", 999.0]]
    use = client.get("/api/v1/spaces/EL5/utilisation", params={"start": DAY_START, "end": DAY_END})
    assert use.json()["frequency_rate"] == pytest.approx(0.5)
    assert_problem(client.get("/api/v1/spaces/a2.14"), 404, "no space 'a2.14'")
    assert_problem(
        readings(client, "HB 101", quantity="co2"),
        422,
        "'HB 101' has a space at position 3; ids may hold letters, digits, '-', '_' and '.'",
        parameter="space_id",
    )
    assert_problem(
        client.get("/api/v1/buildings/E+L/energy"),
        422,
        "'E+L' has '+' at position 2, which cannot stand in an MQTT topic level",
        parameter="building_id",
    )
    assert client.get("/api/v1/buildings/el/energy").status_code == 404
    pattern = client.get("/openapi.json").json()["paths"]["/api/v1/spaces/{space_id}"]["get"]
    (space_id,) = [p for p in pattern["parameters"] if p["name"] == "space_id"]
    assert space_id["schema"]["pattern"] == "^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"


def test_renaming_a_lower_case_id_starts_a_new_series_and_keeps_the_old_data(
    store: DuckDBStore, campus: Campus
):
    """What a deployment that stored lower-case ids sees when its registry adopts the code."""
    seed(store)  # rfb-101 CO2, stored under the lower-case id
    document = campus.model_dump(mode="json")
    for building in document["buildings"]:
        for space in building["spaces"]:
            if space["id"] == "rfb-101":
                space["id"] = "RFB-101"
    renamed = Campus.model_validate(document)
    client = make_client(store, renamed)
    day = {"quantity": "co2", "start": DAY_START, "end": DAY_END}
    assert readings(client, "RFB-101", **day).json()["points"] == []  # a new series
    assert_problem(readings(client, "rfb-101", **day), 404, "no space 'rfb-101'")
    # nothing was migrated or lost: the old series is still stored under its old id
    kept = store.read_series("rfb-101", "co2", ts(DAY_START), ts(DAY_END))
    assert kept.values.tolist() == [v for _, v in CO2]
    unchanged = make_client(store, campus)  # and with the old registry it reads as before
    assert len(readings(unchanged, "rfb-101", **day).json()["points"]) == len(CO2)
