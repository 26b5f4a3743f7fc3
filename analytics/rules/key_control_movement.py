"""重点稳控人员: abnormal movement of a key-control person (night, other compounds, absent), for the police.

Moving at night, entering other compounds, or gone for days: the order goes to the police's queue,
not the grid worker's.

Like community correction, it runs only for persons whose key_control tag carries a legal basis still
in force on the day of the sweep (the schema refuses the tag without one; an expired basis removes the
person from the rule). Its work orders go to the police of the jurisdiction (analytics/work_orders.py
POLICE_RULES), and its alerts are not drawn on the maps of other roles.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from analytics.params import RuleParams
from analytics.rules.base import Finding
from analytics.rules.correction_movement import supervised_movement

NAME = "key_control_movement"
VERSION = "2"  # 2: community correction's meaning (activity by any method at any gate, local dates, blank basis is none)


def find(session: Session, as_of: dt.datetime, p: RuleParams, scope=None) -> list[Finding]:  # noqa: ANN001
    """The same signs as community correction's rule (its parameters), for the key_control tag."""
    return supervised_movement(session, as_of, p, tag="key_control", rule=NAME, version=VERSION, scope=scope)
