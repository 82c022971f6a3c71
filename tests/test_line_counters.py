"""Cumulative in/out line counters (Milesight VS133) become occupancy: worked examples.

Each test feeds a VS133 at a doorway of rfb-104 a sequence of ChirpStack v4 uplinks
through the message processor and checks the occupancy each one gives (None: the
message gives no occupancy reading). The rule (campuslab.core.devices.LineCounterMap,
campuslab.ingest.devices): occupancy is the running sum of the in increments minus the
out increments since the last nightly reset, clamped at 0; a total that falls is a
reset of the counter (a reboot) or its wrap at ``counter_max``; the count goes back to
0 at the profile's ``reset_at`` in the site's time zone (Europe/Oslo); a message not
newer than the last one changes nothing; the first message after a start is the
baseline.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from campuslab.core.readings import ReadingBatch, to_epoch_us
from campuslab.core.registry import parse_campus, sample_campus_path
from campuslab.ingest.processor import MessageProcessor

OSLO = ZoneInfo("Europe/Oslo")
EUI = "24e124795d198322"
TOPIC = f"application/6f1b9c2e-7a44-4d0b-8e3f-5b2a9d1c4e77/device/{EUI}/event/up"
DEVICES = """
networks:
  - type: chirpstack
devices:
  - {dev_eui: 24E124795D198322, model: milesight-vs133, space: rfb-104}
"""


def processor(profile: str | None = None, folder: Path | None = None) -> MessageProcessor:
    text = sample_campus_path().read_text() + DEVICES
    if profile is not None:
        assert folder is not None
        (folder / "profiles").mkdir()
        (folder / "profiles" / "vs133.yaml").write_text(profile)
        text += "device_profiles: profiles\n"
    return MessageProcessor(parse_campus(text, base_dir=folder))


def uplink(local: datetime, total_in: float, total_out: float, nested: bool = False) -> bytes:
    """A VS133 uplink as ChirpStack publishes it; the codec's totals are JSON doubles."""
    if nested:  # decoder versions that group a line's counters
        counters: dict = {"line_1": {"total_in": total_in, "total_out": total_out}}
    else:
        counters = {"line_1_total_in": total_in, "line_1_total_out": total_out}
    obj = {**counters, "line_1_period_in": 0.0, "line_1_period_out": 0.0}
    return json.dumps(
        {
            "deduplicationId": "5d9a3908-c0d9-4feb-bf6d-a61ca48b9ebf",
            "time": local.astimezone(OSLO).astimezone(ZoneInfo("UTC")).isoformat(),
            "deviceInfo": {
                "tenantName": "Nordfjell University",
                "applicationName": "people-counting",
                "deviceProfileName": "Milesight VS133",
                "deviceName": "vs133-rfb104-door",
                "devEui": EUI,
            },
            "fCnt": 311,
            "fPort": 85,
            "data": "BMwAAAAAAAAAAA==",
            "object": obj,
            "rxInfo": [{"gatewayId": "0016c001f153a14c", "rssi": -71, "snr": 11.0}],
        }
    ).encode()


def occupancy(p: MessageProcessor, local: datetime, *totals, nested: bool = False):
    """The occupancy the message gives (None for none); dead letters fail the test."""
    batch, dead = ReadingBatch(), []
    p.process(
        TOPIC, uplink(local, *totals, nested=nested), to_epoch_us(local) + 1_000_000, batch, dead
    )
    assert dead == []
    values = [(r.ts_us, r.value) for r in batch if r.quantity == "occupancy"]
    assert len(values) <= 1
    if not values:
        return None
    assert values[0][0] == to_epoch_us(local)  # stamped with the uplink's time
    return values[0][1]


def at(day: str, clock: str, fold: int = 0) -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=OSLO, fold=fold)


DAY = "2026-12-02"  # a Wednesday, CET


def test_a_morning_of_uplinks_gives_exact_occupancies_in_both_decoder_versions():
    p = processor()
    assert occupancy(p, at(DAY, "07:50"), 120.0, 118.0) is None  # the baseline
    assert occupancy(p, at(DAY, "08:00"), 130.0, 118.0) == 10  # 10 in
    assert occupancy(p, at(DAY, "08:10"), 145.0, 120.0) == 23  # +15 -2
    assert occupancy(p, at(DAY, "08:20"), 150.0, 131.0, nested=True) == 17  # +5 -11
    assert occupancy(p, at(DAY, "08:30"), 150.0, 140.0) == 8  # -9
    assert occupancy(p, at(DAY, "08:40"), 152, 141, nested=True) == 9  # ints as well


def test_more_out_than_in_is_clamped_at_zero():
    p = processor()
    occupancy(p, at(DAY, "08:00"), 10.0, 0.0)
    assert occupancy(p, at(DAY, "08:10"), 14.0, 0.0) == 4
    assert occupancy(p, at(DAY, "08:20"), 15.0, 9.0) == 0  # 4 + 1 - 9 = -4: a missed entry
    assert occupancy(p, at(DAY, "08:30"), 17.0, 9.0) == 2  # counted up from 0, not from -4


def test_counter_reset_by_a_reboot_counts_from_zero_again():
    p = processor()
    occupancy(p, at(DAY, "08:00"), 5210.0, 5190.0)
    assert occupancy(p, at(DAY, "08:10"), 5230.0, 5195.0) == 15
    # rebooted: totals back near 0; what it counted since (3 in, 1 out) is the increment
    assert occupancy(p, at(DAY, "08:20"), 3.0, 1.0) == 17
    assert occupancy(p, at(DAY, "08:30"), 6.0, 10.0) == 11  # +3 -9


def test_counter_wrap_at_counter_max(tmp_path):
    # a campus folder profile for firmware with 2-byte totals
    p = processor(
        """model: milesight-vs133
line_counter:
  total_in: [line_1_total_in, line_1.total_in]
  total_out: [line_1_total_out, line_1.total_out]
  counter_max: 65535
""",
        tmp_path,
    )
    occupancy(p, at(DAY, "08:00"), 65530.0, 65000.0)
    assert occupancy(p, at(DAY, "08:10"), 4.0, 65003.0) == 7  # 65531..65535, 0..4: 10 in; 3 out
    assert occupancy(p, at(DAY, "08:20"), 6.0, 65535.0) == 0  # 7 + 2 - 532, clamped


def test_redelivered_or_older_uplinks_change_nothing():
    p = processor()
    occupancy(p, at(DAY, "08:00"), 100.0, 100.0)
    assert occupancy(p, at(DAY, "08:10"), 112.0, 101.0) == 11
    assert occupancy(p, at(DAY, "08:10"), 112.0, 101.0) is None  # QoS 1 redelivery
    assert occupancy(p, at(DAY, "08:05"), 106.0, 100.0) is None  # late, older
    assert occupancy(p, at(DAY, "08:20"), 115.0, 104.0) == 11  # from 08:10's totals


def test_non_whole_totals_are_dead_lettered_naming_the_device():
    p = processor()
    occupancy(p, at(DAY, "08:00"), 100.0, 100.0)
    batch, dead = ReadingBatch(), []
    p.process(
        TOPIC, uplink(at(DAY, "08:10"), 112.5, 101.0), to_epoch_us(at(DAY, "08:10")), batch, dead
    )
    [letter] = dead
    assert letter.reason == "unparseable"
    assert "vs133-rfb104-door" in letter.detail and "112.5" in letter.detail
    assert occupancy(p, at(DAY, "08:20"), 115.0, 104.0) == 11  # the next good one counts


def test_nightly_reset_at_three_in_site_time_clears_drift():
    p = processor()
    occupancy(p, at(DAY, "16:00"), 500.0, 490.0)
    assert occupancy(p, at(DAY, "18:00"), 520.0, 507.0) == 3  # 3 exits never seen
    assert occupancy(p, at(DAY, "23:50"), 520.0, 507.0) == 3
    assert occupancy(p, at("2026-12-03", "02:59"), 520.0, 507.0) == 3  # not yet
    assert occupancy(p, at("2026-12-03", "03:01"), 520.0, 507.0) == 0  # 03:00 CET passed
    assert occupancy(p, at("2026-12-03", "07:40"), 522.0, 507.0) == 2


def test_reset_applies_once_across_a_long_silence():
    p = processor()
    occupancy(p, at(DAY, "16:00"), 500.0, 490.0)
    assert occupancy(p, at(DAY, "17:00"), 505.0, 490.0) == 5
    # silent for two nights (gateway down): both resets passed, then 4 came in
    assert occupancy(p, at("2026-12-04", "09:00"), 509.0, 490.0) == 4


def test_reset_on_the_night_summer_time_starts():
    # 29 March 2026: 02:00 CET jumps to 03:00 CEST; 03:00 exists, and is 01:00 UTC
    p = processor()
    occupancy(p, at("2026-03-28", "16:00"), 50.0, 40.0)
    assert occupancy(p, at("2026-03-28", "17:00"), 56.0, 40.0) == 6
    assert occupancy(p, at("2026-03-29", "01:59"), 56.0, 40.0) == 6
    assert occupancy(p, at("2026-03-29", "03:01"), 56.0, 40.0) == 0


def test_reset_inside_the_hour_repeated_when_summer_time_ends(tmp_path):
    # 25 October 2026: 03:00 CEST falls back to 02:00 CET, so 02:00-03:00 happens twice.
    # A campus resets at 02:30: the first 02:30 (CEST, 00:30 UTC) resets, once.
    p = processor(
        """model: milesight-vs133
line_counter:
  total_in: [line_1_total_in, line_1.total_in]
  total_out: [line_1_total_out, line_1.total_out]
  reset_at: "02:30"
""",
        tmp_path,
    )
    occupancy(p, at("2026-10-24", "22:00"), 80.0, 70.0)
    assert occupancy(p, at("2026-10-24", "23:00"), 85.0, 70.0) == 5
    assert occupancy(p, at("2026-10-25", "02:20", fold=0), 85.0, 70.0) == 5  # CEST
    # 02:10 CET comes after 02:30 CEST although its wall clock reads earlier
    assert occupancy(p, at("2026-10-25", "02:10", fold=1), 86.0, 70.0) == 1
    assert occupancy(p, at("2026-10-25", "02:40", fold=1), 87.0, 70.0) == 2  # not again


def test_reset_at_that_does_not_exist_falls_an_hour_later(tmp_path):
    p = processor(
        """model: milesight-vs133
line_counter:
  total_in: line_1_total_in
  total_out: line_1_total_out
  reset_at: "02:30"
""",
        tmp_path,
    )
    occupancy(p, at("2026-03-28", "22:00"), 10.0, 5.0)
    assert occupancy(p, at("2026-03-28", "23:00"), 12.0, 5.0) == 2
    assert occupancy(p, at("2026-03-29", "03:20"), 12.0, 5.0) == 2  # 02:30 never came
    assert occupancy(p, at("2026-03-29", "03:40"), 12.0, 5.0) == 0  # it is read as 03:30


def test_reset_at_null_keeps_counting_through_the_night(tmp_path):
    p = processor(
        """model: milesight-vs133
description: a 24/7 library doorway, never empty at night
line_counter:
  total_in: [line_1_total_in, line_1.total_in]
  total_out: [line_1_total_out, line_1.total_out]
  reset_at: null
""",
        tmp_path,
    )
    occupancy(p, at(DAY, "20:00"), 300.0, 250.0)
    assert occupancy(p, at(DAY, "23:00"), 340.0, 262.0) == 28
    assert occupancy(p, at("2026-12-03", "04:00"), 345.0, 280.0) == 15  # no reset at 03:00


def test_the_first_uplink_after_a_restart_is_the_baseline():
    # state is in memory: a new processor (an ingestor restart) starts from the next uplink
    p = processor()
    occupancy(p, at(DAY, "08:00"), 100.0, 90.0)
    assert occupancy(p, at(DAY, "09:00"), 130.0, 95.0) == 25
    restarted = processor()
    assert occupancy(restarted, at(DAY, "09:10"), 133.0, 95.0) is None
    assert occupancy(restarted, at(DAY, "09:20"), 135.0, 96.0) == 1  # the 25 before are not known


@pytest.mark.parametrize("nested", [False, True])
def test_a_message_without_both_totals_gives_no_occupancy(nested):
    p = processor()
    occupancy(p, at(DAY, "08:00"), 100.0, 90.0)
    batch, dead = ReadingBatch(), []
    event = json.loads(uplink(at(DAY, "08:10"), 101.0, 90.0, nested=nested))
    event["object"] = {"line_1_period_in": 1.0}  # a period-only report
    p.process(TOPIC, json.dumps(event).encode(), to_epoch_us(at(DAY, "08:10")), batch, dead)
    assert (list(batch), dead) == ([], [])
    assert occupancy(p, at(DAY, "08:20"), 103.0, 90.0, nested=nested) == 3
