"""From MQTT message to readings: topic mapping, decoding, unit conversion, validation.

``MessageProcessor.process`` is the hot path of ingest. It knows the campus
registry and the bad-input rules (ARCHITECTURE.md) but nothing of MQTT or of
the store, so it is tested and benchmarked on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta

from campuslab.core.quantities import QUANTITIES, Quantity, UnitError
from campuslab.core.readings import DeadLetter, ReadingBatch
from campuslab.core.registry import Campus
from campuslab.ingest.decoders import Decoded, decode_senml, decode_single
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
    """Turns (topic, payload) into readings in a batch, or dead letters saying why not."""

    def __init__(
        self, campus: Campus, prefix: str = "campus", limits: IngestLimits | None = None
    ) -> None:
        self.campus = campus
        self.prefix = prefix
        self.limits = limits or IngestLimits()
        self._routes: dict[str, _Route] = {}
        self._max_future_us = int(self.limits.max_future.total_seconds() * 1_000_000)

    def process(
        self,
        topic: str,
        payload: bytes,
        received_us: int,
        batch: ReadingBatch,
        dead_letters: list[DeadLetter],
    ) -> int:
        """Add the message's readings to ``batch`` and its rejects to ``dead_letters``.

        Returns how many readings were accepted.
        """
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
        batch.append(ts_us, route.building, route.sensor, spec.name, value)

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
