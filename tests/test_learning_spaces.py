"""Learning-space use per space, building, space type and campus, on a real DuckDB store.

Worked example (METRICS.md, "Workspace and learning-space use"; SMG 2006;
HESA EMR frequency and occupancy rates), Monday 2 March 2026 in Oslo (UTC+1).
The core hours are 08–16 local, which is 07–15 UTC, so 8 hours. Each hour
has two readings, at :00 and :30:

| space    | seats | core hours with people                        | n_h (mean)  |
|----------|-------|-----------------------------------------------|-------------|
| hall-a   | 200   | 08–12: 120 then 80 (mean 100, peak 120)       | 4 × 100     |
| hall-b   | 120   | 08–10: 120                                    | 2 × 120     |
| sem-1    | 30    | all 8: 30                                     | 8 × 30      |
| read-1   | 60    | all 8: 30                                     | 8 × 30      |
| group-1  | 6     | 0, with no reading at all in 15–16            | 7 × 0       |

hall-a also has 200 people at 18:00, outside core hours. They must not count.
"""

from __future__ import annotations

import doctest
import importlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from campuslab.analytics.kpis import NotInRegistry
from campuslab.analytics.learning_spaces import (
    hefce_band,
    hour_weekday_profile,
    read_hourly_occupancy,
    utilisation_by_group,
    utilisation_profile,
)
from campuslab.core.readings import ReadingBatch, to_epoch_us
from campuslab.core.registry import Campus, load_campus, parse_campus
from campuslab.core.store.duckdb import DuckDBStore
from campuslab.core.store.port import QualityFlag

DATA = Path(__file__).parent / "data"
OSLO = ZoneInfo("Europe/Oslo")
MONDAY = datetime(2026, 3, 2, tzinfo=OSLO)
BUILDING = {
    "hall-a": "teach",
    "hall-b": "teach",
    "sem-1": "teach",
    "read-1": "lib",
    "group-1": "lib",
}


@pytest.fixture(scope="module")
def campus() -> Campus:
    return load_campus(DATA / "learning_spaces_campus.yaml")


class CountingStore:
    """The real store, counting how often the analytics read resampled series."""

    def __init__(self, store: DuckDBStore) -> None:
        self.store = store
        self.resampled_reads = 0

    def read_resampled(self, *args, **kwargs):
        self.resampled_reads += 1
        return self.store.read_resampled(*args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self.store, name)


def write_hours(store: DuckDBStore, readings: dict[str, dict[datetime, tuple[float, ...]]]):
    """readings[space][local hour start] = values at :00, :30 (or evenly spread)."""
    batch = ReadingBatch()
    for space, hours in readings.items():
        for hour, values in hours.items():
            step = timedelta(minutes=60 // len(values))
            for i, value in enumerate(values):
                at = to_epoch_us(hour + i * step)
                batch.append(at, BUILDING[space], space, "occupancy", float(value))
    store.write(batch)


def monday_at(hour: int) -> datetime:
    return MONDAY.replace(hour=hour)


@pytest.fixture
def store(tmp_path: Path):
    store = DuckDBStore(tmp_path / "campuslab.duckdb")
    core = range(8, 16)
    write_hours(
        store,
        {
            "hall-a": {
                **{monday_at(h): (120, 80) if h < 12 else (0, 0) for h in core},
                monday_at(18): (200, 200),
            },
            "hall-b": {monday_at(h): (120, 120) if h < 10 else (0, 0) for h in core},
            "sem-1": {monday_at(h): (30, 30) for h in core},
            "read-1": {monday_at(h): (30, 30) for h in core},
            "group-1": {monday_at(h): (0, 0) for h in core if h != 15},
        },
    )
    yield CountingStore(store)
    store.close()


def by_key(results):
    return {r.key: r for r in results}


def test_per_space_smg_set_with_both_hourly_observations(campus, store):
    spaces = by_key(utilisation_by_group(store, campus, MONDAY, MONDAY + timedelta(days=1)))

    hall = spaces["hall-a"]
    assert (hall.utilisation.frequency_rate, hall.utilisation.occupancy_rate) == (0.5, 0.5)
    assert hall.utilisation.utilisation == 400 / 1600 == 0.25  # the 18:00 crowd is not core
    assert hall.utilisation.peak_occupancy == 0.5  # by the site's rule (mean)
    assert hall.at_hourly_peak.peak_occupancy == 0.6  # 120 of 200 at the hour's peak
    assert hall.at_hourly_peak.utilisation == 480 / 1600
    assert hall.utilisation.p95_occupancy == 0.5
    assert hall.hourly_observation == "mean"
    assert hall.band == "fair"
    assert (hall.period_start, hall.period_end) == (
        datetime(2026, 3, 1, 23, tzinfo=UTC),
        datetime(2026, 3, 2, 23, tzinfo=UTC),
    )
    assert spaces["hall-b"].utilisation.occupancy_rate == 1.0
    assert spaces["hall-b"].utilisation.share_60_to_100 == 0.25
    group = spaces["group-1"].utilisation
    assert (group.available_hours, group.hours_without_data, group.utilisation) == (7, 1, 0.0)
    assert spaces["group-1"].band == "poor"
    assert store.resampled_reads == 2  # one MEAN and one MAX call, for every space at once


def test_building_pools_seat_hours_and_differs_from_the_mean_of_percentages(campus, store):
    """METRICS.md: across several spaces add up seat-hours, never average percentages."""
    period = (MONDAY, MONDAY + timedelta(days=1))
    buildings = by_key(utilisation_by_group(store, campus, *period, group_by="building"))
    spaces = by_key(utilisation_by_group(store, campus, *period, group_by="space"))

    teach = buildings["teach"]
    # used 400 + 240 + 240 = 880 seat-hours of (200 + 120 + 30) x 8 = 2800
    assert teach.utilisation.utilisation == pytest.approx(880 / 2800)  # 0.314
    mean_of_percentages = np.mean([spaces[s].utilisation.utilisation for s in teach.space_ids])
    assert mean_of_percentages == pytest.approx(0.5)  # (0.25 + 0.25 + 1.0) / 3: wrong
    assert teach.utilisation.utilisation != pytest.approx(mean_of_percentages)
    # F seat-weighted: (200x4 + 120x2 + 30x8) / 2800; O = 880 / 1280; U = F x O
    assert teach.utilisation.frequency_rate == pytest.approx(1280 / 2800)
    assert teach.utilisation.occupancy_rate == pytest.approx(880 / 1280)
    assert teach.utilisation.share_under_60 == pytest.approx((1600 + 720) / 2800)
    assert teach.utilisation.share_60_to_100 == pytest.approx(480 / 2800)
    assert teach.at_hourly_peak.utilisation == pytest.approx(960 / 2800)
    assert (teach.capacity, teach.space_ids) == (350, ("hall-a", "hall-b", "sem-1"))
    assert teach.band == "fair"
    lib = buildings["lib"]
    # 240 seat-hours of 60 x 8 + 6 x 7 = 522 (group-1's offline hour is not in H)
    assert lib.utilisation.utilisation == pytest.approx(240 / 522)
    assert (lib.utilisation.available_hours, lib.utilisation.hours_without_data) == (15, 1)


def test_space_type_and_campus_grouping(campus, store):
    period = (MONDAY, MONDAY + timedelta(days=1))
    types = by_key(utilisation_by_group(store, campus, *period, group_by="space_type"))
    (whole,) = utilisation_by_group(store, campus, *period, group_by="campus")

    assert sorted(types) == ["lecture_hall", "meeting_room", "seminar_room", "study_space"]
    # two halls: (400 + 240) / ((200 + 120) x 8)
    assert types["lecture_hall"].utilisation.utilisation == pytest.approx(640 / 2560)
    assert types["lecture_hall"].space_ids == ("hall-a", "hall-b")
    assert types["seminar_room"].utilisation.utilisation == 1.0
    assert types["study_space"].utilisation.utilisation == 0.5
    assert types["meeting_room"].utilisation.utilisation == 0.0
    assert (whole.key, whole.name) == ("testsite", "Test University")
    assert whole.utilisation.utilisation == pytest.approx(1120 / 3322)
    assert whole.utilisation.available_hours == 39  # room-hours: 4 x 8 + 7
    assert whole.capacity == 416


def test_peak_rule_from_site_settings_reads_once(campus, store):
    text = (DATA / "learning_spaces_campus.yaml").read_text()
    peak_site = parse_campus(text.replace("hourly_observation: mean", "hourly_observation: peak"))

    (hall,) = utilisation_by_group(
        store, peak_site, MONDAY, MONDAY + timedelta(days=1), space_ids=["hall-a"]
    )

    assert hall.hourly_observation == "peak"
    assert hall.utilisation == hall.at_hourly_peak
    assert hall.utilisation.utilisation == 480 / 1600
    assert store.resampled_reads == 1


def test_in_use_threshold_and_core_hours_come_from_the_site(campus, store):
    text = (DATA / "learning_spaces_campus.yaml").read_text()
    site = parse_campus(
        text.replace("in_use_threshold: 1", "in_use_threshold: 40").replace(
            'start: "08:00", end: "16:00"', 'start: "10:00", end: "12:00"'
        )
    )

    spaces = by_key(utilisation_by_group(store, site, MONDAY, MONDAY + timedelta(days=1)))

    # core 10–12: hall-a has 100 in both hours (in use at >= 40); sem-1 has 30 (not in use)
    assert spaces["hall-a"].utilisation.available_hours == 2
    assert spaces["hall-a"].utilisation.frequency_rate == 1.0
    assert spaces["sem-1"].utilisation.frequency_rate == 0.0
    assert spaces["sem-1"].utilisation.utilisation == 1.0  # seat-hours still count in U


def test_bad_requests(campus, store):
    with pytest.raises(ValueError, match="group_by must be one of"):
        utilisation_by_group(store, campus, MONDAY, MONDAY + timedelta(days=1), "floor")
    with pytest.raises(NotInRegistry, match="unknown space 'hall-z'"):
        utilisation_by_group(
            store, campus, MONDAY, MONDAY + timedelta(days=1), space_ids=["hall-z"]
        )
    with pytest.raises(ValueError, match="timezone-aware"):
        utilisation_by_group(store, campus, datetime(2026, 3, 2), datetime(2026, 3, 3))
    with pytest.raises(ValueError, match="must be after start"):
        utilisation_by_group(store, campus, MONDAY, MONDAY)


def test_hefce_bands():
    assert [hefce_band(u) for u in (0.0, 0.2499, 0.25, 0.3499, 0.35, 1.2)] == [
        "poor",
        "poor",
        "fair",
        "fair",
        "good",
        "good",
    ]
    assert hefce_band(float("nan")) is None


# -- the hour x weekday profile ------------------------------------------------------------


def test_profile_on_the_dst_week(campus, tmp_path: Path):
    """Friday 27 to Monday 30 March 2026: Oslo moves from UTC+1 to UTC+2 on Sunday at 02:00.

    hall-b (120 seats) has 60 people in the 07:00 UTC hour every day and nobody
    otherwise: that is 08:00 local on Friday and Saturday, and 09:00 local from Sunday.
    """
    store = DuckDBStore(tmp_path / "dst.duckdb")
    start, end = datetime(2026, 3, 27, tzinfo=OSLO), datetime(2026, 3, 31, tzinfo=OSLO)
    hour, readings = start.astimezone(UTC), {}
    while hour < end:
        readings[hour] = (60, 60) if hour.hour == 7 else (0, 0)
        hour += timedelta(hours=1)
    write_hours(store, {"hall-b": readings})

    profile = hour_weekday_profile(store, campus, start, end, space_ids=["hall-b"])

    friday, saturday, sunday, monday = 4, 5, 6, 0
    assert profile.hours.sum() == 95  # 24 + 24 + 23 (the short Sunday) + 24
    assert (profile.hours[sunday, 2], profile.hours[sunday, 3]) == (0, 1)  # 02:00 never was
    assert profile.utilisation[friday, 8] == profile.utilisation[saturday, 8] == 0.5
    assert profile.utilisation[sunday, 9] == profile.utilisation[monday, 9] == 0.5
    assert profile.utilisation[sunday, 8] == profile.utilisation[monday, 8] == 0.0
    assert profile.share_in_use[monday, 9] == 1.0 and profile.in_use_hours.sum() == 4
    assert np.isnan(profile.utilisation[1:4]).all()  # Tuesday to Thursday: no hours
    assert profile.core[monday, 8] and profile.core[friday, 15] and not profile.core[saturday, 8]
    assert profile.timezone == "Europe/Oslo" and profile.space_ids == ("hall-b",)
    assert profile.period_start == datetime(2026, 3, 26, 23, tzinfo=UTC)
    assert profile.period_end == datetime(2026, 3, 30, 22, tzinfo=UTC)
    store.close()


def test_profile_pools_seat_hours_and_counts_the_repeated_hour_when_dst_ends():
    # Sunday 25 October 2026: 00:00 UTC is 02:00 CEST, 01:00 UTC is 02:00 CET again
    hours = np.array(["2026-10-25T00:00", "2026-10-25T01:00"], dtype="datetime64[us]")

    profile = utilisation_profile(hours, [[10, 0], [4, 4]], [20, 5], OSLO)

    sunday = 6
    assert profile.hours[sunday, 2] == 4  # two rooms x the 02:00 hour twice
    assert profile.utilisation[sunday, 2] == pytest.approx(18 / 50)  # not mean(0.25, 0.8)
    assert profile.share_in_use[sunday, 2] == pytest.approx((20 + 5 + 5) / 50)
    assert profile.in_use_hours[sunday, 2] == 3


def test_profile_validates_its_inputs():
    hours = np.array(["2026-03-02T08:00"], dtype="datetime64[us]")
    with pytest.raises(ValueError, match="counts must be"):
        utilisation_profile(hours, [[1, 2]], [10], OSLO)
    with pytest.raises(ValueError, match=">= 0"):
        utilisation_profile(hours, [[-1]], [10], OSLO)
    with pytest.raises(ValueError, match="seats > 0"):
        utilisation_profile(hours, [[1]], [0], OSLO)


def test_read_hourly_occupancy_grid(campus, store):
    hourly = read_hourly_occupancy(store, campus, MONDAY, MONDAY + timedelta(days=1), ["hall-a"])

    assert hourly.counts.shape == hourly.peaks.shape == (1, 24)
    assert hourly.core.sum() == 8
    assert hourly.counts[0, hourly.core].tolist() == [100.0] * 4 + [0.0] * 4
    assert hourly.peaks[0, hourly.core].tolist() == [120.0] * 4 + [0.0] * 4
    assert np.isnan(hourly.counts[0, 0])  # 00:00 local: no reading, not an empty room


@pytest.mark.parametrize(
    "module",
    [
        "campuslab.analytics.learning_spaces",
        "campuslab.analytics.bookings",
        "campuslab.analytics.recommendations",
        "campuslab.simulators.timetable_export",
    ],
)
def test_docstring_examples_run_and_give_the_numbers_shown(module):
    """House style: every metric's docstring has a runnable example with real numbers."""
    found = doctest.testmod(importlib.import_module(module))
    assert found.attempted > 0
    assert found.failed == 0


def test_flagged_readings_are_left_out_and_counted(campus, store):
    """METRICS.md data quality: flagged points are left out of KPIs, and each KPI says how many."""
    spike = QualityFlag("hall-a", "occupancy", monday_at(8).astimezone(UTC), "spike")
    store.write_quality_flags(MONDAY, MONDAY + timedelta(days=1), [spike])

    spaces = by_key(utilisation_by_group(store, campus, MONDAY, MONDAY + timedelta(days=1)))
    (teach,) = utilisation_by_group(
        store, campus, MONDAY, MONDAY + timedelta(days=1), group_by="building", space_ids=["hall-a"]
    )

    hall = spaces["hall-a"]
    # 08:00 keeps only its :30 reading (80): 80 + 3 x 100 seat-hours of 1600
    assert hall.utilisation.utilisation == 380 / 1600
    assert hall.at_hourly_peak.utilisation == (80 + 3 * 120) / 1600
    assert hall.utilisation.points_excluded == hall.at_hourly_peak.points_excluded == 1
    assert spaces["hall-b"].utilisation.points_excluded == 0
    assert teach.utilisation.points_excluded == 1
    profile = hour_weekday_profile(store, campus, MONDAY, MONDAY + timedelta(days=1))
    assert profile.points_excluded == 1
