"""The population library's fallback, as a narrow call into the platform (gp_population_identify, migration
0006): the bridge sends one probe and learns only whether one person matched, and who (to decide whether
they may enter here); it never holds the library. Whether the call searches at all is the compound's
recorded legal basis (population_basis: who, which document, until when; none by default); the per-gate
rate limit and the audit entry with the basis are enforced by the database, so nothing at the gate can
skip them. The device is told only open/deny and a reason code (policy.py)."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import psycopg

from core.config import bridge_settings

log = logging.getLogger("gridpulse.bridge")


@dataclass(frozen=True)
class PopulationOutcome:
    outcome: str  # match | no_match | no_basis | rate_limited | unavailable
    person_id: int | None = None


def identify(conn: psycopg.Connection, compound_id: int, gate_id: int, embedding: np.ndarray) -> PopulationOutcome:
    """One search of the population library for this gate, under the compound's legal basis (if any)."""
    cfg = bridge_settings()
    try:
        row = conn.execute("SELECT outcome, person_id FROM gp_population_identify(%s::integer, %s::integer, %s::real[], %s::real, %s::real)",
                           (compound_id, gate_id, [float(x) for x in embedding], cfg.face_threshold, cfg.face_margin)).fetchone()
    except psycopg.OperationalError:
        raise  # the platform is unreachable: the caller drops its connection
    except psycopg.Error as exc:  # the platform refused the call (a role without the grant, a bad gate): no fallback
        log.warning("population library call refused: %s", exc)
        return PopulationOutcome("unavailable")
    return PopulationOutcome(row[0], row[1]) if row else PopulationOutcome("unavailable")
