"""How many ID numbers fit what an export shows of a person: an export must leave at least
``MIN_CANDIDATES`` (10⁴) for every row, or it names the person's ID number in all but form.

An 18-character ID number is 6 digits of region, 8 of birth date, 3 of sequence (odd: male,
even: female) and a check character computed from the other 17. The stored mask
(``3201**********1234``) hides the district and the birth date; exporting the birth date and sex
beside it leaves the district (known from the person's grid in the same row) and the check digit
(shown) — a handful of candidates. So an export shows the ID number only as its region prefix
(``EXPORT_MASK_KEEP`` characters), and the person's age in whole years instead of the birth date:

    candidates = birth dates fitting the age (≈365) × sequences fitting the sex (500) ≈ 1.8·10⁵

counted here without assuming anything the row does not say (the district is taken as known: the
grid code in the same row gives it away).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from itertools import product

from blockdata.identity import check_digit

MIN_CANDIDATES = 10_000
EXPORT_MASK_KEEP = 4  # characters of the ID number an export shows: province and city
MALE = frozenset({"M", "m", "male", "男"})  # the 17th digit is odd for men (GB 11643)


def export_mask(id_masked: str) -> str:
    """The stored masked form cut down to what an export may show: ``3201``+14 stars."""
    return id_masked[:EXPORT_MASK_KEEP] + "*" * (18 - EXPORT_MASK_KEEP)


def _birth_dates(birth_date: dt.date | None, age: int | None, as_of: dt.date) -> Iterable[dt.date]:
    """Birth dates consistent with an exact birth date, an age in whole years on ``as_of``, or nothing (0-120 years)."""
    if birth_date is not None:
        yield birth_date
        return
    if age is not None:
        start = _years_before(as_of, age + 1) + dt.timedelta(days=1)
        end = _years_before(as_of, age)
    else:
        start, end = _years_before(as_of, 120), as_of
    day = start
    while day <= end:
        yield day
        day += dt.timedelta(days=1)


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _fits(pattern: str, value: str) -> bool:
    return all(p == "*" or p == v for p, v in zip(pattern, value))


def id_candidates(id_shown: str, *, district: str | None, birth_date: dt.date | None = None, age: int | None = None,
                  sex: str | None = None, as_of: dt.date) -> int:
    """ID numbers consistent with one export row: the shown (masked) ID, the 6-digit region code if known,
    the birth date or age, and the sex ("M"/"F" as stored, or "male"/"female")."""
    if len(id_shown) != 18:
        raise ValueError(f"not an 18-character (masked) ID number: {id_shown!r}")
    if district is not None:
        regions = [district] if _fits(id_shown[:6], district) else []
    else:
        regions = ["".join(d) for d in product(*[("0123456789" if c == "*" else c) for c in id_shown[:6]])]
    male = None if sex is None else sex.strip() in MALE
    sequences = [f"{n:03d}" for n in range(1000) if _fits(id_shown[14:17], f"{n:03d}")
                 and (male is None or (n % 2 == 1) == male)]
    check_shown = id_shown[17] != "*"
    total = 0
    for born in _birth_dates(birth_date, age, as_of):
        date_digits = f"{born:%Y%m%d}"
        if not _fits(id_shown[6:14], date_digits):
            continue
        for region in regions:
            if not check_shown:
                total += len(sequences)
                continue
            total += sum(1 for seq in sequences if check_digit(region + date_digits + seq) == id_shown[17])
    return total
