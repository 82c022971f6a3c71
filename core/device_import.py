"""Devices from a vendor's spreadsheet (CSV: DevEUI, model, room) into the registry.

``read_device_sheet`` checks every row against the registry and says, per line, what
is wrong: an unknown room (with the closest space ids), an unknown or ambiguous model
(with the known profiles or the candidates), a bad DevEUI, a device already in the
registry or twice in the sheet. ``add_devices`` then adds the good ones to the
registry *text*: the new entries go at the end of its ``devices:`` list (or a new
``devices:`` section at the end of the file), one flow mapping a line, so the
comments, order and layout of the rest of the file stay as the facilities team wrote
them. The result is parsed again before anything is written, and it must hold the
old devices and exactly the new ones.

Vendors write models their own way (``AM307``, ``Milesight AM307-915M``); ``match_model``
finds the profile whose product code appears in the text as whole words, and refuses
(naming the candidates) when more than one does.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import ValidationError

from campuslab.core.devices import Device, DeviceProfile, normalise_dev_eui
from campuslab.core.registry import Campus, RegistryError, parse_campus

MAX_SHEET_BYTES = 5_000_000

# accepted header spellings, compared lower-case with everything but letters and digits
# removed ("Device EUI" -> "deviceeui")
COLUMNS: dict[str, tuple[str, ...]] = {
    "dev_eui": ("deveui", "deviceeui", "eui"),
    "model": ("model", "devicemodel", "modelname"),
    "room": ("room", "space", "location", "roomid", "spaceid"),
    "name": ("name", "deviceid", "devicename", "id"),
    "reporting_interval": ("reportinginterval", "interval"),
}
REQUIRED = ("dev_eui", "model", "room")
SPELLINGS = {
    "dev_eui": "DevEUI, dev_eui, Device EUI",
    "model": "model, Model",
    "room": "room, space, location",
}


class SheetError(ValueError):
    """The sheet as a whole cannot be read (encoding, header)."""


@dataclass
class RowProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class DeviceSheet:
    devices: list[tuple[int, Device]] = field(default_factory=list)  # (line, device)
    problems: list[RowProblem] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)


def _compact(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _product_tokens(model: str, profile: DeviceProfile) -> list[str]:
    tokens = _tokens(model)
    vendor = _tokens(profile.vendor) or tokens[:1]
    if len(tokens) > len(vendor) and tokens[: len(vendor)] == vendor:
        return tokens[len(vendor) :]
    return tokens


def _has_run(tokens: list[str], run: list[str]) -> bool:
    if _compact("".join(run)) in tokens:  # "ERSCO2" for ers-co2
        return True
    return any(tokens[i : i + len(run)] == run for i in range(len(tokens) - len(run) + 1))


def match_model(text: str, profiles: dict[str, DeviceProfile]) -> str:
    """The profile a vendor's model text names; ValueError naming the candidates, or the
    known profiles, when not exactly one does.

    >>> from campuslab.core.devices import load_profiles
    >>> match_model("Milesight AM307-915M", load_profiles())
    'milesight-am307'
    """
    known = ", ".join(sorted(profiles))
    if not text.strip():
        raise ValueError(f"no model given (known profiles: {known})")
    exact = [m for m in profiles if _compact(m) == _compact(text)]
    if len(exact) == 1:
        return exact[0]
    tokens = _tokens(text)
    candidates = [m for m, p in profiles.items() if _has_run(tokens, _product_tokens(m, p))]
    # a vendor named in the text must be the profile's (never "Elsys AM307" -> Milesight)
    vendors = {_compact(p.vendor) for p in profiles.values() if p.vendor}
    named = {t for t in tokens if t in vendors}
    if named:
        candidates = [m for m in candidates if _compact(profiles[m].vendor) in named]
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        raise ValueError(
            f"model {text!r} is ambiguous: it could be {', '.join(sorted(candidates))}; "
            "write the profile name"
        )
    raise ValueError(f"no device profile matches model {text!r} (known profiles: {known})")


def _room_problem(room: str, campus: Campus) -> str:
    ids = [s.id for _, s in campus.spaces()]
    close = difflib.get_close_matches(room.lower(), ids, n=3, cutoff=0.6)
    hint = f"; closest space ids: {', '.join(close)}" if close else ""
    if campus.meter(room.lower()) is not None:
        hint = "; it is a meter, and the sheet's devices go in spaces"
    return f"no space {room!r} in the registry{hint}"


def _space_id(room: str, campus: Campus) -> str | None:
    """A space id written in any case, or a space's exact name (when only one has it)."""
    if campus.space(room.lower()) is not None:
        return room.lower()
    named = [s.id for _, s in campus.spaces() if s.name.casefold() == room.casefold()]
    return named[0] if len(named) == 1 else None


def _decode(content: bytes, source: str) -> str:
    if len(content) > MAX_SHEET_BYTES:
        raise SheetError(f"{source}: {len(content)} bytes; a device sheet is at most 5 MB")
    try:
        return content.decode("utf-8-sig")  # Excel writes a byte-order mark
    except UnicodeDecodeError as exc:
        raise SheetError(
            f"{source}: not UTF-8 text (byte {exc.start}); save the sheet as 'CSV UTF-8'"
        ) from None


def _header_map(header: list[str], source: str) -> tuple[dict[str, int], list[str]]:
    where: dict[str, int] = {}
    ignored = []
    for i, name in enumerate(header):
        column = next((c for c, names in COLUMNS.items() if _compact(name) in names), None)
        if column is None:
            if name.strip():
                ignored.append(name.strip())
            continue
        if column in where:
            raise SheetError(
                f"{source}: columns {header[where[column]]!r} and {name!r} both give "
                f"the {column}; keep one"
            )
        where[column] = i
    missing = [c for c in REQUIRED if c not in where]
    if missing:
        raise SheetError(
            f"{source}: line 1 has no "
            + " and no ".join(f"{c} column (write it {SPELLINGS[c]})" for c in missing)
            + f"; the header reads: {', '.join(h.strip() for h in header) or '(empty)'}"
        )
    return where, ignored


def _delimiter(text: str) -> str:
    first = text.split("\n", 1)[0]
    return max((",", ";", "\t"), key=first.count)  # Excel in many locales writes ';'


def read_device_sheet(content: bytes, campus: Campus, source: str = "<sheet>") -> DeviceSheet:
    """Every row of a device sheet as a Device, or a problem naming its line."""
    text = _decode(content, source)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    try:
        header = next(reader)
    except StopIteration:
        raise SheetError(f"{source}: empty; line 1 must name the columns") from None
    except csv.Error as exc:
        raise SheetError(f"{source}: line 1: {exc}") from None
    where, ignored = _header_map(header, source)
    sheet = DeviceSheet(ignored_columns=ignored)
    known_euis = {d.dev_eui: d.key for d in campus.devices if d.dev_eui}
    known_keys = {d.key for d in campus.devices}
    euis: dict[str, int] = {}
    keys: dict[str, int] = {}
    line = reader.line_num
    while True:
        start = line + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            sheet.problems.append(RowProblem(start, f"cannot read the row: {exc}"))
            break
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue

        def cell(column: str, row: list[str] = row) -> str:
            i = where.get(column)
            return row[i].strip() if i is not None and i < len(row) else ""

        problems = _row_problems(cell, campus, known_euis, euis)
        if problems:
            sheet.problems.extend(RowProblem(start, p) for p in problems)
            if (eui := _eui_or_none(cell("dev_eui"))) is not None:
                euis.setdefault(eui, start)
            continue
        eui = normalise_dev_eui(cell("dev_eui"))
        try:
            device = Device(
                id=cell("name") or None,
                dev_eui=eui,
                model=match_model(cell("model"), campus.profiles),
                space=_space_id(cell("room"), campus),
                reporting_interval=cell("reporting_interval") or None,
            )
        except ValidationError as exc:
            detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            sheet.problems.append(RowProblem(start, detail))
            continue
        euis[eui] = start
        if device.key in known_keys:
            sheet.problems.append(
                RowProblem(start, f"a device named {device.key!r} is already in the registry")
            )
        elif device.key in keys:
            sheet.problems.append(
                RowProblem(
                    start, f"name {device.key!r} is also the device on line {keys[device.key]}"
                )
            )
        else:
            keys[device.key] = start
            sheet.devices.append((start, device))
    if not sheet.devices and not sheet.problems:
        raise SheetError(f"{source}: no devices below the header")
    return sheet


def _eui_or_none(text: str) -> str | None:
    try:
        return normalise_dev_eui(text)
    except ValueError:
        return None


def _row_problems(cell, campus: Campus, known: dict[str, str], euis: dict[str, int]) -> list[str]:
    problems = []
    raw_eui = cell("dev_eui")
    if not raw_eui:
        problems.append("no DevEUI")
    else:
        eui = _eui_or_none(raw_eui)
        if eui is None:
            problems.append(f"{raw_eui!r} is not a DevEUI (16 hex digits, e.g. 24E124707C123456)")
        elif eui in known:
            problems.append(f"DevEUI {eui} is already in the registry (device {known[eui]!r})")
        elif eui in euis:
            problems.append(f"DevEUI {eui} is also on line {euis[eui]}")
    try:
        match_model(cell("model"), campus.profiles)
    except ValueError as exc:
        problems.append(str(exc))
    room = cell("room")
    if not room:
        problems.append("no room")
    elif _space_id(room, campus) is None:
        problems.append(_room_problem(room, campus))
    return problems


# -- writing into the registry text ---------------------------------------------------
class RegistryEditError(ValueError):
    """The registry's devices: section is written in a way this edit will not touch."""


def device_line(device: Device) -> str:
    """A device as one YAML flow mapping: ``{dev_eui: ..., model: ..., space: ...}``."""
    entry = device.model_dump(exclude_none=True, include=_WRITTEN)
    ordered = {k: entry[k] for k in _WRITTEN_ORDER if k in entry}
    return yaml.safe_dump(ordered, default_flow_style=True, width=10_000, sort_keys=False).strip()


_WRITTEN_ORDER = ("id", "dev_eui", "model", "space", "reporting_interval")
_WRITTEN = set(_WRITTEN_ORDER)
_TOP_KEY = re.compile(r"^devices\s*:\s*(.*?)\s*$")


def _block_end(lines: list[str], start: int) -> int:
    """Index after the last item line of the block list that starts below ``start``."""
    end = start + 1
    for i in range(start + 1, len(lines)):
        line = lines[i]
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if line[0] not in " \t-":  # the next top-level key
            break
        end = i + 1
    return end


def add_devices(text: str, devices: list[Device]) -> str:
    """The registry text with ``devices`` added at the end of its ``devices:`` list."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    found = [(i, m) for i, line in enumerate(lines) if (m := _TOP_KEY.match(line.rstrip("\n")))]
    if len(found) > 1:
        raise RegistryEditError("the registry has more than one top-level devices: key")
    if not found:
        new = ["\ndevices:\n", *(f"  - {device_line(d)}\n" for d in devices)]
        return "".join(lines + new)
    at, match = found[0]
    rest = match.group(1)
    if rest.startswith("#"):
        rest = ""
    if rest == "[]":
        lines[at] = "devices:\n"
        rest = ""
    if rest:
        raise RegistryEditError(
            "the registry's devices: is written on one line; write it as a list, one "
            "'- {...}' per line, and import again"
        )
    end = _block_end(lines, at)
    items = [ln for ln in lines[at + 1 : end] if ln.lstrip().startswith("- ")]
    indent = items[0][: len(items[0]) - len(items[0].lstrip())] if items else "  "
    new = [f"{indent}- {device_line(d)}\n" for d in devices]
    return "".join(lines[:end] + new + lines[end:])


def registry_with_devices(path: Path, devices: list[Device]) -> str:
    """The registry file's new text, checked: it parses and holds old + exactly new."""
    text = path.read_text(encoding="utf-8")
    before = parse_campus(text, str(path), base_dir=path.parent)
    after_text = add_devices(text, devices)
    try:
        after = parse_campus(after_text, str(path), base_dir=path.parent)
    except RegistryError as exc:
        raise RegistryEditError(f"the registry would not be valid after the import: {exc}") from exc
    if [*before.devices, *devices] != after.devices:
        raise RegistryEditError(
            "the registry's devices: list is written in a way the import cannot extend "
            "safely (anchors, several documents?); add the devices by hand"
        )
    return after_text
