"""End to end on real parts: real Mosquitto, `campuslab serve`, the API.

Includes the no-loss guarantees: kill -9 of the ingesting process and a
graceful broker restart in the middle of a QoS 1 stream store every reading
exactly once.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from servers.publisher import MqttTestPublisher

pytestmark = pytest.mark.servers

# Two days ago at 10:00 UTC, so every timestamp is in the past and recent.
T0 = (datetime.now(UTC) - timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def json_reading(ts: datetime, value: float, unit: str | None = None) -> str:
    body = {"value": value, "ts": iso(ts)}
    if unit:
        body["unit"] = unit
    return json.dumps(body)


def stream(campus, n: int) -> list[tuple[str, str]]:
    """n distinct JSON CO2 readings spread over every space, one minute apart per space."""
    spaces = [(b.id, s.id) for b, s in campus.spaces()]
    messages = []
    for i in range(n):
        building, space = spaces[i % len(spaces)]
        ts = T0 + timedelta(minutes=i // len(spaces))
        messages.append((f"campus/{building}/{space}/co2", json_reading(ts, 400 + i % 1000)))
    return messages


def metric(serve, name: str, **labels: str) -> float:
    text = serve.get("/metrics").text
    wanted = name + (
        "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else ""
    )
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{wanted} not in /metrics")


@pytest.fixture
def publisher(mosquitto):
    client = MqttTestPublisher(mosquitto.port, f"pub-{uuid.uuid4().hex[:8]}")
    yield client
    client.close()


def test_published_readings_come_back_exactly(mosquitto, serve_factory, publisher):
    serve = serve_factory(mosquitto.url)
    values = [612.0, 640.5, 701.25, 689.0, 655.0]
    for i, value in enumerate(values):
        publisher.publish(
            "campus/rfb/rfb-101/co2", json_reading(T0 + timedelta(minutes=i), value, "ppm")
        )
    assert serve.wait_stored(len(values)) == len(values)
    answer = serve.get(
        "/api/v1/spaces/rfb-101/readings",
        quantity="co2",
        start=iso(T0),
        end=iso(T0 + timedelta(hours=1)),
    ).json()
    assert answer["space_id"] == "rfb-101"
    assert answer["quantity"] == "co2"
    assert answer["unit"] == "ppm"
    assert answer["points"] == [[iso(T0 + timedelta(minutes=i)), v] for i, v in enumerate(values)]


def test_each_payload_format(mosquitto, serve_factory, publisher):
    serve = serve_factory(mosquitto.url)
    before = time.time()
    publisher.publish("campus/hb/hb-101/occupancy", "42")  # bare: receive time
    publisher.publish(
        "campus/hb/hb-101/temperature",
        json.dumps({"value": 71.6, "ts": int(T0.timestamp()), "unit": "°F"}),
    )
    pack = [
        {
            "bn": "urn:campuslab:hb:hb-101:",
            "bt": T0.timestamp(),
            "bu": "%RH",
            "bv": 30,
            "n": "humidity",
            "v": 1.5,
        },
        {"n": "humidity", "t": 60, "v": 2.5},
        {"n": "co2", "u": "ppm", "bv": 0, "t": 120, "v": 777},
    ]
    publisher.publish("campus/hb/hb-101/senml", json.dumps(pack))
    publisher.publish(
        "campus/hb/hb-el/energy", json.dumps({"value": 1_250_000, "unit": "Wh", "ts": iso(T0)})
    )
    assert serve.wait_stored(6) == 6

    def points(sensor, quantity, start=T0, end=T0 + timedelta(hours=1)):
        return serve.get(
            f"/api/v1/spaces/{sensor}/readings", quantity=quantity, start=iso(start), end=iso(end)
        ).json()["points"]

    assert points("hb-101", "temperature") == [[iso(T0), 22.0]]  # 71.6 °F
    assert points("hb-101", "humidity") == [[iso(T0), 31.5], [iso(T0 + timedelta(minutes=1)), 32.5]]
    assert points("hb-101", "co2") == [[iso(T0 + timedelta(minutes=2)), 777.0]]
    now = datetime.now(UTC)
    bare = points("hb-101", "occupancy", now - timedelta(minutes=5), now + timedelta(minutes=1))
    assert len(bare) == 1 and bare[0][1] == 42.0
    received = datetime.fromisoformat(bare[0][0]).timestamp()
    assert before - 1 <= received <= time.time() + 1


GARBAGE = [
    ("unparseable", "campus/rfb/rfb-101/co2", "{not json"),
    ("unknown_building", "campus/atlantis/rfb-101/co2", "500"),
    ("unknown_sensor", "campus/rfb/rfb-999/co2", "500"),
    ("unknown_quantity", "campus/rfb/rfb-101/radon", "500"),
    ("bad_unit", "campus/rfb/rfb-101/co2", json.dumps({"value": 1, "unit": "mg/m3"})),
    ("not_finite", "campus/rfb/rfb-101/co2", "NaN"),
    ("out_of_range", "campus/rfb/rfb-101/humidity", "250"),
    (
        "future_timestamp",
        "campus/rfb/rfb-101/co2",
        json.dumps({"value": 500, "ts": "2099-01-01T00:00:00Z"}),
    ),
    ("bad_timestamp", "campus/rfb/rfb-101/co2", json.dumps({"value": 500, "ts": "noon"})),
    ("too_large", "campus/rfb/rfb-101/co2", "9" * 100_000),
    ("bad_topic", "campus/rfb/rfb-101", "500"),
]


def test_bad_input_is_rejected_counted_and_ingestion_goes_on(mosquitto, serve_factory, publisher):
    serve = serve_factory(mosquitto.url)
    for _, topic, payload in GARBAGE:
        publisher.publish(topic, payload)
        publisher.publish("campus/lsb/lsb-101/co2", json_reading(T0, 480))  # good, repeated
    good = json_reading(T0 + timedelta(minutes=1), 490)
    publisher.publish("campus/lsb/lsb-101/co2", good)
    assert serve.wait_stored(2) == 2
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and metric(serve, "campuslab_ingest_received_total") < 23:
        time.sleep(0.1)
    for reason, _, _ in GARBAGE:
        assert metric(serve, "campuslab_ingest_rejected_total", reason=reason) == 1, reason
    assert metric(serve, "campuslab_ingest_stored_total") == 2
    assert metric(serve, "campuslab_ingest_duplicates_total") == len(GARBAGE) - 1
    assert serve.get("/api/v1/health").json()["status"] == "ok"


def _stream_in_background(publisher, messages) -> threading.Thread:
    thread = threading.Thread(
        target=publisher.publish_all,
        args=(messages,),
        kwargs={"pause_every": 500, "pause": 0.1},  # a stream of >= 4 s: the kill lands in it
        daemon=True,
    )
    thread.start()
    return thread


@pytest.mark.slow
def test_kill_9_mid_stream_loses_nothing_and_counts_nothing_twice(
    mosquitto, serve_factory, publisher, campus, tmp_path
):
    n = 20_000
    messages = stream(campus, n)
    serve = serve_factory(mosquitto.url, data_dir=tmp_path / "killed", client_id="kill-test")
    sender = _stream_in_background(publisher, messages)
    deadline = time.monotonic() + 30
    while (stored := serve.stored()) < n // 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    # a kill after the stream would prove nothing
    assert n // 4 <= stored < n and sender.is_alive(), stored
    serve.kill()  # mid-stream, with messages received but not yet stored or acknowledged
    killed_at = serve.process.returncode
    assert killed_at == -9
    sender.join(60)
    publisher.wait_acked(n)
    serve.start()  # same data dir, same client id: the broker's session carries the rest
    assert serve.wait_stored(n, timeout=90) == n
    time.sleep(1.0)  # redeliveries still arriving must not add anything
    assert serve.stored() == n


@pytest.mark.slow
def test_broker_restart_mid_stream_loses_nothing(fresh_mosquitto, serve_factory, campus):
    n = 10_000
    messages = stream(campus, n)
    serve = serve_factory(fresh_mosquitto.url, client_id="restart-test")
    publisher = MqttTestPublisher(fresh_mosquitto.port, "restart-publisher")
    try:
        sender = _stream_in_background(publisher, messages)
        deadline = time.monotonic() + 30
        while (stored := serve.stored()) < n // 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert n // 3 <= stored < n, stored  # a restart after the stream would prove nothing
        fresh_mosquitto.restart(down_for=1.0)
        sender.join(60)
        publisher.wait_acked(n, timeout=90)
        assert serve.wait_stored(n, timeout=90) == n
        time.sleep(1.0)
        assert serve.stored() == n
    finally:
        publisher.close()


@pytest.mark.parametrize("fmt", ["json", "senml", "ttn"])
def test_simulated_campus_arrives_exactly_as_published(mosquitto, serve_factory, campus, fmt):
    """simulate -> broker -> serve -> API: every value and timestamp as the simulator made it."""
    from campuslab.core.config import parse_mqtt_url
    from campuslab.simulators.campus import CampusSimulator, SimulationConfig
    from campuslab.simulators.publisher import MqttPublisher, backfill

    serve = serve_factory(mosquitto.url)
    simulator = CampusSimulator(campus, SimulationConfig(seed=7, interval=timedelta(minutes=5)))
    start, end = T0, T0 + timedelta(hours=2)
    expected = [
        reading
        for batch in CampusSimulator(
            campus, SimulationConfig(seed=7, interval=timedelta(minutes=5))
        ).batches(start, end)
        for reading in batch
    ]
    with MqttPublisher(parse_mqtt_url(mosquitto.url), client_id=f"sim-{fmt}") as publisher:
        report = backfill(simulator, publisher, start, end, fmt)
    # As The Things Stack devices, each space's AM319 also reports its PIR: one presence
    # reading per space and step on top of what the simulator made.
    extra = 0 if fmt != "ttn" else sum(1 for r in expected if r.quantity == "occupancy")
    assert report.readings == len(expected) + extra
    assert serve.wait_stored(len(expected) + extra) == len(expected) + extra

    for sensor, quantity in [
        ("rfb-101", "occupancy"),
        ("rfb-101", "co2"),
        ("lsb-101", "temperature"),
        ("hb-201", "humidity"),
    ]:
        published = [
            [iso(r.timestamp), r.value]
            for r in expected
            if r.sensor == sensor and r.quantity == quantity
        ]
        answer = serve.get(
            f"/api/v1/spaces/{sensor}/readings", quantity=quantity, start=iso(start), end=iso(end)
        ).json()
        assert answer["points"] == published, (sensor, quantity)
        assert len(published) == 24


CAMPUS_CODES = Path(__file__).parent / "data" / "campus_codes.yaml"


def test_a_campus_room_code_travels_unchanged_from_mqtt_to_the_api(
    mosquitto, serve_factory, publisher
):
    """A2.14 over real Mosquitto into `campuslab serve`: stored, read back and exported as
    itself; A2x14 is another room, and a topic in the wrong case is a dead letter."""
    serve = serve_factory(mosquitto.url, registry=CAMPUS_CODES)
    values = [612.0, 640.5, 701.25]
    for i, value in enumerate(values):
        publisher.publish("campus/HB/A2.14/co2", json_reading(T0 + timedelta(minutes=i), value))
    publisher.publish("campus/HB/A2x14/co2", json_reading(T0, 900.0))
    pack = [{"bn": "urn:campuslab:HB:A2.14:", "bt": T0.timestamp(), "n": "humidity", "v": 41.5}]
    publisher.publish("campus/HB/A2.14/senml", json.dumps(pack))
    publisher.publish("campus/EL/EL.el/energy", json.dumps({"value": 1250.5, "ts": iso(T0)}))
    publisher.publish("campus/hb/A2.14/co2", json_reading(T0, 1.0))  # building in the wrong case
    publisher.publish("campus/HB/a2.14/co2", json_reading(T0, 2.0))  # space in the wrong case
    assert serve.wait_stored(6) == 6

    def readings(space: str, quantity: str = "co2") -> httpx.Response:
        return serve.get(
            f"/api/v1/spaces/{space}/readings",
            quantity=quantity,
            start=iso(T0),
            end=iso(T0 + timedelta(hours=1)),
        )

    answer = readings("A2.14").json()
    assert answer["space_id"] == "A2.14"
    assert answer["points"] == [[iso(T0 + timedelta(minutes=i)), v] for i, v in enumerate(values)]
    assert readings("A2.14", "humidity").json()["points"] == [[iso(T0), 41.5]]
    assert readings("A2x14").json()["points"] == [[iso(T0), 900.0]]
    wrong_case = readings("a2.14")
    assert wrong_case.status_code == 404
    assert "no space 'a2.14'" in wrong_case.json()["detail"]
    plus = readings("A2+14")
    assert plus.status_code == 422
    assert "'A2+14' has '+' at position 3" in plus.json()["detail"]
    assert "A2.14" in [s["id"] for s in serve.get("/api/v1/spaces").json()]
    assert metric(serve, "campuslab_ingest_rejected_total", reason="unknown_building") == 1
    assert metric(serve, "campuslab_ingest_rejected_total", reason="unknown_sensor") == 1

    export = serve.get(
        "/api/v1/export",
        quantity="co2",
        building="HB",
        start=iso(T0),
        end=iso(T0 + timedelta(hours=1)),
        every="15m",
    )
    assert export.status_code == 200, export.text
    assert 'filename="HB-co2-15m-' in export.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(export.text)))
    first = {r["sensor"]: r for r in table if r["ts"].startswith(iso(T0)[:16])}
    assert float(first["A2.14"]["value"]) == pytest.approx((612.0 + 640.5 + 701.25) / 3)
    assert float(first["A2x14"]["value"]) == 900.0
    assert {r["building"] for r in table} == {"HB"}


def test_a_fractional_head_count_is_rejected_and_named(mosquitto, serve_factory, publisher):
    """Occupancy 2.5 is no count of people: a dead letter naming the value, never stored."""
    serve = serve_factory(mosquitto.url)
    topic = "campus/lsb/lsb-101/occupancy"
    senml = json.dumps([{"bn": "lsb-101/", "n": "occupancy", "v": 4.25, "u": "count"}])
    publisher.publish(topic, json_reading(T0, 2.5))
    publisher.publish(topic, "7.5")
    publisher.publish("campus/lsb/lsb-101/senml", senml)
    publisher.publish(topic, json_reading(T0 + timedelta(minutes=1), 3))  # whole: stored
    assert serve.wait_stored(1) == 1
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and metric(serve, "campuslab_ingest_received_total") < 4:
        time.sleep(0.1)
    assert metric(serve, "campuslab_ingest_rejected_total", reason="fractional_count") == 3
    letters = serve.get("/api/v1/dead-letters", reason="fractional_count").json()
    details = sorted(letter["detail"] for letter in letters)
    assert [d.split(" is ")[0] for d in details] == [
        "occupancy: 2.5",
        "occupancy: 4.25",
        "occupancy: 7.5",
    ]
    assert all("not a whole number of people" in d for d in details)
    stored = serve.get(
        "/api/v1/spaces/lsb-101/readings",
        quantity="occupancy",
        start=iso(T0 - timedelta(minutes=1)),
        end=iso(T0 + timedelta(minutes=5)),
    ).json()["points"]
    assert [value for _, value in stored] == [3.0]
