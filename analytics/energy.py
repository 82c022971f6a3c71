"""Energy consumption from cumulative meter registers (energy, heat_energy), resets handled.

Source (METRICS.md, "Energy and sustainability"): a cumulative meter is a
register; consumption is the sum of its positive differences, and a decrease
is a meter reset or replacement, not negative consumption. Home Assistant's
``total_increasing`` state class reads a decrease the same way
(https://developers.home-assistant.io/docs/core/entity/sensor/#available-state-classes).

One difference from Home Assistant, on purpose: Home Assistant assumes a reset
register restarted from 0 and books the first reading after the reset as
consumption; METRICS.md books only positive differences, so the interval that
spans a reset contributes 0 kWh. What was used between the last reading before
the reset and the reset itself is unknown either way; this keeps the figure a
lower bound rather than a guess, and each result counts its resets so a reader
can see where that happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

import numpy as np

from campuslab.analytics.local_time import as_utc_instants, local_dates


@dataclass(frozen=True)
class RegisterConsumption:
    """Consumption read from a register.

    Attributes:
        per_interval: kWh used between consecutive readings (length n − 1, all >= 0;
            0 for an interval in which the register went down).
        total_kwh: Σ per_interval, kWh.
        resets: how many times the register went down (reset or meter replaced).
    """

    per_interval: np.ndarray
    total_kwh: float
    resets: int


@dataclass(frozen=True)
class DailyEnergy:
    """One local calendar day's consumption from one register."""

    date: date
    kwh: float
    resets: int


def _register_values(values: np.ndarray) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("register values must be numbers (kWh)") from None
    if array.ndim != 1:
        raise ValueError(f"register values must be a 1-D array, got shape {array.shape}")
    if not np.isfinite(array).all():
        i = int(np.flatnonzero(~np.isfinite(array))[0])
        raise ValueError(f"register values must be finite kWh; index {i} is {array[i]}")
    if (array < 0).any():
        i = int(np.flatnonzero(array < 0)[0])
        raise ValueError(f"a register cannot be negative; index {i} is {array[i]} kWh")
    return array


def register_consumption(values: np.ndarray) -> RegisterConsumption:
    """Consumption from a cumulative register: the sum of positive differences (METRICS.md).

    A decrease between two readings is a reset or a replaced meter (Home
    Assistant ``total_increasing`` semantics): it is counted in ``resets`` and
    that interval contributes 0 kWh, never a negative amount.

    Args:
        values: register readings in time order, kWh (canonical unit).

    Returns:
        RegisterConsumption(per_interval, total_kwh, resets). Fewer than two
        readings give no intervals and 0 kWh.

    Example: a register reads 100, 105, 112, is replaced, then reads 3 and 10:
    5 + 7 + 7 = 19 kWh, one reset:

        >>> r = register_consumption([100, 105, 112, 3, 10])
        >>> r.per_interval.tolist(), r.total_kwh, r.resets
        ([5.0, 7.0, 0.0, 7.0], 19.0, 1)
    """
    register = _register_values(values)
    steps = np.diff(register)
    per_interval = np.where(steps > 0, steps, 0.0)
    return RegisterConsumption(per_interval, float(per_interval.sum()), int((steps < 0).sum()))


def daily_consumption(ts: np.ndarray, values: np.ndarray, tz: ZoneInfo) -> list[DailyEnergy]:
    """Consumption of a register per local calendar day, oldest day first.

    Each interval (t_{i−1}, t_i] between consecutive readings is booked to the
    local day that holds its end: the day of t_i, except that a reading at
    exactly local midnight closes the *previous* day (its interval lies wholly
    before midnight). So a day's figure is the register at its closing midnight
    minus the register at its opening midnight, when readings fall on
    midnight. A longer gap is booked wholly to the day it ends in. Days on
    which no interval ends are not listed (no data is not zero consumption).

    Args:
        ts: UTC time of each reading, numpy datetime64, strictly increasing.
        values: register readings, kWh.
        tz: the site's time zone; days are local days (23 or 25 hours on DST days).

    Example: an Oslo meter read at local midnights 25, 26 and 27 March 2026
    (23:00 UTC the evening before) and once more at noon on the 27th:

        >>> import numpy as np
        >>> from zoneinfo import ZoneInfo
        >>> ts = np.array(["2026-03-24T23:00", "2026-03-25T23:00",
        ...                "2026-03-26T23:00", "2026-03-27T11:00"], dtype="datetime64[us]")
        >>> days = daily_consumption(ts, [1000, 1240, 1490, 1600], ZoneInfo("Europe/Oslo"))
        >>> [(str(d.date), d.kwh, d.resets) for d in days]
        [('2026-03-25', 240.0, 0), ('2026-03-26', 250.0, 0), ('2026-03-27', 110.0, 0)]
    """
    instants = as_utc_instants(ts, "ts")
    register = _register_values(values)
    if instants.shape != register.shape:
        raise ValueError(
            f"ts has {instants.size} timestamps but values has {register.size} readings; "
            "give one timestamp per reading"
        )
    if instants.size > 1 and not (np.diff(instants) > np.timedelta64(0, "us")).all():
        raise ValueError("ts must be strictly increasing (sort the readings, drop duplicates)")
    consumption = register_consumption(register)
    if consumption.per_interval.size == 0:
        return []
    resets = np.diff(register) < 0
    # the last microsecond of the interval decides its day: a midnight reading closes the day before
    days = local_dates(instants[1:] - np.timedelta64(1, "us"), tz)
    unique_days, index = np.unique(days, return_inverse=True)
    kwh = np.bincount(index, weights=consumption.per_interval, minlength=unique_days.size)
    reset_counts = np.bincount(index, weights=resets, minlength=unique_days.size)
    return [
        DailyEnergy(day.item(), float(kwh[i]), int(reset_counts[i]))
        for i, day in enumerate(unique_days)
    ]


def mean_demand_kw(ts: np.ndarray, values: np.ndarray) -> float:
    """Mean power demand of a register over the span of its readings, kW.

    Consumption (the sum of positive differences, resets booked as 0; see
    ``register_consumption``) divided by the hours from the first reading to the
    last. Load-shape figures are built from it: the night base load is the mean
    kW from 00:00 to 05:00 local (METRICS.md, "Load shape", after Price 2010,
    LBNL-3713E); pass the readings inside that window.

    Args:
        ts: UTC time of each reading, numpy datetime64, strictly increasing.
        values: register readings, kWh.

    Returns:
        kW; NaN with fewer than two readings (no interval, no demand to speak of).

    Example: a register read at 00:00, 02:30 and 05:00 reading 1000, 1030 and 1060 kWh
    used 60 kWh in 5 h, 12 kW:

        >>> import numpy as np
        >>> ts = np.array(["2026-03-26T23:00", "2026-03-27T01:30", "2026-03-27T04:00"],
        ...               dtype="datetime64[us]")
        >>> mean_demand_kw(ts, [1000, 1030, 1060])
        12.0
    """
    instants = as_utc_instants(ts, "ts")
    register = _register_values(values)
    if instants.shape != register.shape:
        raise ValueError(
            f"ts has {instants.size} timestamps but values has {register.size} readings; "
            "give one timestamp per reading"
        )
    if instants.size < 2:
        return float("nan")
    if not (np.diff(instants) > np.timedelta64(0, "us")).all():
        raise ValueError("ts must be strictly increasing (sort the readings, drop duplicates)")
    hours = (instants[-1] - instants[0]) / np.timedelta64(1, "h")
    return register_consumption(register).total_kwh / float(hours)
