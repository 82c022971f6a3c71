"""One rule for the instants every entry point reads (API parameters, CLI options).

A planner who types ``2026-11-30`` means the site's day, not UTC's. So, with
``tz`` the site's IANA time zone from the campus registry:

- a **bare date** (``2026-11-30``) is **local midnight** at the start of that day;
- a **datetime without an offset** (``2026-11-30T08:00``) is **local wall time**;
- a datetime **with an offset or Z** is exactly that instant.

Periods are half-open everywhere, ``start <= t < end``, so a bare date as ``end``
is the local midnight *beginning* that day: the day itself is **not** included
(``start=2026-11-23&end=2026-11-30`` is the seven local days 23–29 November).
That keeps one reading of ``end`` for dates and times, and lets periods chain
(one period's end is the next one's start) without a day counted twice. Every
answer states the resolved UTC instants of its period.

A local wall time that does not exist (the spring-forward hour) or happens
twice (the autumn hour) is resolved as ``zoneinfo`` does with ``fold=0``: the
offset before the change.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, tzinfo

BARE_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
INSTANT_RULE = (
    "a bare date is local midnight (site time zone) at the start of that day, a time "
    "without an offset is local time, and a time with Z or an offset is that instant"
)


def parse_instant(text: str, tz: tzinfo) -> datetime:
    """``text`` (ISO 8601 / RFC 3339) as an aware UTC datetime under the module's rule.

    >>> from zoneinfo import ZoneInfo
    >>> oslo = ZoneInfo("Europe/Oslo")
    >>> parse_instant("2026-11-30", oslo).isoformat()
    '2026-11-29T23:00:00+00:00'
    >>> parse_instant("2026-07-01T08:00", oslo).isoformat()
    '2026-07-01T06:00:00+00:00'
    >>> parse_instant("2026-11-30T00:00:00Z", oslo).isoformat()
    '2026-11-30T00:00:00+00:00'

    Raises:
        ValueError: not a date or a datetime.
    """
    text = text.strip()
    if BARE_DATE.match(text):
        day = datetime.fromisoformat(text).date()
        return datetime.combine(day, time(0), tz).astimezone(UTC)
    moment = datetime.fromisoformat(re.sub(r"[zZ]$", "+00:00", text))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC)
