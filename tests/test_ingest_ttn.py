"""The Things Stack v3 uplinks: registered devices' decoded payloads become readings.

Messages are shaped as The Things Stack's "Data Formats" documentation shows them
(``end_device_ids``, ``uplink_message.decoded_payload``, ``rx_metadata``,
``received_at`` with nanoseconds), with the decoded fields Milesight's AM307/AM319
decoder writes. Worked examples on the processor, then the whole path through the
real Mosquitto into a real ``campuslab serve`` and back out of the API.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from servers.publisher import MqttTestPublisher

from campuslab.core.readings import ReadingBatch, to_epoch_us
from campuslab.core.registry import RegistryError, parse_campus, sample_campus_path
from campuslab.ingest.processor import MessageProcessor

AM319_EUI = "24E124710B423527"
VS121_EUI = "24E124538B223213"
DEVICES = f"""
networks:
  - type: ttn
devices:
  - {{dev_eui: {AM319_EUI.lower()}, model: milesight-am319, space: rfb-104, id: rfb-104-iaq}}
  - {{ttn_device_id: vs121-rfb-104, model: milesight-vs121, space: rfb-104}}
  - {{dev_eui: {VS121_EUI}, model: milesight-vs121, space: rfb-201}}
"""
TOPIC = "v3/campus-iaq@ttn/devices/{device}/up"
# Two days ago at 10:00 UTC: in the past, and recent enough for every store.
T0 = (datetime.now(UTC) - timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)


def registry_text(extra: str = DEVICES) -> str:
    return sample_campus_path().read_text(encoding="utf-8") + extra


def rfc3339_ns(moment: datetime, nanos: int = 0) -> str:
    """The stack writes nanoseconds: 2026-12-02T10:00:00.123456789Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond * 1000 + nanos:09d}Z"


def am319_uplink(moment: datetime, device_id: str = "am319-rfb-104", **decoded) -> dict:
    payload = {
        "battery": 87,
        "temperature": 21.7,
        "humidity": 41.5,
        "pir": "trigger",
        "light_level": 3,
        "co2": 936,
        "tvoc": 1.25,
        "pressure": 1003.2,
        "hcho": 0.02,
        "pm2_5": 6,
        "pm10": 9,
        "o3": 0.01,
    }
    payload.update(decoded)
    return {
        "end_device_ids": {
            "device_id": device_id,
            "application_ids": {"application_id": "campus-iaq"},
            "dev_eui": AM319_EUI,
            "join_eui": "24E124C0002A0001",
            "dev_addr": "260B3A4F",
        },
        "correlation_ids": ["as:up:01HZ0000000000000000000000"],
        "received_at": rfc3339_ns(moment + timedelta(milliseconds=40), 123),
        "uplink_message": {
            "session_key_id": "AYx0b7+9G3S0nOWFh0y6rw==",
            "f_port": 85,
            "f_cnt": 1042,
            "frm_payload": "AXVXA2fZAARoUwUAAQcGfQADCH0GAAlzfCc=",
            "decoded_payload": payload,
            "rx_metadata": [
                {"gateway_ids": {"gateway_id": "gw-rfb-roof"}, "rssi": -97, "snr": 7.25},
                {
                    "gateway_ids": {"gateway_id": "gw-library"},
                    "rssi": -81,
                    "channel_rssi": -81,
                    "snr": 9.5,
                },
            ],
            "settings": {
                "data_rate": {"lora": {"bandwidth": 125000, "spreading_factor": 7}},
                "frequency": "868100000",
            },
            "received_at": rfc3339_ns(moment, 987),
            "consumed_airtime": "0.071936s",
        },
    }


def process(processor: MessageProcessor, topic: str, message: dict | bytes):
    batch, letters = ReadingBatch(), []
    payload = message if isinstance(message, bytes) else json.dumps(message).encode()
    processor.process(topic, payload, time.time_ns() // 1000, batch, letters)
    return list(batch), letters


@pytest.fixture(scope="module")
def processor() -> MessageProcessor:
    return MessageProcessor(parse_campus(registry_text()))


def test_an_am319_uplink_becomes_four_readings_at_the_network_servers_time(processor):
    readings, letters = process(processor, TOPIC.format(device="am319-rfb-104"), am319_uplink(T0))
    assert letters == []
    ts = to_epoch_us(T0)  # uplink_message.received_at, nanoseconds cut to microseconds
    assert {(r.quantity, r.value) for r in readings} == {
        ("co2", 936.0),
        ("temperature", 21.7),
        ("humidity", 41.5),
        ("presence", 1.0),
    }
    assert {(r.ts_us, r.building, r.sensor) for r in readings} == {(ts, "rfb", "rfb-104")}
    # battery, light_level, tvoc, pressure, hcho, pm2_5, pm10, o3 are not readings
    assert processor.unmapped_fields["milesight-am319"] >= 7


def test_device_health_takes_battery_and_the_strongest_gateway(processor):
    process(processor, TOPIC.format(device="am319-rfb-104"), am319_uplink(T0))
    health = processor.health.get("rfb-104-iaq")
    assert (health.battery, health.rssi, health.snr) == (87.0, -81.0, 9.5)
    assert (health.building, health.sensor, health.model) == ("rfb", "rfb-104", "milesight-am319")


def test_device_found_by_its_the_things_stack_id_when_it_has_no_dev_eui(processor):
    message = am319_uplink(T0, device_id="vs121-rfb-104")
    del message["end_device_ids"]["dev_eui"]
    message["uplink_message"]["decoded_payload"] = {"people_counter_all": 7.0, "region_count": 2}
    readings, letters = process(processor, TOPIC.format(device="vs121-rfb-104"), message)
    assert letters == []
    assert [(r.sensor, r.quantity, r.value) for r in readings] == [("rfb-104", "occupancy", 7.0)]


def test_either_decoder_spelling_of_the_people_count_is_read(processor):
    for field in ("people_count_all", "people_counter_all"):
        message = am319_uplink(T0, device_id="vs121-rfb-201")
        message["end_device_ids"]["dev_eui"] = VS121_EUI
        message["uplink_message"]["decoded_payload"] = {field: 12}
        readings, _ = process(processor, TOPIC.format(device="vs121-rfb-201"), message)
        assert [(r.sensor, r.quantity, r.value) for r in readings] == [
            ("rfb-201", "occupancy", 12.0)
        ]


def test_a_pir_idle_is_presence_zero(processor):
    readings, _ = process(
        processor, TOPIC.format(device="am319-rfb-104"), am319_uplink(T0, pir="idle")
    )
    assert ("presence", 0.0) in {(r.quantity, r.value) for r in readings}


@pytest.mark.parametrize(
    ("mutate", "reason", "words"),
    [
        (lambda m: m["uplink_message"].pop("decoded_payload"), "undecoded", "payload formatter"),
        (lambda m: m.update(simulated=True), "simulated_uplink", "simulated"),
        (
            lambda m: m["end_device_ids"].update(dev_eui="0004A30B001C0530", device_id="stranger"),
            "unknown_device",
            "0004A30B001C0530",
        ),
        (lambda m: m.pop("end_device_ids"), "unparseable", "end_device_ids"),
        (lambda m: m["uplink_message"].update(received_at="at noon"), "bad_timestamp", "RFC 3339"),
    ],
)
def test_a_bad_uplink_is_dead_lettered_naming_the_device(processor, mutate, reason, words):
    message = copy.deepcopy(am319_uplink(T0))
    mutate(message)
    readings, letters = process(processor, TOPIC.format(device="am319-rfb-104"), message)
    assert readings == []
    assert [letter.reason for letter in letters] == [reason]
    assert words in letters[0].detail


def test_one_bad_field_rejects_that_reading_only(processor):
    readings, letters = process(
        processor, TOPIC.format(device="am319-rfb-104"), am319_uplink(T0, co2="n/a", humidity=140)
    )
    assert {r.quantity for r in readings} == {"temperature", "presence"}
    assert sorted((d.reason, "AM319" in d.detail or AM319_EUI in d.detail) for d in letters) == [
        ("out_of_range", True),
        ("unparseable", True),
    ]


@pytest.mark.parametrize("payload", [b"", b"{", b"[1,2]", b"\xff\xfe", b"null", b'"up"'])
def test_garbage_on_an_uplink_topic_is_unparseable(processor, payload):
    readings, letters = process(processor, TOPIC.format(device="am319-rfb-104"), payload)
    assert readings == []
    assert [d.reason for d in letters] == ["unparseable"]


def test_a_topic_of_no_configured_network_says_which_topics_are_read(processor):
    _readings, letters = process(processor, "v2/old-app/devices/x/up", am319_uplink(T0))
    assert [d.reason for d in letters] == ["bad_topic"]
    assert "v3/+/devices/+/up" in letters[0].detail


@pytest.mark.parametrize(
    ("devices", "words"),
    [
        ("- {dev_eui: 24E124710B42352, model: milesight-am319, space: rfb-104}", "DevEUI"),
        ("- {dev_eui: 24E124710B423527, model: am-9000, space: rfb-104}", "no device profile"),
        ("- {dev_eui: 24E124710B423527, model: milesight-am319, space: nowhere}", "no space"),
        ("- {model: milesight-am319, space: rfb-104}", "identity"),
        (
            "- {dev_eui: 24E124710B423527, model: milesight-am319, space: rfb-104}\n"
            "  - {dev_eui: 24e124710b423527, model: milesight-am307, space: rfb-105}",
            "already the device",
        ),
    ],
)
def test_a_bad_device_in_the_registry_is_refused_with_its_path(devices, words):
    with pytest.raises(RegistryError) as caught:
        parse_campus(registry_text(f"devices:\n  {devices}\n"))
    assert "devices[" in str(caught.value)
    assert words in str(caught.value)


def test_a_campus_profile_folder_adds_a_model_without_a_release(tmp_path: Path):
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "acme.yaml").write_text(
        "model: acme-co2\nreadings:\n  co2: {fields: [CO2, co2_ppm]}\n  temperature: "
        "{fields: [temp_dC], scale: 0.1}\n"
    )
    campus_file = tmp_path / "campus.yaml"
    campus_file.write_text(
        registry_text(
            "networks: [{type: ttn}]\ndevice_profiles: profiles\n"
            "devices:\n  - {ttn_device_id: acme-1, model: acme-co2, space: rfb-104}\n"
        )
    )
    from campuslab.core.registry import load_campus

    processor = MessageProcessor(load_campus(campus_file))
    message = am319_uplink(T0, device_id="acme-1")
    del message["end_device_ids"]["dev_eui"]
    message["uplink_message"]["decoded_payload"] = {"co2_ppm": 512, "temp_dC": 215}
    readings, letters = process(processor, TOPIC.format(device="acme-1"), message)
    assert letters == []
    assert {(r.quantity, r.value) for r in readings} == {("co2", 512.0), ("temperature", 21.5)}


# -- end to end: the real broker, the real `campuslab serve` -------------------------------


@pytest.mark.servers
def test_uplinks_through_mosquitto_come_back_from_the_api_exactly(
    mosquitto, serve_factory, tmp_path
):
    registry = tmp_path / "campus.yaml"
    registry.write_text(registry_text())
    serve = serve_factory(mosquitto.url, registry=registry)
    publisher = MqttTestPublisher(mosquitto.port, f"ttn-{uuid.uuid4().hex[:8]}")
    try:
        topic = TOPIC.format(device="am319-rfb-104")
        moments = [T0 + timedelta(minutes=10 * i) for i in range(3)]
        co2 = [936, 1012.5, 880]
        publisher.publish(topic, b"{garbage")
        for moment, value in zip(moments, co2, strict=True):
            publisher.publish(topic, json.dumps(am319_uplink(moment, co2=value)))
        stranger = am319_uplink(T0, device_id="ghost")
        stranger["end_device_ids"]["dev_eui"] = "0004A30B001C0530"
        publisher.publish(topic, json.dumps(stranger))
        publisher.publish(topic, json.dumps(am319_uplink(moments[0], co2=co2[0])))  # redelivery
        publisher.wait_acked(6)
        assert serve.wait_stored(12) == 12
        time.sleep(0.5)
        assert serve.stored() == 12  # the repeated uplink stored nothing twice

        def points(quantity):
            return serve.get(
                "/api/v1/spaces/rfb-104/readings",
                quantity=quantity,
                start=T0.isoformat(),
                end=(T0 + timedelta(hours=1)).isoformat(),
            ).json()

        stamp = [m.strftime("%Y-%m-%dT%H:%M:%SZ") for m in moments]
        assert points("co2")["points"] == [[s, v] for s, v in zip(stamp, co2, strict=True)]
        assert points("temperature")["points"] == [[s, 21.7] for s in stamp]
        letters = serve.get("/api/v1/dead-letters").json()
        reasons = sorted(item["reason"] for item in letters)
        assert reasons == ["unknown_device", "unparseable"]
        unknown = next(i for i in letters if i["reason"] == "unknown_device")
        assert "0004A30B001C0530" in unknown["detail"]
        assert serve.get("/api/v1/health").status_code == 200
    finally:
        publisher.close()
