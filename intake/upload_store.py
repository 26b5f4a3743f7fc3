"""Uploaded import files on disk, for as short a time as the work needs.

An upload waits under ``var/imports/<random folder>/`` between its dry run and its application: the
folder is mode 700 and the file mode 600 (a street's people lists are in there), and a folder nobody
touched for ``GRIDPULSE_IMPORT_KEEP_MINUTES`` — uploaded, dry-run, then left — is deleted by
:func:`sweep`, which the dashboard runs on a timer (:func:`start_sweeper`) and before each upload.
Applying an import, or uploading another file, deletes the folder at once.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import threading
import time
import uuid
from pathlib import Path

from core.config import PROJECT_ROOT, trust_settings
from core.errors import InvalidInput, NotFound

ROOT = PROJECT_ROOT / "var" / "imports"
_TOKEN = re.compile(r"^[0-9a-f]{32}/[^/\\\x00]{1,200}$")
log = logging.getLogger("gridpulse.uploads")


def save(name: str, data: bytes, root: Path = ROOT) -> str:
    """Keep an upload (folder 700, file 600); returns its token ``<folder>/<name>``."""
    safe = Path(name).name
    if not safe or safe in (".", "..") or "\x00" in safe or "\\" in safe:
        raise InvalidInput("the file needs a plain name", record=name[:64])
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    folder = uuid.uuid4().hex
    os.mkdir(root / folder, 0o700)
    fd = os.open(root / folder / safe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return f"{folder}/{safe}"


def path_of(token: str | None, root: Path = ROOT) -> Path:
    """The kept file of a token, its clock restarted (a dry run counts as use); NotFound once swept."""
    if not token or not _TOKEN.match(token):
        raise InvalidInput("not an upload token", record="upload")
    path = root / token
    if not path.is_file():
        keep = trust_settings().import_keep_minutes
        raise NotFound(f"the upload is gone: files not applied within {keep:g} minutes are deleted; upload it again",
                       record=token.split("/", 1)[1])
    os.utime(path.parent)
    return path


def discard(token: str | None, root: Path = ROOT) -> None:
    if token and _TOKEN.match(token):
        shutil.rmtree(root / token.split("/", 1)[0], ignore_errors=True)


def sweep(root: Path = ROOT, now: float | None = None) -> int:
    """Delete upload folders untouched for longer than the keep time; how many were deleted."""
    if not root.is_dir():
        return 0
    cutoff = (time.time() if now is None else now) - trust_settings().import_keep_minutes * 60
    removed = 0
    for folder in root.iterdir():
        try:  # another sweep (the timer's, an upload's) may remove a folder under our feet
            stale = folder.is_dir() and re.fullmatch(r"[0-9a-f]{32}", folder.name) and folder.stat().st_mtime < cutoff
        except FileNotFoundError:
            continue
        if stale:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def start_sweeper(root: Path = ROOT) -> threading.Thread:
    """A daemon thread sweeping every tenth of the keep time (at most a minute): runs as long as the app."""
    interval = max(0.5, min(60.0, trust_settings().import_keep_minutes * 6))

    def loop() -> None:
        while True:
            try:
                if (n := sweep(root)):
                    log.info("deleted %d upload(s) left unapplied", n)
            except OSError as exc:
                log.warning("upload sweep failed: %s", exc)
            time.sleep(interval)

    thread = threading.Thread(target=loop, name="upload-sweeper", daemon=True)
    thread.start()
    return thread
