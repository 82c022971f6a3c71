"""GET /: the overview page, every space's latest state and today's utilisation, updated live.

The page is complete as served: every cell is rendered on the server, from two
store calls whatever the campus size (``latest()`` and one batched
``campus_utilisation_today``; see ``campuslab.api.live``), or from none while
the live feed runs: then the page shows the feed's current state, so it and
the snapshot its script receives agree. A small script
(``/static/overview.js``, plain JS) then listens to ``GET /api/v1/stream`` and
updates the cells in place; without JavaScript the page stays as served.

Viewers below facilities see occupancy counts between 1 and k − 1 as "fewer
than k" (METRICS.md, Privacy), here, in the panel and in the stream alike.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates

from campuslab.analytics.ieq import CATEGORY_NAMES, DELTA_CO2_LIMITS_PPM
from campuslab.api.dependencies import CampusDep, ClockDep, StoreDep
from campuslab.api.device_health import device_states, devices_view
from campuslab.api.live import (
    CampusState,
    LiveFeed,
    LiveSettings,
    LiveSettingsDep,
    age_text,
    campus_view,
    cells_settings,
    local_time,
    newest_view,
    read_campus_state,
    study_spaces_view,
)
from campuslab.api.models import core_hours_description
from campuslab.api.privacy_counts import ExactCountsDep
from campuslab.api.problems import problem_response, shown
from campuslab.core.registry import Campus

router = APIRouter(tags=["pages"])
_API_DIR = Path(__file__).resolve().parent.parent
templates = Jinja2Templates(directory=_API_DIR / "templates")
STATIC_DIR = _API_DIR / "static"
# The files served under /static: a fixed list, so no path from a request reaches the disk.
STATIC_FILES = {
    "overview.js": "text/javascript; charset=utf-8",
    "overview.css": "text/css; charset=utf-8",
}


def _co2_legend(outdoor: float) -> list[tuple[str, str]]:
    limits = DELTA_CO2_LIMITS_PPM
    legend = [
        (name, f"up to {outdoor + limit:g} ppm (ΔCO₂ ≤ {limit:g} ppm)")
        for name, limit in zip(CATEGORY_NAMES, limits, strict=False)
    ]
    legend.append(
        (
            CATEGORY_NAMES[len(limits)],
            f"above {outdoor + limits[-1]:g} ppm (ΔCO₂ > {limits[-1]:g} ppm)",
        )
    )
    return legend


def overview_context(
    state: CampusState,
    campus: Campus,
    now: datetime,
    settings: LiveSettings | None = None,
    exact: bool = False,
    devices: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What the template shows of ``state``, to a viewer with or without exact counts."""
    settings = settings or LiveSettings()
    sections = campus_view(state, campus, settings, exact)
    newest = newest_view(state, campus)
    outdoor = campus.analytics.outdoor_co2_ppm
    return {
        "site": campus.site,
        "buildings": sections,
        "space_count": sum(len(s.rows) for s in sections),
        "has_readings": bool(state.by_space),
        "utilisation_failed": state.utilisation_failed(exact),
        "newest_reading": newest["text"] if newest else None,
        "newest_reading_iso": newest["iso"] if newest else None,
        "generated_at": local_time(now, now, campus),
        "core_hours": core_hours_description(campus).description,
        "outdoor_co2": f"{outdoor:g}",
        "co2_legend": _co2_legend(outdoor),
        "study_spaces": study_spaces_view(state, campus, settings, exact),
        "suppression_k": None if exact else settings.suppression_k,
        "stale_minutes": f"{settings.stale_after.total_seconds() / 60:g}",
        "devices": devices,  # facilities only (devices_panel)
        "age_of": lambda iso: age_text(
            max((now - datetime.fromisoformat(iso)).total_seconds(), 0.0)
        ),
    }


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def overview_page(
    request: Request,
    store: StoreDep,
    campus: CampusDep,
    clock: ClockDep,
    settings: LiveSettingsDep,
    exact: ExactCountsDep,
) -> HTMLResponse:
    now = clock()
    feed: LiveFeed | None = getattr(request.app.state, "live_feed", None)
    state = feed.fresh_state(now) if feed is not None else None
    if state is None:
        cells = cells_settings(settings, getattr(request.app.state, "open_data", None))
        state = read_campus_state(store, campus, now, cells, audiences=(exact,))
    devices = devices_panel(request, campus, now) if exact else None
    return templates.TemplateResponse(
        request, "overview.html", overview_context(state, campus, now, settings, exact, devices)
    )


def devices_panel(request: Request, campus: Campus, now: datetime) -> dict[str, Any] | None:
    """The devices panel, for facilities (those who see exact counts: the same keys as
    GET /api/v1/devices); from the same health source as that route."""
    source = getattr(request.app.state, "device_health", None)
    if source is None or not campus.devices:
        return None
    return devices_view(device_states(campus, source(now), now), campus, now)


@router.get("/static/{name}", include_in_schema=False)
def static_file(request: Request, name: str):
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        return problem_response(404, f"no static file {shown(name)}", instance=request.url.path)
    return FileResponse(
        STATIC_DIR / name, media_type=media_type, headers={"Cache-Control": "no-cache"}
    )
