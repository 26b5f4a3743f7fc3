"""The address parser on the messes people write; its corpus accuracy is a benchmark figure, not a test.

Two engines: the hand-written rules (parse_rules, no data needed) and the CRF tagger trained at run time
on the labelled corpus's train split (parse, when ../shared is there). Both must read the project's own
Nanjing examples; the rules are also pinned on the corpus's conventions they were written for."""
from __future__ import annotations

from pathlib import Path

import pytest

from intake.addresses.normalise import chinese_to_int, normalise
from intake.addresses.parser import ParsedAddress, parse, parse_rules, repair
from intake.addresses import tagger as tagger_mod


@pytest.mark.parametrize("text, expected", [("十二", 12), ("二十三", 23), ("一百零五", 105), ("三", 3), ("一二〇一", 1201), ("两", 2)])
def test_chinese_numerals(text: str, expected: int) -> None:
    assert chinese_to_int(text) == expected


def test_normalise_full_width_numerals_and_typos() -> None:
    assert normalise("清河新寓二村十二撞三单元５０１室") == "清河新寓二村12幢3单元501室"
    assert normalise("11撞") == "11幢"


def test_full_address_with_every_level() -> None:
    p = parse_rules("江苏省南京市玄武区梅园新村街道长江路２９２号清河新寓二村十二撞三单元五楼５０１室")
    assert (p.province, p.city, p.district, p.street) == ("江苏省", "南京市", "玄武区", "梅园新村街道")
    assert (p.road, p.number, p.compound) == ("长江路", "292", "清河新寓二村")
    assert (p.building, p.unit, p.floor, p.room) == ("12", "3", "5", "501")


@pytest.mark.parametrize("text, parts", [
    ("浙江省杭州市滨江区缤纷北苑47-6-746", {"compound": "缤纷北苑", "building": "47", "unit": "6", "room": "746"}),
    ("凯润金城6栋", {"compound": "凯润金城", "building": "6"}),
    ("测试小区1号楼2单元1102", {"compound": "测试小区", "building": "1", "unit": "2", "room": "1102"}),
    ("鼓楼区中山路169号", {"district": "鼓楼区", "road": "中山路", "number": "169"}),
    ("浙江省杭州市余杭区杭州市余杭区闲林街道五常大道", {"district": "余杭区", "street": "闲林街道", "road": "五常大道"}),
    ("金华永康市方岩镇下宅村万里公路832弄125号", {"city": "金华", "district": "永康市", "community": "下宅村", "number": "832", "building": "125"}),
    ("B座3层", {"building": "B", "floor": "3"}),
    # a county-level city is the district level, unless a district follows it (then it is the city)
    ("江苏省溧阳市燕山路8号", {"city": None, "district": "溧阳市", "road": "燕山路", "number": "8"}),
    ("河北省邢台市清河县连庄镇", {"city": "邢台市", "district": "清河县", "street": "连庄镇"}),
    # remarks are not part of a compound's name; 房 marks a room
    ("长江路292号测试小区电联", {"compound": "测试小区", "rest": "电联"}),
    ("南京市江宁区双龙大道1号测试小区3栋1201房", {"district": "江宁区", "building": "3", "room": "1201"}),
])
def test_missing_levels_and_dashed_forms(text: str, parts: dict[str, str]) -> None:
    got = parse_rules(text).as_dict()
    assert {k: got[k] for k in parts} == parts


def test_garbage_comes_back_without_invented_parts() -> None:
    """An unreadable address never raises and never gains a building, unit or room it does not have."""
    for text in ["", "-", "？？", "ＡＢＣ", "\x00\ufffd", "号号号", "幢单元室"]:
        for got in (parse_rules(text), parse(text)):
            assert isinstance(got, ParsedAddress)
            assert (got.building, got.unit, got.room) == (None, None, None), (text, got)
    assert parse_rules("").as_dict() == ParsedAddress().as_dict()


def test_osm_addresses_from_shared(shared_dir: Path) -> None:
    """Extra, on shared/ data: the real OSM addr:* rows parse into road and number where they have them."""
    import csv

    rows = list(csv.DictReader(open(shared_dir / "geodata/addresses/osm_addr_tags_gulou_xuanwu.csv", encoding="utf-8")))
    with_street = [r for r in rows if r["addr:street"] and r["addr:housenumber"]]
    parsed = [parse(f"{r['addr:city']}{r['district']}{r['addr:street']}{r['addr:housenumber']}".replace("号号", "号"))
              for r in with_street]
    assert sum(p.road is not None and p.number is not None for p in parsed) >= 0.6 * len(with_street)
    # 撞 is a common slip for 幢 (building): after a compound name it is read as the building number.
    assert parse("某小区11撞").building == "11"


def test_repair_of_tagger_chunks() -> None:
    """Structural corrections after the tagger: a name glued before a street, a name inside a building number."""
    assert repair([("district", "玄武区"), ("poi", "梅园"), ("town", "新村街道"), ("road", "长江路")]) == [
        ("district", "玄武区"), ("town", "梅园新村街道"), ("road", "长江路")]
    assert repair([("poi", "清河新寓"), ("houseno", "二村十二幢")]) == [("poi", "清河新寓二村"), ("houseno", "十二幢")]
    assert repair([("road", "长江路"), ("poi", "梅园"), ("town", "新村街道")])[-1] == ("town", "新村街道")  # after a road: kept
    assert repair([("poi", "花园"), ("houseno", "B座")]) == [("poi", "花园"), ("houseno", "B座")]
    # a number is never split, and a "road" without a road's ending inside a compound belongs to it
    assert repair([("poi", "清河新寓"), ("road", "二村十"), ("houseno", "二幢")]) == [
        ("poi", "清河新寓二村"), ("houseno", "十二幢")]
    assert repair([("community", "西方村"), ("redundant", "六"), ("houseno", "十栋")]) == [
        ("community", "西方村"), ("houseno", "六十栋")]
    assert repair([("poi", "测试小区"), ("road", "北京东路"), ("houseno", "3栋")])[1] == ("road", "北京东路")
    assert repair([("poi", "清河新寓"), ("subpoi", "二村十"), ("houseno", "二幢")]) == [
        ("poi", "清河新寓二村"), ("houseno", "十二幢")]
    assert repair([("poi", "翡翠城"), ("subpoi", "竹苑"), ("houseno", "3幢")])[1] == ("subpoi", "竹苑")


def test_repair_leaves_places_of_their_own_kind_alone() -> None:
    """Only a short name before a 街道 is glued to it; an industrial zone, a town or a company before a
    village, a town or a street is a place of its own, and a numbered building keeps its 第 and its
    numbers (the name given back to the compound holds no digit)."""
    for spans in ([("poi", "白云工业区"), ("community", "五马塘"), ("road", "珊瑚路")],
                  [("poi", "瓯北镇"), ("community", "王家坞村")],
                  [("poi", "华佳印刷机有限公司"), ("town", "丁桥镇"), ("road", "广场路")],
                  [("district", "闽侯县"), ("poi", "鼓楼区"), ("town", "五凤街道")],
                  [("poi", "至尊门第"), ("houseno", "第10栋")],
                  [("poi", "高山头小区"), ("houseno", "155幢6号楼")]):
        assert repair(spans) == spans


# The project's own hard cases (Nanjing addresses as a street office writes them): both engines.
HARD_CASES = [
    ("江苏省南京市玄武区梅园新村街道长江路２９２号清河新寓二村十二撞三单元五楼５０１室",
     {"province": "江苏省", "city": "南京市", "district": "玄武区", "street": "梅园新村街道", "road": "长江路",
      "number": "292", "compound": "清河新寓二村", "building": "12", "unit": "3", "floor": "5", "room": "501"}),
    ("南京市玄武区梅园新村街道长江路292号测试小区1幢1单元301室",
     {"street": "梅园新村街道", "road": "长江路", "number": "292", "compound": "测试小区", "building": "1", "unit": "1", "room": "301"}),
    ("长江路２９２号测试小区一撞一单元三〇一室",
     {"road": "长江路", "number": "292", "compound": "测试小区", "building": "1", "unit": "1", "room": "301"}),
    ("玄武区测试小区1栋2单元502", {"district": "玄武区", "compound": "测试小区", "building": "1", "unit": "2", "room": "502"}),
    ("测试小区1号楼2单元1102", {"compound": "测试小区", "building": "1", "unit": "2", "room": "1102"}),
    ("鼓楼区中山路169号金陵中学", {"district": "鼓楼区", "road": "中山路", "number": "169", "compound": "金陵中学"}),
    ("凯润金城6栋", {"compound": "凯润金城", "building": "6"}),
    ("B座3层", {"building": "B", "floor": "3"}),
]


@pytest.mark.parametrize("text, parts", HARD_CASES)
def test_hard_cases_rules(text: str, parts: dict[str, str]) -> None:
    got = parse_rules(text).as_dict()
    assert {k: got[k] for k in parts} == parts


@pytest.fixture(scope="module")
def trained(shared_dir: Path) -> tagger_mod.Tagger:
    """The tagger trained on shared/'s train split (minutes the first time on a machine, then cached in var/)."""
    t = tagger_mod.tagger(shared_dir / "geodata/addresses/ncap_train.csv")
    assert t is not None, "python-crfsuite missing"
    return t


@pytest.mark.parametrize("text, parts", HARD_CASES)
def test_hard_cases_tagger(trained: tagger_mod.Tagger, text: str, parts: dict[str, str]) -> None:
    from intake.addresses.parser import from_spans

    got = from_spans(trained.tag(text)).as_dict()
    assert {k: got[k] for k in parts} == parts


def test_parse_uses_the_tagger_when_its_corpus_is_there_and_rules_otherwise(trained: tagger_mod.Tagger,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from core import config

    assert tagger_mod.tagger() is not None or config.settings().address_corpus is None
    monkeypatch.setenv("GRIDPULSE_ADDRESS_PARSER", "rules")
    config.settings.cache_clear()
    try:
        assert parse("金华永康市方岩镇下宅村万里公路832弄125号") == parse_rules("金华永康市方岩镇下宅村万里公路832弄125号")
    finally:
        monkeypatch.undo()
        config.settings.cache_clear()
    assert tagger_mod.tagger(Path("/nonexistent/corpus.csv")) is None  # no corpus: rules


def test_canonical_repeats_keeps_the_level_on_the_first_copy() -> None:
    """The optional training-label convention: a repeated administrative name carries its level on the
    first copy; different texts (宁波 / 宁波市) are left as the corpus has them."""
    assert tagger_mod.canonical_repeats([["redundant", "杭州市"], ["city", "杭州市"], ["road", "滨康路"]]) == [
        ["city", "杭州市"], ["redundant", "杭州市"], ["road", "滨康路"]]
    same = [["redundant", "宁波"], ["city", "宁波市"]]
    assert tagger_mod.canonical_repeats(same) == same


def test_optional_feature_groups_are_part_of_the_model_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = tmp_path / "corpus.csv"
    corpus.write_text("idx,address,components_json\n", encoding="utf-8")
    plain = tagger_mod._model_path(corpus, tmp_path)
    monkeypatch.setattr(tagger_mod, "FEATURES", frozenset({"markers"}))
    assert tagger_mod._model_path(corpus, tmp_path) != plain
    toks = tagger_mod.tokens("缤纷北苑47幢")
    feats = tagger_mod.features(toks)
    assert "nm=苑|3" in feats[0] and "nm=幢|2" in feats[3]  # the nearest marker to the right, and how far


def test_gazetteer_features_mark_the_longest_known_name() -> None:
    gaz = {"poi": frozenset({"缤纷北苑", "缤纷"}), "city": frozenset({"杭州市"})}
    toks = tagger_mod.tokens("杭州市缤纷北苑47幢")
    feats = [[f for f in fs if f.startswith("gz=")] for fs in tagger_mod.features(toks, gaz)]
    assert feats[:3] == [["gz=city|B"], ["gz=city|I"], ["gz=city|E"]]
    assert feats[3:7] == [["gz=poi|B"], ["gz=poi|I"], ["gz=poi|I"], ["gz=poi|E"]]  # 缤纷北苑, not 缤纷
    assert feats[7:] == [[], []]
