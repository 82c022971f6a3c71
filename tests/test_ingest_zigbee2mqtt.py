"""Zigbee2MQTT: worked examples on the processor, then end to end through Mosquitto and serve.

Messages are shaped as Zigbee2MQTT's "MQTT Topics and Messages" page shows them: one
JSON object per device state with several readings, booleans such as
``"occupancy": true``, no time, ``linkquality``; availability as ``online``/``offline``
or ``{"state": "online"}``; the bridge's own ``bridge/...`` topics.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from servers.publisher import MqttTestPublisher

from campuslab.core.readings import DeadLetter, ReadingBatch
from campuslab.core.registry import parse_campus, sample_campus_path
from campuslab.ingest.processor import MessageProcessor

RECEIVED_US = 1_796_378_400_000_000  # 2026-12-04T10:00:00Z


def registry_text(topic: str | None = None) -> str:
    network = "{type: zigbee2mqtt" + (f', topic: "{topic}"' if topic else "") + "}"
    return (
        sample_campus_path().read_text()
        + f"""
networks:
  - {network}
devices:
  - {{zigbee_name: "Floor 1/HB-101 climate", model: aqara-wsdcgq11lm, space: hb-101}}
  - {{zigbee_name: "Floor 1/HB-101 PIR", model: aqara-rtcgq11lm, space: hb-101}}
  - {{zigbee_name: "0x00158d0001e1a2b3", model: aqara-wsdcgq11lm, space: rfb-104}}
"""
    )


class Run:
    """A processor over the registry above, and what it made of each message."""

    def __init__(self, topic: str | None = None) -> None:
        self.processor = MessageProcessor(parse_campus(registry_text(topic)))
        self.batch = ReadingBatch()
        self.dead: list[DeadLetter] = []

    def send(self, topic: str, payload: str | bytes, retained: bool = False) -> int:
        body = payload.encode() if isinstance(payload, str) else payload
        return self.processor.process(topic, body, RECEIVED_US, self.batch, self.dead, retained)

    @property
    def readings(self) -> list[tuple]:
        return [(r.ts_us, r.building, r.sensor, r.quantity, r.value) for r in self.batch]

    def health(self, key: str):
        return self.processor.health.get(key)


CLIMATE = {
    "battery": 91,
    "humidity": 44.72,
    "linkquality": 150,
    "power_outage_count": 4,
    "pressure": 1003.2,
    "temperature": 21.5,
    "voltage": 2985,
}


def readings_of(run: Run) -> list[tuple]:
    return [(ts, b, s, q, v) for ts, b, s, q, v in run.readings]


def test_several_readings_in_one_message_at_the_receive_time_in_the_space():
    run = Run()
    assert run.send("zigbee2mqtt/Floor 1/HB-101 climate", json.dumps(CLIMATE)) == 2
    assert sorted(readings_of(run), key=lambda r: r[3]) == [
        (RECEIVED_US, "hb", "hb-101", "humidity", 44.72),
        (RECEIVED_US, "hb", "hb-101", "temperature", 21.5),
    ]
    assert run.dead == []
    health = run.health("Floor 1/HB-101 climate")
    assert health.battery == 91.0
    assert health.rssi is None  # linkquality is an LQI (0-255), not an RSSI in dBm
    # pressure, voltage and power_outage_count are not read; linkquality is the network's
    assert run.processor.unmapped_fields == {"aqara-wsdcgq11lm": 3}


def test_occupancy_booleans_are_presence():
    run = Run()
    pir = "zigbee2mqtt/Floor 1/HB-101 PIR"
    run.send(
        pir, json.dumps({"battery": 100, "illuminance": 381, "linkquality": 87, "occupancy": True})
    )
    run.send(
        pir, json.dumps({"battery": 100, "illuminance": 12, "linkquality": 90, "occupancy": False})
    )
    assert [(q, v) for _, _, _, q, v in run.readings] == [("presence", 1.0), ("presence", 0.0)]


def test_an_ieee_address_is_a_friendly_name_too():
    run = Run()
    run.send("zigbee2mqtt/0x00158d0001e1a2b3", json.dumps({"temperature": 19.25, "humidity": 51.5}))
    assert {(s, q, v) for _, _, s, q, v in run.readings} == {
        ("rfb-104", "temperature", 19.25),
        ("rfb-104", "humidity", 51.5),
    }


@pytest.mark.parametrize(
    ("payload", "online"),
    [
        ("offline", False),
        ("online", True),
        ('{"state":"offline"}', False),
        ('{"state":"online"}', True),
    ],
)
def test_availability_marks_the_device_and_yields_no_reading(payload, online):
    run = Run()
    run.send("zigbee2mqtt/Floor 1/HB-101 PIR", json.dumps({"occupancy": True}))
    assert run.send("zigbee2mqtt/Floor 1/HB-101 PIR/availability", payload, retained=True) == 0
    health = run.health("Floor 1/HB-101 PIR")
    assert health.online is online
    assert health.last_reading_us == RECEIVED_US  # availability is not a reading
    assert len(run.readings) == 1 and run.dead == []


def test_availability_of_a_device_not_in_the_registry_is_skipped_quietly():
    run = Run()
    assert run.send("zigbee2mqtt/Kitchen/bulb/availability", '{"state":"online"}') == 0
    assert run.dead == [] and run.processor.health.snapshot() == []


def test_bridge_topics_and_commands_are_skipped_without_dead_letters():
    run = Run()
    adapter = run.processor._networks[0][1]
    run.send("zigbee2mqtt/bridge/state", '{"state":"online"}', retained=True)
    run.send("zigbee2mqtt/bridge/info", json.dumps({"version": "1.40.2", "permit_join": False}))
    run.send("zigbee2mqtt/bridge/logging", json.dumps({"level": "info", "message": "MQTT publish"}))
    run.send("zigbee2mqtt/Floor 1/HB-101 PIR/set", json.dumps({"occupancy_timeout": 90}))
    run.send("zigbee2mqtt/Floor 1/HB-101 PIR/get", json.dumps({"state": ""}))
    run.send("zigbee2mqtt/Floor 1/HB-101 PIR/set/occupancy_timeout", "90")
    assert run.readings == [] and run.dead == []
    assert (adapter.bridge_messages, adapter.commands_skipped) == (3, 3)


def test_the_base_topic_comes_from_the_registry():
    run = Run("z2m/#")
    assert run.processor.topic_filters[-1] == "z2m/#"
    assert run.send("z2m/Floor 1/HB-101 climate", json.dumps(CLIMATE)) == 2
    run.send("zigbee2mqtt/Floor 1/HB-101 climate", json.dumps(CLIMATE))
    assert run.dead[-1].reason == "bad_topic"


def test_a_retained_state_is_not_a_new_reading_unless_it_says_when():
    run = Run()
    topic = "zigbee2mqtt/Floor 1/HB-101 climate"
    assert run.send(topic, json.dumps(CLIMATE), retained=True) == 0
    assert run.health("Floor 1/HB-101 climate").messages == 1
    stamped = {**CLIMATE, "last_seen": "2026-12-04T09:59:58.123Z"}
    assert run.send(topic, json.dumps(stamped), retained=True) == 2
    assert {ts for ts, *_ in run.readings} == {RECEIVED_US - 1_877_000}
    # a replayed state of a device not in the registry: nothing to store, nothing to say
    assert run.send("zigbee2mqtt/Kitchen/bulb", '{"state":"ON"}', retained=True) == 0
    assert run.dead == []


GARBAGE = [
    ("zigbee2mqtt/Floor 1/HB-101 climate", "temperature=21.5", "unparseable", "not JSON"),
    ("zigbee2mqtt/Floor 1/HB-101 climate", "[21.5]", "unparseable", "JSON object"),
    ("zigbee2mqtt/Floor 1/HB-101 PIR", '{"occupancy": "maybe"}', "unparseable", "'maybe'"),
    ("zigbee2mqtt/Floor 1/HB-101 climate", '{"temperature": 500}', "out_of_range", "500"),
    ("zigbee2mqtt/Floor 1/HB-101 PIR/availability", "sleepy", "unparseable", "'sleepy'"),
    ("zigbee2mqtt/Floor 2/HB-201 PIR", '{"occupancy": true}', "unknown_device", "zigbee_name"),
    ("zigbee2mqtt/Floor 1/HB-101 climate", '{"last_seen": "teatime"}', "bad_timestamp", "teatime"),
]


def test_garbage_is_dead_lettered_naming_the_device_and_good_messages_around_it_are_kept():
    run = Run()
    good = "zigbee2mqtt/Floor 1/HB-101 climate"
    for topic, payload, _, _ in GARBAGE:
        run.send(good, json.dumps(CLIMATE))
        run.send(topic, payload)
    run.send(good, json.dumps(CLIMATE))
    assert len(run.readings) == 2 * (len(GARBAGE) + 1)
    assert [d.reason for d in run.dead] == [reason for _, _, reason, _ in GARBAGE]
    for letter, (topic, _, _, words) in zip(run.dead, GARBAGE, strict=True):
        device = topic.removeprefix("zigbee2mqtt/").removesuffix("/availability")
        assert f"Zigbee2MQTT device {device!r}" in letter.detail, letter.detail
        assert words in letter.detail, letter.detail


# -- end to end: real Mosquitto, real `campuslab serve`, the API ---------------------
def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def points(serve, space: str, quantity: str, start: datetime, end: datetime) -> list:
    answer = serve.get(
        f"/api/v1/spaces/{space}/readings", quantity=quantity, start=iso(start), end=iso(end)
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["points"]


def dead_letters(serve) -> list[dict]:
    return serve.get("/api/v1/dead-letters").json()


@pytest.mark.servers
def test_end_to_end_readings_presence_garbage_and_the_service_stays_up(
    mosquitto, serve_factory, tmp_path: Path
):
    base = f"z2m{uuid.uuid4().hex[:6]}"
    registry = tmp_path / "campus.yaml"
    registry.write_text(registry_text(f"{base}/#"))
    data_dir = tmp_path / "serve"
    serve = serve_factory(mosquitto.url, data_dir=data_dir, registry=registry)
    publisher = MqttTestPublisher(mosquitto.port, f"z2m-pub-{uuid.uuid4().hex[:6]}")
    climate, pir = f"{base}/Floor 1/HB-101 climate", f"{base}/Floor 1/HB-101 PIR"
    try:
        before = datetime.now(UTC) - timedelta(seconds=1)
        publisher.publish(f"{base}/bridge/state", '{"state":"online"}')
        publisher.publish(climate, json.dumps({**CLIMATE, "temperature": 21.5, "humidity": 40.0}))
        publisher.publish(climate, "temperature=21.5")  # garbage
        publisher.publish(f"{base}/Floor 2/HB-201 PIR", '{"occupancy": true}')  # unknown
        publisher.publish(pir, json.dumps({"battery": 100, "linkquality": 87, "occupancy": True}))
        time.sleep(0.05)  # receive times in order
        publisher.publish(climate, json.dumps({**CLIMATE, "temperature": 22.0, "humidity": 41.5}))
        publisher.publish(pir, '{"occupancy": "maybe"}')  # garbage
        assert serve.wait_stored(5, timeout=30) == 5
        after = datetime.now(UTC) + timedelta(seconds=1)
        temperature = points(serve, "hb-101", "temperature", before, after)
        humidity = points(serve, "hb-101", "humidity", before, after)
        assert [v for _, v in temperature] == [21.5, 22.0]
        assert [v for _, v in humidity] == [40.0, 41.5]
        stamps = [datetime.fromisoformat(t) for t, _ in temperature]
        assert all(before <= s <= after for s in stamps) and stamps[0] < stamps[1]
        assert [t for t, _ in humidity] == [t for t, _ in temperature]  # one message, one time
        letters = dead_letters(serve)
        reasons = sorted((d["reason"], d["detail"].split(":")[0]) for d in letters)
        assert reasons == [
            (
                "unknown_device",
                "Zigbee2MQTT device 'Floor 2/HB-201 PIR' is not in the registry; "
                "add it under devices",
            ),
            ("unparseable", "Zigbee2MQTT device 'Floor 1/HB-101 PIR'"),
            ("unparseable", "Zigbee2MQTT device 'Floor 1/HB-101 climate'"),
        ]
        assert serve.get("/api/v1/health").status_code == 200  # still up
    finally:
        publisher.close()
        serve.stop()
    # presence is not a quantity the readings route serves (yet): read it from the store
    with duckdb.connect(str(data_dir / "campuslab.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT sensor, value FROM readings WHERE quantity = 'presence'"
        ).fetchall()
    assert rows == [("hb-101", 1.0)]
