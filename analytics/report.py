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
- ``planner_report``: everything above plus booked vs actual
  (``bookings``), IEQ per space (``climate_kpis.space_ieq``) and energy per
  building (``energy_kpis.building_energy``), over one occupancy read.

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

Facilities (``exact``) see everything.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from campuslab.analytics.bookings import BookedVsActual, booked_vs_actual_for
from campuslab.analytics.climate_kpis import SpaceIeq, space_ieq
from campuslab.analytics.energy_kpis import BuildingEnergy, building_energy
from campuslab.analytics.kpis import NotInRegistry
from campuslab.analytics.learning_spaces import (
    GroupUtilisation,
    HourlyOccupancy,
    UtilisationProfile,
    group_utilisation,
    profile_of,
    read_hourly_occupancy,
)
from campuslab.analytics.privacy import DEFAULT_K, small_counts, withheld_spaces
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
from campuslab.core.registry import Building, Campus
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
    """

    report: RightSizingReport
    spaces_with_timetable: tuple[str, ...]
    points_excluded: int
    withheld: tuple[str, ...] = ()


def booked_vs_actual_of_scope(
    campus: Campus, hourly: HourlyOccupancy, timetables: TimetableStore | None
) -> dict[str, BookedVsActual]:
    """Booked vs actual of every space of ``hourly`` that has an imported timetable."""
    if timetables is None:
        return {}
    stored = set(timetables.spaces())
    with_timetable = [s for s in hourly.space_ids if s in stored]
    return booked_vs_actual_for(campus, hourly, timetables, with_timetable)


def recommendations_overview_of(
    campus: Campus,
    hourly: HourlyOccupancy,
    booked: Mapping[str, BookedVsActual],
    rules: RightSizingRules | None = None,
    withheld: Collection[str] = (),
) -> RecommendationsOverview:
    """``recommendations_overview`` over occupancy and bookings already read (no store).

    ``hourly`` holds the spaces to advise on (without the withheld ones).
    """
    report = right_sizing_of(campus, hourly, dict(booked), rules)
    return RecommendationsOverview(
        report=report,
        spaces_with_timetable=tuple(booked),
        points_excluded=int(hourly.points_excluded[:, hourly.core].sum()),
        withheld=tuple(withheld),
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
) -> RecommendationsOverview:
    """Right-sizing advice over a period's core hours, as ``right_sizing_report`` gives it,
    for the scope's spaces that are not ``withheld``.

    Raises:
        NotInRegistry: an unknown building id.
        NoSpaces: no space left in the scope.
        ValueError: naive datetimes, or end not after start.
    """
    space_ids = visible_space_ids(campus, building_id, withheld)
    hourly = read_hourly_occupancy(store, campus, start, end, space_ids)
    booked = booked_vs_actual_of_scope(campus, hourly, timetables)
    return recommendations_overview_of(campus, hourly, booked, rules, withheld)


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

    Attributes:
        result: the figures (hours and rates are not counts of people; shown as they are).
        observed_peaks: per booking of ``result.bookings``, its observed peak.
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
    peaks = tuple(shown_count(b.observed_peak, k, exact, withheld) for b in result.bookings)
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
    """

    recommendation: Recommendation
    headline: str
    evidence: Mapping[str, tuple[float, str, bool]] = field(hash=False)

    @property
    def suppressed_counts(self) -> int:
        return sum(1 for _, _, hidden in self.evidence.values() if hidden)


def protect_recommendation(
    recommendation: Recommendation, capacity: float, k: int = DEFAULT_K, exact: bool = False
) -> ProtectedRecommendation:
    """Suppress the evidence given in people (and what gives it back) below facilities."""
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
    return ProtectedRecommendation(recommendation, headline, evidence)


def _figure(figure: Figure, hidden: bool) -> tuple[float, str, bool]:
    return (math.nan if hidden else figure.value, figure.unit, hidden)


# -- the whole report --------------------------------------------------------------------


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


def report_steps(
    campus: Campus, building_id: str | None = None, k: int = DEFAULT_K, exact: bool = False
) -> int:
    """How many steps ``planner_report`` reports to its progress callback."""
    buildings = 1 if building_id is not None else len(campus.buildings)
    scope = scope_space_ids(campus, building_id)
    return 3 + len(scope) - len(withheld_space_ids(campus, scope, k, exact)) + buildings


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
) -> PlannerReport:
    """Compute every section of the planner report, reading occupancy once.

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

    Raises:
        NotInRegistry: an unknown building id.
        NoSpaces: no space left in the scope.
        ValueError: naive datetimes, or end not after start.
    """
    step = progress or (lambda _: None)
    withheld = withheld_space_ids(campus, scope_space_ids(campus, building_id), k, exact)
    space_ids = visible_space_ids(campus, building_id, withheld)
    buildings = [scope_building(campus, building_id)] if building_id else list(campus.buildings)
    hourly = read_hourly_occupancy(store, campus, start, end, space_ids)
    utilisation = utilisation_overview_of(campus, hourly, building_id, True, withheld)
    profiles = {}
    for building in buildings:
        shown = [s.id for s in building.spaces if s.id in hourly.space_ids]
        if shown:
            profiles[building.id] = profile_of(campus, subset(hourly, shown))
    step("utilisation")
    booked = booked_vs_actual_of_scope(campus, hourly, timetables)
    recommendations = recommendations_overview_of(campus, hourly, booked, None, withheld)
    step("booked vs actual and recommendations")
    ieq = []
    for space_id in space_ids:
        ieq.append(space_ieq(store, campus, space_id, start, end))
        step(f"IEQ {space_id}")
    energy = []
    for building in buildings:
        energy.append(building_energy(store, campus, building.id, start, end))
        step(f"energy {building.id}")
    quality_run, _ = check_quality(store, campus, start, end)
    quality = quality_overview_of(campus, quality_run, building_id, withheld)
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
    )
