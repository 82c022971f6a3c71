"""Rollups and the analytics scheduler against the real embedded store (DuckDB in tmp_path).

Readings are written as ingest writes them; rollups are computed through the
store port, written back, read with ``read_rollups`` and checked against
numbers worked out by hand, and against the KPI layer they reuse. The campus
is in Europe/Oslo, so local days differ from UTC days and DST is in play.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from campuslab.analytics.kpis import (
    ScreenedRegister,
    building_daily_energy,
    space_daily_kpis,
    space_utilisation,
)
from campuslab.analytics.learning_spaces import hour_weekday_profile
from campuslab.analytics.rollups import (
    BUILDING_DAILY,
    HOURLY_FIELDS,
    MEASUREMENTS,
    SPACE_DAILY,
    SPACE_HOURLY,
    SPACE_WEEKHOUR,
    compute_rollups,
    local_midnight,
    weekend_base_kw,
    write_rollups,
)
from campuslab.analytics.scheduler import (
    backfill,
    next_tick,
    retention_cutoff,
    run_forever,
    run_once,
)
from campuslab.core.readings import ReadingBatch, to_epoch_us
from campuslab.core.registry import parse_campus
from campuslab.core.store.duckdb import DuckDBStore
from campuslab.core.store.line_protocol import LineProtocolEncoder
from campuslab.simulators.campus import CampusSimulator, SimulationConfig

OSLO = ZoneInfo("Europe/Oslo")
LAB_YAML = """
site: {id: testsite, name: Test campus, timezone: Europe/Oslo}
analytics:
  core_hours: {days: [mon, tue, wed, thu, fri], start: "08:00", end: "16:00"}
  in_use_threshold: 1
  hourly_observation: mean
  outdoor_co2_ppm: 420
buildings:
  - id: lab
    name: Lab building
    heated_area_m2: 5000
    meters:
      - {id: lab-el, quantity: energy}
      - {id: lab-heat, quantity: heat_energy}
    spaces:
      - {id: room-40, name: Seminar 40, floor: 1, type: seminar_room, capacity: 40, area_m2: 80}
      - {id: room-10, name: Meeting 10, floor: 1, type: meeting_room, capacity: 10, area_m2: 25}
"""
LAB = parse_campus(LAB_YAML)
FAR_PAST, FAR_FUTURE = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=OSLO)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def store(tmp_path):
    db = DuckDBStore(tmp_path / "campus.duckdb")
    yield db
    db.close()


def add(batch: ReadingBatch, moment: datetime, sensor: str, quantity: str, value: float) -> None:
    batch.append(to_epoch_us(moment), "lab", sensor, quantity, value)


def every(
    batch: ReadingBatch,
    sensor: str,
    quantity: str,
    start: datetime,
    end: datetime,
    value: float,
    step: timedelta = timedelta(minutes=15),
) -> None:
    moment = start.astimezone(UTC)  # step in UTC: aware local arithmetic is wall-clock
    while moment < end:
        add(batch, moment, sensor, quantity, value)
        moment += step


def rows_of(store: DuckDBStore, measurement: str, **tags: str) -> list:
    return store.read_rollups(measurement, FAR_PAST, FAR_FUTURE, tags or None)


def all_rollups(store: DuckDBStore) -> dict[str, list]:
    return {m: rows_of(store, m) for m in MEASUREMENTS}


def identities(rows: list) -> list[tuple]:
    return [(row.ts, tuple(sorted(row.tags.items()))) for row in rows]


def simulate(store: DuckDBStore, campus, start: datetime, end: datetime, minutes: int = 5) -> None:
    config = SimulationConfig(seed=7, interval=timedelta(minutes=minutes))
    for batch in CampusSimulator(campus, config).batches(start, end, per=timedelta(hours=12)):
        store.write(batch)


class CountingStore(DuckDBStore):
    """The real store, counting the resampled reads the rollups make."""

    resampled_calls = 0

    def read_resampled(self, *args, **kwargs):
        self.resampled_calls += 1
        return super().read_resampled(*args, **kwargs)


class FailsOnceStore(DuckDBStore):
    """Fault injection: the real store, whose first resampled read raises."""

    failed = False

    def read_resampled(self, *args, **kwargs):
        if not self.failed:
            self.failed = True
            raise ConnectionError("store went away for a moment")
        return super().read_resampled(*args, **kwargs)


# -- space_hourly -------------------------------------------------------------------


def test_space_hourly_means_and_maxes_by_hand(tmp_path):
    """Friday 27 March 2026, 09:00–10:00 UTC, room-40: occupancy 3, 6, 9 (mean 6, max 9),
    CO₂ 600, 900 (mean 750, max 900), 21 and 22 °C (21.5), 40 and 50 %RH (45).
    At 10:00–10:30 only a temperature of 20 °C: that hour has only temperature_mean.
    room-10 has no readings: no rows. All spaces are read in one call per field."""
    store = CountingStore(tmp_path / "campus.duckdb")
    batch = ReadingBatch()
    for minute, people in zip((0, 20, 40), (3, 6, 9), strict=True):
        add(batch, utc(2026, 3, 27, 9, minute), "room-40", "occupancy", people)
    for minute, ppm, celsius, rh in ((5, 600, 21, 40), (35, 900, 22, 50)):
        add(batch, utc(2026, 3, 27, 9, minute), "room-40", "co2", ppm)
        add(batch, utc(2026, 3, 27, 9, minute), "room-40", "temperature", celsius)
        add(batch, utc(2026, 3, 27, 9, minute), "room-40", "humidity", rh)
    add(batch, utc(2026, 3, 27, 10, 10), "room-40", "temperature", 20)
    store.write(batch)

    report = run_once(store, LAB, utc(2026, 3, 27, 10, 30))

    assert store.resampled_calls == len(HOURLY_FIELDS) == 6
    hourly = rows_of(store, SPACE_HOURLY)
    assert [row.ts for row in hourly] == [utc(2026, 3, 27, 9), utc(2026, 3, 27, 10)]
    assert dict(hourly[0].fields) == {
        "occupancy_mean": 6.0,
        "occupancy_max": 9.0,
        "co2_mean": 750.0,
        "co2_max": 900.0,
        "temperature_mean": 21.5,
        "humidity_mean": 45.0,
    }
    assert dict(hourly[1].fields) == {"temperature_mean": 20.0}
    tags = LineProtocolEncoder(LAB).sensor_tags("lab", "room-40")
    assert tags == {
        "site": "testsite",
        "building": "lab",
        "floor": "1",
        "space": "room-40",
        "space_type": "seminar_room",
    }
    assert all(dict(row.tags) == tags for row in hourly)
    assert report.rows[SPACE_HOURLY] == 2
    store.close()


# -- space_daily ----------------------------------------------------------------------


@pytest.fixture
def friday(store):
    """Friday 27 March 2026 (CET, UTC+1), readings every 15 minutes in room-40:
    20 people 08:00–12:00 local and 30 people 18:00–19:00 (outside core hours),
    0 otherwise; CO₂ 1300 ppm while 20 are in, 1900 in the evening, 600 otherwise."""
    batch = ReadingBatch()
    day = (2026, 3, 27)
    for (a, b), people, ppm in (
        ((0, 8), 0, 600),
        ((8, 12), 20, 1300),
        ((12, 18), 0, 600),
        ((18, 19), 30, 1900),
        ((19, 24), 0, 600),
    ):
        end = local(*day, b) if b < 24 else local(2026, 3, 28)
        every(batch, "room-40", "occupancy", local(*day, a), end, people)
        every(batch, "room-40", "co2", local(*day, a), end, ppm)
    store.write(batch)
    return store


def test_space_daily_by_hand_and_as_the_kpi_layer_computes_it(friday):
    """room-40, 40 seats, 20 people in 4 of the 8 core hours: F = 0.5, O = 0.5, U = 0.25,
    80 used seat-hours, peak 0.5. CO₂ over the 5 occupied hours: 08–12 at 1300 ppm
    (Δ 880, category III) and 18–19 at 1900 (Δ 1480, IV); all 5 above 1000 ppm.
    The row sits at local midnight (23:00 UTC the day before)."""
    backfill(friday, LAB, date(2026, 3, 27), date(2026, 3, 27), now=local(2026, 3, 30))

    [row] = rows_of(friday, SPACE_DAILY)
    assert row.ts == utc(2026, 3, 26, 23) == local_midnight(LAB, date(2026, 3, 27))
    assert row.tags["space"] == "room-40"
    assert dict(row.fields) == {
        "frequency_rate": 0.5,
        "occupancy_rate": 0.5,
        "utilisation": 0.25,
        "peak_occupancy": 0.5,
        "p95_occupancy": 0.5,
        "used_seat_hours": 80.0,
        "available_hours": 8.0,
        "in_use_hours": 4.0,
        "hours_without_data": 0.0,
        "co2_cat_i_hours": 0.0,
        "co2_cat_ii_hours": 0.0,
        "co2_cat_iii_hours": 4.0,
        "co2_cat_iv_hours": 1.0,
        "co2_above_1000_hours": 5.0,
        "occupied_hours": 5.0,
    }
    kpis = space_utilisation(friday, LAB, "room-40", local(2026, 3, 27), local(2026, 3, 28))
    assert row.fields["utilisation"] == kpis.utilisation


def test_space_daily_matches_the_kpi_layer_for_every_sample_space(store, campus):
    """Two simulated days of the sample campus (81 spaces, 5-minute readings): each
    space_daily row equals kpis.space_utilisation and space_daily_kpis for its day;
    on Saturday there are no core hours, so the rates are left out."""
    simulate(store, campus, local(2026, 3, 26), local(2026, 3, 29))
    backfill(store, campus, date(2026, 3, 26), date(2026, 3, 28), now=local(2026, 3, 30))
    spaces = [space.id for _, space in campus.spaces()]
    assert len(spaces) == 81
    for day in (date(2026, 3, 27), date(2026, 3, 28)):
        start = local_midnight(campus, day)
        end = local_midnight(campus, day + timedelta(days=1))
        rows = store.read_rollups(SPACE_DAILY, start, start + timedelta(hours=1))
        assert sorted(row.tags["space"] for row in rows) == sorted(spaces)
        for row in rows:
            space_id = row.tags["space"]
            kpis = space_utilisation(store, campus, space_id, start, end)
            [day_kpis] = space_daily_kpis(store, campus, space_id, start, end)
            if day.weekday() < 5:
                assert row.fields["utilisation"] == pytest.approx(kpis.utilisation, abs=1e-12)
                assert row.fields["frequency_rate"] == kpis.frequency_rate
                assert row.fields["used_seat_hours"] == pytest.approx(kpis.used_seat_hours)
            else:
                assert "utilisation" not in row.fields and kpis.available_hours == 0
            assert row.fields["available_hours"] == kpis.available_hours
            assert row.fields["occupied_hours"] == day_kpis.co2.occupied_hours
            assert row.fields["co2_cat_iii_hours"] == day_kpis.co2.category_hours["III"]
            assert row.fields["co2_above_1000_hours"] == day_kpis.co2.hours_above_fhi_limit


# -- space_weekhour ----------------------------------------------------------------------


def test_space_weekhour_by_hand_and_pooled_it_is_the_daily_utilisation(friday):
    """The Friday of ``friday`` (CET, UTC+1): one row per hour of room-40 (40 seats), tagged
    with the local weekday and hour. 18:00–19:00 local is 17:00 UTC: 30 people, so 30 used
    of 40 available seat-hours. Pooled over the core hours 08–16, Σ used ÷ Σ available is
    (4 × 20) ÷ (8 × 40) = 0.25, the day's SMG utilisation in space_daily. The DuckDB store
    keeps the two new tags and filters by them."""
    backfill(friday, LAB, date(2026, 3, 27), date(2026, 3, 27), now=local(2026, 3, 30))

    rows = rows_of(friday, SPACE_WEEKHOUR)
    assert [row.ts for row in rows] == [
        utc(2026, 3, 26, 23) + timedelta(hours=h) for h in range(24)
    ]
    assert [row.tags["hour"] for row in rows] == [f"{h:02d}" for h in range(24)]
    assert {row.tags["weekday"] for row in rows} == {"5-Fri"}
    sensor_tags = LineProtocolEncoder(LAB).sensor_tags("lab", "room-40")
    assert all(
        dict(row.tags) == {**sensor_tags, "weekday": "5-Fri", "hour": row.tags["hour"]}
        for row in rows
    )
    [evening] = friday.read_rollups(
        SPACE_WEEKHOUR, FAR_PAST, FAR_FUTURE, {"weekday": "5-Fri", "hour": "18"}
    )
    assert evening.ts == utc(2026, 3, 27, 17)
    assert dict(evening.fields) == {"used_seat_hours": 30.0, "available_seat_hours": 40.0}
    assert rows[9].fields["used_seat_hours"] == 20.0 and rows[3].fields["used_seat_hours"] == 0.0

    core = [row.fields for row in rows if 8 <= int(row.tags["hour"]) < 16]
    pooled = sum(f["used_seat_hours"] for f in core) / sum(f["available_seat_hours"] for f in core)
    [day] = rows_of(friday, SPACE_DAILY)
    assert pooled == 0.25 == day.fields["utilisation"]


def test_space_weekhour_follows_the_sites_observation_rule(tmp_path):
    """With ``hourly_observation: peak`` an hour of 3, 6 and 9 people counts 9 seat-hours
    used, as space_daily counts it; with the mean, 6."""
    for rule, used in (("mean", 6.0), ("peak", 9.0)):
        campus = parse_campus(
            LAB_YAML.replace("hourly_observation: mean", f"hourly_observation: {rule}")
        )
        store = DuckDBStore(tmp_path / f"{rule}.duckdb")
        batch = ReadingBatch()
        for minute, people in zip((0, 20, 40), (3, 6, 9), strict=True):
            add(batch, utc(2026, 3, 27, 9, minute), "room-10", "occupancy", people)
        store.write(batch)
        run_once(store, campus, utc(2026, 3, 27, 10, 30))
        [row] = rows_of(store, SPACE_WEEKHOUR)
        assert (row.tags["weekday"], row.tags["hour"]) == ("5-Fri", "10")  # 09 UTC, CET
        assert dict(row.fields) == {"used_seat_hours": used, "available_seat_hours": 10.0}
        store.close()


def test_space_weekhour_pools_to_the_apis_hour_weekday_profile(store, campus):
    """A simulated week of the sample campus (Monday 23 to Monday 30 March 2026, the DST
    change on the 29th): pooling the rows of each (weekday, hour) gives, cell for cell, the
    profile ``learning_spaces.hour_weekday_profile`` computes for the API and the report,
    so the dashboard's grid and the planner's agree."""
    simulate(store, campus, local(2026, 3, 23), local(2026, 3, 30), minutes=15)
    backfill(store, campus, date(2026, 3, 23), date(2026, 3, 29), now=local(2026, 3, 31))
    used, available = np.zeros((7, 24)), np.zeros((7, 24))
    for row in rows_of(store, SPACE_WEEKHOUR):
        cell = int(row.tags["weekday"][0]) - 1, int(row.tags["hour"])
        used[cell] += row.fields["used_seat_hours"]
        available[cell] += row.fields["available_seat_hours"]
    profile = hour_weekday_profile(store, campus, local(2026, 3, 23), local(2026, 3, 30))
    empty = available == 0
    assert np.argwhere(empty).tolist() == [[6, 2]]  # Sunday 02:00 did not happen this week
    with np.errstate(invalid="ignore"):
        pooled = np.where(empty, np.nan, used / available)
    np.testing.assert_allclose(pooled, profile.utilisation, rtol=1e-12)


@pytest.mark.parametrize(
    ("day", "local_hours"),
    [
        # spring forward: 02:00 does not exist, the UTC hour after 01:00 CET is 03:00 CEST
        (date(2026, 3, 29), [0, 1, *range(3, 24)]),
        # fall back: 02:00 comes twice (CEST, then CET), both are Sunday's hour 02
        (date(2026, 10, 25), [0, 1, 2, 2, *range(3, 24)]),
    ],
)
def test_space_weekhour_local_hours_on_dst_days(store, day, local_hours):
    start = local_midnight(LAB, day)
    end = local_midnight(LAB, day + timedelta(days=1))
    batch = ReadingBatch()
    every(batch, "room-40", "occupancy", start, end, 2.0, step=timedelta(minutes=30))
    store.write(batch)
    backfill(store, LAB, day, day, now=end + timedelta(days=1))
    rows = rows_of(store, SPACE_WEEKHOUR)
    assert [row.ts for row in rows] == [start + timedelta(hours=h) for h in range(len(rows))]
    assert [int(row.tags["hour"]) for row in rows] == local_hours
    assert {row.tags["weekday"] for row in rows} == {"7-Sun"}
    assert all(
        dict(row.fields) == {"used_seat_hours": 2.0, "available_seat_hours": 40.0} for row in rows
    )


# -- building_daily ----------------------------------------------------------------------


def test_building_daily_energy_by_hand_with_a_reset(store):
    """Friday 27 March 2026 in Oslo. Electricity is read every 15 min, +2.5 kWh each
    (a steady 10 kW): 240 kWh, night base load 10 kW. Heat is read hourly, +20 kWh
    (20 kW), but the meter is replaced at 12:00 local and restarts from 0: the interval
    across the replacement books 0, so 460 kWh and 1 reset. Heated area 5000 m²."""
    batch = ReadingBatch()
    moment, register = local(2026, 3, 27).astimezone(UTC), 1000.0
    while moment <= local(2026, 3, 28):
        add(batch, moment, "lab-el", "energy", register)
        moment, register = moment + timedelta(minutes=15), register + 2.5
    moment, register = local(2026, 3, 27).astimezone(UTC), 8000.0
    while moment <= local(2026, 3, 28):
        if moment == local(2026, 3, 27, 12):
            register = 0.0
        add(batch, moment, "lab-heat", "heat_energy", register)
        moment, register = moment + timedelta(hours=1), register + 20
    store.write(batch)

    run_once(store, LAB, local(2026, 3, 28, 6))

    # Saturday has no row: its midnight readings close Friday, so no interval ends on it,
    # and its night window holds a single reading, no demand to speak of
    [friday_row] = rows_of(store, BUILDING_DAILY)
    assert friday_row.ts == local_midnight(LAB, date(2026, 3, 27))
    assert dict(friday_row.tags) == {"site": "testsite", "building": "lab"}
    assert dict(friday_row.fields) == pytest.approx(
        {
            "electricity_kwh": 240.0,
            "heat_kwh": 460.0,
            "electricity_kwh_per_m2": 240 / 5000,
            "heat_kwh_per_m2": 460 / 5000,
            "total_kwh_per_m2": 700 / 5000,
            "night_base_kw": 10.0,
            "electricity_resets": 0.0,
            "heat_resets": 1.0,
        }
    )
    [energy] = building_daily_energy(store, LAB, "lab", local(2026, 3, 27), local(2026, 3, 28))
    assert friday_row.fields["electricity_kwh"] == energy.electricity_kwh
    assert friday_row.fields["heat_kwh"] == energy.heat_kwh


def test_building_daily_matches_the_kpi_layer_on_the_sample_campus(store, campus):
    """Simulated registers of the sample campus: each building-day equals
    kpis.building_daily_energy, and kWh per m² is kWh over the heated area."""
    simulate(store, campus, local(2026, 3, 25), local(2026, 3, 28), minutes=15)
    backfill(store, campus, date(2026, 3, 26), date(2026, 3, 27), now=local(2026, 3, 30))
    rows = rows_of(store, BUILDING_DAILY)
    assert len(rows) == 2 * len(campus.buildings)
    for row in rows:
        building = campus.building(row.tags["building"])
        start = row.ts
        [energy] = building_daily_energy(
            store, campus, building.id, start, start + timedelta(days=1)
        )
        area = building.heated_area_m2
        assert row.fields["electricity_kwh"] == energy.electricity_kwh > 0
        assert row.fields["heat_kwh"] == energy.heat_kwh > 0
        assert row.fields["electricity_kwh_per_m2"] == energy.electricity_kwh / area
        assert row.fields["heat_kwh_per_m2"] == energy.heat_kwh / area
        assert row.fields["total_kwh_per_m2"] == pytest.approx(
            (energy.electricity_kwh + energy.heat_kwh) / area
        )
        assert 0 < row.fields["night_base_kw"] < energy.electricity_kwh / 24 * 2


def _weekend_register(batch: ReadingBatch, first: datetime, last: datetime) -> None:
    """lab-el read every 15 min: 10 kW, except on Saturday 28 and Sunday 29 March 2026
    6 kW from 03:00 to 04:00 and 7 kW from 04:00 to 05:00 local."""
    moment, register = first.astimezone(UTC), 1000.0
    while moment <= last:
        add(batch, moment, "lab-el", "energy", register)
        wall = moment.astimezone(OSLO)
        kw = 10.0
        if wall.date() in (date(2026, 3, 28), date(2026, 3, 29)) and wall.hour in (3, 4):
            kw = 6.0 if wall.hour == 3 else 7.0
        moment, register = moment + timedelta(minutes=15), register + kw / 4


def test_weekend_base_load_by_hand_on_saturday_and_the_dst_sunday(store):
    """Friday 27 to Monday 30 March 2026. The weekend base load is the 2.5th percentile of
    the day's hourly demand (numpy's linear interpolation):

    - Saturday, 24 hours (6, 7 and 22 × 10 kW): index 0.025 × 23 = 0.575, so
      6 + 0.575 × (7 − 6) = 6.575 kW; its night base load is (3 × 10 + 6 + 7) ÷ 5 = 8.6 kW;
    - Sunday 29th, the spring DST day, 23 hours (6, 7 and 21 × 10 kW): index 0.025 × 22 =
      0.55, so 6.55 kW; its night is 4 real hours, (10 + 10 + 6 + 7) ÷ 4 = 8.25 kW;
    - Friday and Monday have no weekend base load (their night base load is 10 kW)."""
    batch = ReadingBatch()
    _weekend_register(batch, local(2026, 3, 27), local(2026, 3, 31))
    store.write(batch)
    backfill(store, LAB, date(2026, 3, 27), date(2026, 3, 30), now=local(2026, 4, 1))

    rows = {row.ts.astimezone(OSLO).date(): row.fields for row in rows_of(store, BUILDING_DAILY)}
    assert sorted(rows) == [date(2026, 3, d) for d in (27, 28, 29, 30)]
    assert rows[date(2026, 3, 28)]["weekend_base_kw"] == pytest.approx(6.575, abs=1e-9)
    assert rows[date(2026, 3, 29)]["weekend_base_kw"] == pytest.approx(6.55, abs=1e-9)
    assert "weekend_base_kw" not in rows[date(2026, 3, 27)]
    assert "weekend_base_kw" not in rows[date(2026, 3, 30)]
    assert rows[date(2026, 3, 28)]["night_base_kw"] == pytest.approx(8.6, abs=1e-9)
    assert rows[date(2026, 3, 29)]["night_base_kw"] == pytest.approx(8.25, abs=1e-9)
    assert rows[date(2026, 3, 27)]["night_base_kw"] == pytest.approx(10.0, abs=1e-9)
    assert rows[date(2026, 3, 28)]["electricity_kwh"] == pytest.approx(22 * 10 + 6 + 7)
    assert rows[date(2026, 3, 29)]["electricity_kwh"] == pytest.approx(21 * 10 + 6 + 7)


def _register(start: datetime, end: datetime, kw: float, skip=()) -> ScreenedRegister:
    """A register read every 15 min from start to end (inclusive) at a steady ``kw``,
    without the readings strictly inside any (from, to) in ``skip``."""
    ts, values, moment, register = [], [], start.astimezone(UTC), 0.0
    while moment <= end:
        if not any(a < moment < b for a, b in skip):
            ts.append(moment.replace(tzinfo=None))
            values.append(register)
        moment, register = moment + timedelta(minutes=15), register + kw / 4
    return ScreenedRegister(
        np.array(ts, dtype="datetime64[us]"), np.array(values), np.array([], "datetime64[us]")
    )


def test_weekend_base_load_leaves_out_hours_a_meter_missed():
    """Two electricity meters on Saturday 17 January 2026: 5 kW and 3 kW all day, but the
    second has no readings between 10:00 and 12:00 local. Hours 10 and 11 have no demand
    from it and are left out (5 kW alone would look like a quiet hour): the other 22 hours
    are 8 kW, so 8 kW. Friday gets nothing, weekday or not a day of data; a Saturday still
    under way counts its hours so far."""
    first, last = local(2026, 1, 16), local(2026, 1, 18)
    steady = _register(first, last, 5.0)
    gappy = _register(first, last, 3.0, skip=[(local(2026, 1, 17, 10), local(2026, 1, 17, 12))])
    days = [date(2026, 1, 16), date(2026, 1, 17)]
    assert weekend_base_kw(LAB, [steady, gappy], days, last) == {date(2026, 1, 17): 8.0}
    assert weekend_base_kw(LAB, [steady], days, last) == {date(2026, 1, 17): 5.0}
    so_far = weekend_base_kw(LAB, [steady, gappy], days, local(2026, 1, 17, 9, 40))
    assert so_far == {date(2026, 1, 17): 8.0}  # 9 whole hours and 09:00–09:40, all 8 kW
    assert weekend_base_kw(LAB, [steady, gappy], days, local(2026, 1, 17)) == {}


# -- idempotence and updates ------------------------------------------------------------


def test_rerun_writes_the_same_rows_and_never_doubles(friday):
    now = local(2026, 3, 28, 9)
    first = run_once(friday, LAB, now)
    before = all_rollups(friday)
    second = run_once(friday, LAB, now)
    after = all_rollups(friday)
    assert first.rows == second.rows
    assert after == before
    for rows in after.values():
        assert len(identities(rows)) == len(set(identities(rows)))
    assert len(after[SPACE_HOURLY]) == 24  # Friday's hours; Saturday has no readings
    assert len(after[SPACE_DAILY]) == 1  # only room-40 has data, only on Friday


def test_a_partial_day_is_overwritten_as_readings_arrive(store):
    """At 10:30 local Friday room-40 has had 20 people since 08:00 (3 core hours so far,
    U = 0.5). Readings then arrive up to 12:30 with 0 people: the next run rewrites the
    same row over 5 core hours, 08 and 09 at 20, 10 at 10 (20, 20, 0, 0), 11 and 12 at 0:
    U = 50 / (40 × 5) = 0.25; and it adds the new hours."""
    batch = ReadingBatch()
    every(batch, "room-40", "occupancy", local(2026, 3, 27, 8), local(2026, 3, 27, 10, 30), 20)
    store.write(batch)
    run_once(store, LAB, local(2026, 3, 27, 10, 30))
    [morning] = rows_of(store, SPACE_DAILY)
    assert (morning.fields["available_hours"], morning.fields["utilisation"]) == (3.0, 0.5)
    assert morning.fields["hours_without_data"] == 0.0  # hours still ahead are not missing

    batch = ReadingBatch()
    every(batch, "room-40", "occupancy", local(2026, 3, 27, 10, 30), local(2026, 3, 27, 12, 30), 0)
    store.write(batch)
    run_once(store, LAB, local(2026, 3, 27, 12, 30))
    [noon] = rows_of(store, SPACE_DAILY)
    assert noon.ts == morning.ts
    assert (noon.fields["available_hours"], noon.fields["utilisation"]) == (5.0, 0.25)
    hours = rows_of(store, SPACE_HOURLY)
    assert [row.ts for row in hours] == [
        local(2026, 3, 27, h).astimezone(UTC) for h in range(8, 13)
    ]
    assert hours[2].fields["occupancy_mean"] == 10.0  # 10:00–11:00: 20, 20, 0, 0


def test_lookback_limits_the_hourly_rows_not_the_daily_ones(friday):
    """At 12:30 local (11:30 UTC) with a 3 h lookback, space_hourly is recomputed from
    the hour holding 08:30 UTC: 08, 09, 10 and 11 UTC. Friday's daily row still covers
    the whole day so far."""
    report = run_once(friday, LAB, local(2026, 3, 27, 12, 30), lookback=timedelta(hours=3))
    hours = rows_of(friday, SPACE_HOURLY)
    assert [row.ts for row in hours] == [utc(2026, 3, 27, h) for h in (8, 9, 10, 11)]
    assert report.rows[SPACE_HOURLY] == 4
    weekhours = rows_of(friday, SPACE_WEEKHOUR)
    assert [row.ts for row in weekhours] == [row.ts for row in hours]
    [day] = rows_of(friday, SPACE_DAILY)
    assert day.fields["available_hours"] == 5.0 and day.fields["used_seat_hours"] == 80.0


# -- retention ------------------------------------------------------------------------


def test_retention_deletes_raw_readings_only(store):
    """Five days of hourly temperature and occupancy; retention 2 days at 10:00 on
    Friday 27 March deletes raw readings before local midnight of Wednesday 25th.
    Every rollup stays, and recomputing the deleted days leaves them as they were."""
    batch = ReadingBatch()
    for quantity, value in (("temperature", 21.0), ("occupancy", 4.0)):
        every(
            batch,
            "room-10",
            quantity,
            local(2026, 3, 23),
            local(2026, 3, 27, 10),
            value,
            step=timedelta(hours=1),
        )
    store.write(batch)
    now = local(2026, 3, 27, 10)
    backfill(store, LAB, date(2026, 3, 23), date(2026, 3, 27), now)
    before = all_rollups(store)
    assert len(before[SPACE_DAILY]) == 5

    report = run_once(store, LAB, now, retention=timedelta(days=2))

    cutoff = local(2026, 3, 25).astimezone(UTC)
    assert report.retention_cutoff == cutoff == retention_cutoff(LAB, now, timedelta(days=2))
    oldest = store.read_series("room-10", "temperature", FAR_PAST, FAR_FUTURE).ts[0]
    assert oldest.item() == cutoff.replace(tzinfo=None)
    assert store.count() == 2 * (24 + 24 + 10)
    backfill(store, LAB, date(2026, 3, 23), date(2026, 3, 27), now)  # raw data gone for 23, 24
    assert all_rollups(store) == before


def test_retention_under_a_day_is_refused(store):
    with pytest.raises(ValueError, match="at least 1 day"):
        run_once(store, LAB, local(2026, 3, 27, 10), retention=timedelta(hours=12))


# -- DST -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "hours"), [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25), (date(2026, 3, 30), 24)]
)
def test_dst_days_have_23_or_25_hourly_rows(store, day, hours):
    start = local_midnight(LAB, day)
    end = local_midnight(LAB, day + timedelta(days=1))
    batch = ReadingBatch()
    every(batch, "room-40", "temperature", start, end, 21.0, step=timedelta(minutes=30))
    every(batch, "room-40", "occupancy", start, end, 2.0, step=timedelta(minutes=30))
    store.write(batch)
    backfill(store, LAB, day, day, now=end + timedelta(days=1))
    assert len(rows_of(store, SPACE_HOURLY)) == hours
    [daily] = rows_of(store, SPACE_DAILY)
    assert daily.ts == start and daily.ts.astimezone(OSLO).hour == 0


def test_night_base_load_on_the_spring_dst_day(store):
    """Sunday 29 March 2026: 00:00–05:00 local is 4 real hours (02:00 does not exist).
    A steady 10 kW register (+2.5 kWh per 15 min) gives 230 kWh for the 23-hour day,
    and a night base load of 10 kW: 40 kWh over 4 h, not over 5."""
    start, end = local_midnight(LAB, date(2026, 3, 29)), local_midnight(LAB, date(2026, 3, 30))
    batch = ReadingBatch()
    moment, register = start, 500.0
    while moment <= end:
        add(batch, moment, "lab-el", "energy", register)
        moment, register = moment + timedelta(minutes=15), register + 2.5
    store.write(batch)
    backfill(store, LAB, date(2026, 3, 29), date(2026, 3, 29), now=end + timedelta(days=1))
    [row] = rows_of(store, BUILDING_DAILY)
    assert row.fields["electricity_kwh"] == 230.0
    assert row.fields["night_base_kw"] == 10.0
    assert "heat_kwh" not in row.fields and "total_kwh_per_m2" not in row.fields


# -- scheduling ------------------------------------------------------------------------------


def test_ticks_are_wall_clock_multiples():
    quarter = timedelta(minutes=15)
    assert next_tick(utc(2026, 3, 27, 10, 7, 30), quarter) == utc(2026, 3, 27, 10, 15)
    assert next_tick(utc(2026, 3, 27, 10, 15), quarter) == utc(2026, 3, 27, 10, 30)
    assert next_tick(utc(2026, 3, 27, 23, 59), timedelta(days=1)) == utc(2026, 3, 28)


def test_the_scheduler_survives_a_failing_run(tmp_path, caplog):
    """The first run's read fails; it is logged, and the next tick computes the rollups."""
    store = FailsOnceStore(tmp_path / "campus.duckdb")
    now = datetime.now(UTC)
    batch = ReadingBatch()
    every(batch, "room-40", "temperature", now - timedelta(hours=2), now, 21.0)
    store.write(batch)
    stop, outcomes = threading.Event(), []

    def on_run(report, error) -> None:
        outcomes.append((report, error))
        if len(outcomes) == 2:
            stop.set()

    watchdog = threading.Timer(20, stop.set)
    watchdog.start()
    with caplog.at_level(logging.INFO, logger="campuslab.analytics"):
        run_forever(store, LAB, timedelta(milliseconds=200), stop, on_run=on_run)
    watchdog.cancel()
    (no_report, error), (report, no_error) = outcomes
    assert no_report is None and isinstance(error, ConnectionError)
    assert no_error is None and report.rows[SPACE_HOURLY] >= 2
    assert len(rows_of(store, SPACE_HOURLY)) == report.rows[SPACE_HOURLY]
    assert "failed" in caplog.text and "store went away" in caplog.text
    assert "space_hourly" in caplog.records[-1].getMessage()
    store.close()


def test_compute_rollups_before_any_data_is_empty(store):
    rollups = compute_rollups(store, LAB, date(2026, 3, 27), date(2026, 3, 27), utc(2026, 4, 1))
    assert rollups.by_measurement() == {m: [] for m in MEASUREMENTS}


def test_renaming_a_space_keeps_its_old_rollups_and_starts_new_ones(store):
    """A registry that renames room-40 to ROOM-40: no migration, nothing of room-40 lost."""
    batch = ReadingBatch()
    every(batch, "room-40", "occupancy", local(2026, 11, 26, 8), local(2026, 11, 26, 16), 20.0)
    store.write(batch)
    day, until = date(2026, 11, 26), local(2026, 11, 27, 0)
    write_rollups(store, compute_rollups(store, LAB, day, day, until))
    (old,) = rows_of(store, SPACE_DAILY, space="room-40")
    assert old.fields["in_use_hours"] == 8.0

    renamed = parse_campus(LAB_YAML.replace("room-40", "ROOM-40"))
    write_rollups(store, compute_rollups(store, renamed, day, day, until))
    assert rows_of(store, SPACE_DAILY, space="room-40") == [old]
    assert rows_of(store, SPACE_DAILY, space="ROOM-40") == []  # its readings stayed under room-40
    assert len(rows_of(store, SPACE_HOURLY, space="room-40")) == 8
