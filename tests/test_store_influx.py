"""InfluxStore beyond the shared contract: what arrives on the wire, batching, spool, auth.

The write path runs against VictoriaMetrics (real ``/api/v2/write``), the read
path against InfluxDB 1.6.7 (real InfluxQL). Timestamps are recent (VictoriaMetrics
drops samples older than its retention) and older than 30 s (its export hides
the newest 30 s).
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from servers.influxdb import InfluxDB1
from test_store_contract import RelayedInfluxStore, SeededInfluxStore

from campuslab.core.quantities import METER_QUANTITIES, SPACE_QUANTITIES
from campuslab.core.readings import DeadLetter, ReadingBatch, to_epoch_us
from campuslab.core.registry import Campus
from campuslab.core.store import ReadingStore
from campuslab.core.store.duckdb import DuckDBStore
from campuslab.core.store.influx import (
    InfluxConfig,
    InfluxQueryError,
    InfluxStore,
    RecentReadings,
    StoreClosed,
    duration_literal,
    quote_identifier,
    quote_string,
    time_literal,
)
from campuslab.core.store.line_protocol import LineProtocolEncoder
from campuslab.core.store.port import RollupRow, WriteResult
from campuslab.core.store.spool import Spool, SpoolFull, SpoolLocked

HOUR_AGO = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def mixed_campus_batch(campus: Campus, start: datetime, minutes: int) -> ReadingBatch:
    """Every space quantity for a few spaces, every meter's register and power, each minute."""
    batch = ReadingBatch()
    spaces = [(b.id, s.id) for b, s in campus.spaces()][:6]
    meters = [(b.id, m.id, m.quantity) for b, m in campus.meters()]
    for minute in range(minutes):
        ts = to_epoch_us(start + timedelta(minutes=minute, milliseconds=7 * minute))
        for n, (building, space) in enumerate(spaces):
            for q, quantity in enumerate(SPACE_QUANTITIES):
                batch.append(ts, building, space, quantity, 400.25 + n + q * 0.5 + minute / 3)
        for n, (building, meter, quantity) in enumerate(meters):
            batch.append(ts, building, meter, quantity, 123_456.789 + n * 1000 + minute * 1.25)
            if quantity == "energy":
                batch.append(ts, building, meter, "power", 75.125 + n - minute * 0.5)
    return batch


def expected_export(campus: Campus, batch: ReadingBatch) -> dict[tuple, list[tuple[int, float]]]:
    """What VictoriaMetrics should hold: metric and labels -> [(ts in ms, value)]."""
    encoder = LineProtocolEncoder(campus)
    expected: dict[tuple, list[tuple[int, float]]] = {}
    for reading in batch:
        labels = encoder.sensor_tags(reading.building, reading.sensor)
        key = (f"{reading.quantity}_value", tuple(sorted(labels.items())))
        expected.setdefault(key, []).append((reading.ts_us // 1000, reading.value))
    return {k: sorted(v) for k, v in expected.items()}


def exported(vm) -> dict[tuple, list[tuple[int, float]]]:
    found = {}
    for series in vm.export():
        labels = dict(series["metric"])
        name = labels.pop("__name__")
        found[(name, tuple(sorted(labels.items())))] = sorted(
            zip(series["timestamps"], series["values"], strict=True)
        )
    return found


def assert_same_points(found: dict, expected: dict) -> None:
    assert sorted(found) == sorted(expected)
    for key, points in expected.items():
        got = found[key]
        assert [ts for ts, _ in got] == [ts for ts, _ in points], key
        for (_, value), (_, want) in zip(got, points, strict=True):
            assert math.isclose(value, want, rel_tol=1e-12), (key, value, want)


@pytest.fixture
def vm_store(victoriametrics, campus, tmp_path):
    store = InfluxStore(
        InfluxConfig(url=victoriametrics.url, spool_dir=tmp_path / "spool", flush_interval_ms=50),
        campus,
    )
    yield store
    store.close()


# -- the wire ---------------------------------------------------------------------------
def test_every_point_arrives_with_its_measurement_tags_value_and_time(
    vm_store, victoriametrics, campus
):
    assert isinstance(vm_store, ReadingStore)  # every method of the port
    batch = mixed_campus_batch(campus, HOUR_AGO, minutes=20)
    assert vm_store.write(batch) == WriteResult(len(batch), 0)
    expected = expected_export(campus, batch)
    assert {name for name, _ in expected} == {
        f"{q}_value" for q in SPACE_QUANTITIES + METER_QUANTITIES
    }
    assert_same_points(exported(victoriametrics), expected)
    stats = vm_store.stats()
    assert stats.written_lines == stats.submitted_lines == len(batch)
    assert (stats.spooled_lines, stats.pending_batches, stats.pending_lines) == (0, 0, 0)


def test_same_data_set_reads_the_same_from_duckdb_and_influxdb(
    victoriametrics, influxdb1, campus, tmp_path
):
    """The write path end to end (WriteApi -> VictoriaMetrics -> InfluxQL) against DuckDB."""
    batch = mixed_campus_batch(campus, HOUR_AGO, minutes=30)
    duck = DuckDBStore(tmp_path / "duck.duckdb")
    influx = RelayedInfluxStore(
        victoriametrics, influxdb1, f"same_{uuid.uuid4().hex[:8]}", campus, tmp_path / "spool"
    )
    try:
        duck.write(batch)
        influx.write(batch)
        start, end = HOUR_AGO - timedelta(minutes=1), HOUR_AGO + timedelta(hours=1)
        sensors = sorted(set(zip(batch.sensor, batch.quantity, strict=True)))
        for sensor, quantity in sensors:
            a = duck.read_series(sensor, quantity, start, end)
            b = influx.read_series(sensor, quantity, start, end)
            # VictoriaMetrics keeps milliseconds: compare times at ms
            assert a.ts.astype("datetime64[ms]").tolist() == b.ts.astype("datetime64[ms]").tolist()
            np.testing.assert_allclose(b.values, a.values, rtol=1e-12)
        for quantity in {q for _, q in sensors}:
            a = duck.read_resampled(quantity, start, end, timedelta(minutes=10))
            b = influx.read_resampled(quantity, start, end, timedelta(minutes=10))
            assert sorted(a) == sorted(b)
            for sensor in a:
                assert a[sensor].ts.tolist() == b[sensor].ts.tolist()
                np.testing.assert_allclose(b[sensor].values, a[sensor].values, rtol=1e-12)
        latest_duck = [(r.building, r.sensor, r.quantity, r.value) for r in duck.latest()]
        latest_influx = [(r.building, r.sensor, r.quantity, r.value) for r in influx.latest()]
        assert [x[:3] for x in latest_duck] == [x[:3] for x in latest_influx]
        for (*_, a_value), (*_, b_value) in zip(latest_duck, latest_influx, strict=True):
            assert math.isclose(a_value, b_value, rel_tol=1e-12)
        assert duck.count() == influx.count() == len(batch)
    finally:
        duck.close()
        influx.close()


def test_rollups_and_dead_letters_go_out_through_the_writer(vm_store, victoriametrics):
    rows = [
        RollupRow(
            HOUR_AGO + timedelta(hours=h),
            {"site": "elvebakken", "building": "rfb", "space": "rfb-101"},
            {"utilisation": 0.25 * h, "occupancy_mean": 3.5, "bad": math.nan},
        )
        for h in range(2)
    ]
    vm_store.write_rollups("space_hourly", rows)
    vm_store.write_dead_letters(
        [DeadLetter(to_epoch_us(HOUR_AGO), "campus/rfb/x/co2", "{", "unparseable", "bad JSON")]
    )
    found = exported(victoriametrics)
    tags = (("building", "rfb"), ("site", "elvebakken"), ("space", "rfb-101"))
    hour_ms = to_epoch_us(HOUR_AGO) // 1000
    assert found[("space_hourly_utilisation", tags)] == [
        (hour_ms, 0.0),
        (hour_ms + 3_600_000, 0.25),
    ]
    assert found[("space_hourly_occupancy_mean", tags)] == [
        (hour_ms, 3.5),
        (hour_ms + 3_600_000, 3.5),
    ]
    assert not any(name == "space_hourly_bad" for name, _ in found)  # NaN is never sent
    assert found[("dead_letters_topic", (("reason", "unparseable"),))] == [(hour_ms, 0.0)]


@pytest.mark.parametrize("record_lines", [1, 10])
def test_batches_are_followed_through_merging_and_splitting(victoriametrics, campus, record_lines):
    """WriteApi requests of 100 lines: small batches are merged, a large one is split."""
    store = InfluxStore(
        InfluxConfig(
            url=victoriametrics.url,
            batch_size=100,
            flush_interval_ms=50,
            record_lines=record_lines,
        ),
        campus,
    )
    spaces = [(b.id, s.id) for b, s in campus.spaces()]
    batches = []
    for k in range(30):
        size = 450 if k == 7 else 37
        batch = ReadingBatch()
        for i in range(size):
            building, space = spaces[i % len(spaces)]
            ts = to_epoch_us(HOUR_AGO) + (k * 1000 + i) * 1000
            batch.append(ts, building, space, "co2", 400.0 + k)
        batches.append(batch)
    outcomes: dict[int, tuple] = {}
    done = threading.Event()

    def on_durable_for(k: int):
        def on_durable(result, error):
            outcomes[k] = (result, error)
            if len(outcomes) == len(batches) + 1:
                done.set()

        return on_durable

    try:
        for k, batch in enumerate(batches):
            store.submit(batch, [], on_durable_for(k))
        store.submit(batches[3], [], on_durable_for(len(batches)))  # a redelivery
        assert done.wait(30)
        # whether batch 3 was still in flight or already acknowledged, the redelivery
        # waits for (or recognises) that copy: counted as duplicates, never sent again
        assert outcomes == {
            **{k: (WriteResult(len(b), 0), None) for k, b in enumerate(batches)},
            len(batches): (WriteResult(0, len(batches[3])), None),
        }
        total = sum(len(b) for b in batches)
        stats = store.stats()
        assert stats.written_lines == stats.submitted_lines == total
        assert stats.pending_lines == stats.pending_batches == 0
        assert sum(len(s["values"]) for s in victoriametrics.export()) == total
    finally:
        store.close()


def test_repeats_within_a_batch_are_sent_once(vm_store, victoriametrics):
    batch = ReadingBatch()
    for _ in range(3):
        batch.append(to_epoch_us(HOUR_AGO), "rfb", "rfb-101", "co2", 555.0)
    assert vm_store.write(batch) == WriteResult(1, 2)
    assert [s["values"] for s in victoriametrics.export()] == [[555.0]]


def co2_batch(campus: Campus, first: int, count: int, value: float = 400.0) -> ReadingBatch:
    """Readings ``first`` .. ``first + count - 1`` of one stream of distinct co2 readings."""
    spaces = [(b.id, s.id) for b, s in campus.spaces()]
    batch = ReadingBatch()
    for i in range(first, first + count):
        building, space = spaces[i % len(spaces)]
        ts = to_epoch_us(HOUR_AGO) + (i // len(spaces)) * 1_000_000
        batch.append(ts, building, space, "co2", value + i % 1000)
    return batch


def co2_points(vm) -> int:
    return sum(len(s["values"]) for s in vm.export('{__name__="co2_value"}'))


def test_a_repeat_in_a_later_batch_is_a_duplicate_and_not_sent(vm_store, victoriametrics, campus):
    """The issue's case: 500 distinct readings, then 50 exact repeats in batches of their own."""
    results = [vm_store.write(co2_batch(campus, first, 100)) for first in range(0, 500, 100)]
    results += [vm_store.write(co2_batch(campus, first, 10)) for first in range(0, 500, 100)]
    assert sum(r.stored for r in results) == 500
    assert sum(r.duplicates for r in results) == 50
    assert results[5:] == [WriteResult(0, 10)] * 5
    assert co2_points(victoriametrics) == 500  # VictoriaMetrics keeps resends: none came
    stats = vm_store.stats()
    assert stats.submitted_lines == stats.written_lines == 500
    assert stats.recent_keys == 500


def test_same_sensor_quantity_and_time_is_one_reading_whatever_the_value(vm_store, campus):
    first = co2_batch(campus, 0, 5, value=400.0)
    again = co2_batch(campus, 0, 5, value=900.0)  # same identities, other values
    mixed = co2_batch(campus, 5, 1)
    mixed.extend(list(co2_batch(campus, 5, 1, value=123.0)))  # repeated within the batch
    assert vm_store.write(first) == WriteResult(5, 0)
    assert vm_store.write(again) == WriteResult(0, 5)  # the first value stays, as in DuckDB
    assert vm_store.write(mixed) == WriteResult(1, 1)


def test_a_batch_waits_for_a_copy_in_flight_instead_of_sending_it_again(victoriametrics, campus):
    store = InfluxStore(InfluxConfig(url=victoriametrics.url, flush_interval_ms=300), campus)
    outcomes: list[tuple] = []
    try:
        batch = co2_batch(campus, 0, 200)
        store.submit(batch, [], lambda r, e: outcomes.append(("first", r, e)))
        store.submit(batch, [], lambda r, e: outcomes.append(("redelivery", r, e)))
        assert store.stats().submitted_lines == 200  # the redelivery sent nothing
        assert store.flush(10)
        assert outcomes == [
            ("first", WriteResult(200, 0), None),
            ("redelivery", WriteResult(0, 200), None),
        ]
        assert co2_points(victoriametrics) == 200
    finally:
        store.close()


def test_overlapping_batches_from_many_threads_count_each_reading_once(victoriametrics, campus):
    """Four submitters send the same 2,000 readings in overlapping batches, in their own order."""
    store = InfluxStore(
        InfluxConfig(url=victoriametrics.url, flush_interval_ms=20, batch_size=300), campus
    )
    batches = [co2_batch(campus, first, 250) for first in range(0, 2000, 125)]  # each twice
    results: list[WriteResult] = []
    lock = threading.Lock()

    def submitter(order: list[int]) -> None:
        for k in order:
            result = store.write(batches[k])
            with lock:
                results.append(result)

    orders = [list(range(len(batches)))[::step] for step in (1, -1)] * 2
    threads = [threading.Thread(target=submitter, args=(order,)) for order in orders]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(results) == 4 * len(batches)
        assert sum(r.stored for r in results) == 2000 + 125  # the last batch runs past 2,000
        assert sum(r.stored + r.duplicates for r in results) == 4 * sum(map(len, batches))
        assert co2_points(victoriametrics) == 2125  # each line sent once
        assert store.stats().submitted_lines == 2125
    finally:
        store.close()


def test_a_failed_copy_fails_the_batches_waiting_for_it_and_counts_nothing(victoriametrics, campus):
    victoriametrics.stop()
    store = InfluxStore(
        InfluxConfig(
            url=victoriametrics.url,
            flush_interval_ms=20,
            max_retries=1,
            retry_interval_ms=50,
            max_retry_time_ms=300,
            health_interval_s=0.2,
        ),
        campus,
    )
    try:
        outcomes = []
        batch = co2_batch(campus, 0, 20)
        store.submit(batch, [], lambda r, e: outcomes.append((r, e)))
        store.submit(batch, [], lambda r, e: outcomes.append((r, e)))  # waits for that copy
        assert store.flush(10)
        assert [r for r, _ in outcomes] == [None, None]
        assert all(e is not None for _, e in outcomes)
        assert store.stats().recent_keys == 0  # nothing was stored, nothing is remembered
        victoriametrics.start()
        assert store.write(batch) == WriteResult(20, 0)  # so the redelivery stores it
        assert co2_points(victoriametrics) == 20
    finally:
        store.close()


def test_recent_readings_are_bounded_and_keep_the_newest(campus):
    recent = RecentReadings(capacity=100)
    batches = [co2_batch(campus, first, 10) for first in range(0, 1000, 10)]
    keys = [recent.keys_of(b) for b in batches]
    assert len({k for ks in keys for k in ks}) == 1000  # distinct readings, distinct keys
    for ks in keys:
        assert recent.remember(ks) == 10
        assert len(recent) <= 100
    assert len(recent) >= 50
    assert recent.known(keys[-1]) == set(keys[-1])  # the newest are remembered ...
    assert recent.known(keys[-5]) == set(keys[-5])
    assert recent.known(keys[0]) == set()  # ... the oldest forgotten
    assert recent.remember(keys[-1]) == 0
    assert recent.remember(keys[0]) == 10  # forgotten: counted as stored again
    # retention: keys before a cutoff go (ordered by time: the key's high bits)
    cutoff = batches[-1].ts_us[0]  # a later second than batch -5's
    assert batches[-5].ts_us[-1] < cutoff
    recent.forget_before(cutoff)
    assert recent.known(keys[-1]) == set(keys[-1])
    assert recent.known(keys[-5]) == set()
    # 0: no memory; repeats are recognised within a batch only
    assert RecentReadings(capacity=0).remember(keys[0]) == 10
    assert RecentReadings(capacity=0).known(keys[0]) == set()


def test_numpy_timestamps_make_the_same_keys(campus):
    batch = co2_batch(campus, 0, 3)
    as_numpy = ReadingBatch(
        list(np.array(batch.ts_us, dtype=np.int64)),
        batch.building,
        batch.sensor,
        batch.quantity,
        batch.value,
    )
    recent = RecentReadings(capacity=10)
    assert recent.keys_of(as_numpy) == recent.keys_of(batch)


def test_without_memory_a_later_repeat_counts_as_stored(victoriametrics, campus):
    store = InfluxStore(
        InfluxConfig(url=victoriametrics.url, flush_interval_ms=20, recent_keys=0), campus
    )
    try:
        batch = co2_batch(campus, 0, 10)
        assert store.write(batch) == WriteResult(10, 0)
        assert store.write(batch) == WriteResult(10, 0)  # written again, InfluxDB overwrites
        assert co2_points(victoriametrics) == 20  # (VictoriaMetrics keeps both)
    finally:
        store.close()


def test_close_flushes_what_was_submitted(victoriametrics, campus):
    store = InfluxStore(InfluxConfig(url=victoriametrics.url, flush_interval_ms=5000), campus)
    outcomes = []
    batch = mixed_campus_batch(campus, HOUR_AGO, minutes=3)
    store.submit(batch, [], lambda result, error: outcomes.append((result, error)))
    store.close()  # long before the 5 s flush interval
    assert outcomes == [(WriteResult(len(batch), 0), None)]
    assert sum(len(s["values"]) for s in victoriametrics.export()) == len(batch)
    with pytest.raises(StoreClosed):
        store.submit(batch, [], lambda *_: None)


def test_without_a_spool_a_failed_write_is_an_error_not_an_acknowledgement(victoriametrics, campus):
    victoriametrics.stop()
    store = InfluxStore(
        InfluxConfig(
            url=victoriametrics.url,
            flush_interval_ms=20,
            max_retries=1,
            retry_interval_ms=50,
            max_retry_time_ms=500,
        ),
        campus,
    )
    try:
        assert not store.healthy()  # no server and no spool to fall back on
        outcomes = []
        store.submit(
            mixed_campus_batch(campus, HOUR_AGO, 1), [], lambda r, e: outcomes.append((r, e))
        )
        assert store.flush(10)
        [(result, error)] = outcomes
        assert result is None and error is not None
        assert store.stats().refused_batches == 1
    finally:
        store.close()


# -- the spool ---------------------------------------------------------------------------
def test_spool_survives_a_restart_and_replays(victoriametrics, campus, tmp_path):
    """Retries run out while the server is down; the spool keeps the lines across a restart."""
    victoriametrics.stop()
    config = InfluxConfig(
        url=victoriametrics.url,
        spool_dir=tmp_path / "spool",
        flush_interval_ms=20,
        max_retries=2,
        retry_interval_ms=50,
        max_retry_time_ms=500,
        health_interval_s=0.2,
    )
    batch = mixed_campus_batch(campus, HOUR_AGO, minutes=5)
    first = InfluxStore(config, campus)
    assert first.healthy()  # the server is down, but the spool has room
    assert first.write(batch) == WriteResult(len(batch), 0)
    assert first.stats().spooled_lines == len(batch)
    first.close()
    # a crash in the middle of an append leaves half a line behind: cut off on open
    segment = sorted((tmp_path / "spool").glob("segment-*.lp"))[-1]
    with segment.open("ab") as handle:
        handle.write(b"co2,building=rfb,space=rfb-101 value=99")
    victoriametrics.start()
    second = InfluxStore(config, campus)
    try:
        deadline = time.monotonic() + 20
        while second.stats().spool_bytes and time.monotonic() < deadline:
            time.sleep(0.1)
        assert second.stats().replayed_lines == len(batch)
        assert not list((tmp_path / "spool").glob("segment-*.lp"))
        assert_same_points(exported(victoriametrics), expected_export(campus, batch))
    finally:
        second.close()


def test_spool_appends_rotate_and_respect_the_cap(tmp_path: Path):
    spool = Spool(tmp_path / "spool", max_bytes=1000, segment_bytes=300)
    line = b"co2,space=a value=1 " + b"1" * 79  # 100 bytes with its newline
    for _ in range(7):
        spool.append([line])
    assert spool.bytes == 700
    with pytest.raises(SpoolFull):
        spool.append([line] * 4)  # all or nothing
    assert spool.bytes == 700 and spool.has_room()
    segments = spool.seal()
    assert [s.size for s in segments] == [300, 300, 100]
    assert sum(len(Spool.read_lines(s)) for s in segments) == 7
    spool.remove(segments[0])
    assert spool.bytes == 400
    spool.close()
    reopened = Spool(tmp_path / "spool", max_bytes=1000)
    assert reopened.bytes == 400
    assert [len(Spool.read_lines(s)) for s in reopened.seal()] == [3, 1]
    with pytest.raises(SpoolLocked, match="another process"):
        Spool(tmp_path / "spool", max_bytes=1000)  # one writer per spool directory
    reopened.close()


def test_healthy_only_while_the_server_answers_or_the_spool_has_room(
    victoriametrics, campus, tmp_path
):
    victoriametrics.stop()
    left_over = LineProtocolEncoder(campus).readings(mixed_campus_batch(campus, HOUR_AGO, 2))
    data = ("\n".join(left_over) + "\n").encode()
    (tmp_path / "spool").mkdir()
    (tmp_path / "spool" / "segment-000000000001.lp").write_bytes(data)  # an earlier outage's
    store = InfluxStore(
        InfluxConfig(
            url=victoriametrics.url,
            spool_dir=tmp_path / "spool",
            spool_max_bytes=len(data),
            flush_interval_ms=20,
            max_retries=1,
            retry_interval_ms=50,
            max_retry_time_ms=300,
            health_interval_s=0.2,
        ),
        campus,
    )
    try:
        assert not store.healthy()  # no server, and the spool is full
        with pytest.raises(SpoolFull):
            store.write(mixed_campus_batch(campus, HOUR_AGO + timedelta(minutes=30), 1))
        assert store.stats().refused_batches == 1
        victoriametrics.start()
        deadline = time.monotonic() + 20
        while store.stats().spool_bytes and time.monotonic() < deadline:
            time.sleep(0.1)
        assert store.healthy()
        assert store.stats().replayed_lines == len(left_over)
        assert sum(len(s["values"]) for s in victoriametrics.export()) == len(left_over)
    finally:
        store.close()


def test_a_spool_that_refused_a_batch_is_unhealthy_until_the_server_answers(
    victoriametrics, campus, tmp_path
):
    """Room for 10 lines, a batch of 100: refused. An ingestor waiting for healthy() to
    come back must not be let in only to be refused again, over and over."""
    victoriametrics.stop()
    encoder = LineProtocolEncoder(campus)
    room = sum(len(line) + 1 for line in encoder.readings(co2_batch(campus, 0, 10)))
    store = InfluxStore(
        InfluxConfig(
            url=victoriametrics.url,
            spool_dir=tmp_path / "spool",
            spool_max_bytes=room,
            flush_interval_ms=20,
            max_retries=1,
            retry_interval_ms=50,
            max_retry_time_ms=300,
            health_interval_s=0.2,
        ),
        campus,
    )
    try:
        assert store.healthy()  # no server, but room in the spool
        with pytest.raises(SpoolFull):
            store.write(co2_batch(campus, 0, 100))
        assert store.stats().spool_bytes == 0
        assert not store.healthy()  # the spool has bytes free, yet it just refused
        victoriametrics.start()
        deadline = time.monotonic() + 20
        while not store.healthy() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.healthy()
        assert store.write(co2_batch(campus, 0, 100)) == WriteResult(100, 0)
    finally:
        store.close()


# -- InfluxQL text -----------------------------------------------------------------------
def test_influxql_literals_are_formatted_here():
    assert quote_identifier('co2" OR 1=1') == '"co2\\" OR 1=1"'
    assert quote_identifier("a\\b\nc") == '"a\\\\b\\nc"'
    assert quote_string("rfb-101' OR '1'='1") == "'rfb-101\\' OR \\'1\\'=\\'1'"
    assert quote_string("x\\'; DROP") == "'x\\\\\\'; DROP'"
    assert time_literal(datetime(2026, 1, 1, tzinfo=UTC)) == "1767225600000000000"
    assert time_literal(datetime(2026, 1, 1)) == "1767225600000000000"  # naive is UTC
    assert duration_literal(timedelta(minutes=15)) == "15m"
    assert duration_literal(timedelta(hours=24)) == "1d"
    assert duration_literal(timedelta(days=14)) == "2w"
    assert duration_literal(timedelta(seconds=90)) == "90s"
    assert duration_literal(timedelta(milliseconds=1500)) == "1500ms"
    assert duration_literal(timedelta(microseconds=7)) == "7u"
    with pytest.raises(ValueError):
        duration_literal(timedelta(0))


@pytest.mark.parametrize(
    "value",
    ["it's", 'say "hi"', "a; DROP MEASUREMENT co2", "x' OR '1'='1", 'q" OR 1=1 --', "a b,c=d"],
)
def test_hostile_tag_values_are_matched_exactly_as_data(influxdb1, campus, value):
    """A tag value full of quotes and InfluxQL is found as itself, and only itself."""
    store = SeededInfluxStore(influxdb1, f"hostile_{uuid.uuid4().hex[:8]}", campus)
    try:
        rows = [
            RollupRow(HOUR_AGO, {"space": value}, {"n": 1.0}),
            RollupRow(HOUR_AGO, {"space": "rfb-101"}, {"n": 2.0}),
        ]
        store.write_rollups("space_hourly", rows)
        found = store.read_rollups(
            "space_hourly", HOUR_AGO, HOUR_AGO + timedelta(hours=1), {"space": value}
        )
        assert [(dict(r.tags), dict(r.fields)) for r in found] == [({"space": value}, {"n": 1.0})]
        assert len(store.read_rollups("space_hourly", HOUR_AGO, HOUR_AGO + timedelta(hours=1))) == 2
    finally:
        store.close()


def test_query_errors_say_what_the_server_said(influxdb1, campus):
    store = InfluxStore(InfluxConfig(url=influxdb1.url, bucket="no_such_database"), campus)
    try:
        with pytest.raises(InfluxQueryError, match="database not found"):
            store.count()
    finally:
        store.close()


# -- configuration and auth ----------------------------------------------------------------
def test_config_from_env(tmp_path):
    config = InfluxConfig.from_env(
        {
            "CAMPUSLAB_INFLUX_URL": "http://influx:8086",
            "CAMPUSLAB_INFLUX_TOKEN": "secret",
            "CAMPUSLAB_INFLUX_ORG": "uni",
            "CAMPUSLAB_INFLUX_BUCKET": "campus/autogen",
            "CAMPUSLAB_SPOOL_DIR": str(tmp_path),
        }
    )
    assert (config.url, config.token, config.org, config.bucket) == (
        "http://influx:8086",
        "secret",
        "uni",
        "campus/autogen",
    )
    assert (config.database, config.retention_policy) == ("campus", "autogen")
    assert config.spool_dir == tmp_path
    assert config.write_token == "secret"
    legacy = InfluxConfig.from_env(
        {
            "CAMPUSLAB_INFLUX_URL": "http://influx:8086",
            "CAMPUSLAB_INFLUX_USERNAME": "ingest",
            "CAMPUSLAB_INFLUX_PASSWORD": "pw",
        }
    )
    assert legacy.write_token == "ingest:pw"  # InfluxDB 1.8's v2 write takes user:password
    assert (legacy.bucket, legacy.org, legacy.spool_dir) == ("campuslab", "campuslab", None)
    assert InfluxConfig.from_env({"CAMPUSLAB_INFLUX_URL": ""}) == InfluxConfig()
    assert InfluxConfig().url == "http://localhost:8086"


def test_config_numbers_from_env():
    config = InfluxConfig.from_env(
        {
            "CAMPUSLAB_SPOOL_MAX_BYTES": "65536",
            "CAMPUSLAB_INFLUX_BATCH_SIZE": "500",
            "CAMPUSLAB_INFLUX_FLUSH_MS": "0",
            "CAMPUSLAB_INFLUX_MAX_RETRIES": "3",
            "CAMPUSLAB_INFLUX_RETRY_INTERVAL_MS": "250",
            "CAMPUSLAB_INFLUX_MAX_RETRY_TIME_MS": "5000",
            "CAMPUSLAB_INFLUX_HEALTH_INTERVAL_S": "0.5",
            "CAMPUSLAB_INFLUX_RECENT_KEYS": " 2_000_000 ",
        }
    )
    assert (
        config.spool_max_bytes,
        config.batch_size,
        config.flush_interval_ms,
        config.max_retries,
        config.retry_interval_ms,
        config.max_retry_time_ms,
        config.health_interval_s,
        config.recent_keys,
    ) == (65536, 500, 0, 3, 250, 5000, 0.5, 2_000_000)
    assert InfluxConfig.from_env({"CAMPUSLAB_SPOOL_MAX_BYTES": ""}) == InfluxConfig()


@pytest.mark.parametrize(
    ("variable", "text"),
    [
        ("CAMPUSLAB_SPOOL_MAX_BYTES", "64MB"),
        ("CAMPUSLAB_SPOOL_MAX_BYTES", "0"),
        ("CAMPUSLAB_INFLUX_BATCH_SIZE", "1.5"),
        ("CAMPUSLAB_INFLUX_FLUSH_MS", "-5"),
        ("CAMPUSLAB_INFLUX_HEALTH_INTERVAL_S", "nan"),
        ("CAMPUSLAB_INFLUX_RECENT_KEYS", "-1"),
    ],
)
def test_a_bad_number_in_the_environment_names_its_variable(variable, text):
    with pytest.raises(ValueError, match=f"^{variable} must be .*, not '{text}'$"):
        InfluxConfig.from_env({variable: text})


class AuthInfluxDB1(InfluxDB1):
    """InfluxDB 1.6.7 with auth-enabled = true."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        text = self.config_path.read_text().replace("auth-enabled = false", "auth-enabled = true")
        self.config_path.write_text(text)


def test_username_and_password_reach_query(tmp_path, campus):
    server = AuthInfluxDB1(tmp_path / "auth-influxdb")
    server.start()
    try:
        # the first user may be created without credentials; then everything needs them
        server.query("CREATE USER admin WITH PASSWORD 'pw' WITH ALL PRIVILEGES", method="POST")
        with pytest.raises(httpx.HTTPStatusError):
            server.query("SHOW DATABASES")
        httpx.post(
            f"{server.url}/query", params={"q": "CREATE DATABASE campus", "u": "admin", "p": "pw"}
        ).raise_for_status()
        httpx.post(
            f"{server.url}/write",
            params={"db": "campus", "precision": "u", "u": "admin", "p": "pw"},
            content=LineProtocolEncoder(campus)
            .readings(mixed_campus_batch(campus, HOUR_AGO, 1))[0]
            .encode(),
        ).raise_for_status()
        good = InfluxStore(
            InfluxConfig(url=server.url, bucket="campus", username="admin", password="pw"), campus
        )
        bad = InfluxStore(
            InfluxConfig(url=server.url, bucket="campus", username="admin", password="no"), campus
        )
        try:
            assert good.count() == 1
            with pytest.raises(InfluxQueryError, match="401"):
                bad.count()
        finally:
            good.close()
            bad.close()
    finally:
        server.stop()


def test_writer_counters_on_a_prometheus_registry(vm_store, campus):
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    vm_store.register_metrics(registry)
    batch = mixed_campus_batch(campus, HOUR_AGO, minutes=2)
    vm_store.write(batch)
    exposition = generate_latest(registry).decode()
    assert "# TYPE campuslab_influx_written_lines_total counter" in exposition
    value = registry.get_sample_value
    assert value("campuslab_influx_written_lines_total") == len(batch)
    assert value("campuslab_influx_spooled_lines_total") == 0
    assert value("campuslab_influx_server_reachable") == 1
    assert value("campuslab_influx_spool_max_bytes") == 512 * 1024 * 1024
    assert value("campuslab_influx_recent_keys") == len(batch)  # each reading remembered
