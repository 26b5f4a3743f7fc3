"""Synthetic Chinese names and codes: common surnames by frequency, given-name characters, valid formats."""
from __future__ import annotations

import datetime as dt

import numpy as np

from blockdata.identity import check_digit

# The most common surnames, most frequent first (weights follow the published ranking, roughly Zipf).
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国玉兰萍红斌宇浩凯鹏辉琳晨欣怡子涵梓轩雨桐一诺思远嘉怡俊杰文博志强海燕春梅国庆晓东婷雪佳琪")
_SURNAME_WEIGHTS = 1.0 / np.arange(1, len(SURNAMES) + 1) ** 0.9
_SURNAME_WEIGHTS /= _SURNAME_WEIGHTS.sum()
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def names(rng: np.random.Generator, n: int) -> list[str]:
    surname = rng.choice(len(SURNAMES), size=n, p=_SURNAME_WEIGHTS)
    two = rng.random(n) < 0.7
    a = rng.integers(0, len(GIVEN), size=n)
    b = rng.integers(0, len(GIVEN), size=n)
    return [SURNAMES[s] + GIVEN[x] + (GIVEN[y] if t else "") for s, x, y, t in zip(surname, a, b, two)]


def id_number(region: str, birth: dt.date, seq: int, male: bool) -> str:
    """An 18-character ID number: region, birth date, sequence (odd for men), GB 11643 check character.

    seq is 1–499 per region and birth date: three digits hold 2·seq + sex, and wrapping them round
    would hand two people the same number.
    """
    if not 0 <= seq < 500:
        raise ValueError(f"ID sequence {seq} out of range 0–499")
    first17 = f"{region}{birth:%Y%m%d}{seq * 2 + (1 if male else 0):03d}"
    return first17 + check_digit(first17)


def uscc_codes(rng: np.random.Generator, region: str, n: int) -> list[str]:
    """Unified social credit codes in the right shape (registration authority, region, organisation code)."""
    body = rng.integers(0, len(_USCC_CHARS), size=(n, 10))
    return ["91" + region + "".join(_USCC_CHARS[c] for c in row) for row in body]
