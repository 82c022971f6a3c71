"""Device uplinks against CampusLab's own JSON messages, through `campuslab serve` as users run it.

Method. One real Mosquitto; `campuslab serve` runs as its own process on the
sample campus (whose registry lists an AM319 and a VS121 per space on The Things
Stack). For each run a fresh data directory is used, serve is started once to
register its persistent session and stopped; then a backlog is published while it
is away, and serve is started again and timed from "connected" to "every reading
stored" while, as in production, a client reads the API (`/api/v1/spaces/available`,
~20 requests/s) and a scraper reads `/metrics` (2/s). Backlogs:

- json: N single-reading messages on `campus/<building>/<space>/<quantity>`
  (today's path, the reference);
- uplink: N The Things Stack v3 uplinks of a Milesight AM319, shaped as the stack
  sends them (`end_device_ids`, two gateways in `rx_metadata`, nanosecond
  `received_at`) with the 12 fields Milesight's decoder writes, 4 of which are
  readings (CO2, temperature, humidity, PIR presence; the rest are counted as unmapped).

The kinds alternate run by run; medians over --runs. Reported: messages/s and
readings/s of each, and the ratios uplink/json (the target: messages/s >= 0.7x,
readings/s >= 3x).

    .venv/bin/python bench/uplinks.py [--messages 30000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from servers.campuslab_serve import ServeProcess
from servers.mosquitto import Mosquitto

from campuslab.core.registry import load_campus, sample_campus_path
from ingest import json_stream, publish

CAMPUS = load_campus(sample_campus_path())
AM319 = [d for d in CAMPUS.devices if d.model == "milesight-am319"]


def uplink_stream(n: int, start: datetime) -> list[tuple[str, bytes]]:
    """n AM319 uplinks, each (device, minute) distinct, 4 readings each."""
    messages = []
    for i in range(n):
        device = AM319[i % len(AM319)]
        moment = start + timedelta(minutes=i // len(AM319))
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%S") + ".123456789Z"
        device_id = f"eui-{device.dev_eui.lower()}"
        message = {
            "end_device_ids": {
                "device_id": device_id,
                "application_ids": {"application_id": "campus-iaq"},
                "dev_eui": device.dev_eui,
                "join_eui": "24E124C0002A0001",
                "dev_addr": "260B3A4F",
            },
            "correlation_ids": ["as:up:01HZ0000000000000000000000"],
            "received_at": stamp,
            "uplink_message": {
                "f_port": 85,
                "f_cnt": i,
                "frm_payload": "AXVXA2fZAARoUwUAAQcGfQADCH0GAAlzfCc=",
                "decoded_payload": {
                    "battery": 87,
                    "temperature": 20 + (i % 50) / 10,
                    "humidity": 30 + i % 40,
                    "pir": "trigger" if i % 3 else "idle",
                    "light_level": 3,
                    "co2": 400 + i % 900,
                    "tvoc": 1.25,
                    "pressure": 1003.2,
                    "hcho": 0.02,
                    "pm2_5": 6,
                    "pm10": 9,
                    "o3": 0.01,
                },
                "rx_metadata": [
                    {"gateway_ids": {"gateway_id": "gw-1"}, "rssi": -97, "snr": 7.25},
                    {"gateway_ids": {"gateway_id": "gw-2"}, "rssi": -81, "snr": 9.5},
                ],
                "settings": {"data_rate": {"lora": {"bandwidth": 125000, "spreading_factor": 7}}},
                "received_at": stamp,
                "consumed_airtime": "0.071936s",
            },
        }
        messages.append((f"v3/campus-iaq@ttn/devices/{device_id}/up", json.dumps(message).encode()))
    return messages


class Readers:
    """An API client and a /metrics scraper, as a campus has them while ingest runs."""

    def __init__(self, serve: ServeProcess, api_per_s: float = 20, scrape_per_s: float = 2):
        self.serve, self.stop = serve, threading.Event()
        self.requests = 0
        self.threads = [
            threading.Thread(target=self._loop, args=("/api/v1/spaces/available", api_per_s)),
            threading.Thread(target=self._loop, args=("/metrics", scrape_per_s)),
        ]

    def _loop(self, path: str, per_s: float) -> None:
        with httpx.Client(base_url=self.serve.base_url, headers=self.serve.headers) as client:
            while not self.stop.wait(1 / per_s):
                try:
                    client.get(path, timeout=5)
                    self.requests += 1
                except httpx.HTTPError:
                    pass

    def __enter__(self) -> Readers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()


def drain(broker: Mosquitto, workdir: Path, kind: str, messages, readings: int) -> float:
    """Seconds from serve connected to ``readings`` stored, with the readers running."""
    serve = ServeProcess(broker.url, workdir, f"bench-{kind}-{workdir.name}")
    serve.start(timeout=60)  # registers the persistent session
    serve.stop()
    publish(broker.port, messages)
    serve.start(timeout=60)
    connected = time.perf_counter()
    try:
        with Readers(serve):
            deadline = time.monotonic() + 600
            while serve.stored() < readings:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{kind}: {serve.stored()} of {readings} after 600 s")
                time.sleep(0.02)
            done = time.perf_counter()
    finally:
        serve.stop()
    return done - connected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=30_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    n = args.messages
    start = (datetime.now(UTC) - timedelta(days=3)).replace(second=0, microsecond=0)
    streams = {"json": (json_stream(n, start), n), "uplink": (uplink_stream(n, start), 4 * n)}
    seconds: dict[str, list[float]] = {"json": [], "uplink": []}
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp) / "mosquitto").start()
        try:
            for run in range(args.runs):
                for kind in ("json", "uplink") if run % 2 == 0 else ("uplink", "json"):
                    messages, readings = streams[kind]
                    elapsed = drain(broker, Path(tmp) / f"{kind}-{run}", kind, messages, readings)
                    seconds[kind].append(elapsed)
                    print(
                        f"run {run + 1} {kind:>6}: {n:,} messages, {readings:,} readings in "
                        f"{elapsed:.2f} s: {n / elapsed:,.0f} msg/s, {readings / elapsed:,.0f} "
                        "readings/s",
                        flush=True,
                    )
        finally:
            broker.stop()
    json_s, uplink_s = statistics.median(seconds["json"]), statistics.median(seconds["uplink"])
    print(f"\nmedians over {args.runs} runs, `campuslab serve` with the API and /metrics read:")
    print(f"  json   {n / json_s:10,.0f} msg/s {n / json_s:10,.0f} readings/s")
    print(f"  uplink {n / uplink_s:10,.0f} msg/s {4 * n / uplink_s:10,.0f} readings/s")
    print(
        f"  uplink/json: messages {json_s / uplink_s:.2f}x (target >= 0.7x), "
        f"readings {4 * json_s / uplink_s:.2f}x (target >= 3x)"
    )


if __name__ == "__main__":
    main()
