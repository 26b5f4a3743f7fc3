"""Fixtures shared by the security tests of the dashboard: the seeded accounts of every role and a real app."""
from __future__ import annotations

import pytest

from tests import places as P
from tests.security.dashboard_app import dashboard, make_accounts


@pytest.fixture(scope="module")
def users(places: P.Places) -> dict[str, str]:
    """One account of each role over the hand-built places (tests/places.py)."""
    return make_accounts()


@pytest.fixture(scope="module")
def server(users: dict[str, str]):  # noqa: ANN201
    """`python app.py` on a free port, after the accounts exist."""
    with dashboard() as url:
        yield url
