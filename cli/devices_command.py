"""``campuslab devices import``: add the devices of a vendor's sheet (CSV) to the registry.

Registered in ``cli/main.py`` with ``app.add_typer(devices_app, name="devices")``.
The checks and the registry edit are ``campuslab.core.device_import``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from campuslab.core.device_import import (
    RegistryEditError,
    SheetError,
    device_line,
    read_device_sheet,
    registry_with_devices,
)
from campuslab.core.registry import RegistryError, load_campus

EXIT_USAGE = 2
EXIT_BAD_ROWS = 1
console = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)

devices_app = typer.Typer(no_args_is_help=True, add_completion=False)


@devices_app.callback()
def devices() -> None:
    """The registry's devices (LoRaWAN sensors and the like)."""


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    errors.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


def _write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` in one step (a crash leaves the old file or the new, never half)."""
    mode = path.stat().st_mode & 0o777
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@devices_app.command("import")
def import_devices(
    file: Path = typer.Argument(..., metavar="FILE.csv", help="The vendor's device sheet."),
    registry: Path = typer.Option(
        ...,
        "--registry",
        metavar="FILE",
        envvar="CAMPUSLAB_REGISTRY",
        help="Campus registry YAML to add the devices to.",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Check the sheet and show what would be added; write nothing."
    ),
    skip_bad: bool = typer.Option(
        False,
        "--skip-bad",
        help="Add the good rows even when some are bad (the bad ones are listed); by "
        "default one bad row means nothing is added.",
    ),
) -> None:
    """Check every row of a device sheet and add the devices to the registry's devices:.

    Columns (any case, any order; others are ignored): DevEUI (or dev_eui, Device EUI),
    model (a profile name, or the vendor's, e.g. "Milesight AM307-915M"), room (or space,
    location: a space id or a space's name), and optionally name (or device id) and
    reporting_interval. Comments and layout of the registry are kept: the devices are
    added as lines at the end of its devices: list.

    Example:

      campuslab devices import am307-delivery.csv --registry campus.yaml --dry-run
    """
    try:
        campus = load_campus(registry)
    except RegistryError as exc:
        _fail(str(exc))
    try:
        content = file.read_bytes()
    except FileNotFoundError:
        _fail(f"{file}: no such file")
    except IsADirectoryError:
        _fail(f"{file}: is a folder, not a CSV file")
    try:
        sheet = read_device_sheet(content, campus, str(file))
    except SheetError as exc:
        _fail(str(exc))
    for problem in sheet.problems:
        errors.print(f"[red]{escape(str(file))}:[/red] {escape(str(problem))}")
    if sheet.ignored_columns:
        console.print(f"Ignored columns: {escape(', '.join(sheet.ignored_columns))}")
    bad_rows = len({p.line for p in sheet.problems})
    if sheet.problems and not skip_bad:
        _fail(
            f"{bad_rows} bad row(s); nothing was added to {registry} (fix them, or add the "
            "good rows with --skip-bad)",
            EXIT_BAD_ROWS,
        )
    new = [device for _, device in sheet.devices]
    if not new:
        _fail("no device to add", EXIT_BAD_ROWS)
    try:
        text = registry_with_devices(registry, new)
    except RegistryEditError as exc:
        _fail(str(exc))
    verb = "Would add" if dry_run else "Added"
    console.print(f"{verb} {len(new)} device(s) to {escape(str(registry))}:")
    for line, device in sheet.devices:
        console.print(f"  line {line}: - {escape(device_line(device))}")
    if sheet.problems:
        console.print(f"Skipped {bad_rows} bad row(s).")
    if not dry_run:
        _write_atomically(registry, text)
