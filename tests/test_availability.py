"""Free study spaces now: the pure rules (worked examples) and GET /api/v1/spaces/available.

The privacy rule is METRICS.md's: for roles below facilities an occupancy
count between 1 and k − 1 (k = 5) is never revealed, not even through
capacity − count. A space whose latest count is older than 15 minutes is
unknown, never free.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from campuslab.analytics.availability import free_seats, rank_by_free_seats, whole_people
from campuslab.api import create_app
from campuslab.api.dependencies import get_clock
from campuslab.api.keys import KeyStore, Role
from campuslab.api.live import LiveSettings
from campuslab.api.privacy_counts import caller_sees_exact_counts
from campuslab.core.readings import ReadingBatch, to_epoch_us
from campuslab.core.registry import Campus
from campuslab.core.store.duckdb import DuckDBStore

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PROBLEM = "application/problem+json"
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)  # Thursday, 11:00 in Oslo
URL = "/api/v1/spaces/available"

# -- the pure rules: worked examples -------------------------------------------------------


def test_a_small_count_gives_a_lower_bound_never_capacity_minus_count():
    # 79 seats, 3 people: the public learns "at least 79 − (5 − 1) = 75 free", not 76,
    # because 76 would give away the 3.
    public = free_seats([79], [3], [60])
    assert public.free_seats.tolist() == [75.0]
    assert public.suppressed.tolist() == [True]
    assert math.isnan(public.people[0])
    assert public.status.tolist() == ["free"]
    facilities = free_seats([79], [3], [60], exact=True)
    assert facilities.free_seats.tolist() == [76.0]
    assert facilities.people.tolist() == [3.0]
    assert facilities.suppressed.tolist() == [False]


@pytest.mark.parametrize(
    ("people", "suppressed", "free"),
    [
        (0, False, 40.0),  # an empty room reveals no one
        (1, True, 36.0),
        (4, True, 36.0),  # 1 and 4 look the same from outside
        (5, False, 35.0),
        (0.4, True, 36.0),  # a mean of 0.4 is someone there for a while: suppressed
        (4.2, True, 36.0),  # 0 < 4.2 < k: suppressed, as analytics.privacy decides
        (39, False, 1.0),
    ],
)
def test_the_suppression_band_is_0_to_k_exclusive(people, suppressed, free):
    result = free_seats([40], [people], [0])
    assert result.suppressed.tolist() == [suppressed]
    assert result.free_seats.tolist() == [free]


def test_k_is_a_parameter():
    assert free_seats([40], [7], [0], k=10).free_seats.tolist() == [31.0]  # 40 − 9
    assert free_seats([40], [7], [0], k=10).suppressed.tolist() == [True]
    assert free_seats([40], [10], [0], k=10).free_seats.tolist() == [30.0]
    # k = 2 would show that a suppressed count is 1; facilities see exact counts by role
    with pytest.raises(ValueError, match="k must be a whole number >= 3"):
        free_seats([40], [1], [0], k=2)


def test_stale_or_missing_readings_are_unknown_never_free():
    result = free_seats([50, 50, 50, 50, 50], [0, 0, np.nan, 0, -3], [900, 901, np.nan, -30, 10])
    assert result.status.tolist() == ["free", "unknown", "unknown", "free", "unknown"]
    assert result.reason.tolist() == ["", "stale", "no_reading", "", "invalid_count"]
    assert np.isnan(result.free_seats[1:3]).all() and np.isnan(result.free_seats[4])
    # 15 minutes exactly is still fresh; a reading from a clock slightly ahead is fresh
    assert result.free_seats[0] == 50 and result.free_seats[3] == 50


def test_over_capacity_is_full_not_negative():
    result = free_seats([20, 20], [20, 31], [0, 0])
    assert result.free_seats.tolist() == [0.0, 0.0]
    assert result.status.tolist() == ["full", "full"]


def test_a_space_with_fewer_than_k_seats_is_withheld_even_when_empty():
    # 3 seats: any presence is a small count, so even "3 free" would tell when it is empty
    result = free_seats([3, 3, 3], [2, 0, np.nan], [0, 0, np.nan])
    assert result.status.tolist() == ["unknown"] * 3
    assert result.reason.tolist() == ["withheld"] * 3
    assert np.isnan(result.free_seats).all() and np.isnan(result.people).all()
    facilities = free_seats([3, 3], [2, 0], [0, 0], exact=True)
    assert facilities.free_seats.tolist() == [1.0, 3.0]


def test_ranking_most_free_first_unknown_last_and_min_seats_counts_the_bound():
    result = free_seats([79, 74, 160, 105, 155, 39], [3, 74, 40, 0, 10, 1], [0, 0, 0, 0, 3600, 0])
    # free: 75 (bound), 0, 120, 105, unknown, 35 (bound)
    assert rank_by_free_seats(result).tolist() == [2, 3, 0, 5, 1, 4]
    assert rank_by_free_seats(result, min_seats=1).tolist() == [2, 3, 0, 5, 4]
    assert rank_by_free_seats(result, min_seats=76, include_unknown=False).tolist() == [2, 3]
    exact = free_seats([79, 79], [3, 3], [0, 0], exact=True)
    assert rank_by_free_seats(exact, min_seats=76).tolist() == [0, 1]  # ties: input order
    with pytest.raises(ValueError, match="min_seats"):
        rank_by_free_seats(result, min_seats=-1)


def test_inputs_are_checked():
    assert whole_people([2.5, np.nan]).tolist()[0] == 3.0
    assert free_seats([40], [2.5], [0], exact=True).free_seats.tolist() == [37.0]
    with pytest.raises(ValueError, match="same length"):
        free_seats([10, 10], [1], [0, 0])
    with pytest.raises(ValueError, match="capacity"):
        free_seats([0], [1], [0])
    with pytest.raises(ValueError, match="stale_after_s"):
        free_seats([10], [1], [0], stale_after_s=0)


# -- the endpoint ---------------------------------------------------------------------------

# (space, people, minutes old) for the sample campus's study spaces; elb-303 has no reading.
SEED = [
    ("rfb", "rfb-205", 3, 2),  # 79 seats: public "at least 75", facilities 76
    ("rfb", "rfb-403", 74, 2),  # 74 seats: full
    ("lsb", "lsb-301", 40, 2),  # 160 seats: 120 free
    ("lsb", "lsb-201", 0, 2),  # 105 seats: 105 free
    ("lsb", "lsb-101", 10, 20),  # 155 seats, 20 min old: unknown
    ("lsb", "lsb-401", 130, 2),  # 124 seats, over capacity: full
    ("lsb", "lsb-402", 20, 2),  # 50 seats: 30 free
    ("lsb", "lsb-202", 1, 2),  # 39 seats: public "at least 35", facilities 38
    ("lsb", "lsb-403", 7, 15),  # 77 seats, exactly 15 min old: still fresh, 70 free
]
PUBLIC_ORDER = [
    ("lsb-301", 120, False),
    ("lsb-201", 105, False),
    ("rfb-205", 75, True),
    ("lsb-403", 70, False),
    ("lsb-202", 35, True),
    ("lsb-402", 30, False),
    ("rfb-403", 0, False),
    ("lsb-401", 0, False),
]


def unknown_tail(campus: Campus) -> list[tuple[str, None, bool]]:
    """The stale lsb-101, then every study space without a reading, in registry order."""
    seeded = {space for _, space, _, _ in SEED}
    return [("lsb-101", None, False)] + [
        (s.id, None, False)
        for _, s in campus.spaces()
        if s.type.value == "study_space" and s.id not in seeded
    ]


def seed(store: DuckDBStore) -> None:
    batch = ReadingBatch()
    for building, space, people, minutes in SEED:
        moment = NOW - timedelta(minutes=minutes)
        batch.append(to_epoch_us(moment), building, space, "occupancy", float(people))
        batch.append(to_epoch_us(moment), building, space, "co2", 600.0)
    store.write(batch)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    store = DuckDBStore(tmp_path / "campus.duckdb")
    seed(store)
    yield store
    store.close()


@pytest.fixture
def keys() -> KeyStore:
    return KeyStore.in_memory()


@pytest.fixture
def client(store: DuckDBStore, campus: Campus, keys: KeyStore) -> TestClient:
    app = create_app(store, campus, keys=keys)
    app.dependency_overrides[get_clock] = lambda: lambda: NOW
    return TestClient(app)


def entries(body: dict) -> list[tuple[str, int | None, bool]]:
    return [(s["space_id"], s["free_seats"], s["suppressed"]) for s in body["spaces"]]


def test_public_ranking_with_suppression_and_staleness(client: TestClient, campus: Campus):
    response = client.get(URL, params={"min_seats": 0})
    assert response.status_code == 200, response.text
    body = response.json()
    assert entries(body) == PUBLIC_ORDER + unknown_tail(campus)
    assert "elb-303" in {e[0] for e in unknown_tail(campus)}
    assert body["type"] == "study_space"
    assert body["suppression_k"] == 5
    assert body["stale_after_s"] == 900
    assert body["generated_at"] == "2026-11-26T10:00:00Z"
    by_id = {s["space_id"]: s for s in body["spaces"]}
    small = by_id["rfb-205"]
    assert small["occupancy"] is None and small["status"] == "free"
    assert small["summary"] == "at least 75 free (fewer than 5 people there)"
    assert by_id["lsb-301"]["occupancy"] == 40
    assert by_id["lsb-301"]["reading_ts"] == "2026-11-26T09:58:00Z"
    assert by_id["lsb-301"]["reading_age_s"] == 120
    stale = by_id["lsb-101"]
    assert (stale["status"], stale["reason"], stale["occupancy"]) == ("unknown", "stale", None)
    assert (
        stale["reading_age_s"] == 1200
        and stale["summary"] == "unknown (no reading in the last 15 min)"
    )
    missing = by_id["elb-303"]
    assert (missing["status"], missing["reason"], missing["reading_ts"]) == (
        "unknown",
        "no_reading",
        None,
    )
    assert by_id["lsb-401"]["status"] == "full" and by_id["lsb-401"]["occupancy"] == 130


def test_the_public_answer_never_contains_a_small_count(client: TestClient):
    text = client.get(URL, params={"min_seats": 0}).text
    by_id = {s["space_id"]: s for s in client.get(URL, params={"min_seats": 0}).json()["spaces"]}
    for space_id, capacity, people in [("rfb-205", 79, 3), ("lsb-202", 39, 1)]:
        entry = by_id[space_id]
        assert entry["free_seats"] == capacity - 4
        assert capacity - people not in {v for v in entry.values() if isinstance(v, int)}
        assert str(capacity - people) not in entry["summary"]
    assert '"occupancy":3' not in text.replace(" ", "")


def test_facilities_see_exact_free_seats(client: TestClient, keys: KeyStore, campus: Campus):
    secret = keys.create(Role.FACILITIES, "facilities screen").secret
    body = client.get(
        URL, params={"min_seats": 0}, headers={"Authorization": f"Bearer {secret}"}
    ).json()
    assert body["suppression_k"] is None
    by_id = {s["space_id"]: s for s in body["spaces"]}
    assert (by_id["rfb-205"]["free_seats"], by_id["rfb-205"]["occupancy"]) == (76, 3)
    assert (by_id["lsb-202"]["free_seats"], by_id["lsb-202"]["occupancy"]) == (38, 1)
    assert not any(s["suppressed"] for s in body["spaces"])
    # a researcher is below facilities: suppressed like the public
    researcher = keys.create(Role.RESEARCHER, "researcher").secret
    body = client.get(
        URL, params={"min_seats": 0}, headers={"Authorization": f"Bearer {researcher}"}
    ).json()
    assert entries(body) == PUBLIC_ORDER + unknown_tail(campus)


def test_min_seats_counts_only_seats_that_are_free_for_certain(client: TestClient, campus: Campus):
    body = client.get(URL).json()  # default min_seats=1: full spaces are left out
    assert [e[0] for e in entries(body)] == [
        "lsb-301",
        "lsb-201",
        "rfb-205",
        "lsb-403",
        "lsb-202",
        "lsb-402",
    ] + [e[0] for e in unknown_tail(campus)]
    public = client.get(URL, params={"min_seats": 76, "include_unknown": "false"}).json()
    assert [e[0] for e in entries(public)] == ["lsb-301", "lsb-201"]  # rfb-205: only ≥ 75
    client.app.dependency_overrides[caller_sees_exact_counts] = lambda: True
    exact = client.get(URL, params={"min_seats": 76, "include_unknown": "false"}).json()
    assert [e[0] for e in entries(exact)] == ["lsb-301", "lsb-201", "rfb-205"]


def test_other_space_types(client: TestClient, store: DuckDBStore):
    body = client.get(URL, params={"type": "seminar_room", "min_seats": 0}).json()
    assert body["type"] == "seminar_room"
    assert body["spaces"] and all(s["status"] == "unknown" for s in body["spaces"])
    # offices with fewer than k seats are withheld below facilities, even when empty
    batch = ReadingBatch()
    batch.append(to_epoch_us(NOW), "rfb", "rfb-405", "occupancy", 0.0)  # Office 2, 3 seats
    store.write(batch)
    offices = {
        s["space_id"]: s for s in client.get(URL, params={"type": "office"}).json()["spaces"]
    }
    assert (offices["rfb-405"]["status"], offices["rfb-405"]["reason"]) == ("unknown", "withheld")
    assert offices["rfb-405"]["free_seats"] is None and offices["rfb-405"]["reading_ts"] is None
    client.app.dependency_overrides[caller_sees_exact_counts] = lambda: True
    offices = {
        s["space_id"]: s for s in client.get(URL, params={"type": "office"}).json()["spaces"]
    }
    assert offices["rfb-405"]["free_seats"] == 3


def test_k_comes_from_the_app_settings(client: TestClient):
    client.app.state.live_settings = LiveSettings(suppression_k=10)
    by_id = {s["space_id"]: s for s in client.get(URL, params={"min_seats": 0}).json()["spaces"]}
    assert (by_id["lsb-403"]["free_seats"], by_id["lsb-403"]["suppressed"]) == (68, True)  # 77 − 9
    client.app.state.live_settings = LiveSettings(stale_after=timedelta(minutes=30))
    by_id = {s["space_id"]: s for s in client.get(URL, params={"min_seats": 0}).json()["spaces"]}
    assert by_id["lsb-101"]["free_seats"] == 145


def test_one_k_from_the_environment_for_the_finder_the_page_and_exports(
    store: DuckDBStore, campus: Campus, keys: KeyStore, monkeypatch: pytest.MonkeyPatch
):
    # An operator who raises k for exports must not leave the page and finder at 5.
    monkeypatch.setenv("CAMPUSLAB_SUPPRESSION_K", "10")
    app = create_app(store, campus, keys=keys)
    app.dependency_overrides[get_clock] = lambda: lambda: NOW
    client = TestClient(app)
    body = client.get(URL, params={"min_seats": 0}).json()
    by_id = {s["space_id"]: s for s in body["spaces"]}
    assert body["suppression_k"] == 10
    assert (by_id["lsb-403"]["free_seats"], by_id["lsb-403"]["suppressed"]) == (68, True)  # 77 − 9
    page = client.get("/").text
    assert "a room with 1 to 9 people shows “fewer than 10”" in page
    assert app.state.open_data.k == 10


@pytest.mark.parametrize("value", ["2", "five", "-5"])
def test_a_bad_k_in_the_environment_fails_at_start_up(
    store: DuckDBStore, campus: Campus, monkeypatch: pytest.MonkeyPatch, value: str
):
    monkeypatch.setenv("CAMPUSLAB_SUPPRESSION_K", value)
    with pytest.raises(ValueError, match="CAMPUSLAB_SUPPRESSION_K must be a whole number >= 3"):
        create_app(store, campus)


def test_the_route_is_not_taken_for_a_space_id(client: TestClient):
    spec = client.get("/openapi.json").json()
    operation = spec["paths"][URL]["get"]
    assert operation["tags"] == ["spaces"]
    assert {p["name"] for p in operation["parameters"]} >= {"type", "min_seats"}
    assert operation["x-required-role"] == "public"
    assert client.get("/api/v1/spaces/rfb-205").json()["id"] == "rfb-205"


@pytest.mark.parametrize(
    ("params", "parameter", "words"),
    [
        ({"type": "kitchen"}, "type", ["'kitchen'", "not a space type", "study_space"]),
        ({"type": ""}, "type", ["not a space type"]),
        ({"min_seats": "-1"}, "min_seats", ["greater than or equal to 0"]),
        ({"min_seats": "5001"}, "min_seats", ["less than or equal to 5000"]),
        ({"min_seats": "many"}, "min_seats", ["integer"]),
        ({"min_seats": "1.5"}, "min_seats", ["integer"]),
        ({"include_unknown": "perhaps"}, "include_unknown", ["boolean"]),
    ],
)
def test_bad_parameters_are_problems(client: TestClient, params, parameter, words):
    response = client.get(URL, params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["parameter"] == parameter
    for word in words:
        assert word in body["detail"], (word, body["detail"])


@pytest.mark.parametrize(
    "junk",
    ["x'; DROP TABLE readings;--", "9" * 400, "NaN", "1e308", "%00", "ÅØÆ😀", "\u202e", " 3"],
)
def test_garbage_is_never_a_server_error(client: TestClient, junk: str):
    for name in ("type", "min_seats", "include_unknown"):
        response = client.get(URL, params={name: junk})
        assert response.status_code in (200, 422), (name, junk, response.text)


def test_building_narrows_the_answer_to_that_building(client: TestClient, campus: Campus):
    body = client.get(URL, params={"min_seats": 0, "building": "rfb"}).json()
    assert body["building"] == "rfb"
    assert {s["building"] for s in body["spaces"]} == {"rfb"}
    study = [(b.id, s.id) for b, s in campus.spaces() if s.type.value == "study_space"]
    rfb_study = {space for building, space in study if building == "rfb"}
    assert {s["space_id"] for s in body["spaces"]} == rfb_study
    assert entries(body)[:2] == [("rfb-205", 75, True), ("rfb-403", 0, False)]
    everything = client.get(URL, params={"min_seats": 0}).json()
    assert everything["building"] is None and len(everything["spaces"]) > len(body["spaces"])


def test_an_unknown_building_is_a_problem_naming_the_known_ones(client: TestClient):
    response = client.get(URL, params={"building": "nowhere"})
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["parameter"] == "building"
    assert "'nowhere'" in body["detail"] and "lsb" in body["detail"]


@pytest.mark.parametrize(
    "path", [URL, "/api/v1/spaces", "/api/v1/spaces/lsb-301", "/api/v1/health"]
)
def test_an_unknown_query_parameter_is_a_problem_naming_it(client: TestClient, path: str):
    response = client.get(path, params={"buildng": "lsb"})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["parameter"] == "buildng"
    assert body["type"].endswith("/invalid-parameter")
    assert "unknown query parameter 'buildng'" in body["detail"]


def test_declared_parameters_and_a_cache_buster_are_accepted(client: TestClient):
    response = client.get(URL, params={"type": "study_space", "min_seats": 0, "_": "17329"})
    assert response.status_code == 200, response.text
    detail = client.get(URL, params={"x": "1"}).json()["detail"]
    for name in ("building", "include_unknown", "min_seats", "type"):
        assert name in detail, detail  # the answer lists what the operation takes
    assert client.get("/", params={"utm_source": "mail"}).status_code == 200  # a page
