"""`campuslab demo` on a machine without Mosquitto: it falls back to amqtt and still works.

Hiding Mosquitto by stripping PATH is not enough: ``cli/brokers.mosquitto_binary`` also
looks in /usr/sbin and /usr/local/sbin. So the demo runs in a Python process whose
``mosquitto_binary`` finds nothing, which is what a machine without Mosquitto sees.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from servers.mosquitto import free_port

from campuslab.core.store.duckdb import DuckDBStore

pytestmark = [pytest.mark.servers, pytest.mark.slow]

WITHOUT_MOSQUITTO = (
    "import sys\n"
    "import campuslab.cli.brokers as brokers\n"
    "brokers.mosquitto_binary = lambda: None\n"
    "from campuslab.cli.main import app\n"
    "sys.argv[0] = 'campuslab'\n"
    "app()\n"
)

# 1 h at 1-minute steps: 81 spaces x 4 quantities + 8 meters per step
BACKFILL_READINGS = 60 * (81 * 4 + 8)


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_demo_without_mosquitto_runs_on_amqtt_and_stores_readings(tmp_path: Path):
    data_dir = tmp_path / "demo"
    command = [sys.executable, "-c", WITHOUT_MOSQUITTO, "demo", "--port", str(free_port())]
    command += ["--data-dir", str(data_dir), "--duration", "8", "--backfill", "1h"]
    demo = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "COLUMNS": "160"},
    )
    output = demo.stdout + demo.stderr
    assert demo.returncode == 0, output

    started = re.search(r"started amqtt at mqtt://127\.0\.0\.1:(\d+)", output)
    assert started, output
    assert "Mosquitto not installed: using the embedded Python broker" in output
    assert "started mosquitto" not in output
    assert (data_dir / "broker" / "amqtt.yaml").exists()
    assert not (data_dir / "broker" / "mosquitto.conf").exists()

    stored = re.search(r"([\d,]+) readings stored this run", output)
    assert stored, output
    # the backfill went through amqtt into the store, then a few live steps
    assert int(stored.group(1).replace(",", "")) >= BACKFILL_READINGS, output
    store = DuckDBStore(data_dir / "campuslab.duckdb")
    try:
        assert store.count() >= BACKFILL_READINGS
    finally:
        store.close()
    # the demo stopped the broker it started
    assert not listening(int(started.group(1)))
