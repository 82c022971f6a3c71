"""Seeded random streams: every draw is a function of (seed, stream, key).

Keys are timestamps, dates or indices, never "how far the run has got", so a
given seed gives the same values for the same moment however the run was
started, and turning on one feature (a fault, say) never shifts the draws of
another.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Stream(IntEnum):
    """One independent random stream per purpose."""

    STEP = 1  # per time step: arrivals, departures, sensor noise
    TIMETABLE = 2  # the weekly teaching timetable
    TEACHING_DAY = 3  # turnout and no-shows of one day's classes
    MEETING_DAY = 4  # one day's meeting-room bookings
    OFFICE_DAY = 5  # one day's office presence
    DROP_IN_DAY = 6  # one day's popularity of study spaces
    SPACE_TRAITS = 7  # fixed per-space quirks: setpoint offsets, sensor calibration
    WEATHER = 8
    METER_START = 9
    FAULT_STUCK = 20
    FAULT_DROPOUT = 21
    FAULT_SPIKE = 22
    FAULT_RESET = 23
    FAULT_GARBAGE = 24


def _non_negative(key: int) -> int:
    # SeedSequence takes non-negative integers only; fold negatives (times before 1970).
    return 2 * key if key >= 0 else -2 * key - 1


def generator(seed: int, stream: Stream, *keys: int) -> np.random.Generator:
    """A generator for ``stream`` at ``keys``, independent of every other (stream, keys)."""
    return np.random.default_rng([seed, int(stream), *(_non_negative(int(k)) for k in keys)])
