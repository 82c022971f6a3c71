"""Data-quality checks on raw sensor series: flag, never silently drop.

Sources: METRICS.md, "Data quality (flag, never silently drop)", and Sandia's
Pecos (K. A. Klise and J. S. Stein, *Performance Monitoring using Pecos*,
SAND2016-3583; https://pecos.readthedocs.io, "Quality control tests" and
"Metrics"). Each check here is one of METRICS.md's, and where Pecos has the
same test it is named below:

| flag                  | what is flagged                                  | Pecos test      |
|-----------------------|--------------------------------------------------|-----------------|
| ``duplicate``         | a timestamp seen before in the series            | check_timestamp |
| ``out_of_order``      | a timestamp earlier than one before it           | check_timestamp |
| ``missing``           | a value that is NaN or infinite                  | check_missing   |
| ``range``             | a value outside the quantity's plausible range   | check_range     |
| ``spike``             | a step from the sample before that is too large  | check_increment |
| ``stuck``             | max − min in a window below ε while occupied     | check_delta     |
| ``over_capacity``     | a headcount above capacity × 1.5                 | (cross-check)   |
| ``negative``          | a headcount below 0                              | (cross-check)   |
| ``overnight_counter`` | an in/out counter not back to about 0 overnight  | (cross-check)   |
| ``register_decrease`` | a register reading lower than the one before     | (cross-check)   |

(``stuck`` is ``check_delta`` with a lower bound: stagnant data.)

Gaps are not points, so they are not flags: ``gaps`` reports them as
expected readings that never came, beside the flags.

QCI (Pecos' quality control index) = points passing every check / all
points, per sensor and local day. Pecos reindexes a series to its expected
frequency, so there a missing timestamp is a failing row; METRICS.md counts
received points only. ``DayQuality`` gives both: ``qci`` as METRICS.md
defines it, and ``completeness`` (received / expected), whose product with
``qci`` is the Pecos-style figure.

Default thresholds (``QualitySettings``), and where they come from:

- range: CO₂ 350–5000 ppm, indoor temperature 5–40 °C, RH 0–100 % (METRICS.md's
  starting ranges). Bounds are inclusive: 350 ppm passes, 349 fails.
- spike: a step between consecutive samples larger than CO₂ 1000 ppm,
  temperature 5 °C or RH 10 %RH when the samples are at most 5 minutes apart
  (METRICS.md: "a step between consecutive samples that is too large"; the
  rules of thumb behind the numbers are CO₂ > 1000 ppm/min and temperature
  > 5 °C in 5 minutes). For samples further apart the allowed step grows with
  the time between them (× Δt / 5 min). For 1-minute data the CO₂ bound is the
  1000 ppm/min of the rule of thumb; the 5-minute span keeps it from loosening
  to 5000 ppm for 5-minute data. The bounds are far above what rooms do: a
  full 350-seat hall of ~1500 m³ gains about 70 ppm/min, a purge at 10 air
  changes an hour removes about 170 ppm/min at 1420 ppm; RH sensors show about
  ±1 %RH of noise. Headcounts are not spike-checked: a class arrives or leaves
  in a minute, and an absurd count is caught by ``over_capacity``.
- stuck: max − min < ε over a 60-minute window while the space is occupied,
  ε = 1 ppm CO₂, 0.05 °C, 0.05 %RH (less than each sensor's resolution: the
  value did not change at all), and for an electricity register 0.0005 kWh
  while anyone is in the building (a building always draws a base load). "While
  occupied": at least half the window's readings were taken with ≥ 1 person in
  the space (people in a room for half an hour move its CO₂ and temperature;
  requiring every reading would miss teaching rooms, which empty at every
  break). A window is judged only when it holds at least 10 readings over at
  least half its length: identical values from a few sparse samples are weak
  evidence. District heat is not stuck-checked: it may rightly stand still in
  summer.
- over capacity: count > capacity × 1.5 (METRICS.md).
- overnight counter: the lowest count between 02:00 and 04:00 local is above
  max(1 person, 5 % of capacity), "about 0" for a people counter.
- register decrease: any decrease (tolerance 0 kWh).
- gaps: a step longer than 1.5 × the expected interval (the median step), so
  one missing reading is a gap, while jitter of up to half an interval is not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np

from campuslab.analytics.local_time import as_utc_instants, local_wall_time
from campuslab.core.quantities import QUANTITIES, StateClass

DUPLICATE = "duplicate"
OUT_OF_ORDER = "out_of_order"
MISSING = "missing"
RANGE = "range"
SPIKE = "spike"
STUCK = "stuck"
OVER_CAPACITY = "over_capacity"
NEGATIVE = "negative"
OVERNIGHT_COUNTER = "overnight_counter"
REGISTER_DECREASE = "register_decrease"
CHECKS = (
    DUPLICATE,
    OUT_OF_ORDER,
    MISSING,
    RANGE,
    SPIKE,
    STUCK,
    OVER_CAPACITY,
    NEGATIVE,
    OVERNIGHT_COUNTER,
    REGISTER_DECREASE,
)

DEFAULT_RANGES: Mapping[str, tuple[float | None, float | None]] = MappingProxyType(
    {"co2": (350.0, 5000.0), "temperature": (5.0, 40.0), "humidity": (0.0, 100.0)}
)
_FIVE_MINUTES = timedelta(minutes=5)
DEFAULT_MAX_STEPS: Mapping[str, tuple[float, timedelta]] = MappingProxyType(
    {
        "co2": (1000.0, _FIVE_MINUTES),
        "temperature": (5.0, _FIVE_MINUTES),
        "humidity": (10.0, _FIVE_MINUTES),
    }
)
DEFAULT_STUCK_EPSILONS: Mapping[str, float] = MappingProxyType(
    {"co2": 1.0, "temperature": 0.05, "humidity": 0.05, "energy": 0.0005}
)
DEFAULT_STUCK_WINDOW = timedelta(hours=1)
DEFAULT_SPIKE_MAX_DURATION = timedelta(minutes=30)
DEFAULT_STUCK_MIN_POINTS = 10
DEFAULT_STUCK_OCCUPIED_SHARE = 0.5
DEFAULT_GAP_FACTOR = 1.5

_US_PER_MINUTE = 60_000_000


@dataclass(frozen=True)
class QualitySettings:
    """Thresholds of every check, with the defaults documented in the module docstring.

    Attributes:
        ranges: quantity -> (low, high) plausible values in the canonical unit,
            inclusive; None leaves a side open. Quantities not listed are not
            range-checked.
        max_steps: quantity -> (amount, span): the largest plausible change
            between two samples up to ``span`` apart; scaled by Δt / span beyond.
        spike_max_duration: the longest excursion-and-return treated as one spike.
        stuck_epsilons: quantity -> ε; max − min below it over a window is stuck.
        stuck_window: length of the stuck window.
        stuck_min_points: readings a window needs before it is judged.
        stuck_occupied_share: share of a window's readings taken while occupied
            for the window to count as "while the space is occupied".
        occupied_threshold: people for a space to count as occupied.
        occupancy_max_age: how old the latest occupancy reading may be and
            still say whether the space is occupied at a CO₂/temperature reading.
        over_capacity_factor: a count above capacity × this is flagged.
        night_start, night_end: local window in which a counter must be near 0.
        night_tolerance_people, night_tolerance_share: "about 0" is at most
            max(people, share × capacity).
        overnight_extent: ``day`` flags every reading of the counter day that
            ended in the failing night (from ``night_end`` the day before);
            ``night`` flags only the readings in the night window.
        register_tolerance: kWh a register may go down without being flagged.
        gap_factor: a step longer than this × the expected interval is a gap.
    """

    ranges: Mapping[str, tuple[float | None, float | None]] = field(
        default_factory=lambda: DEFAULT_RANGES, hash=False
    )
    max_steps: Mapping[str, tuple[float, timedelta]] = field(
        default_factory=lambda: DEFAULT_MAX_STEPS, hash=False
    )
    spike_max_duration: timedelta = DEFAULT_SPIKE_MAX_DURATION
    stuck_epsilons: Mapping[str, float] = field(
        default_factory=lambda: DEFAULT_STUCK_EPSILONS, hash=False
    )
    stuck_window: timedelta = DEFAULT_STUCK_WINDOW
    stuck_min_points: int = DEFAULT_STUCK_MIN_POINTS
    stuck_occupied_share: float = DEFAULT_STUCK_OCCUPIED_SHARE
    occupied_threshold: float = 1.0
    occupancy_max_age: timedelta = timedelta(minutes=15)
    over_capacity_factor: float = 1.5
    night_start: time = time(2)
    night_end: time = time(4)
    night_tolerance_people: float = 1.0
    night_tolerance_share: float = 0.05
    overnight_extent: Literal["day", "night"] = "day"
    register_tolerance: float = 0.0
    gap_factor: float = DEFAULT_GAP_FACTOR

    def __post_init__(self) -> None:
        for name in ("ranges", "max_steps", "stuck_epsilons"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))
        if self.stuck_window <= timedelta(0):
            raise ValueError(f"stuck_window must be positive, got {self.stuck_window}")
        if self.stuck_min_points < 2:
            raise ValueError(f"stuck_min_points must be at least 2, got {self.stuck_min_points}")
        if not 0 < self.stuck_occupied_share <= 1:
            raise ValueError(
                f"stuck_occupied_share must be in (0, 1], got {self.stuck_occupied_share}"
            )
        if not self.night_start < self.night_end:
            raise ValueError("night_start must be before night_end (a window within one night)")
        if self.overnight_extent not in ("day", "night"):
            raise ValueError(
                f"overnight_extent must be 'day' or 'night', not {self.overnight_extent!r}"
            )
        if not self.gap_factor > 1:
            raise ValueError(f"gap_factor must be > 1, got {self.gap_factor}")


# -- validation --------------------------------------------------------------------------


def _instants(ts: np.ndarray, name: str = "ts") -> np.ndarray:
    """UTC instants as int64 microseconds."""
    return as_utc_instants(ts, name).astype(np.int64)


def _numbers(values: np.ndarray, name: str = "values", length: int | None = None) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {array.shape}")
    if length is not None and array.size != length:
        raise ValueError(
            f"ts has {length} timestamps but {name} has {array.size} values; "
            "give one value per timestamp"
        )
    return array


def _flags_array(flags: np.ndarray, name: str, length: int) -> np.ndarray:
    array = np.asarray(flags)
    if array.dtype != np.bool_ or array.shape != (length,):
        raise ValueError(f"{name} must be a boolean array with one value per timestamp ({length})")
    return array


def _strictly_increasing(us: np.ndarray, name: str = "ts") -> None:
    if us.size > 1:
        bad = np.flatnonzero(np.diff(us) <= 0)
        if bad.size:
            raise ValueError(
                f"{name} must be strictly increasing; index {int(bad[0]) + 1} is not after "
                "the one before it. Flag duplicates and out-of-order points with "
                "timestamp_flags and leave them out first"
            )


def _finite(values: np.ndarray, name: str = "values") -> None:
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValueError(
            f"{name} must be finite; index {int(bad[0])} is {values[bad[0]]}. "
            "missing_flags flags such points; leave them out first"
        )


def _known_quantity(quantity: str) -> None:
    if quantity not in QUANTITIES:
        raise ValueError(f"unknown quantity {quantity!r} (known: {', '.join(QUANTITIES)})")


def _positive(value: float, name: str) -> float:
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return number


# -- timestamps and gaps ---------------------------------------------------------------


@dataclass(frozen=True)
class TimestampFlags:
    """Which points repeat or go back in time (Pecos ``check_timestamp``).

    Attributes:
        duplicate: the timestamp equals an earlier point's (the first one is kept).
        out_of_order: not a duplicate, but earlier than some point before it.
    """

    duplicate: np.ndarray
    out_of_order: np.ndarray

    @property
    def ordered(self) -> np.ndarray:
        """Points that are neither: together they are strictly increasing."""
        return ~(self.duplicate | self.out_of_order)


def timestamp_flags(ts: np.ndarray) -> TimestampFlags:
    """Flag duplicate and out-of-order timestamps in a raw series, in arrival order.

    What this can still catch depends on where the series comes from. The
    store keeps one reading per (sensor, quantity, timestamp) and returns
    points sorted, so on a series read from the store both flags are always
    False: a duplicate was dropped at write time (the first value wins, so two
    *different* values at one timestamp cannot both be stored) and order is
    restored on read. The check is for raw arrays, such as a payload log or an
    import file, before they reach the store.

    Args:
        ts: UTC timestamps, numpy datetime64, in the order the points arrived.

    Returns:
        TimestampFlags. The points with neither flag are strictly increasing.

    Example: the third point repeats the second, the fourth goes back in time:

        >>> import numpy as np
        >>> ts = np.array(["2026-03-02T10:00", "2026-03-02T10:01", "2026-03-02T10:01",
        ...                "2026-03-02T09:59", "2026-03-02T10:02"], dtype="datetime64[us]")
        >>> flags = timestamp_flags(ts)
        >>> np.flatnonzero(flags.duplicate).tolist(), np.flatnonzero(flags.out_of_order).tolist()
        ([2], [3])
    """
    us = _instants(ts)
    duplicate = np.zeros(us.size, dtype=bool)
    if us.size == 0:
        return TimestampFlags(duplicate, duplicate.copy())
    order = np.argsort(us, kind="stable")  # equal timestamps keep arrival order
    ranked = us[order]
    duplicate[order[1:][ranked[1:] == ranked[:-1]]] = True
    latest_before = np.concatenate(([np.iinfo(np.int64).min], np.maximum.accumulate(us)[:-1]))
    return TimestampFlags(duplicate, (us < latest_before) & ~duplicate)


@dataclass(frozen=True)
class Gaps:
    """Stretches of a series where expected readings never came (they are not points).

    Attributes:
        expected_interval: the expected time between readings, timedelta64[us]
            (the median step when not given); None when it cannot be known (fewer
            than two readings and none given).
        after: per gap, the last reading before it, or the window start for a
            leading gap; datetime64[us].
        before: per gap, the first reading after it, or the window end.
        missing: per gap, how many expected readings are missing.
        first_missing: per gap, when the first missing reading was expected.
    """

    expected_interval: np.timedelta64 | None
    after: np.ndarray
    before: np.ndarray
    missing: np.ndarray
    first_missing: np.ndarray

    @property
    def count(self) -> int:
        return int(self.missing.size)

    @property
    def missing_points(self) -> int:
        return int(self.missing.sum())

    def missing_instants(self) -> np.ndarray:
        """The instants at which the missing readings were expected, datetime64[us]."""
        if self.expected_interval is None or self.missing.size == 0:
            return np.empty(0, dtype="datetime64[us]")
        step = self.expected_interval
        parts = [
            first + np.arange(missing) * step
            for first, missing in zip(self.first_missing, self.missing, strict=True)
        ]
        return np.concatenate(parts).astype("datetime64[us]")


def expected_interval(ts: np.ndarray) -> np.timedelta64 | None:
    """The median step between consecutive readings (timedelta64[us]); None if under 2."""
    us = _instants(ts)
    _strictly_increasing(us)
    if us.size < 2:
        return None
    return np.timedelta64(int(np.median(np.diff(us))), "us")


def gaps(
    ts: np.ndarray,
    interval: timedelta | np.timedelta64 | None = None,
    gap_factor: float = DEFAULT_GAP_FACTOR,
    start: datetime | np.datetime64 | None = None,
    end: datetime | np.datetime64 | None = None,
) -> Gaps:
    """Gaps in a series: steps longer than ``gap_factor`` × the expected interval.

    A gap of step s holds round(s / interval) − 1 missing readings (Pecos
    ``check_timestamp`` counts the expected timestamps absent from the series).
    With ``start``/``end``, the stretch from ``start`` to the first reading and
    from the last reading to ``end`` are judged the same way (readings expected
    at first − k·interval ≥ start and last + k·interval < end).

    Args:
        ts: UTC timestamps, numpy datetime64, strictly increasing.
        interval: the expected interval; default the median step.
        gap_factor: how many intervals a step may last before it is a gap (> 1).
        start, end: the window the series should cover (optional; naive = UTC).

    Example: readings every minute with 10:03 and 10:04 missing:

        >>> import numpy as np
        >>> ts = np.array(["2026-03-02T10:00", "2026-03-02T10:01", "2026-03-02T10:02",
        ...                "2026-03-02T10:05", "2026-03-02T10:06"], dtype="datetime64[us]")
        >>> found = gaps(ts)
        >>> found.count, found.missing_points, str(found.after[0]), str(found.before[0])
        (1, 2, '2026-03-02T10:02:00.000000', '2026-03-02T10:05:00.000000')
    """
    us = _instants(ts)
    _strictly_increasing(us)
    if gap_factor <= 1:
        raise ValueError(f"gap_factor must be > 1, got {gap_factor}")
    step = _interval_us(interval) if interval is not None else None
    if step is None and us.size >= 2:
        step = int(np.median(np.diff(us)))
    if step is None or step <= 0:
        return _no_gaps(None)
    after, before, missing, first = [], [], [], []
    if us.size >= 2:
        steps = np.diff(us)
        found = np.flatnonzero(steps > gap_factor * step)
        after.append(us[found])
        before.append(us[found + 1])
        missing.append(np.maximum(np.rint(steps[found] / step).astype(np.int64) - 1, 1))
        first.append(us[found] + step)
    if start is not None and us.size:
        lo = _instant_us(start)
        span = us[0] - lo
        if span > gap_factor * step:  # expected at first − k·step >= start
            count = span // step
            after.append(np.array([lo]))
            before.append(us[:1])
            missing.append(np.array([count]))
            first.append(us[:1] - count * step)
    if end is not None and us.size:
        hi = _instant_us(end)
        span = hi - us[-1]
        if span > gap_factor * step:  # expected at last + k·step < end
            after.append(us[-1:])
            before.append(np.array([hi]))
            missing.append(np.array([-(-span // step) - 1]))
            first.append(us[-1:] + step)
    if not after:
        return _no_gaps(step)
    after_us = np.concatenate(after)
    order = np.argsort(after_us, kind="stable")
    return Gaps(
        np.timedelta64(step, "us"),
        after_us[order].astype("datetime64[us]"),
        np.concatenate(before)[order].astype("datetime64[us]"),
        np.concatenate(missing).astype(np.int64)[order],
        np.concatenate(first)[order].astype("datetime64[us]"),
    )


def _no_gaps(step: int | None) -> Gaps:
    empty = np.empty(0, dtype="datetime64[us]")
    return Gaps(
        None if step is None else np.timedelta64(step, "us"),
        empty,
        empty.copy(),
        np.empty(0, dtype=np.int64),
        empty.copy(),
    )


def _interval_us(interval: timedelta | np.timedelta64) -> int:
    if isinstance(interval, timedelta):
        us = interval // timedelta(microseconds=1)
    else:
        us = int(np.timedelta64(interval, "us").astype(np.int64))
    if us <= 0:
        raise ValueError(f"interval must be positive, got {interval}")
    return us


def _instant_us(moment: datetime | np.datetime64) -> int:
    if isinstance(moment, datetime):
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        moment = np.datetime64(moment, "us")
    return int(np.datetime64(moment, "us").astype(np.int64))


# -- value checks ----------------------------------------------------------------------


def missing_flags(values: np.ndarray) -> np.ndarray:
    """Values that are NaN or infinite (Pecos ``check_missing``).

    Example:
        >>> missing_flags([400.0, float("nan"), 410.0, float("inf")]).tolist()
        [False, True, False, True]
    """
    return ~np.isfinite(_numbers(values))


def range_flags(
    values: np.ndarray,
    quantity: str,
    ranges: Mapping[str, tuple[float | None, float | None]] = DEFAULT_RANGES,
) -> np.ndarray:
    """Values outside the quantity's plausible range (METRICS.md; Pecos ``check_range``).

    Bounds are inclusive (a value equal to a bound passes). NaN is not compared
    here: ``missing_flags`` flags it. A quantity without a range is not checked.

    Args:
        values: readings in the quantity's canonical unit.
        quantity: e.g. ``co2``, ``temperature``, ``humidity``.
        ranges: quantity -> (low, high); default CO₂ 350–5000 ppm,
            temperature 5–40 °C, RH 0–100 %.

    Example: CO₂ at the bounds passes, 349 ppm and 5200 ppm do not:

        >>> range_flags([349, 350, 800, 5000, 5200], "co2").tolist()
        [True, False, False, False, True]
    """
    _known_quantity(quantity)
    array = _numbers(values)
    flags = np.zeros(array.size, dtype=bool)
    low, high = ranges.get(quantity, (None, None))
    with np.errstate(invalid="ignore"):
        if low is not None:
            flags |= array < low
        if high is not None:
            flags |= array > high
    return flags


def spike_flags(
    ts: np.ndarray,
    values: np.ndarray,
    quantity: str,
    max_steps: Mapping[str, tuple[float, timedelta]] = DEFAULT_MAX_STEPS,
    max_duration: timedelta = DEFAULT_SPIKE_MAX_DURATION,
) -> np.ndarray:
    """Samples reached by a step too large for the time since the sample before.

    Pecos ``check_increment`` with an upper bound on |xᵢ − xᵢ₋₁|: the sample at
    the end of a too-large step is flagged. The bound is the quantity's
    (amount, span): ``amount`` for samples up to ``span`` apart, and
    amount × Δt / span for samples further apart (a step after a gap may be
    larger).

    A spike is usually a short excursion and back. When a too-large step in the
    other direction, within ``max_duration`` of the first, brings the series
    back within the allowed change of the sample before the excursion, every
    sample of the excursion is flagged and the sample that returns is not: an
    isolated spike costs one point, not two. A step that never returns (a real
    level change, or a sensor coming unstuck) flags its one sample.

    Args:
        ts: UTC timestamps, numpy datetime64, strictly increasing.
        values: finite readings, canonical unit.
        quantity: selects the bound; a quantity without one is not checked.
        max_steps: quantity -> (amount, span); default CO₂ 1000 ppm, temperature
            5 °C and RH 10 %RH, each within 5 minutes.
        max_duration: the longest excursion treated as one spike (default 30 min).

    Example: CO₂ every minute, a spike to 4800 ppm at index 2 and a real step of
    +900 ppm at index 5; only the spike is flagged:

        >>> import numpy as np
        >>> ts = np.arange(np.datetime64("2026-03-02T10:00", "us"),
        ...                np.datetime64("2026-03-02T10:07", "us"), np.timedelta64(1, "m"))
        >>> spike_flags(ts, [600, 610, 4800, 615, 620, 1520, 1530], "co2").tolist()
        [False, False, True, False, False, False, False]
    """
    _known_quantity(quantity)
    us = _instants(ts)
    array = _numbers(values, length=us.size)
    _strictly_increasing(us)
    _finite(array)
    flags = np.zeros(us.size, dtype=bool)
    bound = max_steps.get(quantity)
    if bound is None or us.size < 2:
        return flags
    amount = _positive(bound[0], f"max step of {quantity}")
    span_us = _interval_us(bound[1])

    def allowed(elapsed_us: np.ndarray | int) -> np.ndarray | float:
        return amount * np.maximum(1.0, np.asarray(elapsed_us) / span_us)

    step = np.diff(array)
    jumps = np.flatnonzero(np.abs(step) > allowed(np.diff(us))) + 1  # the sample each reaches
    longest = max_duration // timedelta(microseconds=1)
    # rare events, and whether one returns depends on the one before: a loop over jumps only
    open_jump = -1
    for jump in jumps.tolist():
        if open_jump >= 0:
            before = open_jump - 1
            if (
                np.sign(step[jump - 1]) != np.sign(step[open_jump - 1])
                and us[jump] - us[open_jump] <= longest
                and abs(array[jump] - array[before]) <= allowed(us[jump] - us[before])
            ):
                flags[open_jump:jump] = True
                open_jump = -1
                continue
            flags[open_jump] = True
        open_jump = jump
    if open_jump >= 0:
        flags[open_jump] = True
    return flags


def occupied_at(
    ts: np.ndarray,
    occupancy_ts: np.ndarray,
    occupancy: np.ndarray,
    threshold: float = 1.0,
    max_age: timedelta = timedelta(minutes=15),
) -> np.ndarray:
    """Whether a space is occupied at each instant of ``ts``, from its occupancy series.

    The latest occupancy reading at or before each instant, if it is at most
    ``max_age`` old, decides: occupied when it is ≥ ``threshold`` people. No
    recent reading (or a NaN one) means not known to be occupied.

    Args:
        ts: instants to ask about, datetime64, any order.
        occupancy_ts: the occupancy readings' timestamps, strictly increasing.
        occupancy: the counts, people.
        threshold: people for "occupied" (default 1).
        max_age: how old a reading may be.

    Example:
        >>> import numpy as np
        >>> occ_ts = np.array(["2026-03-02T08:00", "2026-03-02T09:00"], dtype="datetime64[us]")
        >>> ask = np.array(["2026-03-02T07:59", "2026-03-02T08:10", "2026-03-02T08:30",
        ...                 "2026-03-02T09:05"], dtype="datetime64[us]")
        >>> occupied_at(ask, occ_ts, [12, 0]).tolist()
        [False, True, False, False]
    """
    asked = _instants(ts)
    known = _instants(occupancy_ts, "occupancy_ts")
    counts = _numbers(occupancy, "occupancy", known.size)
    _strictly_increasing(known, "occupancy_ts")
    latest = np.searchsorted(known, asked, side="right") - 1
    has = latest >= 0
    index = np.where(has, latest, 0)
    if known.size == 0:
        return np.zeros(asked.size, dtype=bool)
    age_us = max_age // timedelta(microseconds=1)
    fresh = has & (asked - known[index] <= age_us)
    with np.errstate(invalid="ignore"):
        return fresh & (counts[index] >= threshold)


def _range_extreme(values: np.ndarray, lo: np.ndarray, hi: np.ndarray, reduce) -> np.ndarray:
    """reduce (np.maximum / np.minimum) over values[lo..hi] inclusive, for every pair.

    A sparse table: level k holds the reduction of 2**k consecutive values, and any
    range is covered by two (overlapping) blocks of the largest fitting size.
    """
    lengths = hi - lo + 1
    top = int(np.log2(lengths.max())) if lengths.size else 0
    levels = [values]
    for k in range(1, top + 1):
        previous, half = levels[-1], 1 << (k - 1)
        levels.append(reduce(previous[:-half], previous[half:]))
    result = np.empty(lo.size)
    level_of = np.floor(np.log2(np.maximum(lengths, 1))).astype(np.int64)
    for k in np.unique(level_of):
        at = level_of == k
        table = levels[k]
        result[at] = reduce(table[lo[at]], table[hi[at] - (1 << int(k)) + 1])
    return result


def stuck_flags(
    ts: np.ndarray,
    values: np.ndarray,
    occupied: np.ndarray,
    quantity: str,
    epsilons: Mapping[str, float] = DEFAULT_STUCK_EPSILONS,
    window: timedelta = DEFAULT_STUCK_WINDOW,
    min_points: int = DEFAULT_STUCK_MIN_POINTS,
    occupied_share: float = DEFAULT_STUCK_OCCUPIED_SHARE,
) -> np.ndarray:
    """Readings inside a window where the value hardly moved although people were there.

    METRICS.md: max − min in a window below ε while the space is occupied
    (Pecos ``check_delta`` with a lower bound finds stagnant data the same way).
    For each reading i the window is every reading in [tᵢ − ``window``, tᵢ]; it
    is judged when it holds at least ``min_points`` readings spread over at
    least half its length, and when at least ``occupied_share`` of its readings
    were taken while the space was occupied; it is stuck when max − min < ε.
    Every reading of a stuck window is flagged.

    Args:
        ts: UTC timestamps, numpy datetime64, strictly increasing.
        values: finite readings, canonical unit.
        occupied: per reading, whether the space was occupied (see ``occupied_at``).
        quantity: selects ε; a quantity without one is not checked.
        epsilons: quantity -> ε; default 1 ppm CO₂, 0.05 °C, 0.05 %RH, 0.0005 kWh.
        window: window length (default 60 minutes).
        min_points: readings a window needs before it is judged (default 10).
        occupied_share: share of the window's readings that must be occupied
            (default 0.5).

    Example: CO₂ every 5 minutes, frozen at 812 ppm from 10:20 to 11:30 while the
    room is occupied; the windows ending 11:20–11:30 span an hour of one value:

        >>> import numpy as np
        >>> ts = np.arange(np.datetime64("2026-03-02T10:00", "us"),
        ...                np.datetime64("2026-03-02T11:35", "us"), np.timedelta64(5, "m"))
        >>> co2 = np.concatenate([[700, 730, 760, 790], np.full(15, 812.0)])
        >>> flags = stuck_flags(ts, co2, np.ones(19, dtype=bool), "co2")
        >>> [str(t)[11:16] for t in ts[flags]][0], int(flags.sum())
        ('10:20', 15)
    """
    _known_quantity(quantity)
    us = _instants(ts)
    array = _numbers(values, length=us.size)
    busy = _flags_array(occupied, "occupied", us.size)
    _strictly_increasing(us)
    _finite(array)
    flags = np.zeros(us.size, dtype=bool)
    epsilon = epsilons.get(quantity)
    if epsilon is None or us.size < min_points:
        return flags
    epsilon = _positive(epsilon, f"stuck epsilon of {quantity}")
    window_us = window // timedelta(microseconds=1)
    end = np.arange(us.size)
    begin = np.searchsorted(us, us - window_us, side="left")
    judged = (end - begin + 1 >= min_points) & (us - us[begin] >= window_us / 2)
    busy_count = np.concatenate(([0], np.cumsum(busy)))
    judged &= busy_count[end + 1] - busy_count[begin] >= occupied_share * (end - begin + 1)
    if not judged.any():
        return flags
    lo, hi = begin[judged], end[judged]
    spread = _range_extreme(array, lo, hi, np.maximum) - _range_extreme(array, lo, hi, np.minimum)
    stuck = spread < epsilon
    cover = np.zeros(us.size + 1, dtype=np.int64)
    np.add.at(cover, lo[stuck], 1)
    np.add.at(cover, hi[stuck] + 1, -1)
    return np.cumsum(cover[:-1]) > 0


# -- cross-checks ------------------------------------------------------------------------


def over_capacity_flags(counts: np.ndarray, capacity: float, factor: float = 1.5) -> np.ndarray:
    """Headcounts above capacity × ``factor`` (METRICS.md: capacity × 1.5).

    Example: a 40-seat room; 60 people is the limit, 61 is flagged:

        >>> over_capacity_flags([0, 40, 60, 61, 120], capacity=40).tolist()
        [False, False, False, True, True]
    """
    array = _numbers(counts, "counts")
    limit = _positive(capacity, "capacity") * _positive(factor, "factor")
    with np.errstate(invalid="ignore"):
        return array > limit


def negative_flags(counts: np.ndarray) -> np.ndarray:
    """Headcounts below zero (METRICS.md). Ingest already refuses them; raw arrays may not.

    Example:
        >>> negative_flags([3, 0, -1, 2]).tolist()
        [False, False, True, False]
    """
    array = _numbers(counts, "counts")
    with np.errstate(invalid="ignore"):
        return array < 0


def overnight_counter_flags(
    ts: np.ndarray,
    counts: np.ndarray,
    tz: ZoneInfo,
    capacity: float | None = None,
    night_start: time = time(2),
    night_end: time = time(4),
    tolerance_people: float = 1.0,
    tolerance_share: float = 0.05,
    extent: Literal["day", "night"] = "day",
) -> np.ndarray:
    """Readings of an in/out counter that did not come back to about 0 overnight (METRICS.md).

    An in/out counter adds entries and subtracts exits, so its errors add up;
    with nobody in the building at night it should read about 0. A night fails
    when its *lowest* count in [``night_start``, ``night_end``) local time is
    above max(``tolerance_people``, ``tolerance_share`` × capacity). Nights
    without a reading in the window are not judged.

    With ``extent="day"`` (the default) every reading of the counter day that
    ended in a failing night is flagged: from ``night_end`` the day before up to
    the end of the night window, since the drift built up over that day. With
    ``extent="night"`` only the night window's readings are.

    Args:
        ts: UTC timestamps, numpy datetime64 (any order).
        counts: headcounts, people; NaN readings are ignored.
        tz: the site's time zone (the night is local).
        capacity: seats, for the share tolerance (None: people tolerance only).
        night_start, night_end: the local night window (default 02:00–04:00).
        tolerance_people, tolerance_share: "about 0" (default max(1, 5 % of capacity)).
        extent: ``day`` or ``night``, see above.

    Example: a 40-seat room (tolerance 2 people) in Oslo (UTC+1 in March). The
    night to Tuesday 3 March goes down to 0; the night to Wednesday 4 March
    never drops below 7, so the counter day 04:00 Tue – 04:00 Wed is flagged:

        >>> import numpy as np
        >>> from zoneinfo import ZoneInfo
        >>> ts = np.array(["2026-03-03T01:30", "2026-03-03T10:00", "2026-03-03T20:00",
        ...                "2026-03-04T01:30", "2026-03-04T02:30", "2026-03-04T04:00"],
        ...               dtype="datetime64[us]")  # local 02:30, 11:00, 21:00, 02:30, 03:30, 05:00
        >>> overnight_counter_flags(ts, [0, 30, 9, 8, 7, 7], ZoneInfo("Europe/Oslo"), 40).tolist()
        [False, True, True, True, True, False]
    """
    us = _instants(ts)
    array = _numbers(counts, "counts", us.size)
    if extent not in ("day", "night"):
        raise ValueError(f"extent must be 'day' or 'night', not {extent!r}")
    if not night_start < night_end:
        raise ValueError("night_start must be before night_end")
    tolerance = float(tolerance_people)
    if capacity is not None:
        tolerance = max(tolerance, tolerance_share * _positive(capacity, "capacity"))
    flags = np.zeros(us.size, dtype=bool)
    if us.size == 0:
        return flags
    wall = local_wall_time(us.astype("datetime64[us]"), tz)
    days = wall.astype("datetime64[D]")
    time_of_day = (wall - days).astype(np.int64)
    lo, hi = _time_us(night_start), _time_us(night_end)
    in_night = (time_of_day >= lo) & (time_of_day < hi) & np.isfinite(array)
    if not in_night.any():
        return flags
    night_days, index = np.unique(days[in_night], return_inverse=True)
    lowest = np.full(night_days.size, np.inf)
    np.minimum.at(lowest, index, array[in_night])
    failing = night_days[lowest > tolerance]
    if failing.size == 0:
        return flags
    if extent == "night":
        return in_night & np.isin(days, failing)
    counter_day = days + (time_of_day >= hi).astype("timedelta64[D]")
    return np.isin(counter_day, failing)


def _time_us(moment: time) -> int:
    return (
        (moment.hour * 60 + moment.minute) * 60 + moment.second
    ) * 1_000_000 + moment.microsecond


def register_decrease_flags(values: np.ndarray, tolerance: float = 0.0) -> np.ndarray:
    """Readings of a cumulative register lower than the reading before (METRICS.md).

    A register only counts up; a decrease is a reset or a replaced meter
    (Home Assistant ``total_increasing``). The reading after the drop is
    flagged. Energy consumption (``energy.register_consumption``) books such an
    interval as a reset, 0 kWh, and the KPIs keep the flagged reading for that
    reason: leaving it out would hide the reset.

    Args:
        values: finite register readings in time order, kWh.
        tolerance: kWh a reading may fall without being flagged (default 0).

    Example: replaced after 112 kWh, it starts again at 3:

        >>> register_decrease_flags([100, 105, 112, 3, 10]).tolist()
        [False, False, False, True, False]
    """
    array = _numbers(values)
    _finite(array)
    flags = np.zeros(array.size, dtype=bool)
    if array.size > 1:
        flags[1:] = np.diff(array) < -abs(float(tolerance))
    return flags


# -- the QCI and the report --------------------------------------------------------------


def qci(flagged: np.ndarray) -> float:
    """Quality control index: points passing every check / all points (Pecos ``qci``).

    Example: a day of 5-minute readings (288) of which 12 are flagged:

        >>> import numpy as np
        >>> flagged = np.zeros(288, dtype=bool); flagged[:12] = True
        >>> round(qci(flagged), 4)
        0.9583
    """
    array = np.asarray(flagged, dtype=bool)
    if array.size == 0:
        return math.nan
    return float((~array).sum() / array.size)


@dataclass(frozen=True)
class DayQuality:
    """One sensor's data quality on one local day.

    Attributes:
        date: the local date.
        points: readings received with a timestamp on that day.
        flagged: readings failing at least one check.
        flagged_by_check: check -> readings it flagged (a reading may count under several).
        missing_points: expected readings that never came (gaps), not in ``points``.
        qci: (points − flagged) / points, METRICS.md's QCI; NaN without points.
        completeness: points / (points + missing_points); NaN when both are 0.
    """

    date: date
    points: int
    flagged: int
    flagged_by_check: Mapping[str, int] = field(hash=False)
    missing_points: int
    qci: float
    completeness: float


@dataclass(frozen=True)
class SeriesQuality:
    """Every check's verdict on one series, and its quality per local day.

    Attributes:
        checks: the checks that ran on this series (depends on the quantity).
        flags: check -> boolean array, one value per input point.
        flagged: True where any check flagged the point.
        gaps: gaps among the points in the reporting window.
        days: per local day of the reporting window, oldest first.
    """

    checks: tuple[str, ...]
    flags: Mapping[str, np.ndarray] = field(hash=False)
    flagged: np.ndarray = field(hash=False)
    gaps: Gaps = field(hash=False)
    days: tuple[DayQuality, ...]

    @property
    def qci(self) -> float:
        points = sum(day.points for day in self.days)
        if points == 0:
            return math.nan
        return (points - sum(day.flagged for day in self.days)) / points


def quality_report(
    ts: np.ndarray,
    values: np.ndarray,
    quantity: str,
    tz: ZoneInfo,
    capacity: float | None = None,
    occupied: np.ndarray | None = None,
    settings: QualitySettings | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> SeriesQuality:
    """Run every check that applies to the quantity on one raw series; QCI per local day.

    - Every series: ``duplicate`` and ``out_of_order`` (raw arrival order), ``missing``.
    - The other checks look at the points that are in order and finite.
    - ``range``, ``spike``: quantities with a range / rate in ``settings``.
    - ``stuck``: quantities with an ε, when ``occupied`` is given.
    - occupancy: ``negative``, ``over_capacity`` (when ``capacity`` is given) and
      ``overnight_counter``.
    - cumulative registers (``energy``, ``heat_energy``): ``register_decrease``.

    Points outside [``start``, ``end``) are context: the checks see them (a
    spike needs the sample before it, a stuck window an hour of samples, an
    overnight check the night after) and they get flags, but the days, points
    and gaps of the report cover only the window. Without ``start``/``end`` the
    window is the series' own span.

    Args:
        ts: UTC timestamps, numpy datetime64, in arrival order.
        values: readings, canonical unit.
        quantity: the quantity (``co2``, ``occupancy``, ``energy``, ...).
        tz: the site's time zone (local days, the night window).
        capacity: seats of the space, for the occupancy cross-checks.
        occupied: per point, whether the space was occupied (``occupied_at``).
        settings: thresholds (default ``QualitySettings()``).
        start, end: the reporting window, timezone-aware (optional).

    Raises:
        ValueError: mismatched lengths, timestamps that are not datetimes, an
            unknown quantity, naive ``start``/``end``.

    Example: 288 five-minute CO₂ readings of one day, 12 of them (one every two
    hours) at an impossible 6000 ppm, each flagged by the range and spike checks:

        >>> import numpy as np
        >>> from zoneinfo import ZoneInfo
        >>> ts = np.arange(np.datetime64("2026-03-01T23:00", "us"),
        ...                np.datetime64("2026-03-02T23:00", "us"), np.timedelta64(5, "m"))
        >>> co2 = np.full(288, 600.0); co2[12::24] = 6000.0
        >>> [day] = quality_report(ts, co2, "co2", ZoneInfo("Europe/Oslo")).days
        >>> str(day.date), day.points, day.flagged, round(day.qci, 4)
        ('2026-03-02', 288, 12, 0.9583)
    """
    settings = settings or QualitySettings()
    _known_quantity(quantity)
    us = _instants(ts)
    array = _numbers(values, length=us.size)
    if occupied is not None:
        occupied = _flags_array(occupied, "occupied", us.size)
    stamps = timestamp_flags(us.astype("datetime64[us]"))
    flags: dict[str, np.ndarray] = {
        DUPLICATE: stamps.duplicate,
        OUT_OF_ORDER: stamps.out_of_order,
        MISSING: ~np.isfinite(array),
    }
    ordered = stamps.ordered
    valid = ordered & ~flags[MISSING]
    _value_checks(flags, us, array, valid, quantity, tz, capacity, occupied, settings)
    flagged = np.zeros(us.size, dtype=bool)
    for check_flags in flags.values():
        flagged |= check_flags
    window_lo = _instant_us(_aware(start, "start")) if start is not None else None
    window_hi = _instant_us(_aware(end, "end")) if end is not None else None
    in_window = np.ones(us.size, dtype=bool)
    if window_lo is not None:
        in_window &= us >= window_lo
    if window_hi is not None:
        in_window &= us < window_hi
    ordered_us = us[ordered]
    interval = int(np.median(np.diff(ordered_us))) if ordered_us.size >= 2 else None
    window_gaps = gaps(
        us[ordered & in_window].astype("datetime64[us]"),
        np.timedelta64(interval, "us") if interval else None,
        settings.gap_factor,
        start,
        end,
    )
    days = _days(us, in_window, flags, flagged, window_gaps, tz, window_lo, window_hi)
    return SeriesQuality(tuple(flags), flags, flagged, window_gaps, days)


def _aware(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {moment!r}")
    return moment


def _value_checks(
    flags: dict[str, np.ndarray],
    us: np.ndarray,
    values: np.ndarray,
    valid: np.ndarray,
    quantity: str,
    tz: ZoneInfo,
    capacity: float | None,
    occupied: np.ndarray | None,
    settings: QualitySettings,
) -> None:
    """Add the value checks that apply to ``quantity`` to ``flags``, over the valid points."""
    ts = us[valid].astype("datetime64[us]")
    good = values[valid]

    def spread(sub: np.ndarray) -> np.ndarray:
        full = np.zeros(us.size, dtype=bool)
        full[valid] = sub
        return full

    if quantity in settings.ranges:
        flags[RANGE] = spread(range_flags(good, quantity, settings.ranges))
    if quantity in settings.max_steps:
        flags[SPIKE] = spread(
            spike_flags(ts, good, quantity, settings.max_steps, settings.spike_max_duration)
        )
    if quantity in settings.stuck_epsilons and occupied is not None:
        flags[STUCK] = spread(
            stuck_flags(
                ts,
                good,
                occupied[valid],
                quantity,
                settings.stuck_epsilons,
                settings.stuck_window,
                settings.stuck_min_points,
                settings.stuck_occupied_share,
            )
        )
    if quantity == "occupancy":
        flags[NEGATIVE] = spread(negative_flags(good))
        if capacity is not None:
            flags[OVER_CAPACITY] = spread(
                over_capacity_flags(good, capacity, settings.over_capacity_factor)
            )
        flags[OVERNIGHT_COUNTER] = spread(
            overnight_counter_flags(
                ts,
                good,
                tz,
                capacity,
                settings.night_start,
                settings.night_end,
                settings.night_tolerance_people,
                settings.night_tolerance_share,
                settings.overnight_extent,
            )
        )
    if QUANTITIES[quantity].state_class is StateClass.TOTAL_INCREASING:
        flags[REGISTER_DECREASE] = spread(
            register_decrease_flags(good, settings.register_tolerance)
        )


def _local_days(us: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    if us.size == 0:
        return np.empty(0, dtype="datetime64[D]")
    return local_wall_time(us.astype("datetime64[us]"), tz).astype("datetime64[D]")


def _days(
    us: np.ndarray,
    in_window: np.ndarray,
    flags: Mapping[str, np.ndarray],
    flagged: np.ndarray,
    window_gaps: Gaps,
    tz: ZoneInfo,
    window_lo: int | None,
    window_hi: int | None,
) -> tuple[DayQuality, ...]:
    point_days = _local_days(us[in_window], tz)
    missing_days = _local_days(window_gaps.missing_instants().astype(np.int64), tz)
    if window_lo is not None and window_hi is not None and window_hi > window_lo:
        first, last = _local_days(np.array([window_lo, window_hi - 1]), tz)
        calendar = np.arange(first, last + np.timedelta64(1, "D"))
    else:
        calendar = np.unique(np.concatenate([point_days, missing_days]))
    rows = []
    for day in calendar:
        today = point_days == day
        points = int(today.sum())
        bad = int(flagged[in_window][today].sum())
        missing = int((missing_days == day).sum())
        rows.append(
            DayQuality(
                date=day.item(),
                points=points,
                flagged=bad,
                flagged_by_check={
                    check: int(check_flags[in_window][today].sum())
                    for check, check_flags in flags.items()
                },
                missing_points=missing,
                qci=(points - bad) / points if points else math.nan,
                completeness=points / (points + missing) if points + missing else math.nan,
            )
        )
    return tuple(rows)
