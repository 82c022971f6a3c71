"""`campuslab demo`, run the way a newcomer runs it: it must end showing the simulated campus."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from servers.mosquitto import free_port

from campuslab.api.keys import KeyStore, Role

pytestmark = [pytest.mark.servers, pytest.mark.slow]


def test_demo_backfills_serves_the_overview_and_stops_cleanly(tmp_path, campus, mosquitto):
    port = free_port()
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "campuslab",
            "demo",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "demo"),
            "--duration",
            "20",
            "--backfill",
            "6h",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**__import__("os").environ, "COLUMNS": "120"},
    )
    output: list[str] = []
    try:
        for line in demo.stdout:
            output.append(line)
            if "Overview page" in line:
                break
        assert any("Overview page" in line for line in output), "".join(output)
        assert f"http://127.0.0.1:{port}/" in "".join(output)
        assert any("started mosquitto" in line for line in output), "".join(output)

        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.status_code == 200
        for building in campus.buildings:
            assert building.name in page.text
        assert "Auditorium R1" in page.text
        assert re.search(r"\d+ ppm", page.text), "CO2 values on the page"
        health = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=10).json()
        # 6 h at 1-minute steps: 81 spaces x 4 quantities + 8 meters per step, all stored
        assert health["store"]["readings"] >= 360 * (81 * 4 + 8)
        docs = httpx.get(f"http://127.0.0.1:{port}/docs", timeout=10)
        assert docs.status_code == 200
        # the simulator's timetables are imported: booked vs actual works on demo data
        assert any("simulated timetables of 37 teaching rooms" in line for line in output)
        key = KeyStore.in_data_dir(tmp_path / "demo").create(Role.PLANNER, "test").secret
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        bookings = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/spaces/rfb-101/bookings",
            params={"start": today.isoformat(), "end": (today + timedelta(days=1)).isoformat()},
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        ).json()
        assert bookings["timetable_imported"] is True, bookings

        rest, _ = demo.communicate(timeout=60)
        output.append(rest)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 0, "".join(output)
    assert "readings stored this run" in "".join(output)
    time.sleep(0.5)
    with pytest.raises(httpx.HTTPError):  # serve was stopped with the demo
        httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
