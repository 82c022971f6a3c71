"""Zigbee2MQTT: one JSON object of readings per device message, availability on its own topic.

Topics (Zigbee2MQTT "MQTT Topics and Messages"), under a base topic that is
``zigbee2mqtt`` by default and is the fixed part of the registry's ``topic``
(``networks: [{type: zigbee2mqtt, topic: "z2m/#"}]`` -> base ``z2m``):

- ``<base>/<friendly name>``: the device's state, e.g. ``{"occupancy": true,
  "illuminance": 381, "battery": 100, "voltage": 3005, "linkquality": 150}``. A
  friendly name may itself contain ``/`` (``Floor 1/HB-101 PIR``): the device is
  everything between the base topic and the end. The registry finds it by
  ``zigbee_name``. There is no time in the message, so a reading takes the receive
  time, unless Zigbee2MQTT adds ``last_seen`` (``advanced.last_seen``: ISO 8601 or
  epoch ms), which is then the reading's time.
- ``<base>/<friendly name>/availability``: ``online``/``offline`` as text, or
  ``{"state": "online"}`` since Zigbee2MQTT 1.28. It marks the device online or
  offline in the device health book and yields no reading; for a device not in the
  registry it is skipped (a Zigbee network carries many devices CampusLab does not read).
- ``<base>/bridge/...``: the bridge's own state, logs and API; skipped (counted in
  ``bridge_messages``), never a dead letter.
- ``<base>/<friendly name>/set``, ``/get`` (and ``/set/<attribute>``): commands to the
  device, not uplinks; skipped (counted in ``commands_skipped``).

``linkquality`` is the Zigbee LQI (0-255), not an RSSI in dBm, so it is not stored as the
device's ``rssi``; it is dropped with ``last_seen`` before the profile reads the message,
so neither counts as an unmapped field.

A retained device state replayed on (re)subscribe (a device with ``retain: true``) has no
time of its own: without ``last_seen`` it only updates device health and is not stored
again as a new reading at the receive time.
"""

from __future__ import annotations

from campuslab.core.devices import Network, NetworkConnection
from campuslab.core.registry import Campus
from campuslab.ingest.decoders.timestamps import parse_timestamp
from campuslab.ingest.networks.base import Uplink, base_topic, json_object
from campuslab.ingest.reasons import Reason, Rejected

_COMMANDS = frozenset({"set", "get"})
_NETWORK_FIELDS = ("linkquality", "last_seen")  # the network's words, not the sensor's
_AVAILABILITY = {"online": True, "offline": False}


class Zigbee2MqttAdapter:
    network = Network.ZIGBEE2MQTT

    def __init__(self, connection: NetworkConnection, campus: Campus | None = None) -> None:
        self.connection = connection
        self.campus = campus
        self.base = base_topic(connection.subscription)
        self.bridge_messages = 0
        self.commands_skipped = 0

    def decode(self, topic: str, payload: bytes, received_us: int, retained: bool) -> list[Uplink]:
        name = topic[len(self.base) + 1 :] if topic.startswith(f"{self.base}/") else ""
        if not name:
            raise Rejected(
                Reason.BAD_TOPIC, f"topic {topic[:120]!r} is not {self.base}/<friendly name>"
            )
        levels = name.split("/")
        if levels[0] == "bridge":
            self.bridge_messages += 1
            return []
        if len(levels) > 1 and (levels[-1] in _COMMANDS or levels[-2] in _COMMANDS):
            self.commands_skipped += 1
            return []
        if len(levels) > 1 and levels[-1] == "availability":
            return self._availability(name.rsplit("/", 1)[0], payload)
        describe = f"Zigbee2MQTT device {name!r}"
        message = json_object(payload, f"{describe}: message")
        when = message.get("last_seen")
        try:
            ts_us = parse_timestamp(when) if when is not None else None
        except Rejected as rejected:
            raise Rejected(rejected.reason, f"{describe}: last_seen: {rejected.detail}") from None
        fields = {k: v for k, v in message.items() if k not in _NETWORK_FIELDS}
        if retained and ts_us is None:
            if self.campus is not None and self.campus.device("zigbee_name", name) is None:
                return []  # nothing to store, so nothing to tell about on every subscribe
            fields = {}  # a replay of a state already read, at an unknown time: health only
        battery = message.get("battery")
        return [
            Uplink(
                identities=(("zigbee_name", name),),
                describe=describe,
                fields=fields,
                ts_us=ts_us,
                battery=float(battery)
                if isinstance(battery, int | float) and not isinstance(battery, bool)
                else None,
            )
        ]

    def _availability(self, name: str, payload: bytes) -> list[Uplink]:
        describe = f"Zigbee2MQTT device {name!r}"
        if self.campus is not None and self.campus.device("zigbee_name", name) is None:
            return []
        text = payload.decode("utf-8", errors="replace").strip()
        state: object = text
        if text.startswith("{"):
            state = json_object(payload, f"{describe}: availability").get("state")
        online = _AVAILABILITY.get(state) if isinstance(state, str) else None
        if online is None:
            raise Rejected(
                Reason.UNPARSEABLE,
                f"{describe}: availability {text[:40]!r} is neither online nor offline "
                '(nor {"state": "online"|"offline"})',
            )
        return [Uplink(identities=(("zigbee_name", name),), describe=describe, online=online)]
