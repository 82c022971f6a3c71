"""Free seats in spaces now, from their latest occupancy counts, without revealing small counts.

Pure functions, vectorised over spaces (numpy arrays in, a dataclass of arrays
out), with no I/O: the API reads the latest counts from the store and passes
them in.

The rules, and where they come from:

- **k-suppression** (METRICS.md, "Privacy"; the threshold rule of
  ``campuslab.analytics.privacy``): for roles below facilities a count with
  0 < count < k (k = 5 by default) is suppressed at the finest level
  published, here the space and its latest reading. Such a space reports
  its free seats as a *lower bound*, ``capacity − (k − 1)``, flagged
  ``suppressed``; never ``capacity − count``, from which the count follows.
  A count of 0 is published: an empty room reveals no one.
- **Withheld spaces** (``analytics.privacy.withheld_spaces``): a space with
  fewer than k seats is never published below facilities, not even as empty,
  since any presence there is a small count. Its free seats are unknown.
- **Whole people.** Exact answers count a fractional count (a sensor that
  averages) as whole people, rounded up: 2.5 people occupy 3 seats. (The
  suppressed bound assumes whole-person counts: for a fractional 4.2 it is one
  seat generous.)
- **Staleness.** A space whose latest count is older than ``stale_after_s`` is
  *unknown*, never free: a sensor that stopped reporting says nothing about the
  room now. The API's default is 15 minutes (see ``campuslab.api.live``).
- **Over capacity** is 0 free seats (``full``), not a negative number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from campuslab.analytics.privacy import DEFAULT_K, check_k, small_counts, withheld_spaces

FREE, FULL, UNKNOWN = "free", "full", "unknown"
# Why a space's free seats are unknown.
NO_READING, STALE, INVALID_COUNT, WITHHELD = ("no_reading", "stale", "invalid_count", "withheld")


@dataclass(frozen=True)
class FreeSeats:
    """Free seats per space, aligned with the inputs of ``free_seats``.

    Attributes:
        free_seats: seats free (float64, whole numbers); a lower bound where
            ``suppressed``; NaN where ``status`` is unknown.
        suppressed: the count was between 1 and k − 1 and is not published.
        status: "free" (at least one seat free, for certain), "full" or "unknown".
        reason: why a status is unknown ("withheld", "no_reading", "stale",
            "invalid_count"); "" otherwise.
        people: the published head count (whole people); NaN where suppressed or unknown.
    """

    free_seats: np.ndarray
    suppressed: np.ndarray
    status: np.ndarray = field(hash=False)
    reason: np.ndarray = field(hash=False)
    people: np.ndarray = field(hash=False)

    def __len__(self) -> int:
        return int(self.free_seats.shape[0])


def _vector(values: object, name: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {array.shape}")
    return array


def check_stale_after(stale_after_s: float) -> float:
    """``stale_after_s`` as a finite number of seconds > 0, or ValueError."""
    limit = float(stale_after_s)
    if not math.isfinite(limit) or limit <= 0:
        raise ValueError(
            f"stale_after_s must be a finite number of seconds > 0, got {stale_after_s}"
        )
    return limit


def stale_readings(reading_age_s: object, stale_after_s: float = 900.0) -> np.ndarray:
    """The one freshness rule, judged per sensor: a reading older than ``stale_after_s`` is stale.

    Every view of "now" uses it for each sensor's own latest reading (the free-seat
    finder, the overview page and its stream), never a room's newest reading of
    any quantity: a fresh temperature says nothing about a dead people counter.
    An age of exactly ``stale_after_s`` is still fresh; a negative age (a sensor
    clock ahead of ours) is fresh; NaN (no reading) is not stale, it is missing.

    >>> stale_readings([60, 900, 901, -5, float("nan")], 900).tolist()
    [False, False, True, False, False]
    """
    age = _vector(np.atleast_1d(np.asarray(reading_age_s, dtype=np.float64)), "reading_age_s")
    limit = check_stale_after(stale_after_s)
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(age, nan=-math.inf) > limit


def whole_people(occupancy: np.ndarray) -> np.ndarray:
    """Head counts rounded up to whole people (2.5 → 3); NaN stays NaN.

    >>> whole_people([0, 2.5, 3, float("nan")]).tolist()
    [0.0, 3.0, 3.0, nan]
    """
    return np.ceil(_vector(occupancy, "occupancy"))


def free_seats(
    capacity: np.ndarray,
    occupancy: np.ndarray,
    reading_age_s: np.ndarray,
    *,
    k: int = DEFAULT_K,
    stale_after_s: float = 900.0,
    exact: bool = False,
) -> FreeSeats:
    """Free seats per space from its latest occupancy, k-suppressed and with stale readings unknown.

    Privacy rule from METRICS.md ("Privacy": suppress counts between 1 and k − 1
    for roles below facilities, k = 5 by default); the other rules are in the
    module docstring.

    Args:
        capacity: seats per space (> 0).
        occupancy: the latest occupancy count per space, people; NaN where the
            space has no reading.
        reading_age_s: age of that reading, seconds (now − timestamp); NaN where
            there is none. A negative age (a sensor clock ahead of ours) is fresh.
        k: suppression threshold (>= 3): counts with 0 < count < k are suppressed, and
            spaces with fewer than k seats withheld.
        stale_after_s: a reading older than this many seconds is stale.
        exact: the caller may see exact counts (facilities and above): no suppression.

    Returns:
        FreeSeats, aligned with the inputs.

    Example: a study hall with 79 seats, under the default k = 5 and 15 minutes.
    Three people there 2 minutes ago give a public answer of "at least 75 free"
    (79 − 4), not 76; 79 people is full; nobody is 79 free; a count 20 minutes
    old is unknown; a 2-seat office is withheld, even when empty:

        >>> r = free_seats([79, 79, 79, 79, 2], [3, 79, 0, 10, 0], [120, 120, 120, 1200, 60])
        >>> r.free_seats.tolist(), r.suppressed.tolist()
        ([75.0, 0.0, 79.0, nan, nan], [True, False, False, False, False])
        >>> r.status.tolist()
        ['free', 'full', 'free', 'unknown', 'unknown']
        >>> r.reason.tolist()
        ['', '', '', 'stale', 'withheld']

    Facilities see the exact 76 free seats and the count:

        >>> r = free_seats([79], [3], [120], exact=True)
        >>> r.free_seats.tolist(), r.people.tolist(), r.suppressed.tolist()
        ([76.0], [3.0], [False])
    """
    seats = _vector(capacity, "capacity")
    count = _vector(occupancy, "occupancy")
    age = _vector(reading_age_s, "reading_age_s")
    if not (seats.shape == count.shape == age.shape):
        raise ValueError(
            f"capacity {seats.shape}, occupancy {count.shape} and reading_age_s {age.shape} "
            "must have the same length: one value per space"
        )
    if not np.isfinite(seats).all() or (seats <= 0).any():
        raise ValueError("capacity must be a finite number of seats > 0 for every space")
    k = check_k(k)
    check_stale_after(stale_after_s)

    withheld = np.zeros(seats.shape, dtype=bool) if exact else withheld_spaces(seats, k)
    with np.errstate(invalid="ignore"):
        missing = ~withheld & (np.isnan(count) | np.isnan(age))
        invalid = ~withheld & ~missing & (~np.isfinite(count) | (count < 0))
        stale = ~withheld & ~missing & ~invalid & stale_readings(age, stale_after_s)
    known = ~(withheld | missing | invalid | stale)
    suppressed = known & small_counts(count, k) & (not exact)
    people = np.ceil(count)
    lower_bound = np.floor(seats) - (k - 1)  # >= 1: smaller spaces are withheld
    free = np.where(suppressed, lower_bound, np.maximum(np.floor(seats) - people, 0.0))
    free = np.where(known, free, np.nan)

    status = np.where(~known, UNKNOWN, np.where(free >= 1, FREE, FULL)).astype(object)
    reason = np.full(seats.shape, "", dtype=object)
    reason[withheld] = WITHHELD
    reason[missing] = NO_READING
    reason[invalid] = INVALID_COUNT
    reason[stale] = STALE
    return FreeSeats(
        free_seats=free,
        suppressed=suppressed,
        status=status,
        reason=reason,
        people=np.where(known & ~suppressed, people, np.nan),
    )


def rank_by_free_seats(
    seats: FreeSeats, min_seats: int = 0, include_unknown: bool = True
) -> np.ndarray:
    """Indices of spaces, most free seats first; unknown spaces last, never ranked as free.

    A space qualifies when its free seats (the guaranteed lower bound, if
    suppressed) are at least ``min_seats``. Ties keep the input order (the
    registry's). Unknown spaces follow in input order when ``include_unknown``:
    they might have seats, but nobody can say.

    Example: free seats 75 (suppressed bound), 0, 79, unknown:

        >>> r = free_seats([79, 79, 79, 79], [3, 79, 0, 10], [60, 60, 60, 3600])
        >>> rank_by_free_seats(r).tolist()
        [2, 0, 1, 3]
        >>> rank_by_free_seats(r, min_seats=76, include_unknown=False).tolist()
        [2]
    """
    if isinstance(min_seats, bool) or not isinstance(min_seats, int | np.integer) or min_seats < 0:
        raise ValueError(f"min_seats must be a whole number >= 0, got {min_seats!r}")
    free = seats.free_seats
    known = ~np.isnan(free)
    qualifying = np.flatnonzero(known & (np.where(known, free, -1) >= min_seats))
    ranked = qualifying[np.argsort(-free[qualifying], kind="stable")]
    if include_unknown:
        ranked = np.concatenate([ranked, np.flatnonzero(~known)])
    return ranked.astype(np.int64)
