"""``campuslab export``: a data set and its dataset card, written to files.

The same export as ``GET /api/v1/export`` (api/routers/exports.py): the same
rows, the same suppression, the same card. Registered in ``cli/main.py`` with
``app.command("export")(export)``.

With the embedded DuckDB store this opens the store file under --data-dir, and
DuckDB lets only one process hold it: run it while ``campuslab serve`` is
stopped, or ask the running server (``GET /api/v1/export``) instead.
"""

from __future__ import annotations

import bisect
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from campuslab.api.problems import ApiProblem
from campuslab.api.routers.exports import (
    FORMATS,
    CardContext,
    ExportPlan,
    ExportTally,
    OpenDataSettings,
    card_markdown,
    dataset_card,
    export_batches,
    plan_export,
    time_windows,
    write_csv,
    write_parquet,
)
from campuslab.cli import options as opt
from campuslab.cli.stores import STORE_FILE, StoreOptions, open_store
from campuslab.core.registry import Campus, RegistryError, load_campus, sample_campus_path
from campuslab.core.store.duckdb import StoreLockedError
from campuslab.core.store.port import ReadingStore

EXIT_FAILURE, EXIT_USAGE = 1, 2
errors = Console(stderr=True, highlight=False)
console = Console(highlight=False)


def export(
    quantity: str = typer.Option(..., "--quantity", "-q", help="occupancy, co2, temperature, ..."),
    start: str = typer.Option(
        ...,
        help="Start, inclusive: YYYY-MM-DD (local midnight, site time zone) or RFC 3339 "
        "(no offset: local time).",
    ),
    end: str = typer.Option(
        ...,
        help="End, not included (YYYY-MM-DD: local midnight beginning that day); at most "
        "366 days after start.",
    ),
    building: str | None = typer.Option(None, help="One building id (default: all)."),
    every: str = typer.Option("15m", help="Interval; 15m or a multiple when suppressed."),
    agg: str = typer.Option("mean", help="Aggregate of each interval: mean, max or min."),
    fmt: str = typer.Option("parquet", "--format", "-f", help="csv or parquet."),
    out: Path = typer.Option(Path("."), "--out", "-o", help="Folder to write the files to."),
    bundle: bool = typer.Option(
        False,
        "--zip/--no-zip",
        help="Write one zip (data, card.json, card.md) instead of three files.",
    ),
    unsuppressed: bool = typer.Option(
        False,
        "--unsuppressed",
        help="Facilities only: keep counts 1..k-1 and small spaces (the card says so). "
        "Never share such a file outside the facilities team.",
    ),
    data_dir: opt.DataDir = Path("data"),
    registry: opt.Registry = None,
    store: opt.Store = "duckdb",
    influx_url: opt.InfluxUrl = None,
    influx_token: opt.InfluxToken = None,
    influx_org: opt.InfluxOrg = None,
    influx_bucket: opt.InfluxBucket = None,
) -> None:
    """Export one quantity over a period as CSV or Parquet, with its dataset card.

    Writes <stem>.<format>, <stem>.card.json and <stem>.card.md (or <stem>.zip with
    --zip). Counts 1..k-1 are suppressed as for a researcher (k from
    CAMPUSLAB_SUPPRESSION_K, default 5; licence from CAMPUSLAB_DATA_LICENCE). The
    DuckDB store can be read only while `campuslab serve` is not running.
    """
    if fmt not in FORMATS:
        raise typer.BadParameter(f"must be one of {', '.join(FORMATS)}", param_hint="--format")
    campus = _campus(registry)
    settings = _settings()
    now = datetime.now(UTC)
    try:
        plan = plan_export(
            campus,
            quantity=quantity,
            start=start,
            end=end,
            every=every,
            agg=agg,
            building=building,
            fmt=fmt,
            protected=not unsuppressed,
            settings=settings,
            now=now,
        )
    except ApiProblem as problem:
        hint = f"--{problem.parameter}" if problem.parameter else None
        raise typer.BadParameter(problem.detail, param_hint=hint) from None
    options = StoreOptions(store, data_dir, influx_url, influx_token, influx_org, influx_bucket)
    reading_store = _open(options, campus)
    try:
        written = write_export(
            reading_store, campus, plan, out, CardContext(settings, now), bundle=bundle
        )
    finally:
        reading_store.close()
    for path in written:
        console.print(f"wrote {path}")


def write_export(
    store: ReadingStore,
    campus: Campus,
    plan: ExportPlan,
    out: Path,
    context: CardContext,
    *,
    bundle: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Write the data file and its card into ``out``; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    data = out / f"{plan.file_stem}.{plan.format}"
    tally = ExportTally()
    batches = export_batches(store, plan, tally)
    if progress:
        batches = _with_progress(batches, plan)
    if plan.format == "parquet":
        write_parquet(store, batches, data)
    else:
        write_csv(batches, data)
    card = dataset_card(campus, plan, tally, context, data_file=data.name)
    card_json = json.dumps(card, indent=2, ensure_ascii=False) + "\n"
    if not bundle:
        json_path = out / f"{plan.file_stem}.card.json"
        md_path = out / f"{plan.file_stem}.card.md"
        json_path.write_text(card_json, encoding="utf-8")
        md_path.write_text(card_markdown(card), encoding="utf-8")
        return [data, json_path, md_path]
    archive = out / f"{plan.file_stem}.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        packed = zipfile.ZIP_STORED if plan.format == "parquet" else zipfile.ZIP_DEFLATED
        zipped.write(data, data.name, compress_type=packed)
        zipped.writestr("card.json", card_json, compress_type=zipfile.ZIP_DEFLATED)
        zipped.writestr("card.md", card_markdown(card), compress_type=zipfile.ZIP_DEFLATED)
    data.unlink()
    return [archive]


def _with_progress(batches: Iterator[pa.RecordBatch], plan: ExportPlan) -> Iterator:
    """Pass the batches through, advancing a progress bar by weeks (one batch per window)."""
    starts = [w.start for w in time_windows(plan.start, plan.end, plan.every)]
    columns = (
        TextColumn("exporting {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("windows"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=errors, transient=True) as bar:
        task = bar.add_task(plan.quantity, total=len(starts))
        for batch in batches:
            yield batch
            last = batch.column(0)[batch.num_rows - 1].as_py()
            bar.update(task, completed=bisect.bisect_right(starts, last))
        bar.update(task, completed=len(starts))


def _campus(registry: Path | None) -> Campus:
    try:
        return load_campus(registry or sample_campus_path())
    except RegistryError as exc:
        errors.print(str(exc), style="red")
        raise typer.Exit(EXIT_USAGE) from None


def _settings() -> OpenDataSettings:
    try:
        return OpenDataSettings.from_env()
    except ValueError as exc:
        errors.print(f"CAMPUSLAB_SUPPRESSION_K / data settings: {exc}", style="red")
        raise typer.Exit(EXIT_USAGE) from None


def _open(options: StoreOptions, campus: Campus) -> ReadingStore:
    try:
        options.check()
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--store") from None
    if options.kind == "duckdb" and not (options.data_dir / STORE_FILE).exists():
        errors.print(
            f"no store at {options.data_dir / STORE_FILE}: point --data-dir at the folder "
            "`campuslab serve` uses (default: data)",
            style="red",
        )
        raise typer.Exit(EXIT_FAILURE)
    try:
        return open_store(options, campus)
    except StoreLockedError as exc:
        errors.print(
            f"{exc}\nDuckDB allows one process per store: stop `campuslab serve` first, or "
            "export through the running server: GET /api/v1/export (researcher key).",
            style="red",
        )
        raise typer.Exit(EXIT_FAILURE) from None
