"""Home Assistant MQTT Statestream: worked examples on the processor, then end to end.

Messages are shaped as Statestream publishes them (``mqtt_statestream`` with
``publish_attributes: true`` and ``publish_timestamps: true``): the raw state text on
``<base>/<domain>/<object id>/state``, each attribute JSON-encoded on its own topic
(``"ppm"`` with quotes), ``last_updated``/``last_changed``, all retained.
"""

from __future__ import annotations

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
HA = "homeassistant"


def registry_text(base: str = HA) -> str:
    return (
        sample_campus_path().read_text()
        + f"""
networks:
  - {{type: home_assistant, topic: "{base}/#"}}
devices:
  - {{ha_entity: sensor.hb101_co2, quantity: co2, space: hb-101}}
  - {{ha_entity: sensor.hb101_temperature, quantity: temperature, space: hb-101}}
  - {{ha_entity: sensor.rfb104_temperature, quantity: temperature, unit: "°F", space: rfb-104}}
  - {{ha_entity: binary_sensor.hb101_motion, quantity: presence, space: hb-101}}
"""
    )


class Run:
    def __init__(self) -> None:
        self.processor = MessageProcessor(parse_campus(registry_text()))
        self.adapter = self.processor._networks[0][1]
        self.batch = ReadingBatch()
        self.dead: list[DeadLetter] = []

    def send(self, topic: str, payload: str | bytes, retained: bool = False) -> int:
        body = payload.encode() if isinstance(payload, str) else payload
        return self.processor.process(
            f"{HA}/{topic}", body, RECEIVED_US, self.batch, self.dead, retained
        )

    @property
    def readings(self) -> list[tuple]:
        return [(r.ts_us, r.sensor, r.quantity, r.value) for r in self.batch]


def test_a_raw_state_is_a_reading_at_the_receive_time():
    run = Run()
    assert run.send("sensor/hb101_co2/state", "612") == 1
    assert run.readings == [(RECEIVED_US, "hb-101", "co2", 612.0)]
    assert run.dead == []


def test_the_unit_topic_is_remembered_for_the_entity_and_converts_its_states():
    run = Run()
    run.send("sensor/hb101_temperature/unit_of_measurement", '"°F"', retained=True)
    run.send("sensor/hb101_temperature/device_class", '"temperature"', retained=True)
    run.send("sensor/hb101_temperature/state", "71.6")
    run.send("sensor/hb101_temperature/state", "68")
    assert [v for *_, v in run.readings] == [22.0, 20.0]


def test_a_state_before_its_unit_is_known_is_in_the_registry_unit_else_the_canonical_one():
    run = Run()
    run.send("sensor/rfb104_temperature/state", "71.6")  # registry says °F
    run.send("sensor/hb101_temperature/state", "21.5")  # no unit anywhere: °C
    run.send("sensor/hb101_temperature/unit_of_measurement", '"°F"')  # arrives after
    run.send("sensor/hb101_temperature/state", "71.6")
    assert [(s, v) for _, s, _, v in run.readings] == [
        ("rfb-104", 22.0),
        ("hb-101", 21.5),
        ("hb-101", 22.0),
    ]


def test_a_retained_state_replayed_on_subscribe_is_not_stored_again():
    run = Run()
    assert run.send("sensor/hb101_co2/state", "612", retained=True) == 0
    assert run.readings == [] and run.dead == []
    assert run.adapter.replayed_states == 1
    health = run.processor.health.get("sensor.hb101_co2")
    assert health.messages == 1 and health.last_reading_us is None


@pytest.mark.parametrize("state", ["unavailable", "unknown"])
def test_unavailable_and_unknown_are_no_reading_and_no_dead_letter(state):
    run = Run()
    run.send("sensor/hb101_co2/state", "640")
    assert run.send("sensor/hb101_co2/state", state) == 0
    assert run.dead == [] and len(run.readings) == 1
    health = run.processor.health.get("sensor.hb101_co2")
    assert health.online is (state != "unavailable")
    run.send("sensor/hb101_co2/state", "655")
    assert run.processor.health.get("sensor.hb101_co2").online is True


def test_binary_sensor_on_and_off_are_presence():
    run = Run()
    run.send("binary_sensor/hb101_motion/state", "on")
    run.send("binary_sensor/hb101_motion/state", "off")
    assert [(q, v) for _, _, q, v in run.readings] == [("presence", 1.0), ("presence", 0.0)]


def test_attributes_timestamps_other_entities_and_other_topics_are_skipped_quietly():
    run = Run()
    for topic, payload in [
        ("sensor/hb101_co2/friendly_name", '"HB-101 CO2"'),
        ("sensor/hb101_co2/state_class", '"measurement"'),
        ("sensor/hb101_co2/last_updated", '"2026-12-04T09:59:59.912345+00:00"'),
        ("sensor/hb101_co2/last_changed", '"2026-12-04T09:59:59.912345+00:00"'),
        ("sensor/hb101_co2/config", '{"name": "CO2"}'),  # MQTT discovery shares the prefix
        ("sensor/node7/hb101_co2/config", '{"name": "CO2"}'),
        ("status", "online"),  # Home Assistant's birth message
        ("sensor/phone_battery_level/state", "87"),  # not in the registry
        ("light/kitchen/state", "on"),
    ]:
        assert run.send(topic, payload) == 0
    assert run.readings == [] and run.dead == []
    assert run.adapter.ignored_messages == 4  # the last four: not a registered entity


GARBAGE = [
    ("sensor/hb101_co2/state", "six hundred", "unparseable", "'six hundred'"),
    ("sensor/hb101_co2/state", b"\xff\xfe612", "unparseable", "not UTF-8"),
    ("sensor/hb101_co2/state", "1e9", "out_of_range", "1e+09"),
    ("sensor/hb101_co2/state", "NaN", "not_finite", "nan"),
    ("binary_sensor/hb101_motion/state", "maybe", "unparseable", "'maybe'"),
    ("sensor/rfb104_temperature/state", "-500", "out_of_range", "-295.556 °C"),
]


def test_garbage_is_dead_lettered_naming_the_entity_and_good_states_around_it_are_kept():
    run = Run()
    for topic, payload, _, _ in GARBAGE:
        run.send("sensor/hb101_co2/state", "600")
        run.send(topic, payload)
    run.send("sensor/hb101_co2/state", "600")
    assert len(run.readings) == len(GARBAGE) + 1
    assert [d.reason for d in run.dead] == [reason for _, _, reason, _ in GARBAGE]
    for letter, (topic, _, _, words) in zip(run.dead, GARBAGE, strict=True):
        domain, object_id, _ = topic.split("/")
        assert f"Home Assistant entity {domain}.{object_id}" in letter.detail, letter.detail
        assert words in letter.detail, letter.detail


def test_a_unit_that_cannot_be_converted_is_dead_lettered_naming_the_entity():
    run = Run()
    run.send("sensor/hb101_co2/unit_of_measurement", '"mg/m³"')
    run.send("sensor/hb101_co2/state", "1.2")
    (letter,) = run.dead
    assert letter.reason == "bad_unit"
    assert "Home Assistant entity sensor.hb101_co2" in letter.detail and "mg/m³" in letter.detail


# -- end to end: real Mosquitto, real `campuslab serve` restarted, the API -------------
def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def points(serve, space: str, quantity: str, start: datetime, end: datetime) -> list:
    answer = serve.get(
        f"/api/v1/spaces/{space}/readings", quantity=quantity, start=iso(start), end=iso(end)
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["points"]


def metric(serve, name: str) -> float:
    for line in serve.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


def received(serve) -> float:
    return metric(serve, "campuslab_ingest_received_total")


def backlog(serve) -> float:
    return metric(serve, "campuslab_ingest_backlog")


def wait_for(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class Statestream:
    """Publishes as Home Assistant's statestream does: retained, QoS 1."""

    def __init__(self, port: int, base: str) -> None:
        self.base = base
        self.publisher = MqttTestPublisher(port, f"ha-{uuid.uuid4().hex[:6]}")
        self.sent = 0

    def publish(self, entity: str, leaf: str, payload: str) -> None:
        domain, object_id = entity.split(".")
        topic = f"{self.base}/{domain}/{object_id}/{leaf}"
        self.publisher.client.publish(topic, payload, qos=1, retain=True)
        self.sent += 1

    def state(self, entity: str, state: str, unit: str | None = None) -> None:
        """A state change: the state, then its attributes and timestamps, as HA sends them."""
        now = datetime.now(UTC).isoformat()
        self.publish(entity, "state", state)
        self.publish(entity, "last_updated", f'"{now}"')
        self.publish(entity, "last_changed", f'"{now}"')
        if unit is not None:
            self.publish(entity, "unit_of_measurement", f'"{unit}"')
        self.publish(entity, "friendly_name", f'"{entity}"')

    def close(self) -> None:
        self.publisher.wait_acked(self.sent)
        self.publisher.close()


@pytest.mark.servers
def test_end_to_end_a_restart_replays_retained_states_and_the_count_does_not_grow(
    mosquitto, serve_factory, tmp_path: Path
):
    base = f"ha{uuid.uuid4().hex[:6]}"
    registry = tmp_path / "campus.yaml"
    registry.write_text(registry_text(base))
    data_dir = tmp_path / "serve"
    serve = serve_factory(
        mosquitto.url, data_dir=data_dir, registry=registry, client_id=f"ha-{base}"
    )
    ha = Statestream(mosquitto.port, base)
    try:
        before = datetime.now(UTC) - timedelta(seconds=1)
        # units are retained from earlier, as on a running Home Assistant
        ha.publish("sensor.hb101_temperature", "unit_of_measurement", '"°F"')
        ha.publish("sensor.hb101_co2", "unit_of_measurement", '"ppm"')
        ha.state("sensor.hb101_co2", "612", "ppm")
        ha.state("sensor.hb101_temperature", "71.6", "°F")
        ha.state("sensor.hb101_co2", "six hundred")  # garbage
        ha.state("binary_sensor.hb101_motion", "on")
        ha.state("sensor.hb101_co2", "unavailable")
        assert serve.wait_stored(3, timeout=30) == 3
        first = datetime.now(UTC) + timedelta(seconds=1)

        serve.stop()  # CampusLab restarts; Home Assistant goes on
        ha.state("sensor.hb101_co2", "655", "ppm")  # while CampusLab is away
        serve.start(timeout=90)  # resubscribes: the broker replays every retained topic
        ha.state("sensor.hb101_temperature", "68", "°F")  # live after the restart
        assert serve.wait_stored(5, timeout=30) == 5
        # every retained topic (14) was replayed to the restarted service, and taken in
        wait_for(lambda: received(serve) >= 14 + 5 and backlog(serve) == 0, "the replay")
        after = datetime.now(UTC) + timedelta(seconds=1)
        assert serve.stored() == 5  # replays of 612, 71.6, on, 655 were not stored again

        co2 = points(serve, "hb-101", "co2", before, after)
        temperature = points(serve, "hb-101", "temperature", before, after)
        assert [v for _, v in co2] == [612.0, 655.0]
        assert [v for _, v in temperature] == [22.0, 20.0]
        co2_times = [datetime.fromisoformat(t) for t, _ in co2]
        assert before <= co2_times[0] <= first <= co2_times[1] <= after
        letters = serve.get("/api/v1/dead-letters").json()
        assert [(d["reason"], d["detail"]) for d in letters] == [
            (
                "unparseable",
                "Home Assistant entity sensor.hb101_co2: co2 'six hundred' is not a number",
            )
        ]
        assert serve.get("/api/v1/health").status_code == 200
    finally:
        ha.close()
        serve.stop()
    with duckdb.connect(str(data_dir / "campuslab.duckdb"), read_only=True) as con:
        presence = con.execute(
            "SELECT sensor, value FROM readings WHERE quantity = 'presence'"
        ).fetchall()
    assert presence == [("hb-101", 1.0)]
