"""Hand-written SQL of migration 0001: what autogenerate cannot express (partitions, triggers)."""

PRE_UPGRADE = [
    "CREATE EXTENSION IF NOT EXISTS postgis",
    "CREATE SCHEMA IF NOT EXISTS truth",
]

POST_UPGRADE = [
    # Anything outside the daily partitions lands here instead of failing an ingest batch;
    # gp_ensure_event_partitions() moves nothing, so keep it small by creating days ahead.
    "CREATE TABLE access_event_default PARTITION OF access_event DEFAULT",
    r"""
    CREATE OR REPLACE FUNCTION gp_ensure_event_partitions(first_day date, last_day date)
    RETURNS integer LANGUAGE plpgsql AS $$
    DECLARE d date; created integer := 0; name text;
    BEGIN
      IF last_day < first_day THEN RAISE EXCEPTION 'last_day % before first_day %', last_day, first_day; END IF;
      d := first_day;
      WHILE d <= last_day LOOP
        name := 'access_event_' || to_char(d, 'YYYYMMDD');
        IF to_regclass(name) IS NULL THEN
          EXECUTE format('CREATE TABLE %I PARTITION OF access_event FOR VALUES FROM (%L) TO (%L)',
                         name, d::timestamp AT TIME ZONE 'UTC', (d + 1)::timestamp AT TIME ZONE 'UTC');
          created := created + 1;
        END IF;
        d := d + 1;
      END LOOP;
      RETURN created;
    END $$
    """,
    # Day partitions are UTC days: FROM (d 00:00 UTC) TO (d+1 00:00 UTC), whatever the session time zone.
    "SELECT gp_ensure_event_partitions(current_date - 1, current_date + 7)",
    r"""
    CREATE OR REPLACE FUNCTION gp_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
    END $$
    """,
    """CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
       FOR EACH STATEMENT EXECUTE FUNCTION gp_audit_log_append_only()""",
    # A dwelling must lie inside its building: its floor within the building's floors, its unit
    # within the building's units. Checked in the database so bulk loads obey it too.
    r"""
    CREATE OR REPLACE FUNCTION gp_dwelling_inside_building() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE b record;
    BEGIN
      SELECT floors, units, code INTO b FROM building WHERE id = NEW.building_id;
      IF NEW.floor > b.floors OR NEW.floor = 0 OR NEW.unit > b.units THEN
        RAISE EXCEPTION 'dwelling % (unit %, floor %) lies outside building % (% units, % floors)',
          NEW.code, NEW.unit, NEW.floor, b.code, b.units, b.floors USING ERRCODE = 'check_violation',
          CONSTRAINT = 'ck_dwelling_inside_building';
      END IF;
      RETURN NEW;
    END $$
    """,
    """CREATE TRIGGER dwelling_inside_building BEFORE INSERT OR UPDATE ON dwelling
       FOR EACH ROW EXECUTE FUNCTION gp_dwelling_inside_building()""",
    # A building lies inside its compound (when it has one) and its grid contains its centre.
    r"""
    CREATE OR REPLACE FUNCTION gp_building_inside_parents() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.compound_id IS NOT NULL AND NOT EXISTS (
           SELECT 1 FROM compound c WHERE c.id = NEW.compound_id AND ST_Covers(c.geom, NEW.geom)) THEN
        RAISE EXCEPTION 'building % lies outside its compound %', NEW.code, NEW.compound_id
          USING ERRCODE = 'check_violation', CONSTRAINT = 'ck_building_inside_compound';
      END IF;
      IF NOT EXISTS (SELECT 1 FROM grid g WHERE g.id = NEW.grid_id AND ST_Covers(g.geom, ST_PointOnSurface(NEW.geom))) THEN
        RAISE EXCEPTION 'building % does not lie in its grid %', NEW.code, NEW.grid_id
          USING ERRCODE = 'check_violation', CONSTRAINT = 'ck_building_inside_grid';
      END IF;
      RETURN NEW;
    END $$
    """,
    """CREATE TRIGGER building_inside_parents BEFORE INSERT OR UPDATE OF geom, compound_id, grid_id ON building
       FOR EACH ROW EXECUTE FUNCTION gp_building_inside_parents()""",
]

PRE_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS building_inside_parents ON building",
    "DROP TRIGGER IF EXISTS dwelling_inside_building ON dwelling",
    "DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log",
    "DROP FUNCTION IF EXISTS gp_building_inside_parents()",
    "DROP FUNCTION IF EXISTS gp_dwelling_inside_building()",
    "DROP FUNCTION IF EXISTS gp_audit_log_append_only()",
    "DROP FUNCTION IF EXISTS gp_ensure_event_partitions(date, date)",
]

ENUMS = [
    "direction", "access_method", "access_result", "account_role", "region_level", "address_kind",
    "severity", "alert_status", "key_site_category", "gate_kind", "work_order_status", "dwelling_use",
    "sex", "residence_kind", "utility_kind", "grant_kind", "face_library", "person_tag_kind", "relation_kind",
]

POST_DOWNGRADE = [f"DROP TYPE IF EXISTS {name}" for name in ENUMS] + ["DROP SCHEMA IF EXISTS truth"]
