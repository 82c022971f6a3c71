"""What routes get through ``Depends``: the store, the campus, the clock, limits.

``create_app`` puts the real objects on ``app.state``; these functions hand
them to routes. Tests and other backends swap any of them with
``app.dependency_overrides[get_store] = ...`` without touching a route.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from prometheus_client import CollectorRegistry

from campuslab.api.problems import ApiProblem, invalid_parameter, shown
from campuslab.core.ids import ID_PATTERN, MAX_ID_LENGTH, id_problem
from campuslab.core.registry import Building, Campus, Space
from campuslab.core.store.port import ReadingStore

IngestStatus = Callable[[], dict[str, Any]]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ReadLimits:
    """How much one request may read; the defaults keep an answer under ~10 MB."""

    max_points: int = 100_000
    max_raw_span: timedelta = timedelta(days=31)
    max_resampled_span: timedelta = timedelta(days=366)
    finest_every: timedelta = timedelta(seconds=1)


async def get_store(request: Request) -> ReadingStore:
    return request.app.state.store


async def get_campus(request: Request) -> Campus:
    return request.app.state.campus


async def get_clock(request: Request) -> Clock:
    return request.app.state.clock


async def get_read_limits(request: Request) -> ReadLimits:
    return request.app.state.read_limits


async def get_ingest_status(request: Request) -> IngestStatus | None:
    return request.app.state.ingest_status


async def get_metrics_registries(request: Request) -> list[CollectorRegistry]:
    """The ingest registry passed to create_app (if any), then the API's own."""
    registries = [request.app.state.metrics_registry, request.app.state.request_metrics.registry]
    return [r for r in registries if r is not None]


StoreDep = Annotated[ReadingStore, Depends(get_store)]
CampusDep = Annotated[Campus, Depends(get_campus)]
ClockDep = Annotated[Clock, Depends(get_clock)]
ReadLimitsDep = Annotated[ReadLimits, Depends(get_read_limits)]
IngestStatusDep = Annotated[IngestStatus | None, Depends(get_ingest_status)]
MetricsRegistriesDep = Annotated[list[CollectorRegistry], Depends(get_metrics_registries)]


@dataclass(frozen=True)
class SpaceInBuilding:
    building: Building
    space: Space


# the registry's id rule (core.ids): anything else cannot name a space, so it is
# refused before any lookup, with a 422 that says which character is wrong
SPACE_ID_PATTERN = ID_PATTERN


async def get_space(
    space_id: Annotated[
        str,
        Path(
            description="space id from the campus registry, exactly as written there "
            "(letters, digits, '-', '_' and '.'; case matters)",
            examples=["rfb-101", "A2.14"],
            json_schema_extra={"pattern": SPACE_ID_PATTERN, "maxLength": MAX_ID_LENGTH},
        ),
    ],
    campus: CampusDep,
) -> SpaceInBuilding:
    """The space named in the path; 404 problem when the registry has no such space."""
    problem = id_problem(space_id)
    if problem is not None:
        raise invalid_parameter(
            "space_id",
            f"not a space id: {problem} (e.g. rfb-101); GET /api/v1/spaces lists them",
        )
    space = campus.space(space_id)
    if space is None:
        if campus.meter(space_id) is not None:
            detail = (
                f"{shown(space_id)} is a building meter, not a space; "
                "GET /api/v1/spaces lists the spaces"
            )
        else:
            detail = f"no space {shown(space_id)}; GET /api/v1/spaces lists them"
        raise ApiProblem("unknown-space", detail, parameter="space_id")
    building = campus.building_of(space.id)
    assert building is not None
    return SpaceInBuilding(building, space)


SpaceDep = Annotated[SpaceInBuilding, Depends(get_space)]
