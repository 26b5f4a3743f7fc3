"""ID-card numbers: kept only as a keyed hash (for matching) and a masked form (for display).

A plain SHA-256 of an 18-digit ID number is reversible by enumeration (birth dates and region
codes are few), so the hash is an HMAC under a secret key from the local key file.
"""
from __future__ import annotations

import hashlib
import hmac
import re

from core.errors import InvalidInput

ID_NUMBER = re.compile(r"^\d{17}[\dX]$")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def check_digit(first17: str) -> str:
    """GB 11643 check character of the first 17 digits."""
    return _CHECK[sum(int(c) * w for c, w in zip(first17, _WEIGHTS)) % 11]


def validate_id_number(number: str) -> str:
    number = number.strip().upper()
    if not ID_NUMBER.match(number):
        raise InvalidInput("an ID number has 17 digits and a final digit or X", record=mask_id_number(number))
    if check_digit(number[:17]) != number[17]:
        raise InvalidInput("the ID number's check digit is wrong", record=mask_id_number(number))
    return number


def hash_id_number(key: bytes, number: str) -> bytes:
    return hmac.new(key, validate_id_number(number).encode(), hashlib.sha256).digest()


def mask_id_number(number: str) -> str:
    """3201**********1234: region prefix and last four only."""
    number = number.strip().upper()
    if len(number) != 18:
        return "*" * len(number)
    return number[:4] + "*" * 10 + number[-4:]
