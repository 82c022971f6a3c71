"""Scope 2 emissions from the year-versioned factor table (NVE), both methods side by side."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from campuslab.analytics.emissions import (
    EmissionFactorError,
    load_emission_factors,
    scope2_emissions,
)
from campuslab.core.registry import EmissionSettings, load_campus, sample_campus_path


@pytest.fixture(scope="module")
def packaged():
    return load_emission_factors()


def test_the_packaged_table_holds_nves_factors(packaged):
    # NVE klimadeklarasjon for fysisk levert strøm; NVE residual mix 2020 (METRICS.md)
    assert dict(packaged.electricity_location) == {2019: 17, 2020: 8, 2022: 19, 2023: 15}
    assert dict(packaged.electricity_market) == {2020: 402}
    assert packaged.district_heating_is_placeholder


def test_2020_location_and_market_based(packaged):
    # 250 000 kWh × 8 g = 2 000 kg location-based; × 402 g = 100 500 kg market-based
    r = scope2_emissions({2020: 250_000}, {}, packaged)
    assert (r.location_based_kg, r.market_based_kg) == (2000.0, 100_500.0)
    assert r.warnings == ()
    assert [(f.method, f.factor_year, f.substituted) for f in r.factors] == [
        ("location", 2020, False),
        ("market", 2020, False),
    ]


def test_2023_uses_its_own_location_factor_and_the_2020_residual_mix(packaged):
    # 250 000 kWh × 15 g = 3 750 kg; the residual mix has only 2020: 402 g, flagged
    r = scope2_emissions({2023: 250_000}, {}, packaged)
    assert (r.location_based_kg, r.market_based_kg) == (3750.0, 100_500.0)
    assert r.warnings == (
        "2023 electricity (market-based): no factor for 2023; used 2020's 402 g CO2e/kWh",
    )


def test_a_year_without_a_factor_uses_the_nearest_earlier_year_and_says_so(packaged):
    # 2021 is missing: 2020's 8 g applies
    r = scope2_emissions({2021: 100_000}, {}, packaged)
    location = r.factors[0]
    assert (location.year, location.factor_year, location.substituted) == (2021, 2020, True)
    assert r.location_based_kg == 800.0
    assert "2021 electricity (location-based): no factor for 2021; used 2020's 8" in r.warnings[0]
    # before the first year, the first year's factor (2019: 17 g)
    assert packaged.electricity(2015, "location").factor_year == 2019


def test_years_are_kept_apart(packaged):
    # a winter across new year: 2022 at 19 g, 2023 at 15 g
    r = scope2_emissions({2022: 10_000, 2023: 20_000}, {}, packaged)
    assert r.location_based_kg == pytest.approx(190 + 300)
    assert r.electricity_kwh == 30_000


def test_district_heating_uses_the_plant_factor_for_both_methods_and_flags_the_placeholder(
    packaged,
):
    r = scope2_emissions({}, {2023: 100_000}, packaged)
    assert r.location_based_kg == r.market_based_kg == 100_000 * 50 / 1000
    assert any("placeholder 50 g" in w and "district_heating_g_per_kwh" in w for w in r.warnings)
    plant = load_emission_factors(EmissionSettings(district_heating_g_per_kwh=12.5))
    r = scope2_emissions({}, {2023: 100_000}, plant)
    assert r.location_based_kg == 1250.0 and r.warnings == ()


def test_inline_overrides_and_a_replacement_file(tmp_path: Path):
    overridden = load_emission_factors(
        EmissionSettings(
            electricity_location_g_per_kwh={2021: 9, 2023: 16},
            electricity_market_g_per_kwh={2023: 30},
        )
    )
    assert overridden.electricity(2021, "location").g_per_kwh == 9
    assert overridden.electricity(2023, "location").g_per_kwh == 16
    assert overridden.electricity(2022, "location").g_per_kwh == 19  # the packaged one stays
    assert overridden.electricity(2023, "market").substituted is False
    table = tmp_path / "factors.yaml"
    table.write_text(
        yaml.safe_dump(
            {
                "electricity": {
                    "location_based": {"g_per_kwh": {2024: 20}},
                    "market_based": {"g_per_kwh": {2024: 350}},
                },
                "district_heating": {"g_per_kwh": 30},
            }
        ),
        encoding="utf-8",
    )
    replaced = load_emission_factors(EmissionSettings(factors_file=str(table)))
    r = scope2_emissions({2024: 1000}, {2024: 1000}, replaced)
    assert (r.location_based_kg, r.market_based_kg) == (50.0, 380.0)
    assert r.warnings == ()


def test_a_broken_table_is_refused(tmp_path: Path):
    table = tmp_path / "factors.yaml"
    table.write_text("electricity: {location_based: {g_per_kwh: {2020: -3}}}", encoding="utf-8")
    with pytest.raises(EmissionFactorError, match="must be >= 0"):
        load_emission_factors(EmissionSettings(factors_file=str(table)))
    with pytest.raises(EmissionFactorError, match="cannot read"):
        load_emission_factors(EmissionSettings(factors_file=str(tmp_path / "missing.yaml")))


def test_the_sample_campus_leaves_the_plant_factor_unset():
    campus = load_campus(sample_campus_path())
    assert campus.analytics.emissions.district_heating_g_per_kwh is None
    assert load_emission_factors(campus.analytics.emissions).district_heating_is_placeholder
