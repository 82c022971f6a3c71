"""Fault injection: realistic sensor faults that data-quality checks must catch.

Only the faults listed in the configuration are applied, and each draws from
its own random stream, so enabling one fault never changes any other value.

| fault     | what happens                                                          |
|-----------|-----------------------------------------------------------------------|
| `stuck`   | each day about 1% of series repeat their last value for 2–8 hours     |
| `dropout` | each day about 2% of devices (a space's sensor or a meter) send       |
|           | nothing for 30 minutes to 6 hours                                     |
| `spike`   | about once a week per series, one absurd but physically possible      |
|           | value: CO2 3500–4990 ppm, temperature ±12–18 K, humidity 0–3 or       |
|           | 97–100 %RH, a headcount of three times capacity                       |
| `reset`   | once a week, one energy register drops to 0 and counts on from there  |
| `garbage` | malformed MQTT messages; applied by the publisher, see                |
|           | ``payloads.garbage_messages``                                         |

Stuck and dropout windows are drawn per UTC day, spikes per step, resets per
week (counted from the Unix epoch), all from (seed, that key).

The site's weather station (the last readings of a step, when the registry has
one) is left alone: faults apply to the spaces' sensors and the meters only, so
adding a weather station changes no fault that was drawn before.
"""

from __future__ import annotations

import numpy as np

from campuslab.core.quantities import SPACE_QUANTITIES
from campuslab.simulators.layout import CampusLayout
from campuslab.simulators.random_streams import Stream, generator

FAULTS = ("stuck", "dropout", "spike", "reset", "garbage")

DAY_S = 86_400
WEEK_S = 7 * DAY_S
STUCK_SHARE = 0.01
STUCK_HOURS = (2.0, 8.0)
DROPOUT_SHARE = 0.02
DROPOUT_HOURS = (0.5, 6.0)
SPIKES_PER_SERIES_PER_S = 1 / WEEK_S

_PER_SPACE = len(SPACE_QUANTITIES)
_OCCUPANCY, _CO2, _TEMPERATURE, _HUMIDITY = (
    SPACE_QUANTITIES.index(q) for q in ("occupancy", "co2", "temperature", "humidity")
)


def _windows(
    seed: int, stream: Stream, day: int, population: int, share: float, hours: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(member, start_s, end_s) of the fault windows that begin on UTC day ``day``."""
    rng = generator(seed, stream, day)
    count = min(population, max(1, round(share * population)))
    members = rng.choice(population, count, replace=False)
    starts = day * DAY_S + rng.uniform(0, DAY_S, count)
    ends = starts + rng.uniform(*hours, count) * 3600
    return members, starts, ends


class FaultInjector:
    """Applies the enabled faults to each step's readings (in layout order)."""

    def __init__(
        self, layout: CampusLayout, seed: int, faults: frozenset[str], interval_s: int
    ) -> None:
        self.layout = layout
        self.seed = seed
        self.faults = faults
        self.interval_s = interval_s
        space_readings = layout.space_count * _PER_SPACE
        # readings faults apply to: the spaces' and the meters', not the weather station's
        self.reading_count = space_readings + layout.meter_count
        self.space_readings = space_readings
        # device of each reading: spaces first, then meters, as in the layout
        self.device_of_reading = np.concatenate(
            [
                np.repeat(np.arange(layout.space_count), _PER_SPACE),
                layout.space_count + np.arange(layout.meter_count),
            ]
        )
        self.device_count = layout.space_count + layout.meter_count
        self.quantity_of_space_reading = np.tile(np.arange(_PER_SPACE), layout.space_count)
        self.capacity_of_space_reading = np.repeat(layout.capacity, _PER_SPACE)
        self.energy_meters = np.array(
            [i for i, q in enumerate(layout.meter_quantities) if q in ("energy", "heat_energy")],
            dtype=np.int64,
        )
        self._cache: dict[tuple[str, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.reset()

    def reset(self) -> None:
        self.stuck_before = np.zeros(self.reading_count, dtype=bool)
        self.held = np.zeros(self.reading_count)
        self.register_offset = np.zeros(self.layout.meter_count)

    @property
    def enabled(self) -> bool:
        return bool(self.faults - {"garbage"})

    def apply(self, epoch_s: int, values: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The step's values with faults applied, and which readings to keep (None: all)."""
        if not self.enabled:
            return values, None
        values = values.copy()
        untouched = values.size - self.reading_count  # the weather station's readings, at the end
        faultable = values[: self.reading_count]  # a view: the faults below write through it
        values_all, values = values, faultable
        if "reset" in self.faults and len(self.energy_meters):
            self._reset_registers(epoch_s, values)
        if "spike" in self.faults:
            self._spike(epoch_s, values)
        if "stuck" in self.faults:
            self._stick(epoch_s, values)
        keep = None
        if "dropout" in self.faults:
            active = self._active("dropout", epoch_s, self.device_count)
            keep = np.concatenate([~active[self.device_of_reading], np.ones(untouched, dtype=bool)])
        return values_all, keep

    def _active(self, fault: str, epoch_s: int, population: int) -> np.ndarray:
        """Which members have a window of ``fault`` covering ``epoch_s``."""
        day = epoch_s // DAY_S
        active = np.zeros(population, dtype=bool)
        for window_day in (day - 1, day):  # windows may run past midnight
            members, starts, ends = self._day_windows(fault, window_day, population)
            on = (starts <= epoch_s) & (epoch_s < ends)
            active[members[on]] = True
        return active

    def _day_windows(
        self, fault: str, day: int, population: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        key = (fault, day)
        if key not in self._cache:
            if len(self._cache) > 8:
                self._cache.pop(next(iter(self._cache)))
            if fault == "stuck":
                found = _windows(
                    self.seed, Stream.FAULT_STUCK, day, population, STUCK_SHARE, STUCK_HOURS
                )
            else:
                found = _windows(
                    self.seed, Stream.FAULT_DROPOUT, day, population, DROPOUT_SHARE, DROPOUT_HOURS
                )
            self._cache[key] = found
        return self._cache[key]

    def _stick(self, epoch_s: int, values: np.ndarray) -> None:
        stuck = self._active("stuck", epoch_s, self.reading_count)
        starting = stuck & ~self.stuck_before
        self.held[starting] = values[starting]
        values[stuck] = self.held[stuck]
        self.stuck_before = stuck

    def _spike(self, epoch_s: int, values: np.ndarray) -> None:
        rng = generator(self.seed, Stream.FAULT_SPIKE, epoch_s)
        chance = min(1.0, self.interval_s * SPIKES_PER_SERIES_PER_S)
        hit = np.flatnonzero(rng.random(self.space_readings) < chance)
        if not len(hit):
            return
        quantity = self.quantity_of_space_reading[hit]
        sign = np.where(rng.random(len(hit)) < 0.5, -1.0, 1.0)
        spiked = np.select(
            [quantity == _OCCUPANCY, quantity == _CO2, quantity == _TEMPERATURE],
            [
                np.rint(3 * self.capacity_of_space_reading[hit]),
                np.rint(rng.uniform(3500, 4990, len(hit))),
                np.round(values[hit] + sign * rng.uniform(12, 18, len(hit)), 1),
            ],
            default=np.round(
                np.where(sign > 0, rng.uniform(97, 100, len(hit)), rng.uniform(0, 3, len(hit))), 1
            ),
        )
        values[hit] = spiked

    def _reset_registers(self, epoch_s: int, values: np.ndarray) -> None:
        week = epoch_s // WEEK_S
        rng = generator(self.seed, Stream.FAULT_RESET, week)
        meter = int(self.energy_meters[rng.integers(len(self.energy_meters))])
        offset_s = int(rng.uniform(0, WEEK_S)) // self.interval_s * self.interval_s
        reset_at = week * WEEK_S + offset_s
        if epoch_s - self.interval_s < reset_at <= epoch_s:
            self.register_offset[meter] = -values[self.space_readings + meter]
        meters = slice(self.space_readings, None)
        values[meters] = np.round(values[meters] + self.register_offset, 3)
