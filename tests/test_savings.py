"""IPMVP Option C: degree-day baseline, avoided energy, and ASHRAE Guideline 14's refusal."""

from __future__ import annotations

import math

import numpy as np
import pytest

from campuslab.analytics.savings import (
    BaselineRejected,
    Guideline14Limits,
    avoided_energy,
    cv_rmse,
    fit_baseline,
    nmbe,
)


def test_cv_rmse_and_nmbe_by_hand_on_a_tiny_example():
    # x = HDD 0, 1, 2, 3; y = 1, 3, 2, 5 kWh. Least squares: x̄ = 1.5, ȳ = 2.75,
    # Sxy = 5.5, Sxx = 5 → βH = 1.1, β0 = 2.75 − 1.65 = 1.1; ŷ = 1.1, 2.2, 3.3, 4.4;
    # residuals -0.1, 0.8, -1.3, 0.6; Σr² = 0.01 + 0.64 + 1.69 + 0.36 = 2.7; n − p = 2
    # CV(RMSE) = √(2.7 / 2) / 2.75 = 1.161895 / 2.75 = 0.422507; NMBE = 0 / (2 × 2.75) = 0
    loose = Guideline14Limits(cv_rmse=0.5, nmbe=0.05)
    model = fit_baseline([1, 3, 2, 5], [0, 1, 2, 3], limits=loose)
    assert (model.intercept_kwh, model.kwh_per_degree_day) == pytest.approx((1.1, 1.1))
    assert model.cv_rmse == pytest.approx(0.422507, abs=1e-6)
    assert model.nmbe == pytest.approx(0.0, abs=1e-12)
    assert (model.n, model.p) == (4, 2)
    assert cv_rmse([1, 3, 2, 5], [1.1, 2.2, 3.3, 4.4], 2) == pytest.approx(0.422507, abs=1e-6)


def test_nmbe_by_hand_for_a_biased_model():
    # y = 10, 12, 14 against ŷ = 9, 11, 13, p = 1: Σ(y − ŷ) = 3, (n − p)·ȳ = 2 × 12 = 24
    assert nmbe([10, 12, 14], [9, 11, 13], 1) == 0.125
    # CV(RMSE): √(3 / 2) / 12 = 0.102062
    assert cv_rmse([10, 12, 14], [9, 11, 13], 1) == pytest.approx(math.sqrt(1.5) / 12)


def test_a_noisy_linear_baseline_is_recovered():
    # 120 winter days, E = 800 + 45·HDD + N(0, 30²) kWh, HDD 5..30
    rng = np.random.default_rng(20260105)
    hdd = rng.uniform(5, 30, 120)
    energy = 800 + 45 * hdd + rng.normal(0, 30, 120)
    model = fit_baseline(energy, hdd)
    # standard errors: β0 ≈ 30 · √(1/n + x̄²/Sxx) ≈ 8.6 kWh, βH ≈ 30 / √Sxx ≈ 0.46 kWh/HDD
    assert model.intercept_kwh == pytest.approx(800, abs=30)
    assert model.kwh_per_degree_day == pytest.approx(45, abs=1.5)
    # CV(RMSE) ≈ σ / ȳ = 30 / (800 + 45 × 17.5) ≈ 1.9 %
    assert model.cv_rmse == pytest.approx(30 / (800 + 45 * hdd.mean()), rel=0.15)
    assert abs(model.nmbe) < 1e-12  # OLS with an intercept: no bias on its own data


def test_avoided_energy_is_predicted_minus_measured_in_the_reporting_period():
    model = fit_baseline([500, 900, 1300, 1700, 2100, 2500], [0, 10, 20, 30, 40, 50])
    # reporting days at 12 and 25 HDD: predicted 980 and 1500; measured 900 and 1350
    r = avoided_energy(model, [900, 1350], [12, 25])
    assert r.predicted_kwh == pytest.approx(2480)
    assert r.avoided_kwh == pytest.approx(80 + 150)
    assert r.avoided_share == pytest.approx(230 / 2480)


def test_an_occupancy_term_is_optional():
    rng = np.random.default_rng(7)
    hdd = rng.uniform(0, 25, 60)
    occupant_hours = rng.uniform(500, 3000, 60)
    energy = 300 + 40 * hdd + 0.5 * occupant_hours
    model = fit_baseline(energy, hdd, occupant_hours)
    assert model.p == 3
    assert model.kwh_per_occupant_hour == pytest.approx(0.5)
    with pytest.raises(ValueError, match="give occupant_hours"):
        model.predict([10.0])


def test_a_bad_baseline_is_refused_with_the_numbers():
    # the tiny example: CV(RMSE) 42.3 % against the 20 % limit for daily data
    with pytest.raises(BaselineRejected) as refused:
        fit_baseline([1, 3, 2, 5], [0, 1, 2, 3])
    assert str(refused.value) == (
        "baseline rejected (ASHRAE Guideline 14, daily data, n = 4, p = 2): "
        "CV(RMSE) 42.3% is above the 20% limit"
    )
    assert refused.value.model.cv_rmse == pytest.approx(0.4225, abs=1e-4)
    # monthly data have the stricter 15 % limit; hourly the looser 30 %
    with pytest.raises(BaselineRejected, match="above the 15% limit"):
        fit_baseline([1, 3, 2, 5], [0, 1, 2, 3], granularity="monthly")


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="hdd does not vary"):
        fit_baseline([1, 2, 3], [5, 5, 5])
    with pytest.raises(ValueError, match="more periods than parameters"):
        fit_baseline([1, 2], [0, 1])
    with pytest.raises(ValueError, match="index 1 is nan"):
        fit_baseline([1, math.nan, 3], [0, 1, 2])
    with pytest.raises(ValueError, match="granularity must be one of"):
        fit_baseline([1, 2, 3, 5], [0, 1, 2, 3], granularity="yearly")
