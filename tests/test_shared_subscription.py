"""Two `campuslab ingest` processes share `$share/campuslab/campus/#` on the real Mosquitto.

A stream of N readings ends up stored exactly once in total, and both took part.
Each ingestor has its own DuckDB file here (DuckDB allows one process per file);
in the full stack they share InfluxDB.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from servers.mosquitto import free_port
from servers.publisher import MqttTestPublisher

from campuslab.core.store.duckdb import DuckDBStore

pytestmark = pytest.mark.servers


def counter(port: int, name: str) -> float:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return -1.0
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def start_ingestor(mosquitto, data_dir: Path, name: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    data_dir.mkdir(parents=True)
    log = (data_dir / "ingest.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "campuslab",
            "ingest",
            "--mqtt-url",
            mosquitto.url,
            "--data-dir",
            str(data_dir),
            "--share-group",
            "campuslab",
            "--client-id",
            name,
            "--metrics-port",
            str(port),
            "--log-level",
            "warning",
        ],
        stdout=log,
        stderr=log,
    )
    return process, port


def test_two_ingestors_share_the_stream_and_store_each_reading_once(mosquitto, campus, tmp_path):
    n = 8000
    group = uuid.uuid4().hex[:6]
    ingestors = [
        start_ingestor(mosquitto, tmp_path / f"ingest-{i}", f"share-{group}-{i}") for i in range(2)
    ]
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(
            counter(port, "campuslab_ingest_connected") == 1 for _, port in ingestors
        ):
            time.sleep(0.1)
        assert all(counter(port, "campuslab_ingest_connected") == 1 for _, port in ingestors)

        publisher = MqttTestPublisher(mosquitto.port, f"share-pub-{group}")
        t0 = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
        spaces = [(b.id, s.id) for b, s in campus.spaces()]
        for i in range(n):
            building, space = spaces[i % len(spaces)]
            ts = (t0 + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
            publisher.publish(
                f"campus/{building}/{space}/temperature",
                f'{{"value": {20 + (i % 40) / 10}, "ts": "{ts}"}}',
            )
        publisher.wait_acked(n)
        publisher.close()

        def stored() -> list[float]:
            return [counter(port, "campuslab_ingest_stored_total") for _, port in ingestors]

        deadline = time.monotonic() + 60
        while sum(stored()) < n and time.monotonic() < deadline:
            time.sleep(0.1)
        shares = stored()
    finally:
        for process, _ in ingestors:
            process.send_signal(signal.SIGTERM)
        for process, _ in ingestors:
            process.wait(30)

    assert sum(shares) == n, shares
    assert all(share > 0 for share in shares), f"both ingestors took part: {shares}"
    readings = set()
    for i in range(2):
        store = DuckDBStore(tmp_path / f"ingest-{i}" / "campuslab.duckdb")
        rows = store._cursor().execute("SELECT sensor, ts FROM readings").fetchall()
        store.close()
        assert len(rows) == shares[i]
        readings.update(rows)
    assert len(readings) == n, "no reading stored by both ingestors"
