"""ChirpStack v4 MQTT integration events through the message processor.

Events are shaped as ChirpStack v4 publishes them (integration.proto in its JSON
mapping: lowerCamelCase, ``time`` with ``+00:00`` and nanoseconds, default values left
out, the codec's ``object`` with every number a JSON double such as ``502.0``).
The path through the real broker and ``campuslab serve`` is in
tests/test_chirpstack_e2e.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from campuslab.core.devices import NetworkConnection
from campuslab.core.readings import DeadLetter, ReadingBatch, to_epoch_us
from campuslab.core.registry import parse_campus, sample_campus_path
from campuslab.ingest.networks.chirpstack import ChirpStackAdapter
from campuslab.ingest.processor import MessageProcessor

AM319_EUI = "24e124710b423527"  # ChirpStack writes DevEUIs in lower case
VS121_EUI = "24e124538b223213"
TIME = "2026-12-03T09:34:15.775023242+00:00"
TIME_US = to_epoch_us(datetime(2026, 12, 3, 9, 34, 15, 775023, tzinfo=UTC))
RECEIVED_US = TIME_US + 2_000_000

REGISTRY = (
    sample_campus_path().read_text()
    + """
networks:
  - type: chirpstack
devices:
  - {dev_eui: 24E124710B423527, model: milesight-am319, space: rfb-104}
  - {dev_eui: 24-E1-24-53-8B-22-32-13, model: milesight-vs121, space: rfb-201}
"""
)


def device_info(eui: str, name: str, profile: str) -> dict:
    return {
        "tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242",
        "tenantName": "Nordfjell University",
        "applicationId": "17c82e96-be03-4f38-aef3-f83d48582d97",
        "applicationName": "campus-sensors",
        "deviceProfileId": "14855bf7-d10d-4aee-b618-ebfcb64dc7ad",
        "deviceProfileName": profile,
        "deviceName": name,
        "devEui": eui,
        "deviceClassEnabled": "CLASS_C",
        "tags": {"building": "rfb"},
    }


def up_event(eui: str = AM319_EUI, obj: dict | None = None, time: str = TIME, **extra) -> dict:
    event = {
        "deduplicationId": "3ac7e3c4-4401-4b8d-9386-a5c902f9202d",
        "time": time,
        "deviceInfo": device_info(eui, "am319-rfb104", "Milesight AM319"),
        "devAddr": "00189440",
        "adr": True,
        "dr": 5,
        "fCnt": 1287,
        "fPort": 85,
        "data": "A2fsAARocgUAAQbLAQd9xwEIfQIACXNoJwp9AQALfQMADH0EAA19AQAOAQE=",
        "object": obj
        if obj is not None
        else {
            "temperature": 23.6,
            "humidity": 57.0,
            "pir": "trigger",
            "light_level": 1.0,
            "co2": 455.0,
            "tvoc": 2.0,
            "pressure": 1008.8,
            "hcho": 0.01,
            "pm2_5": 3.0,
            "pm10": 4.0,
            "o3": 0.02,
            "beep": "yes",
        },
        "rxInfo": [
            {
                "gatewayId": "0016c001f153a14c",
                "uplinkId": 4217106255,
                "rssi": -97,
                "snr": 7.25,
                "channel": 2,
                "context": "E3OWOQ==",
                "crcStatus": "CRC_OK",
            },
            {
                "gatewayId": "0016c001f153a14d",
                "uplinkId": 1020543,
                "rssi": -81,
                "snr": 9.5,
                "channel": 2,
                "context": "kF0aHQ==",
                "crcStatus": "CRC_OK",
            },
        ],
        "txInfo": {
            "frequency": 867100000,
            "modulation": {
                "lora": {"bandwidth": 125000, "spreadingFactor": 7, "codeRate": "CR_4_5"}
            },
        },
        "regionConfigId": "eu868",
    }
    event.update(extra)
    return event


def topic(eui: str = AM319_EUI, event: str = "up") -> str:
    return f"application/17c82e96-be03-4f38-aef3-f83d48582d97/device/{eui}/event/{event}"


@pytest.fixture
def processor() -> MessageProcessor:
    return MessageProcessor(parse_campus(REGISTRY))


def run(
    processor: MessageProcessor, topic_name: str, message: dict | bytes
) -> tuple[int, list, list[DeadLetter]]:
    payload = message if isinstance(message, bytes) else json.dumps(message).encode()
    batch, dead = ReadingBatch(), []
    accepted = processor.process(topic_name, payload, RECEIVED_US, batch, dead)
    return accepted, list(batch), dead


def test_subscribes_to_chirpstack_events(processor):
    assert processor.topic_filters == ["campus/#", "application/+/device/+/event/+"]


def test_am319_uplink_gives_its_readings_at_the_event_time(processor):
    accepted, readings, dead = run(processor, topic(), up_event())
    assert dead == []
    assert accepted == 4
    assert {(r.quantity, r.value) for r in readings} == {
        ("co2", 455.0),
        ("temperature", 23.6),
        ("humidity", 57.0),
        ("presence", 1.0),  # "trigger": someone is there, not a head count
    }
    assert {(r.ts_us, r.building, r.sensor) for r in readings} == {(TIME_US, "rfb", "rfb-104")}
    # light_level, tvoc, pressure, hcho, pm2_5, pm10, o3, beep are not CampusLab quantities
    assert processor.unmapped_fields == {"milesight-am319": 8}
    health = processor.health.get("eui-24e124710b423527")
    assert (health.rssi, health.snr) == (-81.0, 9.5)  # the strongest gateway
    assert health.last_reading_us == TIME_US


def test_devices_are_matched_whatever_the_case_of_the_dev_eui(processor):
    # registered upper case with separators; ChirpStack sends lower case, or upper case
    for eui in (VS121_EUI, VS121_EUI.upper()):
        accepted, readings, dead = run(
            processor, topic(eui), up_event(eui, {"people_count_all": 3.0})
        )
        assert (accepted, dead) == (1, [])
        assert [(r.sensor, r.quantity, r.value) for r in readings] == [
            ("rfb-201", "occupancy", 3.0)
        ]


def test_float_counts_pass_through_unchanged(processor):
    # 2.5 people is not a count, but whether occupancy must be whole is the validation's
    # rule: the adapter and the profile hand the decoded value on exactly as it came
    adapter = ChirpStackAdapter(NetworkConnection(type="chirpstack"))
    for value in (3.0, 2.5):
        event = json.dumps(up_event(VS121_EUI, {"people_count_all": value})).encode()
        [uplink] = adapter.decode(topic(VS121_EUI), event, RECEIVED_US, False)
        mapped = processor.devices.map(uplink, RECEIVED_US)
        assert mapped.readings == [("occupancy", TIME_US, value, "count")]


def test_uplink_without_object_asks_for_a_codec(processor):
    event = up_event()
    del event["object"]
    accepted, readings, dead = run(processor, topic(), event)
    assert (accepted, readings) == (0, [])
    [letter] = dead
    assert letter.reason == "undecoded"
    assert "'am319-rfb104'" in letter.detail and "24E124710B423527" in letter.detail
    assert "codec" in letter.detail and "'Milesight AM319'" in letter.detail


def test_uplink_of_mac_commands_only_is_neither_reading_nor_dead_letter(processor):
    event = up_event()
    del event["object"], event["data"]
    event["fPort"] = 0
    assert run(processor, topic(), event) == (0, [], [])
    assert processor.health.get("eui-24e124710b423527").messages == 1


def test_status_event_gives_battery_to_device_health_and_no_readings(processor):
    status = {
        "deduplicationId": "9f2a61f3-7b7e-4f0a-a4c6-5c0e5f6b7a11",
        "time": TIME,
        "deviceInfo": device_info(VS121_EUI, "vs121-rfb201", "Milesight VS121"),
        "margin": 7,
        "batteryLevel": 84.251965,
    }
    assert run(processor, topic(VS121_EUI, "status"), status) == (0, [], [])
    health = processor.health.get("eui-24e124538b223213")
    assert health.battery == pytest.approx(84.251965)
    assert health.last_reading_us is None  # seen, but it measured nothing
    # a mains-powered device says so; the last known battery level stays
    mains = dict(status, externalPowerSource=True)
    del mains["batteryLevel"]
    assert run(processor, topic(VS121_EUI, "status"), mains) == (0, [], [])
    assert processor.health.get("eui-24e124538b223213").battery == pytest.approx(84.251965)
    unavailable = dict(status, batteryLevelUnavailable=True, batteryLevel=0.0)
    assert run(processor, topic(VS121_EUI, "status"), unavailable) == (0, [], [])
    assert processor.health.get("eui-24e124538b223213").battery == pytest.approx(84.251965)


def test_join_counts_as_seen_other_events_are_silent(processor):
    join = {
        "deduplicationId": "c9dbe358-2578-4fb7-b295-66b44edc45a6",
        "time": TIME,
        "deviceInfo": device_info(AM319_EUI, "am319-rfb104", "Milesight AM319"),
        "devAddr": "00189440",
    }
    assert run(processor, topic(event="join"), join) == (0, [], [])
    assert processor.health.get("eui-24e124710b423527").messages == 1
    info = device_info(AM319_EUI, "am319-rfb104", "Milesight AM319")
    silent = {
        "ack": {"time": TIME, "deviceInfo": info, "queueItemId": "q1", "fCntDown": 3},
        "txack": {"downlinkId": 3, "time": TIME, "deviceInfo": info, "gatewayId": "0016c0"},
        "log": {
            "time": TIME,
            "deviceInfo": info,
            "level": "ERROR",
            "code": "UPLINK_CODEC",
            "description": "ReferenceError: x is not defined",
        },
        "location": {"time": TIME, "deviceInfo": info, "location": {"latitude": 59.9}},
        "integration": {"time": TIME, "deviceInfo": info, "integrationName": "loracloud"},
    }
    for event, message in silent.items():
        assert run(processor, topic(event=event), message) == (0, [], []), event
    assert processor.health.get("eui-24e124710b423527").messages == 1
    acknowledged = dict(silent["ack"], acknowledged=True)  # the device answered
    assert run(processor, topic(event="ack"), acknowledged) == (0, [], [])
    assert processor.health.get("eui-24e124710b423527").messages == 2


def test_unknown_device_uplink_is_dead_lettered_but_its_join_is_not(processor):
    stranger = "a840419edb62011c"
    _, _, dead = run(processor, topic(stranger), up_event(stranger))
    [letter] = dead
    assert letter.reason == "unknown_device"
    assert "A840419EDB62011C" in letter.detail and "dev_eui" in letter.detail
    join = {"time": TIME, "deviceInfo": device_info(stranger, "x", "y"), "devAddr": "01"}
    assert run(processor, topic(stranger, "join"), join) == (0, [], [])


def test_topic_and_device_info_naming_different_devices_is_rejected(processor):
    accepted, readings, dead = run(processor, topic(VS121_EUI), up_event(AM319_EUI))
    assert (accepted, readings) == (0, [])
    [letter] = dead
    assert letter.reason == "unparseable"
    assert "24e124538b223213" in letter.detail and "24E124710B423527" in letter.detail


@pytest.mark.parametrize(
    ("message", "reason", "says"),
    [
        (b"{not json", "unparseable", "not JSON"),
        (b"[1, 2]", "unparseable", "JSON object"),
        (up_event(obj=None, object="AQID"), "unparseable", "object must be a JSON object"),
        (up_event(time="yesterday"), "bad_timestamp", "'am319-rfb104'"),
        (up_event(obj={"co2": "lots", "temperature": 21.0}), "unparseable", "'lots'"),
        (up_event(obj={"co2": 1e9}), "out_of_range", "24E124710B423527"),
        (up_event(deviceInfo={"deviceName": "am319", "devEui": "xyz"}), "unparseable", "xyz"),
    ],
)
def test_garbage_is_dead_lettered_and_good_messages_around_it_stored(
    processor, message, reason, says
):
    _, before, _ = run(processor, topic(), up_event())
    _, _, dead = run(processor, topic(), message)
    assert dead and dead[0].reason == reason
    assert says in dead[0].detail
    _, after, dead_after = run(processor, topic(), up_event(time="2026-12-03T09:24:15+00:00"))
    assert len(before) == len(after) == 4 and dead_after == []


def test_a_custom_event_topic_is_read_by_the_message_shape():
    # ChirpStack's event_topic template can be changed; the registry names the topic
    text = REGISTRY.replace("  - type: chirpstack\n", "  - {type: chirpstack, topic: lorawan/#}\n")
    custom = MessageProcessor(parse_campus(text))
    assert custom.topic_filters == ["campus/#", "lorawan/#"]
    accepted, _, dead = run(custom, "lorawan/campus-sensors/uplinks", up_event())
    assert (accepted, dead) == (4, [])
    status = {
        "time": TIME,
        "deviceInfo": device_info(AM319_EUI, "am319-rfb104", "Milesight AM319"),
        "margin": 3,
        "batteryLevel": 52.0,
    }
    assert run(custom, "lorawan/campus-sensors/status", status) == (0, [], [])
    assert custom.health.get("eui-24e124710b423527").battery == 52.0
