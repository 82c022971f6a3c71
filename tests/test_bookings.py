"""Booked vs actual (METRICS.md "Booked vs actual"; SMG 2006 core hours), worked by hand.

Worked example: seminar room sem-1 (30 seats), Monday 2 and Tuesday 3 March
2026 in Oslo (UTC+1). Core hours are 08–16 local, so 16 hours. The bookings
are in tests/data/bookings_sem_1.ics, with floating times taken in Oslo:

- TMA4100, Mondays 08:15–12:00, 28 booked. It covers 08, 09, 10 and 11
  (4 h). Its second week is outside the period.
- EXPH0300, Tuesday 10:15–16:00, 40 booked (more than the 30 seats). It
  covers 10–15 (6 h).
- A short meeting on Monday, 14:40–15:10. It overlaps 14–15 and 15–16 by
  only 20 and 10 minutes, so it covers no hour.

So 10 booked core hours out of 16, and the booked frequency is 0.625.
Readings, two per hour (at :00 and :30), as (peak, mean):

| hour      | Monday                 | Tuesday                                |
|-----------|------------------------|----------------------------------------|
| 08        | 25/20 booked           | 0/0 unbooked                           |
| 09        | 24/24 booked           | 0/0 unbooked                           |
| 10        | 0/0 booked: no-show    | 35/30 booked                           |
| 11        | 0/0 booked: no-show    | 36/36 booked                           |
| 12        | 5/5 unbooked, used     | 0/0 booked: no-show                    |
| 13        | 0/0 unbooked           | 30/28 booked                           |
| 14        | 2/2 unbooked, used     | 1/0 booked: someone came (peak 1)      |
| 15        | 1/0 unbooked, not used | 20/20 booked                           |

That gives 3 no-shows in 10 booked hours (0.3), and 2 of the 6 unbooked
hours used. Tuesday 14:00 is why a no-show looks at the peak: the mean of
0.5 is under the in-use threshold of 1, yet a person did come.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from campuslab.analytics.bookings import (
    booked_vs_actual,
    booked_vs_actual_by_space,
    covered_hours,
    space_booked_vs_actual,
)
from campuslab.analytics.learning_spaces import read_hourly_occupancy, utilisation_by_group
from campuslab.analytics.recommendations import right_sizing_report
from campuslab.core.readings import ReadingBatch, to_epoch_us
from campuslab.core.registry import Campus, load_campus
from campuslab.core.store.duckdb import DuckDBStore
from campuslab.core.store.port import QualityFlag
from campuslab.core.timetables import Booking, NoTimetable, TimetableStore
from campuslab.simulators.campus import CampusSimulator, SimulationConfig
from campuslab.simulators.timetable_export import timetable_ics

DATA = Path(__file__).parent / "data"
OSLO = ZoneInfo("Europe/Oslo")
MONDAY = datetime(2026, 3, 2, tzinfo=OSLO)

READINGS = {  # (day offset, local hour): (reading at :00, reading at :30)
    (0, 8): (25, 15),
    (0, 9): (24, 24),
    (0, 10): (0, 0),
    (0, 11): (0, 0),
    (0, 12): (5, 5),
    (0, 13): (0, 0),
    (0, 14): (2, 2),
    (0, 15): (0, 1),
    (1, 8): (0, 0),
    (1, 9): (0, 0),
    (1, 10): (35, 25),
    (1, 11): (36, 36),
    (1, 12): (0, 0),
    (1, 13): (30, 26),
    (1, 14): (1, 0),
    (1, 15): (20, 20),
}


@pytest.fixture(scope="module")
def campus() -> Campus:
    return load_campus(DATA / "learning_spaces_campus.yaml")


@pytest.fixture
def worked_example(tmp_path: Path, campus: Campus):
    store = DuckDBStore(tmp_path / "campuslab.duckdb")
    batch = ReadingBatch()
    for (day, hour), values in READINGS.items():
        start = MONDAY + timedelta(days=day, hours=hour)
        for i, value in enumerate(values):
            at = to_epoch_us(start + timedelta(minutes=30 * i))
            batch.append(at, "teach", "sem-1", "occupancy", float(value))
    store.write(batch)
    timetables = TimetableStore(tmp_path / "timetables")
    timetables.import_calendar(campus, "sem-1", (DATA / "bookings_sem_1.ics").read_bytes())
    yield store, timetables
    store.close()


def test_worked_example_booked_vs_actual(campus, worked_example):
    store, timetables = worked_example

    result = space_booked_vs_actual(
        store, campus, timetables, "sem-1", MONDAY, MONDAY + timedelta(days=2)
    )

    assert (result.core_hours, result.booked_hours) == (16, 10)
    assert result.booked_frequency == 10 / 16
    assert (result.booked_hours_with_data, result.no_show_hours) == (10, 3)
    assert result.no_show_rate == 0.3
    assert (result.unbooked_hours_with_data, result.unbooked_used_hours) == (6, 2)
    assert result.hours_without_data == 0
    assert (result.period_start, result.period_end) == (
        datetime(2026, 3, 1, 23, tzinfo=UTC),
        datetime(2026, 3, 3, 23, tzinfo=UTC),
    )
    # per booking: booked size, capacity, observed peak (the short meeting covers no hour)
    assert [
        (b.summary, b.class_size, b.capacity, b.observed_peak, b.hours) for b in result.bookings
    ] == [
        ("TMA4100 exercise class", 28, 30, 25.0, 4),
        ("EXPH0300 seminar", 40, 30, 36.0, 6),
    ]
    assert result.mean_class_size == 34.0
    assert result.class_size_to_capacity == pytest.approx(34 / 30)
    assert result.mean_observed_peak == 30.5
    assert result.headcount_to_class_size == pytest.approx(61 / 68)
    assert (result.bookings_with_class_size, result.bookings_with_data) == (2, 2)


def test_a_flagged_reading_is_left_out_and_counted(campus, worked_example):
    """Tuesday 14:00's one person was flagged (say, a spike): the hour becomes a no-show."""
    store, timetables = worked_example
    flagged = datetime(2026, 3, 3, 14, tzinfo=OSLO).astimezone(UTC)
    store.write_quality_flags(
        MONDAY, MONDAY + timedelta(days=2), [QualityFlag("sem-1", "occupancy", flagged, "spike")]
    )

    result = space_booked_vs_actual(
        store, campus, timetables, "sem-1", MONDAY, MONDAY + timedelta(days=2)
    )

    assert (result.no_show_hours, result.no_show_rate) == (4, 0.4)
    assert result.points_excluded == 1


def test_by_space_reads_only_spaces_with_a_timetable(campus, worked_example):
    store, timetables = worked_example

    found = booked_vs_actual_by_space(store, campus, timetables, MONDAY, MONDAY + timedelta(2))

    assert list(found) == ["sem-1"]
    with pytest.raises(NoTimetable):
        booked_vs_actual_by_space(
            store, campus, timetables, MONDAY, MONDAY + timedelta(2), space_ids=["hall-a"]
        )


def test_no_readings_at_all(campus, tmp_path: Path):
    store = DuckDBStore(tmp_path / "empty.duckdb")
    timetables = TimetableStore(tmp_path / "timetables")
    timetables.import_calendar(campus, "sem-1", (DATA / "bookings_sem_1.ics").read_bytes())

    result = space_booked_vs_actual(
        store, campus, timetables, "sem-1", MONDAY, MONDAY + timedelta(days=2)
    )

    assert result.booked_frequency == 10 / 16  # a timetable needs no sensor
    assert result.booked_hours_with_data == 0 and math.isnan(result.no_show_rate)
    assert result.hours_without_data == 16
    assert math.isnan(result.bookings[0].observed_peak)
    assert math.isnan(result.headcount_to_class_size)
    store.close()


# -- the pure functions ----------------------------------------------------------------


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_booking_covers_an_hour_it_overlaps_by_at_least_half():
    hours = np.array(["2026-03-02T10:00", "2026-03-02T11:00"], dtype="datetime64[us]")
    starts = np.array(
        ["2026-03-02T10:30", "2026-03-02T10:31", "2026-03-02T10:15", "2026-03-02T11:00"],
        dtype="datetime64[us]",
    )
    ends = np.array(
        ["2026-03-02T11:30", "2026-03-02T11:29", "2026-03-02T10:45", "2026-03-02T11:00"],
        dtype="datetime64[us]",
    )

    assert covered_hours(hours, starts, ends).tolist() == [
        [True, True],  # 30 + 30 minutes
        [False, False],  # 29 + 29 minutes
        [True, False],  # exactly 30 minutes
        [False, False],  # no time at all
    ]


def test_issue_worked_example_pure():
    """10 booked core hours, 3 with peak 0 gives no-show 0.3; 2 unbooked hours used."""
    hours = np.arange(
        np.datetime64("2026-03-02T07:00", "us"),
        np.datetime64("2026-03-02T19:00", "us"),
        np.timedelta64(1, "h"),
    )
    core = np.ones(12, dtype=bool)
    bookings = [Booking(utc(2026, 3, 2, 7), utc(2026, 3, 2, 17), "TMA4100", None)]
    peaks = np.array([12] * 7 + [0] * 3 + [4, 3], dtype=float)
    means = np.array([10] * 7 + [0] * 3 + [1.5, 1.0], dtype=float)

    result = booked_vs_actual(hours, core, means, peaks, bookings, capacity=30)

    assert (result.booked_hours, result.no_show_hours, result.no_show_rate) == (10, 3, 0.3)
    assert (result.unbooked_hours_with_data, result.unbooked_used_hours) == (2, 2)
    assert result.booked_frequency == 10 / 12
    assert math.isnan(result.mean_class_size) and result.bookings_with_class_size == 0


def test_non_core_booked_hours_do_not_count_but_their_peak_does():
    hours = np.arange(
        np.datetime64("2026-03-02T14:00", "us"),
        np.datetime64("2026-03-02T18:00", "us"),
        np.timedelta64(1, "h"),
    )
    core = np.array([True, True, False, False])
    booking = Booking(utc(2026, 3, 2, 15), utc(2026, 3, 2, 17), "late", 10)
    peaks = np.array([0, 0, 9, 0], dtype=float)

    result = booked_vs_actual(hours, core, peaks, peaks, [booking], capacity=20)

    assert (result.core_hours, result.booked_hours, result.no_show_hours) == (2, 1, 1)
    assert result.bookings[0].observed_peak == 9.0 and result.bookings[0].hours == 2


def test_pure_function_validates_inputs():
    hours = np.array(["2026-03-02T08:00"], dtype="datetime64[us]")
    good = np.array([1.0])
    with pytest.raises(ValueError, match="one value per hour"):
        booked_vs_actual(hours, [True, False], good, good, [], 10)
    with pytest.raises(ValueError, match="seats > 0"):
        booked_vs_actual(hours, [True], good, good, [], 0)
    with pytest.raises(ValueError, match="peak_counts must be finite"):
        booked_vs_actual(hours, [True], good, np.array([-1.0]), [], 10)
    naive = Booking(datetime(2026, 3, 2, 8), datetime(2026, 3, 2, 9), "x", None)
    with pytest.raises(ValueError, match="timezone-aware"):
        booked_vs_actual(hours, [True], good, good, [naive], 10)


# -- end to end: the simulator's timetable against its own sensors -----------------------


@pytest.mark.slow
def test_simulated_fortnight_against_its_imported_timetable(campus, tmp_path: Path):
    """Two simulated weeks in a real DuckDB store, hall-a's timetable imported as iCalendar.

    The simulator skips some booked classes (TeachingRooms.no_show). Those hours
    must show up as no-shows: always hours the simulator really left empty. There
    may be fewer of them than the skipped hours, because the previous class leaving
    during the first minutes of an hour makes its peak > 0. The booked frequency must
    equal the timetable's share of the core hours exactly.
    """
    start, end = MONDAY, MONDAY + timedelta(weeks=2)
    sim = CampusSimulator(campus, SimulationConfig(seed=0, interval=timedelta(minutes=1)))
    store = DuckDBStore(tmp_path / "campuslab.duckdb")
    for batch in sim.batches(start, end, per=timedelta(hours=12)):
        store.write(batch)
    timetables = TimetableStore(tmp_path / "timetables")
    timetables.import_calendar(
        campus, "hall-a", timetable_ics(sim, "hall-a", start.date(), weeks=2)
    )

    result = space_booked_vs_actual(store, campus, timetables, "hall-a", start, end)

    core_slots = [s for s in sim.timetable if s.space_id == "hall-a" and 8 <= s.hour < 16]
    assert result.core_hours == 2 * 5 * 8
    assert result.booked_frequency == len(core_slots) / 40  # the same every week
    assert result.booked_hours == 2 * len(core_slots)
    # the hours the simulator planned empty although booked (the classes it skipped)
    teaching = sim.occupancy.teaching
    room = [sim.layout.space_ids[i] for i in teaching.rooms].index("hall-a")
    skipped = set()
    for offset in range(14):
        day = date(2026, 3, 2) + timedelta(days=offset)
        planned = teaching.day(day).attendance[room]
        for slot in core_slots:
            if slot.weekday == day.weekday() and planned[slot.hour] == 0:
                skipped.add((day, slot.hour))
    assert skipped, "seed 0 skips classes in hall-a in this fortnight"
    assert 0 < result.no_show_hours <= len(skipped)
    hourly = read_hourly_occupancy(store, campus, start, end, ["hall-a"])
    bookings = timetables.bookings("hall-a", start, end)
    booked = covered_hours(
        hourly.hour_starts,
        np.array([b.start.astimezone(UTC).replace(tzinfo=None) for b in bookings], "M8[us]"),
        np.array([b.end.astimezone(UTC).replace(tzinfo=None) for b in bookings], "M8[us]"),
    ).any(axis=0)
    empty = hourly.core & booked & (hourly.peaks[0] == 0)
    found = {
        (local.date(), local.hour)
        for local in (
            h.item().replace(tzinfo=UTC).astimezone(OSLO) for h in hourly.hour_starts[empty]
        )
    }
    assert len(found) == result.no_show_hours and found <= skipped
    assert result.no_show_rate > 0
    assert result.hours_without_data == 0
    # booked class sizes come from X-CAMPUSLAB-CLASS-SIZE and match the timetable
    sizes = {(s.weekday, s.hour): s.class_size for s in sim.timetable if s.space_id == "hall-a"}
    for booking in result.bookings:
        local = booking.start.astimezone(OSLO)
        assert booking.class_size == sizes[(local.weekday(), local.hour)]
        assert booking.capacity == 200
    assert 0.3 < result.headcount_to_class_size < 1.0  # lecture turnout around 68 %

    # the other compositions run on the same store and agree on what they share
    (hall,) = utilisation_by_group(store, campus, start, end, space_ids=["hall-a"])
    assert hall.utilisation.available_hours == result.core_hours
    report = right_sizing_report(store, campus, start, end, timetables)
    assert report.spaces == ("hall-a", "hall-b", "sem-1", "read-1", "group-1")
    assert all(r.evidence for r in report.recommendations)
    store.close()


def test_from_published_cells_a_suppressed_cell_is_no_no_show_and_bounds_unbooked_use():
    """Below facilities: lower counts (suppressed cells at 0) with their upper bounds (at k)."""
    hours = np.arange(
        np.datetime64("2026-03-02T07:00", "us"),
        np.datetime64("2026-03-02T11:00", "us"),
        np.timedelta64(1, "h"),
    )
    core = np.ones(4, dtype=bool)
    booking = Booking(
        datetime(2026, 3, 2, 7, tzinfo=UTC), datetime(2026, 3, 2, 9, tzinfo=UTC), "X", 10
    )
    # booked 07–09: [suppressed only, 0]; unbooked 09–11: [suppressed only, 12]
    lower = np.array([0.0, 0.0, 0.0, 12.0])
    upper = np.array([5.0, 0.0, 1.25, 12.0])
    r = booked_vs_actual(
        hours, core, lower, lower, [booking], 40, count_upper=upper, peak_upper=upper
    )
    assert (r.booked_hours_with_data, r.no_show_hours) == (2, 1)  # 07–08 held someone
    assert (r.unbooked_used_hours, r.unbooked_used_hours_upper) == (1, 2)
    [use] = r.bookings
    assert use.observed_peak == 0.0 and use.observed_peak_lower_bound
    assert r.observed_peaks_lower_bound
    exact = booked_vs_actual(hours, core, lower, lower, [booking], 40)
    assert exact.no_show_hours == 2 and exact.unbooked_used_hours_upper == 1
    assert not exact.observed_peaks_lower_bound
