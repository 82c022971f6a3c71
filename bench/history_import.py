"""History import benchmark: ``campuslab import readings`` against a bare DuckDB load.

Method. A long-layout CSV of --rows readings is generated once in a temporary folder
(DuckDB ``COPY``; every reading valid and distinct: the sample campus's 81 spaces,
four quantities each, one row per space and quantity per minute, RFC 3339 UTC
timestamps, a unit column in canonical units). Then, in alternating order, each run
loads the same file into a fresh data directory:

- reference: a bare ``duckdb`` child process running ``INSERT INTO readings SELECT ...
  FROM read_csv(...)`` into a new file with the ``readings`` table: DuckDB's own CSV
  load, no validation, no dedupe, no dead letters, no checkpoint;
- campuslab: ``campuslab import readings FILE --data-dir DIR`` as a user runs it,
  a child process (validation, unit conversion, dedupe, checkpoint, progress bar).

Rows per second are file rows over the child's wall-clock time; peak RSS is the
child's (``resource.getrusage(RUSAGE_CHILDREN)`` read after each run, in a fresh
runner process per run, so one run's peak is not another's). Medians over --runs.
The issue's targets: >= 500,000 rows/s and peak RSS <= 500 MB at 10 million rows.

    .venv/bin/python bench/history_import.py [--rows 10000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from campuslab.core.registry import load_campus, sample_campus_path

CAMPUSLAB = str(Path(sys.executable).with_name("campuslab"))


def generate(path: Path, rows: int) -> None:
    """``rows`` valid readings as CSV: ts, sensor, quantity, value, unit."""
    spaces = [s.id for _, s in load_campus(sample_campus_path()).spaces()]
    per_minute = len(spaces) * 4
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE spaces AS SELECT * FROM unnest($s) WITH ORDINALITY t(id, n)", {"s": spaces}
    )
    target = str(path).replace("'", "''")
    con.execute(
        f"""
        COPY (
            SELECT strftime(TIMESTAMP '2024-01-01' + to_minutes(i // {per_minute}),
                            '%Y-%m-%dT%H:%M:%SZ') AS ts,
                   s.id AS sensor,
                   ['occupancy', 'co2', 'temperature', 'humidity'][i % 4 + 1] AS quantity,
                   round([random() * 40, 400 + random() * 800, 18 + random() * 6,
                          30 + random() * 30][i % 4 + 1], 2) AS value,
                   ['count', 'ppm', '°C', '%RH'][i % 4 + 1] AS unit
            FROM range({rows}) r(i)
            JOIN spaces s ON s.n = (i % {per_minute}) // 4 + 1
            ORDER BY i
        ) TO '{target}' (HEADER)
        """
    )
    con.close()


REFERENCE = """
import sys, duckdb
con = duckdb.connect(sys.argv[2])
con.execute("CREATE TABLE readings (ts TIMESTAMP, building VARCHAR, sensor VARCHAR, "
            "quantity VARCHAR, value DOUBLE)")
con.execute("INSERT INTO readings SELECT ts::TIMESTAMPTZ, 'campus', sensor, quantity, value "
            "FROM read_csv($f, header=true)", {"f": sys.argv[1]})
con.close()
"""


def timed_child(command: list[str]) -> tuple[float, float, float]:
    """Run ``command`` in a fresh runner process: (wall seconds, peak RSS of the command
    in MB, CPU seconds of the command, user + system; a figure the machine's load does
    not inflate, unlike the wall time)."""
    runner = (
        "import json, resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
        "s = time.perf_counter() - t\n"
        "use = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(json.dumps([s, use.ru_maxrss / 1024, use.ru_utime + use.ru_stime]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", runner, *command], check=True, capture_output=True, text=True
    )
    seconds, peak, cpu = json.loads(out.stdout.strip().splitlines()[-1])
    return seconds, peak, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="campuslab-history-") as tmp:
        folder = Path(tmp)
        csv = folder / "history.csv"
        began = time.perf_counter()
        generate(csv, args.rows)
        print(
            f"generated {args.rows:,} rows ({csv.stat().st_size / 1e6:,.0f} MB) in "
            f"{time.perf_counter() - began:.1f} s; load average {os.getloadavg()[0]:.2f}"
        )
        results: dict[str, list[tuple[float, float, float]]] = {"reference": [], "campuslab": []}
        for run in range(args.runs):
            order = ("reference", "campuslab") if run % 2 == 0 else ("campuslab", "reference")
            for name in order:
                data = folder / f"{name}-{run}"
                data.mkdir()
                if name == "reference":
                    command = [sys.executable, "-c", REFERENCE, str(csv), str(data / "ref.duckdb")]
                else:
                    command = [CAMPUSLAB, "import", "readings", str(csv), "--data-dir", str(data)]
                seconds, peak, cpu = timed_child(command)
                results[name].append((args.rows / seconds, peak, cpu))
                print(
                    f"run {run + 1} {name:>9}: {args.rows / seconds:>12,.0f} rows/s, "
                    f"peak RSS {peak:,.0f} MB, {seconds:.1f} s, CPU {cpu:.1f} s, "
                    f"load average {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
                _remove(data)
        ref = [r for r, _, _ in results["reference"]]
        ours = [r for r, _, _ in results["campuslab"]]
        cpu_ratio = [
            c / o
            for (_, _, c), (_, _, o) in zip(results["reference"], results["campuslab"], strict=True)
        ]
        ratios = [o / r for o, r in zip(ours, ref, strict=True)]
        print()
        print(f"history import, {args.rows:,} CSV rows into DuckDB, median of {args.runs} runs:")
        print(
            f"  reference (bare DuckDB INSERT ... read_csv): {statistics.median(ref):>10,.0f} "
            "rows/s, "
            f"peak RSS {statistics.median(p for _, p, _ in results['reference']):,.0f} MB"
        )
        print(
            f"  campuslab import readings:                   {statistics.median(ours):>10,.0f} "
            "rows/s, "
            f"peak RSS {statistics.median(p for _, p, _ in results['campuslab']):,.0f} MB "
            "(targets: >= 500,000 rows/s, <= 500 MB)"
        )
        print(
            f"  ratio campuslab/reference:                   {statistics.median(ratios):>10.2f} "
            f"(runs: {', '.join(f'{r:.2f}' for r in ratios)}); load average "
            f"{os.getloadavg()[0]:.2f}"
        )
        print(
            f"  CPU time ratio reference/campuslab:          {statistics.median(cpu_ratio):>10.2f} "
            f"(CPU s: reference {statistics.median(c for *_, c in results['reference']):.1f}, "
            f"campuslab {statistics.median(c for *_, c in results['campuslab']):.1f}; "
            "CPU time depends less on the machine's load than wall time)"
        )


def _remove(folder: Path) -> None:
    for path in sorted(folder.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    folder.rmdir()


if __name__ == "__main__":
    main()
