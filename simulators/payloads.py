"""MQTT messages for readings, in the payload formats CampusLab ingests.

- ``json``: topic ``{prefix}/{building}/{sensor}/{quantity}``, payload
  ``{"value":612,"ts":"2026-11-26T10:00:00Z","unit":"ppm"}`` (canonical unit);
- ``bare``: same topic, payload ``612``: no timestamp, the receiver stamps it on
  arrival, so bare only suits live mode;
- ``senml``: topic ``{prefix}/{building}/{sensor}/senml``, one RFC 8428 SenML
  JSON pack per sensor per batch.

- ``ttn``: as the registry's devices on The Things Stack v3 would publish: one
  uplink (``v3/{application}@ttn/devices/{device}/up``, ``decoded_payload`` as the
  device's profile reads it) per device per step, carrying every quantity its profile
  maps (a PIR profile's presence from the occupancy); readings of spaces, meters and
  the weather station without such a device go out as ``json``.

SenML packs carry the base name ``urn:campuslab:{building}:{sensor}:`` and
the base time (epoch seconds of the first reading) in the first record;
records name the quantity (``n``), so each resolved name ends in it, and
carry the time relative to the base time (``t``), the value (``v``) and the
SenML unit (``u``; RFC 8428 and the RFC 8798 additions): count, ppm, Cel,
%RH, kWh, kW. A pack whose records all share a unit (a meter's) states it
once as the base unit ``bu``. Packs hold at most 500 records, well under
ingest's 64 KiB payload limit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from campuslab.core.quantities import QUANTITIES
from campuslab.core.readings import US_PER_S, ReadingBatch, isoformat_utc
from campuslab.core.registry import Campus

FORMATS = ("json", "senml", "bare", "ttn")
TTN_APPLICATION = "campuslab-sim"
SENML_UNITS = {
    "occupancy": "count",
    "co2": "ppm",
    "temperature": "Cel",
    "humidity": "%RH",
    "energy": "kWh",
    "heat_energy": "kWh",
    "power": "kW",
}
MAX_SENML_RECORDS = 500
INGEST_PAYLOAD_LIMIT_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    readings: int  # readings the payload carries


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown payload format {fmt!r}; use one of {', '.join(FORMATS)}")
    return fmt


def encode(
    batch: ReadingBatch, fmt: str, prefix: str = "campus", campus: Campus | None = None
) -> Iterator[tuple[str, bytes]]:
    """(topic, payload) of each MQTT message that carries ``batch`` in format ``fmt``."""
    for message in encode_messages(batch, fmt, prefix, campus):
        yield message.topic, message.payload


def encode_messages(
    batch: ReadingBatch, fmt: str, prefix: str = "campus", campus: Campus | None = None
) -> Iterator[Message]:
    """Like ``encode``, with the number of readings ingest stores from each message.

    ``ttn`` needs the ``campus`` whose registry lists the devices.
    """
    check_format(fmt)
    if fmt == "senml":
        yield from _senml_messages(batch, prefix)
    elif fmt == "ttn":
        if campus is None:
            raise ValueError("the ttn format publishes as the registry's devices: pass the campus")
        yield from _ttn_messages(batch, prefix, campus)
    else:
        yield from _single_messages(batch, fmt, prefix)


def format_number(value: float) -> str:
    """A JSON number: integral values without a decimal point, others as short as exact."""
    if not math.isfinite(value):
        raise ValueError(f"{value!r} cannot be sent as a JSON number")
    if value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _single_messages(batch: ReadingBatch, fmt: str, prefix: str) -> Iterator[Message]:
    timestamps: dict[int, str] = {}
    units = {q: json.dumps(spec.unit, ensure_ascii=False) for q, spec in QUANTITIES.items()}
    for ts_us, building, sensor, quantity, value in zip(
        batch.ts_us, batch.building, batch.sensor, batch.quantity, batch.value, strict=True
    ):
        topic = f"{prefix}/{building}/{sensor}/{quantity}"
        number = format_number(value)
        if fmt == "bare":
            yield Message(topic, number.encode(), 1)
            continue
        ts = timestamps.get(ts_us)
        if ts is None:
            ts = timestamps[ts_us] = isoformat_utc(
                datetime.fromtimestamp(ts_us // US_PER_S, UTC).replace(microsecond=ts_us % US_PER_S)
            )
        unit = units.get(quantity) or json.dumps(quantity)
        yield Message(topic, f'{{"value":{number},"ts":"{ts}","unit":{unit}}}'.encode(), 1)


def _senml_messages(batch: ReadingBatch, prefix: str) -> Iterator[Message]:
    by_sensor: dict[tuple[str, str], list[tuple[int, str, float]]] = {}
    for ts_us, building, sensor, quantity, value in zip(
        batch.ts_us, batch.building, batch.sensor, batch.quantity, batch.value, strict=True
    ):
        by_sensor.setdefault((building, sensor), []).append((ts_us, quantity, value))
    for (building, sensor), records in by_sensor.items():
        records.sort(key=lambda r: r[0])  # stable: keeps quantity order within a step
        topic = f"{prefix}/{building}/{sensor}/senml"
        base_name = f"urn:campuslab:{building}:{sensor}:"
        for first in range(0, len(records), MAX_SENML_RECORDS):
            pack = records[first : first + MAX_SENML_RECORDS]
            yield Message(topic, senml_pack(base_name, pack).encode(), len(pack))


def senml_pack(base_name: str, records: list[tuple[int, str, float]]) -> str:
    """An RFC 8428 SenML JSON pack of (ts_us, quantity, value) records, sorted by time."""
    base_us = records[0][0]
    units = {SENML_UNITS.get(q, "") for _, q, _ in records}
    shared_unit = units.pop() if len(units) == 1 else None
    parts = []
    for index, (ts_us, quantity, value) in enumerate(records):
        fields = []
        if index == 0:
            fields.append(f'"bn":{json.dumps(base_name)}')
            fields.append(f'"bt":{format_number(base_us / US_PER_S)}')
            if shared_unit:
                fields.append(f'"bu":"{shared_unit}"')
        fields.append(f'"n":{json.dumps(quantity)}')
        if shared_unit is None and SENML_UNITS.get(quantity):
            fields.append(f'"u":"{SENML_UNITS[quantity]}"')
        if ts_us != base_us:
            fields.append(f'"t":{format_number((ts_us - base_us) / US_PER_S)}')
        fields.append(f'"v":{format_number(value)}')
        parts.append("{" + ",".join(fields) + "}")
    return "[" + ",".join(parts) + "]"


# -- The Things Stack uplinks ----------------------------------------------------------


@dataclass(frozen=True)
class _TtnDevice:
    """A registry device on The Things Stack and how its profile's fields are written."""

    topic: str
    ids: str  # the end_device_ids object, as JSON
    fields: tuple[tuple[str, str, float], ...]  # (quantity, field, scale) it reports
    presence: tuple[str, object, object] | None  # (field, value when present, when not)
    battery_field: str | None


def _ttn_devices(campus: Campus) -> dict[str, list[_TtnDevice]]:
    found: dict[str, list[_TtnDevice]] = {}
    for device in campus.devices:
        profile = campus.profiles.get(device.model or "")
        if profile is None or not (device.dev_eui or device.ttn_device_id) or not device.space:
            continue
        device_id = device.ttn_device_id or f"eui-{(device.dev_eui or '').lower()}"
        ids = {"device_id": device_id, "application_ids": {"application_id": TTN_APPLICATION}}
        if device.dev_eui:
            ids["dev_eui"] = device.dev_eui
        fields = tuple(
            (q, m.fields[0], m.scale) for q, m in profile.readings.items() if q != "presence"
        )
        presence = None
        if "presence" in profile.readings:
            mapping = profile.readings["presence"]
            on = next((k for k, v in mapping.values.items() if v == 1 and k not in ("true",)), 1)
            off = next((k for k, v in mapping.values.items() if v == 0 and k not in ("false",)), 0)
            presence = (mapping.fields[0], on, off)
        battery = profile.health.get("battery")
        found.setdefault(device.space, []).append(
            _TtnDevice(
                f"v3/{TTN_APPLICATION}@ttn/devices/{device_id}/up",
                json.dumps(ids),
                fields,
                presence,
                battery[0] if battery else None,
            )
        )
    return found


def _ttn_messages(batch: ReadingBatch, prefix: str, campus: Campus) -> Iterator[Message]:
    devices = _ttn_devices(campus)
    steps: dict[tuple[int, str], dict[str, float]] = {}
    others = ReadingBatch()
    for ts_us, building, sensor, quantity, value in zip(
        batch.ts_us, batch.building, batch.sensor, batch.quantity, batch.value, strict=True
    ):
        if sensor in devices:
            steps.setdefault((ts_us, sensor), {})[quantity] = value
        else:
            others.append(ts_us, building, sensor, quantity, value)
    for (ts_us, sensor), values in steps.items():
        stamp = isoformat_utc(
            datetime.fromtimestamp(ts_us // US_PER_S, UTC).replace(microsecond=ts_us % US_PER_S)
        )
        covered: set[str] = set()
        for device in devices[sensor]:
            decoded: dict[str, object] = {}
            for quantity, field, scale in device.fields:
                if quantity in values:
                    decoded[field] = values[quantity] / scale if scale != 1 else values[quantity]
                    covered.add(quantity)
            readings = len(decoded)
            if device.presence is not None and "occupancy" in values:
                field, on, off = device.presence
                decoded[field] = on if values["occupancy"] >= 1 else off
                readings += 1
            if not readings:
                continue
            if device.battery_field:
                decoded[device.battery_field] = 92
            body = (
                f'{{"end_device_ids":{device.ids},"received_at":"{stamp}","uplink_message":'
                f'{{"f_port":85,"decoded_payload":{json.dumps(decoded)},"rx_metadata":'
                f'[{{"gateway_ids":{{"gateway_id":"sim-gw"}},"rssi":-88,"snr":8.5}}],'
                f'"received_at":"{stamp}"}}}}'
            )
            yield Message(device.topic, body.encode(), readings)
        for quantity, value in values.items():
            if quantity not in covered:
                building = campus.building_of(sensor)
                others.append(ts_us, building.id if building else "", sensor, quantity, value)
    yield from _single_messages(others, "json", prefix)


# -- the garbage fault ------------------------------------------------------------------

REJECT_REASONS = (
    "unparseable",
    "unknown_building",
    "unknown_sensor",
    "unknown_quantity",
    "bad_unit",
    "not_finite",
    "out_of_range",
    "future_timestamp",
    "too_large",
)


@dataclass(frozen=True, slots=True)
class GarbageMessage:
    topic: str
    payload: bytes
    reason: str  # the reject reason ingest must give (campuslab_ingest_rejected_total label)


def _unused_id(campus: Campus, rng: np.random.Generator, kind: str) -> str:
    while True:
        candidate = f"ghost-{kind}-{int(rng.integers(1_000_000)):06d}"
        if campus.building(candidate) is None and campus.building_of(candidate) is None:
            return candidate


def garbage_messages(
    campus: Campus, rng: np.random.Generator, prefix: str = "campus"
) -> list[GarbageMessage]:
    """Malformed messages, one or more per reject reason, aimed at a random real space.

    | reason             | what is wrong                                               |
    |--------------------|-------------------------------------------------------------|
    | `unparseable`      | truncated JSON; a SenML "pack" that is an object, not a list |
    | `unknown_building` | topic names a building not in the registry                  |
    | `unknown_sensor`   | topic names a space or meter not in that building           |
    | `unknown_quantity` | topic names a quantity CampusLab does not know (radon)      |
    | `bad_unit`         | CO2 in mg/m3, which cannot be converted to ppm              |
    | `not_finite`       | temperature NaN (Python's json accepts the NaN token)       |
    | `out_of_range`     | humidity of 140 %RH                                         |
    | `future_timestamp` | a reading stamped 2099-01-01                                |
    | `too_large`        | a 70 000-byte payload, over the 64 KiB limit                |

    Deterministic for a given ``rng`` state.
    """
    with_spaces = [b for b in campus.buildings if b.spaces]
    building = with_spaces[int(rng.integers(len(with_spaces)))]
    space = building.spaces[int(rng.integers(len(building.spaces)))]
    here = f"{prefix}/{building.id}/{space.id}"
    padding = "x" * (INGEST_PAYLOAD_LIMIT_BYTES + 4_000)
    return [
        GarbageMessage(f"{here}/co2", b'{"value": 6', "unparseable"),
        GarbageMessage(f"{here}/senml", b'{"bn": "urn:campuslab:", "v": 1}', "unparseable"),
        GarbageMessage(
            f"{prefix}/{_unused_id(campus, rng, 'building')}/{space.id}/co2",
            b'{"value": 612, "unit": "ppm"}',
            "unknown_building",
        ),
        GarbageMessage(
            f"{prefix}/{building.id}/{_unused_id(campus, rng, 'room')}/co2",
            b'{"value": 612, "unit": "ppm"}',
            "unknown_sensor",
        ),
        GarbageMessage(f"{here}/radon", b'{"value": 87, "unit": "Bq/m3"}', "unknown_quantity"),
        GarbageMessage(f"{here}/co2", b'{"value": 1100, "unit": "mg/m3"}', "bad_unit"),
        GarbageMessage(
            f"{here}/temperature", '{"value": NaN, "unit": "°C"}'.encode(), "not_finite"
        ),
        GarbageMessage(f"{here}/humidity", b'{"value": 140.0, "unit": "%RH"}', "out_of_range"),
        GarbageMessage(
            f"{here}/co2",
            b'{"value": 612, "ts": "2099-01-01T00:00:00Z", "unit": "ppm"}',
            "future_timestamp",
        ),
        GarbageMessage(
            f"{here}/co2", f'{{"value": 612, "note": "{padding}"}}'.encode(), "too_large"
        ),
    ]
