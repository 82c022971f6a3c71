"""The campus registry: the sample campus, and garbage files that fail with a path and reason."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

import pytest
import yaml

from campuslab.core.registry import (
    RegistryError,
    SpaceType,
    load_campus,
    parse_campus,
    sample_campus_path,
)

MINIMAL = {
    "site": {"id": "demo", "name": "Demo", "timezone": "Europe/Oslo"},
    "buildings": [
        {
            "id": "a",
            "name": "A",
            "heated_area_m2": 1000,
            "meters": [{"id": "a-el", "quantity": "energy"}],
            "spaces": [
                {
                    "id": "a-101",
                    "name": "Room",
                    "floor": 1,
                    "type": "office",
                    "capacity": 2,
                    "area_m2": 20,
                }
            ],
        },
        {
            "id": "b",
            "name": "B",
            "heated_area_m2": 500,
            "spaces": [
                {
                    "id": f"b-{i}",
                    "name": f"R{i}",
                    "floor": 1,
                    "type": "seminar_room",
                    "capacity": 20,
                    "area_m2": 40,
                }
                for i in range(5)
            ],
        },
    ],
}


def problems_of(document: object) -> list[str]:
    with pytest.raises(RegistryError) as caught:
        parse_campus(yaml.safe_dump(document) if not isinstance(document, str) else document)
    return caught.value.problems


def mutated(path: list, value: object) -> dict:
    document = yaml.safe_load(yaml.safe_dump(MINIMAL))
    target = document
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


def test_sample_campus_is_realistic():
    campus = load_campus(sample_campus_path())
    spaces = [space for _, space in campus.spaces()]
    types = Counter(space.type for space in spaces)
    assert len(campus.buildings) >= 3
    assert len(spaces) >= 60
    assert set(types) == set(SpaceType), "every space type appears"
    for space in spaces:  # plausible net area per seat
        assert 0.9 <= space.area_m2 / space.capacity <= 15, space.id
    assert all(len(b.meters) >= 1 for b in campus.buildings)
    assert campus.tz.key == "Europe/Oslo"


def test_lookups(campus):
    assert campus.space("rfb-101").capacity == 280
    assert campus.building_of("rfb-101").id == "rfb"
    assert campus.quantities_of("rfb", "rfb-el") == ("energy",)
    assert campus.quantities_of("hb", "rfb-101") is None
    assert campus.space("nope") is None


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (
            ["buildings", 1, "spaces", 3, "capacity"],
            0,
            "buildings[1].spaces[3].capacity: must be > 0",
        ),
        (
            ["buildings", 0, "spaces", 0, "type"],
            "ballroom",
            "buildings[0].spaces[0].type: must be one of",
        ),
        (
            ["buildings", 0, "spaces", 0, "area_m2"],
            -5,
            "buildings[0].spaces[0].area_m2: must be > 0",
        ),
        (
            ["buildings", 0, "spaces", 0, "capacity"],
            "many",
            "buildings[0].spaces[0].capacity: must be a whole number",
        ),
        (
            ["buildings", 0, "spaces", 0, "id"],
            "Room 101!",
            "buildings[0].spaces[0].id: 'Room 101!' has a space at position 5",
        ),
        (
            ["buildings", 0, "spaces", 0, "name"],
            KeyError,
            "buildings[0].spaces[0].name: is required",
        ),
        (
            ["buildings", 0, "meters", 0, "quantity"],
            "water",
            "buildings[0].meters[0].quantity: must be one of",
        ),
        (["buildings", 0, "heated_area_m2"], 0, "buildings[0].heated_area_m2: must be > 0"),
        (["buildings", 0, "colour"], "red", "buildings[0].colour: unknown field"),
        (["site", "timezone"], "Mars/Olympus", "site.timezone: 'Mars/Olympus' is not an IANA"),
        (["site"], KeyError, "site: is required"),
        (["buildings"], [], "buildings: must have at least 1 item"),
    ],
)
def test_errors_name_the_path_and_the_reason(path, value, expected):
    problems = problems_of(mutated(path, value))
    assert any(p.startswith(expected) for p in problems), problems


def test_every_problem_is_listed_not_just_the_first():
    document = mutated(["buildings", 1, "spaces", 3, "capacity"], -1)
    document["buildings"][0]["spaces"][0]["area_m2"] = 0
    problems = problems_of(document)
    assert len(problems) == 2


def test_ids_are_unique_campus_wide():
    document = mutated(["buildings", 1, "spaces", 2, "id"], "a-101")
    problems = problems_of(document)
    assert problems == [
        "buildings[1].spaces[2].id: id 'a-101' is already used at "
        "buildings[0].spaces[0].id; ids must be unique campus-wide"
    ]


def test_core_hours_must_make_sense():
    document = mutated(["analytics"], {"core_hours": {"start": "16:00", "end": "08:00"}})
    assert problems_of(document) == ["analytics.core_hours.end: must be after start"]


TWELVE_MONTHS = {month: 100.0 for month in range(1, 13)}


def test_a_normal_year_of_degree_days_is_optional_and_checked():
    assert parse_campus(yaml.safe_dump(MINIMAL)).analytics.hdd_normal is None
    normal = {"base_c": 17, "source": "Enova, Oslo, normal 1991-2020", "monthly": TWELVE_MONTHS}
    campus = parse_campus(yaml.safe_dump(mutated(["analytics"], {"hdd_normal": normal})))
    hdd = campus.analytics.hdd_normal
    assert hdd.annual == 1200 and hdd.source.startswith("Enova")
    # a month's normal is spread evenly over its days, leap Februaries too
    assert hdd.of_day(date(2026, 1, 15)) == pytest.approx(100 / 31)
    assert hdd.of_day(date(2028, 2, 29)) == pytest.approx(100 / 29)
    assert hdd.of_day(date(2026, 12, 31)) == pytest.approx(100 / 31)
    # the sample campus sets an (illustrative) Oslo normal at the HDD base
    sample = load_campus(sample_campus_path()).analytics
    assert sample.hdd_normal is not None and sample.hdd_normal.base_c == sample.degree_day_base_c
    assert 3000 < sample.hdd_normal.annual < 4500
    assert "illustrative" in sample.hdd_normal.source


@pytest.mark.parametrize(
    ("normal", "expected"),
    [
        (
            {"base_c": 17, "source": "x", "monthly": {1: 10}},
            "analytics.hdd_normal.monthly: give "
            "all 12 months (1 = January … 12); missing month(s) 2, 3",
        ),
        (
            {"base_c": 17, "source": "x", "monthly": {**TWELVE_MONTHS, 13: 1}},
            "analytics.hdd_normal.monthly: months are 1 (January) to 12, got [13]",
        ),
        (
            {"base_c": 17, "source": "x", "monthly": {**TWELVE_MONTHS, 7: -5}},
            "analytics.hdd_normal.monthly[7]: must be >= 0",
        ),
        (
            {"base_c": 18, "source": "x", "monthly": TWELVE_MONTHS},
            "analytics.hdd_normal.base_c: 18 °C is not analytics.degree_day_base_c (17 °C)",
        ),
        ({"base_c": 17, "monthly": TWELVE_MONTHS}, "analytics.hdd_normal.source: is required"),
        (
            {"base_c": 17, "source": "x", "monthly": TWELVE_MONTHS, "annual": 1200},
            "analytics.hdd_normal.annual: unknown field",
        ),
    ],
)
def test_a_bad_normal_year_names_the_path(normal, expected):
    problems = problems_of(mutated(["analytics"], {"hdd_normal": normal}))
    assert any(p.startswith(expected) for p in problems), problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("site: [unclosed", "not valid YAML"),
        ("", "(top level): must be a mapping"),
        ("- just\n- a list\n", "(top level): must be a mapping"),
        ("42", "(top level): must be a mapping"),
    ],
)
def test_garbage_files(text, expected):
    problems = problems_of(text)
    assert any(expected in p for p in problems), problems


def test_missing_and_binary_files(tmp_path: Path):
    with pytest.raises(RegistryError, match="file not found"):
        load_campus(tmp_path / "absent.yaml")
    binary = tmp_path / "campus.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(RegistryError, match="UTF-8"):
        load_campus(binary)


# -- ids as the campus writes them (core/ids.py) -----------------------------------------

CAMPUS_CODES = (Path(__file__).parent / "data" / "campus_codes.yaml").read_text(encoding="utf-8")


def test_a_registry_with_the_campus_own_room_codes_loads_and_keeps_them_exactly():
    campus = parse_campus(CAMPUS_CODES)
    assert [b.id for b in campus.buildings] == ["EL", "HB"]
    assert campus.space("A2.14").name == "Lesesal A2.14"
    assert campus.building_of("A2.14").id == "HB"
    assert campus.space("EL5").capacity == 120
    assert campus.quantities_of("EL", "EL.el") == ("energy",)
    # matching is exact: neither the case nor the dot is loosened
    assert campus.space("hb-101") is None
    assert campus.space("a2.14") is None
    assert campus.space("A2x14").name == "Grupperom"
    assert campus.building("el") is None


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ("HB 101", "'HB 101' has a space at position 3; ids may hold"),
        ("HB/101", "'HB/101' has '/' at position 3, which cannot stand in an MQTT topic level"),
        ("HB+101", "'HB+101' has '+' at position 3, which cannot stand in an MQTT topic level"),
        ("HB#101", "'HB#101' has '#' at position 3, which cannot stand in an MQTT topic level"),
        ("HB\t101", r"'HB\t101' has a control character '\t' (U+0009) at position 3"),
        ("HB\x00101", r"'HB\x00101' has a control character '\x00' (U+0000) at position 3"),
        ("Rom-ø1", "'Rom-ø1' has 'ø' (U+00F8, not ASCII) at position 5"),
        ("HB,101", "'HB,101' has ',' at position 3"),
        (".A2", "'.A2' starts with '.'; ids must start with a letter or digit"),
        ("A" * 64, "is 64 characters long; ids may be at most 63"),
    ],
)
def test_a_refused_id_is_named_with_its_character_and_yaml_path(bad, expected):
    document = yaml.safe_load(CAMPUS_CODES)
    document["buildings"][1]["spaces"][1]["id"] = bad
    problems = problems_of(document)
    assert len(problems) == 1, problems
    assert problems[0].startswith("buildings[1].spaces[1].id: ")
    assert expected in problems[0]


def test_building_meter_site_and_station_ids_are_checked_alike():
    document = yaml.safe_load(CAMPUS_CODES)
    document["site"]["id"] = "NTNU Gl"
    document["buildings"][0]["id"] = "E/L"
    document["buildings"][0]["meters"][0]["id"] = "EL#el"
    problems = problems_of(document)
    assert problems[0].startswith("site.id: 'NTNU Gl' has a space at position 5")
    assert problems[1].startswith("buildings[0].id: 'E/L' has '/' at position 2")
    assert problems[2].startswith("buildings[0].meters[0].id: 'EL#el' has '#' at position 3")


def test_ids_that_differ_only_in_case_are_refused_naming_both():
    document = yaml.safe_load(CAMPUS_CODES)
    document["buildings"][1]["spaces"][2]["id"] = "hb-101"
    assert problems_of(document) == [
        "buildings[1].spaces[2].id: id 'hb-101' differs only in case from 'HB-101' at "
        "buildings[1].spaces[0].id; ids that differ only in case are refused "
        "(they read as the same room)"
    ]
    # across kinds too: ids are one campus-wide name space
    document = yaml.safe_load(CAMPUS_CODES)
    document["buildings"][1]["spaces"][0]["id"] = "el"
    assert problems_of(document)[0].startswith(
        "buildings[1].spaces[0].id: id 'el' differs only in case from 'EL' at buildings[0].id"
    )


def test_a_room_code_yaml_reads_as_a_number_must_be_quoted():
    document = CAMPUS_CODES.replace("id: A2x14", "id: 2.14")
    assert problems_of(document) == [
        "buildings[1].spaces[2].id: must be text (quote a value YAML reads as a number, e.g. '101')"
    ]
    assert parse_campus(CAMPUS_CODES.replace("id: A2x14", "id: '2.14'")).space("2.14")


def test_the_lower_case_sample_campus_loads_unchanged():
    campus = load_campus(sample_campus_path())
    ids = [b.id for b in campus.buildings] + [s.id for _, s in campus.spaces()]
    assert all(i == i.lower() for i in ids)
    assert campus.space("rfb-101").capacity == 280
