"""Single-reading payloads: a JSON object or a bare number.

``{"value": 612, "ts": "2026-11-26T10:00:00Z", "unit": "ppm"}``: ``ts`` may be
RFC 3339, epoch seconds or epoch milliseconds; without it the receive time
is used; without ``unit`` the canonical unit is assumed. Other fields
(battery, rssi, ...) are ignored: devices add metadata.
``612``: a bare number, timestamped with the receive time.
"""

from __future__ import annotations

import json

from campuslab.ingest.decoders.timestamps import Decoded, number, parse_timestamp
from campuslab.ingest.reasons import Reason, Rejected


def decode_single(payload: bytes) -> list[Decoded]:
    try:
        parsed = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Rejected(Reason.UNPARSEABLE, f"not a JSON object or a number: {exc}") from None
    if isinstance(parsed, dict):
        return [_from_object(parsed)]
    if isinstance(parsed, bool) or not isinstance(parsed, int | float):
        raise Rejected(
            Reason.UNPARSEABLE,
            "payload must be a JSON object with 'value' or a "
            f"bare number, not {type(parsed).__name__}",
        )
    return [(None, None, float(parsed), None)]


def _from_object(reading: dict) -> Decoded:
    if "value" not in reading:
        raise Rejected(Reason.UNPARSEABLE, "JSON object has no 'value'")
    value = number(reading["value"], "value")
    ts = reading.get("ts")
    ts_us = None if ts is None else parse_timestamp(ts)
    unit = reading.get("unit")
    if unit is not None and not isinstance(unit, str):
        raise Rejected(Reason.BAD_UNIT, "unit must be text such as 'ppm'")
    return (None, ts_us, value, unit)
