"""InfluxStore through server outages, on a real VictoriaMetrics that is stopped and started.

A stream of batches is submitted at a steady rate while the server goes away:

- for 30 s, shorter than the WriteApi's retries last: the retries carry it;
- for longer than the retries last: the spool takes the lines and replays them;
- with a small spool: batches that do not fit are called back with an error.

Each time, every batch that was called back durable must be in the server exactly
once per point (VictoriaMetrics keeps every sample it is sent, so a resend would
show), and nothing that was not acknowledged may be claimed durable.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from campuslab.core.readings import ReadingBatch, to_epoch_us
from campuslab.core.registry import Campus
from campuslab.core.store.influx import InfluxConfig, InfluxStore
from campuslab.core.store.line_protocol import LineProtocolEncoder
from campuslab.core.store.port import WriteResult
from campuslab.core.store.spool import SpoolFull

pytestmark = pytest.mark.slow


class ReadingStream:
    """Batches of distinct co2 readings (one per space and second), and what became of them."""

    def __init__(self, campus: Campus, per_batch: int) -> None:
        self.spaces = [(b.id, s.id) for b, s in campus.spaces()]
        self.per_batch = per_batch
        self.start_us = to_epoch_us(datetime.now(UTC) - timedelta(hours=2))
        self.batches: list[ReadingBatch] = []
        self.outcomes: dict[int, tuple[WriteResult | None, BaseException | None]] = {}
        self._lock = threading.Lock()
        self._all_back = threading.Condition(self._lock)

    def next_batch(self) -> tuple[int, ReadingBatch]:
        k = len(self.batches)
        batch = ReadingBatch()
        for i in range(k * self.per_batch, (k + 1) * self.per_batch):
            building, space = self.spaces[i % len(self.spaces)]
            ts = self.start_us + (i // len(self.spaces)) * 1_000_000
            batch.append(ts, building, space, "co2", 400.0 + i % 1000)
        self.batches.append(batch)
        return k, batch

    def submit_next(self, store: InfluxStore) -> int:
        k, batch = self.next_batch()

        def on_durable(result, error, k=k):
            with self._lock:
                assert k not in self.outcomes, f"batch {k} called back twice"
                self.outcomes[k] = (result, error)
                self._all_back.notify_all()

        store.submit(batch, [], on_durable)
        return k

    def wait_for_all(self, timeout: float) -> bool:
        with self._lock:
            return self._all_back.wait_for(lambda: len(self.outcomes) == len(self.batches), timeout)

    def durable(self) -> list[int]:
        return [k for k, (result, error) in self.outcomes.items() if error is None and result]

    def refused(self) -> list[int]:
        return [k for k, (_, error) in self.outcomes.items() if error is not None]

    def expected_points(self, batches: list[int]) -> dict[str, Counter]:
        """space -> Counter of (ts in ms, value) the server must hold once each."""
        points: dict[str, Counter] = {}
        for k in batches:
            batch = self.batches[k]
            for ts, space, value in zip(batch.ts_us, batch.sensor, batch.value, strict=True):
                points.setdefault(space, Counter())[(ts // 1000, value)] += 1
        return points


def stored_points(vm) -> dict[str, Counter]:
    points: dict[str, Counter] = {}
    for series in vm.export('{__name__="co2_value"}'):
        counter = points.setdefault(series["metric"]["space"], Counter())
        for ts, value in zip(series["timestamps"], series["values"], strict=True):
            counter[(ts, value)] += 1
    return points


def run_stream(store, stream, vm, seconds: float, rate_hz: float, down_at: float, up_at: float):
    """Submit a batch every 1/rate_hz s for ``seconds``; stop the server in between."""
    started = time.monotonic()
    stopped = restarted = False
    tick = 0
    while (now := time.monotonic() - started) < seconds:
        if not stopped and now >= down_at:
            vm.stop()
            stopped = True
        if stopped and not restarted and now >= up_at:
            vm.start()
            restarted = True
        stream.submit_next(store)
        tick += 1
        pause = started + tick / rate_hz - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    assert stopped and restarted


def wait_until_spool_empty(store: InfluxStore, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = store.stats()
        if stats.spool_bytes == 0 and stats.pending_batches == 0:
            return
        time.sleep(0.1)
    raise AssertionError(f"spool not replayed after {timeout} s: {store.stats()}")


def test_a_30_second_outage_is_carried_by_the_retries(victoriametrics, campus, tmp_path):
    """2,000 readings/s for 40 s, the server away from 5 s to 35 s: nothing lost or doubled."""
    store = InfluxStore(
        InfluxConfig(
            url=victoriametrics.url,
            spool_dir=tmp_path / "spool",
            max_retries=40,
            retry_interval_ms=500,
            max_retry_delay_ms=2000,
            max_retry_time_ms=120_000,
            health_interval_s=1.0,
        ),
        campus,
    )
    stream = ReadingStream(campus, per_batch=200)
    try:
        run_stream(store, stream, victoriametrics, seconds=40, rate_hz=10, down_at=5, up_at=35)
        assert stream.wait_for_all(timeout=60), store.stats()
        stats = store.stats()
    finally:
        store.close()
    assert len(stream.batches) >= 380
    assert stream.refused() == []
    assert sorted(stream.durable()) == list(range(len(stream.batches)))
    assert stats.write_retries > 0  # the outage was seen, and ridden out
    assert stats.spooled_lines == 0
    assert stats.written_lines == len(stream.batches) * stream.per_batch
    assert stored_points(victoriametrics) == stream.expected_points(stream.durable())


def test_an_outage_longer_than_the_retries_goes_to_the_spool(victoriametrics, campus, tmp_path):
    """Retries give up after 1.5 s; the server is away for 8 s; the spool replays it all."""
    store = InfluxStore(
        InfluxConfig(
            url=victoriametrics.url,
            spool_dir=tmp_path / "spool",
            flush_interval_ms=100,
            max_retries=3,
            retry_interval_ms=100,
            max_retry_delay_ms=400,
            max_retry_time_ms=1500,
            health_interval_s=0.3,
        ),
        campus,
    )
    stream = ReadingStream(campus, per_batch=100)
    try:
        run_stream(store, stream, victoriametrics, seconds=14, rate_hz=20, down_at=2, up_at=10)
        assert stream.wait_for_all(timeout=30), store.stats()
        wait_until_spool_empty(store, timeout=30)
        stats = store.stats()
    finally:
        store.close()
    assert stream.refused() == []
    assert sorted(stream.durable()) == list(range(len(stream.batches)))
    assert stats.spooled_lines > 0
    assert stats.replayed_lines == stats.spooled_lines
    assert stats.written_lines + stats.spooled_lines == len(stream.batches) * stream.per_batch
    assert not list((tmp_path / "spool").glob("segment-*.lp"))
    assert stored_points(victoriametrics) == stream.expected_points(stream.durable())


def test_a_full_spool_refuses_batches_and_loses_nothing_it_kept(victoriametrics, campus, tmp_path):
    stream = ReadingStream(campus, per_batch=100)
    encoder = LineProtocolEncoder(campus)
    # room for exactly the first three batches
    cap = sum(len(line) + 1 for _ in range(3) for line in encoder.readings(stream.next_batch()[1]))
    stream.batches.clear()
    victoriametrics.stop()
    store = InfluxStore(
        InfluxConfig(
            url=victoriametrics.url,
            spool_dir=tmp_path / "spool",
            spool_max_bytes=cap,
            flush_interval_ms=20,
            max_retries=2,
            retry_interval_ms=50,
            max_retry_time_ms=500,
            health_interval_s=0.3,
        ),
        campus,
    )
    try:
        for _ in range(8):  # one at a time: each is spooled or refused before the next
            stream.submit_next(store)
            assert stream.wait_for_all(timeout=10)
        assert sorted(stream.durable()) == [0, 1, 2]
        assert sorted(stream.refused()) == [3, 4, 5, 6, 7]
        assert all(isinstance(stream.outcomes[k][1], SpoolFull) for k in stream.refused())
        assert not store.healthy()  # no server, no room
        victoriametrics.start()
        wait_until_spool_empty(store, timeout=20)
        assert store.healthy()
        stats = store.stats()
    finally:
        store.close()
    assert stats.refused_batches == 5
    assert stats.replayed_lines == stats.spooled_lines == 3 * stream.per_batch
    assert stored_points(victoriametrics) == stream.expected_points([0, 1, 2])
