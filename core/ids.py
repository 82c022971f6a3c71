"""Ids of sites, buildings, spaces and meters, kept as the campus writes them.

An id is the campus's own code (``HB-101``, ``EL5``, ``A2.14``): 1 to 63 ASCII
letters of either case, digits, ``-``, ``_`` and ``.``, starting with a letter or
digit. It is matched exactly, case included, and carried unchanged into MQTT
topics, InfluxDB tags, the API, exports, Brick and the dashboards.

What is refused, and why:

- ``/``, ``+`` and ``#``: an id is one MQTT topic level
  (``campus/<building>/<space-or-meter>/<quantity>``); ``/`` splits levels and
  ``+``/``#`` are subscription wildcards;
- spaces, tabs and other control characters: they cannot stand in a topic or
  an InfluxDB tag without escaping, and read alike to a person;
- letters outside ASCII (``ø``, ``é``): the same-looking id can be two byte
  strings (Unicode NFC/NFD, and some file systems store names decomposed, as a
  space's timetable file is named after its id), which breaks exact matching.
  The room's full name goes in ``name``, which takes any text.

Nothing here imports the rest of CampusLab.
"""

from __future__ import annotations

import re
import unicodedata

MAX_ID_LENGTH = 63
ID_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_ID_LENGTH - 1}}}$"
_ID = re.compile(ID_PATTERN)
_ALLOWED = "ids may hold letters, digits, '-', '_' and '.'"
_TOPIC_CHARACTERS = frozenset("/+#")  # a topic level separator and the two wildcards


def is_valid_id(ident: object) -> bool:
    """Whether ``ident`` is a well-formed id (a str that :func:`id_problem` accepts)."""
    return isinstance(ident, str) and _ID.fullmatch(ident) is not None


def id_problem(ident: str) -> str | None:
    """Why ``ident`` cannot be an id, as a sentence naming it and the character; None if it can.

    >>> id_problem("HB 101")
    "'HB 101' has a space at position 3; ids may hold letters, digits, '-', '_' and '.'"
    """
    if _ID.fullmatch(ident):
        return None
    if ident == "":
        return "must not be empty"
    for position, character in enumerate(ident, start=1):
        if not (character.isascii() and (character.isalnum() or character in "._-")):
            what = _describe(character)
            return f"{_shown(ident)} has {what} at position {position}{_why(character)}"
    if len(ident) > MAX_ID_LENGTH:
        return (
            f"{_shown(ident)} is {len(ident)} characters long; ids may be at most {MAX_ID_LENGTH}"
        )
    return f"{ident!r} starts with {ident[0]!r}; ids must start with a letter or digit"


def check_id(ident: str) -> str:
    """``ident`` itself if it is a well-formed id; else ValueError saying what is wrong."""
    problem = id_problem(ident)
    if problem is not None:
        raise ValueError(problem)
    return ident


def _shown(ident: str, limit: int = 64) -> str:
    """The id quoted (control characters escaped), cut short so garbage cannot fill a message."""
    return repr(ident) if len(ident) <= limit else repr(ident[:limit]) + "…"


def _describe(character: str) -> str:
    if character == " ":
        return "a space"
    if unicodedata.category(character).startswith("C") or character.isspace():
        shown = repr(character)[1:-1]  # '\t', '\x00', '\u200b': escaped, never raw
        return f"a control character '{shown}' (U+{ord(character):04X})"
    if not character.isascii():
        return f"{character!r} (U+{ord(character):04X}, not ASCII)"
    return repr(character)


def _why(character: str) -> str:
    if character in _TOPIC_CHARACTERS:
        return (
            ", which cannot stand in an MQTT topic level (ids are topic levels: "
            f"campus/<building>/<space-or-meter>/<quantity>); {_ALLOWED}"
        )
    if not character.isascii() and not unicodedata.category(character).startswith("C"):
        return f"; {_ALLOWED} (ASCII only: the full name goes in 'name')"
    return f"; {_ALLOWED}"


def case_twins(ids: list[tuple[str, str]]) -> list[str]:
    """Problems for ids that differ only in case: (where, id) pairs in, ``where: ...`` lines out.

    ``HB-101`` and ``hb-101`` are different ids to every store, but not to a person
    reading a dashboard, nor to a case-insensitive disk holding timetable files.
    """
    first: dict[str, tuple[str, str]] = {}
    problems = []
    for where, ident in ids:
        key = ident.lower()
        if key in first and first[key][1] != ident:
            other_where, other = first[key]
            problems.append(
                f"{where}: id {ident!r} differs only in case from {other!r} at {other_where}; "
                "ids that differ only in case are refused (they read as the same room)"
            )
        first.setdefault(key, (where, ident))
    return problems
