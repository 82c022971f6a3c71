"""`campuslab serve` compiles the thermal-comfort models at start-up, in the background.

Without it the first /ieq call of a process compiled pythermalcomfort's numba code while
its caller waited (27 s on a newcomer's laptop). The server says in its log when the
models are ready; that happens with no /ieq request at all, and the API answers
meanwhile.
"""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.servers

READY = "comfort models ready"


def test_serve_warms_the_comfort_models_without_a_request(mosquitto, serve_factory):
    # info: the ready line (the fixture runs serve at warning by default)
    server = serve_factory(mosquitto.url, extra_args=("--log-level", "info"))
    # the API answers while the models compile
    assert server.get("/api/v1/health").status_code == 200
    deadline = time.monotonic() + 180  # generous: compiling on a busy machine
    while READY not in server.log_path.read_text() and time.monotonic() < deadline:
        assert server.process.poll() is None, server.log_path.read_text()[-3000:]
        time.sleep(0.5)
    log = server.log_path.read_text()
    assert READY in log, log[-3000:]
    week = {"start": "2026-11-16T00:00:00Z", "end": "2026-11-23T00:00:00Z"}
    answer = server.get("/api/v1/spaces/rfb-101/ieq", **week)
    assert answer.status_code == 200, answer.text
