"""The proof of issue #14: a real street office brings its own street in, as docs/ONBOARDING.md tells it.

From an empty database (every table emptied; the first step, ``gridpulse migrate``, finds it at head) the
path of ``bench/onboarding_path.py`` runs every step as a ``gridpulse`` command: the first admin, regions
from the Vonng and modood files, communities as points, generated grids, compounds, key sites and
buildings straight from the raw OSM files, generated dwellings and addresses, a people CSV, 民政's tag
list and the water company's readings, accounts for a supervisor and a worker. No SQL anywhere in the
path. Then each role logs in to the real app in Chromium and sees its own area on the map and in the
drill-down (the worker at phone size). Two streets per district keep the test's run short; the bench
runs every street.
"""
from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path

import pytest

from bench import onboarding_path as OP
from blockdata.db import transaction
from core.config import settings
from tests.browser import app_server, login_page, playwright_chromium
from tests.places import empty_tables

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def onboarded(database_url: str, shared_dir: Path) -> OP.Path_:
    with transaction() as s:
        empty_tables(s)
    work = Path(tempfile.mkdtemp(prefix="onboarding-test-"))
    return OP.onboard(work, list(OP.DISTRICTS), streets_per_district=2)


def export(argv_layer: str, work: Path, user: str = "admin") -> list[dict]:
    path = work / f"check_{argv_layer}.csv"
    rc, _, err, _ = OP.run(["export", argv_layer, str(path), "--user", user])
    assert rc == 0, err
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    return list(csv.DictReader(lines[1:]))


def test_every_step_ran_and_reported_what_it_did(onboarded: OP.Path_) -> None:
    assert all(s.rc == 0 for s in onboarded.steps)
    assert "password of admin" in onboarded.step("first admin").out
    regions = onboarded.step("regions: modood streets").summary
    assert regions["mode"] == "upsert" and regions["updated"] >= 1  # 320106008: 阅江楼街道 (2016) → 下关街道 (2022)
    assert "renamed from 阅江楼街道 to 下关街道" in onboarded.step("regions: modood streets").out
    buildings = onboarded.step("buildings").summary
    assert buildings["osm"] == "overpass" and buildings["written"] > 100
    assert buildings["floors_defaulted"] + 7 >= buildings["written"]  # only 7 OSM buildings carry levels
    compounds = onboarded.step("compounds").summary
    assert compounds["osm"] == "geofabrik" and compounds["written"] > 5
    people = [s.summary for s in onboarded.steps if s.name.startswith("people")]
    assert all(p["written"] > 10 for p in people)
    water = [s.summary for s in onboarded.steps if s.name.startswith("water")]
    assert all(w["written"] > 0 and w["unmatched_to_review"] >= 1 for w in water)  # the made-up address waits
    tags = [s.summary for s in onboarded.steps if s.name.startswith("tags")]
    assert all(t["written"] >= 1 for t in tags)


def test_the_same_lists_delivered_again_change_nothing(onboarded: OP.Path_) -> None:
    for district in OP.DISTRICTS:
        for name, extra in (("people", []), ("tags", []), ("water", ["--utility", "water"])):
            path = onboarded.work / f"{name}_{district}.csv"
            if name == "people":  # people are insert-only: a second delivery is refused, nothing written
                rc, _, err, _ = OP.run(["import", "people", str(path), "--user", "admin"])
                assert rc == 2 and "already in the database" in err
                continue
            kind = "utility" if name == "water" else name
            rc, out, err, _ = OP.run(["import", kind, str(path), "--user", "admin", *extra])
            summary = json.loads(out.strip().splitlines()[-1])
            assert rc == 0 and summary["written"] == 0 and summary["unchanged"] >= 1, (out, err)


def _wait_map(page) -> None:  # noqa: ANN001
    page.wait_for_selector("#deck-map[data-loaded='1']", timeout=60000, state="attached")


def test_each_role_logs_in_and_sees_its_area(onboarded: OP.Path_) -> None:
    grids = export("grids", onboarded.work)
    community_grids = [g["code"] for g in grids if g["code"].startswith(onboarded.community)]
    assert onboarded.grid in community_grids
    env = {"GRIDPULSE_DATABASE_URL": settings().database_url}
    with app_server(env) as url, playwright_chromium() as browser:
        page = login_page(browser, url, "sup-onboard", onboarded.passwords["sup-onboard"], "/")
        try:
            page.wait_for_selector("#grid-count", timeout=60000)
            assert page.inner_text("#grid-count") == f"网格 {len(community_grids)}"
            page.goto(f"{url}/drill?place=region:{onboarded.community}")
            page.wait_for_selector("#drill-children", timeout=60000)
            children = page.inner_text("#drill-children")
            assert "网格" in page.inner_text("body") and children.strip()
            other = next(g["code"] for g in grids if not g["code"].startswith(onboarded.community))
            page.goto(f"{url}/drill?place=grid:{other}")  # another community's grid: not this supervisor's
            page.wait_for_timeout(2000)
            assert page.query_selector("#drill-children a") is None
        finally:
            page.close()
        phone = login_page(browser, url, "worker-onboard", onboarded.passwords["worker-onboard"],
                           f"/drill?place=grid:{onboarded.grid}", width=390, height=844)
        try:
            phone.wait_for_selector("#drill-children", timeout=60000)
            text = phone.inner_text("#drill-children")
            assert "层" in text and "户" in text  # its buildings with floors and dwellings
            phone.goto(f"{url}/")
            phone.wait_for_selector("#grid-count", timeout=60000)
            assert phone.inner_text("#grid-count") == "网格 1"
        finally:
            phone.close()
