"""The Grafana dashboards as code: structure, and every panel query against a real InfluxDB.

Grafana cannot run on this machine, so the dashboards are checked in two ways:

- structurally (valid JSON, unique uids and panel ids, no overlapping panels,
  every panel on the provisioned data source, every ``$variable`` defined, the
  provisioning YAML pointing at the right uid and paths);
- by running **every query of every panel and every template variable** against
  the real InfluxDB 1.6.7 (fixture ``influxdb1``), after substituting the template
  variables the way Grafana's InfluxQL data source does (``$timeFilter`` as
  ``time >= <ms>ms and time <= <ms>ms`` over the dashboard's or the panel's range,
  multi-value variables as ``(a|b)``). Key panels are checked for values, computed
  independently here from the seeded readings.

What InfluxDB holds is what production writes: the campus simulator runs for the
35 days before "now" (15-minute readings) into a DuckDB store; the analytics'
``compute_rollups`` (what the scheduler runs) computes every rollup measurement
from it, and those rows, with the raw readings of the last two days, go into
InfluxDB as the line protocol our writer produces. A field renamed in the rollups
therefore breaks the panels that read it here. A second database holds a
synthetic fortnight around the spring DST change (``dst_seeded``), for the
weekday × hour profile and the weekend base load worked out by hand.

The dashboards' "now" is not the wall clock but yesterday at ``DASHBOARD_NOW``
campus time (``Seeded.now``), for every query and every expectation: run just
after local midnight, "today so far" (``now/d``) would hold no readings, and the
module would see the day change between seeding and querying.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml

from campuslab.analytics.rollups import (
    BUILDING_DAILY,
    SPACE_DAILY,
    SPACE_WEEKHOUR,
    compute_rollups,
)
from campuslab.core.device_health import HEALTH_MEASUREMENT, DeviceHealth, health_rows
from campuslab.core.readings import ReadingBatch, to_epoch_us
from campuslab.core.registry import Campus, parse_campus
from campuslab.core.store.duckdb import DuckDBStore
from campuslab.core.store.line_protocol import LineProtocolEncoder
from campuslab.core.store.port import RollupRow
from campuslab.simulators.campus import CampusSimulator, SimulationConfig

DASHBOARDS = Path(__file__).resolve().parents[1] / "dashboards"
JSON_DIR = DASHBOARDS / "json"
DATASOURCE_YAML = DASHBOARDS / "provisioning" / "datasources" / "campuslab.yaml"
PROVIDER_YAML = DASHBOARDS / "provisioning" / "dashboards" / "campuslab.yaml"
DATASOURCE_UID = "campuslab-influxdb"
EXPECTED_UIDS = {
    "campuslab-overview",
    "campuslab-energy",
    "campuslab-climate",
    "campuslab-utilisation",
}
BUILTIN_VARIABLES = {"timeFilter", "__interval", "__interval_ms", "__from", "__to"}
# Annotations may use Grafana's own built-in data source (time regions, annotations).
GRAFANA_BUILTIN_DATASOURCES = {"grafana", "-- Grafana --"}
VARIABLE_REFERENCE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")
TAG_ALIAS = re.compile(r"\$tag_(\w+)")
SEED_DAYS = 2  # raw readings in InfluxDB, for the live panels
DASHBOARD_NOW = time(14, 27, 30)  # yesterday's, campus time: hours after midnight, off the grid
ROLLUP_DAYS = 35  # simulated history behind the rollups (the dashboards show up to 30 days)
READING_INTERVAL = timedelta(minutes=15)
HOUR_US = 3_600_000_000
WEEKDAYS = ("1-Mon", "2-Tue", "3-Wed", "4-Thu", "5-Fri", "6-Sat", "7-Sun")
NEAR_BASE_PERCENTILE = 2.5  # Price (2010): the near-base load is the 2.5th percentile
STUFFY_SPACE = "rfb-104"  # the seeded comfort issue: CO₂ and temperature out of band now


def load_dashboards() -> dict[str, dict]:
    return {path.name: json.loads(path.read_text()) for path in sorted(JSON_DIR.glob("*.json"))}


def all_targets(board: dict):
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            yield panel, target


# -- structure ------------------------------------------------------------------------


def test_the_four_dashboards_exist_with_unique_uids():
    boards = load_dashboards()
    uids = [board["uid"] for board in boards.values()]
    assert len(uids) == len(set(uids)), uids
    assert set(uids) >= EXPECTED_UIDS
    for name, board in boards.items():
        assert name == f"{board['uid']}.json", "file named after its uid"
        assert board["title"] and board["refresh"] and board["time"]["from"].startswith("now-")
        assert board.get("id") is None, "no instance id in dashboards as code"


@pytest.mark.parametrize("name", sorted(p.name for p in JSON_DIR.glob("*.json")))
def test_dashboard_structure(name):
    board = load_dashboards()[name]
    panels = board["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {name}"

    for panel in panels:
        assert panel["datasource"] == {"type": "influxdb", "uid": DATASOURCE_UID}, panel["title"]
        assert panel.get("description", "").strip(), f"{panel['title']}: no description"
        assert panel["targets"], f"{panel['title']}: no query"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == DATASOURCE_UID
            assert target["rawQuery"] is True and target["query"].startswith(("SELECT", "SHOW"))
        unit = panel["fieldConfig"]["defaults"].get("unit")
        override_units = [
            prop["value"]
            for override in panel["fieldConfig"].get("overrides", [])
            for prop in override["properties"]
            if prop["id"] == "unit"
        ]
        assert unit or override_units, f"{panel['title']}: no unit"
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]

    for first_index, first in enumerate(panels):
        for second in panels[first_index + 1 :]:
            assert not _overlap(first["gridPos"], second["gridPos"]), (
                f"{name}: '{first['title']}' overlaps '{second['title']}'"
            )

    for annotation in board.get("annotations", {}).get("list", []):
        uid = annotation["datasource"]["uid"]
        assert uid in GRAFANA_BUILTIN_DATASOURCES | {DATASOURCE_UID}, annotation["name"]


def _overlap(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["x"] + b["w"]
        and b["x"] < a["x"] + a["w"]
        and a["y"] < b["y"] + b["h"]
        and b["y"] < a["y"] + a["h"]
    )


@pytest.mark.parametrize("name", sorted(p.name for p in JSON_DIR.glob("*.json")))
def test_every_variable_in_queries_is_defined(name):
    board = load_dashboards()[name]
    defined = {variable["name"] for variable in board["templating"]["list"]}
    assert {"building", "space"} <= defined, "every dashboard filters by building and space"
    texts = [target["query"] for _, target in all_targets(board)]
    texts += [v.get("query", "") for v in board["templating"]["list"] if v["type"] == "query"]
    texts += [panel.get("timeFrom", "") for panel in board["panels"]]
    for text in texts:
        for match in VARIABLE_REFERENCE.finditer(text):
            used = next(group for group in match.groups() if group)
            assert used in defined | BUILTIN_VARIABLES, f"{name}: ${used} is not defined"
    for _, target in all_targets(board):
        assert "$timeFilter" in target["query"] or "now()" in target["query"], target["query"]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["datasource"]["uid"] == DATASOURCE_UID
            assert variable["multi"] and variable["includeAll"], variable["name"]
    space = next(v for v in board["templating"]["list"] if v["name"] == "space")
    assert "${building:regex}" in space["query"], "the space list follows the building choice"


def test_multi_value_variables_are_matched_as_escaped_regex():
    """Grafana renders multi-value variables as (a|b): only =~ /^...$/ can take that, and the
    :regex format escapes each value, so the '.' of A2.14 is not a wildcard."""
    for name, board in load_dashboards().items():
        for _, target in all_targets(board):
            for variable in ("building", "space"):
                query = target["query"]
                assert f"= ${variable}" not in query.replace("=~", "~~"), name
                assert f"${variable}$" not in query, f"{name}: ${variable} is not escaped"
                if f"${{{variable}:regex}}" in query:
                    assert f'"{variable}" =~ /^${{{variable}:regex}}$/' in query, query


def test_datasource_provisioning_yaml():
    config = yaml.safe_load(DATASOURCE_YAML.read_text())
    assert config["apiVersion"] == 1
    (source,) = config["datasources"]
    assert source["uid"] == DATASOURCE_UID and source["type"] == "influxdb"
    assert source["access"] == "proxy"
    assert source["url"] == "${INFLUX_URL}"
    assert source["jsonData"]["version"] == "InfluxQL"
    assert source["jsonData"]["dbName"] == "${INFLUX_BUCKET}"
    assert source["jsonData"]["httpHeaderName1"] == "Authorization"
    assert source["secureJsonData"]["httpHeaderValue1"] == "Token ${INFLUX_TOKEN}"


def test_dashboard_provider_yaml_points_at_the_mounted_json_folder():
    config = yaml.safe_load(PROVIDER_YAML.read_text())
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["folder"] == "CampusLab"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/campuslab"
    readme = (DASHBOARDS / "README.md").read_text()
    assert "./dashboards/json:/var/lib/grafana/dashboards/campuslab" in readme
    assert "./dashboards/provisioning:/etc/grafana/provisioning" in readme


# -- seeding a real InfluxDB ---------------------------------------------------------------


@dataclass
class Seeded:
    db: str
    campus: Campus
    now: datetime  # the dashboards' "now": yesterday at DASHBOARD_NOW, campus time
    # (sensor, quantity) -> ts (µs), values: every reading behind the rollups (InfluxDB holds
    # the last SEED_DAYS of them)
    readings: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]
    rollups: dict[str, list[RollupRow]]  # measurement -> rows, as compute_rollups made them

    @property
    def space_daily(self) -> list[RollupRow]:
        return self.rollups[SPACE_DAILY]

    @property
    def building_daily(self) -> list[RollupRow]:
        return self.rollups[BUILDING_DAILY]


def _local_midnight(campus: Campus, day: date) -> datetime:
    return datetime.combine(day, time(0), campus.tz).astimezone(UTC)


def _rollups_through_the_analytics(
    store: DuckDBStore, campus: Campus, first_day: date, now: datetime
) -> dict[str, list[RollupRow]]:
    """Every rollup measurement from first_day to now, as the scheduler computes it."""
    today = now.astimezone(campus.tz).date()
    rollups = compute_rollups(store, campus, first_day, today, now).by_measurement()
    assert all(rollups.values()), {m: len(rows) for m, rows in rollups.items()}
    return rollups


def _rollup_lines(encoder: LineProtocolEncoder, rollups: dict[str, list[RollupRow]]) -> list[str]:
    return [line for m, rows in rollups.items() for line in encoder.rollups(m, rows)]


@pytest.fixture(scope="module")
def seeded(influxdb1, campus: Campus, tmp_path_factory) -> Seeded:
    db = f"dashboards_{uuid.uuid4().hex[:8]}"
    influxdb1.create_database(db)
    encoder = LineProtocolEncoder(campus)
    yesterday = datetime.now(campus.tz).date() - timedelta(days=1)
    now = datetime.combine(yesterday, DASHBOARD_NOW, campus.tz).astimezone(UTC)
    store = DuckDBStore(tmp_path_factory.mktemp("dashboards") / "campus.duckdb")
    simulator = CampusSimulator(campus, SimulationConfig(seed=0, interval=READING_INTERVAL))
    live_from_us = to_epoch_us(now - timedelta(days=SEED_DAYS))
    live = ReadingBatch()
    columns: dict[tuple[str, str], tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
    start = now - timedelta(days=ROLLUP_DAYS)
    for batch in simulator.batches(start, now, per=timedelta(hours=12)):
        store.write(batch)
        for row in zip(
            batch.ts_us, batch.building, batch.sensor, batch.quantity, batch.value, strict=True
        ):
            ts, values = columns[(row[2], row[3])]
            ts.append(row[0])
            values.append(float(row[4]))
            if row[0] >= live_from_us:
                live.append(*row)
    # A comfort issue now, after the simulator's last step: a stuffy, overheated seminar room.
    stuffy = ReadingBatch()
    stuffy_us = to_epoch_us(now - timedelta(seconds=20))
    for quantity, value in (("co2", 1500.0), ("temperature", 27.5)):
        stuffy.append(stuffy_us, "rfb", STUFFY_SPACE, quantity, value)
        columns[(STUFFY_SPACE, quantity)][0].append(stuffy_us)
        columns[(STUFFY_SPACE, quantity)][1].append(value)
    store.write(stuffy)
    readings = {key: (np.array(ts), np.array(values)) for key, (ts, values) in columns.items()}

    first_day = start.astimezone(campus.tz).date() + timedelta(days=1)  # the first whole day
    rollups = _rollups_through_the_analytics(store, campus, first_day, now)
    store.close()
    lines = encoder.readings(live) + encoder.readings(stuffy) + _rollup_lines(encoder, rollups)
    lines += encoder.rollups(HEALTH_MEASUREMENT, _device_health_rows(now))
    influxdb1.write_lines(db, lines)
    return Seeded(db, campus, now, readings, rollups)


def _device_health(device: str, sensor: str, seen: datetime, battery: float) -> DeviceHealth:
    building = sensor.split("-")[0]
    us = to_epoch_us(seen)
    return DeviceHealth(device, "milesight-am307", building, sensor, us, us, battery, -97, 7.25)


# (device, sensor): battery an hour before "now" and then just before it
DEVICE_BATTERIES = {("eui-24e124707c000001", "rfb-104"): (91, 88), ("hb-co2", "hb-101"): (64, 63)}


def _device_health_rows(now: datetime) -> list[RollupRow]:
    """What ingest's HealthRecorder writes: one row per device per hour, the newest health."""
    rows = []
    for (device, sensor), (earlier, latest) in DEVICE_BATTERIES.items():
        hour_ago = now - timedelta(hours=1)
        rows += health_rows([_device_health(device, sensor, hour_ago, earlier)], hour_ago)
        rows += health_rows(
            [_device_health(device, sensor, now - timedelta(minutes=3), latest)], now
        )
    return rows


# -- rendering queries the way Grafana does ---------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """Variable values as Grafana renders them into InfluxQL regexes."""

    building: str
    space: str
    buildings: tuple[str, ...]
    spaces: tuple[str, ...]


def escape_regex(value: str) -> str:
    """Grafana's escapeRegex (@grafana/data), which its ``:regex`` format applies to each value."""
    return re.sub(r"[\\^$*+?.()|\[\]{}/]", lambda m: "\\" + m[0], value)


def multi(values: tuple[str, ...]) -> str:
    """A multi-value selection in the ``:regex`` format: one value bare, more as (a|b)."""
    escaped = [escape_regex(v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def selection(campus: Campus, buildings: tuple[str, ...], spaces: tuple[str, ...] | None = None):
    spaces = spaces or tuple(s.id for b, s in campus.spaces() if b.id in buildings)
    return Selection(multi(buildings), multi(spaces), buildings, spaces)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _relative(expression: str, now: datetime, tz) -> datetime:
    """now-24h, now-7d, 30m, 14d, now/d (today so far)."""
    if expression == "now/d":
        local = now.astimezone(tz)
        return datetime.combine(local.date(), time(0), tz).astimezone(UTC)
    match = re.fullmatch(r"(?:now-)?(\d+)([smhdw])", expression)
    assert match, f"time expression {expression!r} not understood by the test"
    return now - timedelta(seconds=int(match[1]) * _UNITS[match[2]])


def time_range(board: dict, panel: dict, now: datetime, tz) -> tuple[datetime, datetime]:
    start = _relative(panel.get("timeFrom") or board["time"]["from"], now, tz)
    return start, now


def render(
    query: str,
    board: dict,
    panel: dict | None,
    chosen: Selection,
    seeded: Seeded,
    interval: str = "1h",
    now: datetime | None = None,
) -> str:
    now = now or seeded.now  # the seeded data's "now", not the wall clock's
    start, end = time_range(board, panel or {}, now, seeded.campus.tz)
    ms = lambda moment: int(moment.timestamp() * 1000)  # noqa: E731
    text = query.replace("$timeFilter", f"time >= {ms(start)}ms and time <= {ms(end)}ms")
    text = text.replace("$__interval", interval)
    values = {"building": chosen.building, "space": chosen.space}
    for variable in board["templating"]["list"]:
        if variable["type"] == "constant":
            values[variable["name"]] = variable["query"]
    for name in sorted(values, key=len, reverse=True):
        text = text.replace(f"${{{name}:regex}}", values[name])
        text = text.replace(f"${{{name}}}", values[name]).replace(f"${name}", values[name])
    assert not re.search(r"\$\{|\$\w", text), f"a variable is left: {text}"
    return text


def run(influxdb1, seeded: Seeded, query: str) -> list[dict]:
    answer = influxdb1.query(query, seeded.db)
    (result,) = answer["results"]
    assert "error" not in result, f"{result.get('error')}\n{query}"
    return result.get("series", [])


def columns_of(series: list[dict]) -> set[str]:
    names = set()
    for one in series:
        names |= set(one["columns"]) | set(one.get("tags", {}))
    return names


def run_panel(
    influxdb1,
    seeded: Seeded,
    board: dict,
    title: str,
    chosen: Selection,
    interval: str = "1h",
    now: datetime | None = None,
) -> dict[str, list[dict]]:
    panel = next(p for p in board["panels"] if p["title"] == title)
    return {
        target["refId"]: run(
            influxdb1,
            seeded,
            render(target["query"], board, panel, chosen, seeded, interval, now),
        )
        for target in panel["targets"]
    }


def rows(series: list[dict]) -> list[dict]:
    """Series -> one dict per row, tags included (what Grafana's table shows)."""
    out = []
    for one in series:
        for values in one["values"]:
            out.append({**one.get("tags", {}), **dict(zip(one["columns"], values, strict=True))})
    return out


def board_named(uid: str) -> dict:
    return next(b for b in load_dashboards().values() if b["uid"] == uid)


# -- every query runs --------------------------------------------------------------------------


@pytest.mark.servers
@pytest.mark.parametrize("buildings", [("rfb", "hb"), ("elb", "hb", "lsb", "rfb")])
def test_every_panel_query_runs_and_returns_what_the_panel_expects(
    influxdb1, seeded: Seeded, buildings
):
    """Two selections: two buildings, and "All" (Grafana sends every value)."""
    chosen = selection(seeded.campus, buildings)
    for board in load_dashboards().values():
        for panel in board["panels"]:
            found: set[str] = set()
            for target in panel["targets"]:
                query = render(target["query"], board, panel, chosen, seeded)
                series = run(influxdb1, seeded, query)
                where = f"{board['uid']} / {panel['title']} / {target['refId']}"
                assert series, f"{where}: no data\n{query}"
                for tag in TAG_ALIAS.findall(target.get("alias", "")):
                    assert all(tag in one.get("tags", {}) for one in series), where
                for tag in ("building", "space"):
                    for row in rows(series):
                        if tag in row and tag == "building":
                            assert row[tag] in chosen.buildings, where
                        elif tag in row:
                            assert row[tag] in chosen.spaces, where
                found |= columns_of(series)
            _assert_panel_fields_exist(panel, found)


def _assert_panel_fields_exist(panel: dict, found: set[str]) -> None:
    """Fields that overrides and transformations refer to by name come back from the queries."""
    produced = set(found) | {"Time"}
    for step in panel.get("transformations", []):
        options = step["options"]
        if step["id"] == "calculateField":
            assert {options["binary"]["left"], options["binary"]["right"]} <= produced
            produced.add(options["alias"])
        elif step["id"] == "joinByField":
            assert options["byField"] in found
        elif step["id"] == "filterFieldsByName":
            assert set(options["include"]["names"]) <= produced, panel["title"]
        elif step["id"] == "organize":
            assert set(options.get("excludeByName", {})) <= produced
            assert set(options.get("renameByName", {})) <= produced, panel["title"]
            produced |= set(options.get("renameByName", {}).values())
        elif step["id"] == "groupingToMatrix":
            keys = options["rowField"], options["columnField"], options["valueField"]
            assert set(keys) <= found, panel["title"]
            produced.add(f"{options['rowField']}\\{options['columnField']}")
    for target in panel["targets"]:
        alias = target.get("alias", "")
        if "$col" in alias:
            produced |= {alias.replace("$col", name) for name in found}
    for override in panel["fieldConfig"].get("overrides", []):
        name = override["matcher"]["options"]
        assert name in produced, f"{panel['title']}: override for '{name}' matches no field"


@pytest.mark.servers
def test_devices_table_shows_each_devices_newest_health(influxdb1, seeded):
    board = board_named("campuslab-overview")
    chosen = selection(seeded.campus, ("rfb", "hb"))
    (series,) = run_panel(
        influxdb1, seeded, board, "Devices: last seen, battery and signal", chosen
    ).values()
    got = {row["device"]: row for row in rows(series)}
    assert set(got) == {device for device, _ in DEVICE_BATTERIES}
    for (device, sensor), (_, latest) in DEVICE_BATTERIES.items():
        assert got[device]["battery"] == latest and got[device]["sensor"] == sensor
        last_seen_ms = (seeded.now - timedelta(minutes=3)).timestamp() * 1000
        assert got[device]["last seen"] == pytest.approx(last_seen_ms)
        assert (got[device]["rssi"], got[device]["snr"]) == (-97, 7.25)
    only_hb = selection(seeded.campus, ("hb",))
    (series,) = run_panel(
        influxdb1, seeded, board, "Devices: last seen, battery and signal", only_hb
    ).values()
    assert [row["device"] for row in rows(series)] == ["hb-co2"]


@pytest.mark.servers
def test_template_variable_queries_list_the_seeded_buildings_and_spaces(influxdb1, seeded):
    campus = seeded.campus
    chosen = selection(campus, ("rfb", "hb"))
    for board in load_dashboards().values():
        variables = {v["name"]: v for v in board["templating"]["list"]}
        buildings = rows(run(influxdb1, seeded, variables["building"]["query"]))
        assert {row["value"] for row in buildings} == {b.id for b in campus.buildings}
        query = render(variables["space"]["query"], board, None, chosen, seeded)
        spaces = {row["value"] for row in rows(run(influxdb1, seeded, query))}
        assert spaces == {s.id for b, s in campus.spaces() if b.id in ("rfb", "hb")}


# -- key panels give the right numbers ------------------------------------------------------------


@pytest.mark.servers
def test_co2_panel_mean_equals_the_mean_of_the_seeded_readings(influxdb1, seeded):
    board = board_named("campuslab-climate")
    chosen = selection(seeded.campus, ("rfb",), ("rfb-101", "rfb-205"))
    (series,) = run_panel(influxdb1, seeded, board, "CO₂", chosen).values()
    assert {one["tags"]["space"] for one in series} == {"rfb-101", "rfb-205"}
    by_space = {one["tags"]["space"]: one["values"] for one in series}
    ts, values = seeded.readings[("rfb-101", "co2")]
    checked = 0
    for bucket_us, mean in by_space["rfb-101"][1:]:  # the first hour is cut by the range
        in_bucket = (ts >= bucket_us) & (ts < bucket_us + 3_600_000_000)
        if in_bucket.sum() == HOUR_US // (READING_INTERVAL // timedelta(microseconds=1)):
            assert mean == pytest.approx(values[in_bucket].mean(), rel=1e-9)
            checked += 1
    assert checked >= 20


@pytest.mark.servers
def test_people_now_is_the_sum_of_each_spaces_latest_count(influxdb1, seeded):
    board = board_named("campuslab-overview")
    chosen = selection(seeded.campus, ("rfb", "hb"))
    (series,) = run_panel(influxdb1, seeded, board, "People now, by building", chosen).values()
    got = {one["tags"]["building"]: one["values"][0][1] for one in series}
    for building in ("rfb", "hb"):
        expected = sum(
            seeded.readings[(s.id, "occupancy")][1][-1]
            for b, s in seeded.campus.spaces()
            if b.id == building
        )
        assert got[building] == pytest.approx(expected)


@pytest.mark.servers
def test_energy_today_is_the_sum_of_register_steps_since_local_midnight(influxdb1, seeded):
    board = board_named("campuslab-overview")
    chosen = selection(seeded.campus, ("rfb", "hb"))
    results = run_panel(influxdb1, seeded, board, "Energy today", chosen)
    midnight_us = to_epoch_us(_relative("now/d", seeded.now, seeded.campus.tz))
    for ref, quantity, meter_suffix in (("A", "energy", "el"), ("B", "heat_energy", "heat")):
        got = {one["tags"]["building"]: one["values"][0][1] for one in results[ref]}
        for building in ("rfb", "hb"):
            ts, values = seeded.readings[(f"{building}-{meter_suffix}", quantity)]
            today = values[ts >= midnight_us]
            steps = np.diff(today)
            assert today.size >= 2, "DASHBOARD_NOW must leave register steps since midnight"
            assert got[building] == pytest.approx(steps[steps > 0].sum())


@pytest.mark.servers
def test_live_occupancy_capacity_is_the_registry_capacity(influxdb1, seeded):
    board = board_named("campuslab-overview")
    chosen = selection(seeded.campus, ("rfb", "lsb"))
    results = run_panel(influxdb1, seeded, board, "Live occupancy vs capacity", chosen)
    capacity = {row["space"]: row["capacity"] for row in rows(results["B"])}
    expected = {s.id: s.capacity for b, s in seeded.campus.spaces() if b.id in ("rfb", "lsb")}
    assert capacity == expected
    people = {row["space"]: row["people"] for row in rows(results["A"])}
    assert set(people) == set(expected)


@pytest.mark.servers
def test_comfort_issues_table_lists_the_stuffy_room(influxdb1, seeded):
    board = board_named("campuslab-overview")
    chosen = selection(seeded.campus, ("rfb", "hb"))
    results = run_panel(influxdb1, seeded, board, "Open comfort issues", chosen)
    co2 = {row["space"]: row["co2"] for row in rows(results["A"])}
    temperature = {row["space"]: row["temperature"] for row in rows(results["B"])}
    assert co2[STUFFY_SPACE] == 1500 and temperature[STUFFY_SPACE] == 27.5
    assert all(value > 1000 for value in co2.values())
    assert all(not 20 <= value <= 24 for value in temperature.values())


@pytest.mark.servers
def test_busiest_spaces_are_the_top_ten_by_last_hour_mean(influxdb1, seeded):
    board = board_named("campuslab-overview")
    chosen = selection(seeded.campus, ("rfb", "hb", "lsb", "elb"))
    now = seeded.now
    title = "Busiest spaces (last hour)"
    (series,) = run_panel(influxdb1, seeded, board, title, chosen, now=now).values()
    got = sorted((row["people"] for row in rows(series)), reverse=True)
    hour_ago = int((now - timedelta(hours=1)).timestamp() * 1000) * 1000  # Grafana sends ms
    means = []
    for _, space in seeded.campus.spaces():
        ts, values = seeded.readings[(space.id, "occupancy")]
        means.append(values[ts >= hour_ago].mean())
    assert got == pytest.approx(sorted(means, reverse=True)[:10])


@pytest.mark.servers
def test_pooled_utilisation_per_space_follows_the_smg_definitions(influxdb1, seeded):
    board = board_named("campuslab-utilisation")
    chosen = selection(seeded.campus, ("rfb",), ("rfb-101", "rfb-104"))
    (series,) = run_panel(
        influxdb1, seeded, board, "Utilisation by space (pooled over the time range)", chosen
    ).values()
    got = {row["space"]: row for row in rows(series)}
    start = seeded.now - timedelta(days=30)  # the query's range: render() uses seeded.now
    for space_id in ("rfb-101", "rfb-104"):
        capacity = seeded.campus.space(space_id).capacity
        days = [
            r.fields for r in seeded.space_daily if r.tags["space"] == space_id and r.ts >= start
        ]
        used = sum(d["used_seat_hours"] for d in days)
        available = sum(d["available_hours"] for d in days)
        in_use = sum(d["in_use_hours"] for d in days)
        row = got[space_id]
        assert row["utilisation"] == pytest.approx(used / (capacity * available))
        assert row["frequency_rate"] == pytest.approx(in_use / available)
        assert row["occupancy_rate"] == pytest.approx(used / (capacity * in_use))
        assert row["used_seat_hours"] == pytest.approx(used)


@pytest.mark.servers
def test_co2_category_hours_add_up_per_local_day(influxdb1, seeded):
    board = board_named("campuslab-climate")
    chosen = selection(seeded.campus, ("hb",))
    (series,) = run_panel(
        influxdb1, seeded, board, "Occupied hours by CO₂ category (daily)", chosen
    ).values()
    assert len(series) == 1, "summed over the spaces"
    got = {row["time"]: row for row in rows(series)}
    start = seeded.now - timedelta(days=14)
    expected: dict[int, float] = defaultdict(float)
    for row in seeded.space_daily:
        if row.tags["building"] == "hb" and row.ts >= start:
            expected[to_epoch_us(row.ts)] += row.fields["co2_cat_iii_hours"]
    assert {ts: got[ts]["III"] for ts in got} == pytest.approx(dict(expected))
    midnights = {to_epoch_us(r.ts) for r in seeded.space_daily}
    assert set(got) <= midnights, "days stay on local midnight"


# -- the weekday × hour utilisation profile and the weekend base load ----------------------

PROFILE = "Utilisation by weekday and hour (local time)"
WEEKEND_BASE = "Weekend base load"


def _cells(series: list[dict]) -> dict[tuple[str, str], float]:
    return {(row["weekday"], row["hour"]): row["utilisation"] for row in rows(series)}


def _profile_by_hand(seeded: Seeded, spaces: list, start: datetime, end: datetime) -> dict:
    """Σ hourly mean count ÷ Σ capacity per (local weekday, local hour), over the UTC hours
    starting in [start, end] that have occupancy readings, from the raw readings."""
    used: dict[tuple[str, str], float] = defaultdict(float)
    available: dict[tuple[str, str], float] = defaultdict(float)
    for space in spaces:
        ts, values = seeded.readings[(space.id, "occupancy")]
        hours, index = np.unique(ts // HOUR_US, return_inverse=True)
        means = np.bincount(index, weights=values) / np.bincount(index)
        for hour, mean in zip(hours.tolist(), means.tolist(), strict=True):
            hour_start = datetime.fromtimestamp(hour * 3600, UTC)
            if not start <= hour_start <= end:
                continue
            local = hour_start.astimezone(seeded.campus.tz)  # zoneinfo: DST-correct
            cell = (WEEKDAYS[local.weekday()], f"{local.hour:02d}")
            used[cell] += mean
            available[cell] += space.capacity
    return {cell: used[cell] / available[cell] for cell in used}


def _weekend_base_by_hand(seeded: Seeded, meter: str, day: date) -> float:
    """2.5th percentile of the local day's hourly kW; each hour's kW from the register's
    readings in [hour start, hour end]: positive steps ÷ elapsed hours."""
    ts, values = seeded.readings[(meter, "energy")]
    start = _local_midnight(seeded.campus, day)
    end = min(_local_midnight(seeded.campus, day + timedelta(days=1)), seeded.now)
    demand, hour = [], start
    while hour < end:
        hour_end = min(hour + timedelta(hours=1), end)
        inside = (ts >= to_epoch_us(hour)) & (ts <= to_epoch_us(hour_end))
        steps, span = np.diff(values[inside]), np.ptp(ts[inside]) / HOUR_US
        demand.append(steps[steps > 0].sum() / span)
        hour = hour_end
    return float(np.percentile(demand, NEAR_BASE_PERCENTILE))


@pytest.mark.servers
def test_weekday_hour_profile_is_pooled_seat_hours_by_local_weekday_and_hour(influxdb1, seeded):
    """The 7 × 24 grid over the last 30 days for two buildings: every cell is the selected
    spaces' used ÷ available seat-hours of the hours that start on that local weekday and
    hour, worked out here from the raw readings with zoneinfo. The series come back in the
    order Grafana's "Grouping to matrix" turns into rows Mon..Sun and columns 00..23."""
    board = board_named("campuslab-utilisation")
    chosen = selection(seeded.campus, ("lsb", "elb"))
    (series,) = run_panel(influxdb1, seeded, board, PROFILE, chosen).values()
    got = _cells(series)
    assert len(got) == 7 * 24
    assert list(dict.fromkeys(row["weekday"] for row in rows(series))) == list(WEEKDAYS)
    assert list(dict.fromkeys(row["hour"] for row in rows(series))) == [
        f"{h:02d}" for h in range(24)
    ]

    spaces = [space for b, space in seeded.campus.spaces() if b.id in chosen.buildings]
    expected = _profile_by_hand(seeded, spaces, seeded.now - timedelta(days=30), seeded.now)
    assert got == pytest.approx(expected, rel=1e-9)
    # two cells spelled out: a core hour and a night on the weekend
    assert got[("3-Wed", "10")] == pytest.approx(expected[("3-Wed", "10")], rel=1e-9)
    assert got[("3-Wed", "10")] > 0.05, "the simulated campus is in use on Wednesday mornings"
    assert got[("7-Sun", "03")] == pytest.approx(expected[("7-Sun", "03")], rel=1e-9)
    assert got[("7-Sun", "03")] < got[("3-Wed", "10")]


@pytest.mark.servers
def test_weekday_hour_profile_pools_to_the_daily_utilisation(influxdb1, seeded):
    """One space over the weekdays' core-hour cells: Σ used ÷ Σ available of space_weekhour
    equals Σ(utilisation × available_hours) ÷ Σ available_hours of its space_daily rows
    over the same whole days (both are SMG seat-hours; no percentages averaged)."""
    space_id = "rfb-101"
    capacity = seeded.campus.space(space_id).capacity
    daily = [r for r in seeded.space_daily if r.tags["space"] == space_id]
    days = [r for r in daily if r.fields.get("available_hours")][-10:]
    first, last = days[0].ts, days[-1].ts + timedelta(days=1)
    used = sum(r.fields["used_seat_hours"] for r in days)
    available_hours = sum(r.fields["available_hours"] for r in days)
    query = (
        'SELECT sum("used_seat_hours") AS "used", sum("available_seat_hours") AS "available" '
        f'FROM "{SPACE_WEEKHOUR}" WHERE time >= {to_epoch_us(first)}u '
        f"AND time < {to_epoch_us(last)}u AND \"space\" = '{space_id}' "
        'AND "weekday" =~ /^[1-5]-/ AND "hour" =~ /^(0[89]|1[0-5])$/'
    )
    [row] = rows(run(influxdb1, seeded, query))
    assert row["available"] == pytest.approx(capacity * available_hours)
    assert row["used"] == pytest.approx(used)


@pytest.mark.servers
def test_weekend_base_load_is_the_near_base_of_each_weekend_day(influxdb1, seeded):
    """One bar per Saturday and Sunday in the last 30 days, at local midnight, equal to the
    2.5th percentile of the day's hourly demand worked out from lsb-el's readings; no
    weekday has one."""
    board = board_named("campuslab-energy")
    chosen = selection(seeded.campus, ("lsb",))
    (series,) = run_panel(influxdb1, seeded, board, WEEKEND_BASE, chosen).values()
    got = dict(series[0]["values"])
    tz, start = seeded.campus.tz, seeded.now - timedelta(days=30)
    days = [start.astimezone(tz).date() + timedelta(days=i) for i in range(32)]
    weekend = [
        day
        for day in days
        if day.weekday() >= 5 and start <= _local_midnight(seeded.campus, day) <= seeded.now
    ]
    assert len(weekend) >= 8
    expected = {
        to_epoch_us(_local_midnight(seeded.campus, day)): _weekend_base_by_hand(
            seeded, "lsb-el", day
        )
        for day in weekend
    }
    assert got == pytest.approx(expected, rel=1e-9)
    night = {
        to_epoch_us(r.ts): r.fields["night_base_kw"]
        for r in seeded.building_daily
        if r.tags["building"] == "lsb"
    }
    for ts, kw in got.items():
        assert 0 < kw <= night[ts] * 1.5, "a base load, not a day's mean"
    weekdays = [r for r in seeded.building_daily if r.ts.astimezone(tz).weekday() < 5]
    assert weekdays and not any("weekend_base_kw" in r.fields for r in weekdays)


# -- a fortnight around the spring DST change, worked out by hand ---------------------------

DST_CAMPUS = parse_campus("""
site: {id: dstsite, name: DST campus, timezone: Europe/Oslo}
buildings:
  - id: lab
    name: Lab building
    heated_area_m2: 5000
    meters:
      - {id: lab-el, quantity: energy}
    spaces:
      - {id: room-40, name: Seminar 40, floor: 1, type: seminar_room, capacity: 40, area_m2: 80}
""")
DST_FIRST, DST_LAST = date(2026, 3, 21), date(2026, 3, 30)  # Saturday .. Monday; 29th: 23 h
DST_NOW = datetime(2026, 3, 31, 12, tzinfo=DST_CAMPUS.tz).astimezone(UTC)


@pytest.fixture(scope="module")
def dst_seeded(influxdb1, tmp_path_factory) -> Seeded:
    """Saturday 21 to Monday 30 March 2026 in Oslo, readings every 15 minutes:

    - room-40 (40 seats) counts as many people as the UTC hour (0..23), so a local hour
      shows which UTC hour it is: CET (UTC+1) up to 02:00 on Sunday 29th, CEST after;
    - lab-el draws 10 kW, except on weekend days 6 kW from 03:00 to 04:00 and 7 kW from
      04:00 to 05:00 local.

    Rollups through ``compute_rollups`` into a database of its own, queried at DST_NOW."""
    campus = DST_CAMPUS
    db = f"dashboards_dst_{uuid.uuid4().hex[:8]}"
    influxdb1.create_database(db)
    store = DuckDBStore(tmp_path_factory.mktemp("dashboards_dst") / "campus.duckdb")
    batch = ReadingBatch()
    moment = _local_midnight(campus, DST_FIRST)
    end = _local_midnight(campus, DST_LAST + timedelta(days=1))
    register = 1000.0
    while moment <= end:
        us = to_epoch_us(moment)
        batch.append(us, "lab", "room-40", "occupancy", float(moment.hour))
        batch.append(us, "lab", "lab-el", "energy", register)
        wall = moment.astimezone(campus.tz)
        kw = {3: 6.0, 4: 7.0}.get(wall.hour, 10.0) if wall.weekday() >= 5 else 10.0
        moment, register = moment + READING_INTERVAL, register + kw * 0.25
    store.write(batch)
    rollups = _rollups_through_the_analytics(store, campus, DST_FIRST, DST_NOW)
    store.close()
    influxdb1.write_lines(db, _rollup_lines(LineProtocolEncoder(campus), rollups))
    return Seeded(db, campus, DST_NOW, {}, rollups)  # no raw readings in its database


@pytest.mark.servers
def test_weekday_hour_profile_follows_the_dst_change(influxdb1, dst_seeded):
    """Sunday 14:00 local is 13:00 UTC on the 22nd (CET) but 12:00 UTC on the 29th (CEST):
    (13 + 12) ÷ (2 × 40) = 0.3125. Sunday 02:00 exists only on the 22nd (01:00 UTC):
    1 ÷ 40. Sunday 03:00 is 02:00 UTC, then 01:00 UTC: 3 ÷ 80. Saturdays are both CET:
    14:00 is 13:00 UTC twice, 26 ÷ 80. Monday 14:00: the 23rd CET, the 30th CEST, 25 ÷ 80."""
    board = board_named("campuslab-utilisation")
    chosen = Selection("(lab)", "(room-40)", ("lab",), ("room-40",))
    (series,) = run_panel(influxdb1, dst_seeded, board, PROFILE, chosen).values()
    got = _cells(series)
    assert len(got) == 7 * 24
    assert got[("7-Sun", "14")] == pytest.approx(25 / 80)
    assert got[("7-Sun", "02")] == pytest.approx(1 / 40)
    assert got[("7-Sun", "03")] == pytest.approx(3 / 80)
    assert got[("6-Sat", "14")] == pytest.approx(26 / 80)
    assert got[("1-Mon", "14")] == pytest.approx(25 / 80)
    assert got[("3-Wed", "09")] == pytest.approx(8 / 40)  # the 25th only, CET
    expected: dict[tuple[str, str], list[float]] = defaultdict(list)
    hour = _local_midnight(DST_CAMPUS, DST_FIRST)
    while hour <= _local_midnight(DST_CAMPUS, DST_LAST + timedelta(days=1)):  # its last reading
        local = hour.astimezone(DST_CAMPUS.tz)
        expected[(WEEKDAYS[local.weekday()], f"{local.hour:02d}")].append(hour.hour / 40)
        hour += timedelta(hours=1)
    assert got == pytest.approx({cell: sum(v) / len(v) for cell, v in expected.items()})


@pytest.mark.servers
def test_weekend_base_load_on_a_dst_weekend(influxdb1, dst_seeded):
    """The 2.5th percentile of a day's hourly kW (numpy's linear interpolation): Saturdays
    and the 22nd have 24 hours (6, 7, 22 × 10 kW): 6 + 0.025 × 23 × (7 − 6) = 6.575 kW;
    Sunday 29th has 23 (6, 7, 21 × 10 kW): 6 + 0.025 × 22 = 6.55 kW. The weekdays, at
    10 kW, have no bar (a daily mean ÷ 24 h would have given every day about 10 kW)."""
    board = board_named("campuslab-energy")
    chosen = Selection("(lab)", "(room-40)", ("lab",), ("room-40",))
    (series,) = run_panel(influxdb1, dst_seeded, board, WEEKEND_BASE, chosen).values()
    got = {
        datetime.fromtimestamp(ts / 1e6, UTC).astimezone(DST_CAMPUS.tz).date(): kw
        for ts, kw in series[0]["values"]
    }
    assert got == pytest.approx(
        {
            date(2026, 3, 21): 6.575,
            date(2026, 3, 22): 6.575,
            date(2026, 3, 28): 6.575,
            date(2026, 3, 29): 6.55,
        },
        abs=1e-9,
    )
    days = [r.ts.astimezone(DST_CAMPUS.tz).date() for r in dst_seeded.building_daily]
    assert days == [DST_FIRST + timedelta(days=i) for i in range(10)]


# -- the campus's own codes: a '.' in an id is not a wildcard ----------------------------------

CAMPUS_CODES = Path(__file__).parent / "data" / "campus_codes.yaml"


@pytest.fixture(scope="module")
def codes_seeded(influxdb1) -> Seeded:
    """Two hours of CO₂ for A2.14 (600s), A2x14 (900s) and HB-101 (450), and EL5 occupancy."""
    from campuslab.core.registry import load_campus

    campus = load_campus(CAMPUS_CODES)
    db = f"codes_{uuid.uuid4().hex[:8]}"
    influxdb1.create_database(db)
    now = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    batch = ReadingBatch()
    for minute in range(0, 120, 15):
        ts = to_epoch_us(now - timedelta(minutes=minute))
        batch.append(ts, "HB", "A2.14", "co2", 600.0)
        batch.append(ts, "HB", "A2x14", "co2", 900.0)
        batch.append(ts, "HB", "HB-101", "co2", 450.0)
        for sensor in ("A2.14", "A2x14", "HB-101"):
            batch.append(ts, "HB", sensor, "occupancy", 3.0)
        batch.append(ts, "EL", "EL5", "occupancy", 50.0)
    influxdb1.write_lines(db, LineProtocolEncoder(campus).readings(batch))
    return Seeded(db, campus, now, {}, {})


@pytest.mark.servers
def test_a_dotted_space_code_selects_that_room_only(influxdb1, codes_seeded):
    board = board_named("campuslab-climate")
    only = selection(codes_seeded.campus, ("HB",), ("A2.14",))
    assert only.space == "A2\\.14"
    (series,) = run_panel(influxdb1, codes_seeded, board, "CO₂", only).values()
    assert [one["tags"]["space"] for one in series] == ["A2.14"]
    assert {v for one in series for _, v in one["values"]} == {600.0}
    # the space list of building HB carries the codes unchanged
    variables = {v["name"]: v for v in board["templating"]["list"]}
    query = render(variables["space"]["query"], board, None, only, codes_seeded)
    assert {row["value"] for row in rows(run(influxdb1, codes_seeded, query))} == {
        "A2.14",
        "A2x14",
        "HB-101",
    }
    # what the unescaped /^$space$/ did: A2.14 also matched A2x14
    panel = next(p for p in board["panels"] if p["title"] == "CO₂")
    old = panel["targets"][0]["query"].replace("${space:regex}", "A2.14")
    unescaped = render(old, board, panel, only, codes_seeded)
    assert {one["tags"]["space"] for one in run(influxdb1, codes_seeded, unescaped)} == {
        "A2.14",
        "A2x14",
    }


@pytest.mark.servers
def test_an_upper_case_building_code_selects_that_building_only(influxdb1, codes_seeded):
    board = board_named("campuslab-overview")
    chosen = selection(codes_seeded.campus, ("EL",))
    (series,) = run_panel(
        influxdb1, codes_seeded, board, "People now, by building", chosen
    ).values()
    assert {one["tags"]["building"]: one["values"][0][1] for one in series} == {"EL": 50.0}
