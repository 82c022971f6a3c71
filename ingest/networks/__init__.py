"""Network adapters: what real campus brokers carry, one module per network.

Each adapter turns its network's messages into ``Uplink``s (``base.py``). The
registry's ``networks:`` section says which ones a campus uses and on which topic;
``adapter_for`` builds them.
"""

from __future__ import annotations

from collections.abc import Callable

from campuslab.core.devices import Network, NetworkConnection
from campuslab.ingest.networks.base import NetworkAdapter, Uplink
from campuslab.ingest.networks.ttn import TheThingsStackAdapter

_ADAPTERS: dict[Network, Callable[[NetworkConnection], NetworkAdapter]] = {
    Network.TTN: TheThingsStackAdapter,
}


def adapter_for(connection: NetworkConnection) -> NetworkAdapter:
    """The adapter of a registry ``networks:`` entry."""
    try:
        make = _ADAPTERS[connection.type]
    except KeyError:
        raise NotImplementedError(
            f"no adapter for network {connection.type.value!r} in this version"
        ) from None
    return make(connection)


__all__ = ["NetworkAdapter", "Uplink", "adapter_for"]
