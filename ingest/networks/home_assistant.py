"""Home Assistant MQTT Statestream: one entity's state per topic, as raw text, retained.

Statestream (Home Assistant's ``mqtt_statestream`` integration) publishes, under its
``base_topic`` (the fixed part of the registry's ``topic``, ``homeassistant`` by
default):

- ``<base>/<domain>/<object id>/state``: the state as raw text, not JSON (``612``,
  ``21.5``, ``on``/``off`` for a ``binary_sensor``, ``unavailable``, ``unknown``);
- with ``publish_attributes: true``, each attribute on its own topic
  ``<base>/<domain>/<object id>/<attribute>``, JSON-encoded (``"ppm"``, with quotes,
  on ``unit_of_measurement``);
- with ``publish_timestamps: true``, ``last_updated`` and ``last_changed``.

Every topic is published **retained**, so the broker replays the newest state of each
entity whenever CampusLab (re)subscribes.

The registry names an entity with ``ha_entity: sensor.hb101_co2`` and the ``quantity``
its state is (``co2``; ``presence`` for a ``binary_sensor``), with an optional ``unit``.

Decisions:

- **Retained states are not readings.** A replayed state has no time of its own (the
  receive time is the subscribe time, not when it was measured), and it was stored when
  it was published live, so storing it again would count it twice on every restart. A
  retained state only updates device health. A state published while CampusLab was away
  reaches it through its persistent session as a live (not retained) message and is kept.
- **Live states take the receive time.** Statestream publishes on the state change, so
  the receive time is the change's time to within the broker's delay; ``last_updated``
  comes as a separate message after the state and is not waited for.
- **The unit** comes from the entity's ``unit_of_measurement`` topic, remembered per
  entity. Being retained, it is replayed on subscribe, so it is known before the first
  live state. A state whose unit is not known yet is read in the registry's ``unit`` for
  the device, else the quantity's canonical unit: the facilities engineer's word is the
  best there is, and holding states back for a unit that may never come (attributes not
  published) would lose them.
- ``unavailable``: no reading; the device is marked offline in device health. ``unknown``
  (no state yet, e.g. after Home Assistant starts): no reading. Neither is a dead letter:
  both are states Home Assistant means, not bad input.
- ``binary_sensor`` states ``on``/``off`` are presence 1/0.
- Statestream publishes every entity of the house unless filtered; entities not in the
  registry are skipped (counted in ``ignored_messages``), not dead-lettered. Topics that
  are not ``<domain>/<object id>/<leaf>`` (Home Assistant's own ``status``, MQTT
  discovery ``config`` topics that share the ``homeassistant`` prefix) are skipped too.
"""

from __future__ import annotations

import json

from campuslab.core.devices import Network, NetworkConnection
from campuslab.core.registry import Campus
from campuslab.ingest.networks.base import Uplink, base_topic
from campuslab.ingest.reasons import Reason, Rejected

_BINARY = {"on": True, "off": False}


class HomeAssistantStatestreamAdapter:
    network = Network.HOME_ASSISTANT

    def __init__(self, connection: NetworkConnection, campus: Campus | None = None) -> None:
        self.connection = connection
        self.campus = campus
        self.base = base_topic(connection.subscription)
        self.units: dict[str, str] = {}  # entity id -> unit_of_measurement (registered only)
        self.replayed_states = 0  # retained states seen on subscribe, not stored
        self.ignored_messages = 0  # of entities not in the registry, and other topics

    def decode(self, topic: str, payload: bytes, received_us: int, retained: bool) -> list[Uplink]:
        levels = topic[len(self.base) + 1 :].split("/") if topic.startswith(f"{self.base}/") else []
        if len(levels) != 3:
            self.ignored_messages += 1
            return []
        domain, object_id, leaf = levels
        entity = f"{domain}.{object_id}"
        device = self.campus.device("ha_entity", entity) if self.campus is not None else None
        if device is None:
            self.ignored_messages += 1
            return []
        describe = f"Home Assistant entity {entity}"
        if leaf == "unit_of_measurement":
            self._remember_unit(entity, payload)
            return []
        if leaf != "state":
            return []  # other attributes, last_updated/last_changed
        try:
            state = payload.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise Rejected(Reason.UNPARSEABLE, f"{describe}: state is not UTF-8 text") from None
        identities = (("ha_entity", entity),)
        if state == "unavailable":
            return [Uplink(identities, describe, online=False)]
        if state in ("unknown", ""):
            return [Uplink(identities, describe)]
        if retained:
            self.replayed_states += 1
            return [Uplink(identities, describe, online=True)]
        value: object = state
        if domain == "binary_sensor":
            value = _BINARY.get(state.lower(), state)
        unit = self.units.get(entity)
        units = {device.quantity: unit} if unit and device.quantity else {}
        return [Uplink(identities, describe, value=value, units=units, online=True)]

    def _remember_unit(self, entity: str, payload: bytes) -> None:
        text = payload.decode("utf-8", errors="replace").strip()
        try:
            unit = json.loads(text)
        except ValueError:
            unit = text  # not JSON-encoded (an older or hand-made publisher): the text itself
        if isinstance(unit, str) and unit:
            self.units[entity] = unit
        else:
            self.units.pop(entity, None)  # null: the entity has no unit (any more)
