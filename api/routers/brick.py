"""GET /api/v1/campus.ttl: the campus registry as a Brick Schema model (public).

Metadata only (site, buildings, floors, spaces, meters, points, units, and
where each point's time series is served); no readings and no counts, so it
needs no key, like ``GET /api/v1/spaces``. The mapping is in ``core/brick.py``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from campuslab.api.dependencies import CampusDep
from campuslab.api.problems import problem_responses
from campuslab.core.brick import campus_turtle

router = APIRouter(prefix="/api/v1", tags=["spaces"])

TURTLE = "text/turtle; charset=utf-8"


@router.get(
    "/campus.ttl",
    summary="The campus as a Brick model (Turtle)",
    description="Site, buildings, floors and spaces (Brick 1.3 classes and their "
    "RealEstateCore replacements from Brick 1.4), seats and areas, building meters, and "
    "every sensor point (brick:Occupancy_Count_Sensor, brick:CO2_Level_Sensor, ...) with "
    "its QUDT unit and a ref:TimeseriesReference: hasTimeseriesId `<quantity>/<sensor>`, "
    "storedAt the API URL serving it. Metadata only; validates with brickschema.",
    responses={200: {"content": {"text/turtle": {}}}, **problem_responses(500)},
    response_class=Response,
)
def campus_brick(request: Request, campus: CampusDep) -> Response:
    base = str(request.base_url).rstrip("/")
    cache = getattr(request.app.state, "brick_turtle", None)
    if cache is None:
        cache = request.app.state.brick_turtle = {}
    key = (id(campus), base)
    if key not in cache:
        cache.clear()
        cache[key] = campus_turtle(campus, base)
    return Response(cache[key], media_type=TURTLE)
