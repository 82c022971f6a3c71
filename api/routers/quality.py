"""GET /api/v1/quality: the data-quality checks per sensor and day (facilities role).

The checks (``analytics.quality``) run on the raw readings of the period through
``analytics.quality_kpis.summarise_quality``, which writes nothing and keeps only
running totals and one page of sensor-days, so a semester (up to 366 days) is
answered in memory bounded by one building's week of raw readings.

The answer is always the whole period's summary (QCI, flags per check, per building
and quantity, gaps) and one page of the per-sensor-day rows: ``limit``/``offset``,
with ``X-Total-Count`` and ``Link`` (RFC 8288) headers as on ``/api/v1/spaces``.
Paging, rather than a switch between "summary" and "days", keeps every answer
bounded: a semester of 500 spaces has about 300,000 sensor-days, which no single
answer should carry, while a week of a small campus still fits on the first page.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from campuslab.analytics.quality_kpis import summarise_quality
from campuslab.api.dependencies import CampusDep, ClockDep, ReadLimitsDep, StoreDep
from campuslab.api.keys import Role
from campuslab.api.models_analytics import (
    BuildingQuery,
    EndQuery,
    QualityAnswer,
    StartQuery,
    analysis_limit,
    analysis_period,
    building_filter,
    quality_summary_answer,
)
from campuslab.api.problems import problem_responses
from campuslab.api.security import require_role

router = APIRouter(
    prefix="/api/v1/quality",
    tags=["data quality"],
    dependencies=[Depends(require_role(Role.FACILITIES))],
)

DEFAULT_DAYS_PAGE = 1000
MAX_DAYS_PAGE = 10_000
MAX_DAYS_OFFSET = 10_000_000


@router.get(
    "",
    response_model=QualityAnswer,
    summary="Data quality per sensor and day",
    description="Runs the data-quality checks (gaps, duplicates and out-of-order "
    "timestamps, range, spikes, stuck values while occupied, counts above 1.5 × capacity "
    "or negative, in/out counters not back to 0 overnight, decreasing registers) on the "
    "raw readings of `start <= t < end` and gives, for the whole period, the QCI (readings "
    "passing every check / all readings, as in Sandia's pecos), the readings flagged by "
    "each check, the QCI per building and quantity (`by_building_quantity`) and the gaps; "
    "and one page of the rows per sensor, quantity and local day (`days`, ordered by local "
    f"date, then sensor in registry order). Paged: `limit` (default {DEFAULT_DAYS_PAGE}, "
    f"at most {MAX_DAYS_PAGE}; 0 for the summary alone) and `offset`; `X-Total-Count` gives "
    'the number of rows and `Link` the `rel="next"` and `rel="prev"` pages (`days_page` '
    "says the same in the body). Every page runs the checks over the whole period, so ask "
    "for large pages. Nothing is written. Default: the last 7 whole local days; at most "
    "366 days per request.",
    responses={
        200: {
            "description": "The summary of the period and a page of its sensor-days",
            "headers": {
                "X-Total-Count": {
                    "description": "rows per sensor, quantity and local day, over all pages",
                    "schema": {"type": "integer"},
                },
                "Link": {
                    "description": 'RFC 8288 links to the rel="next" and rel="prev" pages, '
                    "when there are any",
                    "schema": {"type": "string"},
                },
            },
        },
        **problem_responses(422, 500),
    },
)
def read_quality(
    store: StoreDep,
    campus: CampusDep,
    clock: ClockDep,
    limits: ReadLimitsDep,
    request: Request,
    response: Response,
    start: StartQuery = None,
    end: EndQuery = None,
    building: BuildingQuery = None,
    limit: Annotated[
        int,
        Query(
            ge=0,
            le=MAX_DAYS_PAGE,
            description=f"sensor-day rows per page (0–{MAX_DAYS_PAGE}; 0: the summary alone)",
            examples=[DEFAULT_DAYS_PAGE],
        ),
    ] = DEFAULT_DAYS_PAGE,
    offset: Annotated[
        int,
        Query(
            ge=0,
            le=MAX_DAYS_OFFSET,
            description="sensor-day rows to skip (for the next page)",
            examples=[0],
        ),
    ] = 0,
) -> QualityAnswer:
    building_id = building_filter(campus, building)
    period = analysis_period(
        start,
        end,
        now=clock(),
        campus=campus,
        limit=analysis_limit(limits),
        what="data-quality checks",
    )
    summary = summarise_quality(
        store, campus, period.start, period.end, building_id, days_offset=offset, days_limit=limit
    )
    _paging_headers(request, response, summary.days_total, limit, offset)
    scope_id = building_id or campus.site.id
    return quality_summary_answer(summary, scope_id, building_id is None, period, campus, limit)


def _paging_headers(
    request: Request, response: Response, total: int, limit: int, offset: int
) -> None:
    """X-Total-Count and Link, as on /api/v1/spaces (no links for the summary alone)."""

    def page(at: int) -> str:
        url = request.url.include_query_params(limit=limit, offset=at)
        return f"{url.path}?{url.query}"

    links = []
    if limit and offset + limit < total:
        links.append(f'<{page(offset + limit)}>; rel="next"')
    if limit and offset > 0:
        links.append(f'<{page(max(0, min(offset, total) - limit))}>; rel="prev"')
    response.headers["X-Total-Count"] = str(total)
    if links:
        response.headers["Link"] = ", ".join(links)
