"""Tasmota: worked examples on the processor (local time, both DST days), then end to end.

Messages are shaped as Tasmota's documentation and console logs show them:
``tele/<topic>/SENSOR`` ``{"Time":"2024-01-01T10:31:09","SCD40":{"CarbonDioxide":1204,
"eCO2":1235,"Temperature":28.8,"Humidity":47.5,"DewPoint":16.5},"TempUnit":"C"}``,
``tele/<topic>/STATE`` with ``Wifi.RSSI`` (percent) and ``Wifi.Signal`` (dBm),
``tele/<topic>/LWT`` ``Online``/``Offline``. The sample campus is in Europe/Oslo.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from servers.publisher import MqttTestPublisher

from campuslab.core.readings import DeadLetter, ReadingBatch, to_epoch_us
from campuslab.core.registry import parse_campus, sample_campus_path
from campuslab.ingest.processor import MessageProcessor

OSLO = ZoneInfo("Europe/Oslo")


def us(text: str) -> int:
    return to_epoch_us(datetime.fromisoformat(text))


def registry_text(suffix: str = "") -> str:
    return (
        sample_campus_path().read_text()
        + f"""
networks:
  - {{type: tasmota}}
devices:
  - {{tasmota_topic: hb101-co2{suffix}, model: tasmota-scd30, space: hb-101}}
  - {{tasmota_topic: rfb104-co2{suffix}, model: tasmota-scd4x, space: rfb-104}}
  - {{tasmota_topic: rfb105-climate{suffix}, model: tasmota-bme280, space: rfb-105}}
"""
    )


def scd30(time: str, co2: object = 612, temperature: float = 71.6, unit: str = "F") -> str:
    return json.dumps(
        {
            "Time": time,
            "SCD30": {
                "CarbonDioxide": co2,
                "eCO2": co2 + 28 if isinstance(co2, int) else co2,
                "Temperature": temperature,
                "Humidity": 40.1,
                "DewPoint": 46.3 if unit == "F" else 7.9,
            },
            "TempUnit": unit,
        }
    )


class Run:
    def __init__(self) -> None:
        self.processor = MessageProcessor(parse_campus(registry_text()))
        self.batch = ReadingBatch()
        self.dead: list[DeadLetter] = []

    def send(self, topic: str, payload: str | bytes, received: str, retained: bool = False) -> int:
        body = payload.encode() if isinstance(payload, str) else payload
        return self.processor.process(topic, body, us(received), self.batch, self.dead, retained)

    @property
    def readings(self) -> list[tuple]:
        return [(r.ts_us, r.sensor, r.quantity, r.value) for r in self.batch]

    def times(self) -> list[int]:
        return sorted({r.ts_us for r in self.batch})


def test_scd30_in_fahrenheit_at_local_time_in_winter():
    run = Run()
    sent = run.send("tele/hb101-co2/SENSOR", scd30("2026-11-26T10:00:00"), "2026-11-26T09:00:02Z")
    assert sent == 3 and run.dead == []
    assert sorted(run.readings) == [
        (us("2026-11-26T09:00:00Z"), "hb-101", "co2", 612.0),
        (us("2026-11-26T09:00:00Z"), "hb-101", "humidity", 40.1),
        (us("2026-11-26T09:00:00Z"), "hb-101", "temperature", 22.0),  # 71.6 °F
    ]
    # eCO2 and DewPoint are not read
    assert run.processor.unmapped_fields == {"tasmota-scd30": 2}


def test_summer_time_is_two_hours_ahead_and_celsius_stays_celsius():
    run = Run()
    run.send(
        "tele/hb101-co2/SENSOR",
        scd30("2026-07-01T10:00:00", temperature=23.4, unit="C"),
        "2026-07-01T08:00:01Z",
    )
    assert run.times() == [us("2026-07-01T08:00:00Z")]
    assert ("hb-101", "temperature", 23.4) in [r[1:] for r in run.readings]


@pytest.mark.parametrize(
    ("local", "received", "stored"),
    [
        # autumn, 2026-10-25: 03:00 CEST -> 02:00 CET, 02:00-03:00 happens twice
        ("2026-10-25T01:59:00", "2026-10-24T23:59:02Z", "2026-10-24T23:59:00Z"),
        ("2026-10-25T02:30:00", "2026-10-25T00:30:02Z", "2026-10-25T00:30:00Z"),  # 1st time
        ("2026-10-25T02:30:00", "2026-10-25T01:30:02Z", "2026-10-25T01:30:00Z"),  # 2nd time
        ("2026-10-25T03:00:00", "2026-10-25T02:00:01Z", "2026-10-25T02:00:00Z"),
        # spring, 2026-03-29: 02:00 CET -> 03:00 CEST, 02:00-03:00 does not happen
        ("2026-03-29T01:59:30", "2026-03-29T00:59:31Z", "2026-03-29T00:59:30Z"),
        ("2026-03-29T03:00:30", "2026-03-29T01:00:31Z", "2026-03-29T01:00:30Z"),
        ("2026-03-29T02:30:00", "2026-03-29T01:30:01Z", "2026-03-29T01:30:00Z"),  # a clock
    ],
)
def test_local_time_on_both_dst_days(local, received, stored):
    run = Run()
    assert run.send("tele/hb101-co2/SENSOR", scd30(local), received) == 3
    assert run.times() == [us(stored)]


def test_a_whole_repeated_autumn_hour_of_teleperiods_is_stored_twice_not_merged():
    run = Run()
    first_pass = [datetime(2026, 10, 25, 0, m, tzinfo=UTC) for m in range(0, 60, 5)]
    for moment in first_pass + [t + timedelta(hours=1) for t in first_pass]:
        local = moment.astimezone(OSLO).replace(tzinfo=None).isoformat()
        run.send("tele/hb101-co2/SENSOR", scd30(local), (moment + timedelta(seconds=2)).isoformat())
    assert len(run.times()) == 24
    assert run.times()[0] == to_epoch_us(first_pass[0])
    assert run.times()[-1] == to_epoch_us(first_pass[-1] + timedelta(hours=1))


def test_a_time_with_an_offset_is_used_as_it_is():
    run = Run()
    run.send("tele/hb101-co2/SENSOR", scd30("2026-11-26T12:00:00+03:00"), "2026-11-26T09:00:01Z")
    assert run.times() == [us("2026-11-26T09:00:00Z")]


def test_scd40_and_bme280_profiles():
    run = Run()
    run.send(
        "tele/rfb104-co2/SENSOR",
        '{"Time":"2026-11-26T10:31:09","SCD40":{"CarbonDioxide":1204,"eCO2":1235,'
        '"Temperature":28.8,"Humidity":47.5,"DewPoint":16.5},"TempUnit":"C"}',
        "2026-11-26T09:31:10Z",
    )
    run.send(
        "tele/rfb105-climate/SENSOR",
        '{"Time":"2026-11-26T10:31:09","BME280":{"Temperature":70.7,"Humidity":38.2,'
        '"DewPoint":43.5,"Pressure":1003.4},"PressureUnit":"hPa","TempUnit":"F"}',
        "2026-11-26T09:31:10Z",
    )
    assert sorted(r[1:] for r in run.readings) == [
        ("rfb-104", "co2", 1204.0),
        ("rfb-104", "humidity", 47.5),
        ("rfb-104", "temperature", 28.8),
        ("rfb-105", "humidity", 38.2),
        ("rfb-105", "temperature", 21.5),  # 70.7 °F
    ]
    assert run.dead == []


def test_state_gives_the_signal_in_dbm_and_lwt_the_availability():
    run = Run()
    state = {
        "Time": "2026-11-26T10:20:38",
        "Uptime": "0T00:10:11",
        "UptimeSec": 611,
        "Heap": 24,
        "SleepMode": "Dynamic",
        "Sleep": 50,
        "LoadAvg": 19,
        "MqttCount": 1,
        "Wifi": {
            "AP": 1,
            "SSId": "campus-iot",
            "BSSId": "E6:8D:8C:4B:BE:F7",
            "Channel": 3,
            "Mode": "11n",
            "RSSI": 44,
            "Signal": -78,
            "LinkCount": 1,
            "Downtime": "0T00:00:05",
        },
    }
    assert run.send("tele/hb101-co2/STATE", json.dumps(state), "2026-11-26T09:20:39Z") == 0
    health = run.processor.health.get("hb101-co2")
    assert health.rssi == -78.0  # Wifi.Signal, not Wifi.RSSI (44 %, a quality)
    assert health.last_reading_us is None  # STATE is not a reading
    run.send("tele/hb101-co2/LWT", "Offline", "2026-11-26T09:25:00Z", retained=True)
    assert run.processor.health.get("hb101-co2").online is False
    run.send("tele/hb101-co2/LWT", "Online", "2026-11-26T09:26:00Z", retained=True)
    assert run.processor.health.get("hb101-co2").online is True
    # STATE/LWT/INFO of devices not in the registry, and other telemetry: skipped quietly
    run.send("tele/tasmota_9CF9D1/STATE", json.dumps(state), "2026-11-26T09:20:39Z")
    run.send("tele/tasmota_9CF9D1/LWT", "Online", "2026-11-26T09:20:39Z")
    run.send("tele/hb101-co2/INFO1", '{"Info1":{"Module":"ESP32-DevKit"}}', "2026-11-26T09:20:39Z")
    assert run.readings == [] and run.dead == []


GARBAGE = [
    ("hb101-co2", scd30("1970-01-01T00:00:12"), "bad_timestamp", "clock is not set"),
    ("hb101-co2", scd30("noon"), "bad_timestamp", "'noon'"),
    ("hb101-co2", scd30("2026-11-26T12:00:00"), "future_timestamp", "ahead"),  # clock 2 h fast
    ("hb101-co2", "CarbonDioxide=612", "unparseable", "not JSON"),
    ("hb101-co2", scd30("2026-11-26T10:00:00", co2="n/a"), "unparseable", "'n/a'"),
    ("hb101-co2", scd30("2026-11-26T10:00:00", co2=-5), "out_of_range", "-5"),
    ("hb999-co2", scd30("2026-11-26T10:00:00"), "unknown_device", "tasmota_topic"),
]


def test_garbage_is_dead_lettered_naming_the_device_and_good_messages_around_it_are_kept():
    run = Run()
    for device, payload, _, _ in GARBAGE:
        run.send("tele/hb101-co2/SENSOR", scd30("2026-11-26T09:59:00"), "2026-11-26T09:00:00Z")
        run.send(f"tele/{device}/SENSOR", payload, "2026-11-26T09:00:00Z")
    run.send("tele/hb101-co2/LWT", "Maybe", "2026-11-26T09:00:00Z")
    run.send("tele/hb101-co2/SENSOR", scd30("2026-11-26T09:59:00"), "2026-11-26T09:00:00Z")
    good = 3 * (len(GARBAGE) + 1) + 2 * 2  # a bad CO2 keeps its temperature and humidity
    assert len(run.readings) == good
    # a clock two hours fast makes each of the message's three readings a dead letter
    expected = [
        (d, r, w) for d, _, r, w in GARBAGE for _ in range(3 if r == "future_timestamp" else 1)
    ]
    assert [d.reason for d in run.dead] == [r for _, r, _ in expected] + ["unparseable"]
    for letter, (device, _, words) in zip(run.dead, expected, strict=False):
        assert f"Tasmota device {device!r}" in letter.detail, letter.detail
        assert words in letter.detail, letter.detail
    assert "LWT 'Maybe'" in run.dead[-1].detail


# -- end to end: real Mosquitto, real `campuslab serve`, the API ---------------------
def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.servers
def test_end_to_end_local_times_and_fahrenheit_come_back_in_utc_and_celsius(
    mosquitto, serve_factory, tmp_path: Path
):
    suffix = f"-{uuid.uuid4().hex[:6]}"
    registry = tmp_path / "campus.yaml"
    registry.write_text(registry_text(suffix))
    serve = serve_factory(mosquitto.url, registry=registry)
    publisher = MqttTestPublisher(mosquitto.port, f"tasmota-pub-{uuid.uuid4().hex[:6]}")
    t0 = (datetime.now(UTC) - timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)

    def local(moment: datetime) -> str:
        return moment.astimezone(OSLO).replace(tzinfo=None).isoformat()

    hb, bme = f"hb101-co2{suffix}", f"rfb105-climate{suffix}"
    try:
        publisher.publish(f"tele/{hb}/LWT", "Online")
        publisher.publish(f"tele/{hb}/SENSOR", scd30(local(t0), co2=612, temperature=71.6))
        publisher.publish(f"tele/{hb}/SENSOR", scd30("1970-01-01T00:00:12"))  # garbage
        publisher.publish(f"tele/hb999{suffix}/SENSOR", scd30(local(t0)))  # not registered
        publisher.publish(
            f"tele/{hb}/SENSOR",
            scd30(local(t0 + timedelta(minutes=5)), co2=640, temperature=72.5),
        )
        publisher.publish(
            f"tele/{bme}/SENSOR",
            json.dumps(
                {
                    "Time": local(t0),
                    "BME280": {
                        "Temperature": 21.3,
                        "Humidity": 38.2,
                        "DewPoint": 6.5,
                        "Pressure": 1003.4,
                    },
                    "PressureUnit": "hPa",
                    "TempUnit": "C",
                }
            ),
        )
        assert serve.wait_stored(8, timeout=30) == 8

        def points(space: str, quantity: str) -> list:
            answer = serve.get(
                f"/api/v1/spaces/{space}/readings",
                quantity=quantity,
                start=iso(t0),
                end=iso(t0 + timedelta(hours=1)),
            )
            assert answer.status_code == 200, answer.text
            return answer.json()["points"]

        later = iso(t0 + timedelta(minutes=5))
        assert points("hb-101", "co2") == [[iso(t0), 612.0], [later, 640.0]]
        assert points("hb-101", "temperature") == [[iso(t0), 22.0], [later, 22.5]]
        assert points("hb-101", "humidity") == [[iso(t0), 40.1], [later, 40.1]]
        assert points("rfb-105", "temperature") == [[iso(t0), 21.3]]
        assert points("rfb-105", "humidity") == [[iso(t0), 38.2]]
        letters = serve.get("/api/v1/dead-letters").json()
        assert sorted((d["reason"], d["detail"].split(":")[0]) for d in letters) == [
            ("bad_timestamp", f"Tasmota device {hb!r}"),
            (
                "unknown_device",
                f"Tasmota device 'hb999{suffix}' is not in the registry; add it under devices",
            ),
        ]
        assert serve.get("/api/v1/health").status_code == 200
    finally:
        publisher.close()
