"""The Things Stack v3 (The Things Network, The Things Industries) MQTT uplinks.

Topic ``v3/{application id}@{tenant id}/devices/{device id}/up``; the JSON message
(The Things Stack "Data Formats") carries ``end_device_ids`` (``device_id``,
``dev_eui``), ``received_at`` and ``uplink_message`` with the payload formatter's
``decoded_payload``, ``rx_metadata`` (one entry per gateway, with ``rssi`` and
``snr``), the network server's ``received_at`` (RFC 3339 with nanoseconds) and, since
3.33.1, ``last_battery_percentage``. Empty fields are omitted by the stack.

- No ``decoded_payload``: the application has no payload formatter (codec) for the
  device, so there is nothing to read: rejected as ``undecoded``, naming the device.
- ``"simulated": true``: an uplink typed into the console's "Simulate uplink". It is
  not a measurement, so it is not stored; it is dead-lettered as ``simulated_uplink``
  so the engineer testing the integration sees it arrived and was understood.
"""

from __future__ import annotations

import json

from campuslab.core.devices import Network, NetworkConnection, normalise_dev_eui
from campuslab.ingest.decoders.timestamps import parse_timestamp
from campuslab.ingest.networks.base import Uplink
from campuslab.ingest.reasons import Reason, Rejected


class TheThingsStackAdapter:
    network = Network.TTN

    def __init__(self, connection: NetworkConnection) -> None:
        self.connection = connection

    def decode(self, topic: str, payload: bytes, received_us: int, retained: bool) -> list[Uplink]:
        message = _json_object(payload, "The Things Stack uplink")
        ids = message.get("end_device_ids")
        if not isinstance(ids, dict) or not isinstance(ids.get("device_id"), str):
            raise Rejected(Reason.UNPARSEABLE, "uplink has no end_device_ids.device_id")
        device_id = ids["device_id"]
        identities = [("ttn_device_id", device_id)]
        describe = f"The Things Stack device {device_id!r}"
        if isinstance(ids.get("dev_eui"), str):
            try:
                eui = normalise_dev_eui(ids["dev_eui"])
            except ValueError as exc:
                raise Rejected(Reason.UNPARSEABLE, f"{describe}: {exc}") from None
            identities.insert(0, ("dev_eui", eui))
            describe += f" (DevEUI {eui})"
        up = message.get("uplink_message")
        if not isinstance(up, dict):
            raise Rejected(Reason.UNPARSEABLE, f"{describe}: no uplink_message")
        if message.get("simulated") is True:
            raise Rejected(
                Reason.SIMULATED_UPLINK,
                f"{describe}: a simulated uplink (The Things Stack console); not stored as a "
                "measurement",
            )
        decoded = up.get("decoded_payload")
        if not isinstance(decoded, dict):
            raise Rejected(
                Reason.UNDECODED,
                f"{describe}: uplink has no decoded_payload; set a payload formatter (codec) "
                "for this device or application in The Things Stack",
            )
        when = up.get("received_at") or message.get("received_at")
        rssi, snr = _best_signal(up.get("rx_metadata"))
        battery = up.get("last_battery_percentage")
        return [
            Uplink(
                identities=tuple(identities),
                describe=describe,
                fields=decoded,
                ts_us=parse_timestamp(when) if when is not None else None,
                battery=_number(battery.get("value")) if isinstance(battery, dict) else None,
                rssi=rssi,
                snr=snr,
            )
        ]


def _json_object(payload: bytes, what: str) -> dict:
    try:
        message = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Rejected(Reason.UNPARSEABLE, f"{what} is not JSON: {exc}") from None
    if not isinstance(message, dict):
        raise Rejected(Reason.UNPARSEABLE, f"{what} must be a JSON object")
    return message


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _best_signal(rx_metadata: object) -> tuple[float | None, float | None]:
    """The strongest gateway's RSSI (dBm) and its SNR (dB)."""
    best: tuple[float | None, float | None] = (None, None)
    if not isinstance(rx_metadata, list):
        return best
    for gateway in rx_metadata:
        if not isinstance(gateway, dict):
            continue
        rssi = _number(gateway.get("rssi", gateway.get("channel_rssi")))
        if rssi is not None and (best[0] is None or rssi > best[0]):
            best = (rssi, _number(gateway.get("snr")))
    return best
