"""``campuslab timetable import|list`` through typer's CliRunner."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from campuslab.cli.timetable_command import timetable_app

DATA = Path(__file__).parent / "data"
REGISTRY = str(DATA / "learning_spaces_campus.yaml")


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    """The sub-app mounted as the lead mounts it: app.add_typer(timetable_app, name=...)."""
    root = typer.Typer()
    root.add_typer(timetable_app, name="timetable")

    @root.callback()
    def campuslab() -> None: ...

    return root


def run(app: typer.Typer, *args: str):
    return CliRunner().invoke(app, ["timetable", *args])


def test_import_prints_a_summary_and_list_shows_it(app, tmp_path: Path):
    result = run(
        app,
        "import",
        str(DATA / "timetable_hall_a.ics"),
        "--space",
        "hall-a",
        "--data-dir",
        str(tmp_path),
        "--registry",
        REGISTRY,
    )

    assert result.exit_code == 0, result.output
    summary = " ".join(result.stdout.split())
    assert "for hall-a (Auditorium A): 4 events (1 recurring), 5 bookings" in summary
    assert "2026-03-16 10:15 to 2026-04-06 12:00 (Europe/Oslo)" in summary
    assert "dropped 3 ATTENDEE/ORGANIZER/CONTACT properties" in summary
    assert (tmp_path / "timetables" / "hall-a.ics").is_file()

    listed = run(app, "list", "--data-dir", str(tmp_path))
    assert listed.exit_code == 0
    assert " ".join(listed.stdout.split()) == (
        "hall-a: 4 events (1 recurring), 5 bookings, 2026-03-16 10:15 to 2026-04-06 12:00"
    )


def test_garbage_file_exits_2_with_the_reason(app, tmp_path: Path):
    junk = tmp_path / "timetable.ics"
    junk.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")

    result = run(
        app,
        "import",
        str(junk),
        "--space",
        "hall-a",
        "--data-dir",
        str(tmp_path),
        "--registry",
        REGISTRY,
    )

    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert f"error: {junk}: not imported" in message
    assert "not an iCalendar file: it is binary data, not text" in message
    assert not (tmp_path / "timetables" / "hall-a.ics").exists()


def test_a_spreadsheet_export_exits_2_naming_its_first_line(app, tmp_path: Path):
    csv = tmp_path / "bookings.ics"
    csv.write_text("date,room,course\n2026-03-02,hall-a,TMA4100\n")

    result = run(
        app,
        "import",
        str(csv),
        "--space",
        "hall-a",
        "--data-dir",
        str(tmp_path),
        "--registry",
        REGISTRY,
    )

    assert result.exit_code == 2
    assert "it must begin with BEGIN:VCALENDAR, not 'date,room,course'" in result.stderr


def test_invalid_event_exits_2_naming_the_event(app, tmp_path: Path):
    bad = tmp_path / "bad.ics"
    bad.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nBEGIN:VEVENT\r\nUID:1\r\n"
        "SUMMARY:TMA4100\r\nDTSTART:20260302T120000\r\nDTEND:20260302T100000\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )

    result = run(
        app,
        "import",
        str(bad),
        "--space",
        "hall-a",
        "--data-dir",
        str(tmp_path),
        "--registry",
        REGISTRY,
    )

    assert result.exit_code == 2
    assert "event 1 (SUMMARY 'TMA4100'): DTEND before DTSTART" in result.stderr


def test_unknown_space_missing_file_and_bad_registry_exit_2(app, tmp_path: Path):
    ics = str(DATA / "timetable_hall_a.ics")
    unknown = run(
        app, "import", ics, "--space", "hall-z", "--registry", REGISTRY, "--data-dir", str(tmp_path)
    )
    assert unknown.exit_code == 2
    assert "unknown space 'hall-z'" in unknown.stderr

    missing = run(
        app,
        "import",
        str(tmp_path / "nope.ics"),
        "--space",
        "hall-a",
        "--registry",
        REGISTRY,
        "--data-dir",
        str(tmp_path),
    )
    assert missing.exit_code == 2
    assert "no such file" in missing.stderr

    registry = tmp_path / "campus.yaml"
    registry.write_text("site: [")
    broken = run(
        app,
        "import",
        ics,
        "--space",
        "hall-a",
        "--registry",
        str(registry),
        "--data-dir",
        str(tmp_path),
    )
    assert broken.exit_code == 2
    assert "not valid YAML" in broken.stderr


def test_list_without_timetables(app, tmp_path: Path):
    result = run(app, "list", "--data-dir", str(tmp_path))
    assert result.exit_code == 0
    assert "No timetables in" in result.stdout


def test_a_dotted_upper_case_space_code_is_imported_and_listed_as_written(app, tmp_path: Path):
    codes = str(DATA / "campus_codes.yaml")
    ics = str(DATA / "timetable_hall_a.ics")
    common = ("--data-dir", str(tmp_path), "--registry", codes)
    result = run(app, "import", ics, "--space", "A2.14", *common)
    assert result.exit_code == 0, result.output
    assert "for A2.14 (Lesesal A2.14): 4 events" in " ".join(result.stdout.split())
    assert [p.name for p in (tmp_path / "timetables").glob("*.ics")] == ["A2.14.ics"]
    listed = run(app, "list", "--data-dir", str(tmp_path))
    assert " ".join(listed.stdout.split()).startswith("A2.14: 4 events (1 recurring)")
    wrong_case = run(app, "import", ics, "--space", "a2.14", *common)
    assert wrong_case.exit_code == 2
    assert "unknown space 'a2.14'" in wrong_case.stderr
