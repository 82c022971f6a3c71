"""Booked vs actual: what a timetable or booking calendar promised, against what sensors saw.

Definitions (METRICS.md, "Booked vs actual"), over the core hours of a
period, in the sense of SMG 2006 (see ``utilisation.py``):

- **booked frequency** = booked core hours / available core hours;
- **no-show rate** = booked core hours in which nobody was observed /
  booked core hours;
- **unbooked-but-used hours**: core hours with no booking where
  n_h >= the in-use threshold;
- **booked class size** compared with capacity, and with the headcount
  observed.

Choices made here, where METRICS.md is silent:

- **When a booking covers an hour.** A booking covers an hour when it
  overlaps at least half of it (30 minutes). A class taught 10:15–12:00
  (*akademisk kvarter*) covers 10–11 and 11–12. A meeting from 10:40 to
  11:10 covers neither hour. A core hour is booked when at least one
  booking covers it. Short bookings do not add up: two back-to-back
  20-minute meetings leave the hour unbooked.
- **Available core hours** for booked frequency are all the core hours in
  the period, with or without readings. A timetable needs no sensor.
  No-shows and unbooked use can only be judged in hours with a reading, so
  their denominators are the booked (or unbooked) core hours *with data*.
  The hours without data are reported.
- **A no-show uses the hour's peak count, not its mean.** A booked hour is
  a no-show when the hour's **peak** count is 0, meaning that no reading in
  the hour saw anyone. A test on the hourly mean against the in-use
  threshold would call a short tutorial a no-show (2 people for 20 minutes
  give a mean of 0.67 < 1), and so would overstate no-shows. A mean that
  is merely small is not "nobody came". The peak says so directly.
  Sensor-level effects still apply: the previous class leaving during the
  first minutes of the hour gives a peak above 0 even when the booked class
  never came. The no-show rate is therefore a lower bound.
- **Unbooked use** follows the site's hourly rule and in-use threshold,
  just like the frequency rate.
- **Class size.** The per-booking list has the booked size, the capacity
  and the observed peak: the highest hourly peak over the hours the booking
  covers, core or not. ``mean_class_size`` is taken over bookings that
  give a size, and ``mean_observed_peak`` over bookings with readings.
  ``headcount_to_class_size`` is Σ observed peak / Σ booked size over
  bookings that have both. It is a ratio of sums, so that large classes
  weigh more, in the same spirit as pooling seat-hours.

Below facilities (METRICS.md, "Privacy"; ``analytics.privacy``, rule 5) every figure
is computed from the space's published 15-minute cells
(``api.privacy_counts.protected_occupancy``), never from exact counts, so no
difference of answers gives a suppressed count back. A suppressed cell is known to
be occupied, by an unknown 1 … k − 1 people (a complementary cell by an unknown
non-zero count); ``count_upper`` and ``peak_upper`` carry the hour's bounds with
suppressed cells at k. The rule:

- **No-show**: a booked hour is a no-show only when even its upper bound is 0
  (every published peak cell 0, none suppressed). A suppressed cell is not a
  no-show, so ``no_show_hours`` is exact for the published cells.
- **Unbooked use**: ``unbooked_used_hours`` counts the hours whose n_h with
  suppressed cells at 0 reaches the in-use threshold (a lower bound, as the
  frequency rate of the utilisation route); ``unbooked_used_hours_upper`` those
  that could reach it, suppressed cells at k.
- **Observed peak**: the highest published peak; ``observed_peak_lower_bound``
  when a suppressed cell of the booking's hours could exceed it (so a peak of 0
  with a suppressed cell means 1 … k − 1 people). ``mean_observed_peak`` and
  ``headcount_to_class_size`` are then lower bounds (``observed_peaks_lower_bound``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from campuslab.analytics.kpis import NotInRegistry
from campuslab.analytics.learning_spaces import HourlyOccupancy, read_hourly_occupancy
from campuslab.analytics.local_time import as_utc_instants
from campuslab.analytics.privacy import ProtectedUse
from campuslab.core.registry import Campus
from campuslab.core.store.port import ReadingStore
from campuslab.core.timetables import Booking, TimetableStore

COVER_MINIMUM = timedelta(minutes=30)  # a booking covers an hour it overlaps by at least this
_HOUR64 = np.timedelta64(1, "h").astype("timedelta64[us]")


@dataclass(frozen=True)
class BookingUse:
    """One booking set against the sensor.

    Attributes:
        start, end: the booking, timezone-aware.
        summary: its SUMMARY (course code or title).
        class_size: people booked, or None when the calendar does not say.
        capacity: the room's seats.
        observed_peak: the highest hourly peak count over the hours it covers,
            in people. NaN when none of those hours has a reading.
        hours: the hours of the period it covers (at least one).
        observed_peak_lower_bound: True when a suppressed 15-minute cell of those hours
            could hold more people than ``observed_peak`` (computed from published cells).
    """

    start: datetime
    end: datetime
    summary: str
    class_size: int | None
    capacity: int
    observed_peak: float
    hours: int
    observed_peak_lower_bound: bool = False


@dataclass(frozen=True)
class BookedVsActual:
    """Booked vs actual for one space over a period's core hours.

    Rates are fractions (0.3 = 30 %), and NaN when their denominator is 0.

    Attributes:
        period_start, period_end: the period covered, UTC (whole hours, end exclusive).
        core_hours: available core hours in the period, with or without readings.
        booked_hours: core hours covered by at least one booking.
        booked_frequency: booked_hours / core_hours.
        booked_hours_with_data: booked core hours with a reading.
        no_show_hours: of those, hours whose peak count was 0.
        no_show_rate: no_show_hours / booked_hours_with_data.
        unbooked_hours_with_data: core hours with no booking, with a reading.
        unbooked_used_hours: of those, hours with n_h >= the in-use threshold.
        hours_without_data: core hours with no reading.
        capacity: seats.
        in_use_threshold: people, the site's threshold used for unbooked use.
        bookings: every booking covering at least one hour of the period, by start.
        bookings_with_class_size: bookings that give a class size.
        bookings_with_data: bookings with a reading in an hour they cover.
        mean_class_size: people booked, mean over bookings that give a size.
        class_size_to_capacity: mean_class_size / capacity.
        mean_observed_peak: people, mean observed peak over bookings with readings.
        headcount_to_class_size: Σ observed peak / Σ class size, over bookings
            with both.
        points_excluded: raw readings in the core hours that data-quality checks
            flagged and left out (0 when computed from counts directly).
        unbooked_used_hours_upper: unbooked hours with data that could be in use
            (suppressed cells at k); equals ``unbooked_used_hours`` from exact counts.
        suppressed_cells: suppressed 15-minute cells (site's hourly rule) in the core
            hours behind the figures; 0 from exact counts.
    """

    period_start: datetime
    period_end: datetime
    core_hours: int
    booked_hours: int
    booked_frequency: float
    booked_hours_with_data: int
    no_show_hours: int
    no_show_rate: float
    unbooked_hours_with_data: int
    unbooked_used_hours: int
    hours_without_data: int
    capacity: int
    in_use_threshold: float
    bookings: tuple[BookingUse, ...]
    bookings_with_class_size: int
    bookings_with_data: int
    mean_class_size: float
    class_size_to_capacity: float
    mean_observed_peak: float
    headcount_to_class_size: float
    points_excluded: int = 0
    unbooked_used_hours_upper: int = 0
    suppressed_cells: int = 0

    @property
    def observed_peaks_lower_bound(self) -> bool:
        """True when a booking's observed peak, hence the mean and the ratio, is a lower bound."""
        return any(u.observed_peak_lower_bound for u in self.bookings)


def _instants(moments: Sequence[datetime], name: str) -> np.ndarray:
    for i, moment in enumerate(moments):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"{name}[{i}] must be timezone-aware, got {moment.isoformat()}")
    return np.array(
        [np.datetime64(m.astimezone(UTC).replace(tzinfo=None), "us") for m in moments],
        dtype="datetime64[us]",
    )


def covered_hours(
    hour_starts: np.ndarray, booking_starts: np.ndarray, booking_ends: np.ndarray
) -> np.ndarray:
    """Which hours each booking covers: at least 30 minutes of overlap (see module docstring).

    Args:
        hour_starts: (H,) UTC hour starts, numpy datetime64.
        booking_starts, booking_ends: (B,) UTC, numpy datetime64.

    Returns:
        (B, H) boolean array.

    Example: a class taught 10:15–12:00 covers 10–11 and 11–12; one from 10:40 to
    11:10 covers neither:

        >>> import numpy as np
        >>> hours = np.array(["2026-03-02T10:00", "2026-03-02T11:00"], dtype="datetime64[us]")
        >>> starts = np.array(["2026-03-02T10:15", "2026-03-02T10:40"], dtype="datetime64[us]")
        >>> ends = np.array(["2026-03-02T12:00", "2026-03-02T11:10"], dtype="datetime64[us]")
        >>> covered_hours(hours, starts, ends).tolist()
        [[True, True], [False, False]]
    """
    hours = as_utc_instants(hour_starts, "hour_starts")
    starts = np.asarray(booking_starts).astype("datetime64[us]")
    ends = np.asarray(booking_ends).astype("datetime64[us]")
    if starts.shape != ends.shape or starts.ndim != 1:
        raise ValueError("booking_starts and booking_ends must be 1-D arrays of the same length")
    if (ends < starts).any():
        i = int(np.flatnonzero(ends < starts)[0])
        raise ValueError(f"booking {i} ends before it starts")
    lo = np.maximum(starts[:, None], hours[None, :])
    hi = np.minimum(ends[:, None], hours[None, :] + _HOUR64)
    return (hi - lo) >= np.timedelta64(COVER_MINIMUM)


def _nan_ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


def booked_vs_actual(
    hour_starts: np.ndarray,
    core: np.ndarray,
    counts: np.ndarray,
    peak_counts: np.ndarray,
    bookings: Sequence[Booking],
    capacity: float,
    in_use_threshold: float = 1.0,
    *,
    count_upper: np.ndarray | None = None,
    peak_upper: np.ndarray | None = None,
) -> BookedVsActual:
    """Booked frequency, no-show rate, unbooked use and class sizes (METRICS.md; SMG 2006).

    Args:
        hour_starts: (H,) UTC hour starts of the period, numpy datetime64, no gaps needed.
        core: (H,) True for available core hours (see ``utilisation.core_hours_mask``).
        counts: (H,) n_h in people by the site's hourly rule; NaN = no reading.
        peak_counts: (H,) the hour's peak count in people; NaN = no reading.
        bookings: the space's bookings (``TimetableStore.bookings``), timezone-aware.
        capacity: seats (> 0).
        in_use_threshold: people; an unbooked hour is used when n_h >= this (default 1).
        count_upper, peak_upper: (H,) upper bounds of ``counts`` and ``peak_counts`` when
            those are lower bounds from published cells (module docstring); default: the
            counts are exact.

    Returns:
        BookedVsActual; its period runs from the first hour start to the end of the last.

    Worked example (the issue's): 10 booked core hours, 3 of them with peak 0, so
    the no-show rate is 3 / 10 = 0.3. Of the 6 unbooked core hours, 2 are used:

        >>> import numpy as np
        >>> from datetime import datetime, UTC
        >>> hours = np.arange(np.datetime64("2026-03-02T07:00", "us"),
        ...                   np.datetime64("2026-03-02T23:00", "us"), np.timedelta64(1, "h"))
        >>> core = np.ones(16, dtype=bool)
        >>> booking = Booking(datetime(2026, 3, 2, 7, tzinfo=UTC),
        ...                   datetime(2026, 3, 2, 17, tzinfo=UTC), "TMA4100", 30)
        >>> peaks = np.array([20] * 7 + [0] * 3 + [3, 2] + [0] * 4, dtype=float)
        >>> r = booked_vs_actual(hours, core, peaks, peaks, [booking], capacity=40)
        >>> r.booked_hours, r.booked_frequency, r.no_show_hours, r.no_show_rate
        (10, 0.625, 3, 0.3)
        >>> r.unbooked_used_hours, r.bookings[0].observed_peak, r.class_size_to_capacity
        (2, 20.0, 0.75)
    """
    hours = as_utc_instants(hour_starts, "hour_starts")
    core = np.asarray(core, dtype=bool)
    counts = np.asarray(counts, dtype=np.float64)
    peaks = np.asarray(peak_counts, dtype=np.float64)
    counts_high = counts if count_upper is None else np.asarray(count_upper, dtype=np.float64)
    peaks_high = peaks if peak_upper is None else np.asarray(peak_upper, dtype=np.float64)
    if not (
        core.shape == counts.shape == peaks.shape == hours.shape
        and counts_high.shape == peaks_high.shape == hours.shape
    ):
        raise ValueError(
            f"core, counts and peak_counts must each have one value per hour ({hours.size})"
        )
    for name, values in (("counts", counts), ("peak_counts", peaks)):
        known = values[~np.isnan(values)]
        if np.isinf(known).any() or (known < 0).any():
            raise ValueError(f"{name} must be finite people counts >= 0 (NaN for no reading)")
    if not (isinstance(capacity, int | float) and math.isfinite(capacity) and capacity > 0):
        raise ValueError(f"capacity must be a number of seats > 0, got {capacity!r}")
    if not (isinstance(in_use_threshold, int | float) and in_use_threshold > 0):
        raise ValueError(f"in_use_threshold must be people > 0, got {in_use_threshold!r}")
    covers = covered_hours(
        hours,
        _instants([b.start for b in bookings], "bookings.start"),
        _instants([b.end for b in bookings], "bookings.end"),
    )
    booked = covers.any(axis=0) if len(bookings) else np.zeros(hours.shape, dtype=bool)
    has_peak = ~np.isnan(peaks)
    has_count = ~np.isnan(counts)
    booked_core = booked & core
    booked_seen = booked_core & has_peak
    # nobody came only when even the upper bound is 0: a suppressed cell holds someone
    no_show = booked_seen & (np.nan_to_num(peaks_high) == 0)
    unbooked_seen = core & ~booked & has_count
    unbooked_used = unbooked_seen & (np.nan_to_num(counts) >= in_use_threshold)
    could_be_used = unbooked_seen & (np.nan_to_num(counts_high) >= in_use_threshold)
    uses = _booking_uses(bookings, covers, peaks, peaks_high, int(capacity))
    return BookedVsActual(
        period_start=_period_edge(hours, 0),
        period_end=_period_edge(hours, -1) + timedelta(hours=1) if hours.size else _EPOCH,
        core_hours=int(core.sum()),
        booked_hours=int(booked_core.sum()),
        booked_frequency=_nan_ratio(int(booked_core.sum()), int(core.sum())),
        booked_hours_with_data=int(booked_seen.sum()),
        no_show_hours=int(no_show.sum()),
        no_show_rate=_nan_ratio(int(no_show.sum()), int(booked_seen.sum())),
        unbooked_hours_with_data=int(unbooked_seen.sum()),
        unbooked_used_hours=int(unbooked_used.sum()),
        unbooked_used_hours_upper=int(could_be_used.sum()),
        hours_without_data=int((core & ~(has_peak & has_count)).sum()),
        capacity=int(capacity),
        in_use_threshold=float(in_use_threshold),
        **_class_size_summary(uses, capacity),
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _period_edge(hours: np.ndarray, index: int) -> datetime:
    if not hours.size:
        return _EPOCH
    return hours[index].item().replace(tzinfo=UTC)


def _booking_uses(
    bookings: Sequence[Booking],
    covers: np.ndarray,
    peaks: np.ndarray,
    peaks_high: np.ndarray,
    capacity: int,
) -> list[BookingUse]:
    uses = []
    for booking, covered in zip(bookings, covers, strict=True):
        if not covered.any():
            continue
        seen, high = peaks[covered], peaks_high[covered]
        with_data = ~np.isnan(seen)
        seen, high = seen[with_data], high[with_data]
        uses.append(
            BookingUse(
                start=booking.start,
                end=booking.end,
                summary=booking.summary,
                class_size=booking.class_size,
                capacity=capacity,
                observed_peak=float(seen.max()) if seen.size else math.nan,
                hours=int(covered.sum()),
                observed_peak_lower_bound=bool(seen.size and high.max() > seen.max()),
            )
        )
    uses.sort(key=lambda u: (u.start, u.end, u.summary))
    return uses


def _class_size_summary(uses: list[BookingUse], capacity: float) -> dict[str, object]:
    sized = [u for u in uses if u.class_size is not None]
    seen = [u for u in uses if not math.isnan(u.observed_peak)]
    both = [u for u in sized if not math.isnan(u.observed_peak)]
    mean_size = float(np.mean([u.class_size for u in sized])) if sized else math.nan
    return {
        "bookings": tuple(uses),
        "bookings_with_class_size": len(sized),
        "bookings_with_data": len(seen),
        "mean_class_size": mean_size,
        "class_size_to_capacity": mean_size / capacity,
        "mean_observed_peak": float(np.mean([u.observed_peak for u in seen])) if seen else math.nan,
        "headcount_to_class_size": _nan_ratio(
            sum(u.observed_peak for u in both), sum(u.class_size for u in both)
        ),
    }


# -- composition: read through the port ----------------------------------------------


def booked_vs_actual_of(
    campus: Campus,
    hourly: HourlyOccupancy,
    space_id: str,
    bookings: Sequence[Booking],
    protected: ProtectedUse | None = None,
) -> BookedVsActual:
    """``booked_vs_actual`` for one space of occupancy already read (no store).

    ``protected``: the bounds behind ``hourly`` when it was derived from the published
    15-minute cells (below facilities; see the module docstring).
    """
    row = hourly.row(space_id)
    uppers: dict[str, np.ndarray] = {}
    suppressed = 0
    if protected is not None:
        column = protected.space_ids.index(space_id)
        uppers = {
            "count_upper": protected.by_rule.upper[:, column],
            "peak_upper": protected.at_peak.upper[:, column],
        }
        suppressed = int(protected.by_rule.suppressed[protected.core, column].sum())
    result = booked_vs_actual(
        hourly.hour_starts,
        hourly.core,
        hourly.counts[row],
        hourly.peaks[row],
        bookings,
        float(hourly.capacities[row]),
        campus.analytics.in_use_threshold,
        **uppers,
    )
    left_out = int(hourly.points_excluded[row, hourly.core].sum())
    return dataclasses.replace(result, points_excluded=left_out, suppressed_cells=suppressed)


def booked_vs_actual_by_space(
    store: ReadingStore,
    campus: Campus,
    timetables: TimetableStore,
    start: datetime,
    end: datetime,
    space_ids: Sequence[str] | None = None,
) -> dict[str, BookedVsActual]:
    """Booked vs actual of every space with a timetable, over a period's core hours.

    Reads occupancy for all those spaces at once (one ``read_resampled`` call
    for the hourly peak, and one for the mean when the site observes the mean).
    Core hours, the in-use threshold and the hourly rule come from the site's
    settings.

    Args:
        store: the reading store.
        campus: the registry.
        timetables: the imported calendars.
        start, end: the period, timezone-aware, half-open; widened to whole UTC hours.
        space_ids: these spaces (each must have a timetable); default: every space
            of the registry that has one.

    Returns:
        {space id: BookedVsActual}, in registry order.

    Raises:
        NotInRegistry: an unknown space id.
        campuslab.core.timetables.NoTimetable: a space asked for has no timetable.
    """
    if space_ids is None:
        stored = set(timetables.spaces())
        space_ids = [space.id for _, space in campus.spaces() if space.id in stored]
    for space_id in space_ids:
        if campus.space(space_id) is None:
            raise NotInRegistry(f"unknown space {space_id!r}: not in the campus registry")
    if not space_ids:
        return {}
    hourly = read_hourly_occupancy(store, campus, start, end, space_ids)
    return booked_vs_actual_for(campus, hourly, timetables, space_ids)


def booked_vs_actual_for(
    campus: Campus,
    hourly: HourlyOccupancy,
    timetables: TimetableStore,
    space_ids: Sequence[str],
    protected: ProtectedUse | None = None,
) -> dict[str, BookedVsActual]:
    """Booked vs actual of ``space_ids`` from occupancy already read; bookings from the store.

    ``protected``: the bounds behind ``hourly`` when it comes from the published cells.
    """
    found: dict[str, BookedVsActual] = {}
    for space_id in space_ids:
        bookings = timetables.bookings(space_id, hourly.period_start, hourly.period_end)
        found[space_id] = booked_vs_actual_of(campus, hourly, space_id, bookings, protected)
    return found


def space_booked_vs_actual(
    store: ReadingStore,
    campus: Campus,
    timetables: TimetableStore,
    space_id: str,
    start: datetime,
    end: datetime,
) -> BookedVsActual:
    """Booked vs actual of one space; see ``booked_vs_actual_by_space``."""
    return booked_vs_actual_by_space(store, campus, timetables, start, end, [space_id])[space_id]
