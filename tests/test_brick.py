"""The campus registry as Brick Schema (core/brick.py, GET /api/v1/campus.ttl), and back."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path

import pytest
from conftest import require
from rdflib import RDF, BNode, Graph, Literal, Namespace, URIRef

from campuslab.api import create_app
from campuslab.core.brick import (
    BRICK_NS,
    REC_NS,
    REF_NS,
    UNIT_NS,
    campus_graph,
    campus_turtle,
    registry_from_brick,
)
from campuslab.core.registry import Campus, RegistryError, load_campus, sample_campus_path
from campuslab.core.store.duckdb import DuckDBStore

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

BRICK, REC, REF, UNIT = (
    Namespace(BRICK_NS),
    Namespace(REC_NS),
    Namespace(REF_NS),
    Namespace(UNIT_NS),
)
SH = Namespace("http://www.w3.org/ns/shacl#")
SITE = Namespace("urn:campuslab:elvebakken#")
API = "http://lab.example.edu"


@pytest.fixture(scope="module")
def sample() -> Campus:
    return load_campus(sample_campus_path())


@pytest.fixture(scope="module")
def turtle(sample: Campus) -> str:
    return campus_turtle(sample, API)


@pytest.fixture(scope="module")
def graph(turtle: str) -> Graph:
    return Graph().parse(data=turtle, format="turtle")


def test_brick_model_validates_with_brickschema(turtle: str):
    # a test extra: on CI its absence fails the run instead of skipping the check
    require(find_spec("brickschema") is not None, "brickschema", "pip install -e '.[test]'")
    import brickschema

    model = brickschema.Graph(load_brick=True)
    model.parse(data=turtle, format="turtle")
    ours = Graph().parse(data=turtle, format="turtle")
    subjects = set(ours.subjects())
    _, results, _ = model.validate()
    violations = []
    for result in results.subjects(RDF.type, SH.ValidationResult):
        if results.value(result, SH.resultSeverity) != SH.Violation:
            continue
        focus = results.value(result, SH.focusNode)
        if focus in subjects or (isinstance(focus, URIRef) and str(focus).startswith("urn:")):
            violations.append((focus, str(results.value(result, SH.resultMessage))))
    # brickschema 0.8 bundles Brick without QUDT, so the ontology itself reports its QUDT
    # quantity kinds; none of the violations may be about our model
    assert violations == []
    warnings_ = {
        str(results.value(r, SH.resultMessage))
        for r in results.subjects(SH.resultSeverity, SH.Warning)
        if results.value(r, SH.focusNode) in subjects
    }
    assert all("deprecated in version 1.4.0" in w for w in warnings_)


def test_site_buildings_floors_spaces(graph: Graph, sample: Campus):
    site = SITE["elvebakken"]
    assert (site, RDF.type, BRICK.Site) in graph and (site, RDF.type, REC.Site) in graph
    buildings = set(graph.objects(site, BRICK.hasPart))
    assert buildings == {SITE[b.id] for b in sample.buildings}
    floor = SITE["rfb/floor/4"]
    assert (floor, RDF.type, BRICK.Floor) in graph and (floor, RDF.type, REC.Level) in graph
    assert (SITE["rfb"], BRICK.hasPart, floor) in graph
    assert (floor, BRICK.hasPart, SITE["rfb-401"]) in graph
    kinds = {
        "rfb-101": (BRICK.Auditorium, REC.Auditorium),  # lecture hall
        "rfb-104": (BRICK.Room, REC.Classroom),  # seminar room
        "rfb-205": (BRICK.Common_Space, REC.EducationalRoom),  # study hall
        "rfb-110": (BRICK.Private_Office, REC.Office),  # one-seat office
        "rfb-405": (BRICK.Office, REC.Office),
        "rfb-404": (BRICK.Conference_Room, REC.ConferenceRoom),
        "rfb-202": (BRICK.Laboratory, REC.Laboratory),
    }
    for space, (brick_class, rec_class) in kinds.items():
        assert (SITE[space], RDF.type, brick_class) in graph, space
        assert (SITE[space], RDF.type, rec_class) in graph, space
    seats = graph.value(graph.value(SITE["rfb-101"], REC.capacity), REC.seatingCapacity)
    assert seats.toPython() == 280
    area = graph.value(SITE["rfb-101"], BRICK.area)
    assert graph.value(area, BRICK.value).toPython() == pytest.approx(310.7)
    assert graph.value(area, BRICK.hasUnit) == UNIT.M2


def test_points_units_and_timeseries_references(graph: Graph):
    expected = {
        "occupancy": (BRICK.Occupancy_Count_Sensor, UNIT.NUM),
        "co2": (BRICK.CO2_Level_Sensor, UNIT.PPM),
        "temperature": (BRICK.Air_Temperature_Sensor, UNIT.DEG_C),
        "humidity": (BRICK.Relative_Humidity_Sensor, UNIT.PERCENT_RH),
    }
    for quantity, (kind, unit) in expected.items():
        point = SITE[f"rfb-101/{quantity}"]
        assert (point, RDF.type, kind) in graph
        assert (point, BRICK.isPointOf, SITE["rfb-101"]) in graph
        assert (point, BRICK.hasUnit, unit) in graph
        reference = graph.value(point, REF.hasExternalReference)
        assert isinstance(reference, BNode)
        assert (reference, RDF.type, REF.TimeseriesReference) in graph
        assert graph.value(reference, REF.hasTimeseriesId) == Literal(f"{quantity}/rfb-101")
        assert graph.value(reference, REF.storedAt) == Literal(
            f"{API}/api/v1/spaces/rfb-101/readings?quantity={quantity}"
        )
    meter = SITE["rfb-el"]
    assert (meter, RDF.type, BRICK.Building_Electrical_Meter) in graph
    assert (meter, BRICK.meters, SITE["rfb"]) in graph
    energy = SITE["rfb-el/energy"]
    assert (energy, RDF.type, BRICK.Electric_Energy_Sensor) in graph
    assert (energy, BRICK.hasUnit, UNIT["KiloW-HR"]) in graph
    heat = SITE["rfb-heat/heat_energy"]
    assert (heat, RDF.type, BRICK.Thermal_Energy_Usage_Sensor) in graph


def test_no_readings_or_counts_in_the_model(graph: Graph):
    numbers = [o for o in graph.objects() if isinstance(o, Literal) and o.datatype is not None]
    predicates = {p for s, p, o in graph if o in numbers}
    assert predicates <= {
        BRICK.value,
        REC.seatingCapacity,
        URIRef("urn:campuslab:schema#level"),
        URIRef("urn:campuslab:schema#position"),
    }


def test_round_trip_gives_the_same_registry(turtle: str, sample: Campus):
    back = registry_from_brick(turtle)
    assert back.site == sample.site
    assert back.buildings == sample.buildings


def test_a_foreign_brick_model_is_imported():
    foreign = """
    @prefix brick: <https://brickschema.org/schema/Brick#> .
    @prefix rec: <https://w3id.org/rec#> .
    @prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
    @prefix ex: <http://example.com/campus#> .
    ex:main a rec:Site ; rdfs:label "Main campus" .
    ex:lib a rec:Building ; rdfs:label "Library" ; rec:isPartOf ex:main ;
        brick:area [ brick:value 1200.0 ] .
    ex:lib-f2 a brick:Floor ; rdfs:label "Floor 2" ; brick:isPartOf ex:lib .
    ex:lib-201 a rec:Classroom ; rdfs:label "Room 201" ; brick:isPartOf ex:lib-f2 ;
        rec:capacity ex:cap201 ; brick:area [ brick:value 40.5 ] .
    ex:cap201 a rec:ArchitectureCapacity ; rec:seatingCapacity 24 .
    ex:lib-202 a brick:Conference_Room ; brick:isPartOf ex:lib-f2 ;
        rec:capacity ex:cap202 ; brick:area [ brick:value 20 ] .
    ex:cap202 a rec:ArchitectureCapacity ; rec:seatingCapacity 8 .
    ex:lib-el a brick:Electrical_Meter ; brick:meters ex:lib .
    ex:lib-el-kwh a brick:Electric_Energy_Sensor ; brick:isPointOf ex:lib-el .
    """
    campus = registry_from_brick(foreign, timezone="Europe/Oslo")
    assert campus.site.id == "main" and campus.site.timezone == "Europe/Oslo"
    (building,) = campus.buildings
    assert (building.id, building.name, building.heated_area_m2) == ("lib", "Library", 1200.0)
    assert [(s.id, s.floor, s.type.value, s.capacity) for s in building.spaces] == [
        ("lib-201", 2, "seminar_room", 24),
        ("lib-202", 2, "meeting_room", 8),
    ]
    assert [(m.id, m.quantity) for m in building.meters] == [("lib-el", "energy")]


def test_import_problems_are_listed():
    broken = """
    @prefix brick: <https://brickschema.org/schema/Brick#> .
    @prefix ex: <http://example.com/x#> .
    ex:s a brick:Site .
    ex:Bø a brick:Building ; brick:isPartOf ex:s .
    ex:f a brick:Floor ; brick:isPartOf ex:Bø .
    ex:r1 a brick:Room ; brick:isPartOf ex:f .
    """
    with pytest.raises(RegistryError) as caught:
        registry_from_brick(broken)
    text = str(caught.value)
    assert "timezone" in text
    assert "its local name is not a CampusLab id: 'Bø' has 'ø' (U+00F8, not ASCII)" in text
    assert "no seats" in text
    assert "no floor number" in text
    with pytest.raises(RegistryError, match="not valid Turtle"):
        registry_from_brick("this is not turtle {")


@pytest.fixture
def client(tmp_path: Path, sample: Campus) -> Iterator[TestClient]:
    store = DuckDBStore(tmp_path / "campus.duckdb")
    with TestClient(create_app(store, sample)) as client:
        yield client
    store.close()


def test_campus_ttl_is_public_turtle(client: TestClient, sample: Campus):
    answer = client.get("/api/v1/campus.ttl")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/turtle; charset=utf-8"
    graph = Graph().parse(data=answer.text, format="turtle")
    reference = graph.value(SITE["rfb-106/co2"], REF.hasExternalReference)
    assert graph.value(reference, REF.storedAt) == Literal(
        "http://testserver/api/v1/spaces/rfb-106/readings?quantity=co2"
    )
    assert registry_from_brick(answer.text).buildings == sample.buildings
    assert client.get("/api/v1/campus.ttl").text == answer.text


def test_graph_without_api_base_has_ids_only(sample: Campus):
    graph = campus_graph(sample)
    assert not list(graph.triples((None, REF.storedAt, None)))
    assert len(list(graph.triples((None, REF.hasTimeseriesId, None)))) > 300


def test_the_campus_own_codes_are_carried_unchanged_into_brick():
    codes = load_campus(Path(__file__).parent / "data" / "campus_codes.yaml")
    turtle = campus_turtle(codes, API)
    graph = Graph().parse(data=turtle, format="turtle")
    site = Namespace("urn:campuslab:NTNU-Gl#")
    room = site["A2.14"]
    assert str(room) == "urn:campuslab:NTNU-Gl#A2.14"
    assert (room, RDF.type, BRICK.Common_Space) in graph
    assert (site["HB"], BRICK.hasPart, site["HB/floor/2"]) in graph
    assert (site["HB/floor/2"], BRICK.hasPart, room) in graph
    point = site["A2.14/co2"]
    (reference,) = graph.objects(point, REF.hasExternalReference)
    assert graph.value(reference, REF.hasTimeseriesId) == Literal("co2/A2.14")
    assert graph.value(reference, REF.storedAt) == Literal(
        f"{API}/api/v1/spaces/A2.14/readings?quantity=co2"
    )
    assert (site["EL.el"], BRICK.meters, site["EL"]) in graph
    back = registry_from_brick(turtle)
    assert back.site == codes.site
    assert back.buildings == codes.buildings
    # a site id that is not a Turtle prefix name still gives Turtle that parses
    dotted = codes.model_copy(update={"site": codes.site.model_copy(update={"id": "gl."})})
    assert registry_from_brick(campus_turtle(dotted)).site.id == "gl."
