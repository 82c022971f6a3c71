"""GET /api/v1/devices: every registry device, its health and status (facilities role).

Every device of the registry's ``devices:`` appears, never-seen ones included, with
where it sits, who it is on its network, when it was last seen, its battery and
signal where the network gives them, and a status judged against its reporting
interval (``campuslab.core.device_health``). Paged like /api/v1/spaces.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from campuslab.api.dependencies import CampusDep, ClockDep
from campuslab.api.device_health import DeviceState, HealthSource, device_states
from campuslab.api.keys import Role
from campuslab.api.models import DeviceItem
from campuslab.api.paging import DEFAULT_PAGE, MAX_PAGE, paged_responses, set_paging_headers
from campuslab.api.parameters import MAX_PARAMETER_LENGTH
from campuslab.api.problems import invalid_parameter, problem_responses, shown
from campuslab.api.security import require_role
from campuslab.core.device_health import DeviceStatus
from campuslab.core.readings import from_epoch_us, isoformat_utc
from campuslab.core.registry import Campus

router = APIRouter(
    prefix="/api/v1/devices",
    tags=["devices"],
    dependencies=[Depends(require_role(Role.FACILITIES))],
)

STATUSES = tuple(s.value for s in DeviceStatus)


async def get_device_health(request: Request) -> HealthSource:
    return request.app.state.device_health


DeviceHealthDep = Annotated[HealthSource, Depends(get_device_health)]


def device_item(state: DeviceState) -> DeviceItem:
    device, health = state.device, state.health
    return DeviceItem(
        id=state.key,
        model=device.model,
        quantity=device.quantity,
        building=state.building,
        space=device.space,
        meter=device.meter,
        identities=dict(device.identities()),
        status=state.status.value,
        last_seen=isoformat_utc(from_epoch_us(health.last_seen_us)) if health else None,
        battery=health.battery if health else None,
        rssi=health.rssi if health else None,
        snr=health.snr if health else None,
        online=health.online if health else None,
        reporting_interval_s=state.interval.total_seconds(),
        interval_source=state.interval_source.value,
    )


def _check_filters(
    campus: Campus, building: str | None, status: str | None, model: str | None
) -> None:
    if status is not None and status not in STATUSES:
        raise invalid_parameter(
            "status",
            f"status {shown(status)} is not a device status; use one of: {', '.join(STATUSES)}",
        )
    if building is not None and all(b.id != building for b in campus.buildings):
        raise invalid_parameter(
            "building",
            f"no building {shown(building)}; the buildings are: "
            f"{', '.join(b.id for b in campus.buildings)}",
        )
    if model is not None and model not in campus.profiles:
        raise invalid_parameter(
            "model",
            f"no device profile {shown(model)}; the profiles are: "
            f"{', '.join(sorted(campus.profiles))}",
        )


@router.get(
    "",
    response_model=list[DeviceItem],
    summary="List the devices and their health",
    description="Every device of the registry, in registry order, never-seen ones included: "
    "its building and space (or meter), model, network identity, when it was last seen, "
    "battery, RSSI and SNR where its network gives them, and its status. `reporting`: last "
    "seen within 2× its reporting interval; `late`: within 3×; `silent`: longer ago, or "
    "its network says it is offline; `never_seen`: no message yet. The interval is the "
    "device's `reporting_interval` in the registry, else its profile's, else the median "
    "gap of its recent messages, else 10 minutes (`interval_source` says which). "
    f"Optionally one `building`, `status` or `model`. Paged: `limit` (default {DEFAULT_PAGE}, "
    f"at most {MAX_PAGE}) and `offset`, with `X-Total-Count` and `Link` headers.",
    responses={
        **paged_responses("A page of devices, in registry order", "devices"),
        **problem_responses(422, 500),
    },
)
def list_devices(
    campus: CampusDep,
    clock: ClockDep,
    health: DeviceHealthDep,
    request: Request,
    response: Response,
    building: Annotated[
        str | None,
        Query(
            max_length=MAX_PARAMETER_LENGTH,
            description="only this building's devices",
            examples=["rfb"],
        ),
    ] = None,
    status: Annotated[
        str | None,
        Query(
            max_length=MAX_PARAMETER_LENGTH,
            description="only devices with this status",
            json_schema_extra={"enum": list(STATUSES)},
            examples=["silent"],
        ),
    ] = None,
    model: Annotated[
        str | None,
        Query(
            max_length=MAX_PARAMETER_LENGTH,
            description="only devices of this profile",
            examples=["milesight-am307"],
        ),
    ] = None,
    limit: Annotated[
        int,
        Query(ge=1, le=MAX_PAGE, description=f"devices per page (1–{MAX_PAGE})", examples=[100]),
    ] = DEFAULT_PAGE,
    offset: Annotated[
        int,
        Query(ge=0, le=1_000_000, description="devices to skip (for the next page)", examples=[0]),
    ] = 0,
) -> list[DeviceItem]:
    _check_filters(campus, building, status, model)
    now = clock()
    states = [
        s
        for s in device_states(campus, health(now), now)
        if (building is None or s.building == building)
        and (status is None or s.status == status)
        and (model is None or s.device.model == model)
    ]
    set_paging_headers(request, response, len(states), limit, offset)
    return [device_item(s) for s in states[offset : offset + limit]]
