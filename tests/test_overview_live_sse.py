"""GET /api/v1/stream at the HTTP level: a real uvicorn server in a thread, read with httpx.

The app runs over a real DuckDB store with short intervals (poll 0.2 s,
heartbeat 0.6 s); the test writes readings into the store and reads the
events that follow. test_overview_live.py does the same through MQTT and
``campuslab serve``. The app's clock, and the readings' times, run from noon
campus time (``noon_clock``), whenever the suite runs.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from campuslab.api import create_app
from campuslab.api.dependencies import get_clock
from campuslab.api.live import LiveSettings
from campuslab.api.privacy_counts import caller_sees_exact_counts
from campuslab.core.readings import ReadingBatch, to_epoch_us
from campuslab.core.registry import Campus
from campuslab.core.store.duckdb import DuckDBStore

STREAM = "/api/v1/stream"
EVENT_ID = re.compile(r"^[0-9a-f]{8}-\d+$")


@dataclass
class Event:
    name: str = "message"
    id: str | None = None
    data: str = ""
    retry: int | None = None
    comment: str | None = None

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.data)


class EventReader:
    """Parses a text/event-stream (WHATWG HTML, "server-sent events") into events."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.iter_lines()

    def next(self) -> Event:
        event, seen = Event(), False
        for line in self.lines:
            if line == "":
                if seen:
                    return event
                continue
            seen = True
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "":
                event.comment = value
            elif name == "event":
                event.name = value
            elif name == "id":
                event.id = value
            elif name == "data":
                event.data = f"{event.data}\n{value}" if event.data else value
            elif name == "retry":
                event.retry = int(value)
        raise EOFError("the stream ended")

    def until(self, wanted: str, timeout: float = 10.0) -> Event:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            event = self.next()
            if event.name == wanted and event.comment is None:
                return event
        raise TimeoutError(f"no {wanted!r} event within {timeout} s")


class CountingStore:
    """The real store, counting ``latest()`` calls: the cost of the live feed."""

    def __init__(self, store: DuckDBStore) -> None:
        self._store = store
        self.latest_calls = 0

    def latest(self, quantity: str | None = None):
        self.latest_calls += 1
        return self._store.latest(quantity)

    def __getattr__(self, name: str):
        return getattr(self._store, name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerThread:
    """uvicorn serving an app from a thread, stopped with should_exit."""

    def __init__(self, app) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@dataclass
class Live:
    url: str
    app: Any
    store: CountingStore
    raw: DuckDBStore
    clock: Callable[[], datetime]

    def stream(self, last_event_id: str | None = None):
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        return httpx.stream("GET", self.url + STREAM, headers=headers, timeout=httpx.Timeout(10.0))

    def write(self, *readings: tuple[str, str, str, float]) -> None:
        batch = ReadingBatch()
        now = to_epoch_us(self.clock())  # the app's clock: a reading from "now"
        for building, space, quantity, value in readings:
            batch.append(now, building, space, quantity, value)
        self.raw.write(batch)


SETTINGS = LiveSettings(
    poll_every=timedelta(seconds=0.2),
    heartbeat_every=timedelta(seconds=0.6),
    retry=timedelta(seconds=1),
    max_clients=3,
)


def noon_clock(campus: Campus) -> Callable[[], datetime]:
    """The wall clock moved to 12:00 campus time today, ticking on from there.

    On the real clock a test could straddle local midnight, where a reading's time
    turns from "23:59" into "26 Nov 2026 23:59": an update of its space that no
    test expects (a reconnecting client would be sent it instead of a heartbeat).
    """
    noon = datetime.now(campus.tz).replace(hour=12, minute=0, second=0, microsecond=0)
    offset = noon - datetime.now(UTC)
    return lambda: datetime.now(UTC) + offset


@pytest.fixture
def live(tmp_path: Path, campus: Campus) -> Iterator[Live]:
    raw = DuckDBStore(tmp_path / "campus.duckdb")
    store = CountingStore(raw)
    app = create_app(store, campus)  # type: ignore[arg-type]
    app.state.live_settings = SETTINGS
    clock = noon_clock(campus)
    app.dependency_overrides[get_clock] = lambda: clock
    server = ServerThread(app).start()
    try:
        yield Live(server.url, app, store, raw, clock)
    finally:
        server.stop()
        raw.close()


def test_a_stream_opens_with_retry_and_a_snapshot_of_every_space(live: Live, campus: Campus):
    with live.stream() as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        events = EventReader(response)
        assert events.next().retry == 1000
        snapshot = events.next()
        assert snapshot.name == "snapshot"
        assert EVENT_ID.match(snapshot.id)
        body = snapshot.json
        assert set(body["spaces"]) == {s.id for _, s in campus.spaces()}
        assert body["spaces"]["rfb-101"]["people"] is None
        study = [s.id for _, s in campus.spaces() if s.type.value == "study_space"]
        assert sorted(a["space_id"] for a in body["available"]) == sorted(study)
        assert {a["status"] for a in body["available"]} == {"unknown"}


def test_a_new_reading_arrives_as_an_update_of_that_space_only(live: Live):
    with live.stream() as response:
        events = EventReader(response)
        snapshot = events.until("snapshot")
        live.write(("rfb", "rfb-101", "co2", 1234.0), ("lsb", "lsb-202", "occupancy", 3.0))
        update = events.until("update", timeout=5)
        body = update.json
        assert set(body["spaces"]) == {"rfb-101", "lsb-202"}
        assert body["spaces"]["rfb-101"]["co2"] == "1234 ppm"
        assert body["spaces"]["rfb-101"]["co2_category"] == "III"  # ΔCO2 814 ppm
        assert body["spaces"]["lsb-202"]["people"] == "fewer than 5"
        first = body["available"][0]
        assert (first["space_id"], first["free_seats"], first["suppressed"]) == (
            "lsb-202",
            35,
            True,
        )
        assert "3 / 39" not in update.data
        # 39 − 3 would give the count away; the reading's clock time may hold "36".
        counts = {k: v for k, v in first.items() if not k.startswith(("reading_", "age_"))}
        assert "36" not in json.dumps(counts), counts
        epoch, seq = snapshot.id.split("-")
        assert update.id.split("-")[0] == epoch and int(update.id.split("-")[1]) > int(seq)


def test_facilities_and_public_share_the_feed_but_not_the_counts(live: Live):
    live.write(("lsb", "lsb-202", "occupancy", 3.0))
    with live.stream() as public:
        public_events = EventReader(public)
        public_snapshot = public_events.until("snapshot").json
        live.app.dependency_overrides[caller_sees_exact_counts] = lambda: True
        with live.stream() as facilities:
            exact_events = EventReader(facilities)
            exact_snapshot = exact_events.until("snapshot").json
            assert live.app.state.live_feed.clients == 2
            live.write(("lsb", "lsb-202", "occupancy", 4.0))
            exact_update = exact_events.until("update", timeout=5).json
        # the public hears of the new reading (its time), never of the 3 -> 4 change
        public_update = public_events.until("update", timeout=5)
        assert public_update.json["spaces"]["lsb-202"]["people"] == "fewer than 5"
        assert "/ 39" not in public_update.data and '"free_seats":35' in public_update.data
    assert public_snapshot["spaces"]["lsb-202"]["people"] == "fewer than 5"
    assert exact_snapshot["spaces"]["lsb-202"]["people"] == "3 / 39"
    assert exact_snapshot["available"][0]["free_seats"] == 36
    assert exact_update["spaces"]["lsb-202"]["people"] == "4 / 39"


def test_the_stream_marks_each_stale_sensor_not_the_room(live: Live):
    """A dead counter and CO₂ sensor beside a fresh thermometer are stale in the stream."""
    batch = ReadingBatch()
    now = live.clock()
    dead = to_epoch_us(now - timedelta(minutes=40))
    batch.append(dead, "lsb", "lsb-301", "occupancy", 10.0)
    batch.append(dead, "lsb", "lsb-301", "co2", 1450.0)
    batch.append(to_epoch_us(now), "lsb", "lsb-301", "temperature", 21.0)
    live.raw.write(batch)
    with live.stream() as response:
        body = EventReader(response).until("snapshot").json
    space = body["spaces"]["lsb-301"]
    assert space["stale"] is True
    assert set(space["stale_since"]) == {"people", "co2"}  # the temperature is fresh
    since = datetime.fromisoformat(space["stale_since"]["people"])
    assert abs(since - (now - timedelta(minutes=40))) < timedelta(seconds=1)
    entry = next(a for a in body["available"] if a["space_id"] == "lsb-301")
    assert entry["status"] == "unknown" and entry["free_seats"] is None


def test_an_idle_stream_sends_heartbeat_comments(live: Live):
    with live.stream() as response:
        events = EventReader(response)
        events.until("snapshot")
        started = time.monotonic()
        heartbeat = events.next()
        assert heartbeat.comment == "heartbeat"
        assert time.monotonic() - started < 2.0


def test_one_producer_reads_the_store_for_all_clients(live: Live):
    with live.stream() as a, live.stream() as b, live.stream() as c:
        # keep the readers: a dropped line iterator closes its response
        readers = [EventReader(response) for response in (a, b, c)]
        for events in readers:
            events.until("snapshot")
        assert live.app.state.live_feed.clients == 3
        before = live.store.latest_calls
        time.sleep(2.0)
        during = live.store.latest_calls - before
    # 2 s at one read per 0.2 s is ~10 reads, however many clients; a poll per client
    # would be ~30
    assert 5 <= during <= 14, during
    deadline = time.monotonic() + 5
    while live.app.state.live_feed.clients and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live.app.state.live_feed.clients == 0
    time.sleep(0.5)  # the producer notices nobody listens
    idle = live.store.latest_calls
    time.sleep(1.0)
    assert live.store.latest_calls == idle  # no clients: no reads at all


def test_the_number_of_clients_is_bounded(live: Live):
    with live.stream() as a, live.stream() as b, live.stream() as c:
        readers = [EventReader(response) for response in (a, b, c)]
        for events in readers:
            events.until("snapshot")
        refused = httpx.get(live.url + STREAM, timeout=5)
        assert refused.status_code == 503
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["retry-after"] == "30"
        assert "3 clients" in refused.json()["detail"]


def test_a_reconnecting_client_gets_what_it_missed(live: Live):
    with live.stream() as keeper:  # keeps the producer running while the other is away
        kept = EventReader(keeper)
        kept.until("snapshot")
        with live.stream() as first:
            last_seen = EventReader(first).until("snapshot").id
        live.write(("rfb", "rfb-101", "co2", 901.0))
        missed = kept.until("update", timeout=5)
        with live.stream(last_event_id=last_seen) as again:
            events = EventReader(again)
            assert events.next().retry == 1000
            replayed = events.next()
            assert (replayed.name, replayed.id) == ("update", missed.id)
            assert replayed.json["spaces"]["rfb-101"]["co2"] == "901 ppm"
        with live.stream(last_event_id="not-an-id") as stranger:
            events = EventReader(stranger)
            events.next()
            assert events.next().name == "snapshot"
        with live.stream(last_event_id=missed.id) as current:
            events = EventReader(current)
            events.next()
            assert events.next().comment == "heartbeat"  # nothing missed, nothing resent
