"""Debian's InfluxDB 1.6.7 on free ports, data in a temporary folder.

It has no /api/v2/write (that came in 1.8): tests seed it through the v1
``/write`` with exactly the line protocol our writer produces
(``campuslab.core.store.line_protocol``), and read it with InfluxQL.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx

from servers.mosquitto import free_port

CONFIG = Path(__file__).with_name("influxdb.conf")


def influxd_binary() -> str | None:
    return shutil.which("influxd") or (
        "/usr/bin/influxd" if Path("/usr/bin/influxd").exists() else None
    )


class InfluxDB1:
    def __init__(self, workdir: Path) -> None:
        self.binary = influxd_binary()
        if self.binary is None:
            raise FileNotFoundError("influxd is not installed (apt-get install influxdb)")
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.config_path = workdir / "influxdb.conf"
        self.config_path.write_text(
            CONFIG.read_text().format(root=workdir, http_port=self.port, rpc_port=free_port())
        )
        self.log_path = workdir / "influxd.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> InfluxDB1:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [self.binary, "-config", str(self.config_path)], stdout=log, stderr=log
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("influxd exited:\n" + self.log_path.read_text()[-2000:])
            try:
                if httpx.get(f"{self.url}/ping", timeout=1).status_code == 204:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"influxd not ready after {timeout} s")

    def create_database(self, name: str) -> None:
        self.query(f'CREATE DATABASE "{name}"', method="POST")

    def query(self, q: str, db: str | None = None, method: str = "GET") -> dict:
        params = {"q": q, "epoch": "u"}  # 1.x calls microseconds "u"
        if db:
            params["db"] = db
        answer = httpx.request(method, f"{self.url}/query", params=params, timeout=30)
        answer.raise_for_status()
        return answer.json()

    def write_lines(self, db: str, lines: list[str], precision: str = "u") -> None:
        """v1 /write (1.x calls microseconds 'u'), in chunks the server takes comfortably."""
        for i in range(0, len(lines), 5000):
            answer = httpx.post(
                f"{self.url}/write",
                params={"db": db, "precision": precision},
                content="\n".join(lines[i : i + 5000]).encode(),
                timeout=60,
            )
            if answer.status_code != 204:
                raise RuntimeError(f"/write answered {answer.status_code}: {answer.text}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)
        self.process = None
