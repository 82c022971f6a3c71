"""Start and stop a real Mosquitto on a free port, with its data in a temporary folder."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from campuslab.cli.brokers import free_port, mosquitto_binary

__all__ = ["Mosquitto", "free_port", "mosquitto_binary", "wait_for_port"]

CONFIG = Path(__file__).with_name("mosquitto.conf")


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class Mosquitto:
    """A Mosquitto process; ``restart`` keeps its port and persisted sessions."""

    def __init__(self, workdir: Path, extra_config: str = "") -> None:
        self.binary = mosquitto_binary()
        if self.binary is None:
            raise FileNotFoundError("mosquitto is not installed (apt-get install mosquitto)")
        self.port = free_port()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "mosquitto.conf"
        # As root, Mosquitto drops to the `mosquitto` user, which cannot write its
        # persistence file into pytest's private temp folders: sessions would not survive a
        # restart ("Error: Permission denied"). Stay root there.
        run_as = "user root\n" if os.geteuid() == 0 else ""
        self.config_path.write_text(
            f"listener {self.port} 127.0.0.1\npersistence_location {workdir}/\n{run_as}"
            + CONFIG.read_text()
            + extra_config
        )
        self.log_path = workdir / "mosquitto.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> Mosquitto:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [self.binary, "-c", str(self.config_path)], stdout=log, stderr=log
        )
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        """Graceful stop (SIGTERM): Mosquitto saves its persistence file first."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(10)
        self.process = None

    def restart(self, down_for: float = 0.5) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()
