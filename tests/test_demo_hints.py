"""The demo's printed commands run exactly as printed, from where `make demo` ran.

A newcomer copies lines from the demo's output: the curl line (never broken by the
banner's box, even on a narrow terminal), `keys list`, and, once the demo has stopped,
`report` and `export`. Each must work as printed: the demo's data folder, and the
`campuslab` that is not on the PATH until the venv is activated.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import zipfile

import pytest
from servers.mosquitto import free_port

pytestmark = [pytest.mark.servers, pytest.mark.slow]


def run_printed(line: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        shlex.split(line.strip()), cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_demo_hints_run_as_printed(tmp_path, mosquitto):
    port = free_port()
    # as `make demo` runs it: from the checkout, with the default --data-dir demo-data
    env = {**os.environ, "COLUMNS": "60"}  # a narrow terminal: the box must not wrap commands
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if p != os.path.dirname(sys.executable)
    )
    demo = subprocess.Popen(
        [
            *(sys.executable, "-m", "campuslab", "demo", "--port", str(port)),
            *("--mqtt-url", mosquitto.url, "--duration", "15", "--backfill", "2h"),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    output: list[str] = []
    try:
        for line in demo.stdout:
            output.append(line)
            if "activate" in line:  # the last line of the hints
                break
        text = "".join(output)
        lines = text.splitlines()
        curl = next(line for line in lines if "curl " in line)
        keys_list = next(line for line in lines if " keys list " in line)
        report = next(line for line in lines if " report " in line)
        export = next(line for line in lines if " export " in line)
        for command in (curl, keys_list, report, export):
            assert "│" not in command, text  # outside the box
        assert "--data-dir demo-data" in keys_list
        assert "activate" in text  # says how to call `campuslab` by name

        if shutil.which("curl"):
            fetched = run_printed(curl, tmp_path)
            assert fetched.returncode == 0, fetched.stderr
            assert "campuslab_ingest" in fetched.stdout  # the metrics, with the key
        listed = run_printed(keys_list, tmp_path)
        assert listed.returncode == 0, listed.stdout + listed.stderr
        assert "facilities" in listed.stdout

        rest, _ = demo.communicate(timeout=90)
        output.append(rest)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 0, "".join(output)

    made = run_printed(report, tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr
    assert (tmp_path / "report.html").stat().st_size > 1000
    exported = run_printed(export, tmp_path)
    assert exported.returncode == 0, exported.stdout + exported.stderr
    (archive,) = tmp_path.glob("*.zip")
    with zipfile.ZipFile(archive) as bundle:
        assert "card.json" in bundle.namelist()
