"""Analytics benchmark: the campus-wide KPI set over a semester, against a pandas reference.

Method. A campus of --spaces spaces (default 500: the sample campus's buildings
replicated, each copy with its own meters) reports occupancy, CO2, temperature
and humidity every --interval (default 5 minutes) for --days days (default 120,
from Monday 5 January 2026), with the simulator's spike, stuck, dropout and
reset faults: about 69 million space readings plus the meters. The direct
writer generates them into a DuckDB file in a temporary folder once, not timed
(its time is reported). Then, each job in a fresh process, so that its peak RSS
(VmHWM from /proc/self/status; not ru_maxrss, which Linux carries over through
fork and exec) is its own:

- the full KPI set, ``campus_kpis`` with every part (utilisation, IEQ, energy,
  quality), median of --runs runs, and its peak RSS; the peak RSS also for the
  first 14 days alone, and for both periods with DuckDB's memory_limit at 256 MB:
  DuckDB keeps the table blocks it read cached up to its memory_limit (80 % of
  RAM by default), while the job's own arrays are bounded by a chunk;
- the utilisation part alone, ``campus_kpis(parts=["utilisation"])``;
- the pandas reference (bench/analytics_pandas_reference.py): read the occupancy
  readings into a DataFrame, resample hourly per space, core-hour mask, group
  by day: the utilisation metrics only, median of --runs runs.

The ratios compare pandas with the utilisation part (like for like) and with
the full KPI set. Both implementations must agree: every (space, day) figure is
compared (within 1e-9 relative; counts exactly) before any time is reported.
Other processes on the machine make the times noisy: the load average is printed.

    .venv/bin/python bench/analytics.py [--spaces 500] [--days 120] [--runs 3]
    .venv/bin/python bench/analytics.py --spaces 100 --days 14      # a quick check
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from campuslab.analytics.campus_kpis import KpiPart, campus_kpis
from campuslab.core.registry import Campus, load_campus, sample_campus_path
from campuslab.core.store.duckdb import DuckDBStore
from campuslab.simulators.campus import CampusSimulator, SimulationConfig
from campuslab.simulators.direct import backfill_direct

FIRST_DAY = date(2026, 1, 5)  # a Monday; the spring semester
FAULTS = frozenset({"spike", "stuck", "dropout", "reset"})
RSS_DAYS = 14  # the shorter period whose peak RSS is compared with the full one's
CACHE_LIMIT = "256MB"  # DuckDB memory_limit for the runs that show RSS bounded by the chunks


def replicated_campus(spaces: int) -> Campus:
    """The sample campus's buildings copied until there are ``spaces`` spaces.

    Copy k of building ``rfb`` is ``rfb<k>`` with spaces ``<id>-<k>`` and meters
    ``<id><k>``; the last copy may hold fewer spaces. The weather station stays on
    the first copy of its building.
    """
    sample = load_campus(sample_campus_path()).model_dump(mode="json")
    buildings, count, copy = [], 0, 0
    while count < spaces:
        for building in sample["buildings"]:
            if count >= spaces:
                break
            rooms = building["spaces"][: spaces - count]
            count += len(rooms)
            buildings.append(
                {
                    **building,
                    "id": f"{building['id']}{copy}",
                    "meters": [{**m, "id": f"{m['id']}{copy}"} for m in building["meters"]],
                    "spaces": [{**room, "id": f"{room['id']}-{copy}"} for room in rooms],
                }
            )
        copy += 1
    sample["buildings"] = buildings
    station = sample["site"].get("weather_station")
    if station:
        station["building"] = f"{station['building']}0"
    return Campus.model_validate(sample)


def period(days: int) -> tuple[date, date]:
    return FIRST_DAY, FIRST_DAY + timedelta(days=days - 1)


def local_midnight(campus: Campus, day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), campus.tz).astimezone(UTC)


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM). Not ru_maxrss: Linux carries that over from the
    parent through fork and exec, so a child would report the benchmark's own peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def load() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


# -- generation ------------------------------------------------------------------------------


def generate(path: Path, campus: Campus, days: int, interval: timedelta) -> tuple[int, float]:
    """Simulate the period (and the day before it, for the registers) into ``path``."""
    first, last = period(days)
    sim = CampusSimulator(campus, SimulationConfig(seed=1, interval=interval, faults=FAULTS))
    store = DuckDBStore(path)
    try:
        report = backfill_direct(
            sim,
            store,
            local_midnight(campus, first - timedelta(days=1)),
            local_midnight(campus, last + timedelta(days=1)),
        )
    finally:
        store.close()
    return report.readings, report.seconds


# -- the timed jobs, each in a process of its own ------------------------------------------


def job(
    kind: str,
    db: Path,
    spaces: int,
    days: int,
    runs: int,
    period_days: int,
    memory_limit: str | None = None,
) -> dict:
    campus = replicated_campus(spaces)
    first, _ = period(days)
    last = first + timedelta(days=period_days - 1)
    seconds = []
    if kind == "pandas":
        import duckdb
        from analytics_pandas_reference import pandas_utilisation, read_occupancy

        con = duckdb.connect(str(db), read_only=True)
        start, end = local_midnight(campus, first), local_midnight(campus, last + timedelta(1))
        for _ in range(runs):
            began = time.perf_counter()
            pandas_utilisation(read_occupancy(con, start, end), campus)
            seconds.append(time.perf_counter() - began)
        con.close()
    else:
        parts = ["utilisation"] if kind == "utilisation" else list(KpiPart)
        store = DuckDBStore(db)
        if memory_limit:  # DuckDB's block cache; a setting of the (shared) database
            import duckdb

            con = duckdb.connect(str(db))
            con.execute(f"SET memory_limit = '{memory_limit}'")
            con.close()
        for _ in range(runs):
            began = time.perf_counter()
            campus_kpis(store, campus, first, last, parts=parts)
            seconds.append(time.perf_counter() - began)
        store.close()
    return {"seconds": seconds, "peak_rss_mb": peak_rss_mb()}


def run_job(
    kind: str,
    args: argparse.Namespace,
    runs: int,
    period_days: int,
    memory_limit: str | None = None,
) -> dict:
    limit = ["--memory-limit", memory_limit] if memory_limit else []
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--job",
            kind,
            "--db",
            str(args.db),
            "--spaces",
            str(args.spaces),
            "--days",
            str(args.days),
            "--runs",
            str(runs),
            "--period-days",
            str(period_days),
            *limit,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=3600,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the check: both implementations give the same numbers -------------------------------------


def check_same(db: Path, campus: Campus, days: int) -> int:
    """Compare every (space, day) utilisation figure of ours and pandas'; return the rows."""
    import duckdb
    from analytics_pandas_reference import UTILISATION_COLUMNS, pandas_utilisation, read_occupancy

    first, last = period(days)
    store = DuckDBStore(db)
    ours = campus_kpis(store, campus, first, last, parts=["utilisation"]).utilisation
    store.close()
    con = duckdb.connect(str(db), read_only=True)
    start, end = local_midnight(campus, first), local_midnight(campus, last + timedelta(1))
    theirs = pandas_utilisation(read_occupancy(con, start, end), campus)
    con.close()
    space_row = {space.id: i for i, (_, space) in enumerate(campus.spaces())}
    rows = np.array([space_row[s] for s in theirs.index.get_level_values("space")])
    dates = np.array(theirs.index.get_level_values("date"), dtype="datetime64[D]")
    columns = (dates - np.datetime64(first, "D")).astype(np.int64)
    # pandas lists exactly the space-days with available hours
    assert (ours.available_hours > 0).sum() == len(theirs), "different space-days"
    for name in UTILISATION_COLUMNS:
        mine = getattr(ours, name)[rows, columns]
        expected = theirs[name].to_numpy(dtype=np.float64)
        if name.endswith("hours") and name != "used_seat_hours":
            assert np.array_equal(mine, expected), name
        else:
            np.testing.assert_allclose(mine, expected, rtol=1e-9, atol=1e-12, err_msg=name)
    return len(theirs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spaces", type=int, default=500)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--interval", default="5m", help="time between readings (5m)")
    parser.add_argument(
        "--db",
        type=Path,
        help="reuse this store (generated with the same "
        "--spaces/--days/--interval) instead of generating one",
    )
    parser.add_argument("--job", help=argparse.SUPPRESS)
    parser.add_argument("--period-days", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--memory-limit", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:
        print(
            json.dumps(
                job(
                    args.job,
                    args.db,
                    args.spaces,
                    args.days,
                    args.runs,
                    args.period_days,
                    args.memory_limit,
                )
            )
        )
        return

    campus = replicated_campus(args.spaces)
    workdir = Path(tempfile.mkdtemp(prefix="campuslab-bench-analytics-"))
    try:
        measure(args, campus, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)  # a generated store; --db is left alone


def measure(args: argparse.Namespace, campus: Campus, workdir: Path) -> None:
    """Generate the store (unless --db), check both implementations agree, time them."""
    from campuslab.core.config import parse_duration

    if args.db is None:
        args.db = workdir / "campuslab.duckdb"
        print(
            f"generating {args.spaces} spaces x {args.days} days at {args.interval} into "
            f"{args.db} (direct writer) ...",
            flush=True,
        )
        readings, seconds = generate(args.db, campus, args.days, parse_duration(args.interval))
        print(
            f"  {readings:,} readings in {seconds:.1f} s ({readings / seconds:,.0f}/s), "
            f"file {args.db.stat().st_size / 2**30:.2f} GiB",
            flush=True,
        )
    rows = check_same(args.db, campus, args.days)
    print(f"check: ours and pandas agree on all {rows:,} space-days with core hours", flush=True)

    counted = _space_readings(args.db, campus, args.days)
    print(f"load average before timing: {load()}", flush=True)
    full = run_job("full", args, args.runs, args.days)
    utilisation = run_job("utilisation", args, args.runs, args.days)
    pandas = run_job("pandas", args, args.runs, args.days)
    short_days = min(RSS_DAYS, args.days)
    periods = sorted({short_days, args.days})
    short = run_job("full", args, 1, short_days) if short_days < args.days else None
    bounded = {days: run_job("full", args, 1, days, CACHE_LIMIT) for days in periods}
    print(f"load average after timing:  {load()}")

    full_s = statistics.median(full["seconds"])
    use_s = statistics.median(utilisation["seconds"])
    pandas_s = statistics.median(pandas["seconds"])

    def runs(found: dict) -> str:
        return ", ".join(f"{s:.2f}" for s in found["seconds"])

    print()
    print(
        f"{args.spaces} spaces x {args.days} days at {args.interval}: {counted:,} space "
        f"readings (occupancy, CO2, temperature, humidity); medians of {args.runs} runs"
    )
    print(
        f"  full KPI set (utilisation, IEQ, energy, quality): {full_s:7.2f} s  "
        f"(runs {runs(full)}; target <= 20 s)"
    )
    print(
        f"  utilisation part alone:                          {use_s:7.2f} s  "
        f"(runs {runs(utilisation)})"
    )
    print(
        f"  pandas reference (utilisation only):             {pandas_s:7.2f} s  "
        f"(runs {runs(pandas)})"
    )
    print(
        f"  ratio pandas / ours, utilisation like for like:  {pandas_s / use_s:7.1f}x  "
        "(target >= 5x)"
    )
    print(f"  ratio pandas utilisation / our full KPI set:     {pandas_s / full_s:7.1f}x")
    print("  peak RSS of the KPI process (VmHWM), full KPI set:")
    rss = [(args.days, "DuckDB defaults", full)]
    rss += [(short_days, "DuckDB defaults", short)] if short else []
    rss += [(days, f"DuckDB memory_limit {CACHE_LIMIT}", found) for days, found in bounded.items()]
    for days, settings, found in rss:
        print(f"    over {days:>3} days, {settings:<28} {found['peak_rss_mb']:7.0f} MB")
    print("    (DuckDB keeps the table blocks it has read cached up to its memory_limit,")
    print("    80 % of RAM by default; the job's own arrays are bounded by one chunk)")
    print(f"  peak RSS, pandas reference:                      {pandas['peak_rss_mb']:7.0f} MB")


def _space_readings(db: Path, campus: Campus, days: int) -> int:
    import duckdb

    first, last = period(days)
    con = duckdb.connect(str(db), read_only=True)
    found = con.execute(
        "SELECT count(*) FROM readings WHERE quantity IN "
        "('occupancy', 'co2', 'temperature', 'humidity') AND ts >= ? AND ts < ?",
        [
            local_midnight(campus, first).replace(tzinfo=None),
            local_midnight(campus, last + timedelta(1)).replace(tzinfo=None),
        ],
    ).fetchall()[0][0]
    con.close()
    return int(found)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
