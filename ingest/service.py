"""The MQTT ingestor: subscribe, batch, store durably, then acknowledge.

Threads:
- paho's network thread runs ``_on_message``, which only appends the raw
  message to an inbox (a deque) and never blocks: a slow ``on_message``
  stalls the keepalive (paho issue 657).
- the writer thread drains the inbox, decodes and validates each message,
  writes the batch and its dead letters to the store, and only then sends
  the QoS 1 acknowledgements (``manual_ack_set(True)``). A crash anywhere
  before the ack makes the broker redeliver; the store skips duplicates.

Batching is natural: while one batch is being written the next one gathers,
so batches grow with the load. The broker's in-flight window caps how many
unacknowledged messages we hold (and so the memory), and therefore the batch
size: ship a broker config whose window is larger than the batch size (see
ingest/README.md).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import paho.mqtt.client as mqtt

from campuslab.core.config import MqttEndpoint
from campuslab.core.readings import DeadLetter, ReadingBatch, from_epoch_us
from campuslab.core.store import ReadingStore, WriteResult
from campuslab.ingest.metrics import IngestMetrics
from campuslab.ingest.processor import MessageProcessor

log = logging.getLogger("campuslab.ingest")


@dataclass(frozen=True)
class IngestSettings:
    client_id: str = "campuslab-ingest"
    # $share/<group>/<prefix>/# when several ingestors split the load
    share_group: str | None = None
    max_batch: int = 5_000
    linger_s: float = 0.005  # wait this long for a batch to fill once a message is waiting
    keepalive_s: int = 30
    retry_backoff_s: tuple[float, ...] = (0.1, 0.5, 1.0, 2.0, 5.0)


@dataclass(frozen=True, slots=True)
class _Inbound:
    generation: int  # which connection it came on: a PUBACK is only valid on that one
    mid: int
    qos: int
    topic: str
    payload: bytes
    received_us: int
    retained: bool


class Ingestor:
    """Subscribes to the campus topics and writes readings to a store, losing nothing."""

    def __init__(
        self,
        endpoint: MqttEndpoint,
        processor: MessageProcessor,
        store: ReadingStore,
        metrics: IngestMetrics,
        settings: IngestSettings | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.processor = processor
        self.store = store
        self.metrics = metrics
        self.settings = settings or IngestSettings()
        self._inbox: deque[_Inbound] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._generation = 0
        self._connected = False
        self._last_message_us: int | None = None
        # running totals for status(); written only by the writer thread
        self._totals = {"received": 0, "stored": 0, "duplicates": 0, "rejected": 0}
        self._totals_lock = threading.Lock()
        self._pending = 0  # batches submitted to the store, not yet called back
        self._pending_changed = threading.Condition()
        self._store_down = threading.Event()
        self._supervisor = threading.Thread(
            target=self._supervise, name="campuslab-supervisor", daemon=True
        )
        self._writer = threading.Thread(
            target=self._write_loop, name="campuslab-writer", daemon=True
        )
        self._client = self._make_client()
        metrics.count_unmapped_fields(lambda: processor.unmapped_fields)

    @property
    def topic_filters(self) -> list[str]:
        """The campus's own topics and those of the registry's networks."""
        topics = self.processor.topic_filters
        if self.settings.share_group:
            return [f"$share/{self.settings.share_group}/{t}" for t in topics]
        return topics

    @property
    def topic_filter(self) -> str:
        """The subscriptions, comma-separated (for status lines and logs)."""
        return ", ".join(self.topic_filters)

    # -- lifecycle -------------------------------------------------------
    def start(self) -> None:
        """Connect in the background (retrying while the broker is away) and start writing."""
        self._writer.start()
        self._supervisor.start()
        self._client.connect_async(
            self.endpoint.host, self.endpoint.port, keepalive=self.settings.keepalive_s
        )
        self._client.loop_start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking messages, store and acknowledge what was taken, then disconnect."""
        self._stop.set()
        self._wake.set()
        self._writer.join(timeout)
        deadline = time.monotonic() + timeout
        with self._pending_changed:  # batches still on their way into the store
            while self._pending and time.monotonic() < deadline:
                self._pending_changed.wait(deadline - time.monotonic())
        self._client.disconnect()
        self._client.loop_stop()
        self._supervisor.join(2)

    def status(self) -> dict[str, object]:
        return {
            "broker": self.endpoint.url,
            "connected": self._connected,
            "subscription": self.topic_filter,
            "backlog": len(self._inbox),
            "store_paused": self._store_down.is_set(),
            "last_message_at": (
                from_epoch_us(self._last_message_us).isoformat() if self._last_message_us else None
            ),
            **self._totals,
        }

    # -- MQTT callbacks (paho's network thread: never block here) ----------
    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=self.settings.client_id,
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        client.manual_ack_set(True)
        if self.endpoint.username:
            client.username_pw_set(self.endpoint.username, self.endpoint.password)
        if self.endpoint.tls:
            client.tls_set()
        client.reconnect_delay_set(min_delay=1, max_delay=15)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason: mqtt.ReasonCode,
        properties: object,
    ) -> None:
        if reason.is_failure:
            log.error("MQTT broker %s refused the connection: %s", self.endpoint.url, reason)
            return
        self._generation += 1
        self._connected = True
        self.metrics.connected.set(1)
        client.subscribe([(topic, 1) for topic in self.topic_filters])
        log.info(
            "connected to %s (session present: %s), subscribed to %s",
            self.endpoint.url,
            flags.session_present,
            self.topic_filter,
        )

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason: mqtt.ReasonCode,
        properties: object,
    ) -> None:
        self._connected = False
        self.metrics.connected.set(0)
        if not self._stop.is_set():
            log.warning("lost the MQTT broker %s (%s); reconnecting", self.endpoint.url, reason)

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        received_us = time.time_ns() // 1000
        self._last_message_us = received_us
        self._inbox.append(
            _Inbound(
                self._generation,
                message.mid,
                message.qos,
                message.topic,
                message.payload,
                received_us,
                message.retain,
            )
        )
        if len(self._inbox) >= self.settings.max_batch:
            self._wake.set()

    # -- writer thread ---------------------------------------------------
    def _write_loop(self) -> None:
        while True:
            if self._store_down.is_set() and not self._stop.is_set():
                self._inbox.clear()  # on an old connection: the broker redelivers them
                self._stop.wait(0.1)
                continue
            if not self._inbox:
                if self._stop.is_set():
                    return
                self._wake.wait(0.05)
                self._wake.clear()
                continue
            if len(self._inbox) < self.settings.max_batch and not self._stop.is_set():
                self._wake.wait(self.settings.linger_s)
                self._wake.clear()
            self._write_batch(self._take_batch())

    def _take_batch(self) -> list[_Inbound]:
        taken = []
        inbox = self._inbox
        for _ in range(min(len(inbox), self.settings.max_batch)):
            taken.append(inbox.popleft())
        self.metrics.backlog.set(len(inbox) + len(taken))
        return taken

    def _write_batch(self, messages: list[_Inbound]) -> None:
        batch = ReadingBatch()
        dead_letters: list[DeadLetter] = []
        process = self.processor.process
        for m in messages:
            process(m.topic, m.payload, m.received_us, batch, dead_letters, m.retained)
        with self._pending_changed:
            self._pending += 1
        started = time.perf_counter()
        self.store.submit(
            batch, dead_letters, partial(self._on_durable, messages, dead_letters, started)
        )
        self.metrics.backlog.set(len(self._inbox))

    def _on_durable(
        self,
        messages: list[_Inbound],
        dead_letters: list[DeadLetter],
        started: float,
        result: WriteResult | None,
        error: BaseException | None,
    ) -> None:
        """The store's word on one batch: acknowledge it, or keep it the broker's.

        Runs on the writer thread (DuckDB) or on the store's own thread (InfluxDB).
        """
        try:
            if error is not None or result is None:
                self._store_failed(len(messages), error)
                return
            self.metrics.batch_seconds.observe(time.perf_counter() - started)
            self._acknowledge(messages)
            self.metrics.received.inc(len(messages))
            self.metrics.stored.inc(result.stored)
            self.metrics.duplicates.inc(result.duplicates)
            for letter in dead_letters:
                self.metrics.rejected.labels(reason=letter.reason).inc()
            with self._totals_lock:
                totals = self._totals
                totals["received"] += len(messages)
                totals["stored"] += result.stored
                totals["duplicates"] += result.duplicates
                totals["rejected"] += len(dead_letters)
            self.metrics.delivery_seconds.observe(time.time() - messages[0].received_us / 1e6)
        finally:
            with self._pending_changed:
                self._pending -= 1
                self._pending_changed.notify_all()

    def _store_failed(self, count: int, error: BaseException | None) -> None:
        """Acknowledge nothing, and step away from the broker until the store recovers.

        Disconnecting makes the broker keep the backlog and redeliver every message
        not yet acknowledged, this batch's included; the store skips any it already has.
        """
        self.metrics.store_errors.inc()
        log.error(
            "the store could not make %d messages durable (%s); pausing ingest, the "
            "broker keeps them",
            count,
            error,
        )
        self._store_down.set()

    def _supervise(self) -> None:
        """Pause (disconnect) while the store is down; reconnect when it is healthy again."""
        attempt = 0
        while not self._stop.is_set():
            if not self._store_down.wait(0.5):
                continue
            self._client.disconnect()
            self._client.loop_stop()
            while not self._stop.is_set():
                delay = self.settings.retry_backoff_s[
                    min(attempt, len(self.settings.retry_backoff_s) - 1)
                ]
                attempt += 1
                if self._stop.wait(delay):
                    return
                if self.store.healthy():
                    break
            if self._stop.is_set():
                return
            log.info("the store is healthy again; reconnecting to %s", self.endpoint.url)
            self._store_down.clear()
            self._client.connect_async(
                self.endpoint.host, self.endpoint.port, keepalive=self.settings.keepalive_s
            )
            self._client.loop_start()
            attempt = 0

    def _acknowledge(self, messages: list[_Inbound]) -> None:
        generation = self._generation
        ack = self._client.ack
        for m in messages:
            # A message from an earlier connection is redelivered by the broker (and
            # skipped as a duplicate); acknowledging its old id now could ack another one.
            if m.qos and m.generation == generation:
                ack(m.mid, m.qos)


def default_client_id(name: str | None = None) -> str:
    """A stable client id: the persistent session is found again after a restart."""
    return f"campuslab-ingest-{name}" if name else f"campuslab-ingest-{uuid.getnode():x}"


StatusProvider = Callable[[], dict[str, object]]
