"""The FastAPI application: ``create_app(store, campus, ...)`` wires routers to a store.

The caller (the CLI, a test) owns the store and the campus registry and
passes them in; the API never opens a store itself, so the same app serves
DuckDB in embedded mode and InfluxDB in the full stack.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry

from campuslab import __version__
from campuslab.api.dependencies import ReadLimits, utc_now
from campuslab.api.device_health import (
    DeviceHealthCollector,
    StoredDeviceHealth,
    live_device_health,
)
from campuslab.api.keys import KeyStore, Role
from campuslab.api.live import LiveSettings
from campuslab.api.problems import install_problem_handlers
from campuslab.api.query_parameters import reject_unknown_query_parameters
from campuslab.api.request_ids import (
    REQUEST_ID_HEADER,
    RequestIdMiddleware,
    install_request_id_logging,
)
from campuslab.api.request_metrics import RequestMetrics, RequestMetricsMiddleware
from campuslab.api.routers import (
    availability,
    bookings,
    brick,
    dead_letters,
    devices,
    energy,
    exports,
    health,
    ieq,
    metrics,
    overview,
    problems,
    quality,
    readings,
    recommendations,
    report,
    spaces,
    stream,
    utilisation,
)
from campuslab.api.routers import campus as campus_utilisation
from campuslab.api.routers import keys as key_admin
from campuslab.api.routers.exports import OpenDataSettings
from campuslab.api.security import (
    AuthMetrics,
    current_principal,
    document_security,
    require_role,
)
from campuslab.core.device_health import DeviceHealth
from campuslab.core.registry import Campus
from campuslab.core.store.port import ReadingStore
from campuslab.core.timetables import TimetableStore

DESCRIPTION = """\
Readings and workspace-use metrics of a campus living lab.

- **Time**: timestamps are RFC 3339. Answers give UTC with a `Z`
  (`2026-11-26T10:00:00Z`). Parameters take a `Z` or an offset
  (`2026-11-26T11:00:00+01:00`) or a date. One rule everywhere, CLI included: a
  bare date (`2026-11-30`) is the site's **local midnight** starting that day, and a
  time without an offset is **site-local** time. An `end` given as a date is not
  included (half-open). Answers state the resolved UTC `period`.
  Ranges are half-open, `start <= t < end`.
- **Units**: every value is in its quantity's canonical unit: occupancy
  `count`, co2 `ppm`, temperature `°C`, humidity `%RH`.
- **Rates** (frequency rate, occupancy rate, utilisation) are fractions, 0..1.
- **Access**: the space list, health and the overview page are public. Series,
  utilisation and other data need an API key, sent as `Authorization: Bearer <key>`,
  whose role (researcher < planner < facilities; admin for keys) is high enough;
  each operation names its role. No key: 401; too low a role: 403.
- **Request ids**: send `X-Request-ID` (1-128 of `A-Za-z0-9._:-`) or get one; every
  answer carries it, and the server's log lines quote it.
- **Errors** are problem details (RFC 9457, `application/problem+json`) whose
  `detail` names the parameter at fault and how to fix it; `type` resolves to a
  description under `/api/v1/problems`. A query parameter the operation does not
  take is an error too (422 naming it), not silently ignored; `_` (a cache buster)
  is the one exception.
"""

TAGS = [
    {"name": "spaces", "description": "The spaces of the campus registry."},
    {"name": "readings", "description": "Raw and resampled time series of a space."},
    {
        "name": "utilisation",
        "description": "Frequency rate, occupancy rate and utilisation (UK SMG 2006).",
    },
    {"name": "devices", "description": "The registry's devices, their health and status."},
    {"name": "health", "description": "Is the API up, and what is behind it."},
    {"name": "keys", "description": "API keys and their roles (admin)."},
    {"name": "operations", "description": "Prometheus metrics."},
    {"name": "problems", "description": "The problem types errors refer to."},
]


def create_app(
    store: ReadingStore,
    campus: Campus,
    metrics_registry: CollectorRegistry | None = None,
    status: Callable[[], dict[str, Any]] | None = None,
    *,
    keys: KeyStore | None = None,
    metrics_public: bool = False,
    cors_origins: Sequence[str] = (),
    timetables: TimetableStore | None = None,
    open_data: OpenDataSettings | None = None,
    device_health: Callable[[], list[DeviceHealth]] | None = None,
) -> FastAPI:
    """The CampusLab API over ``store`` and ``campus``.

    Args:
        store: the reading store (any ReadingStore backend); the caller closes it.
        campus: the campus registry.
        metrics_registry: the registry holding the ingest counters, rendered at
            /metrics; None when no ingestor runs in this process.
        status: returns the ingestor's state (connected, backlog, ...) for
            /api/v1/health; None when there is no ingestor.
        keys: the API keys callers authenticate with. None means no key is valid:
            every caller is public (authentication stays on; nothing is opened up).
        metrics_public: serve /metrics without a key (for a Prometheus scraper that
            sends none); by default it needs a facilities key.
        cors_origins: origins a browser may call the API from (CORS). Empty (the
            default): no CORS headers, so browsers allow same-origin calls only.
        timetables: the imported timetables (booked vs actual, timetable uploads); None
            when the server keeps none (uploads answer 503).
        open_data: the privacy threshold k and the licence exports publish under; None
            reads them from the environment (``CAMPUSLAB_SUPPRESSION_K`` and
            ``CAMPUSLAB_DATA_*``) once, here, so a bad value fails at start-up. Its k is
            the one k of every view: exports, analytics, the overview page, the live
            stream and the free-seat finder.
        device_health: returns the device health the ingestor in this process keeps
            (``DeviceHealthBook.snapshot``); None reads the newest snapshot the ingestors
            wrote into the store (an API in a process of its own).

    Raises:
        ValueError: a bad ``CAMPUSLAB_SUPPRESSION_K`` or data setting in the environment.
    """
    open_data = open_data or OpenDataSettings.from_env()
    app = FastAPI(
        title=f"CampusLab API — {campus.site.name}",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        # every route reads the caller's key, so a bad key is a 401 even on public routes
        # and no route silently ignores a query parameter it does not take
        dependencies=[Depends(current_principal), Depends(reject_unknown_query_parameters)],
        # /docs and /redoc are served below from packaged assets, never from a CDN
        docs_url=None,
        redoc_url=None,
    )
    app.state.store = store
    app.state.campus = campus
    app.state.metrics_registry = metrics_registry
    app.state.ingest_status = status
    app.state.clock = utc_now
    app.state.read_limits = ReadLimits()
    app.state.request_metrics = RequestMetrics()
    app.state.keys = keys
    app.state.timetables = timetables
    app.state.open_data = open_data
    # the page and stream suppress with the same k as exports and analytics
    app.state.live_settings = LiveSettings(suppression_k=open_data.k)
    app.state.auth_metrics = AuthMetrics(app.state.request_metrics.registry)
    app.state.device_health = (
        live_device_health(device_health)
        if device_health
        else StoredDeviceHealth(lambda: app.state.store)
    )
    app.state.request_metrics.registry.register(
        DeviceHealthCollector(campus, app.state.device_health, lambda: app.state.clock())
    )
    install_problem_handlers(app)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", REQUEST_ID_HEADER],
            expose_headers=[REQUEST_ID_HEADER, "Link", "X-Total-Count", "Location"],
            allow_credentials=False,  # keys travel in a header, never in cookies
            max_age=600,
        )
    # added late, so outer: it also counts the 500s the problem middleware answers
    app.add_middleware(RequestMetricsMiddleware, metrics=app.state.request_metrics)
    # outermost: every answer, even a 500, carries the request id
    app.add_middleware(RequestIdMiddleware)
    install_request_id_logging()
    for router in (
        overview.router,
        availability.router,  # before spaces: /spaces/available is not a space id
        spaces.router,
        stream.router,
        readings.router,
        exports.router,
        brick.router,
        utilisation.router,
        *(ieq.router, bookings.router, energy.router, campus_utilisation.router),
        *(quality.router, dead_letters.router, recommendations.router, report.router),
        devices.router,
        health.router,
        key_admin.router,
        problems.router,
    ):
        app.include_router(router)
    metrics_role = [] if metrics_public else [Depends(require_role(Role.FACILITIES))]
    app.include_router(metrics.router, dependencies=metrics_role)
    document_security(app)
    _install_docs(app)
    return app


# Swagger UI and ReDoc as shipped in the fastapi-offline wheel (Swagger UI 5.x dist files,
# redoc.standalone.js 2.x): /docs works on a campus network with no outside access.
DOCS_ASSETS = "/docs-assets"


def _docs_assets_dir() -> str:
    return str(resources.files("fastapi_offline") / "static")


def _install_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc (ReDoc), their scripts and styles served by this app."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=_docs_assets_dir()), name="docs-assets")
    title = app.title
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{title} - Swagger UI",
            oauth2_redirect_url=f"{root}{oauth2_redirect_url}",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    @app.get(oauth2_redirect_url, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            # ReDoc's default page also loads Google Fonts; offline it falls back
            with_google_fonts=False,
        )
