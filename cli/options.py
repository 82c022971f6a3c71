"""Options shared by several commands, declared once. Each can also come from the environment."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from campuslab.core.config import parse_duration

EXIT_USAGE = 2
_errors = Console(stderr=True, highlight=False)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Say what is wrong on stderr, in red, and exit (2: usage, 1: runtime)."""
    _errors.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def duration_option(text: str, option: str) -> timedelta:
    """A duration option such as 15m or 7d, or a usage error naming the option."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


Registry = Annotated[
    Path | None,
    typer.Option(
        envvar="CAMPUSLAB_REGISTRY",
        help="Campus registry YAML (default: the sample campus shipped with CampusLab).",
    ),
]
MqttUrl = Annotated[
    str,
    typer.Option(
        envvar="CAMPUSLAB_MQTT_URL",
        help="Broker, mqtt://[user:password@]host[:port]; credentials may also come "
        "from CAMPUSLAB_MQTT_USERNAME and CAMPUSLAB_MQTT_PASSWORD.",
    ),
]
Store = Annotated[
    str,
    typer.Option(
        envvar="CAMPUSLAB_STORE",
        help="duckdb (embedded, one process) or influxdb (the full stack; configured "
        "by the --influx-* options or CAMPUSLAB_INFLUX_* variables).",
    ),
]
DataDir = Annotated[
    Path,
    typer.Option(
        envvar="CAMPUSLAB_DATA_DIR",
        help="Folder for the DuckDB store (and the InfluxDB writer's spool).",
    ),
]
InfluxUrl = Annotated[
    str | None, typer.Option(envvar="CAMPUSLAB_INFLUX_URL", help="InfluxDB URL (1.8+, 2.x, 3.x).")
]
InfluxToken = Annotated[
    str | None,
    typer.Option(
        envvar="CAMPUSLAB_INFLUX_TOKEN",
        help="InfluxDB token (or user:password).",
        show_default=False,
    ),
]
InfluxOrg = Annotated[
    str | None, typer.Option(envvar="CAMPUSLAB_INFLUX_ORG", help="InfluxDB organisation (2.x).")
]
InfluxBucket = Annotated[
    str | None,
    typer.Option(envvar="CAMPUSLAB_INFLUX_BUCKET", help="Bucket (2.x/3.x) or database (1.x)."),
]
LogLevel = Annotated[str, typer.Option(help="debug, info, warning or error.")]
ClientId = Annotated[
    str | None,
    typer.Option(
        help="MQTT client id; keep it fixed so the persistent session (and the "
        "messages queued while away) is found again after a restart."
    ),
]
ShareGroup = Annotated[
    str | None,
    typer.Option(
        envvar="CAMPUSLAB_SHARE_GROUP",
        help="Split the load with other ingestors via $share/<group>/<prefix>/#.",
    ),
]
MetricsPublic = Annotated[
    bool,
    typer.Option(
        envvar="CAMPUSLAB_METRICS_PUBLIC",
        help="Serve /metrics without a key (for a Prometheus scrape inside a private "
        "network); otherwise it needs a facilities key.",
    ),
]
CorsOrigins = Annotated[
    list[str] | None,
    typer.Option(
        "--cors-origin", help="Allow this browser origin (repeatable). CORS is off by default."
    ),
]
