"""Outdoor CO₂ for EN 16798-1's ΔCO₂: the weather station's, hour by hour, else the setting.

A worked example built by hand in a real DuckDB store. Room ``a-101`` holds 10
people from 08:00 to 14:00 on Monday 12 January 2026 (Oslo), with hourly mean
CO₂ of 900, 1000, 1230, 1300, 1800 and 950 ppm. The weather station ``a-weather``
reads 430, 470, 480, 520 and 600 ppm in the first five hours and nothing in the
sixth (median 480 ppm). EN 16798-1 categories of ΔCO₂ (I ≤ 550, II ≤ 800,
III ≤ 1350, IV above):

| hour | indoor | station | ΔCO₂ (station, hourly) | ΔCO₂ (setting 420) |
|---|---|---|---|---|
| 08 | 900 | 430 | 470 I | 480 I |
| 09 | 1000 | 470 | 530 I | 580 II |
| 10 | 1230 | 480 | 750 II | 810 III |
| 11 | 1300 | 520 | 780 II | 880 III |
| 12 | 1800 | 600 | 1200 III | 1380 IV |
| 13 | 950 | (median 480) | 470 I | 530 I |

So with the station: I 3, II 2, III 1, IV 0; with the setting: I 2, II 1, III 2, IV 1.
Three hours are above FHI's 1000 ppm either way (an absolute norm).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from campuslab.analytics.climate_kpis import (
    OutdoorCo2,
    co2_category_hours_hourly_outdoor,
    space_ieq,
)
from campuslab.api import create_app
from campuslab.api.dependencies import get_clock
from campuslab.api.keys import KeyStore, Role
from campuslab.core.readings import ReadingBatch, to_epoch_us
from campuslab.core.registry import Campus, parse_campus
from campuslab.core.store.duckdb import DuckDBStore

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

OSLO = ZoneInfo("Europe/Oslo")
START = datetime(2026, 1, 12, 8, tzinfo=OSLO)
END = START + timedelta(hours=6)
INDOOR = [900.0, 1000.0, 1230.0, 1300.0, 1800.0, 950.0]
STATION = [430.0, 470.0, 480.0, 520.0, 600.0, None]

REGISTRY = """\
site:
  id: co2site
  name: Outdoor CO2 test site
  timezone: Europe/Oslo
{station}
analytics:
  outdoor_co2_ppm: 420
buildings:
  - id: a
    name: A
    heated_area_m2: 1000
    spaces:
      - {{id: a-101, name: Room, floor: 1, type: seminar_room, capacity: 20, area_m2: 40}}
"""
WITH_STATION = "  weather_station: {id: a-weather, building: a}"


def registry(station: str = WITH_STATION) -> Campus:
    return parse_campus(REGISTRY.format(station=station))


def build_store(folder: Path, station_co2: bool) -> DuckDBStore:
    store = DuckDBStore(folder / "campuslab.duckdb")
    batch = ReadingBatch()
    for hour, (indoor, outdoor) in enumerate(zip(INDOOR, STATION, strict=True)):
        for quarter in range(4):  # readings every 15 minutes, the hour's value each time
            at = to_epoch_us(START + timedelta(hours=hour, minutes=15 * quarter))
            batch.append(at, "a", "a-101", "occupancy", 10.0)
            batch.append(at, "a", "a-101", "co2", indoor)
            batch.append(at, "a", "a-weather", "temperature", -3.0)
            if station_co2 and outdoor is not None:
                batch.append(at, "a", "a-weather", "co2", outdoor)
    store.write(batch)
    return store


@pytest.fixture(scope="module")
def with_co2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DuckDBStore]:
    store = build_store(tmp_path_factory.mktemp("station-co2"), station_co2=True)
    yield store
    store.close()


@pytest.fixture(scope="module")
def without_co2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DuckDBStore]:
    store = build_store(tmp_path_factory.mktemp("station-no-co2"), station_co2=False)
    yield store
    store.close()


def test_a_station_that_reports_co2_is_matched_hour_by_hour(with_co2):
    r = space_ieq(with_co2, registry(), "a-101", START, END)
    assert r.outdoor_co2_source == "station a-weather"
    assert r.outdoor_co2_hours_from_station == 5
    assert r.assumptions.outdoor_co2_ppm == 480.0  # the station's median, stands for the period
    assert r.co2.occupied_hours == 6
    assert r.co2.category_hours == {"I": 3, "II": 2, "III": 1, "IV": 0}
    assert r.co2.hours_above_fhi_limit == 3
    assert r.points_excluded["outdoor_co2"] == 0


def test_a_station_without_co2_falls_back_to_the_setting(without_co2):
    r = space_ieq(without_co2, registry(), "a-101", START, END)
    assert r.outdoor_co2_source == "setting"
    assert r.outdoor_co2_hours_from_station == 0
    assert r.assumptions.outdoor_co2_ppm == 420.0
    assert r.co2.category_hours == {"I": 2, "II": 1, "III": 2, "IV": 1}
    assert r.co2.hours_above_fhi_limit == 3
    assert "outdoor_co2" not in r.points_excluded


def test_no_station_at_all_uses_the_setting(with_co2):
    r = space_ieq(with_co2, registry(station=""), "a-101", START, END)
    assert r.outdoor_co2_source == "setting"
    assert r.co2.category_hours == {"I": 2, "II": 1, "III": 2, "IV": 1}


def test_hourly_outdoor_categories_equal_delta_co2_by_hand():
    indoor = np.array([900.0, 1000.0, np.nan, 300.0])
    outdoor = OutdoorCo2(np.array([430.0, 470.0, 480.0, 900.0]), "station s", 480.0, 4)
    r = co2_category_hours_hourly_outdoor(indoor, np.full(4, 5.0), outdoor)
    # 470 → I, 530 → I, no indoor value, −600 → I (indoor below outdoor)
    assert r.category_hours == {"I": 3, "II": 0, "III": 0, "IV": 0}
    assert r.occupied_hours == 3 and r.occupied_hours_without_co2 == 1


@pytest.mark.parametrize(
    ("store_name", "source", "hours"),
    [("with_co2", "station a-weather", 5), ("without_co2", "setting", 0)],
)
def test_the_ieq_answer_says_which_outdoor_co2_it_used(request, store_name, source, hours):
    store = request.getfixturevalue(store_name)
    keys = KeyStore.in_memory()
    app = create_app(store, registry(), keys=keys)
    app.dependency_overrides[get_clock] = lambda: lambda: END.astimezone(UTC)
    secret = keys.create(Role.RESEARCHER, "researcher").secret
    client = TestClient(app, headers={"Authorization": f"Bearer {secret}"})
    response = client.get(
        "/api/v1/spaces/a-101/ieq",
        params={"start": START.isoformat(), "end": END.isoformat()},
    )
    assert response.status_code == 200, response.text
    co2 = response.json()["co2"]
    assert co2["outdoor_co2_source"] == source
    assert co2["outdoor_co2_hours_from_station"] == hours
    assert co2["outdoor_co2_ppm"] == (480.0 if hours else 420.0)
