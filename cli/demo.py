"""``campuslab demo``: a simulated campus streaming into CampusLab, in one command.

1. Use the broker given by --mqtt-url, or start one (Mosquitto if installed, else amqtt).
2. Import the simulator's timetables (booked vs actual) and start ``campuslab serve``
   (ingest + DuckDB + API) as a child process.
3. Backfill recent history from the simulator, with progress bars for publishing
   and for storing.
4. Print the URLs, then stream live readings until --duration or Ctrl-C.
"""

from __future__ import annotations

import math
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from campuslab.api.keys import KeyStoreError
from campuslab.cli.brokers import port_is_free, start_local_broker
from campuslab.cli.keys_command import create_demo_key
from campuslab.cli.timetable_command import store_for as timetable_store_for
from campuslab.core.config import format_duration, parse_mqtt_url
from campuslab.core.registry import Campus, load_campus, sample_campus_path
from campuslab.simulators.campus import CampusSimulator, SimulationConfig
from campuslab.simulators.publisher import MqttPublisher, backfill, run_live
from campuslab.simulators.timetable_export import timetable_ics

DEMO_FORMAT = "senml"  # packs: a week of history publishes in seconds, not minutes
# Live, the simulated sensors speak as a real campus's do: The Things Stack v3 uplinks from
# the registry's devices (Milesight AM319 and VS121 per space), through the ttn adapter.
DEMO_LIVE_FORMAT = "ttn"
DEMO_TIMETABLE_WEEKS_AHEAD = 4  # calendars run this long past the backfilled weeks


@dataclass(frozen=True)
class DemoOptions:
    port: int
    data_dir: Path
    duration: float | None
    mqtt_url: str | None
    registry: Path
    backfill: timedelta
    interval: timedelta
    seed: int


class DemoError(RuntimeError):
    """Something the person running the demo can fix; the message says how."""


def run_demo(options: DemoOptions, console: Console | None = None) -> None:
    console = console or Console()
    campus = load_campus(options.registry)
    if not port_is_free(options.port):
        raise DemoError(f"port {options.port} is already in use; pick another with --port")
    options.data_dir.mkdir(parents=True, exist_ok=True)
    _stop_on_sigterm()
    with ExitStack() as cleanup:
        mqtt_url = options.mqtt_url
        if mqtt_url is None:
            broker = start_local_broker(options.data_dir / "broker")
            cleanup.callback(broker.stop)
            mqtt_url = broker.url
            console.print(
                f"[green]✓[/] started {broker.kind} at {mqtt_url}"
                + (
                    " (Mosquitto not installed: using the embedded Python broker)"
                    if broker.kind == "amqtt"
                    else ""
                )
            )
        try:
            key = create_demo_key(options.data_dir)
        except KeyStoreError as exc:
            raise DemoError(str(exc)) from None
        imported = import_simulated_timetables(campus, options)
        console.print(
            f"[green]✓[/] imported the simulated timetables of {imported} teaching rooms "
            "(booked vs actual)"
        )
        _STATUS_HEADERS["Authorization"] = f"Bearer {key}"
        serve = _start_serve(options, mqtt_url)
        cleanup.callback(_stop_process, serve)
        base_url = f"http://127.0.0.1:{options.port}"
        _wait_for_serve(serve, base_url, options.data_dir / "serve.log")
        console.print(
            f"[green]✓[/] campuslab serve is up at {base_url} "
            f"(store: {options.data_dir / 'campuslab.duckdb'})"
        )

        simulator = CampusSimulator(
            campus, SimulationConfig(seed=options.seed, interval=options.interval)
        )
        endpoint = parse_mqtt_url(mqtt_url)
        with MqttPublisher(endpoint, client_id="campuslab-demo-simulator") as publisher:
            _backfill_with_progress(simulator, publisher, options.backfill, base_url, console)
            _print_urls(console, base_url, campus.site.name, options, mqtt_url, key)
            stop = threading.Event()
            live = threading.Thread(
                target=run_live,
                name="simulator-live",
                args=(simulator, publisher, DEMO_LIVE_FORMAT, "campus", 1.0, stop),
                daemon=True,
            )
            live.start()
            try:
                _wait(options.duration, serve)
            except KeyboardInterrupt:
                console.print("\nstopping…")
            finally:
                stop.set()
                live.join(10)
        status = _status(base_url)
        console.print(
            f"[green]✓[/] {status.get('stored', 0):,} readings stored this run, "
            f"{status.get('rejected', 0):,} rejected; data kept in "
            f"{options.data_dir}"
        )


def import_simulated_timetables(campus: Campus, options: DemoOptions) -> int:
    """Give every teaching room the simulator's timetable, as a booking system would.

    Booked-vs-actual (API and ``campuslab report``) then works on the demo's data
    without a real calendar. The calendars run from the first backfilled week to
    well after the demo, and replace earlier demo imports.
    """
    simulator = CampusSimulator(
        campus, SimulationConfig(seed=options.seed, interval=options.interval)
    )
    first_day = (datetime.now(campus.tz) - options.backfill).date()
    weeks = math.ceil(options.backfill / timedelta(days=7)) + DEMO_TIMETABLE_WEEKS_AHEAD
    timetables = timetable_store_for(options.data_dir)
    rooms = sorted({slot.space_id for slot in simulator.timetable})
    for space_id in rooms:
        ics = timetable_ics(simulator, space_id, first_day, weeks)
        timetables.import_calendar(campus, space_id, ics, source="simulator")
    return len(rooms)


def _stop_on_sigterm() -> None:
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


def _start_serve(options: DemoOptions, mqtt_url: str) -> subprocess.Popen:
    log = (options.data_dir / "serve.log").open("ab")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "campuslab",
            "serve",
            "--mqtt-url",
            mqtt_url,
            "--data-dir",
            str(options.data_dir),
            "--registry",
            str(options.registry),
            "--port",
            str(options.port),
            "--client-id",
            "campuslab-demo-ingest",
            "--log-level",
            "warning",
        ],
        stdout=log,
        stderr=log,
    )


def _wait_for_serve(
    process: subprocess.Popen, base_url: str, log: Path, timeout: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DemoError(
                f"campuslab serve stopped at start; its log ({log}) ends with:\n"
                + log.read_text()[-2000:]
            )
        if _status(base_url).get("connected"):
            return
        time.sleep(0.2)
    raise DemoError(
        f"campuslab serve did not connect to the broker within {timeout:.0f} s; see {log}"
    )


_STATUS_HEADERS: dict[str, str] = {}  # the demo's facilities key: health shows ingest totals


def _status(base_url: str) -> dict:
    try:
        health = httpx.get(f"{base_url}/api/v1/health", headers=_STATUS_HEADERS, timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return {}
    return health.get("ingest") or {}


def _backfill_with_progress(
    simulator: CampusSimulator,
    publisher: MqttPublisher,
    span: timedelta,
    base_url: str,
    console: Console,
) -> None:
    interval = simulator.config.interval
    end = datetime.fromtimestamp(
        time.time() // interval.total_seconds() * interval.total_seconds(), UTC
    )
    start = end - span
    before = _status(base_url)
    settled_before = sum(before.get(k, 0) for k in ("stored", "duplicates", "rejected"))
    with Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        published = progress.add_task(f"publishing {format_duration(span)} of history", total=None)
        stored = progress.add_task("stored in CampusLab", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(published, completed=done, total=total)
            progress.update(stored, total=total)
            now = _status(base_url)
            settled = sum(now.get(k, 0) for k in ("stored", "duplicates", "rejected"))
            progress.update(stored, completed=min(settled - settled_before, total))

        report = backfill(simulator, publisher, start, end, DEMO_FORMAT, progress=on_progress)
        total = report.readings
        progress.update(stored, total=total)
        stalled_since, last = time.monotonic(), -1
        while True:
            now = _status(base_url)
            settled = sum(now.get(k, 0) for k in ("stored", "duplicates", "rejected"))
            progress.update(stored, completed=min(settled - settled_before, total))
            if settled - settled_before >= total:
                break
            if settled != last:
                stalled_since, last = time.monotonic(), settled
            elif time.monotonic() - stalled_since > 30:
                console.print("[yellow]ingest made no progress for 30 s; going live anyway")
                break
            time.sleep(0.2)


def _print_urls(
    console: Console, base_url: str, site: str, options: DemoOptions, mqtt_url: str, key: str
) -> None:
    lines = [
        f"[bold]{site}[/] is streaming into CampusLab.",
        "",
        f"  Overview page   {base_url}/",
        f"  API docs        {base_url}/docs",
        f"  Spaces          {base_url}/api/v1/spaces",
        f"  Metrics         {base_url}/metrics  (facilities key)",
        f"  MQTT broker     {mqtt_url}  (campus/# and v3/+/devices/+/up)",
        "",
        (
            "Stops after " + f"{options.duration:g} s."
            if options.duration
            else "Press Ctrl-C to stop."
        ),
    ]
    console.print(Panel("\n".join(lines), title="CampusLab demo", expand=False))
    # Commands go outside the box and are never wrapped, so a copy of a line runs as is.
    for line in demo_hints(base_url, options, key):
        console.print(line, soft_wrap=True, highlight=False, markup=False)


def campuslab_command() -> str:
    """How to call this ``campuslab`` from the current folder: its name when it is the one
    on the PATH, else its path (``.venv/bin/campuslab`` after ``make demo``)."""
    script = Path(sys.executable).parent / "campuslab"
    on_path = shutil.which("campuslab")
    if on_path and Path(on_path).resolve() == script.resolve():
        return "campuslab"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def demo_hints(base_url: str, options: DemoOptions, key: str) -> list[str]:
    """The commands the banner prints, exactly as they run: this demo's data folder,
    registry and the ``campuslab`` that runs it."""
    command = campuslab_command()
    data = f"--data-dir {shlex.quote(str(options.data_dir))}"
    where = data
    if options.registry != sample_campus_path():
        where += f" --registry {shlex.quote(str(options.registry))}"
    tz = load_campus(options.registry).tz
    first = (datetime.now(tz) - options.backfill).date()
    after_today = datetime.now(tz).date() + timedelta(days=1)
    period = f"--start {first.isoformat()} --end {after_today.isoformat()}"
    hints = [
        "",
        "Your facilities API key (shown once):",
        f"  {key}",
        "",
        "Try (each line is one command):",
        f"  curl -H 'Authorization: Bearer {key}' {base_url}/metrics",
        f"  {command} keys list {data}",
        "After the demo stops (DuckDB lets one process at a time hold the store):",
        f"  {command} report {where} {period} --out report.html",
        f"  {command} export {where} --quantity occupancy {period} --zip",
    ]
    if command != "campuslab":
        venv = Path(command).parent.parent
        hints.append(
            f"`campuslab` is in {Path(command).parent}: run `source {venv}/bin/activate` "
            "to call it by name."
        )
    return hints


def _wait(duration: float | None, serve: subprocess.Popen) -> None:
    deadline = time.monotonic() + duration if duration else None
    while deadline is None or time.monotonic() < deadline:
        if serve.poll() is not None:
            raise DemoError(
                "campuslab serve stopped unexpectedly; see serve.log in the data directory"
            )
        time.sleep(0.2)


def _stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
