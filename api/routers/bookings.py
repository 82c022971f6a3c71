"""Booked vs actual of a space, and the upload of its timetable.

- ``GET /api/v1/spaces/{space_id}/bookings`` (researcher): what the imported
  timetable booked against what the sensor saw (``analytics.bookings``).
  Facilities see the figures of the exact hourly counts. Roles below facilities
  see them computed from the space's published 15-minute cells
  (``privacy_counts.protected_occupancy``, as the utilisation route), so no
  difference of answers gives a suppressed count back; observed headcounts of
  1 … k − 1 stay hidden on top.
- ``POST /api/v1/spaces/{space_id}/timetable`` (planner, so facilities and
  admin too): a ``text/calendar`` body (iCalendar, RFC 5545) of at most
  ``MAX_CALENDAR_BYTES``, validated, normalised and stored by
  ``core.timetables.TimetableStore`` (names of people are dropped). Planners
  are the ones who hold timetables and booking calendars (ARCHITECTURE.md),
  so they may import them; researchers only read the result.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from campuslab.analytics.bookings import booked_vs_actual_for, space_booked_vs_actual
from campuslab.analytics.report import is_withheld
from campuslab.api.dependencies import CampusDep, ClockDep, ReadLimitsDep, SpaceDep, StoreDep
from campuslab.api.keys import Role
from campuslab.api.models_analytics import (
    BookedVsActualAnswer,
    EndQuery,
    StartQuery,
    TimetableImport,
    TimetablesDep,
    analysis_limit,
    analysis_period,
    bookings_answer,
    timetable_import_answer,
    withheld_space_problem,
)
from campuslab.api.privacy_counts import protected_occupancy
from campuslab.api.problems import ApiProblem, problem_responses
from campuslab.api.routers.exports import OpenDataDep
from campuslab.api.security import ResearcherDep, require_role
from campuslab.core.registry import Campus
from campuslab.core.timetables import (
    MAX_CALENDAR_BYTES,
    ImportReport,
    InvalidCalendar,
    TimetableStore,
    check_calendar_size,
)

router = APIRouter(prefix="/api/v1/spaces", tags=["bookings"])

CALENDAR_MEDIA_TYPE = "text/calendar"


@router.get(
    "/{space_id}/bookings",
    response_model=BookedVsActualAnswer,
    summary="Booked vs actual of one space",
    description="Over the core hours of `start <= t < end`: booked frequency (booked core "
    "hours / core hours), no-show rate (booked hours whose peak count was 0 / booked hours "
    "with readings), unbooked hours in use, and per booking its class size against "
    "capacity and against the observed peak headcount (METRICS.md; SMG 2006). A booking "
    "covers an hour it overlaps by at least 30 minutes. Without an imported timetable "
    "`timetable_imported` is false and the figures are null. Below the facilities role the "
    "figures are computed from the published 15-minute cells (as GET /api/v1/export gives "
    "them, up to the last complete quarter): a suppressed cell holds someone, so its hour is "
    "no no-show; it counts as 0 people for unbooked use (`unbooked_used_hours` is then a "
    "lower bound, `unbooked_used_hours_upper_bound` counts the hours that could be in use) "
    "and for observed peaks (`observed_peak_lower_bound`, `observed_peaks_lower_bound`). "
    "Observed headcounts of 1 … k − 1 people are withheld, and a space with fewer than k "
    "seats is withheld altogether (403). Default: the last 7 whole "
    "local days; at most 366 days per request.",
    responses=problem_responses(403, 404, 422, 500),
)
def read_bookings(
    principal: ResearcherDep,
    space: SpaceDep,
    store: StoreDep,
    campus: CampusDep,
    clock: ClockDep,
    limits: ReadLimitsDep,
    timetables: TimetablesDep,
    open_data: OpenDataDep,
    start: StartQuery = None,
    end: EndQuery = None,
) -> BookedVsActualAnswer:
    space_id, capacity, k = space.space.id, space.space.capacity, open_data.k
    if not principal.sees_unsuppressed and is_withheld(capacity, k):
        raise withheld_space_problem(space_id, capacity, k, "booked vs actual")
    now = clock()
    period = analysis_period(start, end, now=now, campus=campus, limit=analysis_limit(limits))
    result, note = None, None
    if timetables is None:
        note = "this server keeps no timetables (started without a timetable folder)"
    elif not timetables.has_timetable(space_id):
        note = (
            f"no timetable imported for {space_id}; POST one to /api/v1/spaces/{space_id}/timetable"
        )
    elif principal.sees_unsuppressed:
        result = space_booked_vs_actual(
            store, campus, timetables, space_id, period.start, period.end
        )
    else:
        occupancy = protected_occupancy(
            store, campus, open_data, period.start, period.end, now, [space_id]
        )
        found = booked_vs_actual_for(
            campus, occupancy.hourly, timetables, [space_id], occupancy.use
        )
        result = found[space_id]
    return bookings_answer(
        result,
        space_id,
        capacity,
        period,
        campus,
        k=k,
        exact=principal.sees_unsuppressed,
        note=note,
    )


async def _calendar_body(request: Request) -> bytes:
    """The request body, refused as soon as it passes the size limit (never read whole)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit():
        check_calendar_size(int(declared), "the uploaded calendar")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        check_calendar_size(len(body), "the uploaded calendar")
    return bytes(body)


def _calendar_problem(invalid: InvalidCalendar) -> ApiProblem:
    listed = "; ".join(invalid.problems[:5])
    more = f" (and {len(invalid.problems) - 5} more)" if len(invalid.problems) > 5 else ""
    return ApiProblem(
        "invalid-parameter",
        f"the calendar was not imported: {listed}{more}",
        parameter="body",
        problems=list(invalid.problems),
    )


@router.post(
    "/{space_id}/timetable",
    response_model=TimetableImport,
    status_code=201,
    dependencies=[Depends(require_role(Role.PLANNER))],
    summary="Upload the timetable of one space",
    description="Replaces (or with `merge=true` adds to) the space's timetable or booking "
    "calendar: an iCalendar file (RFC 5545) sent as the body with `Content-Type: "
    f"text/calendar`, at most {MAX_CALENDAR_BYTES // 1_048_576} MB. Floating times are "
    "taken in the site's time zone; recurrences must end within 2 years; "
    "X-CAMPUSLAB-CLASS-SIZE gives a booking's class size. ATTENDEE, ORGANIZER, CONTACT and "
    "free text other than SUMMARY are dropped: CampusLab never stores names of people. "
    "A calendar that cannot be used is a 422 problem whose `problems` lists every fault.",
    responses={
        201: {"headers": {"Location": {"description": "the space's booked-vs-actual answer"}}},
        **problem_responses(404, 415, 422, 500, 503),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {CALENDAR_MEDIA_TYPE: {"schema": {"type": "string"}}},
        }
    },
)
async def upload_timetable(
    space: SpaceDep,
    campus: CampusDep,
    timetables: TimetablesDep,
    request: Request,
    response: Response,
    merge: Annotated[
        bool, Query(description="add to the stored calendar (same UID replaces) instead")
    ] = False,
) -> TimetableImport:
    if timetables is None:
        raise HTTPException(503, "this server keeps no timetables (started without a data folder)")
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != CALENDAR_MEDIA_TYPE:
        raise HTTPException(
            415,
            f"send the calendar as the body with Content-Type: {CALENDAR_MEDIA_TYPE} "
            f"(got {media_type or 'none'})",
        )
    try:
        content = await _calendar_body(request)
        report = await run_in_threadpool(
            _import, timetables, campus, space.space.id, content, not merge
        )
    except InvalidCalendar as invalid:
        raise _calendar_problem(invalid) from None
    response.headers["Location"] = f"/api/v1/spaces/{space.space.id}/bookings"
    return timetable_import_answer(report)


def _import(
    store: TimetableStore, campus: Campus, space_id: str, content: bytes, replace: bool
) -> ImportReport:
    return store.import_calendar(
        campus, space_id, content, replace=replace, source="the uploaded calendar"
    )
