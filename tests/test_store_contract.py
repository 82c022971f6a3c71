"""The store port's contract. Every backend must pass it unchanged.

Backends are parameters of the ``store`` fixture:

- ``duckdb``: the embedded store.
- ``influxdb-read``: the InfluxQL read path, ``InfluxStore`` reading a real
  InfluxDB 1.6.7. That server has no ``/api/v2/write``, so its writes are seeded
  through the v1 ``/write`` with exactly the lines the writer produces
  (``LineProtocolEncoder``).
- ``influxdb-write``: the write path, ``InfluxStore``'s real batching WriteApi
  posting to VictoriaMetrics' ``/api/v2/write``. VictoriaMetrics serves no
  InfluxQL, so what it stored (``/api/v1/export``: measurement, tags, value,
  timestamp in ms) is relayed into a fresh InfluxDB 1.6.7 database and read
  back there with the same InfluxQL reads: same data in, same answers out.
- ``influxdb-live``: both paths against a live InfluxDB 2.x/3.x, when
  ``CAMPUSLAB_TEST_INFLUX_URL`` is set (see core/store/README.md); skipped
  otherwise.

Where a backend cannot keep a promise the same way (VictoriaMetrics stores no
strings), the test says so and checks what that backend does instead. Both count
cross-batch duplicates: DuckDB from its table, InfluxDB from a bounded memory of
recent readings (core/store/README.md, "Duplicates").
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest

from campuslab.core.quantities import QUANTITIES
from campuslab.core.readings import DeadLetter, ReadingBatch, to_epoch_us
from campuslab.core.registry import Campus, load_campus
from campuslab.core.store import Aggregate, ReadingStore, TooManyPoints
from campuslab.core.store.duckdb import DuckDBStore, StoreLockedError
from campuslab.core.store.influx import InfluxConfig, InfluxStore, RetentionNotSupported
from campuslab.core.store.line_protocol import DEAD_LETTER_MEASUREMENT, float_field, tag_string
from campuslab.core.store.port import (
    ArrowWriter,
    DeadLetterFilter,
    QualityFlag,
    RollupRow,
    WriteResult,
)
from campuslab.ingest.processor import MessageProcessor

# Two days ago at 08:00 UTC: recent enough for VictoriaMetrics' retention and for
# ``latest``'s lookback, and old enough for its export (which hides the last 30 s).
T0 = datetime.combine(date.today() - timedelta(days=2), time(8, 0), tzinfo=UTC)
MINUTE = 60_000_000

ALL_BACKENDS = ("duckdb", "influxdb-read", "influxdb-write", "influxdb-live")
INFLUX_BACKENDS = ("influxdb-read", "influxdb-write", "influxdb-live")
LIVE_ENV = "CAMPUSLAB_TEST_INFLUX_URL"


def batch_of(rows: list[tuple[datetime, str, str, str, float]]) -> ReadingBatch:
    batch = ReadingBatch()
    for ts, building, sensor, quantity, value in rows:
        batch.append(to_epoch_us(ts), building, sensor, quantity, value)
    return batch


def us(moment: datetime) -> np.datetime64:
    return np.datetime64(moment.astimezone(UTC).replace(tzinfo=None), "us")


# -- the InfluxDB backends --------------------------------------------------------
class SeededInfluxStore(InfluxStore):
    """The InfluxQL read path on InfluxDB 1.6.7: what the writer would send goes to v1 /write.

    Every write of InfluxStore (readings, dead letters, rollups, quality flags)
    ends in ``_write_lines``; here those exact lines are seeded into 1.6.7.
    """

    def __init__(self, server, database: str, campus: Campus) -> None:
        server.create_database(database)
        super().__init__(InfluxConfig(url=server.url, bucket=database), campus)
        self.server = server
        self.database = database

    def _write_lines(self, lines: list[bytes], result: WriteResult) -> WriteResult:
        if lines:
            self.server.write_lines(self.database, [line.decode() for line in lines])
        return result

    def submit(self, batch, dead_letters, on_durable) -> None:
        result = self.write(batch)
        self.write_dead_letters(dead_letters)
        on_durable(result, None)


def lines_from_export(exported: list[dict], measurements: set[str]) -> tuple[list[str], list[dict]]:
    """VictoriaMetrics' export as line protocol (ms), and the series it cannot carry back.

    Metric names are ``<measurement>_<field>``: ``<quantity>_value`` for readings,
    ``space_hourly_<field>`` for rollups and so on, for the ``measurements`` given.
    Dead letters (string fields, which VictoriaMetrics keeps as 0) come back apart.
    """
    lines, others = [], []
    known = sorted(set(measurements) - {DEAD_LETTER_MEASUREMENT}, key=len, reverse=True)
    for series in exported:
        labels = dict(series["metric"])
        name = labels.pop("__name__")
        found = [m for m in known if name.startswith(m + "_")]
        if not found:
            others.append(series)
            continue
        measurement, field_name = found[0], name[len(found[0]) + 1 :]
        for value, ts_ms in zip(series["values"], series["timestamps"], strict=True):
            lines.append(
                f"{measurement}{tag_string(labels)} {field_name}={float_field(value)} {ts_ms}"
            )
    return lines, others


class RelayedInfluxStore(InfluxStore):
    """The write path: the real WriteApi into VictoriaMetrics, read back via InfluxDB 1.6.7.

    Writes go to VictoriaMetrics (``url``), InfluxQL to 1.6.7 (``query_url``). After
    each write is durable (acknowledged by VictoriaMetrics), what VictoriaMetrics
    holds is exported and written into the 1.6.7 database the reads run on.
    """

    def __init__(self, vm, server, database: str, campus: Campus, spool_dir: Path) -> None:
        server.create_database(database)
        super().__init__(
            InfluxConfig(url=vm.url, query_url=server.url, bucket=database, spool_dir=spool_dir),
            campus,
        )
        self.vm = vm
        self.server = server
        self.database = database
        self.measurements: set[str] = set(QUANTITIES)
        self.relayed: Counter[str] = Counter()

    def _write_lines(self, lines: list[bytes], result: WriteResult) -> WriteResult:
        self.measurements.update(line.split(b",", 1)[0].decode() for line in lines)
        result = super()._write_lines(lines, result)
        self.relay()
        return result

    def relay(self) -> None:
        """Relay what arrived since the last relay, so a rewrite lands after what it replaces.

        VictoriaMetrics keeps both samples of a rewritten point, in no useful order.
        """
        arrived = Counter(lines_from_export(self.vm.export(), self.measurements)[0])
        new = arrived - self.relayed
        self.relayed = arrived
        if new:
            self.server.write_lines(self.database, list(new.elements()), precision="ms")

    def flush(self, timeout: float | None = None) -> bool:
        settled = super().flush(timeout)
        self.relay()
        return settled


def live_store(campus: Campus, spool_dir: Path) -> InfluxStore:
    """A fresh bucket (2.x) or database (3.x, created by the first write) per test."""
    url = os.environ.get(LIVE_ENV)
    if not url:
        pytest.skip(  # opt-in, CI included: no InfluxDB 2.x/3.x can run on these machines
            f"live InfluxDB 2.x/3.x suite: set {LIVE_ENV} (and CAMPUSLAB_TEST_INFLUX_TOKEN, "
            "_ORG, _BUCKET) to run it; core/store/README.md shows how with Docker"
        )
    token = os.environ.get("CAMPUSLAB_TEST_INFLUX_TOKEN") or None
    org = os.environ.get("CAMPUSLAB_TEST_INFLUX_ORG") or "campuslab"
    prefix = os.environ.get("CAMPUSLAB_TEST_INFLUX_BUCKET") or "campuslab-test"
    bucket = f"{prefix}-{uuid.uuid4().hex[:10]}"
    from influxdb_client import InfluxDBClient

    # InfluxDB 3 has no buckets API: there the first write creates the database
    with InfluxDBClient(url=url, token=token, org=org) as client, contextlib.suppress(Exception):
        client.buckets_api().create_bucket(bucket_name=bucket, org=org)
    return InfluxStore(
        InfluxConfig(url=url, token=token, org=org, bucket=bucket, spool_dir=spool_dir), campus
    )


def drop_live_bucket(store: InfluxStore) -> None:
    config = store.config
    from influxdb_client import InfluxDBClient

    with InfluxDBClient(url=config.url, token=config.token, org=config.org) as client:
        try:
            found = client.buckets_api().find_bucket_by_name(config.bucket)
            if found is not None:
                client.buckets_api().delete_bucket(found)
                return
        except Exception:
            pass
    headers = {"Authorization": f"Bearer {config.token}"} if config.token else {}
    httpx.delete(
        f"{config.url}/api/v3/configure/database",
        params={"db": config.bucket},
        headers=headers,
        timeout=30,
    )


@pytest.fixture(params=ALL_BACKENDS)
def store(request, tmp_path: Path, campus: Campus) -> ReadingStore:
    yield from _backend(request, tmp_path, campus)


def _backend(request, tmp_path: Path, campus: Campus) -> Iterator[ReadingStore]:
    kind = request.param
    database = f"contract_{uuid.uuid4().hex[:12]}"
    if kind == "duckdb":
        backend = DuckDBStore(tmp_path / "store.duckdb")
    elif kind == "influxdb-read":
        backend = SeededInfluxStore(request.getfixturevalue("influxdb1"), database, campus)
    elif kind == "influxdb-write":
        backend = RelayedInfluxStore(
            request.getfixturevalue("victoriametrics"),
            request.getfixturevalue("influxdb1"),
            database,
            campus,
            tmp_path / "spool",
        )
    else:
        backend = live_store(campus, tmp_path / "spool")
    backend.backend = kind
    yield backend
    backend.close()
    if kind == "influxdb-live":
        drop_live_bucket(backend)


@pytest.fixture
def co2_hour(store: ReadingStore) -> ReadingStore:
    """rfb-101 CO2 every minute from 08:00 to 08:59, values 500, 501, ... 559."""
    store.write(
        batch_of(
            [(T0 + timedelta(minutes=i), "rfb", "rfb-101", "co2", 500.0 + i) for i in range(60)]
        )
    )
    return store


# -- reading back -------------------------------------------------------------------
def test_raw_series_comes_back_exactly(co2_hour):
    series = co2_hour.read_series("rfb-101", "co2", T0, T0 + timedelta(hours=1))
    assert len(series) == 60
    assert series.ts[0] == us(T0)
    assert series.ts[-1] == us(T0 + timedelta(minutes=59))
    assert series.values.tolist() == [500.0 + i for i in range(60)]


def test_ranges_are_half_open(co2_hour):
    series = co2_hour.read_series(
        "rfb-101", "co2", T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)
    )
    assert series.values.tolist() == [510.0 + i for i in range(10)]


@pytest.mark.parametrize(
    ("aggregate", "expected"),
    [
        # 15-minute buckets of 500..559: means 507, 522, 537, 552; max 514, ...; min 500, ...
        (Aggregate.MEAN, [507.0, 522.0, 537.0, 552.0]),
        (Aggregate.MAX, [514.0, 529.0, 544.0, 559.0]),
        (Aggregate.MIN, [500.0, 515.0, 530.0, 545.0]),
    ],
)
def test_resampling(co2_hour, aggregate, expected):
    series = co2_hour.read_series(
        "rfb-101",
        "co2",
        T0,
        T0 + timedelta(hours=1),
        every=timedelta(minutes=15),
        aggregate=aggregate,
    )
    assert series.values.tolist() == expected
    assert series.ts.tolist() == [us(T0 + timedelta(minutes=m)).tolist() for m in (0, 15, 30, 45)]


def test_buckets_are_aligned_to_the_epoch_not_to_the_start(co2_hour):
    # from 08:05: the first 15-minute bucket is still labelled 08:00 and holds 505..514
    series = co2_hour.read_series(
        "rfb-101",
        "co2",
        T0 + timedelta(minutes=5),
        T0 + timedelta(minutes=35),
        every=timedelta(minutes=15),
    )
    assert series.ts.tolist() == [us(T0 + timedelta(minutes=m)).tolist() for m in (0, 15, 30)]
    assert series.values.tolist() == [509.5, 522.0, 532.0]


def test_duplicates_are_never_stored_twice(store):
    rows = [(T0 + timedelta(minutes=i), "rfb", "rfb-101", "co2", 600.0) for i in range(10)]
    first = store.write(batch_of(rows))
    again = store.write(batch_of(rows + rows))  # a redelivered batch, repeated within itself
    assert (first.stored, first.duplicates) == (10, 0)
    assert store.count() == 10
    assert len(store.read_series("rfb-101", "co2", T0, T0 + timedelta(hours=1))) == 10
    # DuckDB sees the earlier batch in the table; InfluxDB in its memory of recent readings
    assert (again.stored, again.duplicates) == (0, 20)


def test_an_arrow_table_is_stored_like_a_batch_and_its_letters_kept_once(store):
    """``ArrowWriter.write_arrow``, the history import's path, on every backend."""
    import pyarrow as pa

    assert isinstance(store, ArrowWriter)
    ts = [to_epoch_us(T0 + timedelta(minutes=i)) for i in range(10)]
    sensors = pa.array(["rfb-101", "rfb-102"])
    readings = pa.table(
        {
            "ts": pa.array(ts, pa.int64()).cast(pa.timestamp("us")),
            "building": pa.array(["rfb"] * 10),
            "sensor": pa.DictionaryArray.from_arrays(pa.array([0] * 10, pa.int32()), sensors),
            "quantity": pa.array(["co2"] * 10),
            "value": pa.array([700.0 + i for i in range(10)]),
        }
    )
    letter = DeadLetter(to_epoch_us(T0), "import:h.csv:7", "x,rfb-101,co2", "unparseable", "no")
    letters = pa.table(
        {
            "received_at": pa.array([letter.received_us], pa.int64()).cast(pa.timestamp("us")),
            "topic": [letter.topic],
            "payload": [letter.payload],
            "reason": [letter.reason],
            "detail": [letter.detail],
        }
    )
    first = store.write_arrow(readings, letters)
    again = store.write_arrow(readings, letters)  # a resumed import writes the chunk again
    assert (first.stored, first.duplicates) == (10, 0)
    assert (again.stored, again.duplicates) == (0, 10)
    series = store.read_series("rfb-101", "co2", T0, T0 + timedelta(hours=1))
    assert series.values.tolist() == [700.0 + i for i in range(10)]
    if store.backend != "influxdb-write":  # VictoriaMetrics keeps no strings (see above)
        assert store.dead_letters() == [letter]


def test_same_time_different_quantity_or_sensor_is_not_a_duplicate(store):
    store.write(
        batch_of(
            [
                (T0, "rfb", "rfb-101", "co2", 1.0),
                (T0, "rfb", "rfb-101", "temperature", 2.0),
                (T0, "rfb", "rfb-102", "co2", 3.0),
            ]
        )
    )
    assert store.count() == 3
    assert store.count("co2") == 2


def test_resampled_for_many_sensors_at_once(store):
    store.write(
        batch_of(
            [
                (T0 + timedelta(minutes=m), "rfb", sensor, "occupancy", value)
                for m in range(0, 120, 30)
                for sensor, value in (("rfb-101", 10.0), ("rfb-102", 4.0))
            ]
        )
    )
    hourly = store.read_resampled("occupancy", T0, T0 + timedelta(hours=2), timedelta(hours=1))
    assert sorted(hourly) == ["rfb-101", "rfb-102"]
    assert hourly["rfb-101"].values.tolist() == [10.0, 10.0]
    assert hourly["rfb-102"].ts.tolist() == [us(T0).tolist(), us(T0 + timedelta(hours=1)).tolist()]
    only = store.read_resampled(
        "occupancy", T0, T0 + timedelta(hours=2), timedelta(hours=1), sensors=["rfb-102"]
    )
    assert list(only) == ["rfb-102"]
    assert (
        store.read_resampled(
            "occupancy", T0, T0 + timedelta(hours=2), timedelta(hours=1), sensors=[]
        )
        == {}
    )


def test_meters_and_spaces_side_by_side(store):
    """Meters are tagged ``meter`` and spaces ``space`` in InfluxDB; the store hides it."""
    store.write(
        batch_of(
            [
                (T0 + timedelta(minutes=15 * i), "rfb", "rfb-el", "energy", 1000.0 + i)
                for i in range(8)
            ]
            + [
                (T0 + timedelta(minutes=15 * i), "rfb", "rfb-101", "co2", 400.0 + i)
                for i in range(8)
            ]
            + [
                (T0 + timedelta(minutes=15 * i), "hb", "hb-el", "energy", 50.5 + i)
                for i in range(8)
            ]
        )
    )
    energy = store.read_series("rfb-el", "energy", T0, T0 + timedelta(hours=2))
    assert energy.values.tolist() == [1000.0 + i for i in range(8)]
    hourly = store.read_resampled(
        "energy", T0, T0 + timedelta(hours=2), timedelta(hours=1), Aggregate.MAX
    )
    assert {k: v.values.tolist() for k, v in hourly.items()} == {
        "hb-el": [53.5, 57.5],
        "rfb-el": [1003.0, 1007.0],
    }
    mixed = store.read_resampled(
        "energy", T0, T0 + timedelta(hours=2), timedelta(hours=2), sensors=["rfb-el", "rfb-101"]
    )
    assert list(mixed) == ["rfb-el"]
    latest = store.latest()
    assert [(r.building, r.sensor, r.quantity, r.value) for r in latest] == [
        ("hb", "hb-el", "energy", 57.5),
        ("rfb", "rfb-101", "co2", 407.0),
        ("rfb", "rfb-el", "energy", 1007.0),
    ]
    assert store.count("energy") == 16


def test_latest_per_sensor_and_quantity(store):
    store.write(
        batch_of(
            [
                (T0 + timedelta(minutes=2), "rfb", "rfb-101", "co2", 700.0),
                (T0, "rfb", "rfb-101", "co2", 650.0),
            ]
        )
    )
    store.write(batch_of([(T0 - timedelta(hours=1), "rfb", "rfb-101", "co2", 1.0)]))  # older
    latest = store.latest("co2")
    assert [(r.sensor, r.value, r.ts) for r in latest] == [
        ("rfb-101", 700.0, T0 + timedelta(minutes=2))
    ]


def test_point_limit(co2_hour):
    with pytest.raises(TooManyPoints):
        co2_hour.read_series("rfb-101", "co2", T0, T0 + timedelta(hours=1), limit=59)
    assert len(co2_hour.read_series("rfb-101", "co2", T0, T0 + timedelta(hours=1), limit=60)) == 60
    with pytest.raises(TooManyPoints):
        co2_hour.read_series(
            "rfb-101", "co2", T0, T0 + timedelta(hours=1), every=timedelta(minutes=15), limit=3
        )


def test_dead_letters_are_kept(store):
    letter = DeadLetter(
        to_epoch_us(T0), "campus/x/y/co2", "garbage", "unparseable", "not a JSON object or a number"
    )
    store.write_dead_letters([letter])
    if store.backend == "influxdb-write":
        # VictoriaMetrics keeps numbers only: the letter arrives, its strings read as 0
        _, others = lines_from_export(store.vm.export(), set(QUANTITIES))
        assert sorted((s["metric"]["__name__"], s["metric"]["reason"]) for s in others) == [
            ("dead_letters_detail", "unparseable"),
            ("dead_letters_payload", "unparseable"),
            ("dead_letters_topic", "unparseable"),
        ]
        assert {s["timestamps"][0] for s in others} == {to_epoch_us(T0) // 1000}
        return
    assert store.dead_letters() == [letter]


def test_a_dead_letter_with_a_newline_and_a_tab_reads_back_the_same_everywhere(store, campus):
    """Ingest writes line breaks and tabs as visible escapes, which every backend keeps."""
    skip_without_strings(store)
    letters: list[DeadLetter] = []
    payload = b'{"value":\n\t"high"}'
    MessageProcessor(campus).process(
        "campus/rfb/rfb-101/co2", payload, to_epoch_us(T0), ReadingBatch(), letters
    )
    assert [d.payload for d in letters] == ['{"value":\\n\\t"high"}']
    store.write_dead_letters(letters)
    assert store.dead_letters() == letters


# letters of several reasons and topics; two share a microsecond (one SenML pack)
LETTERS = [
    DeadLetter(to_epoch_us(T0), "campus/rfb/rfb-101/co2", "{", "unparseable", "bad JSON"),
    DeadLetter(to_epoch_us(T0) + 1, "campus/rfb/rfb-101/co2", "NaN", "not_finite", "NaN"),
    DeadLetter(to_epoch_us(T0) + MINUTE, "campus/x/y/co2", "1", "unknown_building", "no x"),
    DeadLetter(to_epoch_us(T0) + MINUTE, "campus/x/y/co2", "[]", "unparseable", "a list"),
    DeadLetter(to_epoch_us(T0) + 2 * MINUTE, "campus/r.b/a/co2", "2", "unknown_building", "."),
    DeadLetter(to_epoch_us(T0) + 3 * MINUTE, "campus/rxb/a/co2", "3", "unknown_building", "x"),
    DeadLetter(
        to_epoch_us(T0) + 4 * MINUTE,
        "campus/r\\b/'\"ø/co2",  # a backslash, quotes and a non-ASCII letter
        "\ufffd\ufffd binary",
        "bad_topic",
        "odd topic",
    ),
    DeadLetter(to_epoch_us(T0) + 5 * MINUTE, "campus/rfb/rfb-101/co2", "9e9", "out_of_range", "!"),
]


def newest_first(letters: list[DeadLetter]) -> list[DeadLetter]:
    return sorted(letters, key=lambda d: d.received_us, reverse=True)


def skip_without_strings(store) -> None:
    if store.backend == "influxdb-write":  # VictoriaMetrics keeps no strings
        pytest.skip("VictoriaMetrics keeps no strings; influxdb-read runs the same reads")


def test_dead_letters_come_newest_first_in_stable_pages(store):
    skip_without_strings(store)
    store.write_dead_letters(LETTERS)
    everything = store.dead_letters(limit=100)
    assert everything == sorted(everything, key=lambda d: d.received_us, reverse=True)
    assert sorted(everything, key=repr) == sorted(LETTERS, key=repr)
    assert store.count_dead_letters() == len(LETTERS)
    for size in (1, 3):  # the same-microsecond pair never splits into a skip or a repeat
        pages = [store.dead_letters(size, offset) for offset in range(0, len(LETTERS), size)]
        assert [d for page in pages for d in page] == everything
    assert store.dead_letters(3, offset=len(LETTERS)) == []


def test_dead_letters_filter_by_reason_time_and_topic_prefix(store):
    skip_without_strings(store)
    store.write_dead_letters(LETTERS)

    def read(**conditions) -> list[DeadLetter]:
        where = DeadLetterFilter(**conditions)
        letters = store.dead_letters(100, 0, where)
        assert store.count_dead_letters(where) == len(letters)
        return letters

    building = [d for d in LETTERS if d.reason == "unknown_building"]
    assert read(reason="unknown_building") == newest_first(building)
    assert read(reason="too_large") == []
    # half-open: since <= received < until
    window = read(since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3))
    assert window == newest_first(LETTERS[2:5])
    assert read(since=T0 + timedelta(minutes=5)) == [LETTERS[7]]
    assert read(until=T0 + timedelta(microseconds=1)) == [LETTERS[0]]
    # a prefix is text, not a pattern: '.' is a dot, '\\' and quotes are themselves
    assert read(topic_prefix="campus/r.b/") == [LETTERS[4]]
    assert read(topic_prefix="campus/r\\b/'\"ø") == [LETTERS[6]]
    assert read(topic_prefix="campus/rfb/") == newest_first([LETTERS[i] for i in (0, 1, 7)])
    assert read(topic_prefix="rfb") == []
    assert read(topic_prefix="campus/.*") == []
    assert read(reason="unparseable", topic_prefix="campus/x/") == [LETTERS[3]]
    assert read(reason="unparseable", since=T0 + timedelta(microseconds=1)) == [LETTERS[3]]


def test_submit_calls_back_once_durable(store):
    outcomes = []
    letter = DeadLetter(to_epoch_us(T0), "campus/rfb/nope/co2", "1", "unknown_sensor", "no space")
    store.submit(
        batch_of([(T0 + timedelta(minutes=i), "rfb", "rfb-102", "co2", 450.0) for i in range(5)]),
        [letter],
        lambda result, error: outcomes.append((result, error)),
    )
    settle = getattr(store, "flush", None)  # a batching backend calls back from its thread
    if settle is not None:
        settle()
    assert outcomes == [(WriteResult(5, 0), None)]
    assert store.count("co2") == 5


# -- rollups and retention ------------------------------------------------------------
def hourly_rows(hours: int, start: datetime = T0) -> list[RollupRow]:
    return [
        RollupRow(
            start + timedelta(hours=h),
            {"site": "elvebakken", "building": "rfb", "space": space},
            {"occupancy_mean": 10.0 * h + n, "co2_max": 800.0 + h},
        )
        for h in range(hours)
        for n, space in enumerate(("rfb-101", "rfb-102"))
    ]


def test_rollups_round_trip_filtered_by_tags(store):
    store.write_rollups("space_hourly", hourly_rows(3))
    rows = store.read_rollups("space_hourly", T0, T0 + timedelta(hours=2))
    assert [(r.ts, r.tags["space"], dict(r.fields)) for r in rows] == [
        (T0, "rfb-101", {"co2_max": 800.0, "occupancy_mean": 0.0}),
        (T0, "rfb-102", {"co2_max": 800.0, "occupancy_mean": 1.0}),
        (T0 + timedelta(hours=1), "rfb-101", {"co2_max": 801.0, "occupancy_mean": 10.0}),
        (T0 + timedelta(hours=1), "rfb-102", {"co2_max": 801.0, "occupancy_mean": 11.0}),
    ]
    assert dict(rows[0].tags) == {"site": "elvebakken", "building": "rfb", "space": "rfb-101"}
    only = store.read_rollups(
        "space_hourly", T0, T0 + timedelta(hours=3), {"space": "rfb-102", "building": "rfb"}
    )
    assert [r.fields["occupancy_mean"] for r in only] == [1.0, 11.0, 21.0]
    assert store.read_rollups("space_hourly", T0, T0 + timedelta(hours=3), {"space": "x"}) == []
    assert store.read_rollups("space_daily", T0, T0 + timedelta(hours=3)) == []


def test_rollups_are_overwritten_not_doubled(store):
    store.write_rollups("space_hourly", hourly_rows(2))
    recomputed = [
        RollupRow(r.ts, r.tags, {"occupancy_mean": 99.0, "co2_max": 900.0}) for r in hourly_rows(2)
    ]
    store.write_rollups("space_hourly", recomputed)
    rows = store.read_rollups("space_hourly", T0, T0 + timedelta(hours=2))
    assert len(rows) == 4
    assert {(r.fields["occupancy_mean"], r.fields["co2_max"]) for r in rows} == {(99.0, 900.0)}


def test_retention_drops_old_readings_and_keeps_rollups(store):
    store.write(
        batch_of(
            [
                (T0 - timedelta(hours=5) + timedelta(minutes=i), "rfb", "rfb-101", "co2", 1.0)
                for i in range(30)
            ]
            + [(T0 + timedelta(minutes=i), "rfb", "rfb-101", "co2", 2.0) for i in range(30)]
            + [(T0 - timedelta(hours=5), "rfb", "rfb-el", "energy", 3.0)]
        )
    )
    store.write_rollups("space_hourly", hourly_rows(2, start=T0 - timedelta(hours=5)))
    try:
        store.delete_readings_before(T0 - timedelta(hours=1))
    except RetentionNotSupported as exc:  # InfluxDB 3: retention is the database's setting
        pytest.skip(str(exc))  # live 3.x only; never reached on CI (1.6.7 and VM delete)
    assert store.count() == 30
    assert (
        store.read_series(
            "rfb-101", "co2", T0 - timedelta(days=1), T0 + timedelta(hours=1)
        ).values.tolist()
        == [2.0] * 30
    )
    assert len(store.read_rollups("space_hourly", T0 - timedelta(hours=6), T0)) == 4


# -- quality flags ----------------------------------------------------------------------
def test_quality_flags_are_replaced_per_window(store):
    flags = [
        QualityFlag("rfb-101", "co2", T0 + timedelta(minutes=5), "spike"),
        QualityFlag("rfb-101", "co2", T0 + timedelta(minutes=5), "range"),
        QualityFlag("rfb-102", "co2", T0 + timedelta(minutes=50), "stuck"),
        QualityFlag("rfb-el", "energy", T0 + timedelta(minutes=15), "register_decrease"),
        QualityFlag("rfb-101", "co2", T0 + timedelta(hours=2), "gap"),  # the next window
    ]
    store.write_quality_flags(T0, T0 + timedelta(hours=1), flags[:4])
    store.write_quality_flags(T0 + timedelta(hours=1), T0 + timedelta(hours=3), flags[4:])
    day = (T0 - timedelta(hours=1), T0 + timedelta(hours=5))

    def read(quantity: str, start: datetime, end: datetime, **kwargs) -> list[QualityFlag]:
        found = store.read_quality_flags(quantity, start, end, **kwargs)
        order = [(f.sensor, f.ts) for f in found]
        assert order == sorted(order)  # by sensor and time; two checks on one reading: any order
        return sorted(found, key=lambda f: (f.sensor, f.ts, f.check))

    assert read("co2", *day) == [flags[1], flags[0], flags[4], flags[2]]
    assert read("energy", *day) == [flags[3]]
    assert read("co2", *day, sensors=["rfb-102"]) == [flags[2]]
    assert read("co2", *day, sensors=[]) == []
    # a rerun of the checks over the first hour finds only the stuck sensor now
    store.write_quality_flags(T0, T0 + timedelta(hours=1), [flags[2]])
    assert read("co2", *day) == [flags[4], flags[2]]
    assert read("energy", *day) == []
    assert read("co2", T0, T0 + timedelta(minutes=50)) == []  # half-open


def test_healthy_when_the_server_answers(store):
    assert store.healthy()


# -- hostile input ---------------------------------------------------------------------
HOSTILE = [
    "rfb-101' OR '1'='1",
    'rfb-101" OR 1=1 --',
    "rfb-101\\",
    "rfb-101\\' OR 'a'='a",
    "rfb-101'; DROP MEASUREMENT co2; --",
    '"; DROP SERIES FROM /.*/; SELECT "',
    "rfb-101\n",
    "rfb-101\nDROP DATABASE x",
    'co2" OR "1"="1',
    'co2\\" OR time > 0 --',
    "/.*/",
]


@pytest.mark.parametrize("hostile", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_identifiers_are_only_data(co2_hour, hostile):
    end = T0 + timedelta(hours=1)
    co2_hour.write_rollups("space_hourly", hourly_rows(1))
    assert len(co2_hour.read_series(hostile, "co2", T0, end)) == 0
    assert len(co2_hour.read_series("rfb-101", hostile, T0, end)) == 0
    assert len(co2_hour.read_series(hostile, "co2", T0, end, every=timedelta(minutes=5))) == 0
    assert co2_hour.read_resampled(hostile, T0, end, timedelta(hours=1)) == {}
    assert co2_hour.read_resampled("co2", T0, end, timedelta(hours=1), sensors=[hostile]) == {}
    assert co2_hour.latest(hostile) == []
    assert co2_hour.count(hostile) == 0
    assert co2_hour.read_rollups(hostile, T0, end) == []
    assert co2_hour.read_rollups("space_hourly", T0, end, {"space": hostile}) == []
    assert co2_hour.read_rollups("space_hourly", T0, end, {hostile: "rfb-101"}) == []
    assert co2_hour.read_quality_flags(hostile, T0, end) == []
    assert co2_hour.read_quality_flags("co2", T0, end, sensors=[hostile]) == []
    # nothing was changed or dropped
    assert co2_hour.count() == 60
    assert len(co2_hour.read_series("rfb-101", "co2", T0, end)) == 60
    assert len(co2_hour.read_rollups("space_hourly", T0, end)) == 2


# -- DuckDB's own ----------------------------------------------------------------------
def test_store_survives_reopen(tmp_path: Path):
    path = tmp_path / "reopen.duckdb"
    first = DuckDBStore(path)
    first.write(batch_of([(T0, "rfb", "rfb-101", "co2", 1.0)]))
    first.close()
    again = DuckDBStore(path)
    assert again.count() == 1
    again.close()


def test_a_second_process_gets_a_clear_error(tmp_path: Path):
    import subprocess
    import sys

    path = tmp_path / "locked.duckdb"
    holder = DuckDBStore(path)
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                f"from campuslab.core.store.duckdb import DuckDBStore;DuckDBStore({str(path)!r})",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0
        assert "another CampusLab process" in result.stderr
        assert StoreLockedError.__name__ in result.stderr
    finally:
        holder.close()


# -- ids as the campus writes them ---------------------------------------------------------

CAMPUS_CODES = Path(__file__).parent / "data" / "campus_codes.yaml"


@pytest.fixture(params=ALL_BACKENDS)
def codes_store(request, tmp_path: Path) -> ReadingStore:
    """A store for the campus of tests/data/campus_codes.yaml (HB-101, EL5, A2.14, A2x14)."""
    yield from _backend(request, tmp_path, load_campus(CAMPUS_CODES))


def test_dotted_and_upper_case_ids_are_matched_exactly(codes_store):
    """A2.14 and A2x14 are two rooms: a '.' is never a wildcard, and case is kept."""
    codes_store.write(
        batch_of(
            [(T0 + timedelta(minutes=m), "HB", "A2.14", "co2", 600.0 + m) for m in range(3)]
            + [(T0 + timedelta(minutes=m), "HB", "A2x14", "co2", 900.0 + m) for m in range(3)]
            + [(T0 + timedelta(minutes=m), "HB", "HB-101", "co2", 450.0) for m in range(3)]
            + [(T0 + timedelta(minutes=m), "EL", "EL.el", "energy", 10.0 + m) for m in range(3)]
        )
    )
    end = T0 + timedelta(hours=1)
    assert codes_store.read_series("A2.14", "co2", T0, end).values.tolist() == [600, 601, 602]
    assert codes_store.read_series("A2x14", "co2", T0, end).values.tolist() == [900, 901, 902]
    assert codes_store.read_series("a2.14", "co2", T0, end).values.tolist() == []
    assert codes_store.read_series("hb-101", "co2", T0, end).values.tolist() == []
    assert codes_store.read_series("EL.el", "energy", T0, end).values.tolist() == [10, 11, 12]
    hourly = codes_store.read_resampled("co2", T0, end, timedelta(hours=1), sensors=["A2.14"])
    assert {k: v.values.tolist() for k, v in hourly.items()} == {"A2.14": [601.0]}
    every = codes_store.read_resampled("co2", T0, end, timedelta(hours=1))
    assert sorted(every) == ["A2.14", "A2x14", "HB-101"]
    latest = {(r.building, r.sensor, r.quantity): r.value for r in codes_store.latest()}
    assert latest == {
        ("HB", "A2.14", "co2"): 602.0,
        ("HB", "A2x14", "co2"): 902.0,
        ("HB", "HB-101", "co2"): 450.0,
        ("EL", "EL.el", "energy"): 12.0,
    }
    codes_store.write_rollups(
        "space_hourly",
        [
            RollupRow(T0, {"building": "HB", "space": "A2.14"}, {"occupancy_mean": 12.0}),
            RollupRow(T0, {"building": "HB", "space": "A2x14"}, {"occupancy_mean": 3.0}),
        ],
    )
    rows = codes_store.read_rollups("space_hourly", T0, end, {"space": "A2.14"})
    assert [(dict(r.tags), dict(r.fields)) for r in rows] == [
        ({"building": "HB", "space": "A2.14"}, {"occupancy_mean": 12.0})
    ]
