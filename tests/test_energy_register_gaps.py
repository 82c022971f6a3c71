"""A register gap across midnight, and the normal year, in ``/energy``'s degree-day model.

The worked example is ``test_savings_api``'s hand-built store: building ``main``
uses (250 + 5·HDD) kWh of electricity and (350 + 40·HDD) kWh of district heat a
day with ±4 % scatter, 10 % less from 2 February; its heat register is silent
from 20:00 on 10 February to 02:00 on 12 February (Europe/Oslo). The interval
that ends after the gap books the heat of 10 February's last four hours, all of
the 11th and the 12th's first two hours to the 12th.

Booked that way, the daily model of 2–16 February sees 13 days, one of them with
1.5 days' heat, and its CV(RMSE) is 18.0 %; the savings baseline, which leaves
such days out, shows 2.1 % on the same building. ``/energy`` now applies the
savings rule (``energy.register_spans_days``): 10, 11 and 12 February are left
out and listed, and the model of the 11 remaining days is the least-squares fit
done here by hand (CV(RMSE) 2.1 %).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from test_savings_api import (
    BASELINE_DAYS,
    DAYS_WITHOUT_HEAT,
    NOW,
    OSLO,
    WorkedExample,
    build_worked_example,
    midnight,
)

from campuslab.analytics.energy import register_spans_days
from campuslab.analytics.energy_kpis import building_energy
from campuslab.analytics.kpis import building_daily_energy
from campuslab.analytics.report import building_savings
from campuslab.analytics.rollups import building_day_fields
from campuslab.analytics.savings import fit_baseline
from campuslab.api import create_app
from campuslab.api.dependencies import get_clock
from campuslab.api.keys import KeyStore, Role
from campuslab.core.registry import Campus, HddNormal

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

FEB_2, FEB_16 = midnight(date(2026, 2, 2)), midnight(date(2026, 2, 16))
REPORTING = range(BASELINE_DAYS, BASELINE_DAYS + 14)  # 2–15 February
PERIOD = {"start": "2026-02-02T00:00:00+01:00", "end": "2026-02-16T00:00:00+01:00"}
NORMALS = HddNormal(
    base_c=17,
    source="test normals",
    monthly={m: 28.0 * 20 if m == 2 else 500.0 for m in range(1, 13)},  # February: 20 a day
)


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkedExample]:
    built = build_worked_example(tmp_path_factory.mktemp("gaps"))
    yield built
    built.store.close()


def with_normals(campus: Campus) -> Campus:
    analytics = campus.analytics.model_copy(update={"hdd_normal": NORMALS})
    return campus.model_copy(update={"analytics": analytics})


def client(example: WorkedExample, campus: Campus) -> TestClient:
    keys = KeyStore.in_memory()
    app = create_app(example.store, campus, keys=keys)
    app.dependency_overrides[get_clock] = lambda: lambda: NOW.astimezone(UTC)
    secret = keys.create(Role.RESEARCHER, "researcher").secret
    return TestClient(app, headers={"Authorization": f"Bearer {secret}"})


def kept_days(example: WorkedExample) -> list[int]:
    return [i for i in REPORTING if example.days[i] not in DAYS_WITHOUT_HEAT]


# -- the day-validity rule ---------------------------------------------------------------------


def test_register_spans_days_by_hand():
    bounds = np.arange("2026-02-08T23:00", "2026-02-12T00:00", 24, dtype="datetime64[h]")
    every_15 = np.arange("2026-02-08T23:00", "2026-02-11T23:00", 15, dtype="datetime64[m]")
    assert register_spans_days(every_15, bounds).tolist() == [True, True, True]
    # readings start at 00:45 and stop at 22:30 local: within 1 h of both midnights
    assert register_spans_days(every_15[3:-2], bounds).tolist() == [True, True, True]
    # they start at 01:15 (the first day is partial) and stop at 21:45 (the last one is)
    assert register_spans_days(every_15[5:-5], bounds).tolist() == [False, True, False]
    # a gap from 22:00 on day 2 to 00:30 on day 3 crosses a midnight: both days are out
    gap = (every_15 > np.datetime64("2026-02-10T21:00")) & (
        every_15 < np.datetime64("2026-02-10T23:30")
    )
    assert register_spans_days(every_15[~gap], bounds).tolist() == [True, False, False]
    # the same gap inside a day (02:00 to 05:00) does not matter: the register counts on
    inside = (every_15 > np.datetime64("2026-02-10T01:00")) & (
        every_15 < np.datetime64("2026-02-10T04:00")
    )
    assert register_spans_days(every_15[~inside], bounds).tolist() == [True, True, True]


# -- /energy's degree-day model ----------------------------------------------------------------


def test_the_model_leaves_out_the_days_the_gap_crosses(example):
    energy = building_energy(example.store, example.campus, "main", FEB_2, FEB_16)
    assert energy.days_left_out == DAYS_WITHOUT_HEAT
    note = next(n for n in energy.notes if "left out" in n)
    assert "3 of 14 whole local days" in note and "2026-02-11" in note
    # by hand: ordinary least squares on the 11 days every meter's readings span
    kept = kept_days(example)
    x, y = example.hdd[kept], example.main_kwh[kept]
    slope, intercept = np.polyfit(x, y, 1)
    residuals = y - (intercept + slope * x)
    cv = float(np.sqrt((residuals**2).sum() / (len(kept) - 2)) / y.mean())
    model = energy.degree_day_model
    assert model.n == 11
    assert model.intercept_kwh == pytest.approx(intercept, rel=1e-9)
    assert model.kwh_per_degree_day == pytest.approx(slope, rel=1e-9)
    assert model.cv_rmse == pytest.approx(cv, rel=1e-9)
    assert model.cv_rmse == pytest.approx(0.0214, abs=5e-4)
    # the delivered energy of the period is still every kWh the registers counted
    assert energy.delivered_kwh == pytest.approx(float(example.main_kwh[list(REPORTING)].sum()))


def test_booked_to_the_day_the_gap_ends_the_fit_was_eighteen_percent(example):
    """What the model saw before: the 12th carries 1.5 days' heat (the 11th has none)."""
    days = building_daily_energy(example.store, example.campus, "main", FEB_2, FEB_16)
    booked = np.array([d.electricity_kwh + d.heat_kwh for d in days])
    hdd = example.hdd[list(REPORTING)]
    known = ~np.isnan(booked)
    assert known.sum() == 13
    assert fit_baseline(booked[known], hdd[known]).cv_rmse == pytest.approx(0.180, abs=5e-4)


def test_the_savings_baseline_and_the_energy_model_agree(example):
    """The same rule on a baseline without gaps gives the same model both ways."""
    savings = building_savings(
        example.store,
        example.campus,
        "main",
        midnight(date(2026, 1, 5)),
        FEB_2,
        FEB_2,
        FEB_16,
    )
    energy = building_energy(
        example.store, example.campus, "main", midnight(date(2026, 1, 5)), FEB_2
    )
    assert energy.days_left_out == ()
    assert energy.degree_day_model.n == savings.model.n == 28
    assert energy.degree_day_model.cv_rmse == pytest.approx(savings.model.cv_rmse, rel=1e-12)
    assert energy.degree_day_model.cv_rmse == pytest.approx(0.0213, abs=5e-4)
    # and the reporting period's days the savings leave out are the ones /energy leaves out
    reporting = savings.reporting
    left_out = tuple(
        d.item() for d, use in zip(reporting.dates, reporting.used, strict=True) if not use
    )
    assert left_out == DAYS_WITHOUT_HEAT


def test_daily_energy_marks_the_days_and_rollups_do_not_write_them(example):
    days = {
        d.date: d
        for d in building_daily_energy(example.store, example.campus, "main", FEB_2, FEB_16)
    }
    assert days[date(2026, 2, 10)].meters_not_spanning == ("main-heat",)
    assert days[date(2026, 2, 11)].meters_without_data == ("main-heat",)
    assert days[date(2026, 2, 12)].meters_not_spanning == ("main-heat",)
    assert [d for d, e in days.items() if not e.attributable] == list(DAYS_WITHOUT_HEAT)
    # the booked kWh still add up to the registers' consumption
    total = sum(e.electricity_kwh + np.nan_to_num(e.heat_kwh) for e in days.values())
    assert total == pytest.approx(float(example.main_kwh[list(REPORTING)].sum()))
    # building_daily: no heat (nor total) on the 10th and 12th, and the row says why
    building = example.campus.building("main")
    twelfth = building_day_fields(building, days[date(2026, 2, 12)])
    assert "heat_kwh" not in twelfth and "total_kwh_per_m2" not in twelfth
    assert twelfth["electricity_kwh"] == pytest.approx(days[date(2026, 2, 12)].electricity_kwh)
    assert twelfth["meters_not_spanning"] == 1.0
    ninth = building_day_fields(building, days[date(2026, 2, 9)])
    assert "meters_not_spanning" not in ninth and "heat_kwh" in ninth


# -- the normal year ---------------------------------------------------------------------------


def test_the_registrys_normals_normalise_by_default(example):
    campus = with_normals(example.campus)
    energy = building_energy(example.store, campus, "main", FEB_2, FEB_16)
    n = energy.normalised
    assert n is not None
    kept = kept_days(example)
    assert n.hdd_normal == pytest.approx(20.0 * len(kept))  # February's normal, 20 a day
    assert n.hdd_actual == pytest.approx(float(example.hdd[kept].sum()))
    assert n.measured_kwh == pytest.approx(float(example.main_kwh[kept].sum()))
    base = energy.degree_day_model.intercept_kwh * len(kept)
    assert n.normalised_kwh == pytest.approx(
        base + (n.measured_kwh - base) * n.hdd_normal / n.hdd_actual
    )
    assert energy.hdd_normal_source == "registry analytics.hdd_normal (test normals)"


def test_energy_answer_lists_the_days_and_normalises_by_default(example):
    body = client(example, with_normals(example.campus)).get(
        "/api/v1/buildings/main/energy", params=PERIOD
    )
    assert body.status_code == 200, body.text
    answer = body.json()
    left_out = answer["degree_day_days_left_out"]
    assert left_out["count"] == 3
    assert left_out["dates"] == ["2026-02-10", "2026-02-11", "2026-02-12"]
    assert answer["degree_day_model"]["days"] == 11
    assert answer["normalised"]["hdd_normal"] == pytest.approx(220.0)
    assert (
        answer["normalised"]["hdd_normal_source"] == "registry analytics.hdd_normal (test normals)"
    )


def test_the_callers_hdd_normal_overrides_and_is_prorated_to_the_days_used(example):
    answer = (
        client(example, with_normals(example.campus))
        .get("/api/v1/buildings/main/energy", params={**PERIOD, "hdd_normal": "280"})
        .json()
    )
    # 280 K·day for the 14 whole days, 11 of them normalised: 220
    assert answer["normalised"]["hdd_normal"] == pytest.approx(280 * 11 / 14)
    assert answer["normalised"]["hdd_normal_source"] == "hdd_normal given by the caller"
    assert any("prorated by days" in note for note in answer["notes"])


def test_without_normals_the_answer_says_how_to_normalise(example):
    answer = (
        client(example, example.campus).get("/api/v1/buildings/main/energy", params=PERIOD).json()
    )
    assert answer["normalised"] is None
    assert answer["degree_day_days_left_out"]["count"] == 3
    assert any("analytics.hdd_normal" in note for note in answer["notes"])


def test_a_whole_period_without_gaps_is_not_prorated(example):
    start = datetime(2026, 1, 5, tzinfo=OSLO)
    energy = building_energy(
        example.store, example.campus, "main", start, start + timedelta(days=28), hdd_normal=700.0
    )
    assert energy.normalised.hdd_normal == 700.0
    assert not any("prorated" in note for note in energy.notes)
