"""The campus registry as a Brick Schema model (Turtle), and back.

``campus_graph(campus, api_base)`` describes the site, its buildings, floors
and spaces, the building meters and every sensor point, with their units
(QUDT) and where their time series live (``ref:TimeseriesReference``:
``hasTimeseriesId`` is ``<quantity>/<sensor id>``, ``storedAt`` the API URL
that serves it). It holds metadata only: no readings, no counts.
``registry_from_brick(turtle)`` reads such a model (ours, or another tool's
with the same Brick terms) back into a validated ``Campus``.

Terms used, checked against Brick 1.4 and 1.5 as bundled with brickschema
0.8. Brick 1.4 deprecated its location classes in favour of RealEstateCore
(``rec:``), which Brick now bundles; every location therefore carries both the
Brick 1.3 class (what existing Brick tools query) and its REC replacement
(what Brick 1.4+ validates against; the Brick class only draws a deprecation
*warning*, never a violation):

| registry       | Brick ≤ 1.3            | REC (Brick ≥ 1.4)  |
|----------------|------------------------|--------------------|
| site           | brick:Site             | rec:Site           |
| building       | brick:Building         | rec:Building       |
| floor          | brick:Floor            | rec:Level          |
| lecture_hall   | brick:Auditorium       | rec:Auditorium     |
| seminar_room   | brick:Room             | rec:Classroom      |
| study_space    | brick:Common_Space     | rec:EducationalRoom |
| office         | brick:Office (brick:Private_Office for 1 seat) | rec:Office |
| meeting_room   | brick:Conference_Room  | rec:ConferenceRoom |
| lab            | brick:Laboratory       | rec:Laboratory     |
| other          | brick:Space            | rec:Room           |

Seats are REC's ``rec:capacity [ a rec:ArchitectureCapacity ;
rec:seatingCapacity n ]``; areas ``brick:area [ brick:value ; brick:hasUnit
unit:M2 ]`` (a building's is its heated floor area). The exact registry type,
the floor number, the time zone and the registry order ride along as
``campuslab:spaceType``, ``campuslab:level``, ``campuslab:timezone`` and
``campuslab:position`` so that a round trip is exact. Points are
``brick:Occupancy_Count_Sensor``, ``brick:CO2_Level_Sensor``,
``brick:Air_Temperature_Sensor``, ``brick:Relative_Humidity_Sensor`` (spaces,
``brick:isPointOf`` and ``brick:hasLocation`` the space) and
``brick:Electric_Energy_Sensor``, ``brick:Electric_Power_Sensor``,
``brick:Thermal_Energy_Usage_Sensor`` on a ``brick:Building_Electrical_Meter``
or ``brick:Thermal_Power_Meter`` that ``brick:meters`` its building.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import yaml

from campuslab.core.ids import id_problem
from campuslab.core.quantities import QUANTITIES, SPACE_QUANTITIES
from campuslab.core.registry import Campus, RegistryError, Site, SpaceType, parse_campus

if TYPE_CHECKING:
    from rdflib import Graph, URIRef

BRICK_NS = "https://brickschema.org/schema/Brick#"
REF_NS = "https://brickschema.org/schema/Brick/ref#"
UNIT_NS = "http://qudt.org/vocab/unit/"
CAMPUSLAB_NS = "urn:campuslab:schema#"

REC_NS = "https://w3id.org/rec#"
QUDT_NS = "http://qudt.org/schema/qudt/"

SPACE_CLASSES = {
    SpaceType.LECTURE_HALL: "Auditorium",
    SpaceType.SEMINAR_ROOM: "Room",
    SpaceType.STUDY_SPACE: "Common_Space",
    SpaceType.OFFICE: "Office",
    SpaceType.MEETING_ROOM: "Conference_Room",
    SpaceType.LAB: "Laboratory",
    SpaceType.OTHER: "Space",
}
REC_SPACE_CLASSES = {
    SpaceType.LECTURE_HALL: "Auditorium",
    SpaceType.SEMINAR_ROOM: "Classroom",
    SpaceType.STUDY_SPACE: "EducationalRoom",
    SpaceType.OFFICE: "Office",
    SpaceType.MEETING_ROOM: "ConferenceRoom",
    SpaceType.LAB: "Laboratory",
    SpaceType.OTHER: "Room",
}
# a foreign model's class -> registry type, for models without campuslab:spaceType
_TYPES_OF_CLASSES = {c: t for t, c in SPACE_CLASSES.items()} | {
    "Private_Office": SpaceType.OFFICE,
    "Shared_Office": SpaceType.OFFICE,
    "Enclosed_Office": SpaceType.OFFICE,
    "Open_Office": SpaceType.OFFICE,
    "Lecture_Hall": SpaceType.LECTURE_HALL,
    "Library": SpaceType.STUDY_SPACE,
}
_BRICK_OF_REC = {r: SPACE_CLASSES[t] for t, r in REC_SPACE_CLASSES.items()} | {
    "Site": "Site",
    "Building": "Building",
    "Level": "Floor",
    "Room": "Space",
    "Library": "Library",
    "SmallStudyRoom": "Common_Space",
    "Campus": "Site",
}
POINT_CLASSES = {
    "occupancy": "Occupancy_Count_Sensor",
    "co2": "CO2_Level_Sensor",
    "temperature": "Air_Temperature_Sensor",
    "humidity": "Relative_Humidity_Sensor",
    "energy": "Electric_Energy_Sensor",
    "power": "Electric_Power_Sensor",
    "heat_energy": "Thermal_Energy_Usage_Sensor",
}
METER_CLASSES = {
    "energy": "Building_Electrical_Meter",
    "power": "Building_Electrical_Meter",
    "heat_energy": "Thermal_Power_Meter",
}
WEATHER_POINT_CLASSES = {
    "temperature": "Outside_Air_Temperature_Sensor",
    "humidity": "Outside_Air_Humidity_Sensor",
}
# canonical unit -> QUDT unit
UNITS = {
    "count": "NUM",
    "ppm": "PPM",
    "°C": "DEG_C",
    "%RH": "PERCENT_RH",
    "kWh": "KiloW-HR",
    "kW": "KiloW",
}


def _turtle_prefix(site_id: str) -> str:
    """The site's Turtle prefix: a Turtle prefix may not hold '-' nor end in '.', nor
    start with a digit, so those become '_' (the IRIs keep the id unchanged)."""
    prefix = re.sub(r"[^A-Za-z0-9_]", "_", site_id)
    return prefix if prefix[0].isalpha() else f"site_{prefix}"


def site_namespace(campus: Campus) -> str:
    """The namespace of the site's entities: ``urn:campuslab:<site id>#``."""
    return f"urn:campuslab:{campus.site.id}#"


def campus_graph(campus: Campus, api_base: str | None = None) -> Graph:
    """The registry as an rdflib Graph of Brick triples.

    Args:
        campus: the campus registry.
        api_base: the API's base URL (e.g. ``https://lab.example.edu``); each point's
            time-series reference is ``storedAt`` the URL that serves it there. Without
            it, references carry the time-series id only.
    """
    from rdflib import RDF, RDFS, BNode, Graph, Literal, Namespace
    from rdflib.namespace import XSD

    brick, ref, rec = Namespace(BRICK_NS), Namespace(REF_NS), Namespace(REC_NS)
    unit, qudt, cl = Namespace(UNIT_NS), Namespace(QUDT_NS), Namespace(CAMPUSLAB_NS)
    site_ns = Namespace(site_namespace(campus))
    graph = Graph()
    for prefix, namespace in (
        ("brick", brick),
        ("rec", rec),
        ("ref", ref),
        ("unit", unit),
        ("qudt", qudt),
        ("campuslab", cl),
        (_turtle_prefix(campus.site.id), site_ns),
    ):
        graph.bind(prefix, namespace)
    base = api_base.rstrip("/") if api_base else None
    # the QUDT units used, declared so that a validator without QUDT loaded knows them
    for symbol in (*UNITS.values(), "M2"):
        graph.add((unit[symbol], RDF.type, qudt.Unit))

    def located(entity: URIRef, brick_class: str, rec_class: str, position: int) -> None:
        graph.add((entity, RDF.type, brick[brick_class]))
        graph.add((entity, RDF.type, rec[rec_class]))
        graph.add((entity, cl.position, Literal(position)))

    def area(entity: URIRef, square_metres: float) -> None:
        node = BNode()
        graph.add((entity, brick.area, node))
        graph.add((node, brick.value, Literal(square_metres, datatype=XSD.double)))
        graph.add((node, brick.hasUnit, unit.M2))

    def point(entity: URIRef, kind: str, quantity: str, sensor: str, url: str | None) -> None:
        iri = site_ns[f"{sensor}/{quantity}"]
        graph.add((iri, RDF.type, brick[kind]))
        graph.add((iri, RDFS.label, Literal(f"{sensor} {quantity}")))
        graph.add((iri, brick.isPointOf, entity))
        graph.add((iri, brick.hasUnit, unit[UNITS[QUANTITIES[quantity].unit]]))
        reference = BNode()
        graph.add((iri, ref.hasExternalReference, reference))
        graph.add((reference, RDF.type, ref.TimeseriesReference))
        graph.add((reference, ref.hasTimeseriesId, Literal(f"{quantity}/{sensor}")))
        if url:
            graph.add((reference, ref.storedAt, Literal(url)))

    site = site_ns[campus.site.id]
    located(site, "Site", "Site", 0)
    graph.add((site, RDFS.label, Literal(campus.site.name)))
    graph.add((site, cl.timezone, Literal(campus.site.timezone)))
    position = 0
    for building in campus.buildings:
        b = site_ns[building.id]
        position += 1
        located(b, "Building", "Building", position)
        graph.add((b, RDFS.label, Literal(building.name)))
        graph.add((site, brick.hasPart, b))
        area(b, building.heated_area_m2)
        floors: dict[int, URIRef] = {}
        for space in building.spaces:
            if space.floor not in floors:
                floor = site_ns[f"{building.id}/floor/{space.floor}"]
                floors[space.floor] = floor
                position += 1
                located(floor, "Floor", "Level", position)
                graph.add((floor, RDFS.label, Literal(f"{building.name}, floor {space.floor}")))
                graph.add((floor, cl.level, Literal(space.floor)))
                graph.add((b, brick.hasPart, floor))
            s = site_ns[space.id]
            brick_class = SPACE_CLASSES[space.type]
            if space.type is SpaceType.OFFICE and space.capacity == 1:
                brick_class = "Private_Office"
            position += 1
            located(s, brick_class, REC_SPACE_CLASSES[space.type], position)
            graph.add((s, RDFS.label, Literal(space.name)))
            graph.add((floors[space.floor], brick.hasPart, s))
            graph.add((s, cl.spaceType, Literal(space.type.value)))
            capacity = site_ns[f"{space.id}/capacity"]  # REC wants an IRI here
            graph.add((s, rec.capacity, capacity))
            graph.add((capacity, RDF.type, rec.ArchitectureCapacity))
            graph.add((capacity, rec.seatingCapacity, Literal(space.capacity)))
            area(s, space.area_m2)
            for quantity in SPACE_QUANTITIES:
                url = (
                    f"{base}/api/v1/spaces/{space.id}/readings?quantity={quantity}"
                    if base
                    else None
                )
                point(s, POINT_CLASSES[quantity], quantity, space.id, url)
        for meter in building.meters:
            m = site_ns[meter.id]
            position += 1
            graph.add((m, RDF.type, brick[METER_CLASSES[meter.quantity]]))
            graph.add((m, cl.position, Literal(position)))
            graph.add((m, RDFS.label, Literal(f"{building.name} {meter.quantity} meter")))
            graph.add((m, brick.meters, b))
            graph.add((m, brick.hasLocation, b))
            url = (
                f"{base}/api/v1/export?quantity={meter.quantity}&building={building.id}"
                if base
                else None
            )
            point(m, POINT_CLASSES[meter.quantity], meter.quantity, meter.id, url)
    station = getattr(campus.site, "weather_station", None)
    if station is not None:
        w = site_ns[station.id]
        graph.add((w, RDF.type, brick.Weather_Station))
        graph.add((w, RDFS.label, Literal(f"{campus.site.name} weather station")))
        graph.add((w, brick.hasLocation, site_ns[station.building]))
        for quantity, kind in WEATHER_POINT_CLASSES.items():
            point(w, kind, quantity, station.id, None)
    return graph


def campus_turtle(campus: Campus, api_base: str | None = None) -> str:
    """The registry as Brick Turtle (see ``campus_graph``)."""
    return campus_graph(campus, api_base).serialize(format="turtle")


def registry_from_brick(
    turtle: str, *, timezone: str | None = None, source: str = "<brick>"
) -> Campus:
    """A validated campus registry from a Brick model in Turtle.

    Reads the ``brick:Site`` (exactly one), its buildings (``brick:hasPart`` or
    ``brick:isPartOf``), their floors and spaces, and building meters (an entity with
    a point of a meter quantity that ``brick:meters`` the building). Ids are the local
    names of the IRIs; names the ``rdfs:label``s. CampusLab's own properties
    (``campuslab:capacity``, ``spaceType``, ``level``, ``timezone``) are used when
    present; otherwise the type comes from the Brick class and the floor number from
    the floor's label, and a space without a capacity is an error.

    Raises:
        RegistryError: listing every problem, as for a YAML registry.
    """
    from rdflib import Graph

    graph = Graph()
    try:
        graph.parse(data=turtle, format="turtle")
    except Exception as exc:  # rdflib raises many kinds on bad Turtle
        raise RegistryError(source, [f"not valid Turtle: {exc}"]) from None
    reader = _BrickReader(graph, source)
    raw = reader.registry(timezone)
    if reader.problems:
        raise RegistryError(source, reader.problems)
    return parse_campus(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), source)


class _BrickReader:
    def __init__(self, graph: Graph, source: str) -> None:
        from rdflib import RDF, RDFS, Namespace

        self.graph, self.source, self.problems = graph, source, []
        self.brick, self.cl = Namespace(BRICK_NS), Namespace(CAMPUSLAB_NS)
        self.rec = Namespace(REC_NS)
        self.rdf_type, self.label = RDF.type, RDFS.label

    # -- small helpers -------------------------------------------------------------------
    def types(self, entity) -> set[str]:
        """Local names of the entity's Brick classes, with REC classes mapped to Brick's."""
        names = set()
        for t in self.graph.objects(entity, self.rdf_type):
            text = str(t)
            if text.startswith(BRICK_NS):
                names.add(text[len(BRICK_NS) :])
            elif text.startswith(REC_NS):
                names.add(_BRICK_OF_REC.get(text[len(REC_NS) :], "Space"))
        return names

    def instances(self, *classes: str) -> list:
        found = {s for c in classes for s in self.graph.subjects(self.rdf_type, self.brick[c])}
        recs = [r for r, b in _BRICK_OF_REC.items() if b in classes]
        found |= {s for r in recs for s in self.graph.subjects(self.rdf_type, self.rec[r])}
        return self.ordered(found)

    def ordered(self, entities) -> list:
        """In registry order (campuslab:position) where given, then by IRI."""

        def key(entity):
            position = self.value(entity, self.cl.position)
            return (position is None, position or 0, str(entity))

        return sorted(set(entities), key=key)

    def value(self, entity, predicate) -> Any:
        found = self.graph.value(entity, predicate)
        return found.toPython() if found is not None else None

    def ident(self, entity) -> str:
        local = re.split(r"[#/]", str(entity))[-1]
        problem = id_problem(local)
        if problem is not None:
            self.problems.append(f"{entity}: its local name is not a CampusLab id: {problem}")
        return local

    def name(self, entity) -> str:
        return str(self.value(entity, self.label) or self.ident(entity))

    def parts(self, whole) -> list:
        found = set(self.graph.objects(whole, self.brick.hasPart))
        found |= set(self.graph.objects(whole, self.rec.hasPart))
        found |= set(self.graph.subjects(self.brick.isPartOf, whole))
        found |= set(self.graph.subjects(self.rec.isPartOf, whole))
        return self.ordered(found)

    def capacity(self, space) -> int | None:
        for node in self.graph.objects(space, self.rec.capacity):
            seats = self.value(node, self.rec.seatingCapacity)
            if seats is not None:
                return int(seats)
        return None

    def area(self, entity) -> float | None:
        node = self.graph.value(entity, self.brick.area)
        if node is None:
            return None
        value = self.graph.value(node, self.brick.value)
        return float(value.toPython()) if value is not None else None

    # -- the registry --------------------------------------------------------------------
    def registry(self, timezone: str | None) -> dict[str, Any]:
        sites = self.instances("Site")
        if len(sites) != 1:
            self.problems.append(f"(model): needs exactly one brick:Site, found {len(sites)}")
            return {}
        site = sites[0]
        zone = self.value(site, self.cl.timezone) or timezone
        if zone is None:
            self.problems.append(
                f"{site}: no campuslab:timezone; pass timezone= (an IANA name, e.g. Europe/Oslo)"
            )
        buildings = [b for b in self.parts(site) if "Building" in self.types(b)]
        raw: dict[str, Any] = {
            "site": {"id": self.ident(site), "name": self.name(site), "timezone": zone},
            "buildings": [self.building(b) for b in buildings],
        }
        station = self.weather_station()
        if station and "weather_station" in Site.model_fields:
            raw["site"]["weather_station"] = station
        return raw

    def building(self, building) -> dict[str, Any]:
        levels = {}
        for floor in self.parts(building):
            if "Floor" in self.types(floor):
                level = self.level(floor)
                for space in self.parts(floor):
                    levels.setdefault(space, level)
        spaces = [self.space(space, levels[space]) for space in self.ordered(levels)]
        return {
            "id": self.ident(building),
            "name": self.name(building),
            "heated_area_m2": self.area(building),
            "meters": self.meters(building),
            "spaces": spaces,
        }

    def level(self, floor) -> int | None:
        level = self.value(floor, self.cl.level)
        if level is not None:
            return int(level)
        digits = re.search(r"-?\d+", str(self.value(floor, self.label) or ""))
        if digits:
            return int(digits.group())
        self.problems.append(f"{floor}: no campuslab:level and no floor number in its label")
        return None

    def space(self, space, level: int | None) -> dict[str, Any]:
        space_type = self.value(space, self.cl.spaceType)
        if space_type is None:
            known = {_TYPES_OF_CLASSES[c] for c in self.types(space) if c in _TYPES_OF_CLASSES}
            specific = [t for t in SpaceType if t in known and t is not SpaceType.OTHER]
            space_type = specific[0].value if specific else SpaceType.OTHER.value
        capacity = self.capacity(space)
        if capacity is None:
            self.problems.append(
                f"{space}: no seats; give it rec:capacity [ a rec:ArchitectureCapacity ; "
                "rec:seatingCapacity n ]"
            )
        return {
            "id": self.ident(space),
            "name": self.name(space),
            "floor": level,
            "type": space_type,
            "capacity": capacity,
            "area_m2": self.area(space),
        }

    def meters(self, building) -> list[dict[str, str]]:
        meters = []
        for meter in self.ordered(self.graph.subjects(self.brick.meters, building)):
            quantity = self.point_quantity(meter, ("energy", "power", "heat_energy"))
            if quantity is None:
                self.problems.append(f"{meter}: a meter without an energy, power or heat point")
                continue
            meters.append({"id": self.ident(meter), "quantity": quantity})
        return meters

    def point_quantity(self, entity, quantities: tuple[str, ...]) -> str | None:
        points = set(self.graph.subjects(self.brick.isPointOf, entity))
        points |= set(self.graph.objects(entity, self.brick.hasPoint))
        for quantity in quantities:
            if any(POINT_CLASSES[quantity] in self.types(p) for p in points):
                return quantity
        return None

    def weather_station(self) -> dict[str, str] | None:
        stations = self.instances("Weather_Station")
        if not stations:
            return None
        station = stations[0]
        located = self.graph.value(station, self.brick.hasLocation)
        if located is None or "Building" not in self.types(located):
            return None
        return {"id": self.ident(station), "building": self.ident(located)}
