"""GET /api/v1/spaces/{space_id}/readings: raw or resampled readings of one quantity."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, Query

from campuslab.api.dependencies import CampusDep, ClockDep, ReadLimitsDep, SpaceDep, StoreDep
from campuslab.api.keys import Role
from campuslab.api.models import Readings
from campuslab.api.parameters import (
    MAX_PARAMETER_LENGTH,
    TIMESTAMP_EXAMPLE,
    check_span,
    parse_aggregate,
    parse_every,
    resolve_period,
    space_quantity,
)
from campuslab.api.problems import ApiProblem, problem_responses
from campuslab.api.routers.exports import ReadingsPrivacyDep
from campuslab.api.security import require_role
from campuslab.core.config import format_duration
from campuslab.core.quantities import QUANTITIES, READABLE_SPACE_QUANTITIES
from campuslab.core.readings import Series, isoformat_utc
from campuslab.core.store.port import TooManyPoints

router = APIRouter(
    prefix="/api/v1/spaces",
    tags=["readings"],
    dependencies=[Depends(require_role(Role.RESEARCHER))],
)

QuantityQuery = Annotated[
    str,
    Query(
        max_length=MAX_PARAMETER_LENGTH,
        description="what to read: "
        + ", ".join(f"`{q}` ({QUANTITIES[q].unit})" for q in READABLE_SPACE_QUANTITIES),
        json_schema_extra={"enum": list(READABLE_SPACE_QUANTITIES)},
        examples=["co2"],
    ),
]
StartQuery = Annotated[
    str | None,
    Query(
        max_length=MAX_PARAMETER_LENGTH,
        description="start of the range, inclusive; RFC 3339 or a date (local midnight; a "
        "time without an offset is local time, site time zone). Default: 24 h before end.",
        json_schema_extra={"format": "date-time"},
        examples=["2026-11-25T10:00:00Z"],
    ),
]
EndQuery = Annotated[
    str | None,
    Query(
        max_length=MAX_PARAMETER_LENGTH,
        description="end of the range, exclusive; RFC 3339 as for start. Default: now.",
        json_schema_extra={"format": "date-time"},
        examples=[TIMESTAMP_EXAMPLE],
    ),
]
EveryQuery = Annotated[
    str | None,
    Query(
        max_length=MAX_PARAMETER_LENGTH,
        description="resample into buckets of this length (at least 1s; e.g. 15m, 1h, 1d), "
        "aligned to the Unix epoch. Leave out for raw readings.",
        examples=["15m"],
    ),
]
AggQuery = Annotated[
    str | None,
    Query(
        max_length=MAX_PARAMETER_LENGTH,
        description="aggregate of each bucket when resampling (default mean)",
        json_schema_extra={"enum": ["mean", "max", "min"]},
        examples=["mean"],
    ),
]


def rfc3339_points(series: Series) -> list[tuple[str, float | None]]:
    """[timestamp, value] pairs; timestamps as ``isoformat_utc`` writes them, vectorised."""
    ts = series.ts.astype("datetime64[us]")
    whole_seconds = ts.astype("datetime64[s]")
    stamps = np.datetime_as_string(whole_seconds, unit="s").tolist()
    micros = ((ts - whole_seconds) // np.timedelta64(1, "us")).tolist()
    points = []
    for stamp, us, value in zip(stamps, micros, series.values.tolist(), strict=True):
        fraction = f".{us:06d}".rstrip("0") if us else ""
        points.append((f"{stamp}{fraction}Z", value if math.isfinite(value) else None))
    return points


@router.get(
    "/{space_id}/readings",
    response_model=Readings,
    summary="Readings of one space",
    description="Readings of one quantity in one space over `start <= t < end`, in the "
    "quantity's canonical unit. Without `every` the raw readings come back with "
    "exactly the timestamps they were published with (at most 31 days per "
    "request). With `every` (and `agg`) they are resampled into epoch-aligned "
    "buckets; empty buckets are left out (at most 366 days per request). An "
    "answer holds at most 100 000 points; ask for a coarser `every` or a shorter "
    "range beyond that.",
    responses=problem_responses(404, 422, 500),
)
def read_readings(
    space: SpaceDep,
    campus: CampusDep,
    quantity: QuantityQuery,
    store: StoreDep,
    clock: ClockDep,
    limits: ReadLimitsDep,
    privacy: ReadingsPrivacyDep,
    start: StartQuery = None,
    end: EndQuery = None,
    every: EveryQuery = None,
    agg: AggQuery = None,
) -> Readings:
    name = space_quantity(quantity)
    # below facilities: occupancy in protected 15-minute cells (METRICS.md, Privacy)
    protected = privacy.readings(space, name, start=start, end=end, every=every, agg=agg)
    if protected is not None:
        return protected
    period = resolve_period(start, end, now=clock(), tz=campus.tz, default_span=timedelta(hours=24))
    interval = parse_every(every, limits) if every is not None else None
    aggregate = parse_aggregate(agg, resampling=interval is not None)
    if interval is None:
        check_span(
            period,
            limits.max_raw_span,
            what="raw readings",
            advice="add every= (e.g. every=15m or every=1h) to resample, or narrow the range",
        )
    else:
        check_span(
            period,
            limits.max_resampled_span,
            what="resampled series",
            advice="use a shorter range and split longer periods into several requests",
        )
    try:
        series = store.read_series(
            space.space.id,
            name,
            period.start,
            period.end,
            every=interval,
            aggregate=aggregate,
            limit=limits.max_points,
        )
    except TooManyPoints as exc:
        advice = (
            "add every=15m (or coarser) or narrow the range"
            if interval is None
            else f"use an every coarser than {format_duration(interval)} or narrow the range"
        )
        raise ApiProblem(
            "too-many-points", f"more than {exc.limit} points; {advice}", parameter="every"
        ) from None
    return Readings(
        space_id=space.space.id,
        quantity=name,
        unit=QUANTITIES[name].unit,
        start=isoformat_utc(period.start),
        end=isoformat_utc(period.end),
        every=format_duration(interval) if interval is not None else None,
        agg=aggregate.value if interval is not None else None,
        points=rfc3339_points(series),
    )
