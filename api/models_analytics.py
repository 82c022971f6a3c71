"""The analytics answers' contract: IEQ, bookings, energy, utilisation overviews, quality, advice.

Every answer states the period it covers (``period``), the unit of each figure
(``units``, and each field's description), and how many raw readings the
data-quality checks flagged and left out (``points_excluded``, by quantity).
A figure that is undefined (no data, no occupied hours) is null, never NaN.

The builders (``*_answer``) turn the analytics results into these models.
They hold no metric maths: the figures come from ``campuslab.analytics``,
and the small-count decisions from ``analytics.report``'s privacy helpers.
The planner report renders these same models, so the report and the API
cannot disagree.

``analysis_period`` is the dependency every analytics route takes its
``start`` and ``end`` from: the same parsing and limits as the other routes
(``api.parameters``), and a default of the last 7 whole local days.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field

from campuslab.analytics.bookings import BookedVsActual
from campuslab.analytics.climate_kpis import SpaceIeq
from campuslab.analytics.comfort import AdaptiveCategoryHours, PmvCategoryHours
from campuslab.analytics.energy import MIN_DAYS_FOR_ANNUALISED_EUI, REGISTER_EDGE_TOLERANCE
from campuslab.analytics.energy_kpis import (
    MIN_DEGREE_DAY_FIT_DAYS,
    MIN_HDD_SPREAD,
    BuildingEnergy,
)
from campuslab.analytics.ieq import DELTA_CO2_LIMITS_PPM, CategoryHours
from campuslab.analytics.learning_spaces import GroupUtilisation, UtilisationProfile
from campuslab.analytics.privacy import DEFAULT_K, ProtectedUse, UseBounds
from campuslab.analytics.quality_kpis import (
    QualityGroup,
    QualitySummary,
    SensorDayQuality,
    quality_summary_of,
)
from campuslab.analytics.report import (
    SOURCES,
    BuildingSavings,
    QualityOverview,
    RecommendationsOverview,
    SavingsDays,
    UtilisationOverview,
    protect_bookings,
    protect_recommendation,
    shown_occupancy_rate,
)
from campuslab.analytics.savings import Guideline14Check
from campuslab.analytics.utilisation import UtilisationResult
from campuslab.api.dependencies import CampusDep, ReadLimits
from campuslab.api.keys import Role
from campuslab.api.models import (
    CoreHoursDescription,
    Timestamp,
    Utilisation,
    core_hours_description,
)
from campuslab.api.parameters import (
    MAX_PARAMETER_LENGTH,
    Period,
    check_span,
    parse_instant,
    resolve_period,
)
from campuslab.api.problems import ApiProblem, invalid_parameter, shown
from campuslab.core.ids import ID_PATTERN, MAX_ID_LENGTH, id_problem
from campuslab.core.readings import isoformat_utc
from campuslab.core.registry import Building, Campus
from campuslab.core.timetables import ImportReport, TimetableStore

DEFAULT_DAYS = 7
LocalDate = date  # a field named ``date`` cannot be annotated ``date`` in pydantic
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def number(value: float | None) -> float | None:
    """A float for JSON: NaN and infinities (undefined figures) become null."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _stamp(moment: datetime | None) -> str | None:
    return isoformat_utc(moment) if moment is not None else None


# -- the period ---------------------------------------------------------------------------

StartQuery = Annotated[
    str | None,
    Query(
        max_length=MAX_PARAMETER_LENGTH,
        description="start of the period, inclusive; RFC 3339, or a date: local midnight "
        "(a time without an offset is local time, site time zone). Default: 7 days "
        "before end; with neither start nor end, the last 7 "
        "whole local days (site time zone) up to today's midnight.",
        json_schema_extra={"format": "date-time"},
        examples=["2026-11-23T00:00:00+01:00"],
    ),
]
EndQuery = Annotated[
    str | None,
    Query(
        max_length=MAX_PARAMETER_LENGTH,
        description="end of the period, exclusive; RFC 3339. Default: 7 days after start; "
        "with neither, today's local midnight.",
        json_schema_extra={"format": "date-time"},
        examples=["2026-11-30T00:00:00+01:00"],
    ),
]


def analysis_period(
    start: str | None,
    end: str | None,
    *,
    now: datetime,
    campus: Campus,
    limit: timedelta,
    what: str = "analytics periods",
) -> Period:
    """The period asked for; by default the last ``DEFAULT_DAYS`` whole local days.

    Only ``start``: end is 7 days later. Only ``end``: start is 7 days earlier.
    Parsing and errors are those of ``api.parameters`` (422 problems naming the
    parameter); a period longer than ``limit`` is a ``range-too-long`` problem.
    """
    span = timedelta(days=DEFAULT_DAYS)
    if start is None and end is None:
        today = now.astimezone(campus.tz).date()
        local_end = datetime.combine(today, time(0), campus.tz)
        local_start = datetime.combine(today - span, time(0), campus.tz)
        period = Period(local_start, local_end)
    elif end is None:
        begins = parse_instant("start", start, campus.tz)
        period = Period(begins, begins + span)
    else:
        period = resolve_period(start, end, now=now, tz=campus.tz, default_span=span)
    check_span(period, limit, what=what, advice="split the period into several requests")
    return period


def analysis_limit(limits: ReadLimits) -> timedelta:
    """The longest period an aggregated analytics answer covers (as utilisation: 366 days)."""
    return limits.max_resampled_span


class AnalysisPeriod(BaseModel):
    """The period an answer covers."""

    start: Timestamp = Field(
        description="start of the period covered, UTC, inclusive: the start asked for, "
        "widened to the whole UTC hour",
        examples=["2026-11-22T23:00:00Z"],
    )
    end: Timestamp = Field(
        description="end of the period covered, UTC, exclusive (whole UTC hours)",
        examples=["2026-11-29T23:00:00Z"],
    )
    requested_start: Timestamp = Field(description="start asked for (or the default), UTC")
    requested_end: Timestamp = Field(description="end asked for (or the default), UTC")
    hours: float = Field(description="hours covered, h", examples=[168])
    timezone: str = Field(
        description="the site's IANA time zone; core hours, local days and weekdays are in it",
        examples=["Europe/Oslo"],
    )


def period_model(
    requested: Period, covered_start: datetime, covered_end: datetime, campus: Campus
) -> AnalysisPeriod:
    return AnalysisPeriod(
        start=isoformat_utc(covered_start),
        end=isoformat_utc(covered_end),
        requested_start=isoformat_utc(requested.start),
        requested_end=isoformat_utc(requested.end),
        hours=(covered_end - covered_start) / timedelta(hours=1),
        timezone=campus.site.timezone,
    )


PointsExcluded = Annotated[
    dict[str, int],
    Field(
        description="raw readings that the data-quality checks flagged and that were left "
        "out of this answer, by quantity (METRICS.md: flag, never silently drop)",
        examples=[{"occupancy": 3}],
    ),
]
Units = Annotated[
    dict[str, str],
    Field(description="the unit of each figure of the answer", examples=[{"utilisation": "1"}]),
]
Sources = Annotated[list[str], Field(description="the standards and methods the figures follow")]


class Suppression(BaseModel):
    """How counts of people were protected in this answer (METRICS.md, Privacy)."""

    applied: bool = Field(
        description="true when the caller's role is below facilities: counts 1 … k − 1 "
        "are withheld (null, with a *_suppressed flag)"
    )
    k: int = Field(description="the threshold k", examples=[5])
    rule: str
    suppressed_counts: int = Field(
        description="figures withheld in this answer (counts, hidden rates, withheld spaces)"
    )


def suppression_model(applied: bool, k: int, suppressed: int) -> Suppression:
    rule = (
        f"Counts of people from 1 to {k - 1} (k = {k}) are withheld: null, with a "
        "*_suppressed flag or hidden peak and P95 occupancy where rate × capacity gives the "
        f"count back. Spaces with fewer than {k} seats are left out (withheld_spaces) and "
        "show no count at all, so they cannot be recovered from a total either."
        if applied
        else "none: the caller's role (facilities) sees exact counts and every space"
    )
    return Suppression(applied=applied, k=k, rule=rule, suppressed_counts=suppressed)


class UtilisationSuppression(Suppression):
    """How a utilisation answer was protected: from the published 15-minute cells."""

    lower_bound: bool = Field(
        default=False,
        description="true when a figure of this answer rests on a suppressed 15-minute cell, "
        "counted as 0 people: used seat-hours, utilisation, frequency rate, in-use hours, peak "
        "and P95 are then lower bounds of what the unsuppressed cells would give (each group "
        "says which: figures.lower_bound)",
    )
    suppressed_cells: int = Field(
        default=0,
        description="space × 15-minute cells in the core hours behind the answer's total "
        "figures (site's hourly rule) that were suppressed (1 … k − 1 people each) and "
        "counted as 0; 0 below facilities means the figures are exact for the published cells",
    )


UTILISATION_RULE = (
    "Below facilities every occupancy figure is computed from the protected 15-minute cells "
    "that GET /api/v1/export publishes for the same spaces and period (occupancy of 1 to "
    "{top} people suppressed, k = {k}), never from exact counts: an hour's n_h is the mean "
    "(or, for the hour's peak, the maximum) of its published quarter hours, each suppressed "
    "quarter counted as 0 people, up to the last complete quarter. So no answer, and no "
    "difference of answers (two windows, a building and its rooms, the campus and its "
    "buildings), says more than the export: a suppressed count cannot be recovered. Where a "
    "suppressed cell is involved (lower_bound, suppressed_cells) used seat-hours, utilisation, "
    "frequency rate, in-use hours, peak and P95 are lower bounds of what the unsuppressed cells "
    "would give; used_seat_hours_upper_bound counts every suppressed cell at {k} instead; "
    "occupancy rate and the capacity bands are computed from the same lower counts. The "
    "published cells hold every reading, so nothing is left out for data quality "
    "(points_excluded 0), and where the checks flagged readings (a spike, say) the facilities' "
    "figures, which leave them out, can be lower. A single "
    "space's peak and P95 occupancy are hidden (null) when below {k} people or resting on a "
    "suppressed cell. Spaces with fewer than {k} seats are withheld: left out of every "
    "pool (withheld_spaces), and their own answer is a 403."
)


def utilisation_suppression_model(
    applied: bool, k: int, suppressed: int, bounds: UseBounds | None = None
) -> UtilisationSuppression:
    """The suppression block of a utilisation answer; ``bounds`` of its total figures."""
    rule = (
        UTILISATION_RULE.format(k=k, top=k - 1)
        if applied
        else "none: the caller's role (facilities) sees exact counts and every space"
    )
    cells = bounds.suppressed_cells if bounds is not None else 0
    return UtilisationSuppression(
        applied=applied,
        k=k,
        rule=rule,
        suppressed_counts=suppressed,
        lower_bound=cells > 0,
        suppressed_cells=cells,
    )


# -- utilisation overviews ------------------------------------------------------------------

Rate = Annotated[float | None, Field(description="fraction 0..1; null when undefined")]
_LOWER = " Below facilities: from the published 15-minute cells, a lower bound when lower_bound."


class UtilisationFigures(BaseModel):
    """SMG 2006 figures of a group of spaces, pooled as seat-hours (never a mean of rooms' %)."""

    frequency_rate: Rate = Field(
        description="F: capacity-weighted share of available room-hours in use, 0..1." + _LOWER
    )
    occupancy_rate: Rate = Field(
        description="O: people / seats over in-use room-hours, 0..1. Below facilities: "
        "computed from the lower counts (suppressed cells at 0) over the room-hours they put "
        "in use; not a bound when lower_bound"
    )
    utilisation: Rate = Field(
        description="U: used seat-hours / available seat-hours, 0..1." + _LOWER,
        examples=[0.27],
    )
    peak_occupancy: Rate = Field(
        description="highest room-hour n_h / capacity (may exceed 1)." + _LOWER
    )
    p95_occupancy: Rate = Field(
        description="capacity-weighted 95th percentile of n_h / capacity." + _LOWER
    )
    used_seat_hours: float = Field(
        description="Σ n_h over available core hours, person-hours." + _LOWER
    )
    available_seat_hours: float = Field(description="Σ capacity × available hours, seat-hours")
    available_room_hours: int = Field(description="core room-hours with an observation, h")
    in_use_room_hours: int = Field(
        description="room-hours with n_h >= the in-use threshold, h." + _LOWER
    )
    room_hours_without_data: int = Field(
        description="core room-hours with no occupancy reading (left out, not counted empty), h"
    )
    share_under_60: Rate = Field(description="capacity-weighted share of hours under 60 % full")
    share_60_to_100: Rate = Field(description="… at 60–100 % of capacity")
    share_over_100: Rate = Field(description="… over capacity")
    lower_bound: bool = Field(
        default=False,
        description="true below facilities when a suppressed 15-minute cell (1 … k − 1 "
        "people) is behind these figures: it counts as 0 people, so used seat-hours, U, F, "
        "in-use room-hours, peak and P95 are lower bounds of what the unsuppressed cells would "
        "give; false: exact for the published cells",
    )
    suppressed_cells: int = Field(
        default=0,
        description="suppressed space × 15-minute cells behind these figures (core hours), "
        "each counted as 0 people; 0 for facilities",
    )
    used_seat_hours_upper_bound: float = Field(
        default=0.0,
        description="used seat-hours with every suppressed cell at k people, person-hours: the "
        "figure of the unsuppressed cells is at least used_seat_hours and below this when "
        "lower_bound, equal to "
        "used_seat_hours otherwise (divide by available_seat_hours for U's bound)",
    )


def utilisation_figures(
    result: UtilisationResult, bounds: UseBounds | None = None
) -> UtilisationFigures:
    """The figures of a result; ``bounds`` when they come from protected cells."""
    used = float(result.used_seat_hours)
    cells = bounds.suppressed_cells if bounds is not None else 0
    upper = max(used, bounds.used_seat_hours_upper) if cells else used
    return UtilisationFigures(
        frequency_rate=number(result.frequency_rate),
        occupancy_rate=number(result.occupancy_rate),
        utilisation=number(result.utilisation),
        peak_occupancy=number(result.peak_occupancy),
        p95_occupancy=number(result.p95_occupancy),
        used_seat_hours=float(result.used_seat_hours),
        available_seat_hours=float(result.available_seat_hours),
        available_room_hours=int(result.available_hours),
        in_use_room_hours=int(result.in_use_hours),
        room_hours_without_data=int(result.hours_without_data),
        share_under_60=number(result.share_under_60),
        share_60_to_100=number(result.share_60_to_100),
        share_over_100=number(result.share_over_100),
        lower_bound=cells > 0,
        suppressed_cells=cells,
        used_seat_hours_upper_bound=upper,
    )


class UtilisationGroup(BaseModel):
    """One group of spaces: the campus, a building or a space type."""

    group_by: Literal["space", "building", "space_type", "campus"]
    key: str = Field(description="site, building or space id, or the space type", examples=["rfb"])
    name: str = Field(examples=["Realfagbygget (Science)"])
    spaces: int = Field(description="spaces pooled")
    capacity: int = Field(description="Σ seats of the spaces pooled, seats")
    band: Literal["poor", "fair", "good"] | None = Field(
        description="HEFCE band of U: poor < 25 %, fair 25–35 %, good ≥ 35 %; null without data"
    )
    figures: UtilisationFigures = Field(description="with n_h by the site's hourly rule")
    at_hourly_peak: UtilisationFigures = Field(description="with n_h = the hour's peak count")
    points_excluded: int = Field(
        description="flagged occupancy readings left out, core hours (0 below facilities: "
        "the published cells hold every reading)"
    )


def hidden_occupancy_rate(
    rate: float | None, capacity: float, k: int, exact: bool, lower_bound: bool
) -> bool:
    """Whether one space's peak or P95 occupancy is hidden from the caller.

    Rate × capacity is a head count: hidden when 1 … k − 1 people
    (``shown_occupancy_rate``), and below facilities also when it is below k and
    rests on a suppressed cell (a lower bound of 0 would stand for 1 … k − 1).
    """
    if rate is None or exact:
        return False
    if shown_occupancy_rate(rate, capacity, k, exact).suppressed:
        return True
    return lower_bound and rate * capacity < k


def _one_space_figures(
    figures: UtilisationFigures, capacity: int, k: int, exact: bool
) -> tuple[UtilisationFigures, int]:
    """A single space's peak and P95 occupancy hidden when they are 1 … k − 1 people."""
    hidden = {}
    for name in ("peak_occupancy", "p95_occupancy"):
        rate = getattr(figures, name)
        if hidden_occupancy_rate(rate, capacity, k, exact, figures.lower_bound):
            hidden[name] = None
    return figures.model_copy(update=hidden), len(hidden)


def utilisation_group(
    group: GroupUtilisation,
    k: int = DEFAULT_K,
    exact: bool = False,
    protection: ProtectedUse | None = None,
) -> tuple[UtilisationGroup, int]:
    """The group as a role may see it, and how many figures were hidden.

    A group of one space shows what the per-space route shows: its peak and P95
    occupancy times its capacity are headcounts, hidden when 1 … k − 1.
    ``protection``: the group's figures come from protected cells (below facilities),
    and these are their bounds.
    """
    rule = at_hourly_peak = None
    if protection is not None:
        rule = protection.bounds(group.space_ids)
        at_hourly_peak = protection.bounds(group.space_ids, at_peak=True)
    figures = utilisation_figures(group.utilisation, rule)
    at_peak = utilisation_figures(group.at_hourly_peak, at_hourly_peak)
    hidden = 0
    if len(group.space_ids) == 1:
        figures, hidden_here = _one_space_figures(figures, group.capacity, k, exact)
        at_peak, hidden_at_peak = _one_space_figures(at_peak, group.capacity, k, exact)
        hidden = hidden_here + hidden_at_peak
    model = UtilisationGroup(
        group_by=group.group_by,
        key=group.key,
        name=group.name,
        spaces=len(group.space_ids),
        capacity=group.capacity,
        band=group.band,
        figures=figures,
        at_hourly_peak=at_peak,
        points_excluded=group.utilisation.points_excluded,
    )
    return model, hidden


class HourWeekdayProfile(BaseModel):
    """Use by local weekday (rows, Monday first) and local start hour (columns, 0–23)."""

    weekdays: list[str] = Field(default=WEEKDAYS, description="row labels")
    hours: list[int] = Field(default=list(range(24)), description="column labels, local hour")
    utilisation: list[list[float | None]] = Field(
        description="7 × 24: Σ n_h / Σ capacity over the cell's room-hours, 0..1; null "
        "without room-hours"
    )
    share_in_use: list[list[float | None]] = Field(
        description="7 × 24: capacity-weighted share of the cell's room-hours in use, 0..1"
    )
    room_hours: list[list[int]] = Field(description="7 × 24: room-hours with a reading, h")
    core: list[list[bool]] = Field(description="7 × 24: true inside the site's core hours")
    points_excluded: int = Field(description="flagged occupancy readings left out, all hours")
    lower_bound: bool = Field(
        default=False,
        description="true below facilities when a suppressed 15-minute cell is behind the "
        "profile: it counts as 0 people, so utilisation and share_in_use are lower bounds",
    )
    suppressed_cells: int = Field(
        default=0, description="suppressed space × 15-minute cells behind the profile, all hours"
    )


def _grid(values: np.ndarray) -> list[list[float | None]]:
    return [[number(v) for v in row] for row in values.tolist()]


def profile_model(
    profile: UtilisationProfile, bounds: UseBounds | None = None
) -> HourWeekdayProfile:
    cells = bounds.suppressed_cells if bounds is not None else 0
    return HourWeekdayProfile(
        utilisation=_grid(profile.utilisation),
        share_in_use=_grid(profile.share_in_use),
        room_hours=profile.hours.astype(int).tolist(),
        core=profile.core.astype(bool).tolist(),
        points_excluded=profile.points_excluded,
        lower_bound=cells > 0,
        suppressed_cells=cells,
    )


UTILISATION_UNITS = {
    "frequency_rate, occupancy_rate, utilisation, peak_occupancy, p95_occupancy, share_*": (
        "fraction 0..1 (peak may exceed 1)"
    ),
    "used_seat_hours": "person-hours",
    "available_seat_hours": "seat-hours",
    "*_room_hours": "h (room-hours: one room for one hour)",
    "capacity": "seats",
}


class UtilisationOverviewAnswer(BaseModel):
    """Utilisation of the campus or of one building over a period's core hours (SMG 2006)."""

    scope: Literal["campus", "building"]
    id: str = Field(description="site or building id", examples=["rfb"])
    name: str
    period: AnalysisPeriod
    units: Units
    points_excluded: PointsExcluded
    core_hours: CoreHoursDescription
    in_use_threshold: float = Field(description="people for an hour to count as in use")
    hourly_observation: Literal["mean", "peak"] = Field(
        description="how n_h is observed: the hour's mean count or its peak"
    )
    total: UtilisationGroup = Field(description="the whole scope, pooled as seat-hours")
    by_building: list[UtilisationGroup] = Field(description="per building (campus scope)")
    by_space_type: list[UtilisationGroup] = Field(description="per space type in the scope")
    profile: HourWeekdayProfile | None = Field(
        description="hour × weekday profile of the scope; only with profile=true"
    )
    withheld_spaces: list[str] = Field(
        description="spaces left out of every figure for privacy: fewer seats than k, so "
        "their use would tell when their occupant is in (roles below facilities)"
    )
    suppression: UtilisationSuppression
    sources: Sources


def utilisation_overview_answer(
    overview: UtilisationOverview,
    requested: Period,
    campus: Campus,
    *,
    k: int = DEFAULT_K,
    exact: bool = False,
    protection: ProtectedUse | None = None,
) -> UtilisationOverviewAnswer:
    """The answer; ``protection`` when ``overview`` was computed from protected cells.

    Below facilities the routes pass an overview of ``privacy_counts.protected_occupancy``
    and its ``use``; each group then states the bounds of its figures.
    """
    settings = campus.analytics
    campus_scope = overview.scope == "campus"
    groups = [overview.total, *(overview.by_building if campus_scope else ())]
    shown = [utilisation_group(g, k, exact, protection) for g in [*groups, *overview.by_space_type]]
    models = [model for model, _ in shown]
    hidden = sum(count for _, count in shown)
    return UtilisationOverviewAnswer(
        scope="campus" if campus_scope else "building",
        id=overview.total.key,
        name=overview.total.name,
        period=period_model(requested, overview.period_start, overview.period_end, campus),
        units=UTILISATION_UNITS,
        points_excluded={"occupancy": overview.points_excluded},
        core_hours=core_hours_description(campus),
        in_use_threshold=settings.in_use_threshold,
        hourly_observation=settings.hourly_observation,
        total=models[0],
        by_building=models[1 : len(groups)],
        by_space_type=models[len(groups) :],
        profile=profile_model(
            overview.profile,
            protection.bounds(overview.total.space_ids, core_only=False) if protection else None,
        )
        if overview.profile is not None
        else None,
        withheld_spaces=list(overview.withheld),
        suppression=utilisation_suppression_model(
            not exact,
            k,
            hidden + len(overview.withheld),
            protection.bounds(overview.total.space_ids) if protection else None,
        ),
        sources=[SOURCES["smg"], SOURCES["hesa"], SOURCES["hefce"], SOURCES["privacy"]],
    )


class CoveredPeriod(BaseModel):
    """The period an answer covers; the period asked for is the answer's ``start``/``end``.

    ``AnalysisPeriod`` without ``requested_*``: the per-space answer gives the period
    asked for at its top level (the issue-2 contract), and a window that covers the same
    whole hours must give the same answer apart from those two fields.
    """

    start: Timestamp = Field(
        description="start of the period covered, UTC, inclusive: the start asked for, "
        "widened to the whole UTC hour",
        examples=["2026-11-22T23:00:00Z"],
    )
    end: Timestamp = Field(
        description="end of the period covered, UTC, exclusive (whole UTC hours)",
        examples=["2026-11-29T23:00:00Z"],
    )
    hours: float = Field(description="hours covered, h", examples=[168])
    timezone: str = Field(
        description="the site's IANA time zone; core hours, local days and weekdays are in it",
        examples=["Europe/Oslo"],
    )


class SpaceUtilisation(Utilisation):
    """Space use over the core hours of a period (UK SMG 2006; HESA EMR definitions).

    Rates are fractions (0.25 = 25 %); null where undefined (no available hours).
    Below facilities every figure comes from the published 15-minute cells
    (``suppression``): used seat-hours, U, F, in-use hours, peak and P95 are lower
    bounds when ``lower_bound``.
    """

    lower_bound: bool = Field(
        default=False,
        description="true below facilities when a suppressed 15-minute cell (1 … k − 1 "
        "people) is behind the figures: it counts as 0 people, so used_seat_hours, "
        "utilisation, frequency_rate, in_use_hours, peak and P95 are lower bounds "
        "of what the unsuppressed cells would give (occupancy_rate and the shares are computed "
        "from the same lower counts); false: exact for the published cells",
    )
    suppressed_cells: int = Field(
        default=0,
        description="suppressed 15-minute cells of this space in the core hours, each counted "
        "as 0 people; 0 for facilities",
    )
    used_seat_hours_upper_bound: float | None = Field(
        default=0.0,
        description="used seat-hours with every suppressed cell at k people, person-hours: the "
        "figure of the unsuppressed cells is at least used_seat_hours and below this when "
        "lower_bound, equal to "
        "used_seat_hours otherwise; null when the figures come from presence",
    )
    suppression: UtilisationSuppression
    source: Literal["occupancy", "presence"] = Field(
        default="occupancy",
        description="what the figures come from: occupancy counts, or, for a space with no "
        "count in the period, its presence (PIR) readings: then only the frequency rate is "
        "given (see source_note)",
    )
    source_note: str | None = Field(
        default=None, description="why figures are absent when source is presence"
    )
    # the shape of a group of the building and campus answers (UtilisationGroup), for one
    # space: the top-level figures above are that group's ``figures``
    name: str = Field(description="the space's name", examples=["Seminar room 6"])
    building: str = Field(description="building id", examples=["rfb"])
    band: Literal["poor", "fair", "good"] | None = Field(
        description="HEFCE band of U: poor < 25 %, fair 25–35 %, good ≥ 35 %; null without "
        "data. Below facilities, the band of the lower bound when lower_bound"
    )
    at_hourly_peak: UtilisationFigures = Field(
        description="the same figures with n_h = the hour's peak count (the highest reading "
        "of the hour; below facilities the highest published 15-minute maximum, suppressed "
        "cells at 0, with its own lower_bound, suppressed_cells and upper bound); the "
        "*_room_hours are this space's hours"
    )
    period: CoveredPeriod
    units: Units
    sources: Sources


SPACE_UTILISATION_UNITS = {
    "frequency_rate, occupancy_rate, utilisation, peak_occupancy, p95_occupancy, share_*": (
        "fraction 0..1 (peak may exceed 1)"
    ),
    "used_seat_hours, used_seat_hours_upper_bound": "person-hours",
    "available_seat_hours": "seat-hours",
    "available_hours, in_use_hours, hours_without_data, *_room_hours": "h (core hours)",
    "capacity": "seats",
    "in_use_threshold": "people",
    "points_excluded": "readings",
    "suppressed_cells": "15-minute cells",
}


def space_utilisation_answer(
    model: Utilisation,
    k: int,
    exact: bool,
    bounds: UseBounds | None = None,
    *,
    group: GroupUtilisation,
    requested: Period,
    campus: Campus,
    at_peak_bounds: UseBounds | None = None,
) -> SpaceUtilisation:
    """The per-space answer as the caller may see it.

    ``model`` holds the figures: exact for facilities, else computed from the space's
    protected cells, whose ``bounds`` are stated. A peak or P95 occupancy that is a
    count of 1 … k − 1 people, or below k and resting on a suppressed cell, is hidden.
    ``group`` is the space as a group of one (``learning_spaces.group_utilisation``
    over the same hourly occupancy): its hour's-peak figures, with ``at_peak_bounds``
    below facilities, are shown and hidden by the same rule as the building's groups.
    """
    cells = bounds.suppressed_cells if bounds is not None else 0
    used = model.used_seat_hours
    fields = model.model_dump() | {
        "lower_bound": cells > 0,
        "suppressed_cells": cells,
        "used_seat_hours_upper_bound": max(used, bounds.used_seat_hours_upper) if cells else used,
    }
    hidden = 0
    for name in ("peak_occupancy", "p95_occupancy"):
        if hidden_occupancy_rate(fields[name], model.capacity, k, exact, cells > 0):
            fields[name] = None
            hidden += 1
    at_peak, hidden_at_peak = _one_space_figures(
        utilisation_figures(group.at_hourly_peak, at_peak_bounds), model.capacity, k, exact
    )
    suppression = utilisation_suppression_model(not exact, k, hidden + hidden_at_peak, bounds)
    space, building = campus.space(model.space_id), campus.building_of(model.space_id)
    assert space is not None and building is not None, model.space_id
    return SpaceUtilisation(
        **fields,
        suppression=suppression,
        name=space.name,
        building=building.id,
        band=group.band,
        at_hourly_peak=at_peak,
        period=CoveredPeriod(
            **period_model(requested, group.period_start, group.period_end, campus).model_dump(
                include={"start", "end", "hours", "timezone"}
            )
        ),
        units=SPACE_UTILISATION_UNITS,
        sources=[SOURCES["smg"], SOURCES["hesa"], SOURCES["hefce"], SOURCES["privacy"]],
    )


# -- IEQ ------------------------------------------------------------------------------------


class CategoryShares(BaseModel):
    """Occupied hours by category; shares are of the occupied hours with a value."""

    occupied_hours: int = Field(description="occupied hours with a value (the denominator), h")
    category_hours: dict[str, int] = Field(description="hours per category, h")
    category_shares: dict[str, float | None] = Field(
        description="share of occupied hours per category, 0..1; null without occupied hours"
    )
    occupied_hours_without_value: int = Field(
        description="occupied hours without a value (or outside the model's validity), h"
    )


def _shares(hours: CategoryHours) -> dict[str, Any]:
    return {
        "occupied_hours": hours.occupied_hours,
        "category_hours": dict(hours.category_hours),
        "category_shares": {k: number(v) for k, v in hours.category_shares.items()},
        "occupied_hours_without_value": hours.occupied_hours_without_value,
    }


class Co2Figures(CategoryShares):
    """EN 16798-1 categories of ΔCO₂ = indoor − outdoor CO₂, and FHI's 1000 ppm norm."""

    hours_above_1000_ppm: int = Field(
        description="occupied hours with hourly mean CO₂ above 1000 ppm (absolute), h"
    )
    outdoor_co2_ppm: float = Field(
        description="outdoor CO₂, ppm: the weather station's median over the period when it "
        "reports CO₂ (each hour is then categorised against the station's own hourly mean), "
        "else the site's analytics.outdoor_co2_ppm setting",
        examples=[420],
    )
    outdoor_co2_source: str = Field(
        description="where outdoor CO₂ came from: 'station <id>' or 'setting'",
        examples=["station elvebakken-weather", "setting"],
    )
    outdoor_co2_hours_from_station: int = Field(
        description="hours matched with the station's own hourly mean CO₂ (the others, when "
        "the source is the station, take its median), h"
    )
    category_limits_ppm: dict[str, float] = Field(
        description="upper ΔCO₂ of categories I–III, ppm above outdoor; above III is IV"
    )


class PmvFigures(CategoryShares):
    """ISO 7730 categories A |PMV| < 0.2, B < 0.5, C < 0.7, and outside."""

    mean_pmv: float | None = Field(description="mean PMV over the categorised occupied hours")
    mean_ppd: float | None = Field(description="mean PPD over them, %")


class AdaptiveFigures(CategoryShares):
    """EN 16798-1 adaptive categories I, II, III and outside."""

    occupied_hours_outside_validity: int = Field(
        description="occupied hours whose running-mean outdoor temperature is outside "
        "10–30 °C, the model's range, h"
    )


class ComfortAssumptions(BaseModel):
    met: float = Field(description="metabolic rate, met")
    clo_heating: float = Field(description="clothing in the heating season, clo")
    clo_cooling: float = Field(description="clothing in the cooling season, clo")
    air_speed_m_s: float = Field(description="air speed, m/s")
    dynamic_clothing: bool
    mean_radiant_temperature: str
    outdoor_co2_ppm: float = Field(description="ppm")
    heating_season: str


IEQ_UNITS = {
    "*_hours": "h (hourly means)",
    "category_shares": "fraction of occupied hours 0..1",
    "co2": "ppm; categories by ΔCO₂ = indoor − outdoor",
    "operative_temperature": "°C (air temperature; no radiant temperature is measured)",
    "relative_humidity": "%RH",
    "mean_pmv": "PMV (ISO 7730 seven-point scale, −3 cold … +3 hot)",
    "mean_ppd": "%",
}


class SpaceIeqAnswer(BaseModel):
    """Indoor environmental quality of one space, as shares of its occupied hours."""

    space_id: str = Field(examples=["rfb-101"])
    building_id: str = Field(examples=["rfb"])
    period: AnalysisPeriod
    units: Units
    points_excluded: PointsExcluded
    hours_in_period: int = Field(description="h")
    occupied_hours: int = Field(description="hours with mean occupancy > 0, h")
    hours_without_occupancy_data: int = Field(description="hours with no occupancy reading, h")
    heating_season_occupied_hours: int = Field(description="h")
    cooling_season_occupied_hours: int = Field(description="h")
    co2: Co2Figures
    operative_temperature: CategoryShares = Field(
        description="EN 16798-1 categories, heating- or cooling-season ranges by local date"
    )
    relative_humidity: CategoryShares = Field(description="EN 16798-1 categories")
    pmv: PmvFigures
    adaptive: AdaptiveFigures | None = Field(
        description="null without an outdoor temperature series (see adaptive_note)"
    )
    adaptive_note: str
    assumptions: ComfortAssumptions
    sources: Sources


def ieq_answer(
    ieq: SpaceIeq, building_id: str, requested: Period, campus: Campus
) -> SpaceIeqAnswer:
    pmv: PmvCategoryHours = ieq.pmv
    adaptive: AdaptiveCategoryHours | None = ieq.adaptive
    return SpaceIeqAnswer(
        space_id=ieq.space_id,
        building_id=building_id,
        period=period_model(requested, ieq.start, ieq.end, campus),
        units=IEQ_UNITS,
        points_excluded=dict(ieq.points_excluded),
        hours_in_period=ieq.hours_in_period,
        occupied_hours=ieq.occupied_hours,
        hours_without_occupancy_data=ieq.hours_without_occupancy_data,
        heating_season_occupied_hours=ieq.heating_season_occupied_hours,
        cooling_season_occupied_hours=ieq.cooling_season_occupied_hours,
        co2=Co2Figures(
            occupied_hours=ieq.co2.occupied_hours,
            category_hours=dict(ieq.co2.category_hours),
            category_shares={k: number(v) for k, v in ieq.co2.category_shares.items()},
            occupied_hours_without_value=ieq.co2.occupied_hours_without_co2,
            hours_above_1000_ppm=ieq.co2.hours_above_fhi_limit,
            outdoor_co2_ppm=ieq.assumptions.outdoor_co2_ppm,
            outdoor_co2_source=ieq.outdoor_co2_source,
            outdoor_co2_hours_from_station=ieq.outdoor_co2_hours_from_station,
            category_limits_ppm=dict(zip(("I", "II", "III"), DELTA_CO2_LIMITS_PPM, strict=True)),
        ),
        operative_temperature=CategoryShares(**_shares(ieq.operative_temperature)),
        relative_humidity=CategoryShares(**_shares(ieq.relative_humidity)),
        pmv=PmvFigures(
            **_shares(pmv.hours), mean_pmv=number(pmv.mean_pmv), mean_ppd=number(pmv.mean_ppd)
        ),
        adaptive=AdaptiveFigures(
            **_shares(adaptive.hours),
            occupied_hours_outside_validity=adaptive.occupied_hours_outside_validity,
        )
        if adaptive is not None
        else None,
        adaptive_note=ieq.adaptive_note,
        assumptions=ComfortAssumptions(**vars(ieq.assumptions)),
        sources=[SOURCES["en16798"], SOURCES["fhi"], SOURCES["iso7730"]],
    )


# -- bookings -------------------------------------------------------------------------------


class BookingUseModel(BaseModel):
    """One booking set against the sensor."""

    start: Timestamp
    end: Timestamp
    summary: str = Field(description="the booking's SUMMARY (course code or title)")
    class_size: int | None = Field(description="people booked, when the calendar says")
    capacity: int = Field(description="seats")
    hours: int = Field(description="hours of the period the booking covers, h")
    observed_peak: float | None = Field(
        description="highest hourly peak count over the hours it covers, people; null "
        "without readings or when suppressed (below facilities: the highest published "
        "15-minute peak; null when a suppressed cell is the peak, 1 … k − 1 people)"
    )
    observed_peak_suppressed: bool
    observed_peak_lower_bound: bool = Field(
        default=False,
        description="true when a suppressed 15-minute cell of the booking's hours could "
        "hold more people than observed_peak (below facilities only)",
    )


class BookedVsActualAnswer(BaseModel):
    """Booked against actual use of one space over the period's core hours (METRICS.md)."""

    space_id: str
    capacity: int = Field(description="seats")
    period: AnalysisPeriod
    units: Units
    points_excluded: PointsExcluded
    timetable_imported: bool = Field(
        description="false when no calendar has been imported for the space: every figure "
        "is then null (POST /api/v1/spaces/{space_id}/timetable imports one)"
    )
    core_hours: int | None = Field(description="available core hours in the period, h")
    booked_hours: int | None = Field(description="core hours covered by a booking, h")
    booked_frequency: Rate = Field(description="booked core hours / available core hours")
    booked_hours_with_data: int | None = Field(description="h")
    no_show_hours: int | None = Field(
        description="booked hours whose peak count was 0, h (below facilities: every "
        "published peak cell 0 and none suppressed, as a suppressed cell holds someone)"
    )
    no_show_rate: Rate = Field(description="no-show hours / booked hours with data")
    unbooked_hours_with_data: int | None = Field(description="h")
    unbooked_used_hours: int | None = Field(
        description="unbooked hours in use, h (below facilities: a lower bound, suppressed "
        "15-minute cells counted as 0 people)"
    )
    unbooked_used_hours_upper_bound: int | None = Field(
        default=None,
        description="unbooked hours that could be in use, suppressed cells counted as k "
        "people, h; equal to unbooked_used_hours for facilities and when nothing was "
        "suppressed",
    )
    hours_without_data: int | None = Field(description="core hours without a reading, h")
    in_use_threshold: float = Field(description="people")
    bookings_with_class_size: int | None
    bookings_with_data: int | None
    mean_class_size: float | None = Field(description="people booked, mean")
    class_size_to_capacity: Rate = Field(description="mean class size / capacity")
    mean_observed_peak: float | None = Field(
        description="people; null when suppressed; a lower bound when observed_peaks_lower_bound"
    )
    mean_observed_peak_suppressed: bool
    headcount_to_class_size: float | None = Field(
        description="Σ observed peak / Σ class size over bookings with both; null when "
        "suppressed; a lower bound when observed_peaks_lower_bound"
    )
    headcount_to_class_size_suppressed: bool
    observed_peaks_lower_bound: bool = Field(
        default=False,
        description="true when a booking's observed peak rests on a suppressed 15-minute cell "
        "(counted as 0 people): mean_observed_peak and headcount_to_class_size are then "
        "lower bounds (below facilities only)",
    )
    suppressed_cells: int = Field(
        default=0,
        description="suppressed 15-minute cells (site's hourly rule) in the core hours behind "
        "the figures, counted as 0 people; 0 for facilities",
    )
    bookings: list[BookingUseModel]
    suppression: Suppression
    note: str | None = None
    sources: Sources


BOOKINGS_UNITS = {
    "*_hours, core_hours": "h",
    "booked_frequency, no_show_rate, class_size_to_capacity, headcount_to_class_size": (
        "fraction (ratio of hours or of people)"
    ),
    "class_size, observed_peak, mean_*": "people",
    "capacity": "seats",
}


def bookings_answer(
    result: BookedVsActual | None,
    space_id: str,
    capacity: int,
    requested: Period,
    campus: Campus,
    *,
    k: int,
    exact: bool,
    note: str | None = None,
) -> BookedVsActualAnswer:
    """The answer for one space; ``result`` None when it has no timetable."""
    common: dict[str, Any] = {
        "space_id": space_id,
        "capacity": capacity,
        "units": BOOKINGS_UNITS,
        "in_use_threshold": campus.analytics.in_use_threshold,
        "sources": [SOURCES["smg"], SOURCES["privacy"]],
        "note": note,
    }
    if result is None:
        return BookedVsActualAnswer(
            **common,
            period=period_model(requested, requested.start, requested.end, campus),
            points_excluded={"occupancy": 0},
            timetable_imported=False,
            **dict.fromkeys(_NULLABLE),
            mean_observed_peak_suppressed=False,
            headcount_to_class_size_suppressed=False,
            bookings=[],
            suppression=suppression_model(not exact, k, 0),
        )
    shown = protect_bookings(result, k, exact)
    bookings = [
        BookingUseModel(
            start=isoformat_utc(use.start),
            end=isoformat_utc(use.end),
            summary=use.summary,
            class_size=use.class_size,
            capacity=use.capacity,
            hours=use.hours,
            observed_peak=number(peak.value),
            observed_peak_suppressed=peak.suppressed,
            observed_peak_lower_bound=use.observed_peak_lower_bound and not peak.suppressed,
        )
        for use, peak in zip(result.bookings, shown.observed_peaks, strict=True)
    ]
    ratio_hidden = shown.headcount_to_class_size_suppressed
    return BookedVsActualAnswer(
        **common,
        period=period_model(requested, result.period_start, result.period_end, campus),
        points_excluded={"occupancy": result.points_excluded},
        timetable_imported=True,
        core_hours=result.core_hours,
        booked_hours=result.booked_hours,
        booked_frequency=number(result.booked_frequency),
        booked_hours_with_data=result.booked_hours_with_data,
        no_show_hours=result.no_show_hours,
        no_show_rate=number(result.no_show_rate),
        unbooked_hours_with_data=result.unbooked_hours_with_data,
        unbooked_used_hours=result.unbooked_used_hours,
        unbooked_used_hours_upper_bound=result.unbooked_used_hours_upper,
        hours_without_data=result.hours_without_data,
        bookings_with_class_size=result.bookings_with_class_size,
        bookings_with_data=result.bookings_with_data,
        mean_class_size=number(result.mean_class_size),
        class_size_to_capacity=number(result.class_size_to_capacity),
        mean_observed_peak=number(shown.mean_observed_peak.value),
        mean_observed_peak_suppressed=shown.mean_observed_peak.suppressed,
        headcount_to_class_size=None if ratio_hidden else number(result.headcount_to_class_size),
        headcount_to_class_size_suppressed=ratio_hidden,
        observed_peaks_lower_bound=result.observed_peaks_lower_bound,
        suppressed_cells=result.suppressed_cells,
        bookings=bookings,
        suppression=suppression_model(not exact, k, shown.suppressed_counts + int(ratio_hidden)),
    )


_NULLABLE = (
    "core_hours",
    "booked_hours",
    "booked_frequency",
    "booked_hours_with_data",
    "no_show_hours",
    "no_show_rate",
    "unbooked_hours_with_data",
    "unbooked_used_hours",
    "unbooked_used_hours_upper_bound",
    "hours_without_data",
    "bookings_with_class_size",
    "bookings_with_data",
    "mean_class_size",
    "class_size_to_capacity",
    "mean_observed_peak",
    "headcount_to_class_size",
)


class TimetableImport(BaseModel):
    """What an uploaded calendar holds, once validated and stored."""

    space_id: str
    events: int = Field(description="VEVENTs imported, counting RECURRENCE-ID overrides")
    recurring: int = Field(description="events with an RRULE or RDATE")
    occurrences: int = Field(description="bookings once recurrences are expanded")
    first: Timestamp | None = Field(description="start of the earliest booking, UTC")
    last: Timestamp | None = Field(description="end of the latest booking, UTC")
    warnings: list[str] = Field(
        description="what was assumed or dropped (e.g. ATTENDEE/ORGANIZER, never stored)"
    )
    bookings: str = Field(description="where booked vs actual of the space is answered")


def timetable_import_answer(report: ImportReport) -> TimetableImport:
    return TimetableImport(
        space_id=report.space_id,
        events=report.events,
        recurring=report.recurring,
        occurrences=report.occurrences,
        first=_stamp(report.first),
        last=_stamp(report.last),
        warnings=list(report.warnings),
        bookings=f"/api/v1/spaces/{report.space_id}/bookings",
    )


# -- energy ---------------------------------------------------------------------------------


class Eui(BaseModel):
    kwh_per_m2_year: float = Field(description="EUI, kWh/m² per year")
    annualised: bool = Field(
        description="true when the period is not 365 days and the energy was scaled × 365 / "
        "days covered (a winter period overstates the year)"
    )
    annual_kwh: float = Field(description="kWh per year")
    delivered_kwh: float = Field(description="kWh measured in the period")
    heated_area_m2: float = Field(description="m²")
    days_covered: float = Field(description="days of data behind the figure")
    annualised_from_days: float | None = Field(
        description="the days the figure was scaled up from (× 365 / days); null when not "
        "annualised"
    )
    reliable: bool = Field(
        description=f"false when annualised from fewer than {MIN_DAYS_FOR_ANNUALISED_EUI} days "
        "(four whole weeks): then it is no yearly figure, and not comparable with the benchmark"
    )
    caveat: str | None = Field(
        description="why the figure is not a measured yearly one, in a sentence; null when it is"
    )
    benchmark_kwh_per_m2: float = Field(
        description="SSB 2011: Norwegian university and college buildings, kWh/m²"
    )


class UseIntensityModel(BaseModel):
    """Energy per use. Below facilities the counts come from the published 15-minute cells
    of the building's spaces with k seats or more, each suppressed cell counted as 0 people:
    occupant- and used seat-hours are then lower bounds (lower_bound), the kWh per hour
    upper bounds."""

    kwh_per_occupant_hour: float | None = Field(description="kWh per occupant-hour")
    kwh_per_used_seat_hour: float | None = Field(description="kWh per used seat-hour")
    occupant_hours: float = Field(description="Σ hourly mean headcount, all hours, person-hours")
    used_seat_hours: float = Field(description="Σ n_h over core hours, person-hours")
    lower_bound: bool = Field(
        default=False,
        description="true below facilities when a suppressed 15-minute cell (1 … k − 1 "
        "people) is behind occupant_hours or used_seat_hours: it counts as 0 people, so they "
        "are lower bounds and the kWh per hour upper bounds",
    )
    suppressed_cells: int = Field(
        default=0,
        description="suppressed space × 15-minute cells behind occupant_hours (all hours), "
        "each counted as 0 people; 0 for facilities",
    )
    used_seat_hours_suppressed_cells: int = Field(
        default=0, description="the same behind used_seat_hours (core hours, site's rule)"
    )
    occupant_hours_upper_bound: float = Field(
        default=0.0,
        description="occupant_hours with every suppressed cell at k people, person-hours "
        "(equal to occupant_hours when nothing was suppressed)",
    )
    used_seat_hours_upper_bound: float = Field(
        default=0.0, description="used_seat_hours likewise, person-hours"
    )
    withheld_spaces: list[str] = Field(
        default_factory=list,
        description="spaces of the building left out for privacy below facilities (fewer "
        "than k seats); facilities' figures include every space",
    )


def use_intensity_model(energy: BuildingEnergy) -> UseIntensityModel:
    """The use intensity and, when its counts come from protected cells, their bounds."""
    use, counts = energy.use_intensity, energy.occupancy
    occupant_upper = used_upper = None
    if counts is not None:
        occupant_upper, used_upper = counts.occupant_hours_upper, counts.used_seat_hours_upper
    return UseIntensityModel(
        kwh_per_occupant_hour=number(use.kwh_per_occupant_hour),
        kwh_per_used_seat_hour=number(use.kwh_per_used_seat_hour),
        occupant_hours=use.occupant_hours,
        used_seat_hours=use.used_seat_hours,
        lower_bound=counts is not None and counts.lower_bound,
        suppressed_cells=counts.suppressed_cells if counts is not None else 0,
        used_seat_hours_suppressed_cells=(
            counts.used_seat_hours_suppressed_cells if counts is not None else 0
        ),
        occupant_hours_upper_bound=(
            use.occupant_hours
            if occupant_upper is None
            else max(occupant_upper, use.occupant_hours)
        ),
        used_seat_hours_upper_bound=(
            use.used_seat_hours if used_upper is None else max(used_upper, use.used_seat_hours)
        ),
        withheld_spaces=list(counts.withheld) if counts is not None else [],
    )


class LoadShapeModel(BaseModel):
    """Electricity demand after Price (2010), LBNL-3713E."""

    near_base_kw: float | None = Field(description="kW (daily low percentile, mean over days)")
    near_peak_kw: float | None = Field(description="kW (daily high percentile)")
    near_base_percentile: float | None = Field(description="percentile of hourly demand")
    near_peak_percentile: float | None = Field(description="percentile of hourly demand")
    base_to_peak_ratio: float | None
    night_mean_kw: float | None = Field(description="kW, 00–05 local")
    day_mean_kw: float | None = Field(description="kW, core hours")
    night_day_ratio: float | None
    weekday_mean_daily_kwh: float | None = Field(description="kWh per day")
    weekend_mean_daily_kwh: float | None = Field(description="kWh per day")
    weekend_weekday_ratio: float | None
    out_of_hours_share: float | None = Field(description="kWh outside core hours / all, 0..1")
    total_kwh: float | None = Field(description="kWh")
    complete_days: int = Field(description="local days with every hour present")


class DegreeDays(BaseModel):
    total: float = Field(description="heating degree days, K·day")
    base_c: float = Field(description="base temperature, °C")
    days_used: int
    days_without_data: int


class DegreeDayModel(BaseModel):
    """Daily regression E = β0 + βH · HDD (ASHRAE Guideline 14 checked)."""

    intercept_kwh_per_day: float = Field(description="β0, kWh per day")
    kwh_per_degree_day: float = Field(description="βH, kWh per K·day")
    days: int
    cv_rmse: float | None = Field(description="fraction")
    nmbe: float | None = Field(description="fraction")


class NormalisedEnergyModel(BaseModel):
    normalised_kwh: float = Field(description="E_base + E_dep × HDD_normal / HDD_actual, kWh")
    measured_kwh: float
    base_kwh: float
    dependent_kwh: float
    hdd_actual: float = Field(description="K·day")
    hdd_normal: float = Field(description="K·day, of the days normalised")
    hdd_normal_source: str = Field(
        description="where HDD_normal came from: the `hdd_normal` parameter, or the campus "
        "registry's analytics.hdd_normal (with its source)"
    )


class DaysLeftOut(BaseModel):
    """Whole local days the degree-day model leaves out: their energy is not the day's."""

    count: int = Field(description="days")
    dates: list[date] = Field(description="local dates, oldest first")
    reason: str


class EmissionFactor(BaseModel):
    carrier: str
    method: Literal["location", "market"]
    year: int
    factor_year: int | None
    g_per_kwh: float = Field(description="g CO₂e/kWh")
    substituted: bool
    placeholder: bool


class Emissions(BaseModel):
    """Scope 2 emissions, both methods side by side (GHG Protocol)."""

    location_based_kg: float | None = Field(
        description="kg CO₂e; null when no meter of the building has data in the period"
    )
    market_based_kg: float | None = Field(
        description="kg CO₂e; null when no meter of the building has data in the period"
    )
    electricity_kwh: float
    district_heating_kwh: float
    factors: list[EmissionFactor]


ENERGY_UNITS = {
    "*_kwh": "kWh",
    "eui": "kWh/m² per year",
    "kwh_per_occupant_hour": "kWh per person-hour",
    "kwh_per_used_seat_hour": "kWh per used seat-hour",
    "*_kw": "kW (mean over an hour)",
    "*_ratio, *_share": "fraction",
    "degree_days": "K·day",
    "*_kg": "kg CO₂e",
    "g_per_kwh": "g CO₂e/kWh",
}


class BuildingEnergyAnswer(BaseModel):
    """Energy and sustainability of one building over a period."""

    building_id: str
    name: str
    heated_area_m2: float = Field(description="m²")
    period: AnalysisPeriod
    units: Units
    points_excluded: PointsExcluded
    electricity_kwh: float | None = Field(description="delivered electricity, kWh")
    heat_kwh: float | None = Field(description="delivered district heat, kWh")
    delivered_kwh: float | None = Field(
        description="kWh; null when no meter of the building has data in the period (no "
        "data, not 0 kWh: `meters_without_data` names them)"
    )
    register_resets: int = Field(description="register decreases booked as 0 kWh")
    meters_without_data: list[str]
    eui: Eui | None = Field(description="null without meter data")
    use_intensity: UseIntensityModel
    load_shape: LoadShapeModel | None
    degree_days: DegreeDays | None
    degree_day_model: DegreeDayModel | None = Field(
        description="null when not fitted: `degree_day_model_refused` says why (fewer than "
        f"{MIN_DEGREE_DAY_FIT_DAYS} whole days, daily HDD spread under {MIN_HDD_SPREAD:g} "
        "K·day, ASHRAE Guideline 14 not met, or no outdoor temperature)"
    )
    degree_day_model_refused: str | None = Field(
        default=None, description="why there is no degree-day model; null when there is one"
    )
    degree_day_days_left_out: DaysLeftOut = Field(
        description="whole local days left out of the degree-day model because the readings "
        "of some meter do not reach within 1 h of both midnights (a gap across midnight books "
        "several days' energy to the day it ends in), as IPMVP savings leave them out"
    )
    normalised: NormalisedEnergyModel | None = Field(
        description="null without normal degree days (the `hdd_normal` parameter or the "
        "registry's analytics.hdd_normal) or without a degree-day model that holds"
    )
    emissions: Emissions
    notes: list[str] = Field(description="what was annualised, substituted or left out, and why")
    sources: Sources


def _load_shape(energy: BuildingEnergy) -> LoadShapeModel | None:
    shape = energy.load_shape
    if shape is None:
        return None
    return LoadShapeModel(
        **{k: number(v) if isinstance(v, float) else v for k, v in vars(shape).items()}
    )


def energy_answer(
    energy: BuildingEnergy, requested: Period, campus: Campus
) -> BuildingEnergyAnswer:
    building = campus.building(energy.building_id)
    assert building is not None
    eui, hdd, model = energy.eui, energy.degree_days, energy.degree_day_model
    metered = math.isfinite(energy.delivered_kwh)  # some meter has data in the period
    return BuildingEnergyAnswer(
        building_id=energy.building_id,
        name=building.name,
        heated_area_m2=building.heated_area_m2,
        period=period_model(requested, energy.start, energy.end, campus),
        units=ENERGY_UNITS,
        points_excluded=dict(energy.points_excluded),
        electricity_kwh=number(energy.electricity_kwh),
        heat_kwh=number(energy.heat_kwh),
        delivered_kwh=number(energy.delivered_kwh),
        register_resets=energy.register_resets,
        meters_without_data=list(energy.meters_without_data),
        eui=Eui(
            kwh_per_m2_year=eui.kwh_per_m2_year,
            annualised=eui.annualised,
            annual_kwh=eui.annual_kwh,
            delivered_kwh=eui.delivered_kwh,
            heated_area_m2=eui.heated_area_m2,
            days_covered=eui.days_covered,
            annualised_from_days=eui.days_covered if eui.annualised else None,
            reliable=eui.reliable,
            caveat=eui.caveat,
            benchmark_kwh_per_m2=eui.context_kwh_per_m2,
        )
        if eui is not None
        else None,
        use_intensity=use_intensity_model(energy),
        load_shape=_load_shape(energy),
        degree_days=DegreeDays(
            total=hdd.total,
            base_c=hdd.base_c,
            days_used=hdd.days_used,
            days_without_data=hdd.days_without_data,
        )
        if hdd is not None
        else None,
        degree_day_model=DegreeDayModel(
            intercept_kwh_per_day=model.intercept_kwh,
            kwh_per_degree_day=model.kwh_per_degree_day,
            days=model.n,
            cv_rmse=number(model.cv_rmse),
            nmbe=number(model.nmbe),
        )
        if model is not None
        else None,
        degree_day_model_refused=energy.degree_day_model_refused,
        degree_day_days_left_out=DaysLeftOut(
            count=len(energy.days_left_out),
            dates=list(energy.days_left_out),
            reason="the readings of a meter do not span the day (within "
            f"{REGISTER_EDGE_TOLERANCE / timedelta(hours=1):g} h of both local midnights): its "
            "energy cannot be "
            "attributed to the day",
        ),
        normalised=NormalisedEnergyModel(
            **vars(energy.normalised), hdd_normal_source=energy.hdd_normal_source or ""
        )
        if energy.normalised is not None
        else None,
        emissions=Emissions(
            location_based_kg=energy.emissions.location_based_kg if metered else None,
            market_based_kg=energy.emissions.market_based_kg if metered else None,
            electricity_kwh=energy.emissions.electricity_kwh,
            district_heating_kwh=energy.emissions.district_heating_kwh,
            factors=[EmissionFactor(**vars(f)) for f in energy.emissions.factors],
        ),
        notes=list(energy.notes),
        sources=[
            SOURCES["ssb2011"],
            SOURCES["price2010"],
            SOURCES["degree_days"],
            SOURCES["ghg_scope2"],
            SOURCES["nve"],
        ],
    )


# -- savings (IPMVP Option C) -----------------------------------------------------------------


class Guideline14CheckModel(BaseModel):
    """One ASHRAE Guideline 14 criterion applied to the baseline model."""

    criterion: Literal["cv_rmse", "nmbe"] = Field(description="CV(RMSE) or NMBE")
    value: float = Field(description="the model's figure, fraction (NMBE signed)")
    limit: float = Field(
        description="largest acceptable value (CV(RMSE)) or |value| (NMBE), fraction"
    )
    passed: bool


class SavingsBaselineModel(BaseModel):
    """The daily baseline E = β0 + βH·HDD, fitted by least squares on the baseline days."""

    formula: str = Field(description="the model, per whole local day")
    intercept_kwh_per_day: float = Field(description="β0, kWh per day")
    kwh_per_degree_day: float = Field(description="βH, kWh per K·day")
    hdd_base_c: float = Field(description="base temperature of the degree days, °C")
    days: int = Field(description="n: baseline days fitted")
    parameters: int = Field(description="p: parameters of the model")
    granularity: str = Field(description="the data the model is fitted to")
    cv_rmse: float | None = Field(description="√(Σ(y − ŷ)²/(n − p)) / ȳ, fraction")
    nmbe: float | None = Field(description="Σ(y − ŷ) / ((n − p)·ȳ), fraction")
    guideline_14: list[Guideline14CheckModel] = Field(
        description="each ASHRAE Guideline 14 criterion with its value and limit"
    )
    accepted: bool = Field(description="true when every Guideline 14 criterion is met")


class SavingsPeriod(BaseModel):
    """One period of the comparison, in the whole local days the model works on."""

    start: Timestamp = Field(description="local midnight opening the first whole day, UTC")
    end: Timestamp = Field(description="local midnight closing the last whole day, UTC")
    requested_start: Timestamp
    requested_end: Timestamp
    days: int = Field(description="whole local days in the period")
    days_used: int = Field(
        description="days with readings of every meter across the day (within 1 h of both "
        "midnights) and a daily mean outdoor temperature: the days the model sees"
    )
    days_without_energy: int = Field(description="days some meter's readings do not span")
    days_without_outdoor_temperature: int = Field(description="days without a daily mean")
    hdd: float = Field(description="heating degree days of the days used, K·day")
    measured_kwh: float = Field(description="delivered energy of the days used, kWh")


class BuildingSavingsAnswer(BaseModel):
    """IPMVP Option C: avoided energy of a reporting period against a degree-day baseline."""

    building_id: str
    name: str
    period: AnalysisPeriod = Field(description="the reporting period")
    units: Units
    points_excluded: PointsExcluded
    meters: list[str] = Field(description="the meters inside the measurement boundary")
    baseline_period: SavingsPeriod
    reporting_period: SavingsPeriod
    baseline_model: SavingsBaselineModel
    adjusted_baseline_kwh: float = Field(
        description="Σ of the baseline model over the reporting days used, driven by their "
        "degree days, kWh"
    )
    measured_kwh: float = Field(description="Σ measured over the reporting days used, kWh")
    avoided_kwh: float = Field(description="adjusted baseline − measured, kWh")
    avoided_share: float | None = Field(
        description="avoided / adjusted baseline, fraction; positive: less was used"
    )
    notes: list[str] = Field(description="days left out, extrapolation, what is not stated")
    sources: Sources


class BaselineRefusal(BaseModel):
    """Why a baseline was refused: the failing criteria, with values, limits and advice."""

    building_id: str
    baseline_period: SavingsPeriod
    baseline_model: SavingsBaselineModel
    failed: list[Guideline14CheckModel] = Field(description="the criteria the model fails")
    detail: str = Field(description="the refusal in words, with what to do")


SAVINGS_UNITS = {
    "*_kwh": "kWh",
    "intercept_kwh_per_day": "kWh per day",
    "kwh_per_degree_day": "kWh per K·day",
    "hdd": "K·day (heating degree days)",
    "hdd_base_c": "°C",
    "cv_rmse, nmbe, limit, avoided_share": "fraction",
    "days": "whole local days",
}
SAVINGS_ADVICE = (
    "Use a longer baseline (a whole heating season, or a year), one without unusual "
    "weeks (holidays, faults, works under way), and check the meters' and the weather "
    "station's data for gaps, resets and replaced meters"
)


def _savings_period(days: SavingsDays) -> SavingsPeriod:
    used = days.used
    return SavingsPeriod(
        start=isoformat_utc(days.start),
        end=isoformat_utc(days.end),
        requested_start=isoformat_utc(days.requested_start),
        requested_end=isoformat_utc(days.requested_end),
        days=int(days.dates.size),
        days_used=int(used.sum()),
        days_without_energy=days.days_without_energy,
        days_without_outdoor_temperature=days.days_without_hdd,
        hdd=float(days.hdd[used].sum()),
        measured_kwh=float(days.energy_kwh[used].sum()),
    )


def _check_model(check: Guideline14Check) -> Guideline14CheckModel:
    return Guideline14CheckModel(
        criterion=check.criterion, value=check.value, limit=check.limit, passed=check.passed
    )


def _savings_baseline_model(savings: BuildingSavings) -> SavingsBaselineModel:
    model = savings.model
    return SavingsBaselineModel(
        formula=f"E_day = β0 + βH · HDD_day (HDD base {savings.hdd_base_c:g} °C)",
        intercept_kwh_per_day=model.intercept_kwh,
        kwh_per_degree_day=model.kwh_per_degree_day,
        hdd_base_c=savings.hdd_base_c,
        days=model.n,
        parameters=model.p,
        granularity=model.granularity,
        cv_rmse=number(model.cv_rmse),
        nmbe=number(model.nmbe),
        guideline_14=[_check_model(c) for c in savings.checks],
        accepted=savings.rejection is None,
    )


def savings_answer(
    savings: BuildingSavings, requested: Period, campus: Campus
) -> BuildingSavingsAnswer:
    """The answer for savings Guideline 14 accepted (``baseline_refusal`` for the others)."""
    building = campus.building(savings.building_id)
    avoided = savings.avoided
    assert building is not None and avoided is not None
    return BuildingSavingsAnswer(
        building_id=savings.building_id,
        name=building.name,
        period=period_model(requested, savings.reporting.start, savings.reporting.end, campus),
        units=SAVINGS_UNITS,
        points_excluded=savings.points_excluded,
        meters=list(savings.meters),
        baseline_period=_savings_period(savings.baseline),
        reporting_period=_savings_period(savings.reporting),
        baseline_model=_savings_baseline_model(savings),
        adjusted_baseline_kwh=avoided.predicted_kwh,
        measured_kwh=avoided.measured_kwh,
        avoided_kwh=avoided.avoided_kwh,
        avoided_share=number(avoided.avoided_share),
        notes=list(savings.notes),
        sources=[SOURCES["ipmvp"], SOURCES["ashrae_g14"], SOURCES["degree_days"]],
    )


def baseline_refusal(savings: BuildingSavings) -> BaselineRefusal:
    """Why Guideline 14 refused the baseline of ``savings`` (its ``rejection`` is set)."""
    assert savings.rejection is not None
    period = _savings_period(savings.baseline)
    model = savings.model
    failed = [_check_model(c) for c in savings.checks if not c.passed]
    reasons = "; ".join(savings.rejection.reasons)
    detail = (
        f"the baseline of building {savings.building_id} ({period.days_used} days from "
        f"{period.start} to {period.end}) fails ASHRAE Guideline 14 for {model.granularity} "
        f"data: {reasons}. The degree-day model E = β0 + βH·HDD does not explain the "
        f"baseline's daily energy well enough to adjust it to the reporting period, so no "
        f"avoided energy is given. {SAVINGS_ADVICE}."
    )
    return BaselineRefusal(
        building_id=savings.building_id,
        baseline_period=period,
        baseline_model=_savings_baseline_model(savings),
        failed=failed,
        detail=detail,
    )


def baseline_refusal_problem(savings: BuildingSavings) -> ApiProblem:
    """422 problem for a baseline Guideline 14 refuses: detail, ``failed`` criteria, model."""
    refusal = baseline_refusal(savings)
    return ApiProblem(
        "invalid-parameter",
        refusal.detail,
        parameter="baseline_start",
        failed=[c.model_dump() for c in refusal.failed],
        baseline_period=refusal.baseline_period.model_dump(),
        baseline_model=refusal.baseline_model.model_dump(),
    )


# -- data quality ---------------------------------------------------------------------------


class SensorDay(BaseModel):
    """One sensor's quality of one quantity on one local day."""

    sensor: str
    quantity: str
    date: LocalDate = Field(description="local date (site time zone)")
    points: int = Field(description="readings received that day")
    flagged: int = Field(description="readings failing at least one check")
    flagged_by_check: dict[str, int] = Field(description="check -> readings it flagged")
    missing_points: int = Field(description="expected readings that never came (gaps)")
    qci: float | None = Field(description="(points − flagged) / points, 0..1; null without points")
    completeness: float | None = Field(description="points / (points + missing), 0..1")


class SensorGapModel(BaseModel):
    sensor: str
    quantity: str
    after: Timestamp = Field(description="last reading before the gap (or the window start)")
    before: Timestamp = Field(description="first reading after it (or the window end)")
    missing: int = Field(description="expected readings missing")


class SeriesRef(BaseModel):
    sensor: str
    quantity: str


class QualityGroupModel(BaseModel):
    """The checks' findings for one quantity in one building, over the whole period."""

    building: str = Field(description="building id", examples=["rfb"])
    quantity: str = Field(examples=["co2"])
    series: int = Field(description="sensors of that quantity in the building")
    sensor_days: int = Field(description="(sensor, local day) rows behind the figures")
    points: int = Field(description="readings in the period")
    flagged: int = Field(description="readings failing at least one check")
    flagged_by_check: dict[str, int] = Field(description="check -> readings it flagged")
    missing_points: int = Field(description="expected readings that never came (gaps)")
    qci: float | None = Field(description="(points − flagged) / points, 0..1; null without points")
    completeness: float | None = Field(description="points / (points + missing), 0..1")


class DaysPage(BaseModel):
    """Which rows of the per-sensor-day detail this answer holds (also in the headers)."""

    total: int = Field(description="(sensor, local day) rows of the period: series × local days")
    offset: int = Field(description="rows skipped before `days[0]`")
    limit: int = Field(description="rows asked for; `days` holds fewer on the last page")
    order: str = Field(
        default="local date, then the sensor in registry order (buildings, their spaces' "
        "occupancy, co2, temperature, humidity, then their meters)",
        description="the rows' order, the same on every page",
    )


class QualityAnswer(BaseModel):
    """The data-quality checks run on the raw readings of the period (METRICS.md).

    The summary (``points`` … ``flagged_by_check``, ``by_building_quantity``, ``gaps``,
    ``series_without_data``) covers the whole period; ``days`` is one page of the
    per-sensor-day rows (``days_page``).
    """

    scope: Literal["campus", "building"]
    id: str
    period: AnalysisPeriod
    units: Units
    points_excluded: PointsExcluded
    points: int = Field(description="readings in the period")
    flagged_points: int = Field(description="readings failing at least one check")
    qci: float | None = Field(description="(points − flagged) / points, 0..1")
    flagged_by_check: dict[str, int] = Field(description="check -> readings it flagged")
    missing_points: int = Field(description="expected readings that never came")
    by_building_quantity: list[QualityGroupModel] = Field(
        description="QCI, flags per check and completeness per building and quantity, over "
        "the whole period; buildings in registry order"
    )
    days_page: DaysPage
    days: list[SensorDay] = Field(
        description="one page of the rows per sensor, quantity and local day (`limit`, "
        "`offset`; `days_page`, and the X-Total-Count and Link headers)"
    )
    gaps: list[SensorGapModel] = Field(
        description="every gap of the period (a gap across a 7-day boundary of the checks' "
        "chunks is listed as two)"
    )
    series_without_data: list[SeriesRef]
    note: str
    sources: Sources


QUALITY_UNITS = {
    "points, flagged*, missing*, total, offset, limit": "readings (rows for the page fields)",
    "qci, completeness": "fraction 0..1",
}


def _sensor_day(d: SensorDayQuality) -> SensorDay:
    return SensorDay(
        sensor=d.sensor,
        quantity=d.quantity,
        date=d.date,
        points=d.points,
        flagged=d.flagged,
        flagged_by_check={k: int(v) for k, v in d.flagged_by_check.items()},
        missing_points=d.missing_points,
        qci=number(d.qci),
        completeness=number(d.completeness),
    )


def _quality_group(g: QualityGroup) -> QualityGroupModel:
    return QualityGroupModel(
        building=g.building,
        quantity=g.quantity,
        series=g.series,
        sensor_days=g.sensor_days,
        points=g.points,
        flagged=g.flagged,
        flagged_by_check=dict(g.flagged_by_check),
        missing_points=g.missing_points,
        qci=number(g.qci),
        completeness=number(g.completeness),
    )


def quality_summary_answer(
    summary: QualitySummary,
    scope_id: str,
    campus_scope: bool,
    requested: Period,
    campus: Campus,
    days_limit: int,
) -> QualityAnswer:
    """The answer: the summary of the whole period and the page of days it holds."""
    return QualityAnswer(
        scope="campus" if campus_scope else "building",
        id=scope_id,
        period=period_model(requested, summary.start, summary.end, campus),
        units=QUALITY_UNITS,
        points_excluded={"all": summary.flagged_points},
        points=summary.points,
        flagged_points=summary.flagged_points,
        qci=number(summary.qci),
        flagged_by_check=dict(summary.flagged_by_check),
        missing_points=summary.missing_points,
        by_building_quantity=[_quality_group(g) for g in summary.groups],
        days_page=DaysPage(total=summary.days_total, offset=summary.days_offset, limit=days_limit),
        days=[_sensor_day(d) for d in summary.days],
        gaps=[
            SensorGapModel(
                sensor=g.sensor,
                quantity=g.quantity,
                after=isoformat_utc(g.after),
                before=isoformat_utc(g.before),
                missing=g.missing,
            )
            for g in summary.gaps
        ],
        series_without_data=[
            SeriesRef(sensor=s, quantity=q) for s, q in summary.series_without_data
        ],
        note="The checks ran on the raw readings now; the KPIs leave out the flags stored by "
        "the last scheduled run (campuslab analytics quality).",
        sources=[SOURCES["pecos"]],
    )


def quality_answer(
    overview: QualityOverview, scope_id: str, campus_scope: bool, requested: Period, campus: Campus
) -> QualityAnswer:
    """The answer with every day of ``overview`` (the planner report's appendix)."""
    summary = quality_summary_of(campus, overview)
    return quality_summary_answer(
        summary, scope_id, campus_scope, requested, campus, days_limit=summary.days_total
    )


# -- recommendations ------------------------------------------------------------------------


class EvidenceFigure(BaseModel):
    value: float | None = Field(description="null when suppressed")
    unit: str = Field(examples=["seat-h"])
    suppressed: bool
    bound: Literal["lower", "upper"] | None = Field(
        default=None,
        description="below facilities, when the space's figures rest on suppressed 15-minute "
        "cells (counted as 0 people): whether this figure is a lower or an upper bound of "
        "what the unsuppressed cells would give; null when exact",
    )


class RecommendationModel(BaseModel):
    space_id: str
    building_id: str
    kind: Literal[
        "larger_room",
        "split_or_reassign",
        "release_bookings",
        "review_low_use",
        "insufficient_data",
    ]
    severity: Literal["high", "medium", "low", "info"]
    headline: str
    impact_seat_hours: float = Field(
        description="seat-hours at stake; decides the order (the evidence's seat-hour "
        "figure, with its bound)"
    )
    evidence: dict[str, EvidenceFigure] = Field(description="the numbers behind the advice")
    suppressed_cells: int = Field(
        default=0,
        description="below facilities: suppressed 15-minute cells (site's hourly rule) of the "
        "space in the core hours, counted as 0 people; 0 means the evidence is exact for the "
        "published cells",
    )


class RightSizingRulesModel(BaseModel):
    min_core_hours: int = Field(description="h")
    min_used_hours: int = Field(description="h")
    min_booked_hours: int = Field(description="h")
    split_below_p95: float = Field(description="fraction of capacity")
    larger_room_above_share: float = Field(description="fraction of used hours")
    release_above_no_show_rate: float = Field(description="fraction of booked hours")
    review_below_frequency: float = Field(description="fraction of core hours")


class RecommendationsAnswer(BaseModel):
    """Right-sizing advice with its evidence, largest impact first."""

    scope: Literal["campus", "building"]
    id: str
    period: AnalysisPeriod
    units: Units
    points_excluded: PointsExcluded
    rules: RightSizingRulesModel
    spaces_considered: int
    spaces_with_timetable: list[str]
    withheld_spaces: list[str] = Field(
        description="spaces not advised on for privacy: fewer seats than k (roles below facilities)"
    )
    recommendations: list[RecommendationModel]
    suppression: Suppression
    sources: Sources


RECOMMENDATION_UNITS = {
    "impact_seat_hours": "seat-hours",
    "evidence": "each figure states its unit",
}


def protected_recommendations(
    overview: RecommendationsOverview, campus: Campus, *, k: int, exact: bool
) -> list[RecommendationModel]:
    models = []
    for advice in overview.report.recommendations:
        space = campus.space(advice.space_id)
        capacity = space.capacity if space is not None else math.inf
        suppressed = overview.suppressed_cells.get(advice.space_id, 0)
        shown = protect_recommendation(advice, capacity, k, exact, suppressed)
        models.append(
            RecommendationModel(
                space_id=advice.space_id,
                building_id=advice.building_id,
                kind=advice.kind,
                severity=advice.severity,
                headline=shown.headline,
                impact_seat_hours=advice.impact_seat_hours,
                evidence={
                    name: EvidenceFigure(
                        value=number(value),
                        unit=unit,
                        suppressed=hidden,
                        bound=shown.bounds.get(name),
                    )
                    for name, (value, unit, hidden) in shown.evidence.items()
                },
                suppressed_cells=0 if exact else suppressed,
            )
        )
    return models


def recommendations_answer(
    overview: RecommendationsOverview,
    scope_id: str,
    campus_scope: bool,
    requested: Period,
    campus: Campus,
    *,
    k: int,
    exact: bool,
) -> RecommendationsAnswer:
    report = overview.report
    advice = protected_recommendations(overview, campus, k=k, exact=exact)
    hidden = sum(1 for a in advice for f in a.evidence.values() if f.suppressed)
    return RecommendationsAnswer(
        scope="campus" if campus_scope else "building",
        id=scope_id,
        period=period_model(requested, report.period_start, report.period_end, campus),
        units=RECOMMENDATION_UNITS,
        points_excluded={"occupancy": overview.points_excluded},
        rules=RightSizingRulesModel(**vars(report.rules)),
        spaces_considered=len(report.spaces),
        spaces_with_timetable=list(overview.spaces_with_timetable),
        withheld_spaces=list(overview.withheld),
        recommendations=advice,
        suppression=suppression_model(not exact, k, hidden + len(overview.withheld)),
        sources=[SOURCES["smg"], SOURCES["hefce"], SOURCES["privacy"]],
    )


# -- request: the building, the scope filter, the timetables ---------------------------------

BUILDING_ID_PATTERN = ID_PATTERN


def get_building(
    building_id: Annotated[
        str,
        Path(
            description="building id from the campus registry",
            examples=["rfb"],
            json_schema_extra={"pattern": BUILDING_ID_PATTERN, "maxLength": MAX_ID_LENGTH},
        ),
    ],
    campus: CampusDep,
) -> Building:
    """The building named in the path: 422 for a malformed id, 404 problem for an unknown one."""
    problem = id_problem(building_id)
    if problem is not None:
        raise invalid_parameter("building_id", f"not a building id: {problem} (e.g. rfb)")
    building = campus.building(building_id)
    if building is None:
        known = ", ".join(b.id for b in campus.buildings)
        raise HTTPException(404, f"no building {shown(building_id)}; the campus has: {known}")
    return building


BuildingDep = Annotated[Building, Depends(get_building)]


def building_filter(campus: Campus, building: str | None) -> str | None:
    """The ``building`` query parameter: None (the campus) or a known building id."""
    if building is not None and campus.building(building) is None:
        known = ", ".join(b.id for b in campus.buildings)
        raise invalid_parameter(
            "building",
            f"building {shown(building)} is not in the campus registry; use one of: {known}",
        )
    return building


BuildingQuery = Annotated[
    str | None,
    Query(
        max_length=MAX_PARAMETER_LENGTH,
        description="only this building (id); default: the whole campus",
        examples=["rfb"],
    ),
]


async def get_timetables(request: Request) -> TimetableStore | None:
    """The imported calendars (``create_app(timetables=...)``); None when not configured."""
    return getattr(request.app.state, "timetables", None)


TimetablesDep = Annotated[TimetableStore | None, Depends(get_timetables)]


def withheld_space_problem(space_id: str, capacity: int, k: int, what: str) -> ApiProblem:
    """403 for a role below facilities asking about a space with fewer than k seats."""
    return ApiProblem(
        "forbidden",
        f"{what} of {space_id} ({capacity} seats, fewer than k = {k}) is withheld from roles "
        "below facilities: in so small a space it tells when its occupant is in (METRICS.md, "
        "Privacy)",
        required_role=Role.FACILITIES.value,
    )
