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
  not: an evening seminar breathes the same air. Outdoor CO₂ is the site's
  ``outdoor_co2_ppm`` (the registry has no outdoor sensor yet).
- Daily energy books each register interval to the local day it ends in
  (a midnight reading closes the day before); see ``energy.daily_consumption``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np

from campuslab.analytics.energy import DailyEnergy, daily_consumption
from campuslab.analytics.ieq import Co2CategoryHours, co2_category_hours
from campuslab.analytics.local_time import local_wall_time
from campuslab.analytics.utilisation import UtilisationResult, core_utilisation
from campuslab.core.readings import Series
from campuslab.core.registry import Building, Campus, Space
from campuslab.core.store.port import Aggregate, ReadingStore

HOUR = timedelta(hours=1)
_HOUR64 = np.timedelta64(1, "h").astype("timedelta64[us]")
# How far before the period a register is read, to find the reading that opens its first interval.
REGISTER_LOOKBACK = timedelta(days=1)
ELECTRICITY, HEAT = "energy", "heat_energy"


class NotInRegistry(LookupError):
    """A space or building id the campus registry does not know."""


@dataclass(frozen=True)
class SpaceDayKpis:
    """One local day of one space: utilisation of its core hours and CO₂ of its occupied hours."""

    date: date
    utilisation: UtilisationResult
    co2: Co2CategoryHours


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
    """

    date: date
    electricity_kwh: float
    heat_kwh: float
    electricity_resets: int
    heat_resets: int
    meters_without_data: tuple[str, ...]


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


def _hourly(
    store: ReadingStore,
    quantity: str,
    first: datetime,
    last_end: datetime,
    aggregate: Aggregate,
    sensors: list[str],
) -> dict[str, Series]:
    return store.read_resampled(quantity, first, last_end, HOUR, aggregate, sensors=sensors)


def _space_core_utilisation(
    campus: Campus, space: Space, grid: np.ndarray, counts: np.ndarray
) -> UtilisationResult:
    settings = campus.analytics
    return core_utilisation(
        grid, counts, space.capacity, campus.tz, settings.core_hours, settings.in_use_threshold
    )


# -- space KPIs ------------------------------------------------------------------


def space_utilisation(
    store: ReadingStore, campus: Campus, space_id: str, start: datetime, end: datetime
) -> UtilisationResult:
    """Utilisation of one space over a period's core hours (SMG 2006; METRICS.md).

    Reads occupancy resampled to 1 h (mean, or max when the site observes the
    hourly peak), keeps the site's core hours in local time, and computes F, O,
    U, peak, P95, seat-hours and the capacity bands. Core hours without any
    reading are left out of H and counted in ``hours_without_data``.

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
    first, last_end, grid = hour_grid(*_period(start, end))
    occupancy = _hourly(
        store, "occupancy", first, last_end, observation_aggregate(campus), [space_id]
    )
    return _space_core_utilisation(campus, space, grid, on_grid(occupancy.get(space_id), grid))


def space_daily_kpis(
    store: ReadingStore, campus: Campus, space_id: str, start: datetime, end: datetime
) -> list[SpaceDayKpis]:
    """Per local day: utilisation of the core hours and CO₂ categories of the occupied hours.

    Every local date the period touches is listed, oldest first; a day without
    core hours (a weekend) has ``utilisation.available_hours == 0`` and NaN rates.
    CO₂ is the hourly mean, categorised per EN 16798-1:2019 against the site's
    outdoor CO₂, and counted above FHI's 1000 ppm norm, over hours with
    occupancy > 0 (see ``ieq.co2_category_hours``).

    Args: as for ``space_utilisation``. Pass local midnights for whole days.
    """
    space = _space(campus, space_id)
    first, last_end, grid = hour_grid(*_period(start, end))
    occupancy = _hourly(
        store, "occupancy", first, last_end, observation_aggregate(campus), [space_id]
    )
    co2 = _hourly(store, "co2", first, last_end, Aggregate.MEAN, [space_id])
    return space_days_from_hourly(
        campus,
        space,
        grid,
        on_grid(occupancy.get(space_id), grid),
        on_grid(co2.get(space_id), grid),
    )


def space_days_from_hourly(
    campus: Campus, space: Space, grid: np.ndarray, counts: np.ndarray, co2_ppm: np.ndarray
) -> list[SpaceDayKpis]:
    """``space_daily_kpis`` from hourly values already on a grid (pure; no store).

    Args:
        campus: the campus registry (time zone and analytics settings).
        space: the space (its capacity).
        grid: UTC hour starts, datetime64[us], as from ``hour_grid``.
        counts: n_h per hour (the site's observation rule), people; NaN = no data.
        co2_ppm: hourly mean CO₂ per hour, ppm; NaN = no data.

    Returns:
        One SpaceDayKpis per local date the grid touches, oldest first.
    """
    # an hour's presence for IEQ: any occupancy in the hour; the hourly max is > 0 exactly
    # when the hourly mean is, so either observation rule gives the same occupied hours
    dates = local_wall_time(grid, campus.tz).astype("datetime64[D]")
    days = []
    for day in np.unique(dates):
        today = dates == day
        days.append(
            SpaceDayKpis(
                date=day.item(),
                utilisation=_space_core_utilisation(campus, space, grid[today], counts[today]),
                co2=co2_category_hours(
                    co2_ppm[today], counts[today], campus.analytics.outdoor_co2_ppm
                ),
            )
        )
    return days


def campus_utilisation_today(
    store: ReadingStore, campus: Campus, now: datetime
) -> dict[str, UtilisationResult]:
    """Utilisation of every space so far today (local day of ``now``), for the overview page.

    One ``read_resampled`` call for all spaces. The period runs from local
    midnight to ``now``; the current hour counts with the readings it has so
    far (or as an hour without data if it has none yet). A space with no
    readings today has ``available_hours == 0`` and NaN rates.

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
    first, last_end, grid = hour_grid(*_period(local_midnight, now))
    spaces = [space for _, space in campus.spaces()]
    occupancy = _hourly(
        store,
        "occupancy",
        first,
        last_end,
        observation_aggregate(campus),
        [space.id for space in spaces],
    )
    return {
        space.id: _space_core_utilisation(
            campus, space, grid, on_grid(occupancy.get(space.id), grid)
        )
        for space in spaces
    }


# -- building energy -------------------------------------------------------------


def _register_days(
    store: ReadingStore,
    meter_id: str,
    quantity: str,
    start: datetime,
    end: datetime,
    campus: Campus,
) -> dict[date, DailyEnergy]:
    """Daily consumption of one register over intervals ending in (start, end]."""
    series = store.read_series(
        meter_id, quantity, start - REGISTER_LOOKBACK, end + timedelta(microseconds=1)
    )
    start64 = np.datetime64(start.replace(tzinfo=None), "us")
    end64 = np.datetime64(end.replace(tzinfo=None), "us")
    ts = series.ts.astype("datetime64[us]")
    keep_to = int(np.searchsorted(ts, end64, side="right"))
    # open the first interval with the last reading at or before start, if there is one
    keep_from = max(int(np.searchsorted(ts, start64, side="right")) - 1, 0)
    days = daily_consumption(ts[keep_from:keep_to], series.values[keep_from:keep_to], campus.tz)
    return {day.date: day for day in days}


def _local_dates_between(start: datetime, end: datetime, campus: Campus) -> list[date]:
    first = start.astimezone(campus.tz).date()
    last = (end - timedelta(microseconds=1)).astimezone(campus.tz).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


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
    are added up.

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
        missing = []
        for meter in meters:
            found = per_meter[meter.id].get(day)
            if found is None:
                missing.append(meter.id)
                continue
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
            )
        )
    return rows
