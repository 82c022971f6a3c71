"""Indoor environment by EN 16798-1 category: CO₂ (and FHI's 1000 ppm), temperature, humidity.

Sources (METRICS.md, "Indoor environmental quality"):

- EN 16798-1:2019, Annex B, default design CO₂ concentrations *above outdoor*
  for non-residential buildings: category I ΔCO₂ ≤ 550 ppm, II ≤ 800 ppm,
  III ≤ 1350 ppm, IV > 1350 ppm. METRICS.md takes these from secondary sources
  and marks them for verification against the standard's text.
- Folkehelseinstituttet's recommended norm, CO₂ ≤ 1000 ppm, as used in
  Arbeidstilsynet's guidance 444 on indoor climate at work.
- EN 16798-1:2019, Annex B, operative temperature for offices and classrooms
  at about 1.2 met, heating and cooling season, and relative humidity; see
  ``operative_temperature_category`` and ``humidity_category`` (same caveat:
  secondary sources, to be verified against the standard).
- IEQ is reported as the share of *occupied* hours in each category; hours
  with no one present are not counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np

from campuslab.analytics.local_time import as_utc_instants, local_dates

CATEGORY_NAMES = ("I", "II", "III", "IV")
# Upper bounds of ΔCO₂ (ppm above outdoor) for categories I, II, III; above the last is IV.
DELTA_CO2_LIMITS_PPM = (550.0, 800.0, 1350.0)
DEFAULT_OUTDOOR_CO2_PPM = 420.0
FHI_CO2_LIMIT_PPM = 1000.0
NO_CATEGORY = 0  # the category given to a missing (NaN) CO₂ value


@dataclass(frozen=True)
class Co2CategoryHours:
    """Occupied hours by EN 16798-1 CO₂ category, and hours above the FHI norm.

    Attributes:
        occupied_hours: hours with occupancy > 0 and a CO₂ value; the denominator
            of the shares.
        category_hours: hours per category, keyed 'I', 'II', 'III', 'IV'.
        hours_above_fhi_limit: occupied hours with CO₂ above the limit (absolute
            ppm, default 1000).
        occupied_hours_without_co2: occupied hours with no CO₂ value; not categorised.
    """

    occupied_hours: int
    category_hours: dict[str, int] = field(hash=False)
    hours_above_fhi_limit: int
    occupied_hours_without_co2: int = 0

    @property
    def category_shares(self) -> dict[str, float]:
        """Share of occupied hours in each category (NaN when nobody was there)."""
        if self.occupied_hours == 0:
            return {name: math.nan for name in CATEGORY_NAMES}
        return {name: hours / self.occupied_hours for name, hours in self.category_hours.items()}


def _ppm_array(values: np.ndarray, name: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers (ppm)") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {array.shape}")
    if np.isinf(array).any():
        raise ValueError(f"{name} must be finite ppm (NaN marks a missing hour); found infinity")
    if (array < 0).any():
        i = int(np.flatnonzero(array < 0)[0])
        raise ValueError(f"{name} must not be negative; index {i} is {array[i]} ppm")
    return array


def _outdoor(outdoor_ppm: float) -> float:
    value = float(outdoor_ppm)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"outdoor_ppm must be a finite concentration > 0 ppm, got {outdoor_ppm!r}")
    return value


def co2_category(co2_ppm: np.ndarray, outdoor_ppm: float = DEFAULT_OUTDOOR_CO2_PPM) -> np.ndarray:
    """EN 16798-1:2019 indoor-air category from CO₂ above outdoor (Annex B, non-residential).

    ΔCO₂ = indoor − outdoor; category I ≤ 550 ppm, II ≤ 800, III ≤ 1350, IV > 1350
    (the limits belong to the better category). Indoor below outdoor (ΔCO₂ < 0,
    e.g. sensor drift) is category I.

    Args:
        co2_ppm: indoor CO₂ concentration, ppm; NaN for a missing value.
        outdoor_ppm: outdoor CO₂, ppm; from an outdoor sensor where there is one,
            else the site default (420 ppm).

    Returns:
        int array: 1, 2, 3 or 4 for categories I–IV; 0 where ``co2_ppm`` is NaN.

    Example: with 420 ppm outside, 900 ppm indoors is ΔCO₂ 480 (I), 1220 is
    exactly 800 (II), 1500 is 1080 (III) and 1800 is 1380 (IV):

        >>> co2_category([900, 1220, 1500, 1800, float("nan")]).tolist()
        [1, 2, 3, 4, 0]
    """
    indoor = _ppm_array(co2_ppm, "co2_ppm")
    delta = indoor - _outdoor(outdoor_ppm)
    # searchsorted 'left': a value equal to a limit falls in the category below it (≤)
    category = np.searchsorted(np.asarray(DELTA_CO2_LIMITS_PPM), delta, side="left") + 1
    return np.where(np.isnan(indoor), NO_CATEGORY, category).astype(np.int64)


def co2_category_hours(
    hourly_co2: np.ndarray,
    hourly_occupancy: np.ndarray,
    outdoor_ppm: float = DEFAULT_OUTDOOR_CO2_PPM,
    fhi_limit_ppm: float = FHI_CO2_LIMIT_PPM,
) -> Co2CategoryHours:
    """Occupied hours in each EN 16798-1 CO₂ category, and hours above FHI's 1000 ppm norm.

    Only occupied hours count (METRICS.md: hours with no one present are not
    counted). An hour is occupied when its occupancy is > 0; an hour with unknown
    occupancy (NaN) is not counted as occupied. "Above the limit" is strictly
    above: the norm is CO₂ ≤ 1000 ppm (FHI; Arbeidstilsynet guidance 444).

    Args:
        hourly_co2: CO₂ per hour, ppm (hourly mean); NaN where there is no value.
        hourly_occupancy: people per hour, aligned with ``hourly_co2``; NaN if unknown.
        outdoor_ppm: outdoor CO₂, ppm (default 420).
        fhi_limit_ppm: the absolute indoor limit, ppm (default 1000).

    Example: four hours with people, at 700, 1100, 1250 and 1900 ppm, and one
    empty hour at 2000 ppm that does not count:

        >>> r = co2_category_hours([700, 1100, 1250, 1900, 2000], [12, 30, 28, 35, 0])
        >>> r.occupied_hours, r.category_hours, r.hours_above_fhi_limit
        (4, {'I': 1, 'II': 1, 'III': 1, 'IV': 1}, 3)
    """
    co2 = _ppm_array(hourly_co2, "hourly_co2")
    try:
        occupancy = np.asarray(hourly_occupancy, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("hourly_occupancy must be numbers (people)") from None
    if occupancy.shape != co2.shape:
        raise ValueError(
            f"hourly_co2 has shape {co2.shape} but hourly_occupancy has shape "
            f"{occupancy.shape}; give one occupancy value per CO₂ hour"
        )
    if (occupancy < 0).any():
        i = int(np.flatnonzero(occupancy < 0)[0])
        raise ValueError(f"hourly_occupancy must not be negative; index {i} is {occupancy[i]}")
    limit = float(fhi_limit_ppm)
    if not math.isfinite(limit) or limit <= 0:
        raise ValueError(
            f"fhi_limit_ppm must be a finite concentration > 0 ppm, got {fhi_limit_ppm!r}"
        )
    occupied = occupancy > 0  # NaN > 0 is False: unknown occupancy is not occupied
    categories = co2_category(co2, outdoor_ppm)[occupied]
    counted = categories != NO_CATEGORY
    hours = np.bincount(categories[counted], minlength=len(CATEGORY_NAMES) + 1)
    return Co2CategoryHours(
        occupied_hours=int(counted.sum()),
        category_hours={name: int(hours[i + 1]) for i, name in enumerate(CATEGORY_NAMES)},
        hours_above_fhi_limit=int((co2[occupied] > limit).sum()),
        occupied_hours_without_co2=int((~counted).sum()),
    )


# -- operative temperature and relative humidity (EN 16798-1) -------------------------

# EN 16798-1:2019 Annex B (Table B.2 in the secondary sources METRICS.md draws on), offices and
# classrooms at about 1.2 met: (low, high) °C for categories I, II, III; outside III is IV.
OPERATIVE_TEMPERATURE_RANGES_C = {
    "heating": ((21.0, 23.0), (20.0, 24.0), (19.0, 25.0)),
    "cooling": ((23.5, 25.5), (23.0, 26.0), (22.0, 27.0)),
}
# EN 16798-1:2019 Annex B, relative humidity where (de)humidification is installed: (low, high) %.
RELATIVE_HUMIDITY_RANGES_PCT = ((30.0, 50.0), (25.0, 60.0), (20.0, 70.0))
_DEFAULT_HEATING_SEASON = ((10, 1), (4, 30))  # 1 October to 30 April, METRICS.md / Norway


@dataclass(frozen=True)
class CategoryHours:
    """Occupied hours by EN 16798-1 category (I–IV) of one quantity.

    Attributes:
        occupied_hours: hours with occupancy > 0 and a value; the denominator of the shares.
        category_hours: hours per category, keyed 'I', 'II', 'III', 'IV'.
        occupied_hours_without_value: occupied hours with no value; not categorised.
    """

    occupied_hours: int
    category_hours: dict[str, int] = field(hash=False)
    occupied_hours_without_value: int = 0

    @property
    def category_shares(self) -> dict[str, float]:
        """Share of occupied hours in each category (NaN when nobody was there)."""
        if self.occupied_hours == 0:
            return {name: math.nan for name in self.category_hours}
        return {name: hours / self.occupied_hours for name, hours in self.category_hours.items()}


def _measurements(values: np.ndarray, name: str, unit: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers ({unit})") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {array.shape}")
    if np.isinf(array).any():
        raise ValueError(f"{name} must be finite {unit} (NaN marks a missing hour); found infinity")
    return array


def _banded_category(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """1 for the first band (I) that holds each value, ...; 4 outside them all; 0 for NaN.

    ``low`` and ``high`` have shape (3, n) or (3, 1): the bands of I, II, III, each
    inside the next, both ends included.
    """
    inside = (values >= low) & (values <= high)  # (3, n)
    category = np.where(inside.any(axis=0), inside.argmax(axis=0) + 1, 4)
    return np.where(np.isnan(values), NO_CATEGORY, category).astype(np.int64)


def operative_temperature_category(
    operative_c: np.ndarray, heating_season: np.ndarray | bool
) -> np.ndarray:
    """EN 16798-1:2019 category of the operative temperature, by season (Annex B).

    Offices and classrooms at about 1.2 met (METRICS.md; the values come from
    secondary sources and are marked there for verification against the
    standard's text, which we could not read here):

    | category | heating season | cooling season |
    |---|---|---|
    | I | 21–23 °C | 23.5–25.5 °C |
    | II | 20–24 °C | 23–26 °C |
    | III | 19–25 °C | 22–27 °C |

    Both ends belong to the range; an hour outside III is IV.

    Args:
        operative_c: operative temperature, °C; NaN for a missing value. Where the mean
            radiant temperature is not measured it equals the air temperature, and
            so does the operative temperature.
        heating_season: True where the hour is in the heating season (one flag per
            value, or one for all); see ``heating_season_mask``.

    Returns:
        int array: 1–4 for categories I–IV; 0 where ``operative_c`` is NaN.

    Example: 22 °C is I in the heating season but III in the cooling season; 26.5 °C
    in the cooling season is III, 19.5 °C in the heating season is III:

        >>> heating = [True, False, False, True]
        >>> operative_temperature_category([22, 22, 26.5, 19.5], heating).tolist()
        [1, 3, 3, 3]
    """
    temperature = _measurements(operative_c, "operative_c", "°C")
    heating = np.broadcast_to(np.asarray(heating_season, dtype=bool), temperature.shape)
    heat = np.asarray(OPERATIVE_TEMPERATURE_RANGES_C["heating"])  # (3, 2)
    cool = np.asarray(OPERATIVE_TEMPERATURE_RANGES_C["cooling"])
    low = np.where(heating, heat[:, :1], cool[:, :1])  # (3, n)
    high = np.where(heating, heat[:, 1:], cool[:, 1:])
    return _banded_category(temperature, low, high)


def humidity_category(relative_humidity_pct: np.ndarray) -> np.ndarray:
    """EN 16798-1:2019 category of indoor relative humidity (Annex B).

    I 30–50 %, II 25–60 %, III 20–70 %, otherwise IV; both ends belong to the range.
    EN 16798-1 gives these as design criteria for spaces with humidification or
    dehumidification; without either they describe the air, not the plant.
    METRICS.md takes them from secondary sources; not verified against the
    standard's text.

    Args:
        relative_humidity_pct: relative humidity, %RH; NaN for a missing value.

    Returns:
        int array: 1–4 for categories I–IV; 0 where the value is NaN.

    Example: 40 % is I, 55 % is II, 22 % is III, 15 % (a cold Norwegian winter day) is IV:

        >>> humidity_category([40, 55, 22, 15]).tolist()
        [1, 2, 3, 4]
    """
    humidity = _measurements(relative_humidity_pct, "relative_humidity_pct", "%RH")
    if (humidity < 0).any() or (humidity > 100).any():
        bad = humidity[(humidity < 0) | (humidity > 100)][0]
        raise ValueError(f"relative_humidity_pct must be 0..100 %RH, found {bad}")
    bands = np.asarray(RELATIVE_HUMIDITY_RANGES_PCT)
    return _banded_category(humidity, bands[:, :1], bands[:, 1:])


def occupied_category_hours(
    categories: np.ndarray,
    hourly_occupancy: np.ndarray,
    names: tuple[str, ...] = CATEGORY_NAMES,
) -> CategoryHours:
    """Count occupied hours per category (METRICS.md: hours with no one present do not count).

    Args:
        categories: category per hour, 1..len(names); 0 where the hour has no value.
        hourly_occupancy: people per hour (hourly mean), aligned; NaN if unknown. An
            hour is occupied when its occupancy is > 0; unknown is not occupied.
        names: the category names, best first.

    Example: three occupied hours in I, I and IV, one occupied hour without a value,
    and an empty hour in IV that does not count:

        >>> r = occupied_category_hours([1, 1, 4, 0, 4], [3, 5, 2, 4, 0])
        >>> r.occupied_hours, r.category_hours, r.occupied_hours_without_value
        (3, {'I': 2, 'II': 0, 'III': 0, 'IV': 1}, 1)
    """
    category = np.asarray(categories, dtype=np.int64)
    try:
        occupancy = np.asarray(hourly_occupancy, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("hourly_occupancy must be numbers (people)") from None
    if occupancy.shape != category.shape or category.ndim != 1:
        raise ValueError(
            f"categories has shape {category.shape} but hourly_occupancy has shape "
            f"{occupancy.shape}; give one occupancy value per hour"
        )
    if (occupancy < 0).any():
        raise ValueError("hourly_occupancy must not be negative")
    if ((category < 0) | (category > len(names))).any():
        raise ValueError(f"categories must be 0..{len(names)}")
    occupied = category[occupancy > 0]
    counted = occupied != NO_CATEGORY
    hours = np.bincount(occupied[counted], minlength=len(names) + 1)
    return CategoryHours(
        occupied_hours=int(counted.sum()),
        category_hours={name: int(hours[i + 1]) for i, name in enumerate(names)},
        occupied_hours_without_value=int((~counted).sum()),
    )


def operative_temperature_category_hours(
    hourly_operative_c: np.ndarray,
    hourly_occupancy: np.ndarray,
    heating_season: np.ndarray | bool,
) -> CategoryHours:
    """Occupied hours in each EN 16798-1 operative-temperature category (heating/cooling season).

    See ``operative_temperature_category`` for the ranges and
    ``occupied_category_hours`` for what counts as occupied.

    Args:
        hourly_operative_c: hourly mean operative temperature, °C; NaN where missing.
        hourly_occupancy: hourly mean people, aligned; NaN if unknown.
        heating_season: True for hours in the heating season.

    Example: a heating-season day at 22, 24.5 and 18 °C with people, and an empty hour:

        >>> r = operative_temperature_category_hours([22, 24.5, 18, 30], [10, 12, 4, 0], True)
        >>> r.category_hours
        {'I': 1, 'II': 0, 'III': 1, 'IV': 1}
    """
    return occupied_category_hours(
        operative_temperature_category(hourly_operative_c, heating_season), hourly_occupancy
    )


def humidity_category_hours(
    hourly_relative_humidity_pct: np.ndarray, hourly_occupancy: np.ndarray
) -> CategoryHours:
    """Occupied hours in each EN 16798-1 relative-humidity category.

    Args:
        hourly_relative_humidity_pct: hourly mean relative humidity, %RH; NaN where missing.
        hourly_occupancy: hourly mean people, aligned; NaN if unknown.

    Example:

        >>> humidity_category_hours([40, 55, 15, 45], [1, 2, 3, 0]).category_hours
        {'I': 1, 'II': 1, 'III': 0, 'IV': 1}
    """
    return occupied_category_hours(
        humidity_category(hourly_relative_humidity_pct), hourly_occupancy
    )


def heating_season_mask(
    hour_starts: np.ndarray,
    tz: ZoneInfo,
    first_day: tuple[int, int] = _DEFAULT_HEATING_SEASON[0],
    last_day: tuple[int, int] = _DEFAULT_HEATING_SEASON[1],
) -> np.ndarray:
    """Which hours fall in the heating season, by the local date of the hour's start.

    The season runs from ``first_day`` to ``last_day`` (month, day), both included,
    and may wrap the new year. Default 1 October – 30 April, a common Norwegian
    heating season (the site sets its own: ``AnalyticsSettings.heating_season``).
    Outside it is the cooling season.

    Args:
        hour_starts: UTC start of each hour, numpy datetime64.
        tz: the site's time zone.
        first_day, last_day: (month, day) of the first and last local date of the season.

    Example: 30 April 23:30 local (21:30 UTC) is still heating season, 1 May is not:

        >>> import numpy as np
        >>> from zoneinfo import ZoneInfo
        >>> hours = np.array(["2026-04-30T21:30", "2026-04-30T22:30"], dtype="datetime64[us]")
        >>> heating_season_mask(hours, ZoneInfo("Europe/Oslo")).tolist()
        [True, False]
    """
    dates = local_dates(as_utc_instants(hour_starts, "hour_starts"), tz)
    months = dates.astype("datetime64[M]")
    month = months.astype(np.int64) % 12 + 1
    day = (dates - months.astype("datetime64[D]")).astype(np.int64) + 1
    key = month * 100 + day
    first = first_day[0] * 100 + first_day[1]
    last = last_day[0] * 100 + last_day[1]
    if first <= last:
        return (key >= first) & (key <= last)
    return (key >= first) | (key <= last)
