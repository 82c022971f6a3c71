"""Device health: each device's last seen, battery, signal, and whether it still reports.

Ingest records every uplink of a registered device (``campuslab.ingest.device_health``)
and writes a snapshot of what it knows into the store now and then; the API reads the
newest snapshot per device. Both sides share what is here: the health record, its
store rows, and the status rule.

**Status** (``device_status``) compares the time since the device was last seen with
its reporting interval *I*:

- ``reporting``: last seen at most 2 × *I* ago. One lost uplink is ordinary (LoRaWAN
  uplinks are unconfirmed and a gateway misses a few per cent of them), so a single
  missing report does not make a device late.
- ``late``: more than 2 × *I* and at most 3 × *I*: two reports in a row are missing.
- ``silent``: more than 3 × *I* (the threshold the alerts use: "silent for 3× its
  reporting interval"), or the network itself says the device is offline (Sparkplug
  DEATH, Zigbee2MQTT availability ``offline``).
- ``never_seen``: no message from it since it was registered (or in the store).

**Interval** (``reporting_interval``), first found of: the device's own
``reporting_interval`` in the registry, its profile's, the median gap between its
recent messages (learned once it has sent ``LEARN_MIN_GAPS + 1`` messages), else
``DEFAULT_INTERVAL``; the answer says which was used.

>>> from datetime import UTC, datetime, timedelta
>>> now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
>>> device_status(now - timedelta(minutes=25), now, timedelta(minutes=10))
<DeviceStatus.LATE: 'late'>
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from campuslab.core.config import parse_duration
from campuslab.core.devices import Device, DeviceProfile
from campuslab.core.readings import from_epoch_us
from campuslab.core.store.port import RollupRow

LATE_AFTER = 2.0  # × the reporting interval
SILENT_AFTER = 3.0  # × the reporting interval (the alerts' "silent for 3×")
# Milesight AM307/AM319 and Elsys ERS ship reporting every 10 minutes.
DEFAULT_INTERVAL = timedelta(minutes=10)
LEARN_MIN_GAPS = 3  # gaps between messages before a median is trusted
LEARN_WINDOW = 16  # newest messages kept per device for the median
_SHORTEST_GAP_US = 1_000_000  # gaps under 1 s are repeats (several gateways, redelivery)


class DeviceStatus(StrEnum):
    REPORTING = "reporting"
    LATE = "late"
    SILENT = "silent"
    NEVER_SEEN = "never_seen"


class IntervalSource(StrEnum):
    REGISTRY = "registry"  # the device's reporting_interval in the registry
    PROFILE = "profile"  # its model's profile
    LEARNED = "learned"  # the median gap between its recent messages
    DEFAULT = "default"  # DEFAULT_INTERVAL


@dataclass(slots=True)  # ingest updates its own record in place; readers get copies
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
    messages: int = 0  # messages this process has seen from it
    learned_interval_s: float | None = None  # median gap of its recent messages


def device_status(
    last_seen: datetime | None,
    now: datetime,
    interval: timedelta,
    online: bool | None = None,
) -> DeviceStatus:
    """The status of a device last seen at ``last_seen`` that reports every ``interval``."""
    if last_seen is None:
        return DeviceStatus.NEVER_SEEN
    if online is False:
        return DeviceStatus.SILENT
    age = now - last_seen
    if age > interval * SILENT_AFTER:
        return DeviceStatus.SILENT
    if age > interval * LATE_AFTER:
        return DeviceStatus.LATE
    return DeviceStatus.REPORTING


def learned_interval(times_us: Sequence[int]) -> float | None:
    """Seconds: the median gap between message times (µs), or None with too few gaps.

    Gaps under a second are left out: they are one report heard twice, not a period.
    """
    ordered = sorted(times_us)
    gaps = [b - a for a, b in itertools.pairwise(ordered) if b - a >= _SHORTEST_GAP_US]
    if len(gaps) < LEARN_MIN_GAPS:
        return None
    return statistics.median(gaps) / 1e6


def reporting_interval(
    device: Device, profile: DeviceProfile | None, learned_s: float | None
) -> tuple[timedelta, IntervalSource]:
    """The interval the status is judged by, and where it came from (see the module)."""
    if device.interval is not None:
        return device.interval, IntervalSource.REGISTRY
    if profile is not None and profile.reporting_interval:
        return parse_duration(profile.reporting_interval), IntervalSource.PROFILE
    if learned_s is not None:
        return timedelta(seconds=learned_s), IntervalSource.LEARNED
    return DEFAULT_INTERVAL, IntervalSource.DEFAULT


# -- store rows ----------------------------------------------------------------------
HEALTH_MEASUREMENT = "device_health"
# One row per device per hour: the snapshot writer upserts the current hour's row, so
# the store keeps an hourly battery and signal history and never a row per message.
SNAPSHOT_BUCKET = timedelta(hours=1)
# How far back a reader looks for a device's newest row: the newest buckets hold every
# device an ingestor has seen (it rewrites them all each snapshot); older windows only
# matter after ingest was down.
LOOKBACKS = (timedelta(hours=2), timedelta(days=2), timedelta(days=35))


def bucket_of(at: datetime) -> datetime:
    step = int(SNAPSHOT_BUCKET.total_seconds())
    seconds = int(at.timestamp())
    return datetime.fromtimestamp(seconds - seconds % step, UTC)


def health_rows(healths: Iterable[DeviceHealth], at: datetime) -> list[RollupRow]:
    """The rows of one snapshot taken at ``at`` (tags device, building, sensor, model)."""
    ts = bucket_of(at)
    rows = []
    for h in healths:
        fields: dict[str, float] = {"last_seen": h.last_seen_us / 1e6, "messages": h.messages}
        optional = {
            "last_reading": None if h.last_reading_us is None else h.last_reading_us / 1e6,
            "battery": h.battery,
            "rssi": h.rssi,
            "snr": h.snr,
            "online": None if h.online is None else float(h.online),
            "learned_interval": h.learned_interval_s,
        }
        fields.update({k: float(v) for k, v in optional.items() if v is not None})
        tags = {"device": h.device, "building": h.building, "sensor": h.sensor}
        if h.model:
            tags["model"] = h.model
        rows.append(RollupRow(ts, tags, fields))
    return rows


def health_from_row(row: RollupRow) -> DeviceHealth | None:
    fields, tags = row.fields, row.tags
    if "device" not in tags or "last_seen" not in fields:
        return None

    def micros(name: str) -> int | None:
        return round(fields[name] * 1e6) if name in fields else None

    online = fields.get("online")
    return DeviceHealth(
        device=tags["device"],
        model=tags.get("model"),
        building=tags.get("building", ""),
        sensor=tags.get("sensor", ""),
        last_seen_us=micros("last_seen") or 0,
        last_reading_us=micros("last_reading"),
        battery=fields.get("battery"),
        rssi=fields.get("rssi"),
        snr=fields.get("snr"),
        online=None if online is None else online >= 0.5,
        messages=int(fields.get("messages", 0)),
        learned_interval_s=fields.get("learned_interval"),
    )


def newest_by_device(rows: Iterable[RollupRow]) -> dict[str, DeviceHealth]:
    """Each device's health with the latest ``last_seen`` among ``rows``."""
    newest: dict[str, DeviceHealth] = {}
    for row in rows:
        health = health_from_row(row)
        if health is None:
            continue
        old = newest.get(health.device)
        if old is None or health.last_seen_us >= old.last_seen_us:
            newest[health.device] = health
    return newest


class _RollupReader:  # the part of ReadingStore read here (keeps the import light)
    def read_rollups(
        self, measurement: str, start: datetime, end: datetime, tags: Mapping[str, str] | None
    ) -> list[RollupRow]: ...


def read_device_health(
    store: _RollupReader, now: datetime, wanted: Iterable[str] = (), deep: bool = True
) -> dict[str, DeviceHealth]:
    """The newest stored health of each device, looking back as far as ``LOOKBACKS`` go
    (further only while some device in ``wanted`` is still missing, and ``deep``)."""
    wanted_keys = set(wanted)
    end = bucket_of(now) + SNAPSHOT_BUCKET
    found: dict[str, DeviceHealth] = {}
    lookbacks = LOOKBACKS if deep else LOOKBACKS[:1]
    for span in lookbacks:
        rows = store.read_rollups(HEALTH_MEASUREMENT, end - SNAPSHOT_BUCKET - span, end, None)
        for key, health in newest_by_device(rows).items():
            if key not in found or health.last_seen_us > found[key].last_seen_us:
                found[key] = health
        # without a list, the newest window holding any row (a snapshot holds every
        # device its ingestor knew) is enough
        if (wanted_keys and wanted_keys <= found.keys()) or (not wanted_keys and found):
            break
    return found


def last_seen_at(health: DeviceHealth | None) -> datetime | None:
    return None if health is None else from_epoch_us(health.last_seen_us)
