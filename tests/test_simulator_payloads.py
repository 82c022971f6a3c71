"""Payload formats of the simulator (json, bare, SenML) and the garbage fault's messages."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from campuslab.core.quantities import QUANTITIES
from campuslab.core.readings import ReadingBatch
from campuslab.core.registry import Campus, load_campus, sample_campus_path
from campuslab.simulators.campus import CampusSimulator, SimulationConfig
from campuslab.simulators.payloads import (
    REJECT_REASONS,
    SENML_UNITS,
    encode,
    garbage_messages,
)

START = datetime(2026, 11, 26, 9, tzinfo=UTC)
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
RFC8428_FIELDS = {
    "bn",
    "bt",
    "bu",
    "bv",
    "bs",
    "bver",
    "n",
    "u",
    "v",
    "vs",
    "vb",
    "vd",
    "s",
    "t",
    "ut",
}


@pytest.fixture(scope="module")
def campus() -> Campus:
    return load_campus(sample_campus_path())


@pytest.fixture(scope="module")
def batch(campus: Campus) -> ReadingBatch:
    sim = CampusSimulator(campus, SimulationConfig(interval=timedelta(minutes=5)))
    return next(sim.batches(START, START + timedelta(hours=1)))


def rows(batch: ReadingBatch) -> list[tuple]:
    return sorted(
        zip(batch.ts_us, batch.building, batch.sensor, batch.quantity, batch.value, strict=True)
    )


def test_json_is_one_reading_per_message_with_rfc3339_time_and_canonical_unit(
    batch: ReadingBatch,
) -> None:
    messages = list(encode(batch, "json", prefix="site1"))
    assert len(messages) == len(batch)
    decoded = []
    for topic, payload in messages:
        _, building, sensor, quantity = topic.split("/")
        assert topic.startswith("site1/")
        body = json.loads(payload)
        assert set(body) == {"value", "ts", "unit"}
        assert RFC3339_UTC.match(body["ts"])
        assert body["unit"] == QUANTITIES[quantity].unit
        if quantity == "occupancy":
            assert isinstance(body["value"], int)  # "12", not "12.0"
        moment = datetime.fromisoformat(body["ts"])
        decoded.append(
            (int(moment.timestamp() * 1e6), building, sensor, quantity, float(body["value"]))
        )
    assert sorted(decoded) == rows(batch)


def test_bare_payload_is_just_the_number(batch: ReadingBatch) -> None:
    messages = list(encode(batch, "bare"))
    assert len(messages) == len(batch)
    for (topic, payload), value in zip(messages, batch.value, strict=True):
        assert re.fullmatch(rb"-?\d+(\.\d+)?", payload), payload
        assert float(payload) == value
        assert topic.count("/") == 3


def resolve_senml(pack: list[dict]) -> list[tuple[str, float, float, str | None]]:
    """RFC 8428 section 4.6: apply base name, time, unit and value to each record."""
    base_name, base_time, base_unit, base_value = "", 0.0, None, 0.0
    resolved = []
    for record in pack:
        assert set(record) <= RFC8428_FIELDS
        base_name = record.get("bn", base_name)
        base_time = record.get("bt", base_time)
        base_unit = record.get("bu", base_unit)
        base_value = record.get("bv", base_value)
        name = base_name + record.get("n", "")
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9:./_-]*", name)  # RFC 8428 4.5.1
        moment = base_time + record.get("t", 0.0)
        assert moment >= 2**28  # absolute, not relative to now
        resolved.append((name, moment, base_value + record["v"], record.get("u", base_unit)))
    return resolved


def test_senml_packs_are_valid_rfc8428_and_resolve_to_the_readings(batch: ReadingBatch) -> None:
    messages = list(encode(batch, "senml"))
    assert len(messages) == len({(b, s) for b, s in zip(batch.building, batch.sensor, strict=True)})
    decoded = []
    for topic, payload in messages:
        _, building, sensor, last = topic.split("/")
        assert last == "senml"
        pack = json.loads(payload)
        assert isinstance(pack, list) and pack
        assert pack[0]["bn"] == f"urn:campuslab:{building}:{sensor}:"
        assert isinstance(pack[0]["bt"], int)
        for name, moment, value, unit in resolve_senml(pack):
            quantity = name.rsplit(":", 1)[1]
            assert unit == SENML_UNITS[quantity]
            decoded.append((round(moment * 1e6), building, sensor, quantity, value))
    assert sorted(decoded) == rows(batch)


def test_senml_packs_stay_under_the_ingest_size_limit(campus: Campus) -> None:
    sim = CampusSimulator(campus, SimulationConfig(interval=timedelta(minutes=1)))
    day = next(sim.batches(START, START + timedelta(days=1), per=timedelta(days=1)))
    sizes = [len(p) for _, p in encode(day, "senml")]
    assert max(sizes) < 64 * 1024
    assert len(sizes) > 89  # a day of one sensor does not fit one pack


def test_unknown_format_names_the_valid_ones(batch: ReadingBatch) -> None:
    with pytest.raises(ValueError, match="json, senml, bare"):
        list(encode(batch, "xml"))


def test_garbage_covers_every_reject_reason_deterministically(campus: Campus) -> None:
    garbage = garbage_messages(campus, np.random.default_rng(7), "campus")
    assert {g.reason for g in garbage} == set(REJECT_REASONS)
    assert garbage == garbage_messages(campus, np.random.default_rng(7), "campus")
    for message in garbage:
        assert message.topic.startswith("campus/")
        assert (len(message.payload) > 64 * 1024) == (message.reason == "too_large")
        if message.reason == "not_finite":
            assert math.isnan(json.loads(message.payload)["value"])


def test_ingest_accepts_every_simulated_reading_and_rejects_garbage_for_the_stated_reason(
    campus: Campus, batch: ReadingBatch
) -> None:
    from campuslab.ingest.processor import MessageProcessor

    ingest = MessageProcessor(campus)
    received_us = int((START + timedelta(hours=1)).timestamp() * 1e6)
    for fmt in ("json", "senml"):
        accepted, rejected = ReadingBatch(), []
        for topic, payload in encode(batch, fmt):
            ingest.process(topic, payload, received_us, accepted, rejected)
        assert rejected == [] and rows(accepted) == rows(batch), fmt
    for message in garbage_messages(campus, np.random.default_rng(1), "campus"):
        accepted, rejected = ReadingBatch(), []
        ingest.process(message.topic, message.payload, received_us, accepted, rejected)
        assert len(accepted) == 0
        assert [r.reason for r in rejected] == [message.reason], message.topic


def test_ttn_format_speaks_as_the_registrys_devices_and_loses_nothing(campus):
    """--format ttn: one uplink per device and step; the ttn adapter reads back every value,
    at its time, plus the AM319's PIR as presence exactly where someone is counted."""
    import time as _time
    from datetime import UTC, datetime, timedelta

    from campuslab.core.readings import ReadingBatch
    from campuslab.ingest.processor import MessageProcessor
    from campuslab.simulators.campus import CampusSimulator, SimulationConfig
    from campuslab.simulators.payloads import encode_messages

    simulator = CampusSimulator(campus, SimulationConfig(seed=3, interval=timedelta(minutes=5)))
    end = datetime(2026, 12, 2, 12, tzinfo=UTC)
    batch = next(iter(simulator.batches(end - timedelta(minutes=10), end)))
    messages = list(encode_messages(batch, "ttn", "campus", campus))
    uplinks = [m for m in messages if m.topic.startswith("v3/")]
    assert len(uplinks) == 2 * 81 * len(set(batch.ts_us))  # an AM319 and a VS121 per space
    processor = MessageProcessor(campus)
    stored, letters = ReadingBatch(), []
    for message in messages:
        processor.process(message.topic, message.payload, _time.time_ns() // 1000, stored, letters)
    assert letters == []
    assert len(stored) == sum(m.readings for m in messages)
    got = {(r.ts_us, r.sensor, r.quantity): r.value for r in stored}
    for reading in batch:
        assert got[(reading.ts_us, reading.sensor, reading.quantity)] == reading.value
        if reading.quantity == "occupancy":
            presence = got[(reading.ts_us, reading.sensor, "presence")]
            assert presence == (1.0 if reading.value >= 1 else 0.0)
