"""Small-count suppression of occupancy tables: what roles below facilities may see.

METRICS.md ("Privacy"): occupancy is counts only; exports and API answers for
roles below facilities suppress any count between 1 and k − 1 (k = 5 by
default) at the finest level published, space × interval; complementary
suppression keeps a suppressed room from being recovered by subtracting its
siblings from the building total; nothing finer than 15 minutes is published.

The practice followed is cell suppression for frequency tables as described
in Hundepool et al., *Statistical Disclosure Control* (Wiley 2012), ch. 4–5,
and the Eurostat/ESSnet *Handbook on Statistical Disclosure Control* (2010),
§4.2–4.3: a threshold rule marks the sensitive ("primary") cells; secondary
("complementary") suppressions follow so that the published margins do not
give a sensitive cell back; the intruder is assumed to know the published
table, the a-priori bounds of every cell *and the suppression algorithm*, and
the table is audited against that intruder. How it is done here:

The table. Per interval, a building's spaces are the cells and the building
total (the sum of the space cells that have data) is the margin. No campus
total is published, so the buildings' equations are independent.

1. **Primary suppression** (threshold rule): a cell with ``0 < value < k``.
   Resampled means count too: a 15-minute mean of 0.2 is one person for three
   minutes. The building total is a cell like the others.
2. **Zero stays zero.** A zero describes no person, so it discloses nothing
   about anyone, and suppressing zeros would only hide that a room was empty,
   the most common and most useful fact in utilisation research. The one
   place where a zero *does* say something about a person is a space whose
   capacity is below k (a one- to four-person office): there every non-zero
   count would be suppressed, so a published 0 next to a suppressed cell
   would tell when the office holder is in. Such spaces are therefore
   *withheld*: not published at all below facilities and not part of the
   building total (``withheld_spaces``). That is a registry fact, not a data
   value, so withholding reveals nothing.
3. **Complementary suppression**, per interval and building. The default
   (``complementary="total"``): when any space of a building is suppressed,
   the building total is suppressed too. Rooms [3, 10, 12] (k = 5) publish
   ``[–, 10, 12]`` and total ``–``. The choice depends only on *which* cells
   are primary, which the published table shows anyway, so even an intruder
   who knows this algorithm learns no more than "each suppressed room held 1 to
   k − 1 people". A published total then always equals the sum of its
   published rooms: it never carries information a room does not.

   The alternative (``complementary="siblings"``) keeps the total and
   suppresses the smallest non-zero siblings (ties in space order) until the
   suppressed cells pass an audit against an intruder who knows the published
   table and the a-priori bounds (Hundepool et al. §4.3): together they hold
   0 or at least k people, and each primary cell keeps a feasibility interval
   at least one person wide, from total = Σ cells with bounds primary ∈
   [1, k − 1] and complementary ∈ [k, min(capacity, m)], m being the smallest
   published non-zero sibling. When no sibling is left, the total is suppressed
   instead. Rooms [3, 10, 12] publish ``[–, –, 12]`` and total 25. It loses
   less, but it is *not* safe against an intruder who also knows the
   algorithm: rooms [4, 10, 10] publish ``[–, –, –]``, total 24, and only the
   values 4, 10, 10 (in some order) make the one-sibling audit fail, so a count
   of 4 comes back. That is why the total is the default.
4. **Resolution.** Suppression is decided on 15-minute cells
   (``FINEST_PUBLISHED``). A coarser interval is derived from those protected
   cells (``coarsen``): it is suppressed whenever any of its 15-minute cells
   is. Every coarser table is then a function of the published 15-minute one
   and cannot be differenced against it (an hourly mean minus three published
   quarters would otherwise give the fourth quarter back).
5. **Derived figures.** A figure computed from occupancy for a role below
   facilities (used seat-hours, utilisation, frequency and occupancy rate, a
   building's or the campus's total, a profile cell) is computed from the
   protected 15-minute space cells alone, so differencing any number of them
   gives back at most the published table. A suppressed cell counts as 0 people
   (``count_bounds``), which makes those figures lower bounds, and as k for an
   upper bound; how many cells were suppressed is stated beside the figure
   (``UseBounds``). A total is a sum of protected space cells, never a sum of
   exact counts, so it needs no complementary suppression of its own.

Other quantities: presence (a motion sensor's yes/no), CO₂, temperature and
humidity are not counts of people, so the threshold rule does not apply to their
values. Presence is presence, and CO₂ a proxy of it, in a small room, though, so in
withheld spaces (capacity < k) both are withheld with the occupancy
(``presence_proxy``). In a space of k seats or more, presence tells no more than the
published occupancy table does: a suppressed cell already says 0 < count < k, a zero
is published. Temperature and humidity are dominated by heating and ventilation and
are published.

Everything here is pure numpy; reading the store and writing files is the
API's and the CLI's business.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import IntEnum

import numpy as np

DEFAULT_K = 5
FINEST_PUBLISHED = timedelta(minutes=15)
# Quantities that count people (suppressed) and that betray presence in a small room (withheld).
COUNT_QUANTITIES = frozenset({"occupancy"})
PRESENCE_PROXIES = frozenset({"occupancy", "co2", "presence"})

COMPLEMENTARY_METHODS = ("total", "siblings")
RULES = {
    "total": (
        "Threshold rule with k = {k}: an occupancy cell (space x interval) or building total "
        "with 0 < value < {k} is suppressed (primary). Zeros are published. Complementary "
        "suppression: when any space of a building is suppressed in an interval, the "
        "building total of that interval is suppressed too, so no suppressed room can be "
        "recovered by subtraction. Spaces with capacity below {k} are withheld (never "
        "published, not in the totals). Decided on 15-minute cells; a coarser cell is "
        "suppressed when any of its 15-minute cells is."
    ),
    "siblings": (
        "Threshold rule with k = {k}: an occupancy cell (space x interval) or building total "
        "with 0 < value < {k} is suppressed (primary). Zeros are published. Complementary "
        "suppression per interval and building: while the suppressed cells could be "
        "narrowed below one person from the building total (or together hold fewer than "
        "{k} people), the smallest non-zero sibling is suppressed too, else the building "
        "total. Spaces with capacity below {k} are withheld (never published, not in the "
        "totals). Decided on 15-minute cells; a coarser cell is suppressed when any of its "
        "15-minute cells is."
    ),
}


class CellStatus(IntEnum):
    """What happened to one cell of a protected table."""

    MISSING = -1  # no data in this interval: no row is published
    PUBLISHED = 0
    PRIMARY = 1  # 0 < value < k
    COMPLEMENTARY = 2  # suppressed so that a primary cell cannot be recovered


@dataclass(frozen=True)
class ProtectedCounts:
    """An interval × space table and its building totals, after suppression.

    ``space_values`` and ``total_values`` hold the value to publish, NaN where the
    cell is suppressed or has no data; ``*_status`` says which (``CellStatus``).
    """

    space_values: np.ndarray  # (intervals, spaces) float64
    space_status: np.ndarray  # (intervals, spaces) int8
    total_values: np.ndarray  # (intervals, buildings) float64
    total_status: np.ndarray  # (intervals, buildings) int8
    k: int

    def count(self, status: CellStatus) -> int:
        """Cells with ``status``, spaces and building totals together."""
        return int(np.count_nonzero(self.space_status == status)) + int(
            np.count_nonzero(self.total_status == status)
        )

    @property
    def primary_cells(self) -> int:
        return self.count(CellStatus.PRIMARY)

    @property
    def complementary_cells(self) -> int:
        return self.count(CellStatus.COMPLEMENTARY)

    @property
    def published_cells(self) -> int:
        return self.count(CellStatus.PUBLISHED)


def check_k(k: int) -> int:
    """k as a whole number >= 3.

    k = 2 would suppress only the count 1, so a suppressed whole count would read as 1;
    k = 1 suppresses nothing (facilities see unsuppressed data through their role instead).
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 3:
        raise ValueError(f"k must be a whole number >= 3, got {k!r}")
    return int(k)


def small_counts(values: np.ndarray, k: int = DEFAULT_K) -> np.ndarray:
    """Which cells the threshold rule suppresses: 0 < value < k (NaN: no data, not small).

    >>> small_counts(np.array([0, 0.25, 1, 4, 4.9, 5, 12, np.nan]), k=5).tolist()
    [False, True, True, True, True, False, False, False]
    """
    k = check_k(k)
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return (values != 0) & (values < k) & ~np.isnan(values)


def withheld_spaces(capacities: np.ndarray, k: int = DEFAULT_K) -> np.ndarray:
    """Spaces never published below facilities: capacity < k, so any presence is a small count.

    >>> withheld_spaces(np.array([1, 4, 5, 280]), k=5).tolist()
    [True, True, False, False]
    """
    return np.asarray(capacities) < check_k(k)


def presence_proxy(quantity: str) -> bool:
    """Whether ``quantity`` betrays presence in a small room (withheld with its occupancy)."""
    return quantity in PRESENCE_PROXIES


def protect_counts(
    counts: np.ndarray,
    building_of: np.ndarray,
    capacities: np.ndarray,
    k: int = DEFAULT_K,
    buildings: int | None = None,
    complementary: str = "total",
) -> ProtectedCounts:
    """Suppress an interval × space occupancy table and its building totals (rules above).

    Args:
        counts: (intervals, spaces) occupancy in people (counts or resampled means);
            NaN where a space has no data in the interval. Withheld spaces must already
            be left out (``withheld_spaces``).
        building_of: (spaces,) index of each space's building, 0 … buildings − 1.
        capacities: (spaces,) seats; bounds a complementary cell in the audit.
        k: the threshold; counts 1 … k − 1 are suppressed.
        buildings: number of buildings (default: max(building_of) + 1).
        complementary: ``total`` (default) or ``siblings``; see the module docstring.

    Returns:
        ProtectedCounts; building totals are the sums of the spaces with data.

    Example (k = 5, one building, rooms [3, 10, 12] in one interval):

    >>> rooms, one_building, seats = np.array([[3.0, 10, 12]]), np.zeros(3, int), np.full(3, 40)
    >>> t = protect_counts(rooms, one_building, seats)
    >>> t.space_values.tolist(), t.total_values.tolist(), t.complementary_cells
    ([[nan, 10.0, 12.0]], [[nan]], 1)
    >>> t = protect_counts(rooms, one_building, seats, complementary="siblings")
    >>> t.space_values.tolist(), t.total_values.tolist(), t.complementary_cells
    ([[nan, nan, 12.0]], [[25.0]], 1)
    """
    k = check_k(k)
    if complementary not in COMPLEMENTARY_METHODS:
        raise ValueError(
            f"complementary must be one of {', '.join(COMPLEMENTARY_METHODS)}, "
            f"not {complementary!r}"
        )
    counts = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    building_of = np.asarray(building_of, dtype=np.intp)
    capacities = np.asarray(capacities, dtype=np.float64)
    spaces = counts.shape[1]
    if building_of.shape != (spaces,) or capacities.shape != (spaces,):
        raise ValueError("building_of and capacities need one entry per space (column)")
    groups = int(buildings if buildings is not None else (building_of.max() + 1 if spaces else 0))
    if spaces and (building_of.min() < 0 or building_of.max() >= groups):
        raise ValueError("building_of must index 0 … buildings − 1")

    present = ~np.isnan(counts)
    membership = np.zeros((spaces, groups))
    membership[np.arange(spaces), building_of] = 1.0
    totals = np.where(present, counts, 0.0) @ membership
    totals[(present.astype(np.float64) @ membership) == 0] = np.nan

    space_status = np.where(present, CellStatus.PUBLISHED, CellStatus.MISSING).astype(np.int8)
    space_status[small_counts(counts, k)] = CellStatus.PRIMARY
    total_status = np.where(np.isnan(totals), CellStatus.MISSING, CellStatus.PUBLISHED).astype(
        np.int8
    )
    total_status[small_counts(totals, k)] = CellStatus.PRIMARY

    primaries = (space_status == CellStatus.PRIMARY).astype(np.float64) @ membership
    needs_audit = (primaries > 0) & (total_status == CellStatus.PUBLISHED)
    if complementary == "total":
        total_status[needs_audit] = CellStatus.COMPLEMENTARY
        needs_audit[:] = False
    members = [np.flatnonzero(building_of == g) for g in range(groups)]
    for t, g in zip(*np.nonzero(needs_audit), strict=True):
        columns = members[g]
        extra, suppress_total = _complementary(
            counts[t, columns], space_status[t, columns], capacities[columns], k
        )
        space_status[t, columns[extra]] = CellStatus.COMPLEMENTARY
        if suppress_total:
            total_status[t, g] = CellStatus.COMPLEMENTARY

    space_values = np.where(space_status == CellStatus.PUBLISHED, counts, np.nan)
    total_values = np.where(total_status == CellStatus.PUBLISHED, totals, np.nan)
    return ProtectedCounts(space_values, space_status, total_values, total_status, k)


def _complementary(
    values: np.ndarray, status: np.ndarray, capacities: np.ndarray, k: int
) -> tuple[np.ndarray, bool]:
    """One building in one interval with a published total: which siblings to suppress.

    Returns (indices of complementary siblings, whether to suppress the total instead).
    """
    primary = np.flatnonzero(status == CellStatus.PRIMARY)
    candidates = np.flatnonzero((status == CellStatus.PUBLISHED) & (values != 0))
    # smallest first; a stable sort keeps ties in space order, as the audit assumes
    candidates = candidates[np.argsort(values[candidates], kind="stable")]
    for taken in range(len(candidates) + 1):
        chosen = candidates[:taken]
        if _audit_passes(values, primary, chosen, candidates[taken:], capacities, k):
            return chosen, False
    return candidates[:0], True


def _audit_passes(
    values: np.ndarray,
    primary: np.ndarray,
    chosen: np.ndarray,
    remaining: np.ndarray,
    capacities: np.ndarray,
    k: int,
) -> bool:
    """Whether the suppressed cells stay protected given the published total (module doc)."""
    suppressed_sum = float(values[primary].sum() + values[chosen].sum())
    if 0 < suppressed_sum < k:
        return False
    lower = np.concatenate((np.full(len(primary), 1.0), np.full(len(chosen), float(k))))
    upper = np.concatenate((np.full(len(primary), k - 1.0), capacities[chosen]))
    if len(chosen) and len(remaining):
        # the intruder knows every complementary cell sorted before the smallest published one
        smallest, smallest_index = values[remaining[0]], remaining[0]
        bound = np.where(chosen < smallest_index, smallest, smallest - 1.0)
        upper[len(primary) :] = np.minimum(upper[len(primary) :], bound)
    # feasibility interval of each primary cell i: s − Σ_{j≠i} upper_j … s − Σ_{j≠i} lower_j
    others_upper = upper.sum() - upper[: len(primary)]
    others_lower = lower.sum() - lower[: len(primary)]
    low = np.maximum(1.0, suppressed_sum - others_upper)
    high = np.minimum(k - 1.0, suppressed_sum - others_lower)
    return bool(np.all(high - low >= 1.0))


def coarsen(table: ProtectedCounts, bucket: np.ndarray, aggregate: str = "mean") -> ProtectedCounts:
    """A coarser table derived from protected 15-minute cells, so it discloses nothing more.

    Args:
        table: the protected 15-minute table.
        bucket: (intervals,) non-decreasing index of the coarse interval each row falls in.
        aggregate: ``mean``, ``max`` or ``min`` of the rows with data in a coarse interval.

    A coarse cell is suppressed when any of its 15-minute cells is (PRIMARY when one of
    them is primary, else COMPLEMENTARY), missing when none has data, else the aggregate
    of its published cells.

    >>> fine = protect_counts(np.array([[3.0, 10, 12], [20, 10, 12]]), np.zeros(3, int),
    ...                       np.full(3, 40.0))
    >>> hourly = coarsen(fine, np.array([0, 0]))
    >>> hourly.space_values.tolist(), hourly.total_values.tolist()
    ([[nan, 10.0, 12.0]], [[nan]])
    """
    bucket = np.asarray(bucket)
    if bucket.shape != (table.space_values.shape[0],):
        raise ValueError("bucket needs one entry per interval (row)")
    if len(bucket) and np.any(np.diff(bucket) < 0):
        raise ValueError("bucket must be non-decreasing")
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]]) if len(bucket) else bucket
    values, status = _coarsen_cells(table.space_values, table.space_status, starts, aggregate)
    totals, total_status = _coarsen_cells(table.total_values, table.total_status, starts, aggregate)
    return ProtectedCounts(values, status, totals, total_status, table.k)


_REDUCERS = {"mean": np.add, "max": np.fmax, "min": np.fmin}


def _coarsen_cells(
    values: np.ndarray, status: np.ndarray, starts: np.ndarray, aggregate: str
) -> tuple[np.ndarray, np.ndarray]:
    if aggregate not in _REDUCERS:
        raise ValueError(f"aggregate must be one of {', '.join(_REDUCERS)}, not {aggregate!r}")
    if values.shape[0] == 0:
        return values.copy(), status.copy()
    present = status != CellStatus.MISSING
    published = status == CellStatus.PUBLISHED
    any_present = np.logical_or.reduceat(present, starts, axis=0)
    any_primary = np.logical_or.reduceat(status == CellStatus.PRIMARY, starts, axis=0)
    any_suppressed = np.logical_or.reduceat(present & ~published, starts, axis=0)
    if aggregate == "mean":
        sums = np.add.reduceat(np.where(published, values, 0.0), starts, axis=0)
        n = np.add.reduceat(published.astype(np.float64), starts, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            coarse = sums / n
    else:
        coarse = _REDUCERS[aggregate].reduceat(np.where(published, values, np.nan), starts, axis=0)
    coarse_status = np.full(coarse.shape, CellStatus.MISSING, dtype=np.int8)
    coarse_status[any_present] = CellStatus.PUBLISHED
    coarse_status[any_suppressed] = CellStatus.COMPLEMENTARY
    coarse_status[any_primary] = CellStatus.PRIMARY
    coarse = np.where(coarse_status == CellStatus.PUBLISHED, coarse, np.nan)
    return coarse, coarse_status


def unprotected(
    counts: np.ndarray, building_of: np.ndarray, buildings: int | None = None
) -> ProtectedCounts:
    """The same table shape with nothing suppressed: what facilities see.

    Building totals are the sums of the spaces with data, as in ``protect_counts``.
    """
    counts = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    building_of = np.asarray(building_of, dtype=np.intp)
    spaces = counts.shape[1]
    groups = int(buildings if buildings is not None else (building_of.max() + 1 if spaces else 0))
    present = ~np.isnan(counts)
    membership = np.zeros((spaces, groups))
    membership[np.arange(spaces), building_of] = 1.0
    totals = np.where(present, counts, 0.0) @ membership
    totals[(present.astype(np.float64) @ membership) == 0] = np.nan
    status = np.where(present, CellStatus.PUBLISHED, CellStatus.MISSING).astype(np.int8)
    total_status = np.where(np.isnan(totals), CellStatus.MISSING, CellStatus.PUBLISHED)
    return ProtectedCounts(counts, status, totals, total_status.astype(np.int8), k=0)


# -- figures derived from the protected cells ---------------------------------------------
#
# Below facilities, a figure computed from occupancy (used seat-hours, utilisation, ...) is
# computed from the protected 15-minute cells and from nothing else, so it can tell no more
# than those cells do: an intruder who differences any number of such figures (windows an
# hour apart, a building against its rooms, the campus against its buildings) learns at
# most the published table. A suppressed cell is known to hold 0 < count < k; it is counted
# at a fixed value, 0 for the figures (a lower bound) and k for an upper bound, never at its
# count. Ref.: Hundepool et al. (2012) §4.3: an intruder knows the published table and the
# a-priori bounds of every cell, here [1, k − 1] for a suppressed one (a fraction for a mean).


@dataclass(frozen=True)
class CountBounds:
    """What a protected table tells about the counts of coarser intervals (rows) per space.

    Attributes:
        lower: the coarse aggregate with every suppressed cell counted as 0 people; NaN
            where no cell of the interval has data. Missing cells are left out, as in
            ``coarsen``.
        upper: the same with every suppressed cell counted as k people. A suppressed cell
            holds less than k, so the unsuppressed aggregate is below ``upper`` (and at
            least ``lower``) when ``suppressed`` > 0, and equals ``lower`` otherwise.
        suppressed: suppressed cells in the interval (primary or complementary), int64.
    """

    lower: np.ndarray  # (coarse intervals, spaces) float64
    upper: np.ndarray  # (coarse intervals, spaces) float64
    suppressed: np.ndarray  # (coarse intervals, spaces) int64


def count_bounds(
    table: ProtectedCounts, bucket: np.ndarray, aggregate: str = "mean", k: int | None = None
) -> CountBounds:
    """Bounds of each coarse interval's mean, max or min count, from protected space cells.

    Unlike ``coarsen``, which suppresses a coarse cell when any of its cells is, this
    keeps the cells that are published and puts each suppressed one at a fixed value
    (0, then k), so that an hourly figure can be shown for every hour while depending
    on the published table alone.

    Args:
        table: a protected table (``protect_counts``); only its space cells are used.
        bucket: (intervals,) non-decreasing index of the coarse interval of each row.
        aggregate: ``mean`` (of the cells with data), ``max`` or ``min``.
        k: the threshold the table was protected with (default: ``table.k``).

    Example (k = 5): one space's hour of quarters [3, 0, 0, 0] is published as
    [–, 0, 0, 0]: its hourly mean is at least 0 and below 5/4 people.

    >>> t = protect_counts(np.array([[3.0], [0], [0], [0]]), np.zeros(1, int), np.full(1, 22.0))
    >>> b = count_bounds(t, np.zeros(4, int))
    >>> b.lower.tolist(), b.upper.tolist(), b.suppressed.tolist()
    ([[0.0]], [[1.25]], [[1]])
    """
    if aggregate not in _REDUCERS:
        raise ValueError(f"aggregate must be one of {', '.join(_REDUCERS)}, not {aggregate!r}")
    k = table.k if k is None else check_k(k)
    bucket = np.asarray(bucket)
    values, status = table.space_values, table.space_status
    if bucket.shape != (values.shape[0],):
        raise ValueError("bucket needs one entry per interval (row)")
    if len(bucket) and np.any(np.diff(bucket) < 0):
        raise ValueError("bucket must be non-decreasing")
    if values.shape[0] == 0:
        empty = np.zeros((0, values.shape[1]))
        return CountBounds(empty, empty.copy(), empty.astype(np.int64))
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    present = status != CellStatus.MISSING
    published = status == CellStatus.PUBLISHED
    suppressed = np.add.reduceat((present & ~published).astype(np.int64), starts, axis=0)
    lower, upper = (
        _aggregate_with(values, present, published, fill, starts, aggregate)
        for fill in (0.0, float(k))
    )
    return CountBounds(lower, np.where(suppressed > 0, upper, lower), suppressed)


def _aggregate_with(
    values: np.ndarray,
    present: np.ndarray,
    published: np.ndarray,
    fill: float,
    starts: np.ndarray,
    aggregate: str,
) -> np.ndarray:
    """The coarse aggregate with each suppressed cell at ``fill`` (missing cells left out)."""
    cells = np.where(published, values, np.where(present, fill, np.nan))
    if aggregate != "mean":
        return _REDUCERS[aggregate].reduceat(cells, starts, axis=0)
    sums = np.add.reduceat(np.where(present, cells, 0.0), starts, axis=0)
    n = np.add.reduceat(present.astype(np.float64), starts, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, sums / np.where(n > 0, n, 1.0), np.nan)


@dataclass(frozen=True)
class UseBounds:
    """How exact the use figures of some spaces are when suppressed cells count as 0.

    Attributes:
        suppressed_cells: suppressed 15-minute cells behind the figures.
        used_seat_hours_upper: Σ n_h over the same room-hours with suppressed cells at k
            people, person-hours: the used seat-hours are below it (equal when nothing
            was suppressed).
    """

    suppressed_cells: int
    used_seat_hours_upper: float

    @property
    def lower_bound(self) -> bool:
        """True when the figures rest on a suppressed cell, so they are lower bounds."""
        return self.suppressed_cells > 0


@dataclass(frozen=True)
class ProtectedUse:
    """Hourly occupancy bounds of several spaces, from their protected 15-minute cells.

    Attributes:
        space_ids: the spaces (columns of the bounds).
        core: (hours,) True for the site's core hours.
        by_rule: bounds of n_h by the site's hourly rule (mean or peak of the quarters).
        at_peak: bounds of the hour's peak (max of the 15-minute max cells).
    """

    space_ids: tuple[str, ...]
    core: np.ndarray  # (hours,) bool
    by_rule: CountBounds
    at_peak: CountBounds

    def bounds(
        self, space_ids: Sequence[str], *, at_peak: bool = False, core_only: bool = True
    ) -> UseBounds:
        """The bounds of the figures of ``space_ids`` pooled (core hours, or all hours)."""
        columns = [self.space_ids.index(s) for s in space_ids]
        counts = self.at_peak if at_peak else self.by_rule
        hours = self.core if core_only else np.ones(self.core.shape, dtype=bool)
        upper = counts.upper[np.ix_(hours, columns)]
        return UseBounds(
            suppressed_cells=int(counts.suppressed[np.ix_(hours, columns)].sum()),
            used_seat_hours_upper=float(np.nansum(upper)),
        )
