"""GET /api/v1/spaces/{space_id}/utilisation: frequency rate, occupancy rate, utilisation.

Facilities see the figures of the exact hourly counts (``learning_spaces``'
``read_hourly_occupancy``, the reads and maths of ``kpis.space_utilisation``).
Roles below facilities see the same figures computed from the space's published
15-minute cells, each suppressed cell counted as 0 people
(``privacy_counts.protected_occupancy``), so that no window, however short or
however it overlaps another, tells more than the export does (METRICS.md, Privacy).

Besides its own figures at the top level (the issue-2 contract), the answer has
what a group of the building and campus answers has: the figures at the hour's
peak (``at_hourly_peak``), the HEFCE band, ``period``, ``units`` and ``sources``,
from the space as a group of one (``learning_spaces.group_utilisation``) over the
same hourly occupancy, so below facilities they too come from the published cells.
"""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from campuslab.analytics.learning_spaces import (
    GroupUtilisation,
    group_utilisation,
    read_hourly_occupancy,
    read_presence_use,
)
from campuslab.analytics.utilisation import UtilisationResult
from campuslab.api.dependencies import (
    CampusDep,
    ClockDep,
    ReadLimitsDep,
    SpaceDep,
    SpaceInBuilding,
    StoreDep,
)
from campuslab.api.keys import Role
from campuslab.api.models import Utilisation, core_hours_description
from campuslab.api.models_analytics import (
    SpaceUtilisation,
    UtilisationSuppression,
    space_utilisation_answer,
)
from campuslab.api.parameters import (
    MAX_PARAMETER_LENGTH,
    Period,
    check_span,
    parse_instant,
    resolve_period,
)
from campuslab.api.privacy_counts import protected_occupancy, protected_space_utilisation
from campuslab.api.problems import ApiProblem, problem_responses
from campuslab.api.routers.exports import OpenDataDep
from campuslab.api.security import PrincipalDep, require_role
from campuslab.core.readings import isoformat_utc
from campuslab.core.registry import Campus
from campuslab.core.store.port import ReadingStore

router = APIRouter(
    prefix="/api/v1/spaces",
    tags=["utilisation"],
    dependencies=[Depends(require_role(Role.RESEARCHER))],
)

StartQuery = Annotated[
    str | None,
    Query(
        max_length=MAX_PARAMETER_LENGTH,
        description="start of the period, inclusive; RFC 3339, or a date: local midnight "
        "(a time without an offset is local time, site time zone). Default: local "
        "midnight today (site time zone).",
        json_schema_extra={"format": "date-time"},
        examples=["2026-11-23T00:00:00+01:00"],
    ),
]
EndQuery = Annotated[
    str | None,
    Query(
        max_length=MAX_PARAMETER_LENGTH,
        description="end of the period, exclusive; RFC 3339. Default: now; when only end is "
        "given, start defaults to local midnight of end's day.",
        json_schema_extra={"format": "date-time"},
        examples=["2026-11-28T00:00:00+01:00"],
    ),
]


def _local_midnight(moment: datetime, campus: Campus) -> datetime:
    return datetime.combine(moment.astimezone(campus.tz).date(), time(0), campus.tz)


def utilisation_period(start: str | None, end: str | None, now: datetime, campus: Campus) -> Period:
    """The period asked for; by default today so far, in the site's time zone."""
    if start is None and end is None:
        midnight = _local_midnight(now, campus)
        return Period(midnight, max(now, midnight + timedelta(microseconds=1)))
    if start is None:
        end_at = parse_instant("end", end, campus.tz)
        midnight = _local_midnight(end_at - timedelta(microseconds=1), campus)
        return resolve_period(None, end, now=now, tz=campus.tz, default_span=end_at - midnight)
    return resolve_period(start, end, now=now, tz=campus.tz)


def _rate(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _seat_hours(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def utilisation_model(
    space_id: str, capacity: int, period: Period, campus: Campus, result: UtilisationResult
) -> Utilisation:
    settings = campus.analytics
    return Utilisation(
        space_id=space_id,
        capacity=capacity,
        start=isoformat_utc(period.start),
        end=isoformat_utc(period.end),
        core_hours=core_hours_description(campus),
        in_use_threshold=settings.in_use_threshold,
        hourly_observation=settings.hourly_observation,
        frequency_rate=_rate(result.frequency_rate),
        occupancy_rate=_rate(result.occupancy_rate),
        utilisation=_rate(result.utilisation),
        peak_occupancy=_rate(result.peak_occupancy),
        p95_occupancy=_rate(result.p95_occupancy),
        used_seat_hours=_seat_hours(result.used_seat_hours),
        available_seat_hours=_seat_hours(result.available_seat_hours),
        available_hours=int(result.available_hours),
        in_use_hours=int(result.in_use_hours),
        hours_without_data=int(result.hours_without_data),
        share_under_60=_rate(result.share_under_60),
        share_60_to_100=_rate(result.share_60_to_100),
        share_over_100=_rate(result.share_over_100),
        points_excluded=int(result.points_excluded),
    )


@router.get(
    "/{space_id}/utilisation",
    response_model=SpaceUtilisation,
    summary="Utilisation of one space",
    description="Frequency rate F, occupancy rate O and utilisation U of a space over the "
    "core hours of `start <= t < end` (UK Space Management Group 2006; HESA "
    "Estates Management Record). An hour's count n_h is the hour's mean (or "
    "peak) occupancy; an hour is in use when n_h reaches the in-use threshold; "
    "core hours without any reading are left out and counted in "
    "`hours_without_data`. The period is widened to whole UTC hours. Rates are "
    "fractions 0..1 (peak occupancy can exceed 1). Default period: today so far "
    "in the site's time zone. At most 366 days per request. Below facilities the figures "
    "are computed from the published 15-minute cells (as GET /api/v1/export gives them, up "
    "to the last complete quarter), each suppressed cell counted as 0 people: "
    "`lower_bound`, `suppressed_cells` and `used_seat_hours_upper_bound` say how exact "
    "they are (see `suppression`). As a group of the building and campus answers, it also "
    "gives the same figures at the hour's peak count (`at_hourly_peak`), the HEFCE band, "
    "`period` (the whole UTC hours covered), `units` and `sources`.",
    responses=problem_responses(404, 422, 500),
)
def read_utilisation(
    space: SpaceDep,
    store: StoreDep,
    campus: CampusDep,
    clock: ClockDep,
    limits: ReadLimitsDep,
    principal: PrincipalDep,
    open_data: OpenDataDep,
    start: StartQuery = None,
    end: EndQuery = None,
) -> SpaceUtilisation:
    now = clock()
    period = utilisation_period(start, end, now, campus)
    check_span(
        period,
        limits.max_resampled_span,
        what="utilisation periods",
        advice="split the period into several requests",
    )
    capacity = space.space.capacity
    if not principal.sees_unsuppressed and capacity < open_data.k:
        raise ApiProblem(
            "forbidden",
            f"utilisation of {space.space.id} ({capacity} seats, fewer than k = "
            f"{open_data.k}) is withheld from roles below facilities: in so small a space it "
            "tells when its occupant is in (METRICS.md, Privacy)",
            required_role=Role.FACILITIES.value,
        )
    if principal.sees_unsuppressed:
        hourly = read_hourly_occupancy(store, campus, period.start, period.end, [space.space.id])
        [group] = group_utilisation(campus, hourly, "space")
        if group.utilisation.available_hours == 0:
            by_presence = _presence_answer(store, campus, space, period, group, open_data.k)
            if by_presence is not None:
                return by_presence
        model = utilisation_model(space.space.id, capacity, period, campus, group.utilisation)
        return space_utilisation_answer(
            model, open_data.k, exact=True, group=group, requested=period, campus=campus
        )
    occupancy = protected_occupancy(
        store, campus, open_data, period.start, period.end, now, [space.space.id]
    )
    result = protected_space_utilisation(campus, occupancy, space.space.id)
    model = utilisation_model(space.space.id, capacity, period, campus, result)
    [group] = group_utilisation(campus, occupancy.hourly, "space")
    if result.available_hours == 0:
        # no count at all: presence of a space of k seats or more says no more than its
        # published occupancy cells would (a suppressed cell already says 0 < n < k)
        by_presence = _presence_answer(store, campus, space, period, group, open_data.k)
        if by_presence is not None:
            return by_presence
    return space_utilisation_answer(
        model,
        open_data.k,
        exact=False,
        bounds=occupancy.use.bounds([space.space.id]),
        group=group,
        requested=period,
        campus=campus,
        at_peak_bounds=occupancy.use.bounds([space.space.id], at_peak=True),
    )


PRESENCE_NOTE = (
    "This space has no occupancy count in the period, so the figures come from its "
    "presence (PIR) readings. Presence says someone is there, not how many, so only the "
    "frequency rate F is given: the share of the core hours with presence readings that "
    "were in use, an hour being in use when presence was reported in at least "
    "{share:g} of its readings (the site's presence_in_use_share; SMG 2006 counts an hour "
    "in use when its observation finds anyone in the room). Occupancy rate O, "
    "utilisation U, peak and P95 occupancy, the capacity bands and the seat-hours need a "
    "number of people and are null."
)


def _presence_answer(
    store: ReadingStore,
    campus: Campus,
    space: SpaceInBuilding,
    period: Period,
    group: GroupUtilisation,
    k: int,
) -> SpaceUtilisation | None:
    """The answer from presence readings, for a space without counts; None without them."""
    result = read_presence_use(store, campus, period.start, period.end, space.space.id)
    if result.available_hours == 0:
        return None
    model = utilisation_model(space.space.id, space.space.capacity, period, campus, result)
    answer = space_utilisation_answer(
        model, k, exact=True, group=group, requested=period, campus=campus
    )
    note = PRESENCE_NOTE.format(share=campus.analytics.presence_in_use_share)
    return answer.model_copy(
        update={
            "source": "presence",
            "source_note": note,
            "used_seat_hours_upper_bound": None,
            "suppression": UtilisationSuppression(
                applied=False,
                k=k,
                rule="none: presence is not a count of people (spaces of fewer than k seats "
                "are withheld below facilities, as their occupancy is)",
                suppressed_counts=0,
            ),
        }
    )
