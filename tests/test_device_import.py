"""``campuslab devices import``: a vendor's sheet (CSV) into the registry's devices:.

Every bad row is named by its line with what is wrong, and nothing is written while
any row is bad (unless --skip-bad); the registry keeps its comments and layout, and
what is written loads as a registry with the old devices and exactly the new ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from campuslab.cli.devices_command import devices_app
from campuslab.core.device_import import add_devices, match_model
from campuslab.core.devices import Device, load_profiles
from campuslab.core.registry import load_campus, sample_campus_path

PROFILES = load_profiles()
EXISTING = """
# LoRaWAN on The Things Stack (campus-iaq application)
networks:
  - type: ttn

devices:
  # Rektorbygget, seminar rooms
  - {dev_eui: 24E124707C000001, model: milesight-am307, space: rfb-101}
  - dev_eui: 24E124707C000002   # the one by the window
    model: milesight-am319
    space: rfb-102

# end of the registry
"""


def sample_without_devices() -> str:
    """The sample campus's buildings and spaces, without its networks: and devices:."""
    text = sample_campus_path().read_text()
    return text[: text.index("\nnetworks:")] + "\n"


def cli() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(devices_app, name="devices")
    return app


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    path = tmp_path / "campus.yaml"
    path.write_text(sample_without_devices() + EXISTING)
    return path


def run(registry: Path, sheet: str | bytes, *extra: str, tmp: Path | None = None):
    csv = (tmp or registry.parent) / "delivery.csv"
    csv.write_bytes(sheet if isinstance(sheet, bytes) else sheet.encode())
    args = ["devices", "import", str(csv), "--registry", str(registry), *extra]
    return CliRunner().invoke(cli(), args)


@pytest.mark.parametrize(
    ("text", "model"),
    [
        ("AM307", "milesight-am307"),
        ("Milesight AM307-915M", "milesight-am307"),
        ("milesight am319-868m", "milesight-am319"),
        ("MILESIGHT-VS133", "milesight-vs133"),
        ("Elsys ERS CO2", "elsys-ers-co2"),
        ("ERSCO2", "elsys-ers-co2"),
        ("aqara-rtcgq11lm", "aqara-rtcgq11lm"),
    ],
)
def test_vendor_model_names_match_their_profile(text, model):
    assert match_model(text, PROFILES) == model


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("AM3071", "no device profile matches"),  # not AM307 by a prefix
        ("Elsys AM307", "no device profile matches"),  # the vendor is not the profile's
        ("Milesight", "no device profile matches"),
        ("AM30", "no device profile matches"),
        ("", "no model given"),
    ],
)
def test_models_that_do_not_match_are_errors(text, says):
    with pytest.raises(ValueError, match=says) as caught:
        match_model(text, PROFILES)
    assert "milesight-am307" in str(caught.value)  # lists the known profiles


def test_an_ambiguous_model_names_the_candidates():
    profiles = {**PROFILES}
    own = PROFILES["milesight-am307"].model_copy(update={"model": "milesight-am307-v2"})
    profiles["milesight-am307-v2"] = own
    assert match_model("AM307", profiles) == "milesight-am307"
    assert match_model("Milesight AM307 V2", profiles) == "milesight-am307-v2"  # its very name
    with pytest.raises(ValueError, match=r"ambiguous.*milesight-am307, milesight-am307-v2"):
        match_model("AM307 v2", profiles)


def test_a_good_sheet_is_added_keeping_the_registry_as_written(registry: Path):
    before = registry.read_text()
    sheet = (
        "\ufeffDevEUI;Model;Room;Serial number;Device ID\r\n"  # Excel: BOM, ';', CRLF
        "24e1-2470-7c12-3456;Milesight AM307-915M;RFB-104;6723A;\r\n"
        "\r\n"
        "A81758FFFE0312AB;Elsys ERS CO2;Reading room 6;E-19;library-co2\r\n"
    )
    result = run(registry, sheet)
    assert result.exit_code == 0, result.output
    assert "Ignored columns: Serial number" in result.output
    after = registry.read_text()
    assert after.startswith(before.split("\n# end of the registry")[0])
    assert "# the one by the window" in after and after.rstrip().endswith("# end of the registry")
    assert "  - {dev_eui: 24E124707C123456, model: milesight-am307, space: rfb-104}\n" in after
    campus = load_campus(registry)
    assert [d.key for d in campus.devices] == [
        "eui-24e124707c000001",
        "eui-24e124707c000002",
        "eui-24e124707c123456",
        "library-co2",
    ]
    library = campus.device("dev_eui", "A81758FFFE0312AB")
    assert (library.model, library.space) == ("elsys-ers-co2", "lsb-202")  # by the room's name


def test_garbage_rows_are_named_by_line_and_nothing_is_written(registry: Path):
    before = registry.read_text()
    sheet = (
        "dev_eui,model,location,name\n"
        "24E124707C123456,AM307,rfb-104,\n"  # good
        "24E124707C12345,AM307,rfb-105,\n"  # 15 digits
        "24E124707C000001,AM319,rfb-106,\n"  # already in the registry
        "24E124707C123456,AM307,rfb-107,\n"  # twice in the sheet
        "24E124707C777777,AM300,rfb-108,\n"  # no such model
        "24E124707C888888,Milesight,rfb-1O9,\n"  # no model; a typo in the room
        '"24E124707C999999","AM307, ""quoted""",rfb-110,\n'
        "24E124707CAAAAAA,AM307,rfb-111,x" + "y" * 200 + "\n"  # name too long
        "24E124707CBBBBBB,AM307,rfb-b1-main,\n"  # a meter, not a space
        "24E124707CCCCCCC,AM307\n"  # short row: no room
    )
    result = run(registry, sheet)
    assert result.exit_code == 1, result.output
    out = result.output
    assert "line 3: '24E124707C12345' is not a DevEUI" in out
    assert "line 4: DevEUI 24E124707C000001 is already in the registry" in out
    assert "line 5: DevEUI 24E124707C123456 is also on line 2" in out
    assert "line 6: no device profile matches model 'AM300' (known profiles: " in out
    assert "line 7: no device profile matches model 'Milesight'" in out
    assert "line 7: no space 'rfb-1O9' in the registry; closest space ids: " in out
    assert "rfb-109" in out.split("line 7: no space")[1].split("\n")[0]
    assert "line 8:" not in out  # quoted cells with commas are one cell: a good row
    assert "line 9: id: String should have at most 120 characters" in out
    assert "line 11: no room" in out
    assert "line 2:" not in out
    assert "nothing was added" in out
    assert registry.read_text() == before


def test_skip_bad_adds_the_good_rows_and_dry_run_writes_nothing(registry: Path):
    sheet = "DevEUI,Model,Room\n24E124707C123456,AM307,rfb-104\nzz,AM307,rfb-105\n"
    before = registry.read_text()
    dry = run(registry, sheet, "--dry-run", "--skip-bad")
    assert dry.exit_code == 0, dry.output
    assert (
        "Would add 1 device(s)" in dry.output
        and "line 2: - {dev_eui: 24E124707C123456" in dry.output
    )
    assert "line 3: 'zz' is not a DevEUI" in dry.output
    assert registry.read_text() == before
    done = run(registry, sheet, "--skip-bad")
    assert done.exit_code == 0 and "Skipped 1 bad row(s)" in done.output
    assert [d.space for d in load_campus(registry).devices][-1] == "rfb-104"
    again = run(registry, sheet, "--skip-bad")  # the same sheet twice: nothing twice
    assert again.exit_code == 1 and "already in the registry" in again.output


@pytest.mark.parametrize(
    ("sheet", "says"),
    [
        (b"", "empty; line 1 must name the columns"),
        (
            b"DevEUI,Model\n24E124707C123456,AM307\n",
            "no room column (write it room, space, location)",
        ),
        (b"serial,colour\n1,red\n", "no dev_eui column"),
        (b"DevEUI,Model,Room\n", "no devices below the header"),
        (b"DevEUI,Model,Room,Space\n1,2,3,4\n", "columns 'Room' and 'Space' both give the room"),
        (b"DevEUI,Model,Room\n\xff\xfe\x00garbage\n", "not UTF-8 text"),
        (b"\x00\x01\x02\x03", "no dev_eui column"),
    ],
)
def test_sheets_that_cannot_be_read_say_why(registry: Path, sheet: bytes, says: str):
    before = registry.read_text()
    result = run(registry, sheet)
    assert result.exit_code == 2, result.output
    assert says in " ".join(result.output.split())
    assert registry.read_text() == before


def test_a_registry_without_devices_gets_a_section_and_an_empty_list_is_filled(tmp_path):
    device = Device(dev_eui="24E124707C123456", model="milesight-am307", space="rfb-104")
    assert add_devices("site: x\n# tail", [device]).endswith(
        "# tail\n\ndevices:\n  - {dev_eui: 24E124707C123456, model: milesight-am307, "
        "space: rfb-104}\n"
    )
    text = "devices: []  \nnetworks:\n- type: ttn\n"
    assert add_devices(text, [device]) == (
        "devices:\n  - {dev_eui: 24E124707C123456, model: milesight-am307, space: rfb-104}\n"
        "networks:\n- type: ttn\n"
    )
    # items at column 0 keep theirs
    text = "devices:\n- {dev_eui: 24E124707C000001, model: milesight-am307, space: rfb-101}\nx: 1\n"
    assert "\n- {dev_eui: 24E124707C123456" in add_devices(text, [device])
    # a registry whose devices: cannot be extended line by line is left alone
    registry = tmp_path / "campus.yaml"
    registry.write_text(
        sample_without_devices()
        + "devices: [{dev_eui: 24E124707C000001, model: milesight-am307, space: rfb-101}]\n"
    )
    result = run(registry, "DevEUI,Model,Room\n24E124707C123456,AM307,rfb-104\n", tmp=tmp_path)
    assert result.exit_code == 2 and "written on one line" in result.output


def test_the_sample_registry_takes_a_sheet_at_the_end_of_its_devices(tmp_path: Path):
    registry = tmp_path / "campus.yaml"
    before = sample_campus_path().read_text()
    registry.write_text(before)
    count = len(load_campus(registry).devices)
    result = run(registry, "DevEUI,Model,Room\n24E124707C123456,Milesight AM307-868M,rfb-104\n")
    assert result.exit_code == 0, result.output
    assert registry.read_text() == before + (
        "  - {dev_eui: 24E124707C123456, model: milesight-am307, space: rfb-104}\n"
    )
    assert len(load_campus(registry).devices) == count + 1
