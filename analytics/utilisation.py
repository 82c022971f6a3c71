"""Workspace and learning-space use: frequency rate, occupancy rate and utilisation.

Definitions (METRICS.md, "Workspace and learning-space use"), after the UK
Space Management Group, *Space utilisation: practice, performance and
guidelines* (SMG 2006) and the HESA Estates Management Record
(https://www.hesa.ac.uk/collection/c19042/a/frequencyrate,
https://www.hesa.ac.uk/collection/c18042/a/occupancyrate):

- H is the set of available core hours *with an observation*; n_h is the
  hour's observed count (mean or peak, configurable); C is capacity in seats.
- Frequency rate F = |{h in H : n_h >= threshold}| / |H|.
- Occupancy rate O = mean of n_h / C over the in-use hours only.
- Utilisation U = Σ n_h / (C × |H|): used seat-hours over available
  seat-hours. This is the definition of record. METRICS.md also writes
  U = F × O; the two agree exactly when every hour below the in-use threshold
  has n_h = 0. With hourly *mean* counts an hour can hold a fraction of a
  person (someone present for 20 minutes gives n_h ≈ 0.33): that hour is not
  in use, so it is in neither F nor O, but its seat-hours are real and are
  in U. Then U = F × O + Σ_{n_h < threshold} n_h / (C × |H|). The seat-hour
  form is the one that adds up across rooms, so it is the one we report.
- Across several spaces, seat-hours are added up; room percentages are
  never averaged (``pooled_utilisation``).

Spaces with presence (a PIR's yes/no) and no head count: only F can be had
(``presence_frequency_rate``). SMG (2006) counts a room *in use* in an hour when its
hourly observation finds anyone in it; a spot observation finds a room occupied with
a chance equal to the share of the hour it is occupied, so an hour is in use when
presence was reported in at least ``presence_in_use_share`` (default 0.5) of its
presence readings. O and U need a number of people, which presence does not give.

Benchmarks for context (SMG 2006): U ≈ 25–27 % is typical; HEFCE bands as
universities apply them: poor < 25 %, fair 25–35 %, good ≥ 35 %.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

import numpy as np

from campuslab.analytics.local_time import as_utc_instants, local_wall_time, weekday_numbers
from campuslab.core.registry import CoreHours

_US_PER_HOUR = 3_600_000_000
_P95 = 0.95
_BAND_LOW = 0.6  # Density-style bands: < 60 %, 60–100 %, > 100 % of capacity
_BAND_FULL = 1.0


@dataclass(frozen=True)
class UtilisationResult:
    """Space-use KPIs over a set of available core hours. Rates are fractions (0.25 = 25 %).

    Attributes:
        frequency_rate: F, share of available hours in use (0..1).
        occupancy_rate: O, mean n_h / C over in-use hours (0..1, can exceed 1 when
            over capacity). 0.0 when no hour was in use, so that U = F × O = 0 for
            an unused room; it is NaN only when there are no available hours.
        utilisation: U = used seat-hours / available seat-hours (definition of record).
        peak_occupancy: max n_h / C (may exceed 1).
        p95_occupancy: 95th percentile of n_h / C over available hours, inverted-CDF
            method (Hyndman & Fan type 1: an observed value, no interpolation).
        used_seat_hours: Σ n_h, person-hours, over all available hours.
        available_seat_hours: C × |H| (summed over rooms when pooled).
        available_hours: |H|, hours with an observation (room-hours when pooled).
        in_use_hours: hours with n_h >= the in-use threshold.
        share_under_60, share_60_to_100, share_over_100: share of available core
            time with n_h / C < 0.6, 0.6 <= n_h / C <= 1.0, and > 1.0.
        hours_without_data: core hours in the period with no observation at all
            (sensor offline). They are not in H: an offline sensor is not an empty room.
        points_excluded: raw readings in these hours that data-quality checks flagged
            and that were left out (METRICS.md; set by the store-reading KPIs in
            ``kpis``, 0 when computed from counts directly).
    """

    frequency_rate: float
    occupancy_rate: float
    utilisation: float
    peak_occupancy: float
    p95_occupancy: float
    used_seat_hours: float
    available_seat_hours: float
    available_hours: int
    in_use_hours: int
    share_under_60: float
    share_60_to_100: float
    share_over_100: float
    hours_without_data: int = 0
    points_excluded: int = 0


@dataclass(frozen=True)
class DailyUtilisation:
    """Utilisation of one local calendar day's core hours."""

    date: date
    result: UtilisationResult


# -- validation ---------------------------------------------------------------


def _counts(values: np.ndarray, name: str, allow_nan: bool = False) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers (people counts)") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of people counts, got shape {array.shape}")
    bad = ~np.isfinite(array) & ~(allow_nan & np.isnan(array))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must be finite people counts; index {i} is {array[i]}")
    if (array < 0).any():
        i = int(np.flatnonzero(array < 0)[0])
        raise ValueError(f"{name} must not be negative; index {i} is {array[i]}")
    return array


def _positive(value: float, name: str, unit: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of {unit}, got {value!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be a finite number of {unit} > 0, got {value!r}")
    return number


# -- the metric ---------------------------------------------------------------


def _empty_result() -> UtilisationResult:
    nan = math.nan
    return UtilisationResult(nan, nan, nan, nan, nan, 0.0, 0.0, 0, 0, nan, nan, nan)


def _weighted_percentile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Inverted-CDF percentile: the smallest value whose cumulative weight reaches q."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    target = q * cumulative[-1] * (1 - 1e-12)  # keep 0.95 × 20 from rounding past 19
    return float(values[order][np.searchsorted(cumulative, target, side="left")])


def _room_hours(counts: np.ndarray, capacities: np.ndarray, threshold: float) -> UtilisationResult:
    """KPIs over room-hours, each weighted by its capacity (so seat-hours add up)."""
    if counts.size == 0:
        return _empty_result()
    ratio = counts / capacities
    in_use = counts >= threshold
    seat_hours = float(capacities.sum())
    in_use_seat_hours = float(capacities[in_use].sum())
    used = float(counts.sum())
    return UtilisationResult(
        frequency_rate=in_use_seat_hours / seat_hours,
        occupancy_rate=float(counts[in_use].sum()) / in_use_seat_hours if in_use.any() else 0.0,
        utilisation=used / seat_hours,
        peak_occupancy=float(ratio.max()),
        p95_occupancy=_weighted_percentile(ratio, capacities, _P95),
        used_seat_hours=used,
        available_seat_hours=seat_hours,
        available_hours=int(counts.size),
        in_use_hours=int(in_use.sum()),
        share_under_60=float(capacities[ratio < _BAND_LOW].sum()) / seat_hours,
        share_60_to_100=float(capacities[(ratio >= _BAND_LOW) & (ratio <= _BAND_FULL)].sum())
        / seat_hours,
        share_over_100=float(capacities[ratio > _BAND_FULL].sum()) / seat_hours,
    )


def utilisation(
    counts_per_hour: np.ndarray, capacity: float, in_use_threshold: float = 1.0
) -> UtilisationResult:
    """Frequency rate, occupancy rate and utilisation of one space (SMG 2006; HESA EMR).

    See the module docstring and METRICS.md, "Workspace and learning-space use".
    U = Σ n_h / (C × |H|) is the definition of record; it equals F × O when every
    hour below the threshold has n_h = 0.

    Args:
        counts_per_hour: n_h, people (count), one value per available core hour H,
            already restricted to core hours with an observation.
        capacity: C, seats (> 0).
        in_use_threshold: people; an hour is in use when n_h >= this (default 1).

    Returns:
        UtilisationResult; with no hours at all, every rate is NaN and
        ``available_hours`` is 0.

    Raises:
        ValueError: counts that are not finite or are negative, a capacity or
            threshold that is not a positive number.

    Example (the issue's worked example): a 40-seat room with 20 people in 4 of
    8 core hours is in use half the time, half full when in use:

        >>> r = utilisation([20, 20, 20, 20, 0, 0, 0, 0], capacity=40)
        >>> r.frequency_rate, r.occupancy_rate, r.utilisation
        (0.5, 0.5, 0.25)
        >>> r.used_seat_hours, r.available_seat_hours, r.share_under_60
        (80.0, 320.0, 1.0)
    """
    counts = _counts(counts_per_hour, "counts_per_hour")
    capacity = _positive(capacity, "capacity", "seats")
    threshold = _positive(in_use_threshold, "in_use_threshold", "people")
    return _room_hours(counts, np.full(counts.shape, capacity), threshold)


def pooled_utilisation(
    counts_per_space: Sequence[np.ndarray],
    capacities: Sequence[float],
    in_use_threshold: float = 1.0,
) -> UtilisationResult:
    """Utilisation of several spaces together, by adding up seat-hours (METRICS.md).

    Never the mean of the rooms' percentages: a 200-seat hall counts for 10 times
    a 20-seat room. Every room-hour is weighted by its capacity, so:

    - U = Σ_rooms Σ_h n_h / Σ_rooms C × |H_room|;
    - F = available seat-hours of the room-hours in use / all available seat-hours
      (``in_use_hours / available_hours`` gives the unweighted room-hour share);
    - O = Σ n_h over in-use room-hours / Σ C over those room-hours;
    - so U = F × O holds for the pool under the same condition as for one room;
    - peak is the highest single room-hour n_h / C; P95 and the bands are
      capacity-weighted over room-hours.
    For one space this is exactly ``utilisation``.

    Args:
        counts_per_space: per space, n_h in people for its available core hours
            (lengths may differ between spaces).
        capacities: per space, C in seats, in the same order.
        in_use_threshold: people; an hour is in use when n_h >= this (default 1).

    Example: a 100-seat hall with 50 people in 1 of 2 hours (U = 0.25) and a
    10-seat room full in both (U = 1.0). The pool used 70 of 220 available
    seat-hours, U = 0.318; the mean of the two percentages, 0.625, would be wrong:

        >>> round(pooled_utilisation([[50, 0], [10, 10]], [100, 10]).utilisation, 3)
        0.318
    """
    if len(counts_per_space) != len(capacities):
        raise ValueError(
            f"counts_per_space has {len(counts_per_space)} spaces but capacities has "
            f"{len(capacities)}; give one capacity per space"
        )
    threshold = _positive(in_use_threshold, "in_use_threshold", "people")
    counts, seats = [], []
    for i, (space_counts, capacity) in enumerate(zip(counts_per_space, capacities, strict=True)):
        array = _counts(space_counts, f"counts_per_space[{i}]")
        counts.append(array)
        seats.append(np.full(array.shape, _positive(capacity, f"capacities[{i}]", "seats")))
    if not counts:
        return _empty_result()
    return _room_hours(np.concatenate(counts), np.concatenate(seats), threshold)


# -- core hours in local time ---------------------------------------------------


def _core_mask_of_wall_time(wall: np.ndarray, core: CoreHours) -> np.ndarray:
    days = wall.astype("datetime64[D]")
    time_of_day_us = (wall - days).astype(np.int64)
    start_us = (core.start.hour * 60 + core.start.minute) * 60_000_000
    end_us = (core.end.hour * 60 + core.end.minute) * 60_000_000
    core_day = np.isin(weekday_numbers(days), sorted(core.weekday_numbers))
    return core_day & (time_of_day_us >= start_us) & (time_of_day_us < end_us)


def core_hours_mask(hour_starts: np.ndarray, tz: ZoneInfo, core: CoreHours) -> np.ndarray:
    """Which hours are available core hours (SMG 2006; METRICS.md default Mon–Fri 08–16).

    An hour is core when its start, in the site's local time, falls on a core
    day and ``core.start <= local start < core.end``. Local time follows DST:
    in Europe/Oslo 08:00 local is 07:00 UTC in winter and 06:00 UTC in summer,
    and on the transition days the local day has 23 or 25 hours.

    Args:
        hour_starts: UTC start of each hour, numpy datetime64.
        tz: the site's time zone, e.g. ``ZoneInfo("Europe/Oslo")``.
        core: the site's core hours (days, start, end; local time).

    Returns:
        Boolean array, True for core hours.

    Example: Monday 30 March 2026 (the day after the spring change) 06:00 UTC is
    08:00 in Oslo, the first core hour; 05:00 UTC is 07:00 and is not core:

        >>> import numpy as np
        >>> from zoneinfo import ZoneInfo
        >>> hours = np.array(["2026-03-30T05:00", "2026-03-30T06:00"], dtype="datetime64[us]")
        >>> core_hours_mask(hours, ZoneInfo("Europe/Oslo"), CoreHours()).tolist()
        [False, True]
    """
    return _core_mask_of_wall_time(local_wall_time(hour_starts, tz), core)


def _hourly_grid(hour_starts: np.ndarray, counts_per_hour: np.ndarray) -> tuple[np.ndarray, ...]:
    starts = as_utc_instants(hour_starts, "hour_starts")
    counts = _counts(counts_per_hour, "counts_per_hour", allow_nan=True)
    if starts.shape != counts.shape:
        raise ValueError(
            f"hour_starts has {starts.size} hours but counts_per_hour has {counts.size} values; "
            "give one count per hour"
        )
    if np.unique(starts).size != starts.size:
        raise ValueError("hour_starts must not repeat an hour (it would be counted twice)")
    return starts, counts


def _utilisation_of_core(
    counts: np.ndarray, capacity: float, threshold: float
) -> UtilisationResult:
    observed = ~np.isnan(counts)
    result = _room_hours(counts[observed], np.full(int(observed.sum()), capacity), threshold)
    return dataclasses.replace(result, hours_without_data=int((~observed).sum()))


def core_utilisation(
    hour_starts: np.ndarray,
    counts_per_hour: np.ndarray,
    capacity: float,
    tz: ZoneInfo,
    core: CoreHours,
    in_use_threshold: float = 1.0,
) -> UtilisationResult:
    """``utilisation`` over the core hours among ``hour_starts``, in local time.

    Args:
        hour_starts: UTC start of each hour, numpy datetime64, no hour twice.
        counts_per_hour: n_h in people per hour; NaN marks an hour with no
            observation: it is left out of H and counted in ``hours_without_data``.
        capacity: C, seats.
        tz: the site's time zone.
        core: the site's core hours.
        in_use_threshold: people (default 1).

    Example: Friday 27 March 2026 in Oslo (UTC+1), 07:00–14:00 UTC are the eight
    core hours; a 10-seat room with 5 people in two of them and no data for one:

        >>> import numpy as np
        >>> from zoneinfo import ZoneInfo
        >>> hours = np.arange(np.datetime64("2026-03-27T07:00", "us"),
        ...                   np.datetime64("2026-03-27T15:00", "us"), np.timedelta64(1, "h"))
        >>> counts = [5, 5, 0, 0, 0, 0, 0, np.nan]
        >>> r = core_utilisation(hours, counts, 10, ZoneInfo("Europe/Oslo"), CoreHours())
        >>> r.available_hours, r.hours_without_data, round(r.utilisation, 4)
        (7, 1, 0.1429)
    """
    starts, counts = _hourly_grid(hour_starts, counts_per_hour)
    capacity = _positive(capacity, "capacity", "seats")
    threshold = _positive(in_use_threshold, "in_use_threshold", "people")
    return _utilisation_of_core(counts[core_hours_mask(starts, tz, core)], capacity, threshold)


def daily_utilisation(
    hour_starts: np.ndarray,
    counts_per_hour: np.ndarray,
    capacity: float,
    tz: ZoneInfo,
    core: CoreHours,
    in_use_threshold: float = 1.0,
) -> list[DailyUtilisation]:
    """``utilisation`` of each local calendar day's core hours, oldest day first.

    Only days that have at least one core hour among ``hour_starts`` are listed
    (weekends are absent with Mon–Fri core hours). Arguments as for
    ``core_utilisation``: NaN in ``counts_per_hour`` means no observation.

    Example: Monday 30 and Tuesday 31 March 2026 in Oslo (UTC+2), a 40-seat room
    with 20 people in 4 of the 8 core hours on Monday and empty on Tuesday:

        >>> import numpy as np
        >>> from zoneinfo import ZoneInfo
        >>> hours = np.concatenate([
        ...     np.arange(np.datetime64("2026-03-30T06:00", "us"),
        ...               np.datetime64("2026-03-30T14:00", "us"), np.timedelta64(1, "h")),
        ...     np.arange(np.datetime64("2026-03-31T06:00", "us"),
        ...               np.datetime64("2026-03-31T14:00", "us"), np.timedelta64(1, "h"))])
        >>> counts = [20] * 4 + [0] * 12
        >>> days = daily_utilisation(hours, counts, 40, ZoneInfo("Europe/Oslo"), CoreHours())
        >>> [(str(d.date), d.result.utilisation) for d in days]
        [('2026-03-30', 0.25), ('2026-03-31', 0.0)]
    """
    starts, counts = _hourly_grid(hour_starts, counts_per_hour)
    capacity = _positive(capacity, "capacity", "seats")
    threshold = _positive(in_use_threshold, "in_use_threshold", "people")
    wall = local_wall_time(starts, tz)
    core_mask = _core_mask_of_wall_time(wall, core)
    dates = wall.astype("datetime64[D]")[core_mask]
    core_counts = counts[core_mask]
    days, index = np.unique(dates, return_inverse=True)
    if days.size == 0:
        return []
    per_day = np.split(
        core_counts[np.argsort(index, kind="stable")],
        np.cumsum(np.bincount(index, minlength=days.size))[:-1],
    )
    return [
        DailyUtilisation(day.item(), _utilisation_of_core(counts_of_day, capacity, threshold))
        for day, counts_of_day in zip(days, per_day, strict=True)
    ]


# -- presence instead of a head count -----------------------------------------------


def presence_frequency_rate(
    hour_starts: np.ndarray,
    presence_share_per_hour: np.ndarray,
    tz: ZoneInfo,
    core: CoreHours,
    in_use_share: float = 0.5,
) -> UtilisationResult:
    """Frequency rate F of a space from presence alone (SMG 2006's in-use hours).

    F = |{h in H : p_h >= in_use_share}| / |H|, H the core hours with a presence
    reading, p_h the hour's share of presence readings that say someone is there (the
    mean of 0/1 readings). Occupancy rate, utilisation, peak, P95, the capacity bands
    and the seat-hours are NaN: presence says someone is there, not how many.

    Args:
        hour_starts: UTC start of each hour, numpy datetime64, no hour twice.
        presence_share_per_hour: p_h in 0..1; NaN for an hour without presence readings
            (left out of H and counted in ``hours_without_data``).
        tz, core: the site's time zone and core hours.
        in_use_share: the least p_h of an hour in use, 0 < share <= 1.

    Example: Friday 27 March 2026 in Oslo, 07:00–14:00 UTC are the eight core hours; a
    PIR reports presence in all readings of two hours, half of one, a quarter of one,
    none in three, and nothing at all in the last:

        >>> import numpy as np
        >>> from zoneinfo import ZoneInfo
        >>> hours = np.arange(np.datetime64("2026-03-27T07:00", "us"),
        ...                   np.datetime64("2026-03-27T15:00", "us"), np.timedelta64(1, "h"))
        >>> p = [1, 1, 0.5, 0.25, 0, 0, 0, np.nan]
        >>> r = presence_frequency_rate(hours, p, ZoneInfo("Europe/Oslo"), CoreHours())
        >>> r.in_use_hours, r.available_hours, r.hours_without_data, round(r.frequency_rate, 4)
        (3, 7, 1, 0.4286)
        >>> r.occupancy_rate, r.utilisation
        (nan, nan)
    """
    starts = as_utc_instants(hour_starts, "hour_starts")
    shares = np.asarray(presence_share_per_hour, dtype=np.float64)
    if starts.shape != shares.shape:
        raise ValueError(
            f"hour_starts has {starts.size} hours but presence_share_per_hour has "
            f"{shares.size} values; give one share per hour"
        )
    observed_shares = shares[~np.isnan(shares)]
    if ((observed_shares < 0) | (observed_shares > 1)).any():
        raise ValueError("presence_share_per_hour must be shares between 0 and 1 (or NaN)")
    share = float(in_use_share)
    if not 0 < share <= 1:
        raise ValueError(f"in_use_share must be in (0, 1], got {in_use_share!r}")
    core_shares = shares[core_hours_mask(starts, tz, core)]
    observed = ~np.isnan(core_shares)
    available = int(observed.sum())
    in_use = int((core_shares[observed] >= share).sum())
    nan = math.nan
    return UtilisationResult(
        frequency_rate=in_use / available if available else nan,
        occupancy_rate=nan,
        utilisation=nan,
        peak_occupancy=nan,
        p95_occupancy=nan,
        used_seat_hours=nan,
        available_seat_hours=nan,
        available_hours=available,
        in_use_hours=in_use,
        share_under_60=nan,
        share_60_to_100=nan,
        share_over_100=nan,
        hours_without_data=int((~observed).sum()),
    )
