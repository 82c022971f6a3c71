"""Device status, reporting interval and the stored health snapshots (no servers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from campuslab.api.device_health import StoredDeviceHealth, device_states
from campuslab.core.device_health import (
    DEFAULT_INTERVAL,
    DeviceStatus,
    IntervalSource,
    device_status,
    learned_interval,
    reporting_interval,
)
from campuslab.core.devices import Device
from campuslab.core.readings import to_epoch_us
from campuslab.core.registry import parse_campus, sample_campus_path
from campuslab.core.store.duckdb import DuckDBStore
from campuslab.ingest.device_health import DeviceHealthBook, HealthRecorder


def sample_without_devices() -> str:
    """The sample campus's buildings and spaces, without its networks: and devices:."""
    text = sample_campus_path().read_text()
    return text[: text.index("\nnetworks:")] + "\n"


NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
TEN_MINUTES = timedelta(minutes=10)
CAMPUS = parse_campus(
    sample_without_devices()
    + """
networks:
  - type: ttn
devices:
  - {dev_eui: 24E124707C123456, model: milesight-am307, space: rfb-104, reporting_interval: 5m}
  - {dev_eui: 24E124707C654321, model: milesight-am319, space: rfb-101}
  - {ha_entity: sensor.hb101_co2, quantity: co2, space: hb-101}
"""
)
AM307, AM319, HA_CO2 = CAMPUS.devices


@pytest.mark.parametrize(
    ("age", "status"),
    [
        (timedelta(0), DeviceStatus.REPORTING),
        (timedelta(minutes=15), DeviceStatus.REPORTING),  # one lost uplink is ordinary
        (timedelta(minutes=20), DeviceStatus.REPORTING),  # exactly 2×: still on time
        (timedelta(minutes=20, seconds=1), DeviceStatus.LATE),
        (timedelta(minutes=30), DeviceStatus.LATE),
        (timedelta(minutes=30, seconds=1), DeviceStatus.SILENT),  # the alerts' 3×
        (timedelta(days=3), DeviceStatus.SILENT),
    ],
)
def test_status_by_age_against_the_interval(age, status):
    assert device_status(NOW - age, NOW, TEN_MINUTES) == status


def test_never_seen_and_offline():
    assert device_status(None, NOW, TEN_MINUTES) == DeviceStatus.NEVER_SEEN
    # the network's own word (a Sparkplug DEATH) makes a fresh device silent
    assert device_status(NOW, NOW, TEN_MINUTES, online=False) == DeviceStatus.SILENT
    assert device_status(NOW, NOW, TEN_MINUTES, online=True) == DeviceStatus.REPORTING


def test_learned_interval_is_the_median_gap_ignoring_repeats():
    minute = 60_000_000
    times = [0, 5 * minute, 10 * minute, 10 * minute + 200_000, 15 * minute, 40 * minute]
    assert learned_interval(times) == 300.0  # the 25-minute outage does not move the median
    assert learned_interval([0, minute, 2 * minute]) is None  # two gaps: too few to trust


def test_interval_sources_in_order():
    profile = CAMPUS.profiles["milesight-am319"]
    assert reporting_interval(AM307, profile, 60.0) == (
        timedelta(minutes=5),
        IntervalSource.REGISTRY,
    )
    with_profile = profile.model_copy(update={"reporting_interval": "15m"})
    assert reporting_interval(AM319, with_profile, 60.0) == (
        timedelta(minutes=15),
        IntervalSource.PROFILE,
    )
    bare = profile.model_copy(update={"reporting_interval": None})
    assert reporting_interval(AM319, bare, 60.0) == (timedelta(minutes=1), IntervalSource.LEARNED)
    assert reporting_interval(AM319, bare, None) == (DEFAULT_INTERVAL, IntervalSource.DEFAULT)


def seen(book: DeviceHealthBook, device: Device, at: datetime, battery: float) -> None:
    us = to_epoch_us(at)
    book.seen(device, CAMPUS.device_location(device), us, us, battery=battery, rssi=-90, snr=5)


def test_snapshots_round_trip_and_ingestors_agree_on_the_newest(tmp_path: Path):
    store = DuckDBStore(tmp_path / "campus.duckdb")
    try:
        clock = {"now": NOW}
        # two ingestors sharing a subscription, each hearing some of the AM307's uplinks
        first, second = DeviceHealthBook(), DeviceHealthBook()
        seen(first, AM307, NOW - timedelta(minutes=10), battery=90)
        seen(second, AM307, NOW - timedelta(minutes=5), battery=89)
        one = HealthRecorder(first, store, CAMPUS.devices, clock=lambda: clock["now"])
        two = HealthRecorder(second, store, CAMPUS.devices, clock=lambda: clock["now"])
        assert two.write() == 1
        assert one.write() == 1  # merges the newer row first: does not write its older news
        stored = StoredDeviceHealth(store)(NOW)
        assert stored[AM307.key].battery == 89
        assert stored[AM307.key].last_seen_us == to_epoch_us(NOW - timedelta(minutes=5))
        assert first.get(AM307.key).battery == 89

        # one row per device per hour, however often it is written
        for _ in range(3):
            one.write()
        rows = store.read_rollups("device_health", NOW - timedelta(days=1), NOW + TEN_MINUTES)
        assert len(rows) == 1

        # a restart (an empty book) reads it back, even after a day without ingest
        clock["now"] = NOW + timedelta(days=1)
        fresh = DeviceHealthBook()
        assert HealthRecorder(fresh, store, CAMPUS.devices, clock=lambda: clock["now"]).restore()
        assert fresh.get(AM307.key).battery == 89 and fresh.get(AM319.key) is None
        later = NOW + timedelta(days=1)
        states = {s.key: s for s in device_states(CAMPUS, StoredDeviceHealth(store)(later), later)}
        assert states[AM307.key].status == DeviceStatus.SILENT
        assert states[AM319.key].status == DeviceStatus.NEVER_SEEN
    finally:
        store.close()


def test_an_api_without_an_ingestor_reads_the_stored_snapshots(tmp_path: Path):
    """The full stack: the API runs in a process of its own and reads what ingest wrote."""
    import warnings

    from campuslab.api import create_app
    from campuslab.api.dependencies import get_clock
    from campuslab.api.keys import KeyStore, Role

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    store = DuckDBStore(tmp_path / "campus.duckdb")
    try:
        book = DeviceHealthBook()
        for minutes in (20, 15, 10, 5):  # every 5 minutes: a learned 300 s
            seen(book, HA_CO2, NOW - timedelta(minutes=minutes), battery=77)
        HealthRecorder(book, store, CAMPUS.devices, clock=lambda: NOW).write()
        keys = KeyStore.in_data_dir(tmp_path)
        secret = keys.create(Role.FACILITIES, "ops").secret
        app = create_app(store, CAMPUS, keys=keys)
        app.dependency_overrides[get_clock] = lambda: lambda: NOW + timedelta(minutes=12)
        app.state.clock = lambda: NOW + timedelta(minutes=12)
        client = TestClient(app)
        headers = {"Authorization": f"Bearer {secret}"}
        answer = {d["id"]: d for d in client.get("/api/v1/devices", headers=headers).json()}
        ha = answer[HA_CO2.key]
        assert (ha["battery"], ha["last_seen"]) == (77, "2026-12-04T11:55:00Z")
        # no profile: 17 minutes after its last message, against its learned 5: silent (> 15)
        assert (ha["interval_source"], ha["reporting_interval_s"]) == ("learned", 300)
        assert ha["status"] == "silent" and ha["identities"] == {"ha_entity": "sensor.hb101_co2"}
        assert answer[AM307.key]["status"] == "never_seen"
        assert answer[AM319.key]["interval_source"] == "profile"
        metrics = client.get("/metrics", headers=headers).text
        assert 'campuslab_devices{status="silent"} 1.0' in metrics
        assert f'campuslab_device_battery_percent{{device="{HA_CO2.key}"}} 77.0' in metrics
    finally:
        store.close()
