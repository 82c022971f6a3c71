"""Device health end to end: The Things Stack uplinks through the real Mosquitto into a
real ``campuslab serve``, read back from GET /api/v1/devices and /metrics.

A device that reported is ``reporting`` with its battery, RSSI and SNR; one never heard
is ``never_seen``; with a 2 s reporting interval the reporter turns ``late`` after 4 s
and ``silent`` after 6 s; a restart of serve keeps its last seen (read back from the
store's ``device_health`` rows). Messages are shaped as The Things Stack's "Data
Formats" page shows an uplink message.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from servers.publisher import MqttTestPublisher

from campuslab.api.keys import KeyStore, Role
from campuslab.core.registry import sample_campus_path

pytestmark = pytest.mark.servers

APP = f"campus-iaq-{uuid.uuid4().hex[:8]}"  # an application of its own on the shared broker
REPORTER = "24E124707C123456"  # Milesight AM307 in rfb-104, reports every 2 s
QUIET = "24E124707C654321"  # Milesight AM319 in rfb-101, never sends
LIBRARY = "A81758FFFE0312AB"  # Elsys ERS CO2 in lsb-202, sends once


def sample_without_devices() -> str:
    """The sample campus's buildings and spaces, without its networks: and devices:."""
    text = sample_campus_path().read_text()
    return text[: text.index("\nnetworks:")] + "\n"


def registry(tmp_path: Path) -> Path:
    path = tmp_path / "campus.yaml"
    path.write_text(
        sample_without_devices()
        + f"""
networks:
  - type: ttn
    topic: "v3/{APP}@ttn/devices/+/up"
devices:
  - {{dev_eui: {REPORTER}, model: milesight-am307, space: rfb-104, reporting_interval: 2s}}
  - {{dev_eui: {QUIET}, model: milesight-am319, space: rfb-101}}
  - {{id: library-co2, dev_eui: {LIBRARY}, model: elsys-ers-co2, space: lsb-202}}
"""
    )
    return path


def uplink(dev_eui: str, device_id: str, decoded: dict, rssi: float, snr: float) -> bytes:
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return json.dumps(
        {
            "end_device_ids": {
                "device_id": device_id,
                "application_ids": {"application_id": APP},
                "dev_eui": dev_eui,
            },
            "correlation_ids": ["as:up:01H0"],
            "received_at": now,
            "uplink_message": {
                "f_port": 85,
                "decoded_payload": decoded,
                "rx_metadata": [
                    {"gateway_ids": {"gateway_id": "gw-roof"}, "rssi": rssi - 20, "snr": snr - 3},
                    {"gateway_ids": {"gateway_id": "gw-hall"}, "rssi": rssi, "snr": snr},
                ],
                "received_at": now,
            },
        }
    ).encode()


AM307 = {"battery": 92, "co2": 936, "humidity": 41.5, "pir": "trigger", "temperature": 21.7}


@pytest.fixture
def publisher(mosquitto):
    client = MqttTestPublisher(mosquitto.port, f"pub-{uuid.uuid4().hex[:8]}")
    yield client
    client.close()


def devices(serve, **params) -> dict[str, dict]:
    answer = serve.get("/api/v1/devices", **params)
    assert answer.status_code == 200, answer.text
    return {d["id"]: d for d in answer.json()}


def wait_for(condition, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_devices_report_their_health_and_status_moves_with_time(
    mosquitto, serve_factory, publisher, tmp_path
):
    data_dir = tmp_path / "serve"
    data_dir.mkdir()
    researcher = KeyStore.in_data_dir(data_dir).create(Role.RESEARCHER, "r").secret
    serve = serve_factory(mosquitto.url, data_dir=data_dir, registry=registry(tmp_path))
    reporter = f"eui-{REPORTER.lower()}"

    first = devices(serve)
    assert list(first) == [reporter, f"eui-{QUIET.lower()}", "library-co2"]
    assert {d["status"] for d in first.values()} == {"never_seen"}

    publisher.publish(
        f"v3/{APP}@ttn/devices/am307-rfb104/up",
        uplink(REPORTER, "am307-rfb104", AM307, rssi=-80, snr=9.5),
    )
    publisher.publish(
        f"v3/{APP}@ttn/devices/ers-lsb202/up",
        uplink(LIBRARY, "ers-lsb202", {"co2": 612, "temperature": 20.5, "vdd": 3600}, -101, -2.5),
    )
    seen = wait_for(
        lambda: (
            (d := devices(serve))[reporter]["status"] == "reporting"
            and d["library-co2"]["last_seen"]
            and d
        ),
        "the reporter to be reporting",
    )
    am307 = seen[reporter]
    assert (am307["battery"], am307["rssi"], am307["snr"]) == (92, -80, 9.5)  # best gateway
    assert am307["building"] == "rfb" and am307["space"] == "rfb-104"
    assert am307["model"] == "milesight-am307"
    assert am307["identities"] == {"dev_eui": REPORTER}
    assert (am307["reporting_interval_s"], am307["interval_source"]) == (2, "registry")
    quiet = seen[f"eui-{QUIET.lower()}"]
    assert quiet["status"] == "never_seen" and quiet["last_seen"] is None
    assert quiet["battery"] is None and quiet["interval_source"] == "profile"
    library = seen["library-co2"]
    assert (library["rssi"], library["snr"], library["status"]) == (-101, -2.5, "reporting")
    last_seen = datetime.fromisoformat(am307["last_seen"])
    assert abs((datetime.now(UTC) - last_seen).total_seconds()) < 10

    # /metrics: devices by status, battery and last seen per device
    metrics = serve.get("/metrics").text
    assert 'campuslab_devices{status="never_seen"} 1.0' in metrics
    assert f'campuslab_device_battery_percent{{device="{reporter}"}} 92.0' in metrics
    assert f'campuslab_device_last_seen_seconds{{device="{reporter}"}}' in metrics

    # no message for more than 2 × 2 s: late; more than 3 × 2 s: silent
    wait_for(lambda: devices(serve)[reporter]["status"] == "late", "late", timeout=10)
    assert time.time() - last_seen.timestamp() > 4
    wait_for(lambda: devices(serve)[reporter]["status"] == "silent", "silent", timeout=10)
    assert time.time() - last_seen.timestamp() > 6
    assert devices(serve)["library-co2"]["status"] == "reporting"  # a 10-minute profile

    # filters, paging, bad parameters, roles
    assert list(devices(serve, status="silent")) == [reporter]
    assert list(devices(serve, building="lsb")) == ["library-co2"]
    assert list(devices(serve, model="milesight-am319")) == [f"eui-{QUIET.lower()}"]
    page = serve.get("/api/v1/devices", limit=1, offset=1)
    assert [d["id"] for d in page.json()] == [f"eui-{QUIET.lower()}"]
    assert page.headers["X-Total-Count"] == "3"
    assert 'rel="next"' in page.headers["Link"] and 'rel="prev"' in page.headers["Link"]
    for name, value in (("status", "asleep"), ("building", "nowhere"), ("model", "am307")):
        bad = serve.get("/api/v1/devices", **{name: value})
        assert bad.status_code == 422, bad.text
        assert value in bad.json()["detail"]
    assert (
        "reporting, late, silent, never_seen"
        in serve.get("/api/v1/devices", status="asleep").json()["detail"]
    )
    url = f"{serve.base_url}/api/v1/devices"
    assert httpx.get(url, headers={"Authorization": f"Bearer {researcher}"}).status_code == 403
    assert httpx.get(url).status_code == 401

    # a restart keeps the last seen (and battery), read back from the store
    serve.stop()
    serve.start(timeout=120)  # a loaded machine takes a while to import the API
    after = devices(serve)
    assert after[reporter]["last_seen"] == am307["last_seen"]
    assert after[reporter]["battery"] == 92 and after[reporter]["status"] == "silent"
    assert after["library-co2"]["last_seen"] == library["last_seen"]
    assert after[f"eui-{QUIET.lower()}"]["status"] == "never_seen"

    # and it reports again
    publisher.publish(
        f"v3/{APP}@ttn/devices/am307-rfb104/up",
        uplink(REPORTER, "am307-rfb104", {**AM307, "battery": 91}, rssi=-78, snr=10),
    )
    again = wait_for(
        lambda: (d := devices(serve)[reporter])["status"] == "reporting" and d, "reporting again"
    )
    assert (again["battery"], again["rssi"]) == (91, -78)
