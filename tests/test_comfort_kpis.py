"""space_ieq end to end: the campus simulator into a real DuckDB store, read back as IEQ shares."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import yaml

from campuslab.analytics.climate_kpis import space_ieq
from campuslab.analytics.comfort import pmv_category_hours, pmv_ppd
from campuslab.analytics.ieq import co2_category_hours, operative_temperature_category_hours
from campuslab.analytics.kpis import NotInRegistry
from campuslab.core.registry import Campus, load_campus, parse_campus, sample_campus_path
from campuslab.core.store.duckdb import DuckDBStore
from campuslab.core.store.port import Aggregate
from campuslab.simulators.campus import CampusSimulator, SimulationConfig

OSLO = ZoneInfo("Europe/Oslo")
SUMMER = datetime(2026, 7, 6, tzinfo=OSLO)  # a Monday in July: cooling season, θrm > 10 °C
WINTER = datetime(2026, 1, 12, tzinfo=OSLO)  # a Monday in January: heating season
WEEK = timedelta(days=7)
RUN_IN = timedelta(days=9)  # the adaptive model's running mean needs the 7 days before


@pytest.fixture(scope="module")
def campus() -> Campus:
    return load_campus(sample_campus_path())


@pytest.fixture(scope="module")
def seeded(campus: Campus, tmp_path_factory: pytest.TempPathFactory):
    store = DuckDBStore(tmp_path_factory.mktemp("ieq") / "campus.duckdb")
    sim = CampusSimulator(campus, SimulationConfig(seed=3, interval=timedelta(minutes=15)))
    for start in (SUMMER, WINTER):
        for batch in sim.batches(start - RUN_IN, start + WEEK, per=timedelta(days=1)):
            store.write(batch)
    yield store, sim
    store.close()


def _hourly(store: DuckDBStore, quantity: str, sensor: str, start: datetime) -> np.ndarray:
    series = store.read_series(sensor, quantity, start, start + WEEK, every=timedelta(hours=1))
    assert len(series) == 7 * 24
    return series.values


def test_a_summer_week_of_a_lecture_hall(seeded, campus: Campus):
    store, _ = seeded
    r = space_ieq(store, campus, "rfb-101", SUMMER, SUMMER + WEEK)
    assert r.hours_in_period == 168 and r.hours_without_occupancy_data == 0
    assert 10 < r.occupied_hours < 120
    assert r.heating_season_occupied_hours == 0  # July is cooling season
    for figure in (r.co2, r.operative_temperature, r.relative_humidity, r.pmv.hours):
        shares = figure.category_shares
        assert sum(shares.values()) == pytest.approx(1.0)
    # the same figures, recomputed from the store's hourly means with the pure metrics
    occupancy = _hourly(store, "occupancy", "rfb-101", SUMMER)
    co2 = _hourly(store, "co2", "rfb-101", SUMMER)
    temperature = _hourly(store, "temperature", "rfb-101", SUMMER)
    humidity = _hourly(store, "humidity", "rfb-101", SUMMER)
    assert r.occupied_hours == int((occupancy > 0).sum())
    assert r.co2 == co2_category_hours(co2, occupancy, 420.0)
    assert r.operative_temperature == operative_temperature_category_hours(
        temperature, occupancy, False
    )
    votes = pmv_ppd(temperature, humidity, False)
    assert r.pmv.hours == pmv_category_hours(votes.pmv, votes.ppd, occupancy).hours
    # the adaptive model runs from the weather station's running mean
    assert r.adaptive is not None
    assert "elvebakken-weather" in r.adaptive_note
    assert r.adaptive.hours.occupied_hours > 0
    assert sum(r.adaptive.hours.category_hours.values()) == r.adaptive.hours.occupied_hours
    assert r.assumptions.met == 1.2 and r.assumptions.clo_cooling == 0.5
    assert r.points_excluded == {
        "occupancy": 0,
        "co2": 0,
        "temperature": 0,
        "humidity": 0,
        "outdoor_temperature": 0,
    }
    assert r.units["ppd"] == "%"


def test_a_winter_week_is_heating_season_and_outside_the_adaptive_models_range(
    seeded, campus: Campus
):
    store, _ = seeded
    r = space_ieq(store, campus, "rfb-101", WINTER, WINTER + WEEK)
    assert r.cooling_season_occupied_hours == 0
    assert r.heating_season_occupied_hours == r.occupied_hours > 0
    # a Norwegian January has a running mean far below 10 °C: the model gives no category
    assert r.adaptive is not None
    assert r.adaptive.hours.occupied_hours == 0
    assert r.adaptive.occupied_hours_outside_validity == r.occupied_hours
    assert r.hours_above_fhi_limit == r.co2.hours_above_fhi_limit


def test_without_a_weather_station_the_adaptive_model_says_what_it_needs(seeded, campus):
    store, sim = seeded
    document = yaml.safe_load(Path(sample_campus_path()).read_text(encoding="utf-8"))
    del document["site"]["weather_station"]
    bare = parse_campus(yaml.safe_dump(document))
    r = space_ieq(store, bare, "rfb-101", SUMMER, SUMMER + WEEK)
    assert r.adaptive is None
    assert "site.weather_station" in r.adaptive_note and "outdoor=" in r.adaptive_note
    # an explicit outdoor series stands in for the station, with the same result
    outdoor = sim.outdoor_temperatures(SUMMER - RUN_IN, SUMMER + WEEK, timedelta(minutes=15))
    given = space_ieq(store, bare, "rfb-101", SUMMER, SUMMER + WEEK, outdoor=outdoor)
    from_station = space_ieq(store, campus, "rfb-101", SUMMER, SUMMER + WEEK)
    assert given.adaptive is not None
    assert given.adaptive.hours.category_hours == from_station.adaptive.hours.category_hours


def test_the_weather_station_is_stored_under_its_building(seeded, campus):
    store, sim = seeded
    moment = SUMMER + timedelta(hours=13)
    series = store.read_series(
        "elvebakken-weather", "temperature", moment, moment + timedelta(minutes=1)
    )
    assert series.values.tolist() == [round(sim.outdoor_temperature(moment), 1)]
    latest = {(r.sensor, r.quantity): r.building for r in store.latest("humidity")}
    assert latest[("elvebakken-weather", "humidity")] == "rfb"
    hourly = store.read_resampled(
        "temperature",
        SUMMER,
        SUMMER + WEEK,
        timedelta(hours=1),
        Aggregate.MEAN,
        sensors=["elvebakken-weather"],
    )
    assert len(hourly["elvebakken-weather"]) == 168


def test_unknown_space_and_naive_period_are_refused(seeded, campus):
    store, _ = seeded
    with pytest.raises(NotInRegistry, match="unknown space 'nope'"):
        space_ieq(store, campus, "nope", SUMMER, SUMMER + WEEK)
    with pytest.raises(ValueError, match="timezone-aware"):
        space_ieq(store, campus, "rfb-101", datetime(2026, 7, 6), SUMMER + WEEK)
