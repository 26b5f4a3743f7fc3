"""The 小区 layer: compounds of the viewer's area as outlines, a faint fill with a tooltip, and their names."""
from __future__ import annotations

from core.viewer import Role, Viewer
from blockdata.db import transaction
from layers import common
from layers.compounds import compound_labels_layer, compound_outlines_layer, compound_rows, compounds_layer
from tests import places as P


def codes(viewer: Viewer) -> list[str]:
    with transaction() as s:
        return [r["code"] for r in compound_rows(s, viewer)]


def test_compounds_by_jurisdiction(places: P.Places) -> None:
    assert codes(Viewer(None, Role.admin)) == ["XW-C001"]
    assert codes(Viewer(None, Role.supervisor, (P.COMMUNITY_A,))) == ["XW-C001"]
    assert codes(Viewer(None, Role.worker, (P.COMMUNITY_A + "001",))) == ["XW-C001"]  # it lies in grid A1
    # hard negatives: the grid beside it in the same community, the other community, another district
    assert codes(Viewer(None, Role.worker, (P.COMMUNITY_A + "002",))) == []
    assert codes(Viewer(None, Role.supervisor, (P.COMMUNITY_B,))) == []
    assert codes(Viewer(None, Role.street, ("320106001000",))) == []


def test_outline_fill_tooltip_and_names(places: P.Places) -> None:
    with transaction() as s:
        (row,) = compound_rows(s, Viewer(None, Role.admin))
    assert row["tip"].startswith("小区 · 测试小区\n甲社区") and "楼栋 1 · 闸机 1" in row["tip"]
    fill = common.layer_json(compounds_layer([row]))
    assert fill["@@type"] == "PolygonLayer" and fill["id"] == "compounds" and fill["pickable"] is True
    outline = common.layer_json(compound_outlines_layer([row]))
    assert outline["id"] == "compounds_outline" and len(outline["data"]) == len(row["polygon"][0]) - 1
    label = common.layer_json(compound_labels_layer([row]))
    assert label["@@type"] == "TextLayer" and label["id"] == "compounds_label"
    assert set(label["characterSet"]) == set("测试小区") and label["data"] == [{"position": row["position"], "name": "测试小区"}]
    lon, lat = row["position"]
    assert 118.802 < lon < 118.807 and 32.042 < lat < 32.047  # on the compound (cell 0.002–0.007 from the origin)
