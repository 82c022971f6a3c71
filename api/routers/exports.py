"""Researcher exports with dataset cards, and privacy for the readings route.

Routes (researcher role or higher; suppressed below facilities):

- ``GET /api/v1/export?quantity=&start=&end=[&building=&every=15m&agg=mean&format=csv]``:
  the data, streamed. CSV is a chunked response written window by window;
  Parquet is written by the store (DuckDB ``COPY``) to a temporary file that is
  streamed back and deleted. A ``Link: <...card>; rel="describedby"`` header
  points to the dataset card of the same request.
- ``GET /api/v1/export.zip?...same``: one download with the data file,
  ``card.json`` and ``card.md``.
- ``GET /api/v1/export/card?...same`` (JSON) and ``/api/v1/export/card.md``
  (Markdown): the dataset card alone.

How an export is built (``export_batches``), so that memory does not grow with
the range: the period is cut into time windows of about a week, aligned to
the interval; each window is read with ``store.read_resampled`` for every
space of the selected buildings at once, protected with
``campuslab.analytics.privacy`` (the whole building's cross-section is needed
for complementary suppression) and turned into one Arrow record batch.

Privacy for callers below facilities (METRICS.md, "Privacy"; the rules and
their reasons are in ``campuslab.analytics.privacy``):

- occupancy is read on 15-minute cells and suppressed there; a coarser
  ``every`` is derived from those cells; ``every`` must be a multiple of 15
  minutes. The period is widened to whole quarters and ends at the last
  complete quarter (an unfinished quarter would change between requests and
  could be differenced);
- spaces with fewer seats than k are withheld for occupancy and CO₂;
- exports of every quantity are at 15 minutes or coarser;
- the readings route (``ReadingsPrivacy``) serves occupancy from the same
  protected table, so a room cannot be read there while suppressed here, and
  every other quantity at 15 minutes or coarser, as exports do.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import numpy as np
import pyarrow as pa
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from starlette.background import BackgroundTask

from campuslab import __version__
from campuslab.analytics.privacy import (
    COUNT_QUANTITIES,
    DEFAULT_K,
    FINEST_PUBLISHED,
    RULES,
    CellStatus,
    ProtectedCounts,
    check_k,
    coarsen,
    presence_proxy,
    protect_counts,
    unprotected,
)
from campuslab.api.dependencies import (
    CampusDep,
    ClockDep,
    ReadLimits,
    ReadLimitsDep,
    SpaceInBuilding,
    StoreDep,
)
from campuslab.api.keys import Role
from campuslab.api.models import Readings
from campuslab.api.parameters import (
    MAX_PARAMETER_LENGTH,
    Period,
    check_span,
    parse_aggregate,
    parse_every,
    parse_instant,
    resolve_period,
)
from campuslab.api.problems import ApiProblem, invalid_parameter, problem_responses, shown
from campuslab.api.security import Principal, require_role
from campuslab.core.config import format_duration
from campuslab.core.quantities import QUANTITIES, READABLE_SPACE_QUANTITIES, Subject
from campuslab.core.readings import isoformat_utc
from campuslab.core.registry import Building, Campus, Space
from campuslab.core.store.port import Aggregate, ParquetExporter, ReadingStore

router = APIRouter(prefix="/api/v1", tags=["exports"])

FORMATS = ("csv", "parquet")
DEFAULT_LICENCE = "CC-BY-4.0"
LICENCE_URLS = {
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC-BY-SA-4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
    "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "ODC-BY-1.0": "https://opendatacommons.org/licenses/by/1-0/",
    "ODbL-1.0": "https://opendatacommons.org/licenses/odbl/1-0/",
    "NLOD-2.0": "https://data.norge.no/nlod/en/2.0",
}
WINDOW = timedelta(days=7)  # one read + one record batch per window ...
WINDOW_INTERVALS = 4096  # ... of at most this many intervals (a fine every: shorter windows)
FINEST_EXPORT = timedelta(minutes=1)  # finer than that is raw data: the readings route
MAX_EXPORT_ROWS = 20_000_000  # about 1.5 GB of CSV
_US = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

EXPORT_SCHEMA = pa.schema(
    [
        pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("building", pa.string(), nullable=False),
        pa.field("sensor", pa.string()),
        pa.field("level", pa.string(), nullable=False),
        pa.field("quantity", pa.string(), nullable=False),
        pa.field("value", pa.float64()),
        pa.field("suppressed", pa.bool_(), nullable=False),
    ]
)
COLUMNS = {
    "ts": "start of the interval, UTC (RFC 3339 in CSV); intervals are aligned to the Unix "
    "epoch, so 15-minute and hourly intervals start on the quarter and the UTC hour",
    "building": "building id (campus registry)",
    "sensor": "space id, or meter id for meter quantities; empty on building-total rows",
    "level": "space, meter, or building (the sum of the building's listed spaces that have "
    "data in the interval; occupancy only)",
    "quantity": "the quantity exported",
    "value": "the aggregate of the interval in the quantity's unit; empty when suppressed",
    "suppressed": "true when the value is withheld by the small-count rule (see suppression)",
}


# -- configuration -------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenDataSettings:
    """What exports publish under, and how they are protected.

    Attributes:
        k: counts 1 … k − 1 are suppressed for roles below facilities (METRICS.md: 5).
        complementary: ``total`` (default) or ``siblings``; see analytics/privacy.py.
        licence: SPDX-style licence id of the exported data (configurable; default
            CC-BY-4.0), from ``CAMPUSLAB_DATA_LICENCE``.
        licence_url: where the licence text is; known ids get theirs by default.
        max_span: longest period of one export.
        publisher: who publishes the data set (default: the site's name).
    """

    k: int = DEFAULT_K
    complementary: str = "total"
    licence: str = DEFAULT_LICENCE
    licence_url: str | None = None
    max_span: timedelta = timedelta(days=366)
    publisher: str | None = None

    def __post_init__(self) -> None:
        check_k(self.k)
        if self.complementary not in RULES:
            raise ValueError(f"complementary must be one of {', '.join(RULES)}")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> OpenDataSettings:
        """Settings from ``CAMPUSLAB_DATA_LICENCE``, ``CAMPUSLAB_DATA_LICENCE_URL``,
        ``CAMPUSLAB_DATA_PUBLISHER`` and ``CAMPUSLAB_SUPPRESSION_K``."""
        env = os.environ if environ is None else environ
        k_text = (env.get("CAMPUSLAB_SUPPRESSION_K") or "").strip()
        if k_text and not (k_text.isdigit() and int(k_text) >= 3):
            raise ValueError(f"CAMPUSLAB_SUPPRESSION_K must be a whole number >= 3, not {k_text!r}")
        return cls(
            k=int(k_text) if k_text else DEFAULT_K,
            licence=env.get("CAMPUSLAB_DATA_LICENCE") or DEFAULT_LICENCE,
            licence_url=env.get("CAMPUSLAB_DATA_LICENCE_URL") or None,
            publisher=env.get("CAMPUSLAB_DATA_PUBLISHER") or None,
        )

    @property
    def licence_link(self) -> str | None:
        return self.licence_url or LICENCE_URLS.get(self.licence)


def get_open_data_settings(request: Request) -> OpenDataSettings:
    """``app.state.open_data`` when the app has settings, else the environment's."""
    settings = getattr(request.app.state, "open_data", None)
    return settings if settings is not None else OpenDataSettings.from_env()


OpenDataDep = Annotated[OpenDataSettings, Depends(get_open_data_settings)]
ResearcherDep = Annotated[Principal, Depends(require_role(Role.RESEARCHER))]


# -- the export plan: checked parameters --------------------------------------------------


@dataclass(frozen=True)
class ExportPlan:
    """One export, checked: what to read, over which period, and how it is protected."""

    quantity: str
    start: datetime  # the period published (widened to whole quarters when protected)
    end: datetime
    requested_start: datetime
    requested_end: datetime
    every: timedelta
    aggregate: Aggregate
    buildings: tuple[Building, ...]
    spaces: tuple[tuple[Building, Space], ...]  # the listed spaces (space quantities)
    meters: tuple[tuple[Building, str], ...]  # (building, meter id) for meter quantities
    withheld: tuple[tuple[Building, Space], ...]  # spaces left out below facilities
    protected: bool  # small counts suppressed (caller below facilities)
    k: int
    complementary: str
    format: str = "csv"

    @property
    def counts_people(self) -> bool:
        return self.quantity in COUNT_QUANTITIES

    @property
    def suppressing(self) -> bool:
        return self.protected and self.counts_people

    @property
    def sensors(self) -> list[tuple[Building, str, float]]:
        """(building, sensor id, capacity) of every column, in output order."""
        if self.meters:
            return [(b, m, math.inf) for b, m in self.meters]
        return [(b, s.id, float(s.capacity)) for b, s in self.spaces]

    def query(self) -> dict[str, str]:
        """The request's parameters, to link the data, the card and the bundle together."""
        params = {
            "quantity": self.quantity,
            "start": isoformat_utc(self.requested_start),
            "end": isoformat_utc(self.requested_end),
            "every": format_duration(self.every),
            "agg": self.aggregate.value,
        }
        if len(self.buildings) == 1:
            params["building"] = self.buildings[0].id
        params["format"] = self.format
        return params

    @property
    def file_stem(self) -> str:
        where = self.buildings[0].id if len(self.buildings) == 1 else "campus"
        return (
            f"{where}-{self.quantity}-{format_duration(self.every)}-"
            f"{self.start:%Y%m%dT%H%M}Z-{self.end:%Y%m%dT%H%M}Z"
        )


def plan_export(
    campus: Campus,
    *,
    quantity: str,
    start: str,
    end: str,
    every: str | None = None,
    agg: str | None = None,
    building: str | None = None,
    fmt: str = "csv",
    protected: bool,
    settings: OpenDataSettings,
    now: datetime,
    limits: ReadLimits | None = None,
) -> ExportPlan:
    """Check an export's parameters; each failure is a 4xx problem naming the parameter."""
    limits = limits or ReadLimits()
    if quantity not in QUANTITIES:
        raise invalid_parameter(
            "quantity",
            f"quantity {shown(quantity)} is not known; use one of: {', '.join(QUANTITIES)}",
        )
    if fmt not in FORMATS:
        raise invalid_parameter(
            "format", f"format {shown(fmt)} is not one of: {', '.join(FORMATS)}"
        )
    buildings = _buildings(campus, building)
    requested = Period(
        parse_instant("start", start, campus.tz), parse_instant("end", end, campus.tz)
    )
    if requested.end <= requested.start:
        raise invalid_parameter(
            "end",
            f"end {isoformat_utc(requested.end)} must be after start "
            f"{isoformat_utc(requested.start)}; the range is start <= t < end",
        )
    check_span(
        requested,
        settings.max_span,
        what="exports",
        advice="split the period into several exports (e.g. one per semester)",
    )
    interval = parse_every(every or "15m", limits)
    aggregate = parse_aggregate(agg, resampling=True)
    if protected:
        _check_protected_every(interval, every or "15m")
    elif interval < FINEST_EXPORT:
        raise invalid_parameter(
            "every",
            f"every {shown(every)} is finer than 1 minute; exports are resampled (every=1m or "
            "coarser): raw readings come from GET /api/v1/spaces/{space_id}/readings",
        )
    period = requested
    if protected and quantity in COUNT_QUANTITIES:
        period = _published_quarters(requested, now)
    spaces, withheld, meters = _columns(buildings, quantity, protected, settings.k)
    rows = math.ceil(period.span / interval) * (len(spaces) + len(meters) + len(buildings))
    if rows > MAX_EXPORT_ROWS:
        raise ApiProblem(
            "too-many-points",
            f"this export could hold {rows} rows, more than {MAX_EXPORT_ROWS}; use a coarser "
            "every, one building, or a shorter period",
            parameter="every",
        )
    return ExportPlan(
        quantity=quantity,
        start=period.start,
        end=period.end,
        requested_start=requested.start,
        requested_end=requested.end,
        every=interval,
        aggregate=aggregate,
        buildings=buildings,
        spaces=spaces,
        meters=meters,
        withheld=withheld,
        protected=protected,
        k=settings.k,
        complementary=settings.complementary,
        format=fmt,
    )


def _buildings(campus: Campus, building: str | None) -> tuple[Building, ...]:
    if building is None:
        return tuple(campus.buildings)
    found = campus.building(building)
    if found is None:
        known = ", ".join(b.id for b in campus.buildings)
        raise invalid_parameter(
            "building",
            f"building {shown(building)} is not in the campus registry; use one of: {known}",
        )
    return (found,)


def _check_protected_every(interval: timedelta, text: str) -> None:
    if interval < FINEST_PUBLISHED or interval % FINEST_PUBLISHED:
        raise invalid_parameter(
            "every",
            f"every {shown(text)}: data for your role is published in 15-minute intervals "
            "or whole multiples of them (METRICS.md, Privacy); use e.g. every=15m, "
            "every=1h or every=1d",
        )


def _published_quarters(requested: Period, now: datetime) -> Period:
    """Whole quarters covering the request, up to the last complete quarter before now."""
    start = _floor(requested.start, FINEST_PUBLISHED)
    end = min(_ceil(requested.end, FINEST_PUBLISHED), _floor(now, FINEST_PUBLISHED))
    if end <= start:
        raise invalid_parameter(
            "end",
            f"no complete 15-minute interval between {isoformat_utc(start)} and "
            f"{isoformat_utc(end)} yet: occupancy is published per whole quarter hour "
            "once the quarter is over",
        )
    return Period(start, end)


def _columns(
    buildings: tuple[Building, ...], quantity: str, protected: bool, k: int
) -> tuple[tuple, tuple, tuple]:
    if QUANTITIES[quantity].subject is Subject.METER:
        meters = tuple((b, m.id) for b in buildings for m in b.meters if m.quantity == quantity)
        return (), (), meters
    listed, withheld = [], []
    for b in buildings:
        for s in b.spaces:
            small = protected and presence_proxy(quantity) and s.capacity < k
            (withheld if small else listed).append((b, s))
    return tuple(listed), tuple(withheld), ()


def _floor(moment: datetime, step: timedelta) -> datetime:
    return _EPOCH + ((moment - _EPOCH) // step) * step


def _ceil(moment: datetime, step: timedelta) -> datetime:
    floored = _floor(moment, step)
    return floored if floored == moment else floored + step


# -- reading, protecting and emitting rows -------------------------------------------------


@dataclass
class ExportTally:
    """What an export held, counted while its rows stream out: the card's numbers."""

    rows: int = 0
    cells: dict[str, dict[str, int]] = field(
        default_factory=lambda: {
            level: {"published": 0, "primary": 0, "complementary": 0}
            for level in ("space", "building")
        }
    )
    first: datetime | None = None
    last: datetime | None = None

    def add(self, table: ProtectedCounts, starts_us: np.ndarray, totals: bool) -> None:
        for level, status in (("space", table.space_status), ("building", table.total_status)):
            if level == "building" and not totals:
                continue
            counted = self.cells[level]
            counted["published"] += int(np.count_nonzero(status == CellStatus.PUBLISHED))
            counted["primary"] += int(np.count_nonzero(status == CellStatus.PRIMARY))
            counted["complementary"] += int(np.count_nonzero(status == CellStatus.COMPLEMENTARY))
        present = np.flatnonzero((table.space_status != CellStatus.MISSING).any(axis=1))
        if len(present):
            first = _EPOCH + int(starts_us[present[0]]) * _US
            last = _EPOCH + int(starts_us[present[-1]]) * _US
            self.first = first if self.first is None else min(self.first, first)
            self.last = last if self.last is None else max(self.last, last)

    def total(self, kind: str) -> int:
        return sum(level[kind] for level in self.cells.values())


def time_windows(start: datetime, end: datetime, every: timedelta) -> Iterator[Period]:
    """[start, end) cut at multiples of a window: a whole number of ``every``, about a week
    or ``WINDOW_INTERVALS`` intervals, whichever is shorter (but at least one interval)."""
    window = every * max(1, min(math.ceil(WINDOW / every), WINDOW_INTERVALS))
    edge = _floor(start, window)
    while edge < end:
        yield Period(max(edge, start), min(edge + window, end))
        edge += window


@dataclass(frozen=True)
class WindowTable:
    starts_us: np.ndarray  # (intervals,) interval starts, µs since the epoch
    table: ProtectedCounts


def protected_windows(store: ReadingStore, plan: ExportPlan) -> Iterator[WindowTable]:
    """The export's table window by window: read, then protected (or not) for the caller."""
    columns = plan.sensors
    ids = [sensor for _, sensor, _ in columns]
    index = {b.id: i for i, b in enumerate(plan.buildings)}
    building_of = np.array([index[b.id] for b, _, _ in columns], dtype=np.intp)
    capacities = np.array([cap for _, _, cap in columns], dtype=np.float64)
    step = FINEST_PUBLISHED if plan.suppressing else plan.every
    step_us = step // _US
    every_us = plan.every // _US
    for window in time_windows(plan.start, plan.end, plan.every):
        matrix, first_us = _read_matrix(store, plan, ids, window, step)
        starts_us = first_us + np.arange(matrix.shape[0], dtype=np.int64) * step_us
        if plan.suppressing:
            table = protect_counts(
                matrix,
                building_of,
                capacities,
                k=plan.k,
                buildings=len(plan.buildings),
                complementary=plan.complementary,
            )
            if every_us != step_us:
                bucket = starts_us // every_us
                table = coarsen(table, bucket, plan.aggregate.value)
                starts_us = np.unique(bucket) * every_us
        else:
            table = unprotected(matrix, building_of, buildings=len(plan.buildings))
        yield WindowTable(starts_us, table)


def _read_matrix(
    store: ReadingStore, plan: ExportPlan, ids: list[str], window: Period, step: timedelta
) -> tuple[np.ndarray, int]:
    step_us = step // _US
    first_us = (_floor(window.start, step) - _EPOCH) // _US
    rows = max(0, math.ceil(((window.end - _EPOCH) // _US - first_us) / step_us))
    matrix = np.full((rows, len(ids)), np.nan)
    if not ids or not rows:
        return matrix, first_us
    series = store.read_resampled(
        plan.quantity, window.start, window.end, step, plan.aggregate, sensors=ids
    )
    for column, sensor in enumerate(ids):
        found = series.get(sensor)
        if found is None or not len(found):
            continue
        row = (found.ts.astype("datetime64[us]").astype(np.int64) - first_us) // step_us
        inside = (row >= 0) & (row < rows)
        matrix[row[inside], column] = found.values[inside]
    return matrix, first_us


def export_batches(
    store: ReadingStore, plan: ExportPlan, tally: ExportTally | None = None
) -> Iterator[pa.RecordBatch]:
    """The export's rows, one record batch per time window, ordered by ts, building, level."""
    columns = plan.sensors
    building_ids = np.array([b.id for b in plan.buildings], dtype=object)
    sensor_ids = np.array([sensor for _, sensor, _ in columns], dtype=object)
    sensor_building = np.array(
        [i for b, _, _ in columns for i, x in enumerate(plan.buildings) if x.id == b.id],
        dtype=np.intp,
    )
    sensor_level = "meter" if plan.meters else "space"
    totals = plan.counts_people and not plan.meters
    for window in protected_windows(store, plan):
        if tally is not None:
            tally.add(window.table, window.starts_us, totals)
        batch = _rows(window, plan, building_ids, sensor_ids, sensor_building, sensor_level, totals)
        if tally is not None:
            tally.rows += batch.num_rows
        if batch.num_rows:
            yield batch


def _rows(
    window: WindowTable,
    plan: ExportPlan,
    building_ids: np.ndarray,
    sensor_ids: np.ndarray,
    sensor_building: np.ndarray,
    sensor_level: str,
    totals: bool,
) -> pa.RecordBatch:
    table = window.table
    row, col = np.nonzero(table.space_status != CellStatus.MISSING)
    keys_row, keys_building = [row], [sensor_building[col]]
    keys_level, keys_order = [np.zeros(len(row), np.int8)], [col]
    values, status = [table.space_values[row, col]], [table.space_status[row, col]]
    buildings_of_rows = [sensor_building[col]]
    sensors = [sensor_ids[col]]
    if totals:
        trow, tcol = np.nonzero(table.total_status != CellStatus.MISSING)
        keys_row.append(trow)
        keys_building.append(tcol)
        keys_level.append(np.ones(len(trow), np.int8))
        keys_order.append(np.zeros(len(trow), np.intp))
        values.append(table.total_values[trow, tcol])
        status.append(table.total_status[trow, tcol])
        buildings_of_rows.append(tcol)
        sensors.append(np.full(len(trow), None, dtype=object))
    r, b = np.concatenate(keys_row), np.concatenate(keys_building)
    level, order = np.concatenate(keys_level), np.concatenate(keys_order)
    sort = np.lexsort((order, level, b, r))
    value = np.concatenate(values)[sort]
    state = np.concatenate(status)[sort]
    n = len(sort)
    return pa.record_batch(
        [
            pa.array(window.starts_us[r[sort]], pa.int64()).cast(EXPORT_SCHEMA.field("ts").type),
            pa.array(building_ids[np.concatenate(buildings_of_rows)[sort]], pa.string()),
            pa.array(np.concatenate(sensors)[sort], pa.string()),
            pa.array(np.where(level[sort] == 1, "building", sensor_level), pa.string()),
            pa.array(np.full(n, plan.quantity, dtype=object), pa.string()),
            pa.array(value, pa.float64(), mask=np.isnan(value)),
            pa.array((state == CellStatus.PRIMARY) | (state == CellStatus.COMPLEMENTARY)),
        ],
        schema=EXPORT_SCHEMA,
    )


# -- file formats --------------------------------------------------------------------------


def csv_chunks(batches: Iterator[pa.RecordBatch]) -> Iterator[bytes]:
    """CSV (RFC 4180, UTF-8, header first): one chunk per record batch.

    Timestamps are RFC 3339 UTC with a Z, values the shortest exact decimal, and a
    suppressed or missing value is an empty field.
    """
    yield (",".join(EXPORT_SCHEMA.names) + "\r\n").encode()
    for batch in batches:
        ts = batch.column(0).cast(pa.int64()).to_numpy()
        stamps = np.datetime_as_string(ts.astype("datetime64[us]").astype("datetime64[s]"))
        columns = [
            (s + "Z" for s in stamps.tolist()),
            batch.column(1).to_pylist(),
            ("" if s is None else s for s in batch.column(2).to_pylist()),
            batch.column(3).to_pylist(),
            batch.column(4).to_pylist(),
            ("" if v is None else repr(v) for v in batch.column(5).to_pylist()),
            ("true" if x else "false" for x in batch.column(6).to_pylist()),
        ]
        lines = (",".join(fields) for fields in zip(*columns, strict=True))
        yield ("\r\n".join(lines) + "\r\n").encode()


def write_csv(batches: Iterator[pa.RecordBatch], path: Path) -> None:
    with path.open("wb") as out:
        for chunk in csv_chunks(batches):
            out.write(chunk)


def write_parquet(store: ReadingStore, batches: Iterator[pa.RecordBatch], path: Path) -> int:
    """Parquet through the store's own writer (DuckDB COPY), else pyarrow; both stream."""
    reader = pa.RecordBatchReader.from_batches(EXPORT_SCHEMA, batches)
    if isinstance(store, ParquetExporter):
        return store.write_parquet(reader, path)
    import pyarrow.parquet as pq

    written = 0
    with pq.ParquetWriter(path, EXPORT_SCHEMA, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(batch)
            written += batch.num_rows
    return written


def write_data_file(store: ReadingStore, plan: ExportPlan, path: Path, tally: ExportTally) -> None:
    batches = export_batches(store, plan, tally)
    if plan.format == "parquet":
        write_parquet(store, batches, path)
    else:
        write_csv(batches, path)


def write_bundle(
    store: ReadingStore, campus: Campus, plan: ExportPlan, folder: Path, card_context: CardContext
) -> tuple[Path, Path, Path, dict[str, Any]]:
    """The data file, card.json and card.md in ``folder``; returns their paths and the card."""
    data = folder / f"{plan.file_stem}.{plan.format}"
    tally = ExportTally()
    write_data_file(store, plan, data, tally)
    card = dataset_card(campus, plan, tally, card_context, data_file=data.name)
    card_json = folder / "card.json"
    card_json.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    card_md = folder / "card.md"
    card_md.write_text(card_markdown(card), encoding="utf-8")
    return data, card_json, card_md, card


# -- the dataset card ----------------------------------------------------------------------


@dataclass(frozen=True)
class CardContext:
    """Where and when the data set is retrieved, and under which terms."""

    settings: OpenDataSettings
    retrieved: datetime
    url: str | None = None  # the data's URL; None for a file written by the CLI
    card_url: str | None = None


def dataset_card(
    campus: Campus,
    plan: ExportPlan,
    tally: ExportTally,
    context: CardContext,
    data_file: str | None = None,
) -> dict[str, Any]:
    """The dataset card (JSON-ready): period, spaces, units, suppression, licence, citation."""
    quantity = QUANTITIES[plan.quantity]
    title = _title(campus, plan)
    publisher = context.settings.publisher or campus.site.name
    suppression = _suppression_section(plan, tally)
    retrieved = context.retrieved.astimezone(UTC)
    return {
        "title": title,
        "description": f"{quantity.description}. {plan.aggregate.value.capitalize()} of each "
        f"{format_duration(plan.every)} interval, per "
        f"{'meter' if plan.meters else 'space'}"
        + (", with building totals" if plan.counts_people and not plan.meters else "")
        + ".",
        "publisher": publisher,
        "site": {"id": campus.site.id, "name": campus.site.name, "timezone": campus.site.timezone},
        "period": {
            "start": isoformat_utc(plan.start),
            "end": isoformat_utc(plan.end),
            "requested_start": isoformat_utc(plan.requested_start),
            "requested_end": isoformat_utc(plan.requested_end),
            "first_interval": isoformat_utc(tally.first) if tally.first else None,
            "last_interval": isoformat_utc(tally.last) if tally.last else None,
            "note": "half-open, start <= ts < end, UTC",
        },
        "quantity": plan.quantity,
        "unit": quantity.unit,
        "every": format_duration(plan.every),
        "aggregate": plan.aggregate.value,
        "format": plan.format,
        "file": data_file,
        "rows": tally.rows,
        "columns": [
            {"name": f.name, "type": str(f.type), "description": COLUMNS[f.name]}
            for f in EXPORT_SCHEMA
        ],
        "units": {"value": quantity.unit, "ts": "UTC, start of the interval"},
        "buildings": [
            {"id": b.id, "name": b.name, "heated_area_m2": b.heated_area_m2} for b in plan.buildings
        ],
        "spaces": [
            {
                "id": s.id,
                "building": b.id,
                "floor": s.floor,
                "type": s.type.value,
                "capacity": s.capacity,
                "area_m2": s.area_m2,
            }
            for b, s in plan.spaces
        ],
        "meters": [{"id": m, "building": b.id} for b, m in plan.meters],
        "suppression": suppression,
        "licence": {"id": context.settings.licence, "url": context.settings.licence_link},
        "citation": _citation(publisher, title, plan, retrieved, context.url),
        "retrieved": isoformat_utc(retrieved),
        "url": context.url,
        "card_url": context.card_url,
        "generator": f"CampusLab {__version__}",
    }


def _title(campus: Campus, plan: ExportPlan) -> str:
    where = (
        plan.buildings[0].name
        if len(plan.buildings) == 1
        else f"all buildings of {campus.site.name}"
    )
    label = plan.quantity.replace("_", " ")
    return (
        f"{label.capitalize()} in {where}, {format_duration(plan.every)} {plan.aggregate.value}, "
        f"{plan.start:%Y-%m-%d} to {plan.end:%Y-%m-%d}"
    )


def _citation(
    publisher: str, title: str, plan: ExportPlan, retrieved: datetime, url: str | None
) -> str:
    period = f"{isoformat_utc(plan.start)}/{isoformat_utc(plan.end)}"
    where = (
        f" Retrieved {retrieved:%Y-%m-%d} from {url}" if url else f" Retrieved {retrieved:%Y-%m-%d}"
    )
    return f"{publisher} ({retrieved:%Y}). {title} [Data set], {period}. CampusLab.{where}."


def _suppression_section(plan: ExportPlan, tally: ExportTally) -> dict[str, Any]:
    withheld = [{"id": s.id, "building": b.id, "capacity": s.capacity} for b, s in plan.withheld]
    if not plan.protected:
        return {
            "applied": False,
            "rule": "none: exported for a role that sees unsuppressed counts (facilities)",
            "k": None,
            "resolution": format_duration(plan.every),
        }
    section: dict[str, Any] = {
        "applied": plan.suppressing,
        "k": plan.k,
        "method": plan.complementary if plan.suppressing else None,
        "rule": RULES[plan.complementary].format(k=plan.k)
        if plan.suppressing
        else f"{plan.quantity} is not a count of people: values are not suppressed",
        "resolution": format_duration(plan.every),
        "decided_at": format_duration(FINEST_PUBLISHED) if plan.suppressing else None,
        "withheld_spaces": withheld,
        "withheld_reason": (
            f"capacity below k = {plan.k}: any presence would be a small count, and "
            f"{plan.quantity} reveals presence in a small room"
        )
        if withheld
        else None,
        "reference": "METRICS.md (Privacy); Hundepool et al., Statistical Disclosure "
        "Control (2012), ch. 4-5",
    }
    if plan.suppressing:
        section |= {
            "cells": tally.total("published")
            + tally.total("primary")
            + tally.total("complementary"),
            "published_cells": tally.total("published"),
            "primary_cells": tally.total("primary"),
            "complementary_cells": tally.total("complementary"),
            "by_level": tally.cells,
        }
    else:
        section["note"] = (
            "presence, CO2, temperature and humidity are not counts of people; presence and "
            "CO2 of small spaces are withheld as presence signals"
            if plan.quantity in READABLE_SPACE_QUANTITIES
            else "building meters hold no information about people"
        )
    return section


def card_markdown(card: dict[str, Any]) -> str:
    """The card as Markdown, for people (card.json holds the same for programs)."""
    s = card["suppression"]
    lines = [
        f"# {card['title']}",
        "",
        card["description"],
        "",
        f"- **Publisher:** {card['publisher']}",
        f"- **Period:** {card['period']['start']} to {card['period']['end']} "
        f"({card['period']['note']})",
        f"- **Quantity:** {card['quantity']} in {card['unit']}, {card['aggregate']} per "
        f"{card['every']}",
        f"- **Format:** {card['format']}" + (f" (`{card['file']}`)" if card["file"] else ""),
        f"- **Rows:** {card['rows']}",
        f"- **Licence:** {card['licence']['id']}"
        + (f" ({card['licence']['url']})" if card["licence"]["url"] else ""),
        f"- **Retrieved:** {card['retrieved']}",
        "",
        "## Citation",
        "",
        card["citation"],
        "",
        "## Suppression",
        "",
        s["rule"],
        "",
    ]
    if s.get("primary_cells") is not None:
        lines += [
            "| cells | count |",
            "|---|---|",
            f"| published | {s['published_cells']} |",
            f"| suppressed, primary (1 to k-1) | {s['primary_cells']} |",
            f"| suppressed, complementary | {s['complementary_cells']} |",
            "",
            f"k = {s['k']}; decided on {s['decided_at']} cells; published every {s['resolution']}.",
            "",
        ]
    if s.get("withheld_spaces"):
        ids = ", ".join(w["id"] for w in s["withheld_spaces"])
        lines += [f"Withheld spaces ({s['withheld_reason']}): {ids}.", ""]
    lines += ["## Columns", "", "| column | type | meaning |", "|---|---|---|"]
    lines += [f"| `{c['name']}` | {c['type']} | {c['description']} |" for c in card["columns"]]
    if card["spaces"]:
        lines += [
            "",
            "## Spaces",
            "",
            "| id | building | floor | type | capacity (seats) | area (m²) |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {x['id']} | {x['building']} | {x['floor']} | {x['type']} | {x['capacity']} "
            f"| {x['area_m2']:g} |"
            for x in card["spaces"]
        ]
    if card["meters"]:
        lines += ["", "## Meters", "", "| id | building |", "|---|---|"]
        lines += [f"| {x['id']} | {x['building']} |" for x in card["meters"]]
    lines += ["", f"Generated by {card['generator']}.", ""]
    return "\n".join(lines)


# -- routes --------------------------------------------------------------------------------

QuantityParam = Annotated[
    str,
    Query(
        max_length=MAX_PARAMETER_LENGTH,
        description="what to export: "
        + ", ".join(f"`{q}` ({QUANTITIES[q].unit})" for q in QUANTITIES),
        json_schema_extra={"enum": list(QUANTITIES)},
        examples=["occupancy"],
    ),
]
StartParam = Annotated[
    str,
    Query(
        max_length=MAX_PARAMETER_LENGTH,
        description="start of the period, inclusive; RFC 3339, or a date: local midnight "
        "(site time zone); no offset means local time",
        json_schema_extra={"format": "date-time"},
        examples=["2026-01-05T00:00:00Z"],
    ),
]
EndParam = Annotated[
    str,
    Query(
        max_length=MAX_PARAMETER_LENGTH,
        description="end of the period, exclusive; at most 366 days after start",
        json_schema_extra={"format": "date-time"},
        examples=["2026-05-05T00:00:00Z"],
    ),
]
BuildingParam = Annotated[
    str | None,
    Query(max_length=MAX_PARAMETER_LENGTH, description="one building id; default: all"),
]
EveryParam = Annotated[
    str | None,
    Query(
        max_length=MAX_PARAMETER_LENGTH,
        description="interval (default 15m). Below facilities: 15m or a multiple of it.",
        examples=["15m"],
    ),
]
AggParam = Annotated[
    str | None,
    Query(
        max_length=MAX_PARAMETER_LENGTH,
        description="aggregate of each interval (default mean)",
        json_schema_extra={"enum": ["mean", "max", "min"]},
    ),
]
FormatParam = Annotated[
    str,
    Query(
        max_length=MAX_PARAMETER_LENGTH,
        description="data file format",
        json_schema_extra={"enum": list(FORMATS)},
    ),
]


def get_export_plan(
    campus: CampusDep,
    clock: ClockDep,
    limits: ReadLimitsDep,
    settings: OpenDataDep,
    principal: ResearcherDep,
    quantity: QuantityParam,
    start: StartParam,
    end: EndParam,
    building: BuildingParam = None,
    every: EveryParam = None,
    agg: AggParam = None,
    format: FormatParam = "csv",
) -> ExportPlan:
    return plan_export(
        campus,
        quantity=quantity,
        start=start,
        end=end,
        every=every,
        agg=agg,
        building=building,
        fmt=format,
        protected=not principal.sees_unsuppressed,
        settings=settings,
        now=clock(),
        limits=limits,
    )


ExportPlanDep = Annotated[ExportPlan, Depends(get_export_plan)]
_EXPORT_DOC = (
    " Parameters: `quantity`, `start`, `end` (at most 366 days), optional `building`, "
    "`every` (default 15m), `agg` (mean, max, min) and `format` (csv, parquet). Below "
    "facilities, occupancy counts 1 to k-1 are suppressed (empty value, `suppressed` true) "
    "with complementary suppression of building totals, spaces with fewer than k seats are "
    "withheld for occupancy and CO2, and intervals are 15 minutes or coarser; the dataset "
    "card says exactly what was done."
)
_RESPONSES = problem_responses(401, 403, 422, 500)


def _card_context(request: Request, plan: ExportPlan, settings: OpenDataSettings, now: datetime):
    query = urlencode(plan.query())
    base = str(request.base_url).rstrip("/")
    return CardContext(
        settings=settings,
        retrieved=now,
        url=f"{base}/api/v1/export?{query}",
        card_url=f"{base}/api/v1/export/card?{query}",
    )


def _attachment(name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return f'attachment; filename="{safe}"'


def _remove(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


@router.get(
    "/export",
    summary="Export a data set (CSV or Parquet), streamed",
    description="The data of one quantity over a period, as CSV (streamed in chunks) or "
    "Parquet. The `Link` header (rel=describedby) points to its dataset card." + _EXPORT_DOC,
    responses={
        200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}}},
        **_RESPONSES,
    },
    response_class=StreamingResponse,
)
def export_data(
    request: Request, plan: ExportPlanDep, store: StoreDep, settings: OpenDataDep, clock: ClockDep
):
    context = _card_context(request, plan, settings, clock())
    headers = {
        "Content-Disposition": _attachment(f"{plan.file_stem}.{plan.format}"),
        "Link": f'<{context.card_url}>; rel="describedby"; type="application/json"',
    }
    if plan.format == "csv":
        return StreamingResponse(
            csv_chunks(export_batches(store, plan)),
            media_type="text/csv; charset=utf-8",
            headers=headers,
        )
    folder = tempfile.mkdtemp(prefix="campuslab-export-")
    try:
        path = Path(folder) / f"{plan.file_stem}.parquet"
        write_parquet(store, export_batches(store, plan), path)
    except BaseException:
        _remove(folder)
        raise
    return FileResponse(
        path,
        media_type="application/vnd.apache.parquet",
        headers=headers,
        background=BackgroundTask(_remove, folder),
    )


@router.get(
    "/export.zip",
    summary="Export a data set with its dataset card, as one zip",
    description="A zip holding the data file (CSV or Parquet), `card.json` and `card.md`."
    + _EXPORT_DOC,
    responses={200: {"content": {"application/zip": {}}}, **_RESPONSES},
    response_class=FileResponse,
)
def export_bundle(
    request: Request,
    plan: ExportPlanDep,
    store: StoreDep,
    campus: CampusDep,
    settings: OpenDataDep,
    clock: ClockDep,
):
    context = _card_context(request, plan, settings, clock())
    folder = tempfile.mkdtemp(prefix="campuslab-export-")
    try:
        files = write_bundle(store, campus, plan, Path(folder), context)[:3]
        archive = Path(folder) / f"{plan.file_stem}.zip"
        with zipfile.ZipFile(archive, "w") as bundle:
            for path in files:
                packed = zipfile.ZIP_STORED if path.suffix == ".parquet" else zipfile.ZIP_DEFLATED
                bundle.write(path, path.name, compress_type=packed)
                path.unlink()
    except BaseException:
        _remove(folder)
        raise
    return FileResponse(
        archive,
        media_type="application/zip",
        headers={"Content-Disposition": _attachment(archive.name)},
        background=BackgroundTask(_remove, folder),
    )


def _card(request, plan, store, campus, settings, clock) -> dict[str, Any]:
    tally = ExportTally()
    for _ in export_batches(store, plan, tally):
        pass
    context = _card_context(request, plan, settings, clock())
    return dataset_card(campus, plan, tally, context, data_file=f"{plan.file_stem}.{plan.format}")


@router.get(
    "/export/card",
    summary="The dataset card of an export (JSON)",
    description="Period, spaces and their metadata, units, the suppression applied with its "
    "cell counts, licence and a citation line, for the export with the same parameters "
    "(it reads the same data, so the counts match the file)." + _EXPORT_DOC,
    responses=_RESPONSES,
)
def export_card(
    request: Request,
    plan: ExportPlanDep,
    store: StoreDep,
    campus: CampusDep,
    settings: OpenDataDep,
    clock: ClockDep,
) -> JSONResponse:
    return JSONResponse(_card(request, plan, store, campus, settings, clock))


@router.get(
    "/export/card.md",
    summary="The dataset card of an export (Markdown)",
    description="The same card as /api/v1/export/card, as Markdown." + _EXPORT_DOC,
    responses={200: {"content": {"text/markdown": {}}}, **_RESPONSES},
    response_class=PlainTextResponse,
)
def export_card_markdown(
    request: Request,
    plan: ExportPlanDep,
    store: StoreDep,
    campus: CampusDep,
    settings: OpenDataDep,
    clock: ClockDep,
) -> PlainTextResponse:
    card = _card(request, plan, store, campus, settings, clock)
    return PlainTextResponse(card_markdown(card), media_type="text/markdown; charset=utf-8")


# -- the readings route, for callers below facilities --------------------------------------


@dataclass(frozen=True)
class ReadingsPrivacy:
    """What ``GET /spaces/{id}/readings`` answers a caller below facilities.

    ``readings`` returns the protected answer, or None when the ordinary answer may be
    given (facilities and admin, or a quantity with no privacy rule for this space).
    """

    principal: Principal
    store: ReadingStore
    campus: Campus
    settings: OpenDataSettings
    now: datetime
    limits: ReadLimits

    def readings(
        self,
        space: SpaceInBuilding,
        quantity: str,
        *,
        start: str | None,
        end: str | None,
        every: str | None,
        agg: str | None,
    ) -> JSONResponse | None:
        if self.principal.sees_unsuppressed:
            return None
        k = self.settings.k
        if presence_proxy(quantity) and space.space.capacity < k:
            raise ApiProblem(
                "forbidden",
                f"{quantity} of {space.space.id} ({space.space.capacity} seats, fewer than "
                f"k = {k}) is withheld from roles below facilities: in so small a space it "
                "tells when its occupant is in (METRICS.md, Privacy)",
                parameter="quantity",
                required_role=Role.FACILITIES.value,
            )
        if quantity not in COUNT_QUANTITIES:
            # not counts, so nothing to suppress; but no finer than exports publish them
            if every is None:
                raise invalid_parameter(
                    "every",
                    f"raw {quantity} readings are not published to your role: every quantity "
                    "is published in 15-minute intervals or coarser (METRICS.md, Privacy); "
                    "add every=15m",
                )
            _check_protected_every(parse_every(every, self.limits), every)
            return None
        return self._protected(space, quantity, start, end, every, agg)

    def _protected(self, space, quantity, start, end, every, agg) -> JSONResponse:
        if every is None:
            raise invalid_parameter(
                "every",
                "raw occupancy readings are not published to your role: counts are published "
                "in 15-minute intervals or multiples of them, with counts 1 to "
                f"{self.settings.k - 1} suppressed (METRICS.md, Privacy); add every=15m",
            )
        interval = parse_every(every, self.limits)
        aggregate = parse_aggregate(agg, resampling=True)
        _check_protected_every(interval, every)
        requested = resolve_period(
            start, end, now=self.now, tz=self.campus.tz, default_span=timedelta(hours=24)
        )
        check_span(
            requested,
            self.limits.max_resampled_span,
            what="resampled series",
            advice="use a shorter range and split longer periods into several requests",
        )
        period = _published_quarters(requested, self.now)
        building = space.building
        plan = ExportPlan(
            quantity=quantity,
            start=period.start,
            end=period.end,
            requested_start=requested.start,
            requested_end=requested.end,
            every=interval,
            aggregate=aggregate,
            buildings=(building,),
            spaces=tuple((building, s) for s in building.spaces if s.capacity >= self.settings.k),
            meters=(),
            withheld=(),
            protected=True,
            k=self.settings.k,
            complementary=self.settings.complementary,
        )
        column = [s.id for _, s in plan.spaces].index(space.space.id)
        points: list[tuple[str, float | None]] = []
        suppressed = 0
        for window in protected_windows(self.store, plan):
            status = window.table.space_status[:, column]
            rows = np.flatnonzero(status != CellStatus.MISSING)
            values = window.table.space_values[rows, column]
            stamps = np.datetime_as_string(
                window.starts_us[rows].astype("datetime64[us]").astype("datetime64[s]")
            )
            suppressed += int(np.count_nonzero(np.isnan(values)))
            points += [
                (f"{stamp}Z", None if math.isnan(v) else v)
                for stamp, v in zip(stamps.tolist(), values.tolist(), strict=True)
            ]
        body = Readings(
            space_id=space.space.id,
            quantity=quantity,
            unit=QUANTITIES[quantity].unit,
            start=isoformat_utc(period.start),
            end=isoformat_utc(period.end),
            every=format_duration(interval),
            agg=aggregate.value,
            points=points,
        )
        return JSONResponse(
            body.model_dump(mode="json"),
            headers={
                "CampusLab-Suppression": f"k={plan.k}; method={plan.complementary}; "
                f"decided-at=15m; suppressed-points={suppressed}",
            },
        )


def get_readings_privacy(
    principal: ResearcherDep,
    store: StoreDep,
    campus: CampusDep,
    settings: OpenDataDep,
    clock: ClockDep,
    limits: ReadLimitsDep,
) -> ReadingsPrivacy:
    return ReadingsPrivacy(principal, store, campus, settings, clock(), limits)


ReadingsPrivacyDep = Annotated[ReadingsPrivacy, Depends(get_readings_privacy)]
