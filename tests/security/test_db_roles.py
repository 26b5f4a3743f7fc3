"""Issue 16 item 6: database roles with least grants.

A database built as `make demo` builds it: `scripts/bootstrap.sh owner` hands it to gridpulse_owner (PostGIS
made by the superuser), and the migrations run as that owner. Then each service's role tries each forbidden
statement — disabling or dropping the audit trigger, switching triggers off for the session, updating,
deleting or truncating audit rows, dropping or taking over tables, creating its own — and each is refused,
with the audit row the test wrote unchanged. Each role can still do its own job (a control per role), and
roles reach no further than their job (the bridge reads no person, ingest no person, the bridge no face
template but strangers')."""
from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from blockdata import migrate
from blockdata.migrations.sql_0006 import SERVICE_ROLES
from core.config import settings
from tests.conftest import recreate_database
from tests.security.roles import role_dsn, role_url

ROOT = Path(__file__).resolve().parents[2]

FORBIDDEN = {
    "disable the audit trigger": "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
    "disable every trigger": "ALTER TABLE audit_log DISABLE TRIGGER ALL",
    "drop the audit trigger": "DROP TRIGGER audit_log_append_only ON audit_log",
    "replace the trigger function": "CREATE OR REPLACE FUNCTION gp_audit_log_append_only() RETURNS trigger "
                                    "LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$",
    "skip triggers for the session": "SET session_replication_role = replica",
    "update audit rows": "UPDATE audit_log SET reason = 'nothing to see'",
    "delete audit rows": "DELETE FROM audit_log",
    "truncate the audit log": "TRUNCATE audit_log",
    "drop the audit log": "DROP TABLE audit_log",
    "drop people": "DROP TABLE person CASCADE",
    "drop events": "DROP TABLE access_event",
    "take a table over": "ALTER TABLE person OWNER TO CURRENT_USER",
    "create a table": "CREATE TABLE evil (x int)",
    "become the owner": "SET ROLE gridpulse_owner",
}


@pytest.fixture(scope="module")
def owned_db(database_url: str) -> str:
    """A database owned by gridpulse_owner, migrated by it, with one audit row written by the owner."""
    name = f"{make_url(database_url).database}_roles"
    owner_url = make_url(database_url).set(database=name, username="gridpulse_owner", password=None)
    recreate_database(make_url(database_url).set(database=name).render_as_string(hide_password=False))
    out = subprocess.run([str(ROOT / "scripts" / "bootstrap.sh"), "owner", name], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    url = owner_url.render_as_string(hide_password=False)
    migrate.upgrade(url)  # as the owner, not the superuser
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
        conn.execute("INSERT INTO audit_log (username, role, action, subject, reason) "
                     "VALUES ('test', 'admin', 'test.marker', 'person:1', 'the row no role may change')")
        owners = conn.execute("""SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n
                                 ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v')
                                 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
                              """).fetchall()  # PostGIS's own tables and views stay the superuser's
    assert owners == [("gridpulse_owner",)]
    return url


def dsn(role: str, url: str) -> str:
    return role_dsn(role, url)


def marker(url: str) -> list[tuple]:
    with psycopg.connect(role_dsn("gridpulse_owner", url)) as conn:
        return conn.execute("SELECT reason FROM audit_log WHERE action = 'test.marker'").fetchall()


@pytest.mark.parametrize("role", SERVICE_ROLES)
@pytest.mark.parametrize("attack", sorted(FORBIDDEN))
def test_no_service_role_can_touch_the_audit_trail_or_the_schema(owned_db: str, role: str, attack: str) -> None:
    with psycopg.connect(dsn(role, owned_db)) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(FORBIDDEN[attack])
    assert marker(owned_db) == [("the row no role may change",)]
    with psycopg.connect(dsn("gridpulse_owner", owned_db)) as conn:
        assert conn.execute("SELECT count(*) FROM pg_trigger WHERE tgname = 'audit_log_append_only' AND tgenabled = 'O'"
                            ).fetchone() == (1,)
        assert conn.execute("SELECT to_regclass('person') IS NOT NULL AND to_regclass('evil') IS NULL").fetchone() == (True,)


def test_the_owner_itself_cannot_rewrite_the_audit_log(owned_db: str) -> None:
    with psycopg.connect(dsn("gridpulse_owner", owned_db)) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute("UPDATE audit_log SET reason = 'x'")
    assert marker(owned_db) == [("the row no role may change",)]


@pytest.mark.parametrize("role, statement", [
    ("gridpulse_bridge", "SELECT name FROM person"),
    ("gridpulse_bridge", "SELECT * FROM audit_log"),
    ("gridpulse_bridge", "SELECT * FROM face_consent"),
    ("gridpulse_bridge", "UPDATE visitor_pass SET revoked_at = NULL"),
    ("gridpulse_bridge", "INSERT INTO audit_log (username, role, action, subject) VALUES ('x', 'x', 'x', 'x')"),
    ("gridpulse_ingest", "SELECT name FROM person"),
    ("gridpulse_ingest", "DELETE FROM access_event"),
    ("gridpulse_ingest", "UPDATE access_event SET result = 'open'"),
    ("gridpulse_rules", "DELETE FROM person"),
    ("gridpulse_rules", "UPDATE person SET name = 'x'"),
    ("gridpulse_residents", "DELETE FROM account"),
    ("gridpulse_residents", "UPDATE account SET role = 'admin'"),
    ("gridpulse_app", "DELETE FROM access_event"),
    ("gridpulse_app", "INSERT INTO population_lookup (compound_id, gate_id, basis_id, matched) VALUES (1, 1, 1, true)"),
])
def test_each_role_reaches_no_further_than_its_job(owned_db: str, role: str, statement: str) -> None:
    with psycopg.connect(dsn(role, owned_db)) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)


def test_the_bridge_sees_and_adds_only_stranger_templates(owned_db: str) -> None:
    vector = [0.0] * 511 + [1.0]
    with psycopg.connect(dsn("gridpulse_owner", owned_db)) as conn:
        conn.execute("INSERT INTO face_template (stranger_id, library, model_version, embedding, expires_at) "
                     "VALUES (gen_random_uuid(), 'stranger', 'w600k_mbf', %s, now() + interval '1 day')", (vector,))
        person = conn.execute("""INSERT INTO person (id_hash, id_masked, name, sex, birth_date, residence_kind)
                                 VALUES (decode(md5(random()::text) || md5(random()::text), 'hex'), '3201**********0001', 'p', 'F', '1980-01-01', 'registered')
                                 RETURNING id""").fetchone()[0]
        conn.execute("INSERT INTO face_template (person_id, library, model_version, embedding) "
                     "VALUES (%s, 'population', 'w600k_mbf', %s)", (person, vector))
    with psycopg.connect(dsn("gridpulse_bridge", owned_db)) as conn:
        assert conn.execute("SELECT library::text, count(*) FROM face_template GROUP BY 1").fetchall() == [("stranger", 1)]
        conn.execute("INSERT INTO face_template (stranger_id, library, model_version, embedding, expires_at) "
                     "VALUES (gen_random_uuid(), 'stranger', 'w600k_mbf', %s, now() + interval '7 days')", (vector,))
        conn.commit()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # an app template would open a gate
            conn.execute("INSERT INTO face_template (person_id, library, model_version, embedding, consent_at) "
                         "VALUES (%s, 'app', 'w600k_mbf', %s, now())", (person, vector))


def test_each_role_can_do_its_own_job(owned_db: str) -> None:
    """The controls: the refusals above are least privilege, not no privilege."""
    today = dt.datetime.now(dt.timezone.utc).date()
    with psycopg.connect(dsn("gridpulse_bridge", owned_db)) as conn:
        conn.execute("SELECT person_id FROM access_allowed WHERE compound_id = 1").fetchall()
        conn.execute("SELECT count(*) FROM face_gallery").fetchone()
        conn.execute("SELECT id, key_hash FROM gate WHERE compound_id = 1").fetchall()
    with psycopg.connect(dsn("gridpulse_ingest", owned_db)) as conn:
        conn.execute("SELECT gp_ensure_event_partitions(%s, %s)", (today, today + dt.timedelta(days=1)))
        landed = conn.execute("""INSERT INTO access_event (event_id, ts, gate_id, direction, method, result)
                        VALUES (gen_random_uuid(), now(), 1, 'in', 'manual', 'open') ON CONFLICT DO NOTHING""")
        assert landed.rowcount == 1  # ingest lands an event
        conn.execute("SELECT count(*) FROM gate_flow_minute").fetchone()
    with psycopg.connect(dsn("gridpulse_rules", owned_db)) as conn:
        conn.execute("SELECT count(*) FROM access_event").fetchone()
        conn.execute("SELECT count(*) FROM person").fetchone()
        assert conn.execute("INSERT INTO audit_log (username, role, action, subject) "
                            "VALUES ('rules', 'system', 'rules.sweep', 'street')").rowcount == 1
    with psycopg.connect(dsn("gridpulse_residents", owned_db)) as conn:
        conn.execute("SELECT count(*) FROM access_grant").fetchone()
        assert conn.execute("INSERT INTO audit_log (username, role, action, subject) "
                            "VALUES ('resident:x', 'resident', 'resident.read', 'x')").rowcount == 1
    with psycopg.connect(dsn("gridpulse_app", owned_db)) as conn:
        conn.execute("SELECT count(*) FROM person").fetchone()
        mine = conn.execute("SELECT count(*) FROM audit_log WHERE username IN ('rules', 'resident:x')").fetchone()[0]
        assert mine == 2  # the app reads the trail the other services appended to
        conn.execute("INSERT INTO population_basis (compound_id, granted_by, document, valid_until) "
                     "SELECT id, 'x', 'y', now() + interval '1 day' FROM compound LIMIT 0")


def test_the_rules_service_refreshes_the_daily_statistics_as_its_own_role(owned_db: str) -> None:
    """`rules watch` refreshes 统计's daily figures after its sweeps, connected as gridpulse_rules (as in
    `make demo`): it must be able to replace the days' rows and record the refresh — and still no more."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    from analytics.stats_refresh import refresh

    engine = create_engine(role_url("gridpulse_rules", owned_db))
    try:
        with Session(engine) as session, session.begin():
            report = refresh(session)
        with engine.connect() as conn:
            snapshot = conn.execute(text("SELECT snapshot FROM stat_refresh WHERE day = :d"),
                                    {"d": dt.date.fromisoformat(str(report["today"]))}).scalar_one()
        assert snapshot is True
    finally:
        engine.dispose()
    with psycopg.connect(dsn("gridpulse_rules", owned_db)) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("TRUNCATE place_stat_day")


def test_the_superuser_s_tests_see_the_same_grants(database_url: str) -> None:
    """`make test`'s database (migrated by the superuser) carries the same grants as the owner-built one."""
    with psycopg.connect(role_dsn("gridpulse_bridge", database_url)) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT name FROM person")
    with psycopg.connect(role_url("gridpulse_ingest", database_url).replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM audit_log")
