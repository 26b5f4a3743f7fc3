"""Hand-written SQL of migration 0006 (trust): the consent-backed gallery view, the population library's
narrow call, and the service roles with their least grants (docs/SECURITY.md has the table in words).

Roles are cluster-wide, so the migration creates them only when missing and never drops them (another
database of the same cluster may use them); grants are per database and the downgrade revokes them.
``gp_grant_service_roles()`` holds every grant: `gridpulse migrate` calls it after each upgrade, so a table a
later migration adds gets the app's grants without that migration knowing about roles.
"""
from __future__ import annotations

SERVICE_ROLES = ("gridpulse_app", "gridpulse_bridge", "gridpulse_ingest", "gridpulse_rules", "gridpulse_residents")

_CREATE_ROLES = r"""
DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['gridpulse_app','gridpulse_bridge','gridpulse_ingest','gridpulse_rules','gridpulse_residents'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS', r);
      EXCEPTION
        WHEN duplicate_object OR unique_violation THEN NULL;  -- another database's migration made it just now
        WHEN insufficient_privilege THEN
          RAISE EXCEPTION 'role % is missing and % may not create it: run scripts/bootstrap.sh roles (as the PostgreSQL superuser) first', r, current_user;
      END;
    END IF;
  END LOOP;
END $$
"""

# A template opens a gate only while a live consent backs it, given to a notice the platform published.
_FACE_GALLERY = """
CREATE VIEW face_gallery AS
SELECT t.id, t.person_id, t.embedding, t.xmin::text::bigint AS row_version, c.id AS consent_id
FROM face_template t
JOIN face_consent c ON c.person_id = t.person_id AND c.withdrawn_at IS NULL AND c.purpose = 'gate_access'
JOIN consent_notice n ON n.version = c.notice_version AND n.published_at <= now()
WHERE t.library = 'app'
"""

_CONSENT_TRIGGER_FN = """
CREATE OR REPLACE FUNCTION gp_notify_consent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('gp_access_changed', '*');
  RETURN NULL;
END $$
"""

# The narrow call: the bridge hands over a probe and gets back whether one person matched — never the
# library. The basis, the per-gate rate limit and the audit entry are enforced here, in the database,
# so a bridge (or whoever holds its credentials) cannot skip them.
_POPULATION_IDENTIFY = r"""
CREATE OR REPLACE FUNCTION gp_population_identify(p_compound integer, p_gate integer, p_probe real[],
                                                  p_threshold real, p_margin real)
RETURNS TABLE (outcome text, person_id bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  b population_basis;
  recent integer;
  probe_norm double precision;
  best_pid bigint; best_score double precision; runner double precision;
BEGIN
  IF p_probe IS NULL OR cardinality(p_probe) <> 512 THEN
    RAISE EXCEPTION 'a probe is 512 numbers' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF p_threshold IS NULL OR p_threshold < 0.3 OR p_margin IS NULL OR p_margin < 0 THEN
    RAISE EXCEPTION 'threshold must be at least 0.3 and margin at least 0' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM gate g WHERE g.id = p_gate AND g.compound_id = p_compound) THEN
    RAISE EXCEPTION 'gate % is not a gate of compound %', p_gate, p_compound USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT * INTO b FROM population_basis pb
   WHERE pb.compound_id = p_compound AND pb.revoked_at IS NULL AND pb.valid_from <= now() AND pb.valid_until > now()
   ORDER BY pb.valid_until DESC LIMIT 1;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'no_basis'::text, NULL::bigint;
    RETURN;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('gp_population_lookup'), p_gate);
  SELECT count(*) INTO recent FROM population_lookup l WHERE l.gate_id = p_gate AND l.at > clock_timestamp() - interval '1 minute';
  IF recent >= b.lookups_per_minute THEN
    RETURN QUERY SELECT 'rate_limited'::text, NULL::bigint;
    RETURN;
  END IF;
  SELECT sqrt(sum(x * x)) INTO probe_norm FROM unnest(p_probe) AS x;
  IF probe_norm IS NULL OR probe_norm = 0 THEN
    RAISE EXCEPTION 'a probe must be non-zero' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  WITH scored AS (
    SELECT t.person_id AS pid,
           (SELECT sum(a * q) / NULLIF(sqrt(sum(a * a)) * probe_norm, 0) FROM unnest(t.embedding, p_probe) AS u(a, q)) AS score
    FROM face_template t WHERE t.library = 'population'
  ), per_person AS (
    SELECT pid, max(score) AS score FROM scored WHERE score IS NOT NULL GROUP BY pid ORDER BY 2 DESC LIMIT 2
  )
  SELECT (array_agg(pid ORDER BY score DESC))[1], (array_agg(score ORDER BY score DESC))[1],
         coalesce((array_agg(score ORDER BY score DESC))[2], 0)
    INTO best_pid, best_score, runner FROM per_person;
  IF best_pid IS NOT NULL AND best_score >= p_threshold AND best_score - runner >= p_margin THEN
    INSERT INTO population_lookup (compound_id, gate_id, basis_id, matched, at) VALUES (p_compound, p_gate, b.id, true, clock_timestamp());
    INSERT INTO audit_log (account_id, username, role, action, subject, reason, detail)
    VALUES (NULL, 'bridge:compound:' || p_compound, 'gate_bridge', 'face.population_identify', 'person:' || best_pid,
            b.document, jsonb_build_object('basis_id', b.id, 'granted_by', b.granted_by, 'document', b.document,
                                           'valid_until', b.valid_until, 'gate_id', p_gate, 'compound_id', p_compound));
    RETURN QUERY SELECT 'match'::text, best_pid;
  ELSE
    INSERT INTO population_lookup (compound_id, gate_id, basis_id, matched, at) VALUES (p_compound, p_gate, b.id, false, clock_timestamp());
    RETURN QUERY SELECT 'no_match'::text, NULL::bigint;
  END IF;
END $$
"""

# Every grant of every service role, re-runnable (`gridpulse migrate` runs it after each upgrade).
# Nobody but the owner may ALTER, DROP or TRUNCATE a table; nobody may UPDATE or DELETE the audit log.
_GRANT_FN = r"""
CREATE OR REPLACE FUNCTION gp_grant_service_roles() RETURNS void LANGUAGE plpgsql AS $$
DECLARE t text;
BEGIN
  -- the app (dashboard, imports, exports, the CLI's account work): data in and out, audit append-only
  FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v') AND NOT c.relispartition
             AND c.relname NOT IN ('spatial_ref_sys', 'alembic_version') LOOP
    EXECUTE format('GRANT SELECT ON %I TO gridpulse_app, gridpulse_rules, gridpulse_residents', t);
    IF t NOT IN ('audit_log', 'access_event', 'gate_flow_minute', 'population_lookup', 'face_gallery',
                 'access_allowed', 'access_barred') THEN
      EXECUTE format('GRANT INSERT, UPDATE, DELETE ON %I TO gridpulse_app', t);
    END IF;
  END LOOP;
  GRANT INSERT ON audit_log TO gridpulse_app, gridpulse_rules, gridpulse_residents;
  GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO gridpulse_app, gridpulse_rules, gridpulse_residents;
  -- rules: read everything, write alerts and work orders
  GRANT INSERT, UPDATE ON alert, work_order TO gridpulse_rules;
  -- the resident services: grants, passes, consent and templates, declarations (and the order they open)
  GRANT INSERT, UPDATE, DELETE ON access_grant, visitor_pass, face_consent, face_template, self_declaration,
        person, relation, work_order, alert TO gridpulse_residents;
  -- ingest: land events and rollups; read the gates' places
  GRANT SELECT, INSERT ON access_event TO gridpulse_ingest;
  GRANT SELECT, INSERT, UPDATE ON gate_flow_minute TO gridpulse_ingest;
  -- the hourly rollup (migration 0011) is kept by triggers on gate_flow_minute, which run as ingest
  IF to_regclass('gate_flow_hour') IS NOT NULL THEN
    GRANT SELECT, INSERT, UPDATE, DELETE ON gate_flow_hour TO gridpulse_ingest;
  END IF;
  GRANT SELECT ON gate, compound, grid, key_site TO gridpulse_ingest;
  GRANT EXECUTE ON FUNCTION gp_ensure_event_partitions(date, date) TO gridpulse_ingest, gridpulse_app;
  -- the gate bridge: who may enter, the consent-backed gallery, passes, gate keys, strangers, the narrow call
  GRANT SELECT ON access_allowed, access_barred, face_gallery TO gridpulse_bridge;
  GRANT SELECT (id, dwelling_id, valid_from, valid_to, entries_allowed, entries_used, revoked_at) ON visitor_pass TO gridpulse_bridge;
  GRANT UPDATE (entries_used) ON visitor_pass TO gridpulse_bridge;
  GRANT SELECT (id, building_id) ON dwelling TO gridpulse_bridge;
  GRANT SELECT (id, compound_id) ON building TO gridpulse_bridge;
  GRANT SELECT (id, compound_id, key_hash) ON gate TO gridpulse_bridge;
  GRANT SELECT (id, stranger_id, library, compound_id, embedding, expires_at),
        INSERT (stranger_id, library, compound_id, model_version, embedding, expires_at) ON face_template TO gridpulse_bridge;
  GRANT USAGE ON SEQUENCE face_template_id_seq TO gridpulse_bridge;
  GRANT EXECUTE ON FUNCTION gp_population_identify(integer, integer, real[], real, real) TO gridpulse_bridge;
END $$
"""

UPGRADE_SQL = [
    _CREATE_ROLES,
    _FACE_GALLERY,
    _CONSENT_TRIGGER_FN,
    "CREATE TRIGGER face_consent_notify_access AFTER INSERT OR UPDATE OR DELETE ON face_consent "
    "FOR EACH ROW EXECUTE FUNCTION gp_notify_consent()",
    "CREATE TRIGGER consent_notice_notify_access AFTER INSERT OR UPDATE OR DELETE ON consent_notice "
    "FOR EACH ROW EXECUTE FUNCTION gp_notify_consent()",
    _POPULATION_IDENTIFY,
    # Functions are executable by PUBLIC unless revoked: the population library is not a public lookup.
    "REVOKE ALL ON FUNCTION gp_population_identify(integer, integer, real[], real, real) FROM PUBLIC",
    # Partitions are created by the owner's function on the ingest's behalf (no CREATE on the schema for it).
    "ALTER FUNCTION gp_ensure_event_partitions(date, date) SECURITY DEFINER SET search_path = public, pg_temp",
    "REVOKE ALL ON FUNCTION gp_ensure_event_partitions(date, date) FROM PUBLIC",
    # The bridge sees and adds only pseudonymous stranger templates: never an app or population template.
    "ALTER TABLE face_template ENABLE ROW LEVEL SECURITY",
    "CREATE POLICY face_template_services ON face_template TO gridpulse_app, gridpulse_rules, gridpulse_residents "
    "USING (true) WITH CHECK (true)",
    "CREATE POLICY face_template_bridge_read ON face_template FOR SELECT TO gridpulse_bridge USING (library = 'stranger')",
    "CREATE POLICY face_template_bridge_add ON face_template FOR INSERT TO gridpulse_bridge "
    "WITH CHECK (library = 'stranger' AND person_id IS NULL)",
    _GRANT_FN,
    "REVOKE ALL ON FUNCTION gp_grant_service_roles() FROM PUBLIC",
]

DOWNGRADE_SQL = [
    "DROP FUNCTION IF EXISTS gp_grant_service_roles()",
    "DROP POLICY IF EXISTS face_template_bridge_add ON face_template",
    "DROP POLICY IF EXISTS face_template_bridge_read ON face_template",
    "DROP POLICY IF EXISTS face_template_services ON face_template",
    "ALTER TABLE face_template DISABLE ROW LEVEL SECURITY",
    "ALTER FUNCTION gp_ensure_event_partitions(date, date) SECURITY INVOKER",
    "GRANT EXECUTE ON FUNCTION gp_ensure_event_partitions(date, date) TO PUBLIC",
    "DROP FUNCTION IF EXISTS gp_population_identify(integer, integer, real[], real, real)",
    "DROP TRIGGER IF EXISTS consent_notice_notify_access ON consent_notice",
    "DROP TRIGGER IF EXISTS face_consent_notify_access ON face_consent",
    "DROP FUNCTION IF EXISTS gp_notify_consent()",
    "DROP VIEW IF EXISTS face_gallery",
    *[f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {r}" for r in SERVICE_ROLES],
    *[f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {r}" for r in SERVICE_ROLES],
    *[f"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM {r}" for r in SERVICE_ROLES],
]


def grant_statements() -> list[str]:
    """What the migration runs last: every grant, as `gridpulse migrate` runs it after later migrations too."""
    return ["SELECT gp_grant_service_roles()"]
