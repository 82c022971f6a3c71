"""The store port: what ingest, analytics and the API need from a time-series store.

Two backends implement it: DuckDB (embedded, the default) and InfluxDB (full
stack). Everything above the port is the same code for both.

Semantics every backend keeps:
- ``write`` is durable when it returns, and idempotent per
  (sensor, quantity, timestamp): a duplicate (QoS 1 redelivery, a replayed
  backlog) is never stored or counted twice.
- Time ranges are half-open, ``start <= ts < end``, in UTC.
- Resampled buckets are aligned to the Unix epoch (so 1 h buckets start on
  the UTC hour); buckets without data are left out, never filled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from campuslab.core.readings import DeadLetter, LatestReading, ReadingBatch, Series

if TYPE_CHECKING:
    import pyarrow as pa


class Aggregate(StrEnum):
    MEAN = "mean"
    MAX = "max"
    MIN = "min"


@dataclass(frozen=True)
class WriteResult:
    stored: int  # new readings now in the store
    duplicates: int  # readings already there (or repeated in the batch), not stored again


class TooManyPoints(ValueError):
    """A read would return more points than the caller allowed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"more than {limit} points")


@dataclass(frozen=True)
class RollupRow:
    """One row of a derived measurement (``space_hourly``, ``space_daily``, ``building_daily``).

    Identity is (measurement, tags, ts): writing the same identity again overwrites
    the fields, so rollups can be recomputed any number of times without doubling.
    """

    ts: datetime  # UTC start of the period (the hour, or local midnight of the day)
    tags: Mapping[str, str]
    fields: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QualityFlag:
    """A raw reading a data-quality check flagged; KPIs leave it out and count it."""

    sensor: str
    quantity: str
    ts: datetime  # UTC, the flagged reading's timestamp
    check: str  # gap, duplicate, range, spike, stuck, over_capacity, negative, register_decrease


@dataclass(frozen=True, slots=True)
class DeadLetterFilter:
    """Which dead letters to read; every condition given must hold (None: no condition)."""

    reason: str | None = None  # exactly this reason (campuslab.ingest.reasons.Reason)
    since: datetime | None = None  # received at or after (aware, or naive UTC)
    until: datetime | None = None  # received before: since <= received < until
    topic_prefix: str | None = None  # the topic starts with this text (case-sensitive)


DurableCallback = Callable[[WriteResult | None, BaseException | None], None]
"""Called once a submitted batch is durable (result) or cannot be made durable (error)."""


@runtime_checkable
class ReadingStore(Protocol):
    def write(self, batch: ReadingBatch) -> WriteResult:
        """Store a batch durably; duplicates are skipped and counted."""
        ...

    def submit(
        self, batch: ReadingBatch, dead_letters: Sequence[DeadLetter], on_durable: DurableCallback
    ) -> None:
        """Hand a batch (and its dead letters) over; ``on_durable`` says when it is safe.

        A synchronous backend writes and calls back before returning. A batching backend
        (InfluxDB) calls back from its own thread once every line is acknowledged by the
        server or kept in its local spool; with ``error`` when neither is possible (spool
        full), and the caller must not acknowledge the messages behind the batch.
        """
        ...

    def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Keep rejected messages, with their reasons, durably."""
        ...

    def write_rollups(self, measurement: str, rows: Sequence[RollupRow]) -> None:
        """Upsert derived rows: the same (measurement, tags, ts) is overwritten, never doubled."""
        ...

    def read_rollups(
        self,
        measurement: str,
        start: datetime,
        end: datetime,
        tags: Mapping[str, str] | None = None,
    ) -> list[RollupRow]:
        """Derived rows with start <= ts < end whose tags include ``tags``, by ts then tags."""
        ...

    def write_quality_flags(
        self, start: datetime, end: datetime, flags: Sequence[QualityFlag]
    ) -> None:
        """Replace the flags in [start, end) with ``flags`` (a rerun of the checks overwrites)."""
        ...

    def read_quality_flags(
        self, quantity: str, start: datetime, end: datetime, sensors: Sequence[str] | None = None
    ) -> list[QualityFlag]:
        """Flags of one quantity in [start, end), optionally for some sensors, by sensor and ts."""
        ...

    def delete_readings_before(self, cutoff: datetime) -> None:
        """Raw-data retention: drop raw readings older than ``cutoff`` (rollups are kept)."""
        ...

    def healthy(self) -> bool:
        """Whether writes can be made durable now (a store server is up, or spool has room)."""
        ...

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
        """Raw points of one sensor and quantity, or resampled when ``every`` is given.

        Raises TooManyPoints when more than ``limit`` points would come back.
        """
        ...

    def read_resampled(
        self,
        quantity: str,
        start: datetime,
        end: datetime,
        every: timedelta,
        aggregate: Aggregate = Aggregate.MEAN,
        sensors: Sequence[str] | None = None,
    ) -> dict[str, Series]:
        """Resampled series of one quantity for many sensors at once, keyed by sensor id."""
        ...

    def latest(self, quantity: str | None = None) -> list[LatestReading]:
        """The newest reading of each (sensor, quantity), optionally of one quantity."""
        ...

    def count(self, quantity: str | None = None) -> int:
        """How many readings are stored (of one quantity, if given)."""
        ...

    def dead_letters(
        self, limit: int = 100, offset: int = 0, where: DeadLetterFilter | None = None
    ) -> list[DeadLetter]:
        """Rejected messages matching ``where``, newest first: ``limit`` of them after
        skipping the ``offset`` newest. Letters received in the same microsecond keep
        one stable order, so pages of an unchanged store neither skip nor repeat."""
        ...

    def count_dead_letters(self, where: DeadLetterFilter | None = None) -> int:
        """How many rejected messages match ``where``."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class ArrowWriter(Protocol):
    """A backend that takes readings as one Arrow table: the history import's fast path.

    Both backends have it. Not part of ``ReadingStore`` so that ``write`` stays the one
    method every store (and every test double) must have.
    """

    def write_arrow(self, readings: pa.Table, dead_letters: pa.Table | None = None) -> WriteResult:
        """Store ``readings`` and keep ``dead_letters``, durably, before returning.

        ``readings`` has the columns ``ts`` (``timestamp[us]``, UTC), ``building``,
        ``sensor``, ``quantity`` (strings, plain or dictionary-encoded) and ``value``
        (float64, canonical unit), and must not hold the same (sensor, quantity, ts) twice
        (``campuslab.ingest.history.distinct_readings`` drops repeats); readings already
        stored are duplicates, not stored again, as for ``write``. ``dead_letters`` has the
        columns of ``DeadLetter`` (``received_at`` as ``timestamp[us]`` UTC, then ``topic``,
        ``payload``, ``reason``, ``detail``); one with the same (received time, topic) as a
        letter kept already is not kept twice.
        """
        ...


@runtime_checkable
class ParquetExporter(Protocol):
    """A backend that writes export files with its own engine (DuckDB: ``COPY ... TO``).

    Not part of ``ReadingStore``: exports read through ``read_resampled`` in time
    windows, are protected (``campuslab.analytics.privacy``) in between, and are
    written here as a stream, so memory does not grow with the range. A backend
    without this method (InfluxDB) gets pyarrow's ``ParquetWriter`` instead.
    """

    def write_parquet(self, rows: pa.RecordBatchReader, path: Path) -> int:
        """Write the stream ``rows`` to a new Parquet file at ``path``; return the row count.

        Reads the stream once, batch by batch: peak memory is a few row groups, not the file.
        """
        ...
