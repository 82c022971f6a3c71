"""SenML JSON packs (RFC 8428).

Resolution follows RFC 8428 section 4.6: base name, time, unit and value
(``bn``, ``bt``, ``bu``, ``bv``) apply to the records after them until changed;
a resolved time below 2**28 is relative to now; a field name ending in ``_``
must be understood, so a pack carrying one we do not know is rejected whole.

Records are resolved one by one: a bad record is rejected on its own, with
its index, and the good records of the pack are kept.
"""

from __future__ import annotations

import json
import math
import re

from campuslab.ingest.decoders.timestamps import (
    EARLIEST_US,
    Decoded,
    number,
)
from campuslab.ingest.reasons import Reason, Rejected

RELATIVE_TIME_LIMIT = 2**28  # RFC 8428 4.5.3: smaller resolved times are relative to now
_BASE_FIELDS = frozenset({"bn", "bt", "bu", "bv", "bs", "bver"})
_KNOWN_FIELDS = _BASE_FIELDS | {"n", "u", "v", "vs", "vb", "vd", "s", "t", "ut"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:./_-]*$")
_valid_names: set[str] = set()  # names seen valid; packs repeat the same few names


def decode_senml(payload: bytes, now_us: int) -> tuple[list[Decoded], list[Rejected]]:
    """Resolve a SenML pack into (readings, rejected records)."""
    try:
        pack = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Rejected(Reason.UNPARSEABLE, f"SenML pack is not JSON: {exc}") from None
    if not isinstance(pack, list) or not pack:
        raise Rejected(Reason.UNPARSEABLE, "SenML pack must be a non-empty JSON array of records")
    if b'_"' in payload:  # only then can a field name end in "_"
        _must_understand(pack)

    base_name, base_time, base_unit, base_value = "", 0.0, None, None
    readings: list[Decoded] = []
    rejected: list[Rejected] = []
    for index, record in enumerate(pack):
        if not isinstance(record, dict):
            rejected.append(Rejected(Reason.UNPARSEABLE, f"record {index} is not an object"))
            continue
        try:
            if "bn" in record:
                base_name = _text(record["bn"], "bn")
            if "bt" in record:
                base_time = number(record["bt"], "bt")
            if "bu" in record:
                base_unit = _text(record["bu"], "bu")
            if "bv" in record:
                base_value = number(record["bv"], "bv")
            if record.keys() <= _BASE_FIELDS:
                continue  # a header record that only sets base fields
            readings.append(_resolve(record, base_name, base_time, base_unit, base_value, now_us))
        except Rejected as exc:
            rejected.append(Rejected(exc.reason, f"record {index}: {exc.detail}"))
    return readings, rejected


def _must_understand(pack: list) -> None:
    for index, record in enumerate(pack):
        if isinstance(record, dict):
            unknown = [k for k in record if k.endswith("_") and k not in _KNOWN_FIELDS]
            if unknown:
                raise Rejected(
                    Reason.UNPARSEABLE,
                    f"record {index} has must-understand "
                    f"field(s) {unknown} that CampusLab does not support",
                )


def _resolve(
    record: dict,
    base_name: str,
    base_time: float,
    base_unit: str | None,
    base_value: float | None,
    now_us: int,
) -> Decoded:
    name = base_name + _text(record.get("n", ""), "n")
    if not name or not _NAME.match(name):
        raise Rejected(Reason.UNPARSEABLE, f"resolved name {name[:60]!r} is not a valid SenML name")
    if "v" in record:
        value = number(record["v"], "v") + (base_value or 0.0)
    elif any(k in record for k in ("vs", "vb", "vd")):
        raise Rejected(Reason.UNPARSEABLE, f"{name}: only numeric values (v) are supported")
    elif "s" in record:
        raise Rejected(
            Reason.UNPARSEABLE,
            f"{name}: sums (s) are not supported; send the register reading as v",
        )
    elif base_value is not None:
        value = base_value
    else:
        raise Rejected(Reason.UNPARSEABLE, f"{name}: record has no value")
    t = record.get("t", 0.0)
    time = base_time + (t if type(t) is float or type(t) is int else number(t, "t"))
    if not math.isfinite(time):
        raise Rejected(Reason.BAD_TIMESTAMP, f"{name}: time is not finite")
    if abs(time) < RELATIVE_TIME_LIMIT:
        ts_us = now_us + round(time * 1_000_000)
    else:
        ts_us = round(time * 1_000_000)  # SenML times are always seconds
        if ts_us < EARLIEST_US:
            raise Rejected(Reason.BAD_TIMESTAMP, f"{name}: time is before 2000")
    unit = record.get("u", base_unit)
    if unit is not None:
        unit = _text(unit, "u")
    return (name, ts_us, value, unit)


def _text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise Rejected(Reason.UNPARSEABLE, f"{field} must be text, not {type(value).__name__}")
    return value
