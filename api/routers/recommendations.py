"""GET /api/v1/recommendations: right-sizing advice with its evidence (planner role).

The advice comes from ``analytics.report.recommendations_overview``, which is
``recommendations.right_sizing_report`` with the imported timetables; the
planner report calls the same function. Facilities get the advice of the exact
hourly counts. Below facilities the occupancy behind the advice and its evidence
comes from the published 15-minute cells (``privacy_counts.ProtectedReader``, as
the utilisation route), so no difference of answers gives a suppressed count
back; evidence of 1 … k − 1 people stays hidden on top, and evidence that became
a bound says so (``EvidenceFigure.bound``; ``report.EVIDENCE_BOUNDS``).
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
from campuslab.api.privacy_counts import ProtectedReader
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
    "with readings. Each piece of advice lists its evidence with units. Below the facilities "
    "role the advice is computed from the published 15-minute cells (as GET /api/v1/export "
    "gives them, up to the last complete quarter), a suppressed cell counted as 0 people: "
    "used hours for sizing are those whose published peak reaches the threshold, a "
    "suppressed cell is no no-show, and evidence that thereby became a bound says so "
    "(`bound`, `suppressed_cells`); evidence of 1 … k − 1 people is withheld and spaces "
    "with fewer than k seats are not advised on (`withheld_spaces`). Default: the last "
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
    now = clock()
    period = analysis_period(start, end, now=now, campus=campus, limit=analysis_limit(limits))
    exact = principal.sees_unsuppressed
    withheld = withheld_space_ids(campus, scope_space_ids(campus, building_id), open_data.k, exact)
    protected = None if exact else ProtectedReader(store, campus, open_data, now)
    overview = recommendations_overview(
        store,
        campus,
        period.start,
        period.end,
        timetables,
        building_id,
        withheld=withheld,
        protected=protected,
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
