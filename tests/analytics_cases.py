"""Hand-built cases for the rules on top of tests/places.py: people, tags, events, readings."""
from __future__ import annotations

import datetime as dt
import uuid
from itertools import count

from sqlalchemy import text
from sqlalchemy.orm import Session

from core.config import load_secrets
from core.events import uuid7
from blockdata.identity import hash_id_number, mask_id_number
from blockdata.models import Account, Person, PersonTag, PersonTagKind, ResidenceKind, Sex
from tests.places import id_number

AS_OF = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.timezone.utc)  # 10:00 in Nanjing
_seq = count(100)


def person(session: Session, dwelling_id: int | None, name: str, *, born: dt.date = dt.date(1980, 1, 1),
           kind: ResidenceKind = ResidenceKind.registered, expiry: dt.date | None = None,
           tags: tuple[PersonTagKind, ...] = (), basis_expiry: dt.date | None = None) -> int:
    number = id_number(next(_seq), born)
    p = Person(id_hash=hash_id_number(load_secrets().id_hash_key, number), id_masked=mask_id_number(number), name=name,
               sex=Sex.female, birth_date=born, residence_kind=kind, temp_residence_expiry=expiry, home_dwelling_id=dwelling_id)
    session.add(p)
    session.flush()
    for tag in tags:
        supervised = tag in (PersonTagKind.community_correction, PersonTagKind.key_control)
        session.add(PersonTag(person_id=p.id, tag=tag, set_by="test",
                              legal_basis="社区矫正决定书 (测试)" if supervised else None,
                              legal_basis_expiry=basis_expiry if supervised else None))
    session.flush()
    return p.id


def event(session: Session, ts: dt.datetime, gate_id: int, *, person_id: int | None = None, direction: str = "out",
          result: str = "open", method: str = "face", compound_id: int | None = None, key_site_id: int | None = None,
          pass_id: uuid.UUID | None = None, stranger_id: uuid.UUID | None = None) -> None:
    session.execute(text("SELECT gp_ensure_event_partitions(CAST(:d AS date) - 1, CAST(:d AS date) + 1)"), {"d": ts.date()})
    session.execute(
        text(
            """INSERT INTO access_event (event_id, ts, gate_id, compound_id, key_site_id, direction, method, result,
                                         person_id, pass_id, stranger_id)
               VALUES (:id, :ts, :gate, :compound, :site, CAST(:direction AS direction), CAST(:method AS access_method),
                       CAST(:result AS access_result), :person, :pass, :stranger)"""
        ),
        {"id": uuid7(int(ts.timestamp() * 1000)), "ts": ts, "gate": gate_id,
         "compound": compound_id if key_site_id is None else None, "site": key_site_id, "direction": direction,
         "method": method, "result": result, "person": person_id, "pass": pass_id, "stranger": stranger_id},
    )


def account(session: Session, username: str, role: str, jurisdiction: list[str]) -> int:
    acc = Account(username=username, display_name=username, role=role, jurisdiction=jurisdiction)
    session.add(acc)
    session.flush()
    return acc.id
