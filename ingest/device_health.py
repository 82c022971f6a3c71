"""Device health as ingest sees it: last seen, battery, radio signal, online or not.

The ingest path records every uplink of a registered device here (on the writer
thread); the API and ``/metrics`` read snapshots.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from campuslab.core.devices import Device


@dataclass(frozen=True, slots=True)
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
        with self._lock:
            old = self._by_device.get(device.key)
            if old is None:
                old = DeviceHealth(device.key, device.model, *location, received_us, None)
            self._by_device[device.key] = replace(
                old,
                last_seen_us=max(old.last_seen_us, received_us),
                last_reading_us=max(reading_us, old.last_reading_us or reading_us)
                if reading_us is not None
                else old.last_reading_us,
                battery=battery if battery is not None else old.battery,
                rssi=rssi if rssi is not None else old.rssi,
                snr=snr if snr is not None else old.snr,
                online=online
                if online is not None
                else (True if old.online is False else old.online),
                messages=old.messages + 1,
            )

    def snapshot(self) -> list[DeviceHealth]:
        with self._lock:
            return sorted(self._by_device.values(), key=lambda h: h.device)

    def get(self, device_key: str) -> DeviceHealth | None:
        with self._lock:
            return self._by_device.get(device_key)
