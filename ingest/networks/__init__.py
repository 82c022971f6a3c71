"""Network adapters: what real campus brokers carry, one module per network.

Each adapter turns its network's messages into ``Uplink``s (``base.py``). The
registry's ``networks:`` section says which ones a campus uses and on which topic;
``adapter_for`` builds them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from campuslab.core.devices import Network, NetworkConnection
from campuslab.core.registry import Campus
from campuslab.ingest.networks.base import NetworkAdapter, Uplink
from campuslab.ingest.networks.chirpstack import ChirpStackAdapter
from campuslab.ingest.networks.home_assistant import HomeAssistantStatestreamAdapter
from campuslab.ingest.networks.sparkplug import SparkplugAdapter
from campuslab.ingest.networks.tasmota import TasmotaAdapter
from campuslab.ingest.networks.ttn import TheThingsStackAdapter
from campuslab.ingest.networks.zigbee2mqtt import Zigbee2MqttAdapter

# An adapter is made from its registry entry; one whose constructor also takes a keyword
# ``campus`` gets the campus registry (its site timezone, its devices).
_ADAPTERS: dict[Network, Callable[..., NetworkAdapter]] = {
    Network.TTN: TheThingsStackAdapter,
    Network.SPARKPLUG: SparkplugAdapter,
    Network.ZIGBEE2MQTT: Zigbee2MqttAdapter,
    Network.HOME_ASSISTANT: HomeAssistantStatestreamAdapter,
    Network.TASMOTA: TasmotaAdapter,
    Network.CHIRPSTACK: ChirpStackAdapter,
}


def adapter_for(connection: NetworkConnection, campus: Campus | None = None) -> NetworkAdapter:
    """The adapter of a registry ``networks:`` entry (``campus`` for those that need it)."""
    try:
        make = _ADAPTERS[connection.type]
    except KeyError:
        raise NotImplementedError(
            f"no adapter for network {connection.type.value!r} in this version"
        ) from None
    if campus is not None and "campus" in inspect.signature(make).parameters:
        return make(connection, campus=campus)
    return make(connection)


__all__ = ["NetworkAdapter", "Uplink", "adapter_for"]
