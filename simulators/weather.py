"""Outdoor weather at the site: temperature and relative humidity.

Climate normals are Norwegian lowland (Oslo-like): about -3 °C mean in
January and 15 °C in July, a diurnal swing of about 3 K in winter and 7 K in
summer, humid winters. Day-to-day weather is seeded smooth noise layered at
three time scales (a few days for weather systems, a day, a few hours).

The noise is *value noise*, random values at fixed knots in time with smooth
interpolation between them, rather than an AR(1) process: it gives the same
day-to-day persistence, but the weather is then a pure function of
(seed, time). Any part of CampusLab can ask for the outdoor temperature at
any moment without running the simulation, and two runs agree wherever they
overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from campuslab.simulators.random_streams import Stream, generator

SECONDS_PER_DAY = 86_400
DAYS_PER_YEAR = 365.2425
_KNOTS_PER_BLOCK = 1024


@dataclass(frozen=True)
class NoiseLayer:
    knot_spacing_s: int
    sigma: float


@dataclass(frozen=True)
class Climate:
    """Climate normals; temperatures in °C, relative humidity in %."""

    annual_mean_c: float = 6.0
    seasonal_amplitude_k: float = 9.0
    coldest_day_of_year: float = 20.0  # around 20 January
    diurnal_amplitude_winter_k: float = 1.5  # half the daily swing
    diurnal_amplitude_summer_k: float = 3.5
    warmest_hour: float = 15.0  # solar time
    humidity_mean_pct: float = 79.0
    humidity_seasonal_pct: float = 7.0  # winters more humid than summers
    humidity_diurnal_pct: float = 9.0  # afternoons drier than nights
    temperature_noise: tuple[NoiseLayer, ...] = (
        NoiseLayer(4 * SECONDS_PER_DAY, 3.0),
        NoiseLayer(SECONDS_PER_DAY, 1.8),
        NoiseLayer(3 * 3600, 0.5),
    )
    humidity_noise: tuple[NoiseLayer, ...] = (
        NoiseLayer(SECONDS_PER_DAY, 6.0),
        NoiseLayer(3 * 3600, 2.0),
    )


NORWEGIAN_LOWLAND = Climate()


@lru_cache(maxsize=128)
def _knot_block(seed: int, layer: int, block: int) -> np.ndarray:
    values = generator(seed, Stream.WEATHER, layer, block).standard_normal(_KNOTS_PER_BLOCK)
    values.flags.writeable = False
    return values


def _knot_values(seed: int, layer: int, knots: np.ndarray) -> np.ndarray:
    blocks = knots // _KNOTS_PER_BLOCK
    values = np.empty(knots.shape, dtype=np.float64)
    for block in np.unique(blocks):
        here = blocks == block
        values[here] = _knot_block(seed, layer, int(block))[knots[here] % _KNOTS_PER_BLOCK]
    return values


def value_noise(seed: int, layer: int, spacing_s: int, epoch_s: np.ndarray) -> np.ndarray:
    """Standard-normal knots every ``spacing_s`` seconds, smoothly interpolated."""
    position = np.asarray(epoch_s, dtype=np.float64) / spacing_s
    knot = np.floor(position).astype(np.int64)
    fraction = position - knot
    smooth = fraction * fraction * (3.0 - 2.0 * fraction)  # smoothstep: no kinks at knots
    left = _knot_values(seed, layer, knot)
    right = _knot_values(seed, layer, knot + 1)
    # Renormalise so the interpolated noise keeps unit variance between knots.
    spread = np.sqrt((1.0 - smooth) ** 2 + smooth**2)
    return (left * (1.0 - smooth) + right * smooth) / spread


class OutdoorWeather:
    """Outdoor temperature and humidity as pure functions of (seed, epoch seconds).

    ``standard_utc_offset_h`` is the site's offset from UTC without daylight
    saving: the daily cycle follows the sun, not the clock.
    """

    def __init__(
        self, seed: int, standard_utc_offset_h: float, climate: Climate = NORWEGIAN_LOWLAND
    ) -> None:
        self.seed = seed
        self.standard_utc_offset_h = standard_utc_offset_h
        self.climate = climate

    def _season_and_solar_hour(self, epoch_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        solar_s = np.asarray(epoch_s, dtype=np.float64) + self.standard_utc_offset_h * 3600
        day_of_year = (solar_s / SECONDS_PER_DAY) % DAYS_PER_YEAR
        # -1 at the coldest day of the year, +1 half a year later
        season = -np.cos(
            2 * np.pi * (day_of_year - self.climate.coldest_day_of_year) / DAYS_PER_YEAR
        )
        solar_hour = (solar_s / 3600) % 24
        return season, solar_hour

    def _diurnal(self, solar_hour: np.ndarray) -> np.ndarray:
        # +1 at the warmest hour of the day, -1 twelve hours later
        return np.cos(2 * np.pi * (solar_hour - self.climate.warmest_hour) / 24)

    def normal_temperature(self, epoch_s: np.ndarray) -> np.ndarray:
        """Climatological temperature (°C): season and daily cycle, no weather."""
        c = self.climate
        season, solar_hour = self._season_and_solar_hour(epoch_s)
        diurnal_amplitude = (c.diurnal_amplitude_winter_k + c.diurnal_amplitude_summer_k) / 2 + (
            c.diurnal_amplitude_summer_k - c.diurnal_amplitude_winter_k
        ) / 2 * season
        return (
            c.annual_mean_c
            + c.seasonal_amplitude_k * season
            + diurnal_amplitude * self._diurnal(solar_hour)
        )

    def temperature(self, epoch_s: np.ndarray) -> np.ndarray:
        """Outdoor air temperature (°C)."""
        anomaly = sum(
            layer.sigma * value_noise(self.seed, index, layer.knot_spacing_s, epoch_s)
            for index, layer in enumerate(self.climate.temperature_noise)
        )
        return self.normal_temperature(epoch_s) + anomaly

    def relative_humidity(self, epoch_s: np.ndarray) -> np.ndarray:
        """Outdoor relative humidity (%), between 30 and 100."""
        c = self.climate
        season, solar_hour = self._season_and_solar_hour(epoch_s)
        offset = len(c.temperature_noise)
        anomaly = sum(
            layer.sigma * value_noise(self.seed, offset + index, layer.knot_spacing_s, epoch_s)
            for index, layer in enumerate(c.humidity_noise)
        )
        humidity = (
            c.humidity_mean_pct
            - c.humidity_seasonal_pct * season
            - c.humidity_diurnal_pct * self._diurnal(solar_hour)
            + anomaly
        )
        return np.clip(humidity, 30.0, 100.0)
