"""``campuslab api`` and ``campuslab analytics run`` with ``--store influxdb``, as subprocesses.

- ``campuslab api`` reads a real InfluxDB 1.6.7 with InfluxQL (``--influx-url``, and
  ``--influx-bucket``, which on 1.x names the database; the test server runs without
  auth, so no token). Readings seeded there through the v1 ``/write`` come back
  exactly, and the utilisation of a hand-made day is what SMG 2006 gives.
- ``campuslab analytics run --days 2`` reads raw readings from InfluxDB 1.6.7 and
  writes its rollups through influxdb-client's WriteApi to ``/api/v2/write``.
  InfluxDB 1.6.7 has no ``/api/v2/write`` (1.8 brought it): there the command's
  writes are refused (404) and land in the local spool. So, as a deployment with a
  separate query node would, the command writes to VictoriaMetrics (``--influx-url``,
  the real ``/api/v2/write``) and reads from 1.6.7 (``CAMPUSLAB_INFLUX_QUERY_URL``,
  ``CAMPUSLAB_INFLUX_BUCKET``: the environment route). What VictoriaMetrics then
  holds is relayed into a fresh 1.6.7 database and read back with ``read_rollups``,
  as the contract suite's ``influxdb-write`` backend does. The rows must be those the
  same scheduler writes into DuckDB from the same readings. The readings are clean,
  so the quality checks flag nothing (checked on the reference): flags written to
  VictoriaMetrics could not reach the reads on 1.6.7 during the run.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from servers.campuslab_cli import ApiProcess, run_campuslab
from test_store_contract import SeededInfluxStore, lines_from_export
from test_store_kpis_contract import row_differences

from campuslab.analytics.rollups import MEASUREMENTS, local_midnight
from campuslab.analytics.scheduler import backfill
from campuslab.api.keys import KeyStore, Role
from campuslab.core.readings import ReadingBatch, isoformat_utc, to_epoch_us
from campuslab.core.registry import Campus, load_campus, sample_campus_path
from campuslab.core.store.duckdb import DuckDBStore
from campuslab.core.store.influx import InfluxConfig, InfluxStore
from campuslab.core.store.port import RollupRow
from campuslab.simulators.campus import CampusSimulator, SimulationConfig

OSLO = ZoneInfo("Europe/Oslo")
SPACE = "rfb-101"  # a 280-seat lecture hall in building rfb
CAPACITY = 280
DAY = datetime(2026, 3, 4, tzinfo=OSLO)  # a Wednesday, UTC+1; core hours 08-16 local


# -- campuslab api ---------------------------------------------------------------------
def occupancy_day() -> list[tuple[datetime, float]]:
    """rfb-101's headcount every 15 min on DAY; local hour -> the hour's four counts.

    Core hours 08-16: means 140, 140, 280, 70, 0, 0.5, 0 for 08..14, and no reading in
    15 (the sensor was off). Before and after core hours the hall is used (10, 50),
    which the core-hour KPIs must leave out.
    """
    counts = {
        7: [10] * 4,
        8: [140] * 4,
        9: [140] * 4,
        10: [280] * 4,
        11: [70] * 4,
        12: [0] * 4,
        13: [0, 0, 0, 2],
        14: [0] * 4,
        16: [50] * 4,
    }
    return [
        (DAY + timedelta(hours=hour, minutes=15 * i), float(value))
        for hour, values in counts.items()
        for i, value in enumerate(values)
    ]


def co2_day() -> list[tuple[datetime, float]]:
    """Raw CO2 at odd instants (sub-second) with values that are not round in binary."""
    first = DAY + timedelta(hours=7, milliseconds=125)
    step = timedelta(minutes=7, seconds=30, microseconds=500_250)
    return [(first + i * step, 400.1 + i * 12.345) for i in range(40)]


# Hand-worked, METRICS.md / SMG 2006: H = the 7 core hours with readings (15:00 has
# none), n_h the hour means; in use when n_h >= 1: 08, 09, 10, 11 (13's 0.5 is not).
EXPECTED_UTILISATION = {
    "frequency_rate": 4 / 7,
    "occupancy_rate": (0.5 + 0.5 + 1.0 + 0.25) / 4,
    "utilisation": (140 + 140 + 280 + 70 + 0.5) / (CAPACITY * 7),
    "peak_occupancy": 1.0,
    "p95_occupancy": 1.0,  # inverted CDF: the 7th of 7 sorted hours reaches 95 %
    "used_seat_hours": 630.5,
    "available_seat_hours": CAPACITY * 7.0,
    "available_hours": 7,
    "in_use_hours": 4,
    "hours_without_data": 1,
    "share_under_60": 6 / 7,
    "share_60_to_100": 1 / 7,
    "share_over_100": 0.0,
    "points_excluded": 0,
}


@pytest.fixture(scope="module")
def api_over_influxdb(
    influxdb1, campus: Campus, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple]:
    """``campuslab api --store influxdb`` over a 1.6.7 database seeded with DAY's readings."""
    database = f"cli_api_{uuid.uuid4().hex[:12]}"
    seeded = SeededInfluxStore(influxdb1, database, campus)
    batch = ReadingBatch()
    for quantity, rows in (("occupancy", occupancy_day()), ("co2", co2_day())):
        for ts, value in rows:
            batch.append(to_epoch_us(ts), "rfb", SPACE, quantity, value)
    try:
        assert seeded.write(batch).stored == len(batch)
    finally:
        seeded.close()
    data_dir = tmp_path_factory.mktemp("api")
    secret = KeyStore.in_data_dir(data_dir).create(Role.FACILITIES, "tests").secret
    server = ApiProcess(
        [
            "--store",
            "influxdb",
            "--influx-url",
            influxdb1.url,
            "--influx-bucket",
            database,
            "--log-level",
            "warning",
        ],
        data_dir,
    )
    server.start()
    try:
        client = httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {secret}"}, timeout=30
        )
        with client:
            yield server, client, len(batch)
    finally:
        assert server.stop(), "campuslab api did not stop on SIGTERM:\n" + server.log()[-3000:]
    assert "Traceback" not in server.log(), server.log()[-3000:]


def ok(response: httpx.Response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def test_api_health_names_the_influxdb_store_and_its_readings(api_over_influxdb):
    _, client, seeded = api_over_influxdb
    health = ok(client.get("/api/v1/health"))
    assert health["store"] == {"backend": "InfluxStore", "readings": seeded}
    assert health["ingest"] is None  # `api` runs no ingestor


def test_api_returns_the_seeded_readings_exactly(api_over_influxdb):
    _, client, _ = api_over_influxdb
    day = {"start": isoformat_utc(DAY), "end": isoformat_utc(DAY + timedelta(days=1))}
    raw = ok(client.get(f"/api/v1/spaces/{SPACE}/readings", params={"quantity": "co2", **day}))
    assert (raw["unit"], raw["every"], raw["agg"]) == ("ppm", None, None)
    assert raw["points"] == [[isoformat_utc(ts), value] for ts, value in co2_day()]
    assert raw["points"][1][0] == "2026-03-04T06:07:30.62525Z"  # to the microsecond
    hourly = ok(
        client.get(
            f"/api/v1/spaces/{SPACE}/readings",
            params={"quantity": "occupancy", "every": "1h", "agg": "mean", **day},
        )
    )
    # UTC hours (local - 1): empty buckets are left out, so 14:00 UTC (local 15) is missing
    assert hourly["points"] == [
        ["2026-03-04T06:00:00Z", 10.0],
        ["2026-03-04T07:00:00Z", 140.0],
        ["2026-03-04T08:00:00Z", 140.0],
        ["2026-03-04T09:00:00Z", 280.0],
        ["2026-03-04T10:00:00Z", 70.0],
        ["2026-03-04T11:00:00Z", 0.0],
        ["2026-03-04T12:00:00Z", 0.5],
        ["2026-03-04T13:00:00Z", 0.0],
        ["2026-03-04T15:00:00Z", 50.0],
    ]


def test_api_utilisation_is_the_hand_worked_figure(api_over_influxdb):
    _, client, _ = api_over_influxdb
    answer = ok(
        client.get(
            f"/api/v1/spaces/{SPACE}/utilisation",
            params={"start": DAY.isoformat(), "end": (DAY + timedelta(days=1)).isoformat()},
        )
    )
    assert (answer["space_id"], answer["capacity"]) == (SPACE, CAPACITY)
    assert (answer["start"], answer["end"]) == ("2026-03-03T23:00:00Z", "2026-03-04T23:00:00Z")
    for name, expected in EXPECTED_UTILISATION.items():
        assert answer[name] == pytest.approx(expected, rel=1e-12, abs=0), name
        assert type(answer[name]) is type(expected), name


# -- campuslab analytics run -------------------------------------------------------------
SUMMARY = re.compile(r"(space_hourly|space_daily|building_daily|space_weekhour) ([\d,]+)")


def reference_rows(
    batches: list[ReadingBatch], campus: Campus, folder: Path, now: datetime
) -> dict[str, list[RollupRow]]:
    """What the same scheduler writes into DuckDB from the same readings, run at ``now``."""
    store = DuckDBStore(folder / f"reference-{uuid.uuid4().hex[:8]}.duckdb")
    try:
        for batch in batches:
            store.write(batch)
        today = now.astimezone(campus.tz).date()
        report = backfill(store, campus, today - timedelta(days=1), today, now)
        assert report.quality is not None and report.quality.flagged_points == 0
        return read_all_rollups(store, campus, now)
    finally:
        store.close()


def read_all_rollups(store, campus: Campus, now: datetime) -> dict[str, list[RollupRow]]:
    today = now.astimezone(campus.tz).date()
    start = local_midnight(campus, today - timedelta(days=3))
    return {m: store.read_rollups(m, start, now + timedelta(days=1)) for m in MEASUREMENTS}


def test_analytics_run_writes_rollups_that_read_back_from_influxdb(
    influxdb1, victoriametrics, campus: Campus, tmp_path: Path
):
    database = f"cli_analytics_{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    today = now.astimezone(campus.tz).date()
    simulator = CampusSimulator(campus, SimulationConfig(seed=0, interval=timedelta(minutes=15)))
    start = local_midnight(campus, today - timedelta(days=1)) - timedelta(hours=3)
    batches = list(simulator.batches(start, now - timedelta(seconds=1), per=timedelta(days=1)))
    seeded = SeededInfluxStore(influxdb1, database, campus)
    try:
        for batch in batches:
            seeded.write(batch)
    finally:
        seeded.close()

    before = datetime.now(UTC)
    result = run_campuslab(
        [
            "analytics",
            "run",
            "--days",
            "2",
            "--store",
            "influxdb",
            "--influx-url",
            victoriametrics.url,
            "--data-dir",
            str(tmp_path / "analytics"),
            "--log-level",
            "warning",
        ],
        env={"CAMPUSLAB_INFLUX_QUERY_URL": influxdb1.url, "CAMPUSLAB_INFLUX_BUCKET": database},
    )
    after = datetime.now(UTC)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    printed = {m: int(n.replace(",", "")) for m, n in SUMMARY.findall(result.stdout)}
    assert set(printed) == set(MEASUREMENTS), result.stdout

    # what arrived at /api/v2/write, relayed into InfluxDB 1.6.7 and read with InfluxQL
    lines, others = lines_from_export(victoriametrics.export(), set(MEASUREMENTS))
    assert others == [], "only rollups were written: no readings, flags or dead letters"
    relay = f"{database}_rollups"
    influxdb1.create_database(relay)
    influxdb1.write_lines(relay, lines, precision="ms")
    reader = InfluxStore(InfluxConfig(url=influxdb1.url, bucket=relay), campus)
    try:
        written = read_all_rollups(reader, campus, after)
    finally:
        reader.close()
    assert {m: len(rows) for m, rows in written.items()} == printed

    # the command ran somewhere between `before` and `after`; what it computes for a day
    # under way changes only from one hour to the next
    moments = (
        [after]
        if before.replace(minute=0, second=0, microsecond=0)
        == after.replace(minute=0, second=0, microsecond=0)
        else [after, before]
    )
    outcomes = []
    for moment in moments:
        expected = reference_rows(batches, campus, tmp_path, moment)
        differences = {m: row_differences(expected[m], written[m]) for m in MEASUREMENTS}
        outcomes.append(differences)
        if not any(differences.values()):
            break
    else:
        shown = {m: d[:5] for m, d in outcomes[0].items() if d}
        pytest.fail(f"the rollups in InfluxDB differ from DuckDB's: {shown}")
    spaces, buildings = sum(1 for _ in campus.spaces()), len(campus.buildings)
    # yesterday has a row of each; today too, once it has readings
    assert printed["space_daily"] >= spaces and printed["building_daily"] >= buildings


def test_analytics_run_fails_when_influxdb_refuses_its_writes(influxdb1, tmp_path: Path):
    # InfluxDB 1.6.7 has no /api/v2/write: every write is a 404, as a wrong bucket would be
    database = f"cli_refused_{uuid.uuid4().hex[:12]}"
    campus = load_campus(sample_campus_path())
    now = datetime.now(UTC)
    simulator = CampusSimulator(campus, SimulationConfig(seed=0, interval=timedelta(minutes=15)))
    seeded = SeededInfluxStore(influxdb1, database, campus)
    try:
        for batch in simulator.batches(now - timedelta(hours=3), now - timedelta(seconds=1)):
            seeded.write(batch)
    finally:
        seeded.close()
    data_dir = tmp_path / "refused"
    result = run_campuslab(
        [
            "analytics",
            "run",
            "--days",
            "1",
            "--store",
            "influxdb",
            "--influx-url",
            influxdb1.url,
            "--influx-bucket",
            database,
            "--data-dir",
            str(data_dir),
            "--log-level",
            "error",
        ]
    )
    said = " ".join(result.stderr.split())
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert "were not written to InfluxDB (HTTP 404" in said, said
    assert "kept in the spool" in said and "--influx-bucket" in said
    assert any((data_dir / "spool").iterdir())  # kept, not lost
