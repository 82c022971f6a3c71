"""Every registry device with its health and status, for GET /api/v1/devices, the
overview page's devices panel and the ``/metrics`` device gauges.

Where the health comes from: in ``campuslab serve`` the ingestor's book in the same
process (``create_app(device_health=...)``); in the full stack (the API in a process
of its own) the newest ``device_health`` rows the ingestors write into the store
(``StoredDeviceHealth``). Status and interval follow ``campuslab.core.device_health``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from campuslab.core.device_health import (
    DeviceHealth,
    DeviceStatus,
    IntervalSource,
    device_status,
    last_seen_at,
    read_device_health,
    reporting_interval,
)
from campuslab.core.devices import Device
from campuslab.core.registry import Campus
from campuslab.core.store.port import ReadingStore

HealthSource = Callable[[datetime], Mapping[str, DeviceHealth]]


class StoredDeviceHealth:
    """The newest stored health per device, for an API without an ingestor of its own.

    Each call reads the two newest hourly buckets (an ingestor rewrites every device it
    knows into them every snapshot). When they hold nothing (no ingestor ran in the last
    hour), it looks further back, at most once every ``deep_every``.
    """

    def __init__(
        self,
        store: ReadingStore | Callable[[], ReadingStore],
        deep_every: timedelta = timedelta(minutes=5),
    ):
        # a callable reads the app's store when asked (tests swap app.state.store)
        self._store_of = store if callable(store) else lambda: store
        self._deep_every = deep_every.total_seconds()
        self._deep: dict[str, DeviceHealth] = {}
        self._deep_at: float | None = None
        self._lock = threading.Lock()

    def __call__(self, now: datetime) -> Mapping[str, DeviceHealth]:
        store = self._store_of()
        recent = read_device_health(store, now, deep=False)
        if recent:
            return recent
        with self._lock:
            if self._deep_at is None or time.monotonic() - self._deep_at > self._deep_every:
                self._deep = read_device_health(store, now)
                self._deep_at = time.monotonic()
            return dict(self._deep)


def live_device_health(snapshot: Callable[[], list[DeviceHealth]]) -> HealthSource:
    """The health an ingestor in this process keeps (it read the stored one at start)."""
    return lambda now: {h.device: h for h in snapshot()}


@dataclass(frozen=True, slots=True)
class DeviceState:
    """One registry device as the devices list shows it."""

    device: Device
    key: str
    building: str
    health: DeviceHealth | None
    status: DeviceStatus
    interval: timedelta
    interval_source: IntervalSource

    @property
    def last_seen(self) -> datetime | None:
        return last_seen_at(self.health)


def device_states(
    campus: Campus, healths: Mapping[str, DeviceHealth], now: datetime
) -> list[DeviceState]:
    """Every registry device, in registry order, never-seen ones included."""
    states = []
    for device in campus.devices:
        health = healths.get(device.key)
        profile = campus.profiles.get(device.model) if device.model else None
        interval, source = reporting_interval(
            device, profile, health.learned_interval_s if health else None
        )
        last_seen = last_seen_at(health)
        status = device_status(last_seen, now, interval, health.online if health else None)
        building, _ = campus.device_location(device)
        states.append(DeviceState(device, device.key, building, health, status, interval, source))
    return states


class DeviceHealthCollector(Collector):
    """``/metrics`` gauges, computed at scrape time.

    ``campuslab_devices{status}`` counts devices per status (4 series). Battery and last
    seen are per device (one series each per device that reported them): a campus has
    hundreds of devices, not millions, and a per-device series is what an alert on a
    flat battery needs, so that cardinality is accepted.
    """

    def __init__(self, campus: Campus, source: HealthSource, clock: Callable[[], datetime]) -> None:
        self._campus = campus
        self._source = source
        self._clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self._clock()
        states = device_states(self._campus, self._source(now), now)
        by_status = GaugeMetricFamily(
            "campuslab_devices", "Registry devices by status", labels=["status"]
        )
        for status in DeviceStatus:
            by_status.add_metric([status.value], sum(1 for s in states if s.status == status))
        yield by_status
        battery = GaugeMetricFamily(
            "campuslab_device_battery_percent",
            "Battery of each device that reports one, %",
            labels=["device"],
        )
        seen = GaugeMetricFamily(
            "campuslab_device_last_seen_seconds",
            "When each device was last seen, Unix time in seconds",
            labels=["device"],
        )
        for state in states:
            if state.health is None:
                continue
            seen.add_metric([state.key], state.health.last_seen_us / 1e6)
            if state.health.battery is not None:
                battery.add_metric([state.key], state.health.battery)
        yield battery
        yield seen


# -- the overview page's devices panel (facilities) -------------------------------------
PANEL_ROWS = 100  # a campus has hundreds of devices; the API lists them all
_SEVERITY = {
    DeviceStatus.SILENT: 0,
    DeviceStatus.LATE: 1,
    DeviceStatus.NEVER_SEEN: 2,
    DeviceStatus.REPORTING: 3,
}
STATUS_TEXT = {
    DeviceStatus.REPORTING: "reporting",
    DeviceStatus.LATE: "late",
    DeviceStatus.SILENT: "silent",
    DeviceStatus.NEVER_SEEN: "never seen",
}


def _interval_text(interval: timedelta) -> str:
    seconds = interval.total_seconds()
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def devices_view(
    states: list[DeviceState], campus: Campus, now: datetime
) -> dict[str, object] | None:
    """What the panel shows: counts by status, and the devices worst first (silent, late,
    never seen, reporting), at most ``PANEL_ROWS``; None when the registry has none."""
    from campuslab.api.live import age_text, local_time  # the page's own time wording

    if not states:
        return None
    ordered = sorted(states, key=lambda s: _SEVERITY[s.status])
    rows = []
    for state in ordered[:PANEL_ROWS]:
        health, space = state.health, campus.space(state.device.space or "")
        last_seen = state.last_seen
        rows.append(
            {
                "id": state.key,
                "where": space.name if space else (state.device.meter or ""),
                "sensor": state.device.space or state.device.meter or "",
                "model": state.device.model or state.device.quantity or "",
                "status": state.status.value,
                "status_text": STATUS_TEXT[state.status],
                "last_seen": local_time(last_seen, now, campus) if last_seen else None,
                "last_seen_iso": last_seen.isoformat() if last_seen else None,
                "age": age_text((now - last_seen).total_seconds()) if last_seen else None,
                "battery": f"{health.battery:g} %"
                if health and health.battery is not None
                else None,
                "signal": " / ".join(
                    f"{value:g} {unit}"
                    for value, unit in ((health.rssi, "dBm"), (health.snr, "dB"))
                    if value is not None
                )
                if health
                else "",
                "interval": f"{_interval_text(state.interval)} ({state.interval_source.value})",
            }
        )
    counts = {s.value: sum(1 for d in states if d.status == s) for s in DeviceStatus}
    return {
        "rows": rows,
        "counts": [(STATUS_TEXT[s], s.value, counts[s.value]) for s in DeviceStatus],
        "total": len(states),
        "more": max(0, len(states) - PANEL_ROWS),
    }
