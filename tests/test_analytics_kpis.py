"""The KPI layer against the real embedded store (DuckDB in a temporary file).

Readings are written the way ingest writes them, read back through the store
port, and the KPIs are checked against numbers worked out by hand from the
readings written. The campus is in Europe/Oslo, so local hours differ from UTC
and the DST weekend of 28–29 March 2026 is in play.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from campuslab.analytics.kpis import (
    NotInRegistry,
    building_daily_energy,
    campus_utilisation_today,
    space_daily_kpis,
    space_utilisation,
)
from campuslab.core.readings import ReadingBatch, to_epoch_us
from campuslab.core.registry import parse_campus
from campuslab.core.store.duckdb import DuckDBStore

OSLO = ZoneInfo("Europe/Oslo")
CAMPUS_YAML = """
site: {{id: testsite, name: Test campus, timezone: Europe/Oslo}}
analytics:
  core_hours: {{days: [mon, tue, wed, thu, fri], start: "08:00", end: "16:00"}}
  in_use_threshold: 1
  hourly_observation: {observation}
  outdoor_co2_ppm: 420
buildings:
  - id: lab
    name: Lab building
    heated_area_m2: 5000
    meters:
      - {{id: lab-el, quantity: energy}}
      - {{id: lab-heat, quantity: heat_energy}}
    spaces:
      - {{id: room-40, name: Seminar 40, floor: 1, type: seminar_room, capacity: 40, area_m2: 80}}
      - {{id: room-10, name: Meeting 10, floor: 1, type: meeting_room, capacity: 10, area_m2: 25}}
      - {{id: room-6, name: Office 6, floor: 2, type: office, capacity: 6, area_m2: 30}}
"""


def campus(observation: str = "mean"):
    return parse_campus(CAMPUS_YAML.format(observation=observation))


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=OSLO)


class CountingStore:
    """The real store, counting the read calls the KPI layer makes."""

    def __init__(self, store: DuckDBStore) -> None:
        self.store = store
        self.calls: list[str] = []

    def read_resampled(self, *args, **kwargs):
        self.calls.append("read_resampled")
        return self.store.read_resampled(*args, **kwargs)

    def read_series(self, *args, **kwargs):
        self.calls.append("read_series")
        return self.store.read_series(*args, **kwargs)


@pytest.fixture
def store(tmp_path):
    db = DuckDBStore(tmp_path / "campus.duckdb")
    yield db
    db.close()


def every_15_minutes(
    batch: ReadingBatch, sensor: str, quantity: str, start: datetime, end: datetime, value: float
) -> None:
    moment = start.astimezone(UTC)  # step in UTC: aware local arithmetic is wall-clock
    while moment < end:
        batch.append(to_epoch_us(moment), "lab", sensor, quantity, value)
        moment += timedelta(minutes=15)


@pytest.fixture
def friday(store):
    """Friday 27 March 2026 (CET, UTC+1), readings every 15 minutes.

    room-40: 0 people all day, except 20 people 08:00–12:00 local and 30 people
    at 18:00–19:00 (outside core hours). CO₂: 600 ppm, 1300 while 20 are in,
    1900 in the evening.
    room-10: a sensor offline until 10:00 local, then 5 people 10:00–11:00, 0 after.
    room-6: no readings at all.
    """
    batch = ReadingBatch()
    next_day = local(2026, 3, 28)

    def fill(sensor: str, quantity: str, from_hour: int, to_hour: int, value: float) -> None:
        until = local(2026, 3, 27, to_hour) if to_hour < 24 else next_day
        every_15_minutes(batch, sensor, quantity, local(2026, 3, 27, from_hour), until, value)

    for (from_hour, to_hour), people in (
        ((0, 8), 0),
        ((8, 12), 20),
        ((12, 18), 0),
        ((18, 19), 30),
        ((19, 24), 0),
    ):
        fill("room-40", "occupancy", from_hour, to_hour, people)
    for (from_hour, to_hour), ppm in (
        ((0, 8), 600),
        ((8, 12), 1300),
        ((12, 18), 600),
        ((18, 19), 1900),
        ((19, 24), 600),
    ):
        fill("room-40", "co2", from_hour, to_hour, ppm)
    fill("room-10", "occupancy", 10, 11, 5)
    fill("room-10", "occupancy", 11, 24, 0)
    assert store.write(batch).duplicates == 0
    return store


def test_space_utilisation_of_the_issue_example_from_the_store(friday):
    """room-40, 40 seats, 20 people in 4 of 8 core hours (08–16 local = 07–15 UTC):
    F = 0.5, O = 0.5, U = 0.25; the 30 people at 18:00 are outside core hours."""
    r = space_utilisation(friday, campus(), "room-40", local(2026, 3, 27), local(2026, 3, 28))
    assert (r.frequency_rate, r.occupancy_rate, r.utilisation) == (0.5, 0.5, 0.25)
    assert (r.available_hours, r.hours_without_data, r.used_seat_hours) == (8, 0, 80.0)
    assert r.peak_occupancy == 0.5


def test_offline_sensor_hours_are_not_empty_hours(friday):
    """room-10 had no readings 08–10 local: H is the 6 hours from 10 to 16, two without data.
    5 people for 1 hour: F = 1/6, O = 5/10, U = 5/(10·6)."""
    r = space_utilisation(friday, campus(), "room-10", local(2026, 3, 27), local(2026, 3, 28))
    assert (r.available_hours, r.hours_without_data, r.in_use_hours) == (6, 2, 1)
    assert r.utilisation == pytest.approx(5 / 60)
    assert r.occupancy_rate == 0.5


def test_hourly_peak_rule_reads_the_hour_maximum(store):
    """One core hour with readings 10, 20, 30, 20 in a 40-seat room: the mean rule sees 20
    people (O = 0.5), the peak rule 30 (O = 0.75). Monday 2 March 2026, 09:00 local."""
    batch = ReadingBatch()
    for minute, people in zip((0, 15, 30, 45), (10, 20, 30, 20), strict=True):
        batch.append(
            to_epoch_us(local(2026, 3, 2, 9, minute)), "lab", "room-40", "occupancy", people
        )
    store.write(batch)
    period = (local(2026, 3, 2, 9), local(2026, 3, 2, 10))
    mean = space_utilisation(store, campus("mean"), "room-40", *period)
    peak = space_utilisation(store, campus("peak"), "room-40", *period)
    assert (mean.occupancy_rate, peak.occupancy_rate) == (0.5, 0.75)


def test_space_daily_kpis_with_co2_of_occupied_hours(friday):
    """Friday and Saturday for room-40.

    Friday CO₂ (hourly mean) in occupied hours: 08–12 at 1300 ppm (Δ 880 → III, and
    above 1000: 4 hours) and 18–19 at 1900 (Δ 1480 → IV, above 1000: 1 hour). The
    other hours are empty and not counted, so 5 occupied hours.
    Saturday: no core hours (NaN rates), no readings.
    """
    days = space_daily_kpis(friday, campus(), "room-40", local(2026, 3, 27), local(2026, 3, 29))
    assert [d.date for d in days] == [date(2026, 3, 27), date(2026, 3, 28)]
    fri, sat = days
    assert fri.utilisation.utilisation == 0.25
    assert fri.co2.occupied_hours == 5
    assert fri.co2.category_hours == {"I": 0, "II": 0, "III": 4, "IV": 1}
    assert fri.co2.hours_above_fhi_limit == 5
    assert sat.utilisation.available_hours == 0 and math.isnan(sat.utilisation.utilisation)
    assert sat.co2.occupied_hours == 0


def test_campus_overview_reads_all_spaces_in_one_call(friday):
    """At 10:30 local the core hours so far are 08, 09 and 10 (the current hour counts
    with what it has). room-40: 20 people in all three → U = 0.5. room-10: offline at 08
    and 09, 5 people at 10 → H = 1, U = 0.5. room-6: no data → 3 hours without data."""
    counting = CountingStore(friday)
    today = campus_utilisation_today(counting, campus(), local(2026, 3, 27, 10, 30))
    assert counting.calls == ["read_resampled"]
    assert set(today) == {"room-40", "room-10", "room-6"}
    assert (today["room-40"].utilisation, today["room-40"].available_hours) == (0.5, 3)
    assert (today["room-10"].available_hours, today["room-10"].hours_without_data) == (1, 2)
    assert today["room-10"].utilisation == 0.5
    assert today["room-6"].available_hours == 0 and today["room-6"].hours_without_data == 3
    assert math.isnan(today["room-6"].utilisation)


def test_building_daily_energy_across_dst_with_a_reset(store):
    """Electricity register read every hour, +10 kWh per hour, Sat 28 – Sun 29 March 2026.

    Saturday has 24 local hours → 240 kWh. Sunday (spring DST) has 23 → 230, but the
    meter is replaced at 12:00 local Sunday: the reading drops to 5 and climbs 10/h
    again, so the interval across the replacement books 0 → 220 kWh and 1 reset.
    Heat is read only at Saturday's midnights, 5000 → 5300: 300 kWh on Saturday; on
    Sunday there is no heat data (NaN, lab-heat listed as without data).
    """
    batch = ReadingBatch()
    start, end = local(2026, 3, 28), local(2026, 3, 30)
    moment, value, replaced = start.astimezone(UTC), 1000.0, False
    while moment <= end:
        if not replaced and moment >= local(2026, 3, 29, 12):
            value, replaced = 5.0, True
        batch.append(to_epoch_us(moment), "lab", "lab-el", "energy", value)
        moment += timedelta(hours=1)  # UTC hours: the DST jump does not add a reading
        value += 10
    batch.append(to_epoch_us(start), "lab", "lab-heat", "heat_energy", 5000)
    batch.append(to_epoch_us(local(2026, 3, 29)), "lab", "lab-heat", "heat_energy", 5300)
    store.write(batch)
    days = building_daily_energy(store, campus(), "lab", start, end)
    assert [d.date for d in days] == [date(2026, 3, 28), date(2026, 3, 29)]
    sat, sun = days
    assert (sat.electricity_kwh, sat.heat_kwh, sat.electricity_resets) == (240.0, 300.0, 0)
    assert sat.meters_without_data == ()
    assert (sun.electricity_kwh, sun.electricity_resets) == (220.0, 1)
    assert math.isnan(sun.heat_kwh) and sun.meters_without_data == ("lab-heat",)


def test_unknown_ids_and_bad_periods_are_refused(store):
    with pytest.raises(NotInRegistry, match="unknown space 'nope'"):
        space_utilisation(store, campus(), "nope", local(2026, 3, 2), local(2026, 3, 3))
    with pytest.raises(NotInRegistry, match="unknown building 'nope'"):
        building_daily_energy(store, campus(), "nope", local(2026, 3, 2), local(2026, 3, 3))
    with pytest.raises(ValueError, match="start must be timezone-aware"):
        space_utilisation(store, campus(), "room-40", datetime(2026, 3, 2), local(2026, 3, 3))
    with pytest.raises(ValueError, match="must be after start"):
        space_utilisation(store, campus(), "room-40", local(2026, 3, 3), local(2026, 3, 2))
