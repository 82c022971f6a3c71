"""``campuslab import readings``: history files into the store, validated like MQTT, resumable.

The command runs as a subprocess, as a user runs it; what it stored is read back from
the DuckDB file (and from VictoriaMetrics' /api/v2/write path for InfluxDB) afterwards.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from servers.campuslab_cli import campuslab_env, run_campuslab

from campuslab.core.registry import Campus
from campuslab.core.store.duckdb import DuckDBStore
from campuslab.core.store.port import DeadLetterFilter
from campuslab.ingest.history import CHECKPOINT_DIR, import_history, local_to_utc
from campuslab.ingest.history_mapping import ColumnMapping

HEADER = "ts,sensor,quantity,value,unit\n"
GARBAGE = [
    # (line content, reason or None for a good row, value stored)
    ("2025-01-01T10:00:00Z,rfb-101,co2,612,ppm", None),
    ("2025-01-01T10:00:00+01:00,rfb-101,temperature,71.6,degF", None),
    ("1735725600,rfb-102,humidity,40,%", None),
    ("1735725600000,rfb-103,humidity,41,%RH", None),
    ("2025-01-01 10:00:00,rfb-104,occupancy,3,", None),
    ("2025-01-01T10:00:00Z,rfb-el,energy,1500,Wh", None),
    ("not-a-time,rfb-101,co2,600,ppm", "bad_timestamp"),
    ("1999-12-31T23:00:00Z,rfb-101,co2,600,ppm", "bad_timestamp"),
    ("2025-03-30T02:30:00,rfb-101,co2,600,ppm", "bad_timestamp"),  # skipped by the clocks
    ("2025-10-26T02:30:00,rfb-101,co2,600,ppm", "bad_timestamp"),  # happened twice
    ("2025-01-01T10:00:00Z,atlantis-1,co2,600,ppm", "unknown_sensor"),
    ("2025-01-01T10:00:00Z,rfb-101,radon,600,", "unknown_quantity"),
    ("2025-01-01T10:00:00Z,rfb-el,co2,600,ppm", "unknown_quantity"),
    ("2025-01-01T10:00:00Z,rfb-101,co2,600,furlongs", "bad_unit"),
    ("2025-01-01T10:01:00Z,rfb-101,co2,NaN,ppm", "not_finite"),
    ("2025-01-01T10:02:00Z,rfb-101,co2,inf,ppm", "not_finite"),
    ("2025-01-01T10:03:00Z,rfb-101,co2,-12,ppm", "out_of_range"),
    ("2025-01-01T10:04:00Z,rfb-101,temperature,500,Cel", "out_of_range"),
    ("2025-01-01T10:05:00Z,rfb-101,co2,six hundred,ppm", "unparseable"),
    ("2025-01-01T10:06:00Z,rfb-101,co2,,ppm", "unparseable"),
    ("2099-01-01T00:00:00Z,rfb-101,co2,600,ppm", "future_timestamp"),
    ("2025-01-01T10:00:00Z,rfb-101,co2,612,ppm", "duplicate"),
]


def import_cli(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return run_campuslab(["import", "readings", *args], timeout=timeout)


def summary(stdout: str) -> dict[str, int]:
    """The numbers of the summary: rows read, stored, duplicates, rejected (by reason)."""
    flat = " ".join(stdout.split())
    found = {
        key: int(re.search(rf"{label}: ([\d,]+)", flat).group(1).replace(",", ""))
        for key, label in (
            ("rows", "rows read"),
            ("stored", "readings stored"),
            ("duplicates", "duplicates skipped"),
            ("rejected", r"; rejected"),
        )
    }
    for reason, count in re.findall(r"rejected (\w+): ([\d,]+)", flat):
        found[reason] = int(count.replace(",", ""))
    return found


def stored_rows(data_dir: Path) -> list[tuple]:
    store = DuckDBStore(data_dir / "campuslab.duckdb")
    try:
        return (
            store._cursor()
            .execute("SELECT epoch_us(ts), building, sensor, quantity, value FROM readings")
            .fetchall()
        )
    finally:
        store.close()


def letters(data_dir: Path, prefix: str = "import:") -> list:
    store = DuckDBStore(data_dir / "campuslab.duckdb")
    try:
        return store.dead_letters(limit=100_000, where=DeadLetterFilter(topic_prefix=prefix))
    finally:
        store.close()


def us(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1_000_000)


def test_garbage_rows_are_dead_letters_by_reason_and_good_rows_around_them_are_stored(
    tmp_path: Path,
):
    source = tmp_path / "bms export.csv"
    source.write_text(HEADER + "\n".join(line for line, _ in GARBAGE) + "\n")
    data = tmp_path / "data"
    result = import_cli(str(source), "--data-dir", str(data))
    assert result.returncode == 0, result.stdout + result.stderr
    printed = summary(result.stdout)
    expected = Counter(r for _, r in GARBAGE if r not in (None, "duplicate"))
    assert printed["rows"] == len(GARBAGE)
    assert printed["stored"] == 6 and printed["duplicates"] == 1
    assert printed["rejected"] == sum(expected.values())
    assert {k: v for k, v in printed.items() if k in expected} == dict(expected)

    assert sorted(stored_rows(data)) == sorted(
        [
            (us("2025-01-01T10:00:00+00:00"), "rfb", "rfb-101", "co2", 612.0),
            (us("2025-01-01T09:00:00+00:00"), "rfb", "rfb-101", "temperature", 22.0),
            (1735725600_000_000, "rfb", "rfb-102", "humidity", 40.0),
            (1735725600_000_000, "rfb", "rfb-103", "humidity", 41.0),
            # a local time in the site's zone (Europe/Oslo, UTC+1 in winter)
            (us("2025-01-01T09:00:00+00:00"), "rfb", "rfb-104", "occupancy", 3.0),
            (us("2025-01-01T10:00:00+00:00"), "rfb", "rfb-el", "energy", 1.5),
        ]
    )
    kept = letters(data)
    assert Counter(d.reason for d in kept) == expected
    by_line = {d.topic: d for d in kept}
    # line 1 is the header; the row with the ambiguous local time is line 11
    ambiguous = by_line["import:bms export.csv:11"]
    assert ambiguous.reason == "bad_timestamp"
    assert "ambiguous in Europe/Oslo" in ambiguous.detail
    assert "does not exist in Europe/Oslo" in by_line["import:bms export.csv:10"].detail
    assert ambiguous.payload == "2025-10-26T02:30:00,rfb-101,co2,600,ppm"
    # the same sentences as MQTT ingest
    assert by_line["import:bms export.csv:15"].detail == (
        "unit 'furlongs' cannot be converted to ppm for co2 (accepted: ppm, ppmv)"
    )
    assert by_line["import:bms export.csv:14"].detail == (
        "rfb-el does not report co2 (it reports energy)"
    )
    assert by_line["import:bms export.csv:18"].detail == (
        "co2: -12 ppm is outside the physical range 0..40000 ppm"
    )
    assert by_line["import:bms export.csv:20"].detail == "co2: value 'six hundred' is not a number"


def test_a_rerun_adds_nothing_and_restart_reports_every_reading_as_a_duplicate(tmp_path: Path):
    source = tmp_path / "history.csv"
    source.write_text(HEADER + "\n".join(line for line, _ in GARBAGE) + "\n")
    data = tmp_path / "data"
    assert import_cli(str(source), "--data-dir", str(data)).returncode == 0
    again = import_cli(str(source), "--data-dir", str(data))
    assert again.returncode == 0 and "imported into" in again.stdout and "already" in again.stdout
    restarted = import_cli(str(source), "--data-dir", str(data), "--restart")
    assert restarted.returncode == 0, restarted.stderr
    printed = summary(restarted.stdout)
    assert printed["stored"] == 0 and printed["duplicates"] == 7
    assert len(stored_rows(data)) == 6
    assert len(letters(data)) == 15, "a rerun keeps each dead letter once"


def test_wide_file_with_a_mapping_file_converts_units_and_skips_empty_cells(tmp_path: Path):
    source = tmp_path / "wide.csv"
    source.write_text(
        "Time;Room;CO2_ppm;Temp_F;RH\n".replace(";", ",")
        + "2025-06-01 12:00,rfb-101,650,71.6,45\n"
        + "2025-06-01 12:15,rfb-101,,73.4,46\n"
        + "2025-06-01 12:30,rfb-999,700,70,47\n"
    )
    mapping = tmp_path / "map.yaml"
    mapping.write_text(
        "ts: Time\nsensor: Room\ncolumns:\n  CO2_ppm: co2\n  Temp_F: temperature\n  RH: humidity\n"
        "units:\n  temperature: degF\ntimezone: Europe/Berlin\n"
    )
    data = tmp_path / "data"
    result = import_cli(str(source), "--mapping", str(mapping), "--data-dir", str(data))
    assert result.returncode == 0, result.stdout + result.stderr
    printed = summary(result.stdout)
    assert printed["rows"] == 3 and printed["stored"] == 5 and printed["unknown_sensor"] == 3
    assert "empty cells (no reading): 1" in " ".join(result.stdout.split())
    noon = us("2025-06-01T10:00:00+00:00")  # 12:00 in Berlin, summer time
    quarter = noon + 15 * 60_000_000
    assert sorted(stored_rows(data)) == sorted(
        [
            (noon, "rfb", "rfb-101", "co2", 650.0),
            (noon, "rfb", "rfb-101", "temperature", 22.0),
            (noon, "rfb", "rfb-101", "humidity", 45.0),
            (quarter, "rfb", "rfb-101", "temperature", 23.0),
            (quarter, "rfb", "rfb-101", "humidity", 46.0),
        ]
    )
    assert {d.payload for d in letters(data)} == {
        "2025-06-01 12:30,rfb-999,co2=700",
        "2025-06-01 12:30,rfb-999,temperature=70",
        "2025-06-01 12:30,rfb-999,humidity=47",
    }


def test_semicolon_separated_export_with_a_building_column(tmp_path: Path):
    source = tmp_path / "bms;export.csv"
    source.write_text(
        "Zeit;Gebaeude;Raum;Groesse;Wert\n"
        "2025-01-15 08:00:00;rfb;rfb-101;co2;455\n"
        "2025-01-15 08:00:00;hb;rfb-101;co2;456\n"
        "2025-01-15 08:00:00;nowhere;rfb-101;co2;457\n"
    )
    data = tmp_path / "data"
    result = import_cli(
        str(source), "--delimiter", ";", "--ts-column", "Zeit", "--building-column",
        "Gebaeude", "--sensor-column", "Raum", "--quantity-column", "Groesse",
        "--value-column", "Wert", "--data-dir", str(data),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert stored_rows(data) == [(us("2025-01-15T07:00:00+00:00"), "rfb", "rfb-101", "co2", 455.0)]
    details = sorted(d.detail for d in letters(data))
    assert details == [
        "no building 'nowhere' in the campus registry",
        "no space or meter 'rfb-101' in building 'hb'; it belongs to building 'rfb'",
    ]


def test_parquet_with_flags_for_the_columns(tmp_path: Path):
    source = tmp_path / "old-platform.parquet"
    pq.write_table(
        pa.table(
            {
                "time": ["2025-02-01T08:00:00Z", "2025-02-01T08:01:00Z"],
                "space": ["hb-101", "hb-101"],
                "what": ["co2", "co2"],
                "reading": [480.5, 490.0],
            }
        ),
        source,
    )
    data = tmp_path / "data"
    result = import_cli(
        str(source), "--ts-column", "time", "--sensor-column", "space",
        "--quantity-column", "what", "--value-column", "reading",
        "--unit", "co2=ppmv", "--data-dir", str(data),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert [r[4] for r in sorted(stored_rows(data))] == [480.5, 490.0]


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, [], "no file"),
        ("", [], "is empty"),
        ("\x00\x01\x02garbage\xff\n", [], "not a CSV file"),
        (HEADER, ["--ts-column", "when"], "no column 'when'"),
        (HEADER, ["--unit", "co2=furlongs"], "'furlongs' cannot be converted"),
        (HEADER, ["--column", "value"], "expected NAME=VALUE"),
        (HEADER, ["--timezone", "Mars/Olympus"], "not an IANA time zone"),
        ("a,b\n1,2\n", [], "no column 'ts'"),
        ("ts,sensor,x\n1,2,3\n", [], "no 'quantity' column"),
        ("ts,sensor,co2,unit\n", ["--unit-column", "unit"], "a unit column goes with the long"),
    ],
)
def test_unusable_input_exits_with_a_clear_message(
    tmp_path: Path, content: str | None, args: list[str], message: str
):
    source = tmp_path / "input.csv"
    if content is not None:
        source.write_bytes(content.encode("latin-1"))
    result = import_cli(str(source), "--data-dir", str(tmp_path / "data"), *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_a_bad_mapping_file_names_the_key(tmp_path: Path):
    source = tmp_path / "h.csv"
    source.write_text(HEADER)
    mapping = tmp_path / "map.yaml"
    mapping.write_text("ts: Time\ntimestamp_format: '%d.%m.%Y'\n")
    result = import_cli(str(source), "--mapping", str(mapping), "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert "unknown key 'timestamp_format'" in " ".join(result.stderr.split())


def write_history(path: Path, campus: Campus, rows: int, bad_every: int) -> tuple[int, int]:
    """``rows`` readings, every ``bad_every``-th of an unknown space; (valid, bad)."""
    spaces = [s.id for _, s in campus.spaces()]
    i = np.arange(rows)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    stamps = [(start + timedelta(minutes=int(m))).strftime("%Y-%m-%dT%H:%M:%SZ") for m in
              range(rows // len(spaces) + 1)]  # fmt: skip
    with path.open("w") as out:
        out.write("ts,space,quantity,value\n")
        for k in i.tolist():
            sensor = "nowhere" if k % bad_every == 0 else spaces[k % len(spaces)]
            out.write(f"{stamps[k // len(spaces)]},{sensor},co2,{400 + k % 500}\n")
    bad = len(range(0, rows, bad_every))
    return rows - bad, bad


def test_killed_import_resumes_and_stores_every_row_exactly_once(tmp_path: Path, campus: Campus):
    source = tmp_path / "long.csv"
    valid, bad = write_history(source, campus, 200_000, bad_every=997)
    data = tmp_path / "data"
    command = [sys.executable, "-m", "campuslab", "import", "readings", str(source)]
    command += ["--data-dir", str(data), "--chunk-rows", "5000"]
    child = subprocess.Popen(
        command, env=campuslab_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    checkpoints = data / CHECKPOINT_DIR
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and child.poll() is None:
        for path in checkpoints.glob("*.json"):
            try:
                done = json.loads(path.read_text())["rows_done"]
            except (ValueError, KeyError, OSError):
                continue
        if done >= 20_000:
            break
        time.sleep(0.005)
    assert child.poll() is None, "the import ended before it could be killed"
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    assert 0 < len(stored_rows(data)) < valid, "killed part-way"

    result = import_cli(str(source), "--data-dir", str(data), timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "resumed after row" in result.stdout
    printed = summary(result.stdout)
    assert printed["rows"] == valid + bad
    assert printed["stored"] == valid
    assert printed["unknown_sensor"] == bad
    assert len(stored_rows(data)) == valid
    assert len(letters(data)) == bad, "no dead letter twice"


def test_a_chunk_written_before_a_crash_counts_as_duplicates_not_twice(
    tmp_path: Path, campus: Campus
):
    """The crash window: the store has a chunk, the checkpoint does not say so yet."""
    source = tmp_path / "h.csv"
    valid, bad = write_history(source, campus, 30_000, bad_every=101)
    data = tmp_path / "data"
    store = DuckDBStore(data / "campuslab.duckdb")
    try:
        first = import_history(source, campus, store, ColumnMapping(), data, "x", chunk_rows=10_000)
        assert (first.stored, first.rejected_total) == (valid, bad)
        # roll the checkpoint back to "nothing done", as after a kill before it was saved
        (path,) = (data / CHECKPOINT_DIR).glob("*.json")
        checkpoint = json.loads(path.read_text())
        checkpoint.update(rows_done=0, finished=False, totals={})
        path.write_text(json.dumps(checkpoint))
        again = import_history(source, campus, store, ColumnMapping(), data, "x", chunk_rows=10_000)
        assert again.resumed_at_row == 0
        assert (again.stored, again.duplicates, again.rejected_total) == (0, valid, bad)
        assert store.count() == valid
        assert store.count_dead_letters(DeadLetterFilter(topic_prefix="import:h.csv")) == bad
    finally:
        store.close()


def test_local_times_at_dst_changes_are_reported_never_shifted(campus: Campus):
    wall = np.array(
        [
            us("2025-03-30T01:59:00+00:00"),  # Oslo: before the spring gap
            us("2025-03-30T02:00:00+00:00"),  # in the gap
            us("2025-03-30T02:59:00+00:00"),  # in the gap
            us("2025-03-30T03:00:00+00:00"),  # after it (summer time)
            us("2025-10-26T02:00:00+00:00"),  # the autumn hour that happens twice
            us("2025-10-26T03:00:00+00:00"),  # after it (winter time)
        ]
    )
    utc, problem = local_to_utc(wall, campus.tz)
    assert problem.tolist() == [0, 4, 4, 0, 3, 0]
    assert utc[0] == us("2025-03-30T00:59:00+00:00")
    assert utc[3] == us("2025-03-30T01:00:00+00:00")
    assert utc[5] == us("2025-10-26T02:00:00+00:00")


def test_import_into_influxdb_goes_through_the_v2_write_path(victoriametrics, tmp_path: Path):
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    lines = [
        f"{(now + timedelta(minutes=m)).isoformat()},rfb-101,co2,{500 + m},ppm" for m in range(50)
    ]
    lines += [f"{now.isoformat()},rfb-101,co2,oops,ppm", lines[0]]
    source = tmp_path / "recent.csv"
    source.write_text(HEADER + "\n".join(lines) + "\n")
    result = import_cli(
        str(source), "--store", "influxdb", "--influx-url", victoriametrics.url,
        "--data-dir", str(tmp_path / "data"),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    printed = summary(result.stdout)
    assert (printed["stored"], printed["duplicates"], printed["unparseable"]) == (50, 1, 1)
    exported = victoriametrics.export('{__name__="co2_value"}')
    values = sorted(v for series in exported for v in series["values"])
    assert values == [500 + m for m in range(50)]
