"""Ingest benchmark: CampusLab's ingestor against a bare paho subscriber, on the real Mosquitto.

Method. For each run, N readings are published at QoS 1 while both consumers
are away, so the broker holds the same backlog for each persistent session.
Then each consumer drains its backlog and is timed from connect to done:

- ceiling: a bare paho subscriber (QoS 1, auto-ack) that only decodes the JSON;
- campuslab: the real ingest pipeline (decode, validate, map, batch write to
  DuckDB, acknowledge after the write), timed until the store holds N readings.

Both run in this process against the same broker and stream, so the ratio
campuslab/ceiling is comparable across machines. Medians over --runs.
Also: SenML packs of 100 readings, and the ingest process's peak RSS while
backlogs of 100,000 and 1,000,000 messages drain (--backlog), each drain in a
fresh process.

    .venv/bin/python bench/ingest.py [--readings 100000] [--runs 5] [--backlog 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from servers.mosquitto import Mosquitto
from servers.publisher import MqttTestPublisher

from campuslab.core.config import parse_mqtt_url
from campuslab.core.registry import load_campus, sample_campus_path
from campuslab.core.store.duckdb import DuckDBStore
from campuslab.ingest.metrics import IngestMetrics
from campuslab.ingest.processor import MessageProcessor
from campuslab.ingest.service import Ingestor, IngestSettings

CAMPUS = load_campus(sample_campus_path())
SPACES = [(b.id, s.id) for b, s in CAMPUS.spaces()]
QUANTITIES = (
    ("co2", 400.0, "ppm"),
    ("temperature", 21.0, "Cel"),
    ("humidity", 30.0, "%RH"),
    ("occupancy", 0.0, "count"),
)


def json_stream(n: int, start: datetime) -> list[tuple[str, bytes]]:
    """n single-reading JSON messages, every (space, quantity, minute) distinct."""
    messages = []
    per_minute = len(SPACES) * len(QUANTITIES)
    for i in range(n):
        building, space = SPACES[i % len(SPACES)]
        quantity, base, unit = QUANTITIES[(i // len(SPACES)) % len(QUANTITIES)]
        ts = start + timedelta(minutes=i // per_minute)
        payload = json.dumps(
            {"value": base + i % 50, "ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"), "unit": unit}
        )
        messages.append((f"campus/{building}/{space}/{quantity}", payload.encode()))
    return messages


def senml_stream(n: int, start: datetime, pack_size: int = 100) -> list[tuple[str, bytes]]:
    """n readings as SenML packs of ``pack_size`` records (one space, 25 minutes x 4 quantities)."""
    messages = []
    t0 = start.timestamp()
    steps = pack_size // len(QUANTITIES)
    for p in range(n // pack_size):
        building, space = SPACES[p % len(SPACES)]
        bt = t0 + (p // len(SPACES)) * steps * 60
        records = [{"bn": f"urn:campuslab:{building}:{space}:", "bt": bt}]
        for step in range(steps):
            for quantity, base, unit in QUANTITIES:
                records.append({"n": quantity, "u": unit, "t": step * 60, "v": base + step})
        messages.append((f"campus/{building}/{space}/senml", json.dumps(records).encode()))
    return messages


class Ceiling:
    """A bare paho subscriber: QoS 1, persistent session, decodes JSON and nothing else."""

    def __init__(self, port: int, client_id: str, readings_per_message: int) -> None:
        self.port, self.client_id = port, client_id
        self.per_message = readings_per_message
        self.received = 0
        self.done = threading.Event()
        self.expected = 0

    def _client(self) -> mqtt.Client:
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=False
        )
        client.on_connect = lambda c, u, f, r, p: c.subscribe("campus/#", qos=1)
        client.on_message = self._on_message
        return client

    def _on_message(self, client, userdata, message) -> None:
        json.loads(message.payload)
        self.received += 1
        if self.received >= self.expected:
            self.done.set()

    def register(self) -> None:
        client = self._client()
        client.connect("127.0.0.1", self.port)
        client.loop_start()
        time.sleep(0.3)
        client.disconnect()
        client.loop_stop()

    def drain(self, messages: int) -> float:
        self.received, self.expected = 0, messages
        self.done.clear()
        client = self._client()
        started = time.perf_counter()
        client.connect("127.0.0.1", self.port)
        client.loop_start()
        if not self.done.wait(600):
            raise RuntimeError(f"ceiling got {self.received} of {messages}")
        elapsed = time.perf_counter() - started
        client.disconnect()
        client.loop_stop()
        return elapsed


class CampusLabIngest:
    """The real ingest pipeline (as in `campuslab serve`), minus the HTTP API."""

    def __init__(self, url: str, client_id: str, data_dir: Path) -> None:
        self.url, self.client_id, self.data_dir = url, client_id, data_dir
        self.run = 0

    def _ingestor(self) -> tuple[Ingestor, DuckDBStore]:
        self.run += 1
        store = DuckDBStore(self.data_dir / f"bench-{self.run}.duckdb")
        ingestor = Ingestor(
            parse_mqtt_url(self.url),
            MessageProcessor(CAMPUS),
            store,
            IngestMetrics(),
            IngestSettings(client_id=self.client_id),
        )
        return ingestor, store

    def register(self) -> None:
        ingestor, store = self._ingestor()
        ingestor.start()
        time.sleep(0.3)
        ingestor.stop()
        store.close()

    def drain(self, readings: int) -> tuple[float, int]:
        ingestor, store = self._ingestor()
        started = time.perf_counter()
        ingestor.start()
        while (stored := store.count()) < readings:
            if time.perf_counter() - started > 900:
                raise RuntimeError(f"stored {stored} of {readings}")
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        ingestor.stop()
        store.close()
        return elapsed, stored


def drain_in_subprocess(
    url: str,
    client_id: str,
    workdir: Path,
    readings: int,
) -> tuple[float, float]:
    """Run one drain in a new Python process; return (seconds, peak RSS in MB)."""
    import subprocess

    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--drain",
            url,
            "--client-id",
            client_id,
            "--workdir",
            str(workdir),
            "--readings",
            str(readings),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    answer = json.loads(out.stdout.strip().splitlines()[-1])
    return answer["seconds"], answer["peak_rss_mb"]


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM). Not ru_maxrss: Linux carries that over from the
    parent through fork and exec, so a child would report the benchmark's own peak."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def drain_only(url: str, client_id: str, workdir: Path, readings: int) -> None:
    ingest = CampusLabIngest(url, client_id, workdir)
    ingest.run = time.monotonic_ns()  # a store file of its own
    if readings == 0:
        ingest.register()
        print(json.dumps({"seconds": 0, "peak_rss_mb": 0}))
        return
    elapsed, _ = ingest.drain(readings)
    peak = peak_rss_mb()
    print(json.dumps({"seconds": elapsed, "peak_rss_mb": peak}))


def publish(port: int, messages: list[tuple[str, bytes]]) -> None:
    publisher = MqttTestPublisher(port, f"bench-pub-{time.monotonic_ns()}")
    publisher.publish_all(messages, pause_every=1000, pause=0.0)
    publisher.wait_acked(len(messages), timeout=900)
    publisher.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readings", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--backlog", type=int, default=1_000_000, help="messages in the memory test (0 to skip)"
    )
    parser.add_argument("--drain", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--client-id", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drain:
        drain_only(args.drain, args.client_id, args.workdir, args.readings)
        return

    workdir = Path(tempfile.mkdtemp(prefix="campuslab-bench-"))
    broker = Mosquitto(workdir / "mosquitto").start()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=10)
    try:
        ceiling = Ceiling(broker.port, "bench-ceiling", 1)
        campuslab = CampusLabIngest(broker.url, "bench-campuslab", workdir)
        ceiling.register()
        campuslab.register()
        messages = json_stream(args.readings, start)
        rates_ceiling, rates_campuslab = [], []
        for run in range(args.runs):
            publish(broker.port, messages)  # queued for both sessions
            rates_ceiling.append(args.readings / ceiling.drain(args.readings))
            rates_campuslab.append(args.readings / campuslab.drain(args.readings)[0])
            print(
                f"run {run + 1}: ceiling {rates_ceiling[-1]:,.0f}/s  "
                f"campuslab {rates_campuslab[-1]:,.0f}/s",
                flush=True,
            )
        ratios = [c / b for c, b in zip(rates_campuslab, rates_ceiling, strict=True)]

        senml = senml_stream(args.readings, start)
        ceiling_senml = Ceiling(broker.port, "bench-ceiling-senml", 100)
        ceiling_senml.register()
        rates_senml = []
        for _ in range(args.runs):
            publish(broker.port, senml)
            ceiling_senml.drain(len(senml))
            rates_senml.append(args.readings / campuslab.drain(args.readings)[0])

        print()
        print(f"single-reading JSON, {args.readings:,} readings, median of {args.runs} runs:")
        print(
            f"  ceiling (bare paho, decode only): {statistics.median(rates_ceiling):>10,.0f} "
            "readings/s"
        )
        print(
            f"  campuslab ingest (to DuckDB):     {statistics.median(rates_campuslab):>10,.0f} "
            "readings/s"
        )
        print(
            f"  ratio campuslab/ceiling:          {statistics.median(ratios):>10.2f}  "
            f"(runs: {', '.join(f'{r:.2f}' for r in ratios)}; target >= 0.7)"
        )
        print(
            f"SenML packs of 100: campuslab       {statistics.median(rates_senml):>10,.0f} "
            f"readings/s  (runs: {', '.join(f'{r:,.0f}' for r in rates_senml)}; "
            "target >= 200,000)"
        )

        if args.backlog:
            # Each drain runs in a fresh process, so its peak RSS is the ingestor's alone.
            # Bounded memory means the peak does not grow with the backlog.
            for size in sorted({args.backlog // 10, args.backlog}):
                client_id = f"bench-backlog-{size}"
                drain_in_subprocess(broker.url, client_id, workdir, 0)  # register session
                publish(broker.port, json_stream(size, start - timedelta(days=5)))
                elapsed, peak = drain_in_subprocess(broker.url, client_id, workdir, size)
                print(
                    f"backlog of {size:>9,} messages: drained in {elapsed:5.1f} s "
                    f"({size / elapsed:,.0f}/s), ingest process peak RSS {peak:.0f} MB"
                )
    finally:
        broker.stop()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
