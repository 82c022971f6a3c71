"""The pure metrics against worked examples whose answers were computed by hand.

Each test says where its definition comes from (METRICS.md and the source it
cites) and how the expected numbers were worked out.
"""

from __future__ import annotations

import doctest
import importlib
import math
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from campuslab.analytics.energy import daily_consumption, register_consumption
from campuslab.analytics.ieq import co2_category, co2_category_hours
from campuslab.analytics.local_time import local_dates, utc_offsets
from campuslab.analytics.utilisation import (
    core_hours_mask,
    core_utilisation,
    daily_utilisation,
    pooled_utilisation,
    utilisation,
)
from campuslab.core.registry import CoreHours

OSLO = ZoneInfo("Europe/Oslo")
ALL_WEEK = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def hours(first_utc: str, count: int) -> np.ndarray:
    start = np.datetime64(first_utc, "us")
    return start + np.arange(count) * np.timedelta64(1, "h").astype("timedelta64[us]")


# -- utilisation: SMG 2006 / HESA via METRICS.md ------------------------------------


def test_issue_worked_example_40_seats_half_the_time_half_full():
    """The issue's example: 40 seats, 20 people in 4 of 8 core hours.

    F = 4/8 = 0.5; O = mean(20/40) over the 4 in-use hours = 0.5;
    U = Σn/(C|H|) = 80/(40·8) = 0.25 = F × O.
    """
    r = utilisation([20, 20, 20, 20, 0, 0, 0, 0], capacity=40)
    assert r.frequency_rate == 0.5
    assert r.occupancy_rate == 0.5
    assert r.utilisation == 0.25
    assert r.used_seat_hours == 80.0
    assert r.available_seat_hours == 320.0
    assert (r.available_hours, r.in_use_hours) == (8, 4)
    assert r.peak_occupancy == 0.5
    assert (r.share_under_60, r.share_60_to_100, r.share_over_100) == (1.0, 0.0, 0.0)
    assert r.hours_without_data == 0


def test_six_hour_day_with_crowding_by_hand():
    """40 seats, counts 0, 5, 10, 30, 40, 45 (METRICS.md definitions, worked by hand).

    in use: 5 of 6 hours → F = 5/6.
    O = mean(5, 10, 30, 40, 45)/40 = 26/40 = 0.65.
    U = 130/(40·6) = 0.541666… = F × O (the empty hour has n = 0).
    peak = 45/40 = 1.125. P95 (inverted CDF, 6 values): the ⌈0.95·6⌉ = 6th = 1.125.
    bands: 0, 0.125, 0.25 under 60 %; 0.75, 1.0 at 60–100 %; 1.125 over → 3/6, 2/6, 1/6.
    """
    r = utilisation(np.array([0, 5, 10, 30, 40, 45]), 40)
    assert r.frequency_rate == pytest.approx(5 / 6)
    assert r.occupancy_rate == pytest.approx(0.65)
    assert r.utilisation == pytest.approx(130 / 240)
    assert r.utilisation == pytest.approx(r.frequency_rate * r.occupancy_rate)
    assert r.peak_occupancy == 1.125
    assert r.p95_occupancy == 1.125
    assert r.share_under_60 == pytest.approx(3 / 6)
    assert r.share_60_to_100 == pytest.approx(2 / 6)
    assert r.share_over_100 == pytest.approx(1 / 6)


def test_p95_is_an_observed_value_from_the_inverted_cdf():
    """20 seats, counts 1..20 (ratios 0.05..1.0): the 19th of 20 sorted values is 0.95.

    Hyndman & Fan type 1, numpy's method="inverted_cdf"; a room whose P95 stays
    under 0.5 is a right-sizing candidate (METRICS.md).
    """
    counts = np.arange(1, 21, dtype=float)
    r = utilisation(counts, 20)
    assert r.p95_occupancy == pytest.approx(0.95)
    assert r.p95_occupancy == pytest.approx(np.percentile(counts / 20, 95, method="inverted_cdf"))


def test_fractional_hourly_means_make_u_differ_from_f_times_o():
    """With hourly means an hour can hold 0.4 of a person: not in use, yet seat-hours.

    40 seats, counts 0.4, 20, 20, 0: F = 2/4, O = 0.5, F × O = 0.25, but the
    definition of record U = Σn/(C|H|) = 40.4/160 = 0.2525. The gap is exactly the
    sub-threshold seat-hours over available seat-hours: 0.4/160 = 0.0025.
    """
    r = utilisation([0.4, 20, 20, 0], 40)
    assert (r.frequency_rate, r.occupancy_rate) == (0.5, 0.5)
    assert r.utilisation == pytest.approx(0.2525)
    assert r.utilisation - r.frequency_rate * r.occupancy_rate == pytest.approx(0.4 / 160)


def test_room_never_in_use_has_occupancy_rate_zero_not_nan():
    """Documented choice: O = 0 when no hour is in use, so U = F × O = 0 still holds."""
    r = utilisation([0, 0, 0], 12)
    assert (r.frequency_rate, r.occupancy_rate, r.utilisation) == (0.0, 0.0, 0.0)
    assert r.p95_occupancy == 0.0


def test_no_available_hours_gives_nan_rates():
    r = utilisation(np.array([]), 40)
    assert r.available_hours == 0
    assert r.used_seat_hours == 0.0
    for value in (
        r.frequency_rate,
        r.occupancy_rate,
        r.utilisation,
        r.peak_occupancy,
        r.p95_occupancy,
        r.share_under_60,
        r.share_60_to_100,
        r.share_over_100,
    ):
        assert math.isnan(value)


def test_in_use_threshold_is_configurable():
    """Threshold 5 people: of 3, 5, 8 only 5 and 8 are in use (n ≥ threshold)."""
    r = utilisation([3, 5, 8], 10, in_use_threshold=5)
    assert r.in_use_hours == 2
    assert r.occupancy_rate == pytest.approx((0.5 + 0.8) / 2)
    assert r.utilisation == pytest.approx(16 / 30)


def test_pooling_adds_seat_hours_and_is_not_the_mean_of_percentages():
    """METRICS.md: across spaces, add up seat-hours; never average percentages.

    A 100-seat hall with 50 people in 1 of 2 hours (U = 50/200 = 0.25) and a
    10-seat room full for 2 of 2 (U = 20/20 = 1.0). Mean of percentages: 0.625.
    Pooled: 70 used of 100·2 + 10·2 = 220 available seat-hours → U = 0.3182.
    F (capacity-weighted) = (100 + 10 + 10)/220; O = 70/(100 + 10 + 10); F × O = U.
    """
    hall, room = utilisation([50, 0], 100), utilisation([10, 10], 10)
    pooled = pooled_utilisation([np.array([50, 0]), np.array([10, 10])], [100, 10])
    assert (hall.utilisation + room.utilisation) / 2 == 0.625
    assert pooled.utilisation == pytest.approx(70 / 220)
    assert pooled.used_seat_hours == 70 and pooled.available_seat_hours == 220
    assert pooled.frequency_rate == pytest.approx(120 / 220)
    assert pooled.occupancy_rate == pytest.approx(70 / 120)
    assert pooled.utilisation == pytest.approx(pooled.frequency_rate * pooled.occupancy_rate)
    assert (pooled.in_use_hours, pooled.available_hours) == (3, 4)
    assert pooled.peak_occupancy == 1.0


def test_pool_of_one_space_is_that_space():
    counts = np.array([0, 5, 10, 30, 40, 45, 2.5])
    assert pooled_utilisation([counts], [40]) == utilisation(counts, 40)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: utilisation([1, 2], capacity=-40),
            r"capacity must be a finite number of seats > 0, got -40",
        ),
        (lambda: utilisation([1, 2], capacity=0), r"capacity .* > 0, got 0"),
        (lambda: utilisation([1, 2], capacity=float("nan")), r"capacity"),
        (lambda: utilisation([1, float("nan")], 40), r"counts_per_hour must be finite .* index 1"),
        (lambda: utilisation([1, -2], 40), r"counts_per_hour must not be negative; index 1"),
        (lambda: utilisation([[1, 2]], 40), r"counts_per_hour must be a 1-D array"),
        (lambda: utilisation(["many"], 40), r"counts_per_hour must be numbers"),
        (lambda: utilisation([1], 40, in_use_threshold=0), r"in_use_threshold"),
        (lambda: pooled_utilisation([[1], [2]], [10]), r"2 spaces but capacities has 1"),
        (lambda: pooled_utilisation([[1], [2]], [10, -1]), r"capacities\[1\]"),
        (lambda: pooled_utilisation([[1], [np.inf]], [10, 10]), r"counts_per_space\[1\]"),
        (
            lambda: core_utilisation(hours("2026-03-27T07:00", 3), [1, 2], 10, OSLO, CoreHours()),
            r"hour_starts has 3 hours but counts_per_hour has 2",
        ),
        (
            lambda: core_utilisation(np.array([1, 2]), [1, 2], 10, OSLO, CoreHours()),
            r"hour_starts must be numpy datetime64",
        ),
        (
            lambda: daily_utilisation(
                np.repeat(hours("2026-03-27T07:00", 1), 2), [1, 2], 10, OSLO, CoreHours()
            ),
            r"must not repeat an hour",
        ),
    ],
)
def test_garbage_in_gives_a_value_error_that_names_it(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# -- core hours in local time, across DST --------------------------------------------


def test_core_hours_follow_oslo_winter_and_summer_time():
    """METRICS.md default core hours: Mon–Fri 08:00–16:00 *local*.

    Fri 27 Mar 2026 is CET (UTC+1): core = 07:00–14:00 UTC.
    Mon 30 Mar 2026 is CEST (UTC+2): core = 06:00–13:00 UTC.
    Sat 28 and Sun 29 March: none.
    """
    grid = hours("2026-03-27T00:00", 24 * 4)
    mask = core_hours_mask(grid, OSLO, CoreHours())
    core_utc = [str(h)[:13] for h in grid[mask]]
    assert core_utc == (
        [f"2026-03-27T{h:02d}" for h in range(7, 15)]
        + [f"2026-03-30T{h:02d}" for h in range(6, 14)]
    )


def test_core_hours_on_the_spring_dst_day_are_local():
    """Sun 29 Mar 2026, clocks go 02:00 CET → 03:00 CEST at 01:00 UTC.

    Core 08–16 every day: 08:00 CEST = 06:00 UTC, so 06:00–13:00 UTC (8 hours).
    Core 00–04: 00:00 CET = 23:00 UTC (28th), 01:00 CET = 00:00 UTC, 02:00 does not
    exist, 03:00 CEST = 01:00 UTC → 3 hours in a 23-hour day.
    """
    day = hours("2026-03-28T23:00", 23)  # the 23 hours of the local day
    assert set(local_dates(day, OSLO).tolist()) == {date(2026, 3, 29)}
    office = core_hours_mask(day, OSLO, CoreHours(days=ALL_WEEK))
    assert [str(h)[11:13] for h in day[office]] == [f"{h:02d}" for h in range(6, 14)]
    night = core_hours_mask(day, OSLO, CoreHours(days=ALL_WEEK, start=time(0), end=time(4)))
    assert [str(h)[5:13] for h in day[night]] == ["03-28T23", "03-29T00", "03-29T01"]


def test_core_hours_on_the_autumn_dst_day_are_local():
    """Sun 25 Oct 2026, clocks go 03:00 CEST → 02:00 CET at 01:00 UTC; the day has 25 h.

    Core 08–16: 08:00 CET = 07:00 UTC → 07:00–14:00 UTC.
    Core 00–04: 00:00 CEST = 22:00 UTC (24th), 01:00 CEST = 23:00, 02:00 CEST = 00:00,
    02:00 CET = 01:00, 03:00 CET = 02:00 → 5 hours.
    """
    day = hours("2026-10-24T22:00", 25)
    assert set(local_dates(day, OSLO).tolist()) == {date(2026, 10, 25)}
    office = core_hours_mask(day, OSLO, CoreHours(days=ALL_WEEK))
    assert [str(h)[11:13] for h in day[office]] == [f"{h:02d}" for h in range(7, 15)]
    night = core_hours_mask(day, OSLO, CoreHours(days=ALL_WEEK, start=time(0), end=time(4)))
    assert [str(h)[5:13] for h in day[night]] == [
        "10-24T22",
        "10-24T23",
        "10-25T00",
        "10-25T01",
        "10-25T02",
    ]


@pytest.mark.parametrize(
    "zone", ["Europe/Oslo", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
)
def test_vectorised_offsets_agree_with_datetime_for_every_quarter_hour_of_a_year(zone):
    """The per-day bisection must give what datetime gives point by point (incl. 30-min DST)."""
    tz = ZoneInfo(zone)
    grid = np.datetime64("2026-01-01T00:00", "us") + np.arange(0, 366 * 96) * np.timedelta64(
        15, "m"
    ).astype("timedelta64[us]")
    expected = [
        datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=15 * i) for i in range(grid.size)
    ]
    expected_s = np.array([int(e.astimezone(tz).utcoffset().total_seconds()) for e in expected])
    got_s = utc_offsets(grid, tz).astype(np.int64) // 1_000_000
    assert np.array_equal(got_s, expected_s)


def test_daily_utilisation_lists_core_days_in_local_time():
    """Fri 27 Mar – Mon 30 Mar 2026 hourly in Oslo, a 40-seat room.

    Friday: 20 people 07:00–10:59 UTC (08–12 local): U = 80/320 = 0.25.
    Monday: sensor offline for the first two core hours (NaN), 10 people in the
    other 6: H = 6 hours, U = 60/(40·6) = 0.25, hours_without_data = 2.
    The weekend has no core hours and is not listed.
    """
    grid = hours("2026-03-27T00:00", 24 * 4)
    counts = np.zeros(grid.size)
    counts[7:11] = 20  # Friday 08–12 local
    monday_core = np.flatnonzero(local_dates(grid, OSLO) == np.datetime64("2026-03-30"))[8:16]
    counts[monday_core[:2]] = np.nan
    counts[monday_core[2:]] = 10
    days = daily_utilisation(grid, counts, 40, OSLO, CoreHours())
    assert [d.date for d in days] == [date(2026, 3, 27), date(2026, 3, 30)]
    friday, monday = days[0].result, days[1].result
    assert (friday.utilisation, friday.frequency_rate, friday.available_hours) == (0.25, 0.5, 8)
    assert (monday.utilisation, monday.available_hours, monday.hours_without_data) == (0.25, 6, 2)
    no_hours = np.array([], dtype="datetime64[us]")
    assert daily_utilisation(no_hours, [], 40, OSLO, CoreHours()) == []
    whole = core_utilisation(grid, counts, 40, OSLO, CoreHours())
    assert whole.used_seat_hours == 140 and whole.available_hours == 14
    assert whole.utilisation == pytest.approx(140 / (40 * 14))


# -- CO2: EN 16798-1:2019 Annex B and FHI / Arbeidstilsynet 444 -------------------


def test_co2_category_limits_belong_to_the_better_category():
    """EN 16798-1 ΔCO₂ above 420 ppm outdoor: I ≤ 550, II ≤ 800, III ≤ 1350, IV above.

    So 970 ppm (Δ 550) is I, 970.5 is II, 1220 (Δ 800) II, 1770 (Δ 1350) III, 1771 IV.
    """
    indoor = np.array([400, 970, 970.5, 1220, 1220.5, 1770, 1771, np.nan])
    assert co2_category(indoor).tolist() == [1, 1, 2, 2, 3, 3, 4, 0]


def test_co2_category_uses_the_given_outdoor_level():
    """Outdoor 380 ppm: 1000 ppm indoors is Δ 620 → II; with 420 it would be Δ 580 → II too,
    but 950 ppm is Δ 570 → II at 380 and Δ 530 → I at 420."""
    assert co2_category([950], outdoor_ppm=380).tolist() == [2]
    assert co2_category([950]).tolist() == [1]


def test_co2_category_hours_count_only_occupied_hours():
    """METRICS.md: share of occupied hours; hours with no one present are not counted.

    Hours (ppm, people): (700, 12) I; (1000, 3) II and exactly at FHI's 1000 ppm, so
    not above it; (1000.5, 1) II and above; (1800, 30) IV and above; (2500, 0) empty,
    ignored; (900, NaN) occupancy unknown, ignored; (NaN, 8) occupied without CO₂.
    """
    co2 = [700, 1000, 1000.5, 1800, 2500, 900, np.nan]
    occupancy = [12, 3, 1, 30, 0, np.nan, 8]
    r = co2_category_hours(co2, occupancy)
    assert r.occupied_hours == 4
    assert r.category_hours == {"I": 1, "II": 2, "III": 0, "IV": 1}
    assert r.hours_above_fhi_limit == 2
    assert r.occupied_hours_without_co2 == 1
    assert r.category_shares == {"I": 0.25, "II": 0.5, "III": 0.0, "IV": 0.25}


def test_co2_garbage_is_refused():
    with pytest.raises(ValueError, match=r"hourly_co2 has shape \(2,\) but hourly_occupancy"):
        co2_category_hours([800, 900], [1, 2, 3])
    with pytest.raises(ValueError, match=r"co2_ppm must not be negative; index 0"):
        co2_category([-5])
    with pytest.raises(ValueError, match=r"outdoor_ppm"):
        co2_category([800], outdoor_ppm=-1)
    with pytest.raises(ValueError, match=r"hourly_occupancy must not be negative"):
        co2_category_hours([800], [-1])


# -- energy registers: METRICS.md / Home Assistant total_increasing ----------------


def test_register_with_a_reset_sums_positive_differences():
    """100, 105, 112, (replaced) 3, 10: differences 5, 7, −109, 7.

    Positive differences only (METRICS.md): 5 + 7 + 7 = 19 kWh; one reset; the
    interval across the reset books 0, never −109.
    """
    r = register_consumption(np.array([100, 105, 112, 3, 10]))
    assert r.per_interval.tolist() == [5.0, 7.0, 0.0, 7.0]
    assert (r.total_kwh, r.resets) == (19.0, 1)


def test_register_edge_cases():
    assert register_consumption([42.0]).total_kwh == 0.0
    assert register_consumption([]).per_interval.size == 0
    steady = register_consumption([5, 5, 5])
    assert (steady.total_kwh, steady.resets) == (0.0, 0)
    with pytest.raises(ValueError, match=r"finite kWh; index 1 is nan"):
        register_consumption([1, np.nan])
    with pytest.raises(ValueError, match=r"cannot be negative; index 0"):
        register_consumption([-1, 2])


def test_daily_energy_has_23_and_25_hour_days_at_dst():
    """A register read every UTC hour rising 10 kWh/h, in Oslo.

    Sun 29 Mar 2026 has 23 local hours → 230 kWh; Sun 25 Oct 2026 has 25 → 250 kWh.
    The reading at local midnight closes the day before, so each day is exactly
    register(next midnight) − register(midnight).
    """
    for first_utc, n_hours, day in [
        ("2026-03-28T23:00", 23, date(2026, 3, 29)),
        ("2026-10-24T22:00", 25, date(2026, 10, 25)),
    ]:
        ts = hours(first_utc, n_hours + 1)  # midnight to midnight inclusive
        days = daily_consumption(ts, 1000 + 10 * np.arange(ts.size), OSLO)
        assert [(d.date, d.kwh, d.resets) for d in days] == [(day, 10.0 * n_hours, 0)]


def test_daily_energy_books_a_reset_to_its_day():
    """Readings at 12:00 local (11:00 UTC in March) on four days: 500, 620, 20, 150.

    Day 2: 120 kWh; day 3: the register fell (replaced meter) → 0 kWh, 1 reset;
    day 4: 130 kWh.
    """
    ts = np.array(
        ["2026-03-02T11:00", "2026-03-03T11:00", "2026-03-04T11:00", "2026-03-05T11:00"],
        dtype="datetime64[us]",
    )
    days = daily_consumption(ts, [500, 620, 20, 150], OSLO)
    assert [(d.date.day, d.kwh, d.resets) for d in days] == [
        (3, 120.0, 0),
        (4, 0.0, 1),
        (5, 130.0, 0),
    ]


def test_daily_energy_refuses_unsorted_or_mismatched_input():
    ts = np.array(["2026-03-02T11:00", "2026-03-02T10:00"], dtype="datetime64[us]")
    with pytest.raises(ValueError, match="strictly increasing"):
        daily_consumption(ts, [1, 2], OSLO)
    with pytest.raises(ValueError, match=r"ts has 2 timestamps but values has 3"):
        daily_consumption(ts, [1, 2, 3], OSLO)


@pytest.mark.parametrize("module", ["utilisation", "ieq", "energy", "local_time"])
def test_docstring_examples_run_and_give_the_numbers_shown(module):
    """House style: every metric's docstring has a runnable example with real numbers."""
    found = doctest.testmod(importlib.import_module(f"campuslab.analytics.{module}"))
    assert found.attempted > 0
    assert found.failed == 0
