"""GET /api/v1/stream: the overview's live updates as server-sent events (public).

See ``campuslab.api.live.LiveFeed`` for how one shared producer serves every client.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse

from campuslab.api.dependencies import CampusDep, ClockDep, StoreDep
from campuslab.api.live import LiveSettingsDep, live_feed
from campuslab.api.privacy_counts import ExactCountsDep
from campuslab.api.problems import problem_response, problem_responses

router = APIRouter(prefix="/api/v1", tags=["live"])

EVENT_STREAM = "text/event-stream"

DESCRIPTION = """\
A `text/event-stream` (server-sent events, as `EventSource` reads them) of the
overview page's cells. Public: no key needed; occupancy counts between 1 and
k − 1 are suppressed for viewers below facilities, as on the page.

- First `retry: <ms>`, then a `snapshot` event with every space, then `update`
  events holding only the spaces whose cells changed (checked every 2 s), and
  the free-study-space panel (`available`) when it changed.
- `status` events say when the store stops or starts answering.
- Every event has an `id`; reconnect with `Last-Event-ID` to get the events
  you missed (while the server still holds them) or else a fresh `snapshot`.
- A comment line (`: heartbeat`) comes after 15 s without events.
- The number of clients is bounded; beyond it the answer is 503 with
  `Retry-After`.

The event `data` is JSON: `{"generated_at", "newest_reading", "spaces": {space id:
{people, co2, co2_category, temperature, utilisation, utilisation_note,
last_reading, last_reading_iso, stale, stale_since}}, "available": [...]}`.
Freshness is judged per sensor: `stale_since` maps each cell showing a value
older than the staleness limit (`people`, `co2`, `temperature`) to that
reading's time (UTC); `stale` is true when any shown value is stale.
"""


@router.get(
    "/stream",
    summary="Live updates of the overview (server-sent events)",
    description=DESCRIPTION,
    response_class=StreamingResponse,
    responses={
        200: {"content": {EVENT_STREAM: {}}, "description": "an endless event stream"},
        **problem_responses(503),
    },
)
async def stream(
    request: Request,
    store: StoreDep,
    campus: CampusDep,
    clock: ClockDep,
    settings: LiveSettingsDep,
    exact: ExactCountsDep,
    last_event_id: Annotated[
        str | None,
        Header(alias="Last-Event-ID", description="the id of the last event received"),
    ] = None,
):
    feed = live_feed(request.app, store, campus, clock, settings)
    if feed.is_full():
        return problem_response(
            503,
            f"the live stream already serves {settings.max_clients} clients; retry later, "
            "or reload the page (it is complete without live updates)",
            instance=request.url.path,
            headers={"Retry-After": "30"},
        )
    return StreamingResponse(
        feed.stream(exact, last_event_id),
        media_type=EVENT_STREAM,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
