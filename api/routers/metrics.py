"""GET /metrics: Prometheus text exposition of the ingest counters and the API's own."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from campuslab.api.dependencies import MetricsRegistriesDep

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description="Ingest counters (`campuslab_ingest_received_total`, "
    "`campuslab_ingest_stored_total`, `campuslab_ingest_rejected_total{reason}`, "
    "batch latency) when an ingestor runs in this process, and the API's own "
    "`campuslab_api_requests_total{method,route,status}` and "
    "`campuslab_api_request_duration_seconds`, in Prometheus text format.",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text exposition"}
    },
)
def metrics(registries: MetricsRegistriesDep) -> Response:
    body = b"".join(generate_latest(registry) for registry in registries)
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)
