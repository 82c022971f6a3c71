"""The campus registry: site, buildings, meters and spaces, loaded from YAML.

The registry is versioned with the deployment. It is validated on load, and
every error names the path to the offending field and the reason, e.g.
``buildings[1].spaces[3].capacity: must be > 0``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, time
from enum import StrEnum
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
)

from campuslab.core.devices import (
    Device,
    DeviceProfile,
    NetworkConnection,
    ProfileError,
    load_profiles,
)
from campuslab.core.ids import ID_PATTERN, MAX_ID_LENGTH, case_twins, check_id
from campuslab.core.quantities import METER_QUANTITIES, PRESENCE, SPACE_QUANTITIES

# the campus's own codes (core/ids.py); the check's message names the id and the character
Identifier = Annotated[
    str,
    Field(json_schema_extra={"pattern": ID_PATTERN, "maxLength": MAX_ID_LENGTH}),
    AfterValidator(check_id),
]
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# What a site's outdoor weather station reports (°C and %RH, canonical units).
WEATHER_STATION_QUANTITIES = ("temperature", "humidity")


class SpaceType(StrEnum):
    LECTURE_HALL = "lecture_hall"
    SEMINAR_ROOM = "seminar_room"
    STUDY_SPACE = "study_space"
    OFFICE = "office"
    MEETING_ROOM = "meeting_room"
    LAB = "lab"
    OTHER = "other"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class Space(_Model):
    id: Identifier
    name: str = Field(min_length=1)
    floor: int = Field(ge=-10, le=200)
    type: SpaceType
    capacity: int = Field(gt=0, le=5000, description="seats")
    area_m2: float = Field(gt=0, le=100_000)


class Meter(_Model):
    id: Identifier
    quantity: Literal[METER_QUANTITIES]  # type: ignore[valid-type]


class Building(_Model):
    id: Identifier
    name: str = Field(min_length=1)
    heated_area_m2: float = Field(gt=0, le=10_000_000)
    meters: list[Meter] = Field(default_factory=list)
    spaces: list[Space] = Field(default_factory=list)


class CoreHours(_Model):
    """The hours a space is available for use (SMG 2006): default Mon–Fri 08:00–16:00."""

    days: list[Literal[_WEEKDAYS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"], min_length=1
    )
    start: time = time(8, 0)
    end: time = time(16, 0)

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, end: time, info: Any) -> time:
        start = info.data.get("start")
        if start is not None and end <= start:
            raise ValueError("must be after start")
        if end.minute or (start and start.minute):
            raise ValueError("core hours must start and end on the hour")
        return end

    @cached_property
    def weekday_numbers(self) -> frozenset[int]:
        """Python weekday numbers (Monday = 0) of the core days."""
        return frozenset(_WEEKDAYS.index(d) for d in self.days)


class SeasonDates(_Model):
    """A yearly range of local dates, both ends included, that may wrap the new year.

    Written ``MM-DD``; the default heating season for Norway is 1 October to 30 April
    (``first_day: "10-01"``, ``last_day: "04-30"``). The rest of the year is the
    cooling season (EN 16798-1 gives indoor-temperature criteria for each).
    """

    first_day: str = "10-01"
    last_day: str = "04-30"

    @field_validator("first_day", "last_day")
    @classmethod
    def _month_day(cls, text: str) -> str:
        match = re.fullmatch(r"(\d{2})-(\d{2})", text)
        try:
            if match is None:
                raise ValueError
            date(2000, int(match[1]), int(match[2]))  # 2000 is a leap year: 02-29 is allowed
        except ValueError:
            raise ValueError(f"{text!r} is not a month and day written MM-DD, e.g. 10-01") from None
        return text

    @property
    def first(self) -> tuple[int, int]:
        """(month, day) of the first day of the season."""
        return int(self.first_day[:2]), int(self.first_day[3:])

    @property
    def last(self) -> tuple[int, int]:
        """(month, day) of the last day of the season."""
        return int(self.last_day[:2]), int(self.last_day[3:])

    def contains(self, day: date) -> bool:
        """Whether a local date is in the season."""
        key, first, last = (day.month, day.day), self.first, self.last
        return first <= key <= last if first <= last else key >= first or key <= last


class ComfortSettings(_Model):
    """Inputs of the PMV/PPD model (ISO 7730) where nothing is measured; METRICS.md defaults."""

    met: float = Field(default=1.2, ge=0.8, le=4.0, description="metabolic rate, met")
    clo_heating: float = Field(default=1.0, ge=0.0, le=2.0, description="clothing, heating season")
    clo_cooling: float = Field(default=0.5, ge=0.0, le=2.0, description="clothing, cooling season")
    air_speed_m_s: float = Field(default=0.1, ge=0.0, le=1.0, description="measured air speed")
    dynamic_clothing: bool = Field(
        default=True, description="correct clo for activity and air speed (clo_dynamic_iso)"
    )


class EmissionSettings(_Model):
    """Emission factors: the packaged year-versioned table, a replacement file, or overrides.

    Electricity factors are g CO₂e per kWh, keyed by year. ``district_heating_g_per_kwh``
    is the plant-specific factor of the site's district-heating supplier; while it is
    unset, a placeholder is used and every emissions figure says so.
    """

    factors_file: str | None = Field(default=None, description="YAML replacing the packaged table")
    electricity_location_g_per_kwh: dict[int, float] = Field(default_factory=dict)
    electricity_market_g_per_kwh: dict[int, float] = Field(default_factory=dict)
    district_heating_g_per_kwh: float | None = Field(default=None, ge=0, le=2000)

    @field_validator("electricity_location_g_per_kwh", "electricity_market_g_per_kwh")
    @classmethod
    def _plausible_factors(cls, factors: dict[int, float]) -> dict[int, float]:
        for year, factor in factors.items():
            if not 1990 <= year <= 2100:
                raise ValueError(f"year {year} is not a year between 1990 and 2100")
            if not 0 <= factor <= 2000:
                raise ValueError(f"{year}: {factor} g CO2e/kWh is outside 0..2000")
        return factors


class HddNormal(_Model):
    """A normal year's heating degree days at the site, by calendar month (K·day).

    Degree-day normalisation (METRICS.md: E_norm = E_base + E_dep × HDD_normal /
    HDD_actual) needs the normal degree days of the very days it normalises; a
    month's normal is spread evenly over its days. ``base_c`` must equal
    ``analytics.degree_day_base_c`` (the measured degree days' base), and ``source``
    says where the figures come from (e.g. Enova's or MET Norway's degree-day
    normals for the municipality), so that every normalised figure can cite it.
    """

    base_c: float = Field(ge=0, le=30, description="base temperature of the normals, °C")
    source: str = Field(min_length=1, description="where the normals come from")
    monthly: dict[int, Annotated[float, Field(ge=0, le=1500)]] = Field(
        description="month (1 = January … 12) -> normal heating degree days, K·day"
    )

    @field_validator("monthly")
    @classmethod
    def _twelve_months(cls, monthly: dict[int, float]) -> dict[int, float]:
        unknown = sorted(m for m in monthly if not 1 <= m <= 12)
        if unknown:
            raise ValueError(f"months are 1 (January) to 12, got {unknown}")
        missing = [m for m in range(1, 13) if m not in monthly]
        if missing:
            listed = ", ".join(str(m) for m in missing)
            raise ValueError(f"give all 12 months (1 = January … 12); missing month(s) {listed}")
        return monthly

    @property
    def annual(self) -> float:
        """The normal year's heating degree days, K·day."""
        return float(sum(self.monthly.values()))

    def of_day(self, day: date) -> float:
        """The normal degree days of one local date: its month's normal / days in the month."""
        next_month = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        days_in_month = (next_month - date(day.year, day.month, 1)).days
        return self.monthly[day.month] / days_in_month


class AnalyticsSettings(_Model):
    """Per-site assumptions behind the metrics (METRICS.md), with documented defaults."""

    core_hours: CoreHours = Field(default_factory=CoreHours)
    in_use_threshold: float = Field(default=1.0, gt=0, description="people for an hour in use")
    hourly_observation: Literal["mean", "peak"] = "mean"
    presence_in_use_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="where a space has presence (PIR) readings and no head count: an hour is "
        "in use when presence was reported in at least this share of its presence readings",
    )
    outdoor_co2_ppm: float = Field(default=420.0, ge=250, le=1000)
    heating_season: SeasonDates = Field(default_factory=SeasonDates)
    comfort: ComfortSettings = Field(default_factory=ComfortSettings)
    degree_day_base_c: float = Field(default=17.0, ge=0, le=30, description="HDD base, °C")
    hdd_normal: HddNormal | None = Field(
        default=None,
        description="the site's normal-year heating degree days; with it energy is "
        "degree-day normalised by default",
    )
    emissions: EmissionSettings = Field(default_factory=EmissionSettings)


class WeatherStation(_Model):
    """The site's outdoor sensor: reports ``temperature`` (°C) and ``humidity`` (%RH).

    It publishes under a building's topic tree, ``campus/<building>/<id>/<quantity>``,
    and its readings are stored with that building tag and its id as the sensor.
    """

    id: Identifier
    building: Identifier


class Site(_Model):
    id: Identifier
    name: str = Field(min_length=1)
    timezone: str
    weather_station: WeatherStation | None = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{name!r} is not an IANA time zone (e.g. Europe/Oslo)") from None
        return name


class Campus(_Model):
    """A validated campus registry."""

    site: Site
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)
    buildings: list[Building] = Field(min_length=1)
    # Real networks on the broker and the devices on them (campuslab.core.devices).
    networks: list[NetworkConnection] = Field(default_factory=list)
    devices: list[Device] = Field(default_factory=list)
    device_profiles: str | None = Field(
        default=None,
        description="folder of the campus's own device profiles (YAML), "
        "relative to the registry file",
    )
    _profiles: dict[str, DeviceProfile] = PrivateAttr(default_factory=dict)

    @property
    def profiles(self) -> dict[str, DeviceProfile]:
        """Device profiles by model: the packaged ones and the campus's own."""
        return self._profiles

    @cached_property
    def _devices_by_identity(self) -> dict[tuple[str, str], Device]:
        return {ident: d for d in self.devices for ident in d.identities()}

    def device(self, identity: str, value: str) -> Device | None:
        """The device whose identity field ``identity`` (e.g. ``dev_eui``) is ``value``."""
        return self._devices_by_identity.get((identity, value))

    def device_location(self, device: Device) -> tuple[str, str]:
        """(building id, space or meter id) of a registered device."""
        sensor = device.space or device.meter or ""
        building = self.building_of(sensor)
        return (building.id if building else "", sensor)

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.site.timezone)

    @cached_property
    def _spaces(self) -> dict[str, tuple[Building, Space]]:
        return {s.id: (b, s) for b in self.buildings for s in b.spaces}

    @cached_property
    def _meters(self) -> dict[str, tuple[Building, Meter]]:
        return {m.id: (b, m) for b in self.buildings for m in b.meters}

    @cached_property
    def _buildings(self) -> dict[str, Building]:
        return {b.id: b for b in self.buildings}

    def building(self, building_id: str) -> Building | None:
        return self._buildings.get(building_id)

    def space(self, space_id: str) -> Space | None:
        found = self._spaces.get(space_id)
        return found[1] if found else None

    @property
    def weather_station(self) -> WeatherStation | None:
        """The site's outdoor weather station, if the registry has one."""
        return self.site.weather_station

    def building_of(self, sensor_id: str) -> Building | None:
        found = self._spaces.get(sensor_id) or self._meters.get(sensor_id)
        if found:
            return found[0]
        station = self.site.weather_station
        if station is not None and station.id == sensor_id:
            return self._buildings.get(station.building)
        return None

    def meter(self, meter_id: str) -> Meter | None:
        found = self._meters.get(meter_id)
        return found[1] if found else None

    def spaces(self) -> Iterator[tuple[Building, Space]]:
        for building in self.buildings:
            for space in building.spaces:
                yield building, space

    def meters(self) -> Iterator[tuple[Building, Meter]]:
        for building in self.buildings:
            for meter in building.meters:
                yield building, meter

    def quantities_of(self, building_id: str, sensor_id: str) -> tuple[str, ...] | None:
        """Quantities a sensor id may report under that building; None if unknown there."""
        found = self._spaces.get(sensor_id)
        if found and found[0].id == building_id:
            return (*SPACE_QUANTITIES, PRESENCE)
        meter = self._meters.get(sensor_id)
        if meter and meter[0].id == building_id:
            return (meter[1].quantity,)
        station = self.site.weather_station
        if station is not None and station.id == sensor_id and station.building == building_id:
            return WEATHER_STATION_QUANTITIES
        return None


class RegistryError(ValueError):
    """A registry file that cannot be used; ``problems`` lists ``path: reason`` lines."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        listing = "\n  ".join(problems)
        super().__init__(f"{source}: invalid campus registry\n  {listing}")


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _reason(error: dict[str, Any]) -> str:
    kind, ctx = error["type"], error.get("ctx", {})
    simple = {
        "missing": "is required",
        "extra_forbidden": "unknown field (check the spelling)",
        "greater_than": "must be > {gt}",
        "greater_than_equal": "must be >= {ge}",
        "less_than_equal": "must be <= {le}",
        "less_than": "must be < {lt}",
        "too_short": "must have at least {min_length} item(s)",
        "string_too_short": "must not be empty",
        "string_type": "must be text (quote a value YAML reads as a number, e.g. '101')",
        "enum": "must be one of {expected}",
        "literal_error": "must be one of {expected}",
        "int_parsing": "must be a whole number",
        "int_from_float": "must be a whole number",
        "float_parsing": "must be a number",
        "time_parsing": "must be a time such as 08:00",
    }
    if kind in simple:
        try:
            return simple[kind].format(**ctx)
        except (KeyError, IndexError):
            return simple[kind]
    message = error["msg"]
    return re.sub(r"^Value error, ", "", message)


def _weather_station(raw: dict[str, Any]) -> dict[str, Any] | None:
    site = raw.get("site")
    station = site.get("weather_station") if isinstance(site, dict) else None
    return station if isinstance(station, dict) else None


def _duplicate_ids(raw: dict[str, Any]) -> list[str]:
    seen: dict[str, str] = {}
    problems = []
    places: list[tuple[str, Any]] = []
    for bi, building in enumerate(raw.get("buildings") or []):
        if not isinstance(building, dict):
            continue
        places.append((f"buildings[{bi}].id", building.get("id")))
        for kind in ("meters", "spaces"):
            for i, item in enumerate(building.get(kind) or []):
                if isinstance(item, dict):
                    places.append((f"buildings[{bi}].{kind}[{i}].id", item.get("id")))
    station = _weather_station(raw)
    if station is not None:
        places.append(("site.weather_station.id", station.get("id")))
    named = [(where, ident) for where, ident in places if isinstance(ident, str)]
    for where, ident in named:
        if ident in seen:
            problems.append(
                f"{where}: id {ident!r} is already used at {seen[ident]}; "
                "ids must be unique campus-wide"
            )
        else:
            seen[ident] = where
    return problems + case_twins(named)


def _weather_station_problems(raw: dict[str, Any]) -> list[str]:
    station = _weather_station(raw)
    if station is None or not isinstance(station.get("building"), str):
        return []
    buildings = {b.get("id") for b in raw.get("buildings") or [] if isinstance(b, dict)}
    if station["building"] in buildings:
        return []
    return [
        f"site.weather_station.building: no building {station['building']!r} in the registry "
        "(the station publishes under one of the campus's buildings)"
    ]


def _hdd_normal_problems(raw: dict[str, Any]) -> list[str]:
    analytics = raw.get("analytics")
    normal = analytics.get("hdd_normal") if isinstance(analytics, dict) else None
    if not isinstance(normal, dict):
        return []
    normal_base = normal.get("base_c")
    base = analytics.get("degree_day_base_c", AnalyticsSettings().degree_day_base_c)
    numbers = (int, float)
    if not isinstance(normal_base, numbers) or not isinstance(base, numbers):
        return []
    if normal_base == base:
        return []
    return [
        f"analytics.hdd_normal.base_c: {normal_base:g} °C is not analytics.degree_day_base_c "
        f"({base:g} °C); normal and measured degree days must have the same base"
    ]


def parse_campus(text: str, source: str = "<registry>", base_dir: Path | None = None) -> Campus:
    """Parse and validate registry YAML; raise RegistryError listing every problem."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(unknown place)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise RegistryError(source, [f"{where}: not valid YAML: {problem}"]) from None
    if not isinstance(raw, dict):
        raise RegistryError(
            source, ["(top level): must be a mapping with 'site' and 'buildings' keys"]
        )
    problems: list[str] = []
    try:
        campus = Campus.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{_path(e['loc'])}: {_reason(e)}" for e in exc.errors()]
        campus = None
    problems += _duplicate_ids(raw)
    problems += _weather_station_problems(raw)
    problems += _hdd_normal_problems(raw)
    if campus is not None and not problems:
        problems += _device_problems(campus, base_dir)
    if problems or campus is None:
        raise RegistryError(source, problems)
    return campus


def _device_problems(campus: Campus, base_dir: Path | None) -> list[str]:
    """Devices must name a known profile (or a quantity), a known space or meter, an
    identity, and no identity twice; loads the profiles onto ``campus``."""
    extra = None
    if campus.device_profiles is not None:
        extra = Path(campus.device_profiles)
        if not extra.is_absolute() and base_dir is not None:
            extra = base_dir / extra
    try:
        profiles = load_profiles(extra)
    except ProfileError as exc:
        return [f"device_profiles: {exc}"]
    campus._profiles = profiles
    problems: list[str] = []
    seen: dict[tuple[str, str], str] = {}
    keys: dict[str, str] = {}
    for i, device in enumerate(campus.devices):
        where = f"devices[{i}]"
        identities = device.identities()
        if not identities:
            problems.append(
                f"{where}: give the device's identity: dev_eui, ttn_device_id, zigbee_name, "
                "ha_entity, tasmota_topic or sparkplug_device"
            )
            continue
        for ident in identities:
            if ident in seen:
                problems.append(
                    f"{where}.{ident[0]}: {ident[1]!r} is already the device at {seen[ident]}"
                )
            seen[ident] = where
        if device.key in keys:
            problems.append(
                f"{where}.id: {device.key!r} is already the device at {keys[device.key]}"
            )
        keys[device.key] = where
        if (device.space is None) == (device.meter is None):
            problems.append(f"{where}: give either space or meter (where the device measures)")
        elif device.space is not None and campus.space(device.space) is None:
            problems.append(f"{where}.space: no space {device.space!r} in the registry")
        elif device.meter is not None and campus.meter(device.meter) is None:
            problems.append(f"{where}.meter: no meter {device.meter!r} in the registry")
        if (device.model is None) == (device.quantity is None):
            problems.append(
                f"{where}: give either model (a device profile) or quantity (for a source "
                "of one value, such as a Home Assistant entity)"
            )
        elif device.model is not None and device.model not in profiles:
            problems.append(
                f"{where}.model: no device profile {device.model!r} (known: "
                f"{', '.join(sorted(profiles))}); add a YAML profile to device_profiles"
            )
    return problems


def load_campus(path: str | Path) -> Campus:
    """Load the registry file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RegistryError(str(path), ["file not found"]) from None
    except (UnicodeDecodeError, IsADirectoryError) as exc:
        raise RegistryError(str(path), [f"cannot read as UTF-8 text: {exc}"]) from None
    return parse_campus(text, str(path), base_dir=path.parent)


def sample_campus_path() -> Path:
    """The realistic sample campus shipped with CampusLab."""
    return Path(str(resources.files("campuslab.core") / "sample_campus.yaml"))
