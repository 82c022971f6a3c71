"""``campuslab simulate``: publish a simulated campus over MQTT."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from campuslab.cli import options as opt
from campuslab.cli.stores import STORE_FILE, StoreOptions, mqtt_endpoint, open_store
from campuslab.core.config import MqttEndpoint, format_duration
from campuslab.core.registry import Campus, RegistryError, load_campus, sample_campus_path
from campuslab.core.store.duckdb import StoreLockedError
from campuslab.core.store.port import ReadingStore
from campuslab.simulators.campus import CampusSimulator, SimulationConfig
from campuslab.simulators.direct import DirectBackfillReport, backfill_direct
from campuslab.simulators.faults import FAULTS
from campuslab.simulators.publisher import (
    BrokerUnreachable,
    MqttPublisher,
    PublishReport,
    backfill,
    run_live,
)

EXIT_USAGE = 2
console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)


class PayloadFormat(StrEnum):
    JSON = "json"
    SENML = "senml"
    BARE = "bare"
    TTN = "ttn"  # as the registry's devices on The Things Stack v3 (LoRaWAN)


def simulate(
    registry: Path | None = typer.Option(
        None,
        "--registry",
        metavar="FILE",
        envvar="CAMPUSLAB_REGISTRY",
        help="Campus registry YAML (default: the sample campus).",
    ),
    mqtt_url: str = typer.Option(
        "mqtt://localhost:1883",
        "--mqtt-url",
        envvar="CAMPUSLAB_MQTT_URL",
        help="Broker, mqtt://[user:password@]host[:port] or mqtts://; credentials may also "
        "come from CAMPUSLAB_MQTT_USERNAME and CAMPUSLAB_MQTT_PASSWORD.",
    ),
    seed: int = typer.Option(
        0, "--seed", min=0, help="Same seed, same campus: runs are deterministic."
    ),
    interval: str = typer.Option(
        "1m", "--interval", help="Time between readings, e.g. 1m, 5m, 30s."
    ),
    payload_format: PayloadFormat = typer.Option(
        PayloadFormat.JSON,
        "--format",
        help="Payload format: json, senml or bare on the campus topic scheme, or ttn to "
        "publish as the registry's devices on The Things Stack (v3 uplinks).",
    ),
    prefix: str = typer.Option("campus", "--prefix", help="Topic prefix."),
    backfill_span: str | None = typer.Option(
        None,
        "--backfill",
        metavar="SPAN",
        help="Publish the last SPAN (e.g. 7d) of history as fast "
        "as the broker takes it, then exit (see --then-live).",
    ),
    then_live: bool = typer.Option(
        False, "--then-live", help="After --backfill, carry on in live mode."
    ),
    speed: float = typer.Option(
        1.0, "--speed", min=0.001, help="Live mode runs this many times faster than real time."
    ),
    faults: str = typer.Option(
        "",
        "--faults",
        metavar="LIST",
        help=f"Comma-separated faults to inject: {', '.join(FAULTS)}.",
    ),
    duration: float | None = typer.Option(
        None,
        "--duration",
        metavar="SECONDS",
        min=0.0,
        help="Stop live mode after SECONDS of wall-clock time.",
    ),
    direct: bool = typer.Option(
        False,
        "--direct",
        help="With --backfill: write the history straight into the store (--store, "
        "--data-dir), no MQTT, one simulated day per write. Fast enough for a semester.",
    ),
    store: str = typer.Option(
        "duckdb",
        "--store",
        envvar="CAMPUSLAB_STORE",
        help="With --direct: duckdb (the file under --data-dir) or influxdb (--influx-*).",
    ),
    data_dir: Path = typer.Option(
        Path("data"),
        "--data-dir",
        envvar="CAMPUSLAB_DATA_DIR",
        help="With --direct: folder of the DuckDB store (the one `campuslab serve` uses).",
    ),
    influx_url: str | None = typer.Option(
        None, "--influx-url", envvar="CAMPUSLAB_INFLUX_URL", help="InfluxDB URL (--store influxdb)."
    ),
    influx_token: str | None = typer.Option(
        None,
        "--influx-token",
        envvar="CAMPUSLAB_INFLUX_TOKEN",
        help="InfluxDB token (or user:password).",
        show_default=False,
    ),
    influx_org: str | None = typer.Option(
        None, "--influx-org", envvar="CAMPUSLAB_INFLUX_ORG", help="InfluxDB organisation (2.x)."
    ),
    influx_bucket: str | None = typer.Option(
        None,
        "--influx-bucket",
        envvar="CAMPUSLAB_INFLUX_BUCKET",
        help="Bucket (2.x/3.x) or database (1.x).",
    ),
) -> None:
    """Simulate the campus in the registry and publish its readings over MQTT.

    Every space reports occupancy, CO2, temperature and humidity; every meter
    its cumulative kWh register. Occupancy follows a weekly timetable, office
    hours and study-hall arrivals; CO2 a TEK17 ventilation mass balance;
    temperatures the heating schedule and the weather.

    Live mode (the default) publishes each reading when its time comes.
    --backfill 7d publishes the last seven days first, with a progress bar.
    With --speed above 1 and --duration, the simulated clock starts far
    enough in the past to reach the present exactly when the run ends, so
    timestamps never run ahead of the wall clock.

    --backfill 120d --direct writes a semester of history straight into the
    store instead (no broker needed), one simulated day at a time; a store held
    by a running `campuslab serve` is refused with a clear message.

    Example: campuslab simulate --backfill 7d --then-live --faults spike,stuck
    """
    step = opt.duration_option(interval, "--interval")
    span = opt.duration_option(backfill_span, "--backfill") if backfill_span else None
    fmt = payload_format.value
    if direct:
        _direct(
            registry,
            seed,
            step,
            span,
            then_live,
            faults,
            StoreOptions(
                kind=store,
                data_dir=data_dir,
                influx_url=influx_url,
                influx_token=influx_token,
                influx_org=influx_org,
                influx_bucket=influx_bucket,
            ),
        )
        return
    if span and fmt == "bare":
        raise typer.BadParameter(
            "bare payloads carry no timestamp (the receiver stamps them "
            "on arrival), so they cannot backfill history; use json or "
            "senml",
            param_hint="--format",
        )
    if then_live and not span:
        raise typer.BadParameter(
            "--then-live only makes sense with --backfill", param_hint="--then-live"
        )
    try:
        config = SimulationConfig(seed=seed, interval=step, faults=_fault_set(faults))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--interval") from None
    endpoint = _endpoint(mqtt_url)
    sim = CampusSimulator(_campus(registry), config)
    go_live = span is None or then_live
    # Faster than real time, the simulated clock starts this far back so that it
    # meets the wall clock when --duration ends, instead of running into the future.
    lead = timedelta(0)
    if go_live and speed > 1 and fmt != "bare":
        if duration:
            lead = timedelta(seconds=duration * (speed - 1))
        else:
            errors.print(
                f"[yellow]warning:[/yellow] at --speed {speed:g} simulated time runs "
                "ahead of the wall clock; ingest rejects readings stamped in the "
                "future. Give --duration to start the clock in the past."
            )
    now = datetime.now(UTC) - lead
    try:
        with MqttPublisher(endpoint) as publisher:
            if span:
                _backfill(sim, publisher, now - span, now, fmt, prefix)
            if go_live:
                _live(sim, publisher, fmt, prefix, speed, duration, start=now if lead else None)
    except BrokerUnreachable as exc:
        opt.fail(str(exc))
    except TimeoutError as exc:
        opt.fail(str(exc), code=1)


def _fault_set(text: str) -> frozenset[str]:
    names = frozenset(name.strip() for name in text.split(",") if name.strip())
    unknown = sorted(names - set(FAULTS))
    if unknown:
        raise typer.BadParameter(
            f"unknown fault(s) {', '.join(unknown)}; valid faults: {', '.join(FAULTS)}",
            param_hint="--faults",
        )
    return names


def _endpoint(url: str) -> MqttEndpoint:
    try:
        return mqtt_endpoint(url)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--mqtt-url") from None


def _campus(path: Path | None) -> Campus:
    try:
        return load_campus(path or sample_campus_path())
    except RegistryError as exc:
        opt.fail(str(exc))
        raise  # unreachable: fail exits


def _backfill(
    sim: CampusSimulator,
    publisher: MqttPublisher,
    start: datetime,
    end: datetime,
    fmt: str,
    prefix: str,
) -> None:
    span = format_duration(end - start) if (end - start).total_seconds() >= 1 else "0s"
    columns = (
        TextColumn("[bold]backfill {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("readings"),
        TaskProgressColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(span, total=None)

        def show(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = backfill(sim, publisher, start, end, fmt, prefix, progress=show)
    console.print(f"backfilled {span}: {_summary(report)} to {publisher.endpoint.url}")


def _direct(
    registry: Path | None,
    seed: int,
    step: timedelta,
    span: timedelta | None,
    then_live: bool,
    faults: str,
    options: StoreOptions,
) -> None:
    """``--backfill SPAN --direct``: simulate the span and write it straight into the store."""
    if span is None:
        raise typer.BadParameter(
            "--direct writes a --backfill span; give --backfill", param_hint="--direct"
        )
    if then_live:
        raise typer.BadParameter(
            "--direct only backfills; for live mode run without --direct (over MQTT)",
            param_hint="--then-live",
        )
    try:
        options.check()
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--store") from None
    fault_set = _fault_set(faults)
    if "garbage" in fault_set:
        errors.print(
            "[yellow]warning:[/yellow] --faults garbage makes malformed MQTT messages; "
            "with --direct there are none, so it is left out"
        )
        fault_set = fault_set - {"garbage"}
    try:
        config = SimulationConfig(seed=seed, interval=step, faults=fault_set)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--interval") from None
    campus = _campus(registry)
    sim = CampusSimulator(campus, config)
    target = _store_target(options)
    try:
        store = open_store(options, campus)
    except StoreLockedError:
        opt.fail(
            f"the store {target} is in use by another CampusLab process (a running "
            "`campuslab serve`?); DuckDB lets one process at a time hold it. Stop that "
            "process and run the backfill again, or give another --data-dir.",
            code=1,
        )
        return
    end = datetime.now(UTC)
    try:
        report = _direct_backfill(sim, store, end - span, end)
    finally:
        store.close()
    console.print(
        f"backfilled {format_duration(span)} directly into {target}: {_direct_summary(report)}"
    )


def _store_target(options: StoreOptions) -> str:
    if options.kind == "duckdb":
        return str(options.data_dir / STORE_FILE)
    return f"InfluxDB at {options.influx_url}"


def _direct_backfill(
    sim: CampusSimulator, store: ReadingStore, start: datetime, end: datetime
) -> DirectBackfillReport:
    columns = (
        TextColumn("[bold]backfill (direct)"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("readings"),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
    )
    began = time.perf_counter()
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("", total=None, rate="")

        def show(done: int, total: int) -> None:
            seconds = time.perf_counter() - began
            rate = f"{done / seconds:,.0f}/s" if seconds > 0 else ""
            bar.update(task, completed=done, total=total, rate=rate)

        return backfill_direct(sim, store, start, end, progress=show)


def _direct_summary(report: DirectBackfillReport) -> str:
    return (
        f"{report.readings:,} readings ({report.stored:,} new, {report.duplicates:,} "
        f"already there) in {report.seconds:.1f} s ({report.readings_per_second:,.0f} "
        "readings/s)"
    )


def _live(
    sim: CampusSimulator,
    publisher: MqttPublisher,
    fmt: str,
    prefix: str,
    speed: float,
    duration: float | None,
    start: datetime | None,
) -> None:
    stop = threading.Event()
    timer = threading.Timer(duration, stop.set) if duration else None
    if timer:
        timer.daemon = True
        timer.start()
    every = format_duration(sim.config.interval)
    pace = "real time" if speed == 1 else f"{speed:g}x real time"
    console.print(
        f"live: a reading per sensor every {every} ({pace}) to "
        f"{publisher.endpoint.url}, topic {prefix}/#; Ctrl-C stops"
    )
    latest = PublishReport()
    began = datetime.now(UTC)
    with console.status("waiting for the first step") as status:

        def show(moment: datetime, so_far: PublishReport) -> None:
            nonlocal latest
            latest = so_far
            status.update(
                f"simulated {moment:%Y-%m-%d %H:%M:%S} UTC · {so_far.readings:,} readings published"
            )

        try:
            latest = run_live(sim, publisher, fmt, prefix, speed, stop, start=start, on_step=show)
        except KeyboardInterrupt:
            stop.set()
            latest.seconds = (datetime.now(UTC) - began).total_seconds()
        finally:
            if timer:
                timer.cancel()
    publisher.flush(timeout=30)
    console.print(f"live run ended: {_summary(latest)}")


def _summary(report: PublishReport) -> str:
    text = (
        f"{report.readings:,} readings in {report.messages:,} messages, "
        f"{report.seconds:.1f} s ({report.readings_per_second:,.0f} readings/s)"
    )
    if report.garbage:
        text += f", plus {report.garbage} garbage messages"
    return text
