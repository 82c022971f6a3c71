"""Direct backfill: simulated history written straight into a store, no MQTT in between.

``campuslab simulate --backfill 120d --direct`` uses this to load a semester in
minutes. The simulation is the same as over MQTT (``CampusSimulator``, same seed,
same values); only the transport differs:

- each simulated step's values stay a numpy array, and the strings of a reading
  (building, sensor, quantity) stay integer codes into the layout's reading
  columns, instead of becoming Python lists as in ``CampusSimulator.batches``;
- a chunk of simulated time (one UTC day by default) becomes one Arrow table with
  dictionary-encoded strings, handed to the store in one call, so memory stays
  bounded by the chunk and not by the span;
- a store with ``bulk_load`` (DuckDB) takes the table as it is, and skips the
  dedupe anti-join for a window that holds nothing yet; any other ``ReadingStore``
  (InfluxDB) gets an ordinary ``ReadingBatch`` through ``write``. Both are
  idempotent, so a re-run over the same span stores nothing twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa

from campuslab.core.readings import US_PER_S, ReadingBatch
from campuslab.core.store.port import ReadingStore, WriteResult
from campuslab.simulators.campus import CampusSimulator

DEFAULT_CHUNK = timedelta(days=1)
Progress = Callable[[int, int], None]
"""Called after each chunk with (readings written so far, readings expected in all)."""


@dataclass(frozen=True)
class ReadingColumns:
    """One chunk of simulated readings, columnar; strings as codes (see ``ReadingCodes``).

    Attributes:
        ts_us: UTC timestamps, microseconds since the epoch (int64).
        reading: index of each reading in a step's reading columns (layout order).
        value: values in the canonical unit (float64).
    """

    ts_us: np.ndarray
    reading: np.ndarray
    value: np.ndarray

    def __len__(self) -> int:
        return int(self.value.shape[0])


class ReadingCodes:
    """The (building, sensor, quantity) of each reading of a step, as dictionary codes."""

    def __init__(self, sim: CampusSimulator) -> None:
        columns = sim.layout.reading_columns()
        self.dictionaries: list[pa.Array] = []
        self.codes: list[np.ndarray] = []
        for column in columns:
            names, codes = np.unique(np.array(column, dtype=object), return_inverse=True)
            self.dictionaries.append(pa.array(names.tolist(), pa.string()))
            self.codes.append(codes.astype(np.int32))
        self._objects = [np.array(column, dtype=object) for column in columns]

    def arrow(self, chunk: ReadingColumns) -> pa.Table:
        """The chunk as an Arrow table in the ``readings`` schema, strings dictionary-encoded."""
        building, sensor, quantity = (
            pa.DictionaryArray.from_arrays(pa.array(codes[chunk.reading]), dictionary)
            for codes, dictionary in zip(self.codes, self.dictionaries, strict=True)
        )
        return pa.table(
            {
                "ts": pa.array(chunk.ts_us, pa.int64()).cast(pa.timestamp("us")),
                "building": building,
                "sensor": sensor,
                "quantity": quantity,
                "value": pa.array(chunk.value, pa.float64()),
            }
        )

    def reading_batch(self, chunk: ReadingColumns) -> ReadingBatch:
        """The chunk as a ``ReadingBatch``, for a store without ``bulk_load``."""
        building, sensor, quantity = (objects[chunk.reading].tolist() for objects in self._objects)
        return ReadingBatch(chunk.ts_us.tolist(), building, sensor, quantity, chunk.value.tolist())


@dataclass(frozen=True)
class DirectBackfillReport:
    """What a direct backfill did.

    Attributes:
        readings: readings simulated and handed to the store.
        stored: readings the store did not hold yet.
        duplicates: readings it already held (a re-run), not stored again.
        seconds: wall-clock time, simulation and writes together.
    """

    readings: int
    stored: int
    duplicates: int
    seconds: float

    @property
    def readings_per_second(self) -> float:
        return self.readings / self.seconds if self.seconds > 0 else 0.0


def simulated_chunks(
    sim: CampusSimulator, start: datetime, end: datetime, per: timedelta = DEFAULT_CHUNK
) -> Iterator[ReadingColumns]:
    """The readings of the steps in [start, end) as columns, one chunk per ``per``.

    Exactly the readings ``sim.batches(start, end, per)`` gives, in the same order and
    with the same chunk boundaries (multiples of ``per`` since the epoch), without
    building Python objects per reading.
    """
    per_s = max(1, int(per.total_seconds()))
    step_readings = np.arange(sim.readings_per_step, dtype=np.int32)
    epochs: list[int] = []
    kept: list[np.ndarray] = []
    values: list[np.ndarray] = []
    chunk = None
    # _run is the simulator's own step loop; this module is the simulator's direct writer.
    for epoch_s, step_values, keep in sim._run(start, end):
        if epoch_s // per_s != chunk:
            if epochs:
                yield _columns(epochs, kept, values)
            epochs, kept, values = [], [], []
            chunk = epoch_s // per_s
        if keep is None:
            kept.append(step_readings)
            values.append(step_values)
        else:
            kept.append(step_readings[keep])
            values.append(step_values[keep])
        epochs.append(epoch_s)
    if epochs:
        yield _columns(epochs, kept, values)


def _columns(epochs: list[int], kept: list[np.ndarray], values: list[np.ndarray]) -> ReadingColumns:
    counts = np.fromiter((k.size for k in kept), dtype=np.int64, count=len(kept))
    ts_us = np.repeat(np.asarray(epochs, dtype=np.int64) * US_PER_S, counts)
    return ReadingColumns(
        ts_us, np.concatenate(kept), np.concatenate(values).astype(np.float64, copy=False)
    )


def write_chunk(store: ReadingStore, codes: ReadingCodes, chunk: ReadingColumns) -> WriteResult:
    """One chunk into the store: ``bulk_load`` where the store has it, else ``write``."""
    bulk_load = getattr(store, "bulk_load", None)
    if bulk_load is not None:
        return bulk_load(codes.arrow(chunk))
    return store.write(codes.reading_batch(chunk))


def backfill_direct(
    sim: CampusSimulator,
    store: ReadingStore,
    start: datetime,
    end: datetime,
    per: timedelta = DEFAULT_CHUNK,
    progress: Progress | None = None,
) -> DirectBackfillReport:
    """Simulate [start, end) and write it straight into ``store``, one chunk per ``per``.

    Args:
        sim: the campus simulator (its seed, interval and faults).
        store: any ``ReadingStore``; DuckDB's ``bulk_load`` is used when there.
        start, end: the span, timezone-aware; steps are aligned as in ``sim.batches``.
        per: simulated time per write (default one day): bounds memory and sets how
            often ``progress`` is called.
        progress: called after each chunk with (readings so far, expected in all).

    Returns:
        DirectBackfillReport: readings simulated, stored, already there, seconds.
    """
    codes = ReadingCodes(sim)
    expected = sim.step_count(start, end) * sim.readings_per_step
    began = time.perf_counter()
    readings = stored = duplicates = 0
    for chunk in simulated_chunks(sim, start, end, per):
        result = write_chunk(store, codes, chunk)
        readings += len(chunk)
        stored += result.stored
        duplicates += result.duplicates
        if progress is not None:
            progress(readings, max(expected, readings))
    if progress is not None:  # dropouts leave readings out: the bar ends full all the same
        progress(readings, readings)
    return DirectBackfillReport(readings, stored, duplicates, time.perf_counter() - began)
