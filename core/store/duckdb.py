"""The embedded store: DuckDB in one file under the data directory.

DuckDB lets one process hold the file open for writing, and then no other
process can open it at all; that is why ingest and API share a process in
embedded mode (ARCHITECTURE.md).

Writes go in as one Arrow table per batch through ``INSERT ... SELECT``, never
row by row. Idempotence comes from an anti-join against the rows already
stored in the batch's time window, not from a primary-key index: an index on
(sensor, quantity, ts) would have to stay in memory and grows with the
history, while the anti-join only touches the row groups whose zone maps
overlap the batch's time window, which for live data is the newest few.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from campuslab.core.readings import DeadLetter, LatestReading, ReadingBatch, Series
from campuslab.core.store.port import (
    Aggregate,
    DeadLetterFilter,
    DurableCallback,
    QualityFlag,
    RollupRow,
    TooManyPoints,
    WriteResult,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    ts        TIMESTAMP NOT NULL,   -- UTC
    building  VARCHAR   NOT NULL,
    sensor    VARCHAR   NOT NULL,   -- space id or meter id
    quantity  VARCHAR   NOT NULL,
    value     DOUBLE    NOT NULL    -- canonical unit of the quantity
);
-- Newest reading per (sensor, quantity), kept in the same transaction as the
-- insert so the overview page does not scan the whole history.
CREATE TABLE IF NOT EXISTS latest (
    sensor    VARCHAR   NOT NULL,
    quantity  VARCHAR   NOT NULL,
    building  VARCHAR   NOT NULL,
    ts        TIMESTAMP NOT NULL,
    value     DOUBLE    NOT NULL,
    PRIMARY KEY (sensor, quantity)
);
-- Derived measurements (space_hourly, space_weekhour, space_daily, building_daily). Identity is
-- (measurement, tag_key, ts); a recomputation replaces the row.
CREATE TABLE IF NOT EXISTS rollups (
    measurement VARCHAR   NOT NULL,
    ts          TIMESTAMP NOT NULL,
    tag_key     VARCHAR   NOT NULL,   -- canonical "k=v,k=v", sorted by key
    tags        JSON      NOT NULL,
    fields      JSON      NOT NULL
);
CREATE TABLE IF NOT EXISTS quality_flags (
    sensor    VARCHAR   NOT NULL,
    quantity  VARCHAR   NOT NULL,
    ts        TIMESTAMP NOT NULL,
    "check"   VARCHAR   NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    received_at TIMESTAMP NOT NULL,
    topic       VARCHAR   NOT NULL,
    payload     VARCHAR   NOT NULL,
    reason      VARCHAR   NOT NULL,
    detail      VARCHAR   NOT NULL
);
"""

_INSERT_NEW = """
INSERT INTO readings
SELECT b.ts, b.building, b.sensor, b.quantity, b.value
FROM (SELECT DISTINCT ON (sensor, quantity, ts) * FROM incoming) AS b
ANTI JOIN (
    SELECT sensor, quantity, ts FROM readings WHERE ts BETWEEN $first AND $last
) AS r USING (sensor, quantity, ts)
"""

# bulk_load: whether anything is stored in the batch's window yet (zone maps make it cheap)
_WINDOW_HAS_READINGS = """
SELECT count(*) FROM (SELECT 1 FROM readings WHERE ts BETWEEN $first AND $last LIMIT 1)
"""

_INSERT_ALL = """
INSERT INTO readings SELECT ts, building, sensor, quantity, value FROM incoming
"""

# Dead letters with a fixed identity (received_at, topic), such as an import's rows: a
# letter already kept is not kept again, so a resumed import adds none twice.
_INSERT_NEW_LETTERS = """
INSERT INTO dead_letters
SELECT l.* FROM letters AS l
ANTI JOIN (
    SELECT received_at, topic FROM dead_letters WHERE received_at BETWEEN $first AND $last
) AS d USING (received_at, topic)
"""

_UPSERT_LATEST = """
INSERT INTO latest
SELECT sensor, quantity, arg_max(building, ts), max(ts), arg_max(value, ts)
FROM incoming GROUP BY sensor, quantity
ON CONFLICT (sensor, quantity) DO UPDATE
SET building = excluded.building, ts = excluded.ts, value = excluded.value
WHERE excluded.ts >= latest.ts
"""

_AGGREGATES = {Aggregate.MEAN: "avg", Aggregate.MAX: "max", Aggregate.MIN: "min"}
_EPOCH = datetime(1970, 1, 1)


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _series(columns: dict[str, np.ndarray]) -> Series:
    return Series(columns["ts"].astype("datetime64[us]"), columns["value"].astype(np.float64))


class DuckDBStore:
    """ReadingStore backed by one DuckDB file. Safe to share between threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._root = duckdb.connect(str(self.path))
        except duckdb.IOException as exc:
            raise StoreLockedError(self.path, exc) from None
        self._root.execute("SET TimeZone = 'UTC'")
        # DuckDB draws its own progress bar on stdout for long queries (its cursors inherit
        # this); the CLI has Rich bars and a server's stdout is its log, so never.
        self._root.execute("SET enable_progress_bar = false")
        self._root.execute(_SCHEMA)
        self._local = threading.local()
        self._write_lock = threading.Lock()

    def limit_memory(self, limit: str) -> None:
        """Cap DuckDB's buffer pool (e.g. ``"256MB"``): a long import keeps its RSS bounded
        instead of caching the blocks it wrote (DuckDB's default is 80% of RAM)."""
        megabytes = int(limit.upper().removesuffix("MB"))
        self._root.execute(f"SET memory_limit = '{megabytes}MB'")

    # -- connections -------------------------------------------------------
    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._root.cursor()
            self._local.cursor = cursor
        return cursor

    # -- writes ------------------------------------------------------------
    def write(self, batch: ReadingBatch) -> WriteResult:
        if not len(batch):
            return WriteResult(0, 0)
        incoming = pa.table(
            {
                "ts": pa.array(batch.ts_us, pa.int64()).cast(pa.timestamp("us")),
                "building": pa.array(batch.building, pa.string()),
                "sensor": pa.array(batch.sensor, pa.string()),
                "quantity": pa.array(batch.quantity, pa.string()),
                "value": pa.array(batch.value, pa.float64()),
            }
        )
        first = _EPOCH + timedelta(microseconds=min(batch.ts_us))
        last = _EPOCH + timedelta(microseconds=max(batch.ts_us))
        con = self._cursor()
        with self._write_lock:
            con.register("incoming", incoming)
            try:
                con.execute("BEGIN TRANSACTION")
                stored = con.execute(_INSERT_NEW, {"first": first, "last": last}).fetchall()[0][0]
                con.execute(_UPSERT_LATEST)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            finally:
                con.unregister("incoming")
        return WriteResult(stored=int(stored), duplicates=len(batch) - int(stored))

    def bulk_load(self, readings: pa.Table) -> WriteResult:
        """Load a large columnar batch of readings: backfills (``campuslab simulate --direct``).

        Not part of the store port; ``write`` stays the path for ingest. The batch is one
        Arrow table with the columns of ``readings`` (``ts`` as ``timestamp[us]`` UTC,
        ``building``, ``sensor``, ``quantity`` as strings or dictionary-encoded strings,
        ``value`` as float64), and must not hold the same (sensor, quantity, ts) twice.

        Same guarantees as ``write`` (durable on return, idempotent, ``latest`` kept), at a
        lower cost when nothing is stored yet in the batch's time window, the normal case
        of a backfill: then the rows go in with one plain ``INSERT ... SELECT`` and the
        anti-join dedupe is skipped. Otherwise (a re-run, an overlap with ingested data)
        the batch goes through the same anti-join as ``write``.
        """
        rows = readings.num_rows
        if not rows:
            return WriteResult(0, 0)
        bounds = pc.min_max(readings.column("ts"))
        first, last = bounds["min"].as_py(), bounds["max"].as_py()
        con = self._cursor()
        with self._write_lock:
            con.register("incoming", readings)
            try:
                con.execute("BEGIN TRANSACTION")
                occupied = con.execute(_WINDOW_HAS_READINGS, {"first": first, "last": last})
                if occupied.fetchall()[0][0]:
                    sql = _INSERT_NEW
                    params: dict[str, object] | None = {"first": first, "last": last}
                else:
                    sql, params = _INSERT_ALL, None
                stored = con.execute(sql, params).fetchall()[0][0]
                con.execute(_UPSERT_LATEST)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            finally:
                con.unregister("incoming")
        return WriteResult(stored=int(stored), duplicates=rows - int(stored))

    def write_arrow(self, readings: pa.Table, dead_letters: pa.Table | None = None) -> WriteResult:
        """Store a columnar batch and its dead letters in one transaction (``ArrowWriter``).

        ``bulk_load`` (a plain insert into an empty time window, the anti-join otherwise),
        with the dead letters committed in the same transaction: a crash leaves both or
        neither. A letter whose (received_at, topic) is kept already is skipped, so a
        rerun of the same rows keeps each letter once.
        """
        rows = readings.num_rows
        letters = dead_letters if dead_letters is not None and dead_letters.num_rows else None
        if not rows and letters is None:
            return WriteResult(0, 0)
        con = self._cursor()
        stored = 0
        with self._write_lock:
            con.register("incoming", readings)
            if letters is not None:
                con.register("letters", letters)
            try:
                con.execute("BEGIN TRANSACTION")
                if rows:
                    stored = self._insert_arrow(con, readings)
                if letters is not None:
                    span = pc.min_max(letters.column("received_at"))
                    con.execute(
                        _INSERT_NEW_LETTERS,
                        {"first": span["min"].as_py(), "last": span["max"].as_py()},
                    )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            finally:
                con.unregister("incoming")
                if letters is not None:
                    con.unregister("letters")
        return WriteResult(stored=stored, duplicates=rows - stored)

    @staticmethod
    def _insert_arrow(con: duckdb.DuckDBPyConnection, readings: pa.Table) -> int:
        bounds = pc.min_max(readings.column("ts"))
        window = {"first": bounds["min"].as_py(), "last": bounds["max"].as_py()}
        occupied = con.execute(_WINDOW_HAS_READINGS, window).fetchall()[0][0]
        if occupied:
            stored = con.execute(_INSERT_NEW, window).fetchall()[0][0]
        else:
            stored = con.execute(_INSERT_ALL).fetchall()[0][0]
        con.execute(_UPSERT_LATEST)
        return int(stored)

    def submit(
        self, batch: ReadingBatch, dead_letters: Sequence[DeadLetter], on_durable: DurableCallback
    ) -> None:
        """Synchronous: durable before it returns, then calls back on this thread."""
        try:
            result = self.write(batch)
            self.write_dead_letters(dead_letters)
        except Exception as exc:  # the caller decides: retry, and acknowledge nothing
            on_durable(None, exc)
            return
        on_durable(result, None)

    def healthy(self) -> bool:
        return True

    def write_rollups(self, measurement: str, rows: Sequence[RollupRow]) -> None:
        if not rows:
            return
        table = pa.table(
            {
                "measurement": [measurement] * len(rows),
                "ts": [_naive_utc(r.ts) for r in rows],
                "tag_key": [tag_key(r.tags) for r in rows],
                "tags": [json.dumps(dict(r.tags), sort_keys=True) for r in rows],
                "fields": [json.dumps(dict(r.fields), sort_keys=True) for r in rows],
            }
        )
        con = self._cursor()
        with self._write_lock:
            con.register("incoming_rollups", table)
            try:
                con.execute("BEGIN TRANSACTION")
                con.execute(
                    "DELETE FROM rollups WHERE measurement = $m AND (tag_key, ts) IN "
                    "(SELECT tag_key, ts FROM incoming_rollups)",
                    {"m": measurement},
                )
                con.execute(
                    "INSERT INTO rollups SELECT measurement, ts, tag_key, tags::JSON, "
                    "fields::JSON FROM incoming_rollups"
                )
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            finally:
                con.unregister("incoming_rollups")

    def read_rollups(
        self,
        measurement: str,
        start: datetime,
        end: datetime,
        tags: Mapping[str, str] | None = None,
    ) -> list[RollupRow]:
        sql = (
            "SELECT ts, tags, fields FROM rollups WHERE measurement = $m "
            "AND ts >= $start AND ts < $end"
        )
        params: dict[str, object] = {
            "m": measurement,
            "start": _naive_utc(start),
            "end": _naive_utc(end),
        }
        for i, (key, value) in enumerate(sorted((tags or {}).items())):
            sql += f" AND json_extract_string(tags, $k{i}) = $v{i}"
            params[f"k{i}"] = "$." + json.dumps(key)
            params[f"v{i}"] = value
        rows = self._cursor().execute(sql + " ORDER BY ts, tag_key", params).fetchall()
        return [
            RollupRow(ts.replace(tzinfo=UTC), json.loads(t), json.loads(f)) for ts, t, f in rows
        ]

    def write_quality_flags(
        self, start: datetime, end: datetime, flags: Sequence[QualityFlag]
    ) -> None:
        table = pa.table(
            {
                "sensor": pa.array([f.sensor for f in flags], pa.string()),
                "quantity": pa.array([f.quantity for f in flags], pa.string()),
                "ts": pa.array([_naive_utc(f.ts) for f in flags], pa.timestamp("us")),
                "check": pa.array([f.check for f in flags], pa.string()),
            }
        )
        con = self._cursor()
        with self._write_lock:
            con.register("incoming_flags", table)
            try:
                con.execute("BEGIN TRANSACTION")
                con.execute(
                    "DELETE FROM quality_flags WHERE ts >= ? AND ts < ?",
                    [_naive_utc(start), _naive_utc(end)],
                )
                con.execute("INSERT INTO quality_flags SELECT * FROM incoming_flags")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            finally:
                con.unregister("incoming_flags")

    def read_quality_flags(
        self, quantity: str, start: datetime, end: datetime, sensors: Sequence[str] | None = None
    ) -> list[QualityFlag]:
        sql = (
            'SELECT sensor, quantity, ts, "check" FROM quality_flags WHERE quantity = $q '
            "AND ts >= $start AND ts < $end"
        )
        params: dict[str, object] = {
            "q": quantity,
            "start": _naive_utc(start),
            "end": _naive_utc(end),
        }
        if sensors is not None:
            sql += " AND list_contains($sensors, sensor)"
            params["sensors"] = list(sensors)
        rows = self._cursor().execute(sql + " ORDER BY sensor, ts", params).fetchall()
        return [QualityFlag(s, q, ts.replace(tzinfo=UTC), c) for s, q, ts, c in rows]

    def delete_readings_before(self, cutoff: datetime) -> None:
        with self._write_lock:
            self._cursor().execute("DELETE FROM readings WHERE ts < ?", [_naive_utc(cutoff)])

    def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        table = _letters_table(letters)
        con = self._cursor()
        with self._write_lock:
            con.register("letters", table)
            try:
                con.execute("INSERT INTO dead_letters SELECT * FROM letters")
            finally:
                con.unregister("letters")

    # -- reads -------------------------------------------------------------
    def read_series(
        self,
        sensor: str,
        quantity: str,
        start: datetime,
        end: datetime,
        every: timedelta | None = None,
        aggregate: Aggregate = Aggregate.MEAN,
        limit: int | None = None,
    ) -> Series:
        params = {
            "sensor": sensor,
            "quantity": quantity,
            "start": _naive_utc(start),
            "end": _naive_utc(end),
        }
        where = "sensor = $sensor AND quantity = $quantity AND ts >= $start AND ts < $end"
        if every is None:
            sql = f"SELECT ts, value FROM readings WHERE {where} ORDER BY ts"
        else:
            params["every_us"] = _microseconds(every)
            sql = (
                f"SELECT {_bucket('ts')} AS ts, {_AGGREGATES[Aggregate(aggregate)]}(value) "
                f"AS value FROM readings WHERE {where} GROUP BY 1 ORDER BY 1"
            )
        if limit is not None:
            sql += f" LIMIT {int(limit) + 1}"
        columns = self._cursor().execute(sql, params).fetchnumpy()
        if limit is not None and len(columns["value"]) > limit:
            raise TooManyPoints(limit)
        return _series(columns)

    def read_resampled(
        self,
        quantity: str,
        start: datetime,
        end: datetime,
        every: timedelta,
        aggregate: Aggregate = Aggregate.MEAN,
        sensors: Sequence[str] | None = None,
    ) -> dict[str, Series]:
        params: dict[str, object] = {
            "quantity": quantity,
            "start": _naive_utc(start),
            "end": _naive_utc(end),
            "every_us": _microseconds(every),
        }
        where = "quantity = $quantity AND ts >= $start AND ts < $end"
        if sensors is not None:
            params["sensors"] = list(sensors)
            where += " AND list_contains($sensors, sensor)"
        sql = (
            f"SELECT sensor, {_bucket('ts')} AS ts, "
            f"{_AGGREGATES[Aggregate(aggregate)]}(value) AS value "
            f"FROM readings WHERE {where} GROUP BY ALL ORDER BY sensor, ts"
        )
        columns = self._cursor().execute(sql, params).fetchnumpy()
        return _split_by_sensor(columns)

    def write_parquet(self, rows: pa.RecordBatchReader, path: Path) -> int:
        """Export rows to Parquet with DuckDB's ``COPY`` (ARCHITECTURE.md), streaming.

        ``rows`` are protected export rows built from this store's readings; the copy
        runs on a private in-memory connection with one thread and a memory cap, so
        it neither takes the store's write lock nor holds the file in memory.
        """
        return copy_to_parquet(rows, path)

    def latest(self, quantity: str | None = None) -> list[LatestReading]:
        sql = "SELECT building, sensor, quantity, ts, value FROM latest"
        params: list[object] = []
        if quantity is not None:
            sql += " WHERE quantity = ?"
            params.append(quantity)
        rows = self._cursor().execute(sql + " ORDER BY sensor, quantity", params).fetchall()
        return [LatestReading(b, s, q, ts.replace(tzinfo=UTC), v) for b, s, q, ts, v in rows]

    def count(self, quantity: str | None = None) -> int:
        # fetchall, not fetchone: DuckDB refuses new work on a cursor with a half-read result
        if quantity is None:
            return int(self._cursor().execute("SELECT count(*) FROM readings").fetchall()[0][0])
        return int(
            self._cursor()
            .execute("SELECT count(*) FROM readings WHERE quantity = ?", [quantity])
            .fetchall()[0][0]
        )

    def dead_letters(
        self, limit: int = 100, offset: int = 0, where: DeadLetterFilter | None = None
    ) -> list[DeadLetter]:
        condition, params = _dead_letter_condition(where)
        params.update(limit=int(limit), offset=int(offset))
        rows = (
            self._cursor()
            .execute(
                "SELECT epoch_us(received_at), topic, payload, reason, detail FROM dead_letters "
                f"WHERE {condition} "
                # every column after the time: letters of one microsecond keep one order
                "ORDER BY received_at DESC, reason, topic, detail, payload "
                "LIMIT $limit OFFSET $offset",
                params,
            )
            .fetchall()
        )
        return [DeadLetter(*row) for row in rows]

    def count_dead_letters(self, where: DeadLetterFilter | None = None) -> int:
        condition, params = _dead_letter_condition(where)
        sql = f"SELECT count(*) FROM dead_letters WHERE {condition}"
        return int(self._cursor().execute(sql, params).fetchall()[0][0])

    def close(self) -> None:
        cursor = getattr(self._local, "cursor", None)
        if cursor is not None:
            cursor.close()
        self._root.close()


def _dead_letter_condition(where: DeadLetterFilter | None) -> tuple[str, dict[str, object]]:
    """The SQL condition (with its named parameters) of a dead-letter filter."""
    where = where or DeadLetterFilter()
    conditions: list[str] = ["TRUE"]
    params: dict[str, object] = {}
    if where.reason is not None:
        conditions.append("reason = $reason")
        params["reason"] = where.reason
    if where.since is not None:
        conditions.append("received_at >= $since")
        params["since"] = _naive_utc(where.since)
    if where.until is not None:
        conditions.append("received_at < $until")
        params["until"] = _naive_utc(where.until)
    if where.topic_prefix is not None:
        conditions.append("starts_with(topic, $topic_prefix)")
        params["topic_prefix"] = where.topic_prefix
    return " AND ".join(conditions), params


def _letters_table(letters: Sequence[DeadLetter]) -> pa.Table:
    return pa.table(
        {
            "received_at": pa.array([d.received_us for d in letters], pa.int64()).cast(
                pa.timestamp("us")
            ),
            "topic": pa.array([d.topic for d in letters], pa.string()),
            "payload": pa.array([d.payload for d in letters], pa.string()),
            "reason": pa.array([d.reason for d in letters], pa.string()),
            "detail": pa.array([d.detail for d in letters], pa.string()),
        }
    )


class StoreLockedError(RuntimeError):
    """The DuckDB file is held by another process."""

    def __init__(self, path: Path, cause: Exception) -> None:
        super().__init__(
            f"cannot open the store {path}: another CampusLab process is probably using it "
            f"(DuckDB allows one process per file). Stop it, or pick another --data-dir. "
            f"DuckDB said: {cause}"
        )


def tag_key(tags: Mapping[str, str]) -> str:
    """Canonical identity of a tag set: sorted ``k=v`` pairs."""
    return ",".join(f"{k}={tags[k]}" for k in sorted(tags))


def _microseconds(every: timedelta) -> int:
    us = every // timedelta(microseconds=1)
    if us <= 0:
        raise ValueError("resampling interval must be positive")
    return us


def _bucket(column: str) -> str:
    return f"time_bucket(to_microseconds($every_us), {column}, TIMESTAMP '1970-01-01')"


def _split_by_sensor(columns: dict[str, np.ndarray]) -> dict[str, Series]:
    sensors = columns["sensor"]
    if len(sensors) == 0:
        return {}
    sensors = np.asarray(sensors, dtype=object)
    boundaries = np.flatnonzero(sensors[1:] != sensors[:-1]) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [len(sensors)]))
    ts = columns["ts"].astype("datetime64[us]")
    values = columns["value"].astype(np.float64)
    return {
        str(sensors[a]): Series(ts[a:b], values[a:b]) for a, b in zip(starts, ends, strict=True)
    }


def copy_to_parquet(rows: pa.RecordBatchReader, path: Path, memory_limit: str = "256MB") -> int:
    """Stream an Arrow record-batch reader into a new Parquet file with ``COPY ... TO``.

    DuckDB pulls the batches one at a time; with one thread and a memory limit it
    keeps a row group or two in memory however long the stream is.
    """
    target = str(Path(path))
    con = duckdb.connect(config={"threads": 1, "memory_limit": memory_limit})
    try:
        con.execute("SET enable_progress_bar = false")
        con.register("export_rows", rows)
        quoted = target.replace("'", "''")
        written = con.execute(
            f"COPY export_rows TO '{quoted}' (FORMAT parquet, COMPRESSION zstd)"
        ).fetchall()
        return int(written[0][0])
    finally:
        con.close()
