"""Device health as ingest sees it: last seen, battery, radio signal, online or not.

The ingest path records every uplink of a registered device in a ``DeviceHealthBook``
(on the writer thread); the API and ``/metrics`` read snapshots. ``HealthRecorder``
writes the book into the store every ``every`` (one row per device per hour, upserted:
``campuslab.core.device_health``), so an API in another process sees it and a restart
keeps each device's last seen: the book starts from the store's newest rows.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from campuslab.core.device_health import (
    HEALTH_MEASUREMENT,
    LEARN_WINDOW,
    DeviceHealth,
    health_rows,
    learned_interval,
    read_device_health,
)
from campuslab.core.devices import Device
from campuslab.core.store.port import ReadingStore

__all__ = ["DeviceHealth", "DeviceHealthBook", "HealthRecorder"]

log = logging.getLogger(__name__)


class DeviceHealthBook:
    """The newest health of each device, updated by ingest, read by anyone."""

    def __init__(self) -> None:
        self._by_device: dict[str, DeviceHealth] = {}
        self._recent: dict[str, deque[int]] = {}  # device times of its newest messages
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
        # Updated in place (this runs once per uplink on the ingest thread); readers get
        # copies, and the learned interval is worked out when they read.
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
            # the period is learned from the device's own times, so a replayed backlog
            # (received all at once) does not look like a fast reporter
            recent = self._recent.get(device.key)
            if recent is None:
                recent = self._recent[device.key] = deque(maxlen=LEARN_WINDOW)
            recent.append(reading_us if reading_us is not None else received_us)

    def merge(self, health: DeviceHealth) -> None:
        """Take a stored (or another ingestor's) record where it is newer than ours."""
        with self._lock:
            old = self._by_device.get(health.device)
            if old is None:
                self._by_device[health.device] = replace(health)
            elif health.last_seen_us > old.last_seen_us:
                self._by_device[health.device] = replace(
                    health,
                    messages=old.messages,
                    learned_interval_s=self._learned(old) or health.learned_interval_s,
                )

    def _learned(self, health: DeviceHealth) -> float | None:
        recent = self._recent.get(health.device)
        learned = learned_interval(recent) if recent else None
        return learned if learned is not None else health.learned_interval_s

    def _copy(self, health: DeviceHealth) -> DeviceHealth:
        return replace(health, learned_interval_s=self._learned(health))

    def snapshot(self) -> list[DeviceHealth]:
        with self._lock:
            copies = [self._copy(h) for h in self._by_device.values()]
        return sorted(copies, key=lambda h: h.device)

    def get(self, device_key: str) -> DeviceHealth | None:
        with self._lock:
            health = self._by_device.get(device_key)
            return self._copy(health) if health is not None else None


class HealthRecorder:
    """Keeps a book's health in the store: read back at start, written every ``every``.

    Each write first merges the store's newest rows into the book (the newer last seen
    wins), so ingestors sharing a subscription, each seeing some of a device's messages,
    agree on it instead of overwriting one another with older news.
    """

    def __init__(
        self,
        book: DeviceHealthBook,
        store: ReadingStore,
        devices: list[Device],
        every: timedelta = timedelta(seconds=30),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.book = book
        self.store = store
        self.devices = devices
        self.every = every
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def restore(self) -> int:
        """Load each device's newest stored health into the book; how many were found."""
        wanted = {d.key for d in self.devices}
        stored = read_device_health(self.store, self.clock(), wanted)
        for key, health in stored.items():
            if key in wanted:
                self.book.merge(health)
        return len(wanted & stored.keys())

    def write(self) -> int:
        """Upsert the current hour's row of every device in the book; how many."""
        now = self.clock()
        wanted = {d.key for d in self.devices}
        for key, health in read_device_health(self.store, now, deep=False).items():
            if key in wanted:
                self.book.merge(health)
        healths = self.book.snapshot()
        if healths:
            self.store.write_rollups(HEALTH_MEASUREMENT, health_rows(healths, now))
        return len(healths)

    def start(self) -> None:
        if not self.devices:
            return
        try:
            restored = self.restore()
            log.info("device health: %d of %d devices read back", restored, len(self.devices))
        except Exception:  # the store may be down at start; ingest must still run
            log.exception("device health: could not read the stored health back")
        self._thread = threading.Thread(
            target=self._run, name="campuslab-device-health", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the timer and write a last snapshot (so a restart finds the newest)."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(5)
        self._safe_write()

    def _run(self) -> None:
        while not self._stop.wait(self.every.total_seconds()):
            self._safe_write()

    def _safe_write(self) -> None:
        try:
            self.write()
        except Exception:
            log.exception("device health: could not write the snapshot")
