"""Learning-space use for planners: the SMG set per space, building, space type and campus.

Definitions (METRICS.md, "Workspace and learning-space use") follow the UK
Space Management Group, *Space utilisation: practice, performance and
guidelines* (SMG 2006), and the HESA Estates Management Record
(https://www.hesa.ac.uk/collection/c19042/a/frequencyrate,
https://www.hesa.ac.uk/collection/c18042/a/occupancyrate). The single-space
and pooled maths is in ``utilisation.py``. This module groups spaces, builds
the hour × weekday profile, and reads what both need through the store port.

What this module adds, and the choices it makes where METRICS.md is silent:

- **Groups are pooled as seat-hours** (``pooled_utilisation``), never as a
  mean of room percentages: a 280-seat hall weighs 14 times a 20-seat room.
- **Both hourly observations.** The site chooses n_h, the hour's mean count
  or its peak (``AnalyticsSettings.hourly_observation``). Every group result
  has ``utilisation``, computed with the site's rule, and ``at_hourly_peak``,
  the same figures with n_h = the hour's peak count. METRICS.md asks for the
  hour's peak to be reported beside the mean.
- Core hours, the in-use threshold and the rule all come from the site's
  ``AnalyticsSettings``. Core hours are in local time, so they follow DST.
- A core hour without any reading is left out of H and counted in
  ``hours_without_data``. An offline sensor is not an empty room.
- Readings flagged by the data-quality checks are left out, and each
  result counts them in ``points_excluded`` (METRICS.md, "Data quality").
- Periods are widened to whole UTC hours, as in ``kpis``. Each result gives
  the period it covers (``period_start`` and ``period_end``, UTC).
- The hour × weekday profile uses local time. A cell pools every room-hour
  whose local start falls on that weekday and hour. When DST ends, the local
  hour 02:00 happens twice, and both hours count in that cell. When DST
  starts, the skipped hour has no room-hours that day. ``hours`` gives the
  room-hours behind each cell.

Composition functions read occupancy through the store port with one
``read_resampled`` call for all spaces at once, or two when the site uses the
hourly mean (one call for the mean, one for the peak).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np

from campuslab.analytics.kpis import (
    NotInRegistry,
    hour_grid,
    observation_aggregate,
    read_hourly_screened,
)
from campuslab.analytics.local_time import as_utc_instants, local_wall_time, weekday_numbers
from campuslab.analytics.utilisation import (
    UtilisationResult,
    core_hours_mask,
    pooled_utilisation,
    presence_frequency_rate,
)
from campuslab.core.quantities import PRESENCE
from campuslab.core.registry import Campus, CoreHours, Space
from campuslab.core.store.port import Aggregate, ReadingStore

GroupBy = Literal["space", "building", "space_type", "campus"]
GROUP_BY: tuple[str, ...] = ("space", "building", "space_type", "campus")
_HOUR64 = np.timedelta64(1, "h").astype("timedelta64[us]")
# HEFCE bands as universities apply them to U (METRICS.md): poor < 25 %, fair 25–35 %, good ≥ 35 %
HEFCE_FAIR, HEFCE_GOOD = 0.25, 0.35


def hefce_band(utilisation: float) -> str | None:
    """The HEFCE band of a utilisation rate: "poor" (< 25 %), "fair" (25–35 %), "good" (≥ 35 %).

    Bands as universities apply them (METRICS.md); SMG 2006 finds U ≈ 25–27 % typical.
    None for NaN (no available hours).

        >>> hefce_band(0.2), hefce_band(0.3), hefce_band(0.35)
        ('poor', 'fair', 'good')
    """
    if utilisation is None or math.isnan(utilisation):
        return None
    if utilisation < HEFCE_FAIR:
        return "poor"
    return "fair" if utilisation < HEFCE_GOOD else "good"


# -- what the compositions read ----------------------------------------------------


@dataclass(frozen=True)
class HourlyOccupancy:
    """Hourly occupancy of several spaces on one UTC hour grid, as read from the store.

    Attributes:
        period_start, period_end: the hours covered, UTC (``period_end`` is exclusive).
        hour_starts: (H,) UTC hour starts, datetime64[us].
        core: (H,) True for the site's core hours (local time).
        space_ids: the S spaces, in registry order.
        capacities: (S,) seats.
        counts: (S, H) people, n_h by the site's hourly rule; NaN = no reading that hour.
        peaks: (S, H) people, the hour's peak count; NaN = no reading that hour.
        hourly_observation: the site's rule, "mean" or "peak".
        points_excluded: (S, H) raw readings flagged by the data-quality checks and
            left out of each hour (METRICS.md: flag, never silently drop).
    """

    period_start: datetime
    period_end: datetime
    hour_starts: np.ndarray
    core: np.ndarray
    space_ids: tuple[str, ...]
    capacities: np.ndarray
    counts: np.ndarray
    peaks: np.ndarray
    hourly_observation: str
    points_excluded: np.ndarray

    def row(self, space_id: str) -> int:
        return self.space_ids.index(space_id)


def _utc(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime):
        raise ValueError(f"{name} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"{name} must be timezone-aware (e.g. 2026-03-02T00:00+01:00), "
            f"got naive {moment.isoformat()}"
        )
    return moment.astimezone(UTC)


def _spaces(campus: Campus, space_ids: Sequence[str] | None) -> list[Space]:
    if space_ids is None:
        return [space for _, space in campus.spaces()]
    chosen = []
    for space_id in space_ids:
        space = campus.space(space_id)
        if space is None:
            raise NotInRegistry(f"unknown space {space_id!r}: not in the campus registry")
        chosen.append(space)
    return chosen


def read_hourly_occupancy(
    store: ReadingStore,
    campus: Campus,
    start: datetime,
    end: datetime,
    space_ids: Sequence[str] | None = None,
) -> HourlyOccupancy:
    """Occupancy of many spaces per UTC hour, by the site's rule and at the hour's peak.

    Reads through ``kpis.read_hourly_screened``, so readings flagged by the
    data-quality checks are left out and counted. That is one ``read_resampled``
    call when the site observes the hourly peak, and two when it observes the
    mean (MEAN for n_h, MAX for the peak). Add one ``read_quality_flags`` call,
    and raw reads only for the hours that hold flagged readings.

    Args:
        store: the reading store.
        campus: the registry (time zone, core hours, hourly rule).
        start, end: the period, timezone-aware, half-open; widened to whole UTC hours.
        space_ids: the spaces to read (default: every space of the campus).

    Raises:
        NotInRegistry: a space id the registry does not know.
        ValueError: naive datetimes, or end not after start.
    """
    start, end = _utc(start, "start"), _utc(end, "end")
    if end <= start:
        raise ValueError(f"end ({end.isoformat()}) must be after start ({start.isoformat()})")
    spaces = _spaces(campus, space_ids)
    first, last_end, grid = hour_grid(start, end)
    ids = [space.id for space in spaces]
    rule = observation_aggregate(campus)
    aggregates = [Aggregate.MAX] if rule is Aggregate.MAX else [rule, Aggregate.MAX]
    screened = read_hourly_screened(store, "occupancy", grid, ids, aggregates)
    settings = campus.analytics
    return HourlyOccupancy(
        period_start=first,
        period_end=last_end,
        hour_starts=grid,
        core=core_hours_mask(grid, campus.tz, settings.core_hours)
        if grid.size
        else np.zeros(0, dtype=bool),
        space_ids=tuple(ids),
        capacities=np.array([float(space.capacity) for space in spaces]),
        counts=screened.values[rule],
        peaks=screened.values[Aggregate.MAX],
        hourly_observation=settings.hourly_observation,
        points_excluded=screened.excluded,
    )


# -- grouped utilisation -------------------------------------------------------------


@dataclass(frozen=True)
class GroupUtilisation:
    """The SMG set for one group of spaces over a period's core hours.

    Attributes:
        group_by: "space", "building", "space_type" or "campus".
        key: the space, building or site id, or the space type ("lecture_hall").
        name: a readable name (space or building name, type, site name).
        period_start, period_end: the period covered, UTC (whole hours, end exclusive).
        hourly_observation: the site's rule behind ``utilisation`` ("mean" or "peak").
        space_ids: the spaces pooled.
        capacity: Σ seats of those spaces.
        utilisation: frequency, occupancy and utilisation, peak and P95 occupancy,
            seat-hours and the < 60 %, 60–100 % and > 100 % bands. Computed with the
            site's rule and pooled as seat-hours. ``hours_without_data`` counts the
            room-hours in core time that had no reading.
        at_hourly_peak: the same figures with n_h = the hour's peak count.
        band: HEFCE band of ``utilisation.utilisation`` ("poor", "fair", "good").
    """

    group_by: str
    key: str
    name: str
    period_start: datetime
    period_end: datetime
    hourly_observation: str
    space_ids: tuple[str, ...]
    capacity: int
    utilisation: UtilisationResult
    at_hourly_peak: UtilisationResult
    band: str | None


def _pool(
    values: np.ndarray, hourly: HourlyOccupancy, rows: list[int], threshold: float
) -> UtilisationResult:
    per_space, missing = [], 0
    for row in rows:
        core_values = values[row, hourly.core]
        observed = ~np.isnan(core_values)
        per_space.append(core_values[observed])
        missing += int((~observed).sum())
    result = pooled_utilisation(per_space, [hourly.capacities[r] for r in rows], threshold)
    left_out = int(hourly.points_excluded[rows][:, hourly.core].sum())
    return dataclasses.replace(result, hours_without_data=missing, points_excluded=left_out)


def _group_keys(campus: Campus, group_by: str) -> dict[str, tuple[str, str]]:
    """space id -> (group key, group name)."""
    keys = {}
    for building, space in campus.spaces():
        if group_by == "space":
            keys[space.id] = (space.id, space.name)
        elif group_by == "building":
            keys[space.id] = (building.id, building.name)
        elif group_by == "space_type":
            keys[space.id] = (space.type.value, space.type.value.replace("_", " "))
        else:
            keys[space.id] = (campus.site.id, campus.site.name)
    return keys


def group_utilisation(
    campus: Campus, hourly: HourlyOccupancy, group_by: GroupBy = "space"
) -> list[GroupUtilisation]:
    """``utilisation_by_group`` over occupancy already read (no store), sorted by key.

    Args:
        campus: the registry (spaces, buildings, types, in-use threshold).
        hourly: from ``read_hourly_occupancy``.
        group_by: "space", "building", "space_type" or "campus".
    """
    if group_by not in GROUP_BY:
        raise ValueError(f"group_by must be one of {', '.join(GROUP_BY)}, not {group_by!r}")
    keys = _group_keys(campus, group_by)
    rows_of: dict[str, list[int]] = {}
    names: dict[str, str] = {}
    for row, space_id in enumerate(hourly.space_ids):
        key, name = keys[space_id]
        rows_of.setdefault(key, []).append(row)
        names[key] = name
    threshold = campus.analytics.in_use_threshold
    results = []
    for key in sorted(rows_of):
        rows = rows_of[key]
        by_rule = _pool(hourly.counts, hourly, rows, threshold)
        results.append(
            GroupUtilisation(
                group_by=group_by,
                key=key,
                name=names[key],
                period_start=hourly.period_start,
                period_end=hourly.period_end,
                hourly_observation=hourly.hourly_observation,
                space_ids=tuple(hourly.space_ids[r] for r in rows),
                capacity=int(sum(hourly.capacities[r] for r in rows)),
                utilisation=by_rule,
                at_hourly_peak=_pool(hourly.peaks, hourly, rows, threshold),
                band=hefce_band(by_rule.utilisation),
            )
        )
    return results


def utilisation_by_group(
    store: ReadingStore,
    campus: Campus,
    start: datetime,
    end: datetime,
    group_by: GroupBy = "space",
    space_ids: Sequence[str] | None = None,
) -> list[GroupUtilisation]:
    """Frequency, occupancy and utilisation per space, building, space type or campus.

    The SMG 2006 and HESA definitions are pooled as seat-hours (METRICS.md), so
    a building's U is its used seat-hours over its available seat-hours, never
    the mean of its rooms' percentages. Each result carries peak and P95
    occupancy, the Density-style bands, and the same figures at the hour's
    peak count (``at_hourly_peak``).

    Args:
        store: the reading store (one or two ``read_resampled`` calls in all).
        campus: the registry; core hours, in-use threshold and hourly rule come
            from its ``analytics`` settings.
        start, end: the period, timezone-aware, half-open; widened to whole UTC hours.
        group_by: "space", "building", "space_type" or "campus".
        space_ids: restrict to these spaces (default: all).

    Returns:
        One GroupUtilisation per group that has spaces, sorted by key.

    Raises:
        NotInRegistry: an unknown space id.
        ValueError: an unknown ``group_by``, naive datetimes, or end not after start.
    """
    if group_by not in GROUP_BY:
        raise ValueError(f"group_by must be one of {', '.join(GROUP_BY)}, not {group_by!r}")
    hourly = read_hourly_occupancy(store, campus, start, end, space_ids)
    return group_utilisation(campus, hourly, group_by)


# -- the hour × weekday profile ---------------------------------------------------------


@dataclass(frozen=True)
class UtilisationProfile:
    """Use by local weekday (rows, Monday = 0) and local hour of day (columns), 7 × 24.

    Attributes:
        period_start, period_end: the period covered, UTC.
        timezone: the IANA zone the weekdays and hours are in.
        space_ids: the spaces pooled.
        hourly_observation: the rule behind n_h ("mean" or "peak").
        utilisation: Σ n_h / Σ C over the cell's room-hours (for one space, the mean
            of n_h / C). NaN where the cell has no room-hours.
        share_in_use: capacity-weighted share of the cell's room-hours with
            n_h >= the in-use threshold (for one space, the share of its hours in
            use). It is the same weighting as the pooled frequency rate, so the
            core cells add up to the campus F. NaN where the cell has no room-hours.
        hours: room-hours with a reading behind each cell.
        in_use_hours: of those, the room-hours in use.
        core: True for the cells inside the site's core hours.
        points_excluded: raw readings flagged by data-quality checks and left out
            (all hours of the period; 0 when computed from counts directly).
    """

    period_start: datetime
    period_end: datetime
    timezone: str
    space_ids: tuple[str, ...]
    hourly_observation: str
    utilisation: np.ndarray
    share_in_use: np.ndarray
    hours: np.ndarray
    in_use_hours: np.ndarray
    core: np.ndarray
    points_excluded: int = 0


def utilisation_profile(
    hour_starts: np.ndarray,
    counts: np.ndarray,
    capacities: Sequence[float],
    tz: ZoneInfo,
    in_use_threshold: float = 1.0,
    core: CoreHours | None = None,
    space_ids: Sequence[str] = (),
    hourly_observation: str = "mean",
) -> UtilisationProfile:
    """Hour × weekday utilisation and share in use, in local time (SMG 2006; METRICS.md).

    Each room-hour goes to the cell of its local weekday and local start hour.
    Cells pool seat-hours: U_cell = Σ n_h / Σ C, and the share in use is
    Σ C over in-use room-hours / Σ C over all room-hours.

    Args:
        hour_starts: (H,) UTC hour starts, numpy datetime64, ascending.
        counts: (S, H) n_h in people per space and hour; NaN = no reading.
        capacities: (S,) seats.
        tz: the site's time zone.
        in_use_threshold: people; an hour is in use when n_h >= this (default 1).
        core: the site's core hours, for the ``core`` cell mask (default Mon–Fri 08–16).
        space_ids: the S spaces' ids, recorded in the result.
        hourly_observation: the rule behind n_h, recorded in the result.

    Returns:
        UtilisationProfile. Its period runs from the first hour start to the end of
        the last hour.

    Example: one 10-seat room, Monday 2 March 2026 in Oslo (UTC+1), 5 people at
    09:00–10:00 local (08:00 UTC) and none at 10:00:

        >>> import numpy as np
        >>> from zoneinfo import ZoneInfo
        >>> hours = np.array(["2026-03-02T08:00", "2026-03-02T09:00"], dtype="datetime64[us]")
        >>> p = utilisation_profile(hours, [[5, 0]], [10], ZoneInfo("Europe/Oslo"))
        >>> float(p.utilisation[0, 9]), float(p.share_in_use[0, 9]), int(p.hours[0, 10])
        (0.5, 1.0, 1)
        >>> float(p.utilisation[0, 10]), bool(p.core[0, 9]), bool(np.isnan(p.utilisation[1, 9]))
        (0.0, True, True)
    """
    starts = as_utc_instants(hour_starts, "hour_starts")
    seats = np.asarray(capacities, dtype=np.float64)
    try:
        counts = np.asarray(counts, dtype=np.float64).reshape(seats.size, starts.size)
    except ValueError:
        raise ValueError(
            f"counts must be (spaces, hours) = ({seats.size}, {starts.size}), "
            f"got {np.shape(counts)}"
        ) from None
    if (~np.isfinite(seats) | (seats <= 0)).any():
        raise ValueError("capacities must be finite numbers of seats > 0")
    if np.isinf(counts).any() or (counts[~np.isnan(counts)] < 0).any():
        raise ValueError("counts must be finite people counts >= 0 (NaN for no reading)")
    if not (isinstance(in_use_threshold, int | float) and in_use_threshold > 0):
        raise ValueError(f"in_use_threshold must be people > 0, got {in_use_threshold!r}")
    shape = (7, 24)
    observed = ~np.isnan(counts)
    in_use = observed & (np.nan_to_num(counts) >= in_use_threshold)
    seat_grid = np.broadcast_to(seats[:, None], counts.shape)
    if starts.size:
        wall = local_wall_time(starts, tz)
        days = wall.astype("datetime64[D]")
        cell = weekday_numbers(days) * 24 + ((wall - days) // _HOUR64).astype(np.int64)
    else:
        cell = np.zeros(0, dtype=np.int64)
    cells = np.broadcast_to(cell, counts.shape)

    def per_cell(weights: np.ndarray | None, where: np.ndarray) -> np.ndarray:
        chosen = None if weights is None else weights[where]
        return np.bincount(cells[where], weights=chosen, minlength=168).reshape(shape)

    seat_hours = per_cell(seat_grid, observed)
    used = per_cell(counts, observed)
    in_use_seat_hours = per_cell(seat_grid, in_use)
    hours = per_cell(None, observed).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        utilisation = np.where(hours > 0, used / seat_hours, np.nan)
        share = np.where(hours > 0, in_use_seat_hours / seat_hours, np.nan)
    first = starts[0] if starts.size else np.datetime64("1970-01-01T00:00", "us")
    last_end = starts[-1] + _HOUR64 if starts.size else first
    return UtilisationProfile(
        period_start=first.item().replace(tzinfo=UTC),
        period_end=last_end.item().replace(tzinfo=UTC),
        timezone=tz.key,
        space_ids=tuple(space_ids),
        hourly_observation=hourly_observation,
        utilisation=utilisation,
        share_in_use=share,
        hours=hours,
        in_use_hours=per_cell(None, in_use).astype(np.int64),
        core=_core_cells(core or CoreHours()),
    )


def _core_cells(core: CoreHours) -> np.ndarray:
    mask = np.zeros((7, 24), dtype=bool)
    for weekday in core.weekday_numbers:
        mask[weekday, core.start.hour : core.end.hour] = True
    return mask


def profile_of(campus: Campus, hourly: HourlyOccupancy) -> UtilisationProfile:
    """``hour_weekday_profile`` over occupancy already read (no store)."""
    profile = utilisation_profile(
        hourly.hour_starts,
        hourly.counts,
        hourly.capacities,
        campus.tz,
        campus.analytics.in_use_threshold,
        campus.analytics.core_hours,
        hourly.space_ids,
        hourly.hourly_observation,
    )
    # the period read, which may be longer than the hours with a grid (never shorter)
    return dataclasses.replace(
        profile,
        period_start=hourly.period_start,
        period_end=hourly.period_end,
        points_excluded=int(hourly.points_excluded.sum()),
    )


def hour_weekday_profile(
    store: ReadingStore,
    campus: Campus,
    start: datetime,
    end: datetime,
    space_ids: Sequence[str] | None = None,
) -> UtilisationProfile:
    """When spaces are used: mean n_h / C and share in use per local weekday and hour.

    Covers every hour of the period, core or not; ``core`` marks the core cells.
    Several spaces are pooled as seat-hours (METRICS.md). n_h follows the site's
    hourly rule.

    Args:
        store: the reading store.
        campus: the registry (time zone, in-use threshold, hourly rule, core hours).
        start, end: the period, timezone-aware, half-open; widened to whole UTC hours.
        space_ids: the spaces to pool (default: all; one id for a single room).

    Raises:
        NotInRegistry: an unknown space id.
        ValueError: naive datetimes, or end not after start.
    """
    return profile_of(campus, read_hourly_occupancy(store, campus, start, end, space_ids))


def read_presence_use(
    store: ReadingStore, campus: Campus, start: datetime, end: datetime, space_id: str
) -> UtilisationResult:
    """Frequency rate of one space from its presence readings (``presence_frequency_rate``).

    For a space with presence (PIR) readings and no head count. One ``read_resampled``
    (the hourly mean of the 0/1 readings, flagged readings left out), widened to whole
    UTC hours as ``read_hourly_occupancy`` does.
    """
    start, end = _utc(start, "start"), _utc(end, "end")
    if end <= start:
        raise ValueError(f"end ({end.isoformat()}) must be after start ({start.isoformat()})")
    _, _, grid = hour_grid(start, end)
    screened = read_hourly_screened(store, PRESENCE, grid, [space_id], [Aggregate.MEAN])
    settings = campus.analytics
    return presence_frequency_rate(
        grid,
        screened.values[Aggregate.MEAN][0],
        campus.tz,
        settings.core_hours,
        settings.presence_in_use_share,
    )
