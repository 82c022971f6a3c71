"""Building energy: electricity and district heating, as cumulative kWh registers.

Electricity per building (kW) is
- a base load of 5 W/m2 of heated area, around the clock (servers, fridges,
  standby, emergency lighting, lifts idling);
- HVAC: fans at about 2.5 W/m2 while the building is in use (SFP about
  1.5 kW/(m3/s) at 6 m3/h per m2) and 0.3 W/m2 on the night rate, cooling
  above 18 °C outdoors and frost protection below 5 °C;
- lighting and shared equipment at 6 W/m2 while in use;
- a plug load of 120 W per occupant present.

District heating (kW) is proportional to max(0, balance temperature -
outdoor temperature) over a heat-loss coefficient of 1.25 W/(m2 K) (envelope
plus ventilation after heat recovery), less the occupants' heat, plus
domestic hot water; heating runs harder for two hours on working-day
mornings to recover from the night setback.

A winter working day then uses about 0.2 kWh/m2 of electricity and 0.3–0.5
kWh/m2 of heat; a year about 70 and 100 kWh/m2, within the range of Norwegian
university buildings (SSB: 238 kWh/m2 delivered energy in total, 2011).

"Building in use" is the share of the building's sensed floor area that is
ventilated for people at that moment, so HVAC follows the spaces'
schedules and the presence override.

Registers start from a seeded value of 1–5 GWh at 2020-01-01 plus the
expected consumption since then, so that a simulator started tomorrow
continues roughly where today's left off instead of jumping back.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from campuslab.simulators.layout import CampusLayout
from campuslab.simulators.random_streams import Stream, generator
from campuslab.simulators.schedules import WEEKEND_FROM
from campuslab.simulators.weather import OutdoorWeather

BASE_LOAD_W_M2 = 5.0
FANS_IN_USE_W_M2 = 2.5
FANS_NIGHT_RATE_W_M2 = 0.3
LIGHTING_EQUIPMENT_W_M2 = 6.0
COOLING_W_M2K = 0.6
COOLING_ABOVE_C = 18.0
FROST_PROTECTION_W_M2K = 0.1
FROST_PROTECTION_BELOW_C = 5.0
PLUG_LOAD_PER_OCCUPANT_W = 120.0

HEAT_LOSS_W_M2K = 1.25
BALANCE_TEMPERATURE_IN_USE_C = 15.0
BALANCE_TEMPERATURE_SETBACK_C = 12.5
MORNING_RECOVERY_FACTOR = 1.4
MORNING_RECOVERY_HOURS = (6.0, 8.0)
HOT_WATER_W_M2 = 0.6
OCCUPANT_HEAT_W = 75.0

REGISTER_EPOCH_S = int(datetime(2020, 1, 1, tzinfo=UTC).timestamp())
REGISTER_START_KWH = (1e6, 5e6)
TYPICAL_OCCUPANCY_SHARE = 0.25  # of sensed seats while in use, for the expected consumption
_ENERGY_REGISTERS = ("energy", "heat_energy")


def electric_power_kw(
    heated_area_m2: np.ndarray,
    in_use_share: np.ndarray,
    occupants: np.ndarray,
    outdoor_c: np.ndarray | float,
) -> np.ndarray:
    """Electric demand of buildings (kW); arguments broadcast together."""
    watts_per_m2 = (
        BASE_LOAD_W_M2
        + in_use_share * (FANS_IN_USE_W_M2 + LIGHTING_EQUIPMENT_W_M2)
        + (1 - in_use_share) * FANS_NIGHT_RATE_W_M2
        + in_use_share * COOLING_W_M2K * np.maximum(0.0, outdoor_c - COOLING_ABOVE_C)
        + FROST_PROTECTION_W_M2K * np.maximum(0.0, FROST_PROTECTION_BELOW_C - outdoor_c)
    )
    return (heated_area_m2 * watts_per_m2 + PLUG_LOAD_PER_OCCUPANT_W * occupants) / 1000


def heating_power_kw(
    heated_area_m2: np.ndarray,
    in_use_share: np.ndarray,
    occupants: np.ndarray,
    outdoor_c: np.ndarray | float,
    morning_recovery: np.ndarray | bool,
) -> np.ndarray:
    """District heating demand of buildings (kW); arguments broadcast together."""
    balance = BALANCE_TEMPERATURE_SETBACK_C + in_use_share * (
        BALANCE_TEMPERATURE_IN_USE_C - BALANCE_TEMPERATURE_SETBACK_C
    )
    space_heating = heated_area_m2 * HEAT_LOSS_W_M2K * np.maximum(0.0, balance - outdoor_c)
    space_heating = np.where(
        morning_recovery, space_heating * MORNING_RECOVERY_FACTOR, space_heating
    )
    space_heating = np.maximum(0.0, space_heating - OCCUPANT_HEAT_W * occupants)
    hot_water = heated_area_m2 * HOT_WATER_W_M2 * (0.5 + in_use_share)
    return (space_heating + hot_water) / 1000


def is_morning_recovery(weekday: np.ndarray | int, hour: np.ndarray | float) -> np.ndarray:
    start, end = MORNING_RECOVERY_HOURS
    return (
        (np.asarray(weekday) < WEEKEND_FROM)
        & (np.asarray(hour) >= start)
        & (np.asarray(hour) < end)
    )


class MeterRegisters:
    """The campus meters: energy and heat_energy registers (kWh), power meters (kW).

    Several meters of one quantity in a building share its consumption equally.
    """

    def __init__(self, layout: CampusLayout, weather: OutdoorWeather, seed: int) -> None:
        self.layout = layout
        self.weather = weather
        self.is_heat = np.array([q == "heat_energy" for q in layout.meter_quantities])
        self.is_register = np.array([q in _ENERGY_REGISTERS for q in layout.meter_quantities])
        groups = list(zip(layout.meter_building.tolist(), layout.meter_quantities, strict=True))
        self.share = np.array([1.0 / groups.count(g) for g in groups])
        self.start_kwh = generator(seed, Stream.METER_START).uniform(
            *REGISTER_START_KWH, layout.meter_count
        )
        self.registers_kwh = self.start_kwh.copy()
        sensed = np.bincount(
            layout.space_building, weights=layout.capacity, minlength=layout.building_count
        )
        self.typical_occupants = TYPICAL_OCCUPANCY_SHARE * sensed

    def start(self, epoch_s: int) -> None:
        """Set the registers to their seeded start plus the expected use since 2020."""
        electricity, heat = self.expected_consumption_kwh(epoch_s)
        by_meter = np.where(
            self.is_heat, heat[self.layout.meter_building], electricity[self.layout.meter_building]
        )
        self.registers_kwh = self.start_kwh + by_meter * self.share

    def expected_consumption_kwh(self, until_epoch_s: int) -> tuple[np.ndarray, np.ndarray]:
        """Electricity and heat (kWh, per building) from 2020-01-01 to ``until``, hourly."""
        layout = self.layout
        if until_epoch_s <= REGISTER_EPOCH_S:
            zeros = np.zeros(layout.building_count)
            return zeros, zeros.copy()
        hour_starts = np.arange(REGISTER_EPOCH_S, until_epoch_s, 3600, dtype=np.int64)
        hours = np.minimum(until_epoch_s - hour_starts, 3600) / 3600
        local_s = hour_starts + int(self.weather.standard_utc_offset_h * 3600) + 1800
        weekday = (local_s // 86_400 + 3) % 7  # 1970-01-01 was a Thursday
        hour = (local_s % 86_400) / 3600
        open_by_schedule = np.array([s.is_open(weekday, hour) for s in layout.schedules])
        in_use = layout.building_schedule_share @ open_by_schedule  # (B, N)
        outdoor = self.weather.temperature(hour_starts + 1800)
        area = layout.heated_area_m2[:, None]
        occupants = self.typical_occupants[:, None] * in_use
        electricity = electric_power_kw(area, in_use, occupants, outdoor) @ hours
        heat = (
            heating_power_kw(area, in_use, occupants, outdoor, is_morning_recovery(weekday, hour))
            @ hours
        )
        return electricity, heat

    def advance(self, hours: float, electric_kw: np.ndarray, heat_kw: np.ndarray) -> None:
        """Add a step's consumption, at the buildings' demand (kW) during the step."""
        demand = (
            np.where(
                self.is_heat,
                heat_kw[self.layout.meter_building],
                electric_kw[self.layout.meter_building],
            )
            * self.share
        )
        self.registers_kwh = self.registers_kwh + np.where(self.is_register, demand * hours, 0.0)
        self._power_kw = demand

    def readings(self) -> np.ndarray:
        """Register values (kWh) for energy meters, demand (kW) for power meters."""
        return np.where(self.is_register, self.registers_kwh, self._power_kw)
