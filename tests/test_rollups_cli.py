"""``campuslab analytics run`` as a user runs it, against a real DuckDB store.

The command reads the wall clock for "now", and what it writes depends on the
time of day (just after local midnight today has no data yet; the Monday after
the spring DST change, yesterday has 23 hours). Its clock is frozen at ``NOW``,
the time the data is simulated up to, so the counts are the same whenever the
suite runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest
import typer
from typer.testing import CliRunner

from campuslab.analytics.rollups import BUILDING_DAILY, SPACE_DAILY, SPACE_HOURLY
from campuslab.cli import analytics_command
from campuslab.cli.analytics_command import STORE_FILE, analytics_app
from campuslab.core.store.duckdb import DuckDBStore
from campuslab.simulators.campus import CampusSimulator, SimulationConfig

FAR_PAST, FAR_FUTURE = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
# A Thursday afternoon at the campus: 14 local hours of today so far, 24 of yesterday.
NOW = datetime(2026, 11, 26, 13, 40, tzinfo=ZoneInfo("Europe/Oslo")).astimezone(UTC)

app = typer.Typer()
app.add_typer(analytics_app, name="analytics")  # as cli/main.py registers it
runner = CliRunner()


class FrozenDatetime(datetime):
    """``datetime`` whose ``now()`` is ``NOW``: the command's clock in these tests."""

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
        return NOW.astimezone(tz) if tz is not None else NOW.astimezone().replace(tzinfo=None)


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(analytics_command, "datetime", FrozenDatetime)


@pytest.fixture
def data_dir(tmp_path, campus):
    """The sample campus simulated for the three days up to NOW, every 15 minutes."""
    store = DuckDBStore(tmp_path / STORE_FILE)
    simulator = CampusSimulator(campus, SimulationConfig(seed=3, interval=timedelta(minutes=15)))
    for batch in simulator.batches(NOW - timedelta(days=3), NOW, per=timedelta(hours=12)):
        store.write(batch)
    store.close()
    return tmp_path


def rollup_counts(data_dir) -> dict[str, int]:
    store = DuckDBStore(data_dir / STORE_FILE)
    try:
        return {
            m: len(store.read_rollups(m, FAR_PAST, FAR_FUTURE))
            for m in (SPACE_HOURLY, SPACE_DAILY, BUILDING_DAILY)
        }
    finally:
        store.close()


def test_run_once_writes_yesterday_and_today(data_dir, campus):
    result = runner.invoke(app, ["analytics", "run", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    assert "space_hourly" in result.output and "building_daily" in result.output
    counts = rollup_counts(data_dir)
    # yesterday and today: two days of every space and building
    assert counts[SPACE_DAILY] == 2 * 81
    assert counts[BUILDING_DAILY] == 2 * len(campus.buildings)
    assert counts[SPACE_HOURLY] == 81 * (24 + 14)  # yesterday, and today's hours up to 13:40


def test_backfill_days_with_a_progress_bar_and_rerun_without_doubles(data_dir, campus):
    args = ["analytics", "run", "--days", "2", "--data-dir", str(data_dir)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "backfill" in first.output and "2/2" in first.output
    counts = rollup_counts(data_dir)
    assert counts[SPACE_DAILY] == 2 * 81
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert rollup_counts(data_dir) == counts


def test_backfill_since_a_date(data_dir, campus):
    today = NOW.astimezone(campus.tz).date()
    since = (today - timedelta(days=3)).isoformat()
    result = runner.invoke(app, ["analytics", "run", "--since", since, "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    assert "4/4" in result.output
    # the simulation starts 72 h before NOW, so the first day is partial (from 13:45)
    assert rollup_counts(data_dir)[SPACE_DAILY] == 4 * 81


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2026-01-01", "--days", "2"], "not both"),
        (["--since", "1st of May"], "YYYY-MM-DD"),
        (["--since", "2999-01-01"], "in the future"),
        (["--retention", "12h"], "too short"),
        (["--every", "soon"], "not a duration"),
    ],
)
def test_bad_options_are_explained(data_dir, args, message):
    result = runner.invoke(app, ["analytics", "run", "--data-dir", str(data_dir), *args])
    assert result.exit_code == 2
    assert message in result.output


def test_a_missing_store_is_explained(tmp_path):
    result = runner.invoke(app, ["analytics", "run", "--data-dir", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "no store at" in result.output and "--data-dir" in result.output
    assert not (tmp_path / "nowhere").exists()
