"""Utilisation answers below facilities never give away a head count of 1 to k-1.

Below facilities the figures come from the published 15-minute cells, each
suppressed cell counted as 0 people (tests/test_privacy_differencing.py plays the
intruder against them). Peak and P95 occupancy are rates, but rate × capacity is a
count of people; and a space with fewer seats than k tells when its occupant is in
(METRICS.md, Privacy).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from campuslab.analytics.privacy import (
    CellStatus,
    ProtectedUse,
    count_bounds,
    protect_counts,
    unprotected,
)
from campuslab.api.app import create_app
from campuslab.api.dependencies import get_clock
from campuslab.api.keys import KeyStore, Role
from campuslab.core.readings import ReadingBatch, to_epoch_us
from campuslab.core.store.duckdb import DuckDBStore

MONDAY_09 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 09:00 in Oslo, a core hour
NOW = MONDAY_09 + timedelta(days=1)


@pytest.fixture
def clients(tmp_path: Path, campus) -> dict[str, TestClient]:
    store = DuckDBStore(tmp_path / "privacy.duckdb")
    batch = ReadingBatch()
    for minute in range(0, 60, 5):  # 3 people for an hour in a 22-seat seminar room,
        ts = to_epoch_us(MONDAY_09 + timedelta(minutes=minute))  # 1 in a 1-seat office
        batch.append(ts, "rfb", "rfb-104", "occupancy", 3.0)
        batch.append(ts, "rfb", "rfb-110", "occupancy", 1.0)
    store.write(batch)
    keys = KeyStore.in_memory()
    app = create_app(store, campus, keys=keys)
    app.dependency_overrides[get_clock] = lambda: lambda: NOW
    made = {}
    for role in (Role.RESEARCHER, Role.FACILITIES):
        secret = keys.create(role, role.value).secret
        made[role.value] = TestClient(app, headers={"Authorization": f"Bearer {secret}"})
    return made


def utilisation(client: TestClient, space: str):
    return client.get(
        f"/api/v1/spaces/{space}/utilisation",
        params={"start": "2026-11-23T00:00:00Z", "end": "2026-11-24T00:00:00Z"},
    )


def test_three_people_for_an_hour_are_a_lower_bound_for_researchers(clients, campus):
    assert campus.space("rfb-104").capacity == 22
    researcher = utilisation(clients["researcher"], "rfb-104").json()
    facilities = utilisation(clients["facilities"], "rfb-104").json()

    assert facilities["peak_occupancy"] == pytest.approx(3 / 22)
    assert facilities["used_seat_hours"] == 3.0 and facilities["frequency_rate"] == 1.0
    assert facilities["lower_bound"] is False and facilities["suppression"]["applied"] is False
    # the four quarters of 09:00 are 3 people each: all hidden, so all counted as 0 ...
    assert researcher["peak_occupancy"] is None and researcher["p95_occupancy"] is None
    assert researcher["used_seat_hours"] == 0.0 and researcher["utilisation"] == 0.0
    # ... and even "in use or not" would say whether 3 people or fewer than 1 were there
    assert researcher["frequency_rate"] == 0.0 and researcher["in_use_hours"] == 0
    assert researcher["lower_bound"] is True and researcher["suppressed_cells"] == 4
    assert researcher["used_seat_hours_upper_bound"] == 5.0  # each quarter below k = 5
    assert researcher["available_hours"] == facilities["available_hours"] == 1  # data: 1 h
    assert researcher["suppression"]["applied"] and researcher["suppression"]["k"] == 5
    assert researcher["suppression"]["suppressed_cells"] == 4


def test_the_researchers_hour_is_the_exports_hour(clients):
    """The readings route (the export's cells) and the utilisation route agree cell for cell."""
    params = {"start": "2026-11-23T08:00:00Z", "end": "2026-11-23T09:00:00Z"}
    readings = clients["researcher"].get(
        "/api/v1/spaces/rfb-104/readings",
        params={**params, "quantity": "occupancy", "every": "15m"},
    )
    assert [v for _, v in readings.json()["points"]] == [None] * 4
    answer = clients["researcher"].get("/api/v1/spaces/rfb-104/utilisation", params=params).json()
    assert (answer["used_seat_hours"], answer["suppressed_cells"]) == (0.0, 4)


def test_a_one_seat_office_is_withheld_below_facilities(clients, campus):
    assert campus.space("rfb-110").capacity == 1
    answer = utilisation(clients["researcher"], "rfb-110")
    assert answer.status_code == 403
    assert "fewer than k = 5" in answer.json()["detail"]
    assert utilisation(clients["facilities"], "rfb-110").status_code == 200


# -- the bounds, as numbers (analytics.privacy.count_bounds) --------------------------------


def test_count_bounds_put_hidden_cells_at_0_and_at_k():
    # two spaces, two hours of quarters; NaN: no data
    counts = np.array([[3.0, 8], [0, 8], [np.nan, 2], [0, np.nan], [6, 6], [0, 0], [0, 0], [0, 0]])
    table = protect_counts(counts, np.zeros(2, int), np.full(2, 22.0))
    hours = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    mean = count_bounds(table, hours)
    # space 0, hour 0: [–, 0, no data, 0] is at least 0 and below 5/3 people on average
    assert mean.lower.tolist() == [[0.0, 16 / 3], [1.5, 1.5]]
    assert mean.upper.tolist() == [[5 / 3, 7.0], [1.5, 1.5]]
    assert mean.suppressed.tolist() == [[1, 1], [0, 0]]
    peak = count_bounds(table, hours, "max")
    assert peak.lower.tolist() == [[0.0, 8.0], [6.0, 6.0]]
    assert peak.upper.tolist() == [[5.0, 8.0], [6.0, 6.0]]
    # nothing suppressed: the bounds meet, at the exact figures
    exact = count_bounds(unprotected(counts, np.zeros(2, int)), hours, k=5)
    assert exact.suppressed.sum() == 0
    np.testing.assert_array_equal(exact.lower, exact.upper)
    assert exact.lower[0].tolist() == [1.0, 6.0]


def test_count_bounds_depend_on_the_published_cells_only():
    """Any count 1 … k − 1 behind a hidden cell gives the same bounds."""
    tables = [
        protect_counts(np.array([[hidden], [0.0], [7], [9]]), np.zeros(1, int), np.full(1, 30.0))
        for hidden in (0.25, 1.0, 3.0, 4.99)
    ]
    assert {t.space_status[0, 0] for t in tables} == {CellStatus.PRIMARY}
    bounds = [count_bounds(t, np.zeros(4, int)) for t in tables]
    assert {(b.lower.item(), b.upper.item(), b.suppressed.item()) for b in bounds} == {
        (4.0, 5.25, 1)
    }


def test_use_bounds_pool_the_core_hours_of_the_spaces_asked_for():
    counts = np.array([[3.0, 8], [0, 8], [0, 2], [0, 0], [6, 6], [0, 0], [0, 0], [0, 0]])
    table = protect_counts(counts, np.zeros(2, int), np.full(2, 22.0))
    bounds = count_bounds(table, np.array([0, 0, 0, 0, 1, 1, 1, 1]))
    use = ProtectedUse(("a", "b"), np.array([True, False]), bounds, bounds)
    assert use.bounds(["a"]).suppressed_cells == 1
    assert use.bounds(["a"]).used_seat_hours_upper == 1.25
    assert use.bounds(["a", "b"]).suppressed_cells == 2 and use.bounds(["a", "b"]).lower_bound
    assert use.bounds(["b"], core_only=False).used_seat_hours_upper == 5.25 + 1.5
    assert use.bounds(["a"], core_only=False).lower_bound
