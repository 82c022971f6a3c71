"""GET /: the overview page, every space's latest state and today's utilisation.

It makes two store calls whatever the campus size: ``latest()`` for the
newest reading of every sensor, and one batched ``campus_utilisation_today``.
Only formatting happens here; the CO₂ category and utilisation come from
analytics.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from campuslab.analytics.ieq import CATEGORY_NAMES, DELTA_CO2_LIMITS_PPM, co2_category
from campuslab.analytics.kpis import campus_utilisation_today
from campuslab.analytics.utilisation import UtilisationResult
from campuslab.api.dependencies import CampusDep, ClockDep, StoreDep
from campuslab.api.models import core_hours_description
from campuslab.core.readings import LatestReading, isoformat_utc
from campuslab.core.registry import Campus, Space
from campuslab.core.store.port import ReadingStore

router = APIRouter(tags=["pages"])
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")
log = logging.getLogger("campuslab.api")


@dataclass
class SpaceRow:
    id: str
    name: str
    space_type: str
    capacity: int
    people: str | None = None
    co2: str | None = None
    co2_category: str | None = None
    temperature: str | None = None
    utilisation: str | None = None
    utilisation_note: str = ""
    last_reading: str | None = None
    last_reading_iso: str | None = None


@dataclass
class BuildingSection:
    id: str
    name: str
    rows: list[SpaceRow] = field(default_factory=list)


def _local_time(moment: datetime, now: datetime, campus: Campus) -> str:
    local = moment.astimezone(campus.tz)
    if local.date() == now.astimezone(campus.tz).date():
        return local.strftime("%H:%M")
    return f"{local.day} {local.strftime('%b %Y %H:%M')}"


def _utilisation_cells(row: SpaceRow, result: UtilisationResult | None) -> None:
    if result is None:
        row.utilisation_note = "not computed"
    elif result.available_hours == 0 or not math.isfinite(result.utilisation):
        row.utilisation_note = (
            "no core hours with data yet today"
            if not result.hours_without_data
            else f"no data for {result.hours_without_data} core h"
        )
    else:
        row.utilisation = f"{result.utilisation * 100:.0f} %"
        row.utilisation_note = f"in use {result.in_use_hours} of {result.available_hours} h"


def _row(
    space: Space,
    latest: dict[str, LatestReading],
    category: int | None,
    result: UtilisationResult | None,
    now: datetime,
    campus: Campus,
) -> SpaceRow:
    row = SpaceRow(space.id, space.name, space.type.value.replace("_", " "), space.capacity)
    if (occupancy := latest.get("occupancy")) is not None:
        row.people = f"{occupancy.value:g} / {space.capacity}"
    if (co2 := latest.get("co2")) is not None:
        row.co2 = f"{co2.value:.0f} ppm"
        row.co2_category = CATEGORY_NAMES[category - 1] if category else None
    if (temperature := latest.get("temperature")) is not None:
        row.temperature = f"{temperature.value:.1f} °C"
    if latest:
        newest = max(r.ts for r in latest.values())
        row.last_reading = _local_time(newest, now, campus)
        row.last_reading_iso = isoformat_utc(newest)
    _utilisation_cells(row, result)
    return row


def _co2_categories(
    by_space: dict[str, dict[str, LatestReading]], campus: Campus
) -> dict[str, int]:
    with_co2 = [(sid, q["co2"].value) for sid, q in by_space.items() if "co2" in q]
    if not with_co2:
        return {}
    categories = co2_category(np.array([v for _, v in with_co2]), campus.analytics.outdoor_co2_ppm)
    return {sid: int(c) for (sid, _), c in zip(with_co2, categories.tolist(), strict=True)}


def _today(
    store: ReadingStore, campus: Campus, now: datetime
) -> dict[str, UtilisationResult] | None:
    try:
        return campus_utilisation_today(store, campus, now)
    except Exception:
        log.exception("overview: today's utilisation could not be computed")
        return None


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


def overview_context(store: ReadingStore, campus: Campus, now: datetime) -> dict[str, Any]:
    readings = store.latest()
    by_space: dict[str, dict[str, LatestReading]] = {}
    for reading in readings:
        by_space.setdefault(reading.sensor, {})[reading.quantity] = reading
    categories = _co2_categories(by_space, campus)
    today = _today(store, campus, now)
    sections = []
    for building in campus.buildings:
        section = BuildingSection(building.id, building.name)
        for space in building.spaces:
            section.rows.append(
                _row(
                    space,
                    by_space.get(space.id, {}),
                    categories.get(space.id),
                    None if today is None else today.get(space.id),
                    now,
                    campus,
                )
            )
        sections.append(section)
    newest = max((r.ts for r in readings), default=None)
    outdoor = campus.analytics.outdoor_co2_ppm
    return {
        "site": campus.site,
        "buildings": sections,
        "space_count": sum(len(s.rows) for s in sections),
        "has_readings": bool(readings),
        "utilisation_failed": today is None,
        "newest_reading": _local_time(newest, now, campus) if newest else None,
        "newest_reading_iso": isoformat_utc(newest) if newest else None,
        "generated_at": _local_time(now, now, campus),
        "core_hours": core_hours_description(campus).description,
        "outdoor_co2": f"{outdoor:g}",
        "co2_legend": _co2_legend(outdoor),
    }


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def overview_page(
    request: Request, store: StoreDep, campus: CampusDep, clock: ClockDep
) -> HTMLResponse:
    return templates.TemplateResponse(
        request, "overview.html", overview_context(store, campus, clock())
    )
