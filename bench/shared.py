"""Scale-out benchmark: one `campuslab ingest` process against two sharing a subscription.

Method. Two share groups (one ingestor; two ingestors) register their persistent
sessions and disconnect; N single-reading JSON messages are published once,
and Mosquitto queues the stream for each group, round-robin across the group's
sessions. Then the ingestors are started
as real processes (`campuslab ingest --share-group ...`, each with its own
DuckDB file) and timed from connected to N readings stored, read from their
/metrics. Medians over --runs. On this 2-core machine the broker and both
ingestors share two cores.

    .venv/bin/python bench/shared.py [--readings 100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from servers.mosquitto import Mosquitto, free_port

from ingest import json_stream, publish


def metric(port: int, name: str) -> float:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return -1.0
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


class IngestProcess:
    def __init__(self, broker_url: str, workdir: Path, client_id: str, group: str) -> None:
        self.args = [
            sys.executable,
            "-m",
            "campuslab",
            "ingest",
            "--mqtt-url",
            broker_url,
            "--share-group",
            group,
            "--client-id",
            client_id,
            "--log-level",
            "warning",
        ]
        self.workdir = workdir
        self.runs = 0
        self.process: subprocess.Popen | None = None
        self.port = 0

    def start(self) -> None:
        self.runs += 1
        self.port = free_port()
        data_dir = self.workdir / f"run-{self.runs}"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [*self.args, "--data-dir", str(data_dir), "--metrics-port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def connected(self) -> bool:
        return metric(self.port, "campuslab_ingest_connected") == 1

    def stored(self) -> float:
        return max(0.0, metric(self.port, "campuslab_ingest_stored_total"))

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)


def drain(ingestors: list[IngestProcess], readings: int) -> tuple[float, list[float]]:
    for ingestor in ingestors:
        ingestor.start()
    started = None
    while started is None:
        if any(i.connected() for i in ingestors):
            started = time.perf_counter()
        time.sleep(0.005)
    if readings == 0:  # registering the sessions: wait for every member
        while not all(i.connected() for i in ingestors):
            time.sleep(0.05)
    while sum(i.stored() for i in ingestors) < readings:
        if time.perf_counter() - started > 600:
            raise RuntimeError("drain did not finish in 600 s")
        time.sleep(0.05)  # each scrape costs the ingestors CPU
    elapsed = time.perf_counter() - started
    shares = [i.stored() for i in ingestors]
    for ingestor in ingestors:
        ingestor.stop()
    return elapsed, shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readings", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from datetime import UTC, datetime, timedelta

    workdir = Path(tempfile.mkdtemp(prefix="campuslab-bench-shared-"))
    broker = Mosquitto(workdir / "mosquitto").start()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=12)
    try:
        groups = {
            1: [IngestProcess(broker.url, workdir / "one", "bench-one-0", "one")],
            2: [
                IngestProcess(broker.url, workdir / f"two-{i}", f"bench-two-{i}", "two")
                for i in range(2)
            ],
        }
        for ingestors in groups.values():  # register the persistent shared sessions
            drain(ingestors, 0)
        rates: dict[int, list[float]] = {1: [], 2: []}
        for run in range(args.runs):
            # Both groups subscribe to campus/#: one publish queues the stream for each.
            publish(broker.port, json_stream(args.readings, start + timedelta(hours=run * 10)))
            for count, ingestors in groups.items():
                elapsed, shares = drain(ingestors, args.readings)
                rates[count].append(args.readings / elapsed)
                print(
                    f"run {run + 1}, {count} ingestor(s): {rates[count][-1]:,.0f} readings/s "
                    f"(shares {', '.join(f'{s:,.0f}' for s in shares)})",
                    flush=True,
                )
        one, two = statistics.median(rates[1]), statistics.median(rates[2])
        print()
        print(f"{args.readings:,} single-reading JSON messages, median of {args.runs} runs:")
        print(f"  one ingestor:  {one:>10,.0f} readings/s")
        print(f"  two ingestors: {two:>10,.0f} readings/s  (x{two / one:.2f})")
    finally:
        broker.stop()


if __name__ == "__main__":
    main()
