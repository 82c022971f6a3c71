"""Energy of one building: ``/energy`` (the period's figures) and ``/savings`` (IPMVP Option C).

Researcher role. The figures come from ``analytics.energy_kpis.building_energy``
and ``analytics.report.building_savings``. Energy holds no counts of people, but
the use intensity of ``/energy`` does (occupant-hours, used seat-hours): for
facilities they are exact, over every space; below facilities they come from the
published 15-minute cells of the spaces with k seats or more
(``privacy_counts.protected_occupant_hours``), so that no window, nor a building
minus its exported rooms, gives a suppressed count back (METRICS.md, Privacy).

Savings are a route of their own rather than parameters of ``/energy``: they
compare two periods through a fitted model, so their answer has another shape,
their parameters (a baseline) are required, and a baseline that fails ASHRAE
Guideline 14 is a 422 for savings without taking the period's energy figures
down with it.
"""

from __future__ import annotations

from datetime import timedelta, tzinfo
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from campuslab.analytics.energy_kpis import building_energy
from campuslab.analytics.report import SavingsUnavailable, building_savings
from campuslab.analytics.savings import MIN_BASELINE_DAYS
from campuslab.api.dependencies import CampusDep, ClockDep, ReadLimitsDep, StoreDep
from campuslab.api.keys import Role
from campuslab.api.models_analytics import (
    BuildingDep,
    BuildingEnergyAnswer,
    BuildingSavingsAnswer,
    EndQuery,
    StartQuery,
    analysis_limit,
    analysis_period,
    baseline_refusal_problem,
    energy_answer,
    savings_answer,
)
from campuslab.api.parameters import MAX_PARAMETER_LENGTH, Period, parse_instant
from campuslab.api.privacy_counts import protected_occupant_hours
from campuslab.api.problems import ApiProblem, invalid_parameter, problem_responses
from campuslab.api.routers.exports import OpenDataDep
from campuslab.api.security import PrincipalDep, require_role
from campuslab.core.readings import isoformat_utc

router = APIRouter(
    prefix="/api/v1/buildings",
    tags=["energy"],
    dependencies=[Depends(require_role(Role.RESEARCHER))],
)

HddNormalQuery = Annotated[
    float | None,
    Query(
        ge=0,
        le=20_000,
        description="normal-year heating degree days (K·day, same base) of the period's whole "
        "local days, e.g. from the Norwegian Meteorological Institute's normals; overrides the "
        "campus registry's analytics.hdd_normal, by which the temperature-dependent part of "
        "the energy is normalised by default when it is set (prorated by days when days are "
        "left out of the degree-day model)",
        examples=[410.5],
    ),
]
BaselineStartQuery = Annotated[
    str,
    Query(
        max_length=MAX_PARAMETER_LENGTH,
        description="start of the baseline period, inclusive; RFC 3339, or a date: local "
        "midnight (a time without an offset is local time, site time zone). The model "
        "works on whole local days: use a local midnight.",
        json_schema_extra={"format": "date-time"},
        examples=["2026-01-05T00:00:00+01:00"],
    ),
]
BaselineEndQuery = Annotated[
    str,
    Query(
        max_length=MAX_PARAMETER_LENGTH,
        description="end of the baseline period, exclusive; RFC 3339; at or before `start` "
        f"and at least {MIN_BASELINE_DAYS} days after `baseline_start`",
        json_schema_extra={"format": "date-time"},
        examples=["2026-02-02T00:00:00+01:00"],
    ),
]


@router.get(
    "/{building_id}/energy",
    response_model=BuildingEnergyAnswer,
    summary="Energy and emissions of one building",
    description="Delivered electricity and district heat of `start <= t < end` (cumulative "
    "registers: sums of positive differences, a decrease is a reset), EUI in kWh/m² per "
    "year (annualised, and said so, when the period is not a year; SSB 2011 benchmark), "
    "kWh per occupant-hour and per used seat-hour, the electricity load shape (Price 2010), "
    "heating degree days, the daily degree-day model (days whose register readings do not "
    "span them, e.g. a gap across midnight, are left out and listed in "
    "`degree_day_days_left_out`) and the degree-day-normalised energy (normal degree days "
    "from `hdd_normal`, else from the registry's analytics.hdd_normal), and "
    "Scope 2 emissions location- and market-based side by side (GHG Protocol; NVE factors). "
    "The period is widened to whole UTC hours; default: the last 7 whole local days. "
    "At most 366 days per request. Below facilities, occupant-hours and used seat-hours are "
    "computed from the published 15-minute occupancy cells (as GET /api/v1/export gives "
    "them, up to the last complete quarter) of the spaces with k seats or more, each "
    "suppressed cell counted as 0 people: `use_intensity.lower_bound`, `suppressed_cells` "
    "and the `*_upper_bound` figures say how exact they are.",
    responses=problem_responses(404, 422, 500),
)
def read_energy(
    building: BuildingDep,
    store: StoreDep,
    campus: CampusDep,
    clock: ClockDep,
    limits: ReadLimitsDep,
    principal: PrincipalDep,
    open_data: OpenDataDep,
    start: StartQuery = None,
    end: EndQuery = None,
    hdd_normal: HddNormalQuery = None,
) -> BuildingEnergyAnswer:
    now = clock()
    period = analysis_period(start, end, now=now, campus=campus, limit=analysis_limit(limits))
    occupancy = None
    if not principal.sees_unsuppressed:
        occupancy = protected_occupant_hours(
            store, campus, open_data, period.start, period.end, now, building
        )
    energy = building_energy(
        store,
        campus,
        building.id,
        period.start,
        period.end,
        hdd_normal=hdd_normal,
        occupancy=occupancy,
    )
    return energy_answer(energy, period, campus)


def baseline_period(
    baseline_start: str, baseline_end: str, reporting: Period, limit: timedelta, tz: tzinfo
) -> Period:
    """The baseline asked for: before the reporting period, 14 days to ``limit`` long.

    Each failure is a 422 problem naming the parameter at fault.
    """
    begins = parse_instant("baseline_start", baseline_start, tz)
    ends = parse_instant("baseline_end", baseline_end, tz)
    if ends <= begins:
        raise invalid_parameter(
            "baseline_end",
            f"baseline_end {isoformat_utc(ends)} must be after baseline_start "
            f"{isoformat_utc(begins)}; the baseline is baseline_start <= t < baseline_end",
        )
    span = ends - begins
    if span > limit:
        raise ApiProblem(
            "range-too-long",
            f"baseline_start..baseline_end spans {_days(span)}; a baseline is limited to "
            f"{_days(limit)} per request: choose at most a year (a whole year, or a heating "
            "season, is what IPMVP baselines usually cover)",
            parameter="baseline_start",
        )
    if span < timedelta(days=MIN_BASELINE_DAYS):
        raise invalid_parameter(
            "baseline_end",
            f"baseline_start..baseline_end spans {_days(span)}; a baseline needs at least "
            f"{MIN_BASELINE_DAYS} whole local days, so that every weekday appears at least "
            "twice: choose a longer baseline (a whole heating season is better still)",
        )
    if ends > reporting.start:
        where = "overlaps" if begins < reporting.end else "comes after"
        raise invalid_parameter(
            "baseline_end",
            f"the baseline {isoformat_utc(begins)} to {isoformat_utc(ends)} {where} the "
            f"reporting period {isoformat_utc(reporting.start)} to "
            f"{isoformat_utc(reporting.end)} (start..end): IPMVP compares a reporting period "
            "with an earlier baseline, so baseline_end must be at or before start",
        )
    return Period(begins, ends)


def _days(span: timedelta) -> str:
    return f"{span / timedelta(days=1):.4g} days"


@router.get(
    "/{building_id}/savings",
    response_model=BuildingSavingsAnswer,
    summary="Avoided energy of one building against a baseline (IPMVP Option C)",
    description="Fits the daily baseline E = β0 + βH·HDD (delivered electricity and "
    "district heat against heating degree days, whole local days) on "
    "`baseline_start <= t < baseline_end`, checks it against ASHRAE Guideline 14 (daily "
    "data: CV(RMSE) ≤ 20 %, |NMBE| ≤ 5 %), and gives the adjusted baseline, the measured "
    "energy and the avoided energy (kWh and share) of the reporting period "
    "`start <= t < end` (default: the last 7 whole local days). A day counts only with data "
    "from every meter and the weather station. A baseline that fails Guideline 14 is a 422 "
    "problem whose `failed` lists each criterion with its value and limit; a baseline "
    f"shorter than {MIN_BASELINE_DAYS} days, not before the reporting period, or without "
    "data is a 422 naming the parameter. At most 366 days per period.",
    responses=problem_responses(404, 422, 500),
)
def read_savings(
    building: BuildingDep,
    store: StoreDep,
    campus: CampusDep,
    clock: ClockDep,
    limits: ReadLimitsDep,
    baseline_start: BaselineStartQuery,
    baseline_end: BaselineEndQuery,
    start: StartQuery = None,
    end: EndQuery = None,
) -> BuildingSavingsAnswer:
    limit = analysis_limit(limits)
    period = analysis_period(start, end, now=clock(), campus=campus, limit=limit)
    baseline = baseline_period(baseline_start, baseline_end, period, limit, campus.tz)
    try:
        savings = building_savings(
            store, campus, building.id, baseline.start, baseline.end, period.start, period.end
        )
    except SavingsUnavailable as unavailable:
        parameter = "baseline_start" if unavailable.period == "baseline" else "start"
        raise invalid_parameter(parameter, str(unavailable)) from None
    if savings.rejection is not None:
        raise baseline_refusal_problem(savings)
    return savings_answer(savings, period, campus)
