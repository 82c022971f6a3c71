"""Device health as ingest sees it: last seen, battery, radio signal, online or not.

The ingest path records every uplink of a registered device here (on the writer
thread); the API and ``/metrics`` read snapshots.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from campuslab.core.devices import Device


@dataclass(slots=True)
class DeviceHealth:
    device: str  # the device's key in the registry
    model: str | None
    building: str
    sensor: str  # space or meter id
    last_seen_us: int  # receive time of its newest message
    last_reading_us: int | None  # device time of its newest reading
    battery: float | None = None  # %
    rssi: float | None = None  # dBm
    snr: float | None = None  # dB
    online: bool | None = None  # the network's word (Sparkplug DEATH, Z2M availability)
    messages: int = 0


class DeviceHealthBook:
    """The newest health of each device, updated by ingest, read by anyone."""

    def __init__(self) -> None:
        self._by_device: dict[str, DeviceHealth] = {}
        self._lock = threading.Lock()

    def seen(
        self,
        device: Device,
        location: tuple[str, str],
        received_us: int,
        reading_us: int | None,
        battery: float | None = None,
        rssi: float | None = None,
        snr: float | None = None,
        online: bool | None = None,
    ) -> None:
        # Updated in place (this runs once per uplink on the ingest thread); readers get copies.
        with self._lock:
            health = self._by_device.get(device.key)
            if health is None:
                health = DeviceHealth(device.key, device.model, *location, received_us, None)
                self._by_device[device.key] = health
            if received_us > health.last_seen_us:
                health.last_seen_us = received_us
            if reading_us is not None and (
                health.last_reading_us is None or reading_us > health.last_reading_us
            ):
                health.last_reading_us = reading_us
            if battery is not None:
                health.battery = battery
            if rssi is not None:
                health.rssi = rssi
            if snr is not None:
                health.snr = snr
            if online is not None:
                health.online = online
            elif health.online is False:
                health.online = True  # it speaks again
            health.messages += 1

    def snapshot(self) -> list[DeviceHealth]:
        with self._lock:
            return sorted((replace(h) for h in self._by_device.values()), key=lambda h: h.device)

    def get(self, device_key: str) -> DeviceHealth | None:
        with self._lock:
            health = self._by_device.get(device_key)
            return replace(health) if health is not None else None
