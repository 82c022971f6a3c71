"""Researcher exports and the readings route below facilities: nothing under k leaks.

A small campus (two buildings, six spaces, one of them a two-seat office) with
120 days of 15-minute occupancy and CO2 in a real DuckDB store. Occupancy is
drawn so that many intervals hold 1–4 people. Each test asks the API as a
caller with a real API key of some role and checks what comes back against
the counts the store holds.
"""

from __future__ import annotations

import csv
import io
import json
import random
import warnings
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow.parquet as pq
import pytest

from campuslab.api import create_app
from campuslab.api.dependencies import get_clock
from campuslab.api.keys import KeyStore, Role
from campuslab.api.routers.exports import (
    EXPORT_SCHEMA,
    OpenDataSettings,
    csv_chunks,
    export_batches,
    plan_export,
)
from campuslab.core.readings import ReadingBatch, isoformat_utc, to_epoch_us
from campuslab.core.registry import Campus, parse_campus
from campuslab.core.store.duckdb import DuckDBStore

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PROBLEM = "application/problem+json"
K = 5
START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
DAYS = 120
END = START + timedelta(days=DAYS)
NOW = END + timedelta(days=10)
QUARTER = timedelta(minutes=15)
INTERVALS = DAYS * 96

CAMPUS_YAML = """
site: {id: testlab, name: Test Living Lab, timezone: Europe/Oslo}
buildings:
  - id: aa
    name: Building A
    heated_area_m2: 5000
    meters: [{id: aa-el, quantity: energy}]
    spaces:
      - {id: a-hall, name: Hall, floor: 1, type: lecture_hall, capacity: 120, area_m2: 150}
      - {id: a-sem, name: Seminar, floor: 1, type: seminar_room, capacity: 30, area_m2: 60}
      - {id: a-meet, name: Meeting, floor: 2, type: meeting_room, capacity: 8, area_m2: 20}
      - {id: a-office, name: Office, floor: 2, type: office, capacity: 2, area_m2: 15}
  - id: bb
    name: Building B
    heated_area_m2: 3000
    spaces:
      - {id: b-study, name: Study hall, floor: 0, type: study_space, capacity: 60, area_m2: 120}
      - {id: b-lab, name: Lab, floor: 1, type: lab, capacity: 16, area_m2: 70}
"""
SPACES = ["a-hall", "a-sem", "a-meet", "a-office", "b-study", "b-lab"]
BUILDING = {"a-hall": "aa", "a-sem": "aa", "a-meet": "aa", "a-office": "aa"}
BUILDING |= {"b-study": "bb", "b-lab": "bb"}
CAPACITY = {"a-hall": 120, "a-sem": 30, "a-meet": 8, "a-office": 2, "b-study": 60, "b-lab": 16}
LISTED = [s for s in SPACES if CAPACITY[s] >= K]


def occupancy_truth() -> dict[tuple[str, int], float]:
    """(space, interval) -> people: mostly 0 at night, many small counts by day."""
    rng = random.Random(2026)
    truth = {}
    for i in range(INTERVALS):
        hour = (i % 96) / 4
        day = hour >= 7 and hour < 18
        for space in SPACES:
            cap = CAPACITY[space]
            if not day:
                value = rng.choice([0, 0, 0, 0, 1])
            else:
                value = rng.choice([0, 1, 2, 3, 4, 5, rng.randint(0, cap)])
            truth[(space, i)] = float(min(value, cap))
    return truth


TRUTH = occupancy_truth()


@pytest.fixture(scope="module")
def campus() -> Campus:
    return parse_campus(CAMPUS_YAML)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DuckDBStore]:
    store = DuckDBStore(tmp_path_factory.mktemp("store") / "campus.duckdb")
    batch = ReadingBatch()
    start_us = to_epoch_us(START)
    step_us = int(QUARTER.total_seconds() * 1_000_000)
    for (space, i), value in TRUTH.items():
        ts = start_us + i * step_us
        batch.append(ts, BUILDING[space], space, "occupancy", value)
        batch.append(ts, BUILDING[space], space, "co2", 420.0 + 25 * value)
    for day in range(DAYS):
        batch.append(start_us + day * 96 * step_us, "aa", "aa-el", "energy", 1000.0 + 50 * day)
    store.write(batch)
    yield store
    store.close()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    return KeyStore.in_data_dir(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def client(store: DuckDBStore, campus: Campus, keys: KeyStore) -> Iterator[TestClient]:
    app = create_app(store, campus, keys=keys)
    app.state.open_data = OpenDataSettings(licence="CC-BY-4.0")
    app.dependency_overrides[get_clock] = lambda: lambda: NOW
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def auth(keys: KeyStore) -> dict[Role, dict[str, str]]:
    return {
        role: {"Authorization": f"Bearer {keys.create(role, f'{role} tester').secret}"}
        for role in (Role.RESEARCHER, Role.PLANNER, Role.FACILITIES)
    }


def semester(**extra: str) -> dict[str, str]:
    params = {"quantity": "occupancy", "start": isoformat_utc(START), "end": isoformat_utc(END)}
    return params | extra


def interval_of(ts: datetime) -> int:
    return (ts - START) // QUARTER


# -- the semester export ------------------------------------------------------------------


def test_a_researcher_exports_a_semester_as_parquet_with_suppression(client, auth):
    answer = client.get(
        "/api/v1/export", params=semester(format="parquet"), headers=auth[Role.RESEARCHER]
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/vnd.apache.parquet"
    assert "attachment" in answer.headers["content-disposition"]
    assert 'rel="describedby"' in answer.headers["link"]
    table = pq.read_table(io.BytesIO(answer.content))
    assert table.schema.names == EXPORT_SCHEMA.names
    rows = table.to_pylist()
    # every listed space in every quarter, plus one total per building and quarter
    assert len(rows) == INTERVALS * (len(LISTED) + 2)
    assert not any(r["sensor"] == "a-office" for r in rows)  # 2 seats < k: withheld
    check_protected(rows)
    card = client.get(
        "/api/v1/export/card", params=semester(format="parquet"), headers=auth[Role.RESEARCHER]
    ).json()
    suppressed = [r for r in rows if r["suppressed"]]
    s = card["suppression"]
    assert s["applied"] and s["k"] == K and s["resolution"] == "15m"
    assert s["primary_cells"] + s["complementary_cells"] == len(suppressed) > 1000
    assert s["primary_cells"] == sum(
        1 for r in suppressed if r["level"] == "space" or 0 < building_truth(r) < K
    )
    assert s["published_cells"] == len(rows) - len(suppressed)
    assert card["rows"] == len(rows)
    assert [w["id"] for w in s["withheld_spaces"]] == ["a-office"]


def building_truth(row: dict) -> float:
    i = interval_of(row["ts"])
    return sum(TRUTH[(s, i)] for s in LISTED if BUILDING[s] == row["building"])


def check_protected(rows: list[dict]) -> None:
    """Every published count is 0 or >= k and exact; totals cannot be differenced."""
    by_interval: dict[tuple, dict] = defaultdict(dict)
    for r in rows:
        assert r["quantity"] == "occupancy"
        if r["suppressed"]:
            assert r["value"] is None
        else:
            assert r["value"] == 0 or r["value"] >= K, r
        key = (r["ts"], r["building"])
        by_interval[key][r["sensor"] if r["level"] == "space" else "total"] = r
    for (ts, _building), cells in by_interval.items():
        i = interval_of(ts)
        total = cells.pop("total")
        for space, r in cells.items():
            truth = TRUTH[(space, i)]
            if r["suppressed"]:
                assert 0 < truth < K  # only small counts are hidden: method "total"
            else:
                assert r["value"] == truth
        hidden = [s for s, r in cells.items() if r["suppressed"]]
        if hidden:
            # a published total would give a lone hidden room back by subtraction
            assert total["suppressed"] and total["value"] is None
        elif not total["suppressed"]:
            assert total["value"] == sum(r["value"] for r in cells.values())


def test_csv_export_streams_in_chunks_and_matches_parquet(client, auth):
    params = semester(building="aa")
    chunks = []
    with client.stream(
        "GET", "/api/v1/export", params=params, headers=auth[Role.RESEARCHER]
    ) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/csv")
        assert "content-length" not in answer.headers  # chunked, not buffered
        chunks = list(answer.iter_bytes())
    text = b"".join(chunks).decode()
    assert len(chunks) > 10  # one chunk per week-long window (and the header)
    records = list(csv.DictReader(io.StringIO(text)))
    assert list(records[0]) == EXPORT_SCHEMA.names
    assert len(records) == INTERVALS * 4  # a-hall, a-sem, a-meet and the total
    assert records[0]["ts"] == isoformat_utc(START)
    rows = [
        {
            "ts": datetime.fromisoformat(r["ts"]),
            "building": r["building"],
            "sensor": r["sensor"] or None,
            "level": r["level"],
            "quantity": r["quantity"],
            "value": float(r["value"]) if r["value"] else None,
            "suppressed": r["suppressed"] == "true",
        }
        for r in records
    ]
    check_protected(rows)
    parquet = client.get(
        "/api/v1/export", params=params | {"format": "parquet"}, headers=auth[Role.RESEARCHER]
    )
    assert pq.read_table(io.BytesIO(parquet.content)).to_pylist() == rows


def test_facilities_export_is_unsuppressed(client, auth):
    answer = client.get(
        "/api/v1/export", params=semester(format="parquet"), headers=auth[Role.FACILITIES]
    )
    rows = pq.read_table(io.BytesIO(answer.content)).to_pylist()
    assert len(rows) == INTERVALS * (len(SPACES) + 2)
    assert not any(r["suppressed"] for r in rows)
    small = [r for r in rows if r["level"] == "space" and 0 < r["value"] < K]
    assert len(small) > 1000
    for r in rows[:5000]:
        if r["level"] == "space":
            assert r["value"] == TRUTH[(r["sensor"], interval_of(r["ts"]))]
    card = client.get("/api/v1/export/card", params=semester(), headers=auth[Role.FACILITIES])
    assert card.json()["suppression"]["applied"] is False


def test_planner_is_below_facilities_and_sees_suppressed_data(client, auth):
    answer = client.get(
        "/api/v1/export",
        params=semester(format="parquet", building="bb"),
        headers=auth[Role.PLANNER],
    )
    rows = pq.read_table(io.BytesIO(answer.content)).to_pylist()
    assert any(r["suppressed"] for r in rows)
    check_protected(rows)


def test_hourly_export_is_derived_from_protected_quarters(client, auth):
    answer = client.get(
        "/api/v1/export",
        params=semester(format="parquet", every="1h", building="aa"),
        headers=auth[Role.RESEARCHER],
    )
    rows = pq.read_table(io.BytesIO(answer.content)).to_pylist()
    assert len(rows) == DAYS * 24 * 4
    for r in rows:
        if r["level"] != "space":
            continue
        first = interval_of(r["ts"])
        quarters = [TRUTH[(r["sensor"], first + q)] for q in range(4)]
        if any(0 < v < K for v in quarters):
            assert r["suppressed"]  # an hour never gives a hidden quarter back
        else:
            assert r["value"] == pytest.approx(sum(quarters) / 4)


def test_a_bare_date_exports_from_the_sites_local_midnight(client, auth):
    """Exports read dates as the API and the report do: local midnight (core.instants)."""
    params = {"quantity": "occupancy", "start": "2026-01-05", "end": "2026-01-06"}
    card = client.get("/api/v1/export/card", params=params, headers=auth[Role.RESEARCHER])
    assert card.status_code == 200, card.text
    period = card.json()["period"]
    # Oslo is UTC+1 in January: the local day 5 January is 23:00 UTC to 23:00 UTC
    assert (period["requested_start"], period["requested_end"]) == (
        "2026-01-04T23:00:00Z",
        "2026-01-05T23:00:00Z",
    )


def test_zip_bundle_holds_data_and_matching_cards(client, auth):
    answer = client.get(
        "/api/v1/export.zip",
        params=semester(format="csv", building="bb"),
        headers=auth[Role.RESEARCHER],
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(answer.content)) as bundle:
        names = bundle.namelist()
        data_name = next(n for n in names if n.endswith(".csv"))
        assert sorted(names) == sorted([data_name, "card.json", "card.md"])
        rows = list(csv.DictReader(io.StringIO(bundle.read(data_name).decode())))
        card = json.loads(bundle.read("card.json"))
        markdown = bundle.read("card.md").decode()
    suppressed = sum(r["suppressed"] == "true" for r in rows)
    s = card["suppression"]
    assert card["rows"] == len(rows) == INTERVALS * 3
    assert s["primary_cells"] + s["complementary_cells"] == suppressed
    assert card["period"] == {
        "start": "2026-01-05T00:00:00Z",
        "end": "2026-05-05T00:00:00Z",
        "requested_start": "2026-01-05T00:00:00Z",
        "requested_end": "2026-05-05T00:00:00Z",
        "first_interval": "2026-01-05T00:00:00Z",
        "last_interval": "2026-05-04T23:45:00Z",
        "note": "half-open, start <= ts < end, UTC",
    }
    assert card["licence"] == {
        "id": "CC-BY-4.0",
        "url": "https://creativecommons.org/licenses/by/4.0/",
    }
    assert card["unit"] == "count" and card["units"]["value"] == "count"
    assert card["spaces"] == [
        {
            "id": "b-study",
            "building": "bb",
            "floor": 0,
            "type": "study_space",
            "capacity": 60,
            "area_m2": 120.0,
        },
        {
            "id": "b-lab",
            "building": "bb",
            "floor": 1,
            "type": "lab",
            "capacity": 16,
            "area_m2": 70.0,
        },
    ]
    assert "name" not in card["spaces"][0]  # registry names may name a person
    assert card["citation"].startswith("Test Living Lab (2026). Occupancy in Building B")
    assert "Retrieved 2026-05-15 from http://testserver/api/v1/export?" in card["citation"]
    assert f"| suppressed, primary (1 to k-1) | {s['primary_cells']} |" in markdown
    assert "CC-BY-4.0" in markdown


def test_card_markdown_and_licence_from_the_environment(store, campus, keys, auth, monkeypatch):
    monkeypatch.setenv("CAMPUSLAB_DATA_LICENCE", "NLOD-2.0")
    app = create_app(store, campus, keys=keys)
    app.dependency_overrides[get_clock] = lambda: lambda: NOW
    with TestClient(app) as other:
        answer = other.get(
            "/api/v1/export/card.md",
            params=semester(quantity="co2", building="bb"),
            headers=auth[Role.RESEARCHER],
        )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/markdown")
    assert "**Licence:** NLOD-2.0 (https://data.norge.no/nlod/en/2.0)" in answer.text
    assert "not a count of people" in answer.text


def test_co2_of_small_spaces_is_withheld_and_values_are_not_suppressed(client, auth):
    answer = client.get(
        "/api/v1/export",
        params=semester(quantity="co2", format="parquet", building="aa"),
        headers=auth[Role.RESEARCHER],
    )
    rows = pq.read_table(io.BytesIO(answer.content)).to_pylist()
    assert {r["sensor"] for r in rows} == {"a-hall", "a-sem", "a-meet"}
    assert {r["level"] for r in rows} == {"space"}  # no sum of CO2
    assert not any(r["suppressed"] for r in rows)


def test_meter_export(client, auth):
    answer = client.get(
        "/api/v1/export",
        params=semester(quantity="energy", every="1d"),
        headers=auth[Role.RESEARCHER],
    )
    records = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(records) == DAYS
    assert {(r["sensor"], r["level"]) for r in records} == {("aa-el", "meter")}
    assert records[1]["value"] == "1050.0"


def test_a_period_is_widened_to_whole_quarters_and_ends_at_the_last_complete_one(campus):
    plan = plan_export(
        campus,
        quantity="occupancy",
        start="2026-05-10T10:07:00Z",
        end="2026-05-15T09:59:00Z",
        protected=True,
        settings=OpenDataSettings(),
        now=datetime(2026, 5, 15, 9, 52, tzinfo=UTC),
    )
    assert (plan.start, plan.end) == (
        datetime(2026, 5, 10, 10, 0, tzinfo=UTC),
        datetime(2026, 5, 15, 9, 45, tzinfo=UTC),
    )


def test_memory_does_not_grow_with_the_range(store, campus):
    """A 120-day export and a 14-day one peak at about the same Python memory."""
    import tracemalloc

    def peak(days: int) -> int:
        plan = plan_export(
            campus,
            quantity="occupancy",
            start=isoformat_utc(START),
            end=isoformat_utc(START + timedelta(days=days)),
            protected=True,
            settings=OpenDataSettings(),
            now=NOW,
        )
        tracemalloc.start()
        size = sum(len(chunk) for chunk in csv_chunks(export_batches(store, plan)))
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert size > days * 96 * 6 * 30
        return top

    short, long = peak(14), peak(120)
    assert long < short * 1.5, (short, long)


# -- the readings route below facilities --------------------------------------------------


def readings(client, headers, space, **params):
    query = {
        "quantity": "occupancy",
        "start": isoformat_utc(START),
        "end": isoformat_utc(START + timedelta(days=7)),
    } | params
    return client.get(f"/api/v1/spaces/{space}/readings", params=query, headers=headers)


def test_researcher_readings_never_show_small_counts(client, auth):
    answer = readings(client, auth[Role.RESEARCHER], "a-meet", every="15m")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["every"] == "15m"
    assert "k=5" in answer.headers["campuslab-suppression"]
    points = body["points"]
    assert len(points) == 7 * 96
    hidden = 0
    for stamp, value in points:
        truth = TRUTH[("a-meet", interval_of(datetime.fromisoformat(stamp)))]
        if value is None:
            hidden += 1
            assert 0 < truth < K
        else:
            assert value == truth and (value == 0 or value >= K)
    assert hidden > 50
    assert f"suppressed-points={hidden}" in answer.headers["campuslab-suppression"]


def test_researcher_readings_match_the_export(client, auth):
    hourly = readings(client, auth[Role.RESEARCHER], "a-sem", every="1h").json()["points"]
    export = client.get(
        "/api/v1/export",
        params=semester(
            format="parquet",
            every="1h",
            building="aa",
            end=isoformat_utc(START + timedelta(days=7)),
        ),
        headers=auth[Role.RESEARCHER],
    )
    exported = [
        [isoformat_utc(r["ts"]), r["value"]]
        for r in pq.read_table(io.BytesIO(export.content)).to_pylist()
        if r["sensor"] == "a-sem"
    ]
    assert hourly == exported


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({}, "raw occupancy readings are not published"),
        ({"every": "5m"}, "15-minute intervals"),
        ({"every": "20m"}, "15-minute intervals"),
        ({"every": "1s"}, "15-minute intervals"),
    ],
)
def test_researcher_readings_finer_than_15_minutes_are_refused(client, auth, params, fragment):
    answer = readings(client, auth[Role.RESEARCHER], "a-hall", **params)
    assert answer.status_code == 422
    assert answer.headers["content-type"] == PROBLEM
    assert fragment in answer.json()["detail"]
    assert answer.json()["parameter"] == "every"


def test_small_spaces_are_withheld_from_researchers(client, auth):
    for quantity in ("occupancy", "co2"):
        answer = readings(client, auth[Role.RESEARCHER], "a-office", quantity=quantity, every="15m")
        assert answer.status_code == 403
        assert answer.headers["content-type"] == PROBLEM
        assert "withheld" in answer.json()["detail"]
    # CO2 of a larger room is published, at 15 minutes like every quantity
    answer = readings(client, auth[Role.RESEARCHER], "a-hall", quantity="co2", every="15m")
    assert answer.status_code == 200


@pytest.mark.parametrize("quantity", ["co2", "temperature", "humidity"])
@pytest.mark.parametrize(
    ("every", "fragment"),
    [(None, "readings are not published to your role"), ("5m", "15-minute intervals")],
)
def test_no_quantity_is_published_finer_than_15_minutes_below_facilities(
    client, auth, quantity: str, every: str | None, fragment: str
):
    params = {"quantity": quantity} | ({"every": every} if every else {})
    answer = readings(client, auth[Role.RESEARCHER], "a-hall", **params)
    assert answer.status_code == 422, answer.text
    assert answer.json()["parameter"] == "every" and fragment in answer.json()["detail"]
    assert "every=15m" in answer.json()["detail"]  # says how to ask
    coarse = readings(client, auth[Role.RESEARCHER], "a-hall", quantity=quantity, every="15m")
    assert coarse.status_code == 200
    raw = readings(client, auth[Role.FACILITIES], "a-hall", quantity=quantity)
    assert raw.status_code == 200  # facilities read raw


def test_facilities_readings_are_raw_and_unsuppressed(client, auth):
    answer = readings(client, auth[Role.FACILITIES], "a-office")
    assert answer.status_code == 200
    values = [v for _, v in answer.json()["points"]]
    assert len(values) == 7 * 96 and any(0 < v < K for v in values)
    assert "campuslab-suppression" not in answer.headers


# -- bad requests are 4xx problems, never 5xx ---------------------------------------------


@pytest.mark.parametrize(
    ("params", "status", "parameter"),
    [
        ({"quantity": "radon"}, 422, "quantity"),
        ({"format": "xlsx"}, 422, "format"),
        ({"building": "zz"}, 422, "building"),
        ({"every": "banana"}, 422, "every"),
        ({"every": "10m"}, 422, "every"),
        ({"every": "0m"}, 422, "every"),
        ({"agg": "median"}, 422, "agg"),
        ({"start": "yesterday"}, 422, "start"),
        ({"end": "2026-01-01T00:00:00Z"}, 422, "end"),
        ({"end": "2027-03-01T00:00:00Z"}, 422, "start"),
        ({"start": "1969-12-31T00:00:00Z"}, 422, "start"),
        ({"quantity": "x" * 500}, 422, "quantity"),
        ({"start": "2026-06-01T00:00:00Z", "end": "2026-06-01T00:10:00Z"}, 422, "end"),
    ],
)
def test_garbage_parameters_are_problems(client, auth, params, status, parameter):
    for path in ("/api/v1/export", "/api/v1/export.zip", "/api/v1/export/card"):
        answer = client.get(path, params=semester(**params), headers=auth[Role.RESEARCHER])
        assert answer.status_code == status, (path, answer.text)
        assert answer.headers["content-type"] == PROBLEM
        body = answer.json()
        assert body.get("parameter") == parameter or any(
            e["parameter"] == parameter for e in body.get("errors", [])
        ), body


def test_missing_parameters_and_missing_key(client, auth):
    answer = client.get(
        "/api/v1/export", params={"quantity": "occupancy"}, headers=auth[Role.RESEARCHER]
    )
    assert answer.status_code == 422 and answer.headers["content-type"] == PROBLEM
    anonymous = client.get("/api/v1/export", params=semester())
    assert anonymous.status_code == 401 and anonymous.headers["content-type"] == PROBLEM
    fuzz = random.Random(3)
    for _ in range(60):
        params = {
            name: "".join(fuzz.choice("0123456789-:TZ+ab%/.") for _ in range(fuzz.randint(0, 30)))
            for name in fuzz.sample(["quantity", "start", "end", "every", "agg", "format"], 3)
        }
        answer = client.get(
            "/api/v1/export", params=semester() | params, headers=auth[Role.RESEARCHER]
        )
        assert answer.status_code < 500, (params, answer.text)


def test_openapi_documents_the_export_routes(client):
    schema = client.get("/openapi.json").json()
    for path in ("/api/v1/export", "/api/v1/export.zip", "/api/v1/export/card"):
        assert schema["paths"][path]["get"]["x-required-role"] == "researcher"


def test_every_suppressed_value_is_null_in_every_format(store, campus):
    plan = plan_export(
        campus,
        quantity="occupancy",
        start=isoformat_utc(START),
        end=isoformat_utc(START + timedelta(days=3)),
        protected=True,
        settings=OpenDataSettings(k=10),
        now=NOW,
    )
    rows = [r for b in export_batches(store, plan) for r in b.to_pylist()]
    values = np.array([r["value"] for r in rows if not r["suppressed"]], dtype=float)
    assert np.all((values == 0) | (values >= 10))
    assert {r["sensor"] for r in rows} == {"a-hall", "a-sem", "b-study", "b-lab", None}


PEAK_RSS_SCRIPT = """
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from campuslab.api.routers.exports import OpenDataSettings, export_batches, plan_export
from campuslab.api.routers.exports import csv_chunks, write_parquet
from campuslab.core.readings import isoformat_utc
from campuslab.core.registry import parse_campus
from campuslab.core.store.duckdb import DuckDBStore


def hwm_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1])


store_path, registry, days, fmt, out = sys.argv[1:6]
campus = parse_campus(Path(registry).read_text())
store = DuckDBStore(store_path)
start = datetime(2025, 1, 6, tzinfo=UTC)
plan = plan_export(
    campus, quantity="occupancy", start=isoformat_utc(start),
    end=isoformat_utc(start + timedelta(days=int(days))), protected=True, fmt=fmt,
    settings=OpenDataSettings(), now=datetime(2026, 6, 1, tzinfo=UTC),
)
store.read_resampled("occupancy", start, start + timedelta(days=1), timedelta(minutes=15))
before = hwm_kib()
if fmt == "parquet":
    rows = write_parquet(store, export_batches(store, plan), Path(out))
else:
    rows = sum(chunk.count(b"\\n") for chunk in csv_chunks(export_batches(store, plan))) - 1
print(rows, hwm_kib() - before)
"""


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_peak_rss_does_not_grow_with_the_range(tmp_path, fmt):
    """A year of 16 spaces against one month: the peak RSS growth of the export stays flat."""
    import subprocess
    import sys

    spaces = [f"r-{i:02d}" for i in range(16)]
    registry = tmp_path / "campus.yaml"
    registry.write_text(
        "site: {id: big, name: Big, timezone: UTC}\nbuildings:\n"
        "  - {id: bx, name: BX, heated_area_m2: 1000, spaces: ["
        + ", ".join(
            f"{{id: {s}, name: {s}, floor: 1, type: seminar_room, capacity: 40, area_m2: 50}}"
            for s in spaces
        )
        + "]}\n"
    )
    store_path = tmp_path / "big.duckdb"
    store = DuckDBStore(store_path)
    start_us = to_epoch_us(datetime(2025, 1, 6, tzinfo=UTC))
    step_us = 15 * 60 * 1_000_000
    rng = np.random.default_rng(1)
    for month in range(12):
        batch = ReadingBatch()
        quarters = range(month * 31 * 96, (month + 1) * 31 * 96)
        counts = rng.integers(0, 12, size=(len(quarters), len(spaces)))
        for row, q in enumerate(quarters):
            for col, space in enumerate(spaces):
                batch.append(
                    start_us + q * step_us, "bx", space, "occupancy", float(counts[row, col])
                )
        store.write(batch)
    store.close()

    def run(days: int) -> tuple[int, int]:
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                PEAK_RSS_SCRIPT,
                str(store_path),
                str(registry),
                str(days),
                fmt,
                str(tmp_path / f"{days}.{fmt}"),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        rows, growth_kib = (int(x) for x in out.stdout.split())
        return rows, growth_kib

    month_rows, month_growth = run(31)
    year_rows, year_growth = run(366)
    assert year_rows == 366 * 96 * 17 and month_rows == 31 * 96 * 17
    # 12x the rows; the growth may differ by allocator noise, not by the data's size
    print(f"peak RSS growth, {fmt}: 31 days {month_growth} KiB, 366 days {year_growth} KiB")
    assert year_growth < month_growth + 40_000, (month_growth, year_growth)


def test_edge_cases_give_empty_files_not_errors(client, auth, tmp_path):
    empty = {"start": "2020-01-01T00:00:00Z", "end": "2020-01-02T00:00:00Z"}
    for role in (Role.RESEARCHER, Role.FACILITIES):
        for fmt in ("csv", "parquet"):
            answer = client.get(
                "/api/v1/export", params=semester(format=fmt, **empty), headers=auth[role]
            )
            assert answer.status_code == 200, answer.text
        bundle = client.get(
            "/api/v1/export.zip", params=semester(format="parquet", **empty), headers=auth[role]
        )
        assert bundle.status_code == 200
        with zipfile.ZipFile(io.BytesIO(bundle.content)) as z:
            data = next(n for n in z.namelist() if n.endswith(".parquet"))
            assert pq.read_table(io.BytesIO(z.read(data))).num_rows == 0
            assert json.loads(z.read("card.json"))["rows"] == 0
    # bb has no meter: an empty export, not an error
    answer = client.get(
        "/api/v1/export",
        params=semester(quantity="heat_energy", building="bb"),
        headers=auth[Role.RESEARCHER],
    )
    assert answer.status_code == 200 and answer.text.strip() == ",".join(EXPORT_SCHEMA.names)


def test_a_building_of_small_offices_only(tmp_path, auth):
    campus = parse_campus(
        "site: {id: tiny, name: Tiny, timezone: UTC}\nbuildings:\n"
        "  - {id: ob, name: Offices, heated_area_m2: 100, spaces: ["
        "{id: o1, name: O1, floor: 1, type: office, capacity: 1, area_m2: 10},"
        "{id: o2, name: O2, floor: 1, type: office, capacity: 2, area_m2: 12}]}\n"
    )
    store = DuckDBStore(tmp_path / "tiny.duckdb")
    batch = ReadingBatch()
    batch.append(to_epoch_us(START), "ob", "o1", "occupancy", 1.0)
    store.write(batch)
    plan = plan_export(
        campus,
        quantity="occupancy",
        start=isoformat_utc(START),
        end=isoformat_utc(END),
        protected=True,
        settings=OpenDataSettings(),
        now=NOW,
    )
    assert [b.num_rows for b in export_batches(store, plan)] == []
    store.close()


def test_facilities_export_limits(client, auth):
    too_fine = client.get(
        "/api/v1/export", params=semester(every="30s"), headers=auth[Role.FACILITIES]
    )
    assert too_fine.status_code == 422 and "finer than 1 minute" in too_fine.json()["detail"]
    fine = client.get(
        "/api/v1/export",
        params=semester(every="1m", format="parquet"),
        headers=auth[Role.FACILITIES],
    )
    assert fine.status_code == 200
    from campuslab.api.problems import ApiProblem
    from campuslab.core.registry import load_campus, sample_campus_path

    with pytest.raises(ApiProblem, match="more than 20000000"):  # 81 spaces, a year of minutes
        plan_export(
            load_campus(sample_campus_path()),
            quantity="co2",
            start="2025-01-01T00:00:00Z",
            end="2026-01-01T00:00:00Z",
            every="1m",
            protected=False,
            settings=OpenDataSettings(),
            now=NOW,
        )
