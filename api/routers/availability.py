"""GET /api/v1/spaces/available: spaces with free seats now, most first (public).

One ``store.latest("occupancy")`` per request; the ranking, k-suppression and
staleness rules are ``campuslab.analytics.availability``'s.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from campuslab.api.dependencies import CampusDep, ClockDep, StoreDep
from campuslab.api.live import LiveSettingsDep, SpaceAvailability, availability, seats_summary
from campuslab.api.models import Timestamp
from campuslab.api.models_analytics import BuildingQuery, building_filter
from campuslab.api.privacy_counts import ExactCountsDep
from campuslab.api.problems import invalid_parameter, problem_responses, shown
from campuslab.core.readings import isoformat_utc
from campuslab.core.registry import SpaceType

router = APIRouter(prefix="/api/v1/spaces", tags=["spaces"])

_TYPES = [t.value for t in SpaceType]
MAX_MIN_SEATS = 5000  # the registry's largest allowed capacity


class AvailableSpace(BaseModel):
    space_id: str = Field(examples=["lsb-301"])
    name: str = Field(examples=["Reading room 1"])
    building: str = Field(description="building id", examples=["lsb"])
    building_name: str = Field(examples=["Lesesalbygget (Library)"])
    floor: int = Field(examples=[3])
    capacity: int = Field(description="seats", examples=[160])
    status: Literal["free", "full", "unknown"] = Field(
        description="free: at least one seat is free for certain; full: none; unknown: no "
        "fresh reading, or a space withheld for privacy. Unknown is never free."
    )
    free_seats: int | None = Field(
        description="seats free now: capacity minus the latest count; a lower bound, "
        "capacity − (k − 1), when `suppressed`; null when unknown",
        examples=[112],
    )
    suppressed: bool = Field(
        description="the count is between 1 and k − 1 and not shown to this caller; "
        "`free_seats` is then a lower bound"
    )
    occupancy: int | None = Field(
        description="people there now (whole people); null when suppressed or unknown",
        examples=[48],
    )
    reading_ts: Timestamp | None = Field(
        description="timestamp of the latest occupancy reading, UTC; null if there is none",
        examples=["2026-11-26T10:04:00Z"],
    )
    reading_age_s: float | None = Field(
        description="age of that reading at `generated_at`, seconds", examples=[42.0]
    )
    reason: Literal["withheld", "no_reading", "stale", "invalid_count"] | None = Field(
        description="why the status is unknown: `withheld` (fewer than k seats: never shown "
        "below facilities), `no_reading`, `stale`, `invalid_count`; null otherwise"
    )
    summary: str = Field(description="the free seats in words", examples=["112 free"])


class AvailableSpaces(BaseModel):
    generated_at: Timestamp = Field(examples=["2026-11-26T10:04:42Z"])
    type: SpaceType
    building: str | None = Field(
        default=None, description="the building asked for; null: the whole campus"
    )
    min_seats: int = Field(examples=[1])
    suppression_k: int | None = Field(
        description="counts 1 … k − 1 are suppressed in this answer; null when the caller "
        "sees exact counts",
        examples=[5],
    )
    stale_after_s: float = Field(
        description="a reading older than this is stale: the space is unknown", examples=[900.0]
    )
    spaces: list[AvailableSpace] = Field(
        description="spaces with at least `min_seats` free seats, most first (ties in registry "
        "order); then, if include_unknown, the spaces whose free seats are unknown"
    )


def _space_type(text: str) -> SpaceType:
    try:
        return SpaceType(text)
    except ValueError:
        raise invalid_parameter(
            "type", f"type {shown(text)} is not a space type; use one of: {', '.join(_TYPES)}"
        ) from None


def _answer(item: SpaceAvailability, summary: str) -> AvailableSpace:
    return AvailableSpace(
        space_id=item.space.id,
        name=item.space.name,
        building=item.building.id,
        building_name=item.building.name,
        floor=item.space.floor,
        capacity=item.space.capacity,
        status=item.status,  # type: ignore[arg-type]
        free_seats=item.free_seats,
        suppressed=item.suppressed,
        occupancy=item.people,
        reading_ts=None if item.reading_ts is None else isoformat_utc(item.reading_ts),
        reading_age_s=item.reading_age_s,
        reason=item.reason or None,  # type: ignore[arg-type]
        summary=summary,
    )


@router.get(
    "/available",
    response_model=AvailableSpaces,
    summary="Spaces with free seats now",
    description="Spaces of one type (study spaces by default) ranked by free seats now: "
    "capacity minus the latest occupancy count. Public. For callers below facilities a "
    "count between 1 and k − 1 (k = 5) is never revealed: such a space reports at least "
    "capacity − (k − 1) free seats, flagged `suppressed`. A space whose latest reading is "
    "older than `stale_after_s` (15 min) is `unknown`, never free.",
    responses=problem_responses(422, 500),
)
def available_spaces(
    store: StoreDep,
    campus: CampusDep,
    clock: ClockDep,
    settings: LiveSettingsDep,
    exact: ExactCountsDep,
    space_type: Annotated[
        str,
        Query(
            alias="type",
            description="the space type",
            json_schema_extra={"enum": _TYPES},
            examples=["study_space"],
        ),
    ] = SpaceType.STUDY_SPACE.value,
    min_seats: Annotated[
        int,
        Query(
            ge=0,
            le=MAX_MIN_SEATS,
            description="only spaces with at least this many free seats for certain",
            examples=[4],
        ),
    ] = 1,
    include_unknown: Annotated[
        bool, Query(description="also list the spaces whose free seats are unknown, last")
    ] = True,
    building: BuildingQuery = None,
) -> AvailableSpaces:
    wanted = _space_type(space_type)
    building = building_filter(campus, building)
    now = clock()
    occupancy = {r.sensor: r for r in store.latest("occupancy")}
    spaces = [
        (b, s)
        for b, s in campus.spaces()
        if s.type is wanted and (building is None or b.id == building)
    ]
    ranked = availability(occupancy, spaces, now, settings, exact, min_seats, include_unknown)
    return AvailableSpaces(
        generated_at=isoformat_utc(now),
        type=wanted,
        building=building,
        min_seats=min_seats,
        suppression_k=None if exact else settings.suppression_k,
        stale_after_s=settings.stale_after.total_seconds(),
        spaces=[_answer(item, seats_summary(item, settings)) for item in ranked],
    )
