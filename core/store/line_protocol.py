"""InfluxDB line protocol for CampusLab's layout (ARCHITECTURE.md, "InfluxDB layout").

One measurement per quantity (``co2``, ``occupancy``, ...), one field ``value``.
Tags:
- a space's readings: ``site``, ``building``, ``floor``, ``space``, ``space_type``;
- a meter's readings: ``site``, ``building``, ``meter``.
Derived rows go to their own measurements (``space_hourly``, ``space_daily``,
``building_daily``) with the tags and fields they carry. Timestamps are in
microseconds (precision ``us``).

This is the one place that writes line protocol: the InfluxDB writer uses it,
and tests seed InfluxDB 1.x's ``/write`` with exactly these lines.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from campuslab.core.readings import DeadLetter, ReadingBatch, to_epoch_us
from campuslab.core.registry import Campus
from campuslab.core.store.port import RollupRow

PRECISION = "us"
DEAD_LETTER_MEASUREMENT = "dead_letters"


def escape_key(text: str) -> str:
    """Measurement names, tag keys, tag values and field keys: escape , = and space."""
    return (
        text.replace("\\", "\\\\")
        .replace(",", "\\,")
        .replace("=", "\\=")
        .replace(" ", "\\ ")
        .replace("\n", "\\n")
    )


def escape_measurement(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")


def string_field(text: str) -> str:
    """A quoted string field. Line protocol has no escape for a newline: ``\\n`` is kept
    as those two characters, so a raw newline would not read back as itself. Ingest
    already writes a dead letter's line breaks as visible escapes (``ingest/processor.py``),
    so this replacement is only the guard that keeps one record on one line."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def float_field(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"line protocol cannot carry {value!r}")
    return repr(float(value))


def tag_string(tags: Mapping[str, str]) -> str:
    """``,k=v,k=v`` sorted by key (InfluxDB's preferred order); empty values are left out."""
    return "".join(
        f",{escape_key(k)}={escape_key(str(tags[k]))}" for k in sorted(tags) if str(tags[k]) != ""
    )


class LineProtocolEncoder:
    """Turns CampusLab data into line protocol, with the registry's tags for each sensor."""

    def __init__(self, campus: Campus) -> None:
        self.campus = campus
        self._tags: dict[str, str] = {}

    def sensor_tags(self, building: str, sensor: str) -> dict[str, str]:
        site = self.campus.site.id
        space = self.campus.space(sensor)
        if space is not None:
            return {
                "site": site,
                "building": building,
                "floor": str(space.floor),
                "space": sensor,
                "space_type": space.type.value,
            }
        return {"site": site, "building": building, "meter": sensor}

    def _tag_string(self, building: str, sensor: str) -> str:
        key = f"{building}/{sensor}"
        found = self._tags.get(key)
        if found is None:
            found = tag_string(self.sensor_tags(building, sensor))
            self._tags[key] = found
        return found

    def readings(self, batch: ReadingBatch) -> list[str]:
        tags = self._tag_string
        return [
            f"{escape_measurement(quantity)}{tags(building, sensor)} value={value!r} {ts_us}"
            for ts_us, building, sensor, quantity, value in zip(
                batch.ts_us,
                batch.building,
                batch.sensor,
                batch.quantity,
                map(float, batch.value),
                strict=True,
            )
        ]

    def rollups(self, measurement: str, rows: Iterable[RollupRow]) -> list[str]:
        lines = []
        for row in rows:
            fields = ",".join(
                f"{escape_key(k)}={float_field(v)}"
                for k, v in sorted(row.fields.items())
                if math.isfinite(v)
            )
            if fields:  # a row with no finite field has nothing to say
                lines.append(
                    f"{escape_measurement(measurement)}{tag_string(row.tags)} "
                    f"{fields} {to_epoch_us(row.ts)}"
                )
        return lines

    def dead_letters(self, letters: Iterable[DeadLetter]) -> list[str]:
        return [
            f"{DEAD_LETTER_MEASUREMENT},reason={escape_key(d.reason)} "
            f"topic={string_field(d.topic)},payload={string_field(d.payload)},"
            f"detail={string_field(d.detail)} {d.received_us}"
            for d in letters
        ]
