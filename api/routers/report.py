"""``GET /api/v1/report``: the planner report as one self-contained HTML page.

The same page ``campuslab report`` writes (``analytics.report.planner_report`` and
``api.report_render``), for planners who have a key but no shell on the server. It
is computed per request, from the same functions the analytics routes call, so its
numbers are the API's. A planner gets the figures of the published 15-minute cells
(lower bounds where cells were suppressed, as on the utilisation routes); facilities
get the exact ones.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

from campuslab.analytics.report import NoData, NoSpaces, planner_report
from campuslab.api.dependencies import CampusDep, ClockDep, ReadLimitsDep, StoreDep
from campuslab.api.keys import Role
from campuslab.api.models_analytics import (
    BuildingQuery,
    EndQuery,
    StartQuery,
    TimetablesDep,
    analysis_limit,
    analysis_period,
    building_filter,
)
from campuslab.api.parameters import MAX_PARAMETER_LENGTH
from campuslab.api.privacy_counts import ProtectedReader
from campuslab.api.problems import ApiProblem, invalid_parameter, problem_responses
from campuslab.api.report_render import render_report
from campuslab.api.routers.energy import baseline_period
from campuslab.api.routers.exports import OpenDataDep
from campuslab.api.security import PlannerDep
from campuslab.core.readings import isoformat_utc

router = APIRouter(prefix="/api/v1/report", tags=["recommendations"])

OptionalBaseline = Annotated[
    str | None,
    Query(
        max_length=MAX_PARAMETER_LENGTH,
        description="savings (IPMVP Option C): `baseline_start` and `baseline_end` together, "
        "as on GET /api/v1/buildings/{building_id}/savings; without them the report has no "
        "savings section",
        json_schema_extra={"format": "date-time"},
    ),
]


@router.get(
    "",
    response_class=HTMLResponse,
    summary="The planner report (HTML)",
    description="Utilisation, booked vs actual, indoor climate, energy, savings and "
    "right-sizing advice over `start <= t < end`, for the campus or one `building`: one "
    "HTML page with its plots embedded and no external requests, to open, print or mail. "
    "Every number is the one the analytics routes give for the same period and role. "
    "Computed per request: a semester of a large campus takes seconds. At most 366 days.",
    responses={
        200: {"content": {"text/html": {}}, "description": "the report page"},
        **problem_responses(403, 404, 422, 500),
    },
)
def read_report(
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
    baseline_start: OptionalBaseline = None,
    baseline_end: OptionalBaseline = None,
) -> HTMLResponse:
    building_id = building_filter(campus, building)
    now = clock()
    limit = analysis_limit(limits)
    period = analysis_period(start, end, now=now, campus=campus, limit=limit)
    baseline = None
    if (baseline_start is None) != (baseline_end is None):
        missing = "baseline_end" if baseline_end is None else "baseline_start"
        raise invalid_parameter(
            missing, "baseline_start and baseline_end go together: give both, or neither"
        )
    if baseline_start is not None and baseline_end is not None:
        chosen = baseline_period(baseline_start, baseline_end, period, limit, campus.tz)
        baseline = (chosen.start, chosen.end)
    exact = principal.sees_unsuppressed
    try:
        figures = planner_report(
            store,
            campus,
            period.start,
            period.end,
            timetables,
            building_id,
            k=open_data.k,
            exact=exact,
            baseline=baseline,
            protected=None if exact else ProtectedReader(store, campus, open_data, now),
        )
    except NoData as nothing:
        raise ApiProblem(
            "no-data",
            str(nothing),
            requested_start=isoformat_utc(period.start),
            requested_end=isoformat_utc(period.end),
        ) from None
    except NoSpaces as empty:
        if not exact:
            raise ApiProblem("forbidden", str(empty), required_role=Role.FACILITIES.value) from None
        raise HTTPException(404, str(empty)) from None
    return HTMLResponse(render_report(figures, campus, generated_at=now, data_source="the API"))
