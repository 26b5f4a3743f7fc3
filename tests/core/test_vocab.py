"""The vocabulary: every stored value has its one Chinese label, and the models store the values."""
from __future__ import annotations

import pytest

from blockdata import models
from core import vocab


def test_a_stored_value_and_its_member_give_the_same_label() -> None:
    # The query layer hands pages the stored value ("M"), not the member name ("male"): both must read 男.
    assert vocab.Sex.label_of("M") == vocab.Sex.label_of(vocab.Sex.male) == "男"
    assert vocab.Sex.label_of("F") == "女"
    assert vocab.ResidenceKind.label_of("floating") == "流动"
    assert vocab.AccessMethod.card.label == "刷卡"


def test_an_unknown_value_shows_as_itself_or_the_given_default() -> None:
    assert vocab.RuleName.label_of("new_rule_not_yet_labelled") == "new_rule_not_yet_labelled"
    assert vocab.Sex.label_of(None, "") == ""
    assert vocab.Sex.label_of("male") == "male"  # a member *name* is not a stored value


def test_every_member_has_a_label_and_values_are_unique() -> None:
    for enum_cls in (vocab.RegionLevel, vocab.AddressKind, vocab.KeySiteCategory, vocab.DwellingUse,
                     vocab.ResidenceKind, vocab.Sex, vocab.PersonTagKind, vocab.Direction, vocab.AccessMethod,
                     vocab.Severity, vocab.RuleName):
        labels = [m.label for m in enum_cls]
        assert all(labels), enum_cls
        assert len({m.value for m in enum_cls}) == len(enum_cls)


@pytest.mark.parametrize("name", ["Sex", "ResidenceKind", "AccessMethod", "Severity", "KeySiteCategory"])
def test_the_models_use_the_vocabulary_not_a_copy(name: str) -> None:
    assert getattr(models, name) is getattr(vocab, name)


def test_every_rule_has_a_label() -> None:
    from analytics.rules import RULES

    assert set(RULES) <= {r.value for r in vocab.RuleName}
