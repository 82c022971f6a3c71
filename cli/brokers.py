"""A local MQTT broker for the demo: Mosquitto when installed, else amqtt (pure Python)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def wait_for_port(port: int, process: subprocess.Popen, log: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the broker exited at start:\n{log.read_text()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"the broker did not listen on port {port} within {timeout} s")


def mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    return next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None
    )


@dataclass
class LocalBroker:
    kind: str  # "mosquitto" or "amqtt"
    port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_local_broker(workdir: Path, port: int | None = None) -> LocalBroker:
    """Start Mosquitto if it is on the PATH, otherwise the embedded amqtt broker."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log = workdir / "broker.log"
    binary = mosquitto_binary()
    if binary:
        config = workdir / "mosquitto.conf"
        # As root Mosquitto switches to the `mosquitto` user unless told otherwise, and
        # then may not write its persistence file here.
        run_as = "user root\n" if os.geteuid() == 0 else ""
        shipped = resources.files("campuslab.cli").joinpath("mosquitto.conf").read_text()
        config.write_text(
            f"listener {port} 127.0.0.1\npersistence_location {workdir}/\n{run_as}{shipped}"
        )
        command, kind = [binary, "-c", str(config)], "mosquitto"
    else:
        config = workdir / "amqtt.yaml"
        config.write_text(
            "listeners:\n  default:\n    type: tcp\n"
            f"    bind: 127.0.0.1:{port}\n"
            "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
            "    allow_anonymous: true\n"
        )
        command = [sys.executable, "-m", "amqtt.scripts.broker_script", "-c", str(config)]
        kind = "amqtt"
    with log.open("ab") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=sink)
    wait_for_port(port, process, log)
    return LocalBroker(kind, port, process)
