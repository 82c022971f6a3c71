"""Data-quality checks on tiny hand-made series, with the exact points each one flags.

Definitions: METRICS.md, "Data quality (flag, never silently drop)"; Sandia's Pecos
("Quality control tests": check_timestamp, check_missing, check_range,
check_increment, check_delta; "Metrics": QCI = passing points / all points).
"""

from __future__ import annotations

import doctest
import math
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from campuslab.analytics import quality
from campuslab.analytics.quality import (
    QualitySettings,
    gaps,
    missing_flags,
    negative_flags,
    occupied_at,
    over_capacity_flags,
    overnight_counter_flags,
    qci,
    quality_report,
    range_flags,
    register_decrease_flags,
    spike_flags,
    stuck_flags,
    timestamp_flags,
)

OSLO = ZoneInfo("Europe/Oslo")


def minutes(first: str, count: int, step: int = 1) -> np.ndarray:
    """``count`` UTC timestamps from ``first``, ``step`` minutes apart."""
    start = np.datetime64(first, "us")
    return start + np.arange(count) * np.timedelta64(step, "m").astype("timedelta64[us]")


def flagged(flags: np.ndarray) -> list[int]:
    return np.flatnonzero(flags).tolist()


def at(*times: str) -> np.ndarray:
    """Instants on 2 March 2026 (UTC) from "HH:MM" or "HH:MM:SS"."""
    return np.array([f"2026-03-02T{t}" for t in times], dtype="datetime64[us]")


# -- timestamps and gaps (Pecos check_timestamp) ---------------------------------------------


def test_duplicates_and_out_of_order_in_arrival_order():
    """10:00, 10:01, 10:01 (again), 09:59 (late), 10:02, 10:00 (again, late): the repeats
    are duplicates (the first is kept), 09:59 goes back in time."""
    ts = at("10:00", "10:01", "10:01", "09:59", "10:02", "10:00")
    found = timestamp_flags(ts)
    assert flagged(found.duplicate) == [2, 5]
    assert flagged(found.out_of_order) == [3]
    kept = ts[found.ordered]
    assert (np.diff(kept) > np.timedelta64(0)).all()


def test_a_series_read_from_the_store_never_has_timestamp_flags():
    """The store deduplicates and sorts; the check still runs and finds nothing."""
    found = timestamp_flags(minutes("2026-03-02T10:00", 5))
    assert not found.duplicate.any() and not found.out_of_order.any()
    assert timestamp_flags(np.array([], dtype="datetime64[us]")).ordered.size == 0


def test_gaps_are_missing_expected_readings_not_flags():
    """Every minute 10:00–10:09 without 10:03, 10:04 and 10:07: the median step is
    1 min; 10:02→10:05 is a gap of 2 missing readings, 10:06→10:08 one of 1."""
    ts = np.delete(minutes("2026-03-02T10:00", 10), [3, 4, 7])
    found = gaps(ts)
    assert found.expected_interval == np.timedelta64(60_000_000, "us")
    assert found.missing.tolist() == [2, 1]
    assert [str(t)[11:16] for t in found.after] == ["10:02", "10:06"]
    assert [str(t)[11:16] for t in found.before] == ["10:05", "10:08"]
    assert [str(t)[11:16] for t in found.missing_instants()] == ["10:03", "10:04", "10:07"]


def test_gaps_at_the_window_edges():
    """5-minute readings 10:20–10:40 in a 10:00–11:00 window: 10:00, 10:05, 10:10, 10:15
    are missing before, 10:45, 10:50, 10:55 after."""
    ts = minutes("2026-03-02T10:20", 5, step=5)
    start = datetime(2026, 3, 2, 10, tzinfo=UTC)
    found = gaps(ts, start=start, end=start + timedelta(hours=1))
    assert found.missing.tolist() == [4, 3]
    assert [str(t)[11:16] for t in found.missing_instants()] == [
        "10:00",
        "10:05",
        "10:10",
        "10:15",
        "10:45",
        "10:50",
        "10:55",
    ]


def test_a_step_under_twice_the_interval_is_not_a_gap():
    assert gaps(at("10:00", "10:01", "10:02", "10:03:20")).count == 0
    assert gaps(at("10:00", "10:01", "10:02", "10:03:50")).missing.tolist() == [1]
    assert gaps(minutes("2026-03-02T10:00", 1)).expected_interval is None


# -- missing, range (Pecos check_missing, check_range) ---------------------------------------


def test_missing_values():
    assert flagged(missing_flags([420.0, math.nan, 430.0, math.inf, -math.inf])) == [1, 3, 4]


@pytest.mark.parametrize(
    ("quantity", "values", "expected"),
    [
        ("co2", [349, 350, 812, 5000, 5001], [0, 4]),  # METRICS.md: CO₂ 350–5000 ppm
        ("temperature", [4.9, 5.0, 21.5, 40.0, 40.1], [0, 4]),  # indoor 5–40 °C
        ("humidity", [-0.1, 0.0, 45.0, 100.0, 100.1], [0, 4]),  # RH 0–100 %
        ("occupancy", [-1, 0, 10_000], []),  # not range-checked: see negative / over_capacity
    ],
)
def test_range_bounds_are_inclusive(quantity, values, expected):
    assert flagged(range_flags(values, quantity)) == expected


def test_range_is_configurable_and_ignores_nan():
    assert flagged(range_flags([300, math.nan, 900], "co2", {"co2": (None, 800)})) == [2]
    with pytest.raises(ValueError, match="unknown quantity 'radon'"):
        range_flags([1.0], "radon")


# -- spikes (Pecos check_increment) -----------------------------------------------------------


def test_a_one_sample_spike_costs_one_point():
    """CO₂ every minute: 4800 ppm at index 3, back to 620 at 4. Only index 3 is flagged:
    the step back returns within 1000 ppm of index 2, so index 4 is the return."""
    ts = minutes("2026-03-02T10:00", 7)
    assert flagged(spike_flags(ts, [600, 605, 610, 4800, 620, 625, 630], "co2")) == [3]


def test_a_three_sample_excursion_is_flagged_whole():
    """Temperature 21 °C, then 36 °C for three minutes, then back: indexes 2, 3, 4."""
    ts = minutes("2026-03-02T10:00", 7)
    values = [21.0, 21.1, 36.0, 36.2, 36.1, 21.2, 21.1]
    assert flagged(spike_flags(ts, values, "temperature")) == [2, 3, 4]


def test_a_step_that_stays_flags_one_sample():
    """A level change that never returns (e.g. a sensor coming unstuck) flags one sample."""
    ts = minutes("2026-03-02T10:00", 5)
    assert flagged(spike_flags(ts, [20.0, 20.0, 27.0, 27.1, 27.0], "temperature")) == [2]


def test_spike_bounds_scale_with_the_time_between_samples():
    """Temperature: 5 °C within 5 minutes (brief: 5 °C / 5 min). At 5-minute samples 5.0 °C
    passes and 5.1 °C does not; 15 minutes apart (a gap) 15 °C passes."""
    ts5 = minutes("2026-03-02T10:00", 3, step=5)
    assert flagged(spike_flags(ts5, [20.0, 25.0, 25.0], "temperature")) == []
    assert flagged(spike_flags(ts5, [20.0, 25.1, 25.1], "temperature")) == [1]
    ts = at("10:00", "10:05", "10:20")
    assert flagged(spike_flags(ts, [20.0, 20.0, 35.0], "temperature")) == []
    assert flagged(spike_flags(ts, [20.0, 20.0, 35.5], "temperature")) == [2]


def test_spike_thresholds_are_configurable_and_headcounts_are_not_checked():
    ts = minutes("2026-03-02T10:00", 3)
    assert flagged(spike_flags(ts, [0, 120, 0], "occupancy")) == []
    steps = {"co2": (100.0, timedelta(minutes=1))}
    assert flagged(spike_flags(ts, [600, 750, 760], "co2", steps)) == [1]


def test_spike_refuses_unsorted_or_nan_input():
    ts = minutes("2026-03-02T10:00", 3)
    with pytest.raises(ValueError, match="strictly increasing"):
        spike_flags(ts[::-1], [1.0, 2.0, 3.0], "co2")
    with pytest.raises(ValueError, match="finite; index 1 is nan"):
        spike_flags(ts, [600.0, math.nan, 610.0], "co2")
    with pytest.raises(ValueError, match="ts has 3 timestamps but values has 2"):
        spike_flags(ts, [600.0, 610.0], "co2")


# -- stuck (METRICS.md; Pecos check_delta, lower bound) ------------------------------------


def test_stuck_only_while_the_space_is_occupied():
    """CO₂ every 5 minutes, 09:00–12:55 (48 readings), frozen at 812 ppm from 10:00 to
    11:55 (indexes 12–35). A window is the readings in [t − 60 min, t], 13 here, and it
    counts as "while occupied" when at least half of them were taken with people there.

    - Nobody there at all: an empty room may sit still; nothing is flagged.
    - Occupied throughout: the flat windows end at 11:00 … 11:55, so 10:00–11:55 is
      flagged, exactly the frozen readings.
    - Occupied 10:00–10:55 only (12 readings): the flat windows ending 11:00 … 11:25 hold
      12 down to 7 occupied readings of 13; the one ending 11:30 holds 6 and is not
      judged. So 10:00–11:25 (indexes 12–29) is flagged; the rest of the frozen stretch,
      in an empty room, is not."""
    ts = minutes("2026-03-02T09:00", 48, step=5)
    co2 = 600 + np.arange(48) * 7.0  # rising: never stuck by itself
    co2[12:36] = 812.0
    assert flagged(stuck_flags(ts, co2, np.zeros(48, dtype=bool), "co2")) == []
    assert flagged(stuck_flags(ts, co2, np.ones(48, dtype=bool), "co2")) == list(range(12, 36))
    occupied = np.zeros(48, dtype=bool)
    occupied[12:24] = True
    assert flagged(stuck_flags(ts, co2, occupied, "co2")) == list(range(12, 30))


def test_stuck_needs_half_the_window_occupied_and_ten_readings():
    """An hour frozen at 21.4 °C (13 five-minute readings, 10:00–11:00). People there for
    the last 30 minutes (6 readings): no window is half occupied (3 of 10 … 6 of 13). For
    the last 35 minutes (7): the windows ending 10:55 (6 of 12) and 11:00 (7 of 13) are,
    and together they cover the hour. With only 9 readings in the hour (a 20-minute
    dropout) no window has the 10 readings it needs to be judged."""
    ts = minutes("2026-03-02T10:00", 13, step=5)
    flat = np.full(13, 21.4)
    last_six = np.zeros(13, dtype=bool)
    last_six[7:] = True
    last_seven = np.zeros(13, dtype=bool)
    last_seven[6:] = True
    assert not stuck_flags(ts, flat, last_six, "temperature").any()
    assert stuck_flags(ts, flat, last_seven, "temperature").all()
    sparse = np.delete(ts, [4, 5, 6, 7])
    assert not stuck_flags(sparse, np.full(9, 21.4), np.ones(9, dtype=bool), "temperature").any()


def test_stuck_epsilon_is_below_the_sensor_resolution():
    """Temperature moving by one 0.1 °C step in the hour is not stuck (ε = 0.05 °C)."""
    ts = minutes("2026-03-02T10:00", 13, step=5)
    values = np.full(13, 21.4)
    values[6] = 21.5
    assert not stuck_flags(ts, values, np.ones(13, dtype=bool), "temperature").any()


def test_occupied_at_uses_the_latest_recent_count():
    occ_ts = np.array(["2026-03-02T10:00", "2026-03-02T10:30"], dtype="datetime64[us]")
    ask = np.array(
        ["2026-03-02T09:59", "2026-03-02T10:00", "2026-03-02T10:15", "2026-03-02T10:16"],
        dtype="datetime64[us]",
    )
    assert occupied_at(ask, occ_ts, [3, 0]).tolist() == [False, True, True, False]
    assert occupied_at(ask, occ_ts, [3, 0], threshold=5).tolist() == [False] * 4


# -- cross-checks ------------------------------------------------------------------------------


def test_over_capacity_and_negative_counts():
    """METRICS.md: a count above capacity × 1.5, or a negative count. 40 seats: 60 is the
    limit, 61 is over."""
    counts = [0, 40, 60, 61, 120, -1]
    assert flagged(over_capacity_flags(counts, 40)) == [3, 4]
    assert flagged(over_capacity_flags(counts, 40, factor=2.0)) == [4]
    assert flagged(negative_flags(counts)) == [5]
    with pytest.raises(ValueError, match="capacity must be a finite number > 0"):
        over_capacity_flags(counts, 0)


def test_overnight_counter_flags_the_day_that_ended_in_a_failing_night():
    """A 40-seat room in Oslo (UTC+1): tolerance max(1, 5 % of 40) = 2 people. The night
    to Tuesday 3 March reaches 0; the night to Wednesday 4 March never drops below 7. So
    the counter day 04:00 Tue – 04:00 Wed is flagged, and nothing else."""
    local = [
        "2026-03-03T02:30",  # night to Tue: 0            -> fine
        "2026-03-03T03:59",  # still that night: 0        -> fine
        "2026-03-03T04:00",  # Tuesday's counter day      -> flagged
        "2026-03-03T11:00",  # 30 in class                -> flagged
        "2026-03-03T21:00",  # 9 left "in" at night       -> flagged
        "2026-03-04T02:30",  # night to Wed: 8            -> flagged
        "2026-03-04T03:30",  # 7                          -> flagged
        "2026-03-04T05:00",  # Wednesday's counter day    -> fine (its night is unknown)
    ]
    ts = np.array(local, dtype="datetime64[us]") - np.timedelta64(1, "h")  # to UTC
    counts = [0, 0, 0, 30, 9, 8, 7, 7]
    day = overnight_counter_flags(ts, counts, OSLO, capacity=40)
    assert flagged(day) == [2, 3, 4, 5, 6]
    night = overnight_counter_flags(ts, counts, OSLO, capacity=40, extent="night")
    assert flagged(night) == [5, 6]
    # "about 0" is 2 people here: a night at 2 passes
    assert not overnight_counter_flags(ts, [0, 0, 0, 30, 2, 2, 2, 2], OSLO, capacity=40).any()


def test_overnight_counter_without_night_readings_is_not_judged():
    ts = np.array(["2026-03-03T10:00", "2026-03-03T20:00"], dtype="datetime64[us]")
    assert not overnight_counter_flags(ts, [30, 30], OSLO).any()


def test_overnight_window_on_the_spring_dst_night():
    """29 March 2026 in Oslo jumps from 02:00 to 03:00: the night window 02:00–04:00 local
    is one real hour, 01:00–02:00 UTC; a count of 5 there fails the night."""
    ts = np.array(["2026-03-29T00:30", "2026-03-29T01:30"], dtype="datetime64[us]")  # UTC
    found = overnight_counter_flags(ts, [5, 5], OSLO, extent="night")
    assert flagged(found) == [1]  # 00:30 UTC is 01:30 local: before the window


def test_register_decrease():
    """METRICS.md: a cumulative register that decreases. Replaced after 112 kWh."""
    assert flagged(register_decrease_flags([100, 105, 112, 3, 10, 10])) == [3]
    assert flagged(register_decrease_flags([100.0, 99.9995, 101.0], tolerance=0.001)) == []


# -- QCI and the report (Pecos "Metrics": QCI) -------------------------------------------------


def test_qci_of_a_constructed_day():
    """288 five-minute points, 12 flagged: QCI = 276 / 288 = 0.9583 (Pecos' 700/720 = 0.972
    example works the same way)."""
    marks = np.zeros(288, dtype=bool)
    marks[[5, 30, 31, 100, 101, 102, 150, 151, 200, 201, 250, 287]] = True
    assert round(qci(marks), 4) == 0.9583
    assert qci(np.zeros(720, dtype=bool)[:700]) == 1.0
    assert math.isnan(qci(np.array([], dtype=bool)))


def test_report_of_a_day_with_12_flagged_points_and_a_gap():
    """Five-minute CO₂ from 00:00 local 2 March to 01:00 local 3 March 2026 (Oslo, UTC+1):
    300 slots, with a one-hour dropout (12 readings) on the 2nd. So 2 March has 276
    points, 12 of them flagged (6 above 5000 ppm, which are also spikes, and 6 spikes of
    +2350 ppm and back): QCI = 264 / 276, completeness 276 / 288. 3 March has the 12
    points of 00:00–00:55 and no flags."""
    ts = minutes("2026-03-01T23:00", 300, step=5)
    keep = np.ones(300, dtype=bool)
    keep[200:212] = False
    ts = ts[keep]
    co2 = np.full(288, 650.0)
    co2[[10, 20, 30, 40, 50, 60]] = 6000.0
    co2[[70, 80, 90, 100, 110, 120]] = 3000.0
    start, end = datetime(2026, 3, 2, tzinfo=OSLO), datetime(2026, 3, 3, 1, tzinfo=OSLO)
    report = quality_report(ts, co2, "co2", OSLO, start=start, end=end)
    first, second = report.days
    assert (str(first.date), first.points, first.flagged) == ("2026-03-02", 276, 12)
    assert first.flagged_by_check["range"] == 6 and first.flagged_by_check["spike"] == 12
    assert first.missing_points == 12
    assert first.qci == 264 / 276
    assert first.completeness == 276 / 288
    assert (str(second.date), second.points, second.flagged) == ("2026-03-03", 12, 0)
    assert (second.missing_points, second.qci) == (0, 1.0)
    assert report.gaps.missing.tolist() == [12]
    assert str(report.gaps.after[0]) == "2026-03-02T15:35:00.000000"  # 16:35 local
    assert report.flagged.sum() == 12 and report.qci == 276 / 288


def test_report_of_exactly_288_points_with_12_flagged():
    ts = minutes("2026-03-01T23:00", 288, step=5)
    co2 = np.full(288, 650.0)
    co2[12::24] = 6000.0
    [day] = quality_report(ts, co2, "co2", OSLO).days
    assert (day.points, day.flagged, round(day.qci, 4)) == (288, 12, 0.9583)


def test_report_runs_the_checks_of_each_quantity():
    ts = minutes("2026-03-02T08:00", 4)
    occupancy = quality_report(ts, [10, 70, -1, 10], "occupancy", OSLO, capacity=40)
    assert set(occupancy.checks) >= {"over_capacity", "negative", "overnight_counter"}
    assert flagged(occupancy.flags["over_capacity"]) == [1]
    assert flagged(occupancy.flags["negative"]) == [2]
    register = quality_report(ts, [100, 101, 3, 4], "energy", OSLO)
    assert flagged(register.flags["register_decrease"]) == [2]
    assert "range" not in register.checks and "stuck" not in register.checks
    assert (
        "stuck" in quality_report(ts, [1, 2, 3, 4], "co2", OSLO, occupied=np.ones(4, bool)).checks
    )


def test_garbage_in_raw_arrays_is_flagged_not_fatal():
    """Raw arrival order with a duplicate, a late point and a NaN: each is flagged by its
    check, and the value checks run on the points that are in order and finite."""
    ts = at("10:00", "10:01", "10:01", "10:02", "09:30", "10:03", "10:04")
    values = [600.0, 610.0, 999.0, math.nan, 605.0, 7000.0, 620.0]
    report = quality_report(ts, values, "co2", OSLO)
    assert flagged(report.flags["duplicate"]) == [2]
    assert flagged(report.flags["out_of_order"]) == [4]
    assert flagged(report.flags["missing"]) == [3]
    assert flagged(report.flags["range"]) == [5]
    assert flagged(report.flags["spike"]) == [5]  # 610 → 7000 → 620, over the NaN
    assert flagged(report.flagged) == [2, 3, 4, 5]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: quality_report(minutes("2026-03-02", 3), [1.0, 2.0], "co2", OSLO), "values"),
        (lambda: quality_report(["a", "b"], [1.0, 2.0], "co2", OSLO), "datetime64"),
        (lambda: quality_report(minutes("2026-03-02", 2), ["x", "y"], "co2", OSLO), "numbers"),
        (lambda: quality_report(minutes("2026-03-02", 2), [1, 2], "radon", OSLO), "unknown"),
        (
            lambda: quality_report(
                minutes("2026-03-02", 2), [1, 2], "co2", OSLO, start=datetime(2026, 3, 2)
            ),
            "timezone-aware",
        ),
        (
            lambda: quality_report(
                minutes("2026-03-02", 2), [1, 2], "co2", OSLO, occupied=np.ones(3, bool)
            ),
            "occupied",
        ),
    ],
)
def test_garbage_arguments_are_refused_with_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_settings_are_validated():
    with pytest.raises(ValueError, match="stuck_window"):
        QualitySettings(stuck_window=timedelta(0))
    with pytest.raises(ValueError, match="night_start"):
        QualitySettings(night_start=time(4), night_end=time(2))
    with pytest.raises(ValueError, match="overnight_extent"):
        QualitySettings(overnight_extent="week")
    custom = QualitySettings(ranges={"co2": (400.0, 2000.0)})
    assert custom.ranges["co2"] == (400.0, 2000.0)
    assert "temperature" not in custom.ranges  # a given table replaces the default one


def test_docstring_examples_run_and_give_the_numbers_shown():
    found = doctest.testmod(quality)
    assert found.attempted > 10
    assert found.failed == 0
