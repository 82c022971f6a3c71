"""ChirpStack v4 uplinks end to end: real Mosquitto, a real ``campuslab serve``, the API.

One AM319 uplink (a dozen decoded fields) becomes four readings, each stored exactly
once and read back exactly; publishing it again (what a QoS 1 redelivery looks like to
the ingestor) stores nothing more; the fields CampusLab does not read are counted per
model; garbage around it is dead-lettered naming the device while the service goes on.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from servers.publisher import MqttTestPublisher

from campuslab.core.registry import sample_campus_path

pytestmark = pytest.mark.servers

EUI = "24e124710b423527"
APP = "17c82e96-be03-4f38-aef3-f83d48582d97"
TOPIC = f"application/{APP}/device/{EUI}/event/up"
T = (datetime.now(UTC) - timedelta(hours=3)).replace(minute=20, second=0, microsecond=0)
# ChirpStack writes the time with +00:00 and nanoseconds
TIME = T.strftime("%Y-%m-%dT%H:%M:%S") + ".775023242+00:00"
STORED_AT = T.strftime("%Y-%m-%dT%H:%M:%S") + ".775023Z"
AM319_OBJECT = {
    "temperature": 23.6,
    "humidity": 57.5,
    "pir": "trigger",
    "light_level": 1.0,
    "co2": 936.0,
    "tvoc": 2.0,
    "pressure": 1008.8,
    "hcho": 0.01,
    "pm2_5": 3.0,
    "pm10": 4.0,
    "o3": 0.02,
    "beep": "yes",
}


def event(time_text: str = TIME, obj: dict | None = AM319_OBJECT) -> str:
    body = {
        "deduplicationId": "3ac7e3c4-4401-4b8d-9386-a5c902f9202d",
        "time": time_text,
        "deviceInfo": {
            "tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242",
            "tenantName": "Nordfjell University",
            "applicationId": APP,
            "applicationName": "campus-sensors",
            "deviceProfileId": "14855bf7-d10d-4aee-b618-ebfcb64dc7ad",
            "deviceProfileName": "Milesight AM319",
            "deviceName": "am319-rfb104",
            "devEui": EUI,
            "deviceClassEnabled": "CLASS_C",
            "tags": {},
        },
        "devAddr": "00189440",
        "adr": True,
        "dr": 5,
        "fCnt": 1287,
        "fPort": 85,
        "data": "A2fsAARocgUAAQbLAQd9xwEIfQIACXNoJwp9AQALfQMADH0EAA19AQAOAQE=",
        "object": obj,
        "rxInfo": [{"gatewayId": "0016c001f153a14c", "rssi": -97, "snr": 7.25, "channel": 2}],
        "txInfo": {"frequency": 867100000, "modulation": {"lora": {"bandwidth": 125000}}},
    }
    if obj is None:
        del body["object"]
    return json.dumps(body)


def metric(serve, name: str, **labels: str) -> float:
    wanted = name + (
        "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else ""
    )
    for line in serve.get("/metrics").text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.split()[-1])
    return 0.0


def wait_for(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def registry_file(tmp_path):
    registry = tmp_path / "campus.yaml"
    registry.write_text(
        sample_campus_path().read_text()
        + """
networks:
  - type: chirpstack
devices:
  - {dev_eui: 24E124710B423527, model: milesight-am319, space: rfb-104}
"""
    )
    return registry


@pytest.fixture
def serve(mosquitto, serve_factory, tmp_path):
    return serve_factory(mosquitto.url, registry=registry_file(tmp_path))


@pytest.fixture
def publisher(mosquitto):
    client = MqttTestPublisher(mosquitto.port, f"chirpstack-pub-{uuid.uuid4().hex[:8]}")
    yield client
    client.close()


def points(serve, quantity: str) -> list:
    answer = serve.get(
        "/api/v1/spaces/rfb-104/readings",
        quantity=quantity,
        start=(T - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        end=(T + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["points"]


def test_one_uplink_several_readings_stored_once_each(serve, publisher):
    publisher.publish(TOPIC, event())
    assert serve.wait_stored(4) == 4
    assert points(serve, "co2") == [[STORED_AT, 936.0]]
    assert points(serve, "temperature") == [[STORED_AT, 23.6]]
    assert points(serve, "humidity") == [[STORED_AT, 57.5]]
    assert points(serve, "presence") == [[STORED_AT, 1.0]]
    assert points(serve, "occupancy") == []  # a PIR is not a head count
    # light_level, tvoc, pressure, hcho, pm2_5, pm10, o3 and beep are not read
    assert metric(serve, "campuslab_ingest_unmapped_fields_total", model="milesight-am319") == 8

    # the same uplink again, as a QoS 1 redelivery brings it: acknowledged, not stored
    duplicates = metric(serve, "campuslab_ingest_duplicates_total")
    publisher.publish(TOPIC, event())
    publisher.wait_acked(2)
    wait_for(
        lambda: metric(serve, "campuslab_ingest_duplicates_total") == duplicates + 4,
        "the redelivered readings to be counted as duplicates",
    )
    assert serve.stored() == 4
    assert points(serve, "co2") == [[STORED_AT, 936.0]]
    assert metric(serve, "campuslab_ingest_stored_total") == 4
    assert metric(serve, "campuslab_ingest_unmapped_fields_total", model="milesight-am319") == 16


def test_garbage_is_dead_lettered_naming_the_device_and_the_service_goes_on(serve, publisher):
    publisher.publish(TOPIC, event(obj=None))  # no codec in the device profile
    publisher.publish(TOPIC, b"{not json")
    publisher.publish(TOPIC, event(obj={"co2": "lots", "temperature": 21.5}))
    later = (T + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S") + "+00:00"
    publisher.publish(TOPIC, event(later))
    assert serve.wait_stored(5) == 5  # 21.5 °C of the third, the four of the last
    letters = serve.get("/api/v1/dead-letters").json()
    reasons = sorted(letter["reason"] for letter in letters)
    assert reasons == ["undecoded", "unparseable", "unparseable"]
    undecoded = next(letter for letter in letters if letter["reason"] == "undecoded")
    assert "am319-rfb104" in undecoded["detail"] and "codec" in undecoded["detail"]
    not_json = next(letter for letter in letters if "not JSON" in letter["detail"])
    assert EUI in not_json["detail"]
    lots = next(letter for letter in letters if "lots" in letter["detail"])
    assert "24E124710B423527" in lots["detail"]
    assert serve.get("/api/v1/health").json()["ingest"]["connected"] is True


def test_kill_9_mid_stream_stores_every_uplinks_readings_exactly_once(
    mosquitto, serve_factory, publisher, tmp_path
):
    # acknowledged only after the durable write: what was received but not yet written
    # when the process died comes again from the broker's session, and nothing twice
    n = 5_000
    start = T - timedelta(hours=2)
    uplinks = [(TOPIC, event((start + timedelta(seconds=i)).isoformat())) for i in range(n)]
    serve = serve_factory(
        mosquitto.url, registry=registry_file(tmp_path), client_id="chirpstack-kill"
    )
    sender = threading.Thread(
        target=publisher.publish_all,
        args=(uplinks,),
        kwargs={"pause_every": 250, "pause": 0.02},
        daemon=True,
    )
    sender.start()
    deadline = time.monotonic() + 30
    while (stored := serve.stored()) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    assert 0 < stored < 4 * n, stored  # a kill after the last write would prove nothing
    serve.kill()
    sender.join(60)
    publisher.wait_acked(n)
    serve.start()
    assert serve.wait_stored(4 * n, timeout=90) == 4 * n
    time.sleep(1.0)
    assert serve.stored() == 4 * n
