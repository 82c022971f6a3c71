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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol, runtime_checkable

from campuslab.core.readings import DeadLetter, LatestReading, ReadingBatch, Series


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


@runtime_checkable
class ReadingStore(Protocol):
    def write(self, batch: ReadingBatch) -> WriteResult:
        """Store a batch durably; duplicates are skipped and counted."""
        ...

    def write_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Keep rejected messages, with their reasons, durably."""
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

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The newest rejected messages, newest first."""
        ...

    def close(self) -> None: ...
