"""Semester scale: the direct backfill and the campus-wide KPI job.

- ``campuslab simulate --backfill ... --direct`` stores exactly what the simulator
  generates, a re-run stores nothing twice, and a store held by another process
  is refused with a clear message;
- ``campus_kpis`` equals the per-space functions (``kpis.space_daily_kpis``,
  ``kpis.building_daily_energy``, ``climate_kpis.space_ieq``,
  ``quality_kpis.check_quality``) on a small campus over a week with faults and a
  DST change, with and without stored quality flags; the chunk size and the
  store path (DuckDB SQL or the port) change nothing;
- the benchmark's pandas reference gives our utilisation numbers.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pytest
from typer.testing import CliRunner

from campuslab.analytics.campus_kpis import SPACE_QUANTITIES, CampusKpis, campus_kpis
from campuslab.analytics.climate_kpis import space_ieq
from campuslab.analytics.kpis import building_daily_energy, space_daily_kpis
from campuslab.analytics.quality import CHECKS
from campuslab.analytics.quality_kpis import run_quality
from campuslab.cli.main import app
from campuslab.core.readings import US_PER_S
from campuslab.core.registry import load_campus, sample_campus_path
from campuslab.core.store.duckdb import DuckDBStore
from campuslab.simulators.campus import CampusSimulator, SimulationConfig
from campuslab.simulators.direct import backfill_direct

CAMPUS = load_campus(sample_campus_path())
# a week in Oslo with the spring DST change (Sunday 29 March 2026: a 23-hour day)
FIRST_DAY, LAST_DAY = date(2026, 3, 23), date(2026, 3, 29)
FAULTS = frozenset({"spike", "stuck", "dropout", "reset"})
BENCH = Path(__file__).resolve().parent.parent / "bench"


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), CAMPUS.tz).astimezone(UTC)


def simulate_week(path: Path) -> DuckDBStore:
    """The week, a day before it (register look-back) and a day after, at 5-minute steps."""
    store = DuckDBStore(path)
    sim = CampusSimulator(
        CAMPUS, SimulationConfig(seed=4, interval=timedelta(minutes=5), faults=FAULTS)
    )
    backfill_direct(
        sim, store, midnight(FIRST_DAY - timedelta(days=1)), midnight(LAST_DAY + timedelta(days=2))
    )
    return store


@pytest.fixture(scope="module")
def week(tmp_path_factory) -> DuckDBStore:
    store = simulate_week(tmp_path_factory.mktemp("week") / "campuslab.duckdb")
    yield store
    store.close()


@pytest.fixture(scope="module")
def flagged_week(tmp_path_factory):
    """The same week with the data-quality checks run and their flags stored."""
    store = simulate_week(tmp_path_factory.mktemp("flagged") / "campuslab.duckdb")
    report = run_quality(store, CAMPUS, midnight(FIRST_DAY), midnight(LAST_DAY + timedelta(days=1)))
    yield store, report
    store.close()


def all_rows(store: DuckDBStore) -> list[tuple]:
    con = duckdb.connect(str(store.path))  # this process already holds it: shared
    try:
        return con.execute(
            "SELECT epoch_us(ts), building, sensor, quantity, value FROM readings "
            "ORDER BY sensor, quantity, ts"
        ).fetchall()
    finally:
        con.close()


class PortOnly:
    """The DuckDB store seen only through the store port (as InfluxDB would be)."""

    def __init__(self, store: DuckDBStore) -> None:
        self._store = store

    def __getattr__(self, name: str):
        return getattr(self._store, name)


# -- the direct backfill ---------------------------------------------------------------------


def test_direct_backfill_stores_exactly_what_the_simulator_generates(tmp_path: Path) -> None:
    config = SimulationConfig(seed=3, interval=timedelta(minutes=15), faults=FAULTS)
    start = datetime(2026, 3, 2, 5, 7, tzinfo=UTC)  # not on a step: aligned up, as batches does
    end = start + timedelta(days=2)
    store = DuckDBStore(tmp_path / "campuslab.duckdb")
    try:
        report = backfill_direct(CampusSimulator(CAMPUS, config), store, start, end)
        expected = sorted(
            (r.ts_us, r.building, r.sensor, r.quantity, r.value)
            for batch in CampusSimulator(CAMPUS, config).batches(start, end)
            for r in batch
        )
        assert report.readings == report.stored == len(expected) == store.count()
        assert report.duplicates == 0
        assert sorted(all_rows(store)) == expected  # every value, to the bit
        # dropouts left readings out: fewer than a full grid
        steps = 2 * 24 * 4
        assert len(expected) < steps * CampusSimulator(CAMPUS, config).readings_per_step

        again = backfill_direct(CampusSimulator(CAMPUS, config), store, start, end)
        assert (again.stored, again.duplicates) == (0, len(expected))
        assert store.count() == len(expected)
        # the overview's newest readings were kept with the rows
        latest = {(r.sensor, r.quantity): r for r in store.latest()}
        assert latest[("rfb-101", "co2")].ts == max(
            datetime.fromtimestamp(ts / US_PER_S, UTC)
            for ts, _, sensor, quantity, _ in expected
            if (sensor, quantity) == ("rfb-101", "co2")
        )
    finally:
        store.close()


def test_a_store_without_bulk_load_gets_the_same_readings_through_write(tmp_path: Path) -> None:
    """The direct writer takes any ReadingStore (InfluxDB has no bulk_load): same rows."""
    config = SimulationConfig(seed=5, interval=timedelta(minutes=30), faults=FAULTS)
    start, end = datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, 12, tzinfo=UTC)
    bulk = DuckDBStore(tmp_path / "bulk.duckdb")
    plain = DuckDBStore(tmp_path / "plain.duckdb")
    try:
        backfill_direct(CampusSimulator(CAMPUS, config), bulk, start, end)
        report = backfill_direct(CampusSimulator(CAMPUS, config), PortOnly(plain), start, end)
        assert report.stored == plain.count() == bulk.count() > 0
        assert all_rows(plain) == all_rows(bulk)
    finally:
        bulk.close()
        plain.close()


def test_simulate_direct_backfills_the_store_and_a_rerun_does_not_double(tmp_path: Path) -> None:
    runner = CliRunner()
    options = ["simulate", "--backfill", "1d", "--direct", "--data-dir", str(tmp_path)]
    options += ["--interval", "30m", "--seed", "2"]
    first = runner.invoke(app, options)
    assert first.exit_code == 0, first.output
    assert "readings/s" in first.output and "0 already there" in first.output
    path = tmp_path / "campuslab.duckdb"
    store = DuckDBStore(path)
    rows = sorted(all_rows(store))
    store.close()
    begin_us, end_us = rows[0][0], max(r[0] for r in rows)
    # what the simulator gives for the steps the backfill covered, from the same first step
    sim = CampusSimulator(CAMPUS, SimulationConfig(seed=2, interval=timedelta(minutes=30)))
    begin = datetime.fromtimestamp(begin_us / US_PER_S, UTC)
    end = datetime.fromtimestamp(end_us / US_PER_S, UTC) + timedelta(microseconds=1)
    expected = sorted(
        (r.ts_us, r.building, r.sensor, r.quantity, r.value)
        for batch in sim.batches(begin, end)
        for r in batch
    )
    assert rows == expected
    assert len(rows) == 48 * sim.readings_per_step

    second = runner.invoke(app, options)
    assert second.exit_code == 0, second.output
    store = DuckDBStore(path)
    try:
        after = all_rows(store)
        stamps = {ts for ts, *_ in after}
        # nothing twice: one reading per step and series from the first run's start on
        assert len(after) == len(set((ts, s, q) for ts, _, s, q, _ in after))
        assert len(after) == len(stamps) * sim.readings_per_step
        assert min(stamps) == begin_us
    finally:
        store.close()


def test_simulate_direct_refuses_a_store_held_by_another_process(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from campuslab.core.store.duckdb import DuckDBStore\n"
            f"store = DuckDBStore({str(tmp_path / 'campuslab.duckdb')!r})\n"
            "print('holding', flush=True)\n"
            "time.sleep(120)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        result = CliRunner().invoke(
            app, ["simulate", "--backfill", "1d", "--direct", "--data-dir", str(tmp_path)]
        )
        assert result.exit_code == 1
        assert "in use by another CampusLab process" in result.output
        assert "campuslab serve" in result.output
    finally:
        holder.kill()
        holder.wait(10)


# -- the campus-wide KPI job against the per-space functions ---------------------------------


def assert_same(ours, theirs, where: str) -> None:
    """Counts equal, floats equal to the last bits (sums may be taken in another order)."""
    for name in ours.__dataclass_fields__:
        mine, expected = getattr(ours, name), getattr(theirs, name)
        if isinstance(expected, float) and math.isnan(expected):
            assert isinstance(mine, float) and math.isnan(mine), f"{where} {name}: {mine}"
        elif isinstance(expected, float):
            assert mine == pytest.approx(expected, rel=1e-12, abs=1e-12), f"{where} {name}"
        else:
            assert mine == expected, f"{where} {name}: {mine} != {expected}"


def assert_spaces_match(store: DuckDBStore, kpis: CampusKpis) -> None:
    for _, space in CAMPUS.spaces():
        days = space_daily_kpis(
            store, CAMPUS, space.id, midnight(FIRST_DAY), midnight(LAST_DAY + timedelta(days=1))
        )
        assert [d.date for d in days] == list(kpis.dates)
        for day in days:
            mine = kpis.space_day(space.id, day.date)
            assert_same(mine.utilisation, day.utilisation, f"{space.id} {day.date}")
            assert mine.co2 == day.co2, f"{space.id} {day.date}"
            assert mine.co2_points_excluded == day.co2_points_excluded


def assert_buildings_match(store: DuckDBStore, kpis: CampusKpis) -> None:
    for building in CAMPUS.buildings:
        days = building_daily_energy(
            store, CAMPUS, building.id, midnight(FIRST_DAY), midnight(LAST_DAY + timedelta(1))
        )
        for day in days:
            mine = kpis.building_day(building.id, day.date)
            assert_same(mine, day, f"{building.id} {day.date}")


def test_campus_kpis_equal_the_per_space_functions(week: DuckDBStore) -> None:
    kpis = campus_kpis(week, CAMPUS, FIRST_DAY, LAST_DAY)
    use = kpis.utilisation
    assert (use.available_hours[:, :5] == 8).mean() > 0.9  # weekdays: 8 core hours
    assert (use.available_hours[:, 5:] == 0).all()  # the weekend has none
    assert (use.hours_without_data > 0).any()  # dropouts
    assert np.nanmax(use.utilisation) > 0.3
    assert_spaces_match(week, kpis)
    assert_buildings_match(week, kpis)
    assert (kpis.energy.electricity_resets.sum() + kpis.energy.heat_resets.sum()) > 0


def test_temperature_and_humidity_categories_equal_space_ieq(week: DuckDBStore) -> None:
    kpis = campus_kpis(week, CAMPUS, FIRST_DAY, LAST_DAY, parts=["ieq"])
    ieq = kpis.ieq
    for index, space_id in enumerate(kpis.space_ids[::9]):  # space_ieq also runs PMV: a sample
        row = kpis.space_ids.index(space_id)
        found = space_ieq(
            week, CAMPUS, space_id, midnight(FIRST_DAY), midnight(LAST_DAY + timedelta(days=1))
        )
        for mine, theirs in (
            (ieq.operative_temperature, found.operative_temperature),
            (ieq.relative_humidity, found.relative_humidity),
        ):
            hours = mine.hours[row].sum(axis=0)
            assert dict(zip(("I", "II", "III", "IV"), hours.tolist(), strict=True)) == (
                theirs.category_hours
            ), f"{space_id} ({index})"
            assert mine.occupied_hours[row].sum() == theirs.occupied_hours
        assert ieq.co2.occupied_hours[row].sum() == found.co2.occupied_hours
    assert ieq.heating_season_days.all()  # March: heating season in Oslo


def test_flagged_readings_are_left_out_as_the_per_space_functions_do(flagged_week) -> None:
    store, _ = flagged_week
    kpis = campus_kpis(store, CAMPUS, FIRST_DAY, LAST_DAY)
    assert kpis.utilisation.points_excluded.sum() > 0
    assert kpis.ieq.co2_points_excluded.sum() > 0
    assert_spaces_match(store, kpis)
    assert_buildings_match(store, kpis)


def test_quality_equals_check_quality(flagged_week) -> None:
    store, report = flagged_week
    quality = campus_kpis(store, CAMPUS, FIRST_DAY, LAST_DAY, parts=["quality"]).quality
    space_row = {space.id: i for i, (_, space) in enumerate(CAMPUS.spaces())}
    meter_row = {meter_id: i for i, meter_id in enumerate(quality.meter_ids)}
    checked = 0
    for day in report.days:
        d = (day.date - FIRST_DAY).days
        if day.sensor in space_row:
            where = (space_row[day.sensor], SPACE_QUANTITIES.index(day.quantity), d)
            found = quality.spaces
        else:
            where = (meter_row[day.sensor], d)
            found = quality.meters
        assert found.points[where] == day.points, day
        assert found.flagged[where] == day.flagged, day
        for check in CHECKS:
            assert found.flagged_by_check[check][where] == day.flagged_by_check.get(check, 0)
        checked += 1
    assert checked == (len(space_row) * 4 + len(meter_row)) * 7
    assert quality.spaces.points.sum() + quality.meters.points.sum() == report.points
    assert quality.spaces.flagged.sum() + quality.meters.flagged.sum() == report.flagged_points
    flagged = {check: int(quality.spaces.flagged_by_check[check].sum()) for check in CHECKS}
    assert flagged["spike"] and flagged["stuck"] and flagged["over_capacity"], flagged
    assert quality.meters.flagged_by_check["register_decrease"].sum() > 0
    assert np.nanmin(quality.spaces.qci()) < 1


def assert_same_arrays(one, other, where: str = "") -> None:
    """Two results field by field: counts exactly, floats to the last bits, NaN where NaN."""
    for name in one.__dataclass_fields__:
        a, b = getattr(one, name), getattr(other, name)
        if hasattr(a, "__dataclass_fields__"):
            assert_same_arrays(a, b, f"{where}.{name}")
        elif isinstance(a, dict):
            for key in a:
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{where}.{name}[{key}]")
        elif isinstance(a, np.ndarray) and a.dtype.kind == "f":
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=0, err_msg=f"{where}.{name}")
        else:
            np.testing.assert_array_equal(a, b, err_msg=f"{where}.{name}")


def test_chunking_gives_the_same_results_as_one_chunk(flagged_week) -> None:
    store, _ = flagged_week
    whole = campus_kpis(store, CAMPUS, FIRST_DAY, LAST_DAY, chunk_days=7)
    for chunk_days in (1, 3):
        chunked = campus_kpis(store, CAMPUS, FIRST_DAY, LAST_DAY, chunk_days=chunk_days)
        assert_same_arrays(chunked, whole, f"chunk_days={chunk_days}")


def test_the_store_port_gives_the_same_results_as_the_duckdb_path(flagged_week) -> None:
    store, _ = flagged_week
    fast = campus_kpis(store, CAMPUS, FIRST_DAY, LAST_DAY, chunk_days=4)
    port = campus_kpis(PortOnly(store), CAMPUS, FIRST_DAY, LAST_DAY, chunk_days=4)
    assert_same_arrays(port, fast)


def test_campus_utilisation_adds_up_seat_hours(week: DuckDBStore) -> None:
    use = campus_kpis(week, CAMPUS, FIRST_DAY, LAST_DAY, parts=["utilisation"]).utilisation
    monday = use.pooled_by_day()[0]
    assert monday == pytest.approx(
        use.used_seat_hours[:, 0].sum() / use.available_seat_hours[:, 0].sum()
    )
    assert math.isnan(use.pooled_by_day()[6])  # Sunday: no core hours


def test_campus_kpis_checks_its_arguments(week: DuckDBStore) -> None:
    with pytest.raises(ValueError, match="before first_day"):
        campus_kpis(week, CAMPUS, LAST_DAY, FIRST_DAY)
    with pytest.raises(ValueError, match="chunk_days"):
        campus_kpis(week, CAMPUS, FIRST_DAY, LAST_DAY, chunk_days=0)
    with pytest.raises(ValueError, match="unknown KPI part"):
        campus_kpis(week, CAMPUS, FIRST_DAY, LAST_DAY, parts=["comfort"])


# -- the benchmark's pandas reference ----------------------------------------------------------


def pandas_reference():
    try:
        import pandas  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("pandas (the [bench] extra) must be installed on CI")
        pytest.skip("pandas is not installed (pip install -e '.[bench]')")  # not on CI (above)
    sys.path.insert(0, str(BENCH))
    import analytics_pandas_reference

    return analytics_pandas_reference


def test_pandas_reference_equals_our_utilisation(week: DuckDBStore) -> None:
    reference = pandas_reference()
    ours = campus_kpis(week, CAMPUS, FIRST_DAY, LAST_DAY, parts=["utilisation"]).utilisation
    con = duckdb.connect(str(week.path))
    try:
        occupancy = reference.read_occupancy(
            con, midnight(FIRST_DAY), midnight(LAST_DAY + timedelta(days=1))
        )
    finally:
        con.close()
    theirs = reference.pandas_utilisation(occupancy, CAMPUS)
    assert len(theirs) == (ours.available_hours > 0).sum() > 300
    space_row = {space.id: i for i, (_, space) in enumerate(CAMPUS.spaces())}
    rows = [space_row[s] for s in theirs.index.get_level_values("space")]
    columns = [(d - FIRST_DAY).days for d in theirs.index.get_level_values("date")]
    for name in reference.UTILISATION_COLUMNS:
        np.testing.assert_allclose(
            getattr(ours, name)[rows, columns],
            theirs[name].to_numpy(dtype=np.float64),
            rtol=1e-9,
            atol=1e-12,
            err_msg=name,
        )
