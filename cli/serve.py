"""``campuslab serve``: ingest, embedded store, analytics and API in one process.

One process because DuckDB lets only one process open the store file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from campuslab.api.app import create_app
from campuslab.core.config import DEFAULT_TOPIC_PREFIX, parse_mqtt_url
from campuslab.core.registry import load_campus
from campuslab.core.store.duckdb import DuckDBStore
from campuslab.ingest.metrics import IngestMetrics
from campuslab.ingest.processor import MessageProcessor
from campuslab.ingest.service import Ingestor, IngestSettings, default_client_id

STORE_FILE = "campuslab.duckdb"
log = logging.getLogger("campuslab.serve")


@dataclass(frozen=True)
class ServeOptions:
    mqtt_url: str
    data_dir: Path
    registry: Path
    host: str = "127.0.0.1"
    port: int = 8000
    prefix: str = DEFAULT_TOPIC_PREFIX
    client_id: str | None = None
    share_group: str | None = None
    log_level: str = "info"


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    )


def run_serve(options: ServeOptions) -> None:
    """Run until SIGINT/SIGTERM, then store and acknowledge what was taken, and stop."""
    configure_logging(options.log_level)
    campus = load_campus(options.registry)
    endpoint = parse_mqtt_url(options.mqtt_url)
    store = DuckDBStore(options.data_dir / STORE_FILE)
    metrics = IngestMetrics()
    ingestor = Ingestor(
        endpoint,
        MessageProcessor(campus, prefix=options.prefix),
        store,
        metrics,
        IngestSettings(
            client_id=options.client_id or default_client_id(), share_group=options.share_group
        ),
    )
    app = create_app(store, campus, metrics_registry=metrics.registry, status=ingestor.status)
    ingestor.start()
    log.info(
        "serving %s (%d spaces) from %s on http://%s:%d/",
        campus.site.name,
        sum(1 for _ in campus.spaces()),
        store.path,
        options.host,
        options.port,
    )
    try:
        uvicorn.run(
            app, host=options.host, port=options.port, log_level=options.log_level, access_log=False
        )
    finally:
        ingestor.stop()
        store.close()
        log.info("stopped")
