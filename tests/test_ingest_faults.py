"""Store faults under a live stream: ingest pauses, the broker keeps the backlog, nothing is lost.

The store here is the real DuckDB backend with a fault injected (it refuses
writes for a while), not a stand-in: the point is what the ingestor does
when its store says no.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from servers.publisher import MqttTestPublisher

from campuslab.core.config import parse_mqtt_url
from campuslab.core.store.duckdb import DuckDBStore
from campuslab.ingest.metrics import IngestMetrics
from campuslab.ingest.processor import MessageProcessor
from campuslab.ingest.service import Ingestor, IngestSettings

pytestmark = pytest.mark.servers


class FlakyDuckDB(DuckDBStore):
    """DuckDB that refuses writes until ``recover_at`` (monotonic), as a full disk would."""

    def __init__(self, path, down_for: float) -> None:
        super().__init__(path)
        self.recover_at = 0.0
        self.down_for = down_for
        self.refused = 0

    def fail_now(self) -> None:
        self.recover_at = time.monotonic() + self.down_for

    def write(self, batch):
        if time.monotonic() < self.recover_at:
            self.refused += 1
            raise OSError("No space left on device (injected)")
        return super().write(batch)

    def healthy(self) -> bool:
        return time.monotonic() >= self.recover_at


def test_a_store_outage_pauses_ingest_and_loses_nothing(mosquitto, campus, tmp_path):
    n = 6000
    store = FlakyDuckDB(tmp_path / "flaky.duckdb", down_for=2.0)
    metrics = IngestMetrics()
    ingestor = Ingestor(
        parse_mqtt_url(mosquitto.url),
        MessageProcessor(campus),
        store,
        metrics,
        IngestSettings(client_id=f"flaky-{uuid.uuid4().hex[:6]}", retry_backoff_s=(0.2, 0.5)),
    )
    ingestor.start()
    publisher = MqttTestPublisher(mosquitto.port, f"flaky-pub-{uuid.uuid4().hex[:6]}")
    t0 = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
    spaces = [(b.id, s.id) for b, s in campus.spaces()]
    try:
        deadline = time.monotonic() + 10
        while not ingestor.status()["connected"] and time.monotonic() < deadline:
            time.sleep(0.05)

        def stream() -> None:
            for i in range(n):
                building, space = spaces[i % len(spaces)]
                ts = (t0 + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
                publisher.publish(
                    f"campus/{building}/{space}/co2", f'{{"value": {400 + i % 500}, "ts": "{ts}"}}'
                )
                if i == n // 3:
                    store.fail_now()  # the disk fills up in the middle of the stream
                if i % 200 == 0:
                    time.sleep(0.01)

        sender = threading.Thread(target=stream)
        sender.start()
        sender.join(60)
        publisher.wait_acked(n)
        deadline = time.monotonic() + 60
        while store.count() < n and time.monotonic() < deadline:
            time.sleep(0.1)
        assert store.refused > 0, "the fault was injected"
        assert store.count() == n
        time.sleep(0.5)
        assert store.count() == n, "redelivered messages were not stored twice"
        assert ingestor.status()["connected"] and not ingestor.status()["store_paused"]
    finally:
        publisher.close()
        ingestor.stop()
        store.close()
