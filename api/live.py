"""The live state of the campus: what the overview page shows, and the stream that updates it.

Three parts, each used by the overview page, the free-seat finder and the
event stream, so the page, the JSON and the live updates always agree:

1. **Reading the state** (``read_campus_state``): one ``store.latest()`` for the
   newest reading of every sensor, one batched ``campus_utilisation_today`` (exact,
   for facilities) and one batched ``protected_utilisation_today`` (for everyone
   else: from the published 15-minute cells of today's complete quarters, as the
   export gives them, so reading the page an hour or a quarter apart gives back
   no suppressed count; METRICS.md, Privacy).
2. **Views** (``campus_view``, ``availability``): the state as the cells of the
   page and the entries of the free-study-space panel, for one audience.
   Viewers below facilities get k-suppressed counts (``privacy_counts``), and
   utilisation figures that are lower bounds say "at least".
3. **The feed** (``LiveFeed``): one shared producer per app reads the state
   every ``poll_every`` (2 s), diffs the views against the previous ones and
   pushes only the changed spaces to every connected client as server-sent
   events. The store is read once per interval whatever the number of
   clients, and not at all when nobody listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import secrets
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Annotated, Any

import numpy as np
from fastapi import Depends, FastAPI, Request

from campuslab.analytics.availability import (
    FREE,
    FULL,
    INVALID_COUNT,
    NO_READING,
    STALE,
    WITHHELD,
    free_seats,
    rank_by_free_seats,
    stale_readings,
)
from campuslab.analytics.ieq import CATEGORY_NAMES, co2_category
from campuslab.analytics.kpis import campus_utilisation_today
from campuslab.analytics.privacy import DEFAULT_K, UseBounds, check_k, presence_proxy
from campuslab.analytics.utilisation import UtilisationResult
from campuslab.api.privacy_counts import (
    NOT_SHOWN,
    people_text,
    protected_occupancy,
    protected_space_utilisation,
    utilisation_shown,
    withheld,
)
from campuslab.api.routers.exports import OpenDataSettings
from campuslab.core.readings import LatestReading, isoformat_utc
from campuslab.core.registry import Building, Campus, Space, SpaceType
from campuslab.core.store.port import ReadingStore

log = logging.getLogger("campuslab.api")


@dataclass(frozen=True)
class LiveSettings:
    """Settings of the overview page, the live stream and the free-seat finder.

    Attributes:
        suppression_k: counts with 0 < count < k are suppressed, and spaces with fewer
            than k seats withheld, for viewers below facilities (METRICS.md, Privacy;
            ``campuslab.analytics.privacy``; default 5, at least 3).
        stale_after: a space whose latest occupancy is older than this is "unknown",
            never free. 15 minutes: sensors here report every 1–5 minutes, so this is
            at least three missed reports, while a study room can fill up within a
            quarter of an hour, so an older count is no answer to "is there a seat
            now?". Raise it for sensors that report less often (LoRaWAN counters
            every 10–15 min: use about twice their interval).
        poll_every: how often the shared producer reads ``store.latest()``.
        utilisation_every: how often, at most, it recomputes today's utilisation (one
            ``read_resampled`` over all spaces, and one protected read of their
            15-minute cells): when an occupancy reading has changed, and at least once a
            minute (the hour turns, core hours begin).
        heartbeat_every: a comment line is sent after this long without events, so
            proxies and browsers keep an idle stream open.
        max_clients: concurrent stream clients; more get 503 with Retry-After.
        client_queue: events held for a slow client; beyond that it is sent a fresh
            snapshot instead of the backlog.
        replay_events: events kept to replay to a client reconnecting with
            Last-Event-ID; an older id gets a snapshot.
        retry: the reconnection delay the stream tells browsers to use.
    """

    suppression_k: int = DEFAULT_K
    stale_after: timedelta = timedelta(minutes=15)
    poll_every: timedelta = timedelta(seconds=2)
    utilisation_every: timedelta = timedelta(seconds=10)
    heartbeat_every: timedelta = timedelta(seconds=15)
    max_clients: int = 100
    client_queue: int = 32
    replay_events: int = 64
    retry: timedelta = timedelta(seconds=3)

    def __post_init__(self) -> None:
        check_k(self.suppression_k)  # a whole number >= 3, as everywhere counts are suppressed
        for name in ("stale_after", "poll_every", "utilisation_every", "heartbeat_every", "retry"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} must be positive")
        for name in ("max_clients", "client_queue", "replay_events"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")


DEFAULT_LIVE_SETTINGS = LiveSettings()
UTILISATION_AT_LEAST_EVERY = timedelta(minutes=1)


async def get_live_settings(request: Request) -> LiveSettings:
    """``app.state.live_settings`` when the app has them, else the defaults."""
    return getattr(request.app.state, "live_settings", None) or DEFAULT_LIVE_SETTINGS


LiveSettingsDep = Annotated[LiveSettings, Depends(get_live_settings)]


# -- 1. reading the state ------------------------------------------------------------------


@dataclass(frozen=True)
class ProtectedToday:
    """Today's utilisation of one space as a viewer below facilities may know it.

    ``result`` comes from the space's published 15-minute cells of today's complete
    quarters, each suppressed cell counted as 0 people; ``bounds`` says how many were.
    """

    result: UtilisationResult
    bounds: UseBounds


@dataclass(frozen=True)
class TodaysUtilisation:
    """Today's utilisation for each audience; None where it could not be computed."""

    exact: dict[str, UtilisationResult] | None
    protected: dict[str, ProtectedToday] | None


@dataclass(frozen=True)
class CampusState:
    """The newest reading of every sensor, and today's utilisation, at ``taken_at``."""

    taken_at: datetime
    by_space: dict[str, dict[str, LatestReading]]
    co2_categories: dict[str, int]
    utilisation: dict[str, UtilisationResult] | None  # None: could not be computed
    newest: datetime | None
    protected_utilisation: dict[str, ProtectedToday] | None = None  # below facilities

    def utilisation_of(
        self, space_id: str, exact: bool
    ) -> UtilisationResult | ProtectedToday | None:
        """The audience's utilisation of a space: exact, or from the published cells."""
        found = self.utilisation if exact else self.protected_utilisation
        return None if found is None else found.get(space_id)

    def utilisation_failed(self, exact: bool) -> bool:
        return (self.utilisation if exact else self.protected_utilisation) is None


def group_by_space(readings: Sequence[LatestReading]) -> dict[str, dict[str, LatestReading]]:
    by_space: dict[str, dict[str, LatestReading]] = {}
    for reading in readings:
        by_space.setdefault(reading.sensor, {})[reading.quantity] = reading
    return by_space


def _co2_categories(
    by_space: dict[str, dict[str, LatestReading]], campus: Campus
) -> dict[str, int]:
    with_co2 = [(sid, q["co2"].value) for sid, q in by_space.items() if "co2" in q]
    if not with_co2:
        return {}
    categories = co2_category(np.array([v for _, v in with_co2]), campus.analytics.outdoor_co2_ppm)
    return {sid: int(c) for (sid, _), c in zip(with_co2, categories.tolist(), strict=True)}


def utilisation_today(
    store: ReadingStore, campus: Campus, now: datetime
) -> dict[str, UtilisationResult] | None:
    """Today's utilisation of every space, or None (logged) when it cannot be computed."""
    try:
        return campus_utilisation_today(store, campus, now)
    except Exception:
        log.exception("overview: today's utilisation could not be computed")
        return None


def protected_utilisation_today(
    store: ReadingStore, campus: Campus, now: datetime, cells: OpenDataSettings
) -> dict[str, ProtectedToday] | None:
    """Today's utilisation of every space with k seats or more, from the published cells.

    Local midnight to the last complete quarter before ``now``, as the export publishes
    it (``privacy_counts.protected_occupancy``): an unfinished quarter would change
    between two looks at the page and could be differenced. One protected read for all
    spaces. None (logged) when it cannot be computed.
    """
    try:
        midnight = datetime.combine(now.astimezone(campus.tz).date(), time(0), campus.tz)
        end = max(now, midnight + timedelta(microseconds=1))
        spaces = [space.id for _, space in campus.spaces() if space.capacity >= cells.k]
        occupancy = protected_occupancy(
            store, campus, cells, midnight, end, now, spaces, hourly_peak=False
        )
        return {
            space_id: ProtectedToday(
                protected_space_utilisation(campus, occupancy, space_id),
                occupancy.use.bounds([space_id]),
            )
            for space_id in spaces
        }
    except Exception:
        log.exception("overview: today's protected utilisation could not be computed")
        return None


def cells_settings(settings: LiveSettings, open_data: OpenDataSettings | None) -> OpenDataSettings:
    """The export's settings (complementary method) with the page's threshold k."""
    return replace(open_data or OpenDataSettings(), k=settings.suppression_k)


def todays_utilisation(
    store: ReadingStore,
    campus: Campus,
    now: datetime,
    cells: OpenDataSettings,
    audiences: Sequence[bool] = (True, False),
) -> TodaysUtilisation:
    """Today's utilisation for the audiences asked for (True: exact, False: protected)."""
    return TodaysUtilisation(
        exact=utilisation_today(store, campus, now) if True in audiences else None,
        protected=(
            protected_utilisation_today(store, campus, now, cells) if False in audiences else None
        ),
    )


def campus_state(
    readings: Sequence[LatestReading],
    utilisation: TodaysUtilisation,
    campus: Campus,
    now: datetime,
) -> CampusState:
    by_space = group_by_space(readings)
    return CampusState(
        taken_at=now,
        by_space=by_space,
        co2_categories=_co2_categories(by_space, campus),
        utilisation=utilisation.exact,
        newest=max((r.ts for r in readings), default=None),
        protected_utilisation=utilisation.protected,
    )


def read_campus_state(
    store: ReadingStore,
    campus: Campus,
    now: datetime,
    cells: OpenDataSettings | None = None,
    audiences: Sequence[bool] = (True, False),
) -> CampusState:
    """The state: ``latest()``, and today's utilisation for the ``audiences`` asked for."""
    readings = store.latest()
    today = todays_utilisation(store, campus, now, cells or OpenDataSettings(), audiences)
    return campus_state(readings, today, campus, now)


# -- 2. views ---------------------------------------------------------------------------------


def local_time(moment: datetime, now: datetime, campus: Campus) -> str:
    """ "11:44" for today (site time zone), else "25 Nov 2026 11:44"."""
    local = moment.astimezone(campus.tz)
    if local.date() == now.astimezone(campus.tz).date():
        return local.strftime("%H:%M")
    return f"{local.day} {local.strftime('%b %Y %H:%M')}"


def age_text(age_s: float) -> str:
    """How old a reading is, for people: "just now", "4 min ago", "3 h ago", "2 days ago"."""
    if age_s < 60:
        return "just now"
    if age_s < 3600:
        return f"{int(age_s // 60)} min ago"
    if age_s < 2 * 86400:
        return f"{int(age_s // 3600)} h ago"
    return f"{int(age_s // 86400)} days ago"


@dataclass
class SpaceRow:
    """One row of the overview table. Every field after ``capacity`` is updated live."""

    id: str
    name: str
    space_type: str
    capacity: int
    people: str | None = None
    co2: str | None = None
    co2_category: str | None = None
    temperature: str | None = None
    utilisation: str | None = None
    utilisation_note: str = ""
    last_reading: str | None = None
    last_reading_iso: str | None = None
    stale: bool = False
    stale_since: dict[str, str] = field(default_factory=dict)

    def live_fields(self) -> dict[str, Any]:
        fields = asdict(self)
        for static in ("id", "name", "space_type", "capacity"):
            del fields[static]
        return fields


@dataclass
class BuildingSection:
    id: str
    name: str
    rows: list[SpaceRow] = field(default_factory=list)


def _utilisation_cells(
    row: SpaceRow, today: UtilisationResult | ProtectedToday | None, k: int, exact: bool
) -> None:
    """Exact figures for facilities; below, the published cells' figures, "at least" when
    a suppressed quarter (counted as 0 people) is behind them."""
    result = today.result if isinstance(today, ProtectedToday) else today
    lower = isinstance(today, ProtectedToday) and today.bounds.lower_bound
    if result is None:
        row.utilisation_note = "not computed"
    elif result.available_hours == 0 or not math.isfinite(result.utilisation):
        row.utilisation_note = (
            "no core hours with data yet today"
            if not result.hours_without_data
            else f"no data for {result.hours_without_data} core h"
        )
    elif lower and result.used_seat_hours == 0:
        row.utilisation_note = f"under {k} people at a time so far"
    elif not lower and not utilisation_shown(result.used_seat_hours, k=k, exact=exact):
        row.utilisation_note = f"under {k} person-hours so far"
    elif lower:
        row.utilisation = f"at least {math.floor(result.utilisation * 100 + 1e-9):.0f} %"
        row.utilisation_note = (
            f"in use at least {result.in_use_hours} of {result.available_hours} h"
        )
    else:
        row.utilisation = f"{result.utilisation * 100:.0f} %"
        row.utilisation_note = f"in use {result.in_use_hours} of {result.available_hours} h"


def reading_age_s(reading: LatestReading, now: datetime) -> float:
    """Seconds since ``reading`` (0 for a sensor clock ahead of ours)."""
    return max((now - reading.ts).total_seconds(), 0.0)


def is_stale(reading: LatestReading, now: datetime, settings: LiveSettings) -> bool:
    """``analytics.availability.stale_readings`` for one sensor's latest reading."""
    age = reading_age_s(reading, now)
    return bool(stale_readings([age], settings.stale_after.total_seconds())[0])


def _mark_stale(
    row: SpaceRow, cell: str, reading: LatestReading, now: datetime, settings: LiveSettings
) -> None:
    if is_stale(reading, now, settings):
        row.stale_since[cell] = isoformat_utc(reading.ts)


def space_row(
    space: Space,
    latest: Mapping[str, LatestReading],
    category: int | None,
    result: UtilisationResult | ProtectedToday | None,
    now: datetime,
    campus: Campus,
    settings: LiveSettings,
    exact: bool,
) -> SpaceRow:
    """One row of the table, as this audience may see it (see ``privacy_counts``)."""
    k = settings.suppression_k
    row = SpaceRow(space.id, space.name, space.type.value.replace("_", " "), space.capacity)
    if withheld(space.capacity, k=k, exact=exact):
        # fewer than k seats: occupancy and its proxies (CO₂, utilisation) are not shown,
        # and the reading times come only from quantities that say nothing of presence
        row.people = row.co2 = row.utilisation = NOT_SHOWN
        row.utilisation_note = f"fewer than {k} seats"
        latest = {q: r for q, r in latest.items() if not presence_proxy(q)}
    else:
        if (occupancy := latest.get("occupancy")) is not None:
            row.people = people_text(occupancy.value, space.capacity, k=k, exact=exact)
            _mark_stale(row, "people", occupancy, now, settings)
        if (co2 := latest.get("co2")) is not None:
            row.co2 = f"{co2.value:.0f} ppm"
            row.co2_category = CATEGORY_NAMES[category - 1] if category else None
            _mark_stale(row, "co2", co2, now, settings)
        _utilisation_cells(row, result, k, exact)
    if (temperature := latest.get("temperature")) is not None:
        row.temperature = f"{temperature.value:.1f} °C"
        _mark_stale(row, "temperature", temperature, now, settings)
    if latest:
        newest = max(latest.values(), key=lambda r: r.ts)
        row.last_reading = local_time(newest.ts, now, campus)
        row.last_reading_iso = isoformat_utc(newest.ts)
        # stale when any value shown, or the newest reading, is older than the limit:
        # each sensor is judged by its own latest reading (one rule: ``is_stale``)
        row.stale = bool(row.stale_since) or is_stale(newest, now, settings)
    return row


def campus_view(
    state: CampusState, campus: Campus, settings: LiveSettings, exact: bool
) -> list[BuildingSection]:
    """Every space, by building, as the overview table shows it to this audience."""
    sections = []
    for building in campus.buildings:
        section = BuildingSection(building.id, building.name)
        for space in building.spaces:
            section.rows.append(
                space_row(
                    space,
                    state.by_space.get(space.id, {}),
                    state.co2_categories.get(space.id),
                    state.utilisation_of(space.id, exact),
                    state.taken_at,
                    campus,
                    settings,
                    exact,
                )
            )
        sections.append(section)
    return sections


@dataclass(frozen=True)
class SpaceAvailability:
    """Free seats of one space now, for one audience (see ``analytics.availability``)."""

    building: Building
    space: Space
    status: str  # free | full | unknown
    reason: str  # why unknown: withheld | no_reading | stale | invalid_count
    free_seats: int | None  # a lower bound when suppressed; None when unknown
    suppressed: bool
    people: int | None  # whole people; None when suppressed or unknown
    reading_ts: datetime | None
    reading_age_s: float | None


def availability(
    occupancy: Mapping[str, LatestReading],
    spaces: Sequence[tuple[Building, Space]],
    now: datetime,
    settings: LiveSettings,
    exact: bool,
    min_seats: int = 0,
    include_unknown: bool = True,
) -> list[SpaceAvailability]:
    """The spaces ranked by free seats now (most first), unknown ones last.

    Args:
        occupancy: the latest occupancy reading per space id.
        spaces: the candidate spaces with their buildings, in registry order.
        now: the current time (aware).
        settings: k and the staleness limit.
        exact: the caller sees exact counts (no suppression).
        min_seats: leave out spaces known to have fewer free seats than this.
        include_unknown: list spaces whose free seats are unknown, after the others.
    """
    readings = [occupancy.get(space.id) for _, space in spaces]
    ages = np.array([np.nan if r is None else reading_age_s(r, now) for r in readings])
    result = free_seats(
        np.array([space.capacity for _, space in spaces], dtype=np.float64),
        np.array([np.nan if r is None else r.value for r in readings]),
        ages,
        k=settings.suppression_k,
        stale_after_s=settings.stale_after.total_seconds(),
        exact=exact,
    )
    ranked = []
    for i in rank_by_free_seats(result, min_seats, include_unknown).tolist():
        building, space = spaces[i]
        free, people = result.free_seats[i], result.people[i]
        # a withheld space's reading times are not shown either: when a counter
        # reports can say when someone came or went
        shown = result.reason[i] != WITHHELD and readings[i] is not None
        ranked.append(
            SpaceAvailability(
                building=building,
                space=space,
                status=str(result.status[i]),
                reason=str(result.reason[i]),
                free_seats=None if np.isnan(free) else int(free),
                suppressed=bool(result.suppressed[i]),
                people=None if np.isnan(people) else int(people),
                reading_ts=readings[i].ts if shown else None,
                reading_age_s=float(ages[i]) if shown else None,
            )
        )
    return ranked


def seats_text(item: SpaceAvailability, settings: LiveSettings) -> tuple[str, str]:
    """The free seats of a space in words, (headline, note); never a suppressed count.

    >>> from types import SimpleNamespace as N
    >>> seats_text(N(status="free", suppressed=True, free_seats=75), LiveSettings())
    ('at least 75 free', 'fewer than 5 people there')
    """
    k = settings.suppression_k
    if item.status == FREE:
        if item.suppressed:
            return f"at least {item.free_seats} free", f"fewer than {k} people there"
        return f"{item.free_seats} free", ""
    if item.status == FULL:
        return "full", ""
    reasons = {
        NO_READING: "no occupancy reading yet",
        STALE: f"no reading in the last {settings.stale_after.total_seconds() / 60:g} min",
        INVALID_COUNT: "the sensor reports an invalid count",
        WITHHELD: f"not shown for spaces with fewer than {k} seats",
    }
    return "unknown", reasons.get(item.reason, "")


def seats_summary(item: SpaceAvailability, settings: LiveSettings) -> str:
    """``seats_text`` in one line: "at least 75 free (fewer than 5 people there)"."""
    headline, note = seats_text(item, settings)
    return f"{headline} ({note})" if note else headline


def available_view(
    item: SpaceAvailability, now: datetime, campus: Campus, settings: LiveSettings
) -> dict[str, Any]:
    """One entry of the free-study-space panel (also sent by the stream)."""
    return {
        "space_id": item.space.id,
        "name": item.space.name,
        "building": item.building.name,
        "capacity": item.space.capacity,
        "status": item.status,
        "free_seats": item.free_seats,
        "suppressed": item.suppressed,
        "seats": seats_text(item, settings)[0],
        "seats_note": seats_text(item, settings)[1],
        "reading_iso": None if item.reading_ts is None else isoformat_utc(item.reading_ts),
        "reading_text": None
        if item.reading_ts is None
        else local_time(item.reading_ts, now, campus),
        "age_text": None if item.reading_age_s is None else age_text(item.reading_age_s),
    }


def study_spaces_view(
    state: CampusState, campus: Campus, settings: LiveSettings, exact: bool
) -> list[dict[str, Any]]:
    """The free-study-space panel: every study space, most free seats first."""
    spaces = [(b, s) for b, s in campus.spaces() if s.type is SpaceType.STUDY_SPACE]
    occupancy = {sid: q["occupancy"] for sid, q in state.by_space.items() if "occupancy" in q}
    ranked = availability(occupancy, spaces, state.taken_at, settings, exact)
    return [available_view(item, state.taken_at, campus, settings) for item in ranked]


def newest_view(state: CampusState, campus: Campus) -> dict[str, str] | None:
    if state.newest is None:
        return None
    return {
        "text": local_time(state.newest, state.taken_at, campus),
        "iso": isoformat_utc(state.newest),
    }


# -- 3. the feed ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AudienceView:
    """What one audience (exact or suppressed counts) sees: rows by space id, the panel."""

    rows: dict[str, dict[str, Any]]
    available: list[dict[str, Any]]
    newest: dict[str, str] | None


@dataclass(frozen=True)
class LiveEvent:
    """One server-sent event, rendered once per audience; None: nothing for that audience."""

    seq: int
    name: str
    for_exact: str | None
    for_suppressed: str | None

    def text(self, exact: bool) -> str | None:
        return self.for_exact if exact else self.for_suppressed


_RESYNC = object()  # queued for a client that fell behind: send a snapshot instead


@dataclass(eq=False)
class _Client:
    exact: bool
    queue: asyncio.Queue


def _sse(event_id: str, name: str, data: Mapping[str, Any]) -> str:
    # json.dumps writes one line, so one data: field carries it
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"id: {event_id}\nevent: {name}\ndata: {body}\n\n"


class LiveFeed:
    """The shared producer behind ``GET /api/v1/stream``: one per app, however many clients.

    Every ``poll_every`` it reads the state once (in a worker thread, so the event
    loop stays free), renders each audience's view, and queues an ``update`` event
    with the spaces whose cells changed to every client of that audience. Event
    ids are ``<feed epoch>-<sequence>``; a client reconnecting with Last-Event-ID
    gets the events it missed if they are still held, else a ``snapshot``. The
    producer runs only while clients are connected.
    """

    def __init__(
        self,
        store: ReadingStore,
        campus: Campus,
        clock: Callable[[], datetime],
        settings: LiveSettings,
        open_data: OpenDataSettings | None = None,
    ) -> None:
        self.store = store
        self.campus = campus
        self.clock = clock
        self.settings = settings
        self.cells = cells_settings(settings, open_data)
        self.epoch = secrets.token_hex(4)
        self.seq = 0
        self.reads = 0  # store reads of the latest readings, for tests and curiosity
        self._clients: set[_Client] = set()
        self._history: deque[LiveEvent] = deque(maxlen=settings.replay_events)
        self._views: dict[bool, AudienceView] = {}
        self._snapshots: dict[bool, str] = {}
        self._generated_at: datetime | None = None
        self._utilisation = TodaysUtilisation(None, None)
        self._utilisation_at: datetime | None = None
        self._utilisation_inputs: frozenset = frozenset()
        self._state: CampusState | None = None
        self._store_ok = True
        self._task: asyncio.Task | None = None
        self._tick_lock = asyncio.Lock()

    @property
    def clients(self) -> int:
        return len(self._clients)

    def event_id(self, seq: int | None = None) -> str:
        return f"{self.epoch}-{self.seq if seq is None else seq}"

    # -- producing ----------------------------------------------------------------

    def _read(self, now: datetime) -> CampusState:
        readings = self.store.latest()
        occupancy = frozenset((r.sensor, r.ts) for r in readings if r.quantity == "occupancy")
        since = None if self._utilisation_at is None else now - self._utilisation_at
        due = (
            since is None
            or since >= UTILISATION_AT_LEAST_EVERY
            or (occupancy != self._utilisation_inputs and since >= self.settings.utilisation_every)
        )
        if due:
            self._utilisation = todays_utilisation(self.store, self.campus, now, self.cells)
            self._utilisation_at, self._utilisation_inputs = now, occupancy
        return campus_state(readings, self._utilisation, self.campus, now)

    def fresh_state(self, now: datetime) -> CampusState | None:
        """The producer's latest state when it is current (the producer runs), else None.

        The overview page renders from it while clients listen, so a page and the
        snapshot its script then receives agree, and page loads cost no store reads.
        """
        state = self._state
        if state is None or self._task is None or self._task.done():
            return None
        if abs(now - state.taken_at) > 2 * self.settings.poll_every:
            return None
        return state

    def _audience_view(self, state: CampusState, exact: bool) -> AudienceView:
        sections = campus_view(state, self.campus, self.settings, exact)
        return AudienceView(
            rows={row.id: row.live_fields() for s in sections for row in s.rows},
            # without the age texts, which change every minute: the script ages entries itself
            available=[
                {key: value for key, value in entry.items() if key != "age_text"}
                for entry in study_spaces_view(state, self.campus, self.settings, exact)
            ],
            newest=newest_view(state, self.campus),
        )

    async def tick(self) -> LiveEvent | None:
        """Read the state once and publish what changed; returns the event, if any."""
        async with self._tick_lock:
            now = self.clock()
            try:
                state = await asyncio.to_thread(self._read, now)
            except Exception:
                if self._store_ok:
                    log.exception("live feed: the store did not answer")
                return self._store_status(ok=False)
            self.reads += 1
            status = self._store_status(ok=True)
            views = {exact: self._audience_view(state, exact) for exact in (True, False)}
            event = self._changes(views, now)
            self._views, self._generated_at, self._state = views, now, state
            self._snapshots.clear()
            return event or status

    def _store_status(self, ok: bool) -> LiveEvent | None:
        if ok == self._store_ok:
            return None
        self._store_ok = ok
        data = {"store": "ok" if ok else "unavailable"}
        self.seq += 1
        text = _sse(self.event_id(), "status", data)
        return self._publish(LiveEvent(self.seq, "status", text, text))

    def _changes(self, views: dict[bool, AudienceView], now: datetime) -> LiveEvent | None:
        texts: dict[bool, str | None] = {}
        seq = self.seq + 1
        for exact, view in views.items():
            before = self._views.get(exact)
            changed = {
                sid: row
                for sid, row in view.rows.items()
                if before is None or before.rows.get(sid) != row
            }
            available_changed = before is None or before.available != view.available
            if not changed and not available_changed:
                texts[exact] = None
                continue
            data: dict[str, Any] = {
                "generated_at": isoformat_utc(now),
                "newest_reading": view.newest,
                "spaces": changed,
            }
            if available_changed:
                data["available"] = view.available
            texts[exact] = _sse(self.event_id(seq), "update", data)
        if texts[True] is None and texts[False] is None:
            return None
        self.seq = seq
        return self._publish(LiveEvent(seq, "update", texts[True], texts[False]))

    def _publish(self, event: LiveEvent) -> LiveEvent:
        self._history.append(event)
        for client in list(self._clients):
            if event.text(client.exact) is None:
                continue
            try:
                client.queue.put_nowait(event)
            except asyncio.QueueFull:
                # a slow client: drop its backlog, it gets one fresh snapshot instead
                while not client.queue.empty():
                    client.queue.get_nowait()
                client.queue.put_nowait(_RESYNC)
        return event

    async def _produce(self) -> None:
        interval = self.settings.poll_every.total_seconds()
        while self._clients:
            await asyncio.sleep(interval)
            if not self._clients:
                break
            try:
                await self.tick()
            except Exception:  # never let one bad tick end the feed for everyone
                log.exception("live feed: a tick failed")

    def _ensure_producer(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._produce(), name="campuslab-live-feed"
            )

    # -- serving ---------------------------------------------------------------------

    def snapshot(self, exact: bool) -> str:
        """The whole view of one audience as a ``snapshot`` event with the current id."""
        if exact not in self._snapshots:
            view = self._views[exact]
            data = {
                "generated_at": None
                if self._generated_at is None
                else isoformat_utc(self._generated_at),
                "newest_reading": view.newest,
                "spaces": view.rows,
                "available": view.available,
            }
            self._snapshots[exact] = _sse(self.event_id(), "snapshot", data)
        return self._snapshots[exact]

    def _catch_up(self, exact: bool, last_event_id: str | None) -> list[str]:
        """What a (re)connecting client needs: the missed events if held, else a snapshot."""
        if not self._views:
            return []
        epoch, _, seq_text = (last_event_id or "").strip().partition("-")
        if epoch == self.epoch and seq_text.isdigit():
            seq = int(seq_text)
            if seq == self.seq:
                return []
            held = [e for e in self._history if e.seq > seq]
            if seq < self.seq and held and held[0].seq == seq + 1:
                return [t for e in held if (t := e.text(exact)) is not None]
        return [self.snapshot(exact)]

    def is_full(self) -> bool:
        return len(self._clients) >= self.settings.max_clients

    async def stream(self, exact: bool, last_event_id: str | None = None) -> AsyncIterator[str]:
        """The text/event-stream body for one client."""
        retry_ms = int(self.settings.retry.total_seconds() * 1000)
        if self.is_full():
            yield f"retry: {max(retry_ms, 30_000)}\n\n"
            yield _sse(self.event_id(), "busy", {"detail": "too many live clients; retry later"})
            return
        if not self._views:
            await self.tick()
        client = _Client(exact, asyncio.Queue(maxsize=self.settings.client_queue))
        # no await between catching up and joining: no event is missed or sent twice
        first = self._catch_up(exact, last_event_id)
        self._clients.add(client)
        self._ensure_producer()
        heartbeat = self.settings.heartbeat_every.total_seconds()
        try:
            yield f"retry: {retry_ms}\n\n"
            for text in first:
                yield text
            while True:
                try:
                    item = await asyncio.wait_for(client.queue.get(), heartbeat)
                except TimeoutError:
                    yield ": heartbeat\n\n"
                    continue
                if item is _RESYNC:
                    yield self.snapshot(exact)
                elif (text := item.text(exact)) is not None:
                    yield text
        finally:
            self._clients.discard(client)

    async def close(self) -> None:
        """Stop the producer (clients' streams end when they disconnect)."""
        self._clients.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def live_feed(
    app: FastAPI,
    store: ReadingStore,
    campus: Campus,
    clock: Callable[[], datetime],
    settings: LiveSettings,
) -> LiveFeed:
    """The app's one feed, made on first use with the store, campus and clock of that request
    (and the app's export settings, ``app.state.open_data``, for the protected cells)."""
    feed = getattr(app.state, "live_feed", None)
    if feed is None:
        feed = LiveFeed(store, campus, clock, settings, getattr(app.state, "open_data", None))
        app.state.live_feed = feed
    return feed
