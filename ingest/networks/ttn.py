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

from campuslab.core.devices import Network, NetworkConnection, normalise_dev_eui
from campuslab.ingest.decoders.timestamps import parse_timestamp
from campuslab.ingest.networks.base import Uplink, best_signal, json_object, number_or_none
from campuslab.ingest.reasons import Reason, Rejected


class TheThingsStackAdapter:
    network = Network.TTN

    def __init__(self, connection: NetworkConnection) -> None:
        self.connection = connection
        self._euis: dict[str, str] = {}  # DevEUI as written -> normalised (bounded)

    def decode(self, topic: str, payload: bytes, received_us: int, retained: bool) -> list[Uplink]:
        message = json_object(payload, "The Things Stack uplink")
        ids = message.get("end_device_ids")
        if not isinstance(ids, dict) or not isinstance(ids.get("device_id"), str):
            raise Rejected(Reason.UNPARSEABLE, "uplink has no end_device_ids.device_id")
        device_id = ids["device_id"]
        identities = [("ttn_device_id", device_id)]
        describe = f"The Things Stack device {device_id!r}"
        if isinstance(ids.get("dev_eui"), str):
            eui = self._euis.get(ids["dev_eui"])
            if eui is None:
                try:
                    eui = normalise_dev_eui(ids["dev_eui"])
                except ValueError as exc:
                    raise Rejected(Reason.UNPARSEABLE, f"{describe}: {exc}") from None
                if len(self._euis) < 100_000:
                    self._euis[ids["dev_eui"]] = eui
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
        rssi, snr = best_signal(up.get("rx_metadata"))
        battery = up.get("last_battery_percentage")
        return [
            Uplink(
                identities=tuple(identities),
                describe=describe,
                fields=decoded,
                ts_us=parse_timestamp(when) if when is not None else None,
                battery=number_or_none(battery.get("value")) if isinstance(battery, dict) else None,
                rssi=rssi,
                snr=snr,
            )
        ]
