"""The campus as arrays: one row per space, per meter and per reading of a step.

The models work on these arrays, so a step costs a few numpy operations
whatever the size of the campus.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from campuslab.core.quantities import SPACE_QUANTITIES
from campuslab.core.registry import WEATHER_STATION_QUANTITIES, Campus, SpaceType
from campuslab.simulators.schedules import OPERATING_HOURS, TEACHING_HOURS, OperatingHours

CEILING_HEIGHT_M = 3.0


@dataclass(frozen=True)
class CampusLayout:
    building_ids: tuple[str, ...]
    heated_area_m2: np.ndarray  # (B,)
    space_ids: tuple[str, ...]
    space_building: np.ndarray  # (S,) index into building_ids
    space_types: tuple[SpaceType, ...]
    capacity: np.ndarray  # (S,) seats
    area_m2: np.ndarray  # (S,)
    meter_ids: tuple[str, ...]
    meter_building: np.ndarray  # (M,)
    meter_quantities: tuple[str, ...]
    schedules: tuple[OperatingHours, ...]  # the distinct operating hours in use
    space_schedule: np.ndarray  # (S,) index into schedules
    building_schedule_share: np.ndarray  # (B, K) share of sensed floor area on each schedule
    # the site's outdoor weather station, (sensor id, building id), if the registry has one
    weather_station: tuple[str, str] | None = None

    @classmethod
    def from_campus(cls, campus: Campus) -> CampusLayout:
        building_ids = tuple(b.id for b in campus.buildings)
        building_index = {b: i for i, b in enumerate(building_ids)}
        spaces = list(campus.spaces())
        meters = list(campus.meters())
        schedules = tuple(dict.fromkeys([TEACHING_HOURS, *OPERATING_HOURS.values()]))
        space_schedule = np.array(
            [schedules.index(OPERATING_HOURS[s.type]) for _, s in spaces], dtype=np.int64
        )
        space_building = np.array([building_index[b.id] for b, _ in spaces], dtype=np.int64)
        area = np.array([s.area_m2 for _, s in spaces], dtype=np.float64)
        share = np.zeros((len(building_ids), len(schedules)))
        np.add.at(share, (space_building, space_schedule), area)
        sensed = share.sum(axis=1)
        share[sensed == 0, 0] = 1.0  # a building without sensed spaces keeps teaching hours
        share /= share.sum(axis=1, keepdims=True)
        return cls(
            building_ids=building_ids,
            heated_area_m2=np.array([b.heated_area_m2 for b in campus.buildings]),
            space_ids=tuple(s.id for _, s in spaces),
            space_building=space_building,
            space_types=tuple(s.type for _, s in spaces),
            capacity=np.array([s.capacity for _, s in spaces], dtype=np.float64),
            area_m2=area,
            meter_ids=tuple(m.id for _, m in meters),
            meter_building=np.array([building_index[b.id] for b, _ in meters], dtype=np.int64),
            meter_quantities=tuple(m.quantity for _, m in meters),
            schedules=schedules,
            space_schedule=space_schedule,
            building_schedule_share=share,
            weather_station=(
                (campus.weather_station.id, campus.weather_station.building)
                if campus.weather_station is not None
                else None
            ),
        )

    @property
    def space_count(self) -> int:
        return len(self.space_ids)

    @property
    def meter_count(self) -> int:
        return len(self.meter_ids)

    @property
    def building_count(self) -> int:
        return len(self.building_ids)

    @property
    def volume_m3(self) -> np.ndarray:
        return self.area_m2 * CEILING_HEIGHT_M

    @property
    def weather_reading_count(self) -> int:
        """Readings of the weather station per step (temperature, humidity), 0 without one."""
        return len(WEATHER_STATION_QUANTITIES) if self.weather_station is not None else 0

    @property
    def readings_per_step(self) -> int:
        return (
            self.space_count * len(SPACE_QUANTITIES) + self.meter_count + self.weather_reading_count
        )

    def spaces_of(self, types: Iterable[SpaceType]) -> np.ndarray:
        wanted = set(types)
        return np.array([i for i, t in enumerate(self.space_types) if t in wanted], dtype=np.int64)

    def reading_columns(self) -> tuple[list[str], list[str], list[str]]:
        """(building, sensor, quantity) of each reading of a step, in emission order.

        Each space's quantities come together (occupancy, co2, temperature,
        humidity), then the meters, then the weather station (temperature, humidity).
        """
        buildings: list[str] = []
        sensors: list[str] = []
        quantities: list[str] = []
        for space_id, b in zip(self.space_ids, self.space_building, strict=True):
            for quantity in SPACE_QUANTITIES:
                buildings.append(self.building_ids[b])
                sensors.append(space_id)
                quantities.append(quantity)
        for meter_id, b, quantity in zip(
            self.meter_ids, self.meter_building, self.meter_quantities, strict=True
        ):
            buildings.append(self.building_ids[b])
            sensors.append(meter_id)
            quantities.append(quantity)
        if self.weather_station is not None:
            station_id, building_id = self.weather_station
            for quantity in WEATHER_STATION_QUANTITIES:
                buildings.append(building_id)
                sensors.append(station_id)
                quantities.append(quantity)
        return buildings, sensors, quantities
