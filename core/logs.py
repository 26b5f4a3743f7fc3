"""Logging for every long-running process, set up once from configuration (core/config.py).

Text lines for a person at a terminal, or one JSON object per line (``GRIDPULSE_LOG_FORMAT=json``) for a
log shipper; the level from ``GRIDPULSE_LOG_LEVEL``; with ``GRIDPULSE_LOG_DIR`` each process writes its own
``<name>.log`` there, rotated by size, so a year of running never fills the disk (under systemd without it,
journald keeps stderr and rotates it itself).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import logging.handlers
import sys

from core.config import OpsSettings, ops_settings
from core.errors import InvalidInput

_INSTALLED = "_gridpulse_handler"
# Attributes every LogRecord has; anything else on a record came from ``extra=`` and goes into the JSON.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, process name, logger, message, extras."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname, "process": self.process, "pid": record.process,
            "logger": record.name, "message": record.getMessage(),
        }
        doc.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


def _handler(name: str, cfg: OpsSettings) -> logging.Handler:
    if cfg.log_dir is None:
        return logging.StreamHandler(sys.stderr)
    cfg.log_dir.mkdir(parents=True, exist_ok=True)
    return logging.handlers.RotatingFileHandler(cfg.log_dir / f"{name}.log", maxBytes=cfg.log_max_bytes,
                                                backupCount=cfg.log_backups, encoding="utf-8")


def setup(name: str, cfg: OpsSettings | None = None) -> logging.Handler:
    """Route the root logger (and so uvicorn's, gunicorn's and every stage's) through one handler.

    Idempotent: calling it again replaces the handler it installed before, never doubles lines."""
    cfg = cfg or ops_settings()
    level = logging.getLevelName(cfg.log_level)
    if not isinstance(level, int):
        raise InvalidInput(f"GRIDPULSE_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {cfg.log_level!r}")
    handler = _handler(name, cfg)
    handler.setFormatter(JsonFormatter(name) if cfg.log_format == "json" else
                         logging.Formatter(f"%(asctime)s {name} %(name)s %(levelname)s %(message)s"))
    setattr(handler, _INSTALLED, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _INSTALLED, False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("uvicorn", "uvicorn.error", "uvicorn.access", "gunicorn.error", "gunicorn.access"):
        lg = logging.getLogger(noisy)
        lg.handlers.clear()
        lg.propagate = True
    return handler


def uvicorn_level() -> str:
    """uvicorn's own level name for the configured one (it takes lower-case names)."""
    return ops_settings().log_level.lower()
