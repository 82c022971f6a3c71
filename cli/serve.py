"""The long-running processes: ``serve`` (all in one), ``ingest`` and ``api``.

Embedded mode runs ``serve``: one process, because DuckDB lets only one process
open the store file. With InfluxDB the same parts run as separate processes,
ingestors scaled out through a shared subscription.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
from prometheus_client import CollectorRegistry, start_http_server

from campuslab.api.keys import KeyStore
from campuslab.api.request_ids import install_request_id_logging
from campuslab.cli.stores import StoreOptions, mqtt_endpoint, open_store
from campuslab.cli.timetable_command import store_for as timetable_store_for
from campuslab.core.config import DEFAULT_TOPIC_PREFIX
from campuslab.core.registry import Campus, load_campus
from campuslab.core.store import ReadingStore
from campuslab.ingest.metrics import IngestMetrics
from campuslab.ingest.processor import MessageProcessor
from campuslab.ingest.service import Ingestor, IngestSettings, default_client_id

if TYPE_CHECKING:
    from campuslab.api.routers.exports import OpenDataSettings

log = logging.getLogger("campuslab.serve")


@dataclass(frozen=True)
class ServeOptions:
    mqtt_url: str
    registry: Path
    store: StoreOptions = field(default_factory=StoreOptions)
    host: str = "127.0.0.1"
    port: int = 8000
    prefix: str = DEFAULT_TOPIC_PREFIX
    client_id: str | None = None
    share_group: str | None = None
    log_level: str = "info"
    metrics_port: int | None = None  # ingest-only processes expose /metrics here
    analytics_every: timedelta | None = None  # serve runs the rollup scheduler in a thread
    metrics_public: bool = False
    cors_origins: tuple[str, ...] = ()
    # privacy threshold k and licence, read from the environment once at start-up
    # (None: create_app reads them)
    open_data: OpenDataSettings | None = None


def configure_logging(level: str) -> None:
    install_request_id_logging()
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s [%(request_id)s]: %(message)s",
    )


def _app(
    options: ServeOptions,
    store: ReadingStore,
    campus: Campus,
    registry: CollectorRegistry,
    status=None,
    device_health=None,
):
    # imported here: the API pulls in pythermalcomfort/numba, seconds that `ingest` never needs
    from campuslab.api.app import create_app

    _warm_comfort_models()
    return create_app(
        store,
        campus,
        metrics_registry=registry,
        status=status,
        keys=KeyStore.in_data_dir(options.store.data_dir),
        metrics_public=options.metrics_public,
        cors_origins=options.cors_origins,
        open_data=options.open_data,
        # booked vs actual and uploads: the calendars `campuslab timetable import` keeps
        timetables=timetable_store_for(options.store.data_dir),
        device_health=device_health,
    )


def _warm_comfort_models() -> threading.Thread:
    """Compile the thermal-comfort models (numba) in the background, so the first /ieq
    call does not wait for it; logs when they are ready."""

    def warm() -> None:
        started = time.monotonic()
        try:
            from campuslab.analytics.comfort import warm_up

            warm_up()
        except Exception:
            log.exception("warming the comfort models failed; the first /ieq call compiles them")
            return
        log.info("comfort models ready (compiled in %.1f s)", time.monotonic() - started)

    thread = threading.Thread(target=warm, name="campuslab-comfort-warmup", daemon=True)
    thread.start()
    return thread


def _store_metrics(store: ReadingStore, registry: CollectorRegistry) -> None:
    """Export the store's own counters (the InfluxDB writer's) when it has any."""
    register = getattr(store, "register_metrics", None)
    if register is not None:
        register(registry)


def _ingestor(
    options: ServeOptions, campus: Campus, store: ReadingStore, metrics: IngestMetrics
) -> Ingestor:
    return Ingestor(
        mqtt_endpoint(options.mqtt_url),
        MessageProcessor(campus, prefix=options.prefix),
        store,
        metrics,
        IngestSettings(
            client_id=options.client_id or default_client_id(), share_group=options.share_group
        ),
    )


def run_serve(options: ServeOptions) -> None:
    """Ingest, store, analytics and API in one process, until SIGINT/SIGTERM."""
    configure_logging(options.log_level)
    campus = load_campus(options.registry)
    store = open_store(options.store, campus)
    metrics = IngestMetrics()
    _store_metrics(store, metrics.registry)
    ingestor = _ingestor(options, campus, store, metrics)
    app = _app(
        options,
        store,
        campus,
        metrics.registry,
        status=ingestor.status,
        device_health=ingestor.processor.health.snapshot,
    )
    ingestor.start()
    stop_analytics = _start_scheduler(options, campus, store)
    log.info(
        "serving %s (%d spaces) on http://%s:%d/",
        campus.site.name,
        sum(1 for _ in campus.spaces()),
        options.host,
        options.port,
    )
    try:
        _run_http(app, options)
    finally:
        stop_analytics.set()
        ingestor.stop()
        store.close()
        log.info("stopped")


def _run_http(app, options: ServeOptions) -> None:
    """uvicorn until SIGINT/SIGTERM, returning so the caller's clean-up runs.

    After its graceful shutdown uvicorn (0.29+) raises the signal it caught again, with
    the handler that was there before it started: with the default SIGTERM handler that
    ends the process at once, and the ingestor's stop (the last acknowledgements, the
    device health snapshot) and the store's close never ran. A handler that does
    nothing turns that second SIGTERM into a return.
    """
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        uvicorn.run(
            app,
            host=options.host,
            port=options.port,
            log_level=options.log_level,
            access_log=False,
            # live-page stream clients must not hold up a SIGTERM
            timeout_graceful_shutdown=3,
        )
    finally:
        signal.signal(signal.SIGTERM, previous)


def _start_scheduler(options: ServeOptions, campus: Campus, store: ReadingStore) -> threading.Event:
    """In embedded mode the rollup scheduler shares serve's store (DuckDB allows one process)."""
    stop = threading.Event()
    if options.analytics_every:
        from campuslab.analytics.scheduler import run_forever

        threading.Thread(
            target=run_forever,
            args=(store, campus, options.analytics_every, stop),
            name="campuslab-analytics",
            daemon=True,
        ).start()
    return stop


def run_ingest(options: ServeOptions) -> None:
    """Ingest only (no API): one of possibly many ingestors sharing a subscription."""
    configure_logging(options.log_level)
    campus = load_campus(options.registry)
    store = open_store(options.store, campus)
    metrics = IngestMetrics()
    _store_metrics(store, metrics.registry)
    ingestor = _ingestor(options, campus, store, metrics)
    if options.metrics_port:
        start_http_server(options.metrics_port, registry=metrics.registry)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    ingestor.start()
    log.info(
        "ingesting %s/# into %s as %s",
        options.prefix,
        options.store.kind,
        ingestor.settings.client_id,
    )
    stop.wait()
    ingestor.stop()
    store.close()
    log.info("stopped")


def run_api(options: ServeOptions) -> None:
    """The API (and overview page) over the store, without ingest."""
    configure_logging(options.log_level)
    campus = load_campus(options.registry)
    store = open_store(options.store, campus)
    app = _app(options, store, campus, CollectorRegistry())
    try:
        _run_http(app, options)
    finally:
        store.close()
