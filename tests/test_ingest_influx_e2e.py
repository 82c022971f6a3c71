"""The full-stack ingest path end to end: real Mosquitto, `campuslab ingest --store influxdb`
as a subprocess, and influxdb-client's ``/api/v2/write`` into a real VictoriaMetrics.

What is checked is what an operator relies on:

- every reading published at QoS 1 is stored exactly once, with its value and time,
  and ``/metrics`` (``--metrics-port``) says so; a republished reading is counted
  as a duplicate, not stored (or sent) again;
- while the database is away the writer spools, and once its spool is full the
  ingestor stops acknowledging, so the broker keeps the backlog in the persistent
  session; when the database is back, every reading arrives exactly once.

VictoriaMetrics keeps every sample it is sent (it does not overwrite a point the
way InfluxDB does), so a reading sent twice would show twice in its export: the
export is the proof of "nothing doubled". Reads go through ``/api/v1/export``, as
in test_store_influx_outage.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from servers.mosquitto import free_port
from servers.publisher import MqttTestPublisher

from campuslab.core.readings import ReadingBatch, to_epoch_us
from campuslab.core.registry import Campus
from campuslab.core.store.line_protocol import LineProtocolEncoder

pytestmark = pytest.mark.servers

# Recent (VictoriaMetrics keeps a year here), in the past, on a whole minute.
T0 = (datetime.now(UTC) - timedelta(hours=6)).replace(second=0, microsecond=0)
PROBE_TOPIC = "campus/e2e-probe"  # a bad topic: a dead letter, counted as rejected


class IngestProcess:
    """``campuslab ingest --store influxdb`` as a subprocess, its /metrics on a free port."""

    def __init__(
        self,
        mqtt_url: str,
        influx_url: str,
        data_dir: Path,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.mqtt_url = mqtt_url
        self.influx_url = influx_url
        self.data_dir = data_dir
        self.client_id = f"e2e-influx-{uuid.uuid4().hex[:8]}"
        self.metrics_port = free_port()
        self.log_path = data_dir / "ingest.log"
        # the developer's own CAMPUSLAB_* settings must not leak into the test
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPUSLAB_")}
        self.env.update(settings or {})
        self.process: subprocess.Popen | None = None

    def start(self) -> IngestProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            sys.executable,
            "-m",
            "campuslab",
            "ingest",
            "--mqtt-url",
            self.mqtt_url,
            "--store",
            "influxdb",
            "--influx-url",
            self.influx_url,
            "--data-dir",
            str(self.data_dir),
            "--client-id",
            self.client_id,
            "--metrics-port",
            str(self.metrics_port),
            "--log-level",
            "info",
        ]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=log, env=self.env)
        # the process imports the whole API (cli/serve.py): seconds on a loaded machine
        self.wait_until(lambda: self.metric("campuslab_ingest_connected") == 1, 60, "connected")
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def metrics(self) -> dict[tuple[str, tuple], float]:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(
                f"campuslab ingest exited ({self.process.returncode}):\n{self.log_tail()}"
            )
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def metric(self, name: str, **labels: str) -> float | None:
        try:
            return self.metrics().get((name, tuple(sorted(labels.items()))))
        except httpx.HTTPError:
            return None  # not serving yet

    def wait_until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.05)
        raise AssertionError(f"not {what} after {timeout} s: {self.summary()}\n{self.log_tail()}")

    def summary(self) -> str:
        try:
            scraped = self.metrics()
        except (AssertionError, httpx.HTTPError) as exc:
            return f"(no /metrics: {exc})"
        return ", ".join(
            f"{name.removeprefix('campuslab_')}={value:g}"
            for (name, labels), value in sorted(scraped.items())
            if name.startswith(("campuslab_ingest_", "campuslab_influx_"))
            and not labels
            and not name.endswith(("_created", "_sum", "_count"))
        )

    def log_tail(self) -> str:
        if not self.log_path.exists():
            return ""
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(line for line in lines if "HTTP Request" not in line)[-3000:]

    def wait_subscribed(self, publisher: MqttTestPublisher, timeout: float = 30) -> None:
        """Publish probes until one comes through: the subscription is in place.

        Each probe is a dead letter (bad_topic): received and rejected, never stored.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            publisher.publish(PROBE_TOPIC, "1")
            probe_deadline = min(deadline, time.monotonic() + 2)
            while time.monotonic() < probe_deadline:
                if self.metric("campuslab_ingest_received_total"):
                    return
                time.sleep(0.05)
        raise AssertionError(f"no probe came through in {timeout} s:\n{self.log_tail()}")


def counters(ingest: IngestProcess) -> dict[str, float]:
    """One scrape: the ingest and writer counters that the tests compare with each other."""
    scraped = ingest.metrics()
    names = [
        "campuslab_ingest_stored_total",
        "campuslab_ingest_duplicates_total",
        "campuslab_ingest_received_total",
        "campuslab_influx_written_lines_total",
        "campuslab_ingest_connected",
    ]
    found = {name: scraped[(name, ())] for name in names}
    found["probes"] = scraped[("campuslab_ingest_rejected_total", (("reason", "bad_topic"),))]
    return found


class Readings:
    """A stream of distinct co2 readings: reading i is at space i mod n, minute i div n."""

    def __init__(self, campus: Campus) -> None:
        self.spaces = [(b.id, s.id) for b, s in campus.spaces()]
        self.encoder = LineProtocolEncoder(campus)

    def reading(self, i: int) -> tuple[str, str, datetime, float]:
        building, space = self.spaces[i % len(self.spaces)]
        return building, space, T0 + timedelta(minutes=i // len(self.spaces)), 400.5 + i % 997

    def messages(self, indices: range | list[int]) -> list[tuple[str, str]]:
        messages = []
        for i in indices:
            building, space, ts, value = self.reading(i)
            payload = {"value": value, "ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"), "unit": "ppm"}
            messages.append((f"campus/{building}/{space}/co2", json.dumps(payload)))
        return messages

    def expected(self, indices: range) -> dict[str, Counter]:
        """space -> Counter of (ts in ms, value): what VictoriaMetrics must hold, once each."""
        points: dict[str, Counter] = {}
        for i in indices:
            _, space, ts, value = self.reading(i)
            points.setdefault(space, Counter())[(to_epoch_us(ts) // 1000, value)] += 1
        return points

    def spool_bytes(self, indices: range) -> int:
        """The bytes these readings take in the writer's spool (one line each)."""
        batch = ReadingBatch()
        for i in indices:
            building, space, ts, value = self.reading(i)
            batch.append(to_epoch_us(ts), building, space, "co2", value)
        return sum(len(line.encode()) + 1 for line in self.encoder.readings(batch))


def stored_points(vm) -> dict[str, Counter]:
    points: dict[str, Counter] = {}
    for series in vm.export('{__name__="co2_value"}'):
        counter = points.setdefault(series["metric"]["space"], Counter())
        for ts, value in zip(series["timestamps"], series["values"], strict=True):
            counter[(ts, value)] += 1
    return points


@pytest.fixture
def publisher(mosquitto):
    client = MqttTestPublisher(mosquitto.port, f"e2e-pub-{uuid.uuid4().hex[:8]}")
    yield client
    client.close()


@pytest.fixture
def ingest_factory(tmp_path: Path):
    started: list[IngestProcess] = []

    def start(mqtt_url: str, influx_url: str, settings: dict[str, str] | None = None):
        process = IngestProcess(mqtt_url, influx_url, tmp_path / "ingest", settings)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


def test_each_reading_is_stored_once_and_a_republished_one_is_a_duplicate(
    mosquitto, victoriametrics, campus, publisher, ingest_factory
):
    n, repeats = 2000, 250
    readings = Readings(campus)
    ingest = ingest_factory(mosquitto.url, victoriametrics.url, {"CAMPUSLAB_INFLUX_FLUSH_MS": "50"})
    ingest.wait_subscribed(publisher)

    publisher.publish_all(readings.messages(range(n)))
    publisher.wait_acked(publisher.published)
    ingest.wait_until(
        lambda: ingest.metric("campuslab_ingest_stored_total") == n, 30, f"{n} readings stored"
    )
    assert stored_points(victoriametrics) == readings.expected(range(n))
    first = counters(ingest)
    assert first["campuslab_ingest_duplicates_total"] == 0
    assert first["campuslab_ingest_received_total"] == n + first["probes"]

    # exact repeats, as a redelivery or a replayed backlog would bring them
    again = list(range(0, n, n // repeats))
    assert len(again) == repeats
    publisher.publish_all(readings.messages(again))
    publisher.wait_acked(publisher.published)
    ingest.wait_until(
        lambda: ingest.metric("campuslab_ingest_duplicates_total") == repeats,
        30,
        f"{repeats} duplicates counted",
    )
    after = counters(ingest)
    assert after["campuslab_ingest_stored_total"] == n
    assert after["campuslab_ingest_received_total"] == n + repeats + after["probes"]
    # a recognised repeat is not sent again: VictoriaMetrics, which would keep it, has none
    assert stored_points(victoriametrics) == readings.expected(range(n))
    assert after["campuslab_influx_written_lines_total"] == n + after["probes"]  # dead letters


@pytest.mark.slow
def test_a_full_spool_holds_back_acknowledgements_and_nothing_is_lost_or_doubled(
    mosquitto, victoriametrics, campus, publisher, ingest_factory
):
    readings = Readings(campus)
    before, group, backlog = 200, 20, 1500
    spooled = range(before, before + 3 * group)  # the spool has room for these, exactly
    refused = range(spooled.stop, spooled.stop + group)  # the first batch that does not fit
    queued = range(refused.stop, refused.stop + backlog)  # published while the ingestor waits
    total = queued.stop
    ingest = ingest_factory(
        mosquitto.url,
        victoriametrics.url,
        {
            "CAMPUSLAB_SPOOL_MAX_BYTES": str(readings.spool_bytes(spooled)),
            "CAMPUSLAB_INFLUX_FLUSH_MS": "50",
            "CAMPUSLAB_INFLUX_MAX_RETRIES": "2",
            "CAMPUSLAB_INFLUX_RETRY_INTERVAL_MS": "100",
            "CAMPUSLAB_INFLUX_MAX_RETRY_TIME_MS": "600",
            "CAMPUSLAB_INFLUX_HEALTH_INTERVAL_S": "0.3",
        },
    )
    ingest.wait_subscribed(publisher)

    def stored() -> float | None:
        return ingest.metric("campuslab_ingest_stored_total")

    publisher.publish_all(readings.messages(range(before)))
    ingest.wait_until(lambda: stored() == before, 30, "stored before the outage")

    victoriametrics.stop()
    # Each group is acknowledged once it is in the spool (stored counts durable readings).
    for k in range(3):
        publisher.publish_all(
            readings.messages(range(before + k * group, before + (k + 1) * group))
        )
        ingest.wait_until(
            lambda k=k: stored() == before + (k + 1) * group, 30, f"group {k + 1} spooled"
        )
    assert ingest.metric("campuslab_influx_spooled_lines_total") == 3 * group
    assert ingest.metric("campuslab_influx_spool_bytes") == readings.spool_bytes(spooled)

    # The next group does not fit: refused, not acknowledged; the ingestor steps away.
    publisher.publish_all(readings.messages(refused))
    ingest.wait_until(
        lambda: (
            (ingest.metric("campuslab_influx_refused_batches_total") or 0) >= 1
            and ingest.metric("campuslab_ingest_connected") == 0
        ),
        30,
        "refused by the full spool and disconnected",
    )
    publisher.publish_all(readings.messages(queued))
    publisher.wait_acked(publisher.published)  # the broker holds them for the session
    waiting = counters(ingest)
    assert waiting["campuslab_ingest_connected"] == 0  # no room, no server: it waits
    assert waiting["campuslab_ingest_stored_total"] == spooled.stop
    assert waiting["campuslab_ingest_received_total"] == spooled.stop + waiting["probes"]
    assert ingest.metric("campuslab_ingest_store_errors_total") >= 1

    victoriametrics.start()
    ingest.wait_until(lambda: stored() == total, 45, f"all {total} readings stored")
    ingest.wait_until(
        lambda: (
            ingest.metric("campuslab_influx_spool_bytes") == 0
            and ingest.metric("campuslab_influx_pending_batches") == 0
        ),
        30,
        "spool replayed",
    )
    assert ingest.metric("campuslab_influx_replayed_lines_total") == 3 * group
    assert stored_points(victoriametrics) == readings.expected(range(total))  # once each
    assert stored() == total
    assert ingest.metric("campuslab_ingest_connected") == 1
