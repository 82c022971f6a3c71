"""GET /api/v1/dead-letters: the messages ingest rejected, and why (facilities role).

Ingest keeps every message that cannot become a valid reading as a dead letter
(ARCHITECTURE.md, "Bad input"): its topic, the first 512 bytes of its payload as
UTF-8 text, a reason and a sentence saying what was wrong. This route reads them
back through ``ReadingStore.dead_letters``, newest first.

Paging is that of /api/v1/spaces: ``limit``/``offset``, the body a plain JSON
array, ``X-Total-Count`` and ``Link`` (RFC 8288) in headers. Dead letters keep
arriving while someone pages through them, which would shift every offset, so
the first page's links pin ``until`` to just after its newest letter: following
``rel="next"`` walks one fixed set.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from campuslab.api.dependencies import CampusDep, StoreDep
from campuslab.api.keys import Role
from campuslab.api.models import DeadLetterItem
from campuslab.api.paging import DEFAULT_PAGE, MAX_PAGE, paged_responses, set_paging_headers
from campuslab.api.parameters import MAX_PARAMETER_LENGTH, TIMESTAMP_EXAMPLE, parse_instant
from campuslab.api.problems import invalid_parameter, problem_responses, shown
from campuslab.api.security import require_role
from campuslab.core.readings import DeadLetter, from_epoch_us, isoformat_utc
from campuslab.core.store.port import DeadLetterFilter

router = APIRouter(
    prefix="/api/v1/dead-letters",
    tags=["dead letters"],
    dependencies=[Depends(require_role(Role.FACILITIES))],
)

# The reasons of campuslab.ingest.reasons.Reason. The API does not import ingest
# (CONVENTIONS.md: the API imports the core and analytics only), so they are listed
# here; tests/test_dead_letters_api.py checks that the two lists agree.
REASONS = (
    "too_large",
    "bad_topic",
    "unknown_building",
    "unknown_sensor",
    "unknown_quantity",
    "unparseable",
    "bad_timestamp",
    "future_timestamp",
    "bad_unit",
    "not_finite",
    "out_of_range",
    "unknown_device",
    "undecoded",
    "simulated_uplink",
    "unknown_alias",
    "fractional_count",
)
_MICROSECOND = timedelta(microseconds=1)


def dead_letter_item(letter: DeadLetter) -> DeadLetterItem:
    return DeadLetterItem(
        received_at=isoformat_utc(from_epoch_us(letter.received_us)),
        topic=letter.topic,
        reason=letter.reason,
        detail=letter.detail,
        payload=letter.payload,
    )


def _reason_filter(reason: str | None) -> str | None:
    if reason is not None and reason not in REASONS:
        raise invalid_parameter(
            "reason",
            f"reason {shown(reason)} is not a reason ingest rejects for; use one of: "
            f"{', '.join(REASONS)}",
        )
    return reason


def _received_filter(
    since: str | None, until: str | None, tz: tzinfo
) -> tuple[datetime | None, datetime | None]:
    since_at = parse_instant("since", since, tz) if since is not None else None
    until_at = parse_instant("until", until, tz) if until is not None else None
    if since_at is not None and until_at is not None and until_at <= since_at:
        raise invalid_parameter(
            "until",
            f"until {isoformat_utc(until_at)} must be after since {isoformat_utc(since_at)}; "
            "the letters listed were received at since <= t < until",
        )
    return since_at, until_at


_TIME_QUERY = {
    "max_length": MAX_PARAMETER_LENGTH,
    "json_schema_extra": {"format": "date-time"},
    "examples": [TIMESTAMP_EXAMPLE],
}


@router.get(
    "",
    response_model=list[DeadLetterItem],
    summary="List the rejected messages",
    description="The messages ingest rejected (dead letters), newest first: when each was "
    "received, its topic, the reason (`reason`, as in `campuslab_ingest_rejected_total`), "
    "a sentence saying what was wrong (`detail`) and the start of its payload (`payload`: "
    "the first 512 bytes as UTF-8 text, bytes that are not UTF-8 shown as U+FFFD; ingest "
    "keeps no raw bytes). Optionally only one `reason`, those received at "
    "`since <= t < until`, and those whose topic starts with `topic` (e.g. "
    "`campus/rfb/` for one building). Paged: `limit` (default "
    f"{DEFAULT_PAGE}, at most {MAX_PAGE}) and `offset`; `X-Total-Count` gives the number "
    'of matching letters and `Link` the `rel="next"` and `rel="prev"` pages. The first '
    "page's links add `until` just after its newest letter, so letters arriving meanwhile "
    "do not shift the pages that follow.",
    responses={
        **paged_responses("A page of dead letters, newest first", "dead letters"),
        **problem_responses(422, 500),
    },
)
def list_dead_letters(
    store: StoreDep,
    campus: CampusDep,
    request: Request,
    response: Response,
    reason: Annotated[
        str | None,
        Query(
            max_length=MAX_PARAMETER_LENGTH,
            description="only letters rejected for this reason",
            json_schema_extra={"enum": list(REASONS)},
            examples=["unparseable"],
        ),
    ] = None,
    since: Annotated[
        str | None,
        Query(
            description="only letters received at or after this time; RFC 3339 (a date is "
            "local midnight, a time without an offset local time: site time zone)",
            **_TIME_QUERY,
        ),
    ] = None,
    until: Annotated[
        str | None,
        Query(description="only letters received before this time; RFC 3339", **_TIME_QUERY),
    ] = None,
    topic: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_PARAMETER_LENGTH,
            description="only letters whose topic starts with this text (case-sensitive, "
            "no wildcards), e.g. campus/rfb/ for one building",
            examples=["campus/rfb/"],
        ),
    ] = None,
    limit: Annotated[
        int,
        Query(ge=1, le=MAX_PAGE, description=f"letters per page (1–{MAX_PAGE})", examples=[100]),
    ] = DEFAULT_PAGE,
    offset: Annotated[
        int,
        Query(ge=0, le=1_000_000, description="letters to skip (for the next page)", examples=[0]),
    ] = 0,
) -> list[DeadLetterItem]:
    since_at, until_at = _received_filter(since, until, campus.tz)
    where = DeadLetterFilter(
        reason=_reason_filter(reason), since=since_at, until=until_at, topic_prefix=topic
    )
    letters = store.dead_letters(limit, offset, where)
    total = store.count_dead_letters(where)
    pinned_until = None
    if until is None and offset == 0 and letters:
        pinned_until = from_epoch_us(letters[0].received_us) + _MICROSECOND
    pinned = {"until": isoformat_utc(pinned_until)} if pinned_until is not None else {}
    set_paging_headers(request, response, total, limit, offset, **pinned)
    return [dead_letter_item(letter) for letter in letters]
