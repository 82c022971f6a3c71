"""The campus simulator: determinism, plausibility of each model, and fault injection.

No broker needed; tests/test_simulator_mqtt.py publishes to a real Mosquitto.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from campuslab.core.quantities import QUANTITIES
from campuslab.core.readings import ReadingBatch
from campuslab.core.registry import Campus, SpaceType, load_campus, sample_campus_path
from campuslab.simulators.campus import CampusSimulator, SimulationConfig

MONDAY = datetime(2026, 11, 16, tzinfo=UTC)  # a late-November teaching week
WEEK = timedelta(days=7)
FIVE_MINUTES = timedelta(minutes=5)
OSLO = ZoneInfo("Europe/Oslo")


@pytest.fixture(scope="module")
def campus() -> Campus:
    return load_campus(sample_campus_path())


class Week:
    """A simulated week as arrays: ``values[(sensor, quantity)]`` on the common time axis."""

    def __init__(self, campus: Campus, batches: list[ReadingBatch]) -> None:
        columns: dict[tuple[str, str], list[float]] = defaultdict(list)
        times: dict[tuple[str, str], list[int]] = defaultdict(list)
        for batch in batches:
            for reading in batch:
                columns[(reading.sensor, reading.quantity)].append(reading.value)
                times[(reading.sensor, reading.quantity)].append(reading.ts_us)
        self.values = {key: np.array(v) for key, v in columns.items()}
        self.ts_us = {key: np.array(v) for key, v in times.items()}
        self.readings = sum(len(b) for b in batches)
        axis = self.ts_us[next(iter(self.ts_us))]
        local = [datetime.fromtimestamp(us / 1e6, OSLO) for us in axis]
        self.hour = np.array([t.hour + t.minute / 60 for t in local])
        self.weekday = np.array([t.weekday() for t in local])
        self.spaces = {s.id: s for _, s in campus.spaces()}

    def of(self, space_id: str, quantity: str) -> np.ndarray:
        return self.values[(space_id, quantity)]

    def share_of_capacity(self, space_type: SpaceType) -> np.ndarray:
        """Mean occupancy / capacity over the spaces of a type, per step."""
        shares = [
            self.of(s.id, "occupancy") / s.capacity
            for s in self.spaces.values()
            if s.type is space_type
        ]
        return np.mean(shares, axis=0)


@pytest.fixture(scope="module")
def week(campus: Campus) -> Week:
    sim = CampusSimulator(campus, SimulationConfig(seed=0, interval=FIVE_MINUTES))
    return Week(campus, list(sim.batches(MONDAY, MONDAY + WEEK)))


def readings(sim: CampusSimulator, start: datetime, end: datetime) -> list[tuple]:
    return [
        (r.ts_us, r.sensor, r.quantity, r.value) for batch in sim.batches(start, end) for r in batch
    ]


# -- determinism and the time grid ------------------------------------------------------


def test_same_seed_gives_the_same_readings_and_another_seed_does_not(campus: Campus) -> None:
    end = MONDAY + timedelta(hours=12)
    config = SimulationConfig(seed=3, interval=FIVE_MINUTES)
    first = readings(CampusSimulator(campus, config), MONDAY, end)
    again = readings(CampusSimulator(campus, config), MONDAY, end)
    other = readings(
        CampusSimulator(campus, SimulationConfig(seed=4, interval=FIVE_MINUTES)), MONDAY, end
    )
    assert first == again
    assert [r[:3] for r in first] == [r[:3] for r in other]
    changed = sum(a[3] != b[3] for a, b in zip(first, other, strict=True))
    assert changed > len(first) / 2


def test_steps_are_aligned_to_the_interval_and_batched_by_clock_hour(campus: Campus) -> None:
    sim = CampusSimulator(campus, SimulationConfig(interval=FIVE_MINUTES))
    start = MONDAY + timedelta(hours=10, minutes=2, seconds=30)
    end = start + timedelta(hours=2)
    batches = list(sim.batches(start, end))
    stamps = sorted({ts for b in batches for ts in b.ts_us})
    assert stamps[0] == int((MONDAY + timedelta(hours=10, minutes=5)).timestamp() * 1e6)
    assert all(ts % (300 * 10**6) == 0 for ts in stamps)
    assert stamps[-1] < int(end.timestamp() * 1e6)
    assert len(stamps) == sim.step_count(start, end) == 24
    per_step = 81 * 4 + 8 + 2  # spaces' quantities, meters, the weather station (°C, %RH)
    assert [len(b) for b in batches] == [11 * per_step, 12 * per_step, 1 * per_step]
    for batch in batches:
        hours = {ts // (3600 * 10**6) for ts in batch.ts_us}
        assert len(hours) == 1


def test_a_run_continued_in_two_calls_equals_one_run(campus: Campus) -> None:
    config = SimulationConfig(seed=1, interval=FIVE_MINUTES)
    middle, end = MONDAY + timedelta(hours=9), MONDAY + timedelta(hours=15)
    whole = readings(CampusSimulator(campus, config), MONDAY, end)
    sim = CampusSimulator(campus, config)
    in_parts = readings(sim, MONDAY, middle)
    assert sim.next_timestamp == middle
    in_parts += [
        (r.ts_us, r.sensor, r.quantity, r.value)
        for _, batch in sim.steps(middle, end)
        for r in batch
    ]
    assert in_parts == whole


def test_runs_started_at_different_times_agree_where_they_overlap(campus: Campus) -> None:
    config = SimulationConfig(seed=2, interval=FIVE_MINUTES)
    tuesday = MONDAY + timedelta(days=1)
    early = Week(
        campus, list(CampusSimulator(campus, config).batches(MONDAY, tuesday + timedelta(days=1)))
    )
    late = Week(
        campus,
        list(
            CampusSimulator(campus, config).batches(
                MONDAY + timedelta(hours=13, minutes=35), tuesday + timedelta(days=1)
            )
        ),
    )
    for space_id in early.spaces:
        steps = len(late.of(space_id, "occupancy"))
        tail = slice(-288, None)  # Tuesday
        assert len(early.of(space_id, "co2")) > steps
        assert np.array_equal(
            early.of(space_id, "occupancy")[tail], late.of(space_id, "occupancy")[tail]
        )
        assert np.max(np.abs(early.of(space_id, "co2")[tail] - late.of(space_id, "co2")[tail])) <= 2
        assert (
            np.max(
                np.abs(
                    early.of(space_id, "temperature")[tail] - late.of(space_id, "temperature")[tail]
                )
            )
            <= 0.11
        )


def test_a_week_of_the_sample_campus_has_every_reading(campus: Campus) -> None:
    # How fast it generates is measured in bench/, not here: a timed test fails on a busy
    # machine and proves nothing about the product.
    sim = CampusSimulator(campus, SimulationConfig(interval=FIVE_MINUTES))
    count = sum(len(b) for b in sim.batches(MONDAY, MONDAY + WEEK))
    assert count == 2016 * (81 * 4 + 8 + 2)  # spaces, meters, weather station


def test_configuration_is_validated() -> None:
    with pytest.raises(ValueError, match="valid faults: stuck, dropout, spike, reset, garbage"):
        SimulationConfig(faults=frozenset({"stuck", "gremlins"}))
    with pytest.raises(ValueError, match="whole number of seconds"):
        SimulationConfig(interval=timedelta(milliseconds=1500))
    with pytest.raises(ValueError, match="seed"):
        SimulationConfig(seed=-1)


# -- occupancy -----------------------------------------------------------------------------


def test_headcounts_are_whole_and_within_capacity(week: Week) -> None:
    for space in week.spaces.values():
        counts = week.of(space.id, "occupancy")
        assert np.all(counts == np.round(counts))
        assert counts.min() >= 0
        limit = 1.1 * space.capacity if space.type is SpaceType.LECTURE_HALL else space.capacity
        assert counts.max() <= limit, space.id


def test_lecture_halls_are_busy_on_weekday_mornings_and_empty_at_night_and_weekends(
    week: Week,
) -> None:
    halls = week.share_of_capacity(SpaceType.LECTURE_HALL)
    weekday = week.weekday < 5
    assert halls[weekday & (week.hour >= 9.25) & (week.hour < 12)].mean() > 0.15
    assert halls[week.hour < 6].max() == 0
    assert halls[week.hour >= 19].max() == 0
    assert halls[~weekday].max() == 0


def test_study_spaces_fill_in_the_daytime_with_a_lunch_dip(week: Week) -> None:
    study = week.share_of_capacity(SpaceType.STUDY_SPACE)
    weekday = week.weekday < 5

    def mean_at(start: float, end: float) -> float:
        return study[weekday & (week.hour >= start) & (week.hour < end)].mean()

    late_morning, lunch, afternoon = mean_at(10.5, 12), mean_at(12.5, 13.5), mean_at(14, 16)
    assert late_morning > 0.35 and afternoon > 0.4
    assert lunch < late_morning and lunch < afternoon
    assert mean_at(7, 8) < 0.1 and study[week.hour < 6].max() == 0
    weekend = study[~weekday & (week.hour >= 12) & (week.hour < 16)].mean()
    assert 0.02 < weekend < afternoon / 2


def test_offices_follow_the_working_day(week: Week) -> None:
    offices = week.share_of_capacity(SpaceType.OFFICE)
    weekday = week.weekday < 5
    assert offices[weekday & (week.hour >= 9.5) & (week.hour < 11)].mean() > 0.4
    assert offices[weekday & (week.hour >= 18)].max() == 0
    assert offices[~weekday].mean() < 0.05


def test_timetable_books_weekdays_between_08_and_18_busiest_mid_day(campus: Campus) -> None:
    slots = CampusSimulator(campus).timetable
    teaching = {
        s.id
        for _, s in campus.spaces()
        if s.type in (SpaceType.LECTURE_HALL, SpaceType.SEMINAR_ROOM, SpaceType.LAB)
    }
    assert {s.space_id for s in slots} <= teaching
    assert len({s.space_id for s in slots}) > 0.8 * len(teaching)
    assert {s.weekday for s in slots} == set(range(5))
    assert min(s.hour for s in slots) == 8 and max(s.hour for s in slots) == 17
    assert all(s.starts.minute == 15 and s.ends.minute == 0 for s in slots)
    per_hour = np.bincount([s.hour for s in slots], minlength=24)
    assert per_hour[9:15].mean() > per_hour[8] and per_hour[9:15].mean() > per_hour[16:18].mean()
    assert all(0 < s.expected_attendance <= s.class_size for s in slots)


def test_booked_classes_are_attended_except_for_some_no_shows(campus: Campus, week: Week) -> None:
    slots = CampusSimulator(campus, SimulationConfig(interval=FIVE_MINUTES)).timetable
    attended = absent = 0
    for day in range(5):
        for slot in (s for s in slots if s.weekday == day):
            at = (week.weekday == day) & (week.hour == slot.hour + 0.5)
            count = week.of(slot.space_id, "occupancy")[at][0]
            attended += count > 0
            absent += count == 0
            assert count <= 1.1 * slot.class_size + 1
    assert attended > 10 * absent > 0


def test_meeting_bookings_include_ghost_meetings(campus: Campus, week: Week) -> None:
    sim = CampusSimulator(campus, SimulationConfig(interval=FIVE_MINUTES))
    bookings = [
        b for day in range(5) for b in sim.meeting_bookings((MONDAY + timedelta(days=day)).date())
    ]
    assert bookings and all(b.start.minute == 0 and b.start.tzinfo for b in bookings)
    empty = 0
    for booking in bookings:
        local = booking.start.astimezone(OSLO)
        at = (week.weekday == local.weekday()) & (week.hour == local.hour + 0.5)
        empty += week.of(booking.space_id, "occupancy")[at][0] == 0
    assert 0 < empty < len(bookings) / 3


# -- indoor climate ------------------------------------------------------------------------


def test_co2_follows_occupancy_and_exceeds_1000_ppm_only_sometimes(week: Week) -> None:
    co2 = np.concatenate([week.of(s, "co2") for s in week.spaces])
    occupied = np.concatenate([week.of(s, "occupancy") for s in week.spaces]) > 0
    occupants = np.concatenate(
        [week.of(s, "occupancy") / week.spaces[s].capacity for s in week.spaces]
    )
    assert co2.min() >= 390 and co2.max() < 2500
    assert np.median(co2[~occupied]) < 470
    assert np.corrcoef(occupants, co2)[0, 1] > 0.4
    above = np.mean(co2[occupied] > 1000)
    assert 0.001 < above < 0.2


def test_empty_rooms_decay_towards_outdoor_co2_at_night(week: Week) -> None:
    # On the night rate (0.7 m3/h per m2, a 4.3 h time constant) a reading room
    # used until 22:00 is still some 30 ppm above outdoor air at 05:00.
    night = (week.hour >= 3) & (week.hour < 5)
    for space_id in week.spaces:
        assert abs(np.median(week.of(space_id, "co2")[night]) - 420) < 40, space_id


def test_temperature_and_humidity_stay_in_plausible_ranges(week: Week) -> None:
    temperature = np.concatenate([week.of(s, "temperature") for s in week.spaces])
    humidity = np.concatenate([week.of(s, "humidity") for s in week.spaces])
    assert temperature.min() >= 15 and temperature.max() <= 28
    assert humidity.min() >= 10 and humidity.max() <= 70
    assert 20 < np.median(humidity) < 35  # dry Norwegian winter indoor air


def test_heating_follows_the_day_setpoint_and_night_setback(week: Week) -> None:
    offices = [s for s in week.spaces.values() if s.type is SpaceType.OFFICE]
    weekday = week.weekday < 5
    for space in offices:
        t = week.of(space.id, "temperature")
        day = t[weekday & (week.hour >= 10) & (week.hour < 15)].mean()
        night = t[weekday & (week.hour >= 4) & (week.hour < 5)].mean()
        assert 20 < day < 23 and 17 < night < 19.5 and day - night > 1.5


def test_outdoor_weather_is_norwegian_and_a_pure_function_of_time(campus: Campus) -> None:
    sim = CampusSimulator(campus, SimulationConfig(seed=5))
    moment = datetime(2027, 1, 20, 12, tzinfo=UTC)
    assert sim.outdoor_temperature(moment) == CampusSimulator(
        campus, SimulationConfig(seed=5)
    ).outdoor_temperature(moment)
    januaries = [
        sim.outdoor_temperatures(
            datetime(y, 1, 1, tzinfo=UTC), datetime(y, 2, 1, tzinfo=UTC)
        ).values
        for y in range(2020, 2030)
    ]
    julies = [
        sim.outdoor_temperatures(
            datetime(y, 7, 1, tzinfo=UTC), datetime(y, 8, 1, tzinfo=UTC)
        ).values
        for y in range(2020, 2030)
    ]
    assert np.mean(januaries) == pytest.approx(-3, abs=1.5)
    assert np.mean(julies) == pytest.approx(15, abs=1.5)
    humidity = sim.outdoor_relative_humidity(moment)
    assert 30 <= humidity <= 100


# -- energy --------------------------------------------------------------------------------


def test_energy_registers_count_up_at_plausible_rates(campus: Campus, week: Week) -> None:
    for building in campus.buildings:
        for meter in building.meters:
            register = week.values[(meter.id, meter.quantity)]
            assert np.all(np.diff(register) >= 0), meter.id
            assert 1e6 < register[0] < 1e9
            per_m2_day = (register[-1] - register[0]) / building.heated_area_m2 / 7
            if meter.quantity == "energy":
                assert 0.1 < per_m2_day < 0.6, meter.id
            else:
                assert 0.15 < per_m2_day < 1.2, meter.id
            assert np.all(register == np.round(register, 3))


def test_electricity_demand_is_higher_in_working_hours(campus: Campus, week: Week) -> None:
    register = week.values[("rfb-el", "energy")]
    kw = np.diff(register) * 12
    hour, weekday = week.hour[1:], week.weekday[1:] < 5
    working = kw[weekday & (hour >= 9) & (hour < 16)].mean()
    night = kw[(hour >= 1) & (hour < 5)].mean()
    assert working > 1.5 * night


# -- faults ----------------------------------------------------------------------------------

DAY = timedelta(days=2)


def faulted(campus: Campus, *faults: str) -> list[tuple]:
    config = SimulationConfig(seed=0, interval=FIVE_MINUTES, faults=frozenset(faults))
    return readings(CampusSimulator(campus, config), MONDAY, MONDAY + DAY)


@pytest.fixture(scope="module")
def clean(campus: Campus) -> list[tuple]:
    return faulted(campus)


def test_faults_change_nothing_unless_enabled(campus: Campus, clean: list[tuple]) -> None:
    assert faulted(campus, "garbage") == clean  # garbage is injected by the publisher
    for fault in ("stuck", "dropout", "spike", "reset"):
        assert faulted(campus, fault) != clean, fault


def test_spikes_are_rare_absurd_and_physically_possible(campus: Campus, clean: list[tuple]) -> None:
    spiked = faulted(campus, "spike")
    changed = [(a, b) for a, b in zip(clean, spiked, strict=True) if a != b]
    assert 0 < len(changed) < 0.002 * len(clean)
    for before, after in changed:
        quantity, value = after[2], after[3]
        assert QUANTITIES[quantity].in_range(value)
        if quantity == "co2":
            assert value >= 3500
        elif quantity == "temperature":
            assert abs(value - before[3]) >= 12


def test_dropouts_leave_gaps_and_keep_everything_else(campus: Campus, clean: list[tuple]) -> None:
    dropped = faulted(campus, "dropout")
    assert set(dropped) < set(clean)
    missing = {(sensor) for _, sensor, _, _ in set(clean) - set(dropped)}
    assert 1 <= len(missing) <= 10


def test_stuck_sensors_repeat_their_value_for_hours(campus: Campus, clean: list[tuple]) -> None:
    stuck = faulted(campus, "stuck")
    series: dict[tuple[str, str], list[float]] = defaultdict(list)
    for _, sensor, quantity, value in stuck:
        series[(sensor, quantity)].append(value)
    changed = {(a[1], a[2]) for a, b in zip(clean, stuck, strict=True) if a != b}
    assert changed
    longest = 0
    for key in changed:
        values = np.array(series[key])
        runs = np.diff(np.flatnonzero(np.diff(np.r_[np.nan, values, np.nan]) != 0))
        longest = max(longest, runs.max())
    assert longest >= 24  # two hours of five-minute readings


def test_a_reset_register_drops_to_zero_once_and_counts_on(campus: Campus) -> None:
    config = SimulationConfig(seed=0, interval=FIVE_MINUTES, faults=frozenset({"reset"}))
    week_of = Week(campus, list(CampusSimulator(campus, config).batches(MONDAY, MONDAY + WEEK)))
    drops = []
    for (sensor, quantity), register in week_of.values.items():
        if quantity in ("energy", "heat_energy"):
            falls = np.flatnonzero(np.diff(register) < 0)
            drops += [(sensor, register[i + 1], register[-1]) for i in falls]
    assert len(drops) in (1, 2)  # once per week since the epoch; a week may span two
    for _, after, last in drops:
        assert after == 0 and last > 0
