"""Choosing and opening the store: DuckDB (embedded) or InfluxDB (full stack)."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from campuslab.core.config import MqttEndpoint, parse_mqtt_url
from campuslab.core.registry import Campus
from campuslab.core.store import ReadingStore

STORE_FILE = "campuslab.duckdb"
STORE_KINDS = ("duckdb", "influxdb")


@dataclass(frozen=True)
class StoreOptions:
    kind: str = "duckdb"
    data_dir: Path = Path("data")
    influx_url: str | None = None
    influx_token: str | None = None
    influx_org: str | None = None
    influx_bucket: str | None = None

    def check(self) -> None:
        if self.kind not in STORE_KINDS:
            raise ValueError(f"--store must be one of {', '.join(STORE_KINDS)}, not {self.kind!r}")
        if self.kind == "influxdb" and not self.influx_url:
            raise ValueError(
                "--store influxdb needs --influx-url (or CAMPUSLAB_INFLUX_URL), "
                "e.g. http://localhost:8086"
            )
        if self.kind == "influxdb":
            from campuslab.core.store.influx import InfluxConfig

            InfluxConfig.from_env()  # the CAMPUSLAB_INFLUX_* / SPOOL settings, named when bad


def open_store(options: StoreOptions, campus: Campus) -> ReadingStore:
    options.check()
    if options.kind == "duckdb":
        from campuslab.core.store.duckdb import DuckDBStore

        return DuckDBStore(options.data_dir / STORE_FILE)
    from campuslab.core.store.influx import InfluxConfig, InfluxStore

    config = InfluxConfig.from_env()
    overrides = {
        "url": options.influx_url,
        "token": options.influx_token,
        "org": options.influx_org,
        "bucket": options.influx_bucket,
    }
    config = replace(config, **{k: v for k, v in overrides.items() if v})
    if config.spool_dir is None:
        config = replace(config, spool_dir=options.data_dir / "spool")
    return InfluxStore(config, campus)


def mqtt_endpoint(url: str) -> MqttEndpoint:
    """The broker from its URL, with credentials from the environment when set there."""
    endpoint = parse_mqtt_url(url)
    username = os.environ.get("CAMPUSLAB_MQTT_USERNAME")
    if username:
        endpoint = replace(
            endpoint, username=username, password=os.environ.get("CAMPUSLAB_MQTT_PASSWORD")
        )
    return endpoint
