"""GET /api/v1/quality: the data-quality checks per sensor and day (facilities role).

The checks (``analytics.quality``) run on the raw readings of the period
through ``analytics.report.quality_overview``, which writes nothing.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from campuslab.analytics.report import quality_overview
from campuslab.api.dependencies import CampusDep, ClockDep, ReadLimitsDep, StoreDep
from campuslab.api.keys import Role
from campuslab.api.models_analytics import (
    BuildingQuery,
    EndQuery,
    QualityAnswer,
    StartQuery,
    analysis_period,
    building_filter,
    quality_answer,
)
from campuslab.api.problems import problem_responses
from campuslab.api.security import require_role

router = APIRouter(
    prefix="/api/v1/quality",
    tags=["data quality"],
    dependencies=[Depends(require_role(Role.FACILITIES))],
)


@router.get(
    "",
    response_model=QualityAnswer,
    summary="Data quality per sensor and day",
    description="Runs the data-quality checks (gaps, duplicates and out-of-order "
    "timestamps, range, spikes, stuck values while occupied, counts above 1.5 × capacity "
    "or negative, in/out counters not back to 0 overnight, decreasing registers) on the "
    "raw readings of `start <= t < end` and gives the QCI (readings passing every check / "
    "all readings, as in Sandia's pecos) per sensor, quantity and local day, the readings "
    "flagged by each check and the gaps. Nothing is written. Default: the last 7 whole "
    "local days; at most 31 days per request (raw readings).",
    responses=problem_responses(422, 500),
)
def read_quality(
    store: StoreDep,
    campus: CampusDep,
    clock: ClockDep,
    limits: ReadLimitsDep,
    start: StartQuery = None,
    end: EndQuery = None,
    building: BuildingQuery = None,
) -> QualityAnswer:
    building_id = building_filter(campus, building)
    period = analysis_period(
        start,
        end,
        now=clock(),
        campus=campus,
        limit=limits.max_raw_span,
        what="data-quality checks (raw readings)",
    )
    overview = quality_overview(store, campus, period.start, period.end, building_id)
    scope_id = building_id or campus.site.id
    return quality_answer(overview, scope_id, building_id is None, period, campus)
