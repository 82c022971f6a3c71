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
  from the registers (``kpis.building_daily_energy``), per heated m², the night
  base load and, on Saturdays and Sundays only, the weekend base load.
- ``space_weekhour``: ts = UTC hour start, like ``space_hourly``; tags = the
  space's sensor tags plus ``weekday`` (``1-Mon`` … ``7-Sun``) and ``hour``
  (``00`` … ``23``), the local weekday and hour of the site's time zone the hour
  starts in; fields ``used_seat_hours`` (n_h × 1 h, the site's observation rule,
  as ``space_daily``) and ``available_seat_hours`` (capacity × 1 h). One row per
  space and hour with an occupancy observation, every hour of the day, core or
  not. It is the hour × weekday utilisation profile's source: InfluxQL cannot
  group by a function of time, but it can ``GROUP BY "weekday", "hour"``, and
  Σ used ÷ Σ available over the rows of a cell is the cell's utilisation,
  seat-hours pooled over spaces and weeks (METRICS.md: add up seat-hours, never
  average percentages). Its own measurement rather than two more tags on
  ``space_hourly``: a row's identity includes its tags, so tagging
  ``space_hourly`` would give every already stored hour a second series next to
  the old one after an upgrade (and double every sum over it), and its fields
  are in seat-hours, which ``space_hourly`` (people) does not know. Series: spaces ×
  168 (81 × 168 = 13 608 for the sample campus, 168 000 for 1 000 spaces), well
  within InfluxDB's limits (1.x ``max-series-per-database`` 1 000 000), though
  above the 10 000 series InfluxDB Cloud's (TSM) Free Plan allows.

A row's identity is (measurement, tags, ts) and the store overwrites on the same
identity, so computing a period again replaces its rows and never doubles them.

I/O goes through the ``ReadingStore`` port only (``read_space_hours``,
``read_electricity_registers``, ``read_night_base_kw``, ``read_weekend_base_kw``,
``compute_rollups``); the rows are built by pure functions from arrays
(``space_hourly_rows``, ``space_weekhour_rows``, ``space_daily_rows``,
``night_base_kw``, ``weekend_base_kw``, ``building_daily_rows``), and the maths
is the existing metric code.

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
- A register gap across a midnight (``kpis.BuildingDayEnergy.meters_not_spanning``,
  ``energy.register_spans_days``) is not written as a day's energy: the day the
  gap ends in would show several days' kWh, the day it starts in too little. The
  kWh, kWh/m² and resets of that kind of meter (electricity or heat) and the total
  are left out of both days' rows, and ``meters_not_spanning`` (how many meters)
  is written instead, so the row says why. The energy of the gap is then in no
  ``building_daily`` row; a period's total comes from the registers
  (``energy_kpis.building_energy``), which books it whole.
- ``night_base_kw`` is the mean kW of the building's electricity registers over
  their readings from 00:00 to 05:00 local (both ends included), summed over the
  meters; on the spring DST day that window is 4 real hours, and the mean is
  over the real elapsed time (``energy.mean_demand_kw``).
- ``weekend_base_kw`` (Saturdays and Sundays, local; absent on other days) is the
  weekend day's near-base load after Price (2010), LBNL-3713E, as
  ``energy.load_shape`` defines it: the low percentile (``NEAR_BASE_PERCENTILE``,
  the 2.5th, numpy's linear interpolation) of the day's hourly demand. Each local
  hour's demand is found by the night base load's method, ``energy.mean_demand_kw``
  over the register readings in [hour start, hour end] (both ends included),
  summed over the electricity meters; an hour counts only when every meter that
  reported that day gives a demand for it (a meter's gap would look like a quiet
  hour). A DST day has 23 or 25 hours. A day under way uses its hours so far, the
  current one over its readings so far (a rate, so not understated). Registers
  must be read at least twice per hour (every 15 min, or on the hour); an hourly
  meter read off the hour gives no weekend base load.

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
  decrease is never left out: it stays a reset); the night and weekend base
  loads are computed without the flagged register readings too;
- ``space_weekhour``: no count of its own; its n_h is ``space_hourly``'s screened
  occupancy, and the same row's ``occupancy_points_excluded`` there counts what was
  left out (an hour whose readings were all flagged has no ``space_weekhour`` row).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import numpy as np

from campuslab.analytics.energy import NEAR_BASE_PERCENTILE, mean_demand_kw
from campuslab.analytics.kpis import (
    ELECTRICITY,
    HEAT,
    BuildingDayEnergy,
    ScreenedRegister,
    SpaceDayKpis,
    building_daily_energy,
    hour_grid,
    observation_aggregate,
    read_hourly_screened,
    read_register,
    space_days_from_hourly,
)
from campuslab.analytics.local_time import local_dates, local_wall_time, weekday_numbers
from campuslab.core.registry import Building, Campus
from campuslab.core.store.line_protocol import LineProtocolEncoder
from campuslab.core.store.port import Aggregate, ReadingStore, RollupRow

SPACE_HOURLY = "space_hourly"
SPACE_DAILY = "space_daily"
BUILDING_DAILY = "building_daily"
SPACE_WEEKHOUR = "space_weekhour"
MEASUREMENTS = (SPACE_HOURLY, SPACE_DAILY, BUILDING_DAILY, SPACE_WEEKHOUR)
# space_weekhour tag values: they sort as they read (InfluxQL orders series by tag value)
WEEKDAY_TAGS = ("1-Mon", "2-Tue", "3-Wed", "4-Thu", "5-Fri", "6-Sat", "7-Sun")
HOUR_TAGS = tuple(f"{hour:02d}" for hour in range(24))

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
WEEKEND = (5, 6)  # Saturday, Sunday (Python weekday numbers): days with a weekend base load
_HOUR = timedelta(hours=1)
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
    """Rows of the rollup measurements for one period, ready to write."""

    space_hourly: list[RollupRow] = field(default_factory=list)
    space_daily: list[RollupRow] = field(default_factory=list)
    building_daily: list[RollupRow] = field(default_factory=list)
    space_weekhour: list[RollupRow] = field(default_factory=list)

    def by_measurement(self) -> dict[str, list[RollupRow]]:
        return {
            SPACE_HOURLY: self.space_hourly,
            SPACE_DAILY: self.space_daily,
            BUILDING_DAILY: self.building_daily,
            SPACE_WEEKHOUR: self.space_weekhour,
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
    keep &= _since_mask(hours.grid, since)
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


def _since_mask(grid: np.ndarray, since: datetime | None) -> np.ndarray | bool:
    if since is None:
        return True
    return grid >= np.datetime64(_utc(since, "since").replace(tzinfo=None), "us")


def local_weekday_hour(grid: np.ndarray, campus: Campus) -> tuple[np.ndarray, np.ndarray]:
    """The local weekday (Monday = 0) and hour of day (0..23) each UTC hour starts in (pure).

    DST-correct (``local_time.local_wall_time``): on the spring-forward day in
    Europe/Oslo no UTC hour starts at local 02, on the autumn day two do. In a
    zone with a half-hour offset, an hour starting at 10:30 local is hour 10.
    """
    wall = local_wall_time(grid, campus.tz)
    dates = wall.astype("datetime64[D]")
    hours = ((wall - dates) // np.timedelta64(1, "h")).astype(np.int64)
    return weekday_numbers(dates), hours


def space_weekhour_rows(
    campus: Campus, hours: SpaceHours, since: datetime | None = None
) -> list[RollupRow]:
    """``space_weekhour`` rows: one per space and hour with an occupancy observation (pure).

    Tags: the space's sensor tags, plus ``weekday`` (``1-Mon`` … ``7-Sun``) and
    ``hour`` (``00`` … ``23``) of the local time the hour starts at. Fields:
    ``used_seat_hours`` = n_h × 1 h (the hourly mean count, or the peak when the site
    observes the hourly peak, as for ``space_daily``) and ``available_seat_hours`` =
    capacity × 1 h. Summed over any set of rows, Σ used ÷ Σ available is the
    utilisation of those space-hours (SMG 2006: U = Σ n_h / (C × |H|), seat-hours added
    up across spaces). Hours without an occupancy observation give no row (an
    offline sensor is not an empty room, as in ``kpis``).

    Args:
        campus: the campus registry (tags, capacities, time zone, observation rule).
        hours: hourly aggregates, from ``read_space_hours``.
        since: leave out hours that start before this instant.

    Example: room-40 (40 seats) with a mean of 10 people 12:00–13:00 UTC on Friday
    27 March 2026 (13:00 in Oslo, CET) gives tags weekday ``5-Fri``, hour ``13`` and
    fields used 10, available 40: a utilisation of 25 % for that hour.
    """
    tags = _space_tags(campus)
    peak = observation_aggregate(campus) is Aggregate.MAX
    counts = hours.fields["occupancy_max" if peak else "occupancy_mean"]
    weekdays, local_hours = local_weekday_hour(hours.grid, campus)
    keep = np.isfinite(counts) & _since_mask(hours.grid, since)
    instants = _instants(hours.grid)
    when = [
        {"weekday": WEEKDAY_TAGS[day], "hour": HOUR_TAGS[hour]}
        for day, hour in zip(weekdays.tolist(), local_hours.tolist(), strict=True)
    ]
    capacity = [float(campus.space(space_id).capacity) for space_id in hours.space_ids]
    rows = []
    for space_index, hour_index in zip(*np.nonzero(keep), strict=True):
        space_id = hours.space_ids[space_index]
        rows.append(
            RollupRow(
                ts=instants[hour_index],
                tags={**tags[space_id], **when[hour_index]},
                fields={
                    "used_seat_hours": float(counts[space_index, hour_index]),
                    "available_seat_hours": capacity[space_index],
                },
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


def read_electricity_registers(
    store: ReadingStore, building: Building, start: datetime, end: datetime
) -> list[ScreenedRegister]:
    """The building's electricity registers over [start, end), flagged readings left out.

    One ``read_series`` and one ``read_quality_flags`` per electricity meter
    (``kpis.read_register``); the night and weekend base loads are both computed
    from this one read.
    """
    return [
        read_register(store, meter.id, ELECTRICITY, start, end)
        for meter in building.meters
        if meter.quantity == ELECTRICITY
    ]


def _window_kw(register: ScreenedRegister, start: datetime, end: datetime) -> float:
    """``energy.mean_demand_kw`` over the register's readings in [start, end], both ends in."""
    ts = register.ts
    lo = int(np.searchsorted(ts, np.datetime64(start.replace(tzinfo=None), "us"), "left"))
    hi = int(np.searchsorted(ts, np.datetime64(end.replace(tzinfo=None), "us"), "right"))
    return mean_demand_kw(ts[lo:hi], register.values[lo:hi])


def night_base_kw(
    campus: Campus, registers: Sequence[ScreenedRegister], days: Sequence[date], until: datetime
) -> dict[date, float]:
    """Mean electric kW 00:00–05:00 local per day, summed over the registers (pure).

    Per day the readings in [00:00, 05:00] local (up to ``until``) give
    ``energy.mean_demand_kw``; the building's figure is the sum over its meters
    with a value. Days with none are left out.
    """
    until = _utc(until, "until")
    totals: dict[date, list[float]] = {}
    for day in days:
        start = local_moment(campus, day, NIGHT_START)
        end = min(local_moment(campus, day, NIGHT_END), until)
        if start >= until:
            continue
        for register in registers:
            kw = _window_kw(register, start, end)
            if math.isfinite(kw):
                totals.setdefault(day, []).append(kw)
    return {day: float(sum(values)) for day, values in totals.items()}


def weekend_base_kw(
    campus: Campus,
    registers: Sequence[ScreenedRegister],
    days: Sequence[date],
    until: datetime,
    percentile: float = NEAR_BASE_PERCENTILE,
) -> dict[date, float]:
    """Near-base electric load of each Saturday and Sunday, kW (pure; Price 2010, LBNL-3713E).

    The low ``percentile`` (default the 2.5th, as ``energy.load_shape``; numpy's
    linear interpolation) of the local day's hourly demand. Each local hour's demand
    is ``energy.mean_demand_kw`` over the readings in [hour start, hour end] (both
    ends included, the night base load's method), summed over the registers; an hour
    counts only when every register that reported during the day gives a demand for
    it. Weekdays, and weekend days without such an hour, are left out. A day still
    under way counts its hours up to ``until``.

    Args:
        campus: the campus registry (time zone).
        registers: the building's electricity registers covering the days.
        days: local dates; only Saturdays and Sundays give a value.
        until: now; hours after it are not counted.
        percentile: 0..100.

    Example: a Saturday in winter at 10 kW, except 6 kW from 03:00 to 04:00 and 7 kW
    from 04:00 to 05:00, has 24 hourly demands; the 2.5th percentile lies 0.575 of
    the way from the lowest to the next (index 0.025 × 23): 6 + 0.575 × 1 = 6.575 kW.
    """
    until = _utc(until, "until")
    if not 0 <= percentile <= 100:
        raise ValueError(f"percentile must be within 0..100, got {percentile}")
    found: dict[date, float] = {}
    for day in days:
        start = local_midnight(campus, day)
        if day.weekday() not in WEEKEND or start >= until:
            continue
        end = min(local_midnight(campus, day + timedelta(days=1)), until)
        reporting = [r for r in registers if math.isfinite(_window_kw(r, start, end))]
        if not reporting:
            continue
        demand = []
        hour = start
        while hour < end:
            hour_end = min(hour + _HOUR, end)
            kw = [_window_kw(register, hour, hour_end) for register in reporting]
            if all(math.isfinite(value) for value in kw):
                demand.append(sum(kw))
            hour = hour_end
        if demand:
            found[day] = float(np.percentile(demand, percentile))
    return found


def _register_span(
    campus: Campus, days: Sequence[date], until: datetime
) -> tuple[datetime, datetime] | None:
    """[first local midnight, end of the last day or ``until``] plus 1 µs, to read the registers."""
    until = _utc(until, "until")
    start = local_midnight(campus, days[0])
    end = min(local_midnight(campus, days[-1] + timedelta(days=1)), until)
    return (start, end + _ONE_US) if start < end else None


def read_night_base_kw(
    store: ReadingStore, campus: Campus, building: Building, days: Sequence[date], until: datetime
) -> dict[date, float]:
    """``night_base_kw`` of the days, reading the building's electricity registers once."""
    span = _register_span(campus, days, until) if days else None
    if span is None:
        return {}
    return night_base_kw(campus, read_electricity_registers(store, building, *span), days, until)


def read_weekend_base_kw(
    store: ReadingStore, campus: Campus, building: Building, days: Sequence[date], until: datetime
) -> dict[date, float]:
    """``weekend_base_kw`` of the days, reading the building's electricity registers once."""
    weekend = [day for day in days if day.weekday() in WEEKEND]
    span = _register_span(campus, weekend, until) if weekend else None
    if span is None:
        return {}
    registers = read_electricity_registers(store, building, *span)
    return weekend_base_kw(campus, registers, weekend, until)


def building_day_fields(
    building: Building,
    energy: BuildingDayEnergy,
    night_base_kw: float = math.nan,
    weekend_base_kw: float = math.nan,
) -> dict[str, float]:
    """The ``building_daily`` fields of one building-day; NaN fields are left out (pure).

    kWh per m² is per the building's heated floor area (the EUI denominator,
    METRICS.md). Resets are given for a kind of meter only when it has data.
    ``weekend_base_kw`` is NaN (so left out) on weekdays. A kind of meter with a meter
    whose readings do not span the day (``BuildingDayEnergy.meters_not_spanning``)
    gives no kWh, kWh/m², resets or total; ``meters_not_spanning`` counts those meters.
    """
    area = building.heated_area_m2
    kinds = {meter.quantity for meter in building.meters}
    electricity, heat = energy.electricity_kwh, energy.heat_kwh
    # a kind of meter whose readings do not span the day has no figure for the day
    partial = {m.quantity for m in building.meters if m.id in energy.meters_not_spanning}
    electricity = math.nan if ELECTRICITY in partial else electricity
    heat = math.nan if HEAT in partial else heat
    parts = [value for kind, value in ((ELECTRICITY, electricity), (HEAT, heat)) if kind in kinds]
    total = float(sum(parts)) if parts else math.nan
    fields = {
        "electricity_kwh": electricity,
        "heat_kwh": heat,
        "electricity_kwh_per_m2": electricity / area,
        "heat_kwh_per_m2": heat / area,
        "total_kwh_per_m2": total / area,
        "night_base_kw": night_base_kw,
        "weekend_base_kw": weekend_base_kw,
        "electricity_resets": energy.electricity_resets if math.isfinite(electricity) else math.nan,
        "heat_resets": energy.heat_resets if math.isfinite(heat) else math.nan,
        "points_excluded": energy.points_excluded if energy.points_excluded else math.nan,
        "meters_not_spanning": len(energy.meters_not_spanning) or math.nan,
    }
    return {name: float(value) for name, value in fields.items() if not math.isnan(value)}


def building_daily_rows(
    campus: Campus,
    energy: Mapping[str, Sequence[BuildingDayEnergy]],
    night_base_kw: Mapping[str, Mapping[date, float]] | None = None,
    weekend_base_kw: Mapping[str, Mapping[date, float]] | None = None,
) -> list[RollupRow]:
    """``building_daily`` rows: one per building and local day with energy data (pure).

    Args:
        campus: the campus registry (areas, tags).
        energy: building id -> its days, from ``kpis.building_daily_energy``.
        night_base_kw: building id -> {date: kW}, from ``night_base_kw``.
        weekend_base_kw: building id -> {date: kW} (weekend days), from ``weekend_base_kw``.
    """
    night_base_kw = night_base_kw or {}
    weekend_base_kw = weekend_base_kw or {}
    rows = []
    for building_id, days in energy.items():
        building = campus.building(building_id)
        tags = {"site": campus.site.id, "building": building_id}
        night = night_base_kw.get(building_id, {})
        weekend = weekend_base_kw.get(building_id, {})
        for day in days:
            fields = building_day_fields(
                building, day, night.get(day.date, math.nan), weekend.get(day.date, math.nan)
            )
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
    """Every rollup for the local days first_day..last_day, read through the port.

    Args:
        store: the reading store.
        campus: the campus registry.
        first_day, last_day: local dates, inclusive.
        until: now; hours and days are computed up to it (a day under way is partial).
        hourly_since: ``space_hourly`` and ``space_weekhour`` rows start with the hour
            holding this instant (default: the first day's local midnight); may reach back
            before the first day.

    Reads: six ``read_resampled`` calls (all spaces at once) and four
    ``read_quality_flags`` (one per space quantity), raw reads of the hours holding
    flagged readings, and per meter one ``read_series`` and one ``read_quality_flags``
    for the energy and, per electricity meter, the same again for the night and
    weekend base loads together.
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
    weekend: dict[str, dict[date, float]] = {}
    if end > day_start:
        for building in campus.buildings:
            energy[building.id] = building_daily_energy(store, campus, building.id, day_start, end)
            registers = read_electricity_registers(store, building, day_start, end + _ONE_US)
            night[building.id] = night_base_kw(campus, registers, days, end)
            weekend[building.id] = weekend_base_kw(campus, registers, days, end)
    return Rollups(
        space_hourly=space_hourly_rows(campus, hours, since=since),
        space_daily=space_daily_rows(campus, hours, days),
        building_daily=building_daily_rows(campus, energy, night, weekend),
        space_weekhour=space_weekhour_rows(campus, hours, since=since),
    )


def write_rollups(store: ReadingStore, rollups: Rollups) -> dict[str, int]:
    """Write (upsert) each measurement's rows; returns rows written per measurement."""
    written = {}
    for measurement, rows in rollups.by_measurement().items():
        store.write_rollups(measurement, rows)
        written[measurement] = len(rows)
    return written
