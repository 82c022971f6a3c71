"""Savings by IPMVP Option C through the API and the planner report, on a real DuckDB store.

The worked example is built by hand so that its answer is known: building
``main`` uses E = (250 + 5·HDD) kWh of electricity and (350 + 40·HDD) kWh of
district heat a day, with a ±4 % day-to-day scatter, over a 28-day baseline
(5 Jan – 2 Feb 2026, Europe/Oslo, no DST change). In the 14 reporting days
after it (2 – 16 Feb) it uses 10 % less in the same weather, as after a
retrofit. The API must then report avoided energy of about 10 % of the adjusted
baseline. Its exact figures are checked against an ordinary least-squares fit
done here with ``numpy.polyfit`` on the same days, and CV(RMSE) and NMBE
against their definitions (METRICS.md, "Savings (IPMVP Option C)").

The heat register of ``main`` drops out from 20:00 on 10 February to 02:00 on
12 February: the days 10, 11 and 12 February are not spanned by its readings
and are left out (the interval that ends on the 12th holds a day and a half of
heat).

Building ``noisy`` uses 300 or 800 kWh on alternate days whatever the weather,
so its baseline fails ASHRAE Guideline 14 (CV(RMSE) 47 % against 20 %).

A simulated campus with nothing changed, and with sensor faults, must show
savings close to none.
"""

from __future__ import annotations

import html
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from test_analytics_api import (
    LIBRARY_SPACES,
    REGISTRY,
    SIMULATED_SPACES,
    assert_problem,
    ok,
    spaces_yaml,
)
from test_report import Metrics, report_cli
from typer.testing import CliRunner

from campuslab.analytics.report import building_savings, planner_report, report_steps
from campuslab.api import create_app
from campuslab.api.dependencies import get_clock
from campuslab.api.keys import KeyStore, Role
from campuslab.api.privacy_counts import ProtectedReader
from campuslab.api.routers.exports import OpenDataSettings
from campuslab.core.readings import ReadingBatch, to_epoch_us
from campuslab.core.registry import Campus, load_campus
from campuslab.core.store.duckdb import DuckDBStore
from campuslab.simulators.campus import CampusSimulator, SimulationConfig
from campuslab.simulators.direct import backfill_direct

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

OSLO = ZoneInfo("Europe/Oslo")
FIRST_DAY = date(2026, 1, 5)
BASELINE_DAYS, REPORTING_DAYS = 28, 14
DROP = 0.10  # the reporting period uses 10 % less than the baseline model
SCATTER = 0.04  # ±4 % day to day, the same in both periods
BASELINE = {
    "baseline_start": "2026-01-05T00:00:00+01:00",
    "baseline_end": "2026-02-02T00:00:00+01:00",
}
REPORTING = {"start": "2026-02-02T00:00:00+01:00", "end": "2026-02-16T00:00:00+01:00"}
PARAMS = {**BASELINE, **REPORTING}
HEAT_GAP = (datetime(2026, 2, 10, 20, tzinfo=OSLO), datetime(2026, 2, 12, 2, tzinfo=OSLO))
DAYS_WITHOUT_HEAT = (date(2026, 2, 10), date(2026, 2, 11), date(2026, 2, 12))
NOW = datetime(2026, 2, 20, 9, tzinfo=OSLO)

SITE = """\
site:
  id: savesite
  name: Savings test site
  timezone: Europe/Oslo
  weather_station: {{id: save-weather, building: main}}
analytics:
  core_hours: {{days: [mon, tue, wed, thu, fri], start: "08:00", end: "16:00"}}
buildings:
  - id: main
    name: Main building
    heated_area_m2: 4000
    meters:
      - {{id: main-el, quantity: energy}}
      - {{id: main-heat, quantity: heat_energy}}
    spaces:
{main}  - id: noisy
    name: Noisy building
    heated_area_m2: 2000
    meters:
      - {{id: noisy-el, quantity: energy}}
    spaces:
{noisy}"""


def local_day(offset: int) -> date:
    return FIRST_DAY + timedelta(days=offset)


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=OSLO)


@dataclass(frozen=True)
class WorkedExample:
    """The hand-built store and the daily figures it was built from."""

    campus: Campus
    registry: Path
    data_dir: Path
    store: DuckDBStore
    days: list[date]
    hdd: np.ndarray  # K·day per day (daily mean is constant over the day)
    main_kwh: np.ndarray  # electricity + heat per day, as written
    noisy_kwh: np.ndarray


def daily_figures() -> tuple[list[date], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = BASELINE_DAYS + REPORTING_DAYS
    days = [local_day(i) for i in range(n)]
    outdoor = 3 + 7 * np.sin(2 * np.pi * np.arange(n) / 11)  # -4 .. 10 °C, always below 17
    hdd = 17 - outdoor
    scatter = 1 + SCATTER * np.random.default_rng(2026).uniform(-1, 1, n)
    after = np.where(np.arange(n) < BASELINE_DAYS, 1.0, 1 - DROP)
    electricity = (250 + 5 * hdd) * scatter * after
    heat = (350 + 40 * hdd) * scatter * after
    noisy = np.where(np.arange(n) % 2 == 0, 300.0, 800.0)
    return days, outdoor, electricity, heat, noisy


def write_register(
    batch: ReadingBatch, building: str, meter: str, quantity: str, days, kwh_per_day
) -> None:
    """Hourly register readings: each local day's kWh spread evenly over its 24 hours."""
    value = 1_000_000.0
    at = midnight(days[0]).astimezone(UTC)
    batch.append(to_epoch_us(at), building, meter, quantity, value)
    for day, kwh in zip(days, kwh_per_day, strict=True):
        for _ in range(24):
            at += timedelta(hours=1)
            value += kwh / 24
            if quantity == "heat_energy" and HEAT_GAP[0] < at < HEAT_GAP[1]:
                continue  # the meter is silent; the register keeps counting
            batch.append(to_epoch_us(at), building, meter, quantity, value)
        assert at == midnight(day + timedelta(days=1)).astimezone(UTC)


def build_worked_example(folder: Path) -> WorkedExample:
    registry = folder / "campus.yaml"
    registry.write_text(
        SITE.format(
            main=spaces_yaml(("main-101", "Seminar room", "seminar_room", 30)),
            noisy=spaces_yaml(("noisy-101", "Reading room", "study_space", 40)),
        )
    )
    campus = load_campus(registry)
    data_dir = folder / "data"
    store = DuckDBStore(data_dir / "campuslab.duckdb")
    days, outdoor, electricity, heat, noisy = daily_figures()
    batch = ReadingBatch()
    write_register(batch, "main", "main-el", "energy", days, electricity)
    write_register(batch, "main", "main-heat", "heat_energy", days, heat)
    write_register(batch, "noisy", "noisy-el", "energy", days, noisy)
    for day, celsius in zip(days, outdoor, strict=True):
        for hour in range(24):  # hourly readings at the half hour, the day's mean all day
            at = midnight(day) + timedelta(hours=hour, minutes=30)
            batch.append(to_epoch_us(at), "main", "save-weather", "temperature", float(celsius))
    store.write(batch)
    return WorkedExample(
        campus, registry, data_dir, store, days, 17 - outdoor, electricity + heat, noisy
    )


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkedExample]:
    built = build_worked_example(tmp_path_factory.mktemp("savings"))
    yield built
    built.store.close()


@pytest.fixture(scope="module")
def keys() -> KeyStore:
    return KeyStore.in_memory()


@pytest.fixture(scope="module")
def app(example: WorkedExample, keys: KeyStore):
    app = create_app(example.store, example.campus, keys=keys)
    app.dependency_overrides[get_clock] = lambda: lambda: NOW.astimezone(UTC)
    return app


@pytest.fixture(scope="module")
def researcher(app, keys: KeyStore) -> TestClient:
    secret = keys.create(Role.RESEARCHER, "researcher").secret
    return TestClient(app, headers={"Authorization": f"Bearer {secret}"})


def by_hand(example: WorkedExample, kwh: np.ndarray) -> dict[str, float]:
    """The IPMVP figures computed here, independently of CampusLab (METRICS.md)."""
    baseline = slice(0, BASELINE_DAYS)
    x, y = example.hdd[baseline], kwh[baseline]
    slope, intercept = np.polyfit(x, y, 1)
    residuals = y - (intercept + slope * x)
    n, p = y.size, 2
    reporting = [
        i
        for i in range(BASELINE_DAYS, BASELINE_DAYS + REPORTING_DAYS)
        if example.days[i] not in DAYS_WITHOUT_HEAT or kwh is example.noisy_kwh
    ]
    predicted = float((intercept + slope * example.hdd[reporting]).sum())
    measured = float(kwh[reporting].sum())
    return {
        "intercept": intercept,
        "slope": slope,
        "cv_rmse": float(np.sqrt((residuals**2).sum() / (n - p)) / y.mean()),
        "nmbe": float(residuals.sum() / ((n - p) * y.mean())),
        "reporting_days": len(reporting),
        "reporting_hdd": float(example.hdd[reporting].sum()),
        "predicted": predicted,
        "measured": measured,
        "avoided": predicted - measured,
    }


# -- the worked example ------------------------------------------------------------------------


def test_a_ten_percent_drop_is_reported_as_about_ten_percent_avoided(example, researcher):
    body = ok(researcher.get("/api/v1/buildings/main/savings", params=PARAMS))
    expected = by_hand(example, example.main_kwh)

    model = body["baseline_model"]
    assert model["accepted"] is True
    assert (model["days"], model["parameters"], model["granularity"]) == (28, 2, "daily")
    assert model["intercept_kwh_per_day"] == pytest.approx(expected["intercept"], rel=1e-9)
    assert model["kwh_per_degree_day"] == pytest.approx(expected["slope"], rel=1e-9)
    assert model["cv_rmse"] == pytest.approx(expected["cv_rmse"], rel=1e-9)
    assert model["nmbe"] == pytest.approx(0.0, abs=1e-12)  # OLS with an intercept: no bias
    # the data were made from β0 = 600 kWh/day and βH = 45 kWh/K·day with a ±4 % scatter
    assert model["intercept_kwh_per_day"] == pytest.approx(600, rel=0.1)
    assert model["kwh_per_degree_day"] == pytest.approx(45, rel=0.05)
    assert model["cv_rmse"] < 0.04  # a uniform ±4 % scatter has a standard deviation of 2.3 %
    cv, nmbe = model["guideline_14"]
    assert cv == {"criterion": "cv_rmse", "value": model["cv_rmse"], "limit": 0.2, "passed": True}
    assert (nmbe["criterion"], nmbe["limit"], nmbe["passed"]) == ("nmbe", 0.05, True)

    assert body["baseline_period"]["days"] == body["baseline_period"]["days_used"] == 28
    reporting = body["reporting_period"]
    assert expected["reporting_days"] == 11  # 14 days, less the three without heat readings
    assert (reporting["days"], reporting["days_used"]) == (14, 11)
    assert reporting["days_without_energy"] == 3
    assert reporting["days_without_outdoor_temperature"] == 0
    assert reporting["hdd"] == pytest.approx(expected["reporting_hdd"], rel=1e-9)
    assert body["adjusted_baseline_kwh"] == pytest.approx(expected["predicted"], rel=1e-9)
    assert body["measured_kwh"] == pytest.approx(expected["measured"], rel=1e-9)
    assert body["measured_kwh"] == reporting["measured_kwh"]
    assert body["avoided_kwh"] == pytest.approx(expected["avoided"], rel=1e-9)
    assert body["avoided_kwh"] == pytest.approx(
        body["adjusted_baseline_kwh"] - body["measured_kwh"]
    )
    assert body["avoided_share"] == pytest.approx(body["avoided_kwh"] / expected["predicted"])
    # the known 10 % drop, within the scatter: 1 − 0.9 × (1 ± 4 %) over 11 days and the fit's
    # own error leave it within one percentage point
    assert body["avoided_share"] == pytest.approx(DROP, abs=0.01)

    assert body["period"]["start"] == "2026-02-01T23:00:00Z"
    assert body["period"]["end"] == "2026-02-15T23:00:00Z"
    assert body["baseline_period"]["start"] == "2026-01-04T23:00:00Z"
    assert body["meters"] == ["main-el", "main-heat"]
    assert body["units"]["*_kwh"] == "kWh" and body["units"]["kwh_per_degree_day"]
    assert body["points_excluded"] == {"registers": 0, "outdoor_temperature": 0}
    assert any("3 of 14 whole local days left out" in note for note in body["notes"])
    assert any("uncertainty" in note for note in body["notes"])
    assert any("IPMVP" in source for source in body["sources"])
    assert any("Guideline 14" in source for source in body["sources"])


def test_the_answer_is_building_savings(example, researcher):
    body = ok(researcher.get("/api/v1/buildings/main/savings", params=PARAMS))
    savings = building_savings(
        example.store,
        example.campus,
        "main",
        midnight(date(2026, 1, 5)),
        midnight(date(2026, 2, 2)),
        midnight(date(2026, 2, 2)),
        midnight(date(2026, 2, 16)),
    )
    assert body["avoided_kwh"] == savings.avoided.avoided_kwh
    assert body["adjusted_baseline_kwh"] == savings.avoided.predicted_kwh
    assert body["baseline_model"]["cv_rmse"] == savings.model.cv_rmse
    used = savings.reporting.dates[savings.reporting.used].astype(object).tolist()
    assert not set(used) & set(DAYS_WITHOUT_HEAT)


# -- Guideline 14 refuses a baseline -------------------------------------------------------------


def test_a_baseline_that_fails_guideline_14_is_a_422_naming_the_criterion(example, researcher):
    response = researcher.get("/api/v1/buildings/noisy/savings", params=PARAMS)
    expected = by_hand(example, example.noisy_kwh)
    assert expected["cv_rmse"] > 0.4

    body = assert_problem(
        response,
        422,
        "fails ASHRAE Guideline 14",
        f"CV(RMSE) {expected['cv_rmse']:.1%} is above the 20% limit",
        "longer baseline",
        parameter="baseline_start",
    )
    assert body["type"] == "/api/v1/problems/invalid-parameter"
    [failed] = body["failed"]
    assert failed["criterion"] == "cv_rmse" and failed["passed"] is False
    assert failed["value"] == pytest.approx(expected["cv_rmse"], rel=1e-9)
    assert failed["limit"] == 0.2
    assert body["baseline_model"]["accepted"] is False
    assert body["baseline_model"]["kwh_per_degree_day"] == pytest.approx(expected["slope"])
    assert body["baseline_period"]["days_used"] == 28
    assert "avoided_kwh" not in body


# -- parameters ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "parameter", "words"),
    [
        ({**PARAMS, "baseline_start": "garbage"}, "baseline_start", ["RFC 3339"]),
        ({**PARAMS, "baseline_end": "2026-13-45"}, "baseline_end", ["RFC 3339"]),
        ({**PARAMS, "baseline_end": "x" * 200}, "baseline_end", []),
        ({**PARAMS, "start": "yesterday"}, "start", ["RFC 3339"]),
        (REPORTING | {"baseline_end": BASELINE["baseline_end"]}, "baseline_start", ["required"]),
        (
            {**PARAMS, "baseline_end": "2026-01-01T00:00:00+01:00"},
            "baseline_end",
            ["must be after baseline_start"],
        ),
        (
            {**PARAMS, "baseline_end": "2026-01-12T00:00:00+01:00"},
            "baseline_end",
            ["spans 7 days", "at least 14 whole local days"],
        ),
        (
            {**PARAMS, "baseline_end": "2026-02-05T00:00:00+01:00"},
            "baseline_end",
            ["overlaps the reporting period", "at or before start"],
        ),
        (
            {
                **PARAMS,
                "baseline_start": "2026-03-01T00:00:00+01:00",
                "baseline_end": "2026-04-01T00:00:00+02:00",
            },
            "baseline_end",
            ["comes after the reporting period"],
        ),
        (
            {**PARAMS, "baseline_start": "2024-01-01T00:00:00Z"},
            "baseline_start",
            ["limited to 366 days"],
        ),
        (
            {
                **PARAMS,
                "baseline_start": "2020-01-06T00:00:00+01:00",
                "baseline_end": "2020-02-03T00:00:00+01:00",
            },
            "baseline_start",
            ["no data in the baseline"],
        ),
        (
            {
                **PARAMS,
                "baseline_start": "2025-12-22T00:00:00+01:00",
                "baseline_end": "2026-01-15T00:00:00+01:00",
            },
            "baseline_start",
            ["only 10 of the baseline's 24 whole local days", "at least 14"],
        ),
        (
            {**PARAMS, "start": "2027-01-04T00:00:00+01:00", "end": "2027-01-11T00:00:00+01:00"},
            "start",
            ["no data in the reporting period"],
        ),
    ],
)
def test_bad_parameters_are_422_problems_naming_them(researcher, params, parameter, words):
    response = researcher.get("/api/v1/buildings/main/savings", params=params)
    assert_problem(response, 422, *words, parameter=parameter)


def test_unknown_building_is_404_and_no_key_is_401(app, researcher):
    assert_problem(researcher.get("/api/v1/buildings/nowhere/savings", params=PARAMS), 404)
    assert_problem(
        researcher.get("/api/v1/buildings/Bad!/savings", params=PARAMS),
        422,
        parameter="building_id",
    )
    anonymous = TestClient(app)
    problem = assert_problem(anonymous.get("/api/v1/buildings/main/savings", params=PARAMS), 401)
    assert problem["required_role"] == "researcher"
    spec = ok(researcher.get("/openapi.json"))
    route = spec["paths"]["/api/v1/buildings/{building_id}/savings"]["get"]
    assert route["x-required-role"] == "researcher"
    names = {p["name"]: p["required"] for p in route["parameters"]}
    assert names["baseline_start"] is names["baseline_end"] is True
    properties = spec["components"]["schemas"]["BuildingSavingsAnswer"]["properties"]
    assert {"period", "units", "points_excluded", "avoided_kwh"} <= properties.keys()


# -- the report ----------------------------------------------------------------------------------


def run_report(example: WorkedExample, out: Path, *extra: str):
    args = ["report", "--start", "2026-02-02", "--end", "2026-02-16", "--out", str(out)]
    args += ["--data-dir", str(example.data_dir), "--registry", str(example.registry), *extra]
    return CliRunner().invoke(report_cli(), args)


WITH_BASELINE = ("--baseline-start", "2026-01-05", "--baseline-end", "2026-02-02")


@pytest.fixture(scope="module")
def report_page(example: WorkedExample, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("report") / "savings.html"
    result = run_report(example, out, *WITH_BASELINE)
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


def test_the_reports_savings_equal_the_api(report_page, researcher):
    page = Metrics()
    page.feed(report_page)
    assert ">Savings (IPMVP Option C)</h3>" in report_page
    body = ok(researcher.get("/api/v1/buildings/main/savings", params=PARAMS))
    model = body["baseline_model"]
    for metric, value in (
        ("savings-intercept-kwh-per-day", model["intercept_kwh_per_day"]),
        ("savings-kwh-per-degree-day", model["kwh_per_degree_day"]),
        ("savings-cv-rmse", model["cv_rmse"]),
        ("savings-nmbe", model["nmbe"]),
        ("savings-adjusted-baseline-kwh", body["adjusted_baseline_kwh"]),
        ("savings-measured-kwh", body["measured_kwh"]),
        ("savings-avoided-kwh", body["avoided_kwh"]),
        ("savings-avoided-share", body["avoided_share"]),
    ):
        assert page.one(metric, building="main") == value, metric
    assert "3 of 14 whole local days left out" in report_page


def test_the_report_shows_the_refusal_the_api_gives(report_page, researcher):
    page = Metrics()
    page.feed(report_page)
    problem = researcher.get("/api/v1/buildings/noisy/savings", params=PARAMS).json()
    assert page.one("savings-cv-rmse", building="noisy") == problem["failed"][0]["value"]
    assert not [m for m in page.all("savings-avoided-kwh") if m["building"] == "noisy"]
    shown = re.search(
        r'<span class="savings-refusal" data-building="noisy">(.*?)</span>', report_page, re.S
    )
    assert shown is not None and html.unescape(shown.group(1)) == problem["detail"]
    assert ">refused</span>" in report_page


def test_without_a_baseline_the_report_says_how_to_get_savings(example, tmp_path):
    out = tmp_path / "plain.html"
    result = run_report(example, out)
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert ">Savings (IPMVP Option C)</h3>" in text
    assert "Not computed: no baseline period was given" in text
    assert 'data-metric="savings-' not in text


def test_a_report_baseline_without_data_says_why(example, tmp_path):
    out = tmp_path / "old.html"
    result = run_report(
        example, out, "--baseline-start", "2020-01-06", "--baseline-end", "2020-02-03"
    )
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert text.count('class="savings-unavailable"') == 2
    assert "no data in the baseline" in text


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (("--baseline-start", "2026-01-05"), "go together"),
        (("--baseline-start", "2026-01-05", "--baseline-end", "soon"), "not a date"),
        (("--baseline-start", "2026-01-26", "--baseline-end", "2026-02-02"), "at least 14"),
        (
            ("--baseline-start", "2026-01-05", "--baseline-end", "2026-02-09"),
            "must be at or before --start",
        ),
        (
            ("--baseline-start", "2026-02-01", "--baseline-end", "2026-01-05"),
            "must be after --baseline-start",
        ),
    ],
)
def test_bad_baseline_options_exit_2_with_a_reason(example, tmp_path, extra, words):
    out = tmp_path / "r.html"
    result = run_report(example, out, *extra)
    assert result.exit_code == 2, result.output
    assert words in result.output
    assert not out.exists()


def test_the_progress_counts_a_savings_step_per_building(example):
    steps: list[str] = []
    figures = planner_report(
        example.store,
        example.campus,
        midnight(date(2026, 2, 2)),
        midnight(date(2026, 2, 16)),
        progress=steps.append,
        baseline=(midnight(date(2026, 1, 5)), midnight(date(2026, 2, 2))),
        protected=ProtectedReader(
            example.store, example.campus, OpenDataSettings(), midnight(date(2026, 2, 16))
        ),
    )
    assert len(steps) == report_steps(example.campus, savings=True) == 3 + 2 + 2 * 2
    assert [s for s in steps if s.startswith("savings")] == ["savings main", "savings noisy"]
    assert [o.building_id for o in figures.savings] == ["main", "noisy"]
    assert figures.savings[1].savings.rejection is not None
    with pytest.raises(ValueError, match="must end at or before the reporting period"):
        planner_report(
            example.store,
            example.campus,
            midnight(date(2026, 2, 2)),
            midnight(date(2026, 2, 16)),
            baseline=(midnight(date(2026, 1, 5)), midnight(date(2026, 2, 3))),
        )


# -- simulated: nothing changed, nothing saved ---------------------------------------------------


def test_a_simulated_campus_with_nothing_changed_saves_close_to_nothing(tmp_path):
    """Six simulated winter weeks with meter drop-outs and resets: no retrofit, no savings.

    The simulator's heat follows max(0, balance − outdoor), electricity the
    building's use, both the same in both periods; the daily HDD model passes
    Guideline 14 and its avoided energy is within the day-to-day scatter.
    """
    registry = tmp_path / "campus.yaml"
    registry.write_text(REGISTRY.format(teach=SIMULATED_SPACES, lib=LIBRARY_SPACES))
    campus = load_campus(registry)
    store = DuckDBStore(tmp_path / "campuslab.duckdb")
    try:
        config = SimulationConfig(
            seed=11, interval=timedelta(minutes=15), faults=frozenset({"dropout", "reset"})
        )
        start = midnight(date(2026, 1, 4))
        backfill_direct(CampusSimulator(campus, config), store, start, start + timedelta(days=43))
        savings = building_savings(
            store,
            campus,
            "teach",
            midnight(date(2026, 1, 5)),
            midnight(date(2026, 2, 2)),
            midnight(date(2026, 2, 2)),
            midnight(date(2026, 2, 16)),
        )
    finally:
        store.close()
    assert savings.rejection is None
    assert savings.model.kwh_per_degree_day > 0
    assert savings.baseline.used.sum() >= 20 and savings.reporting.used.sum() >= 10
    assert abs(savings.avoided.avoided_share) < 2 * savings.model.cv_rmse
