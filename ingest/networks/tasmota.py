"""Tasmota: telemetry of ESP devices with sensors, on ``tele/<topic>/SENSOR``.

Topics (Tasmota's default ``FullTopic %prefix%/%topic%/``, prefix ``tele``):

- ``tele/<topic>/SENSOR`` (every ``TelePeriod``): ``{"Time": "2026-11-26T10:00:00",
  "SCD30": {"CarbonDioxide": 612, "eCO2": 640, "Temperature": 71.6, "Humidity": 40.1,
  "DewPoint": 46.3}, "TempUnit": "F"}``. The registry finds the device by
  ``tasmota_topic``; its profile reads fields by path (``SCD30.CarbonDioxide``).
  ``TempUnit`` (``C`` or ``F``, Tasmota's ``SetOption8``) is the unit of every
  temperature in the message and goes to the mapper as the temperature's unit.
- ``tele/<topic>/STATE``: uptime and Wi-Fi. ``Wifi.RSSI`` is Tasmota's signal *quality
  in percent*; ``Wifi.Signal`` is the RSSI in dBm, so Signal is the device's ``rssi``.
  No readings.
- ``tele/<topic>/LWT``: ``Online``/``Offline`` (retained; the broker publishes Offline
  as the last will), the device's availability. No readings.
- Other telemetry (``INFO1``..``INFO3``, ``RESULT``, ``UPTIME``...) is skipped.

STATE and LWT of a device not in the registry are skipped (nothing of theirs is stored);
a SENSOR message of one is a dead letter (``unknown_device``) naming the topic to add.

**Time.** Tasmota writes ``Time`` as local time without an offset by default
(``SetOption52 0``). It is read in the site's timezone (``site.timezone``), DST-correct.
In the autumn hour that happens twice (02:00-03:00 in Europe) a local time has two
meanings; the one nearer the receive time is taken: a live message is seconds old, so
that is always the right one (a fixed rule such as "the first occurrence" would put the
second hour's readings onto the first's, where the store would drop them as
duplicates). A spring time that does not exist (the skipped hour, from a device whose
clock is set to another zone) is resolved the same way. A ``Time`` with an offset
(``SetOption52 1``) is used as it is. A time before 2000 is a clock not yet set by NTP:
rejected (``bad_timestamp``).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from campuslab.core.devices import Network, NetworkConnection
from campuslab.core.readings import to_epoch_us
from campuslab.core.registry import Campus
from campuslab.ingest.decoders.timestamps import EARLIEST_US
from campuslab.ingest.networks.base import Uplink, json_object
from campuslab.ingest.reasons import Reason, Rejected

_TEMP_UNITS = {"C": "°C", "F": "°F"}
_LWT = {"online": True, "offline": False}


def local_time_us(local: datetime, tz: ZoneInfo, received_us: int) -> int:
    """A wall-clock time in ``tz`` as epoch microseconds; of the two meanings a local
    time has around a DST change, the one nearer ``received_us``."""
    first = to_epoch_us(local.replace(tzinfo=tz, fold=0))
    second = to_epoch_us(local.replace(tzinfo=tz, fold=1))
    if first == second:
        return first
    return min((first, second), key=lambda us: abs(us - received_us))


class TasmotaAdapter:
    network = Network.TASMOTA

    def __init__(self, connection: NetworkConnection, campus: Campus | None = None) -> None:
        self.connection = connection
        self.campus = campus
        self.tz = campus.tz if campus is not None else ZoneInfo("UTC")

    def decode(self, topic: str, payload: bytes, received_us: int, retained: bool) -> list[Uplink]:
        levels = topic.split("/")
        if len(levels) < 3:
            raise Rejected(
                Reason.BAD_TOPIC, f"topic {topic[:120]!r} is not tele/<topic>/SENSOR|STATE|LWT"
            )
        device_topic, kind = "/".join(levels[1:-1]), levels[-1]
        identities = (("tasmota_topic", device_topic),)
        describe = f"Tasmota device {device_topic!r}"
        if kind == "SENSOR":
            message = json_object(payload, f"{describe}: SENSOR message")
            ts_us = self._time(message.get("Time"), describe, received_us)
            fields = {k: v for k, v in message.items() if k not in ("Time", "TempUnit")}
            units = {}
            if "TempUnit" in message:
                unit = message["TempUnit"]
                units["temperature"] = _TEMP_UNITS.get(unit, str(unit)) if unit else "°C"
            return [Uplink(identities, describe, fields=fields, ts_us=ts_us, units=units)]
        if kind not in ("STATE", "LWT") or not self._registered(device_topic):
            return []
        if kind == "LWT":
            text = payload.decode("utf-8", errors="replace").strip()
            online = _LWT.get(text.lower())
            if online is None:
                raise Rejected(
                    Reason.UNPARSEABLE,
                    f"{describe}: LWT {text[:40]!r} is neither Online nor Offline",
                )
            return [Uplink(identities, describe, online=online)]
        message = json_object(payload, f"{describe}: STATE message")
        wifi = message.get("Wifi")
        signal = wifi.get("Signal") if isinstance(wifi, dict) else None
        rssi = (
            float(signal)
            if isinstance(signal, int | float) and not isinstance(signal, bool)
            else None
        )
        return [Uplink(identities, describe, rssi=rssi, online=True)]

    def _registered(self, device_topic: str) -> bool:
        return self.campus is None or self.campus.device("tasmota_topic", device_topic) is not None

    def _time(self, when: object, describe: str, received_us: int) -> int | None:
        if when is None:
            return None
        if not isinstance(when, str):
            raise Rejected(Reason.BAD_TIMESTAMP, f"{describe}: Time {when!r} is not text")
        try:
            moment = datetime.fromisoformat(when)
        except ValueError:
            raise Rejected(
                Reason.BAD_TIMESTAMP,
                f"{describe}: Time {when[:40]!r} is not a time (e.g. 2026-11-26T10:00:00)",
            ) from None
        if moment.tzinfo is None:
            us = local_time_us(moment, self.tz, received_us)
        else:
            us = to_epoch_us(moment)
        if us < EARLIEST_US:
            raise Rejected(
                Reason.BAD_TIMESTAMP,
                f"{describe}: Time {when[:40]!r} is before 2000; the device's clock is not "
                "set (no NTP server reached yet?)",
            )
        return us
