"""Utilisation of the campus and of a building: SMG 2006 figures pooled as seat-hours.

- ``GET /api/v1/campus/utilisation``: the campus, by building and by space type.
- ``GET /api/v1/buildings/{building_id}/utilisation``: one building, by space type.

Both take ``profile=true`` for the hour × weekday profile. Researcher role.
For facilities the figures come from ``analytics.report.utilisation_overview``
(exact hourly counts), which the planner report calls too. Below facilities,
spaces with fewer than k seats are left out of every pool, and the same pooling
(``analytics.report.utilisation_overview_of``) runs over the hourly occupancy
derived from the published 15-minute cells (``privacy_counts.protected_occupancy``):
a building's or the campus's total is then a sum of protected cells, so
subtracting rooms or buildings from it gives back nothing the export hides.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.exceptions import HTTPException

from campuslab.analytics.report import (
    NoSpaces,
    scope_space_ids,
    utilisation_overview,
    utilisation_overview_of,
    visible_space_ids,
    withheld_space_ids,
)
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
from campuslab.api.parameters import Period
from campuslab.api.privacy_counts import protected_occupancy
from campuslab.api.problems import ApiProblem, problem_responses
from campuslab.api.routers.exports import OpenDataDep, OpenDataSettings
from campuslab.api.security import Principal, ResearcherDep
from campuslab.core.registry import Campus
from campuslab.core.store.port import ReadingStore

router = APIRouter(tags=["utilisation"])

ProfileQuery = Annotated[
    bool,
    Query(description="also give the hour × weekday profile (local time), 7 × 24 cells"),
]

_DESCRIPTION = (
    "Frequency rate F, occupancy rate O and utilisation U = used seat-hours / available "
    "seat-hours over the core hours of `start <= t < end` (UK Space Management Group 2006; "
    "HESA Estates Management Record), pooled as seat-hours, never as a mean of rooms' "
    "percentages. Each group carries its HEFCE band (poor < 25 %, fair 25–35 %, good ≥ 35 %) "
    "and the same figures at the hour's peak count. Below the facilities role, spaces with "
    "fewer than k seats are left out (`withheld_spaces`), and every figure is computed from "
    "the published 15-minute cells (as GET /api/v1/export gives them), each suppressed cell "
    "counted as 0 people: `lower_bound`, `suppressed_cells` and `used_seat_hours_upper_bound` "
    "of each group say how exact its figures are (see `suppression`). The period is widened "
    "to whole UTC hours; default: the last 7 whole local days. At most 366 days per request."
)


def _overview(
    store: ReadingStore,
    campus: Campus,
    period: Period,
    now: datetime,
    principal: Principal,
    settings: OpenDataSettings,
    building_id: str | None,
    profile: bool,
) -> UtilisationOverviewAnswer:
    exact, k = principal.sees_unsuppressed, settings.k
    withheld = withheld_space_ids(campus, scope_space_ids(campus, building_id), k, exact)
    protection = None
    try:
        if exact:
            overview = utilisation_overview(
                store, campus, period.start, period.end, building_id, profile, withheld
            )
        else:
            spaces = visible_space_ids(campus, building_id, withheld)
            occupancy = protected_occupancy(
                store, campus, settings, period.start, period.end, now, spaces
            )
            overview = utilisation_overview_of(
                campus, occupancy.hourly, building_id, profile, withheld
            )
            protection = occupancy.use
    except NoSpaces as empty:
        if withheld:
            raise ApiProblem("forbidden", str(empty), required_role=Role.FACILITIES.value) from None
        raise HTTPException(404, str(empty)) from None
    return utilisation_overview_answer(
        overview, period, campus, k=k, exact=exact, protection=protection
    )


@router.get(
    "/api/v1/campus/utilisation",
    response_model=UtilisationOverviewAnswer,
    summary="Utilisation of the campus",
    description=_DESCRIPTION + " The campus, each building and each space type.",
    responses=problem_responses(422, 500),
)
def read_campus_utilisation(
    principal: ResearcherDep,
    store: StoreDep,
    campus: CampusDep,
    clock: ClockDep,
    limits: ReadLimitsDep,
    open_data: OpenDataDep,
    start: StartQuery = None,
    end: EndQuery = None,
    profile: ProfileQuery = False,
) -> UtilisationOverviewAnswer:
    now = clock()
    period = analysis_period(start, end, now=now, campus=campus, limit=analysis_limit(limits))
    return _overview(store, campus, period, now, principal, open_data, None, profile)


@router.get(
    "/api/v1/buildings/{building_id}/utilisation",
    response_model=UtilisationOverviewAnswer,
    summary="Utilisation of one building",
    description=_DESCRIPTION + " The building and each space type in it.",
    responses=problem_responses(403, 404, 422, 500),
)
def read_building_utilisation(
    principal: ResearcherDep,
    building: BuildingDep,
    store: StoreDep,
    campus: CampusDep,
    clock: ClockDep,
    limits: ReadLimitsDep,
    open_data: OpenDataDep,
    start: StartQuery = None,
    end: EndQuery = None,
    profile: ProfileQuery = False,
) -> UtilisationOverviewAnswer:
    now = clock()
    period = analysis_period(start, end, now=now, campus=campus, limit=analysis_limit(limits))
    return _overview(store, campus, period, now, principal, open_data, building.id, profile)
