"""The analytics scheduler: recompute rollups on a clock, backfill ranges, apply retention.

Every run recomputes what may have changed since the last one and overwrites it
(``rollups``: a row's identity is measurement, tags and ts), so a rerun, an
overlap or a crash half-way never doubles a row:

- ``space_hourly`` for the last ``lookback`` (default: since local midnight
  of yesterday), the current hour included with what it has so far;
- ``space_daily`` and ``building_daily`` for yesterday and today (today partial,
  overwritten by the next run; yesterday redone so late readings land).

``backfill`` does the same day by day over a date range (catch-up after an
outage, or the first run on old data).

Before the rollups, each run checks the data quality of the same window
(``quality_kpis.run_quality``: yesterday and today, or the lookback if it
reaches further; in a backfill, each day) and replaces its flags in the store,
so the rollups leave the flagged readings out (METRICS.md: flag, never silently
drop). A store that cannot keep flags is run without the checks, with a
warning. ``check_quality=False`` turns them off.

Raw-data retention is optional (default: keep everything). When set, raw
readings (and their quality flags) before local midnight of the day
``now - retention`` falls on are deleted after the run; whole local days go,
so a day is never left with half its raw data, and a later recomputation of
it finds nothing and leaves its rollups alone (rollups are never deleted).

``run_forever`` runs at wall-clock multiples of ``every`` since the Unix epoch
(15m: hh:00, hh:15, ...; 1d: UTC midnight), once straight away at start. A run
that fails is logged and the next tick tries again; a run that overruns skips
the ticks it missed rather than queueing them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from campuslab.analytics.quality import QualitySettings
from campuslab.analytics.quality_kpis import (
    QualityRunReport,
    run_quality,
    supports_quality_flags,
)
from campuslab.analytics.rollups import (
    MEASUREMENTS,
    Rollups,
    compute_rollups,
    local_midnight,
    write_rollups,
)
from campuslab.core.registry import Campus
from campuslab.core.store.port import ReadingStore

log = logging.getLogger("campuslab.analytics")

MIN_RETENTION = timedelta(days=1)  # yesterday is recomputed every run; keep its raw data
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

ProgressCallback = Callable[[date, int, int], None]
"""Called after each backfilled day with (day, days done, days in all)."""


@dataclass(frozen=True)
class RunReport:
    """What one run (or one backfill) did.

    Attributes:
        now: the instant the run computed up to (UTC).
        first_day, last_day: the local days of its daily rows.
        rows: rows written per measurement.
        seconds: wall-clock duration of the run.
        retention_cutoff: raw readings before this instant were deleted (None: kept).
        quality: what the data-quality checks found and flagged (None: not run).
    """

    now: datetime
    first_day: date
    last_day: date
    rows: Mapping[str, int]
    seconds: float
    retention_cutoff: datetime | None = None
    quality: QualityRunReport | None = None

    def summary(self) -> str:
        days = (
            str(self.first_day)
            if self.first_day == self.last_day
            else f"{self.first_day}..{self.last_day}"
        )
        counts = ", ".join(f"{m} {self.rows.get(m, 0):,}" for m in MEASUREMENTS)
        text = f"days {days}: {counts} rows in {self.seconds:.2f} s"
        if self.retention_cutoff is not None:
            text += f"; raw readings before {self.retention_cutoff:%Y-%m-%d %H:%M} UTC deleted"
        if self.quality is not None:
            text += f"; {self.quality.summary()}"
        return text


RunCallback = Callable[[RunReport | None, BaseException | None], None]
"""Called after each scheduled run with its report, or with the error that ended it."""


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


def _check_retention(retention: timedelta | None) -> None:
    if retention is not None and retention < MIN_RETENTION:
        raise ValueError(
            f"retention must be at least {MIN_RETENTION.days} day: every run recomputes "
            f"yesterday from its raw readings (got {retention})"
        )


def retention_cutoff(campus: Campus, now: datetime, retention: timedelta) -> datetime:
    """Local midnight of the day ``now - retention`` falls on, as a UTC instant.

    Rounding down to a local midnight deletes whole days, and keeps at least
    ``retention`` of raw data.
    """
    _check_retention(retention)
    oldest_kept = (_aware(now, "now") - retention).astimezone(campus.tz).date()
    return local_midnight(campus, oldest_kept)


def apply_retention(
    store: ReadingStore, campus: Campus, now: datetime, retention: timedelta | None
) -> datetime | None:
    """Delete raw readings older than the retention (whole local days); rollups stay.

    Returns the cutoff used, or None when ``retention`` is None (keep everything).
    """
    if retention is None:
        return None
    cutoff = retention_cutoff(campus, now, retention)
    store.delete_readings_before(cutoff)
    if supports_quality_flags(store):  # the flags of readings that are gone
        store.write_quality_flags(_EPOCH, cutoff, [])
    return cutoff


_warned_unsupported: set[str] = set()


def _check_quality(
    store: ReadingStore,
    campus: Campus,
    start: datetime,
    end: datetime,
    enabled: bool,
    settings: QualitySettings | None,
) -> QualityRunReport | None:
    """Run the data-quality checks over [start, end) when they are on and the store keeps flags."""
    if not enabled or end <= start:
        return None
    if not supports_quality_flags(store):
        kind = type(store).__name__
        if kind not in _warned_unsupported:
            _warned_unsupported.add(kind)
            log.warning(
                "%s keeps no data-quality flags: rollups are computed without the checks", kind
            )
        return None
    return run_quality(store, campus, start, end, settings)


def _write(store: ReadingStore, rollups: Rollups, totals: dict[str, int]) -> None:
    for measurement, count in write_rollups(store, rollups).items():
        totals[measurement] = totals.get(measurement, 0) + count


def run_once(
    store: ReadingStore,
    campus: Campus,
    now: datetime,
    lookback: timedelta | None = None,
    retention: timedelta | None = None,
    check_quality: bool = True,
    quality_settings: QualitySettings | None = None,
) -> RunReport:
    """One scheduled run: check data quality, recompute recent rollups, then apply retention.

    Args:
        store: the reading store (raw readings in, rollups out).
        campus: the campus registry.
        now: the current time, timezone-aware.
        lookback: how far back ``space_hourly`` is recomputed (default: since local
            midnight of yesterday). Daily rows are always yesterday and today.
        retention: keep raw readings this long (at least 1 day); None keeps them all.
        check_quality: run the data-quality checks over the same window first
            (default on), so the rollups leave flagged readings out.
        quality_settings: thresholds of the checks (default METRICS.md's).

    Raises:
        ValueError: a naive ``now``, a lookback that is not positive, a retention
            under a day.
    """
    began = time.perf_counter()
    now = _aware(now, "now")
    _check_retention(retention)
    if lookback is not None and lookback <= timedelta(0):
        raise ValueError(f"lookback must be positive, got {lookback}")
    today = now.astimezone(campus.tz).date()
    yesterday = today - timedelta(days=1)
    since = None if lookback is None else now - lookback
    window_start = local_midnight(campus, yesterday)
    if since is not None:  # the hour it falls in is recomputed whole
        window_start = min(window_start, since.replace(minute=0, second=0, microsecond=0))
    quality = _check_quality(store, campus, window_start, now, check_quality, quality_settings)
    rows: dict[str, int] = {}
    _write(store, compute_rollups(store, campus, yesterday, today, now, since), rows)
    cutoff = apply_retention(store, campus, now, retention)
    seconds = time.perf_counter() - began
    return RunReport(now, yesterday, today, rows, seconds, cutoff, quality)


def backfill(
    store: ReadingStore,
    campus: Campus,
    first_day: date,
    last_day: date,
    now: datetime,
    retention: timedelta | None = None,
    progress: ProgressCallback | None = None,
    check_quality: bool = True,
    quality_settings: QualitySettings | None = None,
) -> RunReport:
    """Recompute every rollup of the local days first_day..last_day, one day at a time.

    A day under way (today) is computed up to ``now``; days after ``now`` give no
    rows. Each day's data quality is checked (and its flags replaced) before its
    rollups. Retention, when given, is applied once at the end.

    Args:
        store, campus: as for ``run_once``.
        first_day, last_day: local dates, inclusive.
        now: the current time, timezone-aware.
        retention: as for ``run_once``.
        progress: called after each day with (day, days done, days in all).
        check_quality, quality_settings: as for ``run_once``.
    """
    began = time.perf_counter()
    now = _aware(now, "now")
    _check_retention(retention)
    if last_day < first_day:
        raise ValueError(f"last day {last_day} is before first day {first_day}")
    total = (last_day - first_day).days + 1
    rows: dict[str, int] = {}
    quality: QualityRunReport | None = None
    for done in range(1, total + 1):
        day = first_day + timedelta(days=done - 1)
        day_end = min(local_midnight(campus, day + timedelta(days=1)), now)
        checked = _check_quality(
            store, campus, local_midnight(campus, day), day_end, check_quality, quality_settings
        )
        if checked is not None:
            quality = checked if quality is None else quality.merged(checked)
        _write(store, compute_rollups(store, campus, day, day, now), rows)
        if progress is not None:
            progress(day, done, total)
    cutoff = apply_retention(store, campus, now, retention)
    seconds = time.perf_counter() - began
    return RunReport(now, first_day, last_day, rows, seconds, cutoff, quality)


def next_tick(moment: datetime, every: timedelta) -> datetime:
    """The first multiple of ``every`` since the Unix epoch strictly after ``moment``."""
    if every <= timedelta(0):
        raise ValueError(f"every must be positive, got {every}")
    elapsed = _aware(moment, "moment") - _EPOCH
    return _EPOCH + (elapsed // every + 1) * every


def _utc_now() -> datetime:
    return datetime.now(UTC)


def run_forever(
    store: ReadingStore,
    campus: Campus,
    every: timedelta,
    stop: threading.Event,
    lookback: timedelta | None = None,
    retention: timedelta | None = None,
    on_run: RunCallback | None = None,
    clock: Callable[[], datetime] = _utc_now,
    check_quality: bool = True,
    quality_settings: QualitySettings | None = None,
) -> None:
    """Run ``run_once`` now and then at every wall-clock multiple of ``every``, until ``stop``.

    Each run is logged with its duration and row counts. A run that raises is
    logged with its traceback and the loop carries on at the next tick.

    Args:
        store, campus, lookback, retention: as for ``run_once``.
        every: the period, e.g. 15 minutes; ticks are aligned to the Unix epoch.
        stop: set it (from another thread, or a signal handler) to end the loop;
            a run under way finishes first.
        on_run: called after each run with (report, None) or (None, error).
        clock: the current time (UTC); for tests.
        check_quality, quality_settings: as for ``run_once``.
    """
    if every <= timedelta(0):
        raise ValueError(f"every must be positive, got {every}")
    _check_retention(retention)
    while not stop.is_set():
        now = clock()
        report, error = None, None
        try:
            report = run_once(
                store, campus, now, lookback, retention, check_quality, quality_settings
            )
        except Exception as exc:  # one bad run must not end the scheduler
            error = exc
            log.exception(
                "analytics run at %s UTC failed; trying again at %s",
                f"{now:%Y-%m-%d %H:%M:%S}",
                f"{next_tick(clock(), every):%H:%M:%S} UTC",
            )
        else:
            log.info("analytics run at %s UTC: %s", f"{now:%Y-%m-%d %H:%M:%S}", report.summary())
        if on_run is not None:
            on_run(report, error)
        wake = next_tick(clock(), every)
        stop.wait(max(0.0, (wake - clock()).total_seconds()))
