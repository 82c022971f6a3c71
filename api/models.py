"""The API's contract: the models every answer is made of, documented in OpenAPI."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from campuslab.core.registry import Campus, SpaceType

Timestamp = str  # RFC 3339, UTC, with a Z: "2026-11-26T10:00:00Z"


class StoreHealth(BaseModel):
    backend: str = Field(description="store backend class", examples=["DuckDBStore"])
    readings: int = Field(description="readings stored", examples=[1_204_311])


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str = Field(description="CampusLab version", examples=["0.1.0"])
    store: StoreHealth
    ingest: dict[str, Any] | None = Field(
        description="state of the ingestor running in this process (connected, backlog, ...); "
        "null when the API runs without one",
        examples=[{"connected": True, "backlog": 0}],
    )


class SpaceSummary(BaseModel):
    id: str = Field(examples=["rfb-101"])
    name: str = Field(examples=["Auditorium R1"])
    building: str = Field(description="building id", examples=["rfb"])
    floor: int = Field(examples=[1])
    type: SpaceType
    capacity: int = Field(description="seats", examples=[280])
    area_m2: float = Field(description="net room area in m²", examples=[310.7])


class Readings(BaseModel):
    space_id: str = Field(examples=["rfb-101"])
    quantity: str = Field(examples=["co2"])
    unit: str = Field(description="canonical unit of the quantity", examples=["ppm"])
    start: Timestamp = Field(
        description="start of the range (inclusive), UTC", examples=["2026-11-25T10:00:00Z"]
    )
    end: Timestamp = Field(
        description="end of the range (exclusive), UTC", examples=["2026-11-26T10:00:00Z"]
    )
    every: str | None = Field(
        description="resampling interval, or null for raw readings", examples=["15m"]
    )
    agg: Literal["mean", "max", "min"] | None = Field(
        description="aggregate of each resampled bucket, or null for raw readings",
        examples=["mean"],
    )
    points: list[tuple[Timestamp, float | None]] = Field(
        description="[timestamp, value] pairs in time order. Raw timestamps are exactly those "
        "published; resampled ones are bucket starts, aligned to the Unix epoch "
        "(1 h buckets start on the UTC hour). Buckets without data are left out.",
        examples=[[["2026-11-26T10:00:00Z", 612.0], ["2026-11-26T10:01:00Z", 618.0]]],
    )


class CoreHoursDescription(BaseModel):
    days: list[str] = Field(examples=[["mon", "tue", "wed", "thu", "fri"]])
    start: str = Field(description="local time", examples=["08:00"])
    end: str = Field(description="local time", examples=["16:00"])
    timezone: str = Field(examples=["Europe/Oslo"])
    description: str = Field(examples=["Mon–Fri 08:00–16:00 (Europe/Oslo)"])


_DAY_NAMES = {
    "mon": "Mon",
    "tue": "Tue",
    "wed": "Wed",
    "thu": "Thu",
    "fri": "Fri",
    "sat": "Sat",
    "sun": "Sun",
}
_WEEK = list(_DAY_NAMES)


def core_hours_description(campus: Campus) -> CoreHoursDescription:
    core = campus.analytics.core_hours
    order = sorted(core.days, key=_WEEK.index)
    indices = [_WEEK.index(d) for d in order]
    if len(order) > 2 and indices == list(range(indices[0], indices[-1] + 1)):
        days = f"{_DAY_NAMES[order[0]]}–{_DAY_NAMES[order[-1]]}"
    else:
        days = ", ".join(_DAY_NAMES[d] for d in order)
    start, end = core.start.strftime("%H:%M"), core.end.strftime("%H:%M")
    return CoreHoursDescription(
        days=order,
        start=start,
        end=end,
        timezone=campus.site.timezone,
        description=f"{days} {start}–{end} ({campus.site.timezone})",
    )


Rate = float | None


class Utilisation(BaseModel):
    """Space use over the core hours of a period (UK SMG 2006; HESA EMR definitions).

    Rates are fractions (0.25 = 25 %); null where undefined (no available hours).
    """

    space_id: str = Field(examples=["rfb-101"])
    capacity: int = Field(description="seats", examples=[280])
    start: Timestamp = Field(
        description="start of the period asked for (inclusive), UTC",
        examples=["2026-11-25T23:00:00Z"],
    )
    end: Timestamp = Field(
        description="end of the period asked for (exclusive), UTC",
        examples=["2026-11-26T12:00:00Z"],
    )
    core_hours: CoreHoursDescription
    in_use_threshold: float = Field(
        description="people for an hour to count as in use", examples=[1.0]
    )
    hourly_observation: Literal["mean", "peak"] = Field(
        description="how an hour's count n_h is observed: the hour's mean or its peak"
    )
    frequency_rate: Rate = Field(
        description="F: share of available core hours in use", examples=[0.5]
    )
    occupancy_rate: Rate = Field(
        description="O: mean n_h / capacity over in-use hours", examples=[0.5]
    )
    utilisation: Rate = Field(
        description="U: used seat-hours / available seat-hours (= F × O when idle hours are empty)",
        examples=[0.25],
    )
    peak_occupancy: Rate = Field(description="max n_h / capacity", examples=[0.5])
    p95_occupancy: Rate = Field(description="95th percentile of n_h / capacity", examples=[0.5])
    used_seat_hours: float | None = Field(
        description="Σ n_h, person-hours; null when the figures come from presence (no count)",
        examples=[80.0],
    )
    available_seat_hours: float | None = Field(
        description="capacity × available hours; null when the figures come from presence",
        examples=[320.0],
    )
    available_hours: int = Field(
        description="H: core hours of the period with an occupancy observation, h. Core hours "
        "without any reading (hours_without_data) are not counted: they are neither idle nor "
        "in use. It is the denominator of F (in_use_hours / available_hours) and, times "
        "capacity, of U (available_seat_hours), so F and U describe the observed core hours "
        "only; read them with hours_without_data beside them",
        examples=[8],
    )
    in_use_hours: int = Field(
        description="core hours with n_h >= the in-use threshold", examples=[4]
    )
    hours_without_data: int = Field(
        description="core hours with no occupancy reading (sensor offline); not counted as "
        "available",
        examples=[0],
    )
    share_under_60: Rate = Field(description="share of available hours under 60 % of capacity")
    share_60_to_100: Rate = Field(description="share of available hours at 60–100 % of capacity")
    share_over_100: Rate = Field(description="share of available hours over capacity")
    points_excluded: int = Field(
        default=0,
        description="core hours whose readings data-quality checks flagged and left out",
    )


class DeadLetterItem(BaseModel):
    """A message ingest rejected, as the store keeps it (ARCHITECTURE.md, "Bad input")."""

    received_at: Timestamp = Field(
        description="when ingest received the message, UTC (microseconds)",
        examples=["2026-11-26T10:00:00.123456Z"],
    )
    topic: str = Field(
        description="the MQTT topic, as published (at most 300 characters are kept)",
        examples=["campus/rfb/rfb-101/co2"],
    )
    reason: str = Field(
        description="why it was rejected: the `reason` label of `campuslab_ingest_rejected_total`",
        examples=["unparseable"],
    )
    detail: str = Field(
        description="what exactly was wrong, in a sentence",
        examples=["JSON object has no 'value'"],
    )
    payload: str = Field(
        description="the payload's first 512 bytes as ingest stored them: decoded as UTF-8, "
        "with bytes that are not UTF-8 shown as U+FFFD (�), then '... (N bytes)' when the "
        "payload was longer. Ingest keeps this text, not the raw bytes, so a binary payload "
        "cannot be given back byte for byte.",
        examples=['{"val": 612}'],
    )


class DeviceItem(BaseModel):
    """A registry device, its health as ingest last saw it, and its status."""

    id: str = Field(
        description="the device's name in CampusLab: its registry `id`, else its identity "
        "(a DevEUI as eui-<16 hex digits>)",
        examples=["eui-24e124707c123456"],
    )
    model: str | None = Field(description="device profile", examples=["milesight-am307"])
    quantity: str | None = Field(
        description="the one quantity of a source without a profile", examples=[None]
    )
    building: str = Field(examples=["rfb"])
    space: str | None = Field(description="space it measures", examples=["rfb-104"])
    meter: str | None = Field(description="meter it reads", examples=[None])
    identities: dict[str, str] = Field(
        description="who it is on its network (dev_eui, ttn_device_id, zigbee_name, ...)",
        examples=[{"dev_eui": "24E124707C123456"}],
    )
    status: Literal["reporting", "late", "silent", "never_seen"] = Field(
        description="reporting: last seen within 2× its interval; late: within 3×; silent: "
        "longer, or the network says it is offline; never_seen: no message yet",
        examples=["reporting"],
    )
    last_seen: Timestamp | None = Field(
        description="when its newest message was received, UTC", examples=["2026-12-04T10:00:01Z"]
    )
    battery: float | None = Field(description="battery, %", examples=[92])
    rssi: float | None = Field(
        description="best gateway RSSI of its newest uplink, dBm", examples=[-80]
    )
    snr: float | None = Field(description="SNR of that uplink, dB", examples=[9.5])
    online: bool | None = Field(
        description="the network's own word, where it gives one (Sparkplug, Zigbee2MQTT)",
        examples=[None],
    )
    reporting_interval_s: float = Field(
        description="the interval its status is judged by, seconds", examples=[600]
    )
    interval_source: Literal["registry", "profile", "learned", "default"] = Field(
        description="where the interval came from: the device's registry entry, its profile, "
        "the median gap of its recent messages, or the default (10 minutes)",
        examples=["profile"],
    )
