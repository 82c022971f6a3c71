"""What every network adapter gives the ingest path: uplinks from identified devices.

An adapter reads the topics of one kind of network (The Things Stack, ChirpStack,
Zigbee2MQTT, Home Assistant, Tasmota, Sparkplug B) and turns a message into
``Uplink``s: which device spoke (by an identity the registry's ``devices:`` knows),
when, the decoded fields, and its battery and radio signal where the network says.
It knows nothing of spaces or quantities; ``campuslab.ingest.devices`` maps an uplink
to readings through the device's profile. A message that is not a valid uplink raises
``Rejected`` with a sentence naming the device and what was wrong.

An uplink with no ``fields`` and no ``value`` is a status note (``online``, signal):
it updates the device's health and gives no readings; from a device the registry
lacks it is passed over, since nothing is lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import orjson

from campuslab.core.devices import Network, NetworkConnection
from campuslab.ingest.reasons import Reason, Rejected


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
    # parts of the message the adapter could not read (e.g. a Sparkplug alias no BIRTH
    # declared), dead-lettered while the rest of the uplink is mapped
    rejected: list[Rejected] = field(default_factory=list)
    # False for a message that says the device is alive (a join, a battery status) but
    # carries no readings: it updates device health only, and an unknown device sending
    # it is not dead-lettered (its uplinks are).
    carries_readings: bool = True


class NetworkAdapter(Protocol):
    """Decodes one network's messages; stateful adapters keep state per device or node."""

    network: Network
    connection: NetworkConnection

    def decode(self, topic: str, payload: bytes, received_us: int, retained: bool) -> list[Uplink]:
        """The uplinks in one message (none for a message that carries no readings, such
        as an availability note, after recording what it says); raises ``Rejected``."""
        ...


def base_topic(subscription: str) -> str:
    """The fixed levels of a topic filter, before its first wildcard: ``z2m/#`` -> ``z2m``."""
    fixed = []
    for level in subscription.split("/"):
        if level in ("+", "#"):
            break
        fixed.append(level)
    return "/".join(fixed)


def json_object(payload: bytes, what: str) -> dict:
    """A network message's JSON object (orjson: vendor envelopes are large, and decoding
    them is most of an uplink's cost); anything else is rejected as unparseable."""
    try:
        message = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise Rejected(Reason.UNPARSEABLE, f"{what} is not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise Rejected(Reason.UNPARSEABLE, f"{what} must be a JSON object")
    return message


def number_or_none(value: object) -> float | None:
    """A JSON number as float; anything else (text, booleans, null) as None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def best_signal(rx_metadata: object) -> tuple[float | None, float | None]:
    """The strongest gateway's RSSI (dBm) and its SNR (dB) from a list of gateway records
    with ``rssi`` (or ``channel_rssi``) and ``snr``."""
    best: tuple[float | None, float | None] = (None, None)
    if not isinstance(rx_metadata, list):
        return best
    for gateway in rx_metadata:
        if not isinstance(gateway, dict):
            continue
        rssi = number_or_none(gateway.get("rssi", gateway.get("channel_rssi")))
        if rssi is not None and (best[0] is None or rssi > best[0]):
            best = (rssi, number_or_none(gateway.get("snr")))
    return best
