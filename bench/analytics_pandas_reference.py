"""Utilisation KPIs the way a data scientist would write them in pandas: the bench reference.

``bench/analytics.py`` times this against ``campuslab.analytics.campus_kpis`` on the
same store and checks that both give the same numbers. It is deliberately the
straightforward version: read the occupancy readings into a DataFrame, resample
them hourly per space, keep the core hours in the site's time zone, group by
space and local day. Definitions as in ``analytics/utilisation.py`` (SMG 2006):
F = in-use hours / available hours, O = Σ n_h over in-use hours / (C × in-use
hours), U = Σ n_h / (C × available hours), peak and P95 of n_h / C, bands of
n_h / C. P95 uses ``interpolation="higher"``, which is the inverted-CDF
percentile (Hyndman & Fan type 1, what CampusLab reports) for groups of up to
19 hours, so for any core day shorter than 20 hours.

Needs pandas (the ``bench`` extra).
"""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pandas as pd

from campuslab.core.registry import Campus

UTILISATION_COLUMNS = (
    "frequency_rate",
    "occupancy_rate",
    "utilisation",
    "peak_occupancy",
    "p95_occupancy",
    "used_seat_hours",
    "available_hours",
    "in_use_hours",
    "share_under_60",
    "share_60_to_100",
    "share_over_100",
)


def read_occupancy(con: duckdb.DuckDBPyConnection, start: datetime, end: datetime) -> pd.DataFrame:
    """Occupancy readings in [start, end) as a DataFrame (sensor, ts, value); ts naive UTC."""
    return con.execute(
        "SELECT sensor, ts, value FROM readings "
        "WHERE quantity = 'occupancy' AND ts >= ? AND ts < ?",
        [_naive_utc(start), _naive_utc(end)],
    ).df()


def pandas_utilisation(occupancy: pd.DataFrame, campus: Campus) -> pd.DataFrame:
    """Utilisation per space and local day from raw occupancy readings.

    Args:
        occupancy: columns sensor, ts (UTC), value (people), as from ``read_occupancy``.
        campus: the registry (capacities, time zone, core hours, in-use threshold,
            hourly observation rule).

    Returns:
        One row per (space, date) with at least one core hour with data, indexed by
        (space, date), columns ``UTILISATION_COLUMNS``.
    """
    settings = campus.analytics
    capacity = pd.Series({space.id: float(space.capacity) for _, space in campus.spaces()})
    how = "max" if settings.hourly_observation == "peak" else "mean"

    hourly = (
        occupancy[occupancy["sensor"].isin(capacity.index)]
        .set_index("ts")
        .groupby("sensor")["value"]
        .resample("1h")
        .agg(how)
        .dropna()
        .rename("count")
        .reset_index()
    )
    local = hourly["ts"].dt.tz_localize("UTC").dt.tz_convert(campus.site.timezone)
    core = settings.core_hours
    start_h, end_h = core.start.hour, core.end.hour
    is_core = (
        local.dt.day_of_week.isin(sorted(core.weekday_numbers))
        & (local.dt.hour >= start_h)
        & (local.dt.hour < end_h)
    )
    hours = hourly[is_core].copy()
    hours["date"] = local[is_core].dt.date
    hours["capacity"] = hours["sensor"].map(capacity)
    hours["ratio"] = hours["count"] / hours["capacity"]
    hours["in_use"] = hours["count"] >= settings.in_use_threshold
    hours["in_use_count"] = hours["count"].where(hours["in_use"], 0.0)
    hours["under_60"] = hours["ratio"] < 0.6
    hours["over_100"] = hours["ratio"] > 1.0
    hours["mid"] = ~hours["under_60"] & ~hours["over_100"]

    by_day = hours.groupby(["sensor", "date"])
    days = by_day.agg(
        available_hours=("count", "size"),
        in_use_hours=("in_use", "sum"),
        used_seat_hours=("count", "sum"),
        in_use_seat_count=("in_use_count", "sum"),
        capacity=("capacity", "first"),
        peak_occupancy=("ratio", "max"),
        under_60=("under_60", "sum"),
        mid=("mid", "sum"),
        over_100=("over_100", "sum"),
    )
    days["p95_occupancy"] = by_day["ratio"].quantile(0.95, interpolation="higher")
    available_seat_hours = days["capacity"] * days["available_hours"]
    days["frequency_rate"] = days["in_use_hours"] / days["available_hours"]
    days["occupancy_rate"] = (
        days["in_use_seat_count"] / (days["capacity"] * days["in_use_hours"])
    ).fillna(0.0)
    days["utilisation"] = days["used_seat_hours"] / available_seat_hours
    days["share_under_60"] = days["under_60"] / days["available_hours"]
    days["share_60_to_100"] = days["mid"] / days["available_hours"]
    days["share_over_100"] = days["over_100"] / days["available_hours"]
    days.index = days.index.set_names(["space", "date"])
    return days[list(UTILISATION_COLUMNS)]


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment
