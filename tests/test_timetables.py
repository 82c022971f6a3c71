"""Timetable import: a hand-written calendar expanded exactly, privacy, and garbage rejected.

The calendar in tests/data/timetable_hall_a.ics is what a university
timetable system exports: a weekly lecture (RRULE with an EXDATE and a moved
occurrence), a one-off exam in UTC, and a guest lecture with floating times,
with the names of a lecturer and a student in it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from campuslab.core.registry import Campus, load_campus
from campuslab.core.timetables import (
    MAX_CALENDAR_BYTES,
    Booking,
    InvalidCalendar,
    NoTimetable,
    TimetableStore,
    UnknownSpace,
)
from campuslab.simulators.campus import CampusSimulator, SimulationConfig
from campuslab.simulators.timetable_export import timetable_ics

DATA = Path(__file__).parent / "data"
OSLO = ZoneInfo("Europe/Oslo")


@pytest.fixture(scope="module")
def campus() -> Campus:
    return load_campus(DATA / "learning_spaces_campus.yaml")


@pytest.fixture
def timetables(tmp_path: Path) -> TimetableStore:
    return TimetableStore(tmp_path / "timetables")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def calendar(*events: str) -> bytes:
    """A calendar around VEVENT bodies (property lines), CRLF as RFC 5545 asks."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN"]
    for number, body in enumerate(events, start=1):
        lines += ["BEGIN:VEVENT", f"UID:event-{number}@test", *body.strip().splitlines()]
        lines += ["END:VEVENT"]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


LECTURE = """
SUMMARY:TMA4100
DTSTART;TZID=Europe/Oslo:20260302T101500
DTEND;TZID=Europe/Oslo:20260302T120000
"""


# -- the hand-written calendar, expanded exactly ---------------------------------------


def test_import_expands_rrule_exdate_override_one_off_and_floating_event(campus, timetables):
    ics = (DATA / "timetable_hall_a.ics").read_bytes()

    report = timetables.import_calendar(campus, "hall-a", ics)

    assert (report.events, report.recurring, report.occurrences) == (4, 1, 5)
    assert report.first == datetime(2026, 3, 16, 10, 15, tzinfo=OSLO)
    assert report.last == datetime(2026, 4, 6, 12, 0, tzinfo=OSLO)
    bookings = timetables.bookings("hall-a", utc(2026, 3, 1), utc(2026, 5, 1))
    # Mondays 10:15–12:00 local from 16 March to 6 April (UNTIL includes 6 April),
    # 23 March removed by EXDATE, 30 March moved to Tuesday 31 March 12:15 with 90
    # booked; DST starts 29 March, so the local 10:15 is 09:15Z before and 08:15Z after.
    assert [
        (b.start.astimezone(UTC), b.end.astimezone(UTC), b.summary, b.class_size) for b in bookings
    ] == [
        (utc(2026, 3, 16, 9, 15), utc(2026, 3, 16, 11), "TMA4100 Calculus 1", 180),
        (utc(2026, 3, 25, 9), utc(2026, 3, 25, 13), "TMA4100 Midterm exam", 150),
        (utc(2026, 3, 31, 10, 15), utc(2026, 3, 31, 12), "TMA4100 Calculus 1 (moved)", 90),
        # floating 14:15–16:00 taken in the site's zone, Europe/Oslo (UTC+2 in April)
        (utc(2026, 4, 1, 12, 15), utc(2026, 4, 1, 14), "Guest lecture", None),
        (utc(2026, 4, 6, 8, 15), utc(2026, 4, 6, 10), "TMA4100 Calculus 1", 180),
    ]
    assert any("1 event with floating times" in w and "Europe/Oslo" in w for w in report.warnings)


def test_import_drops_names_of_people(campus, timetables):
    """METRICS.md privacy: never join counts to names from booking systems."""
    report = timetables.import_calendar(
        campus, "hall-a", (DATA / "timetable_hall_a.ics").read_bytes()
    )

    stored = (timetables.folder / "hall-a.ics").read_text(encoding="utf-8")
    for trace in ("ATTENDEE", "ORGANIZER", "CONTACT", "Nordmann", "Hansen", "mailto", "+47"):
        assert trace not in stored
    assert "dropped 3 ATTENDEE/ORGANIZER/CONTACT properties" in " ".join(report.warnings)
    assert "DESCRIPTION" in " ".join(report.warnings)  # free text may name people too


def test_bookings_are_the_ones_overlapping_a_half_open_period(campus, timetables):
    timetables.import_calendar(campus, "hall-a", (DATA / "timetable_hall_a.ics").read_bytes())

    # 16 March 10:15–12:00 local = 09:15–11:00Z; a period ending at its start excludes it
    assert timetables.bookings("hall-a", utc(2026, 3, 16), utc(2026, 3, 16, 9, 15)) == []
    within = timetables.bookings("hall-a", utc(2026, 3, 16, 10, 59), utc(2026, 3, 16, 11))
    assert [b.summary for b in within] == ["TMA4100 Calculus 1"]
    assert timetables.bookings("hall-a", utc(2026, 3, 16, 11), utc(2026, 3, 17)) == []
    with pytest.raises(ValueError, match="timezone-aware"):
        timetables.bookings("hall-a", datetime(2026, 3, 16), datetime(2026, 3, 17))


def test_x_wr_timezone_utc_times_follow_local_time_across_dst(campus, timetables):
    """Google Calendar exports UTC times with X-WR-TIMEZONE; the weekly class stays at 10:15."""
    ics = calendar(
        """
SUMMARY:Weekly
DTSTART:20260323T091500Z
DTEND:20260323T110000Z
RRULE:FREQ=WEEKLY;COUNT=2
"""
    ).replace(b"PRODID:-//test//EN", b"PRODID:-//Google//EN\r\nX-WR-TIMEZONE:Europe/Oslo")

    timetables.import_calendar(campus, "hall-a", ics)

    starts = [b.start for b in timetables.bookings("hall-a", utc(2026, 3, 1), utc(2026, 5, 1))]
    assert [s.astimezone(OSLO).strftime("%d %H:%M") for s in starts] == ["23 10:15", "30 10:15"]


def test_class_size_from_custom_property_and_all_day_events(campus, timetables):
    ics = calendar(
        LECTURE + "X-CAMPUSLAB-CLASS-SIZE:42",
        "SUMMARY:Open day\nDTSTART;VALUE=DATE:20260304",
    )

    report = timetables.import_calendar(campus, "hall-a", ics)

    bookings = timetables.bookings("hall-a", utc(2026, 3, 1), utc(2026, 3, 10))
    assert [(b.summary, b.class_size) for b in bookings] == [("TMA4100", 42), ("Open day", None)]
    assert bookings[1].start == datetime(2026, 3, 4, 0, 0, tzinfo=OSLO)
    assert bookings[1].end == datetime(2026, 3, 5, 0, 0, tzinfo=OSLO)
    assert any("1 all-day event" in w for w in report.warnings)


def test_cancelled_occurrence_is_not_a_booking(campus, timetables):
    ics = calendar(LECTURE + "RRULE:FREQ=WEEKLY;COUNT=3").replace(
        b"END:VCALENDAR",
        b"BEGIN:VEVENT\r\nUID:event-1@test\r\nRECURRENCE-ID;TZID=Europe/Oslo:20260309T101500\r\n"
        b"SUMMARY:TMA4100\r\nSTATUS:CANCELLED\r\nDTSTART;TZID=Europe/Oslo:20260309T101500\r\n"
        b"DTEND;TZID=Europe/Oslo:20260309T120000\r\nEND:VEVENT\r\nEND:VCALENDAR",
    )

    report = timetables.import_calendar(campus, "hall-a", ics)

    assert report.occurrences == 2
    days = [b.start.day for b in timetables.bookings("hall-a", utc(2026, 3, 1), utc(2026, 4, 1))]
    assert days == [2, 16]


def test_replace_and_merge(campus, timetables):
    timetables.import_calendar(campus, "hall-a", calendar(LECTURE))
    timetables.import_calendar(
        campus, "hall-a", calendar(LECTURE.replace("TMA4100", "MA0001")), replace=True
    )
    period = (utc(2026, 3, 1), utc(2026, 4, 1))
    assert [b.summary for b in timetables.bookings("hall-a", *period)] == ["MA0001"]

    other = calendar(LECTURE).replace(b"UID:event-1@test", b"UID:another@test")
    timetables.import_calendar(campus, "hall-a", other, replace=False)
    assert sorted(b.summary for b in timetables.bookings("hall-a", *period)) == [
        "MA0001",
        "TMA4100",
    ]
    assert timetables.spaces() == ["hall-a"]
    assert timetables.describe("hall-a").events == 2


def test_no_timetable_and_listing(timetables):
    assert timetables.spaces() == []
    with pytest.raises(NoTimetable, match="no timetable imported for space 'hall-b'"):
        timetables.bookings("hall-b", utc(2026, 3, 1), utc(2026, 3, 2))
    with pytest.raises(UnknownSpace):
        timetables.bookings("../etc/passwd", utc(2026, 3, 1), utc(2026, 3, 2))


# -- garbage ------------------------------------------------------------------------------

GARBAGE = {
    "not iCalendar": (
        b"Subject: timetable\n\nsee attachment\n",
        "not an iCalendar file: it must begin with BEGIN:VCALENDAR, not 'Subject: timetable'",
    ),
    "binary junk": (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
        "not an iCalendar file: it is binary data, not text",
    ),
    "binary inside a calendar": (
        b"BEGIN:VCALENDAR\r\n\x00\x01\x02",
        "not an iCalendar file: it holds binary data (a NUL byte at offset 17)",
    ),
    "not UTF-8": (
        b"BEGIN:VCALENDAR\r\nSUMMARY:Caf\xe9\r\nEND:VCALENDAR\r\n",
        "not UTF-8 text (byte 0xe9 at offset 28)",
    ),
    "broken structure": (
        b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:x\r\nEND:VCALENDAR\r\n",
        "not valid iCalendar:",
    ),
    "no VEVENT": (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nEND:VCALENDAR\r\n",
        "no VEVENT: the calendar holds no events to import",
    ),
    "event without DTSTART": (
        calendar(LECTURE, "SUMMARY:Orphan\nDTEND:20260302T120000"),
        "event 2 (SUMMARY 'Orphan'): no DTSTART",
    ),
    "DTEND before DTSTART": (
        calendar(
            LECTURE,
            LECTURE,
            "SUMMARY:TMA4100\nDTSTART:20260302T120000\nDTEND:20260302T101500",
        ),
        "event 3 (SUMMARY 'TMA4100'): DTEND before DTSTART",
    ),
    "RRULE without end": (
        calendar(LECTURE + "RRULE:FREQ=WEEKLY"),
        "event 1 (SUMMARY 'TMA4100'): RRULE has no end (neither UNTIL nor COUNT)",
    ),
    "RRULE until far future": (
        calendar(LECTURE + "RRULE:FREQ=DAILY;UNTIL=20991231T000000Z"),
        "RRULE runs until 2099-12-31, more than 2 years after its DTSTART (2026-03-02)",
    ),
    "RRULE count past 2 years": (
        calendar(LECTURE + "RRULE:FREQ=WEEKLY;COUNT=200"),
        "event 1 (SUMMARY 'TMA4100'): it recurs until after 2028-03-02, more than 2 years",
    ),
    "RRULE every minute": (
        calendar(LECTURE + "RRULE:FREQ=MINUTELY;COUNT=100000"),
        "RRULE FREQ=MINUTELY repeats more often than hourly",
    ),
    "unreadable DTSTART": (
        calendar("SUMMARY:Soon\nDTSTART:next tuesday"),
        "event 1 (SUMMARY 'Soon'): DTSTART cannot be read",
    ),
    "unknown TZID": (
        calendar(LECTURE.replace("Europe/Oslo", "Mars/Olympus")),
        "unknown time zone TZID 'Mars/Olympus'",
    ),
    "bad class size": (
        calendar(LECTURE + "X-CAMPUSLAB-CLASS-SIZE:about forty"),
        "X-CAMPUSLAB-CLASS-SIZE must be a whole number of people from 0 to 100000, "
        "got 'about forty'",
    ),
}


@pytest.mark.parametrize("case", sorted(GARBAGE))
def test_garbage_calendar_is_rejected_with_a_clear_message(case, campus, timetables):
    ics, message = GARBAGE[case]

    with pytest.raises(InvalidCalendar) as caught:
        timetables.import_calendar(campus, "hall-a", ics, source="upload.ics")

    assert message in str(caught.value)
    assert str(caught.value).startswith("upload.ics: not imported")
    assert timetables.spaces() == []  # nothing half-imported


def test_a_50_mb_file_is_over_the_size_limit(campus, timetables):
    huge = b"BEGIN:VCALENDAR\r\n" + b"X" * (50 * 1024 * 1024)
    assert len(huge) > MAX_CALENDAR_BYTES

    with pytest.raises(InvalidCalendar, match=r"the file is 50\.0 MB, over the 10 MB limit"):
        timetables.import_calendar(campus, "hall-a", huge)


def test_every_problem_is_listed_and_the_stored_calendar_is_kept(campus, timetables):
    timetables.import_calendar(campus, "hall-a", calendar(LECTURE))
    bad = calendar("SUMMARY:A\nDTEND:20260302T120000", LECTURE + "RRULE:FREQ=DAILY")

    with pytest.raises(InvalidCalendar) as caught:
        timetables.import_calendar(campus, "hall-a", bad)

    assert caught.value.problems == [
        "event 1 (SUMMARY 'A'): no DTSTART",
        "event 2 (SUMMARY 'TMA4100'): RRULE has no end (neither UNTIL nor COUNT); CampusLab "
        "expands a recurrence over at most 2 years, so give UNTIL, e.g. the end of term",
    ]
    kept = timetables.bookings("hall-a", utc(2026, 3, 1), utc(2026, 4, 1))
    assert [b.summary for b in kept] == ["TMA4100"]


def test_unknown_space(campus, timetables):
    with pytest.raises(UnknownSpace, match="unknown space 'hall-z': not in the campus registry"):
        timetables.import_calendar(campus, "hall-z", calendar(LECTURE))


# -- the simulator's timetable as iCalendar ------------------------------------------------


def test_simulator_timetable_round_trips_through_the_import(campus, timetables):
    sim = CampusSimulator(campus, SimulationConfig(seed=0))
    slots = [s for s in sim.timetable if s.space_id == "hall-a"]

    report = timetables.import_calendar(
        campus, "hall-a", timetable_ics(sim, "hall-a", date(2026, 3, 2), weeks=3)
    )

    assert report.recurring == report.events
    bookings = timetables.bookings("hall-a", utc(2026, 3, 1), utc(2026, 4, 1))
    # each booking is a class block: hh:15 to the full hour of its last slot, weekly x 3
    booked_slots = sorted(
        (b.start.weekday(), hour, b.class_size, b.summary)
        for b in bookings
        for hour in range(b.start.hour, b.end.hour)
    )
    expected = sorted((s.weekday, s.hour, s.class_size, s.course) for s in slots for _ in range(3))
    assert booked_slots == expected
    assert all(b.start.minute == 15 and b.end.minute == 0 for b in bookings)
    assert report.first.date() >= date(2026, 3, 2)
    assert report.last.date() < date(2026, 3, 2) + timedelta(weeks=3)


def test_simulator_export_rejects_rooms_without_classes(campus):
    sim = CampusSimulator(campus, SimulationConfig(seed=0))
    with pytest.raises(ValueError, match="'read-1' has no timetabled classes"):
        timetable_ics(sim, "read-1", date(2026, 3, 2), weeks=1)
    with pytest.raises(ValueError, match="unknown space"):
        timetable_ics(sim, "nowhere", date(2026, 3, 2), weeks=1)


def test_booking_is_a_small_value_object():
    a = Booking(utc(2026, 3, 2, 9), utc(2026, 3, 2, 10), "X", None)
    assert a == Booking(utc(2026, 3, 2, 9), utc(2026, 3, 2, 10), "X", None)
