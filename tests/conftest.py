"""Fixtures that start real servers on free ports, with their data in temporary folders.

On CI (CI=true) a missing server fails the run; elsewhere it skips the test
with a note saying what to install.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers.campuslab_serve import ServeProcess
from servers.mosquitto import Mosquitto, mosquitto_binary

from campuslab.core.registry import Campus, load_campus, sample_campus_path

ON_CI = os.environ.get("CI") == "true"


def require(available: bool, what: str, install: str) -> None:
    """Fail on CI, skip elsewhere, when a real server the test needs is missing."""
    if available:
        return
    message = f"{what} is not installed ({install}); `make test` installs it"
    if ON_CI:
        pytest.fail(f"{message}. On CI a missing server is a failure, not a skip.")
    pytest.skip(message)  # not on CI (see above)


@pytest.fixture(scope="session")
def campus() -> Campus:
    return load_campus(sample_campus_path())


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """One real broker for the session (tests that restart it use ``fresh_mosquitto``)."""
    require(mosquitto_binary() is not None, "Mosquitto", "apt-get install mosquitto")
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto")).start()
    yield broker
    broker.stop()


@pytest.fixture
def fresh_mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    require(mosquitto_binary() is not None, "Mosquitto", "apt-get install mosquitto")
    broker = Mosquitto(tmp_path / "mosquitto").start()
    yield broker
    broker.stop()


@pytest.fixture
def serve_factory(tmp_path: Path) -> Iterator:
    """Start ``campuslab serve`` subprocesses; each gets its own client id and data dir."""
    started: list[ServeProcess] = []

    def start(
        mqtt_url: str, data_dir: Path | None = None, client_id: str | None = None, **kwargs
    ) -> ServeProcess:
        process = ServeProcess(
            mqtt_url,
            data_dir or tmp_path / f"serve-{len(started)}",
            client_id or f"test-{uuid.uuid4().hex[:8]}",
            **kwargs,
        )
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope="session")
def influxdb1(tmp_path_factory: pytest.TempPathFactory):
    """Debian's InfluxDB 1.6.7: the InfluxQL read path and the dashboards' panel queries."""
    from servers.influxdb import InfluxDB1, influxd_binary

    require(influxd_binary() is not None, "InfluxDB 1.x (influxd)", "apt-get install influxdb")
    server = InfluxDB1(tmp_path_factory.mktemp("influxdb")).start()
    yield server
    server.stop()


@pytest.fixture
def victoriametrics(tmp_path: Path):
    """A fresh VictoriaMetrics per test: the /api/v2/write path, stopped and started at will."""
    from servers.victoriametrics import VictoriaMetrics, victoria_binary

    require(victoria_binary() is not None, "VictoriaMetrics", "apt-get install victoria-metrics")
    server = VictoriaMetrics(tmp_path / "victoriametrics").start()
    yield server
    server.stop()
