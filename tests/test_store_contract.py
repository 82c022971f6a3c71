"""The store port's contract. Every backend must pass it unchanged.

Backends are fixture parameters; the InfluxDB backend joins the list when it exists.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from campuslab.core.readings import DeadLetter, ReadingBatch, to_epoch_us
from campuslab.core.store import Aggregate, ReadingStore, TooManyPoints
from campuslab.core.store.duckdb import DuckDBStore, StoreLockedError

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # a Monday
MINUTE = 60_000_000


def batch_of(rows: list[tuple[datetime, str, str, str, float]]) -> ReadingBatch:
    batch = ReadingBatch()
    for ts, building, sensor, quantity, value in rows:
        batch.append(to_epoch_us(ts), building, sensor, quantity, value)
    return batch


@pytest.fixture(params=["duckdb"])
def store(request, tmp_path: Path) -> ReadingStore:
    backend = DuckDBStore(tmp_path / "store.duckdb")
    yield backend
    backend.close()


@pytest.fixture
def co2_hour(store: ReadingStore) -> ReadingStore:
    """rfb-101 CO2 every minute from 08:00 to 08:59, values 500, 501, ... 559."""
    store.write(
        batch_of(
            [(T0 + timedelta(minutes=i), "rfb", "rfb-101", "co2", 500.0 + i) for i in range(60)]
        )
    )
    return store


def test_raw_series_comes_back_exactly(co2_hour):
    series = co2_hour.read_series("rfb-101", "co2", T0, T0 + timedelta(hours=1))
    assert len(series) == 60
    assert series.ts[0] == np.datetime64("2026-11-23T08:00:00", "us")
    assert series.ts[-1] == np.datetime64("2026-11-23T08:59:00", "us")
    assert series.values.tolist() == [500.0 + i for i in range(60)]


def test_ranges_are_half_open(co2_hour):
    series = co2_hour.read_series(
        "rfb-101", "co2", T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)
    )
    assert series.values.tolist() == [510.0 + i for i in range(10)]


@pytest.mark.parametrize(
    ("aggregate", "expected"),
    [
        # 15-minute buckets of 500..559: means 507, 522, 537, 552; max 514, ...; min 500, ...
        (Aggregate.MEAN, [507.0, 522.0, 537.0, 552.0]),
        (Aggregate.MAX, [514.0, 529.0, 544.0, 559.0]),
        (Aggregate.MIN, [500.0, 515.0, 530.0, 545.0]),
    ],
)
def test_resampling(co2_hour, aggregate, expected):
    series = co2_hour.read_series(
        "rfb-101",
        "co2",
        T0,
        T0 + timedelta(hours=1),
        every=timedelta(minutes=15),
        aggregate=aggregate,
    )
    assert series.values.tolist() == expected
    assert series.ts.astype(str).tolist() == [
        "2026-11-23T08:00:00.000000",
        "2026-11-23T08:15:00.000000",
        "2026-11-23T08:30:00.000000",
        "2026-11-23T08:45:00.000000",
    ]


def test_duplicates_are_never_stored_twice(store):
    rows = [(T0 + timedelta(minutes=i), "rfb", "rfb-101", "co2", 600.0) for i in range(10)]
    first = store.write(batch_of(rows))
    again = store.write(batch_of(rows + rows))  # a redelivered batch, repeated within itself
    assert (first.stored, first.duplicates) == (10, 0)
    assert (again.stored, again.duplicates) == (0, 20)
    assert store.count() == 10


def test_same_time_different_quantity_or_sensor_is_not_a_duplicate(store):
    store.write(
        batch_of(
            [
                (T0, "rfb", "rfb-101", "co2", 1.0),
                (T0, "rfb", "rfb-101", "temperature", 2.0),
                (T0, "rfb", "rfb-102", "co2", 3.0),
            ]
        )
    )
    assert store.count() == 3


def test_resampled_for_many_sensors_at_once(store):
    store.write(
        batch_of(
            [
                (T0 + timedelta(minutes=m), "rfb", sensor, "occupancy", value)
                for m in range(0, 120, 30)
                for sensor, value in (("rfb-101", 10.0), ("rfb-102", 4.0))
            ]
        )
    )
    hourly = store.read_resampled("occupancy", T0, T0 + timedelta(hours=2), timedelta(hours=1))
    assert sorted(hourly) == ["rfb-101", "rfb-102"]
    assert hourly["rfb-101"].values.tolist() == [10.0, 10.0]
    only = store.read_resampled(
        "occupancy", T0, T0 + timedelta(hours=2), timedelta(hours=1), sensors=["rfb-102"]
    )
    assert list(only) == ["rfb-102"]


def test_latest_per_sensor_and_quantity(store):
    store.write(
        batch_of(
            [
                (T0 + timedelta(minutes=2), "rfb", "rfb-101", "co2", 700.0),
                (T0, "rfb", "rfb-101", "co2", 650.0),
            ]
        )
    )
    store.write(batch_of([(T0 - timedelta(hours=1), "rfb", "rfb-101", "co2", 1.0)]))  # older
    latest = store.latest("co2")
    assert [(r.sensor, r.value, r.ts) for r in latest] == [
        ("rfb-101", 700.0, T0 + timedelta(minutes=2))
    ]


def test_point_limit(co2_hour):
    with pytest.raises(TooManyPoints):
        co2_hour.read_series("rfb-101", "co2", T0, T0 + timedelta(hours=1), limit=59)
    assert len(co2_hour.read_series("rfb-101", "co2", T0, T0 + timedelta(hours=1), limit=60)) == 60


def test_dead_letters_are_kept(store):
    letter = DeadLetter(
        to_epoch_us(T0), "campus/x/y/co2", "garbage", "unparseable", "not a JSON object or a number"
    )
    store.write_dead_letters([letter])
    assert store.dead_letters() == [letter]


def test_hostile_identifiers_are_only_data(co2_hour):
    hostile = "rfb-101' OR '1'='1"
    assert len(co2_hour.read_series(hostile, "co2", T0, T0 + timedelta(hours=1))) == 0
    assert (
        co2_hour.read_resampled(
            "co2'; DROP TABLE readings; --", T0, T0 + timedelta(hours=1), timedelta(hours=1)
        )
        == {}
    )
    assert co2_hour.count() == 60


def test_store_survives_reopen(tmp_path: Path):
    path = tmp_path / "reopen.duckdb"
    first = DuckDBStore(path)
    first.write(batch_of([(T0, "rfb", "rfb-101", "co2", 1.0)]))
    first.close()
    again = DuckDBStore(path)
    assert again.count() == 1
    again.close()


def test_a_second_process_gets_a_clear_error(tmp_path: Path):
    import subprocess
    import sys

    path = tmp_path / "locked.duckdb"
    holder = DuckDBStore(path)
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                f"from campuslab.core.store.duckdb import DuckDBStore;DuckDBStore({str(path)!r})",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0
        assert "another CampusLab process" in result.stderr
        assert StoreLockedError.__name__ in result.stderr
    finally:
        holder.close()
