"""The FastAPI application: ``create_app(store, campus, ...)`` wires routers to a store.

The caller (the CLI, a test) owns the store and the campus registry and
passes them in; the API never opens a store itself, so the same app serves
DuckDB in embedded mode and InfluxDB in the full stack.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from campuslab import __version__
from campuslab.api.dependencies import ReadLimits, utc_now
from campuslab.api.problems import install_problem_handlers
from campuslab.api.request_metrics import RequestMetrics, RequestMetricsMiddleware
from campuslab.api.routers import (
    health,
    metrics,
    overview,
    problems,
    readings,
    spaces,
    utilisation,
)
from campuslab.core.registry import Campus
from campuslab.core.store.port import ReadingStore

DESCRIPTION = """\
Readings and workspace-use metrics of a campus living lab.

- **Time**: timestamps are RFC 3339. Answers give UTC with a `Z`
  (`2026-11-26T10:00:00Z`). Parameters take a `Z` or an offset
  (`2026-11-26T11:00:00+01:00`); a time without an offset is taken as **UTC**.
  Ranges are half-open, `start <= t < end`.
- **Units**: every value is in its quantity's canonical unit: occupancy
  `count`, co2 `ppm`, temperature `°C`, humidity `%RH`.
- **Rates** (frequency rate, occupancy rate, utilisation) are fractions, 0..1.
- **Errors** are problem details (RFC 9457, `application/problem+json`) whose
  `detail` names the parameter at fault and how to fix it; `type` resolves to a
  description under `/api/v1/problems`.
"""

TAGS = [
    {"name": "spaces", "description": "The spaces of the campus registry."},
    {"name": "readings", "description": "Raw and resampled time series of a space."},
    {
        "name": "utilisation",
        "description": "Frequency rate, occupancy rate and utilisation (UK SMG 2006).",
    },
    {"name": "health", "description": "Is the API up, and what is behind it."},
    {"name": "operations", "description": "Prometheus metrics."},
    {"name": "problems", "description": "The problem types errors refer to."},
]


def create_app(
    store: ReadingStore,
    campus: Campus,
    metrics_registry: CollectorRegistry | None = None,
    status: Callable[[], dict[str, Any]] | None = None,
) -> FastAPI:
    """The CampusLab API over ``store`` and ``campus``.

    Args:
        store: the reading store (any ReadingStore backend); the caller closes it.
        campus: the campus registry.
        metrics_registry: the registry holding the ingest counters, rendered at
            /metrics; None when no ingestor runs in this process.
        status: returns the ingestor's state (connected, backlog, ...) for
            /api/v1/health; None when there is no ingestor.
    """
    app = FastAPI(
        title=f"CampusLab API — {campus.site.name}",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
    )
    app.state.store = store
    app.state.campus = campus
    app.state.metrics_registry = metrics_registry
    app.state.ingest_status = status
    app.state.clock = utc_now
    app.state.read_limits = ReadLimits()
    app.state.request_metrics = RequestMetrics()
    install_problem_handlers(app)
    # added last, so outermost: it also counts the 500s the problem middleware answers
    app.add_middleware(RequestMetricsMiddleware, metrics=app.state.request_metrics)
    for router in (
        overview.router,
        spaces.router,
        readings.router,
        utilisation.router,
        health.router,
        metrics.router,
        problems.router,
    ):
        app.include_router(router)
    return app
