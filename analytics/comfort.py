"""Thermal comfort: PMV/PPD (ISO 7730) and the EN 16798-1 adaptive model, through pythermalcomfort.

Sources (METRICS.md, "Indoor environmental quality"):

- ISO 7730:2005 (the PMV/PPD equations are unchanged in the 2025 edition):
  Fanger's PMV and PPD, computed by ``pythermalcomfort.models.pmv_ppd_iso``
  (pythermalcomfort 4.x; it returns NaN outside the model's valid inputs:
  10 < tdb < 30 °C, 10 < tr < 40 °C, 0 < vr < 1 m/s, 0.8 < met < 4,
  0 < clo < 2, 0 < pa < 2700 Pa and -2 < PMV < 2). Relative air speed comes
  from ``pythermalcomfort.environment.v_relative`` and dynamic clothing
  insulation from ``pythermalcomfort.clothing.clo_dynamic_iso``.
  Comfort categories (ISO 7730 Annex A): A |PMV| < 0.2, B < 0.5, C < 0.7.
- EN 16798-1:2019 adaptive model, ``pythermalcomfort.models.adaptive_en``,
  with the running-mean outdoor temperature from daily means, α = 0.8
  (``pythermalcomfort.environment.running_mean_outdoor_temperature``).

Defaults where nothing is measured (METRICS.md; a site sets its own in
``AnalyticsSettings.comfort``): met 1.2; clo 1.0 in the heating season and 0.5
in the cooling season; air speed 0.1 m/s; mean radiant temperature equal to the
air temperature.

Verified here: pythermalcomfort 4.8.1 reproduces ISO 7730:2005 Annex D, Table
D.1, first row (tdb = tr = 22 °C, vr = 0.1 m/s, RH 60 %, 1.2 met, 0.5 clo:
PMV -0.75, PPD 17 %), the row also used by pythermalcomfort's validation data
(FedericoTartarini/validation-data-comfort-models, ts_pmv_ppd.json). With
RH 50 % instead the same inputs give PMV -0.81. Not verified: the standards'
own text (not available here).

Hours with no one present are not counted (METRICS.md): every share is over
occupied hours, and each result says how many occupied hours had no value, or
fell outside a model's range of validity.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from campuslab.analytics.ieq import NO_CATEGORY, CategoryHours, occupied_category_hours

DEFAULT_MET = 1.2
DEFAULT_CLO_HEATING = 1.0
DEFAULT_CLO_COOLING = 0.5
DEFAULT_AIR_SPEED_M_S = 0.1
RUNNING_MEAN_ALPHA = 0.8  # EN 16798-1
RUNNING_MEAN_DAYS = 7  # EN 16798-1 (as pythermalcomfort's docs say: n = 7)

PMV_CATEGORY_NAMES = ("A", "B", "C", "outside")
PMV_CATEGORY_LIMITS = (0.2, 0.5, 0.7)  # ISO 7730 Annex A: |PMV| strictly below
ADAPTIVE_CATEGORY_NAMES = ("I", "II", "III", "outside")


@dataclass(frozen=True)
class PredictedMeanVote:
    """PMV and PPD per value, with the inputs the model was given.

    Attributes:
        pmv: predicted mean vote (ISO 7730 scale, -3 cold .. +3 hot); NaN outside validity.
        ppd: predicted percentage of dissatisfied, %; NaN outside validity.
        clo: clothing insulation used, clo (dynamic when ``dynamic_clothing``).
        relative_air_speed_m_s: vr = v_relative(air speed, met), m/s.
        met: metabolic rate used, met.
    """

    pmv: np.ndarray
    ppd: np.ndarray
    clo: np.ndarray
    relative_air_speed_m_s: float
    met: float


@dataclass(frozen=True)
class PmvCategoryHours:
    """Occupied hours by ISO 7730 comfort category, and the mean PMV/PPD over them.

    Attributes:
        hours: occupied hours per category 'A', 'B', 'C', 'outside' (|PMV| ≥ 0.7);
            ``hours.occupied_hours_without_value`` counts occupied hours without a
            PMV: no temperature or humidity, or inputs outside the model's validity.
        mean_pmv: mean PMV over the categorised occupied hours; NaN if none.
        mean_ppd: mean PPD over them, %; NaN if none.
    """

    hours: CategoryHours
    mean_pmv: float
    mean_ppd: float


@dataclass(frozen=True)
class AdaptiveCategoryHours:
    """Occupied hours by EN 16798-1 adaptive category.

    Attributes:
        hours: occupied hours per category 'I', 'II', 'III', 'outside' (outside III);
            ``hours.occupied_hours_without_value`` counts occupied hours the model
            cannot judge: no indoor temperature, no running mean, or a running mean
            outside 10–30 °C (the model's range; a Norwegian winter is below it).
        occupied_hours_outside_validity: of those, hours with a running mean outside
            10–30 °C.
    """

    hours: CategoryHours
    occupied_hours_outside_validity: int


def _float_array(values: np.ndarray | float, name: str, unit: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers ({unit})") from None
    if array.ndim > 1:
        raise ValueError(f"{name} must be a number or a 1-D array, got shape {array.shape}")
    if np.isinf(array).any():
        raise ValueError(f"{name} must be finite {unit} (NaN marks a missing value)")
    return array


def _in_range(value: float, name: str, low: float, high: float, unit: str) -> float:
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise ValueError(f"{name} must be within {low:g}..{high:g} {unit}, got {value!r}")
    return number


def pmv_ppd(
    tdb: np.ndarray,
    rh: np.ndarray,
    heating_season: np.ndarray | bool,
    tr: np.ndarray | None = None,
    met: float = DEFAULT_MET,
    clo_heating: float = DEFAULT_CLO_HEATING,
    clo_cooling: float = DEFAULT_CLO_COOLING,
    air_speed_m_s: float = DEFAULT_AIR_SPEED_M_S,
    dynamic_clothing: bool = True,
) -> PredictedMeanVote:
    """PMV and PPD after ISO 7730, by ``pythermalcomfort.models.pmv_ppd_iso``.

    The relative air speed is ``v_relative(air_speed_m_s, met)`` (ISO 7730: the
    measured air speed plus 0.3 (met − 1) m/s for body movement). Clothing is
    ``clo_heating`` in the heating season and ``clo_cooling`` outside it; with
    ``dynamic_clothing`` it is corrected for activity and air speed by
    ``clo_dynamic_iso`` (ISO 7730 Annex C / ISO 9920), as pythermalcomfort's
    docs ask. The mean radiant temperature is the air temperature unless given.
    Vectorised; NaN where an input is missing or outside the model's validity
    (pythermalcomfort's warnings about those are silenced: callers count them).

    Args:
        tdb: air temperature, °C.
        rh: relative humidity, %.
        heating_season: True where the value is in the heating season (one flag per
            value, or one for all).
        tr: mean radiant temperature, °C; None when not measured (then tr = tdb).
        met: metabolic rate, met (default 1.2, seated office/classroom work).
        clo_heating, clo_cooling: intrinsic clothing insulation by season, clo.
        air_speed_m_s: air speed in the room, m/s (default 0.1).
        dynamic_clothing: apply ``clo_dynamic_iso`` (default True).

    Example: ISO 7730 Annex D, Table D.1, first row, with static clothing and an air
    speed that gives vr = 0.1 m/s at 1.2 met (0.04 + 0.3 × 0.2): PMV -0.75, PPD 17 %:

        >>> r = pmv_ppd([22.0], [60.0], False, met=1.2, clo_cooling=0.5,
        ...             air_speed_m_s=0.04, dynamic_clothing=False)
        >>> round(float(r.pmv[0]), 2), round(float(r.ppd[0]))
        (-0.75, 17)
    """
    air = _float_array(tdb, "tdb", "°C")
    humidity = _float_array(rh, "rh", "%")
    radiant = air if tr is None else _float_array(tr, "tr", "°C")
    air, humidity, radiant = np.broadcast_arrays(np.atleast_1d(air), humidity, radiant)
    if ((humidity < 0) | (humidity > 100)).any():
        raise ValueError("rh must be 0..100 %")
    met = _in_range(met, "met", 0.8, 4.0, "met")
    clo_heating = _in_range(clo_heating, "clo_heating", 0.0, 2.0, "clo")
    clo_cooling = _in_range(clo_cooling, "clo_cooling", 0.0, 2.0, "clo")
    air_speed = _in_range(air_speed_m_s, "air_speed_m_s", 0.0, 1.0, "m/s")
    heating = np.broadcast_to(np.asarray(heating_season, dtype=bool), air.shape)
    # pythermalcomfort is imported where it is used: it loads numba (~1 s), which
    # every `campuslab` command would otherwise pay at start-up
    from pythermalcomfort.clothing import clo_dynamic_iso
    from pythermalcomfort.environment import v_relative
    from pythermalcomfort.models import pmv_ppd_iso

    vr = float(v_relative(v=air_speed, met=met))
    clo = np.where(heating, clo_heating, clo_cooling).astype(np.float64)
    if dynamic_clothing:
        clo = np.asarray(clo_dynamic_iso(clo=clo, met=met, v=air_speed), dtype=np.float64)
    pmv = np.full(air.shape, np.nan)
    ppd = np.full(air.shape, np.nan)
    known = ~(np.isnan(air) | np.isnan(humidity) | np.isnan(radiant))
    if known.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            result = pmv_ppd_iso(
                tdb=air[known],
                tr=radiant[known],
                vr=vr,
                rh=humidity[known],
                met=met,
                clo=clo[known],
                round_output=False,
            )
        pmv[known] = result.pmv
        ppd[known] = result.ppd
    return PredictedMeanVote(pmv, ppd, clo, vr, met)


def pmv_category(pmv: np.ndarray) -> np.ndarray:
    """ISO 7730 comfort category of PMV (Annex A): A |PMV| < 0.2, B < 0.5, C < 0.7, else outside.

    Args:
        pmv: predicted mean vote; NaN where there is none.

    Returns:
        int array: 1 A, 2 B, 3 C, 4 outside; 0 where ``pmv`` is NaN.

    Example (the limits are strict: |PMV| = 0.2 is B):

        >>> pmv_category([0.1, -0.2, 0.45, -0.69, 0.7, float("nan")]).tolist()
        [1, 2, 2, 3, 4, 0]
    """
    values = _float_array(pmv, "pmv", "PMV")
    magnitude = np.abs(np.atleast_1d(values))
    category = np.searchsorted(np.asarray(PMV_CATEGORY_LIMITS), magnitude, side="right") + 1
    return np.where(np.isnan(magnitude), NO_CATEGORY, category).astype(np.int64)


def pmv_category_hours(
    hourly_pmv: np.ndarray, hourly_ppd: np.ndarray, hourly_occupancy: np.ndarray
) -> PmvCategoryHours:
    """Occupied hours in each ISO 7730 category, and mean PMV and PPD over them.

    Args:
        hourly_pmv: PMV per hour (from hourly means); NaN where there is none.
        hourly_ppd: PPD per hour, %, aligned.
        hourly_occupancy: people per hour (hourly mean), aligned; > 0 is occupied.

    Example: four occupied hours with PMV 0.1, -0.3, -0.6 and -0.9, and an empty hour:

        >>> r = pmv_category_hours([0.1, -0.3, -0.6, -0.9, 1.5], [5.2, 6.9, 12.5, 22.1, 50.0],
        ...                        [8, 10, 12, 3, 0])
        >>> r.hours.category_hours, round(r.mean_pmv, 3), round(r.mean_ppd, 3)
        ({'A': 1, 'B': 1, 'C': 1, 'outside': 1}, -0.425, 11.675)
    """
    pmv = _float_array(hourly_pmv, "hourly_pmv", "PMV")
    ppd = _float_array(hourly_ppd, "hourly_ppd", "%")
    occupancy = _float_array(hourly_occupancy, "hourly_occupancy", "people")
    if not pmv.shape == ppd.shape == occupancy.shape:
        raise ValueError(
            f"hourly_pmv {pmv.shape}, hourly_ppd {ppd.shape} and hourly_occupancy "
            f"{occupancy.shape} must have one value per hour each"
        )
    hours = occupied_category_hours(pmv_category(pmv), occupancy, PMV_CATEGORY_NAMES)
    counted = (occupancy > 0) & ~np.isnan(pmv)
    return PmvCategoryHours(
        hours=hours,
        mean_pmv=float(pmv[counted].mean()) if counted.any() else math.nan,
        mean_ppd=float(ppd[counted].mean()) if counted.any() else math.nan,
    )


def daily_running_mean_outdoor_temperature(
    daily_mean_c: np.ndarray,
    alpha: float = RUNNING_MEAN_ALPHA,
    days: int = RUNNING_MEAN_DAYS,
) -> np.ndarray:
    """The running-mean outdoor temperature of each day, from the daily means before it.

    EN 16798-1: θrm = Σ α^(i−1) θ(day−i) / Σ α^(i−1), i = 1..n, over the ``days``
    daily means *before* the day (yesterday first), α = 0.8, n = 7; computed by
    ``pythermalcomfort.environment.running_mean_outdoor_temperature`` (rounded to
    0.1 °C). A day whose previous ``days`` means are not all known gets NaN.

    Args:
        daily_mean_c: daily mean outdoor temperature of consecutive days, oldest
            first, °C; NaN for a day without data.
        alpha: the running-mean constant, 0 < α < 1 (default 0.8).
        days: how many previous days enter (default 7).

    Returns:
        θrm per day, °C, aligned with ``daily_mean_c``; NaN for the first ``days``
        days and wherever a previous day is missing.

    Example: seven days at 12 °C then one at 20 °C: the eighth day's running mean is
    12 °C; the ninth day's is (20 + 12 × 2.95) / 3.95 = 14.0 °C (yesterday weighs 1 of
    Σ 0.8^k = 3.95):

        >>> daily_running_mean_outdoor_temperature([12] * 7 + [20, 20]).tolist()[6:]
        [nan, 12.0, 14.0]
    """
    means = _float_array(daily_mean_c, "daily_mean_c", "°C")
    if means.ndim != 1:
        raise ValueError("daily_mean_c must be a 1-D array of consecutive days")
    alpha = _in_range(alpha, "alpha", 0.0, 1.0, "")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (exclusive), got {alpha}")
    if int(days) != days or days < 1:
        raise ValueError(f"days must be a whole number >= 1, got {days!r}")
    from pythermalcomfort.environment import running_mean_outdoor_temperature

    running = np.full(means.shape, np.nan)
    for day in range(days, means.size):
        previous = means[day - days : day][::-1]  # yesterday first
        if not np.isnan(previous).any():
            running[day] = running_mean_outdoor_temperature(previous.tolist(), alpha=alpha)
    return running


def adaptive_category(
    operative_c: np.ndarray,
    t_running_mean_c: np.ndarray,
    air_speed_m_s: float = DEFAULT_AIR_SPEED_M_S,
) -> np.ndarray:
    """EN 16798-1 adaptive comfort category, by ``pythermalcomfort.models.adaptive_en``.

    θc = 0.33 θrm + 18.8 °C; category I is θc − 3 .. θc + 2 K, II θc − 4 .. θc + 3,
    III θc − 5 .. θc + 4 (upper limits raised for air speed above 0.6 m/s). The
    model applies to buildings without mechanical cooling, to sedentary people
    who can open windows and adapt their clothing, and for 10 ≤ θrm ≤ 30 °C;
    outside that range it gives no category (NaN → 0).

    Args:
        operative_c: indoor operative temperature, °C (= air temperature when the
            mean radiant temperature is not measured); NaN where missing.
        t_running_mean_c: running-mean outdoor temperature, °C, per value.
        air_speed_m_s: indoor air speed, m/s (default 0.1).

    Returns:
        int array: 1 I, 2 II, 3 III, 4 outside III; 0 where there is no judgement.

    Example (pythermalcomfort's own case: 25 °C with θrm 20 °C is θc 25.4, category I;
    28.5 °C is outside I (27.4) and II (28.4) but in III; θrm 5 °C is outside validity):

        >>> adaptive_category([25.0, 28.5, 22.0], [20.0, 20.0, 5.0]).tolist()
        [1, 3, 0]
    """
    temperature = np.atleast_1d(_float_array(operative_c, "operative_c", "°C"))
    running = _float_array(t_running_mean_c, "t_running_mean_c", "°C")
    temperature, running = np.broadcast_arrays(temperature, running)
    air_speed = _in_range(air_speed_m_s, "air_speed_m_s", 0.0, 5.0, "m/s")
    category = np.zeros(temperature.shape, dtype=np.int64)
    known = ~(np.isnan(temperature) | np.isnan(running))
    if not known.any():
        return category
    from pythermalcomfort.models import adaptive_en

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        result = adaptive_en(
            tdb=temperature[known],
            tr=temperature[known],
            t_running_mean=running[known],
            v=air_speed,
            round_output=False,
        )
    flags = [np.asarray(result.acceptability_cat_i, dtype=np.float64)]
    flags += [np.asarray(result.acceptability_cat_ii, dtype=np.float64)]
    flags += [np.asarray(result.acceptability_cat_iii, dtype=np.float64)]
    i, ii, iii = (np.broadcast_to(f, running[known].shape) for f in flags)
    judged = np.select([i == 1, ii == 1, iii == 1, iii == 0], [1, 2, 3, 4], default=0)
    category[known] = judged
    return category


def adaptive_category_hours(
    hourly_operative_c: np.ndarray,
    hourly_running_mean_c: np.ndarray,
    hourly_occupancy: np.ndarray,
    air_speed_m_s: float = DEFAULT_AIR_SPEED_M_S,
) -> AdaptiveCategoryHours:
    """Occupied hours in the EN 16798-1 adaptive categories I, II, III (``adaptive_category``).

    Args:
        hourly_operative_c: hourly mean operative temperature, °C; NaN where missing.
        hourly_running_mean_c: the running-mean outdoor temperature of each hour's day, °C.
        hourly_occupancy: hourly mean people, aligned; > 0 is occupied.
        air_speed_m_s: indoor air speed, m/s.

    Example: a mild spell (θrm 15 °C, θc 23.75 °C; III is 18.75–27.75 °C) with people at
    23, 27.5 and 18 °C, and one occupied hour on a winter day (θrm 2 °C) the model
    does not cover:

        >>> r = adaptive_category_hours([23, 27.5, 18, 21], [15, 15, 15, 2], [5, 5, 5, 5])
        >>> r.hours.category_hours, r.hours.occupied_hours_without_value
        ({'I': 1, 'II': 0, 'III': 1, 'outside': 1}, 1)
        >>> r.occupied_hours_outside_validity
        1
    """
    temperature = _float_array(hourly_operative_c, "hourly_operative_c", "°C")
    running = _float_array(hourly_running_mean_c, "hourly_running_mean_c", "°C")
    occupancy = _float_array(hourly_occupancy, "hourly_occupancy", "people")
    if not temperature.shape == running.shape == occupancy.shape:
        raise ValueError(
            "hourly_operative_c, hourly_running_mean_c and hourly_occupancy must have one "
            "value per hour each"
        )
    categories = adaptive_category(temperature, running, air_speed_m_s)
    hours = occupied_category_hours(categories, occupancy, ADAPTIVE_CATEGORY_NAMES)
    outside = (occupancy > 0) & ~np.isnan(running) & ((running < 10) | (running > 30))
    return AdaptiveCategoryHours(hours, int(outside.sum()))


def warm_up() -> None:
    """Compile pythermalcomfort's numba functions now, on tiny inputs.

    The first PMV/PPD call in a process compiles them (seconds to tens of seconds on a
    slow machine); `serve` and `api` call this in a background thread at start-up so no
    caller of /ieq waits for it.
    """
    tdb = np.array([22.0, 26.0, np.nan])
    rh = np.array([50.0, 40.0, 45.0])
    pmv_ppd(tdb, rh, np.array([True, False, True]))
    pmv_ppd(tdb, rh, True, dynamic_clothing=False)
    adaptive_category(tdb, np.array([15.0, 15.0, 15.0]))
    daily_running_mean_outdoor_temperature(np.full(RUNNING_MEAN_DAYS + 1, 12.0))
