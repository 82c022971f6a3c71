"""GET /api/v1/spaces and /api/v1/spaces/{space_id}: the spaces of the campus registry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from campuslab.api.dependencies import CampusDep, SpaceDep
from campuslab.api.models import SpaceSummary
from campuslab.api.problems import invalid_parameter, problem_responses, shown
from campuslab.core.registry import Building, Campus, Space, SpaceType

router = APIRouter(prefix="/api/v1/spaces", tags=["spaces"])

_TYPES = [t.value for t in SpaceType]


def space_summary(building: Building, space: Space) -> SpaceSummary:
    return SpaceSummary(
        id=space.id,
        name=space.name,
        building=building.id,
        floor=space.floor,
        type=space.type,
        capacity=space.capacity,
        area_m2=space.area_m2,
    )


def _building_filter(campus: Campus, building: str | None) -> str | None:
    if building is not None and campus.building(building) is None:
        known = ", ".join(b.id for b in campus.buildings)
        raise invalid_parameter(
            "building",
            f"building {shown(building)} is not in the campus registry; use one of: {known}",
        )
    return building


def _type_filter(space_type: str | None) -> SpaceType | None:
    if space_type is None:
        return None
    try:
        return SpaceType(space_type)
    except ValueError:
        raise invalid_parameter(
            "type", f"type {shown(space_type)} is not a space type; use one of: {', '.join(_TYPES)}"
        ) from None


@router.get(
    "",
    response_model=list[SpaceSummary],
    summary="List the spaces",
    description="Every space in the campus registry, in registry order (by building), "
    "optionally only those of one building and/or one type.",
    responses=problem_responses(422, 500),
)
def list_spaces(
    campus: CampusDep,
    building: Annotated[
        str | None, Query(description="only spaces in this building (id)", examples=["rfb"])
    ] = None,
    space_type: Annotated[
        str | None,
        Query(
            alias="type",
            description="only spaces of this type",
            json_schema_extra={"enum": _TYPES},
            examples=["seminar_room"],
        ),
    ] = None,
) -> list[SpaceSummary]:
    building_id = _building_filter(campus, building)
    wanted_type = _type_filter(space_type)
    return [
        space_summary(b, s)
        for b, s in campus.spaces()
        if (building_id is None or b.id == building_id)
        and (wanted_type is None or s.type is wanted_type)
    ]


@router.get(
    "/{space_id}",
    response_model=SpaceSummary,
    summary="One space",
    description="The registry entry of one space.",
    responses=problem_responses(404, 422, 500),
)
def get_space(space: SpaceDep) -> SpaceSummary:
    return space_summary(space.building, space.space)
