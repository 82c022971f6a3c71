"""KPIs the API and reports ask for: read through the store port, compute with the pure metrics.

This is the composition layer. It does I/O only through the ``ReadingStore``
passed in (no SQL, no backend specifics) and takes every assumption from the
campus registry (time zone, core hours, in-use threshold, hourly observation
rule, outdoor CO₂), so the same code serves DuckDB and InfluxDB.

Choices made here, where METRICS.md is silent:

- Periods are widened to whole UTC hours (the store's 1 h buckets are aligned
  to the UTC hour): an hour that overlaps ``[start, end)`` is in the period.
- The hourly observation n_h is the store's 1 h MEAN of occupancy, or its MAX
  when the site says ``hourly_observation: peak``.
- A core hour with no occupancy reading at all is *not* in H: an offline
  sensor is not an empty room. It is reported as ``hours_without_data``.
- CO₂ categories count every occupied hour of the day (occupancy > 0), core or
  not: an evening seminar breathes the same air. Outdoor CO₂ here (the daily
  KPIs and the ``space_daily`` rollup) is the site's ``outdoor_co2_ppm``;
  ``climate_kpis.space_ieq`` matches the weather station's CO₂ hour by hour when
  it reports CO₂.
- Daily energy books each register interval to the local day it ends in
  (a midnight reading closes the day before); see ``energy.daily_consumption``.
  A day whose readings of a meter do not reach within
  ``energy.REGISTER_EDGE_TOLERANCE`` of both its bounds (a gap across a midnight,
  or readings that start or stop inside the day) keeps the kWh booked to it, so
  that a period's days still add up to the register's consumption, and names the
  meter in ``BuildingDayEnergy.meters_not_spanning``: that figure is not the day's
  energy (``energy.register_spans_days``, the rule IPMVP savings apply too).

Data quality (METRICS.md: flagged points are left out of KPIs, and each KPI
reports how many points it left out). The checks run in ``quality_kpis.run_quality``
(the scheduler runs them before each rollup) and their flags are kept in the
store. Every KPI here reads them and leaves the flagged raw readings out:

- Hourly values come from the store's ``read_resampled``, which aggregates
  inside the store and cannot leave readings out. So the flags of the period
  are read (one ``read_quality_flags`` call per quantity), and only the hours
  that hold a flagged reading are read raw (``read_series``, one call per run
  of consecutive flagged hours of a sensor) and aggregated again in numpy
  without the flagged readings. The cost grows with the number of flagged
  hours, not with the period: a clean semester costs what it did before.
  An hour whose readings are all flagged has no data (it counts in
  ``hours_without_data``, not as an empty room).
- ``points_excluded`` counts the flagged readings left out of the hours a KPI
  used: core hours for utilisation (``UtilisationResult.points_excluded``),
  occupied hours for the CO₂ categories (``SpaceDayKpis.co2_points_excluded``),
  register readings of the day for energy (``BuildingDayEnergy.points_excluded``).
- A register reading flagged ``register_decrease`` is kept: energy books the
  interval as a reset, 0 kWh (``energy.register_consumption``); leaving the
  reading out would hide the reset. Other flags on a register leave the
  reading out; consumption telescopes over the remaining readings.
- A store without quality flags (a backend that does not implement
  ``read_quality_flags`` yet) gives the KPIs with nothing left out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import numpy as np

from campuslab.analytics.energy import DailyEnergy, daily_consumption, register_spans_days
from campuslab.analytics.ieq import Co2CategoryHours, co2_category_hours
from campuslab.analytics.local_time import local_dates, local_wall_time
from campuslab.analytics.quality import REGISTER_DECREASE
from campuslab.analytics.utilisation import (
    UtilisationResult,
    core_hours_mask,
    core_utilisation,
)
from campuslab.core.readings import Series, to_epoch_us
from campuslab.core.registry import Building, Campus, Space
from campuslab.core.store.port import Aggregate, ReadingStore

HOUR = timedelta(hours=1)
_HOUR64 = np.timedelta64(1, "h").astype("timedelta64[us]")
_HOUR_US = 3_600_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# How far before the period a register is read, to find the reading that opens its first interval.
REGISTER_LOOKBACK = timedelta(days=1)
ELECTRICITY, HEAT = "energy", "heat_energy"


class NotInRegistry(LookupError):
    """A space or building id the campus registry does not know."""


@dataclass(frozen=True)
class SpaceDayKpis:
    """One local day of one space: utilisation of its core hours and CO₂ of its occupied hours.

    Attributes:
        date: local calendar date.
        utilisation: the day's core-hour KPIs; ``points_excluded`` counts the
            flagged occupancy readings left out of its core hours.
        co2: EN 16798-1 category hours of the day's occupied hours.
        co2_points_excluded: flagged CO₂ readings left out of those occupied hours.
    """

    date: date
    utilisation: UtilisationResult
    co2: Co2CategoryHours
    co2_points_excluded: int = 0


@dataclass(frozen=True)
class BuildingDayEnergy:
    """One local day of one building's delivered energy, from its cumulative meters.

    Attributes:
        date: local calendar date.
        electricity_kwh: Σ over the building's ``energy`` meters, kWh; NaN when none
            of them has data for the day (no data is not zero consumption).
        heat_kwh: the same over its ``heat_energy`` (district heating) meters.
        electricity_resets, heat_resets: register decreases (resets, replacements).
        meters_without_data: meter ids with no register interval ending that day;
            when non-empty, the day's sum covers only the other meters.
        points_excluded: flagged register readings left out (in the day's
            intervals); a reading flagged as a decrease is kept, as a reset.
        meters_not_spanning: meter ids with intervals ending that day whose readings
            do not reach within ``energy.REGISTER_EDGE_TOLERANCE`` of both the day's
            bounds (``energy.register_spans_days``): a gap across a midnight books
            other days' energy to the day it ends in, so their kWh is booked here but
            is not this day's energy.
    """

    date: date
    electricity_kwh: float
    heat_kwh: float
    electricity_resets: int
    heat_resets: int
    meters_without_data: tuple[str, ...]
    points_excluded: int = 0
    meters_not_spanning: tuple[str, ...] = ()

    @property
    def attributable(self) -> bool:
        """True when every meter's readings span the day: the figures are the day's energy."""
        return not self.meters_without_data and not self.meters_not_spanning


# -- periods and hourly grids -------------------------------------------------


def _utc(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime):
        raise ValueError(f"{name} must be a datetime, got {type(moment).__name__}")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"{name} must be timezone-aware (e.g. 2026-03-02T00:00+01:00), "
            f"got naive {moment.isoformat()}"
        )
    return moment.astimezone(UTC)


def _period(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = _utc(start, "start"), _utc(end, "end")
    if end <= start:
        raise ValueError(f"end ({end.isoformat()}) must be after start ({start.isoformat()})")
    return start, end


def hour_grid(start: datetime, end: datetime) -> tuple[datetime, datetime, np.ndarray]:
    """The UTC hours overlapping [start, end): (first hour, end of last hour, hour starts)."""
    first = start.replace(minute=0, second=0, microsecond=0)
    last_end = end.replace(minute=0, second=0, microsecond=0)
    if last_end < end:
        last_end += HOUR
    lo = np.datetime64(first.replace(tzinfo=None), "us")
    hi = np.datetime64(last_end.replace(tzinfo=None), "us")
    return first, last_end, np.arange(lo, hi, _HOUR64)


def on_grid(series: Series | None, grid: np.ndarray) -> np.ndarray:
    """Hourly values placed on the grid; NaN for hours the store returned nothing for."""
    values = np.full(grid.shape, np.nan)
    if series is None or len(series) == 0 or grid.size == 0:
        return values
    slot = (series.ts.astype("datetime64[us]") - grid[0]) // _HOUR64
    inside = (slot >= 0) & (slot < grid.size)
    values[slot[inside].astype(np.int64)] = series.values[inside]
    return values


def observation_aggregate(campus: Campus) -> Aggregate:
    """The 1 h aggregate that gives n_h: MEAN, or MAX when the site observes the hourly peak."""
    return Aggregate.MAX if campus.analytics.hourly_observation == "peak" else Aggregate.MEAN


def _space(campus: Campus, space_id: str) -> Space:
    space = campus.space(space_id)
    if space is None:
        raise NotInRegistry(f"unknown space {space_id!r}: not in the campus registry")
    return space


def _building(campus: Campus, building_id: str) -> Building:
    building = campus.building(building_id)
    if building is None:
        raise NotInRegistry(f"unknown building {building_id!r}: not in the campus registry")
    return building


# -- flagged readings left out ------------------------------------------------------


def flagged_instants(
    store: ReadingStore,
    quantity: str,
    start: datetime,
    end: datetime,
    sensors: Sequence[str],
    keep_checks: Collection[str] = (),
) -> dict[str, np.ndarray]:
    """The flagged readings of one quantity in [start, end): sensor -> sorted epoch µs.

    One ``read_quality_flags`` call. A reading flagged by any check in
    ``keep_checks`` is not returned, whatever else flagged it (registers keep
    their decreases, see the module docstring). A store that does not implement
    quality flags gives {}.
    """
    reader = getattr(store, "read_quality_flags", None)
    if reader is None:
        return {}
    flagged: dict[str, set[int]] = {}
    kept: dict[str, set[int]] = {}
    for flag in reader(quantity, start, end, list(sensors)):
        into = kept if flag.check in keep_checks else flagged
        into.setdefault(flag.sensor, set()).add(to_epoch_us(flag.ts))
    found = {}
    for sensor, instants in flagged.items():
        left_out = instants - kept.get(sensor, set())
        if left_out:
            found[sensor] = np.array(sorted(left_out), dtype=np.int64)
    return found


@dataclass(frozen=True)
class ScreenedHours:
    """Hourly aggregates of one quantity on a grid, flagged raw readings left out.

    Attributes:
        grid: UTC hour starts, datetime64[us].
        sensors: the sensor of each row.
        values: aggregate -> array (sensors × hours); NaN = no unflagged reading.
        excluded: flagged readings left out per sensor and hour (int64).
    """

    grid: np.ndarray
    sensors: tuple[str, ...]
    values: Mapping[Aggregate, np.ndarray] = field(hash=False)
    excluded: np.ndarray = field(hash=False)


def _instant(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(us))


def _aggregate_by_slot(
    slots: np.ndarray, values: np.ndarray, size: int, aggregate: Aggregate
) -> np.ndarray:
    """Aggregate of the values in each slot 0..size-1 (slots sorted); NaN for empty slots."""
    result = np.full(size, np.nan)
    if slots.size == 0:
        return result
    if aggregate is Aggregate.MEAN:
        count = np.bincount(slots, minlength=size)
        total = np.bincount(slots, weights=values, minlength=size)
        np.divide(total, count, out=result, where=count > 0)
        return result
    starts = np.flatnonzero(np.concatenate(([True], slots[1:] != slots[:-1])))
    reduce = np.maximum if aggregate is Aggregate.MAX else np.minimum
    result[slots[starts]] = reduce.reduceat(values, starts)
    return result


def _screen_sensor(
    store: ReadingStore,
    quantity: str,
    sensor: str,
    flagged_us: np.ndarray,
    grid0_us: int,
    rows: Mapping[Aggregate, np.ndarray],
    excluded: np.ndarray,
) -> None:
    """Aggregate again, from raw readings, the hours of one sensor that hold flagged ones."""
    hours = excluded.size
    slots = np.unique((flagged_us - grid0_us) // _HOUR_US)
    slots = slots[(slots >= 0) & (slots < hours)]
    if slots.size == 0:
        return
    breaks = np.flatnonzero(np.diff(slots) > 1) + 1
    for run in np.split(slots, breaks):
        first, stop = int(run[0]), int(run[-1]) + 1
        raw = store.read_series(
            sensor,
            quantity,
            _instant(grid0_us + first * _HOUR_US),
            _instant(grid0_us + stop * _HOUR_US),
        )
        us = raw.ts.astype("datetime64[us]").astype(np.int64)
        slot = (us - grid0_us) // _HOUR_US - first
        left_out = np.isin(us, flagged_us)
        excluded[first:stop] = np.bincount(slot[left_out], minlength=stop - first)
        kept = ~left_out
        for aggregate, row in rows.items():
            row[first:stop] = _aggregate_by_slot(
                slot[kept], raw.values[kept], stop - first, aggregate
            )


def read_hourly_screened(
    store: ReadingStore,
    quantity: str,
    grid: np.ndarray,
    sensors: Sequence[str],
    aggregates: Sequence[Aggregate] = (Aggregate.MEAN,),
) -> ScreenedHours:
    """Hourly aggregates of one quantity for many sensors, with flagged readings left out.

    One ``read_resampled`` per aggregate (all sensors at once) and one
    ``read_quality_flags``; then, per sensor, one raw ``read_series`` per run
    of consecutive hours holding flagged readings, whose aggregates are
    recomputed in numpy without them (see the module docstring).

    Args:
        store: the reading store.
        quantity: e.g. ``occupancy``.
        grid: UTC hour starts, consecutive hours, as from ``hour_grid``.
        sensors: sensor ids (the rows, in this order).
        aggregates: the 1 h aggregates wanted.
    """
    sensors = tuple(sensors)
    hours = int(grid.size)
    shape = (len(sensors), hours)
    excluded = np.zeros(shape, dtype=np.int64)
    if hours == 0:
        return ScreenedHours(
            grid, sensors, {a: np.full(shape, np.nan) for a in aggregates}, excluded
        )
    grid0_us = int(grid[0].astype("datetime64[us]").astype(np.int64))
    first, last_end = _instant(grid0_us), _instant(grid0_us + hours * _HOUR_US)
    values = {}
    for aggregate in aggregates:
        series = store.read_resampled(
            quantity, first, last_end, HOUR, aggregate, sensors=list(sensors)
        )
        values[aggregate] = np.array([on_grid(series.get(s), grid) for s in sensors]).reshape(shape)
    for sensor, flagged_us in flagged_instants(store, quantity, first, last_end, sensors).items():
        if sensor not in sensors:
            continue
        index = sensors.index(sensor)
        rows = {aggregate: values[aggregate][index] for aggregate in aggregates}
        _screen_sensor(store, quantity, sensor, flagged_us, grid0_us, rows, excluded[index])
    return ScreenedHours(grid, sensors, values, excluded)


def _hourly_one(
    store: ReadingStore, quantity: str, grid: np.ndarray, sensor: str, aggregate: Aggregate
) -> tuple[np.ndarray, np.ndarray]:
    """(values, readings left out) per hour of one sensor's quantity on the grid."""
    screened = read_hourly_screened(store, quantity, grid, [sensor], [aggregate])
    return screened.values[aggregate][0], screened.excluded[0]


def _space_core_utilisation(
    campus: Campus,
    space: Space,
    grid: np.ndarray,
    counts: np.ndarray,
    excluded: np.ndarray | None = None,
) -> UtilisationResult:
    settings = campus.analytics
    result = core_utilisation(
        grid, counts, space.capacity, campus.tz, settings.core_hours, settings.in_use_threshold
    )
    left_out = 0
    if excluded is not None and grid.size:
        left_out = int(excluded[core_hours_mask(grid, campus.tz, settings.core_hours)].sum())
    return dataclasses.replace(result, points_excluded=left_out)


# -- space KPIs ------------------------------------------------------------------


def space_utilisation(
    store: ReadingStore, campus: Campus, space_id: str, start: datetime, end: datetime
) -> UtilisationResult:
    """Utilisation of one space over a period's core hours (SMG 2006; METRICS.md).

    Reads occupancy resampled to 1 h (mean, or max when the site observes the
    hourly peak), keeps the site's core hours in local time, and computes F, O,
    U, peak, P95, seat-hours and the capacity bands. Core hours without any
    reading are left out of H and counted in ``hours_without_data``. Readings
    that data-quality checks flagged are left out and counted in
    ``points_excluded`` (see the module docstring).

    Args:
        store: the reading store.
        campus: the campus registry (time zone and analytics settings).
        space_id: a space id from the registry.
        start, end: the period, timezone-aware; half-open, widened to whole UTC hours.

    Raises:
        NotInRegistry: the space is not in the registry.
        ValueError: naive datetimes, or end not after start.
    """
    space = _space(campus, space_id)
    _, _, grid = hour_grid(*_period(start, end))
    counts, excluded = _hourly_one(
        store, "occupancy", grid, space_id, observation_aggregate(campus)
    )
    return _space_core_utilisation(campus, space, grid, counts, excluded)


def space_daily_kpis(
    store: ReadingStore, campus: Campus, space_id: str, start: datetime, end: datetime
) -> list[SpaceDayKpis]:
    """Per local day: utilisation of the core hours and CO₂ categories of the occupied hours.

    Every local date the period touches is listed, oldest first; a day without
    core hours (a weekend) has ``utilisation.available_hours == 0`` and NaN rates.
    CO₂ is the hourly mean, categorised per EN 16798-1:2019 against the site's
    outdoor CO₂, and counted above FHI's 1000 ppm norm, over hours with
    occupancy > 0 (see ``ieq.co2_category_hours``). Flagged readings of either
    quantity are left out and counted (``utilisation.points_excluded``,
    ``co2_points_excluded``).

    Args: as for ``space_utilisation``. Pass local midnights for whole days.
    """
    space = _space(campus, space_id)
    _, _, grid = hour_grid(*_period(start, end))
    counts, occupancy_excluded = _hourly_one(
        store, "occupancy", grid, space_id, observation_aggregate(campus)
    )
    co2, co2_excluded = _hourly_one(store, "co2", grid, space_id, Aggregate.MEAN)
    return space_days_from_hourly(
        campus, space, grid, counts, co2, occupancy_excluded, co2_excluded
    )


def space_days_from_hourly(
    campus: Campus,
    space: Space,
    grid: np.ndarray,
    counts: np.ndarray,
    co2_ppm: np.ndarray,
    occupancy_excluded: np.ndarray | None = None,
    co2_excluded: np.ndarray | None = None,
) -> list[SpaceDayKpis]:
    """``space_daily_kpis`` from hourly values already on a grid (pure; no store).

    Args:
        campus: the campus registry (time zone and analytics settings).
        space: the space (its capacity).
        grid: UTC hour starts, datetime64[us], as from ``hour_grid``.
        counts: n_h per hour (the site's observation rule), people; NaN = no data.
        co2_ppm: hourly mean CO₂ per hour, ppm; NaN = no data.
        occupancy_excluded, co2_excluded: flagged readings left out per hour
            (default none).

    Returns:
        One SpaceDayKpis per local date the grid touches, oldest first.
    """
    # an hour's presence for IEQ: any occupancy in the hour; the hourly max is > 0 exactly
    # when the hourly mean is, so either observation rule gives the same occupied hours
    none = np.zeros(grid.shape, dtype=np.int64)
    occupancy_excluded = none if occupancy_excluded is None else occupancy_excluded
    co2_excluded = none if co2_excluded is None else co2_excluded
    dates = local_wall_time(grid, campus.tz).astype("datetime64[D]")
    with np.errstate(invalid="ignore"):
        occupied = np.asarray(counts, dtype=np.float64) > 0
    days = []
    for day in np.unique(dates):
        today = dates == day
        days.append(
            SpaceDayKpis(
                date=day.item(),
                utilisation=_space_core_utilisation(
                    campus, space, grid[today], counts[today], occupancy_excluded[today]
                ),
                co2=co2_category_hours(
                    co2_ppm[today], counts[today], campus.analytics.outdoor_co2_ppm
                ),
                co2_points_excluded=int(co2_excluded[today & occupied].sum()),
            )
        )
    return days


def campus_utilisation_today(
    store: ReadingStore, campus: Campus, now: datetime
) -> dict[str, UtilisationResult]:
    """Utilisation of every space so far today (local day of ``now``), for the overview page.

    One ``read_resampled`` call for all spaces, one ``read_quality_flags``, and
    a raw read only for the hours that hold flagged readings. The period runs
    from local midnight to ``now``; the current hour counts with the readings
    it has so far (or as an hour without data if it has none yet). A space with
    no readings today has ``available_hours == 0`` and NaN rates.

    Args:
        store: the reading store.
        campus: the campus registry.
        now: the current time, timezone-aware.

    Returns:
        {space id: UtilisationResult} for every space in the registry.
    """
    now = _utc(now, "now")
    local_midnight = datetime.combine(now.astimezone(campus.tz).date(), time(0), campus.tz)
    if now <= local_midnight:
        now = local_midnight + timedelta(microseconds=1)  # the first instant of the day
    _, _, grid = hour_grid(*_period(local_midnight, now))
    spaces = [space for _, space in campus.spaces()]
    aggregate = observation_aggregate(campus)
    occupancy = read_hourly_screened(
        store, "occupancy", grid, [space.id for space in spaces], [aggregate]
    )
    return {
        space.id: _space_core_utilisation(
            campus, space, grid, occupancy.values[aggregate][i], occupancy.excluded[i]
        )
        for i, space in enumerate(spaces)
    }


# -- building energy -------------------------------------------------------------


@dataclass(frozen=True)
class ScreenedRegister:
    """A register's raw readings with the flagged ones left out.

    Attributes:
        ts: UTC times of the readings kept, datetime64[us].
        values: their values, kWh.
        excluded_ts: UTC times of the readings left out, datetime64[us].
    """

    ts: np.ndarray
    values: np.ndarray
    excluded_ts: np.ndarray


def read_register(
    store: ReadingStore, meter_id: str, quantity: str, start: datetime, end: datetime
) -> ScreenedRegister:
    """A cumulative register's readings in [start, end), flagged ones left out.

    A reading flagged ``register_decrease`` is kept (whatever else flagged it):
    the consumption maths books the decrease as a reset (METRICS.md; Home
    Assistant ``total_increasing``), as it would without the flag.
    """
    series = store.read_series(meter_id, quantity, start, end)
    ts = series.ts.astype("datetime64[us]")
    flagged = flagged_instants(
        store, quantity, start, end, [meter_id], keep_checks={REGISTER_DECREASE}
    ).get(meter_id)
    if flagged is None:
        return ScreenedRegister(ts, series.values, np.empty(0, dtype="datetime64[us]"))
    left_out = np.isin(ts.astype(np.int64), flagged)
    return ScreenedRegister(ts[~left_out], series.values[~left_out], ts[left_out])


def _register_days(
    store: ReadingStore,
    meter_id: str,
    quantity: str,
    start: datetime,
    end: datetime,
    campus: Campus,
) -> tuple[dict[date, DailyEnergy], dict[date, int], frozenset[date]]:
    """Daily consumption of one register over intervals ending in (start, end], the
    flagged readings left out per day (booked like the interval they would have ended),
    and the days its readings span (``energy.register_spans_days``; a day's bounds are
    its local midnights, clipped to the period)."""
    register = read_register(
        store, meter_id, quantity, start - REGISTER_LOOKBACK, end + timedelta(microseconds=1)
    )
    start64 = np.datetime64(start.replace(tzinfo=None), "us")
    end64 = np.datetime64(end.replace(tzinfo=None), "us")
    ts = register.ts
    keep_to = int(np.searchsorted(ts, end64, side="right"))
    # open the first interval with the last reading at or before start, if there is one
    keep_from = max(int(np.searchsorted(ts, start64, side="right")) - 1, 0)
    days = daily_consumption(ts[keep_from:keep_to], register.values[keep_from:keep_to], campus.tz)
    dates, bounds = _day_bounds(start, end, campus)
    spanned = register_spans_days(ts[keep_from:keep_to], bounds)
    left_out = register.excluded_ts
    left_out = left_out[(left_out > start64) & (left_out <= end64)]
    excluded: dict[date, int] = {}
    if left_out.size:
        left_days, counts = np.unique(
            local_dates(left_out - np.timedelta64(1, "us"), campus.tz), return_counts=True
        )
        excluded = {d.item(): int(n) for d, n in zip(left_days, counts, strict=True)}
    spans = frozenset(day for day, whole in zip(dates, spanned, strict=True) if whole)
    return {day.date: day for day in days}, excluded, spans


def _local_dates_between(start: datetime, end: datetime, campus: Campus) -> list[date]:
    first = start.astimezone(campus.tz).date()
    last = (end - timedelta(microseconds=1)).astimezone(campus.tz).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _day_bounds(start: datetime, end: datetime, campus: Campus) -> tuple[list[date], np.ndarray]:
    """The local dates of (start, end] and their bounds: start, the local midnights
    between, end (UTC, datetime64[us])."""
    dates = _local_dates_between(start, end, campus)
    inner = [datetime.combine(day, time(0), campus.tz) for day in dates[1:]]
    edges = [start, *inner, end]
    bounds = np.array([np.datetime64(e.astimezone(UTC).replace(tzinfo=None), "us") for e in edges])
    return dates, bounds


def building_daily_energy(
    store: ReadingStore, campus: Campus, building_id: str, start: datetime, end: datetime
) -> list[BuildingDayEnergy]:
    """Per local day: a building's electricity and district-heat use from its registers.

    Each meter's raw register is read through ``read_series`` and turned into
    consumption by the sum of positive differences, a decrease counted as a
    reset (METRICS.md; Home Assistant ``total_increasing``). Register intervals
    ending in (start, end] are booked to the local day they end in; the
    reading that opens the first interval is looked for up to
    ``REGISTER_LOOKBACK`` (1 day) before ``start``. Meters of the same quantity
    are added up. Flagged readings are left out and counted in
    ``points_excluded``, except decreases, which stay resets. A meter whose
    readings do not span a day (a gap across a midnight, or readings starting or
    stopping inside it; ``energy.register_spans_days``, the rule of IPMVP savings)
    is named in that day's ``meters_not_spanning``: its kWh stays booked to the day
    the interval ends in (so the days add up to the period), but the day is not
    ``attributable``; a daily analysis leaves it out.

    Args:
        store: the reading store.
        campus: the campus registry.
        building_id: a building id from the registry.
        start, end: the period, timezone-aware; pass local midnights for whole days.

    Returns:
        One BuildingDayEnergy per local date from ``start`` to ``end``, oldest first.

    Raises:
        NotInRegistry: the building is not in the registry.
        ValueError: naive datetimes, or end not after start.
    """
    building = _building(campus, building_id)
    start, end = _period(start, end)
    meters = [m for m in building.meters if m.quantity in (ELECTRICITY, HEAT)]
    per_meter = {m.id: _register_days(store, m.id, m.quantity, start, end, campus) for m in meters}
    rows = []
    for day in _local_dates_between(start, end, campus):
        totals = {ELECTRICITY: [], HEAT: []}
        resets = {ELECTRICITY: 0, HEAT: 0}
        missing, partial = [], []
        left_out = 0
        for meter in meters:
            days, excluded, spans = per_meter[meter.id]
            left_out += excluded.get(day, 0)
            found = days.get(day)
            if found is None:
                missing.append(meter.id)
                continue
            if day not in spans:
                partial.append(meter.id)
            totals[meter.quantity].append(found.kwh)
            resets[meter.quantity] += found.resets
        rows.append(
            BuildingDayEnergy(
                date=day,
                electricity_kwh=float(sum(totals[ELECTRICITY])) if totals[ELECTRICITY] else np.nan,
                heat_kwh=float(sum(totals[HEAT])) if totals[HEAT] else np.nan,
                electricity_resets=resets[ELECTRICITY],
                heat_resets=resets[HEAT],
                meters_without_data=tuple(missing),
                points_excluded=left_out,
                meters_not_spanning=tuple(partial),
            )
        )
    return rows
