"""Limits on what a zip archive (a zipped Shapefile, an xlsx workbook) may hold, checked before anything
reads a member: a small upload must not unpack into gigabytes (a zip bomb), into thousands of sheets or
members, or name a member outside the archive (GDAL's ``/vsizip/archive/<member>`` would follow
``../`` out of it and read any file on the server).

Limits come from ``core.config.trust_settings()``: members, uncompressed bytes in all, and the ratio of
uncompressed to compressed bytes (per member and for the whole archive).
"""
from __future__ import annotations

import stat
import zipfile
from pathlib import Path, PurePosixPath

from core.config import trust_settings
from core.errors import InvalidInput

_RATIO_FLOOR_BYTES = 64 * 1024  # tiny members compress by any ratio harmlessly


def member_name_problem(name: str) -> str | None:
    """Why a member's name could leave the archive, or None."""
    if not name or "\x00" in name or "\\" in name:
        return "has a NUL or a backslash in its name"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "has an absolute name"
    if any(part == ".." for part in PurePosixPath(name).parts):
        return "climbs out with '..'"
    return None


def check_archive(path: Path, what: str = "archive") -> None:
    """InvalidInput (one line: what to change) when the archive breaks a limit; nothing read yet."""
    cfg = trust_settings()
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
    except zipfile.BadZipFile:
        raise InvalidInput(f"the {what} is not a readable zip file", record=path.name) from None
    if len(members) > cfg.archive_max_members:
        raise InvalidInput(f"the {what} holds {len(members)} members; at most {cfg.archive_max_members} are accepted",
                           record=path.name)
    total = packed = 0
    for m in members:
        problem = member_name_problem(m.filename)
        if problem:
            raise InvalidInput(f"member {m.filename!r} of the {what} {problem}: it would leave the archive",
                               record=path.name)
        if stat.S_ISLNK(m.external_attr >> 16):
            raise InvalidInput(f"member {m.filename!r} of the {what} is a symbolic link", record=path.name)
        if m.file_size > _RATIO_FLOOR_BYTES and m.file_size > cfg.archive_max_ratio * max(m.compress_size, 1):
            raise InvalidInput(f"member {m.filename!r} of the {what} unpacks {m.file_size // max(m.compress_size, 1)}× "
                               f"its packed size; at most {cfg.archive_max_ratio}× is accepted (a zip bomb?)",
                               record=path.name)
        total += m.file_size
        packed += m.compress_size
    if total > cfg.archive_max_bytes:
        raise InvalidInput(f"the {what} unpacks to {total:,} bytes; at most {cfg.archive_max_bytes:,} are accepted",
                           record=path.name)
    if total > _RATIO_FLOOR_BYTES and total > cfg.archive_max_ratio * max(packed, 1):
        raise InvalidInput(f"the {what} unpacks {total // max(packed, 1)}× its packed size; at most "
                           f"{cfg.archive_max_ratio}× is accepted", record=path.name)
