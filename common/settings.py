"""One settings loader: explicit values, then LIANFU_* environment variables, then defaults."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class SyncSettings:
    """A spoke's side of the sync: when its rounds run and how much each asks for."""
    scheduled: bool = False  # LIANFU_SPOKE_SCHEDULE: rounds run in the background (set by `lianfu spoke serve`)
    interval_seconds: float = 60.0  # LIANFU_SYNC_INTERVAL
    directory_refresh_seconds: float = 300.0  # LIANFU_DIRECTORY_REFRESH: the hub's directory and keys read again
    pull_page_rows: int = 0  # LIANFU_SYNC_PULL_PAGE: rows per pull page; 0 is the hub's page
    introspection_cache_seconds: float = 10.0  # LIANFU_INTROSPECTION_CACHE: a bearer token's answer kept this long


@dataclass(frozen=True)
class NotifySettings:
    """How the hub reaches people who are not looking at a page: mail, and when a silent node is reported."""
    smtp_url: str = ""  # LIANFU_SMTP_URL: smtp://user:password@host:port or smtps://…; no mail when empty
    mail_from: str = ""  # LIANFU_MAIL_FROM: the sender address of the hub's mail
    sync_alert_hours: float = 24.0  # LIANFU_SYNC_ALERT_HOURS: a node silent this long is reported to the office
    scheduler: bool = True  # LIANFU_HUB_SCHEDULER: whether `lianfu hub serve` runs the hub's jobs at all


@dataclass(frozen=True)
class Settings:
    role: str = "hub"
    node_id: str = "hub"
    data_dir: Path = Path("var/hub")
    db_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8600
    base_url: str = ""
    secret_key: str = ""
    cookie_secure: bool = True
    session_hours: int = 12
    home_city_code: str = "320681"
    home_city_name: str = "启东市"
    debug: bool = False
    max_upload_mb: int = 20
    # Reverse proxies (addresses or CIDRs) whose X-Forwarded-For is believed; nobody's by default.
    trusted_proxies: tuple[str, ...] = ()
    # LIANFU_METRICS_TOKEN: a scraper sending `Authorization: Bearer <token>` may read /metrics from anywhere; without
    # it only loopback may (common/ops/metrics.py). Empty: loopback only.
    metrics_token: str = ""
    # LIANFU_LOG_FORMAT: `text` (the default, for people) or `json` (one object per line, for a log collector); read
    # by common/ops/logs.py in each serving process. A spoke also writes its log to <data dir>/logs/lianfu.log.
    log_format: str = "text"
    # Set by `serve` for its own workers, not by operators: PROMETHEUS_MULTIPROC_DIR (<data dir>/metrics, where the
    # workers' counters are added up) and LIANFU_SERVE_PID / LIANFU_SERVE_WORKERS / LIANFU_SERVE_STARTED (what
    # `lianfu hub status` shows of the serving process, hub/hosts.py).
    # LIANFU_BLOB_STORE: where a hub keeps attachment files, `database` or `disk` (the data dir); empty: the
    # database for a PostgreSQL hub (every host finds them, one backup holds them), the disk otherwise.
    blob_store: str = ""
    # PROMETHEUS_MULTIPROC_DIR, set by `serve` for its workers (common/ops/serving.py): where each worker's counters
    # are kept so a scrape adds them up; empty in a process that serves alone (an app built in tests).
    metrics_multiproc_dir: str = ""
    # LIANFU_SERVE_PID / _WORKERS / _STARTED, set by `lianfu hub serve` for its workers: the serving process as a
    # whole, which `lianfu hub status` shows (hub/hosts.py); raw text, empty when this process serves alone.
    serve_process: tuple[str, str, str] = ("", "", "")
    # LIANFU_PG_BIN: a directory holding pg_dump and pg_restore of the database server's major version, looked in
    # first by `lianfu hub backup` / `restore` (then PATH, then the distributions' directories).
    pg_bin: str = ""
    sync: SyncSettings = field(default_factory=SyncSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)

    @property
    def database_url(self) -> str:
        if not self.db_url:
            return f"sqlite:///{(self.data_dir / 'lianfu.db').resolve()}"
        # The libpq form operators know (postgresql://…) names the driver we ship (psycopg 3), not SQLAlchemy's
        # default psycopg2, which is not installed.
        for plain in ("postgresql://", "postgres://"):
            if self.db_url.startswith(plain):
                return "postgresql+psycopg://" + self.db_url[len(plain):]
        return self.db_url

    @property
    def postgres(self) -> bool:
        return self.database_url.startswith("postgres")

    @property
    def blobs_in_database(self) -> bool:
        return (self.blob_store or ("database" if self.postgres else "disk")) == "database"

    @property
    def cookie_prefix(self) -> str:
        # Each node has its own cookie names so a hub and spokes on one host never overwrite each other.
        return f"lianfu_{self.node_id.replace('-', '_')}"

    def with_overrides(self, **values: object) -> "Settings":
        return replace(self, **{k: v for k, v in values.items() if v is not None})


def load_settings(role: str = "hub", **overrides: object) -> Settings:
    """Build settings from overrides (flags), then LIANFU_* variables, then defaults."""
    env = os.environ
    sync = SyncSettings(
        scheduled=_env_bool("LIANFU_SPOKE_SCHEDULE", False),
        interval_seconds=float(env.get("LIANFU_SYNC_INTERVAL", "60")),
        directory_refresh_seconds=float(env.get("LIANFU_DIRECTORY_REFRESH", "300")),
        pull_page_rows=max(0, int(env.get("LIANFU_SYNC_PULL_PAGE", "0"))),
        introspection_cache_seconds=float(env.get("LIANFU_INTROSPECTION_CACHE", "10")),
    )
    data_dir = Path(str(overrides.pop("data_dir", None) or env.get("LIANFU_DATA_DIR") or f"var/{role}"))
    settings = Settings(
        role=role,
        node_id=env.get("LIANFU_NODE_ID", "hub" if role == "hub" else ""),
        data_dir=data_dir,
        db_url=env.get("LIANFU_DB", ""),
        host=env.get("LIANFU_HOST", "127.0.0.1"),
        port=int(env.get("LIANFU_PORT", "8600" if role == "hub" else "8601")),
        base_url=env.get("LIANFU_BASE_URL", ""),
        secret_key=env.get("LIANFU_SECRET_KEY", ""),
        cookie_secure=_env_bool("LIANFU_COOKIE_SECURE", True),
        session_hours=int(env.get("LIANFU_SESSION_HOURS", "12")),
        home_city_code=env.get("LIANFU_HOME_CITY_CODE", "320681"),
        home_city_name=env.get("LIANFU_HOME_CITY_NAME", "启东市"),
        debug=_env_bool("LIANFU_DEBUG", False),
        max_upload_mb=max(1, int(env.get("LIANFU_MAX_UPLOAD_MB", "20"))),
        trusted_proxies=tuple(env.get("LIANFU_TRUSTED_PROXIES", "").replace(",", " ").split()),
        metrics_token=env.get("LIANFU_METRICS_TOKEN", "").strip(),
        log_format=env.get("LIANFU_LOG_FORMAT", "text").strip().lower() or "text",
        blob_store=env.get("LIANFU_BLOB_STORE", "").strip().lower(),
        metrics_multiproc_dir=env.get("PROMETHEUS_MULTIPROC_DIR", ""),
        pg_bin=env.get("LIANFU_PG_BIN", "").strip(),
        serve_process=(env.get("LIANFU_SERVE_PID", ""), env.get("LIANFU_SERVE_WORKERS", ""),
                       env.get("LIANFU_SERVE_STARTED", "")),
        sync=sync,
        notify=NotifySettings(
            smtp_url=env.get("LIANFU_SMTP_URL", ""),
            mail_from=env.get("LIANFU_MAIL_FROM", ""),
            sync_alert_hours=float(env.get("LIANFU_SYNC_ALERT_HOURS", "24")),
            scheduler=_env_bool("LIANFU_HUB_SCHEDULER", True),
        ),
    )
    return settings.with_overrides(**overrides)


def export_to_workers(name: str, value: str) -> None:
    """Put one setting into this process's environment, for the worker processes it starts (and libraries that read
    it there when first imported): the loader is the one place the environment is read or written."""
    os.environ[name] = value


def child_environment(defaults: dict[str, str] | None = None, **overrides: str) -> dict[str, str]:
    """The environment a command started from this one runs with: this process's (the loader is the one place it is
    read), under `defaults` where it says nothing, with `overrides` on top."""
    return {**(defaults or {}), **os.environ, **overrides}


class SettingsError(ValueError):
    """Settings a node must not start with; the message says which and why, in one line."""


def check_hub_settings(settings: Settings) -> None:
    """What a hub refuses to start without. With Secure cookies (production) its public address must be set: it is
    the OpenID issuer, and one taken from a request's Host header would let a client choose it."""
    if settings.cookie_secure and not settings.base_url:
        raise SettingsError("LIANFU_BASE_URL is required when LIANFU_COOKIE_SECURE is on (the hub's public https "
                            "address, its OpenID issuer)")
    if settings.blob_store not in ("", "database", "disk"):
        raise SettingsError(f"LIANFU_BLOB_STORE must be `database` or `disk`, not `{settings.blob_store}`")
    _require_shared_key(settings)
    from common.web.proxies import parse_networks

    try:
        parse_networks(settings.trusted_proxies)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def _require_shared_key(settings: Settings) -> None:
    if settings.role == "hub" and settings.postgres and settings.cookie_secure and not settings.secret_key:
        # A PostgreSQL hub may be one of several hosts: a key made in one host's data dir would seal signing keys
        # and TOTP secrets the others cannot open, and sign CSRF tokens and audit links they reject.
        raise SettingsError("LIANFU_SECRET_KEY is required for a PostgreSQL hub when LIANFU_COOKIE_SECURE is on "
                            "(the same value on every host of the hub)")


def ensure_secret_key(settings: Settings) -> Settings:
    """LIANFU_SECRET_KEY when set: every host of one hub shares it, and everything sealed (signing keys, TOTP
    secrets) and every MAC (CSRF tokens, the audit chain) derives from it. Else a key kept in the data dir, so every
    worker of one node signs alike and restarts keep sessions: a spoke, a SQLite hub, a development PostgreSQL hub
    (a production one refuses to start without the shared key: check_hub_settings)."""
    if settings.secret_key:
        return settings
    _require_shared_key(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    key_file = settings.data_dir / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(48))
        key_file.chmod(0o600)
    return replace(settings, secret_key=key_file.read_text().strip())
