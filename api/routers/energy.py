"""GET /api/v1/buildings/{building_id}/energy: energy, EUI, intensity, load shape, emissions.

Researcher role. The figures come from ``analytics.energy_kpis.building_energy``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from campuslab.analytics.energy_kpis import building_energy
from campuslab.api.dependencies import CampusDep, ClockDep, ReadLimitsDep, StoreDep
from campuslab.api.keys import Role
from campuslab.api.models_analytics import (
    BuildingDep,
    BuildingEnergyAnswer,
    EndQuery,
    StartQuery,
    analysis_limit,
    analysis_period,
    energy_answer,
)
from campuslab.api.problems import problem_responses
from campuslab.api.security import require_role

router = APIRouter(
    prefix="/api/v1/buildings",
    tags=["energy"],
    dependencies=[Depends(require_role(Role.RESEARCHER))],
)

HddNormalQuery = Annotated[
    float | None,
    Query(
        ge=0,
        le=20_000,
        description="normal-year heating degree days (K·day, same base) of the period's whole "
        "local days, e.g. from the Norwegian Meteorological Institute's normals; with it the "
        "temperature-dependent part of the energy is normalised",
        examples=[410.5],
    ),
]


@router.get(
    "/{building_id}/energy",
    response_model=BuildingEnergyAnswer,
    summary="Energy and emissions of one building",
    description="Delivered electricity and district heat of `start <= t < end` (cumulative "
    "registers: sums of positive differences, a decrease is a reset), EUI in kWh/m² per "
    "year (annualised, and said so, when the period is not a year; SSB 2011 benchmark), "
    "kWh per occupant-hour and per used seat-hour, the electricity load shape (Price 2010), "
    "heating degree days and, given `hdd_normal`, the degree-day-normalised energy, and "
    "Scope 2 emissions location- and market-based side by side (GHG Protocol; NVE factors). "
    "The period is widened to whole UTC hours; default: the last 7 whole local days. "
    "At most 366 days per request.",
    responses=problem_responses(404, 422, 500),
)
def read_energy(
    building: BuildingDep,
    store: StoreDep,
    campus: CampusDep,
    clock: ClockDep,
    limits: ReadLimitsDep,
    start: StartQuery = None,
    end: EndQuery = None,
    hdd_normal: HddNormalQuery = None,
) -> BuildingEnergyAnswer:
    period = analysis_period(start, end, now=clock(), campus=campus, limit=analysis_limit(limits))
    energy = building_energy(
        store, campus, building.id, period.start, period.end, hdd_normal=hdd_normal
    )
    return energy_answer(energy, period, campus)
