"""Right-sizing advice on constructed rooms, each with its evidence computed by hand.

The rules come from METRICS.md: a room whose P95 occupancy stays under 50 % of
capacity is a candidate to split or reassign. The booked-vs-actual figures
come from the same page, and the HEFCE "poor" band (< 25 %) sets the low-use
threshold. Each room below has 40 core hours with readings. The counts are the
hour's peak and the site's n_h alike.

| room    | seats | used core hours (peak count)       | expected advice                 |
|---------|-------|------------------------------------|---------------------------------|
| big     | 200   | 20 × 40, 9 × 60, 1 × 150; 10 empty | split: P95 = 60/200 = 0.3       |
| crowded | 30    | 30 × 25, 6 × 36; 4 empty           | larger room: 6/36 = 17 % > 10 % |
| fine    | 50    | 30 × 40; 10 empty                  | none (P95 0.8, F 0.75)          |
| ghost   | 20    | booked 20 h, 12 of them empty; 8 × 15 | release (0.6), review (F 0.2) |
| new     | 40    | only 10 core hours with readings   | insufficient data               |
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from campuslab.analytics.bookings import booked_vs_actual
from campuslab.analytics.recommendations import (
    Figure,
    RightSizingRules,
    rank,
    right_sizing,
    right_sizing_report,
)
from campuslab.core.readings import ReadingBatch, to_epoch_us
from campuslab.core.registry import load_campus
from campuslab.core.store.duckdb import DuckDBStore
from campuslab.core.timetables import Booking

DATA = Path(__file__).parent / "data"


def hours_of(*runs: tuple[int, float]) -> np.ndarray:
    return np.concatenate([np.full(n, value, dtype=float) for n, value in runs])


BIG = hours_of((20, 40), (9, 60), (1, 150), (10, 0))
CROWDED = hours_of((30, 25), (6, 36), (4, 0))
FINE = hours_of((30, 40), (10, 0))
GHOST = hours_of((12, 0), (8, 15), (20, 0))


def ghost_booked():
    """ghost's first 20 core hours are booked; nobody came in 12 of them."""
    grid = np.arange(
        np.datetime64("2026-03-02T00:00", "us"),
        np.datetime64("2026-03-02T00:00", "us") + np.timedelta64(40, "h"),
        np.timedelta64(1, "h"),
    )
    start = datetime(2026, 3, 2, tzinfo=UTC)
    booking = Booking(start, start + timedelta(hours=20), "Reserved", 20)
    return booked_vs_actual(grid, np.ones(40, dtype=bool), GHOST, GHOST, [booking], 20)


def advise_all():
    found = []
    found += right_sizing("big", "b1", 200, BIG, BIG)
    found += right_sizing("crowded", "b1", 30, CROWDED, CROWDED)
    found += right_sizing("fine", "b1", 50, FINE, FINE)
    found += right_sizing("ghost", "b2", 20, GHOST, GHOST, booked=ghost_booked())
    found += right_sizing("new", "b2", 40, FINE[:10], FINE[:10])
    return found


def test_exactly_the_expected_advice_ordered_by_seat_hours_at_stake():
    ranked = rank(advise_all())

    assert [(r.space_id, r.kind, r.severity, r.impact_seat_hours) for r in ranked] == [
        ("big", "split_or_reassign", "medium", 4510.0),  # Σ (200 − peak) over 30 used hours
        ("ghost", "review_low_use", "low", 640.0),  # 32 unused hours x 20 seats
        ("ghost", "release_bookings", "medium", 240.0),  # 12 no-show hours x 20 seats
        ("crowded", "larger_room", "high", 36.0),  # 6 hours x 6 people over 30 seats
        ("new", "insufficient_data", "info", 0.0),
    ]


def test_evidence_numbers_with_units():
    advice = {(r.space_id, r.kind): r for r in advise_all()}

    split = advice["big", "split_or_reassign"]
    assert split.evidence == {
        "p95_peak_occupancy": Figure(0.3, "share of capacity"),  # 29th of 30 sorted = 60
        "p95_peak": Figure(60.0, "people"),
        "used_hours": Figure(30.0, "h"),
        "capacity": Figure(200.0, "seats"),
        "idle_seat_hours": Figure(4510.0, "seat-h"),
    }
    assert split.headline == (
        "big: in 95% of its used core hours at most 60 of its 200 seats were taken (30%); "
        "candidate to split or reassign"
    )
    assert split.building_id == "b1"

    larger = advice["crowded", "larger_room"]
    assert larger.evidence["over_capacity_share"] == Figure(
        pytest.approx(6 / 36), "share of used hours"
    )
    assert larger.evidence["over_capacity_hours"] == Figure(6.0, "h")
    assert larger.evidence["max_peak"] == Figure(36.0, "people")
    assert larger.evidence["excess_seat_hours"] == Figure(36.0, "seat-h")
    assert "6 of 36 used core hours (17%); candidate for a larger room" in larger.headline

    release = advice["ghost", "release_bookings"]
    assert release.evidence == {
        "no_show_rate": Figure(0.6, "share of booked hours"),
        "no_show_hours": Figure(12.0, "h"),
        "booked_hours_with_data": Figure(20.0, "h"),
        "capacity": Figure(20.0, "seats"),
        "released_seat_hours": Figure(240.0, "seat-h"),
    }
    review = advice["ghost", "review_low_use"]
    assert review.evidence["frequency_rate"] == Figure(0.2, "share of core hours")
    assert review.evidence["utilisation"] == Figure(120 / 800, "share of seat-hours")
    assert review.evidence["in_use_hours"] == Figure(8.0, "h")
    assert "in use in only 20% of core hours (8 of 40)" in review.headline

    insufficient = advice["new", "insufficient_data"]
    assert insufficient.headline == (
        "new: insufficient data (10 core hours with readings, 20 needed); no advice"
    )
    assert insufficient.evidence["available_core_hours"] == Figure(10.0, "h")


def test_the_fine_room_gets_no_advice_and_hours_without_data_are_left_out():
    assert right_sizing("fine", "b1", 50, FINE, FINE) == []
    # an offline sensor is not an empty room: 40 empty hours without data change nothing
    offline = np.concatenate([FINE, np.full(40, np.nan)])
    assert right_sizing("fine", "b1", 50, offline, offline) == []


def test_thresholds_are_configurable():
    strict = RightSizingRules(split_below_p95=0.9, review_below_frequency=0.8)

    kinds = [r.kind for r in right_sizing("fine", "b1", 50, FINE, FINE, rules=strict)]

    assert kinds == ["review_low_use", "split_or_reassign"]  # 10 x 50 = 500 > Σ(50 − 40) x 30
    few = RightSizingRules(min_core_hours=5)
    assert right_sizing("new", "b2", 40, FINE[:10], FINE[:10], rules=few) == []


def test_sizing_needs_enough_used_hours_and_no_show_needs_enough_bookings():
    rarely = hours_of((5, 10), (35, 0))  # P95 25 % of 40 seats, but only 5 used hours

    kinds = [r.kind for r in right_sizing("r", "b", 40, rarely, rarely)]

    assert kinds == ["review_low_use"]
    grid = np.arange(
        np.datetime64("2026-03-02T00:00", "us"),
        np.datetime64("2026-03-02T00:00", "us") + np.timedelta64(40, "h"),
        np.timedelta64(1, "h"),
    )
    start = datetime(2026, 3, 2, tzinfo=UTC)
    five_empty = Booking(start + timedelta(hours=35), start + timedelta(hours=40), "x", None)
    booked = booked_vs_actual(grid, np.ones(40, dtype=bool), rarely, rarely, [five_empty], 40)
    assert booked.no_show_rate == 1.0 and booked.booked_hours_with_data == 5
    kinds = [r.kind for r in right_sizing("r", "b", 40, rarely, rarely, booked=booked)]
    assert kinds == ["review_low_use"]  # 5 booked hours are too few to judge no-shows


def test_inputs_are_validated():
    with pytest.raises(ValueError, match="same hours"):
        right_sizing("x", "b", 10, FINE, FINE[:5])
    with pytest.raises(ValueError, match="seats > 0"):
        right_sizing("x", "b", 0, FINE, FINE)
    with pytest.raises(ValueError, match="finite people counts"):
        right_sizing("x", "b", 10, -FINE, FINE)


def test_report_through_the_store_says_insufficient_data_for_a_single_day(tmp_path: Path):
    campus = load_campus(DATA / "learning_spaces_campus.yaml")
    store = DuckDBStore(tmp_path / "campuslab.duckdb")
    monday = datetime(2026, 3, 2, 8, tzinfo=ZoneInfo("Europe/Oslo"))
    batch = ReadingBatch()
    for hour in range(8):
        batch.append(to_epoch_us(monday + timedelta(hours=hour)), "teach", "hall-a", "occupancy", 5)
    store.write(batch)

    report = right_sizing_report(store, campus, monday, monday + timedelta(hours=8))

    assert [(r.space_id, r.kind) for r in report.recommendations] == [
        ("group-1", "insufficient_data"),
        ("hall-a", "insufficient_data"),
        ("hall-b", "insufficient_data"),
        ("read-1", "insufficient_data"),
        ("sem-1", "insufficient_data"),
    ]
    assert report.recommendations[1].evidence["available_core_hours"] == Figure(8.0, "h")
    assert report.period_start == datetime(2026, 3, 2, 7, tzinfo=UTC)
    assert report.rules == RightSizingRules()
    store.close()
