"""GET /api/v1/spaces/{space_id}/ieq: indoor environmental quality over occupied hours.

Researcher role. The figures come from ``analytics.climate_kpis.space_ieq``
(EN 16798-1:2019 categories, FHI's 1000 ppm norm, ISO 7730 PMV/PPD, the
EN 16798-1 adaptive model).
"""

from __future__ import annotations

from fastapi import APIRouter

from campuslab.analytics.climate_kpis import space_ieq
from campuslab.analytics.report import is_withheld
from campuslab.api.dependencies import CampusDep, ClockDep, ReadLimitsDep, SpaceDep, StoreDep
from campuslab.api.models_analytics import (
    EndQuery,
    SpaceIeqAnswer,
    StartQuery,
    analysis_limit,
    analysis_period,
    ieq_answer,
    withheld_space_problem,
)
from campuslab.api.problems import problem_responses
from campuslab.api.routers.exports import OpenDataDep
from campuslab.api.security import ResearcherDep

router = APIRouter(prefix="/api/v1/spaces", tags=["indoor climate"])


@router.get(
    "/{space_id}/ieq",
    response_model=SpaceIeqAnswer,
    summary="Indoor environmental quality of one space",
    description="Shares of the occupied hours (hourly mean occupancy > 0) of "
    "`start <= t < end` in each EN 16798-1:2019 category of CO₂ above outdoor (ΔCO₂; outdoor "
    "CO₂ hour by hour from the site's weather station when it reports CO₂, else the site's "
    "setting, as `co2.outdoor_co2_source` says), "
    "operative temperature (heating or cooling season) and relative humidity; occupied "
    "hours above FHI's 1000 ppm; ISO 7730 PMV/PPD with categories A/B/C; and the "
    "EN 16798-1 adaptive categories when the site has an outdoor temperature series. "
    "Hours with nobody present are not counted. Below the facilities role a space with "
    "fewer than k seats is withheld (403): its occupied hours tell when its occupant is in. "
    "The period is widened to whole UTC hours; "
    "default: the last 7 whole local days. At most 366 days per request.",
    responses=problem_responses(403, 404, 422, 500),
)
def read_ieq(
    principal: ResearcherDep,
    space: SpaceDep,
    store: StoreDep,
    campus: CampusDep,
    clock: ClockDep,
    limits: ReadLimitsDep,
    open_data: OpenDataDep,
    start: StartQuery = None,
    end: EndQuery = None,
) -> SpaceIeqAnswer:
    capacity = space.space.capacity
    if not principal.sees_unsuppressed and is_withheld(capacity, open_data.k):
        raise withheld_space_problem(space.space.id, capacity, open_data.k, "indoor climate")
    period = analysis_period(start, end, now=clock(), campus=campus, limit=analysis_limit(limits))
    ieq = space_ieq(store, campus, space.space.id, period.start, period.end)
    return ieq_answer(ieq, space.building.id, period, campus)
