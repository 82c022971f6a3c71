"""Scope 2 emissions of delivered energy, location-based and market-based side by side.

Sources (METRICS.md, "Energy and sustainability"):

- GHG Protocol Scope 2 Guidance (WRI/WBCSD, 2015): report the location-based
  figure (the average emission intensity of the grid where the energy is used)
  and the market-based figure (the contractual instruments bought, or the
  residual mix without them) side by side.
- Factors per year from the packaged table ``emission_factors.yaml`` (NVE's
  declaration for physically delivered electricity, location-based: 2019 17,
  2020 8, 2022 19, 2023 15 g CO₂e/kWh; NVE's residual mix, market-based: 2020
  402 g/kWh; checked against NVE's and its press's publications, see the file).
- District heating: the supplier plant's own factor, configurable. Until a site
  sets it, a placeholder is used and every result says so.

A year missing from the table uses the nearest earlier year's factor (the
nearest later one before the first year), flagged in ``FactorUsed``.
Emissions are kg CO₂e = kWh × g/kWh / 1000.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml

from campuslab.core.registry import EmissionSettings

Method = Literal["location", "market"]
PACKAGED_FACTORS = "emission_factors.yaml"


class EmissionFactorError(ValueError):
    """An emission-factor table that cannot be used."""


@dataclass(frozen=True)
class FactorUsed:
    """The factor applied to one year's energy of one carrier and method.

    Attributes:
        carrier: 'electricity' or 'district_heating'.
        method: 'location' or 'market'.
        year: the year of the energy.
        factor_year: the table year whose factor was used (None for district heating,
            which has one plant factor).
        g_per_kwh: the factor, g CO₂e/kWh.
        substituted: True when the year had no factor of its own.
        placeholder: True when the factor is the packaged placeholder, not a real one.
    """

    carrier: str
    method: str
    year: int
    factor_year: int | None
    g_per_kwh: float
    substituted: bool = False
    placeholder: bool = False

    @property
    def note(self) -> str:
        if self.placeholder:
            return (
                f"{self.year} district heating: placeholder {self.g_per_kwh:g} g CO2e/kWh; "
                "set analytics.emissions.district_heating_g_per_kwh to the supplier "
                "plant's factor"
            )
        if self.substituted:
            return (
                f"{self.year} {self.carrier} ({self.method}-based): no factor for {self.year}; "
                f"used {self.factor_year}'s {self.g_per_kwh:g} g CO2e/kWh"
            )
        return ""


@dataclass(frozen=True)
class EmissionFactorTable:
    """Year-versioned factors, g CO₂e/kWh.

    Attributes:
        electricity_location: {year: factor}, location-based.
        electricity_market: {year: factor}, market-based (residual mix or contract).
        district_heating_g_per_kwh: the plant's factor.
        district_heating_is_placeholder: True until a site sets its plant's factor.
        sources: where each series comes from.
    """

    electricity_location: Mapping[int, float] = field(hash=False)
    electricity_market: Mapping[int, float] = field(hash=False)
    district_heating_g_per_kwh: float
    district_heating_is_placeholder: bool
    sources: Mapping[str, str] = field(default_factory=dict, hash=False)

    def electricity(self, year: int, method: Method) -> FactorUsed:
        """The electricity factor for ``year``: its own, else the nearest earlier (or later)."""
        table = self.electricity_location if method == "location" else self.electricity_market
        if not table:
            raise EmissionFactorError(f"no {method}-based electricity factors in the table")
        if year in table:
            return FactorUsed("electricity", method, year, year, float(table[year]))
        earlier = [y for y in table if y < year]
        used = max(earlier) if earlier else min(table)
        return FactorUsed("electricity", method, year, used, float(table[used]), substituted=True)

    def district_heating(self, year: int, method: Method) -> FactorUsed:
        """The plant's factor (the same for both methods and every year)."""
        return FactorUsed(
            "district_heating",
            method,
            year,
            None,
            self.district_heating_g_per_kwh,
            placeholder=self.district_heating_is_placeholder,
        )


def _factors(raw: object, where: str) -> dict[int, float]:
    if not isinstance(raw, Mapping):
        raise EmissionFactorError(f"{where}: must be a mapping of year: g CO2e/kWh")
    factors = {}
    for year, value in raw.items():
        try:
            year_number, factor = int(year), float(value)
        except (TypeError, ValueError):
            raise EmissionFactorError(f"{where}.{year}: must be year: number") from None
        if not math.isfinite(factor) or factor < 0:
            raise EmissionFactorError(f"{where}.{year}: must be >= 0 g CO2e/kWh, got {value!r}")
        factors[year_number] = factor
    return factors


def _read_table(path: Path | None) -> dict:
    try:
        if path is None:
            text = (resources.files("campuslab.analytics") / PACKAGED_FACTORS).read_text("utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
        raw = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise EmissionFactorError(f"{path or PACKAGED_FACTORS}: cannot read: {exc}") from None
    if not isinstance(raw, dict):
        raise EmissionFactorError(f"{path or PACKAGED_FACTORS}: must be a mapping")
    return raw


def load_emission_factors(settings: EmissionSettings | None = None) -> EmissionFactorTable:
    """The emission-factor table: the packaged one, or the site's file, with its overrides.

    Args:
        settings: the site's ``AnalyticsSettings.emissions``; None for the packaged table.
            ``factors_file`` replaces the packaged table (same layout);
            ``electricity_location_g_per_kwh`` / ``electricity_market_g_per_kwh`` add
            or replace single years; ``district_heating_g_per_kwh`` sets the plant's
            factor (None keeps the placeholder, flagged).

    Example: the packaged table has no 2021 location-based factor and uses 2020's:

        >>> table = load_emission_factors()
        >>> table.electricity(2023, "location").g_per_kwh, table.electricity(2021, "location").note
        (15.0, "2021 electricity (location-based): no factor for 2021; used 2020's 8 g CO2e/kWh")
    """
    settings = settings or EmissionSettings()
    path = Path(settings.factors_file) if settings.factors_file else None
    raw = _read_table(path)
    where = str(path or PACKAGED_FACTORS)
    electricity = raw.get("electricity") or {}
    location = electricity.get("location_based") or {}
    market = electricity.get("market_based") or {}
    heating = raw.get("district_heating") or {}
    location_factors = _factors(location.get("g_per_kwh", {}), f"{where}: location_based")
    market_factors = _factors(market.get("g_per_kwh", {}), f"{where}: market_based")
    location_factors.update(settings.electricity_location_g_per_kwh)
    market_factors.update(settings.electricity_market_g_per_kwh)
    if settings.district_heating_g_per_kwh is not None:
        heat_factor, placeholder = float(settings.district_heating_g_per_kwh), False
    elif "g_per_kwh" in heating:
        heat_factor, placeholder = float(heating["g_per_kwh"]), False
    elif "placeholder_g_per_kwh" in heating:
        heat_factor, placeholder = float(heating["placeholder_g_per_kwh"]), True
    else:
        raise EmissionFactorError(f"{where}: district_heating has no factor or placeholder")
    return EmissionFactorTable(
        electricity_location=location_factors,
        electricity_market=market_factors,
        district_heating_g_per_kwh=heat_factor,
        district_heating_is_placeholder=placeholder,
        sources={
            "electricity_location": str(location.get("source", "")).strip(),
            "electricity_market": str(market.get("source", "")).strip(),
            "district_heating": str(heating.get("source", "")).strip(),
        },
    )


@dataclass(frozen=True)
class Scope2Emissions:
    """Scope 2 emissions of a period, both methods (GHG Protocol).

    Attributes:
        location_based_kg: kg CO₂e, location-based.
        market_based_kg: kg CO₂e, market-based.
        electricity_kwh, district_heating_kwh: the energy behind them, kWh.
        factors: every factor applied, one per (carrier, method, year).
        warnings: substituted years and placeholders, in words.
    """

    location_based_kg: float
    market_based_kg: float
    electricity_kwh: float
    district_heating_kwh: float
    factors: tuple[FactorUsed, ...]
    warnings: tuple[str, ...]


def _energy_by_year(kwh_by_year: Mapping[int, float], name: str) -> dict[int, float]:
    energy = {}
    for year, kwh in kwh_by_year.items():
        value = float(kwh)
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name}[{year}] must be finite kWh >= 0, got {kwh!r}")
        energy[int(year)] = value
    return energy


def scope2_emissions(
    electricity_kwh_by_year: Mapping[int, float],
    district_heating_kwh_by_year: Mapping[int, float],
    factors: EmissionFactorTable,
) -> Scope2Emissions:
    """Scope 2 emissions, location-based and market-based, of delivered electricity and heat.

    Each year's energy is multiplied by that year's factor (GHG Protocol Scope 2
    Guidance): electricity by NVE's location-based factor and by the residual
    mix (market-based); district heating by the plant's factor in both.

    Args:
        electricity_kwh_by_year: delivered electricity per calendar year, kWh.
        district_heating_kwh_by_year: delivered district heat per calendar year, kWh.
        factors: the table (``load_emission_factors``).

    Example: 100 MWh of electricity in 2020 is 800 kg CO₂e location-based (8 g/kWh) and
    40 200 kg market-based (402 g/kWh):

        >>> r = scope2_emissions({2020: 100_000}, {}, load_emission_factors())
        >>> r.location_based_kg, r.market_based_kg, r.warnings
        (800.0, 40200.0, ())
    """
    electricity = _energy_by_year(electricity_kwh_by_year, "electricity_kwh_by_year")
    heat = _energy_by_year(district_heating_kwh_by_year, "district_heating_kwh_by_year")
    totals = {"location": 0.0, "market": 0.0}
    used: list[FactorUsed] = []
    for method in ("location", "market"):
        for year, kwh in sorted(electricity.items()):
            factor = factors.electricity(year, method)
            totals[method] += kwh * factor.g_per_kwh / 1000.0
            used.append(factor)
        for year, kwh in sorted(heat.items()):
            factor = factors.district_heating(year, method)
            totals[method] += kwh * factor.g_per_kwh / 1000.0
            used.append(factor)
    notes = tuple(dict.fromkeys(f.note for f in used if f.note))
    return Scope2Emissions(
        location_based_kg=totals["location"],
        market_based_kg=totals["market"],
        electricity_kwh=sum(electricity.values()),
        district_heating_kwh=sum(heat.values()),
        factors=tuple(used),
        warnings=notes,
    )
