"""GET /api/v1/quality over a semester: the whole period's summary, and its sensor-days paged.

A small campus (two buildings, three spaces, two electricity meters) is simulated
for 120 days from Monday 5 January 2026 (across the spring DST change) at
15-minute steps with the simulator's faults, written straight into a DuckDB store
(``simulate --direct``'s writer). The route's answer is checked against
``check_quality``, which keeps every flag and every sensor-day of the window: the
summary must equal its totals for the whole period, and the pages, followed by
their ``Link`` headers, must give each of its sensor-days exactly once.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

import pytest

from campuslab.analytics.quality_kpis import check_quality, summarise_quality
from campuslab.api import create_app
from campuslab.api.dependencies import get_clock
from campuslab.api.keys import KeyStore, Role
from campuslab.core.registry import Campus, parse_campus
from campuslab.core.store.duckdb import DuckDBStore
from campuslab.simulators.campus import CampusSimulator, SimulationConfig
from campuslab.simulators.direct import backfill_direct

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PROBLEM = "application/problem+json"
CAMPUS: Campus = parse_campus(
    """
site: {id: qsite, name: Quality campus, timezone: Europe/Oslo}
buildings:
  - id: teach
    name: Teaching
    heated_area_m2: 4000
    meters:
      - {id: teach-el, quantity: energy}
    spaces:
      - {id: hall-1, name: Hall, floor: 1, type: lecture_hall, capacity: 120, area_m2: 150}
      - {id: sem-1, name: Seminar, floor: 1, type: seminar_room, capacity: 30, area_m2: 60}
  - id: lib
    name: Library
    heated_area_m2: 2000
    meters:
      - {id: lib-el, quantity: energy}
    spaces:
      - {id: read-1, name: Reading room, floor: 1, type: study_space, capacity: 60, area_m2: 120}
"""
)
FIRST_DAY = date(2026, 1, 5)
DAYS = 120
SERIES = 3 * 4 + 2  # spaces × (occupancy, co2, temperature, humidity) + meters
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), CAMPUS.tz).astimezone(UTC)


START, END = midnight(FIRST_DAY), midnight(FIRST_DAY + timedelta(days=DAYS))
SEMESTER = {"start": START.isoformat(), "end": END.isoformat()}
TEN_DAYS = {"start": START.isoformat(), "end": midnight(FIRST_DAY + timedelta(days=10)).isoformat()}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DuckDBStore]:
    store = DuckDBStore(tmp_path_factory.mktemp("semester") / "campuslab.duckdb")
    faults = frozenset({"spike", "stuck", "dropout", "reset"})
    sim = CampusSimulator(
        CAMPUS, SimulationConfig(seed=7, interval=timedelta(minutes=15), faults=faults)
    )
    backfill_direct(sim, store, START - timedelta(days=1), END + timedelta(days=1))
    yield store
    store.close()


@pytest.fixture(scope="module")
def keys(store: DuckDBStore) -> tuple[KeyStore, object]:
    keys = KeyStore.in_memory()
    app = create_app(store, CAMPUS, keys=keys)
    app.dependency_overrides[get_clock] = lambda: lambda: NOW
    return keys, app


def client_as(keys: tuple[KeyStore, object], role: Role | None) -> TestClient:
    store, app = keys
    if role is None:
        return TestClient(app)
    secret = store.create(role, f"{role} tester").secret
    return TestClient(app, headers={"Authorization": f"Bearer {secret}"})


@pytest.fixture(scope="module")
def facilities(keys) -> TestClient:
    return client_as(keys, Role.FACILITIES)


def ok(response) -> dict:
    assert response.status_code == 200, response.text
    assert "NaN" not in response.text and "Infinity" not in response.text
    return response.json()


def day_key(day: dict) -> tuple[str, str, str]:
    return day["sensor"], day["quantity"], day["date"]


def test_a_semester_answers_with_the_whole_period_summary(store, facilities):
    response = facilities.get("/api/v1/quality", params={**SEMESTER, "limit": "0"})
    body = ok(response)

    report, flags = check_quality(store, CAMPUS, START, END)
    assert body["period"]["hours"] == pytest.approx((END - START) / timedelta(hours=1))
    assert body["points"] == report.points > 0
    assert body["flagged_points"] == report.flagged_points > 0, "the faults are found"
    assert body["flagged_by_check"] == dict(report.flagged_by_check)
    assert body["missing_points"] == report.missing_points > 0, "dropouts are gaps"
    assert len(body["gaps"]) == len(report.gaps)
    assert body["qci"] == pytest.approx(1 - report.flagged_points / report.points)
    # every sensor has a row for each of the 120 local days, DST days included
    assert len(report.days) == SERIES * DAYS
    assert response.headers["X-Total-Count"] == str(SERIES * DAYS)
    assert body["days_page"] | {"order": None} == {
        "total": SERIES * DAYS,
        "offset": 0,
        "limit": 0,
        "order": None,
    }
    assert body["days"] == [] and "Link" not in response.headers
    # QCI per building and quantity: the sensor-days of check_quality, added up by hand
    groups = {(g["building"], g["quantity"]): g for g in body["by_building_quantity"]}
    assert list(groups) == [
        ("teach", "occupancy"),
        ("teach", "co2"),
        ("teach", "temperature"),
        ("teach", "humidity"),
        ("teach", "energy"),
        ("lib", "occupancy"),
        ("lib", "co2"),
        ("lib", "temperature"),
        ("lib", "humidity"),
        ("lib", "energy"),
    ]
    building_of = {s.id: b.id for b in CAMPUS.buildings for s in [*b.spaces, *b.meters]}
    for (building, quantity), group in groups.items():
        days = [
            d for d in report.days if building_of[d.sensor] == building and d.quantity == quantity
        ]
        points = sum(d.points for d in days)
        flagged = sum(d.flagged for d in days)
        assert (group["points"], group["flagged"], group["sensor_days"]) == (
            points,
            flagged,
            len(days),
        )
        assert group["missing_points"] == sum(d.missing_points for d in days)
        assert group["series"] == len({d.sensor for d in days})
        assert group["qci"] == pytest.approx((points - flagged) / points)
        for check, count in group["flagged_by_check"].items():
            assert count == sum(d.flagged_by_check.get(check, 0) for d in days)
    assert sum(g["points"] for g in groups.values()) == report.points
    # the flags of every check add up to the whole period's (a reading may count twice)
    for check, count in body["flagged_by_check"].items():
        assert count == sum(g["flagged_by_check"][check] for g in groups.values())
    assert len(flags) >= report.flagged_points  # what the route no longer keeps


def test_the_default_page_holds_the_first_thousand_days_in_date_order(facilities):
    response = facilities.get("/api/v1/quality", params=SEMESTER)
    body = ok(response)
    assert len(body["days"]) == 1000 and body["days_page"]["limit"] == 1000
    dates = [d["date"] for d in body["days"]]
    assert dates == sorted(dates) and dates[0] == str(FIRST_DAY)
    assert dates[:SERIES] == [str(FIRST_DAY)] * SERIES
    assert [d["sensor"] for d in body["days"][:5]] == ["hall-1"] * 4 + ["sem-1"]
    assert response.headers["Link"] == (
        f"</api/v1/quality?start={_q(SEMESTER['start'])}&end={_q(SEMESTER['end'])}"
        '&limit=1000&offset=1000>; rel="next"'
    )


def _q(text: str) -> str:
    return text.replace(":", "%3A").replace("+", "%2B")


def test_paging_gives_every_sensor_day_exactly_once(store, facilities):
    report, _ = check_quality(store, CAMPUS, START, midnight(FIRST_DAY + timedelta(days=10)))
    seen: list[tuple[str, str, str]] = []
    summaries = []
    url, params = "/api/v1/quality", {**TEN_DAYS, "limit": "37"}
    pages = 0
    while True:
        response = facilities.get(url, params=params)
        body = ok(response)
        pages += 1
        assert response.headers["X-Total-Count"] == str(SERIES * 10)
        seen += [day_key(d) for d in body["days"]]
        summaries.append({k: v for k, v in body.items() if k not in ("days", "days_page")})
        links = dict(
            (part.split('rel="')[1].rstrip('"'), part.split(">")[0].lstrip("<"))
            for part in response.headers.get("Link", "").split(", ")
            if part
        )
        if pages > 1:
            assert "prev" in links
        if "next" not in links:
            break
        url, params = links["next"], None
    assert pages == -(-SERIES * 10 // 37)
    assert not [key for key, count in Counter(seen).items() if count > 1], "a day twice"
    assert set(seen) == {(d.sensor, d.quantity, str(d.date)) for d in report.days}
    assert len(seen) == len(report.days) == SERIES * 10
    assert all(summary == summaries[0] for summary in summaries), "one summary on every page"
    assert summaries[0]["points"] == report.points


def test_a_page_equals_the_same_rows_of_the_whole_list(store):
    whole = summarise_quality(store, CAMPUS, START, midnight(FIRST_DAY + timedelta(days=10)))
    page = summarise_quality(
        store,
        CAMPUS,
        START,
        midnight(FIRST_DAY + timedelta(days=10)),
        days_offset=50,
        days_limit=20,
        chunk_days=3,
    )
    assert page.days == whole.days[50:70] and page.days_total == whole.days_total
    assert page.groups == whole.groups and page.gaps != () and page.points == whole.points


def test_past_the_last_page_the_days_are_empty_and_the_summary_stays(facilities):
    response = facilities.get("/api/v1/quality", params={**TEN_DAYS, "offset": "100000"})
    body = ok(response)
    assert body["days"] == [] and body["points"] > 0
    assert 'rel="prev"' in response.headers["Link"]


def test_one_building_is_its_own_sensors_only(store, facilities):
    body = ok(facilities.get("/api/v1/quality", params={**TEN_DAYS, "building": "lib"}))
    report, _ = check_quality(store, CAMPUS, START, midnight(FIRST_DAY + timedelta(days=10)))
    lib = {"read-1", "lib-el"}
    days = [d for d in report.days if d.sensor in lib]
    assert {d["sensor"] for d in body["days"]} == lib
    assert body["points"] == sum(d.points for d in days)
    assert body["days_page"]["total"] == len(days) == 5 * 10
    assert {g["building"] for g in body["by_building_quantity"]} == {"lib"}
    assert {g["sensor"] for g in body["gaps"]} <= lib
    assert (body["scope"], body["id"]) == ("building", "lib")


@pytest.mark.parametrize(
    ("params", "parameter", "words"),
    [
        ({"limit": "-1"}, "limit", []),
        ({"limit": "10001"}, "limit", []),
        ({"limit": "many"}, "limit", []),
        ({"offset": "-5"}, "offset", []),
        ({"offset": "1.5"}, "offset", []),
        ({"building": "nowhere"}, "building", ["not in the campus registry"]),
        ({"start": "2025-01-01", "end": "2026-01-03"}, "start", ["limited to 366 days"]),
        ({"start": "2026-03-01", "end": "2026-02-01"}, "end", ["must be after"]),
        ({"start": "soon"}, "start", ["RFC 3339"]),
    ],
)
def test_bad_parameters_are_422_problems_naming_the_parameter(facilities, params, parameter, words):
    response = facilities.get("/api/v1/quality", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["parameter"] == parameter, body
    for word in words:
        assert word in body["detail"]
    assert "Traceback" not in response.text


def test_a_whole_year_is_allowed(facilities):
    params = {"start": "2026-01-01T00:00:00Z", "end": "2027-01-01T00:00:00Z", "limit": "0"}
    assert ok(facilities.get("/api/v1/quality", params=params))["days_page"]["total"] > 0


@pytest.mark.parametrize(
    ("role", "status"),
    [(None, 401), (Role.RESEARCHER, 403), (Role.PLANNER, 403), (Role.FACILITIES, 200)],
)
def test_only_facilities_see_data_quality(keys, role, status):
    response = client_as(keys, role).get("/api/v1/quality", params={**TEN_DAYS, "limit": "1"})
    assert response.status_code == status, response.text
