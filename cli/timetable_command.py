"""``campuslab timetable``: import a space's timetable or booking calendar (iCalendar).

Registered in ``cli/main.py`` with ``app.add_typer(timetable_app, name="timetable")``.
Calendars are kept one per space under ``<data-dir>/timetables/<space_id>.ics``
(see ``campuslab.core.timetables``). The booked-vs-actual analytics read them
from there.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from campuslab.core.registry import Campus, RegistryError, load_campus, sample_campus_path
from campuslab.core.timetables import (
    InvalidCalendar,
    NoTimetable,
    TimetableStore,
    UnknownSpace,
    check_calendar_size,
)

TIMETABLES_FOLDER = "timetables"
EXIT_USAGE = 2
console = Console(highlight=False)
errors = Console(stderr=True, highlight=False, soft_wrap=True)

timetable_app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

DataDir = typer.Option(
    Path("data"),
    "--data-dir",
    metavar="DIR",
    envvar="CAMPUSLAB_DATA_DIR",
    help="Data folder; calendars are kept in its timetables/ folder.",
)


@timetable_app.callback()
def timetable() -> None:
    """Timetables and booking calendars (iCalendar) per space, for booked-vs-actual analytics.

    Names of people (ATTENDEE, ORGANIZER, CONTACT) are dropped on import.
    """


def store_for(data_dir: Path) -> TimetableStore:
    """The timetable store under a data folder (the one ``serve`` and the API use)."""
    return TimetableStore(data_dir / TIMETABLES_FOLDER)


def _fail(message: str) -> NoReturn:
    errors.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(EXIT_USAGE)


def _campus(registry: Path | None) -> Campus:
    try:
        return load_campus(registry or sample_campus_path())
    except RegistryError as exc:
        _fail(str(exc))


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


@timetable_app.command("import")
def import_calendar(
    file: Path = typer.Argument(
        ..., metavar="FILE.ics", help="The iCalendar file (.ics) of one space."
    ),
    space: str = typer.Option(..., "--space", metavar="ID", help="The space the calendar books."),
    data_dir: Path = DataDir,
    registry: Path | None = typer.Option(
        None,
        "--registry",
        metavar="FILE",
        envvar="CAMPUSLAB_REGISTRY",
        help="Campus registry YAML (default: the sample campus shipped with CampusLab).",
    ),
    merge: bool = typer.Option(
        False,
        "--merge",
        help="Add to the space's stored calendar (events with the same UID are replaced) "
        "instead of replacing it.",
    ),
) -> None:
    """Validate a space's calendar, expand its recurrences, and store it.

    Floating times (no time zone) are taken in the site's time zone. Recurrences
    must end (UNTIL or COUNT) within 2 years. The class size booked may be given
    per event as X-CAMPUSLAB-CLASS-SIZE.

    Example:

      campuslab timetable import rfb-101.ics --space rfb-101
    """
    campus = _campus(registry)
    if campus.space(space) is None:
        _fail(f"unknown space {space!r}: not in the campus registry")
    try:
        check_calendar_size(file.stat().st_size, str(file))
        content = file.read_bytes()
    except FileNotFoundError:
        _fail(f"{file}: no such file")
    except IsADirectoryError:
        _fail(f"{file}: is a folder, not a calendar file")
    except InvalidCalendar as exc:
        _fail(str(exc))
    try:
        report = store_for(data_dir).import_calendar(
            campus, space, content, replace=not merge, source=str(file)
        )
    except (InvalidCalendar, UnknownSpace) as exc:
        _fail(str(exc))
    name = campus.space(space).name
    console.print(
        f"Imported {escape(str(file))} for {space} ({escape(name)}): {report.events} events "
        f"({report.recurring} recurring), {report.occurrences} bookings, "
        f"{_when(report.first)} to {_when(report.last)} ({campus.site.timezone})"
    )
    for warning in report.warnings:
        console.print(f"[yellow]note:[/yellow] {escape(warning)}")


@timetable_app.command("list")
def list_timetables(data_dir: Path = DataDir) -> None:
    """List the spaces that have a timetable, with what each holds."""
    store = store_for(data_dir)
    spaces = store.spaces()
    if not spaces:
        console.print(f"No timetables in {store.folder}.")
        return
    for space_id in spaces:
        try:
            report = store.describe(space_id)
        except (InvalidCalendar, NoTimetable) as exc:
            console.print(f"{space_id}: [red]unreadable[/red] ({escape(str(exc))})")
            continue
        console.print(
            f"{space_id}: {report.events} events ({report.recurring} recurring), "
            f"{report.occurrences} bookings, {_when(report.first)} to {_when(report.last)}"
        )
