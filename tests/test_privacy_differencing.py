"""Nothing below k leaks through a utilisation answer, totals and differences included.

METRICS.md, Privacy: roles below facilities never see an occupancy count of 1 … k − 1;
nothing finer than 15 minutes is published; a suppressed room cannot be recovered by
subtracting its siblings from a total. The utilisation answers below facilities are
computed from the very 15-minute cells the export publishes (suppressed cells at 0),
so the tests play the intruder: they take the researcher's own export and difference
the answers against it, and against each other, the ways an intruder would:

- a single-hour window against its published quarters (the issue's example: rfb-104
  on Monday 16 November 2026, 10:00–11:00Z, published as [–, 0, 0, 0], whose hourly
  used seat-hours times four used to give the hidden 3.33 people back);
- overlapping windows an hour apart, windows that differ by a quarter hour, and the
  default period "today so far" asked a quarter hour apart;
- a building's total minus its published rooms, the campus minus its buildings, the
  hour × weekday profile, and the figures at the hour's peak against ``agg=max``.

Then the property itself, with no arithmetic to get wrong: two stores that differ
only in a count the export hides (1 or 4 people in one quarter) give byte-identical
answers to a researcher, while facilities see the difference.

The data: the sample campus, one simulated week (seed 0, a reading every 5 minutes)
in a real DuckDB store, as in tests/test_simulator.py.
"""

from __future__ import annotations

import csv
import io
import json
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from campuslab.analytics.kpis import space_utilisation
from campuslab.analytics.learning_spaces import utilisation_by_group
from campuslab.api import create_app
from campuslab.api.dependencies import get_clock
from campuslab.api.keys import KeyStore, Role
from campuslab.api.live import read_campus_state
from campuslab.api.routers.exports import OpenDataSettings
from campuslab.core.readings import ReadingBatch, isoformat_utc, to_epoch_us
from campuslab.core.registry import Campus, load_campus, sample_campus_path
from campuslab.core.store.duckdb import DuckDBStore
from campuslab.core.timetables import TimetableStore
from campuslab.simulators.campus import CampusSimulator, SimulationConfig

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

K = 5
MONDAY = datetime(2026, 11, 16, tzinfo=UTC)
WEEK_END = MONDAY + timedelta(days=7)
NOW = WEEK_END + timedelta(days=1)
QUARTER = timedelta(minutes=15)
HOUR = timedelta(hours=1)
WEEK = {"start": isoformat_utc(MONDAY), "end": isoformat_utc(WEEK_END)}
ISSUE_HOUR = MONDAY + timedelta(hours=10)  # 11:00 in Oslo, a core hour


def stamp(moment: datetime) -> str:
    return isoformat_utc(moment)


def window(start: datetime, end: datetime) -> dict[str, str]:
    return {"start": stamp(start), "end": stamp(end)}


@dataclass
class World:
    """A store, an app over it with a clock the test can move, and a client per role."""

    campus: Campus
    store: DuckDBStore
    clock: dict[str, datetime]
    researcher: TestClient
    facilities: TestClient
    app: object
    planner: TestClient | None = None

    def export(self, **params: str) -> dict[tuple[str, str], float | None]:
        """The researcher's occupancy export: (space, quarter start) -> value (None: hidden)."""
        answer = self.researcher.get(
            "/api/v1/export", params={"quantity": "occupancy", "every": "15m", **params}
        )
        assert answer.status_code == 200, answer.text
        cells = {}
        for row in csv.DictReader(io.StringIO(answer.text)):
            if row["level"] == "space":
                assert (row["value"] == "") == (row["suppressed"] == "true")
                cells[(row["sensor"], row["ts"])] = float(row["value"]) if row["value"] else None
        return cells


def make_world(
    store: DuckDBStore,
    campus: Campus,
    settings: OpenDataSettings | None = None,
    timetables: TimetableStore | None = None,
):
    keys = KeyStore.in_memory()
    app = create_app(store, campus, keys=keys, timetables=timetables)
    if settings is not None:
        app.state.open_data = settings
    clock = {"now": NOW}
    app.dependency_overrides[get_clock] = lambda: lambda: clock["now"]

    def client(role: Role) -> TestClient:
        secret = keys.create(role, f"{role} tester").secret
        return TestClient(app, headers={"Authorization": f"Bearer {secret}"})

    return World(
        campus,
        store,
        clock,
        client(Role.RESEARCHER),
        client(Role.FACILITIES),
        app,
        client(Role.PLANNER),
    )


@pytest.fixture(scope="module")
def campus() -> Campus:
    return load_campus(sample_campus_path())


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory, campus: Campus) -> Iterator[World]:
    store = DuckDBStore(tmp_path_factory.mktemp("week") / "campus.duckdb")
    simulator = CampusSimulator(campus, SimulationConfig(seed=0, interval=timedelta(minutes=5)))
    for batch in simulator.batches(MONDAY, WEEK_END, per=timedelta(days=1)):
        store.write(batch)
    yield make_world(store, campus)
    store.close()


@pytest.fixture(scope="module")
def published(week: World) -> dict[tuple[str, str], float | None]:
    """The whole week's export, as the researcher downloads it."""
    return week.export(**WEEK)


def ok(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def quarters(cells: dict, space: str, hour: datetime) -> list[float | None]:
    """The published quarters of one space's hour; a missing row (no data) is NaN."""
    return [cells.get((space, stamp(hour + q * QUARTER)), math.nan) for q in range(4)]


def hour_bounds(values: list[float | None], fill: float) -> float:
    """n_h as the export gives it: the mean of the quarters with data, hidden ones at ``fill``."""
    present = [fill if v is None else v for v in values if v is None or not math.isnan(v)]
    return sum(present) / len(present) if present else math.nan


def lower(values: list[float | None]) -> float:
    return hour_bounds(values, 0.0)


def upper(values: list[float | None]) -> float:
    return hour_bounds(values, float(K))


def listed_spaces(campus: Campus, building: str | None = None) -> list[str]:
    return [
        s.id
        for b, s in campus.spaces()
        if s.capacity >= K and (building is None or b.id == building)
    ]


def core_hours(campus: Campus, start: datetime, end: datetime) -> list[datetime]:
    """The UTC hours in [start, end) that are core hours of the site (Mon–Fri 08–16 Oslo)."""
    hours, moment = [], start
    while moment < end:
        local = moment.astimezone(campus.tz)
        if local.weekday() < 5 and 8 <= local.hour < 16:
            hours.append(moment)
        moment += HOUR
    return hours


def space_answer(world: World, role: str, space: str, params: dict) -> dict:
    client = world.researcher if role == "researcher" else world.facilities
    return ok(client.get(f"/api/v1/spaces/{space}/utilisation", params=params))


# -- the issue's example --------------------------------------------------------------------


def test_the_issue_example_no_longer_gives_the_hidden_quarter_back(week, published, campus):
    cells = quarters(published, "rfb-104", ISSUE_HOUR)
    assert cells == [None, 0.0, 0.0, 0.0]  # the export hides 10:00–10:15
    hour = window(ISSUE_HOUR, ISSUE_HOUR + HOUR)

    researcher = space_answer(week, "researcher", "rfb-104", hour)
    facilities = space_answer(week, "facilities", "rfb-104", hour)

    # the intruder's arithmetic: 4 × the hour's seat-hours − the three published quarters
    assert 4 * researcher["used_seat_hours"] - sum(cells[1:]) == 0.0
    assert researcher["used_seat_hours"] == 0.0 and researcher["utilisation"] == 0.0
    assert researcher["lower_bound"] is True and researcher["suppressed_cells"] == 1
    assert researcher["used_seat_hours_upper_bound"] == K / 4  # the hidden quarter < k
    assert researcher["suppression"]["applied"] and researcher["suppression"]["lower_bound"]
    assert researcher["peak_occupancy"] is None and researcher["p95_occupancy"] is None
    # facilities still see the exact figure, unchanged (3.33 people for a quarter)
    exact = space_utilisation(week.store, campus, "rfb-104", ISSUE_HOUR, ISSUE_HOUR + HOUR)
    assert facilities["used_seat_hours"] == exact.used_seat_hours == pytest.approx(10 / 12)
    assert facilities["lower_bound"] is False and facilities["suppressed_cells"] == 0
    assert facilities["used_seat_hours_upper_bound"] == facilities["used_seat_hours"]
    assert facilities["suppression"]["applied"] is False


# -- single hours and overlapping windows ---------------------------------------------------


def hidden_hours(campus, published, count: int) -> list[tuple[str, datetime]]:
    """(space, core hour) pairs whose quarters hold a hidden one, spread over the campus."""
    found = []
    for space in listed_spaces(campus)[::3]:
        for hour in core_hours(campus, MONDAY, WEEK_END):
            values = quarters(published, space, hour)
            if None in values and any(v for v in values if v is not None):
                found.append((space, hour))  # a hidden quarter beside a published count
                break
    assert len(found) >= count, found
    return found[:count]


def test_a_single_hour_says_only_what_its_published_quarters_say(week, published, campus):
    for space, hour in hidden_hours(campus, published, 8):
        cells = quarters(published, space, hour)
        answer = space_answer(week, "researcher", space, window(hour, hour + HOUR))
        capacity = campus.space(space).capacity

        assert answer["used_seat_hours"] == pytest.approx(lower(cells), abs=1e-12)
        assert answer["used_seat_hours_upper_bound"] == pytest.approx(upper(cells), abs=1e-12)
        assert answer["utilisation"] == pytest.approx(lower(cells) / capacity, abs=1e-12)
        assert answer["suppressed_cells"] == cells.count(None) and answer["lower_bound"]
        # differencing the hour against its published quarters gives 0 for the hidden ones
        hidden = 4 * answer["used_seat_hours"] - sum(v for v in cells if v is not None)
        assert hidden == pytest.approx(0.0, abs=1e-9)
        # whatever the hidden quarter held, the answer is at most the published bound
        exact = space_answer(week, "facilities", space, window(hour, hour + HOUR))
        assert answer["used_seat_hours"] <= exact["used_seat_hours"] + 1e-9
        assert exact["used_seat_hours"] < answer["used_seat_hours_upper_bound"]


def test_overlapping_windows_differ_by_published_quarters_only(week, published, campus):
    for space, hour in hidden_hours(campus, published, 4):
        before = space_answer(week, "researcher", space, window(hour - 2 * HOUR, hour))
        longer = space_answer(week, "researcher", space, window(hour - 2 * HOUR, hour + HOUR))
        difference = longer["used_seat_hours"] - before["used_seat_hours"]
        assert difference == pytest.approx(lower(quarters(published, space, hour)), abs=1e-9)
        # windows a quarter hour apart are the same whole hours: nothing finer is published
        whole = space_answer(week, "researcher", space, window(hour, hour + HOUR))
        for start, end in ((0, 15), (0, 45), (15, 60), (45, 60)):
            part = window(hour + timedelta(minutes=start), hour + timedelta(minutes=end))
            answer = space_answer(week, "researcher", space, part)
            assert {k: v for k, v in answer.items() if k not in ("start", "end")} == {
                k: v for k, v in whole.items() if k not in ("start", "end")
            }


def test_today_so_far_grows_by_published_quarters_only(week, published, campus):
    """The default period ends now; an unfinished quarter is never in it (it would change)."""
    space, hour = hidden_hours(campus, published, 1)[0]
    cells = quarters(published, space, hour)
    seen = []
    try:
        for minutes in (5, 20, 35, 50, 65):
            week.clock["now"] = hour + timedelta(minutes=minutes)
            answer = space_answer(week, "researcher", space, {})
            seen.append(answer)
            done = min(4, minutes // 15)  # complete quarters before now
            earlier = sum(
                lower(quarters(published, space, h))
                for h in core_hours(campus, local_midnight(campus, hour), hour)
            )
            if done:  # n_h of the hour so far: the mean of its complete published quarters
                so_far = earlier + lower(cells[:done])
                assert answer["used_seat_hours"] == pytest.approx(so_far, abs=1e-9)
            else:
                assert answer["used_seat_hours"] == pytest.approx(earlier, abs=1e-9)
                assert answer["hours_without_data"] == 1  # the hour has no complete quarter
    finally:
        week.clock["now"] = NOW
    assert len({a["suppressed_cells"] for a in seen}) > 1


def local_midnight(campus: Campus, moment: datetime) -> datetime:
    local = moment.astimezone(campus.tz)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


# -- totals: buildings, the campus, the profile ---------------------------------------------


def test_a_building_minus_its_published_rooms_gives_no_hidden_room_back(week, published, campus):
    for space, hour in hidden_hours(campus, published, 3):
        building = campus.building_of(space).id
        hour_window = window(hour, hour + HOUR)
        total = ok(
            week.researcher.get(f"/api/v1/buildings/{building}/utilisation", params=hour_window)
        )
        rooms = listed_spaces(campus, building)
        others = sum(
            space_answer(week, "researcher", room, hour_window)["used_seat_hours"]
            for room in rooms
            if room != space
        )
        recovered = total["total"]["figures"]["used_seat_hours"] - others
        cells = quarters(published, space, hour)
        assert recovered == pytest.approx(lower(cells), abs=1e-9)  # the published part only
        exact = space_answer(week, "facilities", space, hour_window)["used_seat_hours"]
        assert recovered < exact  # the hidden quarter is not in it
        assert total["total"]["figures"]["used_seat_hours"] == pytest.approx(
            sum(lower(quarters(published, room, hour)) for room in rooms), abs=1e-9
        )
        assert total["suppression"]["lower_bound"] and total["total"]["figures"]["lower_bound"]


def test_the_campus_minus_its_buildings_is_nothing(week, published, campus):
    day = window(MONDAY, MONDAY + timedelta(days=1))
    body = ok(week.researcher.get("/api/v1/campus/utilisation", params=day))
    figures = body["total"]["figures"]
    buildings = body["by_building"]
    assert figures["used_seat_hours"] == pytest.approx(
        sum(b["figures"]["used_seat_hours"] for b in buildings), abs=1e-9
    )
    assert figures["used_seat_hours"] == pytest.approx(
        sum(g["figures"]["used_seat_hours"] for g in body["by_space_type"]), abs=1e-9
    )
    hours = core_hours(campus, MONDAY, MONDAY + timedelta(days=1))
    expected = sum(
        lower(quarters(published, space, hour)) for space in listed_spaces(campus) for hour in hours
    )
    assert figures["used_seat_hours"] == pytest.approx(expected, abs=1e-6)
    hidden = sum(
        quarters(published, space, hour).count(None)
        for space in listed_spaces(campus)
        for hour in hours
    )
    assert figures["suppressed_cells"] == body["suppression"]["suppressed_cells"] == hidden > 0
    assert sum(b["figures"]["suppressed_cells"] for b in buildings) == hidden
    assert figures["lower_bound"] and body["points_excluded"] == {"occupancy": 0}
    # every building's and type's figures are lower bounds of the facilities' exact ones
    exact = ok(week.facilities.get("/api/v1/campus/utilisation", params=day))
    assert figures["used_seat_hours"] <= exact["total"]["figures"]["used_seat_hours"]


def test_the_figures_at_the_hours_peak_come_from_the_published_maxima(week, campus):
    day = window(MONDAY, MONDAY + timedelta(days=1))
    maxima = week.export(**day, agg="max", building="rfb")
    body = ok(week.researcher.get("/api/v1/buildings/rfb/utilisation", params=day))
    peak = body["total"]["at_hourly_peak"]
    hours = core_hours(campus, MONDAY, MONDAY + timedelta(days=1))
    expected = 0.0
    for space in listed_spaces(campus, "rfb"):
        for hour in hours:
            cells = [0.0 if v is None else v for v in quarters(maxima, space, hour)]
            expected += max(v for v in cells if not math.isnan(v))
    assert peak["used_seat_hours"] == pytest.approx(expected, abs=1e-9)
    assert peak["lower_bound"] and peak["suppressed_cells"] > 0


def test_the_profile_is_made_of_published_quarters(week, published, campus):
    day = window(MONDAY, MONDAY + timedelta(days=1))
    body = ok(
        week.researcher.get("/api/v1/buildings/hb/utilisation", params={**day, "profile": "true"})
    )
    profile = body["profile"]
    rooms = listed_spaces(campus, "hb")
    seats = sum(campus.space(room).capacity for room in rooms)
    for hour in (MONDAY + timedelta(hours=h) for h in range(24)):
        local = hour.astimezone(campus.tz)
        cell = profile["utilisation"][local.weekday()][local.hour]
        people = sum(lower(quarters(published, room, hour)) for room in rooms)
        assert cell * seats == pytest.approx(people, abs=1e-9)
    assert (
        profile["lower_bound"]
        and profile["suppressed_cells"] >= body["suppression"]["suppressed_cells"]
    )


# -- the figures that are still shown, and the facilities' answers ---------------------------


def test_peak_and_p95_of_one_space_are_shown_only_at_k_people_or_more(week, published, campus):
    answer = space_answer(week, "researcher", "rfb-104", WEEK)
    assert answer["lower_bound"]  # the week has hidden quarters, but its peak is no small count
    assert answer["peak_occupancy"] * 22 >= K and answer["p95_occupancy"] * 22 >= K
    for space in listed_spaces(campus):
        body = space_answer(week, "researcher", space, window(ISSUE_HOUR, ISSUE_HOUR + HOUR))
        capacity = campus.space(space).capacity
        for name in ("peak_occupancy", "p95_occupancy"):
            rate = body[name]
            if rate is not None:
                assert rate * capacity >= K or (rate == 0 and not body["lower_bound"])


def test_facilities_answers_stay_exact(week, campus):
    for space in ("rfb-104", "hb-101"):
        body = space_answer(week, "facilities", space, WEEK)
        exact = space_utilisation(week.store, campus, space, MONDAY, WEEK_END)
        assert body["used_seat_hours"] == exact.used_seat_hours
        assert body["utilisation"] == exact.utilisation
        assert body["frequency_rate"] == exact.frequency_rate
        assert body["peak_occupancy"] == exact.peak_occupancy
        assert body["lower_bound"] is False and body["suppressed_cells"] == 0
    body = ok(week.facilities.get("/api/v1/campus/utilisation", params=WEEK))
    [pool] = utilisation_by_group(week.store, campus, MONDAY, WEEK_END, "campus")
    assert body["total"]["figures"]["used_seat_hours"] == pool.utilisation.used_seat_hours
    assert body["total"]["figures"]["utilisation"] == pool.utilisation.utilisation
    assert body["total"]["figures"]["suppressed_cells"] == 0
    assert body["suppression"] == {
        "applied": False,
        "k": K,
        "rule": "none: the caller's role (facilities) sees exact counts and every space",
        "suppressed_counts": 0,
        "lower_bound": False,
        "suppressed_cells": 0,
    }


def test_with_sibling_suppression_the_figures_follow_the_export(week, campus):
    """With ``complementary: siblings`` a room can be hidden for its neighbours' sake too."""
    siblings = make_world(week.store, campus, OpenDataSettings(complementary="siblings"))
    day = window(MONDAY, MONDAY + timedelta(days=1))
    cells = siblings.export(**day, building="lsb")
    hours = core_hours(campus, MONDAY, MONDAY + timedelta(days=1))
    for space in listed_spaces(campus, "lsb")[:6]:
        answer = space_answer(siblings, "researcher", space, day)
        expected = sum(lower(quarters(cells, space, hour)) for hour in hours)
        assert answer["used_seat_hours"] == pytest.approx(expected, abs=1e-9)
        hidden = sum(quarters(cells, space, hour).count(None) for hour in hours)
        assert answer["suppressed_cells"] == hidden
    body = ok(siblings.researcher.get("/api/v1/buildings/lsb/utilisation", params=day))
    expected = sum(
        lower(quarters(cells, space, hour))
        for space in listed_spaces(campus, "lsb")
        for hour in hours
    )
    assert body["total"]["figures"]["used_seat_hours"] == pytest.approx(expected, abs=1e-9)


# -- the property itself: answers do not depend on a hidden count ----------------------------

SEEDED = ("rfb-104", "rfb-105", "rfb-106", "rfb-205")
TWO_DAYS = (MONDAY, MONDAY + timedelta(days=2))


def seeded_store(
    path: Path, campus: Campus, hidden_people: float, office_people: float = 0.0
) -> DuckDBStore:
    """Two days of four rooms of rfb; rfb-104 holds ``hidden_people`` from 10:00 to 10:15Z.

    rfb-110, a one-seat office (withheld below facilities), holds ``office_people`` from
    10:00 to 11:00Z; rfb-el, the building's electricity register, counts 2 kWh per 5 minutes.
    """
    store = DuckDBStore(path)
    batch = ReadingBatch()
    moment = TWO_DAYS[0]
    step = 0
    while moment < TWO_DAYS[1]:
        ts = to_epoch_us(moment)
        for i, space in enumerate(SEEDED):
            value = float((step // 3 + 2 * i) % 9)  # quarter means 0 … 8: many small ones
            if space == "rfb-104" and ISSUE_HOUR <= moment < ISSUE_HOUR + QUARTER:
                value = hidden_people
            elif space == "rfb-104" and ISSUE_HOUR <= moment < ISSUE_HOUR + HOUR:
                value = 0.0 if moment < ISSUE_HOUR + 2 * QUARTER else 7.0
            batch.append(ts, "rfb", space, "occupancy", value)
        office = office_people if ISSUE_HOUR <= moment < ISSUE_HOUR + HOUR else 0.0
        batch.append(ts, "rfb", "rfb-110", "occupancy", office)
        batch.append(ts, "rfb", "rfb-el", "energy", 1000.0 + 2.0 * step)
        moment += timedelta(minutes=5)
        step += 1
    store.write(batch)
    return store


REQUESTS = [
    "/api/v1/spaces/rfb-104/utilisation?start=2026-11-16T10:00:00Z&end=2026-11-16T11:00:00Z",
    "/api/v1/spaces/rfb-104/utilisation?start=2026-11-16T10:00:00Z&end=2026-11-16T10:15:00Z",
    "/api/v1/spaces/rfb-104/utilisation?start=2026-11-16T09:00:00Z&end=2026-11-16T11:00:00Z",
    "/api/v1/spaces/rfb-104/utilisation?start=2026-11-16T00:00:00Z&end=2026-11-18T00:00:00Z",
    "/api/v1/spaces/rfb-105/utilisation?start=2026-11-16T10:00:00Z&end=2026-11-16T11:00:00Z",
    "/api/v1/buildings/rfb/utilisation?start=2026-11-16T10:00:00Z&end=2026-11-16T11:00:00Z",
    "/api/v1/buildings/rfb/utilisation?start=2026-11-16T00:00:00Z&end=2026-11-18T00:00:00Z"
    "&profile=true",
    "/api/v1/campus/utilisation?start=2026-11-16T10:00:00Z&end=2026-11-16T11:00:00Z",
    "/api/v1/campus/utilisation?start=2026-11-16T00:00:00Z&end=2026-11-17T00:00:00Z&profile=true",
    "/api/v1/export?quantity=occupancy&building=rfb&start=2026-11-16T00:00:00Z"
    "&end=2026-11-17T00:00:00Z",
    "/api/v1/export?quantity=occupancy&building=rfb&agg=max&every=1h"
    "&start=2026-11-16T00:00:00Z&end=2026-11-17T00:00:00Z",
]
# the default period (today so far), asked at several moments of the hidden quarter's hour
CLOCKS = [ISSUE_HOUR + timedelta(minutes=m) for m in (10, 20, 40, 70)]


@pytest.mark.parametrize("people", [(1.0, 4.0), (0.2, 4.9)])
def test_two_stores_that_differ_only_below_k_give_identical_answers(
    tmp_path: Path, campus: Campus, people: tuple[float, float]
):
    worlds = [make_world(seeded_store(tmp_path / f"{n}.duckdb", campus, n), campus) for n in people]
    try:
        for request in REQUESTS:
            answers = [w.researcher.get(request) for w in worlds]
            assert all(a.status_code == 200 for a in answers), answers[0].text
            assert answers[0].content == answers[1].content, request
        for moment in CLOCKS:
            for w in worlds:
                w.clock["now"] = moment
            answers = [w.researcher.get("/api/v1/spaces/rfb-104/utilisation") for w in worlds]
            assert answers[0].json() == answers[1].json(), moment
        for w in worlds:
            w.clock["now"] = NOW
        # facilities do see the difference: the stores really differ
        exact = [w.facilities.get(REQUESTS[0]).json()["used_seat_hours"] for w in worlds]
        assert exact[0] != exact[1]
        hidden = worlds[0].researcher.get(REQUESTS[0]).json()
        assert hidden["suppressed_cells"] == 1 and hidden["lower_bound"]
    finally:
        for w in worlds:
            w.store.close()


def test_the_week_of_the_campus_is_bounded_by_its_published_quarters(week, published, campus):
    """Over the whole week the campus figure is the published part, and the truth is inside."""
    body = ok(week.researcher.get("/api/v1/campus/utilisation", params=WEEK))
    hours = core_hours(campus, MONDAY, WEEK_END)
    spaces = listed_spaces(campus)
    low = np.array([[lower(quarters(published, s, h)) for h in hours] for s in spaces])
    high = np.array([[upper(quarters(published, s, h)) for h in hours] for s in spaces])
    figures = body["total"]["figures"]
    assert figures["used_seat_hours"] == pytest.approx(float(low.sum()), rel=1e-12)
    assert figures["used_seat_hours_upper_bound"] == pytest.approx(float(high.sum()), rel=1e-12)
    [exact] = utilisation_by_group(week.store, campus, MONDAY, WEEK_END, "campus", spaces)
    truth = exact.utilisation
    assert (
        figures["used_seat_hours"] < truth.used_seat_hours < figures["used_seat_hours_upper_bound"]
    )
    assert figures["frequency_rate"] <= truth.frequency_rate
    assert figures["in_use_room_hours"] <= truth.in_use_hours
    assert figures["p95_occupancy"] <= truth.p95_occupancy
    assert figures["available_room_hours"] == truth.available_hours  # presence of data is public


# -- energy per use: occupant-hours and used seat-hours --------------------------------------


def test_the_energy_issue_example_no_longer_gives_hidden_quarters_back(week, published, campus):
    """rfb, 10–11Z: occupant-hours were exact and counted the offices; now the published cells."""
    hour = window(ISSUE_HOUR, ISSUE_HOUR + HOUR)
    researcher = ok(week.researcher.get("/api/v1/buildings/rfb/energy", params=hour))
    facilities = ok(week.facilities.get("/api/v1/buildings/rfb/energy", params=hour))
    use, exact = researcher["use_intensity"], facilities["use_intensity"]

    rooms = listed_spaces(campus, "rfb")
    cells = {room: quarters(published, room, ISSUE_HOUR) for room in rooms}
    # the intruder's arithmetic: the building's occupant-hours minus its exported rooms
    recovered = use["occupant_hours"] - sum(
        lower(values) for values in cells.values() if not math.isnan(lower(values))
    )
    assert recovered == pytest.approx(0.0, abs=1e-9)
    assert use["occupant_hours"] < exact["occupant_hours"]  # the hidden part is not in it
    hidden = sum(values.count(None) for values in cells.values())
    assert use["suppressed_cells"] == hidden > 0 and use["lower_bound"]
    assert use["occupant_hours_upper_bound"] == pytest.approx(
        sum(upper(values) for values in cells.values() if not math.isnan(upper(values)))
    )
    small = [s.id for s in campus.building("rfb").spaces if s.capacity < K]
    assert use["withheld_spaces"] == small and "rfb-110" in small
    assert use["used_seat_hours"] == pytest.approx(
        ok(week.researcher.get("/api/v1/buildings/rfb/utilisation", params=hour))["total"][
            "figures"
        ]["used_seat_hours"],
        abs=1e-9,
    )
    # facilities: exact, as building_energy computes it, every space
    assert exact["lower_bound"] is False and exact["suppressed_cells"] == 0
    assert exact["withheld_spaces"] == []
    assert researcher["delivered_kwh"] == facilities["delivered_kwh"]  # energy is not a count


ENERGY_REQUESTS = [
    "/api/v1/buildings/rfb/energy?start=2026-11-16T10:00:00Z&end=2026-11-16T11:00:00Z",
    "/api/v1/buildings/rfb/energy?start=2026-11-16T10:00:00Z&end=2026-11-16T10:15:00Z",
    "/api/v1/buildings/rfb/energy?start=2026-11-16T09:00:00Z&end=2026-11-16T11:00:00Z",
    "/api/v1/buildings/rfb/energy?start=2026-11-16T00:00:00Z&end=2026-11-18T00:00:00Z",
    "/api/v1/buildings/rfb/energy",  # the last 7 whole local days
]


@pytest.mark.parametrize("people", [((1.0, 0.0), (4.0, 1.0)), ((0.2, 1.0), (4.9, 0.0))])
def test_energy_per_use_does_not_depend_on_a_hidden_count_or_an_office(
    tmp_path: Path, campus: Campus, people: tuple[tuple[float, float], ...]
):
    """Two stores that differ in a hidden quarter and in a one-seat office's presence."""
    worlds = [
        make_world(seeded_store(tmp_path / f"{n}.duckdb", campus, *n), campus) for n in people
    ]
    try:
        for request in ENERGY_REQUESTS:
            answers = [w.researcher.get(request) for w in worlds]
            assert all(a.status_code == 200 for a in answers), answers[0].text
            assert answers[0].content == answers[1].content, request
        for moment in CLOCKS:  # asked within the hour, the default period ends at midnight
            for w in worlds:
                w.clock["now"] = moment
            request = ENERGY_REQUESTS[0].replace("11:00:00Z", "12:00:00Z")
            answers = [w.researcher.get(request) for w in worlds]
            assert answers[0].content == answers[1].content, moment
        for w in worlds:
            w.clock["now"] = NOW
        exact = [
            w.facilities.get(ENERGY_REQUESTS[0]).json()["use_intensity"]["occupant_hours"]
            for w in worlds
        ]
        assert exact[0] != exact[1]  # facilities see the difference: the stores really differ
        use = worlds[0].researcher.get(ENERGY_REQUESTS[0]).json()["use_intensity"]
        assert use["lower_bound"] and use["suppressed_cells"] >= 1
        assert "rfb-110" in use["withheld_spaces"]
        assert use["kwh_per_occupant_hour"] is not None
    finally:
        for w in worlds:
            w.store.close()


# -- the public live page and its stream --------------------------------------------------


def live_snapshot(world: World) -> dict:
    """One producer tick of the app's live feed, and the public audience's snapshot data."""
    import asyncio

    from campuslab.api.live import DEFAULT_LIVE_SETTINGS, live_feed

    feed = live_feed(
        world.app, world.store, world.campus, lambda: world.clock["now"], DEFAULT_LIVE_SETTINGS
    )
    feed._utilisation_at = None  # recompute now, as the producer does once a minute
    asyncio.run(feed.tick())
    event = feed.snapshot(False)
    return json.loads(event.split("data: ", 1)[1])


# the page read a quarter and an hour apart through the hidden quarter's hour and after it
LIVE_CLOCKS = [ISSUE_HOUR + timedelta(minutes=m) for m in (5, 14, 16, 20, 31, 46, 61, 75, 125)]


@pytest.mark.parametrize("people", [(1.0, 4.0), (0.2, 4.9)])
def test_the_live_page_and_stream_do_not_depend_on_a_hidden_count(
    tmp_path: Path, campus: Campus, people: tuple[float, float]
):
    """The public overview page (and its stream) shows today's utilisation so far; read
    twice an hour apart it used to give that hour's count back (0.75 = a hidden quarter of
    3 people). From the published quarters it cannot."""
    worlds = [make_world(seeded_store(tmp_path / f"{n}.duckdb", campus, n), campus) for n in people]
    public = [TestClient(w.app) for w in worlds]
    try:
        seen = []
        for moment in LIVE_CLOCKS:
            for w in worlds:
                w.clock["now"] = moment
            pages = [client.get("/") for client in public]
            assert all(p.status_code == 200 for p in pages)
            assert pages[0].content == pages[1].content, moment
            snapshots = [live_snapshot(w) for w in worlds]
            assert snapshots[0] == snapshots[1], moment
            # the figures behind the page, before rounding to whole percent
            states = [read_campus_state(w.store, campus, moment) for w in worlds]
            public_figures = [
                {
                    space: (today.result.used_seat_hours, today.bounds.suppressed_cells)
                    for space, today in state.protected_utilisation.items()
                }
                for state in states
            ]
            assert public_figures[0] == public_figures[1], moment
            if moment >= ISSUE_HOUR + QUARTER:  # facilities' exact figures hold the hidden quarter
                exact_figures = [s.utilisation["rfb-104"].used_seat_hours for s in states]
                assert exact_figures[0] != exact_figures[1], moment
            seen.append(snapshots[0]["spaces"]["rfb-104"])
        # the hidden quarter made rfb-104's figure a lower bound, and the page says so
        assert any(row["utilisation"] and row["utilisation"].startswith("at least") for row in seen)
        assert all("rfb-110" not in (row.get("utilisation") or "") for row in seen)
        # facilities do see the difference: the stores really differ
        for w in worlds:
            w.clock["now"] = ISSUE_HOUR + timedelta(minutes=75)
        exact = [w.facilities.get("/", headers={"Accept": "text/html"}).text for w in worlds]
        assert exact[0] != exact[1]
    finally:
        for w in worlds:
            w.store.close()


# -- booked vs actual and the right-sizing advice ------------------------------------------
#
# rfb-106 (40 seats) over Monday to Friday: 12 people from 12:00 to 14:00Z every day (ten
# used core hours at 30 % of its seats: a candidate to split), nobody otherwise, except
# ``hidden_people`` in the quarter 10:00–10:15Z on Monday, which the export hides. Two
# bookings on Monday, 10–11Z and 12–13Z, ten people each. With exact counts the mean
# observed peak over the two bookings was (hidden + 12) / 2 = 6.5 against 8.0, so a
# period with both bookings against one with only the second (12) gave the hidden 1 back:
# 2 × 6.5 − 12 = 1; the advice's idle seat-hours (Σ 40 − peak) and the low-use rule's
# utilisation moved with it too.

BOOKED_SPACE = "rfb-106"
WORKWEEK = (MONDAY, MONDAY + timedelta(days=5))
BOOKED_CALENDAR = b"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Test//EN
BEGIN:VEVENT
UID:hidden@test
DTSTAMP:20261101T000000Z
DTSTART:20261116T100000Z
DTEND:20261116T110000Z
SUMMARY:TMA4100
X-CAMPUSLAB-CLASS-SIZE:10
END:VEVENT
BEGIN:VEVENT
UID:seen@test
DTSTAMP:20261101T000000Z
DTSTART:20261116T120000Z
DTEND:20261116T130000Z
SUMMARY:TMA4105
X-CAMPUSLAB-CLASS-SIZE:10
END:VEVENT
END:VCALENDAR
"""


def booked_store(path: Path, campus: Campus, hidden_people: float) -> DuckDBStore:
    """A working week of rfb-106 (see above): hidden_people in Monday 10:00–10:15Z only."""
    store = DuckDBStore(path)
    batch = ReadingBatch()
    moment = WORKWEEK[0]
    while moment < WORKWEEK[1]:
        value = 12.0 if 12 <= moment.hour < 14 else 0.0
        if ISSUE_HOUR <= moment < ISSUE_HOUR + QUARTER:
            value = hidden_people
        batch.append(to_epoch_us(moment), "rfb", BOOKED_SPACE, "occupancy", value)
        moment += timedelta(minutes=5)
    store.write(batch)
    return store


def booked_world(tmp_path: Path, campus: Campus, hidden_people: float) -> World:
    timetables = TimetableStore(tmp_path / f"timetables-{hidden_people}")
    timetables.import_calendar(campus, BOOKED_SPACE, BOOKED_CALENDAR)
    store = booked_store(tmp_path / f"booked-{hidden_people}.duckdb", campus, hidden_people)
    return make_world(store, campus, timetables=timetables)


BOOKING_REQUESTS = [
    f"/api/v1/spaces/{BOOKED_SPACE}/bookings?start=2026-11-16T00:00:00Z&end=2026-11-21T00:00:00Z",
    f"/api/v1/spaces/{BOOKED_SPACE}/bookings?start=2026-11-16T10:00:00Z&end=2026-11-16T11:00:00Z",
    f"/api/v1/spaces/{BOOKED_SPACE}/bookings?start=2026-11-16T10:00:00Z&end=2026-11-16T13:00:00Z",
    f"/api/v1/spaces/{BOOKED_SPACE}/bookings",  # the last 7 whole local days
]
RECOMMENDATION_REQUESTS = [
    "/api/v1/recommendations?building=rfb&start=2026-11-16T00:00:00Z&end=2026-11-21T00:00:00Z",
    "/api/v1/recommendations?start=2026-11-16T00:00:00Z&end=2026-11-21T00:00:00Z",
    "/api/v1/recommendations?building=rfb",
]


@pytest.mark.parametrize("people", [(1.0, 4.0), (0.2, 4.9)])
def test_booked_vs_actual_does_not_depend_on_a_hidden_count(
    tmp_path: Path, campus: Campus, people: tuple[float, float]
):
    worlds = [booked_world(tmp_path, campus, n) for n in people]
    try:
        for request in BOOKING_REQUESTS:
            answers = [w.researcher.get(request) for w in worlds]
            assert all(a.status_code == 200 for a in answers), answers[0].text
            assert answers[0].content == answers[1].content, request
        # facilities do see the difference: the stores really differ
        exact = [ok(w.facilities.get(BOOKING_REQUESTS[0])) for w in worlds]
        assert exact[0]["mean_observed_peak"] == pytest.approx((people[0] + 12) / 2)
        assert exact[1]["mean_observed_peak"] == pytest.approx((people[1] + 12) / 2)
        shown = ok(worlds[0].researcher.get(BOOKING_REQUESTS[0]))
        assert shown["observed_peaks_lower_bound"] is True
        assert shown["suppression"]["applied"] is True
        assert [b["observed_peak"] for b in shown["bookings"]] == [None, 12.0]
        assert [b["observed_peak_suppressed"] for b in shown["bookings"]] == [True, False]
        # the hidden quarter holds someone, so its hour is not a no-show
        assert shown["no_show_hours"] == exact[0]["no_show_hours"] == 0
        # the intruder's arithmetic: both bookings' mean against the second one alone
        second = BOOKING_REQUESTS[0].replace("2026-11-16T00:00:00Z", "2026-11-16T11:00:00Z")
        alone = ok(worlds[0].facilities.get(second))["mean_observed_peak"]
        assert alone == 12.0
        assert 2 * exact[0]["mean_observed_peak"] - alone == pytest.approx(people[0])
        assert 2 * shown["mean_observed_peak"] - 12.0 == 0.0  # the hidden peak counts as 0
        assert shown["headcount_to_class_size"] == 0.6  # (0 + 12) / (10 + 10): a lower bound
        assert shown["unbooked_used_hours"] == shown["unbooked_used_hours_upper_bound"] == 9
    finally:
        for w in worlds:
            w.store.close()


@pytest.mark.parametrize("people", [(1.0, 4.0), (0.2, 4.9)])
def test_recommendations_do_not_depend_on_a_hidden_count(
    tmp_path: Path, campus: Campus, people: tuple[float, float]
):
    worlds = [booked_world(tmp_path, campus, n) for n in people]
    try:
        for request in RECOMMENDATION_REQUESTS:
            answers = [w.planner.get(request) for w in worlds]
            assert all(a.status_code == 200 for a in answers), answers[0].text
            assert answers[0].content == answers[1].content, request
        # facilities do see the difference: the stores really differ
        exact = [ok(w.facilities.get(RECOMMENDATION_REQUESTS[0])) for w in worlds]
        for answer, hidden in zip(exact, people, strict=True):
            [split] = [r for r in answer["recommendations"] if r["space_id"] == BOOKED_SPACE]
            # ten hours of 40 − 12 idle seats, and the hidden hour's 40 − hidden when in use
            idle = 280 + (40 - hidden if hidden >= 1 else 0)
            assert split["evidence"]["idle_seat_hours"]["value"] == pytest.approx(idle)
            assert split["evidence"]["idle_seat_hours"]["bound"] is None
        shown = ok(worlds[0].planner.get(RECOMMENDATION_REQUESTS[0]))
        [split] = [r for r in shown["recommendations"] if r["space_id"] == BOOKED_SPACE]
        assert split["kind"] == "split_or_reassign" and split["suppressed_cells"] == 1
        assert split["evidence"]["idle_seat_hours"] == {
            "value": 280.0,
            "unit": "seat-h",
            "suppressed": False,
            "bound": "lower",
        }
        assert split["evidence"]["used_hours"]["value"] == 10
        assert split["evidence"]["used_hours"]["bound"] == "lower"
    finally:
        for w in worlds:
            w.store.close()
