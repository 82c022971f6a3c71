"""Who sees exact occupancy counts, and what everyone else is shown instead.

METRICS.md ("Privacy"): answers for roles below facilities suppress any
occupancy count between 1 and k − 1 (k = 5 by default), by the threshold rule
of ``campuslab.analytics.privacy`` (0 < count < k), and withhold spaces with
fewer than k seats altogether. The overview page,
the live stream and the free-seat finder are public, so they serve both kinds
of caller and ask ``caller_sees_exact_counts`` which one this is.

``caller_sees_exact_counts`` is the one place that decides, from the
caller's principal (``campuslab.api.security``): only facilities and admin
keys see exact counts; no key is public and sees suppressed ones. Tests swap
it with ``app.dependency_overrides[caller_sees_exact_counts]``.

``protected_occupancy`` is what the utilisation routes compute from below
facilities: the hourly occupancy of some spaces derived from the very
15-minute cells that the export publishes for them (read and protected by
``routers.exports.protected_windows``), each suppressed cell counted as 0
people, with the bounds that come with that (``analytics.privacy.count_bounds``).
So every figure computed from it (used seat-hours, utilisation, rates, a
building's or the campus's totals, the profile) is a function of the published
table, and no difference of such figures gives a suppressed count back.
``protected_occupant_hours`` does the same for a building's occupant-hours and
used seat-hours (the energy route's use intensity), and ``ProtectedReader``
hands both to ``analytics.report.planner_report``, which may not import the API.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import numpy as np
from fastapi import Depends

from campuslab.analytics.energy_kpis import OccupantHours
from campuslab.analytics.kpis import hour_grid, observation_aggregate
from campuslab.analytics.learning_spaces import HourlyOccupancy
from campuslab.analytics.privacy import (
    FINEST_PUBLISHED,
    CountBounds,
    ProtectedUse,
    count_bounds,
    small_counts,
    withheld_spaces,
)
from campuslab.analytics.utilisation import UtilisationResult, core_hours_mask, core_utilisation
from campuslab.api.routers.exports import ExportPlan, OpenDataSettings, protected_windows
from campuslab.api.security import PrincipalDep
from campuslab.core.registry import Building, Campus, Space
from campuslab.core.store.port import Aggregate, ReadingStore


def caller_sees_exact_counts(principal: PrincipalDep) -> bool:
    """Whether the caller may see exact occupancy counts: facilities and admin keys only."""
    return principal.sees_unsuppressed


ExactCountsDep = Annotated[bool, Depends(caller_sees_exact_counts)]

NOT_SHOWN = "not shown"


def withheld(capacity: int, *, k: int, exact: bool) -> bool:
    """A space with fewer than k seats shows no occupancy (nor CO₂) below facilities.

    Any presence there is a small count, so even a 0 would tell when its
    occupant is in (``campuslab.analytics.privacy.withheld_spaces``).
    """
    return not exact and bool(withheld_spaces(np.array([capacity]), k)[0])


def people_text(count: float, capacity: int, *, k: int, exact: bool) -> str:
    """The people cell: "120 / 280", or "fewer than 5" for a suppressed count.

    Exact viewers see the count as stored. Everyone else sees whole people
    (rounded up, as the free-seat rule counts them), no number at all for a
    count with 0 < count < k, and nothing for a withheld space.

    >>> people_text(3, 40, k=5, exact=False), people_text(3, 40, k=5, exact=True)
    ('fewer than 5', '3 / 40')
    >>> people_text(0, 40, k=5, exact=False), people_text(11.2, 40, k=5, exact=False)
    ('0 / 40', '12 / 40')
    >>> people_text(0, 2, k=5, exact=False)
    'not shown'
    """
    if exact:
        return f"{count:g} / {capacity}"
    if withheld(capacity, k=k, exact=exact):
        return NOT_SHOWN
    if bool(small_counts(np.array([count]), k)[0]):
        return f"fewer than {k}"
    people = math.ceil(count) if math.isfinite(count) else count
    return f"{people:g} / {capacity}"


def utilisation_shown(used_seat_hours: float, *, k: int, exact: bool) -> bool:
    """Whether today's utilisation may be shown: not when its person-hours are a small count.

    Utilisation is used seat-hours over available seat-hours, so with the
    capacity and the hours it gives the person-hours back; 0 < person-hours < k
    is held back like a small count.
    """
    return exact or not bool(small_counts(np.array([used_seat_hours]), k)[0])


# -- utilisation below facilities: from the published 15-minute cells ----------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HOUR = timedelta(hours=1)
_US = timedelta(microseconds=1)


@dataclass(frozen=True)
class ProtectedOccupancy:
    """Hourly occupancy of some spaces as a role below facilities may know it.

    Attributes:
        hourly: n_h and the hour's peak per space and hour, each the lower bound from
            the published 15-minute cells (suppressed cells at 0); what every figure
            below facilities is computed from. ``points_excluded`` is 0: the published
            cells are the export's, which leave no flagged reading out.
        use: the bounds behind those figures (suppressed cells, upper bounds).
    """

    hourly: HourlyOccupancy
    use: ProtectedUse


def protected_occupancy(
    store: ReadingStore,
    campus: Campus,
    settings: OpenDataSettings,
    start: datetime,
    end: datetime,
    now: datetime,
    space_ids: Sequence[str],
    *,
    hourly_peak: bool = True,
) -> ProtectedOccupancy:
    """The hourly occupancy of ``space_ids`` derived from their published 15-minute cells.

    The period is widened to whole UTC hours, as for facilities (``kpis.hour_grid``),
    and ends at the last complete quarter before ``now``, as the export does: an
    unfinished quarter would change between requests and could be differenced.
    One protected read per aggregate (the site's hourly rule, and the hour's peak)
    for every column at once, window by window, through the export's own
    ``protected_windows``. With complementary suppression of totals (the default),
    a space's cells do not depend on its siblings, so only ``space_ids`` are read;
    with ``siblings`` every listed space of their buildings is, as the export does.

    Args:
        store: the reading store.
        campus: the registry (time zone, core hours, hourly rule).
        settings: the export's k and complementary method.
        start, end: the period, timezone-aware; half-open.
        now: the clock, which ends what is published.
        space_ids: the spaces, none of them withheld (capacity >= k).
        hourly_peak: also read the hour's peak (``at_hourly_peak`` figures); without it,
            and with the site observing the hourly mean, ``peaks`` and ``use.at_peak``
            hold the mean's bounds instead (one read less, for answers without them).
    """
    first, last_end, grid = hour_grid(start.astimezone(UTC), end.astimezone(UTC))
    spaces = [campus.space(space_id) for space_id in space_ids]
    columns = _columns(campus, spaces, settings)
    rule = observation_aggregate(campus)
    published = (first, last_end, now, grid.size)
    by_rule = _hourly_bounds(store, settings, *published, columns, rule)
    at_peak = (
        by_rule
        if rule is Aggregate.MAX or not hourly_peak
        else _hourly_bounds(store, settings, *published, columns, Aggregate.MAX)
    )
    wanted = [[space.id for _, space in columns].index(space.id) for space in spaces]
    by_rule, at_peak = _take(by_rule, wanted), _take(at_peak, wanted)
    site_settings = campus.analytics
    core = (
        core_hours_mask(grid, campus.tz, site_settings.core_hours)
        if grid.size
        else np.zeros(0, dtype=bool)
    )
    hourly = HourlyOccupancy(
        period_start=first,
        period_end=last_end,
        hour_starts=grid,
        core=core,
        space_ids=tuple(space.id for space in spaces),
        capacities=np.array([float(space.capacity) for space in spaces]),
        counts=by_rule.lower.T.copy(),
        peaks=at_peak.lower.T.copy(),
        hourly_observation=site_settings.hourly_observation,
        points_excluded=np.zeros((len(spaces), grid.size), dtype=np.int64),
    )
    return ProtectedOccupancy(hourly, ProtectedUse(hourly.space_ids, core, by_rule, at_peak))


def protected_space_utilisation(
    campus: Campus, occupancy: ProtectedOccupancy, space_id: str
) -> UtilisationResult:
    """SMG 2006 figures of one space over the core hours, from its protected hours."""
    hourly = occupancy.hourly
    row = hourly.row(space_id)
    settings = campus.analytics
    return core_utilisation(
        hourly.hour_starts,
        hourly.counts[row],
        hourly.capacities[row],
        campus.tz,
        settings.core_hours,
        settings.in_use_threshold,
    )


def protected_occupant_hours(
    store: ReadingStore,
    campus: Campus,
    settings: OpenDataSettings,
    start: datetime,
    end: datetime,
    now: datetime,
    building: Building,
) -> OccupantHours:
    """A building's occupant-hours and used seat-hours from its published 15-minute cells.

    As ``energy_kpis`` defines them (occupant-hours: Σ hourly mean headcount, all
    hours; used seat-hours: Σ n_h by the site's rule, core hours), over the spaces
    with k seats or more, each suppressed cell counted as 0 people (lower bounds)
    and, for the upper bounds, as k. Period and end as ``protected_occupancy``.
    """
    withheld = tuple(s.id for s in building.spaces if s.capacity < settings.k)
    space_ids = [s.id for s in building.spaces if s.capacity >= settings.k]
    if not space_ids:
        return OccupantHours(
            0.0, 0.0, occupant_hours_upper=0.0, used_seat_hours_upper=0.0, withheld=withheld
        )
    occupancy = protected_occupancy(
        store, campus, settings, start, end, now, space_ids, hourly_peak=False
    )
    use = occupancy.use
    means = use.by_rule
    if observation_aggregate(campus) is not Aggregate.MEAN:
        hourly = occupancy.hourly
        published = (hourly.period_start, hourly.period_end, now, hourly.hour_starts.size)
        columns = _columns(campus, [campus.space(s) for s in space_ids], settings)
        means = _hourly_bounds(store, settings, *published, columns, Aggregate.MEAN)
        means = _take(means, [[s.id for _, s in columns].index(s) for s in space_ids])
    seats = use.bounds(space_ids)
    return OccupantHours(
        occupant_hours=float(np.nansum(means.lower)),
        used_seat_hours=float(np.nansum(use.by_rule.lower[use.core])),
        points_excluded=0,
        suppressed_cells=int(means.suppressed.sum()),
        used_seat_hours_suppressed_cells=seats.suppressed_cells,
        occupant_hours_upper=float(np.nansum(means.upper)),
        used_seat_hours_upper=seats.used_seat_hours_upper,
        withheld=withheld,
    )


@dataclass(frozen=True)
class ProtectedReader:
    """Occupancy as a role below facilities may know it, for ``planner_report``.

    The report lives in ``analytics`` and may not import the API, so the CLI hands
    it this reader (``analytics.report.ProtectedCells``): the same functions the
    utilisation and energy routes call, with the same settings and clock.
    """

    store: ReadingStore
    campus: Campus
    settings: OpenDataSettings
    now: datetime

    def hourly(
        self, space_ids: Sequence[str], start: datetime, end: datetime
    ) -> tuple[HourlyOccupancy, ProtectedUse]:
        occupancy = protected_occupancy(
            self.store, self.campus, self.settings, start, end, self.now, space_ids
        )
        return occupancy.hourly, occupancy.use

    def occupant_hours(self, building: Building, start: datetime, end: datetime) -> OccupantHours:
        return protected_occupant_hours(
            self.store, self.campus, self.settings, start, end, self.now, building
        )


def _columns(
    campus: Campus, spaces: list[Space], settings: OpenDataSettings
) -> list[tuple[Building, Space]]:
    """The export's columns that decide the spaces' cells (see ``protected_occupancy``)."""
    if settings.complementary == "total":
        return [(campus.building_of(space.id), space) for space in spaces]
    buildings = {campus.building_of(space.id).id for space in spaces}
    return [
        (building, space)
        for building, space in campus.spaces()
        if building.id in buildings and space.capacity >= settings.k
    ]


def _hourly_bounds(
    store: ReadingStore,
    settings: OpenDataSettings,
    first: datetime,
    last_end: datetime,
    now: datetime,
    hours: int,
    columns: list[tuple[Building, Space]],
    aggregate: Aggregate,
) -> CountBounds:
    """Bounds per hour (rows) and column from the protected quarters of [first, last_end)."""
    shape = (hours, len(columns))
    lower, upper = np.full(shape, np.nan), np.full(shape, np.nan)
    suppressed = np.zeros(shape, dtype=np.int64)
    published_end = min(last_end, _EPOCH + ((now - _EPOCH) // FINEST_PUBLISHED) * FINEST_PUBLISHED)
    if published_end <= first or not columns:
        return CountBounds(lower, upper, suppressed)
    buildings = tuple({b.id: b for b, _ in columns}.values())
    plan = ExportPlan(
        quantity="occupancy",
        start=first,
        end=published_end,
        requested_start=first,
        requested_end=last_end,
        every=FINEST_PUBLISHED,
        aggregate=aggregate,
        buildings=buildings,
        spaces=tuple(columns),
        meters=(),
        withheld=(),
        protected=True,
        k=settings.k,
        complementary=settings.complementary,
    )
    first_us, hour_us = (first - _EPOCH) // _US, _HOUR // _US
    for window in protected_windows(store, plan):
        bucket = (window.starts_us - first_us) // hour_us
        bounds = count_bounds(window.table, bucket, aggregate.value, settings.k)
        rows = np.unique(bucket)
        lower[rows], upper[rows], suppressed[rows] = bounds.lower, bounds.upper, bounds.suppressed
    return CountBounds(lower, upper, suppressed)


def _take(bounds: CountBounds, columns: list[int]) -> CountBounds:
    return CountBounds(
        bounds.lower[:, columns], bounds.upper[:, columns], bounds.suppressed[:, columns]
    )
