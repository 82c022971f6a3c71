"""Indoor air quality from CO₂: EN 16798-1 categories and the Norwegian 1000 ppm norm.

Sources (METRICS.md, "Indoor environmental quality"):

- EN 16798-1:2019, Annex B, default design CO₂ concentrations *above outdoor*
  for non-residential buildings: category I ΔCO₂ ≤ 550 ppm, II ≤ 800 ppm,
  III ≤ 1350 ppm, IV > 1350 ppm. METRICS.md takes these from secondary sources
  and marks them for verification against the standard's text.
- Folkehelseinstituttet's recommended norm, CO₂ ≤ 1000 ppm, as used in
  Arbeidstilsynet's guidance 444 on indoor climate at work.
- IEQ is reported as the share of *occupied* hours in each category; hours
  with no one present are not counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

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
