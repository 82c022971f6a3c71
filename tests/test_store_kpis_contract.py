"""KPIs through both store backends: the same readings in, the same rollups and answers out.

Issue 3 promises that DuckDB and InfluxDB give "the same series, latest values and
KPIs". ``test_store_contract.py`` checks the store port call by call; here the whole
analytics stack runs over each backend and the results are compared:

- ``duckdb``: the embedded store, in a temporary folder;
- ``influxdb-read``: ``InfluxStore`` reading a real InfluxDB 1.6.7 with InfluxQL,
  seeded through the v1 ``/write`` with exactly the lines its writer produces
  (``SeededInfluxStore``, as the contract suite's ``influxdb-read`` backend).

The data: the sample campus (81 spaces, 8 meters) simulated every 15 minutes from
Thursday 26 to Sunday 29 March 2026 in Europe/Oslo, with spikes, dropouts, stuck
sensors and register resets, so the data-quality screening is part of what is
compared. The Saturday and Sunday give weekend base loads, and the Sunday is the
spring DST change (a 23-hour local day). On each backend ``run_quality`` checks the
readings and stores its flags, then ``compute_rollups`` runs up to a moment in the
middle of Sunday's 13:00 hour (a day and an hour under way), and the API answers
utilisation questions over the same store.

Counts (hours, points left out, resets, maxima: observed values) must be equal;
means and rates within 1e-9 relative (the two servers add in different orders).
"""

from __future__ import annotations

import math
import re
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from test_store_contract import SeededInfluxStore

from campuslab.analytics.quality_kpis import QualityRunReport, run_quality
from campuslab.analytics.rollups import (
    BUILDING_DAILY,
    SPACE_DAILY,
    SPACE_HOURLY,
    SPACE_WEEKHOUR,
    Rollups,
    compute_rollups,
    local_midnight,
)
from campuslab.api.app import create_app
from campuslab.api.dependencies import get_clock
from campuslab.api.keys import KeyStore, Role
from campuslab.core.quantities import METER_QUANTITIES, SPACE_QUANTITIES
from campuslab.core.registry import Campus
from campuslab.core.store import ReadingStore
from campuslab.core.store.duckdb import DuckDBStore
from campuslab.core.store.port import QualityFlag, RollupRow
from campuslab.simulators.campus import CampusSimulator, SimulationConfig

OSLO = ZoneInfo("Europe/Oslo")
FIRST_DAY, LAST_DAY = date(2026, 3, 26), date(2026, 3, 29)  # Thursday .. Sunday (DST)
UNTIL = datetime(2026, 3, 29, 13, 40, tzinfo=OSLO).astimezone(UTC)  # Sunday, mid-hour
NOW = datetime(2026, 3, 30, 10, 0, tzinfo=UTC)  # the API's clock: the Monday after
FAULTS = frozenset({"spike", "dropout", "stuck", "reset"})
BACKENDS = ("duckdb", "influxdb-read")
RELATIVE = 1e-9
# Fields that are counts or observed values: equal, not merely close. used_seat_hours
# is a sum of hourly means, so it is compared as a mean is.
EXACT_FIELD = re.compile(r"(_max|_resets|points_excluded|(?<!used_seat)_hours)$")


@dataclass
class Backend:
    store: ReadingStore
    quality: QualityRunReport
    rollups: Rollups
    client: TestClient
    researcher: TestClient


@pytest.fixture(scope="module")
def backends(
    influxdb1, campus: Campus, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Backend]]:
    start = local_midnight(campus, FIRST_DAY) - timedelta(hours=6)  # registers need a look-back
    end = local_midnight(campus, LAST_DAY + timedelta(days=1))
    simulator = CampusSimulator(
        campus, SimulationConfig(seed=4, interval=timedelta(minutes=15), faults=FAULTS)
    )
    batches = list(simulator.batches(start, end, per=timedelta(days=1)))
    stores = {
        "duckdb": DuckDBStore(tmp_path_factory.mktemp("kpis") / "store.duckdb"),
        "influxdb-read": SeededInfluxStore(influxdb1, f"kpis_{uuid.uuid4().hex[:12]}", campus),
    }
    opened = {}
    try:
        for name, store in stores.items():
            for batch in batches:
                store.write(batch)
            quality = run_quality(store, campus, start, end)
            rollups = compute_rollups(store, campus, FIRST_DAY, LAST_DAY, UNTIL)
            opened[name] = Backend(store, quality, rollups, *clients_over(store, campus))
        yield opened
    finally:
        for backend in opened.values():
            backend.client.close()
            backend.researcher.close()
        for store in stores.values():
            store.close()


def clients_over(store: ReadingStore, campus: Campus) -> tuple[TestClient, TestClient]:
    """A facilities and a researcher client of the API over ``store``, its clock at NOW."""
    keys = KeyStore.in_memory()
    app = create_app(store, campus, keys=keys)
    app.dependency_overrides[get_clock] = lambda: lambda: NOW

    def client(role: Role) -> TestClient:
        secret = keys.create(role, f"{role} tester").secret
        return TestClient(app, headers={"Authorization": f"Bearer {secret}"})

    return client(Role.FACILITIES), client(Role.RESEARCHER)


# -- comparing ----------------------------------------------------------------------
def keyed(rows: Sequence[RollupRow]) -> dict[tuple, Mapping[str, float]]:
    found = {(row.ts, tuple(sorted(row.tags.items()))): row.fields for row in rows}
    assert len(found) == len(rows), "a rollup row's identity (ts, tags) appears twice"
    return found


def row_differences(expected: Sequence[RollupRow], actual: Sequence[RollupRow]) -> list[str]:
    """What differs between two sets of rollup rows, one line each ([] when they agree)."""
    want, got = keyed(expected), keyed(actual)
    differences = [f"only on duckdb: {key}" for key in sorted(want.keys() - got.keys())]
    differences += [f"only on influxdb: {key}" for key in sorted(got.keys() - want.keys())]
    for key in sorted(want.keys() & got.keys()):
        a, b = want[key], got[key]
        if a.keys() != b.keys():
            differences.append(f"{key}: fields {sorted(a.keys() ^ b.keys())} on one side only")
            continue
        for name in sorted(a):
            if not same_number(a[name], b[name], exact=bool(EXACT_FIELD.search(name))):
                differences.append(f"{key} {name}: duckdb {a[name]!r}, influxdb {b[name]!r}")
    return differences


def same_number(a: float, b: float, exact: bool = False) -> bool:
    if exact:
        return a == b
    return math.isclose(a, b, rel_tol=RELATIVE, abs_tol=1e-12)


def json_differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two JSON answers differ: numbers within RELATIVE, integers and the rest equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys {sorted(a.keys() ^ b.keys())} on one side only"]
        return [d for k in a for d in json_differences(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items against {len(b)}"]
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in json_differences(x, y, f"{path}[{i}]")
        ]
    if isinstance(a, float) or isinstance(b, float):
        numbers = isinstance(a, int | float) and isinstance(b, int | float)
        if numbers and same_number(float(a), float(b)):
            return []
    elif a == b and type(a) is type(b):
        return []
    return [f"{path}: duckdb {a!r}, influxdb {b!r}"]


def flag_order(flag: QualityFlag) -> tuple:
    return (flag.sensor, flag.ts, flag.check)


# -- data quality -------------------------------------------------------------------
def test_quality_checks_flag_the_same_readings(backends, campus: Campus):
    duck, influx = backends["duckdb"].quality, backends["influxdb-read"].quality
    assert duck.flagged_points > 0, "the faults should give the checks something to flag"
    assert influx.summary() == duck.summary()
    # every count, gap and sensor-day, all but the run time
    assert replace(influx, seconds=0.0) == replace(duck, seconds=0.0)
    window = (local_midnight(campus, FIRST_DAY) - timedelta(days=1), UNTIL + timedelta(days=2))
    for quantity in (*SPACE_QUANTITIES, *METER_QUANTITIES):
        # the port orders flags by sensor and time; two checks on one reading: any order
        flags = [
            sorted(backends[name].store.read_quality_flags(quantity, *window), key=flag_order)
            for name in BACKENDS
        ]
        assert flags[1] == flags[0], quantity


# -- rollups ------------------------------------------------------------------------
@pytest.mark.parametrize("measurement", [SPACE_HOURLY, SPACE_DAILY, BUILDING_DAILY, SPACE_WEEKHOUR])
def test_rollups_are_the_same_on_both_backends(backends, measurement):
    duck = backends["duckdb"].rollups.by_measurement()[measurement]
    influx = backends["influxdb-read"].rollups.by_measurement()[measurement]
    differences = row_differences(duck, influx)
    assert not differences, f"{len(differences)} differences, first: " + "\n".join(differences[:20])
    assert len(influx) == len(duck)


def test_the_compared_rollups_cover_what_they_should(backends, campus: Campus):
    """The comparison above is only as good as its data: check the data holds the hard cases."""
    rollups = backends["influxdb-read"].rollups
    spaces, buildings = sum(1 for _ in campus.spaces()), len(campus.buildings)
    days = (LAST_DAY - FIRST_DAY).days + 1
    assert len(rollups.space_daily) == spaces * days
    assert len(rollups.building_daily) == buildings * days
    weekend = {
        row.ts.astimezone(campus.tz).date()
        for row in rollups.building_daily
        if "weekend_base_kw" in row.fields
    }
    assert weekend == {date(2026, 3, 28), date(2026, 3, 29)}
    # Thursday 00:00 local to UNTIL's hour: 3 × 24 + 13 (on Sunday 02:00 local never came)
    per_space = Counter(row.tags["space"] for row in rollups.space_hourly)
    assert max(per_space.values()) == 85
    assert any("occupancy_points_excluded" in r.fields for r in rollups.space_hourly)
    assert any("co2_points_excluded" in r.fields for r in rollups.space_daily)
    assert any(r.fields.get("utilisation", 0) > 0 for r in rollups.space_daily)


# -- the API over each store ------------------------------------------------------------
PERIOD = {"start": "2026-03-26T00:00:00+01:00", "end": "2026-03-30T00:00:00+02:00"}
QUESTIONS = {
    "space, facilities": ("client", "/api/v1/spaces/rfb-101/utilisation", PERIOD),
    "campus, facilities": ("client", "/api/v1/campus/utilisation", {**PERIOD, "profile": "true"}),
    "campus, researcher": ("researcher", "/api/v1/campus/utilisation", PERIOD),
}


@pytest.mark.parametrize("question", QUESTIONS)
def test_api_utilisation_answers_are_the_same(backends, question):
    role, path, params = QUESTIONS[question]
    answers = []
    for name in BACKENDS:
        response = getattr(backends[name], role).get(path, params=params)
        assert response.status_code == 200, (name, response.text)
        answers.append(response.json())
    duck, influx = answers
    differences = json_differences(duck, influx)
    assert not differences, "\n".join(differences[:20])
    figures = duck["total"]["figures"] if "total" in duck else duck
    assert figures["utilisation"] > 0, "the answers compared should have something in them"
