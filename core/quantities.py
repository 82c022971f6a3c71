"""Quantities CampusLab stores, their canonical units, unit conversion and physical ranges.

A reading arrives in whatever unit a sensor speaks; it is stored in its
quantity's canonical unit (ARCHITECTURE.md, "Data model"). A unit that cannot
be converted is rejected, never guessed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


class StateClass(StrEnum):
    """How values of a quantity behave over time (Home Assistant's recorder terms)."""

    MEASUREMENT = "measurement"  # a level: mean, min and max make sense
    TOTAL_INCREASING = "total_increasing"  # a cumulative register; a decrease is a reset


class Subject(StrEnum):
    """What a quantity is measured on: a space, or a building meter."""

    SPACE = "space"
    METER = "meter"


def _scale(factor: float) -> Callable[[float], float]:
    return lambda v: v * factor


def _identity(v: float) -> float:
    return v


@dataclass(frozen=True)
class Quantity:
    name: str
    unit: str
    subject: Subject
    state_class: StateClass
    minimum: float
    maximum: float
    description: str
    # unit spelling (case-sensitive, SenML and common forms) -> converter to canonical
    conversions: dict[str, Callable[[float], float]] = field(default_factory=dict)
    # a count of whole things (people): a fractional value is not a reading of it
    whole_numbers: bool = False

    def to_canonical(self, value: float, unit: str | None) -> float:
        """Convert ``value`` from ``unit`` (None means canonical) to the canonical unit.

        Raises UnitError when the unit is not one this quantity can be converted from.
        """
        if unit is None or unit == self.unit:
            return value
        try:
            convert = self.conversions[unit]
        except KeyError:
            known = ", ".join(sorted(self.conversions))
            raise UnitError(
                f"unit {unit!r} cannot be converted to {self.unit} for {self.name} "
                f"(accepted: {known})"
            ) from None
        if convert is _identity:
            return value
        # 15 significant digits drop the last-bit noise of the arithmetic (71.6 °F is 22 °C,
        # not 21.999999999999996) and keep Wh resolution on registers of GWh size.
        return float(f"{convert(value):.15g}")

    def in_range(self, value: float) -> bool:
        return math.isfinite(value) and self.minimum <= value <= self.maximum


class UnitError(ValueError):
    """A unit that cannot be converted to its quantity's canonical unit."""


_CELSIUS = {
    "Cel": _identity,
    "°C": _identity,
    "C": _identity,
    "degC": _identity,
    "celsius": _identity,
    "K": lambda v: v - 273.15,
    "°F": lambda v: (v - 32.0) * 5.0 / 9.0,
    "F": lambda v: (v - 32.0) * 5.0 / 9.0,
    "degF": lambda v: (v - 32.0) * 5.0 / 9.0,
}
_KWH = {
    "kWh": _identity,
    "Wh": _scale(1e-3),
    "MWh": _scale(1e3),
    "GWh": _scale(1e6),
    "J": _scale(1.0 / 3.6e6),
    "kJ": _scale(1.0 / 3.6e3),
    "MJ": _scale(1.0 / 3.6),
    "GJ": _scale(1e3 / 3.6),
}

# Presence (a PIR or radar sensor's yes/no) is a space quantity of its own, not a head
# count: a space reports it only where a device measures it, and utilisation reads it
# only where no count exists.
PRESENCE = "presence"

QUANTITIES: dict[str, Quantity] = {
    q.name: q
    for q in (
        Quantity(
            "occupancy",
            "count",
            Subject.SPACE,
            StateClass.MEASUREMENT,
            0,
            10_000,
            "people present in the space",
            {"count": _identity, "persons": _identity, "people": _identity},
            whole_numbers=True,
        ),
        Quantity(
            PRESENCE,
            "bool",
            Subject.SPACE,
            StateClass.MEASUREMENT,
            0,
            1,
            "someone is present (1) or not (0): a motion or presence sensor, not a head count",
            {"bool": _identity, "1": _identity, "": _identity},
        ),
        Quantity(
            "co2",
            "ppm",
            Subject.SPACE,
            StateClass.MEASUREMENT,
            0,
            40_000,
            "carbon dioxide concentration in room air",
            {"ppm": _identity, "ppmv": _identity},
        ),
        Quantity(
            "temperature",
            "°C",
            Subject.SPACE,
            StateClass.MEASUREMENT,
            -60,
            100,
            "air temperature",
            _CELSIUS,
        ),
        Quantity(
            "humidity",
            "%RH",
            Subject.SPACE,
            StateClass.MEASUREMENT,
            0,
            100,
            "relative humidity",
            {"%RH": _identity, "%": _identity, "percent": _identity},
        ),
        Quantity(
            "energy",
            "kWh",
            Subject.METER,
            StateClass.TOTAL_INCREASING,
            0,
            1e12,
            "delivered electricity, cumulative register",
            _KWH,
        ),
        Quantity(
            "power",
            "kW",
            Subject.METER,
            StateClass.MEASUREMENT,
            -1e6,
            1e6,
            "electric power demand",
            {"kW": _identity, "W": _scale(1e-3), "MW": _scale(1e3)},
        ),
        Quantity(
            "heat_energy",
            "kWh",
            Subject.METER,
            StateClass.TOTAL_INCREASING,
            0,
            1e12,
            "delivered district heating, cumulative register",
            _KWH,
        ),
    )
}

# SPACE_QUANTITIES are the levels every sensed space reports (presence is extra).
SPACE_QUANTITIES = tuple(
    q for q, spec in QUANTITIES.items() if spec.subject is Subject.SPACE and q != PRESENCE
)
# What a space's readings may be asked for: the levels, and presence where it is measured.
READABLE_SPACE_QUANTITIES = (*SPACE_QUANTITIES, PRESENCE)
METER_QUANTITIES = tuple(q for q, spec in QUANTITIES.items() if spec.subject is Subject.METER)


def quantity(name: str) -> Quantity:
    """The quantity called ``name``; KeyError names the known ones."""
    try:
        return QUANTITIES[name]
    except KeyError:
        raise KeyError(f"unknown quantity {name!r} (known: {', '.join(QUANTITIES)})") from None
