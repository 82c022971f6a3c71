"""The overview page as served (before any JavaScript runs): privacy, staleness, accessibility.

The browser test (test_overview_live.py) checks the same page live; these
check the server-rendered HTML and CSS that every viewer gets first.
"""

from __future__ import annotations

import html
import re
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from campuslab.api import create_app
from campuslab.api.dependencies import get_clock
from campuslab.api.privacy_counts import caller_sees_exact_counts
from campuslab.core.readings import ReadingBatch, to_epoch_us
from campuslab.core.registry import Campus
from campuslab.core.store.duckdb import DuckDBStore

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)  # 11:00 in Oslo
CSS = Path(__file__).resolve().parent.parent / "api" / "static" / "overview.css"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    store = DuckDBStore(tmp_path / "campus.duckdb")
    batch = ReadingBatch()
    fresh, old = to_epoch_us(NOW - timedelta(minutes=1)), to_epoch_us(NOW - timedelta(minutes=20))
    batch.append(fresh, "lsb", "lsb-202", "occupancy", 3.0)  # Reading room 6, 39 seats
    batch.append(fresh, "lsb", "lsb-202", "co2", 700.0)
    batch.append(fresh, "rfb", "rfb-101", "occupancy", 120.0)
    batch.append(fresh, "rfb", "rfb-101", "co2", 1234.0)  # ΔCO2 814 ppm: category III
    batch.append(fresh, "rfb", "rfb-101", "temperature", 21.34)
    batch.append(old, "lsb", "lsb-101", "occupancy", 10.0)  # 20 minutes old: stale
    # Reading room 1: a dead people counter and CO₂ sensor beside a live thermometer
    dead = to_epoch_us(NOW - timedelta(minutes=40))
    batch.append(dead, "lsb", "lsb-301", "occupancy", 10.0)
    batch.append(dead, "lsb", "lsb-301", "co2", 1450.0)
    batch.append(fresh, "lsb", "lsb-301", "temperature", 21.0)
    # Office 2 (3 seats, fewer than k): withheld below facilities, even when empty
    batch.append(fresh, "rfb", "rfb-405", "occupancy", 0.0)
    batch.append(fresh, "rfb", "rfb-405", "co2", 800.0)
    batch.append(old, "rfb", "rfb-405", "temperature", 21.0)
    # Seminar room 1 (22 seats): 2 people 08:00–09:00 local, then empty: 2 person-hours today
    batch.append(to_epoch_us(NOW - timedelta(minutes=150)), "rfb", "rfb-104", "occupancy", 2.0)
    batch.append(to_epoch_us(NOW - timedelta(minutes=90)), "rfb", "rfb-104", "occupancy", 0.0)
    store.write(batch)
    yield store
    store.close()


@pytest.fixture
def client(store: DuckDBStore, campus: Campus) -> TestClient:
    app = create_app(store, campus)
    app.dependency_overrides[get_clock] = lambda: lambda: NOW
    return TestClient(app)


def text_of(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def row(page: str, space_id: str) -> str:
    start = page.index(f'<tr id="space-{space_id}">')
    return page[start : page.index("</tr>", start)]


def cell(page: str, space_id: str, field: str) -> str:
    found = re.search(rf'data-field="{field}">(.*?)</td>', row(page, space_id), re.S)
    assert found, (space_id, field)
    return text_of(found.group(1))


def panel_entry(page: str, space_id: str) -> str:
    found = re.search(rf'<li data-space="{space_id}"[^>]*>(.*?)</li>', page, re.S)
    assert found, space_id
    return text_of(found.group(1))


def test_public_viewers_never_see_a_small_count(client: TestClient):
    page = client.get("/").text
    assert cell(page, "lsb-202", "people") == "fewer than 5"
    assert "3 / 39" not in page
    entry = panel_entry(page, "lsb-202")
    assert "at least 35 free" in entry and "fewer than 5 people" in entry
    assert "36" not in entry  # 39 − 3 would give the count away
    assert cell(page, "rfb-101", "people") == "120 / 280"  # 5 or more: shown


def test_facilities_see_the_exact_count(client: TestClient):
    client.app.dependency_overrides[caller_sees_exact_counts] = lambda: True
    page = client.get("/").text
    assert cell(page, "lsb-202", "people") == "3 / 39"
    assert panel_entry(page, "lsb-202").startswith("Reading room 6 ")
    assert "36 free" in panel_entry(page, "lsb-202")
    assert "Fewer than 5 people in a room are not counted exactly" not in page


def test_spaces_with_fewer_than_k_seats_are_withheld(client: TestClient):
    page = client.get("/").text
    assert cell(page, "rfb-405", "people") == "not shown"
    assert cell(page, "rfb-405", "co2") == "not shown"  # CO₂ betrays presence too
    assert cell(page, "rfb-405", "utilisation") == "not shown fewer than 5 seats"
    assert cell(page, "rfb-405", "temperature") == "21.0 °C stale · 20 min ago"
    # its reading time comes from the temperature only, not from presence readings
    assert cell(page, "rfb-405", "last_reading") == "10:40 stale"
    client.app.dependency_overrides[caller_sees_exact_counts] = lambda: True
    page = client.get("/").text
    assert cell(page, "rfb-405", "people") == "0 / 3"
    assert cell(page, "rfb-405", "co2") == "800 ppm Cat. I"


def test_utilisation_of_a_few_person_hours_is_held_back(client: TestClient):
    page = client.get("/").text
    assert cell(page, "rfb-104", "people") == "0 / 22 stale · 1 h ago"  # read 90 min ago
    # 2 people: every quarter with anyone in it is suppressed, so nothing is counted
    assert cell(page, "rfb-104", "utilisation") == "— under 5 people at a time so far"
    client.app.dependency_overrides[caller_sees_exact_counts] = lambda: True
    page = client.get("/").text
    assert cell(page, "rfb-104", "utilisation") == "5 % in use 1 of 2 h"  # 2 / (22 × 2)


def test_co2_category_is_text_and_readings_carry_their_time(client: TestClient):
    page = client.get("/").text
    assert cell(page, "rfb-101", "co2") == "1234 ppm Cat. III"
    assert cell(page, "rfb-101", "temperature") == "21.3 °C"
    assert cell(page, "rfb-101", "last_reading") == "10:59"
    assert cell(page, "rfb-102", "co2") == "—"


def test_stale_readings_are_marked_and_never_free(client: TestClient):
    page = client.get("/").text
    assert cell(page, "lsb-101", "last_reading") == "10:40 stale"
    entry = panel_entry(page, "lsb-101")
    assert "unknown no reading in the last 15 min" in entry and "20 min ago" in entry
    assert 'data-space="lsb-101" data-status="unknown"' in page
    assert "free" not in entry.replace("unknown", "")
    assert "unknown no occupancy reading yet" in panel_entry(page, "elb-303")


def test_freshness_is_judged_per_sensor_not_per_room(client: TestClient):
    """A 40-minute-old count and CO₂ beside a fresh temperature are shown as stale."""
    page = client.get("/").text
    tr = row(page, "lsb-301")
    assert cell(page, "lsb-301", "people") == "10 / 160 stale · 40 min ago"
    assert cell(page, "lsb-301", "co2") == "1450 ppm Cat. III stale · 40 min ago"
    assert cell(page, "lsb-301", "temperature") == "21.0 °C"  # fresh: no mark
    assert 'class="num stale-value" data-label="People"' in tr  # greyed
    assert 'class="num stale-value" data-label="CO₂"' in tr
    assert 'class="num" data-label="Temperature"' in tr
    assert cell(page, "lsb-301", "last_reading") == "10:59 stale"
    # the free-seat panel and the API agree: the space is unknown, never free
    assert "unknown no reading in the last 15 min" in panel_entry(page, "lsb-301")
    answer = client.get("/api/v1/spaces/available", params={"min_seats": 0}).json()
    entry = next(s for s in answer["spaces"] if s["space_id"] == "lsb-301")
    assert (entry["status"], entry["reason"], entry["reading_age_s"]) == ("unknown", "stale", 2400)


def test_the_panel_ranks_study_spaces_by_free_seats(client: TestClient, campus: Campus):
    page = client.get("/").text
    order = re.findall(r'<li data-space="([^"]+)" data-status="([^"]+)"', page)
    study = [s.id for _, s in campus.spaces() if s.type.value == "study_space"]
    assert sorted(sid for sid, _ in order) == sorted(study)
    assert order[0] == ("lsb-202", "free")  # the only fresh study-space count
    assert {status for _, status in order[1:]} == {"unknown"}


def test_the_page_is_accessible_without_javascript(client: TestClient):
    page = client.get("/").text
    assert '<html lang="en">' in page
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in page
    first_link = re.search(r"<a [^>]*>", page[page.index("<body") :]).group(0)
    assert 'class="skip-link"' in first_link and 'href="#main"' in first_link
    assert '<main id="main" tabindex="-1">' in page
    assert 'role="status" aria-live="polite"' in page
    tables = page.count("<table>")
    assert tables == page.count("<caption>") == page.count('<th scope="col">Space</th>') > 1
    assert page.count('<th scope="row">') == page.count("<tr id=")
    assert page.count('<th scope="col">') == 6 * tables
    assert '<ol id="available"' in page and 'aria-labelledby="free-study"' in page
    assert '<script src="/static/overview.js" defer></script>' in page
    assert '<link rel="stylesheet" href="/static/overview.css">' in page
    assert 'rel="icon" href="data:,"' in page  # no favicon request, no 404 in the console


def test_static_files(client: TestClient):
    script = client.get("/static/overview.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith(
        "text/javascript"
    )
    assert "new EventSource(streamUrl)" in script.text and "innerHTML =" not in script.text
    style = client.get("/static/overview.css")
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
    for path in ("/static/nope.js", "/static/..%2Fapp.py", "/static/%2e%2e%2fapp.py"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"


# -- contrast (WCAG 2.x relative luminance) ---------------------------------------------------


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    lighter, darker = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_text_colours_meet_wcag_aa():
    colours = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-f]{6})", CSS.read_text()))
    white = "#ffffff"
    pairs = [
        ("ink", white),
        ("muted", white),
        ("muted", "stripe"),
        ("accent", white),
        ("accent", "stripe"),
        ("free", white),
        ("full", white),
        ("ink", "cat-i"),
        ("ink", "cat-ii"),
        ("ink", "cat-iii"),
        ("ink", "cat-iv"),
        ("ink", "stale"),
        ("ink", "changed"),
        ("muted", "changed"),
        (white, "focus"),  # the skip link
    ]
    for fg, bg in pairs:
        ratio = contrast(colours.get(fg, fg), colours.get(bg, bg))
        assert ratio >= 4.5, (fg, bg, round(ratio, 2))
    # focus outline against the page: non-text contrast, WCAG 1.4.11 asks 3:1
    assert contrast(colours["focus"], white) >= 3


def test_utilisation_below_facilities_is_a_lower_bound_from_published_quarters(tmp_path, campus):
    """rfb-105 (38 seats): 10 people 08:00–08:30 local, 3 until 09:00, then nobody.

    The published quarters of 07:00Z are [10, 10, –, –]: a viewer below facilities gets
    n_h = 5 (hidden quarters at 0), 5 / (38 × 3) = 4.4 % "at least"; facilities the
    exact 6.5 / 114 = 5.7 %.
    """
    store = DuckDBStore(tmp_path / "lower.duckdb")
    batch = ReadingBatch()
    moment = NOW - timedelta(hours=3)  # 07:00Z, 08:00 local
    while moment < NOW:
        minutes = (moment - (NOW - timedelta(hours=3))) / timedelta(minutes=1)
        people = 10.0 if minutes < 30 else 3.0 if minutes < 60 else 0.0
        batch.append(to_epoch_us(moment), "rfb", "rfb-105", "occupancy", people)
        moment += timedelta(minutes=5)
    store.write(batch)
    app = create_app(store, campus)
    app.dependency_overrides[get_clock] = lambda: lambda: NOW
    client = TestClient(app)
    try:
        page = client.get("/").text
        assert cell(page, "rfb-105", "utilisation") == "at least 4 % in use at least 1 of 3 h"
        assert "at least" in text_of(page[page.index("Privacy:") :])  # the legend says why
        app.dependency_overrides[caller_sees_exact_counts] = lambda: True
        page = client.get("/").text
        assert cell(page, "rfb-105", "utilisation") == "6 % in use 1 of 3 h"
    finally:
        store.close()
