"""The resident behind an app token, and the people an owner names (grantees), found by ID-number hash.

A grantee the base does not know yet is registered from what the owner entered (the ID number gives
birth date and sex, GB 11643), as a floating resident until the grant's end: the gate needs a person
to open for, and the grid worker meets them at the next doorstep visit.
"""
from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.keys import load_resident_secrets
from core.errors import InvalidInput, NotFound
from blockdata.identity import hash_id_number, mask_id_number, validate_id_number
from blockdata.models import Person, ResidenceKind, Sex


def resident(session: Session, pid: uuid.UUID) -> Person:
    person = session.scalar(select(Person).where(Person.pid == pid))
    if person is None:
        raise NotFound("the app token names no resident known here", record=str(pid))
    return person


def _born_and_sex(number: str) -> tuple[dt.date, Sex]:
    try:
        born = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidInput("the ID number's birth date is not a date", record=mask_id_number(number)) from None
    if born > dt.date.today():
        raise InvalidInput("the ID number's birth date is in the future", record=mask_id_number(number))
    return born, Sex.male if int(number[16]) % 2 else Sex.female


def find_or_register(session: Session, id_number: str, name: str, until: dt.date | None) -> Person:
    number = validate_id_number(id_number)
    name = name.strip()
    if not 1 <= len(name) <= 64:
        raise InvalidInput("a name has 1 to 64 characters", record=mask_id_number(number))
    id_hash = hash_id_number(load_resident_secrets().id_hash_key, number)
    person = session.scalar(select(Person).where(Person.id_hash == id_hash))
    if person is not None:
        return person
    born, sex = _born_and_sex(number)
    person = Person(id_hash=id_hash, id_masked=mask_id_number(number), name=name, sex=sex, birth_date=born,
                    residence_kind=ResidenceKind.floating,
                    temp_residence_expiry=until or dt.date.today() + dt.timedelta(days=180))
    session.add(person)
    session.flush()
    return person
