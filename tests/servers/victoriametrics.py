"""Debian's VictoriaMetrics on a free port: a real server for influxdb-client's /api/v2/write.

It ignores bucket and org, stores ``<measurement>_<field>`` as the metric name
with the tags as labels, and drops samples older than its retention (default
1 month), so tests use recent timestamps. Points are read back with
``/api/v1/export`` after ``/internal/force_flush``.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx

from servers.mosquitto import free_port


def victoria_binary() -> str | None:
    return shutil.which("victoria-metrics") or (
        "/usr/bin/victoria-metrics" if Path("/usr/bin/victoria-metrics").exists() else None
    )


class VictoriaMetrics:
    def __init__(self, workdir: Path) -> None:
        self.binary = victoria_binary()
        if self.binary is None:
            raise FileNotFoundError(
                "victoria-metrics is not installed (apt-get install victoria-metrics)"
            )
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log_path = workdir / "victoria-metrics.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> VictoriaMetrics:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                self.binary,
                f"-httpListenAddr=127.0.0.1:{self.port}",
                f"-storageDataPath={self.workdir / 'data'}",
                "-retentionPeriod=1y",
                "-loggerLevel=ERROR",
                "-search.disableCache",
                # without it, export() hides the newest 30 s of samples
                "-search.latencyOffset=0s",
            ],
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("victoria-metrics exited:\n" + self.log_path.read_text()[-2000:])
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"victoria-metrics not ready after {timeout} s")

    def stop(self) -> None:
        """Graceful stop: the server flushes what it has accepted."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(30)
        self.process = None

    def export(self, match: str = '{__name__!=""}') -> list[dict]:
        """Every stored series matching ``match``, as /api/v1/export JSON lines."""
        httpx.get(f"{self.url}/internal/force_flush", timeout=30)
        answer = httpx.post(f"{self.url}/api/v1/export", data={"match[]": match}, timeout=60)
        answer.raise_for_status()
        return [json.loads(line) for line in answer.text.splitlines() if line.strip()]
