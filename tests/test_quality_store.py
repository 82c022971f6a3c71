"""Data-quality checks through the store port, against the real embedded store (DuckDB).

A week of one-minute readings from the campus simulator with its faults switched on
(stuck, dropout, spike, reset) goes into a DuckDB file, as ingest writes it.
``run_quality`` must flag what was injected, the KPIs must leave the flagged readings
out and say how many, and a rerun must replace the flags, never double them.
What was injected is known by running the simulator again with one fault at a time:
each fault draws from its own random stream, so the differences from a clean run are
exactly that fault (simulators/faults.py).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from campuslab.analytics.kpis import (
    building_daily_energy,
    hour_grid,
    read_hourly_screened,
    space_daily_kpis,
    space_utilisation,
)
from campuslab.analytics.quality import QualitySettings, occupied_at, quality_report
from campuslab.analytics.quality_kpis import (
    QualityFlagsUnsupported,
    check_quality,
    run_quality,
)
from campuslab.analytics.rollups import SPACE_DAILY, SPACE_HOURLY, local_midnight
from campuslab.analytics.scheduler import backfill, run_once
from campuslab.cli.analytics_command import STORE_FILE, analytics_app
from campuslab.core.readings import ReadingBatch, to_epoch_us
from campuslab.core.registry import parse_campus
from campuslab.core.store.duckdb import DuckDBStore
from campuslab.core.store.port import Aggregate
from campuslab.simulators.campus import CampusSimulator, SimulationConfig

OSLO = ZoneInfo("Europe/Oslo")
FAR_PAST, FAR_FUTURE = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
QUANTITIES = ("occupancy", "co2", "temperature", "humidity", "energy", "heat_energy")
CAMPUS_YAML = """
site: {id: testsite, name: Test campus, timezone: Europe/Oslo}
buildings:
  - id: lab
    name: Lab building
    heated_area_m2: 5000
    meters:
      - {id: lab-el, quantity: energy}
      - {id: lab-heat, quantity: heat_energy}
    spaces:
      - {id: study-60, name: Study hall, floor: 1, type: study_space, capacity: 60, area_m2: 150}
      - {id: hall-120, name: Auditorium, floor: 1, type: lecture_hall, capacity: 120, area_m2: 140}
      - {id: room-30, name: Seminar 30, floor: 2, type: seminar_room, capacity: 30, area_m2: 60}
      - {id: lab-20, name: Teaching lab, floor: 2, type: lab, capacity: 20, area_m2: 80}
      - {id: meet-10, name: Meeting 10, floor: 2, type: meeting_room, capacity: 10, area_m2: 25}
      - {id: office-2, name: Office, floor: 3, type: office, capacity: 2, area_m2: 18}
"""
CAMPUS = parse_campus(CAMPUS_YAML)
SEED = 0
FAULTS = frozenset({"stuck", "dropout", "spike", "reset"})
START = datetime(2026, 3, 2, tzinfo=OSLO).astimezone(UTC)  # Monday, local midnight
END = START + timedelta(days=7)
MINUTE_US = 60_000_000

Arrays = dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]


def simulate(faults: frozenset[str]) -> tuple[CampusSimulator, list[ReadingBatch]]:
    simulator = CampusSimulator(CAMPUS, SimulationConfig(seed=SEED, faults=faults))
    return simulator, list(simulator.batches(START, END, per=timedelta(days=1)))


def as_arrays(batches: list[ReadingBatch]) -> Arrays:
    """(sensor, quantity) -> (epoch µs, values), in time order."""
    parts: dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
    for batch in batches:
        ts, values = np.array(batch.ts_us), np.array(batch.value)
        keys = np.char.add(np.array(batch.sensor), np.char.add("/", np.array(batch.quantity)))
        for key in np.unique(keys):
            mine = keys == key
            sensor, quantity = str(key).split("/")
            parts[(sensor, quantity)].append((ts[mine], values[mine]))
    return {
        key: (np.concatenate([p[0] for p in chunks]), np.concatenate([p[1] for p in chunks]))
        for key, chunks in parts.items()
    }


class Week:
    """The faulty week in a real store, and what each fault changed."""

    def __init__(self, store: DuckDBStore) -> None:
        self.store = store
        _, faulty = simulate(FAULTS)
        for batch in faulty:
            store.write(batch)
        self.clean = as_arrays(simulate(frozenset())[1])
        self.spiked = as_arrays(simulate(frozenset({"spike"}))[1])
        self.stuck = as_arrays(simulate(frozenset({"stuck"}))[1])
        self.report = run_quality(store, CAMPUS, START, END)

    def stored(self, sensor: str, quantity: str) -> tuple[np.ndarray, np.ndarray]:
        series = self.store.read_series(sensor, quantity, FAR_PAST, FAR_FUTURE)
        return series.ts.astype("datetime64[us]").astype(np.int64), series.values

    def flags(self) -> dict[tuple[str, str], dict[int, set[str]]]:
        found: dict[tuple[str, str], dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
        for quantity in QUANTITIES:
            for flag in self.store.read_quality_flags(quantity, FAR_PAST, FAR_FUTURE):
                found[(flag.sensor, flag.quantity)][to_epoch_us(flag.ts)].add(flag.check)
        return found


@pytest.fixture(scope="module")
def week(tmp_path_factory) -> Week:
    store = DuckDBStore(tmp_path_factory.mktemp("quality") / "campus.duckdb")
    yield Week(store)
    store.close()


class WithoutFlags:
    """The same store seen by a backend that keeps no quality flags: the unflagged KPIs."""

    def __init__(self, store: DuckDBStore) -> None:
        self._store = store

    def read_resampled(self, *args, **kwargs):
        return self._store.read_resampled(*args, **kwargs)

    def read_series(self, *args, **kwargs):
        return self._store.read_series(*args, **kwargs)

    def write_rollups(self, *args, **kwargs):
        return self._store.write_rollups(*args, **kwargs)

    def delete_readings_before(self, *args, **kwargs):
        return self._store.delete_readings_before(*args, **kwargs)


# -- what run_quality flags ----------------------------------------------------------------


def test_every_injected_spike_is_flagged(week):
    """Spikes (simulators/faults.py): CO₂ 3500–4990 ppm, temperature ±12–18 K, RH 0–3 or
    97–100 %, a headcount of 3 × capacity. Every one still in the store (not hidden by a
    stuck or dropout window) is flagged: by the spike check (steps over 1000 ppm,
    5 °C, 10 %RH within 5 minutes) or range, and headcounts by over_capacity
    (3 × capacity > 1.5 × capacity)."""
    flags = week.flags()
    checked = 0
    for (sensor, quantity), (ts, spiked) in week.spiked.items():
        _, clean = week.clean[(sensor, quantity)]
        stored_ts, stored = week.stored(sensor, quantity)
        value_at = dict(zip(stored_ts.tolist(), stored.tolist(), strict=True))
        changed = spiked != clean
        for moment, value in zip(ts[changed].tolist(), spiked[changed].tolist(), strict=True):
            if value_at.get(moment) != value:
                continue  # dropped out, or held by a stuck window
            checks = flags[(sensor, quantity)].get(moment, set())
            expected = {"over_capacity"} if quantity == "occupancy" else {"spike", "range"}
            assert checks & expected, (sensor, quantity, np.datetime64(moment, "us"), value)
            checked += 1
    assert checked >= 20  # 24 space series, about one spike a week each


def test_register_resets_are_flagged_as_decreases(week):
    """``reset``: once a week a register drops to 0 and counts on. Every decrease of a
    stored register is flagged register_decrease, and nothing else is."""
    flags = week.flags()
    decreases = 0
    for meter, quantity in (("lab-el", "energy"), ("lab-heat", "heat_energy")):
        ts, values = week.stored(meter, quantity)
        down = ts[1:][np.diff(values) < 0]
        flagged = {
            t for t, checks in flags[(meter, quantity)].items() if "register_decrease" in checks
        }
        assert flagged == set(down.tolist())
        decreases += down.size
    assert decreases >= 1
    assert week.report.flagged_by_check["register_decrease"] == decreases


def test_dropouts_show_as_gaps_with_exactly_the_missing_readings(week):
    """``dropout``: devices send nothing for 30 minutes to 6 hours. Per series, the
    report's gaps add up to exactly the one-minute readings the clean run has and the
    store lacks; gaps are not points, so no reading is flagged for them."""
    missing_by_series: dict[tuple[str, str], int] = defaultdict(int)
    for gap in week.report.gaps:
        missing_by_series[(gap.sensor, gap.quantity)] += gap.missing
    start_us, end_us = to_epoch_us(START), to_epoch_us(END)
    dropped = 0
    for (sensor, quantity), (ts, _) in week.clean.items():
        if CAMPUS.space(sensor) is None and CAMPUS.meter(sensor) is None:
            continue
        expected = ts[(ts >= start_us) & (ts < end_us)]
        stored_ts, _ = week.stored(sensor, quantity)
        lost = np.setdiff1d(expected, stored_ts).size
        assert missing_by_series.get((sensor, quantity), 0) == lost, (sensor, quantity)
        dropped += lost
    assert dropped >= 7 * 30  # at least one device a day, for at least 30 minutes
    assert week.report.missing_points == dropped
    assert sum(day.missing_points for day in week.report.days) == dropped


def test_stuck_flags_fall_in_injected_stuck_windows(week):
    """``stuck``: a series repeats its last value for 2–8 hours. The stuck check flags
    readings only inside those windows (the held value, or the real reading it was
    taken from), and it finds some: those of windows in which people were present."""
    flags = week.flags()
    stuck_flags = 0
    for (sensor, quantity), marks in flags.items():
        stuck_at = np.array(sorted(t for t, c in marks.items() if "stuck" in c), dtype=np.int64)
        if stuck_at.size == 0:
            continue
        ts, held = week.stuck[(sensor, quantity)]
        _, clean = week.clean[(sensor, quantity)]
        injected = held != clean
        injected[:-1] |= injected[1:]  # the reading whose value is held
        inside = np.isin(stuck_at, ts[injected])
        # a held value can equal the clean one by chance; it is still inside a window
        window_ts = ts[injected]
        near = np.array([np.abs(window_ts - t).min() <= MINUTE_US for t in stuck_at])
        assert (inside | near).all(), (sensor, quantity)
        stuck_flags += stuck_at.size
    assert stuck_flags >= 60
    assert week.report.flagged_by_check["stuck"] == stuck_flags


def test_the_clean_week_has_no_flags_at_all():
    """False alarms (Pecos' FAR): the same week without faults passes every check."""
    clean = as_arrays(simulate(frozenset())[1])
    settings = QualitySettings()
    for (sensor, quantity), (us, values) in clean.items():
        space = CAMPUS.space(sensor)
        ts = us.astype("datetime64[us]")
        occupied = None
        if space is not None and quantity != "occupancy":
            occ_us, occ = clean[(sensor, "occupancy")]
            occupied = occupied_at(ts, occ_us.astype("datetime64[us]"), occ)
        elif quantity in settings.stuck_epsilons:  # the electricity register
            occupied = np.zeros(ts.size, dtype=bool)
            for _, other in CAMPUS.spaces():
                occ_us, occ = clean[(other.id, "occupancy")]
                occupied |= occupied_at(ts, occ_us.astype("datetime64[us]"), occ)
        report = quality_report(
            ts,
            values,
            quantity,
            OSLO,
            capacity=space.capacity if space else None,
            occupied=occupied,
        )
        assert not report.flagged.any(), (sensor, quantity, report.checks)


def test_rerun_replaces_the_flags_and_never_doubles_them(week):
    before = week.flags()
    rows_before = sum(
        len(week.store.read_quality_flags(q, FAR_PAST, FAR_FUTURE)) for q in QUANTITIES
    )
    again = run_quality(week.store, CAMPUS, START, END)
    assert week.flags() == before
    rows_after = sum(
        len(week.store.read_quality_flags(q, FAR_PAST, FAR_FUTURE)) for q in QUANTITIES
    )
    assert rows_after == rows_before == again.flags_written == week.report.flags_written
    assert again.flagged_by_check == week.report.flagged_by_check


def test_checking_day_by_day_gives_the_same_flags_as_the_whole_week(week):
    """Flags depend on the data, not on how runs are cut: each day's run reads context
    before and after its window (spikes, stuck windows, the overnight counter)."""
    _, whole = check_quality(week.store, CAMPUS, START, END)
    pieces = []
    for day in range(7):
        lo = START + timedelta(days=day)
        pieces += check_quality(week.store, CAMPUS, lo, lo + timedelta(days=1))[1]
    assert sorted(pieces, key=repr) == sorted(whole, key=repr)
    _, chunked = check_quality(week.store, CAMPUS, START, END, chunk_days=2, workers=1)
    assert sorted(chunked, key=repr) == sorted(whole, key=repr)


# -- the KPIs leave flagged readings out -----------------------------------------------------


def _over_capacity_in_core_hours(week) -> tuple[str, date]:
    for (sensor, quantity), marks in sorted(week.flags().items()):
        if quantity != "occupancy":
            continue
        for moment in sorted(t for t, c in marks.items() if "over_capacity" in c):
            local = datetime.fromtimestamp(moment / 1e6, OSLO)
            if local.weekday() < 5 and 8 <= local.hour < 16:
                return sensor, local.date()
    raise AssertionError("the week has no headcount spike in core hours")


def test_utilisation_leaves_the_flagged_headcount_out_and_says_so(week):
    """A headcount of 3 × capacity in a core hour: with it, that hour's mean count is
    too high. Left out, the day has fewer used seat-hours, and points_excluded says how
    many readings went."""
    space_id, day = _over_capacity_in_core_hours(week)
    start, end = local_midnight(CAMPUS, day), local_midnight(CAMPUS, day + timedelta(days=1))
    screened = space_utilisation(week.store, CAMPUS, space_id, start, end)
    unflagged = space_utilisation(WithoutFlags(week.store), CAMPUS, space_id, start, end)
    assert screened.points_excluded >= 1 and unflagged.points_excluded == 0
    assert screened.used_seat_hours < unflagged.used_seat_hours
    assert screened.peak_occupancy <= unflagged.peak_occupancy
    assert screened.available_hours == unflagged.available_hours
    [kpis] = space_daily_kpis(week.store, CAMPUS, space_id, start, end)
    assert kpis.utilisation == screened


def test_co2_hours_leave_the_flagged_spikes_out(week):
    """Every CO₂ spike is upwards (3500–4990 ppm), so leaving it out lowers the hourly
    mean it was in; the day's KPIs count the CO₂ readings they left out of occupied hours."""
    flags = week.flags()
    first, last_end, grid = hour_grid(START, END)
    space_ids = [space.id for _, space in CAMPUS.spaces()]
    screened = read_hourly_screened(week.store, "co2", grid, space_ids, [Aggregate.MEAN])
    raw = week.store.read_resampled("co2", first, last_end, timedelta(hours=1), sensors=space_ids)
    compared = occupied_days = 0
    for row, space_id in enumerate(space_ids):
        stored_ts, stored = week.stored(space_id, "co2")
        value_at = dict(zip(stored_ts.tolist(), stored.tolist(), strict=True))
        spikes = [
            t
            for t, c in flags[(space_id, "co2")].items()
            if c & {"spike", "range"} and value_at[t] >= 3500  # injected: 3500–4990 ppm
        ]
        for moment in spikes:
            hour = (moment - to_epoch_us(START)) // 3_600_000_000
            assert screened.excluded[row, hour] >= 1
            unscreened = raw[space_id].values[
                raw[space_id].ts
                == np.datetime64(START.replace(tzinfo=None), "us") + np.timedelta64(int(hour), "h")
            ]
            assert screened.values[Aggregate.MEAN][row, hour] < unscreened[0]
            compared += 1
            day = datetime.fromtimestamp(moment / 1e6, OSLO).date()
            lo = local_midnight(CAMPUS, day)
            [kpis] = space_daily_kpis(week.store, CAMPUS, space_id, lo, lo + timedelta(days=1))
            [plain] = space_daily_kpis(
                WithoutFlags(week.store), CAMPUS, space_id, lo, lo + timedelta(days=1)
            )
            assert plain.co2_points_excluded == 0
            if kpis.co2_points_excluded:
                occupied_days += 1
                assert kpis.co2.hours_above_fhi_limit <= plain.co2.hours_above_fhi_limit
    assert compared >= 3
    assert occupied_days >= 1


def test_energy_keeps_a_flagged_decrease_as_a_reset(week):
    """A register decrease is flagged, but energy still reads it as a reset (METRICS.md;
    Home Assistant total_increasing): the resets and the week's kWh are the same with
    and without the flags. Other flags on a register (a stuck electricity register)
    leave readings out, which changes no total: consumption telescopes."""
    screened = building_daily_energy(week.store, CAMPUS, "lab", START, END)
    plain = building_daily_energy(WithoutFlags(week.store), CAMPUS, "lab", START, END)
    assert sum(d.electricity_resets + d.heat_resets for d in screened) >= 1
    assert [d.electricity_resets for d in screened] == [d.electricity_resets for d in plain]
    assert [d.heat_resets for d in screened] == [d.heat_resets for d in plain]
    for kind in ("electricity_kwh", "heat_kwh"):
        assert sum(getattr(d, kind) for d in screened) == pytest.approx(
            sum(getattr(d, kind) for d in plain), rel=1e-9
        )
    stuck_on_registers = sum(
        1
        for (sensor, _), marks in week.flags().items()
        if CAMPUS.meter(sensor) is not None
        for checks in marks.values()
        if checks and "register_decrease" not in checks
    )
    assert sum(d.points_excluded for d in screened) == stuck_on_registers
    assert all(d.points_excluded == 0 for d in plain)


def test_the_scheduler_checks_quality_before_the_rollups(week):
    """run_once at Friday noon checks yesterday and today, then writes rollups that
    leave the flagged readings out; the space_daily rows carry the counts."""
    now = datetime(2026, 3, 6, 12, tzinfo=OSLO)
    report = run_once(week.store, CAMPUS, now)
    assert report.quality is not None
    assert report.quality.start == local_midnight(CAMPUS, date(2026, 3, 5))
    assert report.quality.end == now.astimezone(UTC)
    assert "quality:" in report.summary() and "QCI" in report.summary()
    daily = week.store.read_rollups(SPACE_DAILY, FAR_PAST, FAR_FUTURE)
    hourly = week.store.read_rollups(SPACE_HOURLY, FAR_PAST, FAR_FUTURE)
    for row in daily:
        day = row.ts.astimezone(OSLO).date()
        lo = local_midnight(CAMPUS, day)
        hi = min(lo + timedelta(days=1), now)
        kpis = space_utilisation(week.store, CAMPUS, row.tags["space"], lo, hi)
        assert row.fields.get("occupancy_points_excluded", 0.0) == kpis.points_excluded
    excluded = sum(row.fields.get("co2_points_excluded", 0) for row in hourly)
    excluded += sum(row.fields.get("occupancy_points_excluded", 0) for row in hourly)
    assert excluded >= 1
    # the week again, day by day: the same flags as the one-shot run
    flags = week.flags()
    backfilled = backfill(week.store, CAMPUS, date(2026, 3, 2), date(2026, 3, 8), END)
    assert backfilled.quality is not None
    assert week.flags() == flags


# -- by hand -----------------------------------------------------------------------------------


LAB_YAML = """
site: {id: testsite, name: Test campus, timezone: Europe/Oslo}
buildings:
  - id: lab
    name: Lab building
    heated_area_m2: 5000
    meters:
      - {id: lab-el, quantity: energy}
    spaces:
      - {id: room-40, name: Seminar 40, floor: 1, type: seminar_room, capacity: 40, area_m2: 80}
"""
LAB = parse_campus(LAB_YAML)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=OSLO)


def every(batch, sensor, quantity, start, end, values, step=timedelta(minutes=15)):
    moment, i = start.astimezone(UTC), 0
    while moment < end:
        value = values(i) if callable(values) else values
        batch.append(to_epoch_us(moment), "lab", sensor, quantity, float(value))
        moment += step
        i += 1


@pytest.fixture
def friday(tmp_path):
    """Friday 27 March 2026: room-40 (40 seats) has 20 people 08:00–12:00 local, read
    every 15 minutes, except one reading of 200 at 09:15 (a counter glitch, 5 ×
    capacity); nobody otherwise. CO₂ climbs 10 ppm a reading from 600 while they are
    in, 600 otherwise, with one reading of 4800 ppm at 10:30. The electricity register
    is read hourly, +10 kWh an hour, and replaced after 12:00 (reads 5 at 13:00)."""
    store = DuckDBStore(tmp_path / "campus.duckdb")
    batch = ReadingBatch()
    day = (2026, 3, 27)
    every(batch, "room-40", "occupancy", local(*day, 0), local(*day, 8), 0)
    every(
        batch,
        "room-40",
        "occupancy",
        local(*day, 8),
        local(*day, 12),
        lambda i: 200 if i == 5 else 20,
    )
    every(batch, "room-40", "occupancy", local(*day, 12), local(2026, 3, 28), 0)
    every(batch, "room-40", "co2", local(*day, 0), local(*day, 8), 600)
    every(
        batch,
        "room-40",
        "co2",
        local(*day, 8),
        local(*day, 12),
        lambda i: 4800 if i == 10 else 600 + 10 * i,
    )
    every(batch, "room-40", "co2", local(*day, 12), local(2026, 3, 28), 600)
    every(
        batch,
        "lab-el",
        "energy",
        local(2026, 3, 26, 23),
        local(2026, 3, 28, 1),
        lambda i: 1000 + 10 * i if i <= 13 else 5 + 10 * (i - 14),
        step=timedelta(hours=1),
    )
    store.write(batch)
    yield store
    store.close()


def test_by_hand_flags_and_what_the_kpis_leave_out(friday):
    """The glitch (200 > 1.5 × 40) is over capacity; the 4800 ppm reading is a spike
    (a 4670 ppm step in 15 minutes, bound 3000); the register replacement is a decrease.

    Utilisation: hours 08–11 had 20 people, so U = 80 / (40 × 8) = 0.25 with the glitch
    left out (with it, hour 09 would average (20 + 200 + 20 + 20) / 4 = 65 and U = 0.39).
    CO₂ 10:00–11:00 local: (680 + 690 + 710) / 3 = 693.3 ppm without the 4800.
    Energy: 00:00–12:00 is 12 h × 10 kWh, 12:00–13:00 is the reset (0 kWh), then
    5 → 115 by midnight (11 h × 10 kWh): 230 kWh, one reset, nothing left out."""
    report = run_quality(friday, LAB, local(2026, 3, 27), local(2026, 3, 28))
    assert report.flagged_by_check["over_capacity"] == 1
    assert report.flagged_by_check["spike"] == 1
    assert report.flagged_by_check["register_decrease"] == 1
    assert report.flagged_points == 3 and report.series == 5
    [glitch] = friday.read_quality_flags("occupancy", FAR_PAST, FAR_FUTURE)
    assert glitch.ts == local(2026, 3, 27, 9, 15) and glitch.check == "over_capacity"

    use = space_utilisation(friday, LAB, "room-40", local(2026, 3, 27), local(2026, 3, 28))
    assert (use.utilisation, use.used_seat_hours, use.points_excluded) == (0.25, 80.0, 1)
    plain = space_utilisation(
        WithoutFlags(friday), LAB, "room-40", local(2026, 3, 27), local(2026, 3, 28)
    )
    assert plain.used_seat_hours == 125.0 and plain.points_excluded == 0

    [day] = space_daily_kpis(friday, LAB, "room-40", local(2026, 3, 27), local(2026, 3, 28))
    assert day.co2_points_excluded == 1 and day.utilisation.points_excluded == 1
    _, _, grid = hour_grid(
        local(2026, 3, 27, 10).astimezone(UTC), local(2026, 3, 27, 11).astimezone(UTC)
    )
    co2 = read_hourly_screened(friday, "co2", grid, ["room-40"], [Aggregate.MEAN, Aggregate.MAX])
    assert co2.values[Aggregate.MEAN][0, 0] == pytest.approx((680 + 690 + 710) / 3)
    assert co2.values[Aggregate.MAX][0, 0] == 710.0 and co2.excluded[0, 0] == 1

    [energy] = building_daily_energy(friday, LAB, "lab", local(2026, 3, 27), local(2026, 3, 28))
    assert (energy.electricity_kwh, energy.electricity_resets) == (230.0, 1)
    assert energy.points_excluded == 0


def test_by_hand_rollups_carry_the_counts(friday):
    backfill(friday, LAB, date(2026, 3, 27), date(2026, 3, 27), now=local(2026, 3, 30))
    [daily] = friday.read_rollups(SPACE_DAILY, FAR_PAST, FAR_FUTURE)
    assert daily.fields["utilisation"] == 0.25
    assert daily.fields["occupancy_points_excluded"] == 1.0
    assert daily.fields["co2_points_excluded"] == 1.0
    hours = {row.ts: row.fields for row in friday.read_rollups(SPACE_HOURLY, FAR_PAST, FAR_FUTURE)}
    nine = hours[local(2026, 3, 27, 9).astimezone(UTC)]
    assert (nine["occupancy_mean"], nine["occupancy_max"]) == (20.0, 20.0)
    assert nine["occupancy_points_excluded"] == 1.0 and "co2_points_excluded" not in nine
    assert hours[local(2026, 3, 27, 10).astimezone(UTC)]["co2_max"] == 710.0
    eight = hours[local(2026, 3, 27, 8).astimezone(UTC)]
    assert not any(name.endswith("_points_excluded") for name in eight)


def test_an_hour_whose_readings_are_all_flagged_has_no_data(tmp_path):
    """Every reading of 09:00–10:00 flagged: that core hour is not an empty room but an
    hour without data (SMG 2006: H holds observed hours only)."""
    store = DuckDBStore(tmp_path / "campus.duckdb")
    batch = ReadingBatch()
    every(batch, "room-40", "occupancy", local(2026, 3, 27, 8), local(2026, 3, 27, 9), 20)
    every(batch, "room-40", "occupancy", local(2026, 3, 27, 9), local(2026, 3, 27, 10), 90)
    every(batch, "room-40", "occupancy", local(2026, 3, 27, 10), local(2026, 3, 27, 11), 20)
    store.write(batch)
    run_quality(store, LAB, local(2026, 3, 27), local(2026, 3, 28))
    use = space_utilisation(store, LAB, "room-40", local(2026, 3, 27, 8), local(2026, 3, 27, 11))
    assert (use.available_hours, use.hours_without_data, use.points_excluded) == (2, 1, 4)
    assert use.utilisation == 0.5
    store.close()


def test_a_store_without_quality_flags(tmp_path, caplog):
    """A backend that keeps no flags yet: the KPIs are computed with nothing left out,
    run_quality refuses with a clear error, and the scheduler runs without the checks."""
    store = DuckDBStore(tmp_path / "campus.duckdb")
    batch = ReadingBatch()
    every(batch, "room-40", "occupancy", local(2026, 3, 27, 8), local(2026, 3, 27, 12), 20)
    store.write(batch)
    plain = WithoutFlags(store)
    use = space_utilisation(plain, LAB, "room-40", local(2026, 3, 27), local(2026, 3, 28))
    assert (use.utilisation, use.points_excluded) == (0.5, 0)
    with pytest.raises(QualityFlagsUnsupported, match="does not store data-quality flags"):
        run_quality(plain, LAB, local(2026, 3, 27), local(2026, 3, 28))
    with caplog.at_level(logging.WARNING, logger="campuslab.analytics"):
        report = run_once(plain, LAB, local(2026, 3, 27, 13))
    assert report.quality is None and report.rows[SPACE_DAILY] == 1
    assert "keeps no data-quality flags" in caplog.text
    store.close()


def test_the_quality_command(tmp_path):
    """``campuslab analytics quality`` checks yesterday and today by default, writes the
    flags and lists the worst sensor-days."""
    app = typer.Typer()
    app.add_typer(analytics_app, name="analytics")
    registry = tmp_path / "campus.yaml"
    registry.write_text(LAB_YAML)
    store = DuckDBStore(tmp_path / STORE_FILE)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    batch = ReadingBatch()
    every(
        batch,
        "room-40",
        "co2",
        now - timedelta(hours=2),
        now,
        lambda i: 6000 if i == 20 else 600 + i,
        step=timedelta(minutes=1),
    )
    store.write(batch)
    store.close()
    args = ["analytics", "quality", "--registry", str(registry), "--data-dir", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "120 readings, 1 flagged (QCI 0.9917; range 1, spike 1)" in result.output
    assert "worst sensor-days" in result.output and "room-40" in result.output
    store = DuckDBStore(tmp_path / STORE_FILE)
    [flag] = [
        f for f in store.read_quality_flags("co2", FAR_PAST, FAR_FUTURE) if f.check == "range"
    ]
    assert flag.ts == now - timedelta(hours=2) + timedelta(minutes=20)
    store.close()
    off = CliRunner().invoke(
        app,
        [
            "analytics",
            "run",
            "--no-quality",
            "--registry",
            str(registry),
            "--data-dir",
            str(tmp_path),
        ],
    )
    assert off.exit_code == 0, off.output
    assert "quality:" not in off.output
