"""The ``campuslab`` command: the composition root that wires every part together.

Nothing imports this package; it imports the parts.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="campuslab",
    help="CampusLab: campus living-lab platform. Run `campuslab demo` to see it work.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
