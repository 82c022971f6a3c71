"""Utilisation answers below facilities never give away a head count of 1 to k-1.

Peak and P95 occupancy are rates, but rate × capacity is a count of people; and
a space with fewer seats than k tells when its occupant is in (METRICS.md, Privacy).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

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


def test_a_peak_of_three_people_is_hidden_from_researchers(clients, campus):
    assert campus.space("rfb-104").capacity == 22
    researcher = utilisation(clients["researcher"], "rfb-104").json()
    facilities = utilisation(clients["facilities"], "rfb-104").json()
    assert facilities["peak_occupancy"] == pytest.approx(3 / 22)
    assert researcher["peak_occupancy"] is None and researcher["p95_occupancy"] is None
    assert researcher["frequency_rate"] == facilities["frequency_rate"]  # rates stay


def test_a_one_seat_office_is_withheld_below_facilities(clients, campus):
    assert campus.space("rfb-110").capacity == 1
    answer = utilisation(clients["researcher"], "rfb-110")
    assert answer.status_code == 403
    assert "fewer than k = 5" in answer.json()["detail"]
    assert utilisation(clients["facilities"], "rfb-110").status_code == 200
