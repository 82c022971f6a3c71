"""Every parameter of every route, fed injection attempts: refused, and nothing changes.

The operations and their parameters come from the app's own OpenAPI document, so a
new route or parameter is attacked without editing this file. Each attempt replaces
one parameter of a request that is otherwise valid (its baseline answers 2xx, checked
first), sent by a key whose role the route allows, so only the attempt decides.

Expected: a 4xx problem-details answer; never a 5xx, never an HTML page that echoes
the attempt unescaped, never a file's contents, and the store's row count is unchanged.
A few parameters are free text by design (a prefix filter, a key's name): for them a
2xx is fine as long as the text is treated as data.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import icalendar
import pytest
from test_security import INJECTIONS, PROBLEM, WINDOW, bearer, seed

from campuslab.api import create_app
from campuslab.api.keys import KeyStore, Role
from campuslab.api.security import api_routes, required_role
from campuslab.core.registry import Campus
from campuslab.core.store.duckdb import DuckDBStore
from campuslab.core.timetables import TimetableStore

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

# markup and template attempts on top of the SQL/InfluxQL/path ones of test_security
ATTEMPTS = [
    *INJECTIONS,
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "rfb-101\u202e",
    "x" * 5000,
]

# endless answers (server-sent events): nothing but a header parameter to attack
NOT_REQUESTED = {("GET", "/api/v1/stream")}

# a valid value for each parameter name; the schema's first example otherwise
BASELINE_VALUES: dict[str, str] = {
    "space_id": "rfb-101",
    "building_id": "rfb",
    "building": "rfb",
    "name": "unauthorized",  # /api/v1/problems/{name}
    "quantity": "co2",
    "every": "15m",
    "agg": "max",
    **WINDOW,
    "since": WINDOW["start"],
    "until": WINDOW["end"],
    # /savings: the baseline period must be before the reporting period
    "baseline_start": "2026-09-01T00:00:00Z",
    "baseline_end": "2026-11-01T00:00:00Z",
}

# (method, route, parameter) that are free text by design: any value is a valid filter
FREE_TEXT = {("GET", "/api/v1/dead-letters", "topic")}

# baselines that cannot be 2xx on this small store; the attempts must still be refused
# before the store is asked (the problem names the attacked parameter, checked below)
BASELINE_REFUSED = {("GET", "/api/v1/buildings/{building_id}/savings"): 422}


@dataclass
class Operation:
    method: str
    route: str
    parameters: list[dict[str, Any]]
    role: Role | None

    @property
    def label(self) -> str:
        return f"{self.method} {self.route}"


@dataclass
class Setup:
    store: DuckDBStore
    keys: KeyStore
    timetables: Path
    client: TestClient
    secrets: dict[Role, str]
    operations: list[Operation]


@pytest.fixture
def setup(tmp_path: Path, campus: Campus) -> Iterator[Setup]:
    store = DuckDBStore(tmp_path / "campus.duckdb")
    seed(store)
    keys = KeyStore.in_data_dir(tmp_path / "data")
    timetables = tmp_path / "timetables"
    app = create_app(store, campus, keys=keys, timetables=TimetableStore(timetables))
    secrets = {
        role: keys.create(role, f"{role} tester").secret for role in Role if role is not Role.PUBLIC
    }
    yield Setup(store, keys, timetables, TestClient(app), secrets, operations(app))
    store.close()


def operations(app) -> list[Operation]:
    """Every (method, route) of the OpenAPI document, with the role its route needs."""
    roles = {
        (method, route.path_format): required_role(route)
        for route in api_routes(app)
        for method in route.methods
    }
    found = []
    for route, methods in app.openapi()["paths"].items():
        for method, operation in methods.items():
            key = (method.upper(), route)
            if key not in NOT_REQUESTED:
                found.append(Operation(*key, operation.get("parameters", []), roles.get(key)))
    return found


def caller_for(setup: Setup, operation: Operation) -> dict[str, str]:
    """Facilities (sees everything, so suppression never decides); admin where needed."""
    needs_admin = operation.role is not None and not Role.FACILITIES.includes(operation.role)
    return bearer(setup.secrets[Role.ADMIN if needs_admin else Role.FACILITIES])


def baseline_value(setup: Setup, parameter: dict[str, Any]) -> str:
    name = parameter["name"]
    if name == "key_id":
        return setup.keys.create(Role.RESEARCHER, "victim").key.id
    if name in BASELINE_VALUES:
        return BASELINE_VALUES[name]
    schema = parameter.get("schema", {})
    examples = schema.get("examples") or [parameter.get("example")]
    assert examples[0] is not None, f"no baseline value for parameter {name}: add one"
    return str(examples[0]).lower() if isinstance(examples[0], bool) else str(examples[0])


CALENDAR = b"""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Test//EN
BEGIN:VEVENT
UID:seminar@test
DTSTAMP:20260201T000000Z
DTSTART:20260302T090000
DTEND:20260302T100000
SUMMARY:TMA4100
END:VEVENT
END:VCALENDAR
"""


def send(setup: Setup, operation: Operation, replaced: str | None = None, attempt: str = "") -> Any:
    """The operation's baseline request, with parameter ``replaced`` set to ``attempt``."""
    path, query = operation.route, {}
    for parameter in operation.parameters:
        name, where = parameter["name"], parameter["in"]
        if name == replaced:
            value = attempt
        elif parameter.get("required") or name in WINDOW or name in BASELINE_VALUES:
            value = baseline_value(setup, parameter)
        else:
            continue
        if where == "path":
            path = path.replace(f"{{{name}}}", quote(value, safe=""))
        elif where == "query":
            query[name] = value
    headers = caller_for(setup, operation)
    if operation.route.endswith("/timetable"):
        headers["Content-Type"] = "text/calendar"
        return setup.client.request(
            operation.method, path, params=query, content=CALENDAR, headers=headers
        )
    if operation.route == "/api/v1/keys" and operation.method == "POST":
        body = {"name": "new", "role": "planner"}
        return setup.client.post(path, params=query, json=body, headers=headers)
    return setup.client.request(operation.method, path, params=query, headers=headers)


def faults(response, attempt: str, allowed: Callable[[int], bool]) -> list[str]:
    """What is wrong with the answer to one attempt (empty when it is fine)."""
    found = []
    status, kind = response.status_code, response.headers.get("content-type", "")
    if status >= 500:
        found.append(f"{status}: {response.text[:200]}")
    elif not allowed(status):
        found.append(f"answered {status}, not a 4xx: {response.text[:200]}")
    if 400 <= status < 500 and kind != PROBLEM:
        found.append(f"{status} as {kind}, not problem details")
    if kind.startswith("text/html") and attempt in response.text:
        found.append("the attempt is echoed unescaped in HTML")
    if "Traceback" in response.text or "root:" in response.text:
        found.append("a stack trace or a file's contents in the answer")
    if "pwned" in response.headers.get("set-cookie", "") or "x-injected" in response.headers:
        found.append("a header was injected")
    return found


def test_every_parameter_of_every_route_refuses_injection(setup: Setup):
    assert len(setup.operations) >= 25, "the OpenAPI document lists the API's routes"
    before = setup.store.count()
    problems: list[str] = []
    attacked = 0
    for operation in setup.operations:
        baseline = send(setup, operation)
        expected = BASELINE_REFUSED.get((operation.method, operation.route))
        if baseline.status_code != (expected or baseline.status_code) or (
            not expected and not 200 <= baseline.status_code < 300
        ):
            problems.append(f"{operation.label} baseline: {baseline.status_code} {baseline.text}")
            continue
        for parameter in operation.parameters:
            if parameter["in"] not in ("path", "query"):
                continue
            name = parameter["name"]
            free = (operation.method, operation.route, name) in FREE_TEXT
            for attempt in ATTEMPTS:
                response = send(setup, operation, name, attempt)
                attacked += 1

                def allowed(status: int, free: bool = free) -> bool:
                    return 400 <= status < 500 or (free and status == 200)

                for fault in faults(response, attempt, allowed):
                    problems.append(f"{operation.label} {name}={attempt!r}: {fault}")
                if expected and response.status_code == 422:
                    named = response.json().get("parameter")
                    if named not in (name, None):
                        problems.append(
                            f"{operation.label} {name}={attempt!r}: refused for {named}, "
                            "not for the attempt"
                        )
                if free and response.status_code == 200:
                    assert response.json() == [], (operation.label, attempt)  # no letter matches
    assert not problems, "\n".join(problems)
    assert attacked > 500
    assert setup.store.count() == before


def test_routes_outside_the_openapi_document_refuse_path_injection(setup: Setup):
    """The overview page's static files: a path attempt is a 404, never a file."""
    app = setup.client.app
    documented = set(app.openapi()["paths"])
    routes = {route.path_format for route in api_routes(app) if "{" in route.path_format}
    undocumented = sorted(routes - documented)
    assert undocumented, "the overview page serves /static/{name}"
    for route in undocumented:
        name = route[route.index("{") + 1 : route.index("}")]
        for attempt in ATTEMPTS:
            path = route.replace(f"{{{name}}}", quote(attempt, safe=""))
            response = setup.client.get(path)
            assert 400 <= response.status_code < 500, (path, response.status_code)
            assert "root:" not in response.text
            if response.headers.get("content-type", "").startswith("text/html"):
                assert attempt not in response.text


# -- JSON and iCalendar bodies ---------------------------------------------------------------


def stored_names(setup: Setup) -> list[str]:
    return [key.name for key in setup.keys.list()]


def test_key_names_and_roles_with_injections_are_data_or_refused(setup: Setup):
    admin = bearer(setup.secrets[Role.ADMIN])
    keys_file = setup.keys.path
    before = setup.store.count()
    for attempt in ATTEMPTS:
        refused = setup.client.post(
            "/api/v1/keys", json={"name": "study", "role": attempt}, headers=admin
        )
        assert refused.status_code == 422, (attempt, refused.text)
        assert refused.headers["content-type"] == PROBLEM

        named = setup.client.post(
            "/api/v1/keys", json={"name": attempt, "role": "researcher"}, headers=admin
        )
        if named.status_code == 201:
            # printable text is a valid name: stored and listed verbatim, as data
            assert named.json()["name"] == attempt.strip()
            listed = setup.client.get(f"/api/v1/keys/{named.json()['id']}", headers=admin)
            assert listed.json()["name"] == attempt.strip()
        else:
            assert named.status_code == 422, (attempt, named.text)
            assert named.headers["content-type"] == PROBLEM
            assert attempt not in stored_names(setup)
    # the file is still one valid JSON document and every key in it still works
    json.loads(keys_file.read_text())
    assert "root:" not in keys_file.read_text()
    assert setup.client.get("/api/v1/keys", headers=admin).status_code == 200
    assert sorted(stored_names(setup)) == sorted(
        k.name for k in KeyStore.in_data_dir(keys_file.parent).list()
    )
    assert setup.store.count() == before


def calendar_with(summary: str, uid: str) -> bytes:
    event = icalendar.Event()
    event.add("UID", uid)
    event.add("SUMMARY", summary)
    event.add("DTSTAMP", icalendar.vDatetime.from_ical("20260201T000000Z"))
    event.add("DTSTART", icalendar.vDatetime.from_ical("20260302T090000"))
    event.add("DTEND", icalendar.vDatetime.from_ical("20260302T100000"))
    calendar = icalendar.Calendar()
    calendar.add("VERSION", "2.0")
    calendar.add("PRODID", "-//Test//EN")
    calendar.add_component(event)
    return calendar.to_ical()


def same_text(text: str) -> str:
    return text.replace("\r\n", "\n")


def property_names(ics: str) -> list[str]:
    """The name of each content line (unfolded) of an iCalendar text."""
    lines = ics.replace("\r\n ", "").replace("\r\n\t", "").split("\r\n")
    return [line.split(":", 1)[0].split(";")[0] for line in lines if line]


def test_timetable_text_with_injections_is_stored_escaped_or_refused(setup: Setup):
    planner = {**bearer(setup.secrets[Role.PLANNER]), "Content-Type": "text/calendar"}
    url = "/api/v1/spaces/rfb-101/timetable"
    stored = setup.timetables / "rfb-101.ics"
    facilities = bearer(setup.secrets[Role.FACILITIES])
    day = {"start": "2026-03-02T00:00:00Z", "end": "2026-03-03T00:00:00Z"}
    before = setup.store.count()
    benign = setup.client.post(url, content=calendar_with("TMA4100", "a@test"), headers=planner)
    assert benign.status_code == 201, benign.text
    shape = property_names(stored.read_text())
    for attempt in ATTEMPTS:
        uid = f"{attempt}@test"
        response = setup.client.post(url, content=calendar_with(attempt, uid), headers=planner)
        if response.status_code != 201:
            assert response.status_code == 422, (attempt, response.text)
            assert response.headers["content-type"] == PROBLEM
            continue
        text = stored.read_text()
        # the same lines as a plain SUMMARY gives: a newline, ';' or ':' made no property
        assert property_names(text) == shape, (attempt, text)
        events = list(icalendar.Calendar.from_ical(text).walk("VEVENT"))
        # kept as text (a CRLF inside a value reads back as a newline)
        kept = [(str(e["SUMMARY"]), str(e["UID"])) for e in events]
        assert kept == [(same_text(attempt), same_text(uid))], (attempt, text)
        bookings = setup.client.get(
            "/api/v1/spaces/rfb-101/bookings", params=day, headers=facilities
        )
        assert bookings.status_code == 200, bookings.text
        assert [b["summary"] for b in bookings.json()["bookings"]] == [same_text(attempt)]
    assert setup.store.count() == before
