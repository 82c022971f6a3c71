"""UTC instants to the site's local wall-clock time, vectorised and right across DST.

Metrics are defined in local time (core hours are "08:00–16:00 local",
a day is a local day), while the store keeps UTC. Converting each timestamp
through ``datetime`` would be a Python loop per point; instead the UTC offset
is looked up once or twice per distinct UTC day, and the one instant in a day
where it changes (a DST transition) is found by bisection. That assumes at
most one offset change per UTC day, which holds for every IANA zone in use.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

_US_PER_S = 1_000_000
_S_PER_DAY = 86_400
_NEVER = np.iinfo(np.int64).max


def as_utc_instants(ts: np.ndarray, name: str = "timestamps") -> np.ndarray:
    """``ts`` as a 1-D numpy datetime64[us] array (UTC); ValueError if it is not datetimes."""
    array = np.asarray(ts)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.datetime64):
        raise ValueError(f"{name} must be numpy datetime64 (UTC), got dtype {array.dtype}")
    converted = array.astype("datetime64[us]")
    missing = np.isnat(converted)
    if missing.any():
        raise ValueError(f"{name} contain NaT at index {int(np.flatnonzero(missing)[0])}")
    return converted


def _offset_seconds(epoch_s: int, tz: ZoneInfo) -> int:
    offset = datetime.fromtimestamp(epoch_s, tz).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def utc_offsets(ts: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    """The UTC offset of ``tz`` at each instant of ``ts``, as timedelta64[us].

    Args:
        ts: UTC instants, numpy datetime64.
        tz: the site's IANA time zone, e.g. ``ZoneInfo("Europe/Oslo")``.

    Example:
        >>> import numpy as np
        >>> from zoneinfo import ZoneInfo
        >>> ts = np.array(["2026-03-29T00:30", "2026-03-29T01:30"], dtype="datetime64[us]")
        >>> utc_offsets(ts, ZoneInfo("Europe/Oslo")).astype("timedelta64[h]").astype(int)
        array([1, 2])
    """
    instants = as_utc_instants(ts)
    us = instants.astype(np.int64)
    days, index = np.unique(us // (_S_PER_DAY * _US_PER_S), return_inverse=True)
    before = np.empty(days.shape, dtype=np.int64)
    after = np.empty(days.shape, dtype=np.int64)
    change_at_us = np.full(days.shape, _NEVER, dtype=np.int64)
    for i, day in enumerate(days.tolist()):
        lo, hi = day * _S_PER_DAY, (day + 1) * _S_PER_DAY
        before[i], after[i] = _offset_seconds(lo, tz), _offset_seconds(hi, tz)
        if before[i] == after[i]:
            continue
        while hi - lo > 1:  # the first second on the new offset, to the second
            mid = (lo + hi) // 2
            if _offset_seconds(mid, tz) == before[i]:
                lo = mid
            else:
                hi = mid
        change_at_us[i] = hi * _US_PER_S
    seconds = np.where(us >= change_at_us[index], after[index], before[index])
    return (seconds * _US_PER_S).astype("timedelta64[us]")


def local_wall_time(ts: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    """``ts`` (UTC) as naive local wall-clock datetime64[us] in ``tz``."""
    instants = as_utc_instants(ts)
    return instants + utc_offsets(instants, tz)


def local_dates(ts: np.ndarray, tz: ZoneInfo) -> np.ndarray:
    """The local calendar date (datetime64[D]) of each UTC instant in ``ts``."""
    return local_wall_time(ts, tz).astype("datetime64[D]")


def weekday_numbers(dates: np.ndarray) -> np.ndarray:
    """Python weekday numbers (Monday = 0) of datetime64[D] dates; 1970-01-01 was a Thursday."""
    return (dates.astype(np.int64) + 3) % 7
