"""Headcounts per space: timetabled teaching, booked meetings, offices, drop-in spaces.

Each kind of space has its own model, vectorised over the spaces of that
kind. Day-level randomness (who comes to work, which classes are held,
which meetings are booked) is drawn once per local date from a stream keyed
by the date; step-level randomness (people stepping out, arrivals at a study
hall) comes from the step's generator. So a day looks the same however the
run that produced it was started.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

import numpy as np

from campuslab.core.registry import SpaceType
from campuslab.simulators.layout import CampusLayout
from campuslab.simulators.random_streams import Stream, generator
from campuslab.simulators.schedules import OPERATING_HOURS, LocalClock
from campuslab.simulators.timetable import (
    END_OF_TEACHING_HOUR,
    FIRST_SLOT_HOUR,
    TEACHING_STYLES,
    WeeklyTimetable,
)

OVERCROWDING_LIMIT = 1.1  # lecture halls fill to 110% of seats at most (people on the stairs)
Plan = TypeVar("Plan")
_NO_HOUR = 24  # column 24 of a day plan is always empty, so hour - 1 at midnight reads zeros


class _DayCache(Generic[Plan]):
    """Keeps the plans of the last few local dates; a run only ever needs today's."""

    def __init__(self, build: Callable[[date], Plan]) -> None:
        self._build = build
        self._plans: dict[date, Plan] = {}

    def __call__(self, day: date) -> Plan:
        plan = self._plans.get(day)
        if plan is None:
            if len(self._plans) >= 3:
                self._plans.pop(next(iter(self._plans)))
            plan = self._plans[day] = self._build(day)
        return plan


@dataclass(frozen=True)
class TeachingDay:
    attendance: np.ndarray  # (R, 25) people who come to the class in each local hour
    continues: np.ndarray  # (R, 25) the hour continues the previous hour's class


class TeachingRooms:
    """Lecture halls, seminar rooms and labs, following the weekly timetable.

    A class that is held draws its turnout from Binomial(class size, p) with
    p varying around the room type's mean turnout; a double lecture loses a
    few students at the break. Some booked classes are not held at all
    (no-show), and some free core hours are used ad hoc by students.
    Within an hour, students drift in 10:02–10:15, the class runs
    10:15–11:00, and leaves over the next eight minutes.
    """

    def __init__(self, layout: CampusLayout, timetable: WeeklyTimetable, seed: int) -> None:
        self.rooms = timetable.rooms
        self.timetable = timetable
        self.seed = seed
        types = [layout.space_types[i] for i in self.rooms]
        self.capacity = layout.capacity[self.rooms].astype(np.int64)
        self.limit = np.where(
            [t is SpaceType.LECTURE_HALL for t in types],
            np.floor(self.capacity * OVERCROWDING_LIMIT),
            self.capacity,
        )
        self.turnout = np.array([TEACHING_STYLES[t].turnout for t in types])
        self.no_show = np.array([TEACHING_STYLES[t].no_show for t in types])
        self.ad_hoc_use = np.array([TEACHING_STYLES[t].ad_hoc_use for t in types])
        self.day = _DayCache(self._plan_day)

    def _plan_day(self, day: date) -> TeachingDay:
        rng = generator(self.seed, Stream.TEACHING_DAY, day.toordinal())
        weekday = day.weekday()
        rooms = len(self.rooms)
        sizes = self.timetable.class_size[weekday]
        blocks = self.timetable.block[weekday]
        attendance = np.zeros((rooms, 25), dtype=np.int64)
        continues = np.zeros((rooms, 25), dtype=bool)
        continues[:, 1:24] = (blocks[:, 1:] == blocks[:, :-1]) & (blocks[:, 1:] >= 0)
        # One draw per room and hour for each decision, used or not, so the stream
        # does not depend on how many classes happen to be booked.
        held = rng.random((rooms, 24)) >= self.no_show[:, None]
        turnout = np.clip(rng.normal(self.turnout[:, None], 0.12, (rooms, 24)), 0.2, 1.0)
        first_hour_turnout = rng.binomial(sizes, turnout)
        remaining_share = rng.uniform(0.85, 0.98, (rooms, 24))
        ad_hoc = rng.random((rooms, 24)) < self.ad_hoc_use[:, None]
        ad_hoc_size = rng.integers(2, 9, (rooms, 24))
        for h in range(24):
            booked = blocks[:, h] >= 0
            first = booked & ~continues[:, h]
            attendance[:, h] = np.where(first & held[:, h], first_hour_turnout[:, h], 0)
            if h > 0:
                carried = np.floor(attendance[:, h - 1] * remaining_share[:, h]).astype(np.int64)
                attendance[:, h] = np.where(continues[:, h], carried, attendance[:, h])
            core_hour = FIRST_SLOT_HOUR + 1 <= h < END_OF_TEACHING_HOUR - 1 and weekday < 5
            if core_hour:
                free = ~booked & ad_hoc[:, h]
                attendance[:, h] = np.where(
                    free, np.minimum(ad_hoc_size[:, h], self.capacity), attendance[:, h]
                )
        attendance = np.minimum(attendance, self.limit[:, None].astype(np.int64))
        return TeachingDay(attendance, continues)

    def headcounts(self, clock: LocalClock, rng: np.random.Generator) -> np.ndarray:
        plan = self.day(clock.day)
        h, m = clock.hour, clock.minute
        current = plan.attendance[:, h]
        previous = plan.attendance[:, h - 1 if h else _NO_HOUR]
        continuing = plan.continues[:, h]
        # The last class leaves over 8 minutes while the next drifts in from :02 to :15.
        arriving = min(max((m - 2) / 13, 0.0), 1.0)
        leaving = min(max(1.0 - m / 8, 0.0), 1.0)
        at_break = 0.85 if m < 15 else 1.0
        share = np.where(continuing, at_break, arriving) * 0.98  # a few step out
        present = rng.binomial(current, share)
        still_leaving = np.where(continuing, 0, np.rint(previous * leaving)).astype(np.int64)
        return np.minimum(present + still_leaving, self.limit.astype(np.int64))


@dataclass(frozen=True)
class MeetingBooking:
    """A meeting-room booking: what a booking calendar would hold."""

    space_id: str
    building_id: str
    start: datetime  # local, aware
    end: datetime
    invited: int


@dataclass(frozen=True)
class MeetingDay:
    attendance: np.ndarray  # (R, 25)
    booked: np.ndarray  # (R, 25) bool
    invited: np.ndarray  # (R, 25)


class MeetingRooms:
    """Meeting and group rooms, booked by the hour (:00–:50) on working days.

    About 15% of bookings are "ghost meetings" nobody turns up to, a well-known
    gap between booking systems and sensors.
    """

    BOOKING_CHANCE_WEEKDAY = 0.4
    BOOKING_CHANCE_WEEKEND = 0.02
    GHOST_MEETING = 0.15
    FIRST_HOUR, END_HOUR = 8, 17

    def __init__(self, layout: CampusLayout, seed: int) -> None:
        self.rooms = layout.spaces_of([SpaceType.MEETING_ROOM])
        self.space_ids = [layout.space_ids[i] for i in self.rooms]
        self.building_ids = [layout.building_ids[layout.space_building[i]] for i in self.rooms]
        self.capacity = layout.capacity[self.rooms].astype(np.int64)
        self.seed = seed
        self.day = _DayCache(self._plan_day)

    def _plan_day(self, day: date) -> MeetingDay:
        rng = generator(self.seed, Stream.MEETING_DAY, day.toordinal())
        rooms = len(self.rooms)
        chance = self.BOOKING_CHANCE_WEEKEND if day.weekday() >= 5 else self.BOOKING_CHANCE_WEEKDAY
        hours = np.arange(25)
        in_hours = (hours >= self.FIRST_HOUR) & (hours < self.END_HOUR)
        booked = (rng.random((rooms, 25)) < chance) & in_hours
        invited = 2 + rng.binomial(np.maximum(self.capacity[:, None] - 2, 0), 0.4, (rooms, 25))
        invited = np.minimum(invited, self.capacity[:, None])
        comes = rng.binomial(invited, 0.85)
        ghost = rng.random((rooms, 25)) < self.GHOST_MEETING
        attendance = np.where(booked & ~ghost, np.maximum(comes, 1), 0)
        return MeetingDay(attendance, booked, np.where(booked, invited, 0))

    def bookings(self, day: date, tz: ZoneInfo) -> list[MeetingBooking]:
        plan = self.day(day)
        found = []
        for r, h in zip(*np.nonzero(plan.booked), strict=True):
            start = datetime.combine(day, time(int(h)), tz)
            found.append(
                MeetingBooking(
                    self.space_ids[r],
                    self.building_ids[r],
                    start,
                    start + timedelta(minutes=50),
                    int(plan.invited[r, h]),
                )
            )
        return found

    def headcounts(self, clock: LocalClock, rng: np.random.Generator) -> np.ndarray:
        plan = self.day(clock.day)
        m = clock.minute
        share = 0.7 if m < 2 else 1.0 if m < 50 else 0.5 if m < 55 else 0.0
        return rng.binomial(plan.attendance[:, clock.hour], share)


@dataclass(frozen=True)
class OfficeDay:
    at_work: np.ndarray  # (P,) bool: the person comes in today
    arrives: np.ndarray  # (P,) local hour
    leaves: np.ndarray
    lunch_from: np.ndarray
    lunch_until: np.ndarray
    away: np.ndarray  # (P, 96) bool per quarter hour: meetings elsewhere, teaching, errands


class Offices:
    """Offices: each seat is one person's, who may or may not come in today.

    On a working day a person comes in with probability 0.75 (hybrid work,
    travel, leave), arrives between 07:30 and 09:30, takes lunch around
    11:00–12:00 (Norwegian lunch is early and short), leaves between 15:00
    and 17:00, and is away from the desk about 12% of quarter hours. A
    few come in at weekends. The headcount is a sum of Bernoulli
    presences, so Binomial on capacity with a time-varying probability.
    """

    def __init__(self, layout: CampusLayout, seed: int) -> None:
        self.rooms = layout.spaces_of([SpaceType.OFFICE])
        seats = layout.capacity[self.rooms].astype(np.int64)
        self.person_office = np.repeat(np.arange(len(self.rooms)), seats)
        self.seed = seed
        self.day = _DayCache(self._plan_day)

    def _plan_day(self, day: date) -> OfficeDay:
        rng = generator(self.seed, Stream.OFFICE_DAY, day.toordinal())
        people = len(self.person_office)
        weekend = day.weekday() >= 5
        at_work = rng.random(people) < (0.04 if weekend else 0.75)
        arrives = rng.uniform(10.0, 13.0, people) if weekend else rng.uniform(7.5, 9.5, people)
        leaves = (
            arrives + rng.uniform(1.0, 4.0, people) if weekend else rng.uniform(15.0, 17.0, people)
        )
        lunch_from = rng.uniform(11.0, 12.0, people)
        lunch_until = lunch_from + rng.uniform(0.33, 0.6, people)
        away = rng.random((people, 96)) < 0.12
        return OfficeDay(at_work, arrives, leaves, lunch_from, lunch_until, away)

    def headcounts(self, clock: LocalClock) -> np.ndarray:
        plan = self.day(clock.day)
        t = clock.hour_of_day
        quarter = min(int(t * 4), 95)
        present = (
            plan.at_work
            & (plan.arrives <= t)
            & (t < plan.leaves)
            & ~((plan.lunch_from <= t) & (t < plan.lunch_until))
            & ~plan.away[:, quarter]
        )
        return np.bincount(self.person_office, weights=present, minlength=len(self.rooms)).astype(
            np.int64
        )


@dataclass(frozen=True)
class DropInProfile:
    """Expected use of a drop-in space as a share of capacity over a local day."""

    peaks: tuple[tuple[float, float, float], ...]  # (share, local hour, spread in hours)
    weekend_scale: float
    weekend_peak_hour: float
    mean_stay_h: float

    def target_share(self, hour_of_day: float, weekend: bool) -> float:
        if weekend:
            # one broad afternoon hump
            return self.weekend_scale * float(
                np.exp(-0.5 * ((hour_of_day - self.weekend_peak_hour) / 2.5) ** 2)
            )
        return float(
            sum(
                share * np.exp(-0.5 * ((hour_of_day - hour) / spread) ** 2)
                for share, hour, spread in self.peaks
            )
        )


# Reading rooms fill up late morning and again, more, early afternoon (the hours
# around the exam sittings that start at 09:00 and 15:00), with an evening tail.
# Stays are short enough (mean 72 minutes) for the lunch dip between the peaks to show.
STUDY_PROFILE = DropInProfile(
    peaks=((0.75, 10.6, 1.0), (0.80, 14.4, 1.2), (0.25, 19.0, 1.8)),
    weekend_scale=0.35,
    weekend_peak_hour=14.0,
    mean_stay_h=1.2,
)
# Atria and other common areas: passers-by all day and a lunchtime crowd.
COMMON_AREA_PROFILE = DropInProfile(
    peaks=((0.15, 10.0, 3.0), (0.45, 11.75, 0.5), (0.15, 14.5, 2.0)),
    weekend_scale=0.12,
    weekend_peak_hour=13.0,
    mean_stay_h=0.3,
)
CLOSING_STAY_H = 0.2  # at closing time people leave within minutes


class DropInSpaces:
    """Study spaces and common areas: Poisson arrivals, exponential stays.

    Arrivals in a step are Poisson with a mean that makes the expected
    headcount follow the space's daily profile times its popularity; each
    person present leaves with probability 1 - exp(-dt/stay). The headcount
    is capped at capacity: a full reading room turns people away.
    """

    def __init__(self, layout: CampusLayout, seed: int) -> None:
        self.rooms = layout.spaces_of([SpaceType.STUDY_SPACE, SpaceType.OTHER])
        types = [layout.space_types[i] for i in self.rooms]
        self.profiles = (STUDY_PROFILE, COMMON_AREA_PROFILE)
        self.profile_of = np.array(
            [0 if t is SpaceType.STUDY_SPACE else 1 for t in types], dtype=np.int64
        )
        self.schedules = tuple(dict.fromkeys(OPERATING_HOURS[t] for t in types))
        self.schedule_of = np.array(
            [self.schedules.index(OPERATING_HOURS[t]) for t in types], dtype=np.int64
        )
        self.capacity = layout.capacity[self.rooms].astype(np.int64)
        self.mean_stay_h = np.array([p.mean_stay_h for p in self.profiles])[self.profile_of]
        traits = generator(seed, Stream.SPACE_TRAITS, 1)
        self.popularity = traits.uniform(0.75, 1.15, len(self.rooms))
        self.seed = seed
        self.day = _DayCache(self._plan_day)
        self.present = np.zeros(len(self.rooms), dtype=np.int64)

    def reset(self) -> None:
        self.present = np.zeros(len(self.rooms), dtype=np.int64)

    def _plan_day(self, day: date) -> np.ndarray:
        rng = generator(self.seed, Stream.DROP_IN_DAY, day.toordinal())
        return np.clip(rng.normal(1.0, 0.08, len(self.rooms)), 0.7, 1.3)

    def headcounts(self, clock: LocalClock, hours: float, rng: np.random.Generator) -> np.ndarray:
        busy_day = self.day(clock.day)
        t, weekend = clock.hour_of_day, clock.is_weekend
        # Evaluate each profile and schedule once, then spread to the spaces using it.
        target = np.array([p.target_share(t, weekend) for p in self.profiles])[self.profile_of]
        is_open = np.array([bool(h.is_open(clock.weekday, t)) for h in self.schedules], dtype=bool)[
            self.schedule_of
        ]
        stay = np.where(is_open, self.mean_stay_h, CLOSING_STAY_H)
        turnover = 1.0 - np.exp(-hours / stay)
        expected = self.capacity * target * self.popularity * busy_day
        arrivals = rng.poisson(np.where(is_open, expected * turnover, 0.0))
        departures = rng.binomial(self.present, turnover)
        self.present = np.minimum(self.present - departures + arrivals, self.capacity)
        return self.present


class OccupancyModel:
    """Headcounts for every space of the campus, in layout order."""

    def __init__(self, layout: CampusLayout, timetable: WeeklyTimetable, seed: int) -> None:
        self.layout = layout
        self.teaching = TeachingRooms(layout, timetable, seed)
        self.meetings = MeetingRooms(layout, seed)
        self.offices = Offices(layout, seed)
        self.drop_in = DropInSpaces(layout, seed)
        covered = np.concatenate(
            [self.teaching.rooms, self.meetings.rooms, self.offices.rooms, self.drop_in.rooms]
        )
        assert sorted(covered.tolist()) == list(range(layout.space_count)), (
            "every space type needs exactly one occupancy model"
        )

    def reset(self) -> None:
        self.drop_in.reset()

    def headcounts(self, clock: LocalClock, hours: float, rng: np.random.Generator) -> np.ndarray:
        counts = np.zeros(self.layout.space_count, dtype=np.int64)
        counts[self.teaching.rooms] = self.teaching.headcounts(clock, rng)
        counts[self.meetings.rooms] = self.meetings.headcounts(clock, rng)
        counts[self.offices.rooms] = self.offices.headcounts(clock)
        counts[self.drop_in.rooms] = self.drop_in.headcounts(clock, hours, rng)
        return counts
