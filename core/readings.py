"""The reading model: what ingest produces and every store backend accepts.

A reading is (timestamp UTC, building, space-or-meter id, quantity, value in
the canonical unit). Batches are columnar so that backends can insert them
in one statement (ARCHITECTURE.md: never row by row).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

US_PER_S = 1_000_000


@dataclass(frozen=True, slots=True)
class Reading:
    ts_us: int  # microseconds since the Unix epoch, UTC
    building: str
    sensor: str  # space id or meter id
    quantity: str
    value: float

    @property
    def timestamp(self) -> datetime:
        return from_epoch_us(self.ts_us)


@dataclass
class ReadingBatch:
    """Columnar readings, appended to cheaply and handed to a store in one call."""

    ts_us: list[int] = field(default_factory=list)
    building: list[str] = field(default_factory=list)
    sensor: list[str] = field(default_factory=list)
    quantity: list[str] = field(default_factory=list)
    value: list[float] = field(default_factory=list)

    def append(self, ts_us: int, building: str, sensor: str, quantity: str, value: float) -> None:
        self.ts_us.append(ts_us)
        self.building.append(building)
        self.sensor.append(sensor)
        self.quantity.append(quantity)
        self.value.append(value)

    def extend(self, readings: list[Reading]) -> None:
        for r in readings:
            self.append(r.ts_us, r.building, r.sensor, r.quantity, r.value)

    def __len__(self) -> int:
        return len(self.ts_us)

    def __iter__(self):
        for row in zip(
            self.ts_us, self.building, self.sensor, self.quantity, self.value, strict=True
        ):
            yield Reading(*row)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that could not become a valid reading, kept with the reason why."""

    received_us: int
    topic: str
    payload: str  # truncated, decoded leniently for humans
    reason: str  # machine-readable reason, the label of campuslab_ingest_rejected_total
    detail: str  # what exactly was wrong, for a person


@dataclass(frozen=True)
class Series:
    """A time series: UTC timestamps (numpy datetime64[us]) and float64 values."""

    ts: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        if self.ts.shape != self.values.shape:
            raise ValueError("timestamps and values must have the same length")

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @classmethod
    def empty(cls) -> Series:
        return cls(np.empty(0, dtype="datetime64[us]"), np.empty(0, dtype=np.float64))


@dataclass(frozen=True, slots=True)
class LatestReading:
    building: str
    sensor: str
    quantity: str
    ts: datetime
    value: float


def to_epoch_us(moment: datetime) -> int:
    """Microseconds since the epoch for an aware datetime (naive is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * US_PER_S + delta.microseconds


def from_epoch_us(us: int) -> datetime:
    return datetime.fromtimestamp(us // US_PER_S, tz=UTC).replace(microsecond=us % US_PER_S)


def isoformat_utc(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z, with fractional seconds only when there are any."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"
