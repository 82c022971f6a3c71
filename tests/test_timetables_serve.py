"""Timetables through the running server: ``campuslab serve`` keeps them in its data folder.

The API tests build the app with a TimetableStore themselves; this checks that the real
process does too, so an upload, ``campuslab timetable import`` and booked vs actual meet.
"""

from __future__ import annotations

from datetime import date

import httpx
from typer.testing import CliRunner

from campuslab.cli.timetable_command import timetable_app
from campuslab.core.registry import load_campus, sample_campus_path
from campuslab.simulators.campus import CampusSimulator
from campuslab.simulators.timetable_export import timetable_ics

MONDAY = date(2026, 11, 16)
WEEK = {"start": "2026-11-16T00:00:00Z", "end": "2026-11-23T00:00:00Z"}


def _calendar(space_id: str) -> bytes:
    return timetable_ics(CampusSimulator(load_campus(sample_campus_path())), space_id, MONDAY, 2)


def test_an_upload_to_serve_is_kept_and_used_for_booked_vs_actual(mosquitto, serve_factory):
    serve = serve_factory(mosquitto.url)
    url = f"{serve.base_url}/api/v1/spaces/rfb-101"
    before = httpx.get(f"{url}/bookings", params=WEEK, headers=serve.headers, timeout=10)
    assert before.status_code == 200, before.text
    assert before.json()["timetable_imported"] is False

    uploaded = httpx.post(
        f"{url}/timetable",
        content=_calendar("rfb-101"),
        headers={**serve.headers, "Content-Type": "text/calendar"},
        timeout=10,
    )
    assert uploaded.status_code == 201, uploaded.text
    assert (serve.data_dir / "timetables" / "rfb-101.ics").is_file()

    after = httpx.get(f"{url}/bookings", params=WEEK, headers=serve.headers, timeout=10).json()
    assert after["timetable_imported"] is True and after["booked_hours"] > 0


def test_a_cli_import_is_seen_by_the_running_server(mosquitto, serve_factory, tmp_path):
    serve = serve_factory(mosquitto.url)
    ics = tmp_path / "rfb-102.ics"
    ics.write_bytes(_calendar("rfb-102"))
    imported = CliRunner().invoke(
        timetable_app,
        ["import", str(ics), "--space", "rfb-102", "--data-dir", str(serve.data_dir)],
    )
    assert imported.exit_code == 0, imported.output
    answer = httpx.get(
        f"{serve.base_url}/api/v1/spaces/rfb-102/bookings",
        params=WEEK,
        headers=serve.headers,
        timeout=10,
    ).json()
    assert answer["timetable_imported"] is True and answer["booked_hours"] > 0
