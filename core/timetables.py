"""Timetables and booking calendars: one validated, normalised iCalendar file per space.

Planners import a room's timetable or booking calendar (iCalendar, RFC 5545)
so that analytics can set what was booked against what the sensors saw
(METRICS.md, "Booked vs actual"). ``TimetableStore`` keeps one file per
space, ``<folder>/<space_id>.ics``. The calendar is parsed with
**icalendar** and recurrences are expanded with **recurring-ical-events**.
Nothing here parses iCalendar text by hand.

What an import keeps and what it drops:

- Each VEVENT is rebuilt from a short list of properties: UID, SUMMARY,
  DTSTART, DTEND (worked out from DURATION when that is given instead),
  RRULE, RDATE, EXDATE, RECURRENCE-ID, STATUS, SEQUENCE, DTSTAMP and
  ``X-CAMPUSLAB-CLASS-SIZE``. Everything else is dropped.
- **Privacy.** ATTENDEE, ORGANIZER and CONTACT are always dropped, and so
  are DESCRIPTION, COMMENT and any other free text apart from SUMMARY.
  CampusLab never stores or exposes the names of people from a booking
  system, and so never joins counts to names (METRICS.md, "Privacy"). The
  import report says how many such properties were dropped. SUMMARY should
  carry a course code or a booking title, not a person's name.
- VALARM, VTODO, VJOURNAL and VFREEBUSY components are dropped.

How times are read:

- **Floating times** (no TZID and no trailing Z) are taken in the site's
  time zone (``campus.site.timezone``). This also holds when the calendar
  carries an X-WR-TIMEZONE. The stored file gives them that TZID.
- UTC times in a calendar with an ``X-WR-TIMEZONE`` (as Google Calendar
  exports) are moved to that zone, as recurring-ical-events would do. A
  weekly 10:15 class then stays at 10:15 local time across a DST change.
- **All-day events** (DATE values) book whole local days, from 00:00 to
  00:00 in the site's time zone. They are stored as date-times.
- An RRULE UNTIL is stored in UTC, as RFC 5545 asks when DTSTART has a
  TZID. A date-only UNTIL means "up to the end of that local day".
- An unknown TZID is an error. The import does not guess.

**Class size.** The custom property ``X-CAMPUSLAB-CLASS-SIZE`` gives the
number of people booked: students enrolled, or people invited. It must be
a whole number from 0 to 100,000. Without it, ``Booking.class_size`` is
None. A RECURRENCE-ID override may give its own value.

**Rejected input.** A calendar is rejected with ``InvalidCalendar`` when:

- it is over ``MAX_CALENDAR_BYTES``, is binary or not UTF-8, or is not
  iCalendar at all;
- it has no VEVENT;
- an event has no DTSTART, has a DTEND before its DTSTART, or has an
  unreadable value;
- an RRULE has neither UNTIL nor COUNT, runs on past ``MAX_RECURRENCE_SPAN``
  (2 years) from its DTSTART, or repeats more often than hourly;
- it expands to more than ``MAX_OCCURRENCES`` bookings;
- a class size is not a whole number.

The error names the event by its place in the file and by its SUMMARY, for
example ``event 3 (SUMMARY 'TMA4100'): DTEND before DTSTART``. An unknown
space raises ``UnknownSpace``.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
import recurring_ical_events

from campuslab.core.ids import is_valid_id
from campuslab.core.registry import Campus

MAX_CALENDAR_BYTES = 10 * 1024 * 1024
MAX_RECURRENCE_SPAN = timedelta(days=731)  # 2 years: a recurrence longer than that is a mistake
MAX_OCCURRENCES = 50_000  # ≈ 2.8 years of every hour 08–24, every day; no room is booked more
MAX_CLASS_SIZE = 100_000
CLASS_SIZE_PROPERTY = "X-CAMPUSLAB-CLASS-SIZE"
TIMEZONE_PROPERTY = "X-CAMPUSLAB-TIMEZONE"  # the site's zone, for showing times of a stored file
SPACE_PROPERTY = "X-CAMPUSLAB-SPACE"
PRODID = "-//CampusLab//Timetable//EN"
PERSONAL_PROPERTIES = ("ATTENDEE", "ORGANIZER", "CONTACT")
_KEPT = {"UID", "DTSTAMP", "DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE"}
_KEPT |= {"RECURRENCE-ID", "SUMMARY", "STATUS", "SEQUENCE", CLASS_SIZE_PROPERTY}
_TIME_PROPERTIES = ("DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID")
_TOO_FINE = {"SECONDLY", "MINUTELY"}
_MAX_BYMINUTE_VALUES = 4  # quarter hours at the finest
_MAX_PROBLEMS_LISTED = 20
_QUERY_MARGIN = timedelta(days=1)


class InvalidCalendar(ValueError):
    """A calendar that cannot be imported; ``problems`` lists what was wrong, one line each."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        shown = problems[:_MAX_PROBLEMS_LISTED]
        more = len(problems) - len(shown)
        listing = "\n  ".join(shown + ([f"... and {more} more"] if more > 0 else []))
        super().__init__(f"{source}: not imported\n  {listing}")


class UnknownSpace(LookupError):
    """A space id the campus registry does not know."""


class NoTimetable(LookupError):
    """No calendar has been imported for the space."""


@dataclass(frozen=True)
class Booking:
    """One booked occurrence of a space.

    Attributes:
        start, end: timezone-aware datetimes. They are in the zone the calendar
            gave them, which is the site's zone for floating times.
        summary: the event's SUMMARY (course code or title), '' if it has none.
        class_size: people booked (``X-CAMPUSLAB-CLASS-SIZE``), or None if not given.
    """

    start: datetime
    end: datetime
    summary: str
    class_size: int | None


@dataclass(frozen=True)
class ImportReport:
    """What a calendar holds, once validated.

    Attributes:
        events: VEVENTs imported, counting RECURRENCE-ID overrides.
        recurring: events that carry an RRULE or RDATE.
        first: start of the earliest booking, in the site's zone (None if there is none).
        last: end of the latest booking, in the site's zone (None if there is none).
        warnings: what was changed or assumed on the way in. Each is one sentence.
        space_id: the space it belongs to.
        occurrences: the bookings after recurrences are expanded, cancelled ones left out.
    """

    events: int
    recurring: int
    first: datetime | None
    last: datetime | None
    warnings: tuple[str, ...]
    space_id: str
    occurrences: int


# -- reading bytes into a calendar -----------------------------------------------


def check_calendar_size(size_bytes: int, source: str = "calendar") -> None:
    """Raise InvalidCalendar when a file of ``size_bytes`` is over ``MAX_CALENDAR_BYTES``."""
    if size_bytes > MAX_CALENDAR_BYTES:
        raise InvalidCalendar(
            source,
            [
                f"the file is {size_bytes / 1_048_576:.1f} MB, over the "
                f"{MAX_CALENDAR_BYTES // 1_048_576} MB limit for one space's calendar"
            ],
        )


def _text_of(ics: bytes, source: str) -> str:
    check_calendar_size(len(ics), source)
    head = ics.removeprefix(b"\xef\xbb\xbf").lstrip()
    nul, bad_at = ics.find(b"\x00"), -1
    text: str | None
    try:
        text = ics.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        text, bad_at = None, exc.start
    if head[:15].upper() != b"BEGIN:VCALENDAR":
        if nul >= 0 or text is None:
            reason = "it is binary data, not text"
        else:
            first_line = text.lstrip().splitlines()[0][:60] if text.strip() else ""
            reason = f"it must begin with BEGIN:VCALENDAR, not {first_line!r}"
        raise InvalidCalendar(source, [f"not an iCalendar file: {reason}"])
    if nul >= 0:
        raise InvalidCalendar(
            source, [f"not an iCalendar file: it holds binary data (a NUL byte at offset {nul})"]
        )
    if text is None:
        raise InvalidCalendar(
            source,
            [
                f"not UTF-8 text (byte 0x{ics[bad_at]:02x} at offset {bad_at}); "
                "RFC 5545 calendars are UTF-8"
            ],
        )
    return text


def _parse(ics: bytes, source: str) -> icalendar.Calendar:
    text = _text_of(ics, source)
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except ValueError as exc:
        message = str(exc).split("\n")[0][:200]
        raise InvalidCalendar(source, [f"not valid iCalendar: {message}"]) from None
    if not isinstance(calendar, icalendar.Calendar) or calendar.name != "VCALENDAR":
        raise InvalidCalendar(source, ["not an iCalendar file: no VCALENDAR"])
    return calendar


# -- normalising one event ---------------------------------------------------------


def _label(number: int, event: icalendar.Event) -> str:
    summary = event.get("SUMMARY")
    if not summary:
        return f"event {number} (no SUMMARY)"
    return f"event {number} (SUMMARY {str(summary)!r})"


class _Times:
    """Turns the date and time values of one calendar into aware datetimes."""

    def __init__(self, site_tz: ZoneInfo, calendar_tz: tzinfo | None) -> None:
        self.site_tz = site_tz
        self.calendar_tz = calendar_tz  # X-WR-TIMEZONE: where UTC times are moved to
        self.floating = 0
        self.all_day = 0

    def aware(self, value: date | datetime, tzid: str | None) -> datetime:
        if not isinstance(value, datetime):
            self.all_day += 1
            return datetime.combine(value, time(0), self.site_tz)
        if value.tzinfo is None:
            if tzid:
                raise ValueError(
                    f"unknown time zone TZID {tzid!r} (use an IANA name such as "
                    f"{self.site_tz.key}, or include its VTIMEZONE)"
                )
            self.floating += 1
            return value.replace(tzinfo=self.site_tz)
        if self.calendar_tz is not None and (value.tzname() or "").upper() == "UTC":
            return value.astimezone(self.calendar_tz)
        return value

    def until(self, value: date | datetime) -> datetime:
        if not isinstance(value, datetime):  # up to the end of that local day
            value = datetime.combine(value, time(23, 59, 59), self.site_tz)
        elif value.tzinfo is None:
            value = value.replace(tzinfo=self.site_tz)
        return value.astimezone(UTC)


def _values(prop: Any) -> Iterator[tuple[Any, str | None]]:
    """(value, TZID) of every date or date-time in a property that may repeat or hold lists."""
    for item in prop if isinstance(prop, list) else [prop]:
        tzid = item.params.get("TZID") if hasattr(item, "params") else None
        if hasattr(item, "dts"):
            for entry in item.dts:
                yield entry.dt, entry.params.get("TZID") or tzid
        else:
            yield item.dt, tzid


def _class_size(event: icalendar.Event) -> int | None:
    raw = event.get(CLASS_SIZE_PROPERTY)
    if raw is None:
        return None
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    text = text.strip()
    if not re.fullmatch(r"\d{1,6}", text) or int(text) > MAX_CLASS_SIZE:
        raise ValueError(
            f"{CLASS_SIZE_PROPERTY} must be a whole number of people from 0 to "
            f"{MAX_CLASS_SIZE}, got {text[:40]!r}"
        )
    return int(text)


def _check_rrule(rule: Any) -> dict[str, list[Any]]:
    frequency = str(rule.get("FREQ", [""])[0]).upper()
    if frequency in _TOO_FINE:
        raise ValueError(
            f"RRULE FREQ={frequency} repeats more often than hourly: that is not a room booking"
        )
    if rule.get("BYSECOND") or len(rule.get("BYMINUTE", [])) > _MAX_BYMINUTE_VALUES:
        raise ValueError("RRULE repeats within the hour (BYSECOND, or many BYMINUTE values)")
    if "COUNT" not in rule and "UNTIL" not in rule:
        raise ValueError(
            "RRULE has no end (neither UNTIL nor COUNT); CampusLab expands a recurrence "
            "over at most 2 years, so give UNTIL, e.g. the end of term"
        )
    count = rule.get("COUNT")
    if count and int(count[0]) > MAX_OCCURRENCES:
        raise ValueError(f"RRULE COUNT={count[0]} is over the limit of {MAX_OCCURRENCES} bookings")
    return {key: list(value) for key, value in rule.items()}


def _normalise_event(
    number: int, event: icalendar.Event, times: _Times
) -> tuple[icalendar.Event, list[str]]:
    """The event rebuilt from the kept properties; ValueError says what is wrong with it."""
    broken = [(name, reason) for name, reason in event.errors if name in _TIME_PROPERTIES]
    if broken:
        name, reason = broken[0]
        raise ValueError(f"{name} cannot be read: {reason}")
    start_prop = event.get("DTSTART")
    if start_prop is None:
        raise ValueError("no DTSTART")
    start = times.aware(start_prop.dt, start_prop.params.get("TZID"))
    all_day = not isinstance(start_prop.dt, datetime)
    end_prop, duration_prop = event.get("DTEND"), event.get("DURATION")
    notes = []
    if end_prop is not None:
        if isinstance(end_prop.dt, datetime) != (not all_day):
            raise ValueError("DTEND and DTSTART must both be dates or both be date-times")
        end = times.aware(end_prop.dt, end_prop.params.get("TZID"))
        if duration_prop is not None:
            notes.append("has both DTEND and DURATION; DTEND was used")
    elif duration_prop is not None:
        if duration_prop.dt < timedelta(0):
            raise ValueError(f"negative DURATION {duration_prop.to_ical().decode()}")
        end = start + duration_prop.dt
    else:  # RFC 5545 §3.6.1: a date lasts one day, a date-time no time at all
        end = start + (timedelta(days=1) if all_day else timedelta(0))
    if end < start:
        raise ValueError(
            f"DTEND before DTSTART (DTSTART {start.isoformat()}, DTEND {end.isoformat()})"
        )
    if end == start:
        notes.append("lasts no time at all, so it books no hour")
    rebuilt = icalendar.Event()
    rebuilt.add("UID", str(event.get("UID")))
    try:  # DTSTAMP only says when the export was made; a broken one is replaced
        stamp = event["DTSTAMP"].dt
    except (KeyError, AttributeError, ValueError):
        stamp = None
    rebuilt.add("DTSTAMP", stamp if isinstance(stamp, datetime) else datetime.now(UTC))
    rebuilt.add("DTSTART", start)
    rebuilt.add("DTEND", end)
    for name in ("SUMMARY", "STATUS"):
        if event.get(name) is not None:
            rebuilt.add(name, str(event.get(name)))
    sequence = str(event.get("SEQUENCE", "")).strip()
    if sequence.isdigit():  # which version of an event wins; an unreadable one is dropped
        rebuilt.add("SEQUENCE", int(sequence))
    rules = event.get("RRULE")
    for rule in rules if isinstance(rules, list) else [rules] if rules is not None else []:
        checked = _check_rrule(rule)
        if "UNTIL" in checked:
            checked["UNTIL"] = [times.until(checked["UNTIL"][0])]
        rebuilt.add("RRULE", checked)
    for name in ("RDATE", "EXDATE"):
        if event.get(name) is not None:
            for value, tzid in _values(event.get(name)):
                if isinstance(value, tuple):
                    raise ValueError(f"{name} with PERIOD values is not supported")
                rebuilt.add(name, times.aware(value, tzid))
    if event.get("RECURRENCE-ID") is not None:
        (value, tzid), *_ = _values(event.get("RECURRENCE-ID"))
        rebuilt.add("RECURRENCE-ID", times.aware(value, tzid))
    size = _class_size(event)
    if size is not None:
        rebuilt.add(CLASS_SIZE_PROPERTY, str(size))
    return rebuilt, [f"{_label(number, event)} {note}" for note in notes]


# -- expanding and summarising -------------------------------------------------------


def _occurrences(
    calendar: icalendar.Calendar | recurring_ical_events.CalendarQuery,
    start: datetime,
    end: datetime,
) -> list[Any]:
    """Occurrences overlapping [start - margin, end + margin), cancelled ones left out."""
    query = (
        calendar
        if isinstance(calendar, recurring_ical_events.CalendarQuery)
        else recurring_ical_events.of(calendar)
    )
    found = query.between(start - _QUERY_MARGIN, end + _QUERY_MARGIN)
    return [o for o in found if str(o.get("STATUS", "")).upper() != "CANCELLED"]


def _calendar_of(events: Iterable[icalendar.Event], timezones: list[Any]) -> icalendar.Calendar:
    calendar = icalendar.Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    for zone in timezones:
        calendar.add_component(zone)
    for event in events:
        calendar.add_component(event)
    return calendar


def _expand_series(events: list[icalendar.Event], timezones: list[Any]) -> list[Any]:
    """Every occurrence of one UID's series; ValueError when it runs on too long."""
    starts = [e.get("DTSTART").dt for e in events]
    first = min(starts)
    horizon = first + MAX_RECURRENCE_SPAN
    master = next((e for e in events if e.get("RECURRENCE-ID") is None), events[0])
    for rule in _as_list(master.get("RRULE")):
        until = rule.get("UNTIL")
        if until and until[0] > horizon:
            raise ValueError(
                f"RRULE runs until {until[0].date()}, more than 2 years after its DTSTART "
                f"({first.date()}); CampusLab expands a recurrence over at most 2 years"
            )
    rdates = master.get("RDATE")
    late = [v for v, _ in _values(rdates) if v > horizon] if rdates is not None else []
    if late:
        raise ValueError(
            f"RDATE {late[0].date()} is more than 2 years after its DTSTART ({first.date()}); "
            "CampusLab expands a recurrence over at most 2 years"
        )
    counted = any("COUNT" in rule for rule in _as_list(master.get("RRULE")))
    calendar = _calendar_of(events, timezones)
    try:
        found = _occurrences(calendar, first, horizon)
        query = recurring_ical_events.of(calendar)
        beyond = next(query.after(horizon + _QUERY_MARGIN), None) if counted else None
    except (recurring_ical_events.InvalidCalendar, ValueError, TypeError) as exc:
        raise ValueError(f"cannot expand its recurrence: {exc}") from None
    if beyond is not None:
        raise ValueError(
            f"it recurs until after {horizon.date()}, more than 2 years after its DTSTART "
            f"({first.date()}); CampusLab expands a recurrence over at most 2 years"
        )
    return found


def _recurs(event: icalendar.Event) -> bool:
    return event.get("RRULE") is not None or event.get("RDATE") is not None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _bounds(occurrences: list[Any], tz: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    if not occurrences:
        return None, None
    first = min(o.start for o in occurrences).astimezone(tz)
    last = max(o.end for o in occurrences).astimezone(tz)
    return first, last


@dataclass(frozen=True)
class _Stored:
    calendar: icalendar.Calendar
    query: recurring_ical_events.CalendarQuery


@dataclass
class _Normalised:
    calendar: icalendar.Calendar
    events: int
    recurring: int
    occurrences: list[Any]
    warnings: list[str]


def _normalise(
    calendar: icalendar.Calendar, site_tz: ZoneInfo, source: str, space_id: str
) -> _Normalised:
    problems: list[str] = []
    warnings: list[str] = []
    calendar_tz = None
    x_wr = calendar.get("X-WR-TIMEZONE")
    if x_wr is not None:
        try:
            calendar_tz = ZoneInfo(str(x_wr))
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidCalendar(
                source, [f"X-WR-TIMEZONE {str(x_wr)!r} is not an IANA time zone"]
            ) from None
    times = _Times(site_tz, calendar_tz)
    vevents = [c for c in calendar.subcomponents if c.name == "VEVENT"]
    if not vevents:
        raise InvalidCalendar(source, ["no VEVENT: the calendar holds no events to import"])
    timezones = [c for c in calendar.subcomponents if c.name == "VTIMEZONE"]
    dropped_components = sorted(
        {c.name for c in calendar.subcomponents if c.name not in ("VEVENT", "VTIMEZONE")}
        | {s.name for e in vevents for s in e.subcomponents}
    )
    personal = sum(len(_as_list(e.get(name))) for e in vevents for name in PERSONAL_PROPERTIES)
    unused = sorted({name for e in vevents for name in e} - _KEPT - set(PERSONAL_PROPERTIES))
    normalised: list[icalendar.Event] = []
    labels: dict[int, str] = {}
    series_of_uid: dict[str, list[int]] = {}
    masters: set[str] = set()
    floating_events = all_day_events = 0
    for number, event in enumerate(vevents, start=1):
        label = _label(number, event)
        uid = str(event.get("UID") or "")
        if not uid:
            uid = _generated_uid(space_id, number, event)
            warnings.append(f"{label} has no UID; CampusLab gave it {uid}")
        elif event.get("RECURRENCE-ID") is None and uid in masters:
            uid = _generated_uid(space_id, number, event)
            warnings.append(f"{label} repeats the UID of an earlier event; it was given {uid}")
        if event.get("RECURRENCE-ID") is None:
            masters.add(uid)
        event["UID"] = uid
        before = (times.floating, times.all_day)
        try:
            rebuilt, notes = _normalise_event(number, event, times)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            problems.append(f"{label}: {exc}")
            continue
        floating_events += times.floating > before[0]
        all_day_events += times.all_day > before[1]
        warnings.extend(notes)
        labels[len(normalised)] = label
        series_of_uid.setdefault(uid, []).append(len(normalised))
        normalised.append(rebuilt)
    if problems:
        raise InvalidCalendar(source, problems)
    occurrences = []
    single = [i for i in range(len(normalised)) if not _recurs(normalised[i])]
    single = [i for i in single if series_of_uid[str(normalised[i].get("UID"))] == [i]]
    done = set(single)
    if single:  # one-off events: one expansion for all of them
        starts = [normalised[i].get("DTSTART").dt for i in single]
        query = _calendar_of([normalised[i] for i in single], timezones)
        try:
            occurrences += _occurrences(query, min(starts), max(starts))
        except (recurring_ical_events.InvalidCalendar, ValueError, TypeError) as exc:
            raise InvalidCalendar(source, [f"the events cannot be expanded: {exc}"]) from None
    for indices in series_of_uid.values():
        if indices[0] in done:
            continue
        try:
            occurrences += _expand_series([normalised[i] for i in indices], timezones)
        except ValueError as exc:
            problems.append(f"{labels[indices[0]]}: {exc}")
            continue
        if len(occurrences) > MAX_OCCURRENCES:
            problems.append(
                f"the calendar expands to more than {MAX_OCCURRENCES} bookings "
                f"(reached at {labels[indices[0]]})"
            )
            break
    if problems:
        raise InvalidCalendar(source, problems)
    if floating_events:
        warnings.append(
            f"{_events(floating_events)} with floating times (no TZID, no Z): taken in the "
            f"site's time zone, {site_tz.key}"
        )
    if all_day_events:
        warnings.append(
            f"{all_day_events} all-day event{'s' if all_day_events != 1 else ''}: taken as "
            "whole local days "
            f"(00:00–24:00 {site_tz.key})"
        )
    if calendar_tz is not None and getattr(calendar_tz, "key", None) != site_tz.key:
        warnings.append(
            f"X-WR-TIMEZONE is {calendar_tz.key} but the site is in {site_tz.key}: UTC times "
            f"follow {calendar_tz.key}, floating times {site_tz.key}"
        )
    if personal:
        warnings.append(
            f"dropped {personal} ATTENDEE/ORGANIZER/CONTACT propert"
            f"{'y' if personal == 1 else 'ies'}: CampusLab keeps no names of people"
        )
    if unused:
        warnings.append(f"dropped properties CampusLab does not keep: {', '.join(unused)}")
    if dropped_components:
        warnings.append(f"dropped {', '.join(dropped_components)} components (not bookings)")
    if not occurrences:
        warnings.append("no bookings: every event is cancelled or lasts no time")
    result = _calendar_of(normalised, timezones)
    result.add(SPACE_PROPERTY, space_id)
    result.add(TIMEZONE_PROPERTY, site_tz.key)
    result.add_missing_timezones()
    recurring = sum(1 for e in normalised if _recurs(e))
    return _Normalised(result, len(normalised), recurring, occurrences, warnings)


def _events(n: int) -> str:
    return f"{n} event" if n == 1 else f"{n} events"


def _generated_uid(space_id: str, number: int, event: icalendar.Event) -> str:
    start = event.get("DTSTART")
    seed = f"{space_id}|{number}|{start.to_ical() if start else b''}|{event.get('SUMMARY', '')}"
    return f"{hashlib.sha256(seed.encode()).hexdigest()[:16]}@campuslab-import"


# -- the store ------------------------------------------------------------------------


def _utc(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")
    return moment.astimezone(UTC)


class TimetableStore:
    """One normalised iCalendar file per space, ``<folder>/<space_id>.ics``.

    A stored file is parsed once and kept while it is unchanged. A file is swapped in whole
    (written to a temporary file, then renamed), so a reader never sees half
    an import. See the module docstring for what an import keeps, drops and
    rejects.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._parsed: dict[str, tuple[tuple[int, int, int], _Stored]] = {}
        self._lock = threading.Lock()

    def _path(self, space_id: str) -> Path:
        if not isinstance(space_id, str) or not is_valid_id(space_id):
            raise UnknownSpace(f"{space_id!r} is not a space id")
        return self.folder / f"{space_id}.ics"

    def import_calendar(
        self,
        campus: Campus,
        space_id: str,
        ics: bytes,
        replace: bool = True,
        source: str = "calendar",
    ) -> ImportReport:
        """Validate, normalise and store a space's calendar; report what it holds.

        Args:
            campus: the registry (the space must be in it; its time zone places
                floating times).
            space_id: the space the calendar books.
            ics: the iCalendar file, as bytes (UTF-8, at most ``MAX_CALENDAR_BYTES``).
            replace: True replaces the space's stored calendar. False merges into it:
                an event whose UID is already stored replaces that series, and
                other stored events are kept.
            source: how to name the file in error messages (e.g. its file name).

        Returns:
            ImportReport of the imported calendar (with replace=False, of the
            new events only). The warnings say what was assumed or dropped,
            including the ATTENDEE/ORGANIZER/CONTACT properties dropped for privacy.

        Raises:
            UnknownSpace: the space is not in the registry.
            InvalidCalendar: the calendar cannot be used. The message lists every
                problem found.
        """
        if campus.space(space_id) is None:
            raise UnknownSpace(f"unknown space {space_id!r}: not in the campus registry")
        if isinstance(ics, str):
            ics = ics.encode("utf-8")
        if not isinstance(ics, bytes | bytearray):
            raise TypeError(f"ics must be bytes, got {type(ics).__name__}")
        imported = _normalise(_parse(bytes(ics), source), campus.tz, source, space_id)
        stored = imported.calendar
        path = self._path(space_id)
        if not replace and path.exists():
            stored = self._merged(path, imported.calendar, campus.tz, source, space_id)
        self._write(path, stored.to_ical())
        first, last = _bounds(imported.occurrences, campus.tz)
        return ImportReport(
            events=imported.events,
            recurring=imported.recurring,
            first=first,
            last=last,
            warnings=tuple(imported.warnings),
            space_id=space_id,
            occurrences=len(imported.occurrences),
        )

    def _merged(
        self,
        path: Path,
        incoming: icalendar.Calendar,
        tz: ZoneInfo,
        source: str,
        space_id: str,
    ) -> icalendar.Calendar:
        existing = _parse(path.read_bytes(), str(path))
        new_uids = {str(e.get("UID")) for e in incoming.walk("VEVENT")}
        merged = icalendar.Calendar()
        for prop in ("PRODID", "VERSION"):
            merged.add(prop, incoming.get(prop))
        zones = {str(z.get("TZID")): z for z in existing.walk("VTIMEZONE")}
        zones.update({str(z.get("TZID")): z for z in incoming.walk("VTIMEZONE")})
        for zone in zones.values():
            merged.add_component(zone)
        for event in existing.walk("VEVENT"):
            if str(event.get("UID")) not in new_uids:
                merged.add_component(event)
        for event in incoming.walk("VEVENT"):
            merged.add_component(event)
        return _normalise(merged, tz, source, space_id).calendar

    def _write(self, path: Path, content: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".import-", suffix=".ics")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(content)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _load(self, space_id: str) -> _Stored:
        """The stored calendar, parsed once per version of the file (parsing is the slow part)."""
        path = self._path(space_id)
        try:
            stat = path.stat()
            version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            with self._lock:
                cached = self._parsed.get(space_id)
            if cached is not None and cached[0] == version:
                return cached[1]
            content = path.read_bytes()
        except FileNotFoundError:
            raise NoTimetable(f"no timetable imported for space {space_id!r}") from None
        calendar = _parse(content, str(path))
        stored = _Stored(calendar, recurring_ical_events.of(calendar))
        with self._lock:
            self._parsed[space_id] = (version, stored)
        return stored

    def has_timetable(self, space_id: str) -> bool:
        return self._path(space_id).exists()

    def spaces(self) -> list[str]:
        """Ids of the spaces with a stored calendar, sorted."""
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.ics") if is_valid_id(p.stem))

    def delete(self, space_id: str) -> bool:
        """Remove a space's calendar; False if there was none."""
        path = self._path(space_id)
        existed = path.exists()
        path.unlink(missing_ok=True)
        return existed

    def describe(self, space_id: str) -> ImportReport:
        """What the stored calendar of a space holds (no warnings: it was checked on import)."""
        stored = self._load(space_id)
        calendar = stored.calendar
        tz = ZoneInfo(str(calendar.get(TIMEZONE_PROPERTY, "UTC")))
        events = calendar.walk("VEVENT")
        starts = [e.get("DTSTART").dt for e in events]
        if not starts:
            return ImportReport(0, 0, None, None, (), space_id, 0)
        occurrences = _occurrences(stored.query, min(starts), max(starts) + MAX_RECURRENCE_SPAN)
        first, last = _bounds(occurrences, tz)
        recurring = sum(1 for e in events if _recurs(e))
        return ImportReport(len(events), recurring, first, last, (), space_id, len(occurrences))

    def bookings(self, space_id: str, start: datetime, end: datetime) -> list[Booking]:
        """The space's bookings overlapping [start, end), recurrences expanded, by start time.

        Cancelled occurrences (STATUS:CANCELLED) are left out. A booking that
        lasts no time is listed when it starts within the period.

        Args:
            space_id: a space with a stored calendar.
            start, end: the period, timezone-aware, half-open.

        Raises:
            NoTimetable: no calendar has been imported for the space.
            ValueError: naive datetimes, or end before start.
        """
        start_utc, end_utc = _utc(start, "start"), _utc(end, "end")
        if end_utc < start_utc:
            raise ValueError(
                f"end ({end.isoformat()}) must not be before start ({start.isoformat()})"
            )
        query = self._load(space_id).query
        found = []
        for occurrence in _occurrences(query, start_utc, end_utc):
            b_start, b_end = occurrence.start, occurrence.end
            overlaps = b_start < end_utc and b_end > start_utc
            instant = b_start == b_end and start_utc <= b_start < end_utc
            if overlaps or instant:
                found.append(
                    Booking(
                        start=b_start,
                        end=b_end,
                        summary=str(occurrence.get("SUMMARY", "")),
                        class_size=_class_size(occurrence),
                    )
                )
        found.sort(key=lambda b: (b.start, b.end, b.summary))
        return found
