"""From a device's uplink to readings: the registry finds the device, its profile reads it.

``DeviceMapper.map`` resolves an ``Uplink`` (``campuslab.ingest.networks``) to the
registered device, reads each quantity from the first of its profile's alternative
fields that the message has, applies scale and state names, and turns cumulative
in/out line counters into occupancy. Fields the profile does not read are counted
(``unmapped``), never a reason to reject the message. One bad field rejects that
reading alone; the others of the message are kept.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from campuslab.core.devices import Device, DeviceProfile, FieldMap, LineCounterMap
from campuslab.core.quantities import PRESENCE
from campuslab.core.readings import from_epoch_us, to_epoch_us
from campuslab.core.registry import Campus
from campuslab.ingest.device_health import DeviceHealthBook
from campuslab.ingest.networks.base import Uplink
from campuslab.ingest.reasons import Reason, Rejected

_ABSENT = object()

# (quantity, ts_us or None, value, unit or None)
DeviceReading = tuple[str, int | None, float, str | None]


@dataclass(slots=True)
class MappedUplink:
    device: Device
    building: str
    sensor: str
    readings: list[DeviceReading] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    unmapped: int = 0  # fields of the message the profile does not read


def lookup(fields: Mapping[str, object], path: str) -> object:
    """The value at ``path`` (``a.b`` into nested objects, or a flat key ``a.b``); absent
    paths give ``_ABSENT``."""
    value = fields.get(path, _ABSENT)
    if value is not _ABSENT or "." not in path:
        return value
    node: object = fields
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return _ABSENT
        node = node.get(part, _ABSENT)
        if node is _ABSENT:
            return _ABSENT
    return node


def _leaf_paths(fields: Mapping[str, object], prefix: str = "") -> list[str]:
    paths = []
    for key, value in fields.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            paths.extend(_leaf_paths(value, f"{path}."))
        else:
            paths.append(path)
    return paths


@dataclass(slots=True)
class _LineCount:
    """A line counter's last totals and the occupancy it gives since the last reset."""

    total_in: float
    total_out: float
    occupancy: float
    ts_us: int


class DeviceMapper:
    """Maps uplinks of registered devices to readings through their profiles."""

    def __init__(self, campus: Campus, health: DeviceHealthBook | None = None) -> None:
        self.campus = campus
        self.health = health
        self._lines: dict[str, _LineCount] = {}
        self._unmapped_cache: dict[tuple[str, tuple[str, ...]], int] = {}

    def device_of(self, uplink: Uplink) -> Device:
        for identity, value in uplink.identities:
            device = self.campus.device(identity, value)
            if device is not None:
                return device
        identity, value = uplink.identities[0]
        raise Rejected(
            Reason.UNKNOWN_DEVICE,
            f"{uplink.describe} is not in the registry; add it under devices:, e.g. "
            f"- {{{identity}: {value}, model: <profile>, space: <space id>}}",
        )

    def map(self, uplink: Uplink, received_us: int) -> MappedUplink:
        device = self.device_of(uplink)
        building, sensor = self.campus.device_location(device)
        mapped = MappedUplink(device, building, sensor)
        profile = self.campus.profiles.get(device.model) if device.model else None
        battery = uplink.battery
        if profile is not None:
            self._read_profile(profile, device, uplink, mapped, received_us)
            battery = self._health_value(profile, uplink, "battery", battery)
        elif device.quantity is not None and uplink.value is not None:
            self._read_one(device, uplink, mapped)
        if self.health is not None:
            self.health.seen(
                device,
                (building, sensor),
                received_us,
                uplink.ts_us if uplink.ts_us is not None else received_us,
                battery=battery,
                rssi=self._health_value(profile, uplink, "rssi", uplink.rssi),
                snr=self._health_value(profile, uplink, "snr", uplink.snr),
                online=uplink.online,
            )
        return mapped

    # -- profile reading -------------------------------------------------------
    def _read_profile(
        self,
        profile: DeviceProfile,
        device: Device,
        uplink: Uplink,
        mapped: MappedUplink,
        received_us: int,
    ) -> None:
        fields = uplink.fields
        for quantity, where in profile.readings.items():
            raw = _first(fields, where.fields)
            if raw is _ABSENT or raw is None:
                continue
            try:
                value = _number(raw, where, quantity, uplink)
            except Rejected as rejected:
                mapped.rejected.append(rejected)
                continue
            unit = uplink.units.get(quantity, where.unit)
            mapped.readings.append((quantity, uplink.ts_us, value, unit))
        if profile.line_counter is not None:
            occupancy = self._line_count(device, profile.line_counter, uplink, mapped, received_us)
            if occupancy is not None:
                mapped.readings.append(("occupancy", uplink.ts_us, occupancy, None))
        mapped.unmapped = self._count_unmapped(profile, fields)

    def _read_one(self, device: Device, uplink: Uplink, mapped: MappedUplink) -> None:
        assert device.quantity is not None
        where = FieldMap(fields=("state",), unit=device.unit)
        try:
            value = _number(uplink.value, where, device.quantity, uplink)
        except Rejected as rejected:
            mapped.rejected.append(rejected)
            return
        unit = uplink.units.get(device.quantity, device.unit)
        mapped.readings.append((device.quantity, uplink.ts_us, value, unit))

    def _count_unmapped(self, profile: DeviceProfile, fields: Mapping[str, object]) -> int:
        key = (profile.model, tuple(fields))
        count = self._unmapped_cache.get(key)
        if count is None:
            mapped = profile.mapped_paths
            count = sum(1 for path in _leaf_paths(fields) if path not in mapped)
            if len(self._unmapped_cache) < 10_000:
                self._unmapped_cache[key] = count
        return count

    @staticmethod
    def _health_value(
        profile: DeviceProfile | None, uplink: Uplink, name: str, default: float | None
    ) -> float | None:
        if profile is None or name not in profile.health:
            return default
        raw = _first(uplink.fields, profile.health[name])  # type: ignore[index]
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            return default
        return float(raw)

    # -- line counters -----------------------------------------------------------
    def _line_count(
        self,
        device: Device,
        counter: LineCounterMap,
        uplink: Uplink,
        mapped: MappedUplink,
        received_us: int,
    ) -> float | None:
        """Occupancy from cumulative in/out totals; None when this message cannot say.

        The first message after a start sets the baseline (who is inside then is not
        known, so the count starts at 0 there). A total that falls is the counter's
        wrap (at ``counter_max``, when the old total was in its top tenth) or a reset to
        0 (a power cycle): the new total is then the increment since. A message not newer
        than the last one (a redelivery, or late) changes nothing.
        """
        totals = []
        for paths, name in ((counter.total_in, "in"), (counter.total_out, "out")):
            raw = _first(uplink.fields, paths)
            if raw is _ABSENT or raw is None:
                return None
            if (
                isinstance(raw, bool)
                or not isinstance(raw, int | float)
                or not math.isfinite(raw)
                or raw < 0
            ):
                mapped.rejected.append(
                    Rejected(
                        Reason.UNPARSEABLE,
                        f"{uplink.describe}: line counter total {name} {raw!r} is not a "
                        "count (a whole number >= 0)",
                    )
                )
                return None
            totals.append(float(raw))
        total_in, total_out = totals
        ts_us = uplink.ts_us if uplink.ts_us is not None else received_us
        state = self._lines.get(device.key)
        if state is None:
            self._lines[device.key] = _LineCount(total_in, total_out, 0.0, ts_us)
            return None
        if ts_us <= state.ts_us:
            return None
        occupancy = state.occupancy
        if counter.reset_at is not None and self._reset_between(
            counter.reset_at, state.ts_us, ts_us
        ):
            occupancy = 0.0
        occupancy += _increment(state.total_in, total_in, counter.counter_max)
        occupancy -= _increment(state.total_out, total_out, counter.counter_max)
        occupancy = max(0.0, occupancy)
        self._lines[device.key] = _LineCount(total_in, total_out, occupancy, ts_us)
        return occupancy

    def _reset_between(self, reset_at: str, before_us: int, now_us: int) -> bool:
        """Whether the local clock passed ``reset_at`` (HH:MM, site time) in (before, now]."""
        tz = self.campus.tz
        now = from_epoch_us(now_us).astimezone(tz)
        hour, minute = int(reset_at[:2]), int(reset_at[3:])
        # the most recent reset at or before now, on the local calendar (DST-correct)
        day = now.date()
        mark = datetime.combine(day, time(hour, minute), tz)
        if mark > now:
            mark = datetime.combine(day - timedelta(days=1), time(hour, minute), tz)
        return to_epoch_us(mark) > before_us


def _increment(old: float, new: float, counter_max: int | None) -> float:
    if new >= old:
        return new - old
    if counter_max is not None and old > 0.9 * counter_max:
        return new + counter_max + 1 - old  # wrapped past its maximum
    return new  # reset to 0 (power cycle, replacement): counted from 0 again


def _first(fields: Mapping[str, object], paths: tuple[str, ...]) -> object:
    for path in paths:
        value = lookup(fields, path)
        if value is not _ABSENT:
            return value
    return _ABSENT


def _number(raw: object, where: FieldMap, quantity: str, uplink: Uplink) -> float:
    """A field's value as a number: numbers as they are, numeric text parsed, states and
    booleans through the profile's ``values``; presence is 1 for anything above 0."""
    if isinstance(raw, bool):
        mapped = where.values.get("true" if raw else "false")
        value = (
            mapped
            if mapped is not None
            else (1.0 if raw else 0.0)
            if quantity == PRESENCE
            else None
        )
        if value is None:
            raise Rejected(
                Reason.UNPARSEABLE,
                f"{uplink.describe}: {quantity} is {str(raw).lower()}, not a number",
            )
    elif isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        mapped = where.values.get(raw, where.values.get(raw.lower()))
        if mapped is not None:
            value = mapped
        else:
            try:
                value = float(raw)
            except ValueError:
                known = f" (known states: {', '.join(where.values)})" if where.values else ""
                raise Rejected(
                    Reason.UNPARSEABLE,
                    f"{uplink.describe}: {quantity} {raw[:40]!r} is not a number{known}",
                ) from None
    else:
        raise Rejected(
            Reason.UNPARSEABLE,
            f"{uplink.describe}: {quantity} is a {type(raw).__name__}, not a number",
        )
    value *= where.scale
    if quantity == PRESENCE and math.isfinite(value):
        value = 1.0 if value > 0 else 0.0
    return value
