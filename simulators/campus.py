"""The campus simulator: plausible readings for every space and meter of a registry.

``CampusSimulator.batches(start, end)`` yields the readings of the steps
start, start + interval, ... < end (timestamps aligned to multiples of the
interval since the Unix epoch), chunked by simulated time. The simulation
carries state from step to step (CO2, temperatures, humidity, study-hall
headcounts, energy registers):

- a call that starts where the previous one ended continues it, which is how
  a backfill hands over to live mode;
- any other start restarts the simulation a day earlier and runs that day
  silently (warm-up), so CO2, temperatures and headcounts are settled and
  two runs agree, to rounding, wherever they overlap.

Randomness is a function of (seed, what is drawn, timestamp or date), never
of the order of calls, so the same seed and start give identical output.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np

from campuslab.core.quantities import SPACE_QUANTITIES
from campuslab.core.readings import US_PER_S, ReadingBatch, Series, to_epoch_us
from campuslab.core.registry import Campus
from campuslab.simulators.energy import (
    MeterRegisters,
    electric_power_kw,
    heating_power_kw,
    is_morning_recovery,
)
from campuslab.simulators.faults import FAULTS, FaultInjector
from campuslab.simulators.indoor import IndoorClimate
from campuslab.simulators.layout import CampusLayout
from campuslab.simulators.occupancy import MeetingBooking, OccupancyModel
from campuslab.simulators.random_streams import Stream, generator
from campuslab.simulators.schedules import LocalClock, standard_utc_offset_h
from campuslab.simulators.timetable import TimetableSlot, weekly_timetable
from campuslab.simulators.weather import OutdoorWeather

WARM_UP = timedelta(days=1)
WARM_UP_STEP_S = 300  # warm-up runs at 5-minute steps at least; it only has to settle state
_WEATHER_CHUNK_STEPS = 1440
# sensor behaviour
CO2_NOISE_PPM = 4.0
CO2_CALIBRATION_PPM = 10.0  # NDIR sensors are off by up to this much
TEMPERATURE_NOISE_K = 0.1
HUMIDITY_NOISE_PCT = 0.8
SETPOINT_SPREAD_K = 0.4  # some rooms are kept warmer than others


@dataclass(frozen=True)
class SimulationConfig:
    seed: int = 0
    interval: timedelta = timedelta(minutes=1)
    faults: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, not {self.seed}")
        seconds = self.interval.total_seconds()
        if seconds < 1 or seconds != int(seconds):
            raise ValueError(
                f"interval must be a whole number of seconds, at least 1 s, not {self.interval}"
            )
        object.__setattr__(self, "faults", frozenset(self.faults))
        unknown = sorted(self.faults - set(FAULTS))
        if unknown:
            raise ValueError(
                f"unknown fault(s) {', '.join(unknown)}; valid faults: {', '.join(FAULTS)}"
            )

    @property
    def interval_s(self) -> int:
        return int(self.interval.total_seconds())


class CampusSimulator:
    """Simulates every space and meter of ``campus``; see the module docstring."""

    def __init__(self, campus: Campus, config: SimulationConfig | None = None) -> None:
        self.campus = campus
        self.config = config or SimulationConfig()
        seed = self.config.seed
        self.layout = CampusLayout.from_campus(campus)
        self.weather = OutdoorWeather(seed, standard_utc_offset_h(campus.tz))
        self._timetable = weekly_timetable(self.layout, seed)
        self.occupancy = OccupancyModel(self.layout, self._timetable, seed)
        traits = generator(seed, Stream.SPACE_TRAITS, 0)
        spaces = self.layout.space_count
        setpoint_offset = np.clip(traits.normal(0, SETPOINT_SPREAD_K, spaces), -0.8, 0.8)
        self.co2_calibration = traits.uniform(-CO2_CALIBRATION_PPM, CO2_CALIBRATION_PPM, spaces)
        self.indoor = IndoorClimate(
            self.layout.capacity,
            self.layout.area_m2,
            self.layout.volume_m3,
            setpoint_offset,
            campus.analytics.outdoor_co2_ppm,
        )
        self.meters = MeterRegisters(self.layout, self.weather, seed)
        self.faults = FaultInjector(self.layout, seed, self.config.faults, self.config.interval_s)
        self._floor_area_by_building = np.bincount(
            self.layout.space_building,
            weights=self.layout.area_m2,
            minlength=self.layout.building_count,
        )
        buildings, sensors, quantities = self.layout.reading_columns()
        self._columns = (buildings, sensors, quantities)
        self._column_arrays = tuple(np.array(c, dtype=object) for c in self._columns)
        self._occupants = np.zeros(spaces, dtype=np.int64)
        self._state_epoch_s: int | None = None  # the moment the state describes

    # -- what the simulator exposes besides readings ---------------------------------

    @property
    def timetable(self) -> list[TimetableSlot]:
        """The weekly teaching timetable: booked slots of lecture halls, seminar rooms, labs."""
        return list(self._timetable.slots)

    def meeting_bookings(self, day: date) -> list[MeetingBooking]:
        """Meeting-room bookings of a local date, including ones nobody turns up to."""
        return self.occupancy.meetings.bookings(day, self.campus.tz)

    def outdoor_temperature(self, moment: datetime) -> float:
        """Outdoor air temperature (°C) at the site; a pure function of (seed, moment)."""
        return float(self.weather.temperature(np.array([_epoch_s(moment)]))[0])

    def outdoor_relative_humidity(self, moment: datetime) -> float:
        """Outdoor relative humidity (%) at the site."""
        return float(self.weather.relative_humidity(np.array([_epoch_s(moment)]))[0])

    def outdoor_temperatures(
        self, start: datetime, end: datetime, step: timedelta = timedelta(hours=1)
    ) -> Series:
        """Outdoor temperature (°C) every ``step`` in [start, end), for degree days and plots."""
        epochs = np.arange(_epoch_s(start), _epoch_s(end), int(step.total_seconds()))
        return Series(
            epochs.astype("datetime64[s]").astype("datetime64[us]"),
            self.weather.temperature(epochs),
        )

    @property
    def readings_per_step(self) -> int:
        return self.layout.readings_per_step

    @property
    def next_timestamp(self) -> datetime | None:
        """Where the simulation continues without a restart; None before the first step."""
        if self._state_epoch_s is None:
            return None
        return datetime.fromtimestamp(self._state_epoch_s + self.config.interval_s, UTC)

    def step_count(self, start: datetime, end: datetime) -> int:
        """How many steps lie in [start, end)."""
        first = self._first_step(start)
        return max(
            0, -(-(_epoch_us(end) - first * US_PER_S) // (self.config.interval_s * US_PER_S))
        )

    # -- readings ----------------------------------------------------------------

    def steps(
        self, start: datetime, end: datetime | None = None
    ) -> Iterator[tuple[datetime, ReadingBatch]]:
        """One batch per step from ``start`` (aligned up) until ``end``, or for ever."""
        for epoch_s, values, keep in self._run(start, end):
            batch = ReadingBatch()
            self._append(batch, epoch_s, values, keep)
            yield datetime.fromtimestamp(epoch_s, UTC), batch

    def batches(
        self, start: datetime, end: datetime, per: timedelta = timedelta(hours=1)
    ) -> Iterator[ReadingBatch]:
        """Readings of the steps in [start, end), one batch per ``per`` of simulated time.

        Batch boundaries are aligned to multiples of ``per`` since the epoch, so
        with the default each batch holds one clock hour (the first may be shorter).
        """
        per_s = max(1, int(per.total_seconds()))
        batch = ReadingBatch()
        chunk = None
        for epoch_s, values, keep in self._run(start, end):
            if epoch_s // per_s != chunk:
                if len(batch):
                    yield batch
                batch = ReadingBatch()
                chunk = epoch_s // per_s
            self._append(batch, epoch_s, values, keep)
        if len(batch):
            yield batch

    def _append(
        self, batch: ReadingBatch, epoch_s: int, values: np.ndarray, keep: np.ndarray | None
    ) -> None:
        if keep is None:
            buildings, sensors, quantities = self._columns
            kept = values.tolist()
        else:
            buildings, sensors, quantities = (c[keep].tolist() for c in self._column_arrays)
            kept = values[keep].tolist()
        batch.ts_us.extend([epoch_s * US_PER_S] * len(kept))
        batch.building.extend(buildings)
        batch.sensor.extend(sensors)
        batch.quantity.extend(quantities)
        batch.value.extend(kept)

    # -- the simulation loop ---------------------------------------------------------

    def _first_step(self, start: datetime) -> int:
        interval_us = self.config.interval_s * US_PER_S
        return -(-_epoch_us(start) // interval_us) * self.config.interval_s

    def _run(
        self, start: datetime, end: datetime | None
    ) -> Iterator[tuple[int, np.ndarray, np.ndarray | None]]:
        interval_s = self.config.interval_s
        epoch_s = self._first_step(start)
        end_us = None if end is None else _epoch_us(end)
        if self._state_epoch_s is None or self._state_epoch_s + interval_s != epoch_s:
            self._restart(epoch_s)
        while end_us is None or epoch_s * US_PER_S < end_us:
            epochs = epoch_s + interval_s * np.arange(_WEATHER_CHUNK_STEPS)
            if end_us is not None:
                epochs = epochs[epochs * US_PER_S < end_us]
            outdoor_c = self.weather.temperature(epochs).tolist()
            outdoor_rh = self.weather.relative_humidity(epochs).tolist()
            for at, t_out, rh_out in zip(epochs.tolist(), outdoor_c, outdoor_rh, strict=True):
                values = self._advance(at, t_out, rh_out)
                values, keep = self.faults.apply(at, values)
                yield at, values, keep
            epoch_s = int(epochs[-1]) + interval_s

    def _restart(self, first_epoch_s: int) -> None:
        """Start a day before ``first_epoch_s`` and run up to it silently."""
        warm_step = max(self.config.interval_s, WARM_UP_STEP_S)
        begin = (first_epoch_s - int(WARM_UP.total_seconds())) // warm_step * warm_step
        clock = LocalClock.at(begin, self.campus.tz)
        at_begin = np.array([begin])
        self.indoor.start(
            float(self.weather.temperature(at_begin)[0]),
            float(self.weather.relative_humidity(at_begin)[0]),
            self._schedule(clock)[1],
        )
        self.occupancy.reset()
        self._occupants = np.zeros(self.layout.space_count, dtype=np.int64)
        self.meters.start(begin)
        self.faults.reset()
        self._state_epoch_s = begin
        epochs = np.arange(begin + warm_step, first_epoch_s, warm_step)
        last_before_first = first_epoch_s - self.config.interval_s
        if len(epochs) and epochs[-1] < last_before_first:
            epochs = np.append(epochs, last_before_first)
        outdoor_c = self.weather.temperature(epochs).tolist()
        outdoor_rh = self.weather.relative_humidity(epochs).tolist()
        for at, t_out, rh_out in zip(epochs.tolist(), outdoor_c, outdoor_rh, strict=True):
            self._advance(at, t_out, rh_out)

    def _schedule(self, clock: LocalClock) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(open per schedule, day setpoint per space, open per space) at ``clock``."""
        layout = self.layout
        open_now = np.array(
            [s.is_open(clock.weekday, clock.hour_of_day) for s in layout.schedules], dtype=bool
        )
        heated = np.array(
            [s.is_heated_for_day(clock.weekday, clock.hour_of_day) for s in layout.schedules],
            dtype=bool,
        )
        return open_now, heated[layout.space_schedule], open_now[layout.space_schedule]

    def _advance(self, epoch_s: int, outdoor_c: float, outdoor_rh: float) -> np.ndarray:
        """Move the state to ``epoch_s`` and return that step's values in layout order."""
        hours = (epoch_s - self._state_epoch_s) / 3600
        layout = self.layout
        clock = LocalClock.at(epoch_s, self.campus.tz)
        open_by_schedule, day_setpoint, scheduled = self._schedule(clock)
        # Physics over the step that just ended, with the headcounts that held during it.
        occupants = self._occupants
        in_use = scheduled | (occupants > 0)
        self.indoor.advance(hours, occupants, in_use, day_setpoint, outdoor_c, outdoor_rh)
        in_use_area = np.bincount(
            layout.space_building, weights=layout.area_m2 * in_use, minlength=layout.building_count
        )
        in_use_share = np.where(
            self._floor_area_by_building > 0,
            in_use_area / np.maximum(self._floor_area_by_building, 1e-9),
            layout.building_schedule_share @ open_by_schedule,
        )
        people = np.bincount(
            layout.space_building, weights=occupants, minlength=layout.building_count
        )
        morning = bool(is_morning_recovery(clock.weekday, clock.hour_of_day))
        self.meters.advance(
            hours,
            electric_power_kw(layout.heated_area_m2, in_use_share, people, outdoor_c),
            heating_power_kw(layout.heated_area_m2, in_use_share, people, outdoor_c, morning),
        )
        # Then who is here now, and what the sensors read.
        rng = generator(self.config.seed, Stream.STEP, epoch_s)
        self._occupants = self.occupancy.headcounts(clock, hours, rng)
        self._state_epoch_s = epoch_s
        noise = rng.standard_normal((3, layout.space_count))
        state = self.indoor.state
        co2 = np.rint(state.co2_ppm + self.co2_calibration + CO2_NOISE_PPM * noise[0])
        temperature = np.round(state.temperature_c + TEMPERATURE_NOISE_K * noise[1], 1)
        humidity = np.round(
            np.clip(self.indoor.relative_humidity() + HUMIDITY_NOISE_PCT * noise[2], 1.0, 99.0), 1
        )
        by_quantity = {
            "occupancy": self._occupants,
            "co2": co2,
            "temperature": temperature,
            "humidity": humidity,
        }
        spaces = np.column_stack([by_quantity[q] for q in SPACE_QUANTITIES]).ravel()
        parts = [spaces, np.round(self.meters.readings(), 3)]
        if layout.weather_station is not None:
            # the station reads the outdoor weather model (°C, %RH), in WEATHER_STATION_QUANTITIES
            # order; its sensor noise is not modelled
            parts.append(np.array([round(outdoor_c, 1), round(outdoor_rh, 1)]))
        return np.concatenate(parts)


def _epoch_us(moment: datetime) -> int:
    return to_epoch_us(moment)


def _epoch_s(moment: datetime) -> int:
    return to_epoch_us(moment) // US_PER_S
