"""``campuslab report``: the planner report for a simulated week, against the API.

The week is the one of tests/test_analytics_api.py (a real DuckDB store, the
simulator's timetables imported). The report is written by the CLI command;
its numbers are read back from the ``data-metric`` attributes and must equal
the API's answers for the same period, as a planner's key sees them. The page
must make no external request, and it is rendered once in headless Chromium
(test-artifacts/report.png) so that a page that does not render fails here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import typer
from test_analytics_api import (
    MONDAY,
    NOW,
    WEEK,
    WEEK_END,
    WITHHELD,
    SeededWeek,
    make_clients,
    ok,
    seed_week,
    visible,
)
from typer.testing import CliRunner

from campuslab.analytics.learning_spaces import group_utilisation, utilisation_by_group
from campuslab.analytics.recommendations import right_sizing_of, right_sizing_report
from campuslab.analytics.report import booked_vs_actual_of_scope, planner_report, report_steps
from campuslab.api.keys import Role
from campuslab.api.models_analytics import EvidenceFigure
from campuslab.api.privacy_counts import ProtectedReader
from campuslab.api.report_render import fmt_evidence, report_answers
from campuslab.api.routers.exports import OpenDataSettings
from campuslab.cli.report_command import report

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ON_CI = os.environ.get("CI") == "true"
LIB_SENSORS = {"read-1", "group-1", "atrium", "aud-x", "lib-el"}
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)


def without_images(html: str) -> str:
    """The page without its embedded PNGs (base64 may spell anything, "NaN" too)."""
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "data:", html)


def report_cli() -> typer.Typer:
    """The command as ``cli/main.py`` registers it: ``app.command("report")(report)``."""
    app = typer.Typer()

    @app.callback()
    def campuslab() -> None:
        """Stand-in for the campuslab command group."""

    app.command("report")(report)
    return app


def run_report(week: SeededWeek, out: Path, *extra: str):
    args = ["report", "--start", "2026-03-02", "--end", "2026-03-09", "--out", str(out)]
    args += ["--data-dir", str(week.data_dir), "--registry", str(week.registry), *extra]
    return CliRunner().invoke(report_cli(), args)


class Metrics(HTMLParser):
    """Every ``data-metric`` element: its name, exact value and other data- attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[dict[str, object]] = []
        self.references: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        for name in ("src", "href", "srcset", "poster", "data", "action", "formaction"):
            if attributes.get(name) is not None:
                self.references.append((tag, name, attributes[name] or ""))
        if "data-metric" in attributes:
            found = {k[5:]: v for k, v in attributes.items() if k.startswith("data-")}
            found["value"] = json.loads(attributes["data-value"] or "null")
            self.found.append(found)

    def one(self, metric: str, **where: str) -> object:
        hits = [
            m["value"]
            for m in self.found
            if m["metric"] == metric and all(m.get(k) == v for k, v in where.items())
        ]
        assert len(hits) == 1, (metric, where, hits)
        return hits[0]

    def all(self, metric: str) -> list[dict[str, object]]:
        return [m for m in self.found if m["metric"] == metric]


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededWeek]:
    seeded = seed_week(tmp_path_factory.mktemp("week"))
    yield seeded
    seeded.store.close()


@pytest.fixture(scope="module")
def written(week: SeededWeek, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    result = run_report(week, out)
    assert result.exit_code == 0, result.output
    assert "Wrote" in result.output
    return out


@pytest.fixture(scope="module")
def page(written: Path) -> Metrics:
    parser = Metrics()
    parser.feed(written.read_text(encoding="utf-8"))
    return parser


@pytest.fixture(scope="module")
def planner(week: SeededWeek) -> TestClient:
    return make_clients(week).as_role(Role.PLANNER)


@pytest.fixture(scope="module")
def facilities(week: SeededWeek) -> TestClient:
    return make_clients(week).as_role(Role.FACILITIES)


# -- the report's numbers are the API's -----------------------------------------------------


def test_utilisation_equals_the_api(page, planner):
    campus = ok(planner.get("/api/v1/campus/utilisation", params=WEEK))
    assert page.one("campus-utilisation") == campus["total"]["figures"]["utilisation"]
    assert (
        page.one("group-utilisation", scope="campus", key="testsite")
        == (campus["total"]["figures"]["utilisation"])
    )
    assert page.one("campus-frequency-rate") == campus["total"]["figures"]["frequency_rate"]
    for building in campus["by_building"]:
        assert (
            page.one("group-utilisation", scope="building", key=building["key"])
            == (building["figures"]["utilisation"])
        )
        alone = ok(planner.get(f"/api/v1/buildings/{building['key']}/utilisation", params=WEEK))
        assert alone["total"]["figures"] == building["figures"]
    for group in campus["by_space_type"]:
        assert (
            page.one("group-utilisation", scope="space_type", key=group["key"])
            == (group["figures"]["utilisation"])
        )


def test_each_spaces_utilisation_equals_its_own_route(page, planner, week):
    ranked = page.all("space-utilisation")
    assert {m["space"] for m in ranked} == set(visible(week))  # the 2-seat office is withheld
    assert [m["value"] for m in ranked] == sorted((m["value"] for m in ranked), reverse=True)
    for metric in ranked:
        space = ok(planner.get(f"/api/v1/spaces/{metric['space']}/utilisation", params=WEEK))
        assert metric["value"] == pytest.approx(space["utilisation"], rel=1e-12)


def test_energy_and_emissions_equal_the_api(page, planner, week):
    delivered = 0.0
    for building in week.campus.buildings:
        energy = ok(planner.get(f"/api/v1/buildings/{building.id}/energy", params=WEEK))
        assert page.one("eui", building=building.id) == energy["eui"]["kwh_per_m2_year"]
        assert (
            page.one("emissions-location", building=building.id)
            == (energy["emissions"]["location_based_kg"])
        )
        assert (
            page.one("emissions-market", building=building.id)
            == (energy["emissions"]["market_based_kg"])
        )
        assert (
            page.one("kwh-per-occupant-hour", building=building.id)
            == (energy["use_intensity"]["kwh_per_occupant_hour"])
        )
        delivered += energy["delivered_kwh"]
    assert page.one("total-delivered-kwh") == pytest.approx(delivered)


def test_recommendations_equal_the_api(page, planner):
    advice = ok(planner.get("/api/v1/recommendations", params=WEEK))["recommendations"]
    shown = page.all("recommendation-impact")
    assert [(m["space"], m["kind"], m["value"]) for m in shown] == [
        (r["space_id"], r["kind"], r["impact_seat_hours"]) for r in advice
    ]
    assert len(shown) >= 2


def test_bookings_equal_the_api_as_a_planner_sees_them(page, planner, week):
    for space_id in ("hall-a", "hall-b", "sem-1"):
        booked = ok(planner.get(f"/api/v1/spaces/{space_id}/bookings", params=WEEK))
        assert page.one("no-show-rate", space=space_id) == booked["no_show_rate"]
        assert page.one("booked-frequency", space=space_id) == booked["booked_frequency"]
        peaks = {
            m["start"]: m["value"] for m in page.all("observed-peak") if m["space"] == space_id
        }
        assert peaks == {  # as a planner sees them: small counts are not in the page
            b["start"]: b["observed_peak"]
            for b in booked["bookings"]
            if not b["observed_peak_suppressed"]
        }


def test_ieq_and_quality_equal_the_api(page, planner, facilities, week):
    for space_id in visible(week):
        ieq = ok(planner.get(f"/api/v1/spaces/{space_id}/ieq", params=WEEK))
        for category, share in ieq["co2"]["category_shares"].items():
            assert page.one("co2-share", space=space_id, category=category) == share
        above = ieq["co2"]["hours_above_1000_ppm"]
        assert page.one("hours-above-1000-ppm", space=space_id) == above
    assert not [m for m in page.found if m.get("space") in WITHHELD]
    # the appendix is the API's answer without the withheld office's sensors
    quality = ok(facilities.get("/api/v1/quality", params=WEEK))
    days = [d for d in quality["days"] if d["sensor"] not in WITHHELD]
    points, flagged = sum(d["points"] for d in days), sum(d["flagged"] for d in days)
    assert page.one("quality-flagged") == flagged > 0
    assert page.one("quality-qci") == pytest.approx((points - flagged) / points, rel=1e-12)
    for check in quality["flagged_by_check"]:
        assert page.one("quality-check", check=check) == sum(
            d["flagged_by_check"].get(check, 0) for d in days
        )
    lib = ok(facilities.get("/api/v1/quality", params={**WEEK, "building": "lib"}))
    assert lib["points"] == sum(d["points"] for d in days if d["sensor"] in LIB_SENSORS)


def test_the_report_is_the_analytics_for_the_same_period(week):
    """Below the API: the report's figures are the analytics functions' results."""
    steps: list[str] = []
    reader = ProtectedReader(week.store, week.campus, OpenDataSettings(), NOW)
    figures = planner_report(
        week.store,
        week.campus,
        MONDAY,
        WEEK_END,
        week.timetables,
        progress=steps.append,
        protected=reader,
    )
    assert len(steps) == report_steps(week.campus) == 3 + 8 + 2
    assert figures.withheld == tuple(WITHHELD)
    shown = visible(week)
    # a planner's use figures: from the published cells, with their bounds
    hourly, use = reader.hourly(shown, MONDAY, WEEK_END)
    [campus] = group_utilisation(week.campus, hourly, "campus")
    assert figures.utilisation.total == campus
    assert figures.protection.bounds(shown) == use.bounds(shown)
    assert use.bounds(shown).suppressed_cells > 0
    [exact] = utilisation_by_group(week.store, week.campus, MONDAY, WEEK_END, "campus", shown)
    assert campus.utilisation.used_seat_hours < exact.utilisation.used_seat_hours
    assert [e.occupancy for e in figures.energy] == [
        reader.occupant_hours(b, MONDAY, WEEK_END) for b in week.campus.buildings
    ]
    # booked vs actual and the advice: from the same published cells (as their routes)
    booked = booked_vs_actual_of_scope(week.campus, hourly, week.timetables, use)
    assert figures.bookings == booked
    assert figures.recommendations.report == right_sizing_of(week.campus, hourly, booked)
    assert figures.recommendations.suppressed_cells == {
        s: use.bounds([s]).suppressed_cells for s in shown
    }
    exact = planner_report(week.store, week.campus, MONDAY, WEEK_END, week.timetables, exact=True)
    assert exact.recommendations.report == right_sizing_report(
        week.store, week.campus, MONDAY, WEEK_END, week.timetables
    )
    assert exact.recommendations.suppressed_cells == {}
    with pytest.raises(ValueError, match="published cells"):
        planner_report(week.store, week.campus, MONDAY, WEEK_END, week.timetables)


def test_an_exact_report_gives_the_facilities_answers(week, facilities):
    figures = planner_report(week.store, week.campus, MONDAY, WEEK_END, week.timetables, exact=True)
    answers = report_answers(figures, week.campus)
    assert figures.protection is None and figures.withheld == ()
    campus = ok(facilities.get("/api/v1/campus/utilisation", params=WEEK))
    assert answers.utilisation.total.model_dump() == campus["total"]
    assert [g.model_dump() for g in answers.utilisation.by_building] == campus["by_building"]
    for group in answers.spaces:
        space = ok(facilities.get(f"/api/v1/spaces/{group.key}/utilisation", params=WEEK))
        assert group.figures.used_seat_hours == space["used_seat_hours"]
        assert group.figures.utilisation == space["utilisation"]
    assert {g.key for g in answers.spaces} >= set(WITHHELD)  # nothing withheld
    for energy in answers.energy:
        api = ok(facilities.get(f"/api/v1/buildings/{energy.building_id}/energy", params=WEEK))
        assert energy.use_intensity.model_dump() == api["use_intensity"]
        assert api["use_intensity"]["lower_bound"] is False


def test_the_planners_report_states_its_bounds_as_the_api_does(week, planner):
    reader = ProtectedReader(week.store, week.campus, OpenDataSettings(), NOW)
    figures = planner_report(
        week.store, week.campus, MONDAY, WEEK_END, week.timetables, protected=reader
    )
    answers = report_answers(figures, week.campus)
    campus = ok(planner.get("/api/v1/campus/utilisation", params={**WEEK, "profile": "true"}))
    assert answers.utilisation.model_dump() == campus
    for building_id, profile in answers.building_profiles.items():
        alone = ok(
            planner.get(
                f"/api/v1/buildings/{building_id}/utilisation",
                params={**WEEK, "profile": "true"},
            )
        )
        assert profile.model_dump() == alone["profile"]
    for energy in answers.energy:
        api = ok(planner.get(f"/api/v1/buildings/{energy.building_id}/energy", params=WEEK))
        assert energy.use_intensity.model_dump() == api["use_intensity"]
    assert answers.utilisation.total.figures.lower_bound


def test_bounded_figures_read_at_least_or_at_most_in_the_report(written, planner):
    advice = ok(planner.get("/api/v1/recommendations", params=WEEK))["recommendations"]
    text = written.read_text(encoding="utf-8").replace("\xa0", " ")
    bounded = [
        (name, figure["bound"])
        for r in advice
        for name, figure in r["evidence"].items()
        if figure["bound"] and not figure["suppressed"]
    ]
    assert bounded, "the planner's week has evidence resting on suppressed cells"
    for name, bound in bounded:
        words = {"lower": "at least", "upper": "at most"}[bound]
        assert f"{name.replace('_', ' ')}: {words} " in text, (name, bound)
    assert fmt_evidence(EvidenceFigure(value=3.0, unit="people", suppressed=False)) == "3\xa0people"


# -- what a planner reads ---------------------------------------------------------------------


def test_the_report_has_every_section_with_units_and_sources(written):
    html = written.read_text(encoding="utf-8")
    for heading in (
        "1. Summary",
        "2. Utilisation ranking",
        "3. When spaces are used: hour × weekday",
        "4. Booked vs actual",
        "5. Indoor environment: EN 16798-1 compliance",
        "6. Energy intensity and emissions",
        "7. Recommendations and their evidence",
        "Appendix A: data quality",
        "Appendix B: definitions, assumptions and sources",
    ):
        assert f">{heading}</h2>" in html, heading
    for words in (
        "Mon 02 Mar 2026 00:00 to Mon 09 Mar 2026 00:00",
        "Mon–Fri 08:00–16:00 (Europe/Oslo)",
        "poor</span> U &lt; 25",
        "EN 16798-1:2019",
        "Space Management Group (2006)",
        "kWh/m²",
        "kg CO₂e",
        "not a yearly figure: annualised from only 7.0 days",  # EUI of a week: flagged
        "not fitted: only 7 whole days with energy and HDD",  # no degree-day fit on a week
        "fewer than 5",  # quiet-1's P95 of 3 people is not shown to a planner
        "office-1 (2 seats)",  # withheld, and the report says so
        "placeholder",  # the district-heating factor is a placeholder, and the report says so
    ):
        assert words in html, words
    assert html.count("data:image/png;base64,") >= 6  # ranking, 3 heatmaps, bookings, CO2, EUI
    text = without_images(html)
    assert "NaN" not in text and "None" not in text


def test_no_external_requests(written, page):
    html = written.read_text(encoding="utf-8")
    for tag, attribute, value in page.references:
        assert value.startswith(("data:", "#")), (tag, attribute, value[:80])
    assert not [t for t, a in page.tags if t in ("script", "iframe", "object", "embed", "link")]
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
    assert not re.search(r"url\(\s*['\"]?\s*(?:https?:)?//", html, re.I)
    assert "@import" not in html and "@font-face" not in html


def chromium() -> str | None:
    return shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )


def test_the_report_renders_in_headless_chromium(written, tmp_path):
    browser = chromium()
    if browser is None:
        message = "Chromium is not installed (apt-get install chromium)"
        if ON_CI:
            pytest.fail(f"{message}; on CI a missing browser is a failure, not a skip")
        pytest.skip(message)  # not on CI (above)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    done = subprocess.run(
        [
            browser,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1280,4000",
            written.as_uri(),
        ],
        capture_output=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    assert shot.stat().st_size > 100_000
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (4000, 1280)
    ink = (pixels[..., :3] < 0.9).any(axis=2)
    assert ink.mean() > 0.05, "the page rendered mostly blank"
    assert ink[3000:].any(), "the page is longer than the first 3000 px"
    assert np.unique(pixels.reshape(-1, pixels.shape[2])[::97], axis=0).shape[0] > 50  # plots


# -- the command ------------------------------------------------------------------------------


def test_a_building_report_equals_that_buildings_api(week, planner, tmp_path):
    out = tmp_path / "lib.html"
    result = run_report(week, out, "--building", "lib")
    assert result.exit_code == 0, result.output
    parser = Metrics()
    parser.feed(out.read_text(encoding="utf-8"))
    lib = ok(planner.get("/api/v1/buildings/lib/utilisation", params=WEEK))
    assert parser.one("campus-utilisation") == lib["total"]["figures"]["utilisation"]
    assert {m["space"] for m in parser.all("space-utilisation")} == set(visible(week, "lib"))
    assert [m["building"] for m in parser.all("eui")] == ["lib"]
    advice = ok(planner.get("/api/v1/recommendations", params={**WEEK, "building": "lib"}))
    assert [m["value"] for m in parser.all("recommendation-impact")] == [
        r["impact_seat_hours"] for r in advice["recommendations"]
    ]


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--building", "nowhere"], "unknown building"),
        (["--start", "last tuesday"], "not a date"),
        (["--start", "2026-03-09", "--end", "2026-03-02"], "must be after"),
    ],
)
def test_bad_options_exit_2_with_a_reason(week, tmp_path, extra, words):
    args = ["report", "--start", "2026-03-02", "--end", "2026-03-09", "--out", str(tmp_path / "r")]
    args += ["--data-dir", str(week.data_dir), "--registry", str(week.registry)]
    result = CliRunner().invoke(report_cli(), args + extra)
    assert result.exit_code == 2, result.output
    assert words in result.output
    assert not (tmp_path / "r").exists()


def test_no_store_in_the_data_dir_exits_2(week, tmp_path):
    args = ["report", "--start", "2026-03-02", "--end", "2026-03-09"]
    args += ["--data-dir", str(tmp_path / "empty"), "--registry", str(week.registry)]
    result = CliRunner().invoke(report_cli(), [*args, "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 2 and "no store" in result.output


def test_a_period_with_no_data_exits_1_and_says_so(week, tmp_path):
    """No data reads as no data: no page of "0 kWh", "0 kg CO₂e" and made-up advice."""
    out = tmp_path / "empty.html"
    args = ["report", "--start", "2020-01-06", "--end", "2020-01-13", "--out", str(out)]
    args += ["--data-dir", str(week.data_dir), "--registry", str(week.registry)]
    result = CliRunner().invoke(report_cli(), args)
    assert result.exit_code == 1, result.output
    said = " ".join(result.output.split())
    assert "no readings for the campus" in said and "nothing to report" in said
    # the resolved period, UTC: 6 January 00:00 in Oslo is 23:00 UTC the day before
    assert "2020-01-05T23:00:00Z" in said and "2020-01-12T23:00:00Z" in said
    assert not out.exists()


def test_the_report_route_answers_no_data_as_a_problem(week, planner):
    answer = planner.get("/api/v1/report", params={"start": "2020-01-06", "end": "2020-01-13"})
    assert answer.status_code == 404, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert body["type"].endswith("/no-data") and body["title"] == "No data in the period"
    assert (body["requested_start"], body["requested_end"]) == (
        "2020-01-05T23:00:00Z",
        "2020-01-12T23:00:00Z",
    )
    assert "no readings for the campus" in body["detail"]


def test_a_building_without_meter_data_has_no_energy_figures_not_zeros(week, planner):
    body = ok(
        planner.get(
            "/api/v1/buildings/lib/energy", params={"start": "2020-01-06", "end": "2020-01-13"}
        )
    )
    assert body["delivered_kwh"] is None and body["electricity_kwh"] is None
    assert body["emissions"]["location_based_kg"] is None
    assert body["emissions"]["market_based_kg"] is None
    assert body["eui"] is None and "lib-el" in body["meters_without_data"]


# -- the same report over HTTP ------------------------------------------------------------------


def test_the_report_route_gives_a_planner_the_api_numbers(week, planner):
    answer = planner.get("/api/v1/report", params=WEEK)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    served = Metrics()
    served.feed(answer.text)
    campus = ok(planner.get("/api/v1/campus/utilisation", params=WEEK))
    assert served.one("campus-utilisation") == campus["total"]["figures"]["utilisation"]
    advice = ok(planner.get("/api/v1/recommendations", params=WEEK))["recommendations"]
    assert [(m["space"], m["kind"], m["value"]) for m in served.all("recommendation-impact")] == [
        (r["space_id"], r["kind"], r["impact_seat_hours"]) for r in advice
    ]
    assert {m["space"] for m in served.all("space-utilisation")} == set(visible(week))


def test_the_report_route_is_for_planners_and_checks_its_parameters(week, planner):
    researcher = make_clients(week).as_role(Role.RESEARCHER)
    assert researcher.get("/api/v1/report", params=WEEK).status_code == 403
    bad = [
        ({**WEEK, "baseline_start": "2026-01-05T00:00:00+01:00"}, "baseline_end"),
        ({**WEEK, "building": "nope"}, "building"),
        ({"start": WEEK["end"], "end": WEEK["start"]}, "end"),
    ]
    for params, parameter in bad:
        answer = planner.get("/api/v1/report", params=params)
        assert answer.status_code in (404, 422), (params, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json().get("parameter", parameter) == parameter, answer.json()
