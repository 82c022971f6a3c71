"""Indoor climate of a space over a period: read through the store port, computed by the metrics.

Composition only: hourly means come from ``ReadingStore.read_resampled`` (no
SQL, no backend specifics), every assumption from the campus registry, every
figure from the pure functions of ``ieq`` and ``comfort``, which cite their
sources (EN 16798-1:2019, ISO 7730, FHI's 1000 ppm norm).

Choices made here, where METRICS.md is silent:

- The period is widened to whole UTC hours, as in ``kpis`` (the store's 1 h
  buckets are aligned to the UTC hour).
- An hour is occupied when its mean headcount is > 0 (so an hour with anyone
  present for part of it counts); an hour without an occupancy reading is not
  occupied and is counted in ``hours_without_occupancy_data``.
- Every figure uses the hour's mean: CO₂, air temperature, relative humidity.
  No mean radiant temperature is measured, so the operative temperature is the
  air temperature (EN 16798-1 / ISO 7730: t_o = (t_a + t_r) / 2 with t_r = t_a).
- Heating or cooling season by the local date of the hour
  (``AnalyticsSettings.heating_season``, default 1 Oct–30 Apr).
- Data quality (METRICS.md): readings flagged by the quality checks are left
  out of the hourly means (``kpis.read_hourly_screened``), and
  ``points_excluded`` counts them per quantity over the hours used (every
  hour for occupancy, occupied hours for the rest; all hours read for the
  outdoor temperature).
- The adaptive model needs the running-mean outdoor temperature, from daily
  means of the site's weather station (``site.weather_station``) over the 7
  days before each day, or from a series the caller passes. Without either it
  is not computed, and ``adaptive_note`` says why.
- Outdoor CO₂ (EN 16798-1: ΔCO₂ = indoor − outdoor; METRICS.md: "from an
  outdoor sensor if one exists"): when the site's weather station has CO₂
  readings in the period, each hour is matched with the station's hourly mean
  of the same hour (flagged readings left out); an hour the station did not
  report takes the station's median over the period, which is closer to that
  period's outdoor air than a fixed figure. A station without CO₂ readings in
  the period (or no station) gives the site's ``analytics.outdoor_co2_ppm``
  setting for every hour. ``outdoor_co2_source`` says which: "station <id>" or
  "setting".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import ClassVar

import numpy as np

from campuslab.analytics.comfort import (
    RUNNING_MEAN_DAYS,
    AdaptiveCategoryHours,
    PmvCategoryHours,
    adaptive_category_hours,
    daily_running_mean_outdoor_temperature,
    pmv_category_hours,
    pmv_ppd,
)
from campuslab.analytics.energy import daily_mean_temperature
from campuslab.analytics.ieq import (
    CategoryHours,
    Co2CategoryHours,
    co2_category_hours,
    heating_season_mask,
    humidity_category_hours,
    operative_temperature_category_hours,
)
from campuslab.analytics.kpis import NotInRegistry, hour_grid, read_hourly_screened
from campuslab.analytics.local_time import local_dates
from campuslab.core.readings import Series
from campuslab.core.registry import Campus
from campuslab.core.store.port import Aggregate, ReadingStore

HOUR = timedelta(hours=1)
_HOUR64 = np.timedelta64(1, "h").astype("timedelta64[us]")


@dataclass(frozen=True)
class ComfortAssumptions:
    """What the comfort figures assume where nothing is measured (the site's settings)."""

    met: float
    clo_heating: float
    clo_cooling: float
    air_speed_m_s: float
    dynamic_clothing: bool
    mean_radiant_temperature: str
    outdoor_co2_ppm: float
    heating_season: str


@dataclass(frozen=True)
class OutdoorCo2:
    """Outdoor CO₂ for each hour of a grid, and where it came from.

    Attributes:
        hourly_ppm: outdoor CO₂ per grid hour, ppm (no NaN).
        source: "station <id>" (the weather station's readings) or "setting"
            (``analytics.outdoor_co2_ppm``).
        ppm: the figure that stands for the period: the station's median over the
            hours it reported, or the setting.
        hours_from_station: grid hours matched with the station's own hourly mean; the
            others (when the source is the station) take its median.
        points_excluded: flagged station CO₂ readings left out.
    """

    hourly_ppm: np.ndarray = field(hash=False, repr=False)
    source: str
    ppm: float
    hours_from_station: int = 0
    points_excluded: int = 0


def outdoor_co2(store: ReadingStore, campus: Campus, grid: np.ndarray) -> OutdoorCo2:
    """Outdoor CO₂ per hour: the weather station's, hour by hour, else the site's setting.

    EN 16798-1:2019 categorises ΔCO₂ = indoor − outdoor, and METRICS.md takes outdoor
    CO₂ "from an outdoor sensor if one exists", 420 ppm by default. Hourly matching is
    used because outdoor CO₂ moves with the hour (traffic, the boundary layer at night)
    by tens of ppm, a category boundary's worth at the margin.

    Args:
        store: the reading store.
        campus: the registry (its weather station and ``analytics.outdoor_co2_ppm``).
        grid: UTC hour starts, as from ``kpis.hour_grid``.
    """
    setting = campus.analytics.outdoor_co2_ppm
    station = campus.weather_station
    if station is not None and grid.size:
        screened = read_hourly_screened(store, "co2", grid, [station.id])
        values = screened.values[Aggregate.MEAN][0]
        known = ~np.isnan(values)
        if known.any():
            median = float(np.median(values[known]))
            return OutdoorCo2(
                hourly_ppm=np.where(known, values, median),
                source=f"station {station.id}",
                ppm=median,
                hours_from_station=int(known.sum()),
                points_excluded=int(screened.excluded[0].sum()),
            )
    return OutdoorCo2(np.full(grid.shape, float(setting)), "setting", float(setting))


def co2_category_hours_hourly_outdoor(
    hourly_co2: np.ndarray, hourly_occupancy: np.ndarray, outdoor: OutdoorCo2
) -> Co2CategoryHours:
    """``ieq.co2_category_hours`` with an outdoor CO₂ per hour instead of one figure.

    The category depends on ΔCO₂ = indoor − outdoor only, so each hour's indoor value
    is moved to the same ΔCO₂ above ``outdoor.ppm`` and categorised against it; FHI's
    1000 ppm norm is absolute and is counted on the indoor values as measured. A value
    moved below 0 ppm is ΔCO₂ far below 0, category I either way, and is held at 0.
    """
    indoor = np.asarray(hourly_co2, dtype=np.float64)
    against = np.maximum(indoor - outdoor.hourly_ppm + outdoor.ppm, 0.0)
    categories = co2_category_hours(against, hourly_occupancy, outdoor.ppm)
    absolute = co2_category_hours(indoor, hourly_occupancy, outdoor.ppm)
    return dataclasses.replace(categories, hours_above_fhi_limit=absolute.hours_above_fhi_limit)


@dataclass(frozen=True)
class SpaceIeq:
    """Indoor environmental quality of one space over a period, as shares of occupied hours.

    Attributes:
        space_id: the space.
        start, end: the period, UTC, widened to whole hours: [start, end).
        hours_in_period: hours in [start, end).
        occupied_hours: hours with mean occupancy > 0 (the denominator pool).
        hours_without_occupancy_data: hours with no occupancy reading; never occupied.
        heating_season_occupied_hours, cooling_season_occupied_hours: the occupied
            hours by season.
        co2: EN 16798-1 ΔCO₂ categories and hours above FHI's 1000 ppm (absolute).
        operative_temperature: EN 16798-1 categories by season.
        relative_humidity: EN 16798-1 categories.
        pmv: ISO 7730 categories A/B/C/outside, mean PMV and PPD.
        adaptive: EN 16798-1 adaptive categories; None without an outdoor series.
        adaptive_note: why ``adaptive`` is None, or where its outdoor series came from.
        assumptions: met, clo, air speed, t_r, outdoor CO₂, heating season used.
        outdoor_co2_source: "station <id>" when the weather station's CO₂ readings were
            used (hour by hour), "setting" for ``analytics.outdoor_co2_ppm``.
        outdoor_co2_hours_from_station: hours matched with the station's own hourly mean.
        points_excluded: flagged readings left out, per quantity ('outdoor_temperature'
            and 'outdoor_co2' for the weather station's).
        units: the unit of each figure.
    """

    UNITS: ClassVar[dict[str, str]] = {
        "hours": "h (hourly means; shares are fractions of occupied hours)",
        "co2": "ppm; ΔCO₂ is indoor minus outdoor",
        "operative_temperature": "°C",
        "relative_humidity": "%RH",
        "pmv": "PMV (ISO 7730 seven-point scale)",
        "ppd": "%",
        "running_mean_outdoor_temperature": "°C",
    }

    space_id: str
    start: datetime
    end: datetime
    hours_in_period: int
    occupied_hours: int
    hours_without_occupancy_data: int
    heating_season_occupied_hours: int
    cooling_season_occupied_hours: int
    co2: Co2CategoryHours
    operative_temperature: CategoryHours
    relative_humidity: CategoryHours
    pmv: PmvCategoryHours
    adaptive: AdaptiveCategoryHours | None
    adaptive_note: str
    assumptions: ComfortAssumptions
    points_excluded: dict[str, int] = field(default_factory=dict, hash=False)
    units: dict[str, str] = field(default_factory=lambda: dict(SpaceIeq.UNITS), hash=False)
    outdoor_co2_source: str = "setting"
    outdoor_co2_hours_from_station: int = 0

    @property
    def hours_above_fhi_limit(self) -> int:
        """Occupied hours with CO₂ above FHI's 1000 ppm norm."""
        return self.co2.hours_above_fhi_limit


def utc_period(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    for name, moment in (("start", start), ("end", end)):
        if not isinstance(moment, datetime) or moment.utcoffset() is None:
            raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        raise ValueError(f"end ({end.isoformat()}) must be after start ({start.isoformat()})")
    return start, end


def hourly_means(series: Series) -> tuple[np.ndarray, np.ndarray]:
    """(UTC hour starts, mean of each hour) of any series; hours without values are left out."""
    if len(series) == 0:
        return np.array([], dtype="datetime64[us]"), np.array([])
    ts = series.ts.astype("datetime64[us]")
    known = ~np.isnan(series.values)
    hours, index = np.unique(ts[known].astype("datetime64[h]"), return_inverse=True)
    sums = np.bincount(index, weights=series.values[known], minlength=hours.size)
    counts = np.bincount(index, minlength=hours.size)
    return hours.astype("datetime64[us]"), sums / counts


@dataclass(frozen=True)
class OutdoorTemperature:
    """Hourly mean outdoor temperature and where it came from.

    Attributes:
        hour_starts: UTC hour starts with a value, datetime64[us]; None when there is none.
        celsius: the hourly means, °C.
        source: where the series came from, or why there is none.
        points_excluded: flagged weather-station readings left out.
    """

    hour_starts: np.ndarray | None
    celsius: np.ndarray | None
    source: str
    points_excluded: int = 0


def outdoor_temperature(
    store: ReadingStore,
    campus: Campus,
    start: datetime,
    end: datetime,
    outdoor: Series | None = None,
    days_before: int = 0,
) -> OutdoorTemperature:
    """Hourly outdoor temperature from ``days_before`` local days before ``start`` to ``end``.

    From ``outdoor`` when given (any resolution; hourly means are taken), else from
    the site's weather station (hourly means, flagged readings left out). Without
    either, ``hour_starts`` is None and ``source`` says what is needed.
    """
    if outdoor is not None:
        hours, values = hourly_means(outdoor)
        return OutdoorTemperature(hours, values, "outdoor temperature series given by the caller")
    station = campus.weather_station
    if station is None:
        return OutdoorTemperature(
            None,
            None,
            "needs an outdoor temperature series: the campus registry has no "
            "site.weather_station; add one or pass outdoor=<Series of °C>",
        )
    local_start = start.astimezone(campus.tz).date() - timedelta(days=days_before)
    read_from = datetime.combine(local_start, time(0), campus.tz).astimezone(UTC)
    _, _, grid = hour_grid(read_from, end)
    screened = read_hourly_screened(store, "temperature", grid, [station.id])
    values = screened.values[Aggregate.MEAN][0]
    known = ~np.isnan(values)
    if not known.any():
        return OutdoorTemperature(
            None,
            None,
            f"weather station {station.id!r} has no temperature readings "
            f"from {read_from.isoformat()} to {end.isoformat()}",
        )
    return OutdoorTemperature(
        grid[known],
        values[known],
        f"weather station {station.id!r}",
        int(screened.excluded[0].sum()),
    )


def _running_mean_per_hour(
    grid: np.ndarray, campus: Campus, outdoor: OutdoorTemperature
) -> np.ndarray:
    daily = daily_mean_temperature(outdoor.hour_starts, outdoor.celsius, campus.tz)
    running = daily_running_mean_outdoor_temperature(daily.mean_c)
    per_hour = np.full(grid.shape, np.nan)
    if daily.dates.size == 0:
        return per_hour
    slot = (local_dates(grid, campus.tz) - daily.dates[0]).astype(np.int64)
    inside = (slot >= 0) & (slot < daily.dates.size)
    per_hour[inside] = running[slot[inside]]
    return per_hour


def space_ieq(
    store: ReadingStore,
    campus: Campus,
    space_id: str,
    start: datetime,
    end: datetime,
    outdoor: Series | None = None,
) -> SpaceIeq:
    """Indoor environmental quality of a space: shares of occupied hours in each category.

    Reads hourly means of occupancy, CO₂, temperature and humidity of the space
    (``read_resampled``, with flagged readings left out) and, for the adaptive
    model, the outdoor temperature of the site's weather station from 8 days
    before the period (the running mean of the first day needs the 7 before it).
    ΔCO₂ is against the weather station's CO₂ of the same hour when the station
    reports CO₂, else against ``analytics.outdoor_co2_ppm`` (``outdoor_co2``;
    ``outdoor_co2_source`` says which).

    Args:
        store: the reading store.
        campus: the campus registry (time zone, analytics settings, weather station).
        space_id: a space id from the registry.
        start, end: the period, timezone-aware; half-open, widened to whole UTC hours.
        outdoor: outdoor temperature, °C, at any resolution; overrides the weather
            station (needed for the adaptive model when the registry has none).

    Raises:
        NotInRegistry: the space is not in the registry.
        ValueError: naive datetimes, or end not after start.
    """
    space = campus.space(space_id)
    if space is None:
        raise NotInRegistry(f"unknown space {space_id!r}: not in the campus registry")
    first, last_end, grid = hour_grid(*utc_period(start, end))
    settings = campus.analytics
    hourly, excluded = {}, {}
    for quantity in ("occupancy", "co2", "temperature", "humidity"):
        screened = read_hourly_screened(store, quantity, grid, [space_id])
        hourly[quantity] = screened.values[Aggregate.MEAN][0]
        excluded[quantity] = screened.excluded[0]
    occupancy = hourly["occupancy"]
    operative = hourly["temperature"]  # t_r = t_a: no radiant temperature is measured
    season = settings.heating_season
    heating = heating_season_mask(grid, campus.tz, season.first, season.last)
    occupied = occupancy > 0
    comfort = settings.comfort
    votes = pmv_ppd(
        operative,
        hourly["humidity"],  # ingest keeps humidity within 0..100 %RH, so its means are too
        heating,
        met=comfort.met,
        clo_heating=comfort.clo_heating,
        clo_cooling=comfort.clo_cooling,
        air_speed_m_s=comfort.air_speed_m_s,
        dynamic_clothing=comfort.dynamic_clothing,
    )
    outside = outdoor_temperature(
        store, campus, first, last_end, outdoor, days_before=RUNNING_MEAN_DAYS + 1
    )
    adaptive, source = None, outside.source
    if outside.hour_starts is not None:
        running = _running_mean_per_hour(grid, campus, outside)
        adaptive = adaptive_category_hours(operative, running, occupancy, comfort.air_speed_m_s)
        source = f"running mean (α = 0.8, 7 days) from {outside.source}"
    points_excluded = {"occupancy": int(excluded["occupancy"].sum())}
    for quantity in ("co2", "temperature", "humidity"):
        points_excluded[quantity] = int(excluded[quantity][occupied].sum())
    points_excluded["outdoor_temperature"] = outside.points_excluded
    outdoor = outdoor_co2(store, campus, grid)
    if outdoor.source != "setting":
        points_excluded["outdoor_co2"] = outdoor.points_excluded
    return SpaceIeq(
        space_id=space_id,
        start=first,
        end=last_end,
        hours_in_period=int(grid.size),
        occupied_hours=int(occupied.sum()),
        hours_without_occupancy_data=int(np.isnan(occupancy).sum()),
        heating_season_occupied_hours=int((occupied & heating).sum()),
        cooling_season_occupied_hours=int((occupied & ~heating).sum()),
        co2=co2_category_hours_hourly_outdoor(hourly["co2"], occupancy, outdoor),
        operative_temperature=operative_temperature_category_hours(operative, occupancy, heating),
        relative_humidity=humidity_category_hours(hourly["humidity"], occupancy),
        pmv=pmv_category_hours(votes.pmv, votes.ppd, occupancy),
        adaptive=adaptive,
        adaptive_note=source,
        assumptions=ComfortAssumptions(
            met=comfort.met,
            clo_heating=comfort.clo_heating,
            clo_cooling=comfort.clo_cooling,
            air_speed_m_s=comfort.air_speed_m_s,
            dynamic_clothing=comfort.dynamic_clothing,
            mean_radiant_temperature="equal to air temperature (not measured)",
            outdoor_co2_ppm=outdoor.ppm,
            heating_season=f"{season.first_day} to {season.last_day} (local dates)",
        ),
        points_excluded=points_excluded,
        outdoor_co2_source=outdoor.source,
        outdoor_co2_hours_from_station=outdoor.hours_from_station,
    )
