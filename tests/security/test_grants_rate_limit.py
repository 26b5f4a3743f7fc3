"""Issue #16 item 19, against the real resident services over HTTP:

- an owner's app adds grants (or a resident declares) as fast as it can: limited per hour like passes;
- adding a grant tells whether an ID number is registered (and under which name): it must not.
"""
from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from core.config import load_secrets
from blockdata.db import transaction
from blockdata.identity import check_digit, hash_id_number, mask_id_number
from blockdata.models import AccessGrant, Person, ResidenceKind, SelfDeclaration, Sex
from tests.security.residents_world import Residents, residents_api


def id_number(seq: int, born: str = "19900101") -> str:
    first17 = f"320102{born}{seq:03d}"
    return first17 + check_digit(first17)


REGISTERED = id_number(731, "19720315")


@pytest.fixture(scope="module")
def residents(database_url: str):  # noqa: ANN201
    with residents_api({"GRIDPULSE_GRANTS_PER_HOUR": "4", "GRIDPULSE_DECLARATIONS_PER_HOUR": "2"}) as r:
        with transaction() as s:  # someone the base knows by this ID number, under their real name
            s.add(Person(id_hash=hash_id_number(load_secrets().id_hash_key, REGISTERED), id_masked=mask_id_number(REGISTERED),
                         name="欧阳建华", sex=Sex.male, birth_date=dt.date(1972, 3, 15), residence_kind=ResidenceKind.registered))
        try:
            yield r
        finally:
            with transaction() as s:
                s.execute(AccessGrant.__table__.delete().where(AccessGrant.grantee_person_id.in_(
                    select(Person.id).where(Person.id_masked == mask_id_number(REGISTERED)))))
                s.execute(Person.__table__.delete().where(Person.id_masked == mask_id_number(REGISTERED)))


def _grants(dwelling: int) -> int:
    with transaction() as s:
        return s.scalar(select(func.count()).select_from(AccessGrant).where(AccessGrant.dwelling_id == dwelling))


def test_a_grant_does_not_reveal_whether_an_id_number_is_registered(residents: Residents) -> None:
    owner, a1 = residents.client("owner"), residents.world.dwellings["a1"]
    answers = {}
    for label, number in (("registered", REGISTERED), ("unknown", id_number(732, "19720315"))):
        r = owner.post(f"/v1/me/dwellings/{a1}/grants", json={"id_number": number, "name": "李四", "kind": "family"})
        assert r.status_code == 201, r.text
        answers[label] = r.json()
    for body in answers.values():
        assert body["grantee_name"] == "李*"  # what the owner typed, masked: never the base's 欧阳*华
        assert body["grantee_id_masked"] == "3201**********" + body["grantee_id_masked"][-4:]
    assert set(answers["registered"]) == set(answers["unknown"])
    listed = json.dumps(owner.get(f"/v1/me/dwellings/{a1}/grants").json(), ensure_ascii=False)
    assert "欧" not in listed and listed.count("李*") == 2
    for body in answers.values():  # revoked again: the cap of a1 is for the rate test
        assert owner.delete(f"/v1/me/grants/{body['id']}").status_code == 200


def test_grants_are_rate_limited_per_owner_like_passes(residents: Residents) -> None:
    owner, a1 = residents.client("owner"), residents.world.dwellings["a1"]
    before = _grants(a1)
    # test_a_grant_… used 2 of this hour's 4; two more go through, the next is refused before any look-up
    statuses = [owner.post(f"/v1/me/dwellings/{a1}/grants", json={"id_number": id_number(800 + i), "name": f"租客{i}",
                                                                  "kind": "tenant"}).status_code for i in range(2)]
    assert statuses == [201, 201]
    refused = owner.post(f"/v1/me/dwellings/{a1}/grants", json={"id_number": id_number(810), "name": "王五", "kind": "tenant"})
    assert refused.status_code == 429 and "at most 4 grants per hour" in refused.json()["detail"]
    assert _grants(a1) == before + 2  # the refused one wrote nothing
    # another owner is not limited by this one's hour
    other = residents.client("outsider")
    assert other.post(f"/v1/me/dwellings/{residents.world.dwellings['b1']}/grants",
                      json={"id_number": id_number(811), "name": "赵六", "kind": "family"}).status_code == 201


def test_declarations_are_rate_limited_per_resident(residents: Residents) -> None:
    nobody, today = residents.client("nobody"), dt.date.today().isoformat()
    codes = [nobody.post("/v1/me/declarations", json={"dwelling_id": residents.world.dwellings[d], "period_from": today,
                                                      "relation_to_owner": "tenant"}).status_code for d in ("a2", "b1")]
    assert codes == [201, 201]
    third = nobody.post("/v1/me/declarations", json={"dwelling_id": residents.world.dwellings["a1"], "period_from": today,
                                                      "relation_to_owner": "lodger"})
    assert third.status_code == 429 and "declarations per hour" in third.json()["detail"]
    with transaction() as s:
        assert s.scalar(select(func.count()).select_from(SelfDeclaration).where(
            SelfDeclaration.person_id == residents.world.people["nobody"])) == 2
