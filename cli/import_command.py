"""``campuslab import readings FILE``: history from a building management system, into the store."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from campuslab.cli import options as opt
from campuslab.cli.stores import STORE_FILE, StoreOptions, open_store
from campuslab.core.registry import RegistryError, load_campus, sample_campus_path
from campuslab.core.store.duckdb import DuckDBStore, StoreLockedError
from campuslab.core.store.port import ArrowWriter
from campuslab.ingest.history import (
    DEFAULT_CHUNK_ROWS,
    HistoryFileError,
    ImportReport,
    import_history,
)
from campuslab.ingest.history_mapping import (
    ColumnMapping,
    MappingError,
    check_names,
    load_mapping,
    parse_pairs,
)

import_app = typer.Typer(
    help="Import data recorded elsewhere: history exported from a BMS or an older platform.",
    no_args_is_help=True,
)
console = Console(highlight=False)

# InfluxDB takes a chunk through its line-protocol writer, one Python line per reading.
INFLUX_CHUNK_ROWS = 100_000
# The store's buffer pool during an import; with the reader's 256 MB cap and two chunks
# in flight this keeps a 10-million-row import under the 500 MB of peak RSS.
DUCKDB_MEMORY_MB = 128


@import_app.command("readings")
def readings(
    file: Path = typer.Argument(..., help="History file: .csv (with a header line) or .parquet."),
    mapping_file: Path | None = typer.Option(
        None, "--mapping", help="YAML mapping file (ingest/README.md); the flags below win."
    ),
    ts_column: str | None = typer.Option(None, help="Column of the timestamps [ts]."),
    sensor_column: str | None = typer.Option(
        None, help="Column of the space or meter id [sensor, space or meter]."
    ),
    building_column: str | None = typer.Option(
        None, help="Column of the building id (optional; checked against the registry)."
    ),
    quantity_column: str | None = typer.Option(
        None, help="Long layout: column of the quantity name [quantity]."
    ),
    value_column: str | None = typer.Option(None, help="Long layout: column of the value [value]."),
    unit_column: str | None = typer.Option(
        None, help="Column of each value's unit [unit, when the file has it]."
    ),
    column: list[str] = typer.Option(
        [],
        "--column",
        metavar="NAME=QUANTITY",
        help="Wide layout: this column holds this quantity (repeatable), e.g. CO2_ppm=co2.",
    ),
    unit: list[str] = typer.Option(
        [],
        "--unit",
        metavar="QUANTITY=UNIT",
        help="Every value of QUANTITY is in UNIT (repeatable), e.g. temperature=degF.",
    ),
    timezone: str | None = typer.Option(
        None, help="IANA zone of timestamps without a UTC offset [the site's]."
    ),
    delimiter: str = typer.Option(",", help="CSV field separator, e.g. ';'."),
    restart: bool = typer.Option(
        False, help="Ignore the checkpoint of an earlier run and read the whole file again."
    ),
    chunk_rows: int | None = typer.Option(
        None,
        min=1000,
        help=f"Rows per chunk [{DEFAULT_CHUNK_ROWS:,} for DuckDB, {INFLUX_CHUNK_ROWS:,} "
        "for InfluxDB].",
    ),
    registry: opt.Registry = None,
    data_dir: opt.DataDir = Path("data"),
    store: opt.Store = "duckdb",
    influx_url: opt.InfluxUrl = None,
    influx_token: opt.InfluxToken = None,
    influx_org: opt.InfluxOrg = None,
    influx_bucket: opt.InfluxBucket = None,
) -> None:
    """Load history with its original timestamps: validated like MQTT, duplicates skipped.

    Long files have one reading per row (ts, sensor, quantity, value[, unit]); wide
    files one column per quantity (ts, space, co2, temperature, ...). Rejected rows
    become dead letters (GET /api/v1/dead-letters, topic import:<file>:<line>). A
    rerun after a crash resumes where the last durable chunk ended.

    Example: campuslab import readings bms.csv --column CO2_ppm=co2 --unit temperature=degF
    """
    mapping = _mapping(
        mapping_file,
        ColumnMapping(
            ts=ts_column,
            sensor=sensor_column,
            building=building_column,
            quantity=quantity_column,
            value=value_column,
            unit=unit_column,
            timezone=timezone,
        ),
        column,
        unit,
    )
    options = StoreOptions(
        kind=store,
        data_dir=data_dir,
        influx_url=influx_url,
        influx_token=influx_token,
        influx_org=influx_org,
        influx_bucket=influx_bucket,
    )
    try:
        options.check()
    except ValueError as exc:
        opt.fail(escape(str(exc)))
    try:
        campus = load_campus(registry or sample_campus_path())
    except RegistryError as exc:
        opt.fail(escape(str(exc)))
    if not file.is_file():
        opt.fail(escape(f"no file {file}"))
    if len(delimiter) != 1:
        opt.fail(escape(f"--delimiter must be one character, not {delimiter!r}"))
    target = str(data_dir / STORE_FILE) if store == "duckdb" else f"InfluxDB at {influx_url}"
    try:
        writer = open_store(options, campus)
    except StoreLockedError:
        opt.fail(
            escape(
                f"the store {target} is in use by another CampusLab process (a running "
                "`campuslab serve`?); stop it or give another --data-dir"
            ),
            code=1,
        )
    if isinstance(writer, DuckDBStore):
        writer.limit_memory(f"{DUCKDB_MEMORY_MB}MB")
    if not isinstance(writer, ArrowWriter):
        opt.fail(f"the {store} store cannot take an import", code=1)
    rows = chunk_rows or (DEFAULT_CHUNK_ROWS if store == "duckdb" else INFLUX_CHUNK_ROWS)
    try:
        report = _run(file, campus, writer, mapping, data_dir, target, rows, restart, delimiter)
    except (HistoryFileError, MappingError) as exc:
        opt.fail(escape(str(exc)))
    finally:
        writer.close()  # type: ignore[attr-defined]
    _summary(report, target)


def _mapping(
    mapping_file: Path | None, flags: ColumnMapping, column: list[str], unit: list[str]
) -> ColumnMapping:
    try:
        base = load_mapping(mapping_file) if mapping_file else ColumnMapping()
        given = ColumnMapping(
            **{**flags.__dict__, "columns": parse_pairs(column, "--column")},
        )
        given = ColumnMapping(**{**given.__dict__, "units": parse_pairs(unit, "--unit")})
        return check_names(base.overridden_by(given))
    except MappingError as exc:
        opt.fail(escape(str(exc)))


def _run(
    file: Path,
    campus,
    writer: ArrowWriter,
    mapping: ColumnMapping,
    data_dir: Path,
    target: str,
    chunk_rows: int,
    restart: bool,
    delimiter: str,
) -> ImportReport:
    columns = (
        TextColumn(f"[bold]import {escape(file.name)}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("", total=None, rate="")

        def show(report: ImportReport, expected: int | None) -> None:
            total = max(expected, report.rows) if expected else None
            bar.update(
                task,
                completed=report.rows,
                total=total,
                rate=f"{report.rows_per_second:,.0f} rows/s",
            )

        report = import_history(
            file,
            campus,
            writer,
            mapping,
            data_dir,
            target,
            chunk_rows=chunk_rows,
            restart=restart,
            progress=show,
            delimiter=delimiter,
        )
        bar.update(task, completed=report.rows, total=report.rows)
    return report


def _summary(report: ImportReport, target: str) -> None:
    if report.already_done:
        console.print(
            f"{escape(report.file)} was imported into {escape(target)} already "
            "(unchanged since); nothing to do. --restart reads it again."
        )
    elif report.resumed_at_row:
        console.print(f"resumed after row {report.resumed_at_row:,} (an earlier run's checkpoint)")
    elif report.restarted_changed_file:
        console.print("the file or the mapping changed since the last run: read from the start")
    console.print(
        f"rows read: {report.rows:,}; readings stored: {report.stored:,}; duplicates "
        f"skipped: {report.duplicates:,}; rejected: {report.rejected_total:,}"
    )
    for reason, count in sorted(report.rejected.items(), key=lambda item: -item[1]):
        console.print(f"  rejected {reason}: {count:,}")
    if report.empty_cells:
        console.print(f"empty cells (no reading): {report.empty_cells:,}")
    if report.rejected_total:
        console.print(
            "rejected rows are dead letters: GET /api/v1/dead-letters?topic=import:"
            f"{escape(Path(report.file).name)}"
        )
    if not report.already_done:
        console.print(
            f"time: {report.seconds:.1f} s ({report.rows_per_second:,.0f} rows/s) "
            f"into {escape(target)}"
        )
