"""The site's weather station: registry field, ingest path, and the simulator publishing it.

Degree days and the adaptive comfort model read the outdoor series from it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import yaml

from campuslab.core.readings import ReadingBatch, to_epoch_us
from campuslab.core.registry import (
    WEATHER_STATION_QUANTITIES,
    RegistryError,
    SeasonDates,
    load_campus,
    parse_campus,
    sample_campus_path,
)
from campuslab.ingest.processor import MessageProcessor
from campuslab.simulators.campus import CampusSimulator, SimulationConfig
from campuslab.simulators.payloads import encode

MONDAY = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)
SITE = {"id": "demo", "name": "Demo", "timezone": "Europe/Oslo"}
BUILDING = {
    "id": "a",
    "name": "A",
    "heated_area_m2": 1000,
    "meters": [{"id": "a-el", "quantity": "energy"}],
    "spaces": [
        {"id": "a-101", "name": "R", "floor": 1, "type": "office", "capacity": 2, "area_m2": 20}
    ],
}


def registry(weather_station: object, **analytics) -> str:
    document = {"site": {**SITE, "weather_station": weather_station}, "buildings": [BUILDING]}
    if analytics:
        document["analytics"] = analytics
    return yaml.safe_dump(document)


def problems(text: str) -> list[str]:
    with pytest.raises(RegistryError) as caught:
        parse_campus(text)
    return caught.value.problems


@pytest.fixture(scope="module")
def campus():
    return load_campus(sample_campus_path())


def test_the_sample_campus_has_a_weather_station_on_rfb(campus):
    station = campus.weather_station
    assert (station.id, station.building) == ("elvebakken-weather", "rfb")
    assert campus.quantities_of("rfb", "elvebakken-weather") == ("temperature", "humidity")
    assert campus.quantities_of("hb", "elvebakken-weather") is None  # only under its building
    assert campus.building_of("elvebakken-weather").id == "rfb"
    assert campus.space("elvebakken-weather") is None and campus.meter("elvebakken-weather") is None


def test_a_registry_without_a_station_is_still_valid():
    campus = parse_campus(registry(None))
    assert campus.weather_station is None
    assert campus.quantities_of("a", "a-weather") is None


def test_the_station_must_name_a_building_and_have_a_campus_wide_unique_id():
    assert problems(registry({"id": "roof", "building": "nowhere"})) == [
        "site.weather_station.building: no building 'nowhere' in the registry "
        "(the station publishes under one of the campus's buildings)"
    ]
    assert problems(registry({"id": "a-101", "building": "a"})) == [
        "site.weather_station.id: id 'a-101' is already used at buildings[0].spaces[0].id; "
        "ids must be unique campus-wide"
    ]
    assert problems(registry({"id": "Roof Top", "building": "a"}))[0].startswith(
        "site.weather_station.id: 'Roof Top' has a space at position 5"
    )
    assert problems(registry({"id": "roof"})) == ["site.weather_station.building: is required"]


def test_analytics_settings_for_seasons_comfort_degree_days_and_emissions():
    campus = parse_campus(
        registry(
            {"id": "roof", "building": "a"},
            heating_season={"first_day": "09-15", "last_day": "05-15"},
            comfort={"met": 1.4, "clo_heating": 0.9},
            degree_day_base_c=15.5,
            emissions={
                "district_heating_g_per_kwh": 25,
                "electricity_location_g_per_kwh": {2024: 14},
            },
        )
    )
    settings = campus.analytics
    assert settings.heating_season.first == (9, 15) and settings.heating_season.last == (5, 15)
    assert settings.comfort.met == 1.4 and settings.comfort.clo_cooling == 0.5
    assert settings.degree_day_base_c == 15.5
    assert settings.emissions.electricity_location_g_per_kwh == {2024: 14}
    assert problems(registry(None, heating_season={"first_day": "13-01"})) == [
        "analytics.heating_season.first_day: '13-01' is not a month and day written MM-DD, "
        "e.g. 10-01"
    ]
    assert (
        problems(registry(None, comfort={"met": 9}))[0] == "analytics.comfort.met: must be <= 4.0"
    )


def test_season_dates_wrap_the_new_year():
    season = SeasonDates()  # 1 October – 30 April
    days = [date(2026, 4, 30), date(2026, 5, 1), date(2026, 9, 30), date(2026, 10, 1)]
    assert [season.contains(day) for day in days] == [True, False, False, True]
    assert season.contains(date(2027, 1, 1))


def test_ingest_stores_the_station_under_its_building(campus):
    processor = MessageProcessor(campus)
    batch, dead = ReadingBatch(), []
    now = to_epoch_us(MONDAY)
    processor.process("campus/rfb/elvebakken-weather/temperature", b"-7.5", now, batch, dead)
    processor.process(
        "campus/rfb/elvebakken-weather/humidity", b'{"value": 88, "unit": "%"}', now, batch, dead
    )
    assert dead == []
    assert [(r.building, r.sensor, r.quantity, r.value) for r in batch] == [
        ("rfb", "elvebakken-weather", "temperature", -7.5),
        ("rfb", "elvebakken-weather", "humidity", 88.0),
    ]
    processor.process("campus/rfb/elvebakken-weather/co2", b"420", now, batch, dead)
    processor.process("campus/hb/elvebakken-weather/temperature", b"1", now, batch, dead)
    assert [d.reason for d in dead] == ["unknown_quantity", "unknown_sensor"]
    assert "it belongs to building 'rfb'" in dead[1].detail


def test_the_simulator_publishes_the_outdoor_weather_model_and_ingest_accepts_it(campus):
    sim = CampusSimulator(campus, SimulationConfig(seed=5, interval=timedelta(minutes=5)))
    batch = next(sim.batches(MONDAY, MONDAY + timedelta(hours=1)))
    assert sim.readings_per_step == 81 * 4 + 8 + len(WEATHER_STATION_QUANTITIES)
    station = {(r.ts_us, r.quantity): r.value for r in batch if r.sensor == "elvebakken-weather"}
    assert len(station) == 12 * 2
    for ts_us, quantity in station:
        moment = datetime.fromtimestamp(ts_us / 1e6, UTC)
        model = (
            sim.outdoor_temperature(moment)
            if quantity == "temperature"
            else sim.outdoor_relative_humidity(moment)
        )
        assert station[(ts_us, quantity)] == round(model, 1)
    # every message the simulator publishes for the batch is accepted by ingest
    processor = MessageProcessor(campus)
    accepted, dead = ReadingBatch(), []
    for topic, payload in encode(batch, "json"):
        processor.process(topic, payload, to_epoch_us(MONDAY + timedelta(hours=2)), accepted, dead)
    assert dead == [] and len(accepted) == len(batch)


def test_faults_leave_the_weather_station_alone(campus):
    every_fault = frozenset({"stuck", "dropout", "spike", "reset"})
    config = SimulationConfig(seed=2, interval=timedelta(minutes=15), faults=every_fault)
    sim = CampusSimulator(campus, config)
    readings = [r for b in sim.batches(MONDAY, MONDAY + timedelta(days=3)) for r in b]
    station = [r for r in readings if r.sensor == "elvebakken-weather"]
    assert len(station) == 3 * 96 * 2  # none dropped
    clean = CampusSimulator(campus, SimulationConfig(seed=2, interval=timedelta(minutes=15)))
    expected = [
        r
        for b in clean.batches(MONDAY, MONDAY + timedelta(days=3))
        for r in b
        if r.sensor == "elvebakken-weather"
    ]
    assert station == expected
