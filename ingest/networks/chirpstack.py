"""ChirpStack v4 MQTT integration events.

Topic ``application/{application id}/device/{DevEUI}/event/{event}``; the event is
the JSON encoding of ChirpStack's integration protobuf messages (``integration.proto``,
JSON field names in lowerCamelCase, default values such as ``false`` or ``0`` omitted).
Every event carries ``deviceInfo`` (``tenantId``, ``applicationId``,
``deviceProfileName``, ``deviceName``, ``devEui``, ``tags``) and ``time`` (RFC 3339,
written ``+00:00`` with nanoseconds).

- ``up``: ``deduplicationId``, ``devAddr``, ``fCnt``, ``fPort``, ``data`` (base64),
  ``object`` (the device profile codec's decoded output; numbers in it are JSON
  doubles, so a count of 936 arrives as ``936.0``), ``rxInfo`` (one entry per gateway,
  ``gatewayId``, ``rssi``, ``snr``), ``txInfo``. No ``object`` while there was a
  payload: the device profile has no codec, or the codec failed (ChirpStack then also
  publishes a ``log`` event with code ``UPLINK_CODEC``): rejected as ``undecoded``.
- ``status``: the device's answer to DevStatusReq: ``margin``,
  ``externalPowerSource``, ``batteryLevelUnavailable``, ``batteryLevel`` (%). Battery
  goes to device health; no readings.
- ``join``: the device (re)joined; it is alive, so it counts as seen; no readings.
- ``ack`` (a confirmed downlink acknowledged, or timed out), ``txack`` (a gateway
  took a downlink), ``log``, ``location``, ``integration``: not the device speaking
  of its space; nothing is recorded and nothing dead-lettered. ``ack`` with
  ``acknowledged: true`` came from the device, so it counts as seen.

The DevEUI is read from ``deviceInfo.devEui`` and from the topic (either case, compared
normalised). Should they disagree, the message is rejected: which device spoke, and so
which space its readings belong to, cannot be told.
"""

from __future__ import annotations

from campuslab.core.devices import Network, NetworkConnection, normalise_dev_eui
from campuslab.ingest.decoders.timestamps import parse_timestamp
from campuslab.ingest.networks.base import Uplink, best_signal, json_object, number_or_none
from campuslab.ingest.reasons import Reason, Rejected

# Events that are not the device's own word about itself or its space.
_SILENT_EVENTS = frozenset({"txack", "log", "location", "integration"})


class ChirpStackAdapter:
    network = Network.CHIRPSTACK

    def __init__(self, connection: NetworkConnection) -> None:
        self.connection = connection

    def decode(self, topic: str, payload: bytes, received_us: int, retained: bool) -> list[Uplink]:
        event, topic_eui = _topic_parts(topic)
        if event in _SILENT_EVENTS:
            return []
        sender = f" of DevEUI {topic_eui[:40]}" if topic_eui else ""
        message = json_object(payload, f"ChirpStack {event or 'event'}{sender}")
        if event is None:
            event = _event_of(message)
        if event not in ("up", "status", "join", "ack"):
            return []  # an event type of a newer ChirpStack: nothing we read
        eui, describe = _identity(message, topic_eui)
        ts_us = _time(message, describe)
        if event == "up":
            return [_uplink(message, eui, describe, ts_us)]
        if event == "ack" and message.get("acknowledged") is not True:
            return []  # a downlink timed out: the device did not answer
        battery = None
        if event == "status" and not (
            message.get("batteryLevelUnavailable") is True
            or message.get("externalPowerSource") is True
        ):
            battery = number_or_none(message.get("batteryLevel"))
        return [
            Uplink(
                identities=(("dev_eui", eui),),
                describe=describe,
                ts_us=ts_us,
                battery=battery,
                carries_readings=False,
            )
        ]


def _topic_parts(topic: str) -> tuple[str | None, str | None]:
    """(event type, DevEUI) of ``application/{id}/device/{DevEUI}/event/{event}``; None
    where a custom ``event_topic`` template puts them elsewhere."""
    levels = topic.split("/")
    event = levels[-1] if len(levels) >= 2 and levels[-2] == "event" else None
    eui = None
    if "device" in levels[:-1]:
        eui = levels[levels.index("device") + 1]
    return event, eui


def _event_of(message: dict) -> str:
    """The event type of a message on a topic that does not name it."""
    if "object" in message or "fPort" in message or "rxInfo" in message or "data" in message:
        return "up"
    if any(k in message for k in ("batteryLevel", "batteryLevelUnavailable", "margin")):
        return "status"
    return "other"


def _identity(message: dict, topic_eui: str | None) -> tuple[str, str]:
    info = message.get("deviceInfo")
    info = info if isinstance(info, dict) else {}
    name = info.get("deviceName") if isinstance(info.get("deviceName"), str) else None
    describe = f"ChirpStack device {name!r}" if name else "ChirpStack device"
    raw = info.get("devEui")
    if not isinstance(raw, str):
        raw = topic_eui
    if raw is None:
        raise Rejected(Reason.UNPARSEABLE, f"{describe}: event has no deviceInfo.devEui")
    try:
        eui = normalise_dev_eui(raw)
    except ValueError as exc:
        raise Rejected(Reason.UNPARSEABLE, f"{describe}: {exc}") from None
    describe += f" (DevEUI {eui})"
    if topic_eui is not None and topic_eui != raw:
        try:
            same = normalise_dev_eui(topic_eui) == eui
        except ValueError:
            same = False
        if not same:
            raise Rejected(
                Reason.UNPARSEABLE,
                f"{describe}: the topic names DevEUI {topic_eui[:40]!r} but deviceInfo.devEui "
                f"is {raw!r}; which device spoke cannot be told, so nothing is stored "
                "(check the integration's event topic template)",
            )
    return eui, describe


def _time(message: dict, describe: str) -> int | None:
    when = message.get("time")
    if when is None:
        return None  # stamped on receipt
    try:
        return parse_timestamp(when)
    except Rejected as rejected:
        raise Rejected(rejected.reason, f"{describe}: time: {rejected.detail}") from None


def _uplink(message: dict, eui: str, describe: str, ts_us: int | None) -> Uplink:
    decoded = message.get("object")
    if decoded is None:
        if not message.get("data"):
            # no application payload (an uplink of MAC commands only): alive, nothing to read
            return Uplink((("dev_eui", eui),), describe, ts_us=ts_us, carries_readings=False)
        info = message.get("deviceInfo")
        profile = info.get("deviceProfileName") if isinstance(info, dict) else None
        in_profile = f" {profile!r}" if isinstance(profile, str) and profile else ""
        raise Rejected(
            Reason.UNDECODED,
            f"{describe}: uplink has no object (decoded payload); set a codec in the "
            f"ChirpStack device profile{in_profile} (or fix it: a failing codec is logged "
            "as UPLINK_CODEC in the device's events)",
        )
    if not isinstance(decoded, dict):
        raise Rejected(
            Reason.UNPARSEABLE,
            f"{describe}: object must be a JSON object, not {type(decoded).__name__}",
        )
    rssi, snr = best_signal(message.get("rxInfo"))
    return Uplink(
        identities=(("dev_eui", eui),),
        describe=describe,
        fields=decoded,
        ts_us=ts_us,
        rssi=rssi,
        snr=snr,
    )
