"""InfluxDB writer benchmark: InfluxStore.submit against a plain HTTP POST, on VictoriaMetrics.

Method. N co2 readings (distinct space and second, recent timestamps) are cut
into batches of --batch readings, the size the ingestor hands over. Each run
writes them to the same real VictoriaMetrics (its ``/api/v2/write`` is the path
influxdb-client posts to), in alternating order:

- ceiling: the same lines, already encoded, POSTed with httpx in bodies of
  --request-lines lines, one after the other (no batching library, no tracking);
- campuslab: ``InfluxStore.submit`` for every batch (encode, hand each line to
  the batching WriteApi, follow it to its acknowledgement), timed from the first
  submit to the last ``on_durable`` callback.

Rates are lines per second; medians over --runs. The ratio campuslab/ceiling is
comparable across machines.

--remembered N first fills the store's memory of recent readings (``RecentReadings``,
how it recognises repeats across batches) with N identities of other readings, so
the run measures the steady state of a long-running ingestor, whose memory is full,
rather than a fresh one's. The filling is not timed.

    .venv/bin/python bench/influx_write.py [--readings 200000] [--batch 1000] [--runs 5]
        [--record-lines 100] [--remembered 900000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from servers.victoriametrics import VictoriaMetrics

from campuslab.core.readings import ReadingBatch, to_epoch_us
from campuslab.core.registry import Campus, load_campus, sample_campus_path
from campuslab.core.store.influx import InfluxConfig, InfluxStore
from campuslab.core.store.line_protocol import LineProtocolEncoder


def reading_batches(campus: Campus, n: int, batch: int, start: datetime) -> list[ReadingBatch]:
    spaces = [(b.id, s.id) for b, s in campus.spaces()]
    start_us = to_epoch_us(start)
    batches = []
    for first in range(0, n, batch):
        readings = ReadingBatch()
        for i in range(first, min(first + batch, n)):
            building, space = spaces[i % len(spaces)]
            readings.append(
                start_us + (i // len(spaces)) * 1_000_000, building, space, "co2", 400.0 + i % 900
            )
        batches.append(readings)
    return batches


def run_ceiling(url: str, bodies: list[bytes], lines: int) -> float:
    with httpx.Client(base_url=url, timeout=60) as client:
        started = time.perf_counter()
        for body in bodies:
            answer = client.post(
                "/api/v2/write",
                params={"bucket": "campuslab", "org": "campuslab", "precision": "us"},
                content=body,
            )
            answer.raise_for_status()
        return lines / (time.perf_counter() - started)


def fill_memory(store: InfluxStore, campus: Campus, remembered: int) -> None:
    """Remember ``remembered`` identities of readings a year back (none of the timed ones)."""
    recent = getattr(store, "_recent", None)
    if recent is None or not remembered:
        return  # a store without the memory (before it was added): nothing to fill
    start = datetime.now(UTC) - timedelta(days=365)
    for batch in reading_batches(campus, remembered, 10_000, start):
        recent.remember(recent.keys_of(batch))


def run_campuslab(
    url: str,
    campus: Campus,
    batches: list[ReadingBatch],
    request_lines: int,
    record_lines: int,
    remembered: int,
):
    store = InfluxStore(
        InfluxConfig(url=url, batch_size=request_lines, record_lines=record_lines), campus
    )
    fill_memory(store, campus, remembered)
    left = [len(batches)]
    errors: list[BaseException] = []
    done = threading.Event()
    lock = threading.Lock()

    def on_durable(result, error) -> None:
        with lock:
            if error is not None:
                errors.append(error)
            left[0] -= 1
            if left[0] == 0:
                done.set()

    try:
        started = time.perf_counter()
        for batch in batches:
            store.submit(batch, [], on_durable)
        submitted = time.perf_counter() - started
        if not done.wait(300):
            raise TimeoutError(f"batches not durable: {store.stats()}")
        elapsed = time.perf_counter() - started
        if errors:
            raise RuntimeError(f"{len(errors)} batches failed: {errors[0]}")
    finally:
        store.close()
    lines = sum(len(b) for b in batches)
    return lines / elapsed, lines / submitted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000, help="readings per submit")
    parser.add_argument("--request-lines", type=int, default=5000, help="lines per HTTP request")
    parser.add_argument(
        "--record-lines", type=int, default=1, help="InfluxConfig.record_lines (lines per record)"
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--remembered", type=int, default=0, help="fill the memory of recent readings first"
    )
    args = parser.parse_args()

    campus = load_campus(sample_campus_path())
    encoder = LineProtocolEncoder(campus)
    with tempfile.TemporaryDirectory() as workdir:
        vm = VictoriaMetrics(Path(workdir) / "victoriametrics").start()
        try:
            ceiling, campuslab, submit_only, ratios = [], [], [], []
            for run in range(args.runs):
                # each run its own hour of timestamps, so no run overwrites another
                start = datetime.now(UTC) - timedelta(hours=2 * args.runs - 2 * run)
                batches = reading_batches(campus, args.readings, args.batch, start)
                lines = [line.encode() for b in batches for line in encoder.readings(b)]
                bodies = [
                    b"\n".join(lines[i : i + args.request_lines])
                    for i in range(0, len(lines), args.request_lines)
                ]
                order = ("ceiling", "campuslab") if run % 2 == 0 else ("campuslab", "ceiling")
                for which in order:
                    if which == "ceiling":
                        rate_ceiling = run_ceiling(vm.url, bodies, len(lines))
                    else:
                        rate, rate_submit = run_campuslab(
                            vm.url,
                            campus,
                            batches,
                            args.request_lines,
                            args.record_lines,
                            args.remembered,
                        )
                ceiling.append(rate_ceiling)
                campuslab.append(rate)
                submit_only.append(rate_submit)
                ratios.append(rate / rate_ceiling)
                print(
                    f"run {run + 1}: ceiling {rate_ceiling:,.0f} lines/s, "
                    f"campuslab {rate:,.0f} lines/s (submit returns at {rate_submit:,.0f}/s)",
                    flush=True,
                )
        finally:
            vm.stop()
    print()
    print(
        f"{args.readings:,} readings in batches of {args.batch:,}, requests of "
        f"{args.request_lines:,} lines, record_lines={args.record_lines}, "
        f"remembered={args.remembered:,}, median of {args.runs} runs:"
    )
    print(f"  ceiling (httpx POST, pre-encoded):  {statistics.median(ceiling):>12,.0f} lines/s")
    print(f"  campuslab InfluxStore.submit:       {statistics.median(campuslab):>12,.0f} lines/s")
    print(f"  ratio campuslab/ceiling:            {statistics.median(ratios):>12.2f}")


if __name__ == "__main__":
    main()
