"""Local time and operating hours: when spaces are open, ventilated and heated.

All schedule logic runs in the site's time zone (campus.tz); readings are
stamped in UTC. Public holidays and semester breaks are not modelled: every
week is a teaching week.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from campuslab.core.registry import SpaceType

WEEKEND_FROM = 5  # Saturday, with Monday = 0
HEATING_LEAD_H = 1.0  # heating leaves night setback this long before a space opens


@dataclass(frozen=True, slots=True)
class LocalClock:
    """One simulation step's moment, in UTC and in site-local terms."""

    epoch_s: int
    day: date  # local date
    weekday: int  # Monday = 0
    hour: int
    minute: int
    hour_of_day: float  # local, fractional: 13.5 is half past one

    @classmethod
    def at(cls, epoch_s: int, tz: ZoneInfo) -> LocalClock:
        local = datetime.fromtimestamp(epoch_s, tz)
        return cls(
            epoch_s,
            local.date(),
            local.weekday(),
            local.hour,
            local.minute,
            local.hour + local.minute / 60 + local.second / 3600,
        )

    @property
    def is_weekend(self) -> bool:
        return self.weekday >= WEEKEND_FROM


def standard_utc_offset_h(tz: ZoneInfo, year: int = 2026) -> float:
    """The zone's offset from UTC without daylight saving, in hours."""
    offsets = [datetime(year, month, 1, tzinfo=UTC).astimezone(tz).utcoffset() for month in (1, 7)]
    return min(o or timedelta(0) for o in offsets).total_seconds() / 3600


def _within(window: tuple[float, float] | None, hour: np.ndarray | float) -> np.ndarray:
    if window is None:
        return np.zeros(np.shape(hour), dtype=bool)
    start, end = window
    return (np.asarray(hour) >= start) & (np.asarray(hour) < end)


@dataclass(frozen=True)
class OperatingHours:
    """Local opening hours, [open, close) in fractional hours; None means closed."""

    weekdays: tuple[float, float] | None
    weekends: tuple[float, float] | None

    def is_open(self, weekday: np.ndarray | int, hour: np.ndarray | float) -> np.ndarray:
        """Whether the space is in use (TEK17 sense: ventilated for people) at these times."""
        return np.where(
            np.asarray(weekday) >= WEEKEND_FROM,
            _within(self.weekends, hour),
            _within(self.weekdays, hour),
        )

    def is_heated_for_day(self, weekday: np.ndarray | int, hour: np.ndarray | float) -> np.ndarray:
        """Whether the day setpoint applies: from an hour before opening until closing."""
        return self.is_open(weekday, np.asarray(hour) + HEATING_LEAD_H) | self.is_open(
            weekday, hour
        )


TEACHING_HOURS = OperatingHours(weekdays=(7.0, 18.0), weekends=None)
LIBRARY_HOURS = OperatingHours(weekdays=(7.0, 22.0), weekends=(10.0, 18.0))
COMMON_AREA_HOURS = OperatingHours(weekdays=(7.0, 20.0), weekends=(10.0, 16.0))

OPERATING_HOURS: dict[SpaceType, OperatingHours] = {
    SpaceType.LECTURE_HALL: TEACHING_HOURS,
    SpaceType.SEMINAR_ROOM: TEACHING_HOURS,
    SpaceType.LAB: TEACHING_HOURS,
    SpaceType.OFFICE: TEACHING_HOURS,
    SpaceType.MEETING_ROOM: TEACHING_HOURS,
    SpaceType.STUDY_SPACE: LIBRARY_HOURS,
    SpaceType.OTHER: COMMON_AREA_HOURS,
}
