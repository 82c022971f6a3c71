"""The analytics routes over a simulated week in a real DuckDB store, against the analytics.

A small campus (two buildings, eight simulated spaces, meters, a weather
station) is simulated for the week of Monday 2 March 2026 with sensor faults
(spikes, drop-outs, stuck values, a register reset); the data-quality checks
run and store their flags; the simulator's timetables of three teaching rooms
are imported as iCalendar. Two spaces the simulator does not know get
hand-written readings so that the right-sizing rules have something to say:
an auditorium far too big for its classes and a quiet room used by two or
three people (a small count, suppressed below facilities).

Each route's answer is checked against the analytics function it calls, and
against invariants a reader can check by hand. Roles of every route are in
tests/test_security.py (ROUTE_ROLES); the upload's are checked here too.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from campuslab.analytics.bookings import space_booked_vs_actual
from campuslab.analytics.climate_kpis import space_ieq
from campuslab.analytics.energy_kpis import building_energy
from campuslab.analytics.learning_spaces import (
    group_utilisation,
    profile_of,
    utilisation_by_group,
)
from campuslab.analytics.quality_kpis import check_quality, run_quality
from campuslab.analytics.recommendations import right_sizing_of, right_sizing_report
from campuslab.analytics.report import booked_vs_actual_of_scope
from campuslab.api import create_app
from campuslab.api.dependencies import get_clock
from campuslab.api.keys import KeyStore, Role
from campuslab.api.privacy_counts import (
    ProtectedReader,
    protected_occupancy,
    protected_occupant_hours,
)
from campuslab.api.routers.exports import OpenDataSettings
from campuslab.core.readings import ReadingBatch, to_epoch_us
from campuslab.core.registry import Campus, load_campus
from campuslab.core.store.duckdb import DuckDBStore
from campuslab.core.timetables import MAX_CALENDAR_BYTES, TimetableStore
from campuslab.simulators.campus import CampusSimulator, SimulationConfig
from campuslab.simulators.timetable_export import timetable_ics

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PROBLEM = "application/problem+json"
OSLO = ZoneInfo("Europe/Oslo")
MONDAY = datetime(2026, 3, 2, tzinfo=OSLO)
WEEK_END = MONDAY + timedelta(days=7)
WEEK = {"start": "2026-03-02T00:00:00+01:00", "end": "2026-03-09T00:00:00+01:00"}
NOW = datetime(2026, 3, 9, 10, 30, tzinfo=OSLO)  # the API's clock: defaults are that week
TIMETABLED = ("hall-a", "hall-b", "sem-1")
HAND_WRITTEN = ("aud-x", "quiet-1")  # not simulated: their readings are written by hand


def spaces_yaml(*spaces: tuple[str, str, str, int]) -> str:
    """Registry lines for (id, name, type, seats); 2 m² per seat, floor 1."""
    return "".join(
        f'      - {{id: {i}, name: "{n}", floor: 1, type: {t}, capacity: {c}, area_m2: {2 * c}}}\n'
        for i, n, t, c in spaces
    )


SIMULATED_SPACES = spaces_yaml(
    ("hall-a", "Auditorium A", "lecture_hall", 200),
    ("hall-b", "Auditorium B", "lecture_hall", 450),
    ("sem-1", "Seminar room 1", "seminar_room", 30),
    ("office-1", "Office 1", "office", 2),  # fewer than k = 5 seats: withheld below facilities
)
LIBRARY_SPACES = spaces_yaml(
    ("read-1", "Reading room 1", "study_space", 60),
    ("group-1", "Group room 1", "meeting_room", 6),
    ("atrium", "Atrium", "other", 80),
)
TEACH_EXTRA = spaces_yaml(("quiet-1", "Quiet room", "study_space", 12))
LIBRARY_EXTRA = spaces_yaml(("aud-x", "Old auditorium", "lecture_hall", 300))
WITHHELD = ["office-1"]
REGISTRY = """\
site:
  id: testsite
  name: Test University
  timezone: Europe/Oslo
  weather_station: {{id: test-weather, building: teach}}
analytics:
  core_hours: {{days: [mon, tue, wed, thu, fri], start: "08:00", end: "16:00"}}
  in_use_threshold: 1
  hourly_observation: mean
buildings:
  - id: teach
    name: Teaching building
    heated_area_m2: 5000
    meters:
      - {{id: teach-el, quantity: energy}}
      - {{id: teach-heat, quantity: heat_energy}}
    spaces:
{teach}  - id: lib
    name: Library
    heated_area_m2: 3000
    meters:
      - {{id: lib-el, quantity: energy}}
    spaces:
{lib}"""


@dataclass(frozen=True)
class SeededWeek:
    """A simulated week in a real store, with timetables, as ``campuslab serve`` keeps it."""

    campus: Campus
    registry: Path
    data_dir: Path
    store: DuckDBStore
    timetables: TimetableStore
    simulator: CampusSimulator


def write_hand_readings(store: DuckDBStore) -> None:
    """aud-x: 30–60 people in a 300-seat hall; quiet-1: 2 or 3 people in 12 hours a week."""
    batch = ReadingBatch()
    for day in range(7):
        for hour in range(24):
            start = MONDAY + timedelta(days=day, hours=hour)
            weekday, core = day < 5, 8 <= hour < 16
            hall = 30 + 6 * ((day + hour) % 6) if weekday and core and hour != 12 else 0
            quiet = (2 + (hour % 2)) if weekday and core and hour in (9, 10, 13) and day < 4 else 0
            for minute in range(0, 60, 5):
                at = to_epoch_us(start + timedelta(minutes=minute))
                batch.append(at, "lib", "aud-x", "occupancy", float(hall))
                batch.append(at, "teach", "quiet-1", "occupancy", float(quiet))
    store.write(batch)


def seed_week(folder: Path) -> SeededWeek:
    """Simulate, check and import the week; the store stays open for the caller."""
    simulated = folder / "simulated.yaml"
    simulated.write_text(REGISTRY.format(teach=SIMULATED_SPACES, lib=LIBRARY_SPACES))
    registry = folder / "campus.yaml"
    registry.write_text(
        REGISTRY.format(teach=SIMULATED_SPACES + TEACH_EXTRA, lib=LIBRARY_SPACES + LIBRARY_EXTRA)
    )
    campus = load_campus(registry)
    data_dir = folder / "data"
    store = DuckDBStore(data_dir / "campuslab.duckdb")
    faults = frozenset({"spike", "dropout", "stuck", "reset"})
    sim = CampusSimulator(
        load_campus(simulated),
        SimulationConfig(seed=3, interval=timedelta(minutes=5), faults=faults),
    )
    # eight days before: the register look-back and the adaptive model's running mean
    for batch in sim.batches(MONDAY - timedelta(days=8), WEEK_END, per=timedelta(days=1)):
        store.write(batch)
    write_hand_readings(store)
    run_quality(store, campus, MONDAY - timedelta(days=8), WEEK_END)
    timetables = TimetableStore(data_dir / "timetables")
    for space_id in TIMETABLED:
        timetables.import_calendar(campus, space_id, timetable_ics(sim, space_id, MONDAY.date(), 1))
    return SeededWeek(campus, registry, data_dir, store, timetables, sim)


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededWeek]:
    seeded = seed_week(tmp_path_factory.mktemp("week"))
    yield seeded
    seeded.store.close()


@dataclass
class Clients:
    keys: KeyStore
    app: object

    def as_role(self, role: Role | None) -> TestClient:
        if role is None:
            return TestClient(self.app)
        secret = self.keys.create(role, f"{role} tester").secret
        return TestClient(self.app, headers={"Authorization": f"Bearer {secret}"})


def make_clients(week: SeededWeek, timetables: TimetableStore | None = None) -> Clients:
    keys = KeyStore.in_memory()
    app = create_app(week.store, week.campus, keys=keys, timetables=timetables or week.timetables)
    app.dependency_overrides[get_clock] = lambda: lambda: NOW.astimezone(UTC)
    return Clients(keys, app)


@pytest.fixture(scope="module")
def clients(week: SeededWeek) -> Clients:
    return make_clients(week)


@pytest.fixture(scope="module")
def facilities(clients: Clients) -> TestClient:
    return clients.as_role(Role.FACILITIES)


@pytest.fixture(scope="module")
def planner(clients: Clients) -> TestClient:
    return clients.as_role(Role.PLANNER)


@pytest.fixture(scope="module")
def researcher(clients: Clients) -> TestClient:
    return clients.as_role(Role.RESEARCHER)


def ok(response) -> dict:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert "NaN" not in response.text and "Infinity" not in response.text
    return response.json()


def assert_problem(response, status: int, *words: str, parameter: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    for word in words:
        assert word in body["detail"], (word, body["detail"])
    if parameter is not None:
        assert body.get("parameter") == parameter, body
    assert "Traceback" not in response.text
    return body


def same(api: float | None, computed: float) -> bool:
    """An API number against the analytics' (null for NaN)."""
    return api is None if math.isnan(computed) else api == computed


def assert_period(body: dict) -> None:
    assert body["period"]["start"] == "2026-03-01T23:00:00Z"
    assert body["period"]["end"] == "2026-03-08T23:00:00Z"
    assert body["period"]["timezone"] == "Europe/Oslo"
    assert body["units"], "every answer states its units"
    assert isinstance(body["points_excluded"], dict)


# -- utilisation of the campus and of a building -------------------------------------------


def figures_match(api: dict, result) -> None:
    assert same(api["utilisation"], result.utilisation)
    assert same(api["frequency_rate"], result.frequency_rate)
    assert same(api["occupancy_rate"], result.occupancy_rate)
    assert api["used_seat_hours"] == result.used_seat_hours
    assert api["available_seat_hours"] == result.available_seat_hours
    assert api["available_room_hours"] == result.available_hours
    assert api["room_hours_without_data"] == result.hours_without_data


def visible(week: SeededWeek, building: str | None = None) -> list[str]:
    """The spaces a role below facilities sees figures of."""
    return [
        s.id for b, s in week.campus.spaces() if s.id not in WITHHELD and building in (None, b.id)
    ]


def test_campus_utilisation_is_the_pooled_smg_figures(week, facilities):
    body = ok(facilities.get("/api/v1/campus/utilisation", params=WEEK))

    assert_period(body)
    [campus_group] = utilisation_by_group(week.store, week.campus, MONDAY, WEEK_END, "campus")
    figures_match(body["total"]["figures"], campus_group.utilisation)
    figures_match(body["total"]["at_hourly_peak"], campus_group.at_hourly_peak)
    assert body["total"]["band"] == campus_group.band
    assert body["points_excluded"] == {"occupancy": campus_group.utilisation.points_excluded}
    assert body["points_excluded"]["occupancy"] > 0, "the faults were flagged and left out"
    by_type = utilisation_by_group(week.store, week.campus, MONDAY, WEEK_END, "space_type")
    assert [g["key"] for g in body["by_space_type"]] == [g.key for g in by_type]
    for api, group in zip(body["by_space_type"], by_type, strict=True):
        figures_match(api["figures"], group.utilisation)
    # by hand: pooled as seat-hours, so the buildings add up to the campus
    total = body["total"]["figures"]
    buildings = body["by_building"]
    assert [b["key"] for b in buildings] == ["lib", "teach"]
    assert sum(b["figures"]["used_seat_hours"] for b in buildings) == pytest.approx(
        total["used_seat_hours"]
    )
    assert total["utilisation"] == pytest.approx(
        total["used_seat_hours"] / total["available_seat_hours"]
    )
    assert sum(b["capacity"] for b in buildings) == body["total"]["capacity"] == 1140
    assert body["profile"] is None
    assert body["withheld_spaces"] == [] and body["suppression"]["applied"] is False


def protected_week(week: SeededWeek, space_ids: list[str]):
    """The week's hourly occupancy of ``space_ids`` as a researcher may know it: from the
    published 15-minute cells (``privacy_counts.protected_occupancy``, the API's clock)."""
    return protected_occupancy(
        week.store, week.campus, OpenDataSettings(), MONDAY, WEEK_END, NOW, space_ids
    )


def test_below_facilities_small_spaces_are_left_out_of_every_pool(week, researcher):
    body = ok(researcher.get("/api/v1/campus/utilisation", params=WEEK))

    assert body["withheld_spaces"] == WITHHELD
    shown = visible(week)
    protected = protected_week(week, shown)
    [pool] = group_utilisation(week.campus, protected.hourly, "campus")
    figures_match(body["total"]["figures"], pool.utilisation)
    assert body["total"]["capacity"] == 1140 - 2
    assert "office" not in [g["key"] for g in body["by_space_type"]]  # its only space is out
    assert body["suppression"]["applied"] and body["suppression"]["suppressed_counts"] >= 1
    # the pool is the visible spaces and nothing else: each one's own answer adds up to it
    spaces = [ok(researcher.get(f"/api/v1/spaces/{s}/utilisation", params=WEEK)) for s in shown]
    total = body["total"]["figures"]
    assert total["available_seat_hours"] == sum(s["available_seat_hours"] for s in spaces)
    assert total["used_seat_hours"] == pytest.approx(sum(s["used_seat_hours"] for s in spaces))
    assert total["suppressed_cells"] == sum(s["suppressed_cells"] for s in spaces)
    # quiet-1 holds 2 or 3 people: hidden, so the researcher's pool is below the exact one
    [exact] = utilisation_by_group(week.store, week.campus, MONDAY, WEEK_END, "campus", shown)
    assert total["lower_bound"] and total["used_seat_hours"] < exact.utilisation.used_seat_hours
    for route in (
        "/api/v1/spaces/office-1/ieq",
        "/api/v1/spaces/office-1/bookings",
        "/api/v1/spaces/office-1/utilisation",
    ):
        problem = assert_problem(researcher.get(route, params=WEEK), 403, "fewer than k = 5")
        assert problem["required_role"] == "facilities"


def test_building_utilisation_with_its_profile(week, researcher):
    body = ok(
        researcher.get("/api/v1/buildings/teach/utilisation", params={**WEEK, "profile": "true"})
    )

    assert (body["scope"], body["id"], body["by_building"]) == ("building", "teach", [])
    spaces = visible(week, "teach")
    protected = protected_week(week, spaces)
    [group] = group_utilisation(week.campus, protected.hourly, "building")
    figures_match(body["total"]["figures"], group.utilisation)
    profile = profile_of(week.campus, protected.hourly)
    cells = np.array(
        [[np.nan if v is None else v for v in row] for row in body["profile"]["utilisation"]]
    )
    np.testing.assert_array_equal(cells, profile.utilisation)
    assert body["profile"]["room_hours"] == profile.hours.tolist()
    bounds = protected.use.bounds(spaces, core_only=False)
    assert body["profile"]["suppressed_cells"] == bounds.suppressed_cells > 0
    assert body["profile"]["lower_bound"] is True
    # by hand: one Monday, so at most one room-hour per space in a cell; core cells outlined
    assert max(max(row) for row in body["profile"]["room_hours"]) == len(spaces) == 4
    assert body["profile"]["core"][0][8] and not body["profile"]["core"][5][10]
    # by hand: a cell is Σ n_h / Σ capacity of its room-hours, n_h the mean of the hour's
    # published quarters (hidden ones at 0); Tuesday 10:00 local = 09:00Z
    hour = datetime(2026, 3, 3, 9, tzinfo=UTC)
    [row] = np.flatnonzero(protected.hourly.hour_starts == np.datetime64(hour.replace(tzinfo=None)))
    counts = protected.hourly.counts[:, row]
    seats = protected.hourly.capacities[~np.isnan(counts)].sum()  # room-hours with data
    assert cells[1][10] == pytest.approx(np.nansum(counts) / seats)
    # and the profile leaves office-1 (2 seats) out: the facilities' profile has 5 spaces
    exact = ok(
        make_clients(week)
        .as_role(Role.FACILITIES)
        .get("/api/v1/buildings/teach/utilisation", params={**WEEK, "profile": "true"})
    )
    assert max(max(row) for row in exact["profile"]["room_hours"]) == 5


# -- IEQ -------------------------------------------------------------------------------------


def test_ieq_is_space_ieq_over_occupied_hours(week, researcher):
    body = ok(researcher.get("/api/v1/spaces/sem-1/ieq", params=WEEK))

    assert_period(body)
    ieq = space_ieq(week.store, week.campus, "sem-1", MONDAY, WEEK_END)
    assert body["occupied_hours"] == ieq.occupied_hours > 0
    assert body["co2"]["category_hours"] == ieq.co2.category_hours
    assert body["co2"]["hours_above_1000_ppm"] == ieq.co2.hours_above_fhi_limit
    temperature = body["operative_temperature"]["category_hours"]
    assert temperature == ieq.operative_temperature.category_hours
    assert body["relative_humidity"]["category_hours"] == ieq.relative_humidity.category_hours
    assert body["pmv"]["category_hours"] == ieq.pmv.hours.category_hours
    assert same(body["pmv"]["mean_pmv"], ieq.pmv.mean_pmv)
    assert body["points_excluded"] == ieq.points_excluded
    # by hand: the shares are of the occupied hours with a value, and add up to 1
    co2 = body["co2"]
    assert sum(co2["category_hours"].values()) == co2["occupied_hours"] <= body["occupied_hours"]
    assert sum(co2["category_shares"].values()) == pytest.approx(1.0)
    assert co2["category_limits_ppm"] == {"I": 550, "II": 800, "III": 1350}
    assert body["heating_season_occupied_hours"] == body["occupied_hours"]  # March: heating
    # a Norwegian March is below the adaptive model's 10 °C running mean
    adaptive = body["adaptive"]
    assert adaptive["occupied_hours_outside_validity"] == adaptive["occupied_hours_without_value"]
    assert body["assumptions"]["met"] == 1.2


# -- bookings and the timetable upload -------------------------------------------------------


def test_bookings_are_booked_vs_actual_and_facilities_see_exact_counts(week, facilities):
    body = ok(facilities.get("/api/v1/spaces/hall-a/bookings", params=WEEK))

    assert_period(body)
    result = space_booked_vs_actual(
        week.store, week.campus, week.timetables, "hall-a", MONDAY, WEEK_END
    )
    assert body["timetable_imported"] is True
    assert (body["core_hours"], body["booked_hours"]) == (result.core_hours, result.booked_hours)
    assert same(body["no_show_rate"], result.no_show_rate)
    assert same(body["booked_frequency"], result.booked_frequency)
    assert body["booked_frequency"] == pytest.approx(body["booked_hours"] / body["core_hours"])
    assert body["core_hours"] == 40
    assert [b["observed_peak"] for b in body["bookings"]] == [
        None if math.isnan(b.observed_peak) else b.observed_peak for b in result.bookings
    ]
    assert body["suppression"]["applied"] is False
    assert body["points_excluded"] == {"occupancy": result.points_excluded}


OFFICE_CALENDAR = b"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Test//EN
BEGIN:VEVENT
UID:office-hours@test
DTSTAMP:20260201T000000Z
DTSTART:20260302T090000
DTEND:20260302T120000
RRULE:FREQ=DAILY;COUNT=5
SUMMARY:Office hours
ATTENDEE:mailto:someone@example.org
X-CAMPUSLAB-CLASS-SIZE:2
END:VEVENT
END:VCALENDAR
"""


def test_planner_uploads_a_timetable_and_small_counts_stay_hidden(week, tmp_path):
    timetables = TimetableStore(tmp_path / "timetables")
    clients = make_clients(week, timetables)
    planner, researcher = clients.as_role(Role.PLANNER), clients.as_role(Role.RESEARCHER)
    facilities = clients.as_role(Role.FACILITIES)
    before = ok(researcher.get("/api/v1/spaces/group-1/bookings", params=WEEK))
    assert before["timetable_imported"] is False and before["booked_hours"] is None
    assert "POST" in before["note"]

    response = planner.post(
        "/api/v1/spaces/group-1/timetable",
        content=OFFICE_CALENDAR,
        headers={"Content-Type": "text/calendar; charset=utf-8"},
    )

    assert response.status_code == 201, response.text
    assert response.headers["Location"] == "/api/v1/spaces/group-1/bookings"
    imported = response.json()
    assert (imported["events"], imported["occurrences"]) == (1, 5)
    assert any("ATTENDEE" in w for w in imported["warnings"])
    assert b"someone@example.org" not in (tmp_path / "timetables" / "group-1.ics").read_bytes()
    shown = ok(researcher.get("/api/v1/spaces/group-1/bookings", params=WEEK))
    exact = ok(facilities.get("/api/v1/spaces/group-1/bookings", params=WEEK))
    assert shown["booked_hours"] == exact["booked_hours"] == 15
    assert exact["suppression"]["applied"] is False
    assert not any(b["observed_peak_suppressed"] for b in exact["bookings"])
    # 1 to 4 people observed is a small count: hidden from a researcher, 0 and 5+ are shown
    small = [p is not None and 0 < p < 5 for p in (b["observed_peak"] for b in exact["bookings"])]
    assert any(small), "the simulated meeting room has small meetings that week"
    for hidden, mine, theirs in zip(small, shown["bookings"], exact["bookings"], strict=True):
        assert mine["observed_peak_suppressed"] is hidden
        assert mine["observed_peak"] == (None if hidden else theirs["observed_peak"])
    assert shown["suppression"]["applied"] and shown["suppression"]["suppressed_counts"] >= sum(
        small
    )


@pytest.mark.parametrize(
    ("caller", "status"), [(None, 401), (Role.RESEARCHER, 403), (Role.FACILITIES, 201)]
)
def test_timetable_upload_needs_the_planner_role(week, tmp_path, caller, status):
    client = make_clients(week, TimetableStore(tmp_path / "t")).as_role(caller)
    response = client.post(
        "/api/v1/spaces/group-1/timetable",
        content=OFFICE_CALENDAR,
        headers={"Content-Type": "text/calendar"},
    )
    assert response.status_code == status, response.text
    if status != 201:
        assert_problem(response, status, "planner")


def test_bad_uploads_are_problems(week, tmp_path):
    planner = make_clients(week, TimetableStore(tmp_path / "t")).as_role(Role.PLANNER)
    url = "/api/v1/spaces/office-1/timetable"
    calendar = {"Content-Type": "text/calendar"}

    broken = OFFICE_CALENDAR.replace(b"DTEND:20260302T120000", b"DTEND:20260302T080000")
    body = assert_problem(planner.post(url, content=broken, headers=calendar), 422, "DTEND")
    assert body["parameter"] == "body" and body["problems"]
    assert_problem(planner.post(url, content=b"not a calendar", headers=calendar), 422)
    assert_problem(
        planner.post(url, content=b"x" * (MAX_CALENDAR_BYTES + 1), headers=calendar), 422, "MB"
    )
    wrong_type = planner.post(url, content=OFFICE_CALENDAR, headers={"Content-Type": "text/plain"})
    assert_problem(wrong_type, 415, "text/calendar")
    assert_problem(
        planner.post("/api/v1/spaces/nowhere/timetable", content=OFFICE_CALENDAR, headers=calendar),
        404,
    )
    assert not (tmp_path / "t" / "office-1.ics").exists()


def test_upload_without_a_timetable_folder_is_503(week):
    keys = KeyStore.in_memory()
    app = create_app(week.store, week.campus, keys=keys)
    planner = TestClient(
        app, headers={"Authorization": f"Bearer {keys.create(Role.PLANNER, 'p').secret}"}
    )
    response = planner.post(
        "/api/v1/spaces/office-1/timetable",
        content=OFFICE_CALENDAR,
        headers={"Content-Type": "text/calendar"},
    )
    assert_problem(response, 503, "timetables")


# -- energy ----------------------------------------------------------------------------------


def test_energy_is_building_energy(week, researcher):
    body = ok(researcher.get("/api/v1/buildings/teach/energy", params=WEEK))

    assert_period(body)
    energy = building_energy(week.store, week.campus, "teach", MONDAY, WEEK_END)
    assert body["delivered_kwh"] == energy.delivered_kwh > 0
    assert body["eui"]["kwh_per_m2_year"] == energy.eui.kwh_per_m2_year
    assert body["eui"]["annualised"] is True and body["eui"]["benchmark_kwh_per_m2"] == 238
    assert body["emissions"]["location_based_kg"] == energy.emissions.location_based_kg
    assert body["emissions"]["market_based_kg"] == energy.emissions.market_based_kg
    # use intensity below facilities: from the published cells of the spaces with k seats
    teach = week.campus.building("teach")
    counts = protected_occupant_hours(
        week.store, week.campus, OpenDataSettings(), MONDAY, WEEK_END, NOW, teach
    )
    protected = building_energy(
        week.store, week.campus, "teach", MONDAY, WEEK_END, occupancy=counts
    )
    use = body["use_intensity"]
    assert use["kwh_per_occupant_hour"] == protected.use_intensity.kwh_per_occupant_hour
    assert use["occupant_hours"] == counts.occupant_hours
    assert use["used_seat_hours"] == counts.used_seat_hours
    assert use["withheld_spaces"] == WITHHELD
    assert use["lower_bound"] and use["suppressed_cells"] == counts.suppressed_cells > 0
    assert use["occupant_hours_upper_bound"] > use["occupant_hours"]
    # by hand: the used seat-hours are the building's utilisation pool (same cells)
    pool = ok(researcher.get("/api/v1/buildings/teach/utilisation", params=WEEK))
    assert use["used_seat_hours"] == pytest.approx(pool["total"]["figures"]["used_seat_hours"])
    assert use["used_seat_hours_suppressed_cells"] == pool["total"]["figures"]["suppressed_cells"]
    # facilities: exact, every space
    exact = ok(
        make_clients(week)
        .as_role(Role.FACILITIES)
        .get("/api/v1/buildings/teach/energy", params=WEEK)
    )["use_intensity"]
    # (not a bound of it: the facilities' figure leaves out flagged spikes, the cells do not)
    assert exact["occupant_hours"] == energy.use_intensity.occupant_hours != use["occupant_hours"]
    assert exact["kwh_per_occupant_hour"] == energy.use_intensity.kwh_per_occupant_hour
    assert exact["lower_bound"] is False and exact["withheld_spaces"] == []
    assert exact["occupant_hours_upper_bound"] == exact["occupant_hours"]
    assert body["points_excluded"] == {**energy.points_excluded, "occupancy": 0}
    # by hand
    assert body["delivered_kwh"] == pytest.approx(body["electricity_kwh"] + body["heat_kwh"])
    eui = body["eui"]
    assert eui["kwh_per_m2_year"] == pytest.approx(eui["annual_kwh"] / 5000)
    assert eui["annual_kwh"] == pytest.approx(eui["delivered_kwh"] * 365 / eui["days_covered"])
    assert body["emissions"]["market_based_kg"] > body["emissions"]["location_based_kg"]
    assert body["degree_days"]["base_c"] == 17 and body["degree_days"]["days_used"] == 7
    assert body["normalised"] is None
    assert any("degree-day model not fitted" in note for note in body["notes"])
    assert any("annualised" in note for note in body["notes"])


def test_a_week_gives_no_degree_day_fit_and_an_eui_flagged_as_not_yearly(week, researcher):
    """7 days: too few for a degree-day fit (refused, with the reason), and an EUI scaled
    × 365 / 7 is flagged unreliable, not passed off as a yearly figure."""
    body = ok(researcher.get("/api/v1/buildings/teach/energy", params=WEEK))
    assert body["degree_day_model"] is None
    assert body["degree_day_model_refused"] == (
        "only 7 whole days with energy and HDD; a degree-day fit needs at least 10"
    )
    eui = body["eui"]
    assert eui["annualised"] is True and eui["annualised_from_days"] == pytest.approx(7, abs=0.01)
    assert eui["reliable"] is False
    assert eui["caveat"].startswith("annualised from only 7 days (× 365 / 7): not a yearly")
    assert any(note.startswith("EUI annualised from only 7 days") for note in body["notes"])


def test_energy_normalised_when_normal_degree_days_are_given(week, researcher):
    body = ok(
        researcher.get("/api/v1/buildings/teach/energy", params={**WEEK, "hdd_normal": "150"})
    )
    energy = building_energy(week.store, week.campus, "teach", MONDAY, WEEK_END, hdd_normal=150.0)
    if energy.normalised is None:
        assert body["normalised"] is None and list(energy.notes) == body["notes"]
    else:
        assert body["normalised"]["normalised_kwh"] == energy.normalised.normalised_kwh
        assert body["normalised"]["hdd_normal"] == 150


# -- data quality ----------------------------------------------------------------------------


def test_quality_per_sensor_and_day(week, facilities):
    body = ok(facilities.get("/api/v1/quality", params=WEEK))

    assert_period(body)
    report, _ = check_quality(week.store, week.campus, MONDAY, WEEK_END)
    assert body["points"] == report.points and body["flagged_points"] == report.flagged_points
    assert body["flagged_by_check"] == dict(report.flagged_by_check)
    assert body["flagged_points"] > 0 and body["gaps"], "the simulator's faults are found"
    assert body["qci"] == pytest.approx(1 - body["flagged_points"] / body["points"])
    assert body["points_excluded"] == {"all": body["flagged_points"]}
    assert len(body["days"]) == len(report.days)
    week_days = {str(date(2026, 3, 2) + timedelta(d)) for d in range(7)}
    assert {d["date"] for d in body["days"]} == week_days
    one = body["days"][0]
    assert one["qci"] == pytest.approx((one["points"] - one["flagged"]) / one["points"])
    # a building's part is its own sensors only
    lib = ok(facilities.get("/api/v1/quality", params={**WEEK, "building": "lib"}))
    lib_sensors = {"read-1", "group-1", "atrium", "aud-x", "lib-el"}
    assert {d["sensor"] for d in lib["days"]} <= lib_sensors
    assert lib["points"] == sum(d["points"] for d in lib["days"]) < body["points"]


# -- recommendations -------------------------------------------------------------------------


def test_recommendations_are_right_sizing_report_with_small_counts_hidden(
    week, planner, facilities
):
    body = ok(planner.get("/api/v1/recommendations", params=WEEK))

    assert_period(body)
    # a planner's advice: right_sizing over the published 15-minute cells (suppressed at 0)
    reader = ProtectedReader(week.store, week.campus, OpenDataSettings(), NOW)
    hourly, use = reader.hourly(visible(week), MONDAY, WEEK_END)
    booked = booked_vs_actual_of_scope(week.campus, hourly, week.timetables, use)
    report = right_sizing_of(week.campus, hourly, booked)
    advice = [(r["space_id"], r["kind"], r["impact_seat_hours"]) for r in body["recommendations"]]
    assert advice == [(r.space_id, r.kind, r.impact_seat_hours) for r in report.recommendations]
    assert body["spaces_considered"] == 8 and body["withheld_spaces"] == WITHHELD
    assert body["spaces_with_timetable"] == list(TIMETABLED)
    kinds = {(r["space_id"], r["kind"]) for r in body["recommendations"]}
    assert ("aud-x", "split_or_reassign") in kinds
    # quiet-1's peaks are 3 people: every one a suppressed cell, so for a planner none of
    # its hours is a used hour for sizing, and its use figures are bounds
    quiet = [r for r in body["recommendations"] if r["space_id"] == "quiet-1"]
    assert quiet and all(r["suppressed_cells"] > 0 for r in quiet)
    assert ("quiet-1", "split_or_reassign") not in kinds
    for r in quiet:
        for figure in r["evidence"].values():
            assert figure["unit"] != "people" or figure["value"] is None or figure["value"] >= 5
        assert any(figure["bound"] for figure in r["evidence"].values())
    assert body["suppression"]["applied"]
    exact = ok(facilities.get("/api/v1/recommendations", params=WEEK))
    quiet_exact = next(r for r in exact["recommendations"] if r["space_id"] == "quiet-1")
    assert quiet_exact["kind"] == "split_or_reassign"
    assert quiet_exact["evidence"]["p95_peak"]["value"] == 3.0
    assert all(f["bound"] is None for r in exact["recommendations"] for f in r["evidence"].values())
    assert all(r["suppressed_cells"] == 0 for r in exact["recommendations"])
    # facilities: exactly right_sizing_report over the exact counts
    facilities_report = right_sizing_report(
        week.store, week.campus, MONDAY, WEEK_END, week.timetables
    )
    assert [
        (r["space_id"], r["kind"], r["impact_seat_hours"]) for r in exact["recommendations"]
    ] == [(r.space_id, r.kind, r.impact_seat_hours) for r in facilities_report.recommendations]
    aud = next(r for r in body["recommendations"] if r["space_id"] == "aud-x")
    assert aud["evidence"]["p95_peak"]["value"] == 60.0, "a count of 60 is not small"


def test_recommendations_of_one_building(week, planner):
    body = ok(planner.get("/api/v1/recommendations", params={**WEEK, "building": "lib"}))
    assert (body["scope"], body["id"]) == ("building", "lib")
    assert {r["space_id"] for r in body["recommendations"]} <= {
        s.id for s in week.campus.building("lib").spaces
    }
    assert body["spaces_considered"] == 4


# -- parameters, defaults, unknown ids -------------------------------------------------------

ROUTES = [
    "/api/v1/spaces/sem-1/ieq",
    "/api/v1/spaces/sem-1/bookings",
    "/api/v1/buildings/teach/energy",
    "/api/v1/buildings/teach/utilisation",
    "/api/v1/campus/utilisation",
    "/api/v1/quality",
    "/api/v1/recommendations",
]


@pytest.mark.parametrize("route", ROUTES)
def test_default_period_is_the_last_seven_whole_local_days(facilities, route):
    body = ok(facilities.get(route))
    assert body["period"]["requested_start"] == "2026-03-01T23:00:00Z"
    assert body["period"]["requested_end"] == "2026-03-08T23:00:00Z"


@pytest.mark.parametrize(
    ("params", "requested"),
    [
        ({"start": "2026-03-02T00:00:00+01:00"}, ("2026-03-01T23:00:00Z", "2026-03-08T23:00:00Z")),
        ({"end": "2026-03-09T00:00:00+01:00"}, ("2026-03-01T23:00:00Z", "2026-03-08T23:00:00Z")),
        ({"start": "2026-12-01T00:00:00Z"}, ("2026-12-01T00:00:00Z", "2026-12-08T00:00:00Z")),
        # a bare date is the site's local midnight (Oslo), as the CLI reads it
        ({"start": "2026-03-02"}, ("2026-03-01T23:00:00Z", "2026-03-08T23:00:00Z")),
        ({"end": "2026-03-09"}, ("2026-03-01T23:00:00Z", "2026-03-08T23:00:00Z")),
        ({"start": "2026-03-02T00:00"}, ("2026-03-01T23:00:00Z", "2026-03-08T23:00:00Z")),
    ],
)
def test_one_end_of_the_period_gives_seven_days(researcher, params, requested):
    body = ok(researcher.get("/api/v1/campus/utilisation", params=params))
    assert (body["period"]["requested_start"], body["period"]["requested_end"]) == requested


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    ("params", "parameter", "words"),
    [
        ({"start": "garbage"}, "start", ["RFC 3339"]),
        ({"start": "2026-03-09", "end": "2026-03-02"}, "end", ["must be after"]),
        ({"start": "2024-01-01", "end": "2026-01-01"}, "start", ["limited to"]),
        ({"end": "x" * 200}, "end", []),
    ],
)
def test_garbage_parameters_are_422_problems(facilities, route, params, parameter, words):
    assert_problem(facilities.get(route, params=params), 422, *words, parameter=parameter)


@pytest.mark.parametrize(
    ("url", "params", "status", "parameter"),
    [
        ("/api/v1/spaces/nowhere/ieq", {}, 404, "space_id"),
        ("/api/v1/spaces/NOT%20AN%20ID/bookings", {}, 422, "space_id"),
        ("/api/v1/buildings/nowhere/energy", {}, 404, None),
        ("/api/v1/buildings/Bad!/utilisation", {}, 422, "building_id"),
        ("/api/v1/campus/utilisation", {"profile": "perhaps"}, 422, "profile"),
        ("/api/v1/buildings/teach/energy", {"hdd_normal": "-1"}, 422, "hdd_normal"),
        ("/api/v1/recommendations", {"building": "nowhere"}, 422, "building"),
        ("/api/v1/quality", {"start": "2025-01-01", "end": "2026-03-01"}, 422, "start"),
    ],
)
def test_unknown_ids_are_404_and_bad_values_422(facilities, url, params, status, parameter):
    assert_problem(facilities.get(url, params=params), status, parameter=parameter)


def test_a_period_without_data_answers_with_nulls(facilities):
    empty = {"start": "2020-01-06T00:00:00Z", "end": "2020-01-07T00:00:00Z"}
    campus = ok(facilities.get("/api/v1/campus/utilisation", params=empty))
    assert campus["total"]["figures"]["utilisation"] is None and campus["total"]["band"] is None
    energy = ok(facilities.get("/api/v1/buildings/lib/energy", params=empty))
    assert energy["eui"] is None and energy["electricity_kwh"] is None
    ieq = ok(facilities.get("/api/v1/spaces/read-1/ieq", params=empty))
    assert ieq["occupied_hours"] == 0 and ieq["co2"]["category_shares"]["I"] is None


def test_openapi_documents_the_analytics_answers(facilities):
    spec = ok(facilities.get("/openapi.json"))
    schemas = spec["components"]["schemas"]
    for name in (
        "SpaceIeqAnswer",
        "BookedVsActualAnswer",
        "BuildingEnergyAnswer",
        "UtilisationOverviewAnswer",
        "QualityAnswer",
        "RecommendationsAnswer",
    ):
        assert {"period", "units", "points_excluded"} <= schemas[name]["properties"].keys()
    upload = spec["paths"]["/api/v1/spaces/{space_id}/timetable"]["post"]
    assert "text/calendar" in upload["requestBody"]["content"]
    assert upload["x-required-role"] == "planner"
    assert spec["paths"]["/api/v1/quality"]["get"]["x-required-role"] == "facilities"
