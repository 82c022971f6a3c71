"""The planner report's figures: one composition that the report and the API both call.

A planner defends a decision to the university board with numbers that anyone
can check again through the API. So nothing here computes a metric of its
own: every figure comes from the functions that define it, and this module
only decides what to read once and what to hand to whom.

- ``utilisation_overview``: SMG 2006 figures pooled as seat-hours for the
  campus or one building, by building and by space type, per space, and the
  hour × weekday profile (``learning_spaces``).
- ``recommendations_overview``: right-sizing advice with its evidence
  (``recommendations.right_sizing_of`` over ``bookings.booked_vs_actual_for``,
  exactly what ``right_sizing_report`` composes).
- ``quality_overview``: the data-quality checks' QCI per sensor and day, flags
  per check and gaps for the campus or one building (``quality_kpis``).
- ``building_savings``: IPMVP Option C for one building: the daily degree-day
  baseline fitted on a baseline period and checked against ASHRAE Guideline 14
  (``savings``), and the avoided energy of a reporting period.
- ``planner_report``: everything above plus booked vs actual
  (``bookings``), IEQ per space (``climate_kpis.space_ieq``) and energy per
  building (``energy_kpis.building_energy``), over one occupancy read, and the
  savings of each building when a baseline period is given.

The API's routes call the same functions for one section each, so the report
and the API give the same numbers for the same period (tests/test_report.py).

Privacy (METRICS.md, "Privacy"): a report and most API answers go to roles
below facilities, so they follow the rules the per-space utilisation route and
the exports follow (``analytics.privacy``):

- A space with fewer than k seats is *withheld*: any presence there is a small
  count, so its use tells when its occupant is in. It is left out of every
  pool, profile, booked-vs-actual and piece of advice (``withheld_space_ids``;
  the answers list it), so that it cannot be recovered by subtracting the other
  rooms from a building's total either.
- A count of people of 1 … k − 1 is suppressed: observed headcounts of bookings
  (``protect_bookings``), evidence given in people (``protect_recommendation``),
  and a single space's peak or P95 occupancy, which times its capacity is a
  headcount (``shown_occupancy_rate``).
- Utilisation (pooled, per space, the profiles) and the energy use intensity
  are computed, as their routes compute them below facilities, from the
  published 15-minute cells, suppressed cells counted as 0 people: the caller
  hands ``planner_report`` a ``ProtectedCells`` reader
  (``api.privacy_counts.ProtectedReader``), and the report keeps the bounds
  (``PlannerReport.protection``). Booked vs actual and the advice are computed
  from the same published cells, as their routes compute them below facilities
  (``bookings`` module docstring; ``RecommendationsOverview.suppressed_cells``
  and ``protect_recommendation`` say which evidence became a bound), with the
  threshold rule above on top.

Facilities (``exact``) see everything.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Literal, Protocol

import numpy as np

from campuslab.analytics.bookings import BookedVsActual, BookingUse, booked_vs_actual_for
from campuslab.analytics.climate_kpis import SpaceIeq, outdoor_temperature, space_ieq, utc_period
from campuslab.analytics.energy import (
    daily_mean_temperature,
    heating_degree_days,
    register_consumption,
    register_spans_days,
)
from campuslab.analytics.energy_kpis import (
    ELECTRICITY,
    HEAT,
    BuildingEnergy,
    OccupantHours,
    building_energy,
)
from campuslab.analytics.kpis import REGISTER_LOOKBACK, NotInRegistry, read_register
from campuslab.analytics.learning_spaces import (
    GroupUtilisation,
    HourlyOccupancy,
    UtilisationProfile,
    group_utilisation,
    profile_of,
    read_hourly_occupancy,
)
from campuslab.analytics.privacy import DEFAULT_K, ProtectedUse, small_counts, withheld_spaces
from campuslab.analytics.quality_kpis import (
    QualityRunReport,
    SensorDayQuality,
    SensorGap,
    check_quality,
)
from campuslab.analytics.recommendations import (
    INSUFFICIENT_DATA,
    LARGER_ROOM,
    RELEASE_BOOKINGS,
    REVIEW_LOW_USE,
    SPLIT_OR_REASSIGN,
    Figure,
    Recommendation,
    RightSizingReport,
    RightSizingRules,
    right_sizing_of,
)
from campuslab.analytics.savings import (
    MIN_BASELINE_DAYS,
    AvoidedEnergy,
    BaselineModel,
    BaselineRejected,
    Guideline14Check,
    avoided_energy,
    fit_baseline,
    guideline_14_checks,
)
from campuslab.core.readings import isoformat_utc
from campuslab.core.registry import Building, Campus, Meter
from campuslab.core.store.port import ReadingStore
from campuslab.core.timetables import TimetableStore

Progress = Callable[[str], None]
PEOPLE = "people"

# What each figure rests on, cited by the report and by the API's answers (METRICS.md).
SOURCES: dict[str, str] = {
    "smg": "UK Space Management Group (2006), Space utilisation: practice, performance and "
    "guidelines: frequency rate F, occupancy rate O, utilisation U = F × O, pooled as "
    "seat-hours",
    "hesa": "HESA Estates Management Record definitions of frequency and occupancy rate: "
    "https://www.hesa.ac.uk/collection/c19042/a/frequencyrate, "
    "https://www.hesa.ac.uk/collection/c18042/a/occupancyrate",
    "hefce": "HEFCE utilisation bands as universities apply them: poor < 25 %, fair 25–35 %, "
    "good ≥ 35 % (SMG 2006 finds U ≈ 25–27 % typical)",
    "en16798": "EN 16798-1:2019, Annex B, non-residential: ΔCO₂ above outdoor I ≤ 550, "
    "II ≤ 800, III ≤ 1350, IV > 1350 ppm; operative temperature and relative humidity "
    "categories; adaptive model (values from secondary sources, marked for verification "
    "against the standard)",
    "fhi": "Folkehelseinstituttet's recommended norm CO₂ ≤ 1000 ppm (Arbeidstilsynet guidance 444)",
    "iso7730": "ISO 7730:2005: PMV/PPD (pythermalcomfort 4.x pmv_ppd_iso) and categories "
    "A |PMV| < 0.2, B < 0.5, C < 0.7",
    "price2010": "Price (2010), Methods for analyzing electric load shape and its "
    "variability, LBNL-3713E: near-base and near-peak load, ratios",
    "ssb2011": "SSB, energy use by building type: Norwegian university and college "
    "buildings 238 kWh/m² in 2011",
    "degree_days": "Heating degree days, base 17 °C (Norway): HDD = Σ max(0, 17 − daily "
    "mean); only the temperature-dependent part is normalised",
    "ghg_scope2": "GHG Protocol Scope 2 Guidance (2015): location-based and market-based "
    "figures side by side",
    "nve": "NVE: location-based factors for delivered electricity (2019 17, 2020 8, "
    "2022 19, 2023 15 g CO₂e/kWh) and residual mix 2020 402 g/kWh; a year without a "
    "factor uses the nearest earlier year's",
    "pecos": "QCI = points passing all checks / all points, per sensor and day, as in "
    "Sandia's pecos; flagged points are left out of every KPI and counted",
    "ipmvp": "IPMVP Option C (whole facility): a baseline E = β0 + βH·HDD fitted on the "
    "baseline period; avoided energy = Σ(adjusted baseline − measured) over the reporting "
    "period",
    "ashrae_g14": "ASHRAE Guideline 14 goodness of fit before a baseline is used: "
    "CV(RMSE) = √(Σ(y − ŷ)²/(n − p))/ȳ and NMBE = Σ(y − ŷ)/((n − p)·ȳ); daily data: "
    "CV(RMSE) ≤ 20 %, |NMBE| ≤ 5 % (CampusLab's reading, see analytics/savings.py)",
    "privacy": "Counts of people shown below the facilities role are suppressed when "
    "1 … k − 1 (k = 5 by default); spaces with fewer than k seats show no counts",
}


# -- scope -------------------------------------------------------------------------------


def scope_building(campus: Campus, building_id: str | None) -> Building | None:
    """The building a scope names, None for the whole campus.

    Raises:
        NotInRegistry: an unknown building id.
    """
    if building_id is None:
        return None
    building = campus.building(building_id)
    if building is None:
        raise NotInRegistry(f"unknown building {building_id!r}: not in the campus registry")
    return building


class NoSpaces(LookupError):
    """No space to report on: a building without spaces, or every space withheld."""


class NoData(LookupError):
    """No reading at all for the scope's sensors in the period: a report would be all zeros
    and blanks, and its advice made up; say "no data" instead."""


def scope_space_ids(campus: Campus, building_id: str | None) -> list[str]:
    """The spaces of the campus, or of one building, in registry order.

    Raises:
        NotInRegistry: an unknown building id.
        NoSpaces: a building without spaces.
    """
    building = scope_building(campus, building_id)
    if building is None:
        return [space.id for _, space in campus.spaces()]
    if not building.spaces:
        raise NoSpaces(f"building {building_id!r} has no spaces in the campus registry")
    return [space.id for space in building.spaces]


def withheld_space_ids(
    campus: Campus, space_ids: Sequence[str], k: int = DEFAULT_K, exact: bool = False
) -> tuple[str, ...]:
    """The spaces left out below facilities: fewer than k seats (``privacy.withheld_spaces``)."""
    if exact:
        return ()
    return tuple(s for s in space_ids if is_withheld(campus.space(s).capacity, k))


def visible_space_ids(
    campus: Campus, building_id: str | None, withheld: Collection[str] = ()
) -> list[str]:
    """The scope's spaces that are not withheld, in registry order.

    Raises:
        NotInRegistry: an unknown building id.
        NoSpaces: a building without spaces, or with only withheld ones.
    """
    space_ids = [s for s in scope_space_ids(campus, building_id) if s not in withheld]
    if not space_ids:
        scope = "the campus" if building_id is None else f"building {building_id!r}"
        raise NoSpaces(
            f"every space of {scope} has fewer seats than the privacy threshold k (or it has "
            "no spaces): its use is withheld below the facilities role"
        )
    return space_ids


def subset(hourly: HourlyOccupancy, space_ids: Sequence[str]) -> HourlyOccupancy:
    """The rows of ``space_ids`` of occupancy already read (no store)."""
    rows = [hourly.row(space_id) for space_id in space_ids]
    return dataclasses.replace(
        hourly,
        space_ids=tuple(space_ids),
        capacities=hourly.capacities[rows],
        counts=hourly.counts[rows],
        peaks=hourly.peaks[rows],
        points_excluded=hourly.points_excluded[rows],
    )


# -- utilisation -------------------------------------------------------------------------


@dataclass(frozen=True)
class UtilisationOverview:
    """SMG 2006 utilisation of the campus or one building, pooled as seat-hours.

    Attributes:
        scope: "campus" or "building".
        total: the pooled figures of the whole scope (its key is the site or building id).
        by_building: one group per building (campus scope; a building scope has its own).
        by_space_type: one group per space type in the scope.
        by_space: one group per space, sorted by key (the report ranks them).
        profile: hour × weekday profile of the scope, when asked for.
        points_excluded: flagged occupancy readings left out of the core hours.
        withheld: the scope's spaces left out for privacy (fewer than k seats).
    """

    scope: str
    total: GroupUtilisation
    by_building: tuple[GroupUtilisation, ...]
    by_space_type: tuple[GroupUtilisation, ...]
    by_space: tuple[GroupUtilisation, ...]
    profile: UtilisationProfile | None
    points_excluded: int
    withheld: tuple[str, ...] = ()

    @property
    def period_start(self) -> datetime:
        return self.total.period_start

    @property
    def period_end(self) -> datetime:
        return self.total.period_end


def utilisation_overview_of(
    campus: Campus,
    hourly: HourlyOccupancy,
    building_id: str | None = None,
    profile: bool = False,
    withheld: Collection[str] = (),
) -> UtilisationOverview:
    """``utilisation_overview`` over occupancy already read (no store).

    ``hourly`` may hold more spaces than the scope; only the scope's that are not
    ``withheld`` are used.
    """
    scoped = subset(hourly, _visible(campus, hourly, building_id, withheld))
    group = "campus" if building_id is None else "building"
    [total] = group_utilisation(campus, scoped, group)  # the scope's spaces make one group
    return UtilisationOverview(
        scope=group,
        total=total,
        by_building=tuple(group_utilisation(campus, scoped, "building")),
        by_space_type=tuple(group_utilisation(campus, scoped, "space_type")),
        by_space=tuple(group_utilisation(campus, scoped, "space")),
        profile=profile_of(campus, scoped) if profile else None,
        points_excluded=total.utilisation.points_excluded,
        withheld=tuple(withheld),
    )


def _visible(
    campus: Campus, hourly: HourlyOccupancy, building_id: str | None, withheld: Collection[str]
) -> list[str]:
    read = set(hourly.space_ids)
    return [s for s in visible_space_ids(campus, building_id, withheld) if s in read]


def utilisation_overview(
    store: ReadingStore,
    campus: Campus,
    start: datetime,
    end: datetime,
    building_id: str | None = None,
    profile: bool = False,
    withheld: Collection[str] = (),
) -> UtilisationOverview:
    """Utilisation of the campus (or of one building) over a period's core hours.

    One occupancy read for every space of the scope (``read_hourly_occupancy``),
    then ``learning_spaces.group_utilisation`` for the scope, its buildings, its
    space types and its spaces, and ``profile_of`` for the hour × weekday profile.

    Args:
        store: the reading store.
        campus: the registry (core hours, threshold and hourly rule from its settings).
        start, end: the period, timezone-aware, half-open; widened to whole UTC hours.
        building_id: one building, or None for the campus.
        profile: also compute the hour × weekday profile.
        withheld: spaces to leave out (``withheld_space_ids`` for a role below facilities).

    Raises:
        NotInRegistry: an unknown building id.
        NoSpaces: no space left in the scope.
        ValueError: naive datetimes, or end not after start.
    """
    space_ids = visible_space_ids(campus, building_id, withheld)
    hourly = read_hourly_occupancy(store, campus, start, end, space_ids)
    return utilisation_overview_of(campus, hourly, building_id, profile, withheld)


# -- recommendations ---------------------------------------------------------------------


@dataclass(frozen=True)
class RecommendationsOverview:
    """Right-sizing advice for the campus or a building, and what it rests on.

    Attributes:
        report: the advice (``recommendations.RightSizingReport``), largest impact first.
        spaces_with_timetable: spaces whose no-show rule could run.
        points_excluded: flagged occupancy readings left out of the core hours.
        withheld: the scope's spaces left out for privacy (fewer than k seats).
        suppressed_cells: below facilities, per space, the suppressed 15-minute cells
            (site's hourly rule) in its core hours, counted as 0 people; empty when exact.
    """

    report: RightSizingReport
    spaces_with_timetable: tuple[str, ...]
    points_excluded: int
    withheld: tuple[str, ...] = ()
    suppressed_cells: Mapping[str, int] = field(default_factory=dict, hash=False)


def booked_vs_actual_of_scope(
    campus: Campus,
    hourly: HourlyOccupancy,
    timetables: TimetableStore | None,
    protection: ProtectedUse | None = None,
) -> dict[str, BookedVsActual]:
    """Booked vs actual of every space of ``hourly`` that has an imported timetable.

    ``protection``: the bounds behind ``hourly`` when it comes from the published cells.
    """
    if timetables is None:
        return {}
    stored = set(timetables.spaces())
    with_timetable = [s for s in hourly.space_ids if s in stored]
    return booked_vs_actual_for(campus, hourly, timetables, with_timetable, protection)


def recommendations_overview_of(
    campus: Campus,
    hourly: HourlyOccupancy,
    booked: Mapping[str, BookedVsActual],
    rules: RightSizingRules | None = None,
    withheld: Collection[str] = (),
    protection: ProtectedUse | None = None,
) -> RecommendationsOverview:
    """``recommendations_overview`` over occupancy and bookings already read (no store).

    ``hourly`` holds the spaces to advise on (without the withheld ones); ``protection``
    the bounds behind it when it comes from the published cells (below facilities).
    """
    report = right_sizing_of(campus, hourly, dict(booked), rules)
    suppressed = {}
    if protection is not None:
        cells = protection.by_rule.suppressed[protection.core]
        suppressed = {
            space_id: int(cells[:, protection.space_ids.index(space_id)].sum())
            for space_id in hourly.space_ids
        }
    return RecommendationsOverview(
        report=report,
        spaces_with_timetable=tuple(booked),
        points_excluded=int(hourly.points_excluded[:, hourly.core].sum()),
        withheld=tuple(withheld),
        suppressed_cells=suppressed,
    )


def recommendations_overview(
    store: ReadingStore,
    campus: Campus,
    start: datetime,
    end: datetime,
    timetables: TimetableStore | None = None,
    building_id: str | None = None,
    rules: RightSizingRules | None = None,
    withheld: Collection[str] = (),
    protected: ProtectedCells | None = None,
) -> RecommendationsOverview:
    """Right-sizing advice over a period's core hours, as ``right_sizing_report`` gives it,
    for the scope's spaces that are not ``withheld``.

    With ``protected`` (below facilities) the occupancy, and so the advice and its
    evidence, comes from the published 15-minute cells (``ProtectedCells``).

    Raises:
        NotInRegistry: an unknown building id.
        NoSpaces: no space left in the scope.
        ValueError: naive datetimes, or end not after start.
    """
    space_ids = visible_space_ids(campus, building_id, withheld)
    if protected is None:
        hourly, protection = read_hourly_occupancy(store, campus, start, end, space_ids), None
    else:
        hourly, protection = protected.hourly(space_ids, start, end)
    booked = booked_vs_actual_of_scope(campus, hourly, timetables, protection)
    return recommendations_overview_of(campus, hourly, booked, rules, withheld, protection)


# -- data quality ------------------------------------------------------------------------


@dataclass(frozen=True)
class QualityOverview:
    """The data-quality checks' findings for the campus or one building.

    Attributes:
        start, end: the window checked, UTC.
        points: readings in the window.
        flagged_points: readings failing at least one check (the KPIs leave them out).
        flagged_by_check: check -> readings it flagged.
        missing_points: expected readings that never came (the gaps).
        days: per sensor, quantity and local day.
        gaps: every gap.
        series_without_data: (sensor, quantity) with no reading in the window.
    """

    start: datetime
    end: datetime
    points: int
    flagged_points: int
    flagged_by_check: Mapping[str, int] = field(hash=False)
    missing_points: int = 0
    days: tuple[SensorDayQuality, ...] = ()
    gaps: tuple[SensorGap, ...] = ()
    series_without_data: tuple[tuple[str, str], ...] = ()

    @property
    def qci(self) -> float:
        """Readings passing every check / all readings (Pecos' QCI); NaN without readings."""
        return (self.points - self.flagged_points) / self.points if self.points else math.nan


def quality_overview_of(
    campus: Campus,
    report: QualityRunReport,
    building_id: str | None = None,
    withheld: Collection[str] = (),
) -> QualityOverview:
    """The part of a run report that concerns the scope's sensors (all of it for the campus),
    without the sensors of ``withheld`` spaces."""
    building = scope_building(campus, building_id)
    if building is None and not withheld:
        sensors = None
    else:
        buildings = [building] if building is not None else campus.buildings
        sensors = {s.id for b in buildings for s in b.spaces if s.id not in withheld}
        sensors |= {m.id for b in buildings for m in b.meters}
    days = tuple(d for d in report.days if sensors is None or d.sensor in sensors)
    gaps = tuple(g for g in report.gaps if sensors is None or g.sensor in sensors)
    by_check = dict.fromkeys(report.flagged_by_check, 0)
    for day in days:
        for check, count in day.flagged_by_check.items():
            by_check[check] = by_check.get(check, 0) + int(count)
    return QualityOverview(
        start=report.start,
        end=report.end,
        points=sum(d.points for d in days),
        flagged_points=sum(d.flagged for d in days),
        flagged_by_check=by_check,
        missing_points=sum(g.missing for g in gaps),
        days=days,
        gaps=gaps,
        series_without_data=tuple(
            s for s in report.series_without_data if sensors is None or s[0] in sensors
        ),
    )


def quality_overview(
    store: ReadingStore,
    campus: Campus,
    start: datetime,
    end: datetime,
    building_id: str | None = None,
) -> QualityOverview:
    """Run the data-quality checks on [start, end) (writing nothing) and keep the scope's part.

    The checks run on the raw readings as they are now (``quality_kpis.check_quality``);
    the KPIs leave out the flags that the last ``run_quality`` stored.

    Raises:
        NotInRegistry: an unknown building id.
        ValueError: naive datetimes, or end not after start.
    """
    scope_building(campus, building_id)
    report, _ = check_quality(store, campus, start, end)
    return quality_overview_of(campus, report, building_id)


# -- savings (IPMVP Option C) --------------------------------------------------------------


class SavingsUnavailable(ValueError):
    """Savings cannot be computed for these periods; the message says why and what to do.

    Attributes:
        period: the period at fault, 'baseline' or 'reporting'.
    """

    def __init__(self, message: str, period: Literal["baseline", "reporting"]) -> None:
        super().__init__(message)
        self.period = period


@dataclass(frozen=True)
class SavingsDays:
    """The whole local days of one period, with each day's energy and degree days.

    Attributes:
        requested_start, requested_end: the period asked for.
        start, end: the whole local days inside it (local midnights), UTC.
        dates: the local dates, datetime64[D].
        energy_kwh: delivered energy per day (electricity + district heat), kWh; NaN
            when the readings of a meter of the building do not span the day (within
            ``energy.REGISTER_EDGE_TOLERANCE`` of both midnights).
        hdd: heating degree days per day, K·day; NaN without a daily mean temperature.
        registers_excluded, outdoor_excluded: flagged readings left out.
    """

    requested_start: datetime
    requested_end: datetime
    start: datetime
    end: datetime
    dates: np.ndarray = field(hash=False, repr=False)
    energy_kwh: np.ndarray = field(hash=False, repr=False)
    hdd: np.ndarray = field(hash=False, repr=False)
    registers_excluded: int = 0
    outdoor_excluded: int = 0

    @property
    def used(self) -> np.ndarray:
        """Days with both energy and degree days: the days the model sees."""
        return ~np.isnan(self.energy_kwh) & ~np.isnan(self.hdd)

    @property
    def days_without_energy(self) -> int:
        return int(np.isnan(self.energy_kwh).sum())

    @property
    def days_without_hdd(self) -> int:
        return int(np.isnan(self.hdd).sum())


@dataclass(frozen=True)
class BuildingSavings:
    """IPMVP Option C savings of one building: baseline model, checks and avoided energy.

    Attributes:
        building_id: the building.
        meters: the electricity and district-heat meters inside the measurement boundary.
        baseline, reporting: the two periods' days.
        hdd_base_c: base temperature of the degree days, °C.
        model: the daily baseline E = β0 + βH·HDD, also when Guideline 14 refused it.
        checks: the Guideline 14 checks of ``model``.
        rejection: the refusal when ``model`` fails Guideline 14, else None.
        avoided: avoided energy over the reporting days used; None when refused.
        notes: what was left out, extrapolated or assumed.
    """

    building_id: str
    meters: tuple[str, ...]
    baseline: SavingsDays
    reporting: SavingsDays
    hdd_base_c: float
    model: BaselineModel
    checks: tuple[Guideline14Check, ...]
    rejection: BaselineRejected | None
    avoided: AvoidedEnergy | None
    notes: tuple[str, ...]

    @property
    def points_excluded(self) -> dict[str, int]:
        return {
            "registers": self.baseline.registers_excluded + self.reporting.registers_excluded,
            "outdoor_temperature": self.baseline.outdoor_excluded + self.reporting.outdoor_excluded,
        }


def _local_midnights(start: datetime, end: datetime, campus: Campus) -> list[datetime]:
    """The local midnights bounding the whole local days inside [start, end), UTC."""
    first = start.astimezone(campus.tz).date()
    if datetime.combine(first, time(0), campus.tz) < start:
        first += timedelta(days=1)
    last = end.astimezone(campus.tz).date()
    days = (last - first).days
    return [
        datetime.combine(first + timedelta(days=i), time(0), campus.tz).astimezone(UTC)
        for i in range(max(days, 0) + 1)
    ]


def _us(moment: datetime) -> np.datetime64:
    return np.datetime64(moment.astimezone(UTC).replace(tzinfo=None), "us")


def _meter_days(
    store: ReadingStore, meter: Meter, midnights: list[datetime]
) -> tuple[np.ndarray, int]:
    """One register's kWh per whole day (NaN where its readings do not span the day),
    and the flagged readings left out.

    Consumption is ``energy.register_consumption`` (positive differences; a decrease is
    a reset), each interval booked to the day holding its end, as ``daily_consumption``
    books it; whether the readings span a day is ``energy.register_spans_days``.
    Flagged readings are left out as ``kpis.read_register`` leaves them out.
    """
    bounds = np.array([_us(m) for m in midnights])
    register = read_register(
        store,
        meter.id,
        meter.quantity,
        midnights[0] - REGISTER_LOOKBACK,
        midnights[-1] + timedelta(microseconds=1),
    )
    ts = register.ts
    keep_to = int(np.searchsorted(ts, bounds[-1], side="right"))
    keep_from = max(int(np.searchsorted(ts, bounds[0], side="right")) - 1, 0)
    ts, values = ts[keep_from:keep_to], register.values[keep_from:keep_to]
    left_out = register.excluded_ts
    excluded = int(((left_out > bounds[0]) & (left_out <= bounds[-1])).sum())
    days = bounds.size - 1
    kwh = np.full(days, np.nan)
    if ts.size < 2:
        return kwh, excluded
    per_interval = register_consumption(values).per_interval
    day = np.searchsorted(bounds, ts[1:] - np.timedelta64(1, "us"), side="right") - 1
    inside = (day >= 0) & (day < days)
    booked = np.bincount(day[inside], weights=per_interval[inside], minlength=days)
    spans_day = register_spans_days(ts, bounds)
    kwh[spans_day] = booked[spans_day]
    return kwh, excluded


def _savings_days(
    store: ReadingStore,
    campus: Campus,
    building: Building,
    start: datetime,
    end: datetime,
    period: Literal["baseline", "reporting"],
) -> SavingsDays:
    midnights = _local_midnights(start, end, campus)
    opens, closes = midnights[0], midnights[-1]
    if len(midnights) < 2:
        raise SavingsUnavailable(
            f"the {period} period {start.isoformat()} to {end.isoformat()} holds no whole "
            f"local day ({campus.site.timezone}); the model works on whole days: start and "
            "end it at local midnights",
            period,
        )
    dates = np.array(
        [m.astimezone(campus.tz).date() for m in midnights[:-1]], dtype="datetime64[D]"
    )
    energy = np.zeros(dates.size)
    registers_excluded = 0
    for meter in building.meters:
        if meter.quantity in (ELECTRICITY, HEAT):
            kwh, excluded = _meter_days(store, meter, midnights)
            energy += kwh  # NaN where any meter does not span the day
            registers_excluded += excluded
    hdd = np.full(dates.shape, np.nan)
    outside = outdoor_temperature(store, campus, opens, closes)
    if outside.hour_starts is not None:
        hours = outside.hour_starts
        first = np.datetime64(opens.replace(tzinfo=None), "us")
        last = np.datetime64(closes.replace(tzinfo=None), "us")
        inside = (hours >= first) & (hours < last)
        daily = daily_mean_temperature(hours[inside], outside.celsius[inside], campus.tz)
        degree_days = heating_degree_days(daily.mean_c, campus.analytics.degree_day_base_c)
        found = dict(zip(daily.dates.tolist(), degree_days.per_day.tolist(), strict=True))
        hdd = np.array([found.get(day, np.nan) for day in dates.tolist()])
    return SavingsDays(
        requested_start=start,
        requested_end=end,
        start=opens,
        end=closes,
        dates=dates,
        energy_kwh=energy,
        hdd=hdd,
        registers_excluded=registers_excluded,
        outdoor_excluded=outside.points_excluded,
    )


def _check_savings_periods(
    baseline_start: datetime, baseline_end: datetime, start: datetime, end: datetime
) -> None:
    baseline_start, baseline_end = utc_period(baseline_start, baseline_end)
    start, end = utc_period(start, end)
    if baseline_end > start:
        raise ValueError(
            f"the baseline ({baseline_start.isoformat()} to {baseline_end.isoformat()}) must "
            f"end at or before the reporting period starts ({start.isoformat()}): IPMVP "
            "compares a reporting period with an earlier baseline"
        )


def _needed(meters: Sequence[str]) -> str:
    return (
        f"readings of every meter ({', '.join(meters)}) across the day and a daily mean "
        "outdoor temperature"
    )


def _left_out(days: SavingsDays, what: str) -> str | None:
    """A note on the days of a period the model could not use, or None."""
    total, used = days.dates.size, int(days.used.sum())
    if used == total:
        return None
    reasons = []
    if days.days_without_energy:
        reasons.append(f"{days.days_without_energy} without readings of every meter across it")
    if days.days_without_hdd:
        reasons.append(f"{days.days_without_hdd} without a daily mean outdoor temperature")
    return (
        f"{what}: {total - used} of {total} whole local days left out ({'; '.join(reasons)}); "
        "their energy is in neither the measured nor the adjusted baseline figure"
    )


def _extrapolation_note(baseline: SavingsDays, reporting: SavingsDays) -> str | None:
    seen = baseline.hdd[baseline.used]
    asked = reporting.hdd[reporting.used]
    low, high = float(seen.min()), float(seen.max())
    outside = int(((asked < low) | (asked > high)).sum())
    if not outside:
        return None
    return (
        f"{outside} reporting day(s) have degree days outside the baseline's range "
        f"{low:.1f}–{high:.1f} K·day: the baseline model is extrapolated to them; a baseline "
        "that spans the reporting period's conditions is more defensible"
    )


def building_savings(
    store: ReadingStore,
    campus: Campus,
    building_id: str,
    baseline_start: datetime,
    baseline_end: datetime,
    start: datetime,
    end: datetime,
) -> BuildingSavings:
    """IPMVP Option C savings of a building: fit on the baseline, avoided energy after it.

    The building's delivered energy (its ``energy`` and ``heat_energy`` registers)
    and the heating degree days (the weather station's daily means, base
    ``AnalyticsSettings.degree_day_base_c``) are taken per whole local day. A day
    enters the model only when the readings of every meter of the building span it
    (within ``energy.REGISTER_EDGE_TOLERANCE`` of both midnights,
    ``energy.register_spans_days``) and it has a daily mean outdoor temperature:
    IPMVP Option C keeps the same measurement boundary in both periods, and a
    register gap across midnight would put several days' energy on one day. The
    daily baseline E = β0 + βH·HDD is fitted on the baseline days
    (``savings.fit_baseline``, ASHRAE Guideline 14's daily limits); avoided energy
    = Σ(predicted − measured) over the reporting days (``savings.avoided_energy``).

    Args:
        store: the reading store.
        campus: the registry.
        building_id: a building of the registry.
        baseline_start, baseline_end: the baseline period, timezone-aware, half-open.
        start, end: the reporting period, after the baseline.

    Returns:
        BuildingSavings; when Guideline 14 refuses the model, ``rejection`` says why
        and ``avoided`` is None.

    Raises:
        NotInRegistry: an unknown building.
        SavingsUnavailable: no meters, no outdoor temperature, fewer than
            ``MIN_BASELINE_DAYS`` usable baseline days, no usable reporting day, or a
            baseline the model cannot be fitted to (e.g. no spread in degree days).
        ValueError: naive datetimes, an empty period, or a baseline that does not end
            before the reporting period starts.
    """
    building = scope_building(campus, building_id)
    assert building is not None
    _check_savings_periods(baseline_start, baseline_end, start, end)
    meters = tuple(m.id for m in building.meters if m.quantity in (ELECTRICITY, HEAT))
    if not meters:
        raise SavingsUnavailable(
            f"building {building_id!r} has no electricity or district-heat meter (quantities "
            "energy, heat_energy) in the campus registry: there is no energy to save",
            "baseline",
        )
    if campus.weather_station is None:
        raise SavingsUnavailable(
            "the campus registry has no site.weather_station: the baseline needs daily "
            "heating degree days from an outdoor temperature series",
            "baseline",
        )
    baseline = _savings_days(store, campus, building, baseline_start, baseline_end, "baseline")
    used = baseline.used
    if not used.any():
        raise SavingsUnavailable(
            f"no data in the baseline: none of its {baseline.dates.size} whole local days has "
            f"{_needed(meters)}; choose a baseline when the meters and the weather station "
            "were recording",
            "baseline",
        )
    if used.sum() < MIN_BASELINE_DAYS:
        raise SavingsUnavailable(
            f"only {int(used.sum())} of the baseline's {baseline.dates.size} whole local days "
            f"have {_needed(meters)}; the baseline needs at least {MIN_BASELINE_DAYS}: choose "
            "a longer baseline, or one where the meters and the weather station have data",
            "baseline",
        )
    reporting = _savings_days(store, campus, building, start, end, "reporting")
    if not reporting.used.any():
        raise SavingsUnavailable(
            f"no data in the reporting period: none of its {reporting.dates.size} whole local "
            f"days has {_needed(meters)}, so there is nothing to compare with the baseline",
            "reporting",
        )
    try:
        model = fit_baseline(baseline.energy_kwh[used], baseline.hdd[used], granularity="daily")
        rejection = None
    except BaselineRejected as refused:
        model, rejection = refused.model, refused
    except ValueError as problem:
        raise SavingsUnavailable(
            f"the baseline model cannot be fitted: {problem}. Choose a baseline in the "
            "heating season, when the degree days vary from day to day",
            "baseline",
        ) from None
    avoided = None
    if rejection is None:
        chosen = reporting.used
        avoided = avoided_energy(model, reporting.energy_kwh[chosen], reporting.hdd[chosen])
    notes = [
        note
        for note in (
            _left_out(baseline, "baseline"),
            _left_out(reporting, "reporting period"),
            _extrapolation_note(baseline, reporting),
        )
        if note
    ]
    notes.append(
        "no uncertainty is stated for the avoided energy: CampusLab does not compute one "
        "yet (ASHRAE Guideline 14 describes a method)"
    )
    return BuildingSavings(
        building_id=building_id,
        meters=meters,
        baseline=baseline,
        reporting=reporting,
        hdd_base_c=campus.analytics.degree_day_base_c,
        model=model,
        checks=guideline_14_checks(model),
        rejection=rejection,
        avoided=avoided,
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class SavingsOutcome:
    """One building's savings in the report: the figures, or why there are none.

    Attributes:
        building_id: the building.
        savings: the figures (refused by Guideline 14 when ``savings.rejection``); None
            when they could not be computed.
        unavailable: why they could not be computed; None when ``savings`` is set.
    """

    building_id: str
    savings: BuildingSavings | None
    unavailable: str | None = None


def savings_outcome(
    store: ReadingStore,
    campus: Campus,
    building_id: str,
    baseline_start: datetime,
    baseline_end: datetime,
    start: datetime,
    end: datetime,
) -> SavingsOutcome:
    """``building_savings``, with a reason instead of ``SavingsUnavailable``."""
    try:
        savings = building_savings(
            store, campus, building_id, baseline_start, baseline_end, start, end
        )
    except SavingsUnavailable as unavailable:
        return SavingsOutcome(building_id, None, str(unavailable))
    return SavingsOutcome(building_id, savings)


# -- privacy: counts of people below facilities ------------------------------------------


@dataclass(frozen=True)
class ShownCount:
    """A count of people as a role may see it.

    Attributes:
        value: people; NaN when suppressed or not known.
        suppressed: True when the count was withheld by the small-count rule.
    """

    value: float
    suppressed: bool


def shown_count(
    value: float, k: int = DEFAULT_K, exact: bool = False, withheld: bool = False
) -> ShownCount:
    """A count of people, suppressed when it is 1 … k − 1 (or the space is withheld).

    ``exact`` callers (facilities) see every count. A withheld space (capacity < k,
    ``privacy.withheld_spaces``) shows no count of people at all below facilities.

        >>> shown_count(3.0), shown_count(12.0), shown_count(0.0)
        (ShownCount(value=nan, suppressed=True), ShownCount(value=12.0, suppressed=False), \
ShownCount(value=0.0, suppressed=False))
    """
    if exact or math.isnan(value):
        return ShownCount(float(value), False)
    if withheld or bool(small_counts(np.array([value]), k)[0]):
        return ShownCount(math.nan, True)
    return ShownCount(float(value), False)


def is_withheld(capacity: float, k: int = DEFAULT_K) -> bool:
    """Whether a space's counts of people are never shown below facilities (capacity < k)."""
    return bool(withheld_spaces(np.array([capacity]), k)[0])


def shown_occupancy_rate(
    rate: float, capacity: float, k: int = DEFAULT_K, exact: bool = False
) -> ShownCount:
    """One space's peak or P95 occupancy (n_h / C): hidden when rate × C is 1 … k − 1 people.

    The same rule as the per-space utilisation route.

        >>> shown_occupancy_rate(0.1, 30).suppressed, shown_occupancy_rate(0.5, 30).value
        (True, 0.5)
    """
    if exact or math.isnan(rate):
        return ShownCount(float(rate), False)
    if bool(small_counts(np.array([rate * capacity]), k)[0]):
        return ShownCount(math.nan, True)
    return ShownCount(float(rate), False)


@dataclass(frozen=True)
class ProtectedBookings:
    """Booked vs actual of one space with its observed headcounts as a role may see them.

    Below facilities ``result`` is computed from the published 15-minute cells
    (``bookings`` module docstring); this adds the threshold rule on top.

    Attributes:
        result: the figures (hours and rates are not counts of people; shown as they are).
        observed_peaks: per booking of ``result.bookings``, its observed peak; hidden too
            when it rests on a suppressed cell and is below k (then 1 … k − 1 people).
        mean_observed_peak: over bookings with readings.
        headcount_to_class_size_suppressed: True when Σ observed peak behind the ratio
            is a small count (the ratio times the booked sizes would give it back).
        suppressed_counts: counts withheld in this answer.
    """

    result: BookedVsActual
    observed_peaks: tuple[ShownCount, ...]
    mean_observed_peak: ShownCount
    headcount_to_class_size_suppressed: bool
    suppressed_counts: int


def protect_bookings(
    result: BookedVsActual, k: int = DEFAULT_K, exact: bool = False
) -> ProtectedBookings:
    """Suppress the observed headcounts of ``result`` for a role below facilities."""
    withheld = is_withheld(result.capacity, k)
    peaks = tuple(_observed_peak(b, k, exact, withheld) for b in result.bookings)
    mean = shown_count(result.mean_observed_peak, k, exact, withheld)
    both = [
        b.observed_peak
        for b in result.bookings
        if b.class_size is not None and not math.isnan(b.observed_peak)
    ]
    ratio_hidden = both and shown_count(float(sum(both)), k, exact, withheld).suppressed
    return ProtectedBookings(
        result=result,
        observed_peaks=peaks,
        mean_observed_peak=mean,
        headcount_to_class_size_suppressed=bool(ratio_hidden),
        suppressed_counts=sum(p.suppressed for p in peaks) + int(mean.suppressed),
    )


def _observed_peak(use: BookingUse, k: int, exact: bool, withheld: bool) -> ShownCount:
    shown = shown_count(use.observed_peak, k, exact, withheld)
    if not exact and use.observed_peak_lower_bound and use.observed_peak < k:
        return ShownCount(math.nan, True)  # a suppressed cell is the peak: 1 … k − 1 people
    return shown


# Evidence that gives a count of people back: p95 / capacity × capacity = the P95 count.
_DERIVED_FROM = {"p95_peak_occupancy": "p95_peak"}
_SUPPRESSED_HEADLINES = {
    SPLIT_OR_REASSIGN: "in 95% of its used core hours fewer than {k} of its {seats:g} seats were "
    "taken; candidate to split or reassign",
    LARGER_ROOM: "more people than its {seats:g} seats in many used core hours; candidate for a "
    "larger room",
    RELEASE_BOOKINGS: "nobody came in many booked core hours; release unused bookings",
    REVIEW_LOW_USE: "in use in few core hours; review how it is used",
    INSUFFICIENT_DATA: "insufficient data; no advice",
}


@dataclass(frozen=True)
class ProtectedRecommendation:
    """One piece of advice with its evidence as a role may see it.

    Attributes:
        recommendation: the advice as computed.
        headline: its headline, without any suppressed count.
        evidence: name -> (value, unit, suppressed); value NaN when suppressed.
        bounds: name -> "lower" or "upper" for the evidence that is a bound of what the
            unsuppressed cells would give (``EVIDENCE_BOUNDS``); empty when exact.
    """

    recommendation: Recommendation
    headline: str
    evidence: Mapping[str, tuple[float, str, bool]] = field(hash=False)
    bounds: Mapping[str, str] = field(default_factory=dict, hash=False)

    @property
    def suppressed_counts(self) -> int:
        return sum(1 for _, _, hidden in self.evidence.values() if hidden)


# Below facilities the advice is computed from the published cells, a suppressed cell at 0
# people (``recommendations_overview``). When a space has suppressed cells in its core
# hours, these figures are bounds of what the unsuppressed cells would give: hours whose
# only occupancy is suppressed are not in use (fewer in-use and used hours, less use),
# and "used hours" for sizing are those whose published peak reaches the threshold, so
# the P95 over them is at least, and the idle seat-hours at most, what all used hours
# would give. Max peak, excess seat-hours and the no-show figures stay exact: a suppressed
# cell holds 1 … k − 1 people, fewer than any published peak and than the seats, and never
# nobody.
EVIDENCE_BOUNDS = {
    "used_hours": "lower",
    "over_capacity_share": "upper",
    "p95_peak": "upper",
    "p95_peak_occupancy": "upper",
    "idle_seat_hours": "lower",
    "frequency_rate": "lower",
    "utilisation": "lower",
    "in_use_hours": "lower",
    "unused_seat_hours": "upper",
}


def protect_recommendation(
    recommendation: Recommendation,
    capacity: float,
    k: int = DEFAULT_K,
    exact: bool = False,
    suppressed_cells: int = 0,
) -> ProtectedRecommendation:
    """Suppress the evidence given in people (and what gives it back) below facilities.

    ``suppressed_cells``: suppressed cells behind the advice (computed from the published
    cells); when there are any, the evidence of ``EVIDENCE_BOUNDS`` is marked as bounds.
    """
    withheld = is_withheld(capacity, k)
    hidden = {
        name
        for name, figure in recommendation.evidence.items()
        if figure.unit == PEOPLE and shown_count(figure.value, k, exact, withheld).suppressed
    }
    hidden |= {derived for derived, source in _DERIVED_FROM.items() if source in hidden}
    evidence = {
        name: _figure(figure, name in hidden) for name, figure in recommendation.evidence.items()
    }
    headline = recommendation.headline
    if hidden:
        text = _SUPPRESSED_HEADLINES[recommendation.kind].format(k=k, seats=capacity)
        headline = f"{recommendation.space_id}: {text} (counts of fewer than {k} people not shown)"
    bounds = {}
    if not exact and suppressed_cells > 0:
        bounds = {
            name: EVIDENCE_BOUNDS[name]
            for name in recommendation.evidence
            if name in EVIDENCE_BOUNDS and name not in hidden
        }
    return ProtectedRecommendation(recommendation, headline, evidence, bounds)


def _figure(figure: Figure, hidden: bool) -> tuple[float, str, bool]:
    return (math.nan if hidden else figure.value, figure.unit, hidden)


# -- the whole report --------------------------------------------------------------------


class ProtectedCells(Protocol):
    """Occupancy as a role below facilities may know it: from the published 15-minute cells.

    ``api.privacy_counts.ProtectedReader`` is the one implementation (the routes' own
    functions); the report takes it as a parameter because analytics may not import the API.
    """

    def hourly(
        self, space_ids: Sequence[str], start: datetime, end: datetime
    ) -> tuple[HourlyOccupancy, ProtectedUse]:
        """Hourly occupancy of ``space_ids`` (lower bounds) and the bounds behind it."""
        ...

    def occupant_hours(self, building: Building, start: datetime, end: datetime) -> OccupantHours:
        """A building's occupant-hours and used seat-hours, with their bounds."""
        ...


@dataclass(frozen=True)
class PlannerReport:
    """Everything a planner's report shows, for the campus or one building.

    Attributes:
        requested_start, requested_end: the period asked for.
        building_id: the building reported on, None for the whole campus.
        utilisation: pooled figures, by building, type and space, with the profile.
        building_profiles: hour × weekday profile of each building of the scope.
        bookings: booked vs actual of every space with an imported timetable.
        ieq: indoor environment of each space of the scope, in registry order.
        energy: energy and emissions of each building of the scope.
        recommendations: right-sizing advice with its evidence.
        quality: data-quality findings for the scope's sensors.
        k: the small-count threshold applied.
        exact: True when nothing was suppressed or withheld (a facilities report).
        withheld: spaces left out of the use figures for privacy (fewer than k seats).
        baseline_start, baseline_end: the savings baseline asked for; None without one.
        savings: IPMVP Option C savings of each building of the scope against that
            baseline, the report's period as reporting period; empty without a baseline.
        protection: below facilities, the bounds of the utilisation figures (computed
            from the published 15-minute cells); None for an exact report.
    """

    requested_start: datetime
    requested_end: datetime
    building_id: str | None
    utilisation: UtilisationOverview
    building_profiles: Mapping[str, UtilisationProfile] = field(hash=False)
    bookings: Mapping[str, BookedVsActual] = field(hash=False)
    ieq: tuple[SpaceIeq, ...]
    energy: tuple[BuildingEnergy, ...]
    recommendations: RecommendationsOverview
    quality: QualityOverview
    k: int = DEFAULT_K
    exact: bool = False
    withheld: tuple[str, ...] = ()
    baseline_start: datetime | None = None
    baseline_end: datetime | None = None
    savings: tuple[SavingsOutcome, ...] = ()
    protection: ProtectedUse | None = field(default=None, hash=False)


def report_steps(
    campus: Campus,
    building_id: str | None = None,
    k: int = DEFAULT_K,
    exact: bool = False,
    savings: bool = False,
) -> int:
    """How many steps ``planner_report`` reports to its progress callback (``savings``:
    with a baseline, one more step per building)."""
    buildings = 1 if building_id is not None else len(campus.buildings)
    scope = scope_space_ids(campus, building_id)
    withheld = len(withheld_space_ids(campus, scope, k, exact))
    return 3 + len(scope) - withheld + buildings * (2 if savings else 1)


def planner_report(
    store: ReadingStore,
    campus: Campus,
    start: datetime,
    end: datetime,
    timetables: TimetableStore | None = None,
    building_id: str | None = None,
    progress: Progress | None = None,
    k: int = DEFAULT_K,
    exact: bool = False,
    baseline: tuple[datetime, datetime] | None = None,
    protected: ProtectedCells | None = None,
) -> PlannerReport:
    """Compute every section of the planner report.

    Occupancy is read once: exactly for facilities, else from the published cells
    (utilisation, profiles, booked vs actual, advice, energy per use).

    Args:
        store: the reading store.
        campus: the registry.
        start, end: the period, timezone-aware, half-open (the figures widen it to
            whole UTC hours, as the API does).
        timetables: imported calendars, for booked vs actual and the no-show rule.
        building_id: report on one building; None for the whole campus.
        progress: called once per step with what was just done
            (``report_steps`` of them), for a progress bar.
        k: the small-count threshold (``privacy.DEFAULT_K``).
        exact: report as facilities see it (nothing withheld); default: as a planner.
        baseline: (start, end) of a savings baseline before ``start``: adds each
            building's IPMVP Option C savings (``building_savings``) over the period.
        protected: the reader of the published cells; required unless ``exact``.

    Raises:
        NotInRegistry: an unknown building id.
        NoSpaces: no space left in the scope.
        NoData: no reading of the scope's sensors in the period.
        ValueError: naive datetimes, end not after start, a baseline that does not
            end before ``start``, or no ``protected`` reader for a report below facilities.
    """
    if baseline is not None:
        _check_savings_periods(*baseline, start, end)
    if not exact and protected is None:
        raise ValueError(
            "a report below facilities computes its use figures from the published cells: "
            "pass protected= (api.privacy_counts.ProtectedReader), or exact=True"
        )
    step = progress or (lambda _: None)
    withheld = withheld_space_ids(campus, scope_space_ids(campus, building_id), k, exact)
    space_ids = visible_space_ids(campus, building_id, withheld)
    buildings = [scope_building(campus, building_id)] if building_id else list(campus.buildings)
    # first: with no reading at all in the period there is nothing to report
    quality_run, _ = check_quality(store, campus, start, end)
    quality = quality_overview_of(campus, quality_run, building_id, withheld)
    if quality.points == 0:
        scope = f"building {building_id}" if building_id else "the campus"
        raise NoData(
            f"no readings for {scope} from {isoformat_utc(start)} to {isoformat_utc(end)} "
            f"(UTC; {start.astimezone(campus.tz):%Y-%m-%d %H:%M} to "
            f"{end.astimezone(campus.tz):%Y-%m-%d %H:%M} {campus.site.timezone}): "
            "nothing to report; check the period, or that ingest is running"
        )
    if exact:
        used, protection = read_hourly_occupancy(store, campus, start, end, space_ids), None
    else:
        used, protection = protected.hourly(space_ids, start, end)
    utilisation = utilisation_overview_of(campus, used, building_id, True, withheld)
    profiles = {}
    for building in buildings:
        shown = [s.id for s in building.spaces if s.id in used.space_ids]
        if shown:
            profiles[building.id] = profile_of(campus, subset(used, shown))
    step("utilisation")
    booked = booked_vs_actual_of_scope(campus, used, timetables, protection)
    recommendations = recommendations_overview_of(campus, used, booked, None, withheld, protection)
    step("booked vs actual and recommendations")
    ieq = []
    for space_id in space_ids:
        ieq.append(space_ieq(store, campus, space_id, start, end))
        step(f"IEQ {space_id}")
    energy = []
    for building in buildings:
        counts = None if exact else protected.occupant_hours(building, start, end)
        energy.append(building_energy(store, campus, building.id, start, end, occupancy=counts))
        step(f"energy {building.id}")
    savings = []
    for building in buildings if baseline is not None else ():
        savings.append(savings_outcome(store, campus, building.id, *baseline, start, end))
        step(f"savings {building.id}")
    step("data quality")
    return PlannerReport(
        requested_start=start,
        requested_end=end,
        building_id=building_id,
        utilisation=utilisation,
        building_profiles=profiles,
        bookings=booked,
        ieq=tuple(ieq),
        energy=tuple(energy),
        recommendations=recommendations,
        quality=quality,
        k=k,
        exact=exact,
        withheld=withheld,
        baseline_start=baseline[0] if baseline is not None else None,
        baseline_end=baseline[1] if baseline is not None else None,
        savings=tuple(savings),
        protection=protection,
    )
