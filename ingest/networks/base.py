"""What every network adapter gives the ingest path: uplinks from identified devices.

An adapter reads the topics of one kind of network (The Things Stack, ChirpStack,
Zigbee2MQTT, Home Assistant, Tasmota, Sparkplug B) and turns a message into
``Uplink``s: which device spoke (by an identity the registry's ``devices:`` knows),
when, the decoded fields, and its battery and radio signal where the network says.
It knows nothing of spaces or quantities; ``campuslab.ingest.devices`` maps an uplink
to readings through the device's profile. A message that is not a valid uplink raises
``Rejected`` with a sentence naming the device and what was wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from campuslab.core.devices import Network, NetworkConnection


@dataclass(slots=True)
class Uplink:
    """One device's message: identity, time, decoded fields and health."""

    identities: tuple[tuple[str, str], ...]  # (identity field, value), most specific first
    describe: str  # how a person names the device: "The Things Stack device am307-1 (DevEUI …)"
    fields: Mapping[str, object] = field(default_factory=dict)  # decoded payload, may nest
    ts_us: int | None = None  # None: the receive time
    battery: float | None = None  # %
    rssi: float | None = None  # dBm, the best gateway's
    snr: float | None = None  # dB
    online: bool | None = None  # a network's own word: False on Sparkplug DEATH, Z2M offline
    units: Mapping[str, str] = field(default_factory=dict)  # quantity -> unit the message says
    value: object = None  # a one-value source's state (Home Assistant), mapped by the device


class NetworkAdapter(Protocol):
    """Decodes one network's messages; stateful adapters keep state per device or node."""

    network: Network
    connection: NetworkConnection

    def decode(self, topic: str, payload: bytes, received_us: int, retained: bool) -> list[Uplink]:
        """The uplinks in one message (none for a message that carries no readings, such
        as an availability note, after recording what it says); raises ``Rejected``."""
        ...
