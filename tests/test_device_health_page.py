"""The overview page's devices panel, in the real Chromium: facilities see each device's
status, last seen, battery and signal, worst first; the public page has no such panel."""

from __future__ import annotations

import pytest
from test_device_health_api import AM307, APP, QUIET, REPORTER, devices, registry, uplink, wait_for
from test_device_health_api import publisher as publisher  # a fixture
from test_overview_live import ConsoleErrors
from test_overview_live import browser as browser  # a fixture

pytestmark = pytest.mark.servers


def test_facilities_see_the_devices_panel(mosquitto, serve_factory, publisher, browser, tmp_path):
    serve = serve_factory(mosquitto.url, registry=registry(tmp_path))
    reporter = f"eui-{REPORTER.lower()}"
    publisher.publish(
        f"v3/{APP}@ttn/devices/am307-rfb104/up",
        uplink(REPORTER, "am307-rfb104", AM307, rssi=-80, snr=9.5),
    )
    wait_for(lambda: devices(serve)[reporter]["status"] == "reporting", "the uplink")

    context = browser.new_context(extra_http_headers=serve.headers)  # a facilities key
    page = context.new_page()
    console = ConsoleErrors(page)
    page.goto(serve.base_url + "/")
    panel = page.locator("#devices-panel")
    assert panel.is_visible()
    assert panel.locator("h2").inner_text() == "Devices"
    counts = page.locator("#device-counts").inner_text()
    assert "3 devices:" in counts and "1 reporting" in counts and "2 never seen" in counts
    rows = page.locator("#device-table tbody tr")
    # worst first: the never-seen ones before the one reporting
    assert [rows.nth(i).get_attribute("data-status") for i in range(3)] == [
        "never_seen",
        "never_seen",
        "reporting",
    ]
    row = page.locator(f'tr[data-device="{reporter}"]')
    assert row.locator('[data-field="status"]').inner_text() == "reporting"
    assert row.locator('[data-field="battery"]').inner_text() == "92 %"
    assert row.locator('[data-field="signal"]').inner_text() == "-80 dBm / 9.5 dB"
    assert row.locator('[data-field="interval"]').inner_text() == "2 s (registry)"
    assert "just now" in row.locator('[data-field="last_seen"]').inner_text()
    assert "Seminar room" in row.locator("th").inner_text()
    quiet = page.locator(f'tr[data-device="eui-{QUIET.lower()}"]')
    assert quiet.locator('[data-field="last_seen"]').inner_text() == "never"
    assert quiet.locator('[data-field="interval"]').inner_text().endswith("(profile)")
    assert console.errors == []
    context.close()

    public = browser.new_context()
    page = public.new_page()
    page.goto(serve.base_url + "/")
    assert page.locator("#free-study").is_visible()
    assert page.locator("#devices-panel").count() == 0
    public.close()
