"""Utilisation of the campus and of a building: SMG 2006 figures pooled as seat-hours.

- ``GET /api/v1/campus/utilisation``: the campus, by building and by space type.
- ``GET /api/v1/buildings/{building_id}/utilisation``: one building, by space type.

Both take ``profile=true`` for the hour × weekday profile. Researcher role.
The figures come from ``analytics.report.utilisation_overview``, which the
planner report calls too.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from campuslab.analytics.report import utilisation_overview
from campuslab.api.dependencies import CampusDep, ClockDep, ReadLimitsDep, StoreDep
from campuslab.api.keys import Role
from campuslab.api.models_analytics import (
    BuildingDep,
    EndQuery,
    StartQuery,
    UtilisationOverviewAnswer,
    analysis_limit,
    analysis_period,
    utilisation_overview_answer,
)
from campuslab.api.problems import problem_responses
from campuslab.api.security import require_role

router = APIRouter(tags=["utilisation"], dependencies=[Depends(require_role(Role.RESEARCHER))])

ProfileQuery = Annotated[
    bool,
    Query(description="also give the hour × weekday profile (local time), 7 × 24 cells"),
]

_DESCRIPTION = (
    "Frequency rate F, occupancy rate O and utilisation U = used seat-hours / available "
    "seat-hours over the core hours of `start <= t < end` (UK Space Management Group 2006; "
    "HESA Estates Management Record), pooled as seat-hours, never as a mean of rooms' "
    "percentages. Each group carries its HEFCE band (poor < 25 %, fair 25–35 %, good ≥ 35 %) "
    "and the same figures at the hour's peak count. The period is widened to whole UTC hours; "
    "default: the last 7 whole local days. At most 366 days per request."
)


@router.get(
    "/api/v1/campus/utilisation",
    response_model=UtilisationOverviewAnswer,
    summary="Utilisation of the campus",
    description=_DESCRIPTION + " The campus, each building and each space type.",
    responses=problem_responses(422, 500),
)
def read_campus_utilisation(
    store: StoreDep,
    campus: CampusDep,
    clock: ClockDep,
    limits: ReadLimitsDep,
    start: StartQuery = None,
    end: EndQuery = None,
    profile: ProfileQuery = False,
) -> UtilisationOverviewAnswer:
    period = analysis_period(start, end, now=clock(), campus=campus, limit=analysis_limit(limits))
    overview = utilisation_overview(store, campus, period.start, period.end, profile=profile)
    return utilisation_overview_answer(overview, period, campus)


@router.get(
    "/api/v1/buildings/{building_id}/utilisation",
    response_model=UtilisationOverviewAnswer,
    summary="Utilisation of one building",
    description=_DESCRIPTION + " The building and each space type in it.",
    responses=problem_responses(404, 422, 500),
)
def read_building_utilisation(
    building: BuildingDep,
    store: StoreDep,
    campus: CampusDep,
    clock: ClockDep,
    limits: ReadLimitsDep,
    start: StartQuery = None,
    end: EndQuery = None,
    profile: ProfileQuery = False,
) -> UtilisationOverviewAnswer:
    period = analysis_period(start, end, now=clock(), campus=campus, limit=analysis_limit(limits))
    overview = utilisation_overview(
        store, campus, period.start, period.end, building_id=building.id, profile=profile
    )
    return utilisation_overview_answer(overview, period, campus)
