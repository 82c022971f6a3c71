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
"""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
from fastapi import Depends

from campuslab.analytics.privacy import small_counts, withheld_spaces
from campuslab.api.security import PrincipalDep


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
