"""Devices and device profiles: which field of which device's message is which quantity.

A real campus broker carries what its networks publish (LoRaWAN network servers,
Zigbee2MQTT, Home Assistant, Tasmota, Sparkplug B), not CampusLab's own topic scheme.
The registry's ``devices:`` section says which device sits in which space (or on which
meter); a **profile** says how that device model's payload reads: which field is which
quantity, in which unit and scale, and where its battery and signal are.

Profiles are data, not code (``core/profiles/*.yaml``, plus a folder of the campus's
own named by the registry's ``device_profiles``), so a facilities team adds a sensor
model without a release. Decoder versions name fields differently
(``people_count_all`` / ``people_counter_all``, ``pm2_5`` / ``pm2.5``, nested
``line_1.total_in`` / flat ``line_1_total_in``); a profile lists the alternatives and
the first one present in a message is used.

>>> profile = parse_profile({"model": "demo", "readings": {"co2": {"fields": ["co2"]}}}, "x")
>>> profile.readings["co2"].fields
('co2',)
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from campuslab.core.config import parse_duration
from campuslab.core.quantities import QUANTITIES


class Network(StrEnum):
    """Where a device's messages come from: one adapter in ``campuslab.ingest.networks`` each."""

    TTN = "ttn"  # The Things Stack v3 (The Things Network / The Things Industries)
    CHIRPSTACK = "chirpstack"  # ChirpStack v4
    ZIGBEE2MQTT = "zigbee2mqtt"
    HOME_ASSISTANT = "home_assistant"  # MQTT statestream
    TASMOTA = "tasmota"
    SPARKPLUG = "sparkplug"  # Sparkplug B (protobuf)


# The subscription a network's adapter takes when the registry names none.
DEFAULT_TOPICS: dict[Network, str] = {
    Network.TTN: "v3/+/devices/+/up",
    Network.CHIRPSTACK: "application/+/device/+/event/+",
    Network.ZIGBEE2MQTT: "zigbee2mqtt/#",
    Network.HOME_ASSISTANT: "homeassistant/#",
    Network.TASMOTA: "tele/+/+",
    Network.SPARKPLUG: "spBv1.0/#",
}

# The identity fields of a registry device, and the networks that use each.
IDENTITY_FIELDS: dict[str, tuple[Network, ...]] = {
    "dev_eui": (Network.TTN, Network.CHIRPSTACK),
    "ttn_device_id": (Network.TTN,),
    "zigbee_name": (Network.ZIGBEE2MQTT,),
    "ha_entity": (Network.HOME_ASSISTANT,),
    "tasmota_topic": (Network.TASMOTA,),
    "sparkplug_device": (Network.SPARKPLUG,),
}

HealthField = Literal["battery", "rssi", "snr"]
_DEV_EUI = re.compile(r"^[0-9A-Fa-f]{16}$")


def normalise_dev_eui(text: str) -> str:
    """A DevEUI as 16 upper-case hex digits (networks write it in either case, some with
    separators): ``24e1-2470-7c12-3456`` -> ``24E124707C123456``."""
    compact = re.sub(r"[\s:-]", "", text)
    if not _DEV_EUI.match(compact):
        raise ValueError(f"{text!r} is not a DevEUI (16 hex digits, e.g. 24E124707C123456)")
    return compact.upper()


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _interval(text: str | None) -> str | None:
    if text is not None:
        span = parse_duration(text)
        if span < timedelta(seconds=1) or span > timedelta(days=7):
            raise ValueError(f"{text!r} must be between 1s and 7d")
    return text


class FieldMap(_Model):
    """Where one quantity is in a payload: alternative field paths, their unit and scale.

    ``fields`` are dotted paths into the decoded object (``line_1.total_in``); the first
    present wins. ``scale`` multiplies the raw value before unit conversion (a sensor that
    reports tenths of a degree: ``scale: 0.1``). ``values`` maps states written as text or
    booleans to numbers (``{trigger: 1, idle: 0}``; booleans as ``"true"``/``"false"``).
    """

    fields: tuple[str, ...] = Field(min_length=1)
    unit: str | None = None
    scale: float = 1.0
    values: dict[str, float] = Field(default_factory=dict)

    @field_validator("fields", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value


class LineCounterMap(_Model):
    """A cumulative in/out line counter (e.g. Milesight VS133) that becomes occupancy.

    Occupancy is the running sum of the increments in minus out since the last reset,
    clamped at 0. ``reset_at`` is the local time of day (site timezone) at which the
    count is set back to 0, so that a missed crossing does not drift forever
    (a room is empty at night); ``null`` turns the nightly reset off.
    """

    total_in: tuple[str, ...] = Field(min_length=1)
    total_out: tuple[str, ...] = Field(min_length=1)
    reset_at: str | None = "03:00"
    counter_max: int | None = Field(
        default=None, gt=0, description="the counter wraps to 0 after this value (e.g. 65535)"
    )

    @field_validator("total_in", "total_out", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("reset_at")
    @classmethod
    def _clock_time(cls, text: str | None) -> str | None:
        if text is not None and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", text):
            raise ValueError(f"{text!r} is not a time of day written HH:MM, e.g. 03:00")
        return text


class DeviceProfile(_Model):
    """How one device model's decoded payload reads."""

    model: str = Field(min_length=1, max_length=80)
    vendor: str = ""
    description: str = ""
    reporting_interval: str | None = Field(
        default=None, description="how often the device reports, e.g. 10m (late/silent status)"
    )
    readings: dict[str, FieldMap] = Field(default_factory=dict)
    line_counter: LineCounterMap | None = None
    health: dict[HealthField, tuple[str, ...]] = Field(default_factory=dict)

    _check_interval = field_validator("reporting_interval")(
        classmethod(lambda cls, v: _interval(v))
    )

    @field_validator("readings")
    @classmethod
    def _known_quantities(cls, readings: dict[str, FieldMap]) -> dict[str, FieldMap]:
        unknown = [q for q in readings if q not in QUANTITIES]
        if unknown:
            raise ValueError(f"unknown quantity {unknown[0]!r} (known: {', '.join(QUANTITIES)})")
        return readings

    @field_validator("health", mode="before")
    @classmethod
    def _health_paths(cls, health: Any) -> Any:
        if isinstance(health, dict):
            return {k: (v,) if isinstance(v, str) else v for k, v in health.items()}
        return health

    @property
    def mapped_paths(self) -> frozenset[str]:
        """Every field path the profile reads (the rest of a message is counted as unmapped)."""
        paths = {p for m in self.readings.values() for p in m.fields}
        paths.update(p for alternatives in self.health.values() for p in alternatives)
        if self.line_counter is not None:
            paths.update(self.line_counter.total_in + self.line_counter.total_out)
        return frozenset(paths)


class ProfileError(ValueError):
    """A profile file that cannot be used; the message names the file and the field."""


def parse_profile(raw: Any, source: str) -> DeviceProfile:
    if not isinstance(raw, dict):
        raise ProfileError(f"{source}: a profile is a mapping with 'model' and 'readings'")
    try:
        profile = DeviceProfile.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
            for e in exc.errors()
        )
        raise ProfileError(f"{source}: invalid device profile: {problems}") from None
    if not profile.readings and profile.line_counter is None:
        raise ProfileError(f"{source}: profile {profile.model!r} maps no readings")
    return profile


def _profiles_in(files: list[Path], found: dict[str, DeviceProfile]) -> None:
    for path in sorted(files):
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ProfileError(f"{path}: cannot read the profile: {exc}") from None
        profile = parse_profile(raw, str(path))
        found[profile.model] = profile  # a campus's own profile replaces a packaged one


def load_profiles(extra_dir: Path | None = None) -> dict[str, DeviceProfile]:
    """The packaged profiles, then those in ``extra_dir`` (which win on a shared model)."""
    found: dict[str, DeviceProfile] = {}
    packaged = resources.files("campuslab.core") / "profiles"
    _profiles_in([Path(str(p)) for p in packaged.iterdir() if p.name.endswith(".yaml")], found)
    if extra_dir is not None:
        if not extra_dir.is_dir():
            raise ProfileError(f"{extra_dir}: device_profiles folder not found")
        _profiles_in([*extra_dir.glob("*.yaml"), *extra_dir.glob("*.yml")], found)
    return found


class NetworkConnection(_Model):
    """A network whose messages CampusLab reads from the broker: its adapter and topic.

    ``topic`` is the MQTT subscription (default per network, see ``DEFAULT_TOPICS``).
    """

    type: Network
    topic: str | None = None

    @field_validator("topic")
    @classmethod
    def _topic_filter(cls, topic: str | None) -> str | None:
        if topic is None:
            return None
        levels = topic.split("/")
        if not topic or any(
            ("#" in lv and lv != "#") or ("+" in lv and lv != "+") for lv in levels
        ):
            raise ValueError(f"{topic!r} is not an MQTT topic filter (wildcards are + and #)")
        if "#" in levels[:-1]:
            raise ValueError(f"{topic!r}: '#' may only stand last")
        return topic

    @property
    def subscription(self) -> str:
        return self.topic or DEFAULT_TOPICS[self.type]


class Device(_Model):
    """A device in the registry: who it is on its network, what it is, and where it sits.

    Give one identity (``dev_eui`` for LoRaWAN, ``ttn_device_id``, ``zigbee_name``,
    ``ha_entity``, ``tasmota_topic`` or ``sparkplug_device`` as ``group/node/device``),
    a ``model`` (a profile) or, for a source of one value such as a Home Assistant
    entity, the ``quantity`` it reports, and the ``space`` or ``meter`` it measures.
    """

    id: str | None = Field(default=None, min_length=1, max_length=120)
    model: str | None = None
    quantity: str | None = None
    unit: str | None = Field(default=None, description="unit of a one-value source's state")
    space: str | None = None
    meter: str | None = None
    reporting_interval: str | None = None
    dev_eui: str | None = None
    ttn_device_id: str | None = None
    zigbee_name: str | None = None
    ha_entity: str | None = None
    tasmota_topic: str | None = None
    sparkplug_device: str | None = None

    _check_interval = field_validator("reporting_interval")(
        classmethod(lambda cls, v: _interval(v))
    )

    @field_validator("dev_eui")
    @classmethod
    def _eui(cls, text: str | None) -> str | None:
        return None if text is None else normalise_dev_eui(text)

    @field_validator("quantity")
    @classmethod
    def _known_quantity(cls, name: str | None) -> str | None:
        if name is not None and name not in QUANTITIES:
            raise ValueError(f"unknown quantity {name!r} (known: {', '.join(QUANTITIES)})")
        return name

    @field_validator("sparkplug_device")
    @classmethod
    def _sparkplug(cls, text: str | None) -> str | None:
        if text is not None and not 2 <= len(text.split("/")) <= 3:
            raise ValueError(
                f"{text!r} must be group/edge node or group/edge node/device, e.g. Campus/EN1/AM307"
            )
        return text

    def identities(self) -> list[tuple[str, str]]:
        """(identity field, value) pairs this device is found by."""
        return [(name, getattr(self, name)) for name in IDENTITY_FIELDS if getattr(self, name)]

    @property
    def key(self) -> str:
        """The device's name in CampusLab: its ``id``, else its first identity."""
        if self.id:
            return self.id
        name, value = self.identities()[0]
        return f"eui-{value.lower()}" if name == "dev_eui" else value

    @property
    def interval(self) -> timedelta | None:
        return parse_duration(self.reporting_interval) if self.reporting_interval else None
