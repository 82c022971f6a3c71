"""A building's energy and sustainability figures over a period, read through the store port.

Composition only: register readings come from ``ReadingStore.read_series``,
occupancy and outdoor temperature from ``read_resampled``, assumptions from
the campus registry, and every figure from the pure functions of ``energy``,
``emissions`` and ``savings``, which cite their sources.

Choices made here, where METRICS.md is silent:

- Delivered energy is the building's ``energy`` (electricity) and
  ``heat_energy`` (district heating) registers. A register interval belongs to
  the period when it ends in (start, end]; the reading that opens the first
  interval is looked for up to a day before ``start`` (as ``kpis`` does).
- Each meter's coverage is the time from its first reading used (clipped to
  ``start``) to its last; the EUI annualises each meter on its own coverage.
- The load shape is of electricity demand (kWh per UTC hour = mean kW), the
  load Price (2010) describes; district heat is left out of it.
- Occupant-hours: Σ of every space's hourly mean headcount, all hours. Used
  seat-hours: Σ n_h over the site's core hours (the site's observation rule,
  mean or peak), the numerator of utilisation. Both are counts of people, so
  for a role below facilities the caller passes them in (``OccupantHours``)
  computed from the published 15-minute cells of the spaces with k seats or
  more (``api.privacy_counts.protected_occupant_hours``, METRICS.md Privacy):
  they are then lower bounds, and kWh per occupant-hour an upper bound.
- HDD from the weather station's hourly means (or the ``outdoor`` series given),
  daily means over local days, base ``AnalyticsSettings.degree_day_base_c``.
- Degree-day normalisation splits the energy with a baseline regression of
  daily delivered energy on daily HDD over the period's complete local days
  (E_base = β0 × days); the regression must pass ASHRAE Guideline 14's daily
  limits (``savings``). A day enters the regression only when the readings of
  every meter span it (``energy.register_spans_days``, within
  ``REGISTER_EDGE_TOLERANCE`` of both midnights: the rule of IPMVP savings,
  ``report.building_savings``): a register gap across a midnight books several
  days' energy to the day it ends in. Such days are left out and listed
  (``BuildingEnergy.days_left_out``).
- The normal degree days: the caller's ``hdd_normal`` (for the period's whole
  local days; prorated by days when some are left out, and said so), else the
  registry's ``analytics.hdd_normal`` (monthly normals, each spread evenly over
  its month's days), summed over exactly the days normalised. Without either,
  nothing is normalised.
- Emissions: each local day's kWh is booked to its calendar year, whose factor
  applies (``emissions``).
- Data quality (METRICS.md): flagged register readings are left out
  (``kpis.read_register``; a flagged decrease is kept, it is a reset), flagged
  occupancy and outdoor readings are left out of the hourly means
  (``kpis.read_hourly_screened``); ``points_excluded`` counts them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import ClassVar

import numpy as np

from campuslab.analytics.climate_kpis import outdoor_temperature, utc_period
from campuslab.analytics.emissions import (
    EmissionFactorTable,
    Scope2Emissions,
    load_emission_factors,
    scope2_emissions,
)
from campuslab.analytics.energy import (
    REGISTER_EDGE_TOLERANCE,
    EnergyUseIntensity,
    HeatingDegreeDays,
    LoadShape,
    NormalisedEnergy,
    UseIntensity,
    daily_consumption,
    daily_mean_temperature,
    degree_day_normalised_energy,
    energy_use_intensity,
    heating_degree_days,
    hourly_consumption,
    intensity_per_use,
    load_shape,
    register_spans_days,
)
from campuslab.analytics.kpis import (
    REGISTER_LOOKBACK,
    NotInRegistry,
    hour_grid,
    observation_aggregate,
    on_grid,
    read_hourly_screened,
    read_register,
)
from campuslab.analytics.savings import (
    BaselineModel,
    BaselineRejected,
    fit_baseline,
)
from campuslab.analytics.utilisation import core_hours_mask
from campuslab.core.readings import Series
from campuslab.core.registry import Building, Campus, HddNormal, Meter
from campuslab.core.store.port import Aggregate, ReadingStore

HOUR = timedelta(hours=1)
ELECTRICITY, HEAT = "energy", "heat_energy"
_DAY64 = np.timedelta64(1, "D").astype("timedelta64[us]")


@dataclass(frozen=True)
class MeterPeriod:
    """One register's consumption over the period."""

    meter_id: str
    quantity: str
    kwh: float
    resets: int
    days_covered: float
    points_excluded: int
    daily_kwh: dict[date, float] = field(hash=False)
    hourly_starts: np.ndarray = field(hash=False, repr=False)
    hourly_kwh: np.ndarray = field(hash=False, repr=False)
    spanned_days: frozenset[date] = frozenset()


@dataclass(frozen=True)
class OccupantHours:
    """A building's occupant-hours and used seat-hours, and how exact they are.

    Attributes:
        occupant_hours: Σ over spaces and every hour of the hourly mean headcount,
            person-hours.
        used_seat_hours: Σ n_h over the core hours (site's hourly rule), person-hours.
        points_excluded: flagged occupancy readings left out (0 from published cells,
            which hold every reading).
        suppressed_cells: suppressed space × 15-minute cells behind ``occupant_hours``
            (all hours), each counted as 0 people; 0 when exact.
        used_seat_hours_suppressed_cells: the same behind ``used_seat_hours`` (core hours).
        occupant_hours_upper: ``occupant_hours`` with every suppressed cell at k people.
        used_seat_hours_upper: ``used_seat_hours`` likewise.
        withheld: spaces left out (fewer than k seats, below facilities).
    """

    occupant_hours: float
    used_seat_hours: float
    points_excluded: int = 0
    suppressed_cells: int = 0
    used_seat_hours_suppressed_cells: int = 0
    occupant_hours_upper: float | None = None
    used_seat_hours_upper: float | None = None
    withheld: tuple[str, ...] = ()

    @property
    def lower_bound(self) -> bool:
        """True when a suppressed cell is behind the figures, counted as 0 people."""
        return self.suppressed_cells > 0 or self.used_seat_hours_suppressed_cells > 0


@dataclass(frozen=True)
class BuildingEnergy:
    """Energy and sustainability of one building over a period.

    Attributes:
        building_id: the building.
        start, end: the period, UTC, widened to whole hours.
        electricity_kwh: delivered electricity, kWh; NaN when no electricity meter has data.
        heat_kwh: delivered district heat, kWh; NaN when no heat meter has data.
        delivered_kwh: electricity + heat (the carriers with data), kWh; NaN when no
            meter has data in the period (no data, not 0 kWh).
        register_resets: register decreases booked as 0 kWh.
        meters_without_data: meters with no interval in the period.
        eui: EUI (annualised when the period is not 365 days); None without data.
        use_intensity: kWh per occupant-hour and per used seat-hour.
        occupancy: the occupant-hours and used seat-hours behind them, with their bounds.
        load_shape: of electricity demand; None without electricity data.
        degree_days: HDD of the period; None without an outdoor series.
        degree_day_model: the daily regression E = β0 + βH·HDD behind the
            normalisation; None when it could not be fitted or was refused.
        degree_day_model_refused: why there is no degree-day model (too few days, too
            little spread of HDD, Guideline 14 not met, no outdoor temperature).
        normalised: HDD-normalised delivered energy; None without normal degree days
            (``hdd_normal`` or the registry's ``analytics.hdd_normal``) or model.
        hdd_normal_source: where the normal degree days came from; None when not normalised.
        days_left_out: whole local days left out of the degree-day model because the
            readings of some meter do not span them (a gap across a midnight, or no or
            partial data): their energy cannot be attributed to the day.
        emissions: Scope 2, location- and market-based.
        points_excluded: flagged readings left out, by 'registers', 'occupancy',
            'outdoor_temperature'.
        notes: what was left out and why, substitutions, placeholders.
        units: the unit of each figure.
    """

    UNITS: ClassVar[dict[str, str]] = {
        "energy": "kWh",
        "eui": "kWh/m² per year (annualised when the period is not 365 days)",
        "intensity": "kWh per occupant-hour; kWh per used seat-hour",
        "demand": "kW (mean over an hour)",
        "ratios and shares": "fractions",
        "degree_days": "K·day (heating degree days, base °C as stated)",
        "emissions": "kg CO₂e",
    }

    building_id: str
    start: datetime
    end: datetime
    electricity_kwh: float
    heat_kwh: float
    delivered_kwh: float
    register_resets: int
    meters_without_data: tuple[str, ...]
    eui: EnergyUseIntensity | None
    use_intensity: UseIntensity
    load_shape: LoadShape | None
    degree_days: HeatingDegreeDays | None
    degree_day_model: BaselineModel | None
    normalised: NormalisedEnergy | None
    emissions: Scope2Emissions
    notes: tuple[str, ...]
    points_excluded: dict[str, int] = field(default_factory=dict, hash=False)
    units: dict[str, str] = field(default_factory=lambda: dict(BuildingEnergy.UNITS), hash=False)
    occupancy: OccupantHours | None = None
    hdd_normal_source: str | None = None
    degree_day_model_refused: str | None = None
    days_left_out: tuple[date, ...] = ()


def _meter_period(
    store: ReadingStore,
    campus: Campus,
    meter: Meter,
    start: datetime,
    end: datetime,
    whole_days: list[date],
) -> MeterPeriod:
    register = read_register(
        store, meter.id, meter.quantity, start - REGISTER_LOOKBACK, end + timedelta(microseconds=1)
    )
    ts = register.ts
    start64 = np.datetime64(start.replace(tzinfo=None), "us")
    end64 = np.datetime64(end.replace(tzinfo=None), "us")
    keep_to = int(np.searchsorted(ts, end64, side="right"))
    keep_from = max(int(np.searchsorted(ts, start64, side="right")) - 1, 0)
    ts, values = ts[keep_from:keep_to], register.values[keep_from:keep_to]
    left_out = register.excluded_ts
    excluded = int(((left_out > start64) & (left_out <= end64)).sum())
    days = daily_consumption(ts, values, campus.tz)
    hourly = hourly_consumption(ts, values)
    covered = (ts[-1] - max(ts[0], start64)) / _DAY64 if ts.size > 1 else 0.0
    spans = register_spans_days(ts, _midnights(whole_days, campus))
    return MeterPeriod(
        meter_id=meter.id,
        quantity=meter.quantity,
        kwh=float(sum(d.kwh for d in days)),
        resets=hourly.resets,
        days_covered=float(covered),
        points_excluded=excluded,
        daily_kwh={d.date: d.kwh for d in days},
        hourly_starts=hourly.hour_starts,
        hourly_kwh=hourly.kwh,
        spanned_days=frozenset(d for d, whole in zip(whole_days, spans, strict=True) if whole),
    )


def _midnights(days: list[date], campus: Campus) -> np.ndarray:
    """The local midnights bounding consecutive local days, UTC datetime64[us]."""
    if not days:
        return np.array([], dtype="datetime64[us]")
    edges = [datetime.combine(d, time(0), campus.tz) for d in days]
    edges.append(datetime.combine(days[-1] + timedelta(days=1), time(0), campus.tz))
    return np.array([np.datetime64(e.astimezone(UTC).replace(tzinfo=None), "us") for e in edges])


def _building(campus: Campus, building_id: str) -> Building:
    building = campus.building(building_id)
    if building is None:
        raise NotInRegistry(f"unknown building {building_id!r}: not in the campus registry")
    return building


def _electricity_by_hour(meters: list[MeterPeriod], grid: np.ndarray) -> np.ndarray:
    """Σ of the electricity meters per grid hour; NaN where any of them has no data."""
    total = np.zeros(grid.shape)
    for meter in meters:
        total += on_grid(Series(meter.hourly_starts, meter.hourly_kwh), grid)
    return total


def _occupant_and_seat_hours(
    store: ReadingStore, campus: Campus, building: Building, grid: np.ndarray
) -> OccupantHours:
    """Exact occupant-hours and used seat-hours of every space (facilities)."""
    space_ids = [space.id for space in building.spaces]
    if not space_ids:
        return OccupantHours(0.0, 0.0)
    observation = observation_aggregate(campus)
    screened = read_hourly_screened(
        store, "occupancy", grid, space_ids, tuple(dict.fromkeys([Aggregate.MEAN, observation]))
    )
    occupant_hours = float(np.nansum(screened.values[Aggregate.MEAN]))
    core = core_hours_mask(grid, campus.tz, campus.analytics.core_hours)
    seat_hours = float(np.nansum(screened.values[observation][:, core]))
    return OccupantHours(occupant_hours, seat_hours, int(screened.excluded.sum()))


def _whole_local_days(start: datetime, end: datetime, campus: Campus) -> list[date]:
    day = start.astimezone(campus.tz).date()
    days = []
    while True:
        opens = datetime.combine(day, time(0), campus.tz)
        closes = datetime.combine(day + timedelta(days=1), time(0), campus.tz)
        if closes > end:
            return days
        if opens >= start:
            days.append(day)
        day += timedelta(days=1)


def _sum_by_year(meters: list[MeterPeriod]) -> dict[int, float]:
    by_year: dict[int, float] = {}
    for meter in meters:
        for day, kwh in meter.daily_kwh.items():
            by_year[day.year] = by_year.get(day.year, 0.0) + kwh
    return by_year


def building_energy(
    store: ReadingStore,
    campus: Campus,
    building_id: str,
    start: datetime,
    end: datetime,
    outdoor: Series | None = None,
    hdd_normal: float | None = None,
    emission_factors: EmissionFactorTable | None = None,
    occupancy: OccupantHours | None = None,
) -> BuildingEnergy:
    """Energy, EUI, intensity per use, load shape, degree days and emissions of a building.

    Args:
        store: the reading store.
        campus: the campus registry (time zone, analytics settings, weather station).
        building_id: a building id from the registry.
        start, end: the period, timezone-aware; pass local midnights for whole days.
        outdoor: outdoor temperature, °C, at any resolution; overrides the weather
            station (HDD needs one of them).
        hdd_normal: normal-year heating degree days of the complete local days of the
            period (same base); overrides the registry's ``analytics.hdd_normal``. Without
            either, nothing is normalised.
        emission_factors: the factor table; default from the site's settings.
        occupancy: the occupant-hours and used seat-hours to use, as the caller may know
            them (below facilities: from the published cells); default: exact, every space.

    Raises:
        NotInRegistry: the building is not in the registry.
        ValueError: naive datetimes, or end not after start.
    """
    building = _building(campus, building_id)
    first, last_end, grid = hour_grid(*utc_period(start, end))
    whole_days = _whole_local_days(first, last_end, campus)
    notes: list[str] = []
    meters = [
        _meter_period(store, campus, meter, first, last_end, whole_days)
        for meter in building.meters
        if meter.quantity in (ELECTRICITY, HEAT)
    ]
    with_data = [m for m in meters if m.days_covered > 0]
    missing = tuple(m.meter_id for m in meters if m.days_covered <= 0)
    if missing:
        notes.append(f"meters without data in the period, left out: {', '.join(missing)}")
    electricity = [m for m in with_data if m.quantity == ELECTRICITY]
    heat = [m for m in with_data if m.quantity == HEAT]
    electricity_kwh = sum(m.kwh for m in electricity) if electricity else math.nan
    heat_kwh = sum(m.kwh for m in heat) if heat else math.nan
    # no meter with data is "no data", never 0 kWh
    delivered = sum(m.kwh for m in with_data) if with_data else math.nan

    eui = None
    if with_data:
        eui = energy_use_intensity(
            [m.kwh for m in with_data], building.heated_area_m2, [m.days_covered for m in with_data]
        )
        if eui.caveat is not None:
            notes.append(f"EUI {eui.caveat}")

    if occupancy is None:
        occupancy = _occupant_and_seat_hours(store, campus, building, grid)
    use = intensity_per_use(
        delivered if with_data else 0.0, occupancy.occupant_hours, occupancy.used_seat_hours
    )
    if not with_data:
        use = replace(use, kwh_per_occupant_hour=math.nan, kwh_per_used_seat_hour=math.nan)

    shape = None
    if electricity:
        demand = _electricity_by_hour(electricity, grid)
        known = ~np.isnan(demand)
        shape = load_shape(grid[known], demand[known], campus.tz, campus.analytics.core_hours)

    degree_days, normalisation = None, _Normalisation()
    outside = outdoor_temperature(store, campus, first, last_end, outdoor)
    if outside.hour_starts is None:
        notes.append(f"HDD and normalisation not computed: {outside.source}")
        normalisation = _Normalisation(refused=f"no outdoor temperature: {outside.source}")
    else:
        hours, values, source = outside.hour_starts, outside.celsius, outside.source
        inside = (hours >= grid[0]) & (hours < grid[-1] + np.timedelta64(1, "h"))
        daily = daily_mean_temperature(hours[inside], values[inside], campus.tz)
        wanted = np.isin(daily.dates, np.array(whole_days, dtype="datetime64[D]"))
        base_c = campus.analytics.degree_day_base_c
        degree_days = heating_degree_days(daily.mean_c[wanted], base_c)
        notes.append(
            f"HDD (base {base_c:g} °C) over {degree_days.days_used} whole local days from {source}"
        )
        normalisation = _normalise(
            with_data,
            daily.dates[wanted],
            degree_days,
            _normal_degree_days(campus, hdd_normal),
            notes,
        )

    table = emission_factors or load_emission_factors(campus.analytics.emissions)
    emissions = scope2_emissions(_sum_by_year(electricity), _sum_by_year(heat), table)
    notes.extend(emissions.warnings)
    return BuildingEnergy(
        building_id=building_id,
        start=first,
        end=last_end,
        electricity_kwh=float(electricity_kwh),
        heat_kwh=float(heat_kwh),
        delivered_kwh=float(delivered),
        register_resets=sum(m.resets for m in with_data),
        meters_without_data=missing,
        eui=eui,
        use_intensity=use,
        load_shape=shape,
        degree_days=degree_days,
        degree_day_model=normalisation.model,
        degree_day_model_refused=normalisation.refused,
        normalised=normalisation.normalised,
        hdd_normal_source=normalisation.hdd_normal_source,
        days_left_out=normalisation.days_left_out,
        emissions=emissions,
        notes=tuple(notes),
        occupancy=occupancy,
        points_excluded={
            "registers": sum(m.points_excluded for m in meters),
            "occupancy": occupancy.points_excluded,
            "outdoor_temperature": outside.points_excluded,
        },
    )


@dataclass(frozen=True)
class _NormalDegreeDays:
    """Normal degree days: the caller's figure for all whole days, or the registry's table."""

    caller_total: float | None
    settings: HddNormal | None

    def of(self, used: list[date], whole_days: int) -> tuple[float, str, str | None] | None:
        """(normal HDD of the used days, source, note) or None without normals."""
        if self.caller_total is not None:
            source = "hdd_normal given by the caller"
            if len(used) == whole_days:
                return self.caller_total, source, None
            prorated = self.caller_total * len(used) / whole_days
            note = (
                f"hdd_normal {self.caller_total:g} K·day is for {whole_days} whole days; "
                f"prorated by days to the {len(used)} normalised: {prorated:.1f} K·day"
            )
            return prorated, source, note
        if self.settings is not None:
            total = float(sum(self.settings.of_day(day) for day in used))
            return total, f"registry analytics.hdd_normal ({self.settings.source})", None
        return None


def _normal_degree_days(campus: Campus, hdd_normal: float | None) -> _NormalDegreeDays:
    return _NormalDegreeDays(hdd_normal, campus.analytics.hdd_normal)


# A daily degree-day fit needs at least ten whole days with energy and HDD: more than a
# week, so every weekday and a weekend are in it, and n - p >= 8 degrees of freedom, where
# Student's t behind the fit's uncertainty (t90 = 1.86) is within about 13 % of its
# large-sample value (1.65); at 4 days (2 degrees of freedom) it is 2.9 and CV(RMSE)
# measures nothing (the "0 %" of the demo). It also needs daily HDD that differ by at
# least MIN_HDD_SPREAD K·day between the coldest and the mildest day: βH is the energy
# per degree day, and over a narrower spread the fit explains day-to-day use, not weather
# (a daily mean temperature is good to about ±0.5 K, a tenth of it). With less the model
# is not fitted, and the answer says why. (Savings baselines, which are extrapolated
# over a reporting period, ask for more: ``savings.MIN_BASELINE_DAYS``.)
MIN_DEGREE_DAY_FIT_DAYS = 10
MIN_HDD_SPREAD = 5.0


def degree_day_fit_refusal(daily_hdd: np.ndarray) -> str | None:
    """Why a daily degree-day model must not be fitted on these days' HDD; None if it may.

    >>> degree_day_fit_refusal(np.array([10.0, 12.0, 14.0, 11.0]))
    'only 4 whole days with energy and HDD; a degree-day fit needs at least 10'
    >>> degree_day_fit_refusal(np.linspace(10, 12, 20)).split(";")[0]
    'daily HDD spread only 2.0 K·day (10.0 to 12.0)'
    >>> degree_day_fit_refusal(np.linspace(5, 15, 20)) is None
    True
    """
    days = int(daily_hdd.size)
    if days < MIN_DEGREE_DAY_FIT_DAYS:
        return (
            f"only {days} whole days with energy and HDD; a degree-day fit needs at least "
            f"{MIN_DEGREE_DAY_FIT_DAYS}"
        )
    low, high = float(daily_hdd.min()), float(daily_hdd.max())
    if high - low < MIN_HDD_SPREAD:
        return (
            f"daily HDD spread only {high - low:.1f} K·day ({low:.1f} to {high:.1f}); the fit "
            f"needs at least {MIN_HDD_SPREAD:g} K·day between the coldest and mildest day to "
            "tell the weather's part"
        )
    return None


@dataclass(frozen=True)
class _Normalisation:
    model: BaselineModel | None = None
    normalised: NormalisedEnergy | None = None
    hdd_normal_source: str | None = None
    days_left_out: tuple[date, ...] = ()
    refused: str | None = None


def _attributable_energy(meters: list[MeterPeriod], days: list[date]) -> np.ndarray:
    """Delivered kWh per day; NaN where the readings of some meter do not span the day."""
    return np.array(
        [
            sum(m.daily_kwh.get(day, math.nan) for m in meters)
            if all(day in m.spanned_days for m in meters)
            else math.nan
            for day in days
        ]
    )


def _dates_text(days: tuple[date, ...]) -> str:
    shown = ", ".join(day.isoformat() for day in days[:10])
    return shown + (f" and {len(days) - 10} more" if len(days) > 10 else "")


def _normalise(
    meters: list[MeterPeriod],
    dates: np.ndarray,
    degree_days: HeatingDegreeDays,
    normals: _NormalDegreeDays,
    notes: list[str],
) -> _Normalisation:
    """Fit daily delivered energy on daily HDD over whole days, then normalise if normals exist.

    A day enters the model only when every meter's readings span it
    (``energy.register_spans_days``, as IPMVP savings require); the others are left out
    and returned.
    """
    days = [d.item() for d in dates]
    energy = _attributable_energy(meters, days)
    left_out = tuple(day for day, kwh in zip(days, energy, strict=True) if math.isnan(kwh))
    if left_out and meters:
        notes.append(
            f"degree-day model: {len(left_out)} of {len(days)} whole local days left out, "
            "their energy cannot be attributed to the day (the readings of a meter do not "
            f"reach within {REGISTER_EDGE_TOLERANCE / HOUR:g} h of both midnights: a gap across "
            f"midnight, or no data): {_dates_text(left_out)}"
        )
    usable = ~np.isnan(energy) & ~np.isnan(degree_days.per_day)
    if (too_little := degree_day_fit_refusal(degree_days.per_day[usable])) is not None:
        notes.append(f"degree-day model not fitted: {too_little}")
        return _Normalisation(days_left_out=left_out, refused=too_little)
    try:
        model = fit_baseline(energy[usable], degree_days.per_day[usable], granularity="daily")
    except BaselineRejected as refused:
        notes.append(f"degree-day model not used for normalisation: {refused}")
        return _Normalisation(days_left_out=left_out, refused=str(refused))
    except ValueError as problem:
        notes.append(f"degree-day model not fitted: {problem}")
        return _Normalisation(days_left_out=left_out, refused=str(problem))
    unnormalised = _Normalisation(model, days_left_out=left_out)
    used_days = [day for day, use in zip(days, usable, strict=True) if use]
    normal = normals.of(used_days, len(days))
    if normal is None:
        notes.append(
            "energy not normalised: give hdd_normal (normal-year HDD of the same days), or "
            "set analytics.hdd_normal in the campus registry, to normalise the "
            "temperature-dependent part"
        )
        return unnormalised
    hdd_normal, source, proration = normal
    if proration:
        notes.append(proration)
    hdd_actual = float(degree_days.per_day[usable].sum())
    if hdd_actual <= 0:
        notes.append("energy not normalised: no heating degree days in the period")
        return unnormalised
    measured = float(energy[usable].sum())
    base = model.intercept_kwh * int(usable.sum())
    if not 0 <= base <= measured:
        notes.append(
            f"energy not normalised: the model's base load β0 × days = {base:.0f} kWh is "
            f"outside 0..{measured:.0f} kWh measured, so it does not split this period"
        )
        return unnormalised
    normalised = degree_day_normalised_energy(measured, base, hdd_actual, hdd_normal)
    notes.append(
        f"normalised over {int(usable.sum())} whole days: E_base = β0 × days from the daily "
        f"degree-day model; HDD_normal {hdd_normal:.1f} K·day from {source}"
    )
    return _Normalisation(model, normalised, source, left_out)
