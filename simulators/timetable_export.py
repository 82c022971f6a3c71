"""The simulator's weekly timetable as an iCalendar file, as a booking system would export it.

Tests and the demo import this file with ``TimetableStore.import_calendar``.
The no-shows that booked-vs-actual analytics then find are the classes the
simulator really skipped (``occupancy.TeachingRooms``).

Each class block becomes one VEVENT: consecutive hourly slots of the same
course and class size on the same weekday, such as a double lecture. The
event runs from the first slot's start at hh:15 (*akademisk kvarter*) to the
last slot's end at the full hour. It repeats weekly
(``RRULE:FREQ=WEEKLY;COUNT=weeks``), and its time zone is the site's (TZID).
``X-CAMPUSLAB-CLASS-SIZE`` carries the class size booked. SUMMARY is the
course code. The file holds no people.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import icalendar

from campuslab.core.timetables import CLASS_SIZE_PROPERTY
from campuslab.simulators.campus import CampusSimulator
from campuslab.simulators.timetable import TimetableSlot

PRODID = "-//CampusLab//Simulator timetable//EN"


def _blocks(slots: list[TimetableSlot]) -> list[list[TimetableSlot]]:
    """Slots grouped into classes: same weekday, consecutive hours, same course and size."""
    ordered = sorted(slots, key=lambda s: (s.weekday, s.hour))
    blocks: list[list[TimetableSlot]] = []
    for slot in ordered:
        last = blocks[-1][-1] if blocks else None
        if (
            last is not None
            and last.weekday == slot.weekday
            and last.hour + 1 == slot.hour
            and last.course == slot.course
            and last.class_size == slot.class_size
        ):
            blocks[-1].append(slot)
        else:
            blocks.append([slot])
    return blocks


def timetable_ics(sim: CampusSimulator, space_id: str, start_date: date, weeks: int) -> bytes:
    """An iCalendar file of the simulator's weekly timetable for one space.

    Args:
        sim: the campus simulator; its seed fixes the timetable.
        space_id: a teaching room (lecture hall, seminar room or lab) of the campus.
        start_date: the first day of the first week. Each class first happens on
            the first of its weekdays on or after this date.
        weeks: how many weeks the timetable runs (>= 1), the RRULE's COUNT.

    Returns:
        The calendar as UTF-8 bytes, one VEVENT per class block.

    Raises:
        ValueError: unknown space, a space with no timetabled classes, or weeks < 1.

    Example:
        >>> from campuslab.core.registry import load_campus, sample_campus_path
        >>> sim = CampusSimulator(load_campus(sample_campus_path()))
        >>> ics = timetable_ics(sim, "rfb-101", date(2026, 3, 2), weeks=2)
        >>> b"RRULE:FREQ=WEEKLY;COUNT=2" in ics and b"X-CAMPUSLAB-CLASS-SIZE" in ics
        True
    """
    if sim.campus.space(space_id) is None:
        raise ValueError(f"unknown space {space_id!r}: not in the campus registry")
    if int(weeks) < 1:
        raise ValueError(f"weeks must be at least 1, got {weeks}")
    slots = [s for s in sim.timetable if s.space_id == space_id]
    if not slots:
        raise ValueError(
            f"space {space_id!r} has no timetabled classes (only lecture halls, seminar "
            "rooms and labs are timetabled)"
        )
    tz = sim.campus.tz
    calendar = icalendar.Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    stamp = datetime.combine(start_date, datetime.min.time(), UTC)
    for block in _blocks(slots):
        first, last = block[0], block[-1]
        day = start_date + timedelta(days=(first.weekday - start_date.weekday()) % 7)
        event = icalendar.Event()
        event.add("UID", f"{space_id}-{first.weekday}-{first.hour:02d}@campuslab-simulator")
        event.add("DTSTAMP", stamp)
        event.add("SUMMARY", first.course)
        event.add("DTSTART", datetime.combine(day, first.starts, tz))
        event.add("DTEND", datetime.combine(day, last.ends, tz))
        event.add("RRULE", {"FREQ": "WEEKLY", "COUNT": int(weeks)})
        event.add(CLASS_SIZE_PROPERTY, str(first.class_size))
        calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical()
