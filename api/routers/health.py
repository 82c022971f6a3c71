"""GET /api/v1/health: is the API up, which store does it use, how is ingest doing.

Public. The ingestor's internals (broker, subscription, backlog, counters) are
for facilities only; other callers see whether it is connected.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter

from campuslab import __version__
from campuslab.api.dependencies import IngestStatusDep, StoreDep
from campuslab.api.keys import Role
from campuslab.api.models import Health, StoreHealth
from campuslab.api.problems import ApiProblem, problem_responses
from campuslab.api.security import PrincipalDep

router = APIRouter(prefix="/api/v1", tags=["health"])
log = logging.getLogger("campuslab.api")


@router.get(
    "/health",
    response_model=Health,
    summary="Health of the API, its store and its ingestor",
    description="`status` is `ok` when the API answers and the store can count its "
    "readings; a store that does not answer gives a 503 problem. `ingest` is the "
    "state of the MQTT ingestor running in this process, or null when the API runs "
    "without one. Public: no key needed; without a facilities key `ingest` holds only "
    "`connected`, with one it also gives the broker, subscription, backlog and counters.",
    responses=problem_responses(500, 503),
)
def health(store: StoreDep, ingest_status: IngestStatusDep, principal: PrincipalDep) -> Health:
    try:
        readings = store.count()
    except Exception:
        log.exception("health check: the store did not answer")
        raise ApiProblem(
            "store-unavailable",
            f"the {type(store).__name__} store did not answer; see the server log",
        ) from None
    ingest = None
    if ingest_status is not None:
        try:
            ingest = dict(ingest_status())
        except Exception:
            log.exception("the ingest status callback failed")
            ingest = {"error": "the ingest status could not be read; see the server log"}
        if not principal.may(Role.FACILITIES):
            ingest = {"connected": ingest.get("connected")}
    return Health(
        version=__version__,
        store=StoreHealth(backend=type(store).__name__, readings=readings),
        ingest=ingest,
    )
