"""The wheel `make demo` and the Docker image install: quiet to build, complete when built.

Builds the wheel the way pip does for `pip install -e .` and the Dockerfile's
`pip wheel .` (an isolated build environment with setuptools from the package index).
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
# the card's top-level folders and the package each installs as
FOLDERS = {
    "campuslab": "campuslab",
    "core": "campuslab/core",
    "ingest": "campuslab/ingest",
    "analytics": "campuslab/analytics",
    "api": "campuslab/api",
    "simulators": "campuslab/simulators",
    "cli": "campuslab/cli",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[str, Path]:
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (wheel,) = out.glob("campuslab-*.whl")
    return result.stdout + result.stderr, wheel


def test_the_build_prints_no_setuptools_warnings(built):
    log, _ = built
    assert "SetuptoolsDeprecationWarning" not in log  # e.g. the licence as a TOML table
    assert "Package would be ignored" not in log  # data folders seen as packages
    assert "is absent from the `packages` configuration" not in log


def test_the_wheel_holds_every_package_and_its_data(built):
    _, wheel = built
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        assert "License-Expression: Apache-2.0" in archive.read(metadata).decode()
    for folder, package in FOLDERS.items():
        for source in (ROOT / folder).rglob("*"):
            if "__pycache__" in source.parts or not source.is_file():
                continue
            relative = source.relative_to(ROOT / folder).as_posix()
            if source.suffix == ".py" and (source.parent / "__init__.py").exists():
                assert f"{package}/{relative}" in names, relative  # e.g. ingest/networks
    for data in (
        "campuslab/api/static/overview.js",
        "campuslab/api/static/overview.css",
        "campuslab/api/templates/overview.html",
        "campuslab/api/templates/report.html",
        "campuslab/core/sample_campus.yaml",
        "campuslab/core/profiles/milesight-am319.yaml",
        "campuslab/cli/mosquitto.conf",
    ):
        assert data in names, data
    # data folders are not packages: no stray campuslab/api/static/__init__.py etc.
    assert not any(n.startswith("campuslab/api/static/__") for n in names)
