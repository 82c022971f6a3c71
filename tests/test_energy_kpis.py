"""building_energy end to end: the campus simulator into a real DuckDB store, a winter month."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import yaml

from campuslab.analytics.emissions import load_emission_factors
from campuslab.analytics.energy_kpis import building_energy
from campuslab.analytics.kpis import NotInRegistry, building_daily_energy
from campuslab.core.registry import (
    Campus,
    EmissionSettings,
    load_campus,
    parse_campus,
    sample_campus_path,
)
from campuslab.core.store.duckdb import DuckDBStore
from campuslab.simulators.campus import CampusSimulator, SimulationConfig

OSLO = ZoneInfo("Europe/Oslo")
START = datetime(2026, 1, 5, tzinfo=OSLO)  # a Monday
END = START + timedelta(days=28)


@pytest.fixture(scope="module")
def campus() -> Campus:
    return load_campus(sample_campus_path())


@pytest.fixture(scope="module")
def seeded(campus: Campus, tmp_path_factory: pytest.TempPathFactory):
    store = DuckDBStore(tmp_path_factory.mktemp("energy") / "campus.duckdb")
    sim = CampusSimulator(campus, SimulationConfig(seed=1, interval=timedelta(minutes=15)))
    for batch in sim.batches(START - timedelta(days=1), END, per=timedelta(days=1)):
        store.write(batch)
    yield store, sim
    store.close()


@pytest.fixture(scope="module")
def january(seeded, campus):
    store, _ = seeded
    return building_energy(store, campus, "rfb", START, END)


def test_eui_is_annualised_and_plausible_for_a_norwegian_university_building(january):
    # order 100–300 kWh/m²/yr (SSB 2011: 238 for university buildings); annualised from
    # four winter weeks, which overstates the year
    assert january.eui is not None
    assert january.eui.annualised is True
    assert january.eui.days_covered == pytest.approx(28, abs=0.02)
    assert 100 < january.eui.kwh_per_m2_year < 300
    assert january.eui.delivered_kwh == pytest.approx(january.delivered_kwh)
    assert any("annualised" in note for note in january.notes)


def test_consumption_agrees_with_the_daily_kpis(seeded, campus, january):
    store, _ = seeded
    days = building_daily_energy(store, campus, "rfb", START, END)
    assert january.electricity_kwh == pytest.approx(sum(d.electricity_kwh for d in days))
    assert january.heat_kwh == pytest.approx(sum(d.heat_kwh for d in days))
    assert january.heat_kwh > january.electricity_kwh > 0  # district heat dominates in winter
    assert january.delivered_kwh == pytest.approx(january.electricity_kwh + january.heat_kwh)
    assert january.meters_without_data == () and january.register_resets == 0


def test_emissions_are_reported_both_ways(january):
    e = january.emissions
    assert e.location_based_kg > 0 and e.market_based_kg > e.location_based_kg
    # 2026 has no factor: 2023's location-based 15 g, 2020's residual mix 402 g, and the
    # district-heating placeholder of 50 g until the site sets its plant's factor
    expected_location = (january.electricity_kwh * 15 + january.heat_kwh * 50) / 1000
    expected_market = (january.electricity_kwh * 402 + january.heat_kwh * 50) / 1000
    assert e.location_based_kg == pytest.approx(expected_location)
    assert e.market_based_kg == pytest.approx(expected_market)
    assert any("used 2023's 15" in w for w in e.warnings)
    assert any("placeholder" in w for w in january.notes)


def test_intensity_per_use_and_load_shape(january):
    use = january.use_intensity
    assert use.occupant_hours > use.used_seat_hours > 0
    assert use.kwh_per_occupant_hour == pytest.approx(january.delivered_kwh / use.occupant_hours)
    shape = january.load_shape
    assert shape.complete_days == 28
    assert 0 < shape.near_base_kw < shape.near_peak_kw
    assert 0 < shape.base_to_peak_ratio < 1 and 0 < shape.night_day_ratio < 1
    assert 0 < shape.weekend_weekday_ratio < 1 and 0 < shape.out_of_hours_share < 1
    assert shape.total_kwh == pytest.approx(january.electricity_kwh)


def test_degree_days_come_from_the_weather_station(seeded, january):
    _, sim = seeded
    assert january.degree_days.days_used == 28 and january.degree_days.base_c == 17
    # by hand, from the simulator's weather model: Σ max(0, 17 − daily mean) over 28 days
    daily = []
    for i in range(28):
        day = START + timedelta(days=i)
        temps = sim.outdoor_temperatures(day, day + timedelta(days=1), timedelta(minutes=15))
        daily.append(np.round(temps.values, 1).mean())
    assert january.degree_days.total == pytest.approx(sum(max(0.0, 17 - t) for t in daily))
    model = january.degree_day_model
    assert model is not None and model.kwh_per_degree_day > 0
    assert january.days_left_out == ()  # the simulated registers read every 15 min


def test_the_registrys_normal_year_normalises_by_default(campus, january):
    # the sample campus sets analytics.hdd_normal: January's 600 K·day spread over its 31
    # days, February's 530 over 28; 5 Jan – 1 Feb is 27 January days and 1 February day
    normals = campus.analytics.hdd_normal
    assert normals is not None and normals.base_c == campus.analytics.degree_day_base_c == 17
    n = january.normalised
    assert n is not None
    assert n.hdd_normal == pytest.approx(600 / 31 * 27 + 530 / 28)
    assert n.hdd_actual == pytest.approx(january.degree_days.total)
    base = january.degree_day_model.intercept_kwh * 28
    assert n.base_kwh == pytest.approx(base)
    assert n.normalised_kwh == pytest.approx(
        base + (n.measured_kwh - base) * n.hdd_normal / n.hdd_actual
    )
    assert january.hdd_normal_source.startswith("registry analytics.hdd_normal (illustrative")


def test_without_a_normal_year_nothing_is_normalised(seeded, campus):
    store, _ = seeded
    bare = campus.model_copy(
        update={"analytics": campus.analytics.model_copy(update={"hdd_normal": None})}
    )
    energy = building_energy(store, bare, "rfb", START, END)
    assert energy.degree_day_model is not None
    assert energy.normalised is None and energy.hdd_normal_source is None
    assert any("analytics.hdd_normal" in note for note in energy.notes)


def test_normalisation_with_a_normal_year(seeded, campus, january):
    store, _ = seeded
    hdd = january.degree_days.total
    warmer = building_energy(store, campus, "rfb", START, END, hdd_normal=hdd * 0.9)
    n = warmer.normalised
    assert n.hdd_normal == pytest.approx(hdd * 0.9)  # the caller's figure wins over the registry's
    assert warmer.hdd_normal_source == "hdd_normal given by the caller"
    base = warmer.degree_day_model.intercept_kwh * 28
    assert n.base_kwh == pytest.approx(base)
    assert n.normalised_kwh == pytest.approx(base + (n.measured_kwh - base) * 0.9)
    assert n.normalised_kwh < n.measured_kwh


def test_without_a_weather_station_hdd_needs_a_series(seeded, january):
    store, sim = seeded
    document = yaml.safe_load(Path(sample_campus_path()).read_text(encoding="utf-8"))
    del document["site"]["weather_station"]
    bare = parse_campus(yaml.safe_dump(document))
    r = building_energy(store, bare, "rfb", START, END)
    assert r.degree_days is None and r.eui == january.eui
    assert any("site.weather_station" in note for note in r.notes)
    outdoor = sim.outdoor_temperatures(START, END, timedelta(minutes=15))
    given = building_energy(store, bare, "rfb", START, END, outdoor=outdoor)
    assert given.degree_days.total == pytest.approx(january.degree_days.total, abs=0.05)


def test_a_set_district_heating_factor_removes_the_placeholder_warning(seeded, campus):
    store, _ = seeded
    factors = load_emission_factors(EmissionSettings(district_heating_g_per_kwh=20))
    r = building_energy(store, campus, "rfb", START, END, emission_factors=factors)
    assert not any("placeholder" in note for note in r.notes)


def test_unknown_building(seeded, campus):
    store, _ = seeded
    with pytest.raises(NotInRegistry, match="unknown building 'zz'"):
        building_energy(store, campus, "zz", START, END)
    assert math.isfinite(building_energy(store, campus, "hb", START, END).eui.kwh_per_m2_year)


def test_four_winter_days_give_no_fit_and_an_eui_flagged_as_not_yearly(seeded, campus):
    """The demo's backfill: 4 January days. No "CV(RMSE) 0 %", no EUI passed off as yearly."""
    store, _ = seeded
    energy = building_energy(store, campus, "rfb", START, START + timedelta(days=4))
    assert energy.degree_day_model is None and energy.normalised is None
    assert energy.degree_day_model_refused == (
        "only 4 whole days with energy and HDD; a degree-day fit needs at least 10"
    )
    assert energy.eui is not None and energy.eui.annualised
    assert energy.eui.days_covered == pytest.approx(4.0, abs=0.1)
    assert energy.eui.reliable is False and "not a yearly figure" in energy.eui.caveat
    # a month: fitted (28 days, the winter's spread of HDD), and its EUI is not flagged
    month = building_energy(store, campus, "rfb", START, END)
    assert month.degree_day_model is not None and month.degree_day_model_refused is None
    assert month.eui.reliable is True
