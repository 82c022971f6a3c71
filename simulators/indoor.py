"""Indoor climate per space: CO2, humidity and temperature.

CO2 and water vapour are well-mixed tracers with an exact solution per step of

    V dC/dt = S + Q (C_out - C)   =>   C(t+dt) = C_ss + (C - C_ss) exp(-Q dt / V),
    C_ss = C_out + S / Q,

with V = floor area x 3.0 m, S the occupants' emission and Q the ventilation
airflow from TEK17 §13-3: 26 m3/h per person plus 2.5 m3/h per m2 while in
use, 0.7 m3/h per m2 when not. The per-person part is sized for a design
occupancy of 70% of the seats, so a full room runs above 1000 ppm, as full
seminar rooms do. Presence overrides the schedule (demand-controlled
ventilation with presence detection, usual in Norwegian university
buildings), so an occupied room is never left on the night rate.

Temperature is a first-order response towards a target: the heating
setpoint (21 °C by day, 18 °C at night and weekends) or the free-floating
temperature when that is higher, plus the occupants' sensible heat, plus a
weak outdoor coupling (the control never fully compensates the envelope).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CO2_PER_PERSON_M3_H = 0.018  # adult at 1.2 met (sedentary office or classroom work)
MOISTURE_PER_PERSON_G_H = 50.0  # sedentary adult, breath and skin
SENSIBLE_HEAT_PER_PERSON_W = 75.0
AIR_DENSITY_KG_M3 = 1.2
MOISTURE_BUFFER_FACTOR = 4.0  # furnishings and surfaces store vapour: humidity moves slower
TEK17_PER_PERSON_M3_H = 26.0
TEK17_IN_USE_PER_M2_M3_H = 2.5
TEK17_NOT_IN_USE_PER_M2_M3_H = 0.7
DESIGN_OCCUPANCY_SHARE = 0.7
DAY_SETPOINT_C = 21.0
NIGHT_SETPOINT_C = 18.0
HEAT_TRANSFER_W_M2K = 15.0  # how strongly heating, ventilation and mass pull a room back
HEATING_TIME_CONSTANT_H = 0.75  # radiators bring a room up quickly
COOLING_TIME_CONSTANT_IN_USE_H = 1.5  # ventilation carries heat away
COOLING_TIME_CONSTANT_IDLE_H = 5.0  # heavy building cools slowly overnight
OUTDOOR_COUPLING = 0.03  # K indoor per K outdoor away from 5 °C
ATMOSPHERIC_PRESSURE_HPA = 1013.25


def tek17_airflow_m3_h(capacity: np.ndarray, area_m2: np.ndarray, in_use: np.ndarray) -> np.ndarray:
    """Supply airflow (m3/h) by TEK17 §13-3, sized for a design occupancy."""
    in_use_rate = (
        TEK17_PER_PERSON_M3_H * DESIGN_OCCUPANCY_SHARE * capacity
        + TEK17_IN_USE_PER_M2_M3_H * area_m2
    )
    return np.where(in_use, in_use_rate, TEK17_NOT_IN_USE_PER_M2_M3_H * area_m2)


def well_mixed_step(
    level: np.ndarray,
    outdoor: float | np.ndarray,
    source: np.ndarray,
    airflow_m3_h: np.ndarray,
    volume_m3: np.ndarray,
    hours: float,
) -> np.ndarray:
    """Exact solution of V dC/dt = S + Q (C_out - C) over ``hours`` with S and Q constant.

    ``source`` is in units of level x m3/h (ppm m3/h for CO2).
    """
    steady = outdoor + source / airflow_m3_h
    return steady + (level - steady) * np.exp(-airflow_m3_h * hours / volume_m3)


def saturation_vapour_pressure_hpa(temperature_c: np.ndarray | float) -> np.ndarray:
    """Over water, Magnus form (Alduchov and Eskridge 1996)."""
    t = np.asarray(temperature_c, dtype=np.float64)
    return 6.1094 * np.exp(17.625 * t / (t + 243.04))


def humidity_ratio_g_kg(
    relative_humidity_pct: np.ndarray | float, temperature_c: np.ndarray | float
) -> np.ndarray:
    vapour = np.asarray(relative_humidity_pct) / 100 * saturation_vapour_pressure_hpa(temperature_c)
    return 622.0 * vapour / (ATMOSPHERIC_PRESSURE_HPA - vapour)


def relative_humidity_pct(humidity_ratio: np.ndarray, temperature_c: np.ndarray) -> np.ndarray:
    vapour = humidity_ratio * ATMOSPHERIC_PRESSURE_HPA / (622.0 + humidity_ratio)
    return 100 * vapour / saturation_vapour_pressure_hpa(temperature_c)


def free_floating_temperature_c(outdoor_c: float) -> float:
    """Unheated, unoccupied room: internal base gains and sun keep it above outdoors."""
    return 11.0 + 0.5 * outdoor_c


@dataclass
class IndoorState:
    co2_ppm: np.ndarray
    humidity_ratio_g_kg: np.ndarray
    temperature_c: np.ndarray


class IndoorClimate:
    """CO2, humidity and temperature of every space, carried from step to step."""

    def __init__(
        self,
        capacity: np.ndarray,
        area_m2: np.ndarray,
        volume_m3: np.ndarray,
        setpoint_offset_k: np.ndarray,
        outdoor_co2_ppm: float,
    ) -> None:
        self.capacity = capacity
        self.area_m2 = area_m2
        self.volume_m3 = volume_m3
        self.setpoint_offset_k = setpoint_offset_k
        self.outdoor_co2_ppm = outdoor_co2_ppm
        self.state = IndoorState(np.empty(0), np.empty(0), np.empty(0))

    def start(self, outdoor_c: float, outdoor_rh_pct: float, day_setpoint: np.ndarray) -> None:
        """Empty rooms in equilibrium with outdoor air, at their setpoint."""
        spaces = len(self.capacity)
        self.state = IndoorState(
            co2_ppm=np.full(spaces, self.outdoor_co2_ppm),
            humidity_ratio_g_kg=np.full(
                spaces, float(humidity_ratio_g_kg(outdoor_rh_pct, outdoor_c))
            ),
            temperature_c=np.where(day_setpoint, DAY_SETPOINT_C, NIGHT_SETPOINT_C)
            + self.setpoint_offset_k,
        )

    def advance(
        self,
        hours: float,
        occupants: np.ndarray,
        in_use: np.ndarray,
        day_setpoint: np.ndarray,
        outdoor_c: float,
        outdoor_rh_pct: float,
    ) -> None:
        """Integrate over a step during which ``occupants`` and the schedule held."""
        state = self.state
        airflow = tek17_airflow_m3_h(self.capacity, self.area_m2, in_use)
        state.co2_ppm = well_mixed_step(
            state.co2_ppm,
            self.outdoor_co2_ppm,
            CO2_PER_PERSON_M3_H * 1e6 * occupants,
            airflow,
            self.volume_m3,
            hours,
        )
        outdoor_ratio = float(humidity_ratio_g_kg(outdoor_rh_pct, outdoor_c))
        state.humidity_ratio_g_kg = well_mixed_step(
            state.humidity_ratio_g_kg,
            outdoor_ratio,
            MOISTURE_PER_PERSON_G_H / AIR_DENSITY_KG_M3 * occupants,
            airflow,
            self.volume_m3 * MOISTURE_BUFFER_FACTOR,
            hours,
        )
        state.temperature_c = self._temperature_step(
            hours, occupants, in_use, day_setpoint, outdoor_c
        )

    def _temperature_step(
        self,
        hours: float,
        occupants: np.ndarray,
        in_use: np.ndarray,
        day_setpoint: np.ndarray,
        outdoor_c: float,
    ) -> np.ndarray:
        setpoint = np.where(day_setpoint, DAY_SETPOINT_C, NIGHT_SETPOINT_C) + self.setpoint_offset_k
        controlled = np.maximum(setpoint, free_floating_temperature_c(outdoor_c))
        occupant_gain = (
            SENSIBLE_HEAT_PER_PERSON_W * occupants / (HEAT_TRANSFER_W_M2K * self.area_m2)
        )
        target = controlled + occupant_gain + OUTDOOR_COUPLING * (outdoor_c - 5.0)
        temperature = self.state.temperature_c
        time_constant = np.where(
            temperature < target,
            HEATING_TIME_CONSTANT_H,
            np.where(in_use, COOLING_TIME_CONSTANT_IN_USE_H, COOLING_TIME_CONSTANT_IDLE_H),
        )
        return target + (temperature - target) * np.exp(-hours / time_constant)

    def relative_humidity(self) -> np.ndarray:
        return relative_humidity_pct(self.state.humidity_ratio_g_kg, self.state.temperature_c)
