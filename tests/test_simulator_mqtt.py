"""The simulator against a real Mosquitto: backfill, live hand-over, the CLI, broker errors.

The broker is the session's real Mosquitto from tests/conftest.py, which fails
on CI (CI=true) when Mosquitto is missing and skips elsewhere.
"""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest
import typer
from servers.mosquitto import free_port
from typer.testing import CliRunner

from campuslab.cli.simulate_command import simulate
from campuslab.core.config import MqttEndpoint
from campuslab.core.registry import Campus, load_campus, sample_campus_path
from campuslab.simulators.campus import CampusSimulator, SimulationConfig
from campuslab.simulators.payloads import encode
from campuslab.simulators.publisher import BrokerUnreachable, MqttPublisher, backfill, run_live

FIVE_MINUTES = timedelta(minutes=5)


@pytest.fixture(scope="module")
def broker(mosquitto) -> MqttEndpoint:
    """The session's real Mosquitto (tests/conftest.py), as an endpoint."""
    return MqttEndpoint("127.0.0.1", mosquitto.port)


class Subscriber:
    """Collects every message under ``prefix/#`` at QoS 1."""

    def __init__(self, endpoint: MqttEndpoint, prefix: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._arrived = threading.Condition()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-sub-{prefix}")
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *args: self._subscribed.set()
        self._client.on_connect = lambda client, *args: client.subscribe(f"{prefix}/#", qos=1)
        self._endpoint = endpoint

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with self._arrived:
            self.messages.append((message.topic, message.payload))
            self._arrived.notify_all()

    def __enter__(self) -> Subscriber:
        self._client.connect(self._endpoint.host, self._endpoint.port)
        self._client.loop_start()
        assert self._subscribed.wait(5), "no SUBACK"
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[tuple[str, bytes]]:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.messages) < count and time.monotonic() < deadline:
                self._arrived.wait(0.2)
            time.sleep(0.2)  # let any surplus arrive too
            return list(self.messages)


@pytest.fixture(scope="module")
def campus() -> Campus:
    return load_campus(sample_campus_path())


@pytest.mark.servers
@pytest.mark.parametrize("fmt", ["json", "senml"])
def test_backfill_of_an_hour_arrives_complete(
    broker: MqttEndpoint, campus: Campus, fmt: str
) -> None:
    prefix = f"backfill-{fmt}"
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    end = start + timedelta(hours=1)
    config = SimulationConfig(seed=9, interval=FIVE_MINUTES)
    expected = [
        m
        for b in CampusSimulator(campus, config).batches(start, end)
        for m in encode(b, fmt, prefix)
    ]
    progress: list[tuple[int, int]] = []
    with Subscriber(broker, prefix) as subscriber:
        with MqttPublisher(broker) as publisher:
            report = backfill(
                CampusSimulator(campus, config),
                publisher,
                start,
                end,
                fmt,
                prefix,
                progress=lambda done, total: progress.append((done, total)),
            )
            assert publisher.outstanding == 0
        received = subscriber.wait_for(len(expected))
    # 334 per step: 81 spaces × 4 quantities, 8 meters, the weather station's °C and %RH
    assert report.readings == 12 * 334 and report.messages == len(expected)
    assert progress[-1] == (12 * 334, 12 * 334)
    assert sorted(received) == sorted(expected)


@pytest.mark.servers
def test_garbage_fault_publishes_every_kind_of_bad_message(
    broker: MqttEndpoint, campus: Campus
) -> None:
    prefix = "garbage"
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    config = SimulationConfig(interval=timedelta(minutes=30), faults=frozenset({"garbage"}))
    with Subscriber(broker, prefix) as subscriber:
        with MqttPublisher(broker) as publisher:
            report = backfill(
                CampusSimulator(campus, config),
                publisher,
                start,
                start + timedelta(hours=3),
                "json",
                prefix,
            )
        received = subscriber.wait_for(report.messages + report.garbage)
    assert report.garbage == 10 + 2  # every kind at the start, then one per simulated hour
    assert len(received) == report.messages + report.garbage
    assert any(len(payload) > 64 * 1024 for _, payload in received)


@pytest.mark.servers
def test_live_mode_continues_the_backfill(broker: MqttEndpoint, campus: Campus) -> None:
    prefix = "handover"
    config = SimulationConfig(seed=4, interval=timedelta(minutes=1))
    now = datetime.now(UTC)
    start, handover = now - timedelta(minutes=30), now - timedelta(minutes=3)
    sim = CampusSimulator(campus, config)
    stop = threading.Event()
    with Subscriber(broker, prefix) as subscriber, MqttPublisher(broker) as publisher:
        backfill(sim, publisher, start, handover, "json", prefix)
        backfilled = publisher.messages_published
        threading.Timer(1.5, stop.set).start()
        live = run_live(sim, publisher, "json", prefix, speed=1.0, stop=stop)
        publisher.flush()
        received = subscriber.wait_for(backfilled + live.messages)
    assert live.readings >= 3 * 334  # the steps between the hand-over and now, at once
    published: dict[tuple[str, int], float] = {}
    for topic, payload in received:
        body = json.loads(payload)
        published[(topic, int(datetime.fromisoformat(body["ts"]).timestamp()))] = body["value"]
    last = max(ts for _, ts in published)
    one_run = CampusSimulator(campus, config)
    for batch in one_run.batches(start, datetime.fromtimestamp(last + 1, UTC)):
        for reading in batch:
            key = (
                f"{prefix}/{reading.building}/{reading.sensor}/{reading.quantity}",
                reading.ts_us // 10**6,
            )
            assert published[key] == reading.value, key


@pytest.mark.servers
def test_backfill_refuses_bare_payloads(broker: MqttEndpoint, campus: Campus) -> None:
    now = datetime.now(UTC)
    with MqttPublisher(broker) as publisher, pytest.raises(ValueError, match="no timestamp"):
        backfill(CampusSimulator(campus), publisher, now - timedelta(hours=1), now, "bare")
    assert publisher.messages_published == 0


def test_unreachable_broker_is_reported_clearly() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(
        BrokerUnreachable,
        match=rf"cannot reach MQTT broker at mqtt://127\.0\.0\.1:{port}: .*"
        r"Is it running\?",
    ):
        MqttPublisher(MqttEndpoint("127.0.0.1", port)).connect()


# -- the CLI -------------------------------------------------------------------------------


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("simulate")(simulate)
    app.command("version")(lambda: None)  # two commands, so "simulate" is a subcommand
    return app


def _run(*args: str) -> tuple[int, str]:
    """Exit code and output as plain text, without rich's boxes and line wrapping."""
    result = CliRunner().invoke(
        _cli(), ["simulate", *args], env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"}
    )
    plain = " ".join(line.strip(" │╭╮╰╯─") for line in result.output.splitlines())
    return result.exit_code, re.sub(r"\s+", " ", plain)


@pytest.mark.servers
def test_cli_backfills_and_exits(broker: MqttEndpoint) -> None:
    with Subscriber(broker, "cli") as subscriber:
        code, output = _run(
            "--mqtt-url",
            f"mqtt://127.0.0.1:{broker.port}",
            "--backfill",
            "1h",
            "--interval",
            "5m",
            "--format",
            "senml",
            "--prefix",
            "cli",
        )
        received = subscriber.wait_for(89)  # a pack per sensor
    assert code == 0, output
    assert "backfilled 1h" in output and "readings" in output
    assert all(topic.endswith("/senml") for topic, _ in received) and len(received) >= 89


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--faults", "stuck,gremlins"], "valid faults: stuck, dropout, spike, reset, garbage"),
        (["--backfill", "7d", "--format", "bare"], "cannot backfill"),
        (["--interval", "soon"], "is not a duration"),
        (["--registry", "/no/such/campus.yaml"], "file not found"),
        (["--mqtt-url", "http://localhost"], "must start with mqtt://"),
    ],
)
def test_cli_rejects_bad_options_with_a_clear_message(args: list[str], message: str) -> None:
    code, output = _run(*args)
    assert code == 2
    assert message in output


def test_cli_reports_an_unreachable_broker() -> None:
    port = free_port()
    code, output = _run("--mqtt-url", f"mqtt://127.0.0.1:{port}", "--backfill", "1h")
    assert code == 2
    assert f"cannot reach MQTT broker at mqtt://127.0.0.1:{port}" in output
