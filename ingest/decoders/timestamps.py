"""Timestamps in payloads: RFC 3339 text, or epoch seconds or milliseconds."""

from __future__ import annotations

import math
from datetime import datetime

from campuslab.core.readings import to_epoch_us
from campuslab.ingest.reasons import Reason, Rejected

# (name, ts_us, value, unit)
Decoded = tuple[str | None, int | None, float, str | None]

EARLIEST_US = 946_684_800 * 1_000_000  # 2000-01-01T00:00:00Z
# Epoch numbers above this are milliseconds: 1e11 s would be the year 5138.
_MILLISECONDS_FROM = 1e11


def epoch_number_to_us(number: float) -> int:
    """Epoch seconds or milliseconds (told apart by size) to microseconds."""
    if not math.isfinite(number):
        raise Rejected(Reason.BAD_TIMESTAMP, f"ts {number!r} is not a finite number")
    if abs(number) >= _MILLISECONDS_FROM:
        return round(number * 1_000)
    return round(number * 1_000_000)


def parse_timestamp(ts: object) -> int:
    """A payload's ``ts`` in microseconds since the epoch, UTC.

    Accepts RFC 3339 text with an offset or Z, or epoch seconds or milliseconds.
    Rejects times before 2000, which come from devices whose clock is not set.
    """
    if isinstance(ts, bool):
        raise Rejected(
            Reason.BAD_TIMESTAMP, "ts must be RFC 3339 text or epoch seconds/ms, not true/false"
        )
    if isinstance(ts, int | float):
        us = epoch_number_to_us(float(ts))
    elif isinstance(ts, str):
        try:
            moment = datetime.fromisoformat(ts)
        except ValueError:
            raise Rejected(
                Reason.BAD_TIMESTAMP,
                f"ts {ts[:40]!r} is not RFC 3339 (e.g. 2026-11-26T10:00:00Z) or epoch seconds",
            ) from None
        if moment.tzinfo is None:
            raise Rejected(
                Reason.BAD_TIMESTAMP, f"ts {ts[:40]!r} has no UTC offset; add Z or +01:00"
            )
        us = to_epoch_us(moment)
    else:
        raise Rejected(
            Reason.BAD_TIMESTAMP,
            f"ts must be RFC 3339 text or epoch seconds/ms, not {type(ts).__name__}",
        )
    if us < EARLIEST_US:
        raise Rejected(Reason.BAD_TIMESTAMP, "ts is before 2000; is the device clock set?")
    return us


def number(value: object, field: str) -> float:
    """A JSON number as float; booleans and strings are not numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Rejected(
            Reason.UNPARSEABLE,
            f"{field} must be a number, not "
            f"{'a boolean' if isinstance(value, bool) else type(value).__name__}",
        )
    return float(value)
