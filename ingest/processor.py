"""From MQTT message to readings: topic mapping, decoding, unit conversion, validation.

``MessageProcessor.process`` is the hot path of ingest. It knows the campus
registry and the bad-input rules (ARCHITECTURE.md) but nothing of MQTT or of
the store, so it is tested and benchmarked on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta

import paho.mqtt.client as mqtt

from campuslab.core.quantities import QUANTITIES, Quantity, UnitError
from campuslab.core.readings import DeadLetter, ReadingBatch
from campuslab.core.registry import Campus
from campuslab.ingest.decoders import Decoded, decode_senml, decode_single
from campuslab.ingest.device_health import DeviceHealthBook
from campuslab.ingest.devices import DeviceMapper, MappedUplink
from campuslab.ingest.networks import NetworkAdapter, Uplink, adapter_for
from campuslab.ingest.reasons import Reason, Rejected

SENML_SUFFIX = "senml"
DEAD_LETTER_PAYLOAD_BYTES = 512


@dataclass(frozen=True)
class IngestLimits:
    max_payload_bytes: int = 64 * 1024
    max_future: timedelta = timedelta(minutes=5)  # clock skew allowed for device timestamps


@dataclass(frozen=True, slots=True)
class _Route:
    """What a topic resolves to: the sensor, and its quantity (None for a SenML pack)."""

    building: str
    sensor: str
    quantity: Quantity | None
    allowed: frozenset[str]
    by_name: dict[str, Quantity] = field(default_factory=dict)  # SenML name -> quantity


class MessageProcessor:
    """Turns (topic, payload) into readings in a batch, or dead letters saying why not.

    Topics under ``prefix`` follow CampusLab's own scheme; the topics of the registry's
    ``networks:`` go to their adapters, and the registered devices' profiles say what
    their fields are.
    """

    def __init__(
        self,
        campus: Campus,
        prefix: str = "campus",
        limits: IngestLimits | None = None,
        health: DeviceHealthBook | None = None,
    ) -> None:
        self.campus = campus
        self.prefix = prefix
        self.limits = limits or IngestLimits()
        self.health = health if health is not None else DeviceHealthBook()
        self.devices = DeviceMapper(campus, self.health)
        self.unmapped_fields: dict[str, int] = {}  # device model -> fields not read
        self._routes: dict[str, _Route] = {}
        self._own_topics = f"{prefix}/"
        self._networks: list[tuple[str, NetworkAdapter]] = [
            (connection.subscription, adapter_for(connection, campus))
            for connection in campus.networks
        ]
        self._adapters: dict[str, NetworkAdapter | None] = {}
        self._max_future_us = int(self.limits.max_future.total_seconds() * 1_000_000)

    @property
    def topic_filters(self) -> list[str]:
        """What to subscribe to: the campus's own scheme, then each network's topics."""
        return [f"{self.prefix}/#", *(topic for topic, _ in self._networks)]

    def process(
        self,
        topic: str,
        payload: bytes,
        received_us: int,
        batch: ReadingBatch,
        dead_letters: list[DeadLetter],
        retained: bool = False,
    ) -> int:
        """Add the message's readings to ``batch`` and its rejects to ``dead_letters``.

        ``retained`` says the broker replayed a retained message on subscribe (some
        networks, such as Home Assistant's statestream, publish states retained).
        Returns how many readings were accepted.
        """
        if self._networks and not topic.startswith(self._own_topics):
            return self._process_network(topic, payload, received_us, batch, dead_letters, retained)
        try:
            if len(payload) > self.limits.max_payload_bytes:
                raise Rejected(
                    Reason.TOO_LARGE,
                    f"payload is {len(payload)} bytes; the limit "
                    f"is {self.limits.max_payload_bytes}",
                )
            route = self._route(topic)
            if route.quantity is None:
                decoded, bad_records = decode_senml(payload, received_us)
                for rejected in bad_records:
                    dead_letters.append(_dead_letter(topic, payload, received_us, rejected))
            else:
                decoded = decode_single(payload)
        except Rejected as rejected:
            dead_letters.append(_dead_letter(topic, payload, received_us, rejected))
            return 0
        accepted = 0
        for item in decoded:
            try:
                self._accept(route, item, received_us, batch)
                accepted += 1
            except Rejected as rejected:
                dead_letters.append(_dead_letter(topic, payload, received_us, rejected))
        return accepted

    def _accept(self, route: _Route, item: Decoded, received_us: int, batch: ReadingBatch) -> None:
        name, ts_us, value, unit = item
        spec = route.quantity or self._quantity_from_name(route, name or "")
        self._validate_and_add(
            route.building, route.sensor, spec, ts_us, value, unit, received_us, batch
        )

    def _validate_and_add(
        self,
        building: str,
        sensor: str,
        spec: Quantity,
        ts_us: int | None,
        value: float,
        unit: str | None,
        received_us: int,
        batch: ReadingBatch,
    ) -> None:
        if ts_us is None:
            ts_us = received_us
        elif ts_us - received_us > self._max_future_us:
            raise Rejected(
                Reason.FUTURE_TIMESTAMP,
                f"{spec.name}: timestamp is "
                f"{(ts_us - received_us) / 1e6:.0f} s ahead of the receive time "
                f"(limit {self.limits.max_future.total_seconds():.0f} s)",
            )
        if not math.isfinite(value):
            raise Rejected(Reason.NOT_FINITE, f"{spec.name}: value {value!r} is not finite")
        try:
            value = spec.to_canonical(value, unit)
        except UnitError as exc:
            raise Rejected(Reason.BAD_UNIT, str(exc)) from None
        if not spec.minimum <= value <= spec.maximum:
            raise Rejected(
                Reason.OUT_OF_RANGE,
                f"{spec.name}: {value:g} {spec.unit} is outside "
                f"the physical range {spec.minimum:g}..{spec.maximum:g} {spec.unit}",
            )
        if spec.whole_numbers and not float(value).is_integer():
            # a head count is whole people; a gateway's average is not a count (CampusLab
            # averages in its rollups), and 2.5 stored would read as 3 people on the page
            raise Rejected(
                Reason.FRACTIONAL_COUNT,
                f"{spec.name}: {value:g} is not a whole number of people; a count must be "
                "whole (send the counted value, not an average: CampusLab averages it)",
            )
        batch.append(ts_us, building, sensor, spec.name, value)

    # -- real networks ------------------------------------------------------------
    def _process_network(
        self,
        topic: str,
        payload: bytes,
        received_us: int,
        batch: ReadingBatch,
        dead_letters: list[DeadLetter],
        retained: bool,
    ) -> int:
        try:
            if len(payload) > self.limits.max_payload_bytes:
                raise Rejected(
                    Reason.TOO_LARGE,
                    f"payload is {len(payload)} bytes; the limit "
                    f"is {self.limits.max_payload_bytes}",
                )
            uplinks = self._adapter(topic).decode(topic, payload, received_us, retained)
        except Rejected as rejected:
            dead_letters.append(_dead_letter(topic, payload, received_us, rejected))
            return 0
        accepted = 0
        for uplink in uplinks:
            for rejected in uplink.rejected:
                dead_letters.append(_dead_letter(topic, payload, received_us, rejected))
            try:
                mapped = self.devices.map(uplink, received_us)
            except Rejected as rejected:
                if rejected.reason is Reason.UNKNOWN_DEVICE and (
                    not uplink.carries_readings or _status_note(uplink)
                ):
                    # a join, status or death of an unregistered device is not worth a
                    # dead letter; its uplinks already say it is missing from the registry
                    continue
                dead_letters.append(_dead_letter(topic, payload, received_us, rejected))
                continue
            for rejected in mapped.rejected:
                dead_letters.append(_dead_letter(topic, payload, received_us, rejected))
            accepted += self._add_device_readings(
                uplink, mapped, topic, payload, received_us, batch, dead_letters
            )
        return accepted

    def _add_device_readings(
        self,
        uplink: Uplink,
        mapped: MappedUplink,
        topic: str,
        payload: bytes,
        received_us: int,
        batch: ReadingBatch,
        dead_letters: list[DeadLetter],
    ) -> int:
        if mapped.unmapped:
            model = mapped.device.model or mapped.device.quantity or "?"
            self.unmapped_fields[model] = self.unmapped_fields.get(model, 0) + mapped.unmapped
        allowed = self.campus.quantities_of(mapped.building, mapped.sensor) or ()
        accepted = 0
        for quantity, ts_us, value, unit in mapped.readings:
            try:
                if quantity not in allowed:
                    raise Rejected(
                        Reason.UNKNOWN_QUANTITY,
                        f"{mapped.sensor} does not report {quantity} "
                        f"(it reports {', '.join(sorted(allowed))})",
                    )
                self._validate_and_add(
                    mapped.building,
                    mapped.sensor,
                    QUANTITIES[quantity],
                    ts_us,
                    value,
                    unit,
                    received_us,
                    batch,
                )
                accepted += 1
            except Rejected as rejected:
                named = Rejected(rejected.reason, f"{uplink.describe}: {rejected.detail}")
                dead_letters.append(_dead_letter(topic, payload, received_us, named))
        return accepted

    def _adapter(self, topic: str) -> NetworkAdapter:
        if topic in self._adapters:
            adapter = self._adapters[topic]
        else:
            adapter = next((a for f, a in self._networks if mqtt.topic_matches_sub(f, topic)), None)
            if len(self._adapters) < 100_000:  # bounded: garbage topics must not grow memory
                self._adapters[topic] = adapter
        if adapter is None:
            networks = ", ".join(f for f, _ in self._networks)
            raise Rejected(
                Reason.BAD_TOPIC,
                f"topic {topic[:120]!r} is neither {self.prefix}/<building>/<space-or-meter>/"
                f"<quantity|senml> nor a topic of the registry's networks ({networks})",
            )
        return adapter

    def _quantity_from_name(self, route: _Route, name: str) -> Quantity:
        # RFC 8428 names such as "urn:campuslab:rfb:rfb-101:co2": the quantity is the last part.
        spec = route.by_name.get(name)
        if spec is None:
            spec = self._quantity(route, name.replace("/", ":").rsplit(":", 1)[-1])
            if len(route.by_name) < 64:
                route.by_name[name] = spec
        return spec

    def _quantity(self, route: _Route, name: str) -> Quantity:
        if name not in route.allowed:
            if name in QUANTITIES:
                raise Rejected(
                    Reason.UNKNOWN_QUANTITY,
                    f"{route.sensor} does not report {name} "
                    f"(it reports {', '.join(sorted(route.allowed))})",
                )
            raise Rejected(
                Reason.UNKNOWN_QUANTITY,
                f"unknown quantity {name[:40]!r} (known: {', '.join(QUANTITIES)})",
            )
        return QUANTITIES[name]

    def _route(self, topic: str) -> _Route:
        route = self._routes.get(topic)
        if route is None:
            route = self._resolve_topic(topic)
            if len(self._routes) < 100_000:  # bounded: garbage topics must not grow memory
                self._routes[topic] = route
        return route

    def _resolve_topic(self, topic: str) -> _Route:
        parts = topic.split("/")
        if len(parts) != 4 or parts[0] != self.prefix:
            raise Rejected(
                Reason.BAD_TOPIC,
                f"topic {topic[:120]!r} is not "
                f"{self.prefix}/<building>/<space-or-meter>/<quantity|senml>",
            )
        _, building_id, sensor_id, last = parts
        if self.campus.building(building_id) is None:
            raise Rejected(
                Reason.UNKNOWN_BUILDING, f"no building {building_id[:60]!r} in the campus registry"
            )
        allowed = self.campus.quantities_of(building_id, sensor_id)
        if allowed is None:
            elsewhere = self.campus.building_of(sensor_id)
            hint = f"; it belongs to building {elsewhere.id!r}" if elsewhere else ""
            raise Rejected(
                Reason.UNKNOWN_SENSOR,
                f"no space or meter {sensor_id[:60]!r} in building {building_id!r}{hint}",
            )
        route = _Route(building_id, sensor_id, None, frozenset(allowed))
        if last == SENML_SUFFIX:
            return route
        return _Route(building_id, sensor_id, self._quantity(route, last), route.allowed)


def _status_note(uplink: Uplink) -> bool:
    """An uplink that only says how the device is (online, signal), with nothing to read."""
    return not uplink.fields and uplink.value is None


# Line breaks and tabs in a dead letter's text are written as visible escapes. InfluxDB
# line protocol cannot carry a raw newline (it reads back as a literal backslash-n while
# DuckDB keeps the newline), so with this every store returns the same text, and a
# letter stays one line in a table or a log. A backslash is kept as it is: '\n' in the
# excerpt is either a line break or those two characters, which a person reads alike.
_VISIBLE = str.maketrans({"\n": "\\n", "\r": "\\r", "\t": "\\t"})


def visible_text(text: str) -> str:
    """``text`` with line breaks and tabs as the escapes ``\\n``, ``\\r`` and ``\\t``."""
    return text.translate(_VISIBLE)


def _dead_letter(topic: str, payload: bytes, received_us: int, rejected: Rejected) -> DeadLetter:
    text = visible_text(payload[:DEAD_LETTER_PAYLOAD_BYTES].decode("utf-8", errors="replace"))
    if len(payload) > DEAD_LETTER_PAYLOAD_BYTES:
        text += f"... ({len(payload)} bytes)"
    return DeadLetter(
        received_us,
        visible_text(topic[:300]),
        text,
        rejected.reason.value,
        visible_text(rejected.detail),
    )
