"""The planner report as one self-contained HTML file: the API's answers, with plots.

``render_report`` turns an ``analytics.report.PlannerReport`` into HTML. It
first builds, for every section, the very answer model the API returns for
the same period (``api.models_analytics``: the same builders, the same
small-count suppression for a planner), and renders those. So every number
in the report is the API's number, and each carries a ``data-metric``
attribute with its exact value for checking (tests/test_report.py). The
savings of a building are the ``/savings`` route's answer, or the refusal its
422 problem carries (tests/test_savings_api.py).

The file makes no request of its own: the plots are PNG images drawn by
matplotlib (Agg, through ``Figure`` without pyplot) and embedded as base64
``data:`` URIs, the styles are inline, and the fonts are the reader's own (no
web fonts). Links to the sources are plain text links a reader may follow.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from campuslab import __version__
from campuslab.analytics.report import SOURCES, PlannerReport, SavingsOutcome
from campuslab.api.models_analytics import (
    BaselineRefusal,
    BookedVsActualAnswer,
    BuildingEnergyAnswer,
    BuildingSavingsAnswer,
    CategoryShares,
    EvidenceFigure,
    HourWeekdayProfile,
    QualityAnswer,
    RecommendationsAnswer,
    SpaceIeqAnswer,
    UtilisationGroup,
    UtilisationOverviewAnswer,
    baseline_refusal,
    bookings_answer,
    energy_answer,
    ieq_answer,
    profile_model,
    quality_answer,
    recommendations_answer,
    savings_answer,
    utilisation_group,
    utilisation_overview_answer,
)
from campuslab.api.parameters import Period
from campuslab.core.readings import isoformat_utc
from campuslab.core.registry import Campus

TEMPLATES = Path(__file__).parent / "templates"
BAND_COLOURS = {"poor": "#c0392b", "fair": "#e0a526", "good": "#2e8b57", None: "#9aa0a6"}
CATEGORY_COLOURS = {"I": "#2e8b57", "II": "#8cc084", "III": "#e0a526", "IV": "#c0392b"}
MAX_WORST_DAYS = 15
MAX_GAPS = 15


@dataclass(frozen=True)
class SavingsShown:
    """One building's savings as the API gives them: the answer, the refusal, or the reason.

    Attributes:
        building_id: the building.
        name: its name.
        answer: ``GET /api/v1/buildings/{id}/savings``'s answer, when Guideline 14 accepts
            the baseline.
        refusal: what that route's 422 problem carries, when Guideline 14 refuses it.
        unavailable: that route's 422 detail, when savings cannot be computed.
    """

    building_id: str
    name: str
    answer: BuildingSavingsAnswer | None = None
    refusal: BaselineRefusal | None = None
    unavailable: str | None = None


def savings_shown(outcome: SavingsOutcome, period: Period, campus: Campus) -> SavingsShown:
    """A building's savings in the API's models (``savings_answer``, ``baseline_refusal``)."""
    name = campus.building(outcome.building_id).name
    savings = outcome.savings
    if savings is None:
        return SavingsShown(outcome.building_id, name, unavailable=outcome.unavailable)
    if savings.rejection is not None:
        return SavingsShown(outcome.building_id, name, refusal=baseline_refusal(savings))
    return SavingsShown(outcome.building_id, name, answer=savings_answer(savings, period, campus))


@dataclass(frozen=True)
class ReportAnswers:
    """Every section of the report as the API answers it for the same period."""

    utilisation: UtilisationOverviewAnswer
    spaces: list[UtilisationGroup]
    building_profiles: dict[str, HourWeekdayProfile]
    bookings: list[BookedVsActualAnswer]
    ieq: list[SpaceIeqAnswer]
    energy: list[BuildingEnergyAnswer]
    recommendations: RecommendationsAnswer
    quality: QualityAnswer
    savings: list[SavingsShown] = field(default_factory=list)


def report_answers(report: PlannerReport, campus: Campus) -> ReportAnswers:
    """The API's answer models for each section of ``report``, as its audience sees them
    (a planner, unless the report was computed ``exact`` for facilities). Below facilities
    the use figures were computed from the published cells, and ``report.protection``
    gives each answer its bounds, as the routes do."""
    period = Period(report.requested_start, report.requested_end)
    k, exact, protection = report.k, report.exact, report.protection
    campus_scope = report.building_id is None
    scope_id = report.building_id or campus.site.id
    return ReportAnswers(
        utilisation=utilisation_overview_answer(
            report.utilisation, period, campus, k=k, exact=exact, protection=protection
        ),
        spaces=[utilisation_group(g, k, exact, protection)[0] for g in report.utilisation.by_space],
        building_profiles={
            building_id: profile_model(
                profile,
                protection.bounds(profile.space_ids, core_only=False) if protection else None,
            )
            for building_id, profile in report.building_profiles.items()
        },
        bookings=[
            bookings_answer(result, space_id, result.capacity, period, campus, k=k, exact=exact)
            for space_id, result in report.bookings.items()
        ],
        ieq=[
            ieq_answer(ieq, campus.building_of(ieq.space_id).id, period, campus)
            for ieq in report.ieq
        ],
        energy=[energy_answer(energy, period, campus) for energy in report.energy],
        recommendations=recommendations_answer(
            report.recommendations, scope_id, campus_scope, period, campus, k=k, exact=exact
        ),
        quality=quality_answer(report.quality, scope_id, campus_scope, period, campus),
        savings=[savings_shown(outcome, period, campus) for outcome in report.savings],
    )


# -- numbers as text ------------------------------------------------------------------------

NO_DATA = "–"


def _grouped(text: str) -> str:
    return text.replace(",", "\u202f")  # SI: thin space between thousands


def fmt_number(value: float | None, digits: int = 1, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return NO_DATA
    text = _grouped(f"{value:,.{digits}f}")
    return f"{text}\u00a0{unit}" if unit else text


def fmt_percent(value: float | None, digits: int = 1) -> str:
    if value is None or not math.isfinite(value):
        return NO_DATA
    return f"{value * 100:.{digits}f}\u00a0%"


def metric(value: Any, text: str, name: str, **attributes: Any) -> Markup:
    """``text`` tagged with the exact value it shows: ``data-metric`` and ``data-value``."""
    extra = "".join(f' data-{k.replace("_", "-")}="{escape(v)}"' for k, v in attributes.items())
    return Markup(
        f'<span class="metric" data-metric="{escape(name)}" '
        f"data-value='{escape(json.dumps(value))}'{extra}>{escape(text)}</span>"
    )


def local_time(moment_utc: str, campus: Campus, pattern: str = "%a %d %b %Y %H:%M") -> str:
    """An API timestamp (UTC, with Z) in the site's local time."""
    moment = datetime.fromisoformat(moment_utc.replace("Z", "+00:00")).astimezone(campus.tz)
    return moment.strftime(pattern)


def share_of(figures: CategoryShares, categories: Sequence[str]) -> float | None:
    """The shares of ``categories`` added up (e.g. I and II); None without occupied hours."""
    shares = [figures.category_shares.get(c) for c in categories]
    return None if any(s is None for s in shares) else sum(shares)


EVIDENCE_BOUND_WORDS = {"lower": "at least ", "upper": "at most ", None: ""}


def fmt_evidence(figure: EvidenceFigure) -> str:
    """One figure of evidence with its unit; shares as percentages; "at least"/"at most"
    when, below facilities, it rests on suppressed cells (``figure.bound``).

    >>> fmt_evidence(EvidenceFigure(value=12.0, unit="h", suppressed=False, bound="lower"))
    'at least 12 h'
    """
    if figure.value is None:
        return NO_DATA
    bound = EVIDENCE_BOUND_WORDS[figure.bound]
    if figure.unit.startswith("share"):
        return f"{bound}{fmt_percent(figure.value)} ({figure.unit})"
    digits = 0 if float(figure.value).is_integer() else 2
    return bound + fmt_number(figure.value, digits, figure.unit)


# -- plots --------------------------------------------------------------------------------


def _figure(width: float, height: float) -> tuple[Figure, Any]:
    """A figure outside pyplot (no global state, no display): it renders with Agg."""
    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.subplots()


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def ranking_plot(spaces: Sequence[UtilisationGroup]) -> str | None:
    """Horizontal bars of U per space, best first, coloured by HEFCE band."""
    ranked = [s for s in spaces if s.figures.utilisation is not None]
    if not ranked:
        return None
    ranked.sort(key=lambda s: s.figures.utilisation)
    figure, axes = _figure(8, 0.28 * len(ranked) + 1.2)
    values = [s.figures.utilisation * 100 for s in ranked]
    axes.barh(
        [f"{s.key} ({s.capacity})" for s in ranked],
        values,
        color=[BAND_COLOURS[s.band] for s in ranked],
    )
    for limit, label in ((25, "fair ≥ 25 %"), (35, "good ≥ 35 %")):
        axes.axvline(limit, color="#555", linestyle="--", linewidth=0.8)
        axes.text(limit, len(ranked) - 0.4, f" {label}", fontsize=7, va="bottom", color="#555")
    axes.set_xlabel("utilisation U over core hours, % of available seat-hours")
    axes.set_ylabel("space (seats)")
    axes.tick_params(axis="y", labelsize=7)
    axes.set_xlim(0, max(40, max(values) * 1.1))
    axes.grid(axis="x", alpha=0.3)
    return _png(figure)


def heatmap_plot(profile: HourWeekdayProfile, title: str) -> str:
    """Hour × weekday utilisation, core hours outlined, cells without data grey."""
    grid = np.array(
        [[np.nan if v is None else v * 100 for v in row] for row in profile.utilisation]
    )
    figure, axes = _figure(9, 2.9)
    colours = matplotlib.colormaps["viridis"].with_extremes(bad="#d9d9d9")
    image = axes.imshow(np.ma.masked_invalid(grid), cmap=colours, aspect="auto", vmin=0)
    core = np.array(profile.core)
    for day, hour in zip(*np.nonzero(core), strict=True):
        axes.add_patch(
            Rectangle((hour - 0.5, day - 0.5), 1, 1, fill=False, edgecolor="white", linewidth=0.6)
        )
    axes.set_yticks(range(7), [d.capitalize() for d in profile.weekdays])
    axes.set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)])
    axes.set_xlabel("local hour of day (start); white outline: core hours; grey: no data")
    axes.set_title(title, fontsize=10)
    bar = figure.colorbar(image, ax=axes, pad=0.01)
    bar.set_label("U, % of seats", fontsize=8)
    return _png(figure)


def bookings_plot(bookings: Sequence[BookedVsActualAnswer]) -> str | None:
    shown = [b for b in bookings if b.timetable_imported and b.booked_hours is not None]
    if not shown:
        return None
    figure, axes = _figure(8, 0.5 * len(shown) + 1.3)
    rows = np.arange(len(shown))
    series = (
        ("booked core hours", [b.booked_hours for b in shown], "#4c72b0"),
        ("no-show hours (booked, nobody came)", [b.no_show_hours or 0 for b in shown], "#c0392b"),
        ("unbooked hours in use", [b.unbooked_used_hours or 0 for b in shown], "#e0a526"),
    )
    height = 0.8 / len(series)
    for i, (label, values, colour) in enumerate(series):
        axes.barh(rows + i * height, values, height, label=label, color=colour)
    axes.set_yticks(rows + height, [b.space_id for b in shown])
    axes.invert_yaxis()
    axes.set_xlabel("hours (core hours of the period)")
    figure.legend(fontsize=7, loc="outside lower center", ncol=3, frameon=False)
    axes.grid(axis="x", alpha=0.3)
    return _png(figure)


def co2_plot(ieq: Sequence[SpaceIeqAnswer]) -> str | None:
    shown = [i for i in ieq if i.co2.occupied_hours > 0]
    if not shown:
        return None
    figure, axes = _figure(8, 0.28 * len(shown) + 1.3)
    left = np.zeros(len(shown))
    labels = [i.space_id for i in shown]
    for category, colour in CATEGORY_COLOURS.items():
        shares = np.array([(i.co2.category_shares[category] or 0) * 100 for i in shown])
        axes.barh(labels, shares, left=left, color=colour, label=f"category {category}")
        left += shares
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel("share of occupied hours by EN 16798-1 ΔCO₂ category, %")
    axes.tick_params(axis="y", labelsize=7)
    figure.legend(fontsize=7, loc="outside upper center", ncol=4, frameon=False)
    return _png(figure)


def eui_plot(energy: Sequence[BuildingEnergyAnswer]) -> str | None:
    shown = [e for e in energy if e.eui is not None]
    if not shown:
        return None
    figure, axes = _figure(7, 0.55 * len(shown) + 1.3)
    labels = [e.building_id for e in shown]
    values = [e.eui.kwh_per_m2_year for e in shown]
    bars = axes.barh(labels, values, color="#4c72b0")
    for bar, answer in zip(bars, shown, strict=True):
        if answer.eui.annualised:
            bar.set_hatch("//")
            bar.set_edgecolor("white")
    benchmark = shown[0].eui.benchmark_kwh_per_m2
    axes.axvline(benchmark, color="#c0392b", linestyle="--", linewidth=1)
    axes.text(benchmark, -0.6, f" SSB 2011: {benchmark:g}", color="#c0392b", fontsize=7)
    axes.invert_yaxis()
    axes.set_xlabel("EUI, kWh/m² per year (hatched: annualised from a shorter period)")
    axes.grid(axis="x", alpha=0.3)
    return _png(figure)


def emissions_plot(energy: Sequence[BuildingEnergyAnswer]) -> str | None:
    if all(e.emissions.location_based_kg is None for e in energy):
        return None  # no meter data: nothing to plot, and no bars of 0
    figure, axes = _figure(7, 0.6 * len(energy) + 1.3)
    rows = np.arange(len(energy))
    location = [e.emissions.location_based_kg or 0.0 for e in energy]  # no data: no bar
    market = [e.emissions.market_based_kg or 0.0 for e in energy]
    axes.barh(rows, location, 0.4, label="location-based", color="#2e8b57")
    axes.barh(rows + 0.4, market, 0.4, label="market-based", color="#8e44ad")
    axes.set_yticks(rows + 0.2, [e.building_id for e in energy])
    axes.invert_yaxis()
    axes.set_xlabel("Scope 2 emissions in the period, kg CO₂e")
    figure.legend(fontsize=7, loc="outside lower center", ncol=2, frameon=False)
    axes.grid(axis="x", alpha=0.3)
    return _png(figure)


def plots(answers: ReportAnswers, campus: Campus) -> dict[str, Any]:
    """Every plot of the report as a data: URI (None where there is nothing to plot)."""
    profiles = {}
    if answers.utilisation.profile is not None:
        profiles[answers.utilisation.id] = heatmap_plot(
            answers.utilisation.profile, f"{answers.utilisation.name}: all spaces pooled"
        )
    if answers.utilisation.scope == "campus":
        for building_id, profile in answers.building_profiles.items():
            name = campus.building(building_id).name
            profiles[building_id] = heatmap_plot(profile, f"{name} ({building_id})")
    return {
        "ranking": ranking_plot(answers.spaces),
        "heatmaps": profiles,
        "bookings": bookings_plot(answers.bookings),
        "co2": co2_plot(answers.ieq),
        "eui": eui_plot(answers.energy),
        "emissions": emissions_plot(answers.energy),
    }


# -- honest notes -------------------------------------------------------------------------


def missing_data_notes(answers: ReportAnswers, campus: Campus) -> list[str]:
    """What the reader should know is missing or assumed, in plain words."""
    notes = []
    total = answers.utilisation.total.figures
    if total.room_hours_without_data:
        notes.append(
            f"{total.room_hours_without_data} core room-hours had no occupancy reading (sensor "
            "offline). They are left out of utilisation, not counted as empty."
        )
    silent = [s.key for s in answers.spaces if s.figures.available_room_hours == 0]
    if silent:
        notes.append(f"No occupancy data in core hours for: {', '.join(silent)}.")
    if not answers.bookings:
        notes.append(
            "No timetable has been imported for any space of the scope, so booked vs actual "
            "and the no-show rule are not available (campuslab timetable import, or POST "
            "/api/v1/spaces/{id}/timetable)."
        )
    no_people = [i.space_id for i in answers.ieq if i.occupied_hours == 0]
    if no_people:
        notes.append(
            "IEQ is judged over occupied hours only; these spaces had none: "
            + ", ".join(no_people)
            + "."
        )
    adaptive = {i.adaptive_note for i in answers.ieq if i.adaptive is None}
    notes += [f"Adaptive comfort model not computed: {note}." for note in sorted(adaptive)]
    buildings_of: dict[str, list[str]] = {}
    for energy in answers.energy:
        for note in energy.notes:
            buildings_of.setdefault(note, []).append(energy.building_id)
    notes += [f"{', '.join(ids)}: {note}." for note, ids in buildings_of.items()]
    if answers.quality.series_without_data:
        listed = ", ".join(f"{s.sensor}/{s.quantity}" for s in answers.quality.series_without_data)
        notes.append(f"Series without any reading in the period: {listed}.")
    return notes


# -- the page -----------------------------------------------------------------------------


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        number=fmt_number,
        percent=fmt_percent,
        local=local_time,
        share_of=share_of,
        evidence=fmt_evidence,
    )
    environment.globals.update(metric=metric, NO_DATA=NO_DATA)
    return environment


def api_query(answers: ReportAnswers) -> str:
    period = answers.utilisation.period
    return f"start={period.requested_start}&end={period.requested_end}"


def render_report(
    report: PlannerReport,
    campus: Campus,
    *,
    generated_at: datetime | None = None,
    data_source: str = "",
) -> str:
    """The report as one self-contained HTML page."""
    answers = report_answers(report, campus)
    k = report.k
    generated = generated_at or datetime.now(UTC)
    building = campus.building(report.building_id) if report.building_id else None
    worst = sorted(
        (d for d in answers.quality.days if d.points and d.flagged),
        key=lambda d: (d.qci if d.qci is not None else 1.0, -d.flagged, d.sensor, d.date),
    )[:MAX_WORST_DAYS]
    gaps = sorted(answers.quality.gaps, key=lambda g: -g.missing)[:MAX_GAPS]
    severities = {}
    for advice in answers.recommendations.recommendations:
        severities[advice.severity] = severities.get(advice.severity, 0) + 1
    template = _environment().get_template("report.html")
    return template.render(
        a=answers,
        campus=campus,
        building=building,
        scope_name=building.name if building else campus.site.name,
        plots=plots(answers, campus),
        notes=missing_data_notes(answers, campus),
        worst_days=worst,
        gaps=gaps,
        severities=severities,
        sources=SOURCES,
        k=k,
        exact=report.exact,
        withheld=[campus.space(s) for s in report.withheld],
        version=__version__,
        generated=generated.astimezone(campus.tz).strftime("%d %b %Y %H:%M %Z"),
        local_start=local_time(answers.utilisation.period.requested_start, campus),
        local_end=local_time(answers.utilisation.period.requested_end, campus),
        api_query=api_query(answers),
        data_source=data_source,
        isoformat_utc=isoformat_utc,
        totals=_totals(answers),
        baseline=_baseline_text(report, campus),
        savings_notes=savings_notes(answers),
    )


def savings_notes(answers: ReportAnswers) -> list[str]:
    """The savings answers' notes, each once, with the buildings it concerns."""
    buildings_of: dict[str, list[str]] = {}
    for shown in answers.savings:
        for note in shown.answer.notes if shown.answer is not None else ():
            buildings_of.setdefault(note, []).append(shown.building_id)
    return [f"{', '.join(ids)}: {note}" for note, ids in buildings_of.items()]


def _baseline_text(report: PlannerReport, campus: Campus) -> str | None:
    """The baseline asked for, in local time, for the savings section; None without one."""
    if report.baseline_start is None or report.baseline_end is None:
        return None
    return (
        f"{local_time(isoformat_utc(report.baseline_start), campus)} to "
        f"{local_time(isoformat_utc(report.baseline_end), campus)}"
    )


def _sum_of_known(values: Iterable[float | None]) -> float | None:
    """The sum of the figures there are; None (no data, shown as such) when there are none."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _totals(answers: ReportAnswers) -> dict[str, float | None]:
    """Sums over the buildings' answers with meter data, for the summary (labelled as sums
    there); None when no building has any: no data, never 0 kWh."""
    return {
        "delivered_kwh": _sum_of_known(e.delivered_kwh for e in answers.energy),
        "location_based_kg": _sum_of_known(e.emissions.location_based_kg for e in answers.energy),
        "market_based_kg": _sum_of_known(e.emissions.market_based_kg for e in answers.energy),
    }
