"""Savings by IPMVP Option C (whole facility): a degree-day baseline, checked before use.

Sources (METRICS.md, "Savings (IPMVP Option C)"):

- IPMVP Option C: fit a baseline model E = β0 + βH·HDD (+ βocc·occupancy) on
  the baseline period's measured energy; the avoided energy of a reporting
  period is Σ(predicted − measured), the baseline model driven by the
  reporting period's HDD (and occupancy).
- Goodness of fit, as METRICS.md writes them (ASHRAE Guideline 14 form, with
  p the number of model parameters):
  CV(RMSE) = √(Σ(y − ŷ)² / (n − p)) / ȳ and NMBE = Σ(y − ŷ) / ((n − p) · ȳ).
- A baseline is used only when it meets ASHRAE Guideline 14's limits; else
  ``fit_baseline`` refuses it (``BaselineRejected``, with the numbers).

Limits by data granularity (``GUIDELINE_14_LIMITS``; a caller may pass its own):

| data | CV(RMSE) | NMBE | where the numbers come from |
|---|---|---|---|
| monthly | 15 % | ±5 % | Guideline 14 calibration criteria, monthly data |
| hourly | 30 % | ±10 % | Guideline 14 calibration criteria, hourly data |
| daily, weekly | 20 % | ±5 % | our choice, see below |

Guideline 14 gives calibration limits for monthly and hourly data only (as
quoted by secondary sources; the Guideline's text was not available here).
For whole-building regression baselines METRICS.md says Guideline 14 asks for
CV(RMSE) ≤ 20–30 % for energy "depending on how much data there is" — the
Guideline's whole-building path, as we recall it, allows 20 % with under 12
months of post-retrofit data, 25 % with 12–60 months and 30 % beyond, which we
could not verify here. For daily (and weekly) data we take the strictest,
20 %, and the monthly bias limit ±5 %. An ordinary least-squares fit with an
intercept has Σ(y − ŷ) = 0 on its own data, so NMBE on the baseline period is
0 up to rounding; the check matters for a model evaluated on other data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

Granularity = Literal["hourly", "daily", "weekly", "monthly"]


@dataclass(frozen=True)
class Guideline14Limits:
    """Largest acceptable CV(RMSE) and |NMBE|, as fractions (0.2 = 20 %)."""

    cv_rmse: float
    nmbe: float


GUIDELINE_14_LIMITS: dict[str, Guideline14Limits] = {
    "monthly": Guideline14Limits(cv_rmse=0.15, nmbe=0.05),
    "weekly": Guideline14Limits(cv_rmse=0.20, nmbe=0.05),
    "daily": Guideline14Limits(cv_rmse=0.20, nmbe=0.05),
    "hourly": Guideline14Limits(cv_rmse=0.30, nmbe=0.10),
}


class BaselineRejected(ValueError):
    """A baseline model that fails ASHRAE Guideline 14's limits; the message has the numbers."""

    def __init__(self, model: BaselineModel, reasons: list[str]) -> None:
        self.model = model
        self.reasons = reasons
        super().__init__(
            f"baseline rejected (ASHRAE Guideline 14, {model.granularity} data, n = {model.n}, "
            f"p = {model.p}): " + "; ".join(reasons)
        )


def _vector(values: np.ndarray, name: str, unit: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers ({unit})") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {array.shape}")
    if not np.isfinite(array).all():
        i = int(np.flatnonzero(~np.isfinite(array))[0])
        raise ValueError(
            f"{name} must be finite {unit}; index {i} is {array[i]} (leave periods without "
            "data out of the fit)"
        )
    return array


def _degrees_of_freedom(n: int, p: int) -> int:
    if p < 1 or n <= p:
        raise ValueError(f"need more periods than parameters: n = {n}, p = {p}")
    return n - p


def cv_rmse(measured: np.ndarray, predicted: np.ndarray, parameters: int) -> float:
    """CV(RMSE) = √(Σ(y − ŷ)² / (n − p)) / ȳ, a fraction (METRICS.md; ASHRAE Guideline 14).

    Args:
        measured: y, the measured energy per period, kWh.
        predicted: ŷ, the model's energy per period, kWh.
        parameters: p, the number of model parameters.

    Example: y = 1, 3, 2, 5 against ŷ = 1.1, 2.2, 3.3, 4.4 with p = 2: Σ(y − ŷ)² = 2.7,
    √(2.7 / 2) / 2.75 = 0.4225:

        >>> round(cv_rmse([1, 3, 2, 5], [1.1, 2.2, 3.3, 4.4], 2), 4)
        0.4225
    """
    y = _vector(measured, "measured", "kWh")
    y_hat = _vector(predicted, "predicted", "kWh")
    if y.shape != y_hat.shape:
        raise ValueError("measured and predicted must have one value per period each")
    mean = float(y.mean()) if y.size else math.nan
    if not mean > 0:
        raise ValueError(f"the mean measured energy must be > 0 kWh, got {mean}")
    dof = _degrees_of_freedom(y.size, parameters)
    return math.sqrt(float(((y - y_hat) ** 2).sum()) / dof) / mean


def nmbe(measured: np.ndarray, predicted: np.ndarray, parameters: int) -> float:
    """NMBE = Σ(y − ŷ) / ((n − p) · ȳ), a fraction (METRICS.md; ASHRAE Guideline 14).

    Positive when the model predicts less than was measured.

    Args:
        measured: y, kWh per period.
        predicted: ŷ, kWh per period.
        parameters: p, the number of model parameters.

    Example: y = 10, 12, 14 against ŷ = 9, 11, 13 with p = 1: 3 / (2 × 12) = 0.125:

        >>> nmbe([10, 12, 14], [9, 11, 13], 1)
        0.125
    """
    y = _vector(measured, "measured", "kWh")
    y_hat = _vector(predicted, "predicted", "kWh")
    if y.shape != y_hat.shape:
        raise ValueError("measured and predicted must have one value per period each")
    mean = float(y.mean()) if y.size else math.nan
    if not mean > 0:
        raise ValueError(f"the mean measured energy must be > 0 kWh, got {mean}")
    dof = _degrees_of_freedom(y.size, parameters)
    return float((y - y_hat).sum()) / (dof * mean)


@dataclass(frozen=True)
class BaselineModel:
    """A fitted baseline E = β0 + βH·HDD (+ βocc·occupancy), per period.

    Attributes:
        intercept_kwh: β0, kWh per period (the temperature-independent part).
        kwh_per_degree_day: βH, kWh per heating degree day.
        kwh_per_occupant_hour: βocc, kWh per occupant-hour; None without that term.
        n: periods in the baseline; p: parameters (2 or 3).
        cv_rmse, nmbe: goodness of fit on the baseline, fractions.
        granularity: 'daily', 'weekly', ...; limits: the Guideline 14 limits checked.
    """

    intercept_kwh: float
    kwh_per_degree_day: float
    kwh_per_occupant_hour: float | None
    n: int
    p: int
    cv_rmse: float
    nmbe: float
    granularity: str
    limits: Guideline14Limits

    def predict(self, hdd: np.ndarray, occupant_hours: np.ndarray | None = None) -> np.ndarray:
        """Baseline energy per period for the given degree days (and occupant-hours), kWh."""
        degree_days = _vector(hdd, "hdd", "K·day")
        predicted = self.intercept_kwh + self.kwh_per_degree_day * degree_days
        if self.kwh_per_occupant_hour is not None:
            if occupant_hours is None:
                raise ValueError("this baseline has an occupancy term: give occupant_hours")
            occupancy = _vector(occupant_hours, "occupant_hours", "h")
            if occupancy.shape != degree_days.shape:
                raise ValueError("hdd and occupant_hours must have one value per period each")
            predicted = predicted + self.kwh_per_occupant_hour * occupancy
        return predicted


def _limits(granularity: str, limits: Guideline14Limits | None) -> Guideline14Limits:
    if limits is not None:
        return limits
    try:
        return GUIDELINE_14_LIMITS[granularity]
    except KeyError:
        raise ValueError(
            f"granularity must be one of {', '.join(GUIDELINE_14_LIMITS)}, got {granularity!r}"
        ) from None


def fit_baseline(
    energy_kwh: np.ndarray,
    hdd: np.ndarray,
    occupant_hours: np.ndarray | None = None,
    granularity: Granularity = "daily",
    limits: Guideline14Limits | None = None,
) -> BaselineModel:
    """Fit the IPMVP Option C baseline E = β0 + βH·HDD (+ βocc·occupancy) by least squares.

    Ordinary least squares (``numpy.linalg.lstsq``) on the baseline period's
    periods (days, weeks or months). The model is refused when its CV(RMSE) or
    |NMBE| exceeds the Guideline 14 limits for the granularity (module docstring).

    Args:
        energy_kwh: measured energy per period, kWh.
        hdd: heating degree days per period, K·day (base 17 °C in Norway).
        occupant_hours: occupant-hours per period, h; None for a model without it.
        granularity: 'daily' (default), 'weekly', 'monthly' or 'hourly': picks the limits.
        limits: overrides the limits.

    Raises:
        BaselineRejected: the fit fails the limits; the message gives CV(RMSE), NMBE,
            the limits, n and p.
        ValueError: bad inputs, or no more periods than parameters, or no spread in HDD.

    Example: E = 500 + 40·HDD exactly, over six days:

        >>> m = fit_baseline([500, 900, 1300, 1700, 2100, 2500], [0, 10, 20, 30, 40, 50])
        >>> round(m.intercept_kwh, 6), round(m.kwh_per_degree_day, 6), round(m.cv_rmse, 6)
        (500.0, 40.0, 0.0)
    """
    y = _vector(energy_kwh, "energy_kwh", "kWh")
    degree_days = _vector(hdd, "hdd", "K·day")
    if degree_days.shape != y.shape:
        raise ValueError(
            f"energy_kwh has {y.size} periods but hdd has {degree_days.size}; "
            "give one HDD value per period"
        )
    if (degree_days < 0).any():
        raise ValueError("hdd must be >= 0 degree days")
    if degree_days.size == 0 or np.ptp(degree_days) == 0:
        raise ValueError(
            "hdd does not vary over the baseline period: the degree-day slope cannot be fitted"
        )
    columns = [np.ones_like(y), degree_days]
    if occupant_hours is not None:
        occupancy = _vector(occupant_hours, "occupant_hours", "h")
        if occupancy.shape != y.shape:
            raise ValueError("occupant_hours must have one value per period")
        columns.append(occupancy)
    design = np.column_stack(columns)
    p = design.shape[1]
    _degrees_of_freedom(y.size, p)
    chosen = _limits(granularity, limits)
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    predicted = design @ beta
    model = BaselineModel(
        intercept_kwh=float(beta[0]),
        kwh_per_degree_day=float(beta[1]),
        kwh_per_occupant_hour=float(beta[2]) if p == 3 else None,
        n=int(y.size),
        p=p,
        cv_rmse=cv_rmse(y, predicted, p),
        nmbe=nmbe(y, predicted, p),
        granularity=granularity,
        limits=chosen,
    )
    reasons = []
    if model.cv_rmse > chosen.cv_rmse:
        reasons.append(f"CV(RMSE) {model.cv_rmse:.1%} is above the {chosen.cv_rmse:.0%} limit")
    if abs(model.nmbe) > chosen.nmbe:
        reasons.append(f"NMBE {model.nmbe:+.1%} is outside ±{chosen.nmbe:.0%}")
    if reasons:
        raise BaselineRejected(model, reasons)
    return model


@dataclass(frozen=True)
class AvoidedEnergy:
    """IPMVP avoided energy over a reporting period.

    Attributes:
        avoided_kwh: Σ(predicted − measured), kWh (positive: less was used than the
            baseline predicts for these conditions).
        predicted_kwh: Σ predicted (the adjusted baseline), kWh.
        measured_kwh: Σ measured, kWh.
        periods: periods in the reporting period.
    """

    avoided_kwh: float
    predicted_kwh: float
    measured_kwh: float
    periods: int

    @property
    def avoided_share(self) -> float:
        """avoided / predicted (NaN when nothing was predicted)."""
        return self.avoided_kwh / self.predicted_kwh if self.predicted_kwh else math.nan


def avoided_energy(
    baseline: BaselineModel,
    energy_kwh: np.ndarray,
    hdd: np.ndarray,
    occupant_hours: np.ndarray | None = None,
) -> AvoidedEnergy:
    """Avoided energy = Σ(predicted − measured) over the reporting period (IPMVP Option C).

    Args:
        baseline: the fitted baseline (``fit_baseline``).
        energy_kwh: measured energy per reporting period, kWh.
        hdd: heating degree days per reporting period.
        occupant_hours: occupant-hours per period, when the baseline has that term.

    Example: baseline 500 + 40·HDD; two reporting days at 20 and 30 HDD used 1 200 and
    1 500 kWh against 1 300 and 1 700 predicted: 300 kWh avoided:

        >>> m = fit_baseline([500, 900, 1300, 1700, 2100, 2500], [0, 10, 20, 30, 40, 50])
        >>> r = avoided_energy(m, [1200, 1500], [20, 30])
        >>> round(r.avoided_kwh, 6), round(r.predicted_kwh, 6)
        (300.0, 3000.0)
    """
    measured = _vector(energy_kwh, "energy_kwh", "kWh")
    predicted = baseline.predict(hdd, occupant_hours)
    if predicted.shape != measured.shape:
        raise ValueError("energy_kwh and hdd must have one value per period each")
    return AvoidedEnergy(
        avoided_kwh=float((predicted - measured).sum()),
        predicted_kwh=float(predicted.sum()),
        measured_kwh=float(measured.sum()),
        periods=int(measured.size),
    )


# -- checking a baseline, for callers that show the checks ----------------------------------

# Our choice, not Guideline 14's: a daily baseline shorter than two weeks holds each weekday
# at most once, so the weekly cycle of a campus building (teaching days, weekends) cannot
# average out of the fit. IPMVP asks that the baseline period cover a full cycle of the
# facility's operating modes; a whole heating season (or year) is better still.
MIN_BASELINE_DAYS = 14


@dataclass(frozen=True)
class Guideline14Check:
    """One ASHRAE Guideline 14 criterion applied to a baseline model.

    Attributes:
        criterion: 'cv_rmse' or 'nmbe'.
        value: the model's figure, a fraction (NMBE signed).
        limit: the largest acceptable value (CV(RMSE)) or |value| (NMBE), a fraction.
        passed: whether the model meets it.
    """

    criterion: Literal["cv_rmse", "nmbe"]
    value: float
    limit: float
    passed: bool


def guideline_14_checks(model: BaselineModel) -> tuple[Guideline14Check, Guideline14Check]:
    """The CV(RMSE) and NMBE checks ``fit_baseline`` applies, each with its value and limit.

    The same comparisons as ``fit_baseline``: CV(RMSE) ≤ limit and |NMBE| ≤ limit.

    Example: the tiny example of ``cv_rmse`` (CV(RMSE) 42.3 %) fails the 20 % daily limit:

        >>> try:
        ...     fit_baseline([1, 3, 2, 5], [0, 1, 2, 3])
        ... except BaselineRejected as refused:
        ...     checks = guideline_14_checks(refused.model)
        >>> [(c.criterion, c.limit, c.passed) for c in checks], round(checks[0].value, 4)
        ([('cv_rmse', 0.2, False), ('nmbe', 0.05, True)], 0.4225)
    """
    limits = model.limits
    return (
        Guideline14Check("cv_rmse", model.cv_rmse, limits.cv_rmse, model.cv_rmse <= limits.cv_rmse),
        Guideline14Check("nmbe", model.nmbe, limits.nmbe, abs(model.nmbe) <= limits.nmbe),
    )
