"""Run ``campuslab`` commands as real subprocesses: ``api`` as a server, others to completion.

The child's environment is the test's, without any ``CAMPUSLAB_*`` variable
(a developer's shell must not change what a test runs against), plus what the
test passes in ``env``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from servers.mosquitto import free_port


def campuslab_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CAMPUSLAB_")}
    return {**clean, **(env or {})}


def run_campuslab(
    args: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """``python -m campuslab <args>`` to completion; output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "campuslab", *args],
        env=campuslab_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class ApiProcess:
    """``campuslab api <args> --port <free> --data-dir <data_dir>``, ready once /health says ok."""

    def __init__(
        self, args: Sequence[str], data_dir: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.args = list(args)
        self.data_dir = data_dir
        self.env = campuslab_env(env)
        self.port = free_port()
        self.log_path = data_dir / "api.log"
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ApiProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "campuslab",
            "api",
            *self.args,
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log, env=self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"campuslab api exited ({self.process.returncode}):\n{self.log()[-3000:]}"
                )
            try:
                if httpx.get(f"{self.base_url}/api/v1/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"campuslab api not ready after {timeout} s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> bool:
        """SIGTERM, as ``docker stop`` sends; True if it then exited by itself within 15 s.

        uvicorn shuts down gracefully on SIGTERM and then raises the signal again, so a
        clean stop exits with -15 (killed by SIGTERM), not 0. Otherwise: kill -9, False.
        """
        process, self.process = self.process, None
        if process is None:
            return True
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
                return False
        return process.returncode in (0, -signal.SIGTERM)
