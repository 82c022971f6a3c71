"""``campuslab report``: the planner report, one self-contained HTML file.

Registered in ``cli/main.py`` with ``app.command("report")(report)``.

The figures come from ``analytics.report.planner_report`` (the functions the
API's routes call) and the page from ``api.report_render`` (the API's own
answer models, matplotlib plots embedded as PNG). A progress bar follows the
long part: the IEQ of every space, the energy of every building, the checks.

With ``--baseline-start`` and ``--baseline-end`` the energy section also gives
each building's savings by IPMVP Option C (``analytics.report.building_savings``,
as ``GET /api/v1/buildings/{id}/savings``): the report's period is the reporting
period, compared with a degree-day baseline fitted on the earlier baseline.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from campuslab.analytics.report import (
    NoData,
    NoSpaces,
    PlannerReport,
    planner_report,
    report_steps,
)
from campuslab.analytics.savings import MIN_BASELINE_DAYS
from campuslab.api.privacy_counts import ProtectedReader
from campuslab.api.report_render import render_report
from campuslab.api.routers.exports import OpenDataSettings
from campuslab.cli import options as opt
from campuslab.cli.stores import STORE_FILE, StoreOptions, open_store
from campuslab.cli.timetable_command import store_for
from campuslab.core.instants import INSTANT_RULE, parse_instant
from campuslab.core.readings import isoformat_utc
from campuslab.core.registry import Campus, RegistryError, load_campus, sample_campus_path
from campuslab.core.store.duckdb import StoreLockedError
from campuslab.core.store.port import ReadingStore

EXIT_FAILURE, EXIT_USAGE = 1, 2
console = Console(highlight=False, stderr=True)


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    console.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


def parse_moment(text: str, option: str, campus: Campus) -> datetime:
    """A date or an RFC 3339 time, by the rule of every entry point (``core.instants``):
    a bare date is local midnight, a time without an offset local time (site time zone)."""
    try:
        return parse_instant(text, campus.tz)
    except ValueError:
        _fail(
            f"{option} {text!r} is not a date (2026-03-02) or an RFC 3339 time "
            f"(2026-03-02T08:00:00+01:00): {INSTANT_RULE}"
        )


def _campus(registry: Path | None) -> Campus:
    try:
        return load_campus(registry or sample_campus_path())
    except RegistryError as exc:
        _fail(str(exc))


def _store(options: StoreOptions, campus: Campus) -> ReadingStore:
    if options.kind == "duckdb" and not (options.data_dir / STORE_FILE).exists():
        _fail(
            f"no store at {options.data_dir / STORE_FILE}: point --data-dir at the folder "
            "`campuslab serve` uses (default: data)"
        )
    try:
        return open_store(options, campus)
    except StoreLockedError as exc:
        _fail(
            f"{exc}\nWhile `campuslab serve` holds the store, read the same figures through "
            "its API (/api/v1/campus/utilisation, /api/v1/recommendations, ...).",
            EXIT_FAILURE,
        )
    except ValueError as exc:
        _fail(str(exc))


def report(
    start: str = typer.Option(
        ...,
        "--start",
        metavar="WHEN",
        help="First day (YYYY-MM-DD, from local midnight) or an RFC 3339 time (no offset: "
        "local time, site time zone).",
    ),
    end: str = typer.Option(
        ...,
        "--end",
        metavar="WHEN",
        help="End, not included (YYYY-MM-DD: local midnight; --start 2026-03-02 --end "
        "2026-03-09 is Monday to Sunday).",
    ),
    building: str | None = typer.Option(
        None, "--building", metavar="ID", help="Report on one building (default: the campus)."
    ),
    out: Path = typer.Option(
        Path("report.html"), "--out", metavar="FILE", help="The HTML file to write."
    ),
    baseline_start: str | None = typer.Option(
        None,
        "--baseline-start",
        metavar="WHEN",
        help="Savings (IPMVP Option C): first day of the baseline period, before --start "
        "(YYYY-MM-DD or RFC 3339). With --baseline-end, each building gets its avoided "
        "energy in the report's period against a degree-day baseline fitted on it, or the "
        "reason ASHRAE Guideline 14 refuses the baseline.",
    ),
    baseline_end: str | None = typer.Option(
        None,
        "--baseline-end",
        metavar="WHEN",
        help=f"End of the baseline period, not included: at or before --start, at least "
        f"{MIN_BASELINE_DAYS} days after --baseline-start (a heating season is better).",
    ),
    data_dir: opt.DataDir = Path("data"),
    registry: opt.Registry = None,
    store: opt.Store = "duckdb",
    influx_url: opt.InfluxUrl = None,
    influx_token: opt.InfluxToken = None,
    influx_org: opt.InfluxOrg = None,
    influx_bucket: opt.InfluxBucket = None,
) -> None:
    """Write the planner report: utilisation, booked vs actual, IEQ, energy, savings, advice.

    One HTML file with its plots embedded, no external requests: open it in a
    browser, print it, or mail it. Every number in it is the one the API gives for
    the same period. Timetables are read from <data-dir>/timetables.

    Examples:

      campuslab report --start 2026-03-02 --end 2026-03-09 --out week10.html

      campuslab report --start 2026-02-02 --end 2026-03-02 \\
        --baseline-start 2025-11-03 --baseline-end 2026-02-02
    """
    campus = _campus(registry)
    if building is not None and campus.building(building) is None:
        known = ", ".join(b.id for b in campus.buildings)
        _fail(f"unknown building {building!r}; the campus has: {known}")
    start_at, end_at = parse_moment(start, "--start", campus), parse_moment(end, "--end", campus)
    if end_at <= start_at:
        _fail(f"--end ({end_at.isoformat()}) must be after --start ({start_at.isoformat()})")
    console.print(
        f"Period: {isoformat_utc(start_at)} <= t < {isoformat_utc(end_at)} (UTC; "
        f"{campus.site.timezone} local midnight for a bare date)"
    )
    baseline = _baseline(baseline_start, baseline_end, start_at, campus)
    options = StoreOptions(store, data_dir, influx_url, influx_token, influx_org, influx_bucket)
    reading_store = _store(options, campus)
    k = OpenDataSettings.from_env().k
    try:
        figures = _compute(reading_store, campus, start_at, end_at, data_dir, building, k, baseline)
    except NoSpaces as exc:
        _fail(str(exc))
    except NoData as exc:
        _fail(str(exc), EXIT_FAILURE)  # no report of zeros: nothing written
    finally:
        reading_store.close()
    html = render_report(figures, campus, data_source=_source(options))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    console.print(f"Wrote {escape(str(out))} ({len(html.encode()) / 1024:.0f} kB)")


def _baseline(
    start: str | None, end: str | None, report_start: datetime, campus: Campus
) -> tuple[datetime, datetime] | None:
    """The savings baseline of --baseline-start and --baseline-end, checked; None without."""
    if start is None and end is None:
        return None
    if start is None or end is None:
        _fail("--baseline-start and --baseline-end go together: give both, or neither")
    begins = parse_moment(start, "--baseline-start", campus)
    ends = parse_moment(end, "--baseline-end", campus)
    if ends <= begins:
        _fail(
            f"--baseline-end ({ends.isoformat()}) must be after --baseline-start "
            f"({begins.isoformat()})"
        )
    if ends - begins < timedelta(days=MIN_BASELINE_DAYS):
        _fail(
            f"the baseline spans {(ends - begins) / timedelta(days=1):g} days; it needs at "
            f"least {MIN_BASELINE_DAYS} whole days (a heating season is better): move "
            "--baseline-start earlier"
        )
    if ends > report_start:
        _fail(
            f"--baseline-end ({ends.isoformat()}) must be at or before --start "
            f"({report_start.isoformat()}): savings compare the report's period with an "
            "earlier baseline"
        )
    return begins, ends


def _compute(
    store: ReadingStore,
    campus: Campus,
    start_at: datetime,
    end_at: datetime,
    data_dir: Path,
    building: str | None,
    k: int,
    baseline: tuple[datetime, datetime] | None = None,
) -> PlannerReport:
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        steps = report_steps(campus, building, k, savings=baseline is not None)
        task = bar.add_task("reading occupancy", total=steps)

        def step(done: str) -> None:
            bar.update(task, advance=1, description=done)

        return planner_report(
            store,
            campus,
            start_at,
            end_at,
            store_for(data_dir),
            building,
            step,
            k,
            baseline=baseline,
            # a planner's report: use figures from the published cells, as the API's
            protected=ProtectedReader(store, campus, OpenDataSettings(k=k), datetime.now(UTC)),
        )


def _source(options: StoreOptions) -> str:
    if options.kind == "duckdb":
        return str(options.data_dir / STORE_FILE)
    return f"InfluxDB {options.influx_url}"
