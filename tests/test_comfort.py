"""Indoor environmental quality: EN 16798-1 categories, ISO 7730 PMV/PPD, the adaptive model.

Worked examples with hand-computed answers; each test names its source.
"""

from __future__ import annotations

import math
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from pythermalcomfort.clothing import clo_dynamic_iso
from pythermalcomfort.environment import v_relative
from pythermalcomfort.models import pmv_ppd_iso

from campuslab.analytics.comfort import (
    adaptive_category,
    adaptive_category_hours,
    daily_running_mean_outdoor_temperature,
    pmv_category,
    pmv_category_hours,
    pmv_ppd,
)
from campuslab.analytics.ieq import (
    co2_category_hours,
    heating_season_mask,
    humidity_category,
    humidity_category_hours,
    operative_temperature_category,
    operative_temperature_category_hours,
)

OSLO = ZoneInfo("Europe/Oslo")
NAN = math.nan


# -- PMV / PPD (ISO 7730) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tdb", "tr", "vr", "rh", "clo", "pmv", "ppd"),
    [
        # ISO 7730:2005 Annex D, Table D.1 (as in pythermalcomfort's validation data,
        # FedericoTartarini/validation-data-comfort-models, ts_pmv_ppd.json), 1.2 met
        (22.0, 22.0, 0.1, 60, 0.5, -0.75, 17),
        (27.0, 27.0, 0.1, 60, 0.5, 0.77, 17),
        (27.0, 27.0, 0.3, 60, 0.5, 0.44, 9),
        (19.0, 19.0, 0.1, 40, 1.0, -0.60, 13),
    ],
)
def test_pythermalcomfort_reproduces_iso_7730_annex_d(tdb, tr, vr, rh, clo, pmv, ppd):
    result = pmv_ppd_iso(tdb=tdb, tr=tr, vr=vr, rh=rh, met=1.2, clo=clo)
    assert float(result.pmv) == pytest.approx(pmv, abs=0.015)
    assert float(result.ppd) == pytest.approx(ppd, abs=0.6)


def test_the_briefs_case_at_50_percent_rh_is_minus_0_81_not_minus_0_75():
    # ISO 7730's -0.75 is at RH 60 %; at RH 50 % the same inputs give -0.81 (PPD 18.9 %).
    result = pmv_ppd_iso(tdb=22, tr=22, vr=0.1, rh=50, met=1.2, clo=0.5)
    assert (float(result.pmv), float(result.ppd)) == (-0.81, 18.9)


def test_our_pmv_reproduces_annex_d_row_1_with_static_clothing():
    # v = 0.04 m/s at 1.2 met gives vr = 0.04 + 0.3 × 0.2 = 0.1 m/s (v_relative)
    r = pmv_ppd([22.0], [60.0], False, clo_cooling=0.5, air_speed_m_s=0.04, dynamic_clothing=False)
    assert r.relative_air_speed_m_s == pytest.approx(0.1)
    assert r.pmv[0] == pytest.approx(-0.75, abs=0.005)
    assert r.ppd[0] == pytest.approx(16.9, abs=0.05)


def test_defaults_are_met_1_2_v_0_1_dynamic_clo_by_season_and_tr_equal_to_tdb():
    r = pmv_ppd([21.0, 24.0], [40.0, 45.0], [True, False])
    assert r.met == 1.2 and r.relative_air_speed_m_s == pytest.approx(0.16)
    clo = clo_dynamic_iso(clo=np.array([1.0, 0.5]), met=1.2, v=0.1)
    expected = pmv_ppd_iso(
        tdb=[21.0, 24.0],
        tr=[21.0, 24.0],
        vr=v_relative(0.1, 1.2),
        rh=[40.0, 45.0],
        met=1.2,
        clo=clo,
        round_output=False,
    )
    assert np.allclose(r.clo, clo)
    assert np.allclose(r.pmv, expected.pmv) and np.allclose(r.ppd, expected.ppd)


def test_the_season_chooses_the_clothing_so_the_same_room_feels_different():
    heating, cooling = pmv_ppd([22.0, 22.0], [40.0, 40.0], [True, False]).pmv
    assert heating > cooling + 0.5  # 1.0 clo in winter, 0.5 clo in summer


def test_pmv_is_nan_outside_validity_and_for_missing_inputs():
    r = pmv_ppd([35.0, NAN, 22.0], [40.0, 40.0, NAN], True)
    assert np.isnan(r.pmv).all() and np.isnan(r.ppd).all()


def test_pmv_inputs_are_validated():
    with pytest.raises(ValueError, match=r"met must be within 0\.8\.\.4"):
        pmv_ppd([22.0], [40.0], True, met=5)
    with pytest.raises(ValueError, match=r"rh must be 0\.\.100"):
        pmv_ppd([22.0], [140.0], True)


def test_iso_7730_categories_have_strict_limits():
    # ISO 7730 Annex A: A -0.2 < PMV < 0.2, B -0.5 < PMV < 0.5, C -0.7 < PMV < 0.7
    pmv = [0.0, 0.19, -0.2, 0.49, 0.5, -0.69, 0.7, -1.5, NAN]
    assert pmv_category(pmv).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 0]


def test_pmv_category_shares_count_only_occupied_hours():
    # six hours: four occupied with a PMV (A, B, B, outside), one occupied outside the
    # model's validity (no PMV), one empty hour at PMV 0 that must not count
    pmv = [0.1, 0.3, -0.4, -0.9, NAN, 0.0]
    ppd = [5.2, 6.9, 8.3, 22.1, NAN, 5.0]
    occupancy = [12, 30, 8, 4, 10, 0]
    r = pmv_category_hours(pmv, ppd, occupancy)
    assert r.hours.occupied_hours == 4
    assert r.hours.category_hours == {"A": 1, "B": 2, "C": 0, "outside": 1}
    assert r.hours.category_shares == {"A": 0.25, "B": 0.5, "C": 0.0, "outside": 0.25}
    assert r.hours.occupied_hours_without_value == 1
    assert r.mean_pmv == pytest.approx((0.1 + 0.3 - 0.4 - 0.9) / 4)
    assert r.mean_ppd == pytest.approx((5.2 + 6.9 + 8.3 + 22.1) / 4)


# -- EN 16798-1 categories -------------------------------------------------------------------


def test_delta_co2_category_shares():
    # EN 16798-1 Annex B, ΔCO₂ above outdoor: I ≤ 550, II ≤ 800, III ≤ 1350, IV above.
    # Outdoor 420 ppm: 970 is I (550, on the limit), 971 II, 1220 II (800), 1770 III (1350),
    # 1771 IV; an empty hour at 2500 ppm does not count.
    co2 = [600, 970, 971, 1220, 1770, 1771, 2500]
    people = [5, 5, 5, 5, 5, 5, 0]
    r = co2_category_hours(co2, people, outdoor_ppm=420)
    assert r.category_hours == {"I": 2, "II": 2, "III": 1, "IV": 1}
    assert r.category_shares["I"] == pytest.approx(2 / 6)
    assert r.hours_above_fhi_limit == 3  # FHI: > 1000 ppm (1220, 1770, 1771), occupied only
    # outdoor 400 ppm: ΔCO₂ 200 I, 570 II, 571 II, 820 III, 1370 IV, 1371 IV
    assert co2_category_hours(co2, people, outdoor_ppm=400).category_hours == {
        "I": 1,
        "II": 2,
        "III": 1,
        "IV": 2,
    }


def test_operative_temperature_categories_by_season_with_inclusive_limits():
    # EN 16798-1 Annex B, offices/classrooms ~1.2 met.
    # heating season: I 21–23, II 20–24, III 19–25; cooling: I 23.5–25.5, II 23–26, III 22–27
    heating = operative_temperature_category([21, 23, 20, 24.5, 19, 25.01, 18.9, NAN], True)
    assert heating.tolist() == [1, 1, 2, 3, 3, 4, 4, 0]
    cooling = operative_temperature_category([23.5, 25.5, 23, 26, 22, 27, 21.9, 27.1], False)
    assert cooling.tolist() == [1, 1, 2, 2, 3, 3, 4, 4]


def test_operative_temperature_shares_of_occupied_hours_switch_with_the_season():
    # the same 22 °C is category I in the heating season and III in the cooling season
    temperature = [22.0, 22.0, 22.0, 22.0]
    occupancy = [3, 3, 0, NAN]  # one empty hour, one with unknown occupancy: not counted
    winter = operative_temperature_category_hours(temperature, occupancy, True)
    summer = operative_temperature_category_hours(temperature, occupancy, False)
    assert winter.occupied_hours == summer.occupied_hours == 2
    assert winter.category_shares == {"I": 1.0, "II": 0.0, "III": 0.0, "IV": 0.0}
    assert summer.category_shares == {"I": 0.0, "II": 0.0, "III": 1.0, "IV": 0.0}


def test_relative_humidity_categories_and_shares():
    # EN 16798-1 Annex B: I 30–50 %, II 25–60 %, III 20–70 %, else IV
    assert humidity_category([30, 50, 25, 60, 20, 70, 19.9, 70.1]).tolist() == [
        1,
        1,
        2,
        2,
        3,
        3,
        4,
        4,
    ]
    r = humidity_category_hours([45, 55, 18, NAN, 45], [10, 10, 10, 10, 0])
    assert r.category_hours == {"I": 1, "II": 1, "III": 0, "IV": 1}
    assert r.category_shares["IV"] == pytest.approx(1 / 3)
    assert r.occupied_hours_without_value == 1
    with pytest.raises(ValueError, match=r"0\.\.100 %RH"):
        humidity_category([101])


def test_heating_season_switches_by_local_date():
    # default 1 October – 30 April (local dates), Oslo: UTC+2 in summer time, UTC+1 in winter
    hours = np.array(
        [
            "2026-04-30T21:30",  # 30 April 23:30 local: heating
            "2026-04-30T22:30",  # 1 May 00:30 local: cooling
            "2026-09-30T21:59",  # 30 September 23:59 local: cooling
            "2026-09-30T22:00",  # 1 October 00:00 local: heating
            "2026-12-31T23:00",  # 1 January 00:00 local: heating (the season wraps the year)
            "2026-07-01T12:00",
        ],
        dtype="datetime64[us]",
    )
    assert heating_season_mask(hours, OSLO).tolist() == [True, False, False, True, True, False]
    # a season that does not wrap: 15 May to 15 September as the "heating" range
    assert heating_season_mask(hours, OSLO, (5, 15), (9, 15)).tolist() == [
        False,
        False,
        False,
        False,
        False,
        True,
    ]


# -- the adaptive model (EN 16798-1) -----------------------------------------------------------


def test_running_mean_outdoor_temperature_from_daily_means():
    # EN 16798-1: θrm = Σ α^(i-1) θ(day-i) / Σ α^(i-1), i = 1..7, α = 0.8
    daily = [10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, NAN, 18.0]
    weights = 0.8 ** np.arange(7)
    expected_day_7 = float((weights * np.array(daily[:7][::-1])).sum() / weights.sum())
    running = daily_running_mean_outdoor_temperature(daily)
    assert np.isnan(running[:7]).all()
    assert running[7] == pytest.approx(round(expected_day_7, 1))  # pythermalcomfort rounds to 0.1
    # by hand: (16 + 0.8·15 + 0.64·14 + 0.512·13 + 0.4096·12 + 0.32768·11 + 0.262144·10)
    #          / 3.951424 = 54.757 / 3.951 = 13.86
    assert running[7] == 13.9
    # day 8 has all seven predecessors (days 1..7, each 1 K warmer): 14.86; day 9 lacks day 8
    assert running[8] == 14.9
    assert np.isnan(running[9])


def test_adaptive_categories_and_validity():
    # θc = 0.33 θrm + 18.8; I θc-3..θc+2, II θc-4..θc+3, III θc-5..θc+4
    # θrm 20 °C: θc 25.4; I 22.4–27.4, II 21.4–28.4, III 20.4–29.4
    operative = [25.0, 22.0, 21.0, 29.0, 30.0, 25.0, NAN]
    running = [20.0, 20.0, 20.0, 20.0, 20.0, 8.0, 20.0]  # 8 °C: outside 10–30, no judgement
    assert adaptive_category(operative, running).tolist() == [1, 2, 3, 3, 4, 0, 0]


def test_adaptive_shares_count_occupied_hours_and_say_which_were_outside_validity():
    r = adaptive_category_hours(
        [25.0, 22.0, 30.0, 24.0, 25.0], [20.0, 20.0, 20.0, 5.0, 20.0], [4, 4, 4, 4, 0]
    )
    assert r.hours.category_hours == {"I": 1, "II": 1, "III": 0, "outside": 1}
    assert r.hours.occupied_hours_without_value == 1
    assert r.occupied_hours_outside_validity == 1
