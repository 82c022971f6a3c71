"""The live overview page in a real browser, on real parts.

``campuslab serve`` runs with the real Mosquitto; headless Debian Chromium,
driven by Playwright, opens the page; a reading published over MQTT shows up
in its cell without a reload. Screenshots (desktop and 390 px phone width)
are kept in ``test-artifacts/``.

Chromium: ``apt-get install chromium`` (Playwright drives /usr/bin/chromium, or
$CAMPUSLAB_CHROMIUM; never ``playwright install``). Playwright:
``pip install -e '.[test]'``. On CI (CI=true) a missing one is a failure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from servers.publisher import MqttTestPublisher
from test_overview_live_sse import EventReader

pytestmark = pytest.mark.servers

ON_CI = os.environ.get("CI") == "true"
CHROMIUM = Path(os.environ.get("CAMPUSLAB_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",  # headless as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
WAIT_MS = 20_000  # serve's feed polls every 2 s; MQTT and the store add little


def need(available: bool, what: str, install: str) -> None:
    """Fail on CI, skip elsewhere, saying how to install what is missing."""
    if available:
        return
    message = f"{what} is not available; install it with: {install}"
    if ON_CI:
        pytest.fail(f"{message}. On CI a missing browser is a failure, not a skip.")
    pytest.skip(message)  # not on CI (see above)


@pytest.fixture
def browser() -> Iterator:
    need(
        importlib.util.find_spec("playwright") is not None,
        "Playwright",
        "pip install -e '.[test]' (or pip install 'playwright>=1.45,<2'); "
        "no `playwright install` needed, the test drives Debian's Chromium",
    )
    need(
        CHROMIUM.exists(),
        f"Chromium ({CHROMIUM})",
        "apt-get install chromium (or set CAMPUSLAB_CHROMIUM to a Chromium binary)",
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Playwright gives each launch a fresh temporary profile (--user-data-dir)
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def publisher(mosquitto) -> Iterator[MqttTestPublisher]:
    client = MqttTestPublisher(mosquitto.port, f"pub-{uuid.uuid4().hex[:8]}")
    yield client
    client.close()


def publish_now(publisher: MqttTestPublisher, building: str, space: str, quantity: str, value):
    """A JSON reading without ``ts``: stamped with the time it is received, so it is fresh."""
    publisher.publish(f"campus/{building}/{space}/{quantity}", json.dumps({"value": value}))


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


class ConsoleErrors:
    """Console errors and uncaught exceptions of a page."""

    def __init__(self, page) -> None:
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def _console(self, message) -> None:
        if message.type == "error":
            self.errors.append(message.text)


def cell(page, space_id: str, field: str):
    return page.locator(f'#space-{space_id} [data-field="{field}"]')


def test_the_stream_of_a_running_server_carries_a_published_reading(
    mosquitto, serve_factory, publisher
):
    serve = serve_factory(mosquitto.url)
    url = f"{serve.base_url}/api/v1/stream"
    with httpx.stream("GET", url, timeout=httpx.Timeout(20.0)) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = EventReader(response)
        assert events.next().retry == 3000
        snapshot = events.until("snapshot")
        assert snapshot.json["spaces"]["hb-101"]["co2"] is None
        publish_now(publisher, "hb", "hb-101", "co2", 1500)
        publish_now(publisher, "hb", "hb-101", "occupancy", 2)
        deadline = time.monotonic() + 20
        seen: dict = {}
        while time.monotonic() < deadline and seen.get("people") is None:
            update = events.until("update", timeout=20)
            seen.update(update.json["spaces"].get("hb-101", {}))
        assert seen["co2"] == "1500 ppm" and seen["co2_category"] == "III"
        assert seen["people"] == "fewer than 5"  # public: 2 people are never shown as 2


def test_the_page_updates_live_in_a_real_browser(mosquitto, serve_factory, publisher, browser):
    from playwright.sync_api import expect

    serve = serve_factory(mosquitto.url)
    # Before the page opens: 3 people in Reading room 6 (39 seats), 60 in Reading room 1.
    publish_now(publisher, "lsb", "lsb-202", "occupancy", 3)
    publish_now(publisher, "lsb", "lsb-301", "occupancy", 60)
    assert serve.wait_stored(2) == 2

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    console = ConsoleErrors(page)
    page.goto(serve.base_url + "/")
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live", timeout=WAIT_MS)
    page.evaluate("window.__notReloaded = true")

    # privacy as served: "fewer than 5", never 3, and free seats as a lower bound
    expect(cell(page, "lsb-202", "people")).to_have_text("fewer than 5")
    panel = page.locator("#available")
    expect(panel.locator("li").first).to_contain_text("Reading room 1")
    expect(panel.locator('li[data-space="lsb-202"]')).to_contain_text("at least 35 free")

    # A reading published over MQTT appears in its cell without a reload.
    publish_now(publisher, "rfb", "rfb-101", "co2", 1234)
    publish_now(publisher, "rfb", "rfb-101", "occupancy", 42)
    publish_now(publisher, "rfb", "rfb-101", "temperature", 22.5)
    publish_now(publisher, "lsb", "lsb-202", "occupancy", 2)
    expect(cell(page, "rfb-101", "co2")).to_have_text("1234 ppmCat. III", timeout=WAIT_MS)
    expect(cell(page, "rfb-101", "people")).to_have_text("42 / 280", timeout=WAIT_MS)
    expect(cell(page, "rfb-101", "temperature")).to_have_text("22.5 °C", timeout=WAIT_MS)
    assert page.evaluate("window.__notReloaded") is True
    expect(page.locator("#newest time")).to_have_count(1)
    assert page.locator("#space-rfb-101 .cat").inner_text() == "Cat. III"  # text, not colour

    # a dead counter beside a live thermometer: the count arrives greyed, with its age
    old = (datetime.now(UTC) - timedelta(minutes=40)).strftime("%Y-%m-%dT%H:%M:%SZ")
    publisher.publish("campus/lsb/lsb-401/occupancy", json.dumps({"value": 10, "ts": old}))
    publish_now(publisher, "lsb", "lsb-401", "temperature", 21.0)
    people = cell(page, "lsb-401", "people")
    expect(people).to_have_text("10 / 124stale · 40 min ago", timeout=WAIT_MS)
    expect(people).to_have_class(re.compile(r"\bstale-value\b"))
    expect(cell(page, "lsb-401", "temperature")).to_have_text("21.0 °C", timeout=WAIT_MS)
    expect(cell(page, "lsb-401", "temperature")).not_to_have_class(re.compile("stale-value"))
    assert page.evaluate(
        "getComputedStyle(document.querySelector('#space-lsb-401 [data-field=people]')).color"
    ) != page.evaluate(
        "getComputedStyle(document.querySelector('#space-lsb-401 [data-field=temperature]')).color"
    )  # greyed

    # the new count of 2 is no more visible than the 3 was
    page.wait_for_function(
        "document.querySelector('#available li[data-space=\"lsb-202\"] time') !== null"
    )
    expect(cell(page, "lsb-202", "people")).to_have_text("fewer than 5")
    body_text = page.locator("body").inner_text()
    assert "2 / 39" not in body_text and "3 / 39" not in body_text
    assert "37 free" not in body_text and "36 free" not in body_text

    # structure a screen reader and a keyboard rely on
    assert page.locator("table").count() >= 3
    assert page.locator("table caption").count() == page.locator("table").count()
    assert page.locator('thead th[scope="col"]').count() == 6 * page.locator("table").count()
    assert page.locator('[role="status"][aria-live="polite"]').count() >= 1
    page.locator("body").press("Home")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.className")
    assert focused == "skip-link"
    assert page.locator(".skip-link").is_visible()  # shown when focused
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineWidth")
    assert float(outline.removesuffix("px")) >= 2
    page.screenshot(path=artifact("overview-skip-link-focus.png"))
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")
    first_in_main = page.evaluate(
        "[document.activeElement.tagName, document.activeElement.closest('#available') !== null]"
    )
    assert first_in_main == ["A", True]  # the first study-space link
    stops = []
    page.locator(".skip-link").focus()
    for _ in range(8):
        page.keyboard.press("Tab")
        stops.append(page.evaluate("document.activeElement.getAttribute('href')"))
    assert stops[:3] == ["#free-study", "/api/v1/spaces/available", "/docs"]
    assert stops[6].startswith("#space-")  # after the navigation: the free study spaces

    page.locator("#space-rfb-101").scroll_into_view_if_needed()
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=artifact("overview-desktop.png"), full_page=True)
    assert console.errors == []

    phone = browser.new_page(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
    )
    phone_console = ConsoleErrors(phone)
    phone.goto(serve.base_url + "/")
    expect(phone.locator("#live-state")).to_have_attribute("data-state", "live", timeout=WAIT_MS)
    expect(cell(phone, "rfb-101", "co2")).to_contain_text("1234 ppm")
    overflow = phone.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 390, f"the page is {overflow} px wide on a 390 px phone"
    phone.screenshot(path=artifact("overview-phone-390.png"))
    phone.screenshot(path=artifact("overview-phone-390-full.png"), full_page=True)
    assert phone_console.errors == []
    phone.close()
    page.close()


def test_without_javascript_the_page_is_complete(mosquitto, serve_factory, publisher, browser):
    serve = serve_factory(mosquitto.url)
    publish_now(publisher, "rfb", "rfb-101", "co2", 900)
    assert serve.wait_stored(1) == 1
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.goto(serve.base_url + "/")
    assert cell(page, "rfb-101", "co2").inner_text().startswith("900 ppm")
    assert page.locator("#live-state").inner_text() == "Not live"
    assert "reload it for fresh readings" in page.locator("#live-status").inner_text()
    context.close()
