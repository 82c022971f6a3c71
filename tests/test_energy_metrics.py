"""Energy metrics against worked examples: registers, EUI, intensity, load shape, degree days."""

from __future__ import annotations

import math
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from campuslab.analytics.energy import (
    SSB_2011_UNIVERSITY_KWH_PER_M2,
    daily_mean_temperature,
    degree_day_normalised_energy,
    energy_use_intensity,
    heating_degree_days,
    hourly_consumption,
    intensity_per_use,
    load_shape,
    register_consumption,
)
from campuslab.core.registry import CoreHours

OSLO = ZoneInfo("Europe/Oslo")
NAN = math.nan


# -- registers ---------------------------------------------------------------------------------


def test_register_with_a_reset_books_only_positive_differences():
    # METRICS.md / Home Assistant total_increasing: a decrease is a reset, not negative use.
    # 1000 → 1012 → 1030 | replaced | 2 → 9: 12 + 18 + 0 + 7 = 37 kWh, one reset
    r = register_consumption([1000, 1012, 1030, 2, 9])
    assert r.per_interval.tolist() == [12.0, 18.0, 0.0, 7.0]
    assert (r.total_kwh, r.resets) == (37.0, 1)


def test_hourly_consumption_books_each_interval_to_the_hour_it_ends_in():
    ts = np.array(
        ["2026-01-12T09:00", "2026-01-12T09:30", "2026-01-12T10:00", "2026-01-12T10:15",
         "2026-01-12T10:45", "2026-01-12T11:30"],
        dtype="datetime64[us]",
    )  # fmt: skip
    # 09:00–09:30 +5, 09:30–10:00 +5 (ends on the hour: 09 h), 10:00–10:15 reset to 1,
    # 10:15–10:45 +3, 10:45–11:30 +6 (a gap, booked wholly to 11 h)
    h = hourly_consumption(ts, [100, 105, 110, 1, 4, 10])
    assert h.hour_starts.astype("datetime64[h]").astype(str).tolist() == [
        "2026-01-12T09",
        "2026-01-12T10",
        "2026-01-12T11",
    ]
    assert h.kwh.tolist() == [10.0, 3.0, 6.0] and h.resets == 1


# -- EUI -----------------------------------------------------------------------------------------


def test_eui_annualised_from_30_days_and_labelled():
    # 150 000 kWh in 30 days: 150 000 × 365 / 30 = 1 825 000 kWh/yr; / 21 400 m² = 85.28
    r = energy_use_intensity(150_000, 21_400, 30)
    assert r.annual_kwh == 1_825_000
    assert r.kwh_per_m2_year == pytest.approx(85.2804, abs=1e-4)
    assert r.annualised is True and r.days_covered == 30
    assert r.context_kwh_per_m2 == SSB_2011_UNIVERSITY_KWH_PER_M2 == 238.0


def test_eui_of_a_whole_year_is_not_annualised():
    r = energy_use_intensity(5_093_200, 21_400, 365)
    assert r.kwh_per_m2_year == pytest.approx(238.0) and r.annualised is False


def test_eui_annualises_each_meter_on_its_own_coverage():
    # electricity 30 days, heat only 15 (a meter outage): 60 000 × 365/30 + 45 000 × 365/15
    r = energy_use_intensity([60_000, 45_000], 10_000, [30, 15])
    assert r.annual_kwh == pytest.approx(730_000 + 1_095_000)
    assert r.days_covered == 15 and r.delivered_kwh == 105_000


def test_eui_inputs_are_validated():
    with pytest.raises(ValueError, match="heated_area_m2 must be > 0"):
        energy_use_intensity(1000, 0, 30)
    with pytest.raises(ValueError, match="days_covered must be > 0"):
        energy_use_intensity(1000, 100, 0)


def test_intensity_per_occupant_hour_and_used_seat_hour():
    r = intensity_per_use(90_000, 30_000, 22_500)
    assert (r.kwh_per_occupant_hour, r.kwh_per_used_seat_hour) == (3.0, 4.0)
    assert math.isnan(intensity_per_use(90_000, 0, 0).kwh_per_occupant_hour)


# -- load shape (Price 2010) -----------------------------------------------------------------------


def _oslo_days(first_local_midnight_utc: str, days: int) -> np.ndarray:
    return np.arange(
        np.datetime64(first_local_midnight_utc, "h"),
        np.datetime64(first_local_midnight_utc, "h") + np.timedelta64(24 * days, "h"),
    )


def test_near_base_and_near_peak_are_the_2_5th_and_97_5th_percentiles_of_each_day():
    # one Monday with hourly demand 0, 1, ..., 23 kW (local hour = kW). numpy's linear
    # percentile of 24 sorted values: position 23 × 0.025 = 0.575 → 0.575 kW, and
    # 23 × 0.975 = 22.425 → 22.425 kW
    hours = _oslo_days("2026-01-11T23:00", 1)
    r = load_shape(hours, np.arange(24.0), OSLO, CoreHours())
    assert r.complete_days == 1
    assert r.near_base_kw == pytest.approx(0.575)
    assert r.near_peak_kw == pytest.approx(22.425)
    assert r.base_to_peak_ratio == pytest.approx(0.575 / 22.425)
    # night 00–05: mean of 0..4 = 2 kW; core 08–16: mean of 8..15 = 11.5 kW
    assert (r.night_mean_kw, r.day_mean_kw) == (2.0, 11.5)
    assert r.night_day_ratio == pytest.approx(2 / 11.5)
    # out of hours: Σ0..23 = 276 kWh, core Σ8..15 = 92 kWh → 184 / 276
    assert r.out_of_hours_share == pytest.approx(184 / 276)


def test_other_percentiles_can_be_chosen():
    hours = _oslo_days("2026-01-11T23:00", 1)
    r = load_shape(hours, np.arange(24.0), OSLO, CoreHours(), 5, 95)
    assert (r.near_base_kw, r.near_peak_kw) == pytest.approx((1.15, 21.85))


def test_weekend_weekday_ratio_uses_complete_days_only():
    # Monday 12 – Sunday 18 January 2026: weekdays 30 kW, weekend 12 kW, every hour, and a
    # partial Monday after (6 hours at 100 kW) that must not count as a day
    hours = _oslo_days("2026-01-11T23:00", 7)
    kwh = np.repeat([30.0, 30, 30, 30, 30, 12, 12], 24)
    hours = np.concatenate([hours, hours[-1] + np.arange(1, 7)])
    kwh = np.concatenate([kwh, np.full(6, 100.0)])
    r = load_shape(hours, kwh, OSLO, CoreHours())
    assert r.complete_days == 7
    assert (r.weekday_mean_daily_kwh, r.weekend_mean_daily_kwh) == (720.0, 288.0)
    assert r.weekend_weekday_ratio == pytest.approx(0.4)


def test_a_23_hour_dst_day_is_a_complete_day():
    # 29 March 2026, Oslo: clocks go forward; the local day has 23 hours
    hours = np.arange(
        np.datetime64("2026-03-28T23:00", "h"), np.datetime64("2026-03-29T22:00", "h")
    )
    assert hours.size == 23
    r = load_shape(hours, np.full(23, 10.0), OSLO, CoreHours())
    assert r.complete_days == 1 and r.weekend_mean_daily_kwh == 230.0


def test_load_shape_inputs_are_validated():
    hours = _oslo_days("2026-01-11T23:00", 1)
    with pytest.raises(ValueError, match="near_base_percentile < near_peak_percentile"):
        load_shape(hours, np.arange(24.0), OSLO, CoreHours(), 50, 50)
    with pytest.raises(ValueError, match="leave hours without data out"):
        load_shape(hours, np.full(24, NAN), OSLO, CoreHours())


# -- degree days and normalisation -----------------------------------------------------------------


def test_heating_degree_days_at_base_17_from_daily_means():
    # HDD = Σ max(0, 17 − T): (17 − −5) + (17 − 0) + (17 − 10.5) + 0 + 0 = 22 + 17 + 6.5
    r = heating_degree_days([-5.0, 0.0, 10.5, 17.0, 21.0, NAN])
    assert r.total == 45.5
    assert r.days_used == 5 and r.days_without_data == 1
    assert r.per_day[:5].tolist() == [22.0, 17.0, 6.5, 0.0, 0.0]
    assert heating_degree_days([10.0], base_c=15.5).total == 5.5


def test_daily_means_come_from_local_days_and_need_18_hours():
    # Oslo day 12 January = 23:00 UTC on the 11th to 23:00 on the 12th; hourly -2 °C and 4 °C
    hours = _oslo_days("2026-01-11T23:00", 2)
    temperature = np.concatenate([np.tile([-2.0, 4.0], 12), np.full(24, NAN)])
    temperature[24:41] = 5.0  # the 13th has only 17 hours of data
    d = daily_mean_temperature(hours, temperature, OSLO)
    assert d.dates.astype(str).tolist() == ["2026-01-12", "2026-01-13"]
    assert d.mean_c[0] == 1.0 and math.isnan(d.mean_c[1])
    assert d.hours.tolist() == [24, 17]


def test_degree_day_normalisation_scales_only_the_temperature_dependent_part():
    # E = 1 000 MWh, E_base = 400 MWh, HDD 3 600 actual and 4 000 normal:
    # E_norm = 400 + 600 × 4000 / 3600 = 1 066.67 MWh (all of E scaled would be 1 111.1)
    r = degree_day_normalised_energy(1_000_000, 400_000, 3_600, 4_000)
    assert r.dependent_kwh == 600_000
    assert r.normalised_kwh == pytest.approx(1_066_666.667, abs=1e-3)
    with pytest.raises(ValueError, match="hdd_actual must be > 0"):
        degree_day_normalised_energy(1000, 100, 0, 4000)
