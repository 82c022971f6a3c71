"""GET /api/v1/dead-letters: garbage goes through the real broker and ingestor, comes back out.

One message per ingest reject reason is published to a real Mosquitto, taken by
the real ``Ingestor`` into a DuckDB store, and read back through the API as a
facilities caller: exactly those rejects, newest first, pageable and filterable.
Which roles may call the route is in tests/test_security.py (the role matrix).
"""

from __future__ import annotations

import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from servers.publisher import MqttTestPublisher

from campuslab.api import create_app
from campuslab.api.keys import KeyStore, Role
from campuslab.api.routers.dead_letters import REASONS
from campuslab.core.config import parse_mqtt_url
from campuslab.core.readings import DeadLetter, ReadingBatch, to_epoch_us
from campuslab.core.registry import Campus
from campuslab.core.store.duckdb import DuckDBStore
from campuslab.ingest.metrics import IngestMetrics
from campuslab.ingest.processor import MessageProcessor
from campuslab.ingest.reasons import Reason
from campuslab.ingest.service import Ingestor, IngestSettings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.servers

ROUTE = "/api/v1/dead-letters"
PROBLEM = "application/problem+json"
# a topic tree of its own on the session's shared broker
PREFIX = f"deadletters{uuid.uuid4().hex[:8]}"
BINARY = b"\xff\xfe\x00\x81binary"
TOO_LARGE = b"x" * 70_000
# (topic under PREFIX, payload, the reason ingest must give), in publishing order
GARBAGE: list[tuple[str, bytes, str]] = [
    ("rfb/rfb-101/co2/extra", b"600", "bad_topic"),
    ("nowhere/x/co2", b"600", "unknown_building"),
    ("rfb/nope/co2", b"600", "unknown_sensor"),
    ("rfb/rfb-101/radon", b"600", "unknown_quantity"),
    ("rfb/rfb-101/co2", b"{not json", "unparseable"),
    ("rfb/rfb-101/co2", BINARY, "unparseable"),
    ("rfb/rfb-101/co2", b'{"value": 600, "ts": "yesterday"}', "bad_timestamp"),
    ("rfb/rfb-101/co2", b'{"value": 600, "ts": "2099-01-01T00:00:00Z"}', "future_timestamp"),
    ("rfb/rfb-102/co2", b'{"value": 600, "unit": "furlongs"}', "bad_unit"),
    ("rfb/rfb-102/co2", b"NaN", "not_finite"),
    ("rfb/rfb-102/co2", b"1e9", "out_of_range"),
    ("rfb/rfb-102/co2", TOO_LARGE, "too_large"),
]
NEWEST_FIRST = [(f"{PREFIX}/{topic}", reason) for topic, _, reason in reversed(GARBAGE)]


def wait_until(condition, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@dataclass
class Ingested:
    store: DuckDBStore
    metrics: IngestMetrics
    started: datetime
    finished: datetime


@pytest.fixture(scope="module")
def ingested(
    mosquitto, campus: Campus, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Ingested]:
    """Every message of GARBAGE, then one valid reading, through broker and ingestor."""
    store = DuckDBStore(tmp_path_factory.mktemp("dead-letters") / "campus.duckdb")
    metrics = IngestMetrics()
    ingestor = Ingestor(
        parse_mqtt_url(mosquitto.url),
        MessageProcessor(campus, prefix=PREFIX),
        store,
        metrics,
        IngestSettings(client_id=f"dead-letters-{uuid.uuid4().hex[:6]}"),
    )
    ingestor.start()
    publisher = MqttTestPublisher(mosquitto.port, f"dead-letters-pub-{uuid.uuid4().hex[:6]}")
    try:
        wait_until(lambda: ingestor.status()["connected"], "the ingestor to connect")
        started = datetime.now().astimezone()
        for n, (topic, payload, _) in enumerate(GARBAGE, start=1):
            publisher.publish(f"{PREFIX}/{topic}", payload)
            # one at a time, so that received times are in publishing order
            wait_until(lambda n=n: store.count_dead_letters() == n, f"dead letter {n}")
        publisher.publish(f"{PREFIX}/rfb/rfb-101/co2", b"612")
        wait_until(lambda: store.count() == 1, "the valid reading")
        finished = datetime.now().astimezone()
        yield Ingested(store, metrics, started, finished)
    finally:
        publisher.close()
        ingestor.stop()
        store.close()


@pytest.fixture(scope="module")
def keys() -> KeyStore:
    return KeyStore.in_memory()


@pytest.fixture(scope="module")
def facilities(keys: KeyStore) -> dict[str, str]:
    return {"Authorization": f"Bearer {keys.create(Role.FACILITIES, 'dead letters').secret}"}


@pytest.fixture(scope="module")
def client(ingested: Ingested, campus: Campus, keys: KeyStore) -> TestClient:
    app = create_app(ingested.store, campus, ingested.metrics.registry, keys=keys)
    return TestClient(app)


def pairs(items: list[dict]) -> list[tuple[str, str]]:
    return [(item["topic"], item["reason"]) for item in items]


def received(item: dict) -> datetime:
    return datetime.fromisoformat(item["received_at"])


def next_link(response) -> str | None:
    for part in response.headers.get("link", "").split(","):
        if part.strip().endswith('rel="next"'):
            return part.strip().split(";")[0].strip("<> ")
    return None


# -- what comes back --------------------------------------------------------------------
def test_exactly_the_rejects_come_back_newest_first_with_their_reasons(
    client, facilities, ingested
):
    response = client.get(ROUTE, headers=facilities)
    assert response.status_code == 200, response.text
    items = response.json()
    assert pairs(items) == NEWEST_FIRST  # the valid reading is not among them
    assert response.headers["X-Total-Count"] == str(len(GARBAGE))
    assert "link" not in response.headers  # one page holds them all
    times = [received(item) for item in items]
    assert times == sorted(times, reverse=True) and len(set(times)) == len(times)
    assert ingested.started <= times[-1] and times[0] <= ingested.finished
    assert all(item["received_at"].endswith("Z") for item in items)
    assert ingested.store.count() == 1


def test_each_letter_says_what_was_wrong_and_shows_the_payload(client, facilities):
    by_reason = {}
    for item in client.get(ROUTE, headers=facilities).json():
        by_reason.setdefault(item["reason"], []).append(item)
    assert "'nowhere'" in by_reason["unknown_building"][0]["detail"]
    assert "'nope'" in by_reason["unknown_sensor"][0]["detail"]
    assert "furlongs" in by_reason["bad_unit"][0]["detail"]
    assert "70000 bytes" in by_reason["too_large"][0]["detail"]
    assert by_reason["out_of_range"][0]["payload"] == "1e9"
    binary, text = by_reason["unparseable"]  # newest first: the binary one came second
    assert text["payload"] == "{not json"
    # bytes that are not UTF-8 are U+FFFD; the NUL byte is valid UTF-8 and stays
    assert binary["payload"] == "\ufffd\ufffd\x00\ufffdbinary"
    assert binary["payload"].encode() != BINARY  # ingest keeps the text, not the bytes
    # the first 512 bytes, then the size
    assert by_reason["too_large"][0]["payload"] == "x" * 512 + "... (70000 bytes)"


def test_every_letter_is_counted_in_metrics_under_the_same_reason(client, facilities):
    metrics = client.get("/metrics", headers=facilities).text
    for reason in REASONS:
        listed = client.get(ROUTE, params={"reason": reason}, headers=facilities)
        count = int(listed.headers["X-Total-Count"])
        assert count == sum(1 for _, r in NEWEST_FIRST if r == reason)
        assert f'campuslab_ingest_rejected_total{{reason="{reason}"}} {float(count)}' in metrics


# -- paging -----------------------------------------------------------------------------
def test_pages_follow_the_link_header_to_the_same_letters(client, facilities):
    everything = client.get(ROUTE, headers=facilities).json()
    collected, url, pages = [], f"{ROUTE}?limit=5", 0
    while url is not None:
        response = client.get(url, headers=facilities)
        assert response.status_code == 200, response.text
        assert response.headers["X-Total-Count"] == str(len(GARBAGE))
        page = response.json()
        assert 0 < len(page) <= 5
        collected += page
        pages += 1
        url = next_link(response)
    assert pages == 3 and collected == everything
    last = client.get(ROUTE, params={"limit": 5, "offset": 10}, headers=facilities)
    assert 'rel="prev"' in last.headers["link"] and 'rel="next"' not in last.headers["link"]
    assert "offset=5" in last.headers["link"]
    beyond = client.get(ROUTE, params={"offset": 50}, headers=facilities)
    assert beyond.json() == [] and beyond.headers["X-Total-Count"] == str(len(GARBAGE))


def test_letters_arriving_while_paging_do_not_shift_the_pages(tmp_path: Path, campus: Campus):
    """The first page pins ``until``: what arrives later is not on the next pages."""
    store = DuckDBStore(tmp_path / "campus.duckdb")
    processor = MessageProcessor(campus)
    keys = KeyStore.in_memory()
    headers = {"Authorization": f"Bearer {keys.create(Role.FACILITIES, 'pager').secret}"}
    client = TestClient(create_app(store, campus, keys=keys))
    t0 = to_epoch_us(datetime.fromisoformat("2026-11-26T10:00:00+00:00"))

    def reject(n: int, at_us: int) -> None:
        letters: list[DeadLetter] = []
        processor.process(f"campus/rfb/ghost-{n}/co2", b"600", at_us, ReadingBatch(), letters)
        store.write_dead_letters(letters)

    def topics(response) -> list[str]:
        return [item["topic"] for item in response.json()]

    def ghosts(*numbers: int) -> list[str]:
        return [f"campus/rfb/ghost-{n}/co2" for n in numbers]

    try:
        for n in range(6):
            reject(n, t0 + n * 1_000_000)
        first = client.get(ROUTE, params={"limit": 3}, headers=headers)
        assert [i["topic"] for i in first.json()] == [
            f"campus/rfb/ghost-{n}/co2" for n in (5, 4, 3)
        ]
        url = next_link(first)
        assert parse_qs(urlsplit(url).query)["until"] == ["2026-11-26T10:00:05.000001Z"]
        for n in (6, 7):  # the device keeps sending garbage meanwhile
            reject(n, t0 + n * 1_000_000)
        second = client.get(url, headers=headers)
        assert [i["topic"] for i in second.json()] == [
            f"campus/rfb/ghost-{n}/co2" for n in (2, 1, 0)
        ]
        assert next_link(second) is None
        # without the pin, the new letters would have pushed ghost-3 and ghost-4 onto page 2
        unpinned = client.get(ROUTE, params={"limit": 3, "offset": 3}, headers=headers)
        assert topics(unpinned) == ghosts(4, 3, 2)
    finally:
        store.close()


# -- filters ----------------------------------------------------------------------------
def test_reason_filter_lists_only_that_reason_and_keeps_it_in_the_links(client, facilities):
    response = client.get(ROUTE, params={"reason": "unparseable", "limit": 1}, headers=facilities)
    assert pairs(response.json()) == [(f"{PREFIX}/rfb/rfb-101/co2", "unparseable")]
    assert response.json()[0]["payload"].startswith("\ufffd")  # the newer, binary one
    assert response.headers["X-Total-Count"] == "2"
    assert parse_qs(urlsplit(next_link(response)).query)["reason"] == ["unparseable"]
    second = client.get(next_link(response), headers=facilities)
    assert second.json()[0]["payload"] == "{not json"
    assert (
        client.get(ROUTE, params={"reason": "too_large"}, headers=facilities)
        .json()[0]["payload"]
        .startswith("xxx")
    )


def test_since_until_is_half_open_on_the_received_time(client, facilities):
    everything = client.get(ROUTE, headers=facilities).json()
    since, until = everything[7]["received_at"], everything[3]["received_at"]
    window = client.get(ROUTE, params={"since": since, "until": until}, headers=facilities)
    assert window.status_code == 200, window.text
    assert window.json() == everything[4:8]  # since included, until excluded
    assert window.headers["X-Total-Count"] == "4"
    assert client.get(ROUTE, params={"since": since}, headers=facilities).json() == everything[:8]
    assert client.get(ROUTE, params={"until": until}, headers=facilities).json() == everything[4:]
    # an offset is the same instant: the filter compares times, not text
    moment = received(everything[7]).astimezone(timezone(timedelta(hours=1)))
    shifted = client.get(ROUTE, params={"since": moment.isoformat()}, headers=facilities)
    assert shifted.json() == everything[:8]
    later = (received(everything[0]) + timedelta(seconds=1)).isoformat()
    assert client.get(ROUTE, params={"since": later}, headers=facilities).json() == []


def test_topic_filter_is_a_prefix_of_the_topic(client, facilities):
    def topics(**params) -> list[tuple[str, str]]:
        return pairs(client.get(ROUTE, params=params, headers=facilities).json())

    rfb_102 = [p for p in NEWEST_FIRST if p[0].startswith(f"{PREFIX}/rfb/rfb-102/")]
    assert len(rfb_102) == 4
    assert topics(topic=f"{PREFIX}/rfb/rfb-102/") == rfb_102
    assert topics(topic=f"{PREFIX}/nowhere") == [(f"{PREFIX}/nowhere/x/co2", "unknown_building")]
    assert topics(topic=f"{PREFIX}/rfb/") == [p for p in NEWEST_FIRST if "/nowhere/" not in p[0]]
    assert topics(topic="rfb/") == []  # a prefix, not a substring
    assert topics(topic=f"{PREFIX}/rfb/rfb-10.") == []  # and not a pattern
    assert topics(topic=f"{PREFIX}/rfb/rfb-101/co2", reason="bad_topic") == [NEWEST_FIRST[-1]]


# -- bad parameters -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "parameter", "words"),
    [
        ({"reason": "garbage"}, "reason", ["'garbage'", *REASONS]),
        ({"reason": "UNPARSEABLE"}, "reason", ["use one of"]),
        ({"since": "yesterday"}, "since", ["RFC 3339", "2026-11-26T10:00:00Z"]),
        ({"until": "2026-13-01"}, "until", ["RFC 3339"]),
        ({"since": "1900-01-01T00:00:00Z"}, "since", ["1970"]),
        (
            {"since": "2026-11-26T10:00:00Z", "until": "2026-11-26T10:00:00Z"},
            "until",
            ["must be after since"],
        ),
        ({"limit": "0"}, "limit", ["limit"]),
        ({"limit": "1001"}, "limit", ["1000"]),
        ({"offset": "-1"}, "offset", ["offset"]),
        ({"topic": ""}, "topic", ["topic"]),
        ({"topic": "campus/" + "x" * 100}, "topic", ["64"]),
    ],
)
def test_bad_parameters_are_422_problems_naming_them(
    client, facilities, params: dict, parameter: str, words: list[str]
):
    response = client.get(ROUTE, params=params, headers=facilities)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == "/api/v1/problems/invalid-parameter"
    assert body["parameter"] == parameter
    for word in words:
        assert word in body["detail"], (word, body["detail"])


def test_the_reasons_are_those_of_ingest_and_documented(client):
    """The API lists the reasons itself (it does not import ingest); they must agree."""
    assert tuple(reason.value for reason in Reason) == REASONS
    operation = client.get("/openapi.json").json()["paths"][ROUTE]["get"]
    (reason,) = [p for p in operation["parameters"] if p["name"] == "reason"]
    assert reason["schema"]["enum"] == list(REASONS)
    assert operation["x-required-role"] == "facilities"
    assert {"X-Total-Count", "Link"} <= set(operation["responses"]["200"]["headers"])
