"""GET /api/v1/recommendations: right-sizing advice with its evidence (planner role).

The advice comes from ``analytics.report.recommendations_overview``, which is
``recommendations.right_sizing_report`` with the imported timetables; the
planner report calls the same function. Evidence given in people is
k-suppressed for roles below facilities.
"""

from __future__ import annotations

from fastapi import APIRouter

from campuslab.analytics.report import (
    recommendations_overview,
    scope_space_ids,
    withheld_space_ids,
)
from campuslab.api.dependencies import CampusDep, ClockDep, ReadLimitsDep, StoreDep
from campuslab.api.models_analytics import (
    BuildingQuery,
    EndQuery,
    RecommendationsAnswer,
    StartQuery,
    TimetablesDep,
    analysis_limit,
    analysis_period,
    building_filter,
    recommendations_answer,
)
from campuslab.api.problems import problem_responses
from campuslab.api.routers.exports import OpenDataDep
from campuslab.api.security import PlannerDep

router = APIRouter(prefix="/api/v1/recommendations", tags=["recommendations"])


@router.get(
    "",
    response_model=RecommendationsAnswer,
    summary="Right-sizing recommendations",
    description="Advice per space over the core hours of `start <= t < end`, largest "
    "impact (seat-hours at stake) first: a larger room when more people than seats were "
    "seen in over 10 % of used hours; split or reassign when the P95 of the hourly peak "
    "stays under 50 % of capacity (METRICS.md); release bookings when over 30 % of booked "
    "hours were no-shows (spaces with an imported timetable); review low use when the "
    "frequency rate is under 25 % (HEFCE 'poor'); insufficient data below 20 core hours "
    "with readings. Each piece of advice lists its evidence with units; below the facilities "
    "role, evidence of 1 … k − 1 people is withheld and spaces with fewer than k seats are "
    "not advised on (`withheld_spaces`). Default: the last "
    "7 whole local days; at most 366 days per request.",
    responses=problem_responses(422, 500),
)
def read_recommendations(
    principal: PlannerDep,
    store: StoreDep,
    campus: CampusDep,
    clock: ClockDep,
    limits: ReadLimitsDep,
    timetables: TimetablesDep,
    open_data: OpenDataDep,
    start: StartQuery = None,
    end: EndQuery = None,
    building: BuildingQuery = None,
) -> RecommendationsAnswer:
    building_id = building_filter(campus, building)
    period = analysis_period(start, end, now=clock(), campus=campus, limit=analysis_limit(limits))
    exact = principal.sees_unsuppressed
    withheld = withheld_space_ids(campus, scope_space_ids(campus, building_id), open_data.k, exact)
    overview = recommendations_overview(
        store, campus, period.start, period.end, timetables, building_id, withheld=withheld
    )
    return recommendations_answer(
        overview,
        building_id or campus.site.id,
        building_id is None,
        period,
        campus,
        k=open_data.k,
        exact=exact,
    )
