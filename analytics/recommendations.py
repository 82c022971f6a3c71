"""Right-sizing advice for planners, each piece with the numbers behind it.

METRICS.md ("Booked vs actual") says: a room whose P95 occupancy stays under
50 % of capacity is a candidate to split or reassign. This module applies
that rule and three others to each space over a period's core hours, as in
SMG 2006. Each rule has a configurable threshold (``RightSizingRules``):

| kind                | when                                                  | default |
|---------------------|-------------------------------------------------------|---------|
| ``larger_room``     | more people than seats in > X of the used hours       | 10 %    |
| ``split_or_reassign``| P95 of the hourly peak / capacity, over used hours < X | 50 %    |
| ``release_bookings``| no-show rate (booked hours nobody came to) > X         | 30 %    |
| ``review_low_use``  | frequency rate (share of core hours in use) < X       | 25 %    |

The 25 % echoes the HEFCE "poor" band (below 25 %). METRICS.md applies that
band to utilisation; here it is applied to the frequency rate.

Choices made here:

- **Sizing uses the hour's peak count.** Overcrowding and the P95 look at
  the hour's peak, not its mean. A room is only called oversized when even
  its busiest moments leave more than half of the seats empty. It is called
  overcrowded when people were actually standing.
- **"Used hours"** are core hours whose peak count reaches the in-use
  threshold. The P95 is taken over those hours only (inverted CDF, an
  observed value). An empty hour says nothing about a room's size. How much
  a room is used is the low-use rule's business.
- **The frequency rate** for low use follows the site's hourly rule (SMG
  2006's F).
- **Enough data.** Nothing is advised for a space with fewer than
  ``min_core_hours`` (20) core hours with readings. It gets one
  ``insufficient_data`` entry instead. The sizing rules also need
  ``min_used_hours`` (10) used hours. The no-show rule needs
  ``min_booked_hours`` (10) booked hours with readings.
- **Severity**: ``high`` for ``larger_room``, because more people than
  seats is a safety question (fire capacity). ``medium`` for
  ``split_or_reassign`` and ``release_bookings``. ``low`` for
  ``review_low_use``. ``info`` for ``insufficient_data``.
- **Impact** is in seat-hours and decides the order, largest first:
    - seats standing empty in used hours, Σ (C − peak), for a split;
    - people beyond the seats, Σ (peak − C), for a larger room;
    - no-show hours × C for released bookings;
    - unused hours × C for low use.
  Ties are broken by severity, then by space id.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from campuslab.analytics.bookings import BookedVsActual, booked_vs_actual_for
from campuslab.analytics.learning_spaces import HourlyOccupancy, read_hourly_occupancy
from campuslab.core.registry import Campus
from campuslab.core.store.port import ReadingStore
from campuslab.core.timetables import TimetableStore

LARGER_ROOM = "larger_room"
SPLIT_OR_REASSIGN = "split_or_reassign"
RELEASE_BOOKINGS = "release_bookings"
REVIEW_LOW_USE = "review_low_use"
INSUFFICIENT_DATA = "insufficient_data"
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2, "info": 3}
_P95 = 0.95


@dataclass(frozen=True)
class RightSizingRules:
    """Thresholds of the right-sizing rules, with their documented defaults.

    Attributes:
        min_core_hours: core hours with readings a space needs before any advice (h).
        min_used_hours: used core hours the sizing rules need (h).
        min_booked_hours: booked core hours with readings the no-show rule needs (h).
        split_below_p95: P95 of peak / capacity over used hours below this → split (share).
        larger_room_above_share: share of used hours over capacity above this →
            larger room.
        release_above_no_show_rate: no-show rate above this → release bookings.
        review_below_frequency: frequency rate below this → review (HEFCE "poor").
    """

    min_core_hours: int = 20
    min_used_hours: int = 10
    min_booked_hours: int = 10
    split_below_p95: float = 0.5
    larger_room_above_share: float = 0.10
    release_above_no_show_rate: float = 0.30
    review_below_frequency: float = 0.25


@dataclass(frozen=True)
class Figure:
    """One number of evidence, with its unit."""

    value: float
    unit: str


@dataclass(frozen=True)
class Recommendation:
    """One piece of advice about one space.

    Attributes:
        space_id, building_id: where.
        kind: larger_room, split_or_reassign, release_bookings, review_low_use,
            insufficient_data.
        headline: one sentence for a planner.
        evidence: the numbers behind it, by name, each with its unit.
        severity: high, medium, low or info.
        impact_seat_hours: seat-hours at stake; decides the order.
    """

    space_id: str
    building_id: str
    kind: str
    headline: str
    evidence: dict[str, Figure] = field(hash=False)
    severity: str
    impact_seat_hours: float


def _p95(values: np.ndarray) -> float:
    """Inverted-CDF 95th percentile: an observed value (Hyndman & Fan type 1)."""
    ordered = np.sort(values)
    rank = math.ceil(_P95 * ordered.size - 1e-9)
    return float(ordered[max(rank, 1) - 1])


def _aligned(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of people counts")
    known = array[~np.isnan(array)]
    if np.isinf(known).any() or (known < 0).any():
        raise ValueError(f"{name} must be finite people counts >= 0 (NaN for no reading)")
    return array


def _advice(
    where: tuple[str, str],
    kind: str,
    headline: str,
    evidence: dict[str, tuple[float, str]],
    severity: str,
    impact: float,
) -> Recommendation:
    space_id, building_id = where
    figures = {name: Figure(float(value), unit) for name, (value, unit) in evidence.items()}
    return Recommendation(space_id, building_id, kind, headline, figures, severity, float(impact))


def _larger_room(
    where: tuple[str, str], seats: float, peaks: np.ndarray, share: float
) -> Recommendation | None:
    over = peaks > seats
    over_share = int(over.sum()) / peaks.size
    if over_share <= share:
        return None
    excess = float((peaks[over] - seats).sum())
    return _advice(
        where,
        LARGER_ROOM,
        f"{where[0]}: more people than its {seats:g} seats in {int(over.sum())} of "
        f"{peaks.size} used core hours ({over_share:.0%}); candidate for a larger room",
        {
            "over_capacity_share": (over_share, "share of used hours"),
            "over_capacity_hours": (int(over.sum()), "h"),
            "used_hours": (peaks.size, "h"),
            "max_peak": (float(peaks.max()), "people"),
            "capacity": (seats, "seats"),
            "excess_seat_hours": (excess, "seat-h"),
        },
        "high",
        excess,
    )


def _split_or_reassign(
    where: tuple[str, str], seats: float, peaks: np.ndarray, below: float
) -> Recommendation | None:
    p95_people = _p95(peaks)
    if p95_people / seats >= below:
        return None
    idle = float(np.clip(seats - peaks, 0, None).sum())
    return _advice(
        where,
        SPLIT_OR_REASSIGN,
        f"{where[0]}: in 95% of its used core hours at most {p95_people:g} of its "
        f"{seats:g} seats were taken ({p95_people / seats:.0%}); candidate to split or reassign",
        {
            "p95_peak_occupancy": (p95_people / seats, "share of capacity"),
            "p95_peak": (p95_people, "people"),
            "used_hours": (peaks.size, "h"),
            "capacity": (seats, "seats"),
            "idle_seat_hours": (idle, "seat-h"),
        },
        "medium",
        idle,
    )


def _release_bookings(
    where: tuple[str, str], seats: float, booked: BookedVsActual, above: float
) -> Recommendation | None:
    if not booked.no_show_rate > above:
        return None
    released = booked.no_show_hours * seats
    return _advice(
        where,
        RELEASE_BOOKINGS,
        f"{where[0]}: nobody came in {booked.no_show_hours} of {booked.booked_hours_with_data} "
        f"booked core hours ({booked.no_show_rate:.0%}); release unused bookings",
        {
            "no_show_rate": (booked.no_show_rate, "share of booked hours"),
            "no_show_hours": (booked.no_show_hours, "h"),
            "booked_hours_with_data": (booked.booked_hours_with_data, "h"),
            "capacity": (seats, "seats"),
            "released_seat_hours": (released, "seat-h"),
        },
        "medium",
        released,
    )


def _review_low_use(
    where: tuple[str, str], seats: float, counts: np.ndarray, threshold: float, below: float
) -> Recommendation | None:
    in_use_hours = int((counts >= threshold).sum())
    frequency = in_use_hours / counts.size
    if frequency >= below:
        return None
    unused = (counts.size - in_use_hours) * seats
    return _advice(
        where,
        REVIEW_LOW_USE,
        f"{where[0]}: in use in only {frequency:.0%} of core hours ({in_use_hours} of "
        f"{counts.size}); review how it is used",
        {
            "frequency_rate": (frequency, "share of core hours"),
            "utilisation": (float(counts.sum()) / (seats * counts.size), "share of seat-hours"),
            "in_use_hours": (in_use_hours, "h"),
            "available_core_hours": (counts.size, "h"),
            "unused_seat_hours": (unused, "seat-h"),
        },
        "low",
        unused,
    )


def right_sizing(
    space_id: str,
    building_id: str,
    capacity: float,
    counts: np.ndarray,
    peak_counts: np.ndarray,
    booked: BookedVsActual | None = None,
    rules: RightSizingRules | None = None,
    in_use_threshold: float = 1.0,
) -> list[Recommendation]:
    """Right-sizing advice for one space over a period's core hours (METRICS.md; SMG 2006).

    Args:
        space_id, building_id: the space and its building.
        capacity: C, seats.
        counts: n_h per core hour by the site's rule, people; NaN = no reading.
        peak_counts: the hour's peak count per core hour (the same hours), people;
            NaN = no reading.
        booked: booked vs actual of the space over the same period, if it has a timetable.
        rules: thresholds (default ``RightSizingRules()``).
        in_use_threshold: people for an hour in use (the site's; default 1).

    Returns:
        The recommendations for this space, largest impact first. The list is empty
        when the space looks fine, and holds one ``insufficient_data`` entry when
        there is too little data.

    Example: a 100-seat hall over 40 core hours, used in 30 with at most 30 people:

        >>> import numpy as np
        >>> peaks = np.array([30.0] * 30 + [0.0] * 10)
        >>> [r.kind for r in right_sizing("h1", "b1", 100, peaks, peaks)]
        ['split_or_reassign']
    """
    rules = rules or RightSizingRules()
    counts = _aligned(counts, "counts")
    peaks = _aligned(peak_counts, "peak_counts")
    if counts.shape != peaks.shape:
        raise ValueError("counts and peak_counts must cover the same hours")
    if not (isinstance(capacity, int | float) and math.isfinite(capacity) and capacity > 0):
        raise ValueError(f"capacity must be a number of seats > 0, got {capacity!r}")
    where, seats = (space_id, building_id), float(capacity)
    seen = ~np.isnan(counts) & ~np.isnan(peaks)
    counts, peaks = counts[seen], peaks[seen]
    if counts.size < rules.min_core_hours:
        return [
            _advice(
                where,
                INSUFFICIENT_DATA,
                f"{space_id}: insufficient data ({counts.size} core hours with readings, "
                f"{rules.min_core_hours} needed); no advice",
                {
                    "available_core_hours": (counts.size, "h"),
                    "min_core_hours": (rules.min_core_hours, "h"),
                },
                "info",
                0.0,
            )
        ]
    found = []
    used_peaks = peaks[peaks >= in_use_threshold]
    if used_peaks.size >= rules.min_used_hours:
        # exclusive: over capacity in > 10 % of used hours puts the P95 above capacity
        found.append(
            _larger_room(where, seats, used_peaks, rules.larger_room_above_share)
            or _split_or_reassign(where, seats, used_peaks, rules.split_below_p95)
        )
    if booked is not None and booked.booked_hours_with_data >= rules.min_booked_hours:
        found.append(_release_bookings(where, seats, booked, rules.release_above_no_show_rate))
    found.append(
        _review_low_use(where, seats, counts, in_use_threshold, rules.review_below_frequency)
    )
    return rank([r for r in found if r is not None])


def rank(recommendations: Sequence[Recommendation]) -> list[Recommendation]:
    """Largest impact (seat-hours) first, then by severity, space and kind."""
    return sorted(
        recommendations,
        key=lambda r: (-r.impact_seat_hours, SEVERITY_ORDER[r.severity], r.space_id, r.kind),
    )


# -- composition: read through the port ----------------------------------------------


@dataclass(frozen=True)
class RightSizingReport:
    """Advice for the spaces of a campus over a period, largest impact first.

    Attributes:
        period_start, period_end: the period covered, UTC (whole hours, end exclusive).
        rules: the thresholds applied.
        recommendations: the advice, ordered by ``rank``.
        spaces: the spaces looked at (a space absent from ``recommendations`` looks fine).
    """

    period_start: datetime
    period_end: datetime
    rules: RightSizingRules
    recommendations: tuple[Recommendation, ...]
    spaces: tuple[str, ...]


def right_sizing_of(
    campus: Campus,
    hourly: HourlyOccupancy,
    booked: dict[str, BookedVsActual] | None = None,
    rules: RightSizingRules | None = None,
) -> RightSizingReport:
    """``right_sizing_report`` over occupancy already read (no store)."""
    booked = booked or {}
    found = []
    core = hourly.core
    for row, space_id in enumerate(hourly.space_ids):
        found += right_sizing(
            space_id,
            campus.building_of(space_id).id,
            float(hourly.capacities[row]),
            hourly.counts[row, core],
            hourly.peaks[row, core],
            booked.get(space_id),
            rules,
            campus.analytics.in_use_threshold,
        )
    return RightSizingReport(
        period_start=hourly.period_start,
        period_end=hourly.period_end,
        rules=rules or RightSizingRules(),
        recommendations=tuple(rank(found)),
        spaces=hourly.space_ids,
    )


def right_sizing_report(
    store: ReadingStore,
    campus: Campus,
    start: datetime,
    end: datetime,
    timetables: TimetableStore | None = None,
    rules: RightSizingRules | None = None,
    space_ids: Sequence[str] | None = None,
) -> RightSizingReport:
    """Right-sizing advice for every space (or ``space_ids``) over a period's core hours.

    Reads occupancy for all the spaces at once (one or two ``read_resampled``
    calls). Spaces with an imported timetable also get the no-show rule.

    Args:
        store: the reading store.
        campus: the registry; core hours, threshold and hourly rule from its settings.
        start, end: the period, timezone-aware, half-open; widened to whole UTC hours.
        timetables: imported calendars, for the no-show rule (optional).
        rules: thresholds (default ``RightSizingRules()``).
        space_ids: restrict to these spaces (default: all).
    """
    hourly = read_hourly_occupancy(store, campus, start, end, space_ids)
    booked = {}
    if timetables is not None:
        stored = set(timetables.spaces())
        with_timetable = [s for s in hourly.space_ids if s in stored]
        booked = booked_vs_actual_for(campus, hourly, timetables, with_timetable)
    return right_sizing_of(campus, hourly, booked, rules)
