"""A digest of the seeded street: same preset, seed, anchor and key file → same digest.

Per table, PostgreSQL sums a 60-bit slice of each row's md5 (order-independent, streaming, no giant
string) over the columns the seed decides; server-set timestamps and the random demo passwords are
left out. The per-table figures are then hashed together with SHA-256.
"""
from __future__ import annotations

import hashlib

import psycopg

# table → columns that the seed determines (everything but server-set times and random passwords)
DIGEST_COLUMNS: dict[str, str] = {
    "region": "code, parent_code, level, name, ST_AsEWKB(geom)",
    "account": "id, username, display_name, role, jurisdiction",
    "grid": "id, code, community_code, name, supervisor_account_id, worker_account_id, ST_AsEWKB(geom)",
    "address": "id, code, kind, full_text, road, number, compound, building, unit, floor, room, standard_id, ST_AsEWKB(geom)",
    "compound": "id, code, name, community_code, ST_AsEWKB(geom)",
    "key_site": "id, code, name, category, grid_id, ST_AsEWKB(geom)",
    "gate": "id, code, kind, compound_id, key_site_id, ST_AsEWKB(geom)",
    "building": "id, code, grid_id, compound_id, floors, units, height_m, ST_AsEWKB(geom)",
    "dwelling": "id, code, building_id, unit, floor, room, area_m2, rooms, use",
    "person": "id, pid, id_hash, id_masked, name, sex, birth_date, residence_kind, temp_residence_expiry, home_dwelling_id",
    "person_tag": "person_id, tag, legal_basis, legal_basis_expiry",
    "household": "id, code, dwelling_id, head_person_id",
    "household_member": "household_id, person_id, relation_to_head",
    "organisation": "id, uscc, name, kind, dwelling_id",
    "relation": "id, person_id, kind, other_person_id, dwelling_id, organisation_id, source, confidence, valid_from",
    "ownership": "id, dwelling_id, person_id, since",
    "access_grant": "id, dwelling_id, owner_person_id, grantee_person_id, kind, valid_from, valid_to",
    "visitor_pass": "id, dwelling_id, issued_by_person_id, visitor_id_hash, valid_from, valid_to, entries_allowed",
    "rental": "id, dwelling_id, lessor_person_id, agency_organisation_id, lessee_person_id, start_date, monthly_rent, blacklisted",
    "self_declaration": "id, person_id, dwelling_id, period_from, status",
    "utility_reading": "dwelling_id, kind, day, value, account_name",
    "access_event": "event_id, ts, gate_id, compound_id, key_site_id, direction, method, result, person_id, pass_id, stranger_id, score, reason",
    "gate_flow_minute": "gate_id, minute, entries, exits, denied",
    "truth.injected_anomaly": "kind, subject_kind, subject_id, starts_at, detail",
}


def table_digest(cur: psycopg.Cursor) -> str:
    h = hashlib.sha256()
    for table, columns in DIGEST_COLUMNS.items():
        cur.execute(
            f"SELECT count(*), coalesce(sum(('x' || substr(md5(ROW({columns})::text), 1, 15))::bit(60)::bigint), 0) FROM {table}"
        )
        count, total = cur.fetchone()
        h.update(f"{table}:{count}:{total};".encode())
    return h.hexdigest()
