"""The seeded weekly teaching timetable.

Teaching rooms (lecture halls, seminar rooms, labs) are booked Monday to
Friday in hourly slots from 08 to 18. Norwegian "akademisk kvarter": a slot
booked for 10–11 is taught 10:15–11:00. Classes come in blocks (a double
lecture is two slots, a lab often three or four). Mid-morning to
mid-afternoon is booked most; Fridays are lighter.

The timetable is the same every week, as a semester's is. What varies from
week to week is the turnout, and whether a class is held at all (see
``occupancy.TeachingRooms``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

import numpy as np

from campuslab.core.registry import SpaceType
from campuslab.simulators.layout import CampusLayout
from campuslab.simulators.random_streams import Stream, generator

FIRST_SLOT_HOUR = 8
END_OF_TEACHING_HOUR = 18  # the last slot is 17:15–18:00
LECTURE_START_MINUTE = 15
TEACHING_DAYS = range(5)  # Monday to Friday
FRIDAY = 4
FRIDAY_BOOKING_FACTOR = 0.75

# Chance that a free slot starts a booked block, by local start hour.
BLOCK_START_CHANCE = {
    8: 0.45,
    9: 0.7,
    10: 0.75,
    11: 0.7,
    12: 0.55,
    13: 0.7,
    14: 0.65,
    15: 0.45,
    16: 0.3,
    17: 0.15,
}
_SUBJECTS = ("MAT", "FYS", "KJM", "INF", "BIO", "GEO", "ELE", "TEK", "ECON", "PSY", "MEK")


@dataclass(frozen=True)
class TeachingStyle:
    """How a type of teaching room is booked and used."""

    block_hours: tuple[int, ...]  # block lengths drawn from (repeats weight them)
    booking_share: float  # scales BLOCK_START_CHANCE
    class_size: tuple[float, float]  # booked size as a share of capacity (uniform range)
    turnout: float  # mean share of the class that comes
    no_show: float  # chance that a booked class is not held / nobody comes
    ad_hoc_use: float  # chance an unbooked core hour is used anyway (students find a free room)


TEACHING_STYLES: dict[SpaceType, TeachingStyle] = {
    # Lecture turnout in Norway is often 60–70%; popular courses overfill the hall.
    SpaceType.LECTURE_HALL: TeachingStyle((2, 2, 1), 0.9, (0.35, 1.05), 0.68, 0.05, 0.04),
    SpaceType.SEMINAR_ROOM: TeachingStyle((2, 2, 1, 3), 0.8, (0.45, 1.0), 0.85, 0.08, 0.10),
    SpaceType.LAB: TeachingStyle((2, 3, 4), 0.6, (0.6, 1.0), 0.92, 0.04, 0.05),
}
TEACHING_TYPES = frozenset(TEACHING_STYLES)


@dataclass(frozen=True)
class TimetableSlot:
    """One booked hourly slot of the weekly timetable."""

    space_id: str
    building_id: str
    weekday: int  # Monday = 0
    hour: int  # local start hour: the slot is taught hour:15 to (hour+1):00
    course: str
    class_size: int  # students booked
    expected_attendance: int  # class size times the room type's mean turnout

    @property
    def starts(self) -> time:
        return time(self.hour, LECTURE_START_MINUTE)

    @property
    def ends(self) -> time:
        return time(self.hour + 1, 0)


@dataclass(frozen=True)
class WeeklyTimetable:
    """The timetable as slots, and as arrays over (weekday, teaching room, hour)."""

    slots: tuple[TimetableSlot, ...]
    rooms: np.ndarray  # (R,) space indices of the teaching rooms
    class_size: np.ndarray  # (7, R, 24) students booked, 0 where free
    block: np.ndarray  # (7, R, 24) block id, -1 where free; a block is one class occurrence


def weekly_timetable(layout: CampusLayout, seed: int) -> WeeklyTimetable:
    """Book every teaching room of the campus for a week, deterministically for ``seed``."""
    rooms = layout.spaces_of(TEACHING_TYPES)
    rng = generator(seed, Stream.TIMETABLE)
    class_size = np.zeros((7, len(rooms), 24), dtype=np.int64)
    block = np.full((7, len(rooms), 24), -1, dtype=np.int64)
    slots: list[TimetableSlot] = []
    next_block = 0
    for r, space in enumerate(rooms):
        style = TEACHING_STYLES[layout.space_types[space]]
        capacity = int(layout.capacity[space])
        for weekday in TEACHING_DAYS:
            factor = style.booking_share * (FRIDAY_BOOKING_FACTOR if weekday == FRIDAY else 1)
            hour = FIRST_SLOT_HOUR
            while hour < END_OF_TEACHING_HOUR:
                if rng.random() >= BLOCK_START_CHANCE[hour] * factor:
                    hour += 1
                    continue
                length = min(int(rng.choice(style.block_hours)), END_OF_TEACHING_HOUR - hour)
                size = max(1, round(capacity * rng.uniform(*style.class_size)))
                course = f"{rng.choice(_SUBJECTS)}{rng.integers(1, 5)}{rng.integers(0, 100):02d}0"
                for h in range(hour, hour + length):
                    class_size[weekday, r, h] = size
                    block[weekday, r, h] = next_block
                    slots.append(
                        TimetableSlot(
                            space_id=layout.space_ids[space],
                            building_id=layout.building_ids[layout.space_building[space]],
                            weekday=weekday,
                            hour=h,
                            course=course,
                            class_size=size,
                            expected_attendance=round(size * style.turnout),
                        )
                    )
                next_block += 1
                hour += length
    return WeeklyTimetable(tuple(slots), rooms, class_size, block)
