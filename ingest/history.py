"""History import: readings exported from a building management system, with their timestamps.

``campuslab import readings FILE.csv|.parquet`` runs ``import_history``. The file
is read by DuckDB as text columns, streamed in chunks of about a million rows, and
each chunk is validated with numpy over whole columns, with the same rules, reasons
and sentences as MQTT ingest (``processor.py``): unknown building, space/meter or
quantity, a timestamp that is not one or is before 2000 or in the future, a value
that is not a number or not finite, a unit that cannot be converted, a value out of
the quantity's physical range.

Timestamps: RFC 3339 with an offset keeps its offset; a number is epoch seconds (or
milliseconds, above 1e11, as for MQTT); a local time without an offset is read in
the mapping's time zone (default: the site's). A local time that happens twice (the
clocks went back) or never (they went forward) is rejected as ``bad_timestamp``,
never shifted: only the exporter knows which instant it meant.

Every rejected row becomes a dead letter (topic ``import:<file name>:<line>``, the
row's fields as payload), written in the same transaction as the chunk's readings
(DuckDB). A letter's received time is the import's start plus the row number in
microseconds, fixed in the checkpoint, so a rerun writes the same letters and the
store keeps each once.

Resuming: after each chunk is durable, a checkpoint under
``<data-dir>/imports/`` records how many rows of the file (identified by its path,
size and modification time) and of which mapping are done. A rerun skips those rows;
a chunk half-done before a crash is written again and the store's idempotency turns
its rows into duplicates.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from campuslab.core.quantities import QUANTITIES, UnitError
from campuslab.core.readings import to_epoch_us
from campuslab.core.registry import Campus
from campuslab.ingest.decoders.timestamps import EARLIEST_US
from campuslab.ingest.history_mapping import ColumnMapping, ResolvedMapping, resolve
from campuslab.ingest.processor import DEAD_LETTER_PAYLOAD_BYTES, IngestLimits
from campuslab.ingest.reasons import Reason

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from campuslab.core.store.port import ArrowWriter

DEFAULT_CHUNK_ROWS = 250_000
READ_BATCH_ROWS = 131_072  # rows DuckDB hands over at a time; validation goes batch by batch
READER_MEMORY = "96MB"  # DuckDB's CSV reader: buffers of the file, well under the 500 MB budget
READER_THREADS = 2  # the second core parses while the first validates; 1 saves ~25 MB
CHECKPOINT_DIR = "imports"
_MILLISECONDS_FROM = 1e11  # as decoders/timestamps.py: epoch numbers above are ms
_MINUTE_US = 60_000_000
_HOUR_US = 60 * _MINUTE_US
_OFFSET_SUFFIX = r"\d[T ]?\d\d:\d\d(:\d\d(\.\d+)?)?\s*([Zz]|[+-]\d\d(:?\d\d)?)\s*$"
_QUANTITY_NAMES = list(QUANTITIES)

# Reason codes, in the order MQTT ingest checks them: the first that applies is kept.
_CHECKS = (
    Reason.UNKNOWN_BUILDING,
    Reason.UNKNOWN_SENSOR,
    Reason.UNKNOWN_QUANTITY,
    Reason.BAD_TIMESTAMP,
    Reason.UNPARSEABLE,
    Reason.FUTURE_TIMESTAMP,
    Reason.NOT_FINITE,
    Reason.BAD_UNIT,
    Reason.OUT_OF_RANGE,
)
_CODE = {reason: i + 1 for i, reason in enumerate(_CHECKS)}
_TEXT_CELLS = ("ts", "building", "sensor", "quantity", "value", "unit")  # a letter's payload


class HistoryFileError(ValueError):
    """A file that cannot be imported at all: missing, empty, not CSV or Parquet."""


# -- reading the file ----------------------------------------------------------------


@dataclass(frozen=True)
class HistoryFile:
    path: Path
    delimiter: str = ","  # CSV only; many European BMS exports use ";"

    @property
    def parquet(self) -> bool:
        return self.path.suffix.lower() in (".parquet", ".pq")

    def check(self) -> None:
        if not self.path.is_file():
            raise HistoryFileError(f"no file {self.path}")
        if self.path.stat().st_size == 0:
            raise HistoryFileError(f"{self.path} is empty")

    def header(self) -> list[str]:
        """The file's column names, read without reading the data."""
        self.check()
        if self.parquet:
            try:
                import pyarrow.parquet as pq

                return list(pq.read_schema(self.path).names)
            except (pa.ArrowInvalid, OSError) as exc:
                raise HistoryFileError(f"{self.path} is not a Parquet file: {exc}") from None
        with self.path.open("rb") as handle:
            first = handle.readline(64 * 1024)
        try:
            text = first.decode("utf-8-sig").rstrip("\r\n")
        except UnicodeDecodeError:
            raise HistoryFileError(
                f"{self.path} is not a CSV file (its first line is not UTF-8 text)"
            ) from None
        if "\x00" in text or not text.strip():
            raise HistoryFileError(f"{self.path} is not a CSV file (no header line)")
        import csv

        return [name.strip() for name in next(csv.reader([text], delimiter=self.delimiter))]

    def rows(self) -> int | None:
        """The number of data rows when known without reading them (Parquet)."""
        if self.parquet:
            import pyarrow.parquet as pq

            return pq.ParquetFile(self.path).metadata.num_rows
        return None

    def identity(self) -> dict[str, object]:
        stat = self.path.stat()
        return {
            "path": str(self.path.resolve()),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
        }

    def relation_sql(self, header: list[str]) -> str:
        quoted = str(self.path).replace("'", "''")
        if self.parquet:
            return f"read_parquet('{quoted}')"
        # The header's own names, all text, no sniffing: a bad field is a rejected row,
        # not a failed guess. Strict mode stops at a line with too many fields (DuckDB
        # names it) instead of dropping the extra fields unseen; short lines are padded.
        columns = ", ".join(f"{_literal(name)}: 'VARCHAR'" for name in header)
        return (
            f"read_csv('{quoted}', header=true, auto_detect=false, columns={{{columns}}}, "
            f"delim={_literal(self.delimiter)}, quote='\"', escape='\"', null_padding=true)"
        )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


TS_NUMBER, TS_WALL, TS_ZONED = "__ts_number", "__ts_wall_us", "__ts_zoned_us"  # plain names


def value_column_name(column: str) -> str:
    """The name of a value column's parsed (float) twin in a streamed batch."""
    return f"__value:{column}"


def stream_rows(
    source: HistoryFile, header: list[str], mapping: ResolvedMapping, batch_rows: int
) -> Iterator[tuple[int, pa.RecordBatch]]:
    """(first row number, batch) over the file, in the file's order.

    A batch holds the mapped columns as text, plus what DuckDB parses on its reader
    threads: the timestamp as an epoch number, as a wall time (offset dropped) and,
    when the text has a UTC offset, as an instant; each value column as a float.
    Parsing there runs in parallel with the reading and costs no Python per row.
    """
    con = duckdb.connect(
        config={
            "memory_limit": READER_MEMORY,
            "preserve_insertion_order": True,
            "threads": READER_THREADS,
        }
    )
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")  # the import has its own Rich bar
        ts = _ident(mapping.ts)
        values = [mapping.value] if mapping.value else list(mapping.columns)
        # The wall time is parsed once; a Z suffix (the usual export) makes it the instant
        # with no second parse; other offsets go through TIMESTAMPTZ; a text that is no
        # time at all is tried as an epoch number.
        parsed = [
            f"CASE WHEN {TS_WALL} IS NULL THEN TRY_CAST({ts} AS DOUBLE) END AS {TS_NUMBER}",
            TS_WALL,
            f"CASE WHEN {TS_WALL} IS NULL THEN NULL WHEN suffix({ts}, 'Z') THEN {TS_WALL} "
            f"WHEN regexp_matches({ts}, {_literal(_OFFSET_SUFFIX)}) "
            f"THEN epoch_us(TRY_CAST({ts} AS TIMESTAMPTZ)) END AS {TS_ZONED}",
            *(f"TRY_CAST({_ident(v)} AS DOUBLE) AS {_ident(value_column_name(v))}" for v in values),
        ]
        text = ", ".join(
            f"CAST({_ident(c)} AS VARCHAR) AS {_ident(c)}" for c in _wanted_columns(mapping)
        )
        sql = (
            f"SELECT {text}, {', '.join(parsed)} FROM (SELECT *, "
            f"epoch_us(TRY_CAST({ts} AS TIMESTAMP)) AS {TS_WALL} "
            f"FROM {source.relation_sql(header)})"
        )
        try:
            reader = con.sql(sql).to_arrow_reader(batch_rows)
        except duckdb.Error as exc:
            raise HistoryFileError(_duckdb_problem(source, exc)) from None
        first = 0
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except (duckdb.Error, pa.ArrowInvalid) as exc:
                raise HistoryFileError(_duckdb_problem(source, exc)) from None
            yield first, batch
            first += batch.num_rows
    finally:
        con.close()


def _duckdb_problem(source: HistoryFile, exc: Exception) -> str:
    kind = "Parquet" if source.parquet else "CSV"
    lines = [line for line in str(exc).splitlines() if line.strip()][:3]
    return f"{source.path} cannot be read as {kind}: " + " / ".join(lines)


# -- validating a chunk --------------------------------------------------------------


@dataclass
class ChunkResult:
    readings: pa.Table  # in the ``readings`` schema, valid rows only
    letters: pa.Table | None  # dead letters of the rejected rows (the dead_letters columns)
    rows: int  # file rows in the chunk
    rejected: Counter[str]
    empty_cells: int = 0  # wide layout: cells without a value (not readings)

    @staticmethod
    def combine(results: list[ChunkResult]) -> ChunkResult:
        letters = [r.letters for r in results if r.letters is not None]
        rejected: Counter[str] = Counter()
        for r in results:
            rejected.update(r.rejected)
        return ChunkResult(
            pa.concat_tables([r.readings for r in results]),
            pa.concat_tables(letters) if letters else None,
            sum(r.rows for r in results),
            rejected,
            sum(r.empty_cells for r in results),
        )


class ChunkValidator:
    """Turns a chunk of text columns into valid readings and dead letters, over whole columns."""

    def __init__(
        self,
        campus: Campus,
        mapping: ResolvedMapping,
        file_label: str,
        first_line: int,
        received_base_us: int,
        now_us: int,
        limits: IngestLimits | None = None,
    ) -> None:
        self.campus = campus
        self.mapping = mapping
        self.file_label = file_label
        self.first_line = first_line  # line of row 0 (2 after a CSV header, 1 for Parquet)
        self.received_base_us = received_base_us
        self.limits = limits or IngestLimits()
        self.latest_us = now_us + int(self.limits.max_future.total_seconds() * 1_000_000)
        self.now_us = now_us
        sensors: list[tuple[str, str, tuple[str, ...]]] = []
        for building, space in campus.spaces():
            sensors.append((space.id, building.id, campus.quantities_of(building.id, space.id)))
        for building, meter in campus.meters():
            sensors.append((meter.id, building.id, campus.quantities_of(building.id, meter.id)))
        station = campus.weather_station
        if station is not None:
            allowed = campus.quantities_of(station.building, station.id)
            sensors.append((station.id, station.building, allowed or ()))
        self.sensor_ids = pa.array([s[0] for s in sensors], pa.string())
        self.building_ids = [b.id for b in campus.buildings]
        self.building_array = pa.array(self.building_ids, pa.string())
        self.sensor_building = np.array(
            [self.building_ids.index(s[1]) for s in sensors], dtype=np.int32
        )
        self.allowed = np.zeros((len(sensors), len(_QUANTITY_NAMES)), dtype=bool)
        for i, (_, _, quantities) in enumerate(sensors):
            for q in quantities or ():
                self.allowed[i, _QUANTITY_NAMES.index(q)] = True
        self.quantity_array = pa.array(_QUANTITY_NAMES, pa.string())
        self.minimum = np.array([QUANTITIES[q].minimum for q in _QUANTITY_NAMES])
        self.maximum = np.array([QUANTITIES[q].maximum for q in _QUANTITY_NAMES])

    # The long layout is the validated one; a wide chunk is turned into it first.
    def validate(self, first_row: int, chunk: pa.RecordBatch) -> ChunkResult:
        rows = chunk.num_rows
        long, empty = self._long(chunk)
        row = long.pop("row")
        sensor = long["sensor"]
        quantity = long["quantity"]
        n = len(row)
        code = np.zeros(n, dtype=np.int8)

        def reject(reason: Reason, bad: np.ndarray) -> None:
            code[(code == 0) & bad] = _CODE[reason]

        sensor_idx = _index_in(sensor, self.sensor_ids)
        known_sensor = sensor_idx >= 0
        building_idx = np.where(known_sensor, self.sensor_building[np.maximum(sensor_idx, 0)], -1)
        if "building" in long:
            given = _index_in(long["building"], self.building_array)
            reject(Reason.UNKNOWN_BUILDING, given < 0)
            reject(Reason.UNKNOWN_SENSOR, given != building_idx)
        reject(Reason.UNKNOWN_SENSOR, ~known_sensor)
        quantity_idx = _index_in(quantity, self.quantity_array)
        allowed = self.allowed[np.maximum(sensor_idx, 0), np.maximum(quantity_idx, 0)]
        reject(Reason.UNKNOWN_QUANTITY, (quantity_idx < 0) | ~allowed)

        ts_us, ts_problem = self._timestamps(long["ts_number"], long["ts_wall"], long["ts_zoned"])
        reject(Reason.BAD_TIMESTAMP, ts_problem > 0)
        value_column = long["parsed_value"]
        is_number = np.asarray(pc.is_valid(value_column), dtype=bool)
        value = _floats(value_column)
        reject(Reason.UNPARSEABLE, ~is_number)
        reject(Reason.FUTURE_TIMESTAMP, ts_us > self.latest_us)
        reject(Reason.NOT_FINITE, ~np.isfinite(value))
        canonical, unit_ok, unit_key = self._convert(value, quantity_idx, long.get("unit"))
        reject(Reason.BAD_UNIT, ~unit_ok)
        q = np.maximum(quantity_idx, 0)
        reject(Reason.OUT_OF_RANGE, (canonical < self.minimum[q]) | (canonical > self.maximum[q]))

        good = code == 0
        readings = self._readings(good, ts_us, building_idx, sensor_idx, quantity_idx, canonical)
        bad = np.flatnonzero(~good)
        letters = self._letters(
            first_row,
            bad,
            code,
            long,
            row,
            ts_problem,
            ts_us,
            value,
            sensor_idx,
            quantity_idx,
            unit_key,
        )
        rejected = Counter({_CHECKS[c - 1].value: int(k) for c, k in _counts(code[bad]).items()})
        return ChunkResult(readings, letters, rows, rejected, empty)

    def _long(self, chunk: pa.RecordBatch) -> tuple[dict[str, object], int]:
        """The batch as long columns: ts, [building], sensor, quantity, value, [unit] as
        text; ts_number, ts_wall, ts_zoned, parsed_value as parsed by DuckDB; row."""
        m = self.mapping
        row = np.arange(chunk.num_rows, dtype=np.int64)
        base = {"ts": m.ts, "sensor": m.sensor}
        if m.building:
            base["building"] = m.building
        base.update(ts_number=TS_NUMBER, ts_wall=TS_WALL, ts_zoned=TS_ZONED)
        if not m.wide:
            long: dict[str, object] = {k: chunk.column(c) for k, c in base.items()}
            long["quantity"] = chunk.column(m.quantity)
            long["value"] = chunk.column(m.value)
            long["parsed_value"] = chunk.column(value_column_name(m.value))
            if m.unit:
                long["unit"] = chunk.column(m.unit)
            elif m.units:
                long["unit"] = _units_of(long["quantity"], m.units)
            long["row"] = row
            return long, 0
        parts: dict[str, list] = {
            k: [] for k in (*base, "quantity", "value", "parsed_value", "unit")
        }
        rows: list[np.ndarray] = []
        empty = 0
        for column, quantity in m.columns.items():
            values = chunk.column(column)
            length = pc.utf8_length(pc.utf8_trim_whitespace(values))
            present = pc.fill_null(pc.greater(length, 0), False)
            keep = np.asarray(present, dtype=bool)
            empty += int(keep.size - keep.sum())
            idx = pa.array(np.flatnonzero(keep))
            for k, c in base.items():
                parts[k].append(pc.take(chunk.column(c), idx))
            parts["value"].append(pc.take(values, idx))
            parts["parsed_value"].append(pc.take(chunk.column(value_column_name(column)), idx))
            parts["quantity"].append(pa.repeat(pa.scalar(quantity, pa.string()), len(idx)))
            unit = m.units.get(quantity)
            parts["unit"].append(pa.repeat(pa.scalar(unit, pa.string()), len(idx)))
            rows.append(row[keep])
        long = {k: pa.concat_arrays(v) for k, v in parts.items()}
        if not m.units:
            long.pop("unit")
        long["row"] = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
        return long, empty

    def _timestamps(
        self, number: pa.Array, wall: pa.Array, zoned: pa.Array
    ) -> tuple[np.ndarray, np.ndarray]:
        """UTC microseconds, and a problem code: 0 fine, 1 not a time, 2 before 2000,
        3 ambiguous local time, 4 nonexistent local time.

        An epoch number wins; then a text with a UTC offset (its instant); then a local
        wall time, placed in the mapping's time zone.
        """
        numbers = _floats(number)
        is_number = np.isfinite(numbers)
        scale = np.where(np.abs(numbers) >= _MILLISECONDS_FROM, 1_000.0, 1_000_000.0)
        ts_us = np.zeros(numbers.shape, dtype=np.int64)
        ts_us[is_number] = np.rint(numbers[is_number] * scale[is_number]).astype(np.int64)
        problem = np.where(is_number, 0, 1).astype(np.int8)
        has_zone = ~is_number & np.asarray(pc.is_valid(zoned), dtype=bool)
        ts_us[has_zone] = _ints(zoned)[has_zone]
        problem[has_zone] = 0
        local = ~is_number & ~has_zone & np.asarray(pc.is_valid(wall), dtype=bool)
        if local.any():
            utc, local_problem = local_to_utc(_ints(wall)[local], self.mapping.timezone)
            ts_us[local] = utc
            problem[local] = local_problem
        problem[(problem == 0) & (ts_us < EARLIEST_US)] = 2
        return ts_us, problem

    def _convert(
        self, value: np.ndarray, quantity_idx: np.ndarray, unit: pa.Array | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Values in their quantity's canonical unit; where the unit is known; a unit key.

        Each (quantity, unit) pair is converted with the quantity's own converter
        (``core/quantities.py``) applied to the pair's values as one array, and rounded
        to 15 significant digits as ``Quantity.to_canonical`` does. The key of a row's
        pair indexes ``self._unit_sentences`` (the UnitError text of a bad pair).
        """
        self._unit_sentences: dict[int, str] = {}
        if unit is None:
            return value, np.ones(value.shape, dtype=bool), None
        encoded = pc.dictionary_encode(pc.fill_null(unit, ""))
        names = encoded.dictionary.to_pylist()
        pair = np.maximum(quantity_idx, 0) * len(names) + np.asarray(encoded.indices, np.int64)
        converted = value.copy()
        ok = np.ones(value.shape, dtype=bool)
        for p in np.unique(pair).tolist():
            spec = QUANTITIES[_QUANTITY_NAMES[p // len(names)]]
            name = names[p % len(names)] or None
            if name is None or name == spec.unit:
                continue
            rows = pair == p
            convert = spec.conversions.get(name)
            if convert is None:
                ok[rows] = False
                try:
                    spec.to_canonical(0.0, name)
                except UnitError as exc:
                    self._unit_sentences[p] = str(exc)
                continue
            result = np.asarray(convert(value[rows]), dtype=np.float64)
            if not (convert(0.0) == 0.0 and convert(1.0) == 1.0):
                result = _significant(result, 15)
            converted[rows] = result
        return converted, ok, pair

    def _readings(
        self,
        good: np.ndarray,
        ts_us: np.ndarray,
        building_idx: np.ndarray,
        sensor_idx: np.ndarray,
        quantity_idx: np.ndarray,
        value: np.ndarray,
    ) -> pa.Table:
        def coded(indices: np.ndarray, dictionary: pa.Array) -> pa.DictionaryArray:
            return pa.DictionaryArray.from_arrays(
                pa.array(indices[good].astype(np.int32)), dictionary
            )

        return pa.table(
            {
                "ts": pa.array(ts_us[good], pa.int64()).cast(pa.timestamp("us")),
                "building": coded(building_idx, self.building_array),
                "sensor": coded(sensor_idx, self.sensor_ids),
                "quantity": coded(quantity_idx, self.quantity_array),
                "value": pa.array(value[good], pa.float64()),
            }
        )

    def _letters(
        self,
        first_row: int,
        bad: np.ndarray,
        code: np.ndarray,
        long: dict[str, object],
        row: np.ndarray,
        ts_problem: np.ndarray,
        ts_us: np.ndarray,
        value: np.ndarray,
        sensor_idx: np.ndarray,
        quantity_idx: np.ndarray,
        unit_key: np.ndarray | None,
    ) -> pa.Table | None:
        """The rejected rows as a dead-letter table, built a column at a time.

        A million bad rows must not become a million Python objects: every column,
        the sentences included, is made by Arrow string kernels, one reason at a time.
        """
        if not bad.size:
            return None
        tables = []
        for c in np.unique(code[bad]).tolist():
            rows = bad[code[bad] == c]
            take = pa.array(rows)
            cells = {k: pc.take(long[k], take) for k in _TEXT_CELLS if k in long}
            file_row = first_row + row[rows]
            detail = self._details(
                _CHECKS[c - 1],
                cells,
                ts_problem[rows],
                ts_us[rows],
                value[rows],
                sensor_idx[rows],
                quantity_idx[rows],
                None if unit_key is None else unit_key[rows],
            )
            tables.append(
                pa.table(
                    {
                        "received_at": pa.array(self.received_base_us + file_row, pa.int64()).cast(
                            pa.timestamp("us")
                        ),
                        "topic": _visible(
                            _join(
                                f"import:{self.file_label}:",
                                pa.array(self.first_line + file_row).cast(pa.string()),
                            )
                        ),
                        "payload": _visible(
                            pc.utf8_slice_codeunits(
                                self._payload(cells), 0, DEAD_LETTER_PAYLOAD_BYTES
                            )
                        ),
                        "reason": pa.repeat(pa.scalar(_CHECKS[c - 1].value), rows.size),
                        "detail": _visible(detail),
                    }
                )
            )
        return pa.concat_tables(tables)

    def _payload(self, cells: dict[str, pa.Array]) -> pa.Array:
        """The row as read: its fields joined by commas (wide: ``quantity=value`` for the cell)."""
        if self.mapping.wide:
            shown = [cells[k] for k in ("ts", "building", "sensor") if k in cells]
            shown.append(_join(cells["quantity"], "=", cells["value"]))
        else:
            shown = list(cells.values())
        return pc.binary_join_element_wise(
            *shown, ",", null_handling="replace", null_replacement=""
        )

    def _details(
        self,
        reason: Reason,
        cells: dict[str, pa.Array],
        problem: np.ndarray,
        ts_us: np.ndarray,
        value: np.ndarray,
        sensor_idx: np.ndarray,
        quantity_idx: np.ndarray,
        unit_key: np.ndarray | None,
    ) -> pa.Array:
        """The sentences MQTT ingest gives (processor.py), for rows rejected for ``reason``."""
        sensor = _cut(cells["sensor"], 60)
        name = pc.fill_null(cells["quantity"], "")
        n = len(sensor)
        if reason is Reason.UNKNOWN_BUILDING:
            return _join("no building '", _cut(cells["building"], 60), "' in the campus registry")
        if reason is Reason.UNKNOWN_SENSOR:
            if "building" not in cells:
                return _join("no space or meter '", sensor, "' in the campus registry")
            owner = self.sensor_building[np.maximum(sensor_idx, 0)]
            hint = pc.if_else(
                pa.array(sensor_idx >= 0),
                _join("; it belongs to building '", pc.take(self.building_array, owner), "'"),
                "",
            )
            building = _cut(cells["building"], 60)
            return _join("no space or meter '", sensor, "' in building '", building, "'", hint)
        if reason is Reason.UNKNOWN_QUANTITY:
            reports = pa.array(
                [
                    ", ".join(q for q, ok in zip(_QUANTITY_NAMES, a, strict=True) if ok)
                    for a in self.allowed
                ]
                + [""],
                pa.string(),
            )
            s_idx = np.where(sensor_idx >= 0, sensor_idx, len(self.allowed))
            not_reported = _join(
                cells["sensor"],
                " does not report ",
                name,
                " (it reports ",
                pc.take(reports, pa.array(s_idx)),
                ")",
            )
            unknown = _join(
                "unknown quantity '", _cut(name, 40), f"' (known: {', '.join(QUANTITIES)})"
            )
            return pc.if_else(pa.array(quantity_idx >= 0), not_reported, unknown)
        ts = _cut(cells["ts"], 40)
        if reason is Reason.BAD_TIMESTAMP:
            zone = self.mapping.timezone.key
            sentences = [
                _join(
                    "ts '",
                    ts,
                    "' is not RFC 3339 (e.g. 2026-11-26T10:00:00Z), a local time or epoch seconds",
                ),
                pa.repeat(pa.scalar("ts is before 2000; is the device clock set?"), n),
                _join(
                    "ts '",
                    ts,
                    f"' is ambiguous in {zone}: the clocks went back and that "
                    "local time happened twice; give it a UTC offset",
                ),
                _join(
                    "ts '",
                    ts,
                    f"' does not exist in {zone}: the clocks went forward over "
                    "it; give it a UTC offset",
                ),
            ]
            return _pick(sentences, np.clip(problem.astype(np.int64) - 1, 0, 3))
        if reason is Reason.UNPARSEABLE:
            text = pc.fill_null(cells["value"], "")
            missing = pc.equal(pc.utf8_trim_whitespace(text), "")
            return pc.if_else(
                missing,
                _join(name, ": no value"),
                _join(name, ": value '", _cut(text, 40), "' is not a number"),
            )
        if reason is Reason.FUTURE_TIMESTAMP:
            ahead = pa.array(np.rint((ts_us - self.now_us) / 1e6).astype(np.int64)).cast(
                pa.string()
            )
            limit = self.limits.max_future.total_seconds()
            return _join(
                name,
                ": timestamp is ",
                ahead,
                f" s ahead of the receive time (limit {limit:.0f} s)",
            )
        if reason is Reason.NOT_FINITE:
            shown = np.where(np.isnan(value), "nan", np.where(value > 0, "inf", "-inf"))
            return _join(name, ": value ", pa.array(shown.tolist(), pa.string()), " is not finite")
        if reason is Reason.BAD_UNIT:
            sentences = self._unit_sentences
            return pc.take(
                pa.array([sentences.get(k, "") for k in range(max(sentences, default=0) + 1)]),
                pa.array(unit_key),
            )
        spans = pa.array(
            [
                f" {QUANTITIES[q].unit} is outside the physical range "
                f"{QUANTITIES[q].minimum:g}..{QUANTITIES[q].maximum:g} {QUANTITIES[q].unit}"
                for q in _QUANTITY_NAMES
            ]
        )
        return _join(
            name, ": ", pa.array(value).cast(pa.string()), pc.take(spans, pa.array(quantity_idx))
        )


def _join(*parts: object) -> pa.Array:
    """Text and text columns side by side (a missing cell as empty text)."""
    return pc.binary_join_element_wise(*parts, "", null_handling="replace", null_replacement="")


def _cut(text: pa.Array, length: int) -> pa.Array:
    return pc.utf8_slice_codeunits(pc.fill_null(text, ""), 0, length)


def _visible(text: pa.Array) -> pa.Array:
    """As ``processor.visible_text``: line breaks and tabs as visible escapes."""
    for raw, shown in (("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        text = pc.replace_substring(text, raw, shown)
    return text


def _pick(choices: list[pa.Array], which: np.ndarray) -> pa.Array:
    """Element i of ``choices[which[i]]``."""
    stacked = pa.concat_arrays(
        [c if isinstance(c, pa.Array) else c.combine_chunks() for c in choices]
    )
    n = len(which)
    return pc.take(stacked, pa.array(which * n + np.arange(n)))


def _floats(column: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(column, np.nan), dtype=np.float64)


def _ints(column: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(column, 0), dtype=np.int64)


def _units_of(quantity: pa.Array, units: dict[str, str]) -> pa.Array:
    keys = pa.array(list(units), pa.string())
    idx = pc.index_in(quantity, value_set=keys)
    return pc.take(pa.array(list(units.values()), pa.string()), idx)


def _index_in(text: pa.Array, value_set: pa.Array) -> np.ndarray:
    idx = pc.index_in(text, value_set=value_set)
    return np.asarray(pc.fill_null(idx, -1), dtype=np.int64)


def local_to_utc(wall_us: np.ndarray, tz: ZoneInfo) -> tuple[np.ndarray, np.ndarray]:
    """Local wall times (microseconds, as if UTC) in ``tz`` to UTC, DST-correct.

    Returns (UTC microseconds, problem): 3 where the wall time is ambiguous (it happened
    twice), 4 where it does not exist (skipped by the clocks), 0 otherwise. The zone is
    asked once per distinct hour; an hour in which the offset changes, or that is
    ambiguous or skipped, is looked at minute by minute (offsets change on whole minutes).
    """
    if not wall_us.size:
        return wall_us.copy(), np.zeros(wall_us.shape, dtype=np.int8)
    hours, inverse = np.unique(wall_us // _HOUR_US, return_inverse=True)
    hour_offsets = np.zeros(hours.size, dtype=np.int64)
    uniform = np.ones(hours.size, dtype=bool)
    for i, hour in enumerate(hours.tolist()):
        first = _zone_minute(hour * 60, tz)
        last = _zone_minute(hour * 60 + 59, tz)
        hour_offsets[i] = first[0]
        uniform[i] = first == last and first[1] == 0
    offsets = hour_offsets[inverse]
    problem = np.zeros(wall_us.shape, dtype=np.int8)
    mixed = ~uniform[inverse]
    if mixed.any():
        minutes, where = np.unique(wall_us[mixed] // _MINUTE_US, return_inverse=True)
        looked_up = [_zone_minute(m, tz) for m in minutes.tolist()]
        offsets[mixed] = np.array([o for o, _ in looked_up], dtype=np.int64)[where]
        problem[mixed] = np.array([k for _, k in looked_up], dtype=np.int8)[where]
    return wall_us - offsets, problem


_EPOCH_NAIVE = datetime(1970, 1, 1)
_ZONE_SPAN = (datetime(1990, 1, 1) - _EPOCH_NAIVE, datetime(2300, 1, 1) - _EPOCH_NAIVE)


def _zone_minute(minute: int, tz: ZoneInfo) -> tuple[int, int]:
    """(UTC offset in microseconds, problem 0/3/4) of a local wall-clock minute in ``tz``."""
    since = timedelta(minutes=minute)
    if not _ZONE_SPAN[0] <= since <= _ZONE_SPAN[1]:
        return 0, 0  # rejected anyway (before 2000, or centuries ahead)
    wall = _EPOCH_NAIVE + since
    first = wall.replace(tzinfo=tz, fold=0)
    offset = first.utcoffset() or timedelta(0)
    kind = 0
    if offset != wall.replace(tzinfo=tz, fold=1).utcoffset():
        back = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
        kind = 4 if back != wall else 3
    return offset // timedelta(microseconds=1), kind


def _significant(values: np.ndarray, digits: int) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        magnitude = np.floor(np.log10(np.abs(values)))
        decimals = np.clip(digits - 1 - np.nan_to_num(magnitude, nan=0.0, neginf=0.0), -300, 300)
        factor = 10.0**decimals
        rounded = np.round(values * factor) / factor
    return np.where(np.isfinite(rounded) & (values != 0), rounded, values)


def _counts(codes: np.ndarray) -> dict[int, int]:
    found, counts = np.unique(codes, return_counts=True)
    return dict(zip(found.tolist(), counts.tolist(), strict=True))


# -- checkpoint ----------------------------------------------------------------------


@dataclass
class Checkpoint:
    """What of one file is durably in the store; kept as JSON under the data directory."""

    file: dict[str, object]
    mapping: str
    store: str
    started_us: int
    rows_done: int = 0
    finished: bool = False
    totals: dict[str, object] = field(default_factory=dict)

    @staticmethod
    def path_for(data_dir: Path, file: dict[str, object], store: str) -> Path:
        key = hashlib.sha256(f"{file['path']}\n{store}".encode()).hexdigest()[:24]
        return data_dir / CHECKPOINT_DIR / f"{key}.json"

    def same_work(self, other: Checkpoint) -> bool:
        return self.file == other.file and self.mapping == other.mapping

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(asdict(self), handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)

    @classmethod
    def load(cls, path: Path) -> Checkpoint | None:
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None


# -- the import ----------------------------------------------------------------------


@dataclass
class ImportReport:
    """What an import did, this run and earlier runs of the same file together."""

    file: str
    rows: int = 0  # file rows read (wide: each row may hold several readings)
    readings: int = 0  # valid readings handed to the store
    stored: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    empty_cells: int = 0
    seconds: float = 0.0  # this run
    rows_this_run: int = 0
    resumed_at_row: int = 0
    already_done: bool = False
    restarted_changed_file: bool = False

    @property
    def rows_per_second(self) -> float:
        return self.rows_this_run / self.seconds if self.seconds > 0 else 0.0

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def add(self, result: ChunkResult, stored: int, duplicates: int) -> None:
        self.rows += result.rows
        self.rows_this_run += result.rows
        self.readings += result.readings.num_rows
        self.stored += stored
        self.duplicates += duplicates
        self.rejected.update(result.rejected)
        self.empty_cells += result.empty_cells

    def totals(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "readings": self.readings,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "rejected": dict(self.rejected),
            "empty_cells": self.empty_cells,
        }

    def restore(self, totals: dict[str, object]) -> None:
        self.rows = int(totals.get("rows", 0))  # type: ignore[arg-type]
        self.readings = int(totals.get("readings", 0))  # type: ignore[arg-type]
        self.stored = int(totals.get("stored", 0))  # type: ignore[arg-type]
        self.duplicates = int(totals.get("duplicates", 0))  # type: ignore[arg-type]
        self.rejected = Counter(totals.get("rejected", {}))  # type: ignore[arg-type]
        self.empty_cells = int(totals.get("empty_cells", 0))  # type: ignore[arg-type]


Progress = Callable[[ImportReport, int | None], None]
"""Called after each chunk with the report so far and the expected rows (None: unknown)."""


def import_history(
    path: Path,
    campus: Campus,
    store: ArrowWriter,
    mapping: ColumnMapping,
    data_dir: Path,
    store_label: str,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    restart: bool = False,
    progress: Progress | None = None,
    delimiter: str = ",",
) -> ImportReport:
    """Import one history file into ``store``; resumable through a checkpoint in ``data_dir``.

    Raises HistoryFileError (the file) or MappingError (the columns) before anything is
    written.
    """
    source = HistoryFile(path, delimiter)
    header = source.header()
    resolved = resolve(mapping, header, campus.site.timezone)
    identity = source.identity()
    fresh = Checkpoint(
        file=identity,
        mapping=json.dumps(
            {**asdict(resolved), "timezone": resolved.timezone.key, "delimiter": delimiter},
            sort_keys=True,
        ),
        store=store_label,
        started_us=to_epoch_us(datetime.now(UTC)),
    )
    checkpoint_path = Checkpoint.path_for(data_dir, identity, store_label)
    previous = Checkpoint.load(checkpoint_path)
    if previous is not None and previous.same_work(fresh):
        # The same rows give the same dead letters (received time, topic), kept once.
        fresh.started_us = previous.started_us
    if restart:
        previous = None
    report = ImportReport(file=str(path))
    if previous is not None and previous.same_work(fresh):
        checkpoint = previous
        report.restore(previous.totals)
        report.resumed_at_row = previous.rows_done
        if previous.finished:
            report.already_done = True
            return report
    else:
        report.restarted_changed_file = previous is not None
        checkpoint = fresh
        checkpoint.save(checkpoint_path)
    expected = source.rows() or _estimate_rows(path)
    began = time.perf_counter()
    now_us = to_epoch_us(datetime.now(UTC))
    validator = ChunkValidator(
        campus,
        resolved,
        path.name,
        first_line=1 if source.parquet else 2,
        received_base_us=checkpoint.started_us,
        now_us=now_us,
    )
    pending: list[ChunkResult] = []
    pending_rows = 0
    # One write in flight on its own thread (DuckDB releases the GIL while it inserts)
    # while this thread reads and validates the next chunk; the checkpoint moves only
    # once a write has returned, i.e. is durable.
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="campuslab-import-writer")
    in_flight: Future[None] | None = None

    def write(group: ChunkResult, end_row: int) -> None:
        readings, repeated = distinct_readings(group.readings)
        written = store.write_arrow(readings, group.letters)
        report.add(group, written.stored, written.duplicates + repeated)
        checkpoint.rows_done = end_row
        checkpoint.totals = report.totals()
        checkpoint.save(checkpoint_path)
        report.seconds = time.perf_counter() - began
        if progress is not None:
            progress(report, expected)

    def hand_over(end_row: int) -> None:
        nonlocal pending, pending_rows, in_flight
        group = ChunkResult.combine(pending)
        pending, pending_rows = [], 0
        if in_flight is not None:
            in_flight.result()
        in_flight = writer.submit(write, group, end_row)

    end_row = checkpoint.rows_done
    try:
        for first_row, batch in stream_rows(
            source, header, resolved, min(chunk_rows, READ_BATCH_ROWS)
        ):
            end_row = first_row + batch.num_rows
            if end_row <= checkpoint.rows_done:
                continue
            if first_row < checkpoint.rows_done:
                batch = batch.slice(checkpoint.rows_done - first_row)
                first_row = checkpoint.rows_done
            pending.append(validator.validate(first_row, batch))
            pending_rows += batch.num_rows
            if pending_rows >= chunk_rows:
                hand_over(end_row)
        if pending:
            hand_over(end_row)
        if in_flight is not None:
            in_flight.result()
    finally:
        writer.shutdown(wait=True)
    checkpoint.finished = True
    checkpoint.save(checkpoint_path)
    report.seconds = time.perf_counter() - began
    return report


def distinct_readings(readings: pa.Table) -> tuple[pa.Table, int]:
    """``readings`` without repeats of a (sensor, quantity, ts), the first kept; and how
    many repeats were dropped. History files do repeat rows (overlapping exports)."""
    n = readings.num_rows
    if n < 2:
        return readings, 0
    ts = np.asarray(readings.column("ts").cast(pa.int64()).combine_chunks(), dtype=np.int64)
    sensor = _codes(readings.column("sensor"))
    quantity = _codes(readings.column("quantity"))
    span = int(ts.max() - ts.min()) + 1
    per_instant = (int(sensor.max()) + 1) * 8
    if span < (1 << 62) // per_instant:
        key = (ts - ts.min()) * per_instant + sensor * 8 + quantity
        if np.all(key[1:] > key[:-1]):  # sorted and distinct: the usual export
            return readings, 0
        _, first = np.unique(key, return_index=True)
    else:
        order = np.lexsort((quantity, sensor, ts))
        same = np.zeros(n, dtype=bool)
        same[1:] = (
            (ts[order][1:] == ts[order][:-1])
            & (sensor[order][1:] == sensor[order][:-1])
            & (quantity[order][1:] == quantity[order][:-1])
        )
        first = np.sort(order[~same])
    if first.size == n:
        return readings, 0
    return readings.take(pa.array(np.sort(first))), n - int(first.size)


def _codes(column: pa.ChunkedArray) -> np.ndarray:
    """Dictionary indices of a dictionary-encoded column (one shared dictionary)."""
    return np.concatenate(
        [np.asarray(chunk.indices, dtype=np.int64) for chunk in column.chunks]
        or [np.empty(0, dtype=np.int64)]
    )


def _wanted_columns(m: ResolvedMapping) -> list[str]:
    names = [m.ts, m.sensor, m.building, m.quantity, m.value, m.unit, *m.columns]
    return list(dict.fromkeys(n for n in names if n))


def _estimate_rows(path: Path) -> int | None:
    """Rows of a CSV from its size and the length of its first lines (for the progress bar)."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        sample = handle.read(256 * 1024)
    lines = sample.count(b"\n")
    if lines < 2:
        return None
    return max(1, int(size / (len(sample) / lines)) - 1)
