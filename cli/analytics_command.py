"""``campuslab analytics``: the analytics scheduler, a process of its own.

Registered in ``cli/main.py`` with ``app.add_typer(analytics_app, name="analytics")``.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from campuslab.analytics.quality_kpis import (
    QualityFlagsUnsupported,
    QualityRunReport,
    run_quality,
    worst_days,
)
from campuslab.analytics.rollups import local_midnight
from campuslab.analytics.scheduler import (
    MIN_RETENTION,
    RunReport,
    backfill,
    run_forever,
    run_once,
)
from campuslab.cli import options as opt
from campuslab.cli.stores import STORE_FILE, StoreOptions
from campuslab.cli.stores import open_store as open_any_store
from campuslab.core.config import format_duration
from campuslab.core.registry import Campus, RegistryError, load_campus, sample_campus_path
from campuslab.core.store.duckdb import DuckDBStore, StoreLockedError
from campuslab.core.store.port import ReadingStore

EXIT_FAILURE, EXIT_USAGE = 1, 2
console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)

analytics_app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@analytics_app.callback()
def analytics() -> None:
    """Rollups for dashboards and long ranges: space_hourly, space_weekhour, space_daily,
    building_daily.

    Hourly per space: mean and max occupancy and CO2, mean temperature and humidity.
    Daily per space: frequency, occupancy, utilisation, CO2 category hours.
    Daily per building: electricity and heat, per m2, night base load.
    Before each run the data-quality checks flag bad readings, which the rollups
    leave out (and count); `analytics quality` runs the checks on their own.
    """


class StoreUnavailable(RuntimeError):
    """The store cannot be opened; the message says why and what to do."""


def open_store(options: StoreOptions, campus: Campus) -> ReadingStore:
    """The store the scheduler reads raw readings from and writes rollups to.

    Raises:
        StoreUnavailable: no DuckDB store there yet, or another process holds it.
    """
    if options.kind != "duckdb":
        return open_any_store(options, campus)
    data_dir = options.data_dir
    path = data_dir / STORE_FILE
    if not path.exists():
        raise StoreUnavailable(
            f"no store at {path}: nothing has been ingested there yet. Point --data-dir at "
            "the folder `campuslab serve` uses (default: data)."
        )
    try:
        return DuckDBStore(path)
    except StoreLockedError as exc:
        raise StoreUnavailable(
            f"{exc}\nIn embedded mode `campuslab serve` runs the scheduler itself (see its "
            "--analytics-every); a separate scheduler needs the InfluxDB backend."
        ) from None


def _open_or_fail(options: StoreOptions, campus: Campus) -> ReadingStore:
    """``open_store``, or exit: 2 for bad options, 1 when the store cannot be opened."""
    try:
        options.check()
        return open_store(options, campus)
    except ValueError as exc:
        opt.fail(str(exc))
    except StoreUnavailable as exc:
        opt.fail(str(exc), EXIT_FAILURE)


@analytics_app.command("run")
def run(
    every: str | None = typer.Option(
        None,
        "--every",
        metavar="SPAN",
        help="Keep running: now, then at every wall-clock multiple of SPAN (15m runs at "
        ":00, :15, :30, :45). Without it: run once and exit.",
    ),
    since: str | None = typer.Option(
        None,
        "--since",
        metavar="DATE",
        help="First backfill every local day from DATE (YYYY-MM-DD) to today.",
    ),
    days: int | None = typer.Option(
        None,
        "--days",
        min=1,
        metavar="N",
        help="First backfill the last N local days, today included (7: today and 6 before).",
    ),
    retention: str | None = typer.Option(
        None,
        "--retention",
        metavar="SPAN",
        help="Delete raw readings older than SPAN (e.g. 90d) after each run, whole local days "
        "at a time. Rollups are kept forever. Default: keep all raw readings.",
    ),
    registry: opt.Registry = None,
    data_dir: opt.DataDir = Path("data"),
    store: opt.Store = "duckdb",
    influx_url: opt.InfluxUrl = None,
    influx_token: opt.InfluxToken = None,
    influx_org: opt.InfluxOrg = None,
    influx_bucket: opt.InfluxBucket = None,
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
    quality: bool = typer.Option(
        True,
        "--quality/--no-quality",
        help="Run the data-quality checks over the same days first, so the rollups leave "
        "flagged readings out (default: on).",
    ),
) -> None:
    """Compute rollups and write them back to the store.

    Each run recomputes space_hourly since local midnight yesterday, and space_daily
    and building_daily for yesterday and today (today so far; the next run
    overwrites it). Rows are replaced, never doubled, so reruns are safe.

    Examples:

      campuslab analytics run                       # once, then exit

      campuslab analytics run --every 15m --retention 90d

      campuslab analytics run --since 2026-11-01    # backfill, then exit
    """
    period = opt.duration_option(every, "--every") if every else None
    keep = _retention(retention)
    campus = _campus(registry)
    now = datetime.now(UTC)
    first_day = _backfill_start(since, days, campus, now)
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    )
    options = StoreOptions(
        kind=store,
        data_dir=data_dir,
        influx_url=influx_url,
        influx_token=influx_token,
        influx_org=influx_org,
        influx_bucket=influx_bucket,
    )
    store = _open_or_fail(options, campus)
    try:
        if first_day is not None:
            retain = keep if period is None else None
            _show(_backfill(store, campus, first_day, now, retain, quality))
        if period is None:
            if first_day is None:
                _show(run_once(store, campus, now, retention=keep, check_quality=quality))
            return
        _forever(store, campus, period, keep, quality)
    finally:
        store.close()
        _fail_unless_written(store)


def _fail_unless_written(store: ReadingStore) -> None:
    """Exit 1 when rows went to the InfluxDB writer's spool instead of the server.

    They are kept, and written by a later run once the server takes them; but a run
    that says "N rows" while InfluxDB refused every write (a wrong URL, token or
    bucket answers 401/403/404) must not look like success.
    """
    stats = getattr(store, "stats", None)
    if stats is None:
        return
    totals = stats()
    held = totals.spooled_lines - totals.replayed_lines - totals.rejected_lines
    reason = getattr(store, "misconfigured", None)
    if held <= 0 and reason is None:
        return
    spool = getattr(getattr(store, "config", None), "spool_dir", None)
    from rich.markup import escape

    message = (
        f"{held:,} lines were not written to InfluxDB"
        + (f" ({reason})" if reason else "")
        + f"; they are kept in the spool{f' at {spool}' if spool else ''} and written once "
        "the server takes them. Check --influx-url (a server with /api/v2/write), "
        "--influx-token, --influx-org and --influx-bucket."
    )
    opt.fail(escape(message), EXIT_FAILURE)


def _retention(text: str | None) -> timedelta | None:
    if text is None:
        return None
    span = opt.duration_option(text, "--retention")
    if span < MIN_RETENTION:
        raise typer.BadParameter(
            f"{text} is too short: keep at least {format_duration(MIN_RETENTION)} of raw "
            "readings, since every run recomputes yesterday from them",
            param_hint="--retention",
        )
    return span


def _campus(path: Path | None) -> Campus:
    try:
        return load_campus(path or sample_campus_path())
    except RegistryError as exc:
        opt.fail(str(exc))


def _backfill_start(
    since: str | None, days: int | None, campus: Campus, now: datetime
) -> date | None:
    today = now.astimezone(campus.tz).date()
    if since is not None and days is not None:
        raise typer.BadParameter("give --since or --days, not both", param_hint="--since")
    if days is not None:
        return today - timedelta(days=days - 1)
    if since is None:
        return None
    try:
        first = date.fromisoformat(since)
    except ValueError:
        raise typer.BadParameter(
            f"{since!r} is not a date; use YYYY-MM-DD, e.g. 2026-11-01", param_hint="--since"
        ) from None
    if first > today:
        raise typer.BadParameter(
            f"{first} is in the future (today is {today} in {campus.site.timezone})",
            param_hint="--since",
        )
    return first


def _backfill(
    store: ReadingStore,
    campus: Campus,
    first_day: date,
    now: datetime,
    retention: timedelta | None,
    quality: bool = True,
) -> RunReport:
    last_day = now.astimezone(campus.tz).date()
    columns = (
        TextColumn("[bold]backfill[/bold] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("days"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(f"{first_day}..{last_day}", total=(last_day - first_day).days + 1)

        def show(day: date, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, description=f"{day}")

        return backfill(
            store, campus, first_day, last_day, now, retention, progress=show, check_quality=quality
        )


def _show(report: RunReport) -> None:
    console.print(f"analytics: {report.summary()}", markup=False, soft_wrap=True)


def _forever(
    store: ReadingStore,
    campus: Campus,
    every: timedelta,
    retention: timedelta | None,
    quality: bool = True,
) -> None:
    stop = threading.Event()
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread:  # `docker stop` sends SIGTERM: finish the run under way, then exit
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    console.print(
        f"analytics: running every {format_duration(every)} (aligned to the clock); Ctrl-C stops"
    )
    try:
        run_forever(store, campus, every, stop, retention=retention, check_quality=quality)
    except KeyboardInterrupt:
        stop.set()
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
    console.print("analytics: stopped")


@analytics_app.command("quality")
def quality_command(
    since: str | None = typer.Option(
        None, "--since", metavar="DATE", help="Check every local day from DATE (YYYY-MM-DD)."
    ),
    days: int | None = typer.Option(
        None,
        "--days",
        min=1,
        metavar="N",
        help="Check the last N local days, today included (default 2: yesterday and today).",
    ),
    worst: int = typer.Option(10, "--worst", min=0, help="List this many worst sensor-days."),
    registry: opt.Registry = None,
    data_dir: opt.DataDir = Path("data"),
    store: opt.Store = "duckdb",
    influx_url: opt.InfluxUrl = None,
    influx_token: opt.InfluxToken = None,
    influx_org: opt.InfluxOrg = None,
    influx_bucket: opt.InfluxBucket = None,
) -> None:
    """Check the raw readings' data quality, store the flags, and report QCI per sensor-day.

    Checks (METRICS.md): gaps, duplicate or out-of-order timestamps, range, spikes,
    stuck values while occupied, headcounts over 1.5 x capacity or negative, in/out
    counters not back to about 0 overnight, registers that decrease. QCI = readings
    passing every check / all readings (Sandia's Pecos). Flagged readings are left out
    of every KPI; rerunning replaces the flags of the days checked.

    Examples:

      campuslab analytics quality                 # yesterday and today

      campuslab analytics quality --days 7 --worst 20
    """
    campus = _campus(registry)
    now = datetime.now(UTC)
    first_day = _backfill_start(since, days if days is not None or since else 2, campus, now)
    options = StoreOptions(
        kind=store,
        data_dir=data_dir,
        influx_url=influx_url,
        influx_token=influx_token,
        influx_org=influx_org,
        influx_bucket=influx_bucket,
    )
    opened = _open_or_fail(options, campus)
    try:
        report = run_quality(opened, campus, local_midnight(campus, first_day), now)
    except QualityFlagsUnsupported as exc:
        opt.fail(str(exc), EXIT_FAILURE)
    finally:
        opened.close()
    _show_quality(report, worst)


def _show_quality(report: QualityRunReport, worst: int) -> None:
    console.print(
        f"{report.start:%Y-%m-%d %H:%M}..{report.end:%Y-%m-%d %H:%M} UTC: {report.summary()}; "
        f"{report.flags_written:,} flags written in {report.seconds:.2f} s",
        markup=False,
        soft_wrap=True,
    )
    if report.series_without_data:
        names = ", ".join(f"{s}/{q}" for s, q in report.series_without_data[:10])
        more = len(report.series_without_data) - 10
        console.print(
            f"no readings at all: {names}" + (f" and {more} more" if more > 0 else ""),
            markup=False,
            soft_wrap=True,
        )
    rows = worst_days(report, worst)
    if not rows:
        return
    table = Table(title="worst sensor-days")
    for column in (
        "sensor",
        "quantity",
        "date",
        "readings",
        "flagged",
        "QCI",
        "missing",
        "by check",
    ):
        table.add_column(column)
    for day in rows:
        checks = ", ".join(f"{c} {n}" for c, n in day.flagged_by_check.items() if n)
        table.add_row(
            day.sensor,
            day.quantity,
            str(day.date),
            f"{day.points:,}",
            f"{day.flagged:,}",
            f"{day.qci:.4f}",
            f"{day.missing_points:,}",
            checks,
        )
    console.print(table)
