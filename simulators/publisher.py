"""Publishing the simulation over MQTT: backfill as fast as the broker takes it, or live.

``MqttPublisher`` publishes at QoS 1 and keeps at most ``max_outstanding``
messages unacknowledged: ``publish`` blocks beyond that, so memory stays
bounded however far ahead the simulation is; ``flush`` waits until the
broker has acknowledged everything.

Backfill and live mode share one ``CampusSimulator``: ``run_live`` without a
``start`` continues where the simulator stopped (after a backfill, at the
first step not yet published), so state carries on across the hand-over.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType

import paho.mqtt.client as mqtt

from campuslab.core.config import MqttEndpoint
from campuslab.core.readings import US_PER_S, ReadingBatch
from campuslab.core.registry import Campus
from campuslab.simulators.campus import CampusSimulator
from campuslab.simulators.payloads import encode_messages, garbage_messages
from campuslab.simulators.random_streams import Stream, generator

QOS = 1
MAX_INFLIGHT = 1000
DEFAULT_MAX_OUTSTANDING = 10_000
GARBAGE_EVERY_S = 3600

Progress = Callable[[int, int], None]


class BrokerUnreachable(ConnectionError):
    """The MQTT broker cannot be reached or refused the connection."""


@dataclass
class PublishReport:
    messages: int = 0
    readings: int = 0
    garbage: int = 0
    seconds: float = 0.0

    @property
    def readings_per_second(self) -> float:
        return self.readings / self.seconds if self.seconds > 0 else 0.0


class MqttPublisher:
    """A QoS 1 publisher with a bounded number of unacknowledged messages.

    Use it as a context manager; leaving the block normally waits for every
    acknowledgement::

        with MqttPublisher(parse_mqtt_url("mqtt://localhost:1883")) as publisher:
            publisher.publish("campus/rfb/rfb-101/co2", b"612")
    """

    def __init__(
        self,
        endpoint: MqttEndpoint,
        client_id: str | None = None,
        max_outstanding: int = DEFAULT_MAX_OUTSTANDING,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.endpoint = endpoint
        self.client_id = client_id or f"campuslab-sim-{secrets.token_hex(4)}"
        self.max_outstanding = max_outstanding
        self.connect_timeout_s = connect_timeout_s
        self.messages_published = 0
        self.readings_published = 0
        self._outstanding = 0
        self._acknowledged = threading.Condition()
        self._connected = threading.Event()
        self._connect_failure: str | None = None
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        client.max_inflight_messages_set(MAX_INFLIGHT)
        client.connect_timeout = connect_timeout_s
        if endpoint.username is not None:
            client.username_pw_set(endpoint.username, endpoint.password)
        if endpoint.tls:
            client.tls_set()
        client.on_connect = self._on_connect
        client.on_publish = self._on_publish
        self._client = client

    # paho calls these on its network thread; they must not block.
    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: object,
        reason_code: mqtt.ReasonCode,
        properties: object,
    ) -> None:
        if reason_code.is_failure:
            self._connect_failure = str(reason_code)
        self._connected.set()

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_code: mqtt.ReasonCode,
        properties: object,
    ) -> None:
        with self._acknowledged:
            self._outstanding -= 1
            self._acknowledged.notify_all()

    def connect(self) -> None:
        where = self.endpoint.url
        try:
            self._client.connect(self.endpoint.host, self.endpoint.port, keepalive=60)
        except (OSError, ValueError) as exc:
            raise BrokerUnreachable(
                f"cannot reach MQTT broker at {where}: {exc}. Is it running?"
            ) from None
        self._client.loop_start()
        if not self._connected.wait(self.connect_timeout_s):
            self.close()
            raise BrokerUnreachable(
                f"cannot reach MQTT broker at {where}: no answer to "
                f"CONNECT within {self.connect_timeout_s:g} s. "
                "Is it running?"
            )
        if self._connect_failure:
            self.close()
            raise BrokerUnreachable(
                f"MQTT broker at {where} refused the connection: {self._connect_failure}"
            )

    def publish(self, topic: str, payload: bytes, readings: int = 1) -> None:
        """Publish at QoS 1; blocks while ``max_outstanding`` messages await their PUBACK."""
        with self._acknowledged:
            while self._outstanding >= self.max_outstanding:
                self._acknowledged.wait(1.0)
            self._outstanding += 1
        info = self._client.publish(topic, payload, qos=QOS)
        # NO_CONN still queues the message: paho sends it after reconnecting.
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            with self._acknowledged:
                self._outstanding -= 1
            raise RuntimeError(f"publishing to {topic} failed: {mqtt.error_string(info.rc)}")
        self.messages_published += 1
        self.readings_published += readings

    @property
    def outstanding(self) -> int:
        """Messages published but not yet acknowledged by the broker."""
        with self._acknowledged:
            return self._outstanding

    def flush(self, timeout: float = 60.0) -> None:
        """Wait until the broker has acknowledged every message; TimeoutError if it doesn't."""
        deadline = time.monotonic() + timeout
        with self._acknowledged:
            while self._outstanding > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{self._outstanding} message(s) not acknowledged by "
                        f"the MQTT broker at {self.endpoint.url} within "
                        f"{timeout:g} s"
                    )
                self._acknowledged.wait(min(left, 1.0))

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> MqttPublisher:
        self.connect()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            if kind is None:
                self.flush()
        finally:
            self.close()


class _GarbageInjector:
    """Publishes the garbage fault's messages: all kinds at the start, then one per hour."""

    def __init__(self, sim: CampusSimulator, prefix: str) -> None:
        self.sim = sim
        self.prefix = prefix
        self.enabled = "garbage" in sim.config.faults
        self.last_hour: int | None = None

    def due(self, epoch_s: int) -> list[tuple[str, bytes]]:
        if not self.enabled:
            return []
        hour = epoch_s // GARBAGE_EVERY_S
        if hour == self.last_hour:
            return []
        messages = garbage_messages(
            self.sim.campus,
            generator(self.sim.config.seed, Stream.FAULT_GARBAGE, hour),
            self.prefix,
        )
        if self.last_hour is not None:
            pick = generator(self.sim.config.seed, Stream.FAULT_GARBAGE, hour, 1)
            messages = [messages[int(pick.integers(len(messages)))]]
        self.last_hour = hour
        return [(m.topic, m.payload) for m in messages]

    def publish(self, publisher: MqttPublisher, epoch_s: int, report: PublishReport) -> None:
        for topic, payload in self.due(epoch_s):
            publisher.publish(topic, payload, readings=0)
            report.garbage += 1


def _publish_batch(
    publisher: MqttPublisher,
    batch: ReadingBatch,
    fmt: str,
    prefix: str,
    report: PublishReport,
    campus: Campus | None = None,
) -> None:
    for message in encode_messages(batch, fmt, prefix, campus):
        publisher.publish(message.topic, message.payload, message.readings)
        report.messages += 1
        report.readings += message.readings


def refuse_bare_backfill(fmt: str) -> None:
    if fmt == "bare":
        raise ValueError(
            "bare payloads carry no timestamp (the receiver stamps them on "
            "arrival), so they cannot backfill history; use --format json or "
            "--format senml"
        )


def backfill(
    sim: CampusSimulator,
    publisher: MqttPublisher,
    start: datetime,
    end: datetime,
    fmt: str,
    prefix: str = "campus",
    progress: Progress | None = None,
) -> PublishReport:
    """Publish the steps in [start, end) as fast as the broker acknowledges them.

    ``progress(readings done, readings in total)`` is called after every batch
    (an hour of simulated time); the total counts every reading of every
    step, so with the dropout fault the last call jumps to the total.
    """
    refuse_bare_backfill(fmt)
    report = PublishReport()
    began = time.monotonic()
    total = sim.step_count(start, end) * sim.readings_per_step
    garbage = _GarbageInjector(sim, prefix)
    done = 0
    for batch in sim.batches(start, end):
        garbage.publish(publisher, batch.ts_us[0] // US_PER_S, report)
        _publish_batch(publisher, batch, fmt, prefix, report, sim.campus)
        done += len(batch)
        if progress:
            progress(min(done, total), total)
    publisher.flush()
    if progress:
        progress(total, total)
    report.seconds = time.monotonic() - began
    return report


def run_live(
    sim: CampusSimulator,
    publisher: MqttPublisher,
    fmt: str,
    prefix: str,
    speed: float,
    stop: threading.Event,
    start: datetime | None = None,
    on_step: Callable[[datetime, PublishReport], None] | None = None,
) -> PublishReport:
    """Publish each step when its time comes, ``speed`` times faster than real time.

    Without ``start`` the simulated clock is the wall clock: the run continues
    where the simulator stopped (steps already due are published at once)
    or, for a fresh simulator, begins at the next step from now. With
    ``start`` the simulated clock starts there. Runs until ``stop`` is set.
    """
    if speed <= 0:
        raise ValueError(f"speed must be positive, not {speed}")
    report = PublishReport()
    began = time.monotonic()
    clock_origin = start or datetime.now(UTC)
    first = start or sim.next_timestamp or clock_origin
    garbage = _GarbageInjector(sim, prefix)
    for moment, batch in _steps_until_stopped(sim.steps(first), stop):
        due = began + (moment - clock_origin).total_seconds() / speed
        if stop.wait(max(0.0, due - time.monotonic())):
            break
        garbage.publish(publisher, int(moment.timestamp()), report)
        _publish_batch(publisher, batch, fmt, prefix, report, sim.campus)
        if on_step:
            on_step(moment, report)
    report.seconds = time.monotonic() - began
    return report


def _steps_until_stopped(
    steps: Iterable[tuple[datetime, ReadingBatch]], stop: threading.Event
) -> Iterable[tuple[datetime, ReadingBatch]]:
    for step in steps:
        if stop.is_set():
            return
        yield step
