"""Data-quality runs through the store port: check the raw readings, keep the flags, report QCI.

METRICS.md, "Data quality (flag, never silently drop)": ``run_quality`` reads
every space's and meter's raw readings of a window, runs the checks of
``quality`` on them, and replaces the window's flags in the store
(``write_quality_flags``), so a rerun gives the same flags and never doubles
them. The KPIs (``kpis``, ``rollups``) then leave the flagged readings out and
say how many they left out. The scheduler runs it before every rollup.

What is read and checked:

- per space, its raw ``occupancy``, ``co2``, ``temperature`` and ``humidity``
  (``read_series``, one call each); the occupancy series also tells the stuck
  check when the space was occupied;
- per meter, its raw register (``energy``, ``heat_energy``); an electricity
  register is stuck-checked while anyone is in its building (the occupancy of
  all its spaces);
- the site's outdoor weather station is not checked: the ranges are indoor ones.

Checks look past the window's edges: the readings from ``stuck_window`` plus an
hour before ``start`` (a spike needs the sample before it, a stuck window an
hour of samples), and after ``end`` up to the end of the night that closes the
last counter day (the overnight check flags a whole day once its night fails)
or ``stuck_window``, whichever is later. Only flags of readings inside
[start, end) are written, and only those readings are counted in the report; a
reading's flags therefore depend only on the data, not on how runs are cut.

``summarise_quality`` runs the same checks for an answer over a long period (a
semester): it keeps no flags and no per-day rows beyond one page, only running
totals per building and quantity, so its memory is bounded by one building's
chunk of raw readings, whatever the period.
"""

from __future__ import annotations

import math
import time as clock
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from typing import Protocol

import numpy as np

from campuslab.analytics.quality import (
    CHECKS,
    QualitySettings,
    SeriesQuality,
    occupied_at,
    quality_report,
)
from campuslab.core.quantities import SPACE_QUANTITIES
from campuslab.core.readings import Series
from campuslab.core.registry import Building, Campus
from campuslab.core.store.port import QualityFlag, ReadingStore

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CONTEXT_BEFORE_EXTRA = timedelta(hours=1)
DEFAULT_CHUNK_DAYS = 7
DEFAULT_READ_WORKERS = 4


class QualityFlagsUnsupported(RuntimeError):
    """The store has no quality-flag storage (``write_quality_flags``/``read_quality_flags``)."""


def supports_quality_flags(store: ReadingStore) -> bool:
    """Whether the store implements the port's quality-flag calls."""
    return callable(getattr(store, "write_quality_flags", None)) and callable(
        getattr(store, "read_quality_flags", None)
    )


@dataclass(frozen=True)
class SensorDayQuality:
    """One sensor's quality of one quantity on one local day (``quality.DayQuality``)."""

    sensor: str
    quantity: str
    date: date
    points: int
    flagged: int
    flagged_by_check: Mapping[str, int] = field(hash=False)
    missing_points: int
    qci: float
    completeness: float


@dataclass(frozen=True)
class SensorGap:
    """A gap in one sensor's readings: ``missing`` expected readings between two instants."""

    sensor: str
    quantity: str
    after: datetime  # the last reading before the gap (or the window start), UTC
    before: datetime  # the first reading after it (or the window end), UTC
    missing: int


@dataclass(frozen=True)
class QualityRunReport:
    """What one run of the checks found and wrote.

    Attributes:
        start, end: the window, UTC; its flags were replaced.
        series: (sensor, quantity) series checked.
        points: readings in the window.
        flagged_points: readings flagged by at least one check.
        flags_written: flags written (a reading flagged by two checks has two).
        flagged_by_check: check -> readings it flagged.
        missing_points: expected readings that never came (the gaps), not in ``points``.
        gaps: every gap, by sensor.
        days: per sensor, quantity and local day: points, flags, QCI.
        series_without_data: (sensor, quantity) with no reading at all in the window.
        seconds: wall-clock duration.
    """

    start: datetime
    end: datetime
    series: int
    points: int
    flagged_points: int
    flags_written: int
    flagged_by_check: Mapping[str, int] = field(hash=False)
    missing_points: int
    gaps: tuple[SensorGap, ...]
    days: tuple[SensorDayQuality, ...]
    series_without_data: tuple[tuple[str, str], ...]
    seconds: float

    @property
    def qci(self) -> float:
        """Readings passing every check / all readings (Pecos' QCI), over the whole run."""
        return (self.points - self.flagged_points) / self.points if self.points else math.nan

    def summary(self) -> str:
        checks = ", ".join(
            f"{check} {count:,}" for check, count in self.flagged_by_check.items() if count
        )
        text = (
            f"quality: {self.series} series, {self.points:,} readings, "
            f"{self.flagged_points:,} flagged"
        )
        details = [f"QCI {self.qci:.4f}"] if self.points else []
        if checks:
            details.append(checks)
        if details:
            text += f" ({'; '.join(details)})"
        text += f", {len(self.gaps):,} gaps ({self.missing_points:,} readings missing)"
        return text

    def merged(self, other: QualityRunReport) -> QualityRunReport:
        """This run and a later one as one report (for a backfill, day after day)."""
        by_check = {
            check: self.flagged_by_check.get(check, 0) + other.flagged_by_check.get(check, 0)
            for check in CHECKS
        }
        return QualityRunReport(
            start=min(self.start, other.start),
            end=max(self.end, other.end),
            series=max(self.series, other.series),
            points=self.points + other.points,
            flagged_points=self.flagged_points + other.flagged_points,
            flags_written=self.flags_written + other.flags_written,
            flagged_by_check=by_check,
            missing_points=self.missing_points + other.missing_points,
            gaps=self.gaps + other.gaps,
            days=self.days + other.days,
            series_without_data=tuple(
                dict.fromkeys(self.series_without_data + other.series_without_data)
            ),
            seconds=self.seconds + other.seconds,
        )


# -- the window ----------------------------------------------------------------------------


def _utc(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")
    return moment.astimezone(UTC)


def read_window(
    campus: Campus, start: datetime, end: datetime, settings: QualitySettings
) -> tuple[datetime, datetime]:
    """The span of raw readings the checks of [start, end) look at (see the module docstring)."""
    read_from = start - max(settings.stuck_window, settings.spike_max_duration)
    read_from -= CONTEXT_BEFORE_EXTRA
    read_to = end + max(settings.stuck_window, settings.spike_max_duration)
    if settings.overnight_extent == "day":
        day = end.astimezone(campus.tz).date()
        night_end = datetime.combine(day, settings.night_end, campus.tz).astimezone(UTC)
        if night_end < end:
            night_end = datetime.combine(
                day + timedelta(days=1), settings.night_end, campus.tz
            ).astimezone(UTC)
        read_to = max(read_to, night_end)
    return read_from, read_to


# -- one series --------------------------------------------------------------------------


def _instants(us: np.ndarray) -> list[datetime]:
    return [_EPOCH + timedelta(microseconds=int(u)) for u in us.tolist()]


class _SeriesTotals:
    """What both tallies count of every series: points, flags per check, gaps, no data.

    Subclasses hold ``points``, ``flagged_points``, ``by_check``, ``without_data`` and
    ``gaps``; ``_count`` returns the series' instants and which lie inside the window.
    """

    points: int
    flagged_points: int
    by_check: dict[str, int]
    without_data: list[tuple[str, str]]
    gaps: list[SensorGap]

    def _count(
        self,
        sensor: str,
        quantity: str,
        series: Series,
        found: SeriesQuality,
        window: tuple[int, int],
    ) -> tuple[np.ndarray, np.ndarray]:
        us = series.ts.astype("datetime64[us]").astype(np.int64)
        inside = (us >= window[0]) & (us < window[1])
        if not inside.any():
            self.without_data.append((sensor, quantity))
        self.points += int(inside.sum())
        self.flagged_points += int((found.flagged & inside).sum())
        for check, flagged in found.flags.items():
            self.by_check[check] += int((flagged & inside).sum())
        after = _instants(found.gaps.after.astype(np.int64))
        before = _instants(found.gaps.before.astype(np.int64))
        for lo, hi, missing in zip(after, before, found.gaps.missing.tolist(), strict=True):
            self.gaps.append(SensorGap(sensor, quantity, lo, hi, int(missing)))
        return us, inside


def _day_rows(sensor: str, quantity: str, found: SeriesQuality) -> Iterator[SensorDayQuality]:
    for day in found.days:
        yield SensorDayQuality(
            sensor,
            quantity,
            day.date,
            day.points,
            day.flagged,
            day.flagged_by_check,
            day.missing_points,
            day.qci,
            day.completeness,
        )


@dataclass
class _Tally(_SeriesTotals):
    """What the run has found so far."""

    flags: list[QualityFlag] = field(default_factory=list)
    days: list[SensorDayQuality] = field(default_factory=list)
    gaps: list[SensorGap] = field(default_factory=list)
    without_data: list[tuple[str, str]] = field(default_factory=list)
    points: int = 0
    flagged_points: int = 0
    by_check: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CHECKS, 0))

    def end_chunk(self) -> None:
        """Nothing to do: this tally keeps every row."""

    def add(
        self,
        sensor: str,
        quantity: str,
        series: Series,
        found: SeriesQuality,
        window: tuple[int, int],
    ) -> None:
        us, inside = self._count(sensor, quantity, series, found, window)
        for check, flagged in found.flags.items():
            hit = flagged & inside
            if hit.any():
                self.flags.extend(
                    QualityFlag(sensor, quantity, moment, check) for moment in _instants(us[hit])
                )
        self.days.extend(_day_rows(sensor, quantity, found))


def _occupied_any(
    ts: np.ndarray, occupancy: Iterable[Series], settings: QualitySettings
) -> np.ndarray:
    """Whether anyone was in any of the given spaces at each instant."""
    busy = np.zeros(ts.shape, dtype=bool)
    for series in occupancy:
        busy |= occupied_at(
            ts,
            series.ts,
            series.values,
            settings.occupied_threshold,
            settings.occupancy_max_age,
        )
    return busy


def _read_building(
    store: ReadingStore,
    building: Building,
    span: tuple[datetime, datetime],
    pool: ThreadPoolExecutor | None,
) -> dict[tuple[str, str], Series]:
    """Every raw series of a building's spaces and meters over ``span``, read in parallel."""
    jobs = [(space.id, q) for space in building.spaces for q in SPACE_QUANTITIES]
    jobs += [(meter.id, meter.quantity) for meter in building.meters]

    def read(job: tuple[str, str]) -> Series:
        return store.read_series(job[0], job[1], *span)

    if pool is None:
        return {job: read(job) for job in jobs}
    return dict(zip(jobs, pool.map(read, jobs), strict=True))


def _check_building(
    store: ReadingStore,
    campus: Campus,
    building: Building,
    span: tuple[datetime, datetime],
    window: tuple[datetime, datetime],
    settings: QualitySettings,
    tally: _Tally | _SummaryTally,
    pool: ThreadPoolExecutor | None,
) -> None:
    start, end = window
    window_us = (_us(start), _us(end))
    readings = _read_building(store, building, span, pool)
    occupancy_of = [readings[(space.id, "occupancy")] for space in building.spaces]
    for space, occupancy in zip(building.spaces, occupancy_of, strict=True):
        for quantity in SPACE_QUANTITIES:
            series = readings[(space.id, quantity)]
            occupied = None
            if quantity != "occupancy" and quantity in settings.stuck_epsilons:
                occupied = occupied_at(
                    series.ts,
                    occupancy.ts,
                    occupancy.values,
                    settings.occupied_threshold,
                    settings.occupancy_max_age,
                )
            found = quality_report(
                series.ts,
                series.values,
                quantity,
                campus.tz,
                capacity=space.capacity,
                occupied=occupied,
                settings=settings,
                start=start,
                end=end,
            )
            tally.add(space.id, quantity, series, found, window_us)
    for meter in building.meters:
        series = readings[(meter.id, meter.quantity)]
        occupied = None
        if meter.quantity in settings.stuck_epsilons:
            occupied = _occupied_any(series.ts, occupancy_of, settings)
        found = quality_report(
            series.ts,
            series.values,
            meter.quantity,
            campus.tz,
            occupied=occupied,
            settings=settings,
            start=start,
            end=end,
        )
        tally.add(meter.id, meter.quantity, series, found, window_us)


def _chunks(
    campus: Campus, start: datetime, end: datetime, days: int
) -> list[tuple[datetime, datetime]]:
    """[start, end) cut at local midnights into pieces of at most ``days`` local days."""
    pieces, lo = [], start
    while lo < end:
        day = lo.astimezone(campus.tz).date() + timedelta(days=days)
        hi = min(end, datetime.combine(day, dt_time(0), campus.tz).astimezone(UTC))
        pieces.append((lo, hi))
        lo = hi
    return pieces


def _us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


# -- the run -------------------------------------------------------------------------------


def check_quality(
    store: ReadingStore,
    campus: Campus,
    start: datetime,
    end: datetime,
    settings: QualitySettings | None = None,
    chunk_days: int = DEFAULT_CHUNK_DAYS,
    workers: int = DEFAULT_READ_WORKERS,
) -> tuple[QualityRunReport, list[QualityFlag]]:
    """Run the checks on every space and meter over [start, end); write nothing.

    The window is worked through ``chunk_days`` local days at a time, a building
    at a time, so memory stays bounded by one building's chunk (a gap that spans
    a chunk boundary is reported as two). The raw reads of a building run on
    ``workers`` threads (the store's reads wait on I/O or release the GIL).

    Returns the report and the flags ``run_quality`` would write.
    """
    began = clock.perf_counter()
    settings = settings or QualitySettings()
    start, end = _window(start, end, chunk_days)
    tally = _Tally()
    _run_checks(store, campus, campus.buildings, (start, end), settings, chunk_days, workers, tally)
    report = QualityRunReport(
        start=start,
        end=end,
        series=len({(day.sensor, day.quantity) for day in tally.days} | set(tally.without_data)),
        points=tally.points,
        flagged_points=tally.flagged_points,
        flags_written=len(tally.flags),
        flagged_by_check=dict(tally.by_check),
        missing_points=sum(gap.missing for gap in tally.gaps),
        gaps=tuple(tally.gaps),
        days=tuple(tally.days),
        series_without_data=_without_data(tally),
        seconds=clock.perf_counter() - began,
    )
    return report, tally.flags


def _window(start: datetime, end: datetime, chunk_days: int) -> tuple[datetime, datetime]:
    start, end = _utc(start, "start"), _utc(end, "end")
    if end <= start:
        raise ValueError(f"end ({end.isoformat()}) must be after start ({start.isoformat()})")
    if chunk_days < 1:
        raise ValueError(f"chunk_days must be at least 1, got {chunk_days}")
    return start, end


def _run_checks(
    store: ReadingStore,
    campus: Campus,
    buildings: Sequence[Building],
    window: tuple[datetime, datetime],
    settings: QualitySettings,
    chunk_days: int,
    workers: int,
    tally: _Tally | _SummaryTally,
) -> None:
    """The checks of ``buildings`` over the window, chunk by chunk, into ``tally``."""
    pool = ThreadPoolExecutor(workers, thread_name_prefix="quality-read") if workers > 1 else None
    try:
        for piece in _chunks(campus, *window, chunk_days):
            span = read_window(campus, *piece, settings)
            for building in buildings:
                _check_building(store, campus, building, span, piece, settings, tally, pool)
            tally.end_chunk()
    finally:
        if pool is not None:
            pool.shutdown()


def _without_data(tally: _Tally) -> tuple[tuple[str, str], ...]:
    """Series with no reading in any chunk of the window."""
    seen = {(day.sensor, day.quantity) for day in tally.days if day.points}
    return tuple(key for key in dict.fromkeys(tally.without_data) if key not in seen)


def run_quality(
    store: ReadingStore,
    campus: Campus,
    start: datetime,
    end: datetime,
    settings: QualitySettings | None = None,
    chunk_days: int = DEFAULT_CHUNK_DAYS,
    workers: int = DEFAULT_READ_WORKERS,
) -> QualityRunReport:
    """Check every space's and meter's raw readings in [start, end) and store the flags.

    The window's flags are replaced (``write_quality_flags``): a rerun writes
    the same flags again, never twice. See the module docstring for what is
    read and checked, and ``quality`` for the checks and their thresholds.

    Args:
        store: the reading store; it must implement the quality-flag calls.
        campus: the campus registry (spaces, capacities, meters, time zone).
        start, end: the window, timezone-aware, half-open.
        settings: thresholds (default ``QualitySettings()``, METRICS.md's).
        chunk_days, workers: how the reads are cut and spread (``check_quality``).

    Returns:
        QualityRunReport: points, flags per check, QCI per sensor and local day, gaps.

    Raises:
        QualityFlagsUnsupported: the store cannot keep flags.
        ValueError: naive datetimes, or end not after start.
    """
    if not supports_quality_flags(store):
        raise QualityFlagsUnsupported(
            f"{type(store).__name__} does not store data-quality flags "
            "(write_quality_flags / read_quality_flags); the checks cannot be kept"
        )
    began = clock.perf_counter()
    report, flags = check_quality(store, campus, start, end, settings, chunk_days, workers)
    store.write_quality_flags(report.start, report.end, flags)
    return replace(report, seconds=clock.perf_counter() - began)


def worst_days(report: QualityRunReport, count: int = 10) -> Sequence[SensorDayQuality]:
    """The sensor-days with the lowest QCI (then the most flags), for a report or the CLI."""
    scored = [day for day in report.days if day.points and day.flagged]
    return sorted(scored, key=lambda d: (d.qci, -d.flagged, d.sensor, d.quantity, d.date))[:count]


# -- a summary over a long period (the API) ------------------------------------------------


@dataclass(frozen=True)
class QualityGroup:
    """The checks' findings for one quantity in one building, over the whole window.

    Attributes:
        building: building id.
        quantity: the quantity (``co2``, ``energy``, ...).
        series: sensors of that quantity in the building.
        sensor_days: (sensor, local day) rows behind the figures.
        points: readings in the window.
        flagged: readings failing at least one check.
        flagged_by_check: check -> readings it flagged (a reading may count under two).
        missing_points: expected readings that never came (the gaps' days).
    """

    building: str
    quantity: str
    series: int
    sensor_days: int
    points: int
    flagged: int
    flagged_by_check: Mapping[str, int] = field(hash=False)
    missing_points: int

    @property
    def qci(self) -> float:
        """(points − flagged) / points (Pecos' QCI; METRICS.md); NaN without readings."""
        return (self.points - self.flagged) / self.points if self.points else math.nan

    @property
    def completeness(self) -> float:
        """points / (points + missing); NaN when nothing was expected."""
        expected = self.points + self.missing_points
        return self.points / expected if expected else math.nan


class _Findings(Protocol):
    """What ``quality_summary_of`` reads: a run report or a scope's part of one."""

    start: datetime
    end: datetime
    points: int
    flagged_points: int
    flagged_by_check: Mapping[str, int]
    missing_points: int
    days: Sequence[SensorDayQuality]
    gaps: Sequence[SensorGap]
    series_without_data: Sequence[tuple[str, str]]


@dataclass(frozen=True)
class QualitySummary:
    """The data-quality checks over a window: totals for all of it, and one page of its days.

    Attributes:
        start, end: the window, UTC.
        points, flagged_points, flagged_by_check, missing_points: as ``QualityRunReport``.
        groups: per building and quantity, registry order (buildings, then spaces'
            quantities, then meters').
        gaps: every gap (a gap across a chunk boundary is two).
        series_without_data: (sensor, quantity) without a reading in the window.
        days_total: (sensor, local day) rows of the window: series × local days.
        days_offset: the index of ``days[0]`` among them.
        days: the page asked for, ordered by local date, then registry order of the
            sensor, then quantity; the same order whatever the page.
        seconds: wall-clock duration.
    """

    start: datetime
    end: datetime
    points: int
    flagged_points: int
    flagged_by_check: Mapping[str, int] = field(hash=False)
    missing_points: int
    groups: tuple[QualityGroup, ...]
    gaps: tuple[SensorGap, ...]
    series_without_data: tuple[tuple[str, str], ...]
    days_total: int
    days_offset: int
    days: tuple[SensorDayQuality, ...]
    seconds: float = 0.0

    @property
    def qci(self) -> float:
        """Readings passing every check / all readings (Pecos' QCI); NaN without readings."""
        return (self.points - self.flagged_points) / self.points if self.points else math.nan


def _series_order(buildings: Iterable[Building]) -> dict[tuple[str, str], tuple[int, str]]:
    """(sensor, quantity) -> (position in registry order, building id)."""
    keys = []
    for building in buildings:
        keys += [((s.id, q), building.id) for s in building.spaces for q in SPACE_QUANTITIES]
        keys += [((m.id, m.quantity), building.id) for m in building.meters]
    return {key: (i, building_id) for i, (key, building_id) in enumerate(keys)}


@dataclass
class _GroupTally:
    series: set[str] = field(default_factory=set)
    sensor_days: int = 0
    points: int = 0
    flagged: int = 0
    missing: int = 0
    by_check: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CHECKS, 0))

    def add(self, day: SensorDayQuality) -> None:
        self.series.add(day.sensor)
        self.sensor_days += 1
        self.points += day.points
        self.flagged += day.flagged
        self.missing += day.missing_points
        for check, count in day.flagged_by_check.items():
            self.by_check[check] = self.by_check.get(check, 0) + int(count)


def _quality_groups(
    order: Mapping[tuple[str, str], tuple[int, str]],
    groups: Mapping[tuple[str, str], _GroupTally],
) -> tuple[QualityGroup, ...]:
    """Buildings in registry order; in each, the spaces' quantities, then the meters'."""
    first: dict[tuple[str, str], int] = {}
    for (_, quantity), (position, building) in order.items():
        first.setdefault((building, quantity), position)
    return tuple(
        QualityGroup(
            building=key[0],
            quantity=key[1],
            series=len(groups[key].series),
            sensor_days=groups[key].sensor_days,
            points=groups[key].points,
            flagged=groups[key].flagged,
            flagged_by_check=dict(groups[key].by_check),
            missing_points=groups[key].missing,
        )
        for key in sorted(groups, key=first.__getitem__)
    )


class _SummaryTally(_SeriesTotals):
    """Running totals, and the days of one page: no flags, no other day is kept.

    The days of a chunk are held until the chunk ends, then sorted (local date, registry
    order): chunks are cut at local midnights and worked through in time order, so the
    days of the whole window come out in that order, whatever ``chunk_days``.
    """

    def __init__(self, buildings: Sequence[Building], offset: int, limit: int | None) -> None:
        self.order = _series_order(buildings)
        self.offset, self.limit = offset, limit
        self.groups: dict[tuple[str, str], _GroupTally] = {}
        self.chunk_days: list[SensorDayQuality] = []
        self.page: list[SensorDayQuality] = []
        self.days_seen = 0
        self.gaps: list[SensorGap] = []
        self.without_data: list[tuple[str, str]] = []
        self.with_data: set[tuple[str, str]] = set()
        self.points = self.flagged_points = 0
        self.by_check = dict.fromkeys(CHECKS, 0)

    def add(
        self,
        sensor: str,
        quantity: str,
        series: Series,
        found: SeriesQuality,
        window: tuple[int, int],
    ) -> None:
        _, inside = self._count(sensor, quantity, series, found, window)
        if inside.any():
            self.with_data.add((sensor, quantity))
        building = self.order[(sensor, quantity)][1]
        group = self.groups.setdefault((building, quantity), _GroupTally())
        for row in _day_rows(sensor, quantity, found):
            group.add(row)
            self.chunk_days.append(row)

    def end_chunk(self) -> None:
        rows = sorted(
            self.chunk_days, key=lambda d: (d.date, self.order[(d.sensor, d.quantity)][0])
        )
        self.chunk_days = []
        first = self.days_seen
        self.days_seen += len(rows)
        lo = max(self.offset - first, 0)
        hi = len(rows) if self.limit is None else max(self.offset + self.limit - first, 0)
        self.page.extend(rows[lo:hi])


def summarise_quality(
    store: ReadingStore,
    campus: Campus,
    start: datetime,
    end: datetime,
    building_id: str | None = None,
    *,
    days_offset: int = 0,
    days_limit: int | None = None,
    settings: QualitySettings | None = None,
    chunk_days: int = DEFAULT_CHUNK_DAYS,
    workers: int = DEFAULT_READ_WORKERS,
) -> QualitySummary:
    """The checks of ``check_quality`` on [start, end), summed up for a long period; writes nothing.

    METRICS.md, "Data quality": QCI = readings passing every check / all readings
    (Sandia's Pecos), here for the whole window, per building and quantity, and per
    sensor and local day for the page of days asked for. The figures equal
    ``check_quality``'s for the same window (``points``, ``flagged_by_check``, gaps,
    each day's row), but neither the flags nor the days outside the page are kept:
    memory is one building's chunk of raw readings plus the page, for any period.

    Args:
        store, campus, start, end: as ``check_quality``.
        building_id: only this building's spaces and meters (None: the campus).
        days_offset: rows of (sensor, local day) to skip.
        days_limit: rows to keep after them (None: every row).
        settings, chunk_days, workers: as ``check_quality``.

    Raises:
        ValueError: naive datetimes, end not after start, chunk_days below 1, a
            negative offset or limit, or an unknown building.
    """
    began = clock.perf_counter()
    settings = settings or QualitySettings()
    start, end = _window(start, end, chunk_days)
    if days_offset < 0 or (days_limit is not None and days_limit < 0):
        raise ValueError(f"days_offset and days_limit must be >= 0: {days_offset}, {days_limit}")
    buildings = campus.buildings
    if building_id is not None:
        building = campus.building(building_id)
        if building is None:
            raise ValueError(f"unknown building {building_id!r}: not in the campus registry")
        buildings = [building]
    tally = _SummaryTally(buildings, days_offset, days_limit)
    _run_checks(store, campus, buildings, (start, end), settings, chunk_days, workers, tally)
    return QualitySummary(
        start=start,
        end=end,
        points=tally.points,
        flagged_points=tally.flagged_points,
        flagged_by_check=dict(tally.by_check),
        missing_points=sum(gap.missing for gap in tally.gaps),
        groups=_quality_groups(tally.order, tally.groups),
        gaps=tuple(tally.gaps),
        series_without_data=tuple(
            key for key in dict.fromkeys(tally.without_data) if key not in tally.with_data
        ),
        days_total=tally.days_seen,
        days_offset=days_offset,
        days=tuple(tally.page),
        seconds=clock.perf_counter() - began,
    )


def quality_summary_of(
    campus: Campus,
    findings: QualityRunReport | _Findings,
    days_offset: int = 0,
    days_limit: int | None = None,
) -> QualitySummary:
    """The summary of findings already made (a run report, or a scope's part of one).

    Groups are those of ``summarise_quality``: per building and quantity, from the
    findings' days; the page is ``days[days_offset:days_offset + days_limit]`` in the
    findings' order.
    """
    order = _series_order(campus.buildings)
    groups: dict[tuple[str, str], _GroupTally] = {}
    for day in findings.days:
        building = order[(day.sensor, day.quantity)][1]
        groups.setdefault((building, day.quantity), _GroupTally()).add(day)
    stop = None if days_limit is None else days_offset + days_limit
    return QualitySummary(
        start=findings.start,
        end=findings.end,
        points=findings.points,
        flagged_points=findings.flagged_points,
        flagged_by_check=dict(findings.flagged_by_check),
        missing_points=findings.missing_points,
        groups=_quality_groups(order, groups),
        gaps=tuple(findings.gaps),
        series_without_data=tuple(findings.series_without_data),
        days_total=len(findings.days),
        days_offset=days_offset,
        days=tuple(findings.days[days_offset:stop]),
    )
