"""`campuslab simulate --speed 60` in live mode: simulated time runs 60 times faster.

What a user sees on the broker: one sensor's readings, stamped a minute of simulated
time apart for each wall-clock second, and (with --duration) the last one stamped at
about the wall-clock time the run ends, never ahead of it.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime

import paho.mqtt.client as mqtt
import pytest

pytestmark = [pytest.mark.servers, pytest.mark.slow]

SPEED = 60
DURATION = 6.0  # wall-clock seconds
INTERVAL = 30  # simulated seconds between steps: 2 steps per wall second at 60x


class Arrivals:
    """(wall-clock arrival, reading timestamp) of each message on one topic."""

    def __init__(self, port: int, topic: str) -> None:
        self.seen: list[tuple[float, float]] = []
        self._subscribed = threading.Event()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self._client.on_connect = lambda client, *args: client.subscribe(topic, qos=1)
        self._client.on_subscribe = lambda *args: self._subscribed.set()
        self._client.on_message = self._on_message
        self._port = port

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        stamp = datetime.fromisoformat(json.loads(message.payload)["ts"]).timestamp()
        self.seen.append((time.time(), stamp))

    def __enter__(self) -> Arrivals:
        self._client.connect("127.0.0.1", self._port)
        self._client.loop_start()
        assert self._subscribed.wait(5), "no SUBACK"
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def test_live_mode_at_speed_60_runs_simulated_time_60_times_faster(mosquitto):
    prefix = f"speed{uuid.uuid4().hex[:8]}"
    command = [sys.executable, "-m", "campuslab", "simulate", "--mqtt-url", mosquitto.url]
    command += ["--speed", str(SPEED), "--duration", str(DURATION)]
    command += ["--interval", f"{INTERVAL}s", "--prefix", prefix]
    with Arrivals(mosquitto.port, f"{prefix}/rfb/rfb-101/co2") as arrivals:
        run = subprocess.run(command, capture_output=True, text=True, timeout=60)
        ended = time.time()
        time.sleep(0.5)  # the last messages in flight
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert f"{SPEED}x real time" in output
    assert "warning" not in output  # --duration given: the clock starts in the past

    seen = sorted(arrivals.seen)
    assert len(seen) >= DURATION * SPEED / INTERVAL * 0.75, (seen, output)
    stamps = [stamp for _, stamp in seen]
    assert all(b - a == INTERVAL for a, b in itertools.pairwise(stamps)), stamps
    (wall_first, first), (wall_last, last) = seen[0], seen[-1]
    pace = (last - first) / (wall_last - wall_first)
    assert SPEED * 0.85 < pace < SPEED * 1.15, (pace, seen)
    # the simulated clock met the wall clock as the run ended, without running ahead of it
    assert last <= ended + INTERVAL, (last, ended)
    assert ended - last < 3 * SPEED, (last, ended)
