"""Campus-wide KPIs for a whole period: every space and building at once, in bounded memory.

``kpis.space_daily_kpis``, ``climate_kpis.space_ieq`` and
``kpis.building_daily_energy`` answer for one space or building. Researchers and
planners ask for a semester of the whole campus; ``campus_kpis`` gives the same
figures for every space and building over any period, a chunk of local days at
a time:

- **utilisation** per space and local day: SMG 2006 F, O, U, peak, P95,
  seat-hours, the capacity bands, hours without data, over the site's core hours
  in its time zone (``utilisation.core_utilisation``);
- **IEQ** per space and local day over occupied hours (occupancy > 0): EN 16798-1
  ΔCO₂ category hours and hours above FHI's 1000 ppm (``ieq.co2_category_hours``),
  operative-temperature categories by heating/cooling season and relative-humidity
  categories (``ieq.operative_temperature_category``, ``ieq.humidity_category``);
- **energy** per building and local day: kWh from the electricity and
  district-heat registers, resets counted (``kpis.building_daily_energy``);
- **quality** per space and quantity, and per meter, per local day: readings,
  flagged readings per check and the QCI, from the checks of ``analytics.quality``
  with the settings and context windows of ``quality_kpis.check_quality``.

Readings that data-quality checks flagged (the flags kept in the store) are left
out of utilisation, IEQ and energy and counted in ``points_excluded``, as
``kpis`` does (a register reading flagged as a decrease is kept: it is a reset).
The results equal the per-space functions on the same data (tests/test_scale.py):
counts exactly, floats to the last bits (sums taken in another order). Two
choices where those functions are per space: an hour belongs to the local day
its start falls on, and chunks start at local midnight rounded up to the UTC
hour (the same thing in whole-hour time zones).

How it stays fast at campus scale (bench/analytics.py: 500 spaces × 120 days of
5-minute readings, about 69 million readings):

- The period is cut into chunks of whole local days (``chunk_days``, default 7).
  Memory is bounded by a chunk, not by the period. What crosses a chunk boundary
  is carried over (the last register reading of each meter) or read as context
  around the chunk (the hours before and after that a spike, stuck window or
  overnight check looks at, as ``quality_kpis.read_window`` gives them), so the
  chunk size does not change a result. (A spike check's chain of jumps that
  runs on for longer than that context could; the simulator's faults do not.)
- Hourly aggregation happens in the store. With DuckDB, one query per chunk
  groups the readings by (space, UTC hour), with one filtered aggregate per
  quantity; spaces come back as integer row numbers (a join against the
  registry's space list), never as Python strings. Only a chunk that holds
  flagged readings pays for joining the flags.
- The metrics are numpy over (spaces × hours) matrices of the chunk: core hours
  in local time are one mask per chunk, a day is a row of a padded
  (spaces × days × core hours) block; no Python loop runs over spaces or hours.
- Raw readings (quality, registers) come back one quantity at a time as
  (integer code, int64 µs, float64), are sorted in numpy and checked by
  ``analytics.quality``'s functions for all spaces in one call per quantity:
  each space's samples are shifted by its own far-apart time offset, so one
  concatenated, strictly increasing series holds every space and no step, window
  or look-up reaches from one space into the next. Local time comes from a table
  of UTC offsets per 15 minutes of the span, not per reading.

With any other ``ReadingStore`` (InfluxDB) the same figures come through the
store port (``kpis.read_hourly_screened``, ``kpis.read_register``,
``read_series``): slower, same results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Protocol

import numpy as np

from campuslab.analytics import quality as qc
from campuslab.analytics.ieq import (
    CATEGORY_NAMES,
    FHI_CO2_LIMIT_PPM,
    Co2CategoryHours,
    co2_category,
    heating_season_mask,
    humidity_category,
    operative_temperature_category,
)
from campuslab.analytics.kpis import (
    ELECTRICITY,
    HEAT,
    REGISTER_LOOKBACK,
    BuildingDayEnergy,
    SpaceDayKpis,
    read_hourly_screened,
    read_register,
)
from campuslab.analytics.local_time import local_dates, utc_offsets
from campuslab.analytics.quality_kpis import read_window
from campuslab.analytics.utilisation import UtilisationResult, core_hours_mask
from campuslab.core.quantities import QUANTITIES, StateClass
from campuslab.core.registry import Campus
from campuslab.core.store.port import Aggregate, ReadingStore

_US_PER_HOUR = 3_600_000_000
_US_PER_SLOT = 900_000_000  # 15 minutes: every UTC offset in use is a multiple of it
_ONE_US = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_P95 = 0.95
_BAND_LOW, _BAND_FULL = 0.6, 1.0  # Density-style bands, as in utilisation.py
_CATEGORIES = len(CATEGORY_NAMES)  # I, II, III, IV
OCCUPANCY, CO2, TEMPERATURE, HUMIDITY = "occupancy", "co2", "temperature", "humidity"
SPACE_QUANTITIES = (OCCUPANCY, CO2, TEMPERATURE, HUMIDITY)
_PER_SPACE = len(SPACE_QUANTITIES)


class KpiPart(StrEnum):
    UTILISATION = "utilisation"
    IEQ = "ieq"
    ENERGY = "energy"
    QUALITY = "quality"


ALL_PARTS = frozenset(KpiPart)


# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpaceDayUtilisation:
    """Utilisation per space (rows, ``CampusKpis.space_ids``) and local day (columns).

    Every array is (spaces × days); each field means what the same field of
    ``utilisation.UtilisationResult`` means. A day without available core hours (a
    weekend, a sensor offline all day) has NaN rates and 0 hours.
    """

    frequency_rate: np.ndarray
    occupancy_rate: np.ndarray
    utilisation: np.ndarray
    peak_occupancy: np.ndarray
    p95_occupancy: np.ndarray
    used_seat_hours: np.ndarray
    available_seat_hours: np.ndarray
    available_hours: np.ndarray
    in_use_hours: np.ndarray
    share_under_60: np.ndarray
    share_60_to_100: np.ndarray
    share_over_100: np.ndarray
    hours_without_data: np.ndarray
    points_excluded: np.ndarray

    @classmethod
    def empty(cls, spaces: int, days: int) -> SpaceDayUtilisation:
        counts = {"available_hours", "in_use_hours", "hours_without_data", "points_excluded"}
        sums = {"used_seat_hours", "available_seat_hours"}
        arrays = {}
        for f in fields(cls):
            if f.name in counts:
                arrays[f.name] = np.zeros((spaces, days), dtype=np.int64)
            elif f.name in sums:
                arrays[f.name] = np.zeros((spaces, days))
            else:
                arrays[f.name] = np.full((spaces, days), np.nan)
        return cls(**arrays)

    def result(self, space: int, day: int) -> UtilisationResult:
        """One space-day as ``UtilisationResult`` (row in space_ids, column in dates)."""
        return UtilisationResult(
            **{f.name: getattr(self, f.name)[space, day].item() for f in fields(self)}
        )

    def pooled_by_day(self) -> np.ndarray:
        """Campus-wide U per day: Σ used seat-hours / Σ available seat-hours.

        Seat-hours add up across rooms; room percentages are never averaged
        (METRICS.md). NaN for a day with no available hours anywhere.
        """
        available = self.available_seat_hours.sum(axis=0)
        used = self.used_seat_hours.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(available > 0, used / available, np.nan)


@dataclass(frozen=True)
class CategoryHourTable:
    """Occupied hours per EN 16798-1 category, per space and local day.

    Attributes:
        hours: (spaces × days × 4) hours in categories I, II, III, IV.
        occupied_hours: (spaces × days) occupied hours with a value: the denominator.
        occupied_hours_without_value: (spaces × days) occupied hours with no value.
    """

    hours: np.ndarray
    occupied_hours: np.ndarray
    occupied_hours_without_value: np.ndarray

    @classmethod
    def from_codes(cls, by_code: np.ndarray) -> CategoryHourTable:
        """From (spaces × days × 5) occupied hours per category code 0–4 (0 = no value)."""
        hours = by_code[..., 1:]
        return cls(hours, hours.sum(axis=-1), by_code[..., 0])

    def shares(self) -> np.ndarray:
        """(spaces × days × 4) share of occupied hours per category; NaN with none."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.hours / self.occupied_hours[..., None]


@dataclass(frozen=True)
class SpaceDayIeq:
    """Indoor environment over occupied hours per space and local day, from hourly means.

    Attributes:
        co2: EN 16798-1 ΔCO₂ categories (outdoor CO₂ from the registry).
        co2_above_limit_hours: occupied hours above FHI's 1000 ppm, (spaces × days).
        co2_points_excluded: flagged CO₂ readings left out of occupied hours.
        operative_temperature: EN 16798-1 categories, heating or cooling season by
            the hour's local date (``AnalyticsSettings.heating_season``); the air
            temperature stands for the operative one (no radiant temperature measured).
        relative_humidity: EN 16798-1 categories.
        heating_season_days: (days,) True for local dates in the heating season.
    """

    co2: CategoryHourTable
    co2_above_limit_hours: np.ndarray
    co2_points_excluded: np.ndarray
    operative_temperature: CategoryHourTable
    relative_humidity: CategoryHourTable
    heating_season_days: np.ndarray

    def co2_result(self, space: int, day: int) -> Co2CategoryHours:
        """One space-day as ``ieq.Co2CategoryHours``."""
        hours = self.co2.hours[space, day]
        return Co2CategoryHours(
            occupied_hours=int(self.co2.occupied_hours[space, day]),
            category_hours={name: int(hours[i]) for i, name in enumerate(CATEGORY_NAMES)},
            hours_above_fhi_limit=int(self.co2_above_limit_hours[space, day]),
            occupied_hours_without_co2=int(self.co2.occupied_hours_without_value[space, day]),
        )


@dataclass(frozen=True)
class BuildingDayEnergyTable:
    """Delivered energy per building and local day, from cumulative registers.

    Attributes:
        meter_ids, meter_building, meter_quantity: the registry's electricity and heat
            meters, the row of each one's building, and its quantity.
        meter_kwh: (meters × days) kWh, NaN where no register interval ends that day.
        meter_resets: (meters × days) register decreases.
        electricity_kwh, heat_kwh: (buildings × days) sums over the building's meters
            with data, NaN when none has data.
        electricity_resets, heat_resets: (buildings × days).
        points_excluded: (buildings × days) flagged register readings left out.
    """

    meter_ids: tuple[str, ...]
    meter_building: np.ndarray
    meter_quantity: tuple[str, ...]
    meter_kwh: np.ndarray
    meter_resets: np.ndarray
    electricity_kwh: np.ndarray
    heat_kwh: np.ndarray
    electricity_resets: np.ndarray
    heat_resets: np.ndarray
    points_excluded: np.ndarray

    def result(self, building: int, day: int, on: date) -> BuildingDayEnergy:
        """One building-day as ``kpis.BuildingDayEnergy``."""
        missing = tuple(
            meter_id
            for i, meter_id in enumerate(self.meter_ids)
            if self.meter_building[i] == building and np.isnan(self.meter_kwh[i, day])
        )
        return BuildingDayEnergy(
            date=on,
            electricity_kwh=float(self.electricity_kwh[building, day]),
            heat_kwh=float(self.heat_kwh[building, day]),
            electricity_resets=int(self.electricity_resets[building, day]),
            heat_resets=int(self.heat_resets[building, day]),
            meters_without_data=missing,
            points_excluded=int(self.points_excluded[building, day]),
        )


@dataclass(frozen=True)
class SeriesDayQuality:
    """Data quality per series and local day, as ``quality.quality_report``'s days.

    Attributes:
        points: readings received with a timestamp on that day.
        flagged: readings failing at least one check.
        flagged_by_check: check (``quality.CHECKS``) -> readings it flagged; a reading
            may count under several checks.

    Each array's leading axes name the series, the last axis the day. Gaps
    (``quality.gaps``) are not counted: they are readings that never came.
    """

    points: np.ndarray
    flagged: np.ndarray
    flagged_by_check: Mapping[str, np.ndarray] = field(hash=False)

    @classmethod
    def empty(cls, shape: tuple[int, ...]) -> SeriesDayQuality:
        return cls(
            np.zeros(shape, dtype=np.int64),
            np.zeros(shape, dtype=np.int64),
            {check: np.zeros(shape, dtype=np.int64) for check in qc.CHECKS},
        )

    def qci(self) -> np.ndarray:
        """QCI = (points − flagged) / points (Pecos; METRICS.md); NaN without points."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.points > 0, (self.points - self.flagged) / self.points, np.nan)


@dataclass(frozen=True)
class CampusQuality:
    """The checks of ``analytics.quality`` on every space's and meter's raw readings.

    What ``quality_kpis.check_quality`` reports per sensor, quantity and day, as arrays:

    Attributes:
        spaces: (spaces × 4 × days), quantities in ``SPACE_QUANTITIES`` order.
        meters: (meters × days), the meters of ``BuildingDayEnergyTable.meter_ids``.
        meter_ids: the rows of ``meters``.
    """

    spaces: SeriesDayQuality
    meters: SeriesDayQuality
    meter_ids: tuple[str, ...]


@dataclass(frozen=True)
class CampusKpis:
    """The KPI set of a period for every space and building of the campus.

    Rows follow the registry's order (``space_ids``, ``building_ids``); columns are
    the local dates ``dates``. A part that was not asked for is None.
    """

    dates: tuple[date, ...]
    space_ids: tuple[str, ...]
    building_ids: tuple[str, ...]
    utilisation: SpaceDayUtilisation | None
    ieq: SpaceDayIeq | None
    energy: BuildingDayEnergyTable | None
    quality: CampusQuality | None

    def day_index(self, on: date) -> int:
        index = (on - self.dates[0]).days
        if not 0 <= index < len(self.dates):
            raise KeyError(f"{on} is outside the period {self.dates[0]}..{self.dates[-1]}")
        return index

    def space_day(self, space_id: str, on: date) -> SpaceDayKpis:
        """One space-day as ``kpis.SpaceDayKpis`` (needs the utilisation and ieq parts)."""
        if self.utilisation is None or self.ieq is None:
            raise ValueError("space_day needs the utilisation and ieq parts")
        space, day = self.space_ids.index(space_id), self.day_index(on)
        return SpaceDayKpis(
            on,
            self.utilisation.result(space, day),
            self.ieq.co2_result(space, day),
            int(self.ieq.co2_points_excluded[space, day]),
        )

    def building_day(self, building_id: str, on: date) -> BuildingDayEnergy:
        """One building-day as ``kpis.BuildingDayEnergy`` (needs the energy part)."""
        if self.energy is None:
            raise ValueError("building_day needs the energy part")
        return self.energy.result(self.building_ids.index(building_id), self.day_index(on), on)


# -- the registry and the chunks ---------------------------------------------------------------


@dataclass(frozen=True)
class _Registry:
    """The campus as arrays: spaces and their capacities; buildings; energy meters."""

    space_ids: tuple[str, ...]
    capacity: np.ndarray
    building_ids: tuple[str, ...]
    meter_ids: tuple[str, ...]
    meter_quantity: tuple[str, ...]
    meter_building: np.ndarray

    @classmethod
    def of(cls, campus: Campus) -> _Registry:
        spaces = [space for _, space in campus.spaces()]
        meters = [
            (meter.id, meter.quantity, i)
            for i, building in enumerate(campus.buildings)
            for meter in building.meters
            if meter.quantity in (ELECTRICITY, HEAT)
        ]
        return cls(
            space_ids=tuple(space.id for space in spaces),
            capacity=np.array([space.capacity for space in spaces], dtype=np.float64),
            building_ids=tuple(b.id for b in campus.buildings),
            meter_ids=tuple(m[0] for m in meters),
            meter_quantity=tuple(m[1] for m in meters),
            meter_building=np.array([m[2] for m in meters], dtype=np.int64),
        )


@dataclass(frozen=True)
class _Chunk:
    """Local days [offset, offset + days) of the period, as UTC instants and hours.

    ``grid_us`` holds the UTC hours whose start lies in the chunk's local days, so
    hours tile the period without overlap (in whole-hour time zones the local
    midnights are UTC hours anyway).
    """

    offset: int
    days: int
    start_us: int  # local midnight opening the chunk, µs since the epoch
    end_us: int  # local midnight closing it
    grid_us: np.ndarray
    day_of_hour: np.ndarray  # local day of each hour, 0..days-1

    @property
    def lo_us(self) -> int:
        return int(self.grid_us[0]) if self.grid_us.size else self.start_us

    @property
    def hi_us(self) -> int:
        return int(self.grid_us[-1]) + _US_PER_HOUR if self.grid_us.size else self.start_us

    @property
    def grid(self) -> np.ndarray:
        return self.grid_us.astype("datetime64[us]")


def _epoch_us(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _local_midnight_us(campus: Campus, day: date) -> int:
    return _epoch_us(datetime.combine(day, time(0), campus.tz).astimezone(UTC))


def _chunks(campus: Campus, first_day: date, days: int, chunk_days: int) -> Iterator[_Chunk]:
    for offset in range(0, days, chunk_days):
        count = min(chunk_days, days - offset)
        start_us = _local_midnight_us(campus, first_day + timedelta(days=offset))
        end_us = _local_midnight_us(campus, first_day + timedelta(days=offset + count))
        ceil_start = -(-start_us // _US_PER_HOUR) * _US_PER_HOUR
        ceil_end = -(-end_us // _US_PER_HOUR) * _US_PER_HOUR
        grid_us = np.arange(ceil_start, ceil_end, _US_PER_HOUR, dtype=np.int64)
        first = np.datetime64(first_day + timedelta(days=offset), "D")
        day_of_hour = (local_dates(grid_us.astype("datetime64[us]"), campus.tz) - first).astype(
            np.int64
        )
        yield _Chunk(offset, count, start_us, end_us, grid_us, day_of_hour)


def _naive(us: int) -> datetime:
    return datetime(1970, 1, 1) + timedelta(microseconds=int(us))


def _aware(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(us))


# -- reading the store ------------------------------------------------------------------------

HourlyFields = Mapping[str, tuple[str, Aggregate]]
"""Hourly matrix name -> (quantity, 1 h aggregate)."""


@dataclass(frozen=True)
class _Hourly:
    """Hourly aggregates of a chunk, flagged readings left out.

    values: name -> (spaces × hours), NaN = no unflagged reading;
    excluded: quantity -> (spaces × hours) flagged readings left out.
    """

    values: dict[str, np.ndarray]
    excluded: dict[str, np.ndarray]


class _Readings(Protocol):
    def hourly(self, chunk: _Chunk, wanted: HourlyFields) -> _Hourly: ...

    def space_samples(
        self, quantity: str, lo_us: int, hi_us: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...

    def registers(
        self, lo_us: int, hi_us: int, include_lo: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...

    def close(self) -> None: ...


_AGGREGATE_SQL = {Aggregate.MEAN: "avg", Aggregate.MAX: "max", Aggregate.MIN: "min"}

_ANY_FLAGS = """
SELECT count(*) FROM (SELECT 1 FROM quality_flags WHERE ts >= $start AND ts < $end LIMIT 1)
"""


class _DuckDBReadings:
    """The fast path: SQL against the DuckDB store, integer codes instead of sensor strings.

    It opens a second connection to the store's database; within one process DuckDB
    shares an open database between connections, so this works while the store (or
    a ``serve`` in this process) holds the file. Sensor and quantity strings are
    matched inside DuckDB against small registered tables of the registry's ids;
    rows come back with integer codes only. Quantity names in the SQL text are this
    module's constants, never user input.
    """

    def __init__(self, path: str, registry: _Registry) -> None:
        import duckdb
        import pyarrow as pa

        self._con = duckdb.connect(path)
        self._con.execute("SET enable_progress_bar = false")
        self._spaces = len(registry.space_ids)
        self._meter_quantities = registry.meter_quantity or (ELECTRICITY,)
        self._con.register(
            "campus_kpi_spaces",
            pa.table(
                {
                    "sensor": list(registry.space_ids),
                    "space": np.arange(self._spaces, dtype=np.int32),
                }
            ),
        )
        self._con.register(
            "campus_kpi_meters",
            pa.table(
                {
                    "sensor": list(registry.meter_ids),
                    "quantity": list(registry.meter_quantity),
                    "meter": np.arange(len(registry.meter_ids), dtype=np.int32),
                }
            ),
        )

    def _flags_in(self, lo_us: int, hi_us: int) -> bool:
        window = {"start": _naive(lo_us), "end": _naive(hi_us)}
        return bool(self._con.execute(_ANY_FLAGS, window).fetchall()[0][0])

    def hourly(self, chunk: _Chunk, wanted: HourlyFields) -> _Hourly:
        quantities = sorted({quantity for quantity, _ in wanted.values()})
        flagged = self._flags_in(chunk.lo_us, chunk.hi_us)
        columns = []
        for name, (quantity, aggregate) in wanted.items():
            only = [f"r.quantity = '{quantity}'"] if len(quantities) > 1 else []
            only += ["f.ts IS NULL"] if flagged else []
            where = f" FILTER ({' AND '.join(only)})" if only else ""
            columns.append(
                f"coalesce({_AGGREGATE_SQL[aggregate]}(r.value){where}, 'nan'::DOUBLE) "
                f'AS "{name}"'
            )
        join = ""
        if flagged:  # only then pay for the join: a clean chunk has no flags to look up
            columns += [
                f"count(*) FILTER (r.quantity = '{q}' AND f.ts IS NOT NULL) AS \"excluded {q}\""
                for q in quantities
            ]
            join = (
                "LEFT JOIN (SELECT DISTINCT sensor, quantity, ts FROM quality_flags "
                "WHERE ts >= $start AND ts < $end) AS f "
                "ON f.sensor = r.sensor AND f.quantity = r.quantity AND f.ts = r.ts "
            )
        listed = ", ".join(f"'{q}'" for q in quantities)
        # aggregate by sensor first, then turn the (few) sensor strings into space rows
        sql = (
            "SELECT s.space, h.* EXCLUDE (sensor) FROM ("
            f"SELECT r.sensor, (epoch_us(r.ts) - $lo) // {_US_PER_HOUR} AS hour, "
            f"{', '.join(columns)} FROM readings r {join}"
            f"WHERE r.ts >= $start AND r.ts < $end AND r.quantity IN ({listed}) "
            "GROUP BY ALL) AS h JOIN campus_kpi_spaces s USING (sensor)"
        )
        found = self._con.execute(
            sql, {"lo": chunk.lo_us, "start": _naive(chunk.lo_us), "end": _naive(chunk.hi_us)}
        ).fetchnumpy()
        space, hour = found["space"].astype(np.int64), found["hour"].astype(np.int64)
        shape = (self._spaces, chunk.grid_us.size)
        values = {}
        for name in wanted:
            matrix = np.full(shape, np.nan)
            matrix[space, hour] = found[name]
            values[name] = matrix
        excluded = {}
        for quantity in quantities:
            matrix = np.zeros(shape, dtype=np.int64)
            if flagged:
                matrix[space, hour] = found[f"excluded {quantity}"]
            excluded[quantity] = matrix
        return _Hourly(values, excluded)

    def space_samples(
        self, quantity: str, lo_us: int, hi_us: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        found = self._con.execute(
            "SELECT s.space, epoch_us(r.ts) AS t, r.value "
            "FROM readings r JOIN campus_kpi_spaces s USING (sensor) "
            f"WHERE r.quantity = '{quantity}' AND r.ts >= $start AND r.ts < $end",
            {"start": _naive(lo_us), "end": _naive(hi_us)},
        ).fetchnumpy()
        return found["space"].astype(np.int64), found["t"].astype(np.int64), found["value"]

    def registers(
        self, lo_us: int, hi_us: int, include_lo: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        above = ">=" if include_lo else ">"
        window = {"lo": _naive(lo_us), "hi": _naive(hi_us)}
        listed = ", ".join(f"'{q}'" for q in sorted(set(self._meter_quantities)))
        flagged = self._flags_in(lo_us, hi_us + 1)
        # a reading is left out when flagged, unless one of its flags is a register decrease
        left_out, join = "false", ""
        if flagged:
            left_out = "coalesce(f.left_out, false)"
            join = (
                "LEFT JOIN (SELECT sensor, quantity, ts, "
                f"NOT bool_or(\"check\" = '{qc.REGISTER_DECREASE}') AS left_out "
                f"FROM quality_flags WHERE ts {above} $lo AND ts <= $hi GROUP BY ALL) AS f "
                "ON f.sensor = r.sensor AND f.quantity = r.quantity AND f.ts = r.ts "
            )
        found = self._con.execute(
            f"SELECT m.meter, epoch_us(r.ts) AS t, r.value, {left_out} AS left_out "
            f"FROM readings r JOIN campus_kpi_meters m USING (sensor, quantity) {join}"
            f"WHERE r.quantity IN ({listed}) AND r.ts {above} $lo AND r.ts <= $hi",
            window,
        ).fetchnumpy()
        return (
            found["meter"].astype(np.int64),
            found["t"].astype(np.int64),
            found["value"],
            np.asarray(found["left_out"], dtype=bool),
        )

    def close(self) -> None:
        self._con.close()


class _PortReadings:
    """Any ``ReadingStore``, through the port and ``kpis``' readers: same figures, more calls."""

    def __init__(self, store: ReadingStore, registry: _Registry) -> None:
        self._store = store
        self._registry = registry

    def hourly(self, chunk: _Chunk, wanted: HourlyFields) -> _Hourly:
        values: dict[str, np.ndarray] = {}
        excluded: dict[str, np.ndarray] = {}
        for quantity in sorted({quantity for quantity, _ in wanted.values()}):
            names = [name for name, (q, _) in wanted.items() if q == quantity]
            aggregates = list(dict.fromkeys(wanted[name][1] for name in names))
            screened = read_hourly_screened(
                self._store, quantity, chunk.grid, self._registry.space_ids, aggregates
            )
            for name in names:
                values[name] = screened.values[wanted[name][1]]
            excluded[quantity] = screened.excluded
        return _Hourly(values, excluded)

    def space_samples(
        self, quantity: str, lo_us: int, hi_us: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        codes, times, values = [], [], []
        for space, space_id in enumerate(self._registry.space_ids):
            found = self._store.read_series(space_id, quantity, _aware(lo_us), _aware(hi_us))
            codes.append(np.full(len(found), space, dtype=np.int64))
            times.append(found.ts.astype("datetime64[us]").astype(np.int64))
            values.append(found.values)
        return _joined(codes, times, values)

    def registers(
        self, lo_us: int, hi_us: int, include_lo: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        codes, times, values, left_out = [], [], [], []
        registry = self._registry
        for meter, (meter_id, quantity) in enumerate(
            zip(registry.meter_ids, registry.meter_quantity, strict=True)
        ):
            found = read_register(self._store, meter_id, quantity, _aware(lo_us), _aware(hi_us + 1))
            kept = found.ts.astype("datetime64[us]").astype(np.int64)
            out = found.excluded_ts.astype("datetime64[us]").astype(np.int64)
            keep_kept = kept >= lo_us if include_lo else kept > lo_us
            keep_out = out >= lo_us if include_lo else out > lo_us
            kept, out = kept[keep_kept], out[keep_out]
            codes += [np.full(kept.size, meter), np.full(out.size, meter)]
            times += [kept, out]
            values += [found.values[keep_kept], np.zeros(out.size)]  # left out: value unused
            left_out += [np.zeros(kept.size, dtype=bool), np.ones(out.size, dtype=bool)]
        meter, t, value = _joined(codes, times, values)
        return meter, t, value, np.concatenate(left_out) if left_out else np.zeros(0, bool)

    def close(self) -> None:
        pass


def _joined(
    codes: list[np.ndarray], times: list[np.ndarray], values: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not codes:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
    return np.concatenate(codes), np.concatenate(times), np.concatenate(values)


def _readings(store: ReadingStore, registry: _Registry) -> _Readings:
    from campuslab.core.store.duckdb import DuckDBStore

    if isinstance(store, DuckDBStore):
        return _DuckDBReadings(str(store.path), registry)
    return _PortReadings(store, registry)


# -- utilisation and IEQ over a chunk (pure) ----------------------------------------------------


def utilisation_by_day(
    counts: np.ndarray,
    capacity: np.ndarray,
    core: np.ndarray,
    day_of_hour: np.ndarray,
    days: int,
    in_use_threshold: float,
) -> dict[str, np.ndarray]:
    """SMG 2006 utilisation per space and local day, vectorised.

    The same figures as ``utilisation.core_utilisation`` over each day's hours
    (see there and METRICS.md): F, O, U, peak, P95 (inverted CDF), seat-hours,
    the capacity bands and hours without data.

    Args:
        counts: (spaces × hours) n_h, people; NaN = no observation.
        capacity: (spaces,) seats.
        core: (hours,) True for available core hours (``utilisation.core_hours_mask``).
        day_of_hour: (hours,) the local day (0..days-1) of each hour.
        days: number of days.
        in_use_threshold: people for an hour in use.

    Returns:
        The fields of ``SpaceDayUtilisation`` except ``points_excluded``, (spaces × days).
    """
    spaces = counts.shape[0]
    empty = SpaceDayUtilisation.empty(spaces, days)
    out = {f.name: getattr(empty, f.name) for f in fields(empty) if f.name != "points_excluded"}
    core_hours = np.flatnonzero(core & (day_of_hour >= 0) & (day_of_hour < days))
    if core_hours.size == 0:
        return out
    # one row of core hours per (space, day), NaN-padded: spaces × core days × hours of day
    day_c = day_of_hour[core_hours]
    core_days, first, per_day = np.unique(day_c, return_index=True, return_counts=True)
    slot = np.arange(core_hours.size) - np.repeat(first, per_day)
    block = np.full((spaces, core_days.size, int(per_day.max())), np.nan)
    block[:, np.searchsorted(core_days, day_c), slot] = counts[:, core_hours]

    observed = ~np.isnan(block)
    k = observed.sum(axis=-1)
    in_use = block >= in_use_threshold  # NaN compares False
    m = in_use.sum(axis=-1)
    seats = capacity[:, None]
    seat_hours = seats * k  # whole seats × whole hours: exact, as the sum of C over hours
    ratio = block / capacity[:, None, None]
    used = np.where(observed, block, 0.0).sum(axis=-1)
    bands = {
        "share_under_60": ratio < _BAND_LOW,
        "share_60_to_100": (ratio >= _BAND_LOW) & (ratio <= _BAND_FULL),
        "share_over_100": ratio > _BAND_FULL,
    }
    # P95 as utilisation._weighted_percentile: the first hour whose cumulative seat-hours
    # reach 0.95 of the total (the same float operations, so the same pick)
    target = _P95 * seat_hours * (1 - 1e-12)
    cumulative = seats[..., None] * np.arange(1, block.shape[-1] + 1)
    rank = np.minimum((cumulative < target[..., None]).sum(axis=-1), block.shape[-1] - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        in_use_sum = np.where(in_use, block, 0.0).sum(axis=-1)
        rates = {
            "frequency_rate": (seats * m) / seat_hours,
            "occupancy_rate": np.where(m > 0, in_use_sum / (seats * m), 0.0),
            "utilisation": used / seat_hours,
            "peak_occupancy": np.fmax.reduce(ratio, axis=-1),
            "p95_occupancy": np.take_along_axis(np.sort(ratio, axis=-1), rank[..., None], -1)[
                ..., 0
            ],
            **{name: (seats * mask.sum(axis=-1)) / seat_hours for name, mask in bands.items()},
        }
    without_hours = k == 0
    columns = core_days.astype(np.int64)
    for name, values in rates.items():
        out[name][:, columns] = np.where(without_hours, np.nan, values)
    out["used_seat_hours"][:, columns] = used
    out["available_seat_hours"][:, columns] = seat_hours
    out["available_hours"][:, columns] = k
    out["in_use_hours"][:, columns] = m
    out["hours_without_data"][:, columns] = per_day[None, :] - k
    return out


def hours_by_day(values: np.ndarray, day_of_hour: np.ndarray, days: int) -> np.ndarray:
    """(spaces × days) sums of integer ``values`` (spaces × hours) over each day's hours."""
    one_hot = (day_of_hour[:, None] == np.arange(days)[None, :]).astype(np.int64)
    return values.astype(np.int64) @ one_hot


def category_hours_by_day(
    category: np.ndarray, occupied: np.ndarray, day_of_hour: np.ndarray, days: int
) -> np.ndarray:
    """(spaces × days × 5) occupied hours per category code 0–4 (0 = no value).

    Args:
        category: (spaces × hours) codes 0–4, as from ``ieq.co2_category``.
        occupied: (spaces × hours) True where people were present.
        day_of_hour: (hours,) local day of each hour, 0..days-1 (others are skipped).
        days: number of days.
    """
    spaces = category.shape[0]
    inside = (day_of_hour >= 0) & (day_of_hour < days)
    space, hour = np.nonzero(occupied & inside[None, :])
    index = (space * days + day_of_hour[hour]) * (_CATEGORIES + 1) + category[space, hour]
    counts = np.bincount(index, minlength=spaces * days * (_CATEGORIES + 1))
    return counts.reshape(spaces, days, _CATEGORIES + 1)


def _flat(function: Callable[..., np.ndarray], matrix: np.ndarray, *args: object) -> np.ndarray:
    """Apply a 1-D metric of ``ieq`` to every cell of a (spaces × hours) matrix."""
    return function(matrix.ravel(), *args).reshape(matrix.shape)


# -- data quality over a chunk (analytics.quality, all spaces at once) ----------------------------


def _time_of_day_us(moment: time) -> int:
    return (
        (moment.hour * 60 + moment.minute) * 60 + moment.second
    ) * 1_000_000 + moment.microsecond


class _SlotClock:
    """Local wall-clock time of instants in [lo, hi), by 15-minute slot.

    ``local_time.local_wall_time`` looks the UTC offset up per UTC day of its input;
    for millions of readings a table of the offset of every 15-minute slot of the
    span is cheaper, and exact: UTC offsets and their changes fall on quarter hours.
    """

    def __init__(self, lo_us: int, hi_us: int, campus: Campus) -> None:
        self.first = lo_us - lo_us % _US_PER_SLOT
        starts = np.arange(self.first, hi_us + _US_PER_SLOT, _US_PER_SLOT)
        self.offsets = utc_offsets(starts.astype("datetime64[us]"), campus.tz).astype(np.int64)

    def wall_us(self, t_us: np.ndarray) -> np.ndarray:
        """Local wall-clock time, µs since the epoch as if local time were UTC."""
        return t_us + self.offsets[(t_us - self.first) // _US_PER_SLOT]

    def local_day(self, t_us: np.ndarray) -> np.ndarray:
        """Local date of each instant, as days since 1970-01-01."""
        return self.wall_us(t_us) // (24 * _US_PER_HOUR)


def overnight_counter_flags_by_space(
    space: np.ndarray,
    t_us: np.ndarray,
    counts: np.ndarray,
    capacity: np.ndarray,
    clock: _SlotClock,
    settings: qc.QualitySettings,
) -> np.ndarray:
    """``quality.overnight_counter_flags`` for many spaces' occupancy series at once.

    Args:
        space: row of each reading's space; t_us: its UTC µs; counts: its value.
        capacity: seats per space row.
        clock: local time of the readings' span.
        settings: night window, tolerances and extent.
    """
    flags = np.zeros(t_us.size, dtype=bool)
    if t_us.size == 0:
        return flags
    wall = clock.wall_us(t_us)
    days = wall // (24 * _US_PER_HOUR)
    time_of_day = wall - days * (24 * _US_PER_HOUR)
    lo, hi = _time_of_day_us(settings.night_start), _time_of_day_us(settings.night_end)
    in_night = (time_of_day >= lo) & (time_of_day < hi) & np.isfinite(counts)
    if not in_night.any():
        return flags
    first_day = days.min()
    width = int(days.max() - first_day) + 2  # counter days reach one further
    key = space * width + (days - first_day)
    lowest = np.full(capacity.size * width, np.inf)
    np.minimum.at(lowest, key[in_night], counts[in_night])
    judged = np.bincount(key[in_night], minlength=lowest.size) > 0  # nights with a reading
    tolerance = np.maximum(
        settings.night_tolerance_people, settings.night_tolerance_share * capacity
    )
    failing = judged & (lowest > np.repeat(tolerance, width))
    if settings.overnight_extent == "night":
        return in_night & failing[key]
    return failing[key + (time_of_day >= hi)]  # the counter day ends with the next night


def _first_of_series(series: np.ndarray) -> np.ndarray:
    return np.r_[True, series[1:] != series[:-1]] if series.size else np.zeros(0, dtype=bool)


class _QualityAccumulator:
    """``CampusQuality``, chunk by chunk, with ``analytics.quality``'s functions.

    Each chunk reads the span ``quality_kpis.read_window`` gives (the hours before and
    after that spikes, stuck windows and the overnight check look at) and counts only
    the readings inside the chunk, as ``quality_kpis.check_quality`` does for a window.
    The checks run once per quantity for all series together: every series' instants
    are shifted by its own offset, ten times the span read, so one strictly increasing
    array holds them all and no step, window or look-up reaches across series.
    """

    def __init__(self, registry: _Registry, campus: Campus, first_day: date, days: int) -> None:
        self.registry = registry
        self.campus = campus
        self.settings = qc.QualitySettings()
        self.first_day = np.datetime64(first_day, "D")
        spaces, meters = len(registry.space_ids), len(registry.meter_ids)
        self.spaces = SeriesDayQuality.empty((spaces, _PER_SPACE, days))
        self.meters = SeriesDayQuality.empty((meters, days))
        # spaces of each building, as rows: for "anyone in the building" (stuck registers)
        building_of_space = np.array(
            [i for i, b in enumerate(campus.buildings) for _ in b.spaces], dtype=np.int64
        )
        self.building_spaces = np.argsort(building_of_space, kind="stable")
        counts = np.bincount(building_of_space, minlength=len(campus.buildings))
        self.building_first = np.concatenate(([0], np.cumsum(counts)))

    def result(self) -> CampusQuality:
        return CampusQuality(self.spaces, self.meters, self.registry.meter_ids)

    def span(self, chunk: _Chunk) -> tuple[int, int]:
        """[lo, hi) µs of the raw readings a chunk's checks look at (``read_window``)."""
        read_from, read_to = read_window(
            self.campus, _aware(chunk.lo_us), _aware(chunk.hi_us), self.settings
        )
        return _epoch_us(read_from), _epoch_us(read_to)

    def add(self, chunk: _Chunk, readings: _Readings) -> None:
        lo, hi = self.span(chunk)
        offset = 10 * (hi - lo)
        clock = _SlotClock(lo, hi, self.campus)
        first_day = int(self.first_day.astype(np.int64))

        def days(t: np.ndarray) -> np.ndarray:
            return clock.local_day(t) - first_day

        busy = None
        # one quantity at a time, occupancy first: it says when spaces were occupied
        for q, quantity in enumerate(SPACE_QUANTITIES):
            space, t, value = self._sorted(*readings.space_samples(quantity, lo, hi))
            spread = (t + space * offset).astype("datetime64[us]")
            if quantity == OCCUPANCY:
                busy = (spread, value, np.bincount(space, minlength=len(self.registry.space_ids)))
            flags = self._space_flags(quantity, space, t, spread, value, busy, clock)
            series = space * _PER_SPACE + q
            self._tally(self.spaces, chunk, series, t, days(t), flags)
        if not self.registry.meter_ids:
            return
        meter, t, value, _ = readings.registers(lo, hi - 1, include_lo=True)
        meter, t, value = self._sorted(meter, t, value)
        flags = self._meter_flags(meter, t, value, offset, busy)
        self._tally(self.meters, chunk, meter, t, days(t), flags)

    @staticmethod
    def _sorted(series: np.ndarray, t: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, ...]:
        order = np.lexsort((t, series))
        return series[order], t[order], value[order]

    # -- the checks ----------------------------------------------------------------------

    def _value_flags(
        self, quantity: str, series: np.ndarray, ts: np.ndarray, values: np.ndarray, occupied
    ) -> dict[str, np.ndarray]:
        """``quality._value_checks`` for one quantity, on many offset series at once."""
        settings = self.settings
        flags = {}
        if quantity in settings.ranges:
            flags[qc.RANGE] = qc.range_flags(values, quantity, settings.ranges)
        if quantity in settings.max_steps:
            flags[qc.SPIKE] = qc.spike_flags(
                ts, values, quantity, settings.max_steps, settings.spike_max_duration
            )
        if quantity in settings.stuck_epsilons and occupied is not None:
            flags[qc.STUCK] = qc.stuck_flags(
                ts,
                values,
                occupied,
                quantity,
                settings.stuck_epsilons,
                settings.stuck_window,
                settings.stuck_min_points,
                settings.stuck_occupied_share,
            )
        if QUANTITIES[quantity].state_class is StateClass.TOTAL_INCREASING:
            decrease = qc.register_decrease_flags(values, settings.register_tolerance)
            decrease[_first_of_series(series)] = False  # no reading before a series' first
            flags[qc.REGISTER_DECREASE] = decrease
        return flags

    def _space_flags(
        self, quantity, space, t, spread, value, busy, clock: _SlotClock
    ) -> dict[str, np.ndarray]:
        """Every check of ``quality_report`` on one quantity of every space."""
        settings = self.settings
        occupied = None
        if quantity != OCCUPANCY and quantity in settings.stuck_epsilons:
            occupancy_ts, occupancy, readings_per_space = busy
            occupied = qc.occupied_at(
                spread,
                occupancy_ts,
                occupancy,
                settings.occupied_threshold,
                settings.occupancy_max_age,
            )
            # quality_kpis gives the stuck check an occupancy only where the space has one
            occupied &= readings_per_space[space] > 0
        flags = self._value_flags(quantity, space, spread, value, occupied)
        if quantity == OCCUPANCY:
            flags[qc.NEGATIVE] = qc.negative_flags(value)
            # quality.over_capacity_flags, with each reading's own capacity
            limit = self.registry.capacity[space] * settings.over_capacity_factor
            flags[qc.OVER_CAPACITY] = value > limit
            flags[qc.OVERNIGHT_COUNTER] = overnight_counter_flags_by_space(
                space, t, value, self.registry.capacity, clock, settings
            )
        return flags

    def _meter_flags(self, meter, t, value, offset, busy) -> dict[str, np.ndarray]:
        settings = self.settings
        flags: dict[str, np.ndarray] = {}
        quantity_of = np.asarray(self.registry.meter_quantity, dtype=object)
        for quantity in sorted(set(self.registry.meter_quantity)):
            rows = np.flatnonzero(quantity_of[meter] == quantity)
            if rows.size == 0:
                continue
            ts = (t[rows] + meter[rows] * offset).astype("datetime64[us]")
            occupied = None
            if quantity in settings.stuck_epsilons:
                occupied = self._anyone_in_building(meter[rows], t[rows], offset, busy)
            found = self._value_flags(quantity, meter[rows], ts, value[rows], occupied)
            for check, check_flags in found.items():
                flags.setdefault(check, np.zeros(t.size, dtype=bool))[rows] = check_flags
        return flags

    def _anyone_in_building(self, meter, t, offset, busy) -> np.ndarray:
        """Whether anyone was in the meter's building at each reading (quality_kpis)."""
        building = self.registry.meter_building[meter]
        first = self.building_first[building]
        per_reading = self.building_first[building + 1] - first
        reading = np.repeat(np.arange(t.size), per_reading)
        nth = np.arange(reading.size) - np.repeat(np.cumsum(per_reading) - per_reading, per_reading)
        space = self.building_spaces[first[reading] + nth]
        asked = (t[reading] + space * offset).astype("datetime64[us]")
        settings = self.settings
        occupancy_ts, occupancy, _ = busy
        occupied = qc.occupied_at(
            asked, occupancy_ts, occupancy, settings.occupied_threshold, settings.occupancy_max_age
        )
        return np.bincount(reading, weights=occupied, minlength=t.size) > 0

    # -- counting ------------------------------------------------------------------------

    def _tally(
        self,
        into: SeriesDayQuality,
        chunk: _Chunk,
        series: np.ndarray,
        t: np.ndarray,
        day: np.ndarray,
        flags: Mapping[str, np.ndarray],
    ) -> None:
        """Add a chunk's readings (series codes index the flattened leading axes of ``into``)."""
        day = day - chunk.offset
        counted = (t >= chunk.lo_us) & (t < chunk.hi_us) & (day >= 0) & (day < chunk.days)
        index = series[counted] * chunk.days + day[counted]
        target = (..., slice(chunk.offset, chunk.offset + chunk.days))
        shape = into.points[target].shape
        size = int(np.prod(shape))

        def tally(rows: np.ndarray | None) -> np.ndarray:
            found = index if rows is None else index[rows]
            return np.bincount(found, minlength=size).reshape(shape)

        # flags are rare: count each check over the indexes of its flagged readings only
        any_flag = np.zeros(int(counted.sum()), dtype=bool)
        for check, check_flags in flags.items():
            hit = np.flatnonzero(check_flags[counted])
            if hit.size:
                into.flagged_by_check[check][target] += tally(hit)
                any_flag[hit] = True
        into.points[target] += tally(None)
        into.flagged[target] += tally(np.flatnonzero(any_flag))


# -- energy over a chunk --------------------------------------------------------------------------


class _EnergyAccumulator:
    """Daily register consumption per meter across chunks (``energy.daily_consumption``)."""

    def __init__(self, registry: _Registry, first_day: date, days: int) -> None:
        meters = len(registry.meter_ids)
        self.registry = registry
        self.first_day = np.datetime64(first_day, "D")
        self.kwh = np.zeros((meters, days))
        self.intervals = np.zeros((meters, days), dtype=np.int64)
        self.resets = np.zeros((meters, days), dtype=np.int64)
        self.excluded = np.zeros((meters, days), dtype=np.int64)
        self.last_t = np.full(meters, -1, dtype=np.int64)  # carried: last kept reading per meter
        self.last_value = np.full(meters, np.nan)

    def _day(self, t: np.ndarray, campus: Campus) -> np.ndarray:
        # the last microsecond of an interval decides its day: a midnight reading closes the
        # day before (energy.daily_consumption)
        ends = (t - 1).astype("datetime64[us]")
        return (local_dates(ends, campus.tz) - self.first_day).astype(np.int64)

    def _add(self, target: np.ndarray, meter: np.ndarray, day: np.ndarray, weights) -> None:
        meters, days = target.shape
        found = np.bincount(meter * days + day, weights=weights, minlength=meters * days)
        target += found.reshape(meters, days).astype(target.dtype)

    @staticmethod
    def span(chunk: _Chunk) -> tuple[int, int, bool]:
        """(lo, hi, lo included) of the register readings a chunk needs."""
        first_chunk = chunk.offset == 0
        # the first chunk opens its first intervals with readings up to a day before it;
        # later ones with the reading carried over from the chunk before
        lo = chunk.start_us - (REGISTER_LOOKBACK // _ONE_US if first_chunk else 0)
        return lo, chunk.end_us, first_chunk

    def add(self, chunk: _Chunk, registers: tuple[np.ndarray, ...], campus: Campus) -> None:
        meter, t, value, left_out = registers
        dropped = left_out & (t > chunk.start_us)
        if dropped.any():
            self._add(self.excluded, meter[dropped], self._day(t[dropped], campus), None)
        meter, t, value = meter[~left_out], t[~left_out], value[~left_out]
        carried = self.last_t >= 0
        meter = np.concatenate([np.flatnonzero(carried), meter])
        t = np.concatenate([self.last_t[carried], t])
        value = np.concatenate([self.last_value[carried], value])
        order = np.lexsort((t, meter))
        meter, t, value = meter[order], t[order], value[order]
        if meter.size:
            last = np.flatnonzero(np.r_[meter[1:] != meter[:-1], True])
            self.last_t[meter[last]] = t[last]
            self.last_value[meter[last]] = value[last]
        # intervals (t[i-1], t[i]] of one meter that end inside the chunk
        closes = np.flatnonzero((meter[1:] == meter[:-1]) & (t[1:] > chunk.start_us)) + 1
        if closes.size == 0:
            return
        step = value[closes] - value[closes - 1]
        day = self._day(t[closes], campus)
        # bincount adds in array order, each meter's intervals in time order, as
        # daily_consumption does, so the sums are the same to the bit
        self._add(self.kwh, meter[closes], day, np.where(step > 0, step, 0.0))
        self._add(self.intervals, meter[closes], day, None)
        self._add(self.resets, meter[closes], day, step < 0)

    def table(self, buildings: int) -> BuildingDayEnergyTable:
        registry = self.registry
        has_data = self.intervals > 0
        days = self.kwh.shape[1]
        totals = {q: np.zeros((buildings, days)) for q in (ELECTRICITY, HEAT)}
        seen = {q: np.zeros((buildings, days), dtype=bool) for q in (ELECTRICITY, HEAT)}
        resets = {q: np.zeros((buildings, days), dtype=np.int64) for q in (ELECTRICITY, HEAT)}
        excluded = np.zeros((buildings, days), dtype=np.int64)
        # meters one by one in registry order, as kpis.building_daily_energy adds them up
        for i, quantity in enumerate(registry.meter_quantity):
            b = registry.meter_building[i]
            totals[quantity][b] = np.where(
                has_data[i], totals[quantity][b] + self.kwh[i], totals[quantity][b]
            )
            seen[quantity][b] |= has_data[i]
            resets[quantity][b] += np.where(has_data[i], self.resets[i], 0)
            excluded[b] += self.excluded[i]
        return BuildingDayEnergyTable(
            meter_ids=registry.meter_ids,
            meter_building=registry.meter_building,
            meter_quantity=registry.meter_quantity,
            meter_kwh=np.where(has_data, self.kwh, np.nan),
            meter_resets=self.resets,
            electricity_kwh=np.where(seen[ELECTRICITY], totals[ELECTRICITY], np.nan),
            heat_kwh=np.where(seen[HEAT], totals[HEAT], np.nan),
            electricity_resets=resets[ELECTRICITY],
            heat_resets=resets[HEAT],
            points_excluded=excluded,
        )


# -- the job --------------------------------------------------------------------------------------


class _SpaceDays:
    """Utilisation and IEQ of every space, filled in chunk by chunk."""

    def __init__(self, registry: _Registry, campus: Campus, days: int, parts) -> None:
        spaces = len(registry.space_ids)
        self.registry, self.campus = registry, campus
        self.use = SpaceDayUtilisation.empty(spaces, days) if KpiPart.UTILISATION in parts else None
        self.ieq = KpiPart.IEQ in parts
        self.codes = {
            name: np.zeros((spaces, days, _CATEGORIES + 1), dtype=np.int64)
            for name in (CO2, TEMPERATURE, HUMIDITY)
        }
        self.co2_above = np.zeros((spaces, days), dtype=np.int64)
        self.co2_excluded = np.zeros((spaces, days), dtype=np.int64)
        self.heating_days = np.zeros(days, dtype=bool)

    def add(self, chunk: _Chunk, hourly: _Hourly) -> None:
        settings = self.campus.analytics
        counts = hourly.values[OCCUPANCY]
        target = slice(chunk.offset, chunk.offset + chunk.days)
        by_day = chunk.day_of_hour, chunk.days
        if self.use is not None:
            core = core_hours_mask(chunk.grid, self.campus.tz, settings.core_hours)
            found = utilisation_by_day(
                counts, self.registry.capacity, core, *by_day, settings.in_use_threshold
            )
            for name, values in found.items():
                getattr(self.use, name)[:, target] = values
            excluded = hourly.excluded[OCCUPANCY] * core[None, :]
            self.use.points_excluded[:, target] = hours_by_day(excluded, *by_day)
        if not self.ieq:
            return
        with np.errstate(invalid="ignore"):
            occupied = counts > 0  # unknown occupancy (NaN) is not occupied
        season = settings.heating_season
        heating = heating_season_mask(chunk.grid, self.campus.tz, season.first, season.last)
        heating_by_hour = np.broadcast_to(heating, counts.shape).ravel()
        co2 = hourly.values[CO2]
        codes = {
            CO2: _flat(co2_category, co2, settings.outdoor_co2_ppm),
            TEMPERATURE: _flat(
                operative_temperature_category, hourly.values[TEMPERATURE], heating_by_hour
            ),
            HUMIDITY: _flat(humidity_category, hourly.values[HUMIDITY]),
        }
        for name, category in codes.items():
            self.codes[name][:, target] = category_hours_by_day(category, occupied, *by_day)
        with np.errstate(invalid="ignore"):
            self.co2_above[:, target] = hours_by_day(occupied & (co2 > FHI_CO2_LIMIT_PPM), *by_day)
        self.co2_excluded[:, target] = hours_by_day(hourly.excluded[CO2] * occupied, *by_day)
        inside = (chunk.day_of_hour >= 0) & (chunk.day_of_hour < chunk.days)
        self.heating_days[chunk.offset + chunk.day_of_hour[inside]] = heating[inside]

    def ieq_table(self) -> SpaceDayIeq | None:
        if not self.ieq:
            return None
        return SpaceDayIeq(
            co2=CategoryHourTable.from_codes(self.codes[CO2]),
            co2_above_limit_hours=self.co2_above,
            co2_points_excluded=self.co2_excluded,
            operative_temperature=CategoryHourTable.from_codes(self.codes[TEMPERATURE]),
            relative_humidity=CategoryHourTable.from_codes(self.codes[HUMIDITY]),
            heating_season_days=self.heating_days,
        )


def _hourly_fields(campus: Campus, parts: frozenset[KpiPart]) -> dict[str, tuple[str, Aggregate]]:
    peak = campus.analytics.hourly_observation == "peak"
    wanted: dict[str, tuple[str, Aggregate]] = {}
    if parts & {KpiPart.UTILISATION, KpiPart.IEQ}:
        # n_h by the site's rule; IEQ's "occupied" (n_h > 0) is the same under either rule
        wanted[OCCUPANCY] = (OCCUPANCY, Aggregate.MAX if peak else Aggregate.MEAN)
    if KpiPart.IEQ in parts:
        for quantity in (CO2, TEMPERATURE, HUMIDITY):
            wanted[quantity] = (quantity, Aggregate.MEAN)
    return wanted


def _parts(parts: Iterable[KpiPart | str]) -> frozenset[KpiPart]:
    chosen = list(parts)
    try:
        return frozenset(KpiPart(part) for part in chosen)
    except ValueError:
        raise ValueError(
            f"unknown KPI part in {[str(p) for p in chosen]}; parts: {', '.join(KpiPart)}"
        ) from None


def campus_kpis(
    store: ReadingStore,
    campus: Campus,
    first_day: date,
    last_day: date,
    parts: Iterable[KpiPart | str] = ALL_PARTS,
    chunk_days: int = 7,
    progress: Callable[[int, int], None] | None = None,
) -> CampusKpis:
    """The KPI set of every space and building for the local days first_day..last_day.

    Definitions are those of the per-space functions (module docstring; METRICS.md);
    every assumption comes from the registry (time zone, core hours, in-use threshold,
    hourly observation rule, outdoor CO₂, heating season). Hours are UTC hours, each
    belonging to the local day its start falls on.

    Args:
        store: the reading store; DuckDB takes the fast path, any other the port.
        campus: the campus registry.
        first_day, last_day: local dates, inclusive.
        parts: which of utilisation, ieq, energy, quality to compute (default all).
        chunk_days: local days per chunk; bounds memory, never changes a result.
        progress: called after each chunk with (days done, days in all).

    Returns:
        CampusKpis: (spaces × days) and (buildings × days) arrays of each part.

    Raises:
        ValueError: last_day before first_day, chunk_days below 1, an unknown part.

    Example (a semester's utilisation of every space, and the campus-wide U per day):

        kpis = campus_kpis(store, campus, date(2026, 1, 5), date(2026, 5, 4))
        kpis.utilisation.utilisation        # (spaces × days)
        kpis.utilisation.pooled_by_day()    # seat-hours added up over the campus
    """
    if last_day < first_day:
        raise ValueError(f"last_day {last_day} is before first_day {first_day}")
    if chunk_days < 1:
        raise ValueError(f"chunk_days must be at least 1, not {chunk_days}")
    wanted = _parts(parts)
    registry = _Registry.of(campus)
    days = (last_day - first_day).days + 1
    hourly_fields = _hourly_fields(campus, wanted)
    space_days = _SpaceDays(registry, campus, days, wanted)
    energy = _EnergyAccumulator(registry, first_day, days) if KpiPart.ENERGY in wanted else None
    quality = (
        _QualityAccumulator(registry, campus, first_day, days)
        if KpiPart.QUALITY in wanted
        else None
    )
    readings = _readings(store, registry)
    try:
        for chunk in _chunks(campus, first_day, days, chunk_days):
            if hourly_fields:
                space_days.add(chunk, readings.hourly(chunk, hourly_fields))
            if energy is not None:
                energy.add(chunk, readings.registers(*energy.span(chunk)), campus)
            if quality is not None:
                quality.add(chunk, readings)
            if progress is not None:
                progress(chunk.offset + chunk.days, days)
    finally:
        readings.close()
    return CampusKpis(
        dates=tuple(first_day + timedelta(days=i) for i in range(days)),
        space_ids=registry.space_ids,
        building_ids=registry.building_ids,
        utilisation=space_days.use,
        ieq=space_days.ieq_table(),
        energy=energy.table(len(registry.building_ids)) if energy is not None else None,
        quality=quality.result() if quality is not None else None,
    )
