"""How the columns of a history file map to readings: flags, or a small YAML mapping file.

Two layouts are understood:

- **long**: one reading per row, ``ts, sensor, quantity, value[, unit]``;
- **wide**: one row per (ts, sensor), one column per quantity (``co2``,
  ``temperature``, ...), mapped by ``columns`` (file column -> quantity).

A mapping file holds the same settings as the flags (the flags win)::

    ts: Timestamp            # column of the timestamps
    sensor: Room             # column of the space or meter id
    building: Building       # optional; checked against the registry
    quantity: Measure        # long layout: column of the quantity name
    value: Value             # long layout: column of the value
    unit: Unit               # optional column of each value's unit
    columns:                 # wide layout: file column -> quantity
      CO2_ppm: co2
      Temp_F: temperature
    units:                   # unit of every value of a quantity (no unit column)
      temperature: degF
    timezone: Europe/Oslo    # for timestamps without a UTC offset
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from campuslab.core.quantities import QUANTITIES

SENSOR_COLUMN_GUESSES = ("sensor", "space", "meter", "space_or_meter")
_KEYS = ("ts", "sensor", "building", "quantity", "value", "unit", "columns", "units", "timezone")


class MappingError(ValueError):
    """A mapping that cannot work: a bad key, an unknown column or quantity, a bad zone."""


@dataclass(frozen=True)
class ColumnMapping:
    """Which file column holds what. ``None`` means: not given (guessed from the header)."""

    ts: str | None = None
    sensor: str | None = None
    building: str | None = None
    quantity: str | None = None
    value: str | None = None
    unit: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)  # wide: column -> quantity
    units: Mapping[str, str] = field(default_factory=dict)  # quantity -> unit of all its values
    timezone: str | None = None

    def overridden_by(self, other: ColumnMapping) -> ColumnMapping:
        """This mapping with every setting ``other`` gives replaced (flags over the file)."""
        changes: dict[str, Any] = {
            name: getattr(other, name)
            for name in ("ts", "sensor", "building", "quantity", "value", "unit", "timezone")
            if getattr(other, name) is not None
        }
        changes["columns"] = {**self.columns, **other.columns}
        changes["units"] = {**self.units, **other.units}
        return replace(self, **changes)


@dataclass(frozen=True)
class ResolvedMapping:
    """A mapping checked against a file's header: every column exists, the layout is known."""

    ts: str
    sensor: str
    building: str | None
    quantity: str | None  # long layout only
    value: str | None  # long layout only
    unit: str | None
    columns: Mapping[str, str]  # wide layout only: column -> quantity
    units: Mapping[str, str]
    timezone: ZoneInfo

    @property
    def wide(self) -> bool:
        return bool(self.columns)

    def describe(self) -> str:
        if self.wide:
            shown = ", ".join(f"{c}->{q}" for c, q in self.columns.items())
            return f"wide: ts={self.ts}, sensor={self.sensor}, {shown}"
        unit = f", unit={self.unit}" if self.unit else ""
        return (
            f"long: ts={self.ts}, sensor={self.sensor}, quantity={self.quantity}, "
            f"value={self.value}{unit}"
        )


def load_mapping(path: Path) -> ColumnMapping:
    """Read a mapping file; MappingError names the file and the key that is wrong."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError(f"cannot read the mapping file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise MappingError(f"mapping file {path} is not valid YAML: {exc}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise MappingError(f"mapping file {path}: expected a mapping of keys, not a list or text")
    unknown = [str(k) for k in raw if k not in _KEYS]
    if unknown:
        raise MappingError(
            f"mapping file {path}: unknown key {unknown[0]!r} (known: {', '.join(_KEYS)})"
        )
    settings: dict[str, Any] = {}
    for key in ("ts", "sensor", "building", "quantity", "value", "unit", "timezone"):
        if key in raw and raw[key] is not None:
            if not isinstance(raw[key], str | int):
                raise MappingError(f"mapping file {path}: {key!r} must be a column name (text)")
            settings[key] = str(raw[key])
    for key in ("columns", "units"):
        value = raw.get(key) or {}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise MappingError(f"mapping file {path}: {key!r} must map names to names")
        settings[key] = {str(k): v for k, v in value.items()}
    try:
        return check_names(ColumnMapping(**settings), f"mapping file {path}: ")
    except MappingError:
        raise


def parse_pairs(pairs: Sequence[str], option: str) -> dict[str, str]:
    """``["CO2_ppm=co2", ...]`` as a dict; MappingError names the option."""
    parsed: dict[str, str] = {}
    for pair in pairs:
        name, sep, target = pair.partition("=")
        if not sep or not name.strip() or not target.strip():
            raise MappingError(f"{option} {pair!r}: expected NAME=VALUE, e.g. {option} co2=ppm")
        parsed[name.strip()] = target.strip()
    return parsed


def check_names(mapping: ColumnMapping, where: str = "") -> ColumnMapping:
    """Quantities, units and the time zone a mapping names must exist."""
    for column, quantity in mapping.columns.items():
        if quantity not in QUANTITIES:
            raise MappingError(
                f"{where}columns: {column!r} maps to unknown quantity {quantity!r} "
                f"(known: {', '.join(QUANTITIES)})"
            )
    for quantity, unit in mapping.units.items():
        spec = QUANTITIES.get(quantity)
        if spec is None:
            raise MappingError(
                f"{where}units: unknown quantity {quantity!r} (known: {', '.join(QUANTITIES)})"
            )
        if unit != spec.unit and unit not in spec.conversions:
            raise MappingError(
                f"{where}units: {unit!r} cannot be converted to {spec.unit} for {quantity} "
                f"(accepted: {', '.join(sorted(spec.conversions))})"
            )
    if mapping.timezone is not None:
        zone(mapping.timezone, where)
    return mapping


def zone(name: str, where: str = "") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise MappingError(
            f"{where}timezone: {name!r} is not an IANA time zone (e.g. Europe/Oslo)"
        ) from None


def resolve(mapping: ColumnMapping, header: Sequence[str], default_zone: str) -> ResolvedMapping:
    """Check ``mapping`` against the file's columns, guessing what it leaves out.

    Guesses: the timestamps in ``ts``; the sensor in the first of ``sensor``, ``space``,
    ``meter``; a ``unit`` column when there is one. Without ``columns``, a file with a
    ``quantity`` column is long, and one whose other columns are named after quantities
    is wide.
    """
    present = set(header)

    def column(name: str, role: str) -> str:
        if name not in present:
            raise MappingError(
                f"no column {name!r} (for the {role}) in the file; its columns are: "
                f"{', '.join(header)}"
            )
        return name

    ts = column(mapping.ts or "ts", "timestamps")
    sensor_name = mapping.sensor or next(
        (c for c in SENSOR_COLUMN_GUESSES if c in present), "sensor"
    )
    sensor = column(sensor_name, "space or meter id")
    building = column(mapping.building, "building") if mapping.building else None
    columns = dict(mapping.columns)
    long_layout = mapping.quantity is not None or mapping.value is not None
    if not columns and not long_layout and "quantity" not in present:
        columns = {c: c for c in header if c in QUANTITIES}
        if not columns:
            raise MappingError(
                "the file has no 'quantity' column and no column named after a quantity; "
                "give --quantity-column and --value-column (long layout) or "
                "--column NAME=QUANTITY (wide layout)"
            )
    if columns:
        if long_layout:
            raise MappingError(
                "give either --column (wide layout) or --quantity-column/--value-column "
                "(long layout), not both"
            )
        for name in columns:
            column(name, f"quantity {columns[name]}")
        quantity = value = None
    else:
        quantity = column(mapping.quantity or "quantity", "quantity names")
        value = column(mapping.value or "value", "values")
    unit = mapping.unit
    if unit is not None and columns:
        raise MappingError(
            "a unit column goes with the long layout; in a wide file give each quantity's "
            "unit with --unit QUANTITY=UNIT"
        )
    if unit is not None:
        column(unit, "units")
    elif "unit" in present and not columns:
        unit = "unit"
    return ResolvedMapping(
        ts=ts,
        sensor=sensor,
        building=building,
        quantity=quantity,
        value=value,
        unit=unit,
        columns=columns,
        units=dict(mapping.units),
        timezone=zone(mapping.timezone or default_zone),
    )
