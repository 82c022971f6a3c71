"""Run ``campuslab serve`` as a real subprocess, so tests can kill -9 and restart it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from campuslab.api.keys import KeyStore, Role
from servers.mosquitto import free_port


class ServeProcess:
    def __init__(
        self,
        mqtt_url: str,
        data_dir: Path,
        client_id: str,
        registry: Path | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.mqtt_url = mqtt_url
        self.data_dir = data_dir
        self.client_id = client_id
        self.registry = registry
        self.extra_args = extra_args
        self.port = free_port()
        self.log_path = data_dir / "serve.log"
        self.process: subprocess.Popen | None = None
        self.key: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ServeProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.key is None:  # tests read as facilities: unsuppressed, with ingest totals
            self.key = KeyStore.in_data_dir(self.data_dir).create(Role.FACILITIES, "tests").secret
        args = [
            sys.executable,
            "-m",
            "campuslab",
            "serve",
            "--mqtt-url",
            self.mqtt_url,
            "--data-dir",
            str(self.data_dir),
            "--port",
            str(self.port),
            "--client-id",
            self.client_id,
            "--log-level",
            "warning",
            *self.extra_args,
        ]
        if self.registry:
            args += ["--registry", str(self.registry)]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=log)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"campuslab serve exited ({self.process.returncode}):\n"
                    + self.log_path.read_text()[-3000:]
                )
            try:
                health = httpx.get(
                    f"{self.base_url}/api/v1/health", headers=self.headers, timeout=1
                ).json()
                if (health.get("ingest") or {}).get("connected"):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(
            f"campuslab serve not ready after {timeout} s:\n" + self.log_path.read_text()[-3000:]
        )

    def get(self, path: str, **params) -> httpx.Response:
        return httpx.get(f"{self.base_url}{path}", params=params, headers=self.headers, timeout=30)

    def stored(self) -> int:
        return self.get("/api/v1/health").json()["store"]["readings"]

    def wait_stored(self, expected: int, timeout: float = 60.0) -> int:
        """Wait until ``expected`` readings are stored, or the count stops changing."""
        deadline = time.monotonic() + timeout
        count = -1
        while time.monotonic() < deadline:
            count = self.stored()
            if count >= expected:
                return count
            time.sleep(0.1)
        return count

    def kill(self) -> None:
        """kill -9: no chance to flush, close or acknowledge anything."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
