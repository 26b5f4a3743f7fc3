"""The address review queue has a table of its own: an import queues its low-score matches there, a
person accepts (linking the address) or rejects, and who decided when is kept and audited."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from core.errors import AccessDenied, InvalidInput
from core.viewer import Role, Viewer
from intake.addresses.review import decide, queue_review, review_queue
from blockdata.db import transaction
from intake.importers import run_import
from blockdata.models import Account, Address, AddressReview, AuditLog, ReviewStatus
from tests import places as P
from tests.audit import AuditMark

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "import"
ADMIN = Viewer(account_id=1, role=Role.admin, username="admin")
WORKER = Viewer(account_id=2, role=Role.worker, username="worker-1", jurisdiction=("320102001001",))


@pytest.fixture()
def imported(database_url: str) -> dict:
    with transaction() as session:
        P.build(session)
    report = run_import("addresses", FIX / "addresses.csv")
    assert report.ok
    return report.summary


def test_an_import_queues_its_low_score_matches_with_the_run(imported: dict) -> None:
    with transaction() as s:
        queue = review_queue(s)
        assert [q.code for q in queue] == ["XW-N003"]
        item = queue[0]
        assert item.status == "pending" and item.import_run == imported["import_run"] and item.source == "addresses.csv"
        assert item.full_text == "鼓楼区中山路169号金陵中学" and 0 <= item.score < 0.85
        assert item.decided_by is None and item.decided_at is None
    # a dry run queues nothing (it rolls back with everything else)
    run_import("addresses", FIX / "addresses.csv", dry_run=True)
    with transaction() as s:
        assert s.scalar(text("SELECT count(*) FROM address_review")) == 1


def test_accepting_links_the_address_and_records_who_and_when(imported: dict) -> None:
    mark = AuditMark()
    with transaction() as s:
        item = review_queue(s)[0]
        chosen = s.scalar(select(Address.id).where(Address.code == "XW-A003"))
        decide(s, ADMIN, item.review_id, accept=True, chosen_id=chosen)
    with transaction() as s:
        review = s.get(AddressReview, item.review_id)
        assert review.status is ReviewStatus.accepted and review.chosen_id == chosen
        assert review.decided_by == "admin" and review.decided_at is not None
        assert s.get(Address, item.address_id).standard_id == chosen
        assert review_queue(s) == []
        assert [i.code for i in review_queue(s, status=ReviewStatus.accepted)] == ["XW-N003"]
        log = mark.rows(action="address_review")
        assert [(a.username, a.subject, a.detail["decision"]) for a in log] == [("admin", "address:XW-N003", "accepted")]
        with pytest.raises(InvalidInput, match="already accepted by admin"):
            decide(s, ADMIN, item.review_id, accept=False)


def test_rejecting_leaves_it_unlinked_and_workers_may_not_decide(imported: dict) -> None:
    with transaction() as s:
        item = review_queue(s)[0]
        with pytest.raises(AccessDenied):
            decide(s, WORKER, item.review_id, accept=True)
        with pytest.raises(InvalidInput, match="not a standard address"):
            decide(s, ADMIN, item.review_id, accept=True, chosen_id=item.address_id)
        decide(s, ADMIN, item.review_id, accept=False)
    with transaction() as s:
        review = s.get(AddressReview, item.review_id)
        assert review.status is ReviewStatus.rejected and review.chosen_id is None
        assert s.get(Address, item.address_id).standard_id is None


def test_the_database_keeps_the_queue_consistent(imported: dict) -> None:
    with transaction() as s:
        item = review_queue(s)[0]
    with pytest.raises(InvalidInput, match=r"\[0, 1\]"):
        with transaction() as s:
            queue_review(s, address_id=item.address_id, raw_text="x", candidate_id=None, score=1.5)
    with pytest.raises(InvalidInput, match="already exists"):  # one pending review per address
        with transaction() as s:
            queue_review(s, address_id=item.address_id, raw_text="x", candidate_id=None, score=0.5)
    for sql in ("UPDATE address_review SET decided_by = 'x'",                     # pending but decided
                "UPDATE address_review SET status = 'accepted', decided_by = 'x', decided_at = now()"):  # no choice
        with pytest.raises(IntegrityError):
            with transaction() as s:
                s.execute(text(sql))


def test_cli_lists_and_decides(imported: dict, capsys) -> None:  # noqa: ANN001
    from cli import main

    with transaction() as s:
        s.add(Account(username="rev-admin", display_name="复核", role=Role.admin))
    assert main(["review", "list"]) == 0
    out = capsys.readouterr().out
    assert "XW-N003" in out and "鼓楼区中山路169号金陵中学" in out
    review_id = int(out.splitlines()[1].split("\t")[0])
    assert main(["review", "accept", str(review_id), "--to", "XW-A003", "--user", "rev-admin"]) == 0
    assert "accepted by rev-admin" in capsys.readouterr().out
    with transaction() as s:
        assert s.get(AddressReview, review_id).chosen_id == s.scalar(select(Address.id).where(Address.code == "XW-A003"))
    assert main(["review", "list", "--status", "pending"]) == 0
    assert "XW-N003" not in capsys.readouterr().out


def test_requeue_matches_unlinked_addresses_without_a_review(imported: dict) -> None:
    from intake.addresses.review import requeue_unlinked

    with transaction() as s:
        s.execute(text("DELETE FROM address_review"))  # as if imported before the queue had its table
        s.execute(text("UPDATE address SET standard_id = NULL WHERE code = 'XW-N002'"))
    with transaction() as s:
        assert requeue_unlinked(s) == (1, 1)  # XW-N002 links again, XW-N003 is queued
        assert [(q.code, q.source) for q in review_queue(s)] == [("XW-N003", "requeue")]
        assert requeue_unlinked(s) == (0, 0)  # already reviewed or linked: nothing twice
