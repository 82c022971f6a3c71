"""Presence (PIR) readings are presence, not head counts: their own quantity in the API,
and the frequency rate of a space that has no count (GET /api/v1/spaces/{id}/utilisation).

Worked example: rfb-104 (Seminar room 1, 22 seats) has an AM319 whose PIR is read every
10 minutes and no people counter. On Monday 30 November 2026 (Oslo, UTC+1; core hours
08–16 local, 07:00–15:00 UTC) the presence readings of each core hour say:

    hour (local)   08  09  10   11   12  13   14        15
    present of 6    6   6   3    2    0   1   (no data)  6
    share p_h       1   1  0.5  0.33  0  0.17    –       1

An hour is in use when p_h >= 0.5 (the site's presence_in_use_share, default), so 4 of
the 7 hours with data are in use: F = 4/7. With the share set to 0.3, hour 11 is in use
too: F = 5/7. O and U need a number of people: null.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from campuslab.api import create_app
from campuslab.api.dependencies import get_clock
from campuslab.api.keys import KeyStore, Role
from campuslab.core.readings import ReadingBatch, to_epoch_us
from campuslab.core.registry import parse_campus, sample_campus_path
from campuslab.core.store.duckdb import DuckDBStore

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

MONDAY_07_UTC = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)  # 08:00 in Oslo
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
PERIOD = {"start": "2026-11-30T00:00:00+01:00", "end": "2026-12-01T00:00:00+01:00"}
PRESENT_OF_SIX = [6, 6, 3, 2, 0, 1, None, 6]  # per core hour; None: no readings


def write_readings(store: DuckDBStore) -> None:
    batch = ReadingBatch()
    for hour, present in enumerate(PRESENT_OF_SIX):
        if present is None:
            continue
        for reading in range(6):
            at = MONDAY_07_UTC + timedelta(hours=hour, minutes=10 * reading)
            value = 1.0 if reading < present else 0.0
            batch.append(to_epoch_us(at), "rfb", "rfb-104", "presence", value)
            # rfb-201 has both: a people counter and a PIR
            batch.append(to_epoch_us(at), "rfb", "rfb-201", "presence", value)
            batch.append(to_epoch_us(at), "rfb", "rfb-201", "occupancy", 4.0 * value)
            batch.append(to_epoch_us(at), "rfb", "rfb-405", "presence", value)  # a 3-seat office
    store.write(batch)


def clients(tmp_path: Path, registry_text: str) -> dict[Role, TestClient]:
    store = DuckDBStore(tmp_path / "campus.duckdb")
    write_readings(store)
    keys = KeyStore.in_memory()
    app = create_app(store, parse_campus(registry_text), keys=keys)
    app.dependency_overrides[get_clock] = lambda: lambda: NOW
    return {
        role: TestClient(
            app, headers={"Authorization": f"Bearer {keys.create(role, str(role)).secret}"}
        )
        for role in (Role.FACILITIES, Role.RESEARCHER)
    }


@pytest.fixture
def api(tmp_path: Path) -> dict[Role, TestClient]:
    return clients(tmp_path, sample_campus_path().read_text())


def utilisation(client: TestClient, space: str) -> dict:
    response = client.get(f"/api/v1/spaces/{space}/utilisation", params=PERIOD)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("role", [Role.FACILITIES, Role.RESEARCHER])
def test_a_space_without_counts_gets_its_frequency_rate_from_presence(api, role):
    answer = utilisation(api[role], "rfb-104")
    assert answer["source"] == "presence"
    assert answer["frequency_rate"] == pytest.approx(4 / 7)
    assert (answer["in_use_hours"], answer["available_hours"]) == (4, 7)
    assert answer["hours_without_data"] == 1
    for absent in (
        "occupancy_rate",
        "utilisation",
        "peak_occupancy",
        "p95_occupancy",
        "used_seat_hours",
        "available_seat_hours",
        "share_under_60",
        "band",
    ):
        assert answer[absent] is None, absent
    note = answer["source_note"]
    assert "not how many" in note and "0.5" in note and "SMG" in note
    assert answer["suppression"]["applied"] is False


def test_the_in_use_share_is_the_sites_choice(tmp_path):
    text = (
        sample_campus_path()
        .read_text()
        .replace("  in_use_threshold: 1\n", "  in_use_threshold: 1\n  presence_in_use_share: 0.3\n")
    )
    answer = utilisation(clients(tmp_path, text)[Role.FACILITIES], "rfb-104")
    assert answer["frequency_rate"] == pytest.approx(5 / 7)  # hour 11 (2 of 6) is in use too
    assert "0.3" in answer["source_note"]


def test_a_space_with_counts_keeps_its_counts(api):
    answer = utilisation(api[Role.FACILITIES], "rfb-201")
    assert answer["source"] == "occupancy" and answer["source_note"] is None
    # the counter's hourly means: 4 × the presence share; in use at n_h >= 1 person
    assert answer["in_use_hours"] == 5  # 4, 4, 2, 1.33, 4 people; 0 and 0.67 are not
    assert answer["utilisation"] == pytest.approx(
        (4 + 4 + 2 + 4 / 3 + 0 + 2 / 3 + 4) / (21 * 7)
    )  # 21 seats


def test_presence_readings_through_the_readings_route(api):
    params = {"quantity": "presence", **PERIOD}
    answer = api[Role.FACILITIES].get("/api/v1/spaces/rfb-104/readings", params=params).json()
    assert answer["quantity"] == "presence" and answer["unit"] == "bool"
    assert len(answer["points"]) == 7 * 6
    assert answer["points"][:3] == [
        ["2026-11-30T07:00:00Z", 1.0],
        ["2026-11-30T07:10:00Z", 1.0],
        ["2026-11-30T07:20:00Z", 1.0],
    ]
    hourly = api[Role.RESEARCHER].get(
        "/api/v1/spaces/rfb-104/readings", params={**params, "every": "1h", "agg": "mean"}
    )
    assert hourly.status_code == 200, hourly.text
    shares = [value for _, value in hourly.json()["points"]]
    assert shares == pytest.approx([1, 1, 0.5, 2 / 6, 0, 1 / 6, 1])


def test_presence_of_a_small_office_is_withheld_below_facilities(api):
    params = {"quantity": "presence", "every": "1h", **PERIOD}
    withheld = api[Role.RESEARCHER].get("/api/v1/spaces/rfb-405/readings", params=params)
    assert withheld.status_code == 403
    assert "presence of rfb-405" in withheld.json()["detail"]
    assert (
        api[Role.FACILITIES].get("/api/v1/spaces/rfb-405/readings", params=params).status_code
        == 200
    )
    small = api[Role.RESEARCHER].get("/api/v1/spaces/rfb-405/utilisation", params=PERIOD)
    assert small.status_code == 403
    export = api[Role.RESEARCHER].get(
        "/api/v1/export", params={"quantity": "presence", "building": "rfb", **PERIOD}
    )
    assert export.status_code == 200, export.text
    assert "rfb-405" not in export.text and "rfb-104" in export.text
