"""Rollups: the derived measurements dashboards and long-range analytics read.

Raw readings are kept for a while; rollups are kept forever (CONVENTIONS.md,
Home Assistant's recorder: hourly statistics per space are the backbone).
Each goes into a measurement of its own (ARCHITECTURE.md, "InfluxDB layout"):

- ``space_hourly``: ts = UTC hour start; tags = the space's sensor tags (site,
  building, floor, space, space_type); fields occupancy_mean, occupancy_max,
  co2_mean, co2_max, temperature_mean, humidity_mean, each only when the hour
  has readings of it.
- ``space_daily``: ts = local midnight (site time zone) as a UTC instant; same
  tags; utilisation KPIs of the day's core hours (``kpis.space_days_from_hourly``,
  SMG 2006) and EN 16798-1 CO₂ category hours of its occupied hours.
- ``building_daily``: ts = local midnight; tags site, building; delivered energy
  from the registers (``kpis.building_daily_energy``), per heated m², and the
  night base load.

A row's identity is (measurement, tags, ts) and the store overwrites on the same
identity, so computing a period again replaces its rows and never doubles them.

I/O goes through the ``ReadingStore`` port only (``read_space_hours``,
``read_night_base_kw``, ``compute_rollups``); the rows are built by pure
functions from arrays (``space_hourly_rows``, ``space_daily_rows``,
``building_daily_rows``), and the maths is the existing metric code.

Choices made here, where the issue is silent:

- A row is written only when there is data behind it: an hour with no reading
  of the space, a space-day with neither occupancy nor CO₂, a building-day with
  no register interval and no night reading give no row. Recomputing a period
  whose raw data retention has deleted therefore leaves its rollups as they
  were, instead of overwriting them with nothing.
- A day still under way (``until`` inside it) is computed over its hours up to
  ``until``, the current hour with the readings it has so far; core hours still
  ahead are not counted as hours without data. The next run overwrites it.
- Fields that are NaN (rates of a day without core hours) are left out.
  Counts (hours, resets) are written as floats, as every field is.
- ``total_kwh_per_m2`` is electricity plus heat; it is left out when the
  building has meters of a kind that have no data that day (it would understate).
- ``night_base_kw`` is the mean kW of the building's electricity registers over
  their readings from 00:00 to 05:00 local (both ends included), summed over the
  meters; on the spring DST day that window is 4 real hours, and the mean is
  over the real elapsed time (``energy.mean_demand_kw``).

Data quality (METRICS.md: flagged points are left out of KPIs, and each KPI says
how many it left out): every rollup is computed without the raw readings that
``quality_kpis.run_quality`` flagged (the scheduler runs it for the same window
first), through ``kpis.read_hourly_screened`` and ``kpis.read_register``. The
count left out is written beside the values, only when it is above 0 (like a
NaN field, a 0 is left out, so rows of clean data look as they did):

- ``space_hourly``: ``<quantity>_points_excluded`` for occupancy, co2,
  temperature and humidity; an hour whose readings were all flagged still gets
  a row, with only these fields;
- ``space_daily``: ``occupancy_points_excluded`` (core hours, as for the
  utilisation fields) and ``co2_points_excluded`` (occupied hours, as for the
  CO₂ fields);
- ``building_daily``: ``points_excluded``, register readings left out (a
  decrease is never left out: it stays a reset).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import numpy as np

from campuslab.analytics.energy import mean_demand_kw
from campuslab.analytics.kpis import (
    ELECTRICITY,
    HEAT,
    BuildingDayEnergy,
    SpaceDayKpis,
    building_daily_energy,
    hour_grid,
    observation_aggregate,
    read_hourly_screened,
    read_register,
    space_days_from_hourly,
)
from campuslab.analytics.local_time import local_dates
from campuslab.core.registry import Building, Campus
from campuslab.core.store.line_protocol import LineProtocolEncoder
from campuslab.core.store.port import Aggregate, ReadingStore, RollupRow

SPACE_HOURLY = "space_hourly"
SPACE_DAILY = "space_daily"
BUILDING_DAILY = "building_daily"
MEASUREMENTS = (SPACE_HOURLY, SPACE_DAILY, BUILDING_DAILY)

# space_hourly field -> (quantity, 1 h aggregate); one read_resampled call each, all spaces
HOURLY_FIELDS: dict[str, tuple[str, Aggregate]] = {
    "occupancy_mean": ("occupancy", Aggregate.MEAN),
    "occupancy_max": ("occupancy", Aggregate.MAX),
    "co2_mean": ("co2", Aggregate.MEAN),
    "co2_max": ("co2", Aggregate.MAX),
    "temperature_mean": ("temperature", Aggregate.MEAN),
    "humidity_mean": ("humidity", Aggregate.MEAN),
}
HOURLY_QUANTITIES = tuple(dict.fromkeys(quantity for quantity, _ in HOURLY_FIELDS.values()))
NIGHT_START, NIGHT_END = time(0), time(5)  # night base load window, local (Price 2010)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)


@dataclass(frozen=True)
class SpaceHours:
    """Hourly aggregates of every space on one grid of UTC hours.

    Attributes:
        grid: UTC hour starts, datetime64[us].
        space_ids: the registry's spaces, in registry order (the rows of each array).
        fields: ``space_hourly`` field name -> array (spaces × hours); NaN = no data.
        excluded: quantity -> flagged readings left out (spaces × hours, int64);
            a quantity not in it had none.
    """

    grid: np.ndarray
    space_ids: tuple[str, ...]
    fields: Mapping[str, np.ndarray]
    excluded: Mapping[str, np.ndarray] = field(default_factory=dict)

    def excluded_of(self, quantity: str) -> np.ndarray:
        """Flagged readings left out per space and hour (zeros if none were)."""
        found = self.excluded.get(quantity)
        if found is None:
            return np.zeros((len(self.space_ids), self.grid.size), dtype=np.int64)
        return found


@dataclass(frozen=True)
class Rollups:
    """Rows of the three rollup measurements for one period, ready to write."""

    space_hourly: list[RollupRow] = field(default_factory=list)
    space_daily: list[RollupRow] = field(default_factory=list)
    building_daily: list[RollupRow] = field(default_factory=list)

    def by_measurement(self) -> dict[str, list[RollupRow]]:
        return {
            SPACE_HOURLY: self.space_hourly,
            SPACE_DAILY: self.space_daily,
            BUILDING_DAILY: self.building_daily,
        }


# -- time --------------------------------------------------------------------------


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


def local_midnight(campus: Campus, day: date) -> datetime:
    """The start of a local calendar day at the site, as a UTC instant."""
    return local_moment(campus, day, time(0))


def local_moment(campus: Campus, day: date, wall: time) -> datetime:
    """A local wall-clock time on a day at the site, as a UTC instant."""
    return datetime.combine(day, wall, campus.tz).astimezone(UTC)


def _instants(grid: np.ndarray) -> list[datetime]:
    return [_EPOCH + timedelta(microseconds=int(us)) for us in grid.astype(np.int64)]


# -- space rollups -------------------------------------------------------------------


def read_space_hours(
    store: ReadingStore, campus: Campus, start: datetime, end: datetime
) -> SpaceHours:
    """Read every ``space_hourly`` aggregate of every space over [start, end), widened to hours.

    One ``read_resampled`` call per field (quantity and aggregate), for all spaces at once,
    and per quantity one ``read_quality_flags`` plus raw reads of the hours that hold
    flagged readings, which are left out (``kpis.read_hourly_screened``).
    """
    _, _, grid = hour_grid(_utc(start, "start"), _utc(end, "end"))
    space_ids = tuple(space.id for _, space in campus.spaces())
    fields, excluded = {}, {}
    for quantity in HOURLY_QUANTITIES:
        names = [name for name, (q, _) in HOURLY_FIELDS.items() if q == quantity]
        aggregates = [HOURLY_FIELDS[name][1] for name in names]
        screened = read_hourly_screened(store, quantity, grid, space_ids, aggregates)
        for name, aggregate in zip(names, aggregates, strict=True):
            fields[name] = screened.values[aggregate]
        if screened.excluded.any():
            excluded[quantity] = screened.excluded
    return SpaceHours(grid, space_ids, fields, excluded)


def _space_tags(campus: Campus) -> dict[str, dict[str, str]]:
    encoder = LineProtocolEncoder(campus)
    return {space.id: encoder.sensor_tags(b.id, space.id) for b, space in campus.spaces()}


def space_hourly_rows(
    campus: Campus, hours: SpaceHours, since: datetime | None = None
) -> list[RollupRow]:
    """``space_hourly`` rows: one per space and hour with any reading (pure).

    Args:
        campus: the campus registry (tags).
        hours: hourly aggregates, from ``read_space_hours``.
        since: leave out hours that start before this instant.
    """
    tags = _space_tags(campus)
    names = list(HOURLY_FIELDS)
    stacked = np.stack([hours.fields[name] for name in names])  # fields × spaces × hours
    present = np.isfinite(stacked)
    left_out = {q: hours.excluded[q] for q in HOURLY_QUANTITIES if q in hours.excluded}
    keep = present.any(axis=0)
    for counts in left_out.values():
        keep |= counts > 0
    if since is not None:
        keep &= hours.grid >= np.datetime64(_utc(since, "since").replace(tzinfo=None), "us")
    instants = _instants(hours.grid)
    rows = []
    for space_index, hour_index in zip(*np.nonzero(keep), strict=True):
        values = stacked[:, space_index, hour_index]
        fields = {
            name: float(value)
            for name, value, ok in zip(
                names, values, present[:, space_index, hour_index], strict=True
            )
            if ok
        }
        for quantity, counts in left_out.items():
            if counts[space_index, hour_index]:
                fields[f"{quantity}_points_excluded"] = float(counts[space_index, hour_index])
        rows.append(
            RollupRow(
                ts=instants[hour_index], tags=tags[hours.space_ids[space_index]], fields=fields
            )
        )
    return rows


def space_day_fields(kpis: SpaceDayKpis) -> dict[str, float]:
    """The ``space_daily`` fields of one space-day; NaN fields are left out (pure)."""
    use, co2 = kpis.utilisation, kpis.co2
    fields = {
        "frequency_rate": use.frequency_rate,
        "occupancy_rate": use.occupancy_rate,
        "utilisation": use.utilisation,
        "peak_occupancy": use.peak_occupancy,
        "p95_occupancy": use.p95_occupancy,
        "used_seat_hours": use.used_seat_hours,
        "available_hours": use.available_hours,
        "in_use_hours": use.in_use_hours,
        "hours_without_data": use.hours_without_data,
        "co2_cat_i_hours": co2.category_hours["I"],
        "co2_cat_ii_hours": co2.category_hours["II"],
        "co2_cat_iii_hours": co2.category_hours["III"],
        "co2_cat_iv_hours": co2.category_hours["IV"],
        "co2_above_1000_hours": co2.hours_above_fhi_limit,  # FHI's norm, ieq.FHI_CO2_LIMIT_PPM
        "occupied_hours": co2.occupied_hours,
    }
    found = {name: float(value) for name, value in fields.items() if not math.isnan(value)}
    for name, count in (
        ("occupancy_points_excluded", use.points_excluded),
        ("co2_points_excluded", kpis.co2_points_excluded),
    ):
        if count:
            found[name] = float(count)
    return found


def space_daily_rows(
    campus: Campus, hours: SpaceHours, days: Sequence[date] | None = None
) -> list[RollupRow]:
    """``space_daily`` rows: one per space and local day with occupancy or CO₂ data (pure).

    The day's KPIs come from ``kpis.space_days_from_hourly`` over the day's hours in
    ``hours``: n_h is the occupancy mean, or the max when the site observes the hourly
    peak; CO₂ is the hourly mean.

    Args:
        campus: the campus registry.
        hours: hourly aggregates covering the days (a day under way: up to now).
        days: the local dates to give rows for (default: every date the grid touches).
    """
    tags = _space_tags(campus)
    peak = observation_aggregate(campus) is Aggregate.MAX
    counts_of = hours.fields["occupancy_max" if peak else "occupancy_mean"]
    co2_of = hours.fields["co2_mean"]
    grid_dates = local_dates(hours.grid, campus.tz)
    wanted = None if days is None else {np.datetime64(day, "D") for day in days}
    rows = []
    occupancy_left_out = hours.excluded_of("occupancy")
    co2_left_out = hours.excluded_of("co2")
    for index, space_id in enumerate(hours.space_ids):
        space = campus.space(space_id)
        counts, co2 = counts_of[index], co2_of[index]
        left_out = occupancy_left_out[index], co2_left_out[index]
        observed = np.isfinite(counts) | np.isfinite(co2) | (left_out[0] > 0) | (left_out[1] > 0)
        for day in space_days_from_hourly(campus, space, hours.grid, counts, co2, *left_out):
            day64 = np.datetime64(day.date, "D")
            if wanted is not None and day64 not in wanted:
                continue
            if not observed[grid_dates == day64].any():
                continue
            rows.append(
                RollupRow(local_midnight(campus, day.date), tags[space_id], space_day_fields(day))
            )
    return rows


# -- building rollups -------------------------------------------------------------------


def read_night_base_kw(
    store: ReadingStore, campus: Campus, building: Building, days: Sequence[date], until: datetime
) -> dict[date, float]:
    """Mean electric kW 00:00–05:00 local per day, from the building's electricity registers.

    Each meter's register is read once for the whole range, flagged readings left
    out (``kpis.read_register``). Per day the readings in [00:00, 05:00] local (up
    to ``until``) give ``energy.mean_demand_kw``; the building's figure is the sum
    over its meters with a value. Days with none are left out.
    """
    until = _utc(until, "until")
    windows = [
        (day, local_moment(campus, day, NIGHT_START), local_moment(campus, day, NIGHT_END))
        for day in days
    ]
    windows = [(day, start, min(end, until)) for day, start, end in windows if start < until]
    if not windows:
        return {}
    read_from, read_to = windows[0][1], max(end for _, _, end in windows) + _ONE_US
    totals: dict[date, list[float]] = {}
    for meter in building.meters:
        if meter.quantity != ELECTRICITY:
            continue
        register = read_register(store, meter.id, ELECTRICITY, read_from, read_to)
        ts = register.ts
        for day, start, end in windows:
            lo = int(np.searchsorted(ts, np.datetime64(start.replace(tzinfo=None), "us"), "left"))
            hi = int(np.searchsorted(ts, np.datetime64(end.replace(tzinfo=None), "us"), "right"))
            kw = mean_demand_kw(ts[lo:hi], register.values[lo:hi])
            if math.isfinite(kw):
                totals.setdefault(day, []).append(kw)
    return {day: float(sum(values)) for day, values in totals.items()}


def building_day_fields(
    building: Building, energy: BuildingDayEnergy, night_base_kw: float = math.nan
) -> dict[str, float]:
    """The ``building_daily`` fields of one building-day; NaN fields are left out (pure).

    kWh per m² is per the building's heated floor area (the EUI denominator,
    METRICS.md). Resets are given for a kind of meter only when it has data.
    """
    area = building.heated_area_m2
    kinds = {meter.quantity for meter in building.meters}
    electricity, heat = energy.electricity_kwh, energy.heat_kwh
    parts = [value for kind, value in ((ELECTRICITY, electricity), (HEAT, heat)) if kind in kinds]
    total = float(sum(parts)) if parts else math.nan
    fields = {
        "electricity_kwh": electricity,
        "heat_kwh": heat,
        "electricity_kwh_per_m2": electricity / area,
        "heat_kwh_per_m2": heat / area,
        "total_kwh_per_m2": total / area,
        "night_base_kw": night_base_kw,
        "electricity_resets": energy.electricity_resets if math.isfinite(electricity) else math.nan,
        "heat_resets": energy.heat_resets if math.isfinite(heat) else math.nan,
        "points_excluded": energy.points_excluded if energy.points_excluded else math.nan,
    }
    return {name: float(value) for name, value in fields.items() if not math.isnan(value)}


def building_daily_rows(
    campus: Campus,
    energy: Mapping[str, Sequence[BuildingDayEnergy]],
    night_base_kw: Mapping[str, Mapping[date, float]] | None = None,
) -> list[RollupRow]:
    """``building_daily`` rows: one per building and local day with energy data (pure).

    Args:
        campus: the campus registry (areas, tags).
        energy: building id -> its days, from ``kpis.building_daily_energy``.
        night_base_kw: building id -> {date: kW}, from ``read_night_base_kw``.
    """
    night_base_kw = night_base_kw or {}
    rows = []
    for building_id, days in energy.items():
        building = campus.building(building_id)
        tags = {"site": campus.site.id, "building": building_id}
        night = night_base_kw.get(building_id, {})
        for day in days:
            fields = building_day_fields(building, day, night.get(day.date, math.nan))
            if fields:
                rows.append(RollupRow(local_midnight(campus, day.date), tags, fields))
    return rows


# -- the period -----------------------------------------------------------------------------


def _days(first_day: date, last_day: date) -> list[date]:
    if last_day < first_day:
        raise ValueError(f"last day {last_day} is before first day {first_day}")
    return [first_day + timedelta(days=i) for i in range((last_day - first_day).days + 1)]


def compute_rollups(
    store: ReadingStore,
    campus: Campus,
    first_day: date,
    last_day: date,
    until: datetime,
    hourly_since: datetime | None = None,
) -> Rollups:
    """All three rollups for the local days first_day..last_day, read through the port.

    Args:
        store: the reading store.
        campus: the campus registry.
        first_day, last_day: local dates, inclusive.
        until: now; hours and days are computed up to it (a day under way is partial).
        hourly_since: ``space_hourly`` rows start with the hour holding this instant
            (default: the first day's local midnight); may reach back before the first day.

    Reads: six ``read_resampled`` calls (all spaces at once) and four
    ``read_quality_flags`` (one per space quantity), raw reads of the hours holding
    flagged readings, and per meter one ``read_series`` and one ``read_quality_flags``
    for the energy and the same again for the night base load.
    """
    until = _utc(until, "until")
    days = _days(first_day, last_day)
    day_start = local_midnight(campus, first_day)
    since = day_start
    if hourly_since is not None:  # the hour it falls in is recomputed whole
        since = _utc(hourly_since, "hourly_since").replace(minute=0, second=0, microsecond=0)
    start = min(since, day_start)
    end = min(local_midnight(campus, last_day + timedelta(days=1)), until)
    if end <= start:
        return Rollups()
    hours = read_space_hours(store, campus, start, end)
    energy: dict[str, list[BuildingDayEnergy]] = {}
    night: dict[str, dict[date, float]] = {}
    if end > day_start:
        for building in campus.buildings:
            energy[building.id] = building_daily_energy(store, campus, building.id, day_start, end)
            night[building.id] = read_night_base_kw(store, campus, building, days, end)
    return Rollups(
        space_hourly=space_hourly_rows(campus, hours, since=since),
        space_daily=space_daily_rows(campus, hours, days),
        building_daily=building_daily_rows(campus, energy, night),
    )


def write_rollups(store: ReadingStore, rollups: Rollups) -> dict[str, int]:
    """Write (upsert) each measurement's rows; returns rows written per measurement."""
    written = {}
    for measurement, rows in rollups.by_measurement().items():
        store.write_rollups(measurement, rows)
        written[measurement] = len(rows)
    return written
