"""A plain paho QoS 1 publisher for tests: publishes, survives broker restarts, counts acks."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

import paho.mqtt.client as mqtt


class MqttTestPublisher:
    """Publishes at QoS 1 with a persistent session, so a broker restart loses nothing."""

    def __init__(self, port: int, client_id: str) -> None:
        self.acked = 0
        self.published = 0
        self.max_outstanding = 20_000
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False
        )
        self.client.max_inflight_messages_set(200)
        self.client.reconnect_delay_set(0.2, 2)
        self.client.on_publish = self._on_publish
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_publish(self, client, userdata, mid, reason, properties) -> None:
        with self._lock:
            self.acked += 1

    def publish(self, topic: str, payload: bytes | str) -> None:
        # Message ids are 16-bit: with more than 65,535 outstanding, paho's ids collide and
        # messages go untracked. Keep the outstanding count well below that.
        while self.published - self.acked >= self.max_outstanding:
            time.sleep(0.001)
        # While the broker is away paho queues QoS 1 messages and sends them on reconnect.
        self.client.publish(topic, payload, qos=1)
        self.published += 1

    def publish_all(
        self, messages: Iterable[tuple[str, bytes | str]], pause_every: int = 0, pause: float = 0.0
    ) -> int:
        count = 0
        for topic, payload in messages:
            self.publish(topic, payload)
            count += 1
            if pause_every and count % pause_every == 0:
                time.sleep(pause)
        return count

    def wait_acked(self, expected: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.acked < expected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.acked >= expected, f"broker acknowledged {self.acked} of {expected}"

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
