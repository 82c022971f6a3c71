"""The Grafana dashboards as code: structure, and every panel query against a real InfluxDB.

Grafana cannot run on this machine, so the dashboards are checked in two ways:

- structurally (valid JSON, unique uids and panel ids, no overlapping panels,
  every panel on the provisioned data source, every ``$variable`` defined, the
  provisioning YAML pointing at the right uid and paths);
- by running **every query of every panel and every template variable** against
  the real InfluxDB 1.6.7 (fixture ``influxdb1``), seeded with simulator readings
  of the two days before the dashboards' "now" and with rollup rows, after
  substituting the template variables the way Grafana's InfluxQL data source does
  (``$timeFilter`` as ``time >= <ms>ms and time <= <ms>ms`` over the dashboard's
  or the panel's range, multi-value variables as ``(a|b)``). Key panels are
  checked for values, computed independently here from the seeded data.

The dashboards' "now" is not the wall clock but yesterday at ``DASHBOARD_NOW``
campus time (``Seeded.now``), for every query and every expectation: run just
after local midnight, "today so far" (``now/d``) would hold no readings, and the
module would see the day change between seeding and querying.
"""

from __future__ import annotations

import json
import math
import random
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml

from campuslab.core.readings import to_epoch_us
from campuslab.core.registry import Campus
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
SEED_DAYS = 2
DASHBOARD_NOW = time(14, 27, 30)  # yesterday's, campus time: hours after midnight, off the grid
ROLLUP_DAYS = 35
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
    assert "$building" in space["query"], "the space list follows the building choice"


def test_multi_value_variables_are_matched_as_regex():
    """Grafana renders multi-value variables as (a|b): only =~ /^$var$/ can take that."""
    for name, board in load_dashboards().items():
        for _, target in all_targets(board):
            for variable in ("building", "space"):
                assert f"= ${variable}" not in target["query"].replace("=~", "~~"), name
                if f"${variable}" in target["query"]:
                    assert f'"{variable}" =~ /^${variable}$/' in target["query"], target["query"]


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
    readings: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]  # (sensor, quantity) -> ts, v
    space_daily: list[RollupRow]
    building_daily: list[RollupRow]


def _local_midnight(campus: Campus, day: date) -> datetime:
    return datetime.combine(day, time(0), campus.tz).astimezone(UTC)


def _space_hourly_rows(campus: Campus, readings, encoder) -> list[RollupRow]:
    """Hourly means and maxima per space, computed from the seeded readings."""
    hourly: dict[tuple[str, int], dict[str, float]] = defaultdict(dict)
    fields = {
        "occupancy": ("occupancy_mean", "occupancy_max"),
        "co2": ("co2_mean", "co2_max"),
        "temperature": ("temperature_mean", None),
        "humidity": ("humidity_mean", None),
    }
    for (sensor, quantity), (ts, values) in readings.items():
        if quantity not in fields or campus.space(sensor) is None:
            continue
        hours = ts // 3_600_000_000
        mean_name, max_name = fields[quantity]
        for hour in np.unique(hours):
            in_hour = values[hours == hour]
            hourly[(sensor, int(hour))][mean_name] = float(in_hour.mean())
            if max_name:
                hourly[(sensor, int(hour))][max_name] = float(in_hour.max())
    rows = []
    for (sensor, hour), row_fields in sorted(hourly.items()):
        building = campus.building_of(sensor).id
        rows.append(
            RollupRow(
                datetime.fromtimestamp(hour * 3600, UTC),
                encoder.sensor_tags(building, sensor),
                row_fields,
            )
        )
    return rows


def _space_daily_rows(campus: Campus, today: date, encoder) -> list[RollupRow]:
    """Plausible, self-consistent daily KPIs (SMG definitions) for every space."""
    rng = random.Random(7)
    rows = []
    for building, space in campus.spaces():
        tags = encoder.sensor_tags(building.id, space.id)
        for back in range(ROLLUP_DAYS):
            day = today - timedelta(days=back)
            if day.weekday() >= 5:  # no core hours: counts only, rates left out (NaN)
                fields = {"available_hours": 0.0, "in_use_hours": 0.0, "used_seat_hours": 0.0}
                fields |= {f"co2_cat_{c}_hours": 0.0 for c in ("i", "ii", "iii", "iv")}
                fields |= {"co2_above_1000_hours": 0.0, "occupied_hours": 0.0}
                fields |= {"hours_without_data": 0.0, "frequency_rate": math.nan}
            else:
                counts = [rng.choice([0, 0, rng.randint(1, space.capacity)]) for _ in range(8)]
                in_use = [n for n in counts if n >= 1]
                used = float(sum(counts))
                occupied = len(in_use)
                cat = [rng.randint(0, occupied) for _ in range(3)]
                i_hours = max(occupied - sum(cat), 0)
                categories = [i_hours, *cat] if sum(cat) <= occupied else [occupied, 0, 0, 0]
                ratios = sorted(n / space.capacity for n in counts)
                fields = {
                    "frequency_rate": occupied / 8,
                    "occupancy_rate": used / (space.capacity * occupied) if occupied else 0.0,
                    "utilisation": used / (space.capacity * 8),
                    "peak_occupancy": max(ratios),
                    "p95_occupancy": ratios[-1],
                    "used_seat_hours": used,
                    "available_hours": 8.0,
                    "in_use_hours": float(occupied),
                    "hours_without_data": 0.0,
                    "co2_cat_i_hours": float(categories[0]),
                    "co2_cat_ii_hours": float(categories[1]),
                    "co2_cat_iii_hours": float(categories[2]),
                    "co2_cat_iv_hours": float(categories[3]),
                    "co2_above_1000_hours": float(categories[2] + categories[3]),
                    "occupied_hours": float(occupied),
                }
            rows.append(RollupRow(_local_midnight(campus, day), tags, fields))
    return rows


def _building_daily_rows(campus: Campus, today: date) -> list[RollupRow]:
    rng = random.Random(11)
    rows = []
    for building in campus.buildings:
        area = building.heated_area_m2
        for back in range(ROLLUP_DAYS):
            day = today - timedelta(days=back)
            weekend = day.weekday() >= 5
            night_kw = area * 0.004 * rng.uniform(0.9, 1.1)
            electricity = night_kw * 24 + (0 if weekend else area * 0.05 * rng.uniform(0.8, 1.2))
            heat = area * rng.uniform(0.05, 0.12)
            rows.append(
                RollupRow(
                    _local_midnight(campus, day),
                    {"site": campus.site.id, "building": building.id},
                    {
                        "electricity_kwh": electricity,
                        "heat_kwh": heat,
                        "electricity_kwh_per_m2": electricity / area,
                        "heat_kwh_per_m2": heat / area,
                        "total_kwh_per_m2": (electricity + heat) / area,
                        "night_base_kw": night_kw,
                        "electricity_resets": 1.0 if back == 3 else 0.0,
                        "heat_resets": 0.0,
                    },
                )
            )
    return rows


@pytest.fixture(scope="module")
def seeded(influxdb1, campus: Campus) -> Seeded:
    db = f"dashboards_{uuid.uuid4().hex[:8]}"
    influxdb1.create_database(db)
    encoder = LineProtocolEncoder(campus)
    yesterday = datetime.now(campus.tz).date() - timedelta(days=1)
    now = datetime.combine(yesterday, DASHBOARD_NOW, campus.tz).astimezone(UTC)
    simulator = CampusSimulator(campus, SimulationConfig(seed=0, interval=timedelta(minutes=5)))
    lines: list[str] = []
    columns: dict[tuple[str, str], tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
    for batch in simulator.batches(now - timedelta(days=SEED_DAYS), now):
        lines += encoder.readings(batch)
        for reading in batch:
            ts, values = columns[(reading.sensor, reading.quantity)]
            ts.append(reading.ts_us)
            values.append(float(reading.value))
    # A comfort issue now, after the simulator's last step: a stuffy, overheated seminar room.
    stuffy_tags = encoder.sensor_tags("rfb", STUFFY_SPACE)
    stuffy_us = to_epoch_us(now - timedelta(seconds=20))
    for quantity, value in (("co2", 1500.0), ("temperature", 27.5)):
        tags = ",".join(f"{k}={v}" for k, v in sorted(stuffy_tags.items()))
        lines.append(f"{quantity},{tags} value={value} {stuffy_us}")
        columns[(STUFFY_SPACE, quantity)][0].append(stuffy_us)
        columns[(STUFFY_SPACE, quantity)][1].append(value)
    readings = {key: (np.array(ts), np.array(values)) for key, (ts, values) in columns.items()}

    today = now.astimezone(campus.tz).date()
    space_daily = _space_daily_rows(campus, today, encoder)
    building_daily = _building_daily_rows(campus, today)
    lines += encoder.rollups("space_hourly", _space_hourly_rows(campus, readings, encoder))
    lines += encoder.rollups("space_daily", space_daily)
    lines += encoder.rollups("building_daily", building_daily)
    influxdb1.write_lines(db, lines)
    return Seeded(db, campus, now, readings, space_daily, building_daily)


# -- rendering queries the way Grafana does ---------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """Variable values as Grafana renders them into InfluxQL regexes."""

    building: str
    space: str
    buildings: tuple[str, ...]
    spaces: tuple[str, ...]


def multi(values: tuple[str, ...]) -> str:
    return "(" + "|".join(values) + ")"


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
        text = text.replace(f"${{{name}}}", values[name]).replace(f"${name}", values[name])
    assert "$" not in text.replace("/^(", "").replace(")$/", ""), text
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
    for target in panel["targets"]:
        alias = target.get("alias", "")
        if "$col" in alias:
            produced |= {alias.replace("$col", name) for name in found}
    for override in panel["fieldConfig"].get("overrides", []):
        name = override["matcher"]["options"]
        assert name in produced, f"{panel['title']}: override for '{name}' matches no field"


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
        if in_bucket.sum() == 12:  # the full hours (5-minute readings)
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


@pytest.mark.servers
def test_weekend_base_load_is_the_lowest_day_of_each_week(influxdb1, seeded):
    board = board_named("campuslab-energy")
    chosen = selection(seeded.campus, ("lsb",))
    title = "Weekend base load (lowest day of each week)"
    (series,) = run_panel(influxdb1, seeded, board, title, chosen).values()
    week_us = 7 * 86_400_000_000
    in_range = [
        (to_epoch_us(r.ts), r.fields["electricity_kwh"])
        for r in seeded.building_daily
        if r.tags["building"] == "lsb" and r.ts >= seeded.now - timedelta(days=30)
    ]
    assert len(series[0]["values"]) >= 4
    for week_start, kw in series[0]["values"]:
        days = [kwh for ts, kwh in in_range if week_start <= ts < week_start + week_us]
        assert kw == pytest.approx(min(days) / 24)
        monday = datetime.fromtimestamp(week_start / 1e6, UTC)
        assert monday.weekday() == 0 and monday.time() == time(0)
