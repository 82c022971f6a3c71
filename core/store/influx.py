"""The full-stack store: InfluxDB, written through influxdb-client, read with InfluxQL.

Writes (ARCHITECTURE.md, "Time-series store, full stack") go through
influxdb-client's batching ``WriteApi``: it merges lines from many batches into
requests of up to ``batch_size`` lines (or whatever has come in after
``flush_interval_ms``), retries with exponential backoff, and reports each
request through its success, error and retry callbacks. Those callbacks only
carry the request body, so a submitted batch is followed by its *content*: every
pending line maps to the batches waiting for it, each batch counts the lines it
still waits for, and a batch is called back durable when that count reaches zero.
A line is settled when the server acknowledged a request holding it, or when it
was appended to the local spool and fsync'd (``spool.py``) after the retries ran
out. When even the spool cannot take it (full), the batch is called back with
``SpoolFull`` and the caller must not acknowledge its messages.

Once a request's retries have run out, the server counts as down: new batches
go straight to the spool, and requests still retrying stop at their next retry
(the retry callback raises), so a long outage does not stack batches behind
minutes of backoff. A monitor thread pings the server every
``health_interval_s``; when it answers, writes go to the WriteApi again and the
spool is replayed.

Reads are InfluxQL over ``/query`` (influxdb-client has no InfluxQL call),
which InfluxDB 1.x serves natively, 2.4+ through virtual DBRP mappings named
after the bucket, and 3.x as well. Nothing a caller passes is pasted into query
text: identifiers are double-quoted and escaped, strings single-quoted and
escaped, times and durations are integers this module formats itself.

Duplicates: a point with the same measurement, tags and timestamp overwrites
the stored one, so InfluxDB itself keeps a redelivered reading once. Asking it
whether a point is already there would take a read per write, so the store
remembers instead (``RecentReadings``): the identities (sensor, quantity,
timestamp) of the last ``recent_keys`` readings it made durable. A reading whose
identity is remembered, or that repeats an earlier one of its own batch, is a
duplicate: counted in ``WriteResult.duplicates``, not sent again, and left out
of ``WriteResult.stored``. A line still on its way to the server is not sent a
second time either: a later batch holding it waits for that one copy. Whether a
reading counts as stored is decided when its batch is durable, so of two batches
holding it exactly one counts it, and a batch that fails counts nothing.

What the memory cannot see is counted as stored again (and written again, which
InfluxDB absorbs): a repeat of a reading older than the newest ``recent_keys``
identities, a repeat after the process restarted (the memory is not kept), and,
with a shared subscription, a repeat that the broker hands to another ingestor
than the first copy (a publisher's re-send, or a redelivery after a member's
session ended), whose memory is its own. core/store/README.md, "Duplicates".
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import numpy as np
import pyarrow as pa
from influxdb_client import InfluxDBClient, WriteOptions
from influxdb_client.domain.write_precision import WritePrecision
from reactivex.scheduler import ThreadPoolScheduler

from campuslab.core.quantities import QUANTITIES
from campuslab.core.readings import (
    DeadLetter,
    LatestReading,
    ReadingBatch,
    Series,
    from_epoch_us,
    isoformat_utc,
    to_epoch_us,
)
from campuslab.core.registry import Campus
from campuslab.core.store.line_protocol import (
    DEAD_LETTER_MEASUREMENT,
    LineProtocolEncoder,
    tag_string,
)
from campuslab.core.store.port import (
    Aggregate,
    DeadLetterFilter,
    DurableCallback,
    QualityFlag,
    RollupRow,
    TooManyPoints,
    WriteResult,
)
from campuslab.core.store.spool import Spool, SpoolFull

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

log = logging.getLogger(__name__)

MIB = 1024 * 1024
QUALITY_FLAG_MEASUREMENT = "quality_flags"
_AGGREGATES = {Aggregate.MEAN: "mean", Aggregate.MAX: "max", Aggregate.MIN: "min"}
_DURATION_UNITS = (
    ("w", 604_800_000_000),
    ("d", 86_400_000_000),
    ("h", 3_600_000_000),
    ("m", 60_000_000),
    ("s", 1_000_000),
    ("ms", 1_000),
    ("u", 1),
)


# -- configuration ----------------------------------------------------------
@dataclass(frozen=True)
class InfluxConfig:
    """Where and how to reach InfluxDB (1.8+, 2.4+ or 3.x).

    Auth: ``token`` is sent as ``Authorization: Token <token>``. Without a token,
    ``username``/``password`` are sent as the token ``user:password`` on writes
    (InfluxDB 1.8's v2-compatible write) and as basic auth on ``/query``.
    ``bucket`` is the bucket on 2.x/3.x, and the database on 1.x (``db/rp`` picks
    a retention policy).
    """

    url: str = "http://localhost:8086"
    token: str | None = None
    username: str | None = None
    password: str | None = None
    org: str = "campuslab"
    bucket: str = "campuslab"
    # WriteApi batching and retries (influxdb-client's WriteOptions, in ms)
    batch_size: int = 5000
    flush_interval_ms: int = 200
    max_retries: int = 5
    retry_interval_ms: int = 1000
    max_retry_delay_ms: int = 30_000
    exponential_base: int = 2
    jitter_interval_ms: int = 200
    max_retry_time_ms: int = 60_000
    write_timeout_ms: int = 10_000  # one write request
    # Lines per WriteApi record. The WriteApi pays ~6 us of reactivex work per record:
    # records of up to 100 lines write ~3x faster (bench/influx_write.py). A request
    # holds up to batch_size // record_lines records, so never more than batch_size
    # lines. 1: every line its own record, requests of exactly batch_size lines.
    record_lines: int = 100
    # local spool for lines the retries could not deliver; None: no spool
    spool_dir: Path | None = None
    spool_max_bytes: int = 512 * MIB
    spool_segment_bytes: int = 16 * MIB
    replay_chunk_lines: int = 5000
    health_interval_s: float = 5.0  # how often the server is pinged (and the spool replayed)
    query_timeout_s: float = 30.0
    latest_lookback: timedelta = timedelta(days=7)  # ``latest`` looks no further back
    query_url: str | None = None  # where /query goes when not ``url`` (a query node, replica)
    # Identities of recently stored readings kept to recognise repeats across batches
    # (RecentReadings): about 80 bytes each, so the default holds at most ~80 MB.
    # 0: recognise repeats within a batch only.
    recent_keys: int = 1_000_000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> InfluxConfig:
        """Read ``CAMPUSLAB_INFLUX_URL`` (default http://localhost:8086), ``_TOKEN``,
        ``_USERNAME``, ``_PASSWORD``, ``_ORG``, ``_BUCKET``, ``_QUERY_URL``,
        ``CAMPUSLAB_SPOOL_DIR`` and the numbers in ``ENV_NUMBERS`` (batching, retries,
        spool cap, memory of recent readings); unset or empty variables keep the
        defaults. A number that is not one, or is out of range, raises ValueError
        naming the variable."""
        env = os.environ if environ is None else environ
        spool = env.get("CAMPUSLAB_SPOOL_DIR")
        numbers = {
            name: _env_number(env, variable, kind, least)
            for variable, (name, kind, least) in ENV_NUMBERS.items()
            if env.get(variable, "").strip()
        }
        return cls(
            url=env.get("CAMPUSLAB_INFLUX_URL") or cls.url,
            query_url=env.get("CAMPUSLAB_INFLUX_QUERY_URL") or None,
            token=env.get("CAMPUSLAB_INFLUX_TOKEN") or None,
            username=env.get("CAMPUSLAB_INFLUX_USERNAME") or None,
            password=env.get("CAMPUSLAB_INFLUX_PASSWORD") or None,
            org=env.get("CAMPUSLAB_INFLUX_ORG") or cls.org,
            bucket=env.get("CAMPUSLAB_INFLUX_BUCKET") or cls.bucket,
            spool_dir=Path(spool) if spool else None,
            **numbers,
        )

    def __post_init__(self) -> None:
        for name in ("batch_size", "record_lines", "spool_max_bytes", "replay_chunk_lines"):
            if getattr(self, name) < 1:
                raise ValueError(f"InfluxConfig.{name} must be at least 1")
        if self.flush_interval_ms < 0 or self.max_retries < 0 or self.health_interval_s <= 0:
            raise ValueError("InfluxConfig: intervals and retries must not be negative")
        if self.recent_keys < 0:
            raise ValueError("InfluxConfig.recent_keys must not be negative")

    @property
    def write_token(self) -> str | None:
        if self.token:
            return self.token
        if self.username:
            return f"{self.username}:{self.password or ''}"
        return None

    @property
    def database(self) -> str:
        return self.bucket.split("/", 1)[0]

    @property
    def retention_policy(self) -> str | None:
        parts = self.bucket.split("/", 1)
        return parts[1] if len(parts) == 2 and parts[1] else None


# Optional numeric settings from the environment: variable -> (field, type, least value).
ENV_NUMBERS: dict[str, tuple[str, type, float]] = {
    "CAMPUSLAB_INFLUX_BATCH_SIZE": ("batch_size", int, 1),
    "CAMPUSLAB_INFLUX_FLUSH_MS": ("flush_interval_ms", int, 0),
    "CAMPUSLAB_INFLUX_MAX_RETRIES": ("max_retries", int, 0),
    "CAMPUSLAB_INFLUX_RETRY_INTERVAL_MS": ("retry_interval_ms", int, 1),
    "CAMPUSLAB_INFLUX_MAX_RETRY_TIME_MS": ("max_retry_time_ms", int, 1),
    "CAMPUSLAB_INFLUX_HEALTH_INTERVAL_S": ("health_interval_s", float, 0.01),
    "CAMPUSLAB_INFLUX_RECENT_KEYS": ("recent_keys", int, 0),
    "CAMPUSLAB_SPOOL_MAX_BYTES": ("spool_max_bytes", int, 1),
}


def _env_number(env: Mapping[str, str], variable: str, kind: type, least: float) -> int | float:
    text = env[variable].strip()
    what = "a whole number" if kind is int else "a number"
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"{variable} must be {what}, not {text!r}") from None
    if not math.isfinite(value) or value < least:
        raise ValueError(f"{variable} must be {what} of at least {least:g}, not {text!r}")
    return value


# -- statistics ---------------------------------------------------------------
@dataclass(frozen=True)
class InfluxWriteStats:
    """A snapshot of the writer's counters (monotonic totals) and gauges.

    Counters only grow, so a Prometheus collector can export them as ``_total``.
    """

    submitted_lines: int = 0  # lines handed to the writer (after repeats, each line once)
    written_lines: int = 0  # lines the server acknowledged (WriteApi success callback)
    write_retries: int = 0  # retries of a write request (WriteApi retry callback)
    failed_writes: int = 0  # write requests given up on (WriteApi error callback)
    spooled_lines: int = 0  # lines kept in the spool instead
    replayed_lines: int = 0  # spooled lines the server has since accepted
    rejected_lines: int = 0  # spooled lines the server refused as invalid (kept aside)
    refused_batches: int = 0  # batches called back with an error (spool full, no spool)
    pending_lines: int = 0  # gauge: lines waiting for the server or the spool
    pending_batches: int = 0  # gauge: batches not yet called back
    spool_bytes: int = 0  # gauge
    spool_max_bytes: int = 0  # gauge (0: no spool)
    server_reachable: bool = False  # gauge: the last ping or write reached the server
    recent_keys: int = 0  # gauge: reading identities remembered to recognise repeats

    def as_dict(self) -> dict[str, int | bool]:
        return asdict(self)


@dataclass
class _Counters:
    submitted_lines: int = 0
    written_lines: int = 0
    write_retries: int = 0
    failed_writes: int = 0
    spooled_lines: int = 0
    replayed_lines: int = 0
    rejected_lines: int = 0
    refused_batches: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, **amounts: int) -> None:
        with self.lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)


# -- errors -------------------------------------------------------------------
class InfluxQueryError(RuntimeError):
    """InfluxDB refused or failed a query."""


class RetentionNotSupported(RuntimeError):
    """The server cannot delete by time; its retention must be set on the bucket/database."""


class StoreClosed(RuntimeError):
    """The store was closed before the batch could be made durable."""


class _SpoolInstead(RuntimeError):
    """Raised from the retry callback to stop retrying: the server is known to be down."""


# -- InfluxQL text ------------------------------------------------------------
def quote_identifier(name: str) -> str:
    """An InfluxQL identifier (measurement, tag key): double-quoted, escaped."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def quote_string(text: str) -> str:
    """An InfluxQL string literal (tag value): single-quoted, escaped."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def time_literal(moment: datetime) -> str:
    """Nanoseconds since the epoch, the form InfluxQL reads a bare integer time in."""
    return str(int(to_epoch_us(moment)) * 1000)


def duration_literal(span: timedelta) -> str:
    """A duration literal (``15m``, ``1h``, ``90s``): an integer and the largest exact unit."""
    us = span // timedelta(microseconds=1)
    if us <= 0:
        raise ValueError("resampling interval must be positive")
    for unit, size in _DURATION_UNITS:
        if us % size == 0:
            return f"{us // size}{unit}"
    raise AssertionError("unreachable: 1 us divides everything")


# -- recognising repeats across batches -------------------------------------------
_SERIES_BITS = 32  # a key is (ts_us << 32 | series number) * _SPREAD
# Odd (2**32 / golden ratio, as in Fibonacci hashing): multiplying keeps keys exact
# and distinct, and spreads them over a set's table. Without it, readings of one
# moment (consecutive series numbers) hash to neighbouring slots, and CPython's
# probing through those runs made lookups ~3x slower (~530 against ~175 ns per key).
_SPREAD = 0x9E3779B1


class RecentReadings:
    """Identities (sensor, quantity, timestamp) of the readings this store made durable lately.

    The store asks it, before sending a batch, which readings it already holds
    (those are duplicates: counted, not sent), and tells it, once a batch is
    durable, which readings are now stored. Bounded by ``capacity``: two
    generations of keys; when the newer one reaches ``capacity // 2`` keys the
    older one is dropped. So it holds at most ``capacity`` keys (plus one batch)
    and always at least the newest ``capacity // 2``. A count rather than a time
    window, because what must be recognised is a repeat of what was *written*
    lately (a redelivery, a replayed backlog) however long the gap was: while
    ingest is paused by an outage nothing new comes in, so nothing is forgotten.

    A key is one exact int, ``(ts_us << 32 | series) * _SPREAD``, where
    ``series`` numbers each (sensor, quantity) this store has seen (as many as
    the registry has sensors times quantities). Exact, not a hash: a new reading
    can never pass for an old one and go unsent, and ``forget_before`` can read
    the time back out to drop what retention deletes. About 80 bytes per key in
    CPython 3.11 (a 4-digit int and its share of a set's table): 1,000,000 keys
    take ~80 MB.

    Not thread-safe: ``_PendingLines`` calls it under its lock. ``keys_of``
    (numbering new series) has a lock of its own.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._generation_size = max(1, capacity // 2)
        self._newer: set[int] = set()
        self._older: set[int] = set()
        self.rotations = 0  # how many times the newer generation became the older one
        self._series: dict[str, dict[str, int]] = {}  # quantity -> sensor -> number
        self._series_count = 0
        self._series_lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._newer) + len(self._older)

    def keys_of(self, batch: ReadingBatch) -> list[int]:
        """The key of each reading of ``batch``, in order."""
        try:
            return self._keys(batch)
        except KeyError:  # a (sensor, quantity) seen for the first time: number it
            for sensor, quantity in set(zip(batch.sensor, batch.quantity, strict=True)):
                self._number(sensor, quantity)
            return self._keys(batch)

    def _keys(self, batch: ReadingBatch) -> list[int]:
        series = self._series
        return [  # int(ts): a numpy int would overflow the shift
            (int(ts) << _SERIES_BITS | series[q][s]) * _SPREAD
            for ts, s, q in zip(batch.ts_us, batch.sensor, batch.quantity, strict=True)
        ]

    def _number(self, sensor: str, quantity: str) -> int:
        with self._series_lock:
            by_sensor = self._series.setdefault(quantity, {})
            number = by_sensor.get(sensor)
            if number is None:
                number = self._series_count
                if number >= 1 << _SERIES_BITS:
                    raise OverflowError("more than 2**32 (sensor, quantity) series")
                self._series_count += 1
                by_sensor[sensor] = number
            return number

    def known(self, keys: Sequence[int]) -> set[int]:
        """Those of ``keys`` that are remembered."""
        newer, older = self._newer, self._older
        if not self.capacity or (newer.isdisjoint(keys) and older.isdisjoint(keys)):
            return set()  # the common case, one probe per key and set
        asked = set(keys)
        return (asked & newer) | (asked & older)

    def remember(self, keys: Sequence[int], absent_at: int | None = None) -> int:
        """Remember ``keys`` (distinct); return how many were not remembered before.

        ``absent_at``: the ``rotations`` count when ``keys`` were found not
        remembered. If there has been no rotation since, any of them remembered
        now was added to the newer generation meanwhile, so one insert per key
        tells: the cost is one set probe per key instead of three.
        """
        if not self.capacity:
            return len(keys)
        newer = self._newer
        if absent_at == self.rotations:
            before = len(newer)
            newer.update(keys)
            fresh = len(newer) - before
        else:
            new = set(keys).difference(newer)
            if self._older:
                new.difference_update(new & self._older)
            newer |= new
            fresh = len(new)
        if len(newer) >= self._generation_size:
            self._older, self._newer = newer, set()
            self.rotations += 1
        return fresh

    def forget_before(self, ts_us: int) -> None:
        """Drop the keys of readings older than ``ts_us`` (retention deleted them)."""
        cut = int(ts_us)
        self._newer = {k for k in self._newer if (k // _SPREAD) >> _SERIES_BITS >= cut}
        self._older = {k for k in self._older if (k // _SPREAD) >> _SERIES_BITS >= cut}


class _Tally:
    """How one submission's readings count, decided once, when it is durable.

    ``keys`` are the distinct identities of its readings that were not known to be
    stored when it was submitted; whichever of them are still not remembered when
    it becomes durable count as stored, the rest of its ``readings`` as duplicates.
    """

    __slots__ = ("absent_at", "keys", "readings", "result")

    def __init__(self, readings: int = 0, keys: list[int] | None = None) -> None:
        self.readings = readings
        self.keys = keys if keys is not None else []
        self.absent_at: int | None = None  # RecentReadings.rotations when keys were checked
        self.result: WriteResult | None = None

    def decide(self, recent: RecentReadings) -> WriteResult:
        if self.result is None:
            stored = recent.remember(self.keys, self.absent_at)
            self.result = WriteResult(stored=stored, duplicates=self.readings - stored)
        return self.result


# -- following batches through the WriteApi by content --------------------------
class _PendingBatch:
    __slots__ = ("callback", "remaining", "tally")

    def __init__(self, remaining: int, tally: _Tally, callback: DurableCallback) -> None:
        self.remaining = remaining
        self.tally = tally
        self.callback = callback


class _PendingLines:
    """Which batches wait for which lines in flight, and what is already stored.

    A line is in flight at most once: ``lines`` maps it to the id of the batch
    waiting for it, or to a list of ids when later batches held the same line (a
    redelivery) and wait for that same copy instead of sending it again. The
    copy's fate (acknowledged, spooled, or failed) is theirs, all of them.
    One lock guards this and ``recent``, so "already stored?", "in flight?" and
    "now durable" never interleave: a line is never sent twice at once.
    """

    def __init__(self, recent: RecentReadings) -> None:
        self.lock = threading.Condition()
        self.recent = recent
        self.lines: dict[bytes, int | list[int]] = {}
        self.batches: dict[int, _PendingBatch] = {}
        self._next_id = 0

    @property
    def pending_lines(self) -> int:
        return len(self.lines)

    def add(
        self, lines: list[bytes], tally: _Tally, callback: DurableCallback
    ) -> tuple[list[bytes], _PendingBatch | None]:
        """Register a batch; return the lines to send, and the batch if it is durable already.

        ``lines`` are distinct, the first ``len(tally.keys)`` of them the readings
        keyed by ``tally.keys``. Readings already stored are dropped (duplicates).
        """
        with self.lock:
            keys = tally.keys
            known = self.recent.known(keys) if keys else None
            tally.absent_at = self.recent.rotations
            if known:
                kept = [i for i, key in enumerate(keys) if key not in known]
                tally.keys = [keys[i] for i in kept]
                lines = [lines[i] for i in kept] + lines[len(keys) :]
            if not lines:
                tally.decide(self.recent)
                return [], _PendingBatch(0, tally, callback)
            self._next_id += 1
            batch_id = self._next_id
            waiting = self.lines
            to_send = []
            for line in lines:
                found = waiting.get(line)
                if found is None:
                    waiting[line] = batch_id
                    to_send.append(line)
                elif type(found) is int:
                    waiting[line] = [found, batch_id]
                else:
                    found.append(batch_id)
            self.batches[batch_id] = _PendingBatch(len(lines), tally, callback)
            return to_send, None

    def settle(self, lines: Sequence[bytes]) -> list[_PendingBatch]:
        """These lines are durable; return the batches that now are, wholly, tallied."""
        done = []
        with self.lock:
            batches = self.batches
            waiting = self.lines
            for line in lines:
                found = waiting.pop(line, None)
                if found is None:
                    continue
                for batch_id in (found,) if type(found) is int else found:
                    batch = batches.get(batch_id)
                    if batch is None:
                        continue  # already called back with an error
                    batch.remaining -= 1
                    if batch.remaining == 0:
                        del batches[batch_id]
                        done.append((batch_id, batch))
            done.sort(key=lambda item: item[0])  # the older batch counts a shared reading
            for _, batch in done:
                batch.tally.decide(self.recent)
            if not batches:
                self.lock.notify_all()
        return [batch for _, batch in done]

    def fail(self, lines: Sequence[bytes]) -> list[_PendingBatch]:
        """These lines cannot be kept; return the batches that therefore fail."""
        failed = []
        with self.lock:
            for line in lines:
                found = self.lines.pop(line, None)
                if found is None:
                    continue
                for batch_id in (found,) if type(found) is int else found:
                    batch = self.batches.pop(batch_id, None)
                    if batch is not None:
                        failed.append(batch)
            if not self.batches:
                self.lock.notify_all()
        return failed

    def decide(self, tally: _Tally) -> WriteResult:
        with self.lock:
            return tally.decide(self.recent)

    def forget_before(self, ts_us: int) -> None:
        with self.lock:
            self.recent.forget_before(ts_us)

    def wait_until_empty(self, timeout: float) -> bool:
        with self.lock:
            return self.lock.wait_for(lambda: not self.batches, timeout)

    def drain(self) -> list[_PendingBatch]:
        with self.lock:
            left = list(self.batches.values())
            self.batches.clear()
            self.lines.clear()
        return left


# -- the store ----------------------------------------------------------------
class InfluxStore:
    """ReadingStore on InfluxDB: batching WriteApi + spool for writes, InfluxQL for reads."""

    def __init__(self, config: InfluxConfig, campus: Campus) -> None:
        self.config = config
        self.campus = campus
        self._encoder = LineProtocolEncoder(campus)
        self._counters = _Counters()
        self._recent = RecentReadings(config.recent_keys)
        self._pending = _PendingLines(self._recent)
        self._spool_refused = False  # the spool refused lines; set until it shrinks
        # 401/403/404 on a write: a wrong token, org or bucket, which no retry mends.
        # Set until a write succeeds; healthy() is False meanwhile (see _on_failed).
        self._misconfigured: str | None = None
        self._server_down = threading.Event()  # retries ran out: spool, don't retry
        self._closing = False
        self._closed = False
        self._reachable = False
        self._submit_lock = threading.Lock()
        self._replay_lock = threading.Lock()
        self._stop = threading.Event()
        self._spool = (
            Spool(config.spool_dir, config.spool_max_bytes, config.spool_segment_bytes)
            if config.spool_dir is not None
            else None
        )
        headers = {"Authorization": f"Token {config.write_token}"} if config.write_token else {}
        self._query_http = httpx.Client(
            base_url=(config.query_url or config.url).rstrip("/"),
            headers={"Authorization": f"Token {config.token}"} if config.token else {},
            auth=httpx.BasicAuth(config.username, config.password or "")
            if not config.token and config.username
            else None,
            timeout=config.query_timeout_s,
        )
        self._write_http = httpx.Client(
            base_url=config.url.rstrip("/"),
            headers=headers,
            timeout=config.write_timeout_ms / 1000,
        )
        self._client = InfluxDBClient(
            url=config.url,
            token=config.write_token,
            org=config.org,
            timeout=config.write_timeout_ms,
        )
        # Its own write thread: WriteOptions' default scheduler is one shared by every
        # WriteApi in the process (a default argument), so two stores would queue on it.
        self._write_scheduler = ThreadPoolScheduler(1)
        self._write_api = self._client.write_api(
            write_options=WriteOptions(
                batch_size=max(1, config.batch_size // max(1, config.record_lines)),
                flush_interval=config.flush_interval_ms,
                jitter_interval=config.jitter_interval_ms,
                retry_interval=config.retry_interval_ms,
                max_retries=config.max_retries,
                max_retry_delay=config.max_retry_delay_ms,
                max_retry_time=config.max_retry_time_ms,
                exponential_base=config.exponential_base,
                max_close_wait=config.max_retry_time_ms + 2 * config.write_timeout_ms + 30_000,
                write_scheduler=self._write_scheduler,
            ),
            success_callback=self._on_written,
            error_callback=self._on_failed,
            retry_callback=self._on_retry,
        )
        self._reachable = self._ping()
        self._monitor = threading.Thread(
            target=self._watch_server, name="campuslab-influx-health", daemon=True
        )
        self._monitor.start()

    # -- submitting ------------------------------------------------------------
    def submit(
        self, batch: ReadingBatch, dead_letters: Sequence[DeadLetter], on_durable: DurableCallback
    ) -> None:
        """Hand a batch to the WriteApi; ``on_durable`` runs once all its lines are safe.

        Its result counts as stored only the readings this store did not hold yet;
        repeats (of one in the batch, or of one recently stored) count as
        duplicates and are not sent (the module docstring says how far it sees).
        """
        lines, tally = self._readings(batch)
        if dead_letters:
            lines = lines + self._encode(self._encoder.dead_letters(dead_letters))
        self._submit_lines(lines, tally, on_durable)

    def _readings(self, batch: ReadingBatch) -> tuple[list[bytes], _Tally]:
        """One line per reading identity (the first of repeats in the batch), and its tally."""
        lines = self._encode(self._encoder.readings(batch))
        keys = self._recent.keys_of(batch)
        if len(set(keys)) != len(keys):
            first: dict[int, bytes] = {}
            for key, line in zip(keys, lines, strict=True):
                first.setdefault(key, line)
            keys, lines = list(first), list(first.values())
        return lines, _Tally(len(batch), keys)

    def _submit_lines(self, lines: list[bytes], tally: _Tally, on_durable: DurableCallback) -> None:
        """Send ``lines`` (readings first, keyed by ``tally.keys``) unless stored or in flight."""
        if self._closed:
            raise StoreClosed("the InfluxDB store is closed")
        keyed = len(tally.keys)
        if len(lines) > keyed:  # dead letters, rollups, flags: an identical line is sent once
            lines = lines[:keyed] + list(dict.fromkeys(lines[keyed:]))
        to_send, durable = self._pending.add(lines, tally, on_durable)
        if durable is not None:  # nothing new in it: durable already
            on_durable(tally.result, None)
            return
        if not to_send:
            return  # all of it is in flight for earlier batches; it waits for those copies
        self._counters.add(submitted_lines=len(to_send))
        if self._server_down.is_set() and self._spool is not None:
            # Known outage: straight to the spool rather than queueing behind retries.
            self._spool_or_refuse(to_send)
            return
        step = self.config.record_lines
        records = (
            to_send
            if step <= 1
            else [b"\n".join(to_send[i : i + step]) for i in range(0, len(to_send), step)]
        )
        with self._submit_lock:  # rx subjects are not safe for concurrent on_next
            self._write_api.write(
                self.config.bucket, self.config.org, records, write_precision=WritePrecision.US
            )

    @staticmethod
    def _encode(lines: list[str]) -> list[bytes]:
        if not lines:
            return []
        encoded = "\n".join(lines).encode().split(b"\n")
        if len(encoded) != len(lines):
            raise ValueError("a line protocol line may not contain a raw newline")
        return encoded

    def _write_lines(self, lines: list[bytes], tally: _Tally) -> WriteResult:
        """Submit lines and wait until they are durable; raise when they cannot be."""
        done = threading.Event()
        outcome: list[WriteResult | BaseException | None] = [None]

        def on_durable(written: WriteResult | None, error: BaseException | None) -> None:
            outcome[0] = error if error is not None else written
            done.set()

        self._submit_lines(lines, tally, on_durable)
        timeout = self._durable_timeout
        if not done.wait(timeout):
            raise TimeoutError(f"the batch was not durable after {timeout:.0f} s")
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        assert isinstance(outcome[0], WriteResult)
        return outcome[0]

    def write(self, batch: ReadingBatch) -> WriteResult:
        """Submit and wait until durable (acknowledged by the server, or spooled)."""
        lines, tally = self._readings(batch)
        self._write_lines(lines, tally)
        return self._pending.decide(tally)  # decided once durable; this returns that result

    def write_arrow(self, readings: pa.Table, dead_letters: pa.Table | None = None) -> WriteResult:
        """``ArrowWriter``: the table's readings through ``write`` (the batching WriteApi).

        Dead letters are points identified by (reason, received time); writing the same
        letter again overwrites it, so a rerun keeps each once.
        """
        result = WriteResult(0, 0)
        if readings.num_rows:
            columns = {
                name: readings.column(name).cast(pa.string()).to_pylist()
                for name in ("building", "sensor", "quantity")
            }
            batch = ReadingBatch(
                readings.column("ts").cast(pa.int64()).to_pylist(),
                columns["building"],
                columns["sensor"],
                columns["quantity"],
                readings.column("value").to_pylist(),
            )
            result = self.write(batch)
        if dead_letters is not None and dead_letters.num_rows:
            self.write_dead_letters(
                [
                    DeadLetter(*row)
                    for row in zip(
                        dead_letters.column("received_at").cast(pa.int64()).to_pylist(),
                        *(
                            dead_letters.column(name).to_pylist()
                            for name in ("topic", "payload", "reason", "detail")
                        ),
                        strict=True,
                    )
                ]
            )
        return result

    def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        if letters:
            self._write_lines(self._encode(self._encoder.dead_letters(letters)), _Tally())

    def write_rollups(self, measurement: str, rows: Sequence[RollupRow]) -> None:
        lines = self._encode(self._encoder.rollups(measurement, rows))
        if lines:
            self._write_lines(lines, _Tally())

    # -- quality flags -------------------------------------------------------------
    def _flag_line(self, sensor: str, quantity: str, check: str, ts_us: int, flagged: bool) -> str:
        tags = {self._sensor_tag(sensor): sensor, "quantity": quantity, "check": check}
        value = "1.0" if flagged else "0.0"
        return f"{QUALITY_FLAG_MEASUREMENT}{tag_string(tags)} flagged={value} {ts_us}"

    def write_quality_flags(
        self, start: datetime, end: datetime, flags: Sequence[QualityFlag]
    ) -> None:
        """Replace the flags in [start, end) with ``flags``.

        InfluxDB 3 deletes nothing, so a flag is never deleted: a point with
        ``flagged=1`` is written for each flag, and a flag of an earlier run that
        this run no longer raises is overwritten with ``flagged=0``. Reads keep
        ``flagged=1``. Identity: (space or meter, quantity, check, ts).
        """
        wanted = {(f.sensor, f.quantity, f.check, to_epoch_us(f.ts)) for f in flags}
        earlier = {
            (f.sensor, f.quantity, f.check, to_epoch_us(f.ts))
            for f in self._flags(f"time >= {time_literal(start)} AND time < {time_literal(end)}")
        }
        lines = [self._flag_line(*key, flagged=False) for key in sorted(earlier - wanted)]
        lines += [self._flag_line(*key, flagged=True) for key in sorted(wanted)]
        if lines:
            self._write_lines(self._encode(lines), _Tally())

    def read_quality_flags(
        self, quantity: str, start: datetime, end: datetime, sensors: Sequence[str] | None = None
    ) -> list[QualityFlag]:
        where = (
            f'"quantity" = {quote_string(quantity)} '
            f"AND time >= {time_literal(start)} AND time < {time_literal(end)}"
        )
        if sensors is not None:
            if not sensors:
                return []
            where += f" AND ({self._sensor_condition(sensors)})"
        return self._flags(where)

    def _flags(self, where: str) -> list[QualityFlag]:
        statement = (
            f'SELECT "flagged" FROM {quote_identifier(QUALITY_FLAG_MEASUREMENT)} '
            f'WHERE {where} AND "flagged" = 1 GROUP BY "space", "meter", "quantity", "check"'
        )
        flags = []
        for series in self._series_list(statement):
            tags = series.get("tags") or {}
            sensor = tags.get("space") or tags.get("meter")
            if not sensor:
                continue
            for ts_us, _ in series["values"]:
                flags.append(
                    QualityFlag(
                        sensor, tags.get("quantity", ""), from_epoch_us(ts_us), tags["check"]
                    )
                )
        flags.sort(key=lambda f: (f.sensor, f.ts, f.check))
        return flags

    # -- WriteApi callbacks (its write thread) ---------------------------------
    def _on_written(self, conf: tuple[str, str, str], body: bytes) -> None:
        lines = body.split(b"\n")
        self._reachable = True
        self._misconfigured = None
        self._counters.add(written_lines=len(lines))
        _call_back(self._pending.settle(lines), None)

    def _on_failed(self, conf: tuple[str, str, str], body: bytes, error: BaseException) -> None:
        lines = body.split(b"\n")
        self._counters.add(failed_writes=1)
        if _is_outage(error):
            self._reachable = False
            if not self._server_down.is_set():
                log.warning(
                    "InfluxDB write failed after its retries (%s); spooling until the server "
                    "answers again",
                    _describe(error),
                )
            self._server_down.set()
        elif _status_of(error) in MISCONFIGURED_STATUSES:
            # Kept in the spool (nothing accepted is lost), but not healthy(): an ingestor
            # stops taking messages, and `analytics run` fails, instead of filling the
            # spool with writes that go nowhere until the settings are fixed.
            self._misconfigured = _describe(error)
            log.error(
                "InfluxDB refused a write of %d lines: %s. Check CAMPUSLAB_INFLUX_URL (an "
                "InfluxDB 2.x/3.x, or a server with /api/v2/write), _TOKEN, _ORG and _BUCKET; "
                "the lines are kept in the spool and written once a write succeeds",
                len(lines),
                self._misconfigured,
            )
        else:
            log.error("InfluxDB refused a write of %d lines: %s", len(lines), _describe(error))
        self._keep(lines, error)

    def _keep(self, lines: list[bytes], cause: BaseException) -> None:
        if self._spool is None:
            self._refuse(lines, cause)
            return
        self._spool_or_refuse(lines)

    def _spool_or_refuse(self, lines: list[bytes]) -> None:
        """Append to the spool and settle the lines' batches, or fail those batches."""
        assert self._spool is not None
        try:
            self._spool.append(lines)
        except (SpoolFull, OSError) as exc:
            # Not healthy() until the spool shrinks or the server answers: an ingestor
            # waiting for healthy() would otherwise come back only to be refused again.
            self._spool_refused = True
            log.error("cannot spool %d lines: %s", len(lines), exc)
            self._refuse(lines, exc)
            return
        self._counters.add(spooled_lines=len(lines))
        _call_back(self._pending.settle(lines), None)

    def _refuse(self, lines: list[bytes], cause: BaseException) -> None:
        failed = self._pending.fail(lines)
        self._counters.add(refused_batches=len(failed))
        _call_back(failed, cause)

    def _on_retry(self, conf: tuple[str, str, str], body: bytes, error: BaseException) -> None:
        self._counters.add(write_retries=1)
        spool = self._spool
        if spool is not None and (self._server_down.is_set() or self._closing) and spool.has_room():
            raise _SpoolInstead("InfluxDB is down; spooling instead of retrying")

    # -- server health and spool replay (monitor thread) -------------------------
    def _ping(self) -> bool:
        try:
            answer = self._write_http.get("/ping", timeout=2.0)
        except httpx.HTTPError:
            return False
        return answer.status_code < 500

    def _watch_server(self) -> None:
        while not self._stop.wait(self.config.health_interval_s):
            try:
                self._check_once()
            except Exception:  # the monitor must outlive any surprise; say what it was
                log.exception("InfluxDB health check or spool replay failed")

    def _check_once(self) -> None:
        reachable = self._ping()
        self._reachable = reachable
        if not reachable:
            return
        self._spool_refused = False
        if self._server_down.is_set():
            log.info("InfluxDB answers again; writing directly and replaying the spool")
            self._server_down.clear()
        if self._spool is not None and not self._spool.is_empty():
            self.replay_spool()

    def replay_spool(self) -> bool:
        """Post spooled lines to the server, oldest first; True when the spool is empty."""
        spool = self._spool
        if spool is None:
            return True
        with self._replay_lock:
            return self._replay(spool)

    def _replay(self, spool: Spool) -> bool:
        for segment in spool.seal():
            lines = spool.read_lines(segment)
            for start in range(0, len(lines), self.config.replay_chunk_lines):
                if self._stop.is_set():
                    return False
                chunk = lines[start : start + self.config.replay_chunk_lines]
                if not self._post_replay(chunk, segment):
                    self._reachable = False
                    return False
            spool.remove(segment)
            self._spool_refused = False
            log.info("replayed spool segment %s (%d lines)", segment.path.name, len(lines))
        return spool.is_empty()

    def _post_replay(self, lines: list[bytes], segment) -> bool:
        """Post lines; refused lines are set aside. False when the server is unavailable."""
        try:
            answer = self._write_http.post(
                "/api/v2/write",
                params={
                    "bucket": self.config.bucket,
                    "org": self.config.org,
                    "precision": "us",
                },
                content=b"\n".join(lines),
                headers={"Content-Type": "text/plain; charset=utf-8"},
            )
        except httpx.HTTPError as exc:
            log.warning("spool replay: InfluxDB unavailable (%s)", exc)
            return False
        status = answer.status_code
        if status < 300:
            self._counters.add(replayed_lines=len(lines))
            self._misconfigured = None
            return True
        if status in (400, 413, 422) and len(lines) > 1:
            # too large, or some line is refused: halve until the refused lines are found
            half = len(lines) // 2
            return self._post_replay(lines[:half], segment) and self._post_replay(
                lines[half:], segment
            )
        if status in (400, 422):
            target = self._spool.reject(segment, lines)
            self._counters.add(rejected_lines=len(lines))
            log.error(
                "InfluxDB refused a spooled line (%d: %s); kept in %s",
                status,
                answer.text[:200],
                target,
            )
            return True
        log.warning("spool replay: InfluxDB answered %d: %s", status, answer.text[:200])
        return False

    # -- health and stats ------------------------------------------------------
    def healthy(self) -> bool:
        """The server answers, or the spool still has room and has not refused lines since
        it last shrank (a spool that refused a batch is full for that purpose)."""
        if self._misconfigured is not None:
            return False
        spool = self._spool
        return self._reachable or (
            spool is not None and spool.has_room() and not self._spool_refused
        )

    @property
    def misconfigured(self) -> str | None:
        """Why the server refused our writes as unauthorised or unknown (401, 403, 404),
        until a write succeeds; None otherwise."""
        return self._misconfigured

    def stats(self) -> InfluxWriteStats:
        counters = self._counters
        spool = self._spool
        with counters.lock:
            totals = {
                name: getattr(counters, name)
                for name in (
                    "submitted_lines",
                    "written_lines",
                    "write_retries",
                    "failed_writes",
                    "spooled_lines",
                    "replayed_lines",
                    "rejected_lines",
                    "refused_batches",
                )
            }
        return InfluxWriteStats(
            **totals,
            pending_lines=self._pending.pending_lines,
            pending_batches=len(self._pending.batches),
            spool_bytes=spool.bytes if spool else 0,
            spool_max_bytes=spool.max_bytes if spool else 0,
            server_reachable=self._reachable,
            recent_keys=len(self._recent),
        )

    def register_metrics(self, registry: CollectorRegistry) -> None:
        """Export ``stats()`` on a prometheus_client registry, read at each scrape."""
        registry.register(InfluxWriteCollector(self))

    # -- retention ---------------------------------------------------------------
    def delete_readings_before(self, cutoff: datetime) -> None:
        """Drop raw readings older than ``cutoff`` from every quantity measurement.

        InfluxDB 1.x: InfluxQL ``DELETE``. 2.x: its ``/api/v2/delete`` (InfluxQL
        there is read-only). 3.x deletes nothing by time: raises RetentionNotSupported;
        set the database's retention period instead. Rollup measurements are kept.
        Readings before ``cutoff`` are forgotten as stored, so writing one again stores it.
        """
        self._pending.forget_before(to_epoch_us(cutoff))
        statements = "; ".join(
            f"DELETE FROM {quote_identifier(q)} WHERE time < {time_literal(cutoff)}"
            for q in QUANTITIES
        )
        try:
            self._query(statements, write=True)
            return
        except InfluxQueryError as influxql_error:
            first = influxql_error
        for quantity in QUANTITIES:
            answer = self._write_http.post(
                "/api/v2/delete",
                params={"bucket": self.config.bucket, "org": self.config.org},
                json={
                    "start": "1970-01-01T00:00:00Z",
                    "stop": isoformat_utc(_aware(cutoff) - timedelta(microseconds=1)),
                    "predicate": f'_measurement="{quantity}"',
                },
            )
            if answer.status_code >= 300:
                raise RetentionNotSupported(
                    f"this InfluxDB deletes nothing by time (InfluxQL DELETE: {first}; "
                    f"/api/v2/delete: {answer.status_code} {answer.text[:200]}). Set the "
                    "raw-data retention on the bucket or database instead (InfluxDB 2.x: "
                    "`influx bucket update --retention`; 3.x: the database retention period)"
                )

    # -- reads -------------------------------------------------------------------
    def _query(self, statement: str, write: bool = False) -> list[dict]:
        params = {"db": self.config.database, "epoch": "u"}
        if self.config.retention_policy:
            params["rp"] = self.config.retention_policy
        try:
            if write:  # 1.x takes DELETE only by POST
                answer = self._query_http.post("/query", params=params, data={"q": statement})
            else:  # GET: what every version's /query takes for SELECT
                answer = self._query_http.get("/query", params={**params, "q": statement})
        except httpx.HTTPError as exc:
            raise InfluxQueryError(f"InfluxDB /query failed: {exc}") from exc
        try:
            payload = answer.json()
        except ValueError:
            payload = {}
        if answer.status_code >= 300 or "error" in payload:
            message = payload.get("error") or answer.text[:300]
            raise InfluxQueryError(f"InfluxDB /query answered {answer.status_code}: {message}")
        results = payload.get("results", [])
        for result in results:
            if "error" in result:
                raise InfluxQueryError(f"InfluxDB refused the query: {result['error']}")
            for series in result.get("series", ()):
                if series.get("partial"):
                    raise InfluxQueryError(
                        "InfluxDB truncated the result (its max-row-limit); narrow the query"
                    )
        return results

    def _series_list(self, statement: str) -> list[dict]:
        results = self._query(statement)
        return [s for r in results for s in r.get("series", ())]

    def _sensor_tag(self, sensor: str) -> str:
        # The same rule as LineProtocolEncoder.sensor_tags: spaces carry `space`, every
        # other sensor (meters, the weather station) carries `meter`. Unknown ids are
        # looked up as spaces and match nothing.
        if self.campus.space(sensor) is not None or self.campus.building_of(sensor) is None:
            return "space"
        return "meter"

    def _sensor_condition(self, sensors: Sequence[str]) -> str:
        return " OR ".join(
            f"{quote_identifier(self._sensor_tag(s))} = {quote_string(s)}"
            for s in dict.fromkeys(sensors)
        )

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
        where = (
            f"{quote_identifier(self._sensor_tag(sensor))} = {quote_string(sensor)} "
            f"AND time >= {time_literal(start)} AND time < {time_literal(end)}"
        )
        if every is None:
            statement = f'SELECT "value" FROM {quote_identifier(quantity)} WHERE {where}'
        else:
            statement = (
                f'SELECT {_AGGREGATES[Aggregate(aggregate)]}("value") AS "value" '
                f"FROM {quote_identifier(quantity)} WHERE {where} "
                f"GROUP BY time({duration_literal(every)}) fill(none)"
            )
        if limit is not None:
            statement += f" LIMIT {int(limit) + 1}"
        found = self._series_list(statement)
        series = _to_series(found[0]["values"]) if found else Series.empty()
        if limit is not None and len(series) > limit:
            raise TooManyPoints(limit)
        return series

    def read_resampled(
        self,
        quantity: str,
        start: datetime,
        end: datetime,
        every: timedelta,
        aggregate: Aggregate = Aggregate.MEAN,
        sensors: Sequence[str] | None = None,
    ) -> dict[str, Series]:
        where = f"time >= {time_literal(start)} AND time < {time_literal(end)}"
        if sensors is not None:
            if not sensors:
                return {}
            where += f" AND ({self._sensor_condition(sensors)})"
        statement = (
            f'SELECT {_AGGREGATES[Aggregate(aggregate)]}("value") AS "value" '
            f"FROM {quote_identifier(quantity)} WHERE {where} "
            f'GROUP BY time({duration_literal(every)}), "space", "meter" fill(none)'
        )
        by_sensor = {}
        for series in self._series_list(statement):
            tags = series.get("tags") or {}
            sensor = tags.get("space") or tags.get("meter")
            if sensor:
                by_sensor[sensor] = _to_series(series["values"])
        return {sensor: by_sensor[sensor] for sensor in sorted(by_sensor)}

    def latest(self, quantity: str | None = None) -> list[LatestReading]:
        """The newest reading of each (sensor, quantity) within ``config.latest_lookback``.

        Bounded so that the query touches recent shards (or, on 3.x, files) only; a
        sensor silent for longer than the lookback is not listed.
        """
        measurements = [quantity] if quantity is not None else list(QUANTITIES)
        since = datetime.now(UTC) - self.config.latest_lookback
        statement = (
            f'SELECT last("value") AS "value" '
            f"FROM {', '.join(quote_identifier(m) for m in measurements)} "
            f'WHERE time >= {time_literal(since)} GROUP BY "building", "space", "meter"'
        )
        newest: dict[tuple[str, str], LatestReading] = {}
        for series in self._series_list(statement):
            tags = series.get("tags") or {}
            sensor = tags.get("space") or tags.get("meter")
            if not sensor or not series.get("values"):
                continue
            ts_us, value = series["values"][0][:2]
            reading = LatestReading(
                tags.get("building", ""), sensor, series["name"], from_epoch_us(ts_us), float(value)
            )
            key = (sensor, series["name"])
            if key not in newest or newest[key].ts < reading.ts:
                newest[key] = reading
        return [newest[key] for key in sorted(newest)]

    def count(self, quantity: str | None = None) -> int:
        """Readings stored (all time: this scans the whole history; for tests and checks)."""
        measurements = [quantity] if quantity is not None else list(QUANTITIES)
        statement = (
            f'SELECT count("value") FROM {", ".join(quote_identifier(m) for m in measurements)}'
        )
        return sum(int(s["values"][0][1]) for s in self._series_list(statement) if s["values"])

    def dead_letters(
        self, limit: int = 100, offset: int = 0, where: DeadLetterFilter | None = None
    ) -> list[DeadLetter]:
        """Newest first. Identity is (received time, reason): two letters with the same
        reason in the same microsecond are one point in InfluxDB."""
        statement = (
            f'SELECT "topic", "payload", "reason", "detail" '
            f"FROM {quote_identifier(DEAD_LETTER_MEASUREMENT)}{self._dead_letter_where(where)} "
            f"ORDER BY time DESC LIMIT {int(limit)} OFFSET {int(offset)}"
        )
        letters = []
        for series in self._series_list(statement):
            columns = series["columns"]
            for row in series["values"]:
                record = dict(zip(columns, row, strict=True))
                letters.append(
                    DeadLetter(
                        int(record["time"]),
                        record.get("topic") or "",
                        record.get("payload") or "",
                        record.get("reason") or "",
                        record.get("detail") or "",
                    )
                )
        return letters

    def count_dead_letters(self, where: DeadLetterFilter | None = None) -> int:
        statement = (
            f'SELECT count("topic") FROM {quote_identifier(DEAD_LETTER_MEASUREMENT)}'
            f"{self._dead_letter_where(where)}"
        )
        return sum(int(s["values"][0][1]) for s in self._series_list(statement) if s["values"])

    @staticmethod
    def _dead_letter_where(where: DeadLetterFilter | None) -> str:
        """`` WHERE ...`` for a dead-letter filter ('' for none); values are escaped here."""
        if where is None:
            return ""
        conditions = []
        if where.reason is not None:
            conditions.append(f'"reason" = {quote_string(where.reason)}')
        if where.since is not None:
            conditions.append(f"time >= {time_literal(where.since)}")
        if where.until is not None:
            conditions.append(f"time < {time_literal(where.until)}")
        if where.topic_prefix is not None:
            # InfluxQL has no starts-with for fields: an anchored regex, every character
            # but [A-Za-z0-9_] written as \x{..}, so no '/', '\\' or newline reaches the
            # regex literal (InfluxQL's scanner reads those itself) and nothing is special
            literal = "".join(
                c if (c.isascii() and (c.isalnum() or c == "_")) else f"\\x{{{ord(c):X}}}"
                for c in where.topic_prefix
            )
            conditions.append(f'"topic" =~ /^{literal}/')
        return " WHERE " + " AND ".join(conditions) if conditions else ""

    def read_rollups(
        self,
        measurement: str,
        start: datetime,
        end: datetime,
        tags: Mapping[str, str] | None = None,
    ) -> list[RollupRow]:
        where = f"time >= {time_literal(start)} AND time < {time_literal(end)}"
        for key, value in sorted((tags or {}).items()):
            where += f" AND {quote_identifier(key)} = {quote_string(value)}"
        statement = f"SELECT * FROM {quote_identifier(measurement)} WHERE {where} GROUP BY *"
        rows = []
        for series in self._series_list(statement):
            row_tags = {k: v for k, v in (series.get("tags") or {}).items() if v != ""}
            columns = series["columns"]
            for values in series["values"]:
                fields = {
                    name: float(value)
                    for name, value in zip(columns[1:], values[1:], strict=True)
                    if value is not None
                }
                rows.append(RollupRow(from_epoch_us(int(values[0])), row_tags, fields))
        rows.sort(key=lambda r: (r.ts, _tag_key(r.tags)))
        return rows

    # -- lifecycle -------------------------------------------------------------
    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every submitted batch is durable or refused; False on timeout."""
        return self._pending.wait_until_empty(timeout or self._durable_timeout)

    @property
    def _durable_timeout(self) -> float:
        """Longest a batch can wait: a flush, all retries, two request timeouts, a margin."""
        config = self.config
        return (
            config.flush_interval_ms + config.max_retry_time_ms + 2 * config.write_timeout_ms
        ) / 1000 + 30

    def close(self) -> None:
        """Flush what was submitted (to the server, or the spool), then stop."""
        if self._closed:
            return
        self._closed = True
        self._closing = True  # from now on a failing request goes to the spool at once
        self._write_api.close()
        self._stop.set()
        self._monitor.join(timeout=30)
        _call_back(self._pending.drain(), StoreClosed("closed before the batch was durable"))
        if self._spool is not None:
            self._spool.close()
        self._client.close()
        self._write_scheduler.executor.shutdown(wait=False)
        self._query_http.close()
        self._write_http.close()


# -- Prometheus ----------------------------------------------------------------
_COUNTER_HELP = {
    "submitted_lines": "Lines handed to the InfluxDB writer",
    "written_lines": "Lines InfluxDB acknowledged",
    "write_retries": "Retries of InfluxDB write requests",
    "failed_writes": "InfluxDB write requests given up after their retries",
    "spooled_lines": "Lines kept in the local spool while InfluxDB was unavailable",
    "replayed_lines": "Spooled lines InfluxDB has since accepted",
    "rejected_lines": "Spooled lines InfluxDB refused as invalid (kept aside in the spool)",
    "refused_batches": "Batches that could not be made durable (spool full or no spool)",
}
_GAUGE_HELP = {
    "pending_lines": "Lines waiting for InfluxDB or the spool",
    "pending_batches": "Batches not yet durable",
    "spool_bytes": "Bytes in the local spool",
    "spool_max_bytes": "Size cap of the local spool (0: no spool)",
    "server_reachable": "1 if the last ping or write reached InfluxDB",
    "recent_keys": "Identities of recently stored readings remembered to recognise repeats",
}


class InfluxWriteCollector:
    """A prometheus_client collector: ``campuslab_influx_*`` from ``InfluxStore.stats()``."""

    def __init__(self, store: InfluxStore) -> None:
        self.store = store

    def describe(self):
        return self._families(InfluxWriteStats())

    def collect(self):
        return self._families(self.store.stats())

    @staticmethod
    def _families(stats: InfluxWriteStats):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        values = stats.as_dict()
        families = [
            CounterMetricFamily(f"campuslab_influx_{name}", text, value=values[name])
            for name, text in _COUNTER_HELP.items()
        ]
        families += [
            GaugeMetricFamily(f"campuslab_influx_{name}", text, value=float(values[name]))
            for name, text in _GAUGE_HELP.items()
        ]
        return families


# -- helpers -----------------------------------------------------------------
def _call_back(batches: list[_PendingBatch], error: BaseException | None) -> None:
    """Tell each batch its outcome; one caller's failing callback must not silence the rest."""
    for batch in batches:
        try:
            batch.callback(None if error is not None else batch.tally.result, error)
        except Exception:
            log.exception("a durable callback failed")


def _to_series(values: list[list]) -> Series:
    if not values:
        return Series.empty()
    ts = np.fromiter((row[0] for row in values), dtype=np.int64, count=len(values))
    numbers = np.fromiter(
        (math.nan if row[1] is None else row[1] for row in values),
        dtype=np.float64,
        count=len(values),
    )
    return Series(ts.astype("datetime64[us]"), numbers)


def _tag_key(tags: Mapping[str, str]) -> str:
    return ",".join(f"{k}={tags[k]}" for k in sorted(tags))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _status_of(error: BaseException) -> int | None:
    status = getattr(error, "status", None)
    if isinstance(status, int):
        return status
    response = getattr(error, "response", None)
    status = getattr(response, "status", None)
    return status if isinstance(status, int) else None


MISCONFIGURED_STATUSES = (401, 403, 404)


def _is_outage(error: BaseException) -> bool:
    """Server away or overloaded (spool and wait) rather than refusing our data."""
    status = _status_of(error)
    return status is None or status == 429 or status >= 500


def _describe(error: BaseException) -> str:
    status = _status_of(error)
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return f"HTTP {status}: {text}" if status else f"{type(error).__name__}: {text}"
