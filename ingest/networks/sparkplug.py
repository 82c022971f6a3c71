"""Sparkplug B (Eclipse Sparkplug 3.0) edge nodes and devices.

Topic ``spBv1.0/{group id}/{message type}/{edge node id}[/{device id}]``; the payload
is the Sparkplug B protobuf ``Payload`` (``timestamp`` in ms, ``metrics`` with
``name``, ``alias``, ``timestamp``, ``datatype`` and a typed value, ``seq``). The
protobuf bindings are Eclipse Tahu's generated ``sparkplug_b_pb2``, as shipped by the
``tahutils`` package; nothing here decodes protobuf by hand.

Sparkplug is stateful, so this adapter keeps state per edge node and device:

- **NBIRTH / DBIRTH** declare every metric with its name, datatype and, optionally, an
  alias. Their values are readings too. An NBIRTH starts a new session of the node:
  the aliases of its devices are forgotten until each device's DBIRTH.
- **NDATA / DDATA** may carry aliases alone; they are resolved through the BIRTH. An
  alias no BIRTH declared (CampusLab started after the BIRTH, or the node changed its
  metrics without a rebirth) is dead-lettered as ``unknown_alias``, naming the node or
  device and the alias; the other metrics of the message are kept. (A host application
  may ask for a rebirth by writing the NCMD metric ``Node Control/Rebirth``; CampusLab
  only reads, so it does not.)
- **NDEATH** marks the node and every device born under it offline; **DDEATH** the
  device. A later BIRTH or DATA brings them back. An NDEATH whose ``bdSeq`` is not the
  one of the node's current NBIRTH is a stale will from an older session: ignored.
- ``seq`` (0..255, per edge node) should count up by one; a gap is logged, and reading
  goes on.
- A metric's ``timestamp`` (ms) is the reading's time; without one, the payload's,
  then the receive time. Metrics with the same time become one ``Uplink``.
- NCMD, DCMD and STATE carry no measurements: they are passed over.

Sparkplug's own bookkeeping metrics (``bdSeq``, ``Node Control/*``,
``Device Control/*``) and values that are not scalars (DataSet, Template, Bytes,
arrays) are not offered as fields.
"""

from __future__ import annotations

import logging
import struct
from collections import defaultdict
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError
from tahutils.tahu.sparkplug_b_pb2 import DataType, Payload

from campuslab.core.devices import Network, NetworkConnection
from campuslab.ingest.networks.base import Uplink
from campuslab.ingest.reasons import Reason, Rejected

log = logging.getLogger(__name__)

NAMESPACE = "spBv1.0"
IDENTITY = "sparkplug_device"
_NODE_TYPES = {"NBIRTH", "NDATA", "NDEATH"}
_DEVICE_TYPES = {"DBIRTH", "DDATA", "DDEATH"}
_PASSED_OVER = {"NCMD", "DCMD", "STATE"}
_PROTOCOL_PREFIXES = ("Node Control/", "Device Control/")

_SIGNED_BITS = {DataType.Int8: 8, DataType.Int16: 16, DataType.Int32: 32, DataType.Int64: 64}
_SCALAR_KINDS = {"int_value", "long_value", "float_value", "double_value", "boolean_value"}
_TEXT_TYPES = {DataType.String, DataType.Text}
# State is kept for at most this many edge nodes, and devices per node: garbage topics
# with valid payloads must not grow memory without end (past it, BIRTHs are not kept
# and their DATA is dead-lettered as unknown_alias).
MAX_NODES = 10_000
MAX_DEVICES_PER_NODE = 10_000


@dataclass(slots=True)
class _Born:
    """What a BIRTH declared: metric names by alias, datatypes by name."""

    names: dict[int, str] = field(default_factory=dict)
    datatypes: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class _EdgeNode:
    born: _Born | None = None  # None: no NBIRTH seen in this session
    bd_seq: int | None = None  # the bdSeq of the current NBIRTH
    seq: int | None = None  # the last seq seen
    devices: dict[str, _Born] = field(default_factory=dict)  # device id -> its DBIRTH


@dataclass(frozen=True, slots=True)
class _Topic:
    group: str
    kind: str
    node: str
    device: str | None

    @property
    def node_path(self) -> str:
        return f"{self.group}/{self.node}"

    @property
    def path(self) -> str:
        return self.node_path if self.device is None else f"{self.node_path}/{self.device}"

    @property
    def describe(self) -> str:
        if self.device is None:
            return f"Sparkplug edge node {self.path!r}"
        return f"Sparkplug device {self.path!r}"


def parse_topic(topic: str) -> _Topic | None:
    """The parts of a Sparkplug B topic; None for one that carries no measurements."""
    parts = topic.split("/")
    if len(parts) >= 2 and (parts[0] == "STATE" or parts[1] == "STATE"):
        return None  # a host application's STATE (Sparkplug 2.2 and 3.0 topics)
    if len(parts) not in (4, 5) or parts[0] != NAMESPACE or not all(parts):
        raise Rejected(
            Reason.BAD_TOPIC,
            f"topic {topic[:120]!r} is not a Sparkplug B topic "
            f"{NAMESPACE}/<group>/<message type>/<edge node>[/<device>]",
        )
    group, kind, node = parts[1], parts[2], parts[3]
    device = parts[4] if len(parts) == 5 else None
    if kind in _PASSED_OVER:
        return None
    if (kind in _NODE_TYPES and device is None) or (kind in _DEVICE_TYPES and device):
        return _Topic(group, kind, node, device)
    known = ", ".join(sorted(_NODE_TYPES | _DEVICE_TYPES | _PASSED_OVER))
    raise Rejected(
        Reason.BAD_TOPIC,
        f"topic {topic[:120]!r}: {kind[:20]!r} is not a Sparkplug B message type for "
        f"{'a device' if device else 'an edge node'} (known: {known})",
    )


class SparkplugAdapter:
    network = Network.SPARKPLUG

    def __init__(self, connection: NetworkConnection) -> None:
        self.connection = connection
        self._nodes: dict[tuple[str, str], _EdgeNode] = {}

    def decode(self, topic: str, payload: bytes, received_us: int, retained: bool) -> list[Uplink]:
        where = parse_topic(topic)
        if where is None:
            return []
        message = _parse(payload, where)
        node = self._node(where)
        if where.kind == "NDEATH":
            return self._node_death(where, message, node)
        self._check_seq(where, message, node)
        if where.kind == "DDEATH":
            node.devices.pop(where.device or "", None)
            return [_status(where, online=False)]
        if where.kind == "NBIRTH":
            node.born, node.bd_seq = _born(message), _bd_seq(message)
            node.devices.clear()  # a new session: each device must be born again
            born = node.born
        elif where.kind == "DBIRTH":
            born = _born(message)
            if where.device in node.devices or len(node.devices) < MAX_DEVICES_PER_NODE:
                node.devices[where.device or ""] = born
        else:
            born = node.born if where.device is None else node.devices.get(where.device)
        return _uplinks(where, message, born)

    def _node(self, where: _Topic) -> _EdgeNode:
        key = (where.group, where.node)
        node = self._nodes.get(key)
        if node is None:
            node = _EdgeNode()
            if len(self._nodes) < MAX_NODES:
                self._nodes[key] = node
        return node

    def _node_death(self, where: _Topic, message: Payload, node: _EdgeNode) -> list[Uplink]:
        bd_seq = _bd_seq(message)
        if node.bd_seq is not None and bd_seq is not None and bd_seq != node.bd_seq:
            log.info(
                "%s: NDEATH with bdSeq %d is from an older session (NBIRTH had %d); ignored",
                where.describe,
                bd_seq,
                node.bd_seq,
            )
            return []
        uplinks = [_status(where, online=False)]
        for device in sorted(node.devices):
            uplinks.append(_status(_Topic(where.group, "DDEATH", where.node, device), online=False))
        self._nodes.pop((where.group, where.node), None)
        return uplinks

    @staticmethod
    def _check_seq(where: _Topic, message: Payload, node: _EdgeNode) -> None:
        if not message.HasField("seq"):
            return
        seq = message.seq
        if where.kind != "NBIRTH" and node.seq is not None and seq != (node.seq + 1) % 256:
            log.warning(
                "%s: %s seq %d after %d; messages of edge node %r were lost or reordered",
                where.describe,
                where.kind,
                seq,
                node.seq,
                where.node_path,
            )
        node.seq = seq


def _parse(payload: bytes, where: _Topic) -> Payload:
    try:
        message = Payload.FromString(payload)
    except DecodeError as exc:
        raise Rejected(
            Reason.UNPARSEABLE,
            f"{where.describe}: {where.kind} payload is not a Sparkplug B protobuf "
            f"Payload: its {len(payload)} bytes do not parse (cut short, or another "
            f"format; protobuf says: {exc})",
        ) from None
    message.DiscardUnknownFields()
    if payload and message.ByteSize() == 0:
        raise Rejected(
            Reason.UNPARSEABLE,
            f"{where.describe}: {where.kind} payload has no Sparkplug B Payload field "
            f"(timestamp, metrics, seq); {len(payload)} bytes of something else",
        )
    if where.kind not in ("NDEATH", "DDEATH") and not message.metrics:
        raise Rejected(Reason.UNPARSEABLE, f"{where.describe}: {where.kind} has no metrics")
    return message


def _bd_seq(message: Payload) -> int | None:
    for metric in message.metrics:
        if metric.name == "bdSeq" and metric.WhichOneof("value") in ("long_value", "int_value"):
            return getattr(metric, metric.WhichOneof("value"))
    return None


def _born(message: Payload) -> _Born:
    born = _Born()
    for metric in message.metrics:
        if not metric.name:
            continue  # a BIRTH must name every metric; a nameless one cannot be resolved
        born.datatypes[metric.name] = metric.datatype
        if metric.HasField("alias"):
            born.names[metric.alias] = metric.name
    return born


def _status(where: _Topic, online: bool) -> Uplink:
    return Uplink(identities=((IDENTITY, where.path),), describe=where.describe, online=online)


def _uplinks(where: _Topic, message: Payload, born: _Born | None) -> list[Uplink]:
    """The message's metrics as uplinks, one per metric timestamp; unresolvable aliases
    become rejections (the whole message when none resolves)."""
    payload_ms = message.timestamp if message.HasField("timestamp") else None
    by_time: dict[int | None, dict[str, object]] = defaultdict(dict)
    unknown: list[int] = []
    for metric in message.metrics:
        name = metric.name
        if not name and metric.HasField("alias"):
            name = born.names.get(metric.alias, "") if born is not None else ""
            if not name:
                unknown.append(metric.alias)
                continue
        if not name or name == "bdSeq" or name.startswith(_PROTOCOL_PREFIXES):
            continue
        datatype = metric.datatype if metric.HasField("datatype") else None
        if datatype is None and born is not None:
            datatype = born.datatypes.get(name)
        value = _value(metric, datatype)
        if value is None:
            continue
        ms = metric.timestamp if metric.HasField("timestamp") else payload_ms
        by_time[ms][name] = value
    rejected = [_unknown_alias(where, unknown, born)] if unknown else []
    if not by_time:
        if rejected:
            raise rejected[0]
        return [_status(where, online=True)]  # a BIRTH of bookkeeping metrics only
    uplinks = [
        Uplink(
            identities=((IDENTITY, where.path),),
            describe=where.describe,
            fields=fields,
            ts_us=ms * 1000 if ms is not None else None,
            online=True,
        )
        for ms, fields in sorted(by_time.items(), key=lambda item: item[0] or 0)
    ]
    uplinks[0].rejected = rejected
    return uplinks


def _unknown_alias(where: _Topic, aliases: list[int], born: _Born | None) -> Rejected:
    birth = "NBIRTH" if where.device is None else "DBIRTH"
    listed = ", ".join(str(a) for a in aliases[:10])
    why = (
        f"no {birth} was seen since CampusLab started or since the last rebirth"
        if born is None
        else f"the last {birth} did not declare {'it' if len(aliases) == 1 else 'them'}"
    )
    return Rejected(
        Reason.UNKNOWN_ALIAS,
        f"{where.describe}: {where.kind} metric alias{'es' if len(aliases) > 1 else ''} "
        f"{listed} cannot be resolved to a name: {why}; edge node {where.node_path!r} "
        "must rebirth (NCMD 'Node Control/Rebirth')",
    )


def _value(metric: Payload.Metric, datatype: int | None) -> object:
    """A metric's value as a number, bool or text; None for null and non-scalar values."""
    if metric.is_null:
        return None
    kind = metric.WhichOneof("value")
    if kind == "string_value":
        return metric.string_value if datatype in _TEXT_TYPES or datatype is None else None
    if kind not in _SCALAR_KINDS:
        return None
    value = getattr(metric, kind)
    if kind in ("int_value", "long_value") and datatype in _SIGNED_BITS:
        bits = _SIGNED_BITS[datatype]  # Sparkplug sends signed integers as two's complement
        if value >= 1 << (bits - 1):
            value -= 1 << bits
    elif kind == "float_value":
        value = _shortest_float32(value)
    return value


def _shortest_float32(value: float) -> float:
    """The shortest decimal that is this 32-bit float (a Float 21.7 reads 21.7, not
    21.700000762939453)."""
    for digits in range(6, 10):
        decimal = float(f"{value:.{digits}g}")
        if struct.unpack("<f", struct.pack("<f", decimal))[0] == value:
            return decimal
    return value
