"""Parsing and checking query parameters: each failure names the parameter and the fix.

Timestamps are RFC 3339 (``2026-11-26T10:00:00Z``, ``2026-11-26T11:00:00+01:00``).
Dates and offsets follow ``campuslab.core.instants``, the one rule of every entry
point: a bare date is the site's local midnight at the start of that day, a
timestamp without an offset is site-local time. A ``+`` in an offset that
arrived as a space (an unencoded ``+`` in a URL decodes to a space) is read
as ``+``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from campuslab.api.dependencies import ReadLimits
from campuslab.api.problems import ApiProblem, invalid_parameter, shown
from campuslab.core import instants
from campuslab.core.config import format_duration, parse_duration
from campuslab.core.quantities import QUANTITIES, READABLE_SPACE_QUANTITIES
from campuslab.core.readings import isoformat_utc
from campuslab.core.store.port import Aggregate

TIMESTAMP_EXAMPLE = "2026-11-26T10:00:00Z"
# No valid query value is longer (an RFC 3339 time with nanoseconds and an offset is 35);
# longer ones are refused by validation before any parsing.
MAX_PARAMETER_LENGTH = 64
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)

_RFC3339ISH = re.compile(
    r"^\d{4}-\d{2}-\d{2}"
    r"(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:[Zz]|[+-]\d{2}:?\d{2})?)?$"
)
_OFFSET_PLUS_AS_SPACE = re.compile(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$")


@dataclass(frozen=True)
class Period:
    """A half-open UTC time range, start <= t < end."""

    start: datetime
    end: datetime

    @property
    def span(self) -> timedelta:
        return self.end - self.start


def parse_instant(parameter: str, text: str, tz: tzinfo) -> datetime:
    """An RFC 3339 timestamp or a date as an aware UTC datetime (``core.instants``'s rule:
    a bare date is local midnight in ``tz``, the site's zone; no offset is local time)."""
    candidate = _OFFSET_PLUS_AS_SPACE.sub(r"\1+\2", text.strip())
    if _RFC3339ISH.match(candidate):
        candidate = candidate.upper()
        if len(candidate) > 10 and candidate[10] == " ":
            candidate = candidate[:10] + "T" + candidate[11:]
        # the store keeps microseconds; finer digits are dropped, not rejected
        candidate = re.sub(r"(\.\d{6})\d+", r"\1", candidate)
        try:
            moment = instants.parse_instant(candidate, tz)
        except OverflowError:
            moment = LATEST
        except ValueError:
            moment = None
        if moment is not None:
            if not EARLIEST <= moment < LATEST:
                raise invalid_parameter(
                    parameter,
                    f"{parameter} {shown(text)} is outside the years 1970–2199 "
                    "that CampusLab stores",
                )
            return moment
    raise invalid_parameter(
        parameter,
        f"{parameter} {shown(text)} is not an RFC 3339 timestamp or a date; use e.g. "
        f"{TIMESTAMP_EXAMPLE}, 2026-11-26T11:00:00+01:00 or 2026-11-26 "
        f"({instants.INSTANT_RULE})",
    )


def resolve_period(
    start: str | None,
    end: str | None,
    *,
    now: datetime,
    tz: tzinfo,
    default_span: timedelta = timedelta(hours=24),
) -> Period:
    """The requested period; end defaults to now, start to end - ``default_span``.

    ``tz`` is the site's time zone, for bare dates and times without an offset.
    """
    end_at = parse_instant("end", end, tz) if end is not None else now
    start_at = parse_instant("start", start, tz) if start is not None else end_at - default_span
    if end_at <= start_at:
        hint = "" if end is not None else " (end defaults to now)"
        raise invalid_parameter(
            "end",
            f"end {isoformat_utc(end_at)}{hint} must be after start "
            f"{isoformat_utc(start_at)}; the range is start <= t < end",
        )
    return Period(start_at, end_at)


def check_span(period: Period, limit: timedelta, *, what: str, advice: str) -> None:
    """422 when the period is longer than ``limit``."""
    if period.span > limit:
        raise ApiProblem(
            "range-too-long",
            f"start..end spans {_days(period.span)}; {what} are limited to "
            f"{_days(limit)} per request: {advice}",
            parameter="start",
        )


def _days(span: timedelta) -> str:
    return f"{span / timedelta(days=1):.4g} days"


def parse_every(text: str, limits: ReadLimits) -> timedelta:
    """A resampling interval such as 15m, 1h or 1d."""
    try:
        every = parse_duration(text)
    except ValueError:
        raise invalid_parameter(
            "every",
            f"every {shown(text)} is not a positive duration; use a number and a "
            "unit (s, m, h, d, w), e.g. every=15m or every=1h",
        ) from None
    except OverflowError:
        every = timedelta.max
    if every < limits.finest_every:
        raise invalid_parameter(
            "every",
            f"every {shown(text)} is finer than {format_duration(limits.finest_every)}; "
            "leave every out for raw readings, or use e.g. every=1m",
        )
    if every > limits.max_resampled_span:
        raise invalid_parameter(
            "every",
            f"every {shown(text)} is longer than "
            f"{format_duration(limits.max_resampled_span)}; use e.g. every=1d or every=1w",
        )
    return every


def parse_aggregate(text: str | None, *, resampling: bool) -> Aggregate:
    """The aggregate of a resampled bucket; only meaningful together with every=."""
    if text is None:
        return Aggregate.MEAN
    try:
        aggregate = Aggregate(text)
    except ValueError:
        choices = ", ".join(a.value for a in Aggregate)
        raise invalid_parameter("agg", f"agg {shown(text)} is not one of: {choices}") from None
    if not resampling:
        raise invalid_parameter(
            "agg",
            f"agg={aggregate.value} applies only when resampling; add every= "
            f"(e.g. every=15m&agg={aggregate.value}), or leave agg out for raw readings",
        )
    return aggregate


def space_quantity(text: str) -> str:
    """A quantity measured in spaces (not a meter-only one)."""
    valid = ", ".join(READABLE_SPACE_QUANTITIES)
    if text in READABLE_SPACE_QUANTITIES:
        return text
    if text in QUANTITIES:
        raise invalid_parameter(
            "quantity",
            f"quantity {shown(text)} is measured by building meters, not in "
            f"spaces; a space has: {valid}",
        )
    raise invalid_parameter("quantity", f"quantity {shown(text)} is not known; use one of: {valid}")
