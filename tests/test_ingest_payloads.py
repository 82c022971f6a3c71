"""Payload decoding and validation: each format, SenML resolution, and every reject reason."""

from __future__ import annotations

import json
import math

import pytest

from campuslab.core.readings import DeadLetter, ReadingBatch, to_epoch_us
from campuslab.ingest.decoders import decode_senml, decode_single, parse_timestamp
from campuslab.ingest.processor import IngestLimits, MessageProcessor
from campuslab.ingest.reasons import Reason, Rejected

NOW = to_epoch_us(__import__("datetime").datetime.fromisoformat("2026-11-26T10:00:00+00:00"))
T_10 = 1_795_687_200  # 2026-11-26T10:00:00Z in epoch seconds


def run(processor: MessageProcessor, topic: str, payload: bytes | str):
    batch, dead = ReadingBatch(), []
    if isinstance(payload, str):
        payload = payload.encode()
    processor.process(topic, payload, NOW, batch, dead)
    return list(batch), dead


@pytest.fixture(scope="module")
def processor(campus) -> MessageProcessor:
    return MessageProcessor(campus)


class TestTimestamps:
    @pytest.mark.parametrize(
        "ts",
        ["2026-11-26T10:00:00Z", "2026-11-26T11:00:00+01:00", T_10, T_10 * 1000, float(T_10)],
    )
    def test_rfc3339_epoch_seconds_and_milliseconds_agree(self, ts):
        assert parse_timestamp(ts) == T_10 * 1_000_000

    @pytest.mark.parametrize(
        ("ts", "words"),
        [
            ("2026-11-26T10:00:00", "no UTC offset"),
            ("yesterday", "not RFC 3339"),
            (True, "true/false"),
            (12, "before 2000"),
            ([1], "not list"),
        ],
    )
    def test_garbage_timestamps_say_what_is_wrong(self, ts, words):
        with pytest.raises(Rejected) as caught:
            parse_timestamp(ts)
        assert caught.value.reason is Reason.BAD_TIMESTAMP
        assert words in caught.value.detail


class TestSingleReading:
    def test_json_object_with_all_fields(self):
        assert decode_single(b'{"value": 612, "ts": "2026-11-26T10:00:00Z", "unit": "ppm"}') == [
            (None, T_10 * 1_000_000, 612.0, "ppm")
        ]

    def test_missing_ts_and_unit_are_left_for_the_receiver(self):
        assert decode_single(b'{"value": 21.5}') == [(None, None, 21.5, None)]

    def test_bare_number(self):
        assert decode_single(b"612") == [(None, None, 612.0, None)]

    def test_extra_fields_such_as_battery_are_ignored(self):
        assert decode_single(b'{"value": 3, "battery": 87}') == [(None, None, 3.0, None)]

    @pytest.mark.parametrize(
        "payload",
        [
            b"",
            b"{",
            b"hello",
            b'"612"',
            b"[1, 2]",
            b"true",
            b'{"val": 1}',
            b'{"value": "612"}',
            b"\xff\xfe",
            b"null",
        ],
    )
    def test_garbage_is_unparseable(self, payload):
        with pytest.raises(Rejected) as caught:
            decode_single(payload)
        assert caught.value.reason is Reason.UNPARSEABLE


class TestSenML:
    def test_rfc8428_base_fields_resolve(self):
        pack = [
            {
                "bn": "urn:campuslab:rfb:rfb-101:",
                "bt": T_10,
                "bu": "Cel",
                "bv": 20,
                "n": "temperature",
                "v": 1.5,
            },
            {"n": "co2", "u": "ppm", "v": 580, "t": 60},
            {"n": "humidity", "u": "%RH", "v": 10, "t": 120},
        ]
        readings, rejected = decode_senml(json.dumps(pack).encode(), NOW)
        assert rejected == []
        # bv is added to every v; bu applies unless u is given; t is relative to bt
        assert readings == [
            ("urn:campuslab:rfb:rfb-101:temperature", T_10 * 1_000_000, 21.5, "Cel"),
            ("urn:campuslab:rfb:rfb-101:co2", (T_10 + 60) * 1_000_000, 600.0, "ppm"),
            ("urn:campuslab:rfb:rfb-101:humidity", (T_10 + 120) * 1_000_000, 30.0, "%RH"),
        ]

    def test_small_times_are_relative_to_now(self):
        # RFC 8428 4.5.3: a resolved time below 2**28 is relative to the current time
        pack = [{"n": "co2", "v": 500, "t": -30}, {"n": "co2", "v": 510}]
        readings, _ = decode_senml(json.dumps(pack).encode(), NOW)
        assert [r[1] for r in readings] == [NOW - 30_000_000, NOW]

    def test_base_fields_change_midway(self):
        pack = [
            {"bn": "a:", "bt": T_10, "n": "co2", "v": 1},
            {"bn": "b:", "bt": T_10 + 10, "n": "co2", "v": 2, "t": 1},
        ]
        readings, _ = decode_senml(json.dumps(pack).encode(), NOW)
        assert [(r[0], r[1]) for r in readings] == [
            ("a:co2", T_10 * 1_000_000),
            ("b:co2", (T_10 + 11) * 1_000_000),
        ]

    def test_a_bad_record_is_rejected_alone(self):
        pack = [
            {"bn": "x:", "bt": T_10, "n": "co2", "v": 500},
            {"n": "co2", "vs": "high"},
            {"n": "co2", "v": 510, "t": 60},
        ]
        readings, rejected = decode_senml(json.dumps(pack).encode(), NOW)
        assert [r[2] for r in readings] == [500.0, 510.0]
        assert len(rejected) == 1 and rejected[0].detail.startswith("record 1:")

    @pytest.mark.parametrize(
        "payload",
        [b"{}", b"[]", b"not json", b'{"n": "co2", "v": 1}', b'[{"n": "co2", "v": 1, "x_": 2}]'],
    )
    def test_garbage_packs_are_unparseable(self, payload):
        with pytest.raises(Rejected) as caught:
            decode_senml(payload, NOW)
        assert caught.value.reason is Reason.UNPARSEABLE


class TestProcessor:
    def test_json_reading_is_mapped_to_the_registry(self, processor):
        readings, dead = run(
            processor,
            "campus/rfb/rfb-101/co2",
            '{"value": 612, "ts": "2026-11-26T10:00:00Z", "unit": "ppm"}',
        )
        assert dead == []
        assert [(r.ts_us, r.building, r.sensor, r.quantity, r.value) for r in readings] == [
            (T_10 * 1_000_000, "rfb", "rfb-101", "co2", 612.0)
        ]

    def test_bare_number_gets_the_receive_time(self, processor):
        readings, _ = run(processor, "campus/rfb/rfb-101/occupancy", "12")
        assert (readings[0].ts_us, readings[0].value) == (NOW, 12.0)

    @pytest.mark.parametrize(
        ("topic", "payload", "quantity", "expected"),
        [
            ("campus/rfb/rfb-101/temperature", '{"value": 68, "unit": "°F"}', "temperature", 20.0),
            (
                "campus/rfb/rfb-101/temperature",
                '{"value": 294.15, "unit": "K"}',
                "temperature",
                21.0,
            ),
            ("campus/rfb/rfb-el/energy", '{"value": 1500, "unit": "Wh"}', "energy", 1.5),
            ("campus/rfb/rfb-el/energy", '{"value": 2.5, "unit": "MWh"}', "energy", 2500.0),
            ("campus/rfb/rfb-heat/heat_energy", '{"value": 3.6, "unit": "MJ"}', "heat_energy", 1.0),
            ("campus/rfb/rfb-101/humidity", '{"value": 35, "unit": "%"}', "humidity", 35.0),
        ],
    )
    def test_units_are_converted_on_ingest(self, processor, topic, payload, quantity, expected):
        readings, dead = run(processor, topic, payload)
        assert dead == []
        assert readings[0].quantity == quantity
        assert math.isclose(readings[0].value, expected, rel_tol=1e-12)

    def test_senml_pack_through_the_processor(self, processor):
        pack = [
            {"bn": "urn:campuslab:rfb:rfb-101:", "bt": T_10, "n": "co2", "u": "ppm", "v": 700},
            {"n": "temperature", "u": "Cel", "v": 21.25},
            {"n": "occupancy", "u": "count", "v": 14, "t": 60},
        ]
        readings, dead = run(processor, "campus/rfb/rfb-101/senml", json.dumps(pack))
        assert dead == []
        assert [(r.quantity, r.value, r.ts_us // 1_000_000) for r in readings] == [
            ("co2", 700.0, T_10),
            ("temperature", 21.25, T_10),
            ("occupancy", 14.0, T_10 + 60),
        ]

    @pytest.mark.parametrize(
        ("topic", "payload", "reason", "words"),
        [
            ("campus/rfb/rfb-101/co2", "{oops", Reason.UNPARSEABLE, "not a JSON"),
            ("campus/nope/rfb-101/co2", "1", Reason.UNKNOWN_BUILDING, "'nope'"),
            ("campus/rfb/hb-101/co2", "1", Reason.UNKNOWN_SENSOR, "belongs to building 'hb'"),
            ("campus/rfb/rfb-999/co2", "1", Reason.UNKNOWN_SENSOR, "'rfb-999'"),
            ("campus/rfb/rfb-101/radon", "1", Reason.UNKNOWN_QUANTITY, "'radon'"),
            ("campus/rfb/rfb-101/energy", "1", Reason.UNKNOWN_QUANTITY, "does not report energy"),
            ("campus/rfb/rfb-101/co2", '{"value": 5, "unit": "mg/m3"}', Reason.BAD_UNIT, "mg/m3"),
            ("campus/rfb/rfb-101/co2", "NaN", Reason.NOT_FINITE, "not finite"),
            ("campus/rfb/rfb-101/co2", "Infinity", Reason.NOT_FINITE, "not finite"),
            ("campus/rfb/rfb-101/co2", "-3", Reason.OUT_OF_RANGE, "physical range"),
            ("campus/rfb/rfb-101/humidity", "140", Reason.OUT_OF_RANGE, "physical range"),
            (
                "campus/rfb/rfb-101/co2",
                '{"value": 500, "ts": 4102444800}',
                Reason.FUTURE_TIMESTAMP,
                "ahead of the receive time",
            ),
            (
                "campus/rfb/rfb-101/co2",
                '{"value": 500, "ts": "soon"}',
                Reason.BAD_TIMESTAMP,
                "RFC 3339",
            ),
            ("campus/rfb/rfb-101/co2", "1" * 70_000, Reason.TOO_LARGE, "limit is 65536"),
            ("campus/rfb", "1", Reason.BAD_TOPIC, "campus/<building>"),
            ("other/rfb/rfb-101/co2", "1", Reason.BAD_TOPIC, "campus/<building>"),
        ],
    )
    def test_every_bad_input_reason_is_named(self, processor, topic, payload, reason, words):
        readings, dead = run(processor, topic, payload)
        assert readings == []
        assert len(dead) == 1
        letter: DeadLetter = dead[0]
        assert letter.reason == reason.value
        assert words in letter.detail
        assert letter.topic == topic[:300]
        assert len(letter.payload) < 600  # truncated for the dead-letter record

    def test_line_breaks_and_tabs_in_a_dead_letter_are_visible_escapes(self, processor):
        """Every store then returns the same one-line text (line protocol has no newline)."""
        _, dead = run(processor, "campus/rfb/rfb-101/co2", b'{\r\n\t"value": oops\\n\x00}')
        assert dead[0].payload == '{\\r\\n\\t"value": oops\\n\x00}'  # \\ and NUL stay
        _, dead = run(processor, "campus/rfb/rfb-101/co2\nX", b"1")
        assert (dead[0].topic, dead[0].reason) == ("campus/rfb/rfb-101/co2\\nX", "unknown_quantity")
        assert "\n" not in dead[0].detail

    def test_a_garbage_message_does_not_disturb_the_next_good_one(self, processor):
        batch, dead = ReadingBatch(), []
        processor.process("campus/rfb/rfb-101/co2", b"\x00\xff garbage", NOW, batch, dead)
        processor.process("campus/rfb/rfb-101/co2", b"655", NOW, batch, dead)
        assert [r.value for r in batch] == [655.0] and len(dead) == 1

    def test_future_limit_is_configurable(self, campus):
        lenient = MessageProcessor(
            campus, limits=IngestLimits(max_future=__import__("datetime").timedelta(days=36500))
        )
        readings, dead = run(lenient, "campus/rfb/rfb-101/co2", '{"value": 1, "ts": 4102444800}')
        assert len(readings) == 1 and dead == []

    def test_garbage_topics_do_not_grow_memory_without_bound(self, campus):
        processor = MessageProcessor(campus)
        for i in range(100_500):
            processor.process(f"campus/x{i}/y/co2", b"1", NOW, ReadingBatch(), [])
        assert len(processor._routes) <= 100_000
