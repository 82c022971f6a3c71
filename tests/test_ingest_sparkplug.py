"""Sparkplug B edge nodes and devices: BIRTH names the metrics, DATA sends aliases only.

Payloads are built the way Eclipse Tahu's Python examples build them (its
``sparkplug_b`` helpers and generated ``sparkplug_b_pb2``, as packaged by tahutils):
an NBIRTH with ``bdSeq`` and ``Node Control/Rebirth``, DBIRTHs that name each metric
and give it an alias, DDATA with aliases alone, and ``seq`` counting per edge node.
The worked examples run through the processor; the end-to-end tests through the real
Mosquitto into a real ``campuslab serve``, read back over the HTTP API.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from servers.campuslab_serve import ServeProcess
from servers.publisher import MqttTestPublisher
from tahutils.tahu.sparkplug_b import MetricDataType, addMetric
from tahutils.tahu.sparkplug_b_pb2 import Payload

from campuslab.core.readings import DeadLetter, ReadingBatch, from_epoch_us, isoformat_utc
from campuslab.core.registry import parse_campus, sample_campus_path
from campuslab.ingest.processor import MessageProcessor

GROUP, NODE = "Campus", "EN1"
NODE_TOPIC = f"spBv1.0/{GROUP}/{{kind}}/{NODE}"
DEVICE_TOPIC = f"spBv1.0/{GROUP}/{{kind}}/{NODE}/{{device}}"

REGISTRY_DEVICES = """
networks:
  - type: sparkplug
devices:
  - {sparkplug_device: Campus/EN1/IAQ-104, model: sparkplug-iaq, space: rfb-104}
  - {sparkplug_device: Campus/EN1/IAQ-101, model: sparkplug-iaq, space: rfb-101}
  - {sparkplug_device: Campus/EN2, model: sparkplug-iaq, space: hb-101}
  - {sparkplug_device: Campus/EN3/IAQ-102, model: sparkplug-iaq, space: rfb-102}
"""

# A fixed, recent start (whole seconds): readings must not be in the future, and the
# readings route serves the last 24 hours by default.
T0_MS = (int(time.time()) - 1800) * 1000


def _campus():
    return parse_campus(sample_campus_path().read_text() + REGISTRY_DEVICES)


def _topic(kind: str, device: str | None = None, node: str = NODE) -> str:
    if device is None:
        return f"spBv1.0/{GROUP}/{kind}/{node}"
    return f"spBv1.0/{GROUP}/{kind}/{node}/{device}"


def nbirth(bd_seq: int, ts_ms: int, metrics: list[tuple] = ()) -> bytes:
    """An NBIRTH as Tahu's edge node example sends it: seq 0, bdSeq, Node Control."""
    payload = Payload()
    payload.timestamp = ts_ms
    payload.seq = 0
    addMetric(payload, "bdSeq", None, MetricDataType.Int64, bd_seq, ts_ms)
    addMetric(payload, "Node Control/Rebirth", None, MetricDataType.Boolean, False, ts_ms)
    for name, alias, datatype, value in metrics:
        addMetric(payload, name, alias, datatype, value, ts_ms)
    return payload.SerializeToString()


def ndeath(bd_seq: int) -> bytes:
    """The Will Message an edge node registers: bdSeq alone, no seq, no timestamp."""
    payload = Payload()
    addMetric(payload, "bdSeq", None, MetricDataType.Int64, bd_seq)
    return payload.SerializeToString()


def dbirth(seq: int, ts_ms: int, metrics: list[tuple]) -> bytes:
    """A DBIRTH: every metric by name, with its alias, datatype and current value."""
    payload = Payload()
    payload.timestamp = ts_ms
    payload.seq = seq
    for name, alias, datatype, value in metrics:
        addMetric(payload, name, alias, datatype, value, ts_ms)
    return payload.SerializeToString()


def data(seq: int, ts_ms: int, metrics: list[tuple]) -> bytes:
    """An NDATA/DDATA: aliases only (no names), each metric with its own timestamp."""
    payload = Payload()
    payload.timestamp = ts_ms
    payload.seq = seq
    for alias, datatype, value, metric_ms in metrics:
        addMetric(payload, None, alias, datatype, value, metric_ms)
    return payload.SerializeToString()


def ddeath(seq: int, ts_ms: int) -> bytes:
    payload = Payload()
    payload.timestamp = ts_ms
    payload.seq = seq
    return payload.SerializeToString()


IAQ_104_BIRTH = [
    ("Temperature", 1, MetricDataType.Float, 21.5),
    ("Humidity", 2, MetricDataType.Float, 40.0),
    ("CO2", 3, MetricDataType.UInt16, 600),
    ("Properties/Firmware", 4, MetricDataType.String, "1.4.2"),
]


class Run:
    """A processor fed one message at a time, collecting readings and dead letters."""

    def __init__(self) -> None:
        self.processor = MessageProcessor(_campus())
        self.batch = ReadingBatch()
        self.letters: list[DeadLetter] = []
        self.received_us = (T0_MS + 60 * 60_000) * 1000  # an hour after T0: nothing is future

    def send(self, topic: str, payload: bytes) -> int:
        return self.processor.process(topic, payload, self.received_us, self.batch, self.letters)

    def readings(self) -> list[tuple[int, str, str, float]]:
        """(time, space, quantity, value), sorted."""
        return sorted((r.ts_us, r.sensor, r.quantity, r.value) for r in self.batch)

    def health(self, device: str):
        return self.processor.health.get(device)


def _born_iaq_104(run: Run) -> None:
    run.send(_topic("NBIRTH"), nbirth(bd_seq=0, ts_ms=T0_MS))
    run.send(_topic("DBIRTH", "IAQ-104"), dbirth(1, T0_MS, IAQ_104_BIRTH))


# -- worked examples through the processor -----------------------------------------------
def test_ddata_with_aliases_only_becomes_named_readings_at_the_metric_times():
    run = Run()
    _born_iaq_104(run)
    # the DBIRTH's current values are readings too (the firmware string is not mapped)
    assert run.readings() == [
        (T0_MS * 1000, "rfb-104", "co2", 600.0),
        (T0_MS * 1000, "rfb-104", "humidity", 40.0),
        (T0_MS * 1000, "rfb-104", "temperature", 21.5),
    ]
    run.batch = ReadingBatch()
    accepted = run.send(
        _topic("DDATA", "IAQ-104"),
        data(
            2,
            T0_MS + 61_000,
            [
                (3, MetricDataType.UInt16, 812, T0_MS + 60_000),
                (1, MetricDataType.Float, 21.7, T0_MS + 60_500),
                (2, MetricDataType.Float, 41.5, T0_MS + 60_500),
            ],
        ),
    )
    assert accepted == 3
    assert run.letters == []
    assert sorted(run.readings()) == [
        ((T0_MS + 60_000) * 1000, "rfb-104", "co2", 812.0),
        ((T0_MS + 60_500) * 1000, "rfb-104", "humidity", 41.5),
        # a 32-bit Float 21.7 reads 21.7, not 21.700000762939453
        ((T0_MS + 60_500) * 1000, "rfb-104", "temperature", 21.7),
    ]
    health = run.health("Campus/EN1/IAQ-104")
    assert health.online is True
    assert health.last_reading_us == (T0_MS + 60_500) * 1000


def test_folder_names_node_metrics_signed_integers_and_the_payload_time():
    run = Run()
    # IAQ-101 names its metrics in folders; its node's devices share one alias space
    run.send(_topic("NBIRTH"), nbirth(bd_seq=3, ts_ms=T0_MS))
    run.send(
        _topic("DBIRTH", "IAQ-101"),
        dbirth(
            1,
            T0_MS,
            [
                ("Inputs/CO2", 10, MetricDataType.Double, 455.0),
                ("Inputs/Temperature", 11, MetricDataType.Int16, -2),  # a cold store
            ],
        ),
    )
    # no metric timestamps: the payload's time is the reading's time
    payload = Payload()
    payload.timestamp = T0_MS + 5_000
    payload.seq = 2
    metric = payload.metrics.add()
    metric.alias = 11
    metric.int_value = (-3) + 2**16  # Int16 -3 as Sparkplug sends it (two's complement)
    run.send(_topic("DDATA", "IAQ-101"), payload.SerializeToString())
    # node-level metrics of a node registered as group/edge node
    run.send(
        _topic("NBIRTH", node="EN2"),
        nbirth(bd_seq=0, ts_ms=T0_MS, metrics=[("Occupancy", 1, MetricDataType.Int32, 12)]),
    )
    run.send(
        _topic("NDATA", node="EN2"),
        data(1, T0_MS + 5_000, [(1, MetricDataType.Int32, 14, T0_MS + 5_000)]),
    )
    assert run.letters == []
    assert run.readings() == [
        (T0_MS * 1000, "hb-101", "occupancy", 12.0),
        (T0_MS * 1000, "rfb-101", "co2", 455.0),
        (T0_MS * 1000, "rfb-101", "temperature", -2.0),
        ((T0_MS + 5_000) * 1000, "hb-101", "occupancy", 14.0),
        ((T0_MS + 5_000) * 1000, "rfb-101", "temperature", -3.0),
    ]


def test_an_alias_no_birth_declared_is_a_dead_letter_naming_device_and_alias():
    run = Run()
    _born_iaq_104(run)
    run.batch = ReadingBatch()
    run.send(
        _topic("DDATA", "IAQ-104"),
        data(
            2,
            T0_MS + 1_000,
            [
                (3, MetricDataType.UInt16, 700, T0_MS + 1_000),
                (9, MetricDataType.Float, 1.0, T0_MS + 1_000),  # never born
            ],
        ),
    )
    assert run.readings() == [((T0_MS + 1_000) * 1000, "rfb-104", "co2", 700.0)]
    [letter] = run.letters
    assert letter.reason == "unknown_alias"
    assert "Sparkplug device 'Campus/EN1/IAQ-104'" in letter.detail
    assert "alias 9" in letter.detail
    assert "rebirth" in letter.detail


def test_data_before_any_birth_is_a_dead_letter_saying_a_rebirth_is_needed():
    run = Run()  # CampusLab started after the node was born
    run.send(
        _topic("DDATA", "IAQ-104"),
        data(7, T0_MS, [(1, MetricDataType.Float, 21.0, T0_MS)]),
    )
    assert run.readings() == []
    [letter] = run.letters
    assert letter.reason == "unknown_alias"
    assert letter.topic == "spBv1.0/Campus/DDATA/EN1/IAQ-104"
    assert "no DBIRTH was seen" in letter.detail
    assert "edge node 'Campus/EN1' must rebirth" in letter.detail


def test_ddeath_marks_the_device_offline_and_a_rebirth_brings_it_back():
    run = Run()
    _born_iaq_104(run)
    run.batch = ReadingBatch()
    assert run.send(_topic("DDEATH", "IAQ-104"), ddeath(2, T0_MS + 2_000)) == 0
    health = run.health("Campus/EN1/IAQ-104")
    assert health.online is False
    assert health.last_reading_us == T0_MS * 1000  # a death is not a reading
    assert run.letters == [] and run.readings() == []
    # after a death the old aliases are gone: DATA needs a new DBIRTH
    run.send(_topic("DDATA", "IAQ-104"), data(3, T0_MS + 3_000, [(3, 7, 650, T0_MS + 3_000)]))
    assert [letter.reason for letter in run.letters] == ["unknown_alias"]
    run.send(_topic("DBIRTH", "IAQ-104"), dbirth(4, T0_MS + 4_000, IAQ_104_BIRTH))
    assert run.health("Campus/EN1/IAQ-104").online is True


def test_ndeath_marks_the_node_and_its_devices_offline_unless_it_is_stale():
    run = Run()
    _born_iaq_104(run)
    run.send(_topic("DBIRTH", "IAQ-101"), dbirth(2, T0_MS, [("CO2", 20, 7, 500)]))
    # a will from an older session (another bdSeq) changes nothing
    assert run.send(_topic("NDEATH"), ndeath(bd_seq=5)) == 0
    assert run.health("Campus/EN1/IAQ-104").online is True
    run.send(_topic("NDEATH"), ndeath(bd_seq=0))
    assert run.health("Campus/EN1/IAQ-104").online is False
    assert run.health("Campus/EN1/IAQ-101").online is False
    # the node itself (a gateway) is not registered: its death is no dead letter
    assert run.letters == []


def test_a_rebirth_with_other_aliases_renames_the_metrics():
    run = Run()
    _born_iaq_104(run)
    # the node's configuration changed: a new NBIRTH, then a DBIRTH with swapped aliases
    run.send(_topic("NBIRTH"), nbirth(bd_seq=1, ts_ms=T0_MS + 10_000))
    run.send(
        _topic("DBIRTH", "IAQ-104"),
        dbirth(
            1,
            T0_MS + 10_000,
            [
                ("CO2", 1, MetricDataType.UInt16, 620),
                ("Temperature", 3, MetricDataType.Float, 21.0),
            ],
        ),
    )
    run.batch = ReadingBatch()
    run.send(
        _topic("DDATA", "IAQ-104"),
        data(
            2,
            T0_MS + 20_000,
            [
                (1, MetricDataType.UInt16, 900, T0_MS + 20_000),
                (3, MetricDataType.Float, 22.5, T0_MS + 20_000),
                (2, MetricDataType.Float, 40.0, T0_MS + 20_000),  # Humidity's old alias
            ],
        ),
    )
    assert sorted(run.readings()) == [
        ((T0_MS + 20_000) * 1000, "rfb-104", "co2", 900.0),
        ((T0_MS + 20_000) * 1000, "rfb-104", "temperature", 22.5),
    ]
    assert [letter.reason for letter in run.letters] == ["unknown_alias"]
    assert "the last DBIRTH did not declare it" in run.letters[0].detail


def test_a_sequence_gap_is_logged_and_reading_goes_on(caplog):
    run = Run()
    _born_iaq_104(run)
    run.batch = ReadingBatch()
    with caplog.at_level("WARNING", logger="campuslab.ingest.networks.sparkplug"):
        run.send(
            _topic("DDATA", "IAQ-104"),
            data(5, T0_MS + 1_000, [(3, MetricDataType.UInt16, 640, T0_MS + 1_000)]),
        )
    assert run.readings() == [((T0_MS + 1_000) * 1000, "rfb-104", "co2", 640.0)]
    assert "DDATA seq 5 after 1" in caplog.text


@pytest.mark.parametrize(
    ("topic", "payload", "reason", "words"),
    [
        (
            _topic("DDATA", "IAQ-104"),
            b'{"CO2": 612}',
            "unparseable",
            ["Sparkplug device 'Campus/EN1/IAQ-104'", "not a Sparkplug B protobuf"],
        ),
        (
            _topic("DBIRTH", "IAQ-104"),
            dbirth(1, T0_MS, IAQ_104_BIRTH)[:-7],  # cut inside the last metric
            "unparseable",
            ["Sparkplug device 'Campus/EN1/IAQ-104'", "DBIRTH", "do not parse (cut short"],
        ),
        (
            _topic("NDATA"),
            b"",
            "unparseable",
            ["Sparkplug edge node 'Campus/EN1'", "NDATA has no metrics"],
        ),
        (
            _topic("DBIRTH", "Thermostat-9"),
            dbirth(1, T0_MS, [("Temperature", 1, MetricDataType.Float, 20.0)]),
            "unknown_device",
            ["Sparkplug device 'Campus/EN1/Thermostat-9'", "sparkplug_device"],
        ),
        (
            "spBv1.0/Campus/DDATA/EN1",
            data(1, T0_MS, [(1, MetricDataType.Float, 20.0, T0_MS)]),
            "bad_topic",
            ["'DDATA' is not a Sparkplug B message type for an edge node"],
        ),
    ],
    ids=["json", "truncated", "empty", "unknown-device", "ddata-without-device"],
)
def test_garbage_is_a_dead_letter_naming_the_node_or_device(topic, payload, reason, words):
    run = Run()
    run.send(topic, payload)
    assert run.readings() == []
    [letter] = run.letters
    assert letter.reason == reason
    for word in words:
        assert word in letter.detail


def test_commands_and_host_state_are_passed_over():
    run = Run()
    payload = Payload()
    addMetric(payload, "Node Control/Rebirth", None, MetricDataType.Boolean, True)
    assert run.send(_topic("NCMD"), payload.SerializeToString()) == 0
    assert run.send("spBv1.0/STATE/scada-host", b'{"online": true, "timestamp": 1}') == 0
    assert run.letters == [] and run.readings() == []


# -- end to end: real Mosquitto, real campuslab serve -------------------------------------
@pytest.fixture(scope="module")
def sparkplug_serve(mosquitto, tmp_path_factory: pytest.TempPathFactory):
    """One ``campuslab serve`` for the module (each test uses its own edge node)."""
    folder = tmp_path_factory.mktemp("sparkplug-serve")
    registry = folder / "campus.yaml"
    registry.write_text(sample_campus_path().read_text() + REGISTRY_DEVICES)
    serve = ServeProcess(
        mosquitto.url, folder / "data", f"sparkplug-{uuid.uuid4().hex[:6]}", registry=registry
    ).start()
    publisher = MqttTestPublisher(mosquitto.port, f"sparkplug-edge-{uuid.uuid4().hex[:6]}")
    yield serve, publisher
    publisher.close()
    serve.stop()


def _points(serve, space: str, quantity: str) -> list[list]:
    start = isoformat_utc(from_epoch_us(T0_MS * 1000) - timedelta(minutes=1))
    end = isoformat_utc(datetime.now(UTC) + timedelta(minutes=1))
    response = serve.get(
        f"/api/v1/spaces/{space}/readings", quantity=quantity, start=start, end=end
    )
    assert response.status_code == 200, response.text
    return response.json()["points"]


def _wait_dead_letters(serve, about: str, expected: int, timeout: float = 30.0) -> list[dict]:
    """The dead letters whose detail names ``about``, once ``expected`` are there."""
    deadline = time.monotonic() + timeout
    letters: list[dict] = []
    while time.monotonic() < deadline:
        letters = [
            letter
            for letter in serve.get("/api/v1/dead-letters").json()
            if about in letter["detail"]
        ]
        if len(letters) >= expected:
            break
        time.sleep(0.1)
    return letters


def _iso(ms: int) -> str:
    return isoformat_utc(from_epoch_us(ms * 1000))


def test_end_to_end_birth_then_alias_data_is_served_with_names_values_and_times(
    sparkplug_serve,
):
    serve, edge = sparkplug_serve
    stored_before = serve.stored()
    edge.publish(_topic("NBIRTH"), nbirth(bd_seq=0, ts_ms=T0_MS))
    edge.publish(_topic("DBIRTH", "IAQ-104"), dbirth(1, T0_MS, IAQ_104_BIRTH))
    edge.publish(
        _topic("DDATA", "IAQ-104"),
        data(
            2,
            T0_MS + 61_000,
            [
                (3, MetricDataType.UInt16, 812, T0_MS + 60_000),
                (1, MetricDataType.Float, 21.7, T0_MS + 60_123),
            ],
        ),
    )
    edge.publish(_topic("DDEATH", "IAQ-104"), ddeath(3, T0_MS + 90_000))
    edge.wait_acked(edge.published)
    assert serve.wait_stored(stored_before + 5) == stored_before + 5
    assert _points(serve, "rfb-104", "co2") == [[_iso(T0_MS), 600.0], [_iso(T0_MS + 60_000), 812.0]]
    assert _points(serve, "rfb-104", "temperature") == [
        [_iso(T0_MS), 21.5],
        [_iso(T0_MS + 60_123), 21.7],
    ]
    assert _points(serve, "rfb-104", "humidity") == [[_iso(T0_MS), 40.0]]
    assert _points(serve, "rfb-101", "co2") == []  # the right space, and only it
    assert not [
        letter
        for letter in serve.get("/api/v1/dead-letters").json()
        if "Campus/EN1" in letter["detail"]
    ]


def test_end_to_end_garbage_is_dead_lettered_and_good_messages_around_it_are_stored(
    sparkplug_serve,
):
    serve, edge = sparkplug_serve
    stored_before = serve.stored()
    good_before = data(2, T0_MS + 1_000, [(3, MetricDataType.UInt16, 700, T0_MS + 1_000)])
    messages = [
        # DATA before any BIRTH (CampusLab was not listening when the node was born)
        (
            _topic("DDATA", "IAQ-102", node="EN3"),
            data(0, T0_MS, [(3, MetricDataType.UInt16, 650, T0_MS)]),
        ),
        (_topic("NBIRTH", node="EN3"), nbirth(bd_seq=0, ts_ms=T0_MS)),
        (_topic("DBIRTH", "IAQ-102", node="EN3"), dbirth(1, T0_MS, IAQ_104_BIRTH)),
        (_topic("DDATA", "IAQ-102", node="EN3"), good_before),
        (_topic("DDATA", "IAQ-102", node="EN3"), b"\x00\xffnot protobuf at all\xfe"),
        (_topic("DDATA", "IAQ-102", node="EN3"), good_before[:-3]),  # truncated
        (
            _topic("DBIRTH", "Thermostat-9", node="EN3"),
            dbirth(3, T0_MS, [("Temperature", 1, MetricDataType.Float, 19.0)]),
        ),
        (
            _topic("DDATA", "IAQ-102", node="EN3"),
            data(4, T0_MS + 2_000, [(3, MetricDataType.UInt16, 720, T0_MS + 2_000)]),
        ),
    ]
    for topic, payload in messages:
        edge.publish(topic, payload)
    edge.wait_acked(edge.published)
    letters = _wait_dead_letters(serve, "'Campus/EN3", 4)
    # the DBIRTH (3 readings) and the two good DDATA (1 each)
    assert serve.wait_stored(stored_before + 5) == stored_before + 5
    assert _points(serve, "rfb-102", "co2") == [
        [_iso(T0_MS), 600.0],
        [_iso(T0_MS + 1_000), 700.0],
        [_iso(T0_MS + 2_000), 720.0],
    ]
    by_reason = sorted((letter["reason"], letter["detail"]) for letter in letters)
    assert [reason for reason, _ in by_reason] == [
        "unknown_alias",
        "unknown_device",
        "unparseable",
        "unparseable",
    ]
    for _, detail in by_reason:
        assert "Sparkplug device 'Campus/EN3/" in detail
    assert "alias 3" in by_reason[0][1]
    assert "Thermostat-9" in by_reason[1][1]
    health = serve.get("/api/v1/health")
    assert health.status_code == 200
    assert health.json()["ingest"]["connected"] is True
