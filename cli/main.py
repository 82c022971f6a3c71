"""The ``campuslab`` command: the composition root that wires every part together.

Nothing imports this package; it imports the parts.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from campuslab.cli import options as opt
from campuslab.core.registry import RegistryError, load_campus, sample_campus_path

app = typer.Typer(
    name="campuslab",
    help="CampusLab: campus living-lab platform. Start with `campuslab demo`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

if TYPE_CHECKING:
    from campuslab.cli.serve import ServeOptions


def _flags_take_no_value() -> None:
    """Typer 0.29's help shows ``<bool>`` after every flag (``--zip <bool>``), inviting
    ``--zip true``, which fails: a flag takes no value. Show none for flags."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich
    if getattr(shown, "campuslab_flags", False):
        return

    def display_type_rich(self, ctx):
        return None if self.is_flag and self.metavar is None else shown(self, ctx)

    display_type_rich.campuslab_flags = True
    TyperOption.display_type_rich = display_type_rich


_flags_take_no_value()

REGISTRY_HELP = "Campus registry YAML (default: the sample campus shipped with CampusLab)."


def _registry_or_sample(registry: Path | None) -> Path:
    """The registry to use, validated now so a bad file fails before anything starts."""
    path = registry or sample_campus_path()
    try:
        load_campus(path)
    except RegistryError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    return path


def _check_key_store(data_dir: Path) -> None:
    """Load the API keys now: a damaged key store stops the server before anything opens."""
    from rich.markup import escape

    from campuslab.api.keys import KeyStore, KeyStoreError

    try:
        KeyStore.in_data_dir(data_dir)
    except KeyStoreError as exc:
        opt.fail(escape(str(exc)), code=1)


def _serve_options(
    mqtt_url: str,
    registry: Path | None,
    store: str,
    data_dir: Path,
    influx_url: str | None,
    influx_token: str | None,
    influx_org: str | None,
    influx_bucket: str | None,
    **rest,
) -> ServeOptions:
    """Check the options shared by serve/ingest/api and bundle them."""
    from campuslab.cli.serve import ServeOptions
    from campuslab.cli.stores import StoreOptions
    from campuslab.core.config import parse_mqtt_url

    try:
        parse_mqtt_url(mqtt_url)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--mqtt-url") from None
    store_options = StoreOptions(
        kind=store,
        data_dir=data_dir,
        influx_url=influx_url,
        influx_token=influx_token,
        influx_org=influx_org,
        influx_bucket=influx_bucket,
    )
    try:
        store_options.check()
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--store") from None
    from campuslab.api.routers.exports import OpenDataSettings

    try:
        open_data = OpenDataSettings.from_env()
    except ValueError as exc:
        opt.fail(f"{exc} (from the environment; see .env.example)")
    return ServeOptions(
        mqtt_url=mqtt_url,
        registry=_registry_or_sample(registry),
        store=store_options,
        open_data=open_data,
        **rest,
    )


@app.command()
def serve(
    mqtt_url: opt.MqttUrl = "mqtt://localhost:1883",
    data_dir: opt.DataDir = Path("data"),
    registry: opt.Registry = None,
    host: str = typer.Option("127.0.0.1", help="Interface for the API (0.0.0.0 for all)."),
    port: int = typer.Option(8000, help="Port for the API and overview page."),
    prefix: str = typer.Option("campus", help="Topic prefix: <prefix>/<building>/<sensor>/..."),
    client_id: opt.ClientId = None,
    share_group: opt.ShareGroup = None,
    store: opt.Store = "duckdb",
    influx_url: opt.InfluxUrl = None,
    influx_token: opt.InfluxToken = None,
    influx_org: opt.InfluxOrg = None,
    influx_bucket: opt.InfluxBucket = None,
    metrics_public: opt.MetricsPublic = False,
    cors_origin: opt.CorsOrigins = None,
    analytics_every: str = typer.Option(
        "15m",
        help="Recompute rollups this often in this process; 'off' to leave it to a "
        "separate `campuslab analytics run`.",
    ),
    log_level: opt.LogLevel = "info",
) -> None:
    """Run ingest, the store, analytics and the API in one process (the embedded mode).

    Ingests campus/<building>/<space-or-meter>/<quantity> (JSON or bare number) and
    .../senml (SenML packs) at QoS 1, acknowledging each message only once it is stored.
    """
    from campuslab.cli.serve import run_serve

    _check_key_store(data_dir)
    run_serve(
        _serve_options(
            mqtt_url,
            registry,
            store,
            data_dir,
            influx_url,
            influx_token,
            influx_org,
            influx_bucket,
            host=host,
            port=port,
            prefix=prefix,
            client_id=client_id,
            share_group=share_group,
            log_level=log_level,
        )
    )


@app.command()
def ingest(
    mqtt_url: opt.MqttUrl = "mqtt://localhost:1883",
    data_dir: opt.DataDir = Path("data"),
    registry: opt.Registry = None,
    prefix: str = typer.Option("campus", help="Topic prefix: <prefix>/<building>/<sensor>/..."),
    client_id: opt.ClientId = None,
    share_group: opt.ShareGroup = None,
    store: opt.Store = "duckdb",
    influx_url: opt.InfluxUrl = None,
    influx_token: opt.InfluxToken = None,
    influx_org: opt.InfluxOrg = None,
    influx_bucket: opt.InfluxBucket = None,
    metrics_port: int | None = typer.Option(
        None, envvar="CAMPUSLAB_METRICS_PORT", help="Serve /metrics on this port."
    ),
    log_level: opt.LogLevel = "info",
) -> None:
    """Run one ingestor (no API). Scale out with several sharing --share-group.

    With --store influxdb, batches go through influxdb-client's batching writer and
    each MQTT message is acknowledged once InfluxDB (or the local spool) has it.
    """
    from campuslab.cli.serve import run_ingest

    run_ingest(
        _serve_options(
            mqtt_url,
            registry,
            store,
            data_dir,
            influx_url,
            influx_token,
            influx_org,
            influx_bucket,
            prefix=prefix,
            client_id=client_id,
            share_group=share_group,
            log_level=log_level,
            metrics_port=metrics_port,
        )
    )


@app.command()
def api(
    data_dir: opt.DataDir = Path("data"),
    registry: opt.Registry = None,
    host: str = typer.Option("127.0.0.1", help="Interface (0.0.0.0 for all)."),
    port: int = typer.Option(8000, help="Port for the API and overview page."),
    store: opt.Store = "duckdb",
    influx_url: opt.InfluxUrl = None,
    influx_token: opt.InfluxToken = None,
    influx_org: opt.InfluxOrg = None,
    influx_bucket: opt.InfluxBucket = None,
    metrics_public: opt.MetricsPublic = False,
    cors_origin: opt.CorsOrigins = None,
    log_level: opt.LogLevel = "info",
) -> None:
    """Run the API and overview page over the store, without ingest (the full stack).

    API keys are kept in <data-dir>/keys.json (`campuslab keys create`).
    """
    from campuslab.cli.serve import run_api

    _check_key_store(data_dir)
    run_api(
        _serve_options(
            "mqtt://unused",
            registry,
            store,
            data_dir,
            influx_url,
            influx_token,
            influx_org,
            influx_bucket,
            host=host,
            port=port,
            log_level=log_level,
        )
    )


@app.command("check-registry")
def check_registry(registry: Path = typer.Argument(..., help="Registry YAML to check.")) -> None:
    """Validate a campus registry file and summarise it."""
    campus = load_campus(_registry_or_sample(registry))
    spaces = sum(1 for _ in campus.spaces())
    meters = sum(1 for _ in campus.meters())
    typer.echo(
        f"{registry}: OK — {campus.site.name} ({campus.site.timezone}), "
        f"{len(campus.buildings)} buildings, {spaces} spaces, {meters} meters"
    )


@app.command()
def demo(
    port: int = typer.Option(8000, help="Port for the overview page and API."),
    data_dir: Path = typer.Option(Path("demo-data"), help="Folder for the store and logs."),
    duration: float | None = typer.Option(
        None, help="Stop cleanly after this many seconds (default: run until Ctrl-C)."
    ),
    mqtt_url: str | None = typer.Option(
        None,
        help="Use this broker instead of starting one (Mosquitto if installed, "
        "else an embedded Python broker).",
    ),
    registry: Path | None = typer.Option(None, help=REGISTRY_HELP),
    backfill: str = typer.Option("7d", help="History to backfill before going live."),
    interval: str = typer.Option("1m", help="Time between simulated readings."),
    seed: int = typer.Option(0, min=0, help="Simulator seed: same seed, same campus."),
) -> None:
    """Run a simulated campus streaming into CampusLab, and open the overview page.

    Starts a broker (unless --mqtt-url), `campuslab serve` and the simulator;
    backfills the last 7 days with a progress bar, prints the URLs, then streams
    live readings until --duration seconds pass or Ctrl-C.
    """
    from campuslab.cli.demo import DemoError, DemoOptions, run_demo
    from campuslab.core.config import parse_duration, parse_mqtt_url

    try:
        backfill_span = parse_duration(backfill)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--backfill") from None
    try:
        step = parse_duration(interval)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--interval") from None
    if mqtt_url:
        try:
            parse_mqtt_url(mqtt_url)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--mqtt-url") from None
    options = DemoOptions(
        port=port,
        data_dir=data_dir,
        duration=duration,
        mqtt_url=mqtt_url,
        registry=_registry_or_sample(registry),
        backfill=backfill_span,
        interval=step,
        seed=seed,
    )
    try:
        run_demo(options)
    except DemoError as exc:
        typer.secho(f"campuslab demo: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None


def _register_commands() -> None:
    from campuslab.cli.import_command import import_app

    if sys.argv[1:2] == ["import"]:
        # `campuslab import ...` is a long batch job that needs only the store: leaving out
        # the web, plotting and Grafana stacks the other commands import saves seconds of
        # start-up and about 70 MB of its memory budget (bench/history_import.py).
        app.add_typer(import_app, name="import")
        return
    from campuslab.cli.analytics_command import analytics_app
    from campuslab.cli.dashboards_command import dashboards_app
    from campuslab.cli.devices_command import devices_app
    from campuslab.cli.export_command import export
    from campuslab.cli.keys_command import keys_app
    from campuslab.cli.report_command import report
    from campuslab.cli.simulate_command import simulate
    from campuslab.cli.timetable_command import timetable_app

    app.command("simulate")(simulate)
    app.command("export")(export)
    app.command("report")(report)
    app.add_typer(analytics_app, name="analytics")
    app.add_typer(dashboards_app, name="dashboards")
    app.add_typer(devices_app, name="devices")
    app.add_typer(keys_app, name="keys")
    app.add_typer(import_app, name="import")
    app.add_typer(timetable_app, name="timetable")


_register_commands()
