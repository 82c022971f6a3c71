"""``campuslab export``: the same rows and card as the API, written to files."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from campuslab.cli.export_command import export
from campuslab.core.readings import ReadingBatch, to_epoch_us
from campuslab.core.store.duckdb import DuckDBStore

REGISTRY = """
site: {id: clilab, name: CLI Lab, timezone: UTC}
buildings:
  - id: cb
    name: CLI building
    heated_area_m2: 900
    spaces:
      - {id: c-big, name: Big, floor: 1, type: seminar_room, capacity: 40, area_m2: 80}
      - {id: c-small, name: Small, floor: 1, type: meeting_room, capacity: 6, area_m2: 15}
      - {id: c-office, name: Office, floor: 2, type: office, capacity: 1, area_m2: 9}
"""
START = datetime(2025, 9, 1, tzinfo=UTC)
DAYS = 14


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    store = DuckDBStore(folder / "campuslab.duckdb")
    batch = ReadingBatch()
    for quarter in range(DAYS * 96):
        ts = to_epoch_us(START + timedelta(minutes=15 * quarter))
        batch.append(ts, "cb", "c-big", "occupancy", float(quarter % 30))
        batch.append(ts, "cb", "c-small", "occupancy", float(quarter % 6))
        batch.append(ts, "cb", "c-office", "occupancy", float(quarter % 2))
    store.write(batch)
    store.close()
    return folder


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    path = tmp_path / "campus.yaml"
    path.write_text(REGISTRY)
    return path


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("export")(export)
    app.command("other")(lambda: None)  # keeps "export" a subcommand, as in campuslab
    return app


def run(*args: str):
    return CliRunner().invoke(cli(), ["export", *args])


def base_args(data_dir: Path, registry: Path, out: Path) -> list[str]:
    return [
        "--quantity",
        "occupancy",
        "--start",
        "2025-09-01",
        "--end",
        "2025-09-15",
        "--data-dir",
        str(data_dir),
        "--registry",
        str(registry),
        "--out",
        str(out),
    ]


def test_export_writes_parquet_and_cards(data_dir: Path, registry: Path, tmp_path: Path):
    out = tmp_path / "out"
    result = run(*base_args(data_dir, registry, out))
    assert result.exit_code == 0, result.output
    stem = "cb-occupancy-15m-20250901T0000Z-20250915T0000Z"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{stem}.parquet", f"{stem}.card.json", f"{stem}.card.md"]
    )
    rows = pq.read_table(out / f"{stem}.parquet").to_pylist()
    assert len(rows) == DAYS * 96 * 3  # c-big, c-small and the total; the office is withheld
    for row in rows:
        assert row["suppressed"] or row["value"] == 0 or row["value"] >= 5
    card = json.loads((out / f"{stem}.card.json").read_text())
    s = card["suppression"]
    assert card["rows"] == len(rows) and card["url"] is None
    assert s["primary_cells"] + s["complementary_cells"] == sum(r["suppressed"] for r in rows)
    assert [w["id"] for w in s["withheld_spaces"]] == ["c-office"]
    assert "CLI Lab (20" in card["citation"]


def test_export_zip_csv_and_unsuppressed(data_dir: Path, registry: Path, tmp_path: Path):
    out = tmp_path / "zip"
    result = run(
        *base_args(data_dir, registry, out),
        "--format",
        "csv",
        "--zip",
        "--unsuppressed",
        "--every",
        "1h",
    )
    assert result.exit_code == 0, result.output
    (archive,) = out.iterdir()
    with zipfile.ZipFile(archive) as bundle:
        assert sorted(bundle.namelist()) == sorted([archive.stem + ".csv", "card.json", "card.md"])
        card = json.loads(bundle.read("card.json"))
        text = bundle.read(archive.stem + ".csv").decode()
    assert card["suppression"]["applied"] is False
    assert len(text.splitlines()) == 1 + DAYS * 24 * 4  # three spaces and the total


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--quantity", "radon"], "not known"),
        (["--every", "5m"], "15-minute"),
        (["--format", "xlsx"], "csv, parquet"),
        (["--building", "nope"], "not in the campus registry"),
        (["--end", "2024-01-01"], "must be after start"),
    ],
)
def test_bad_options_are_usage_errors(data_dir, registry, tmp_path, extra, message):
    result = run(*base_args(data_dir, registry, tmp_path / "x"), *extra)
    assert result.exit_code == 2
    assert message in result.output


def test_a_missing_store_is_explained(registry: Path, tmp_path: Path):
    result = run(*base_args(tmp_path / "nowhere", registry, tmp_path / "x"))
    assert result.exit_code == 1
    assert "no store at" in result.output


def test_a_store_held_by_serve_is_explained(data_dir: Path, registry: Path, tmp_path: Path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from campuslab.core.store.duckdb import DuckDBStore\n"
            f"s = DuckDBStore({str(data_dir / 'campuslab.duckdb')!r})\n"
            "print('open', flush=True)\ntime.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        started = time.monotonic()
        result = run(*base_args(data_dir, registry, tmp_path / "x"))
        assert time.monotonic() - started < 30
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 1
    assert "stop `campuslab serve` first" in result.output
