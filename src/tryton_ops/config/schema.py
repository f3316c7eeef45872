"""The schema of `tryton-ops.toml`: one model per section, strict about keys and types.

A part that runs inside trytond has a `PartSection` here: the only place where its option names
and defaults are written (rendered into trytond.conf and read back through it). Rules that span
sections are `Settings` validators, so every config mistake is found when the file is loaded.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tryton_ops.config.durations import parse_duration
from tryton_ops.config.hosts import check_hosts
from tryton_ops.config.redis_spec import RedisSpec
from tryton_ops.config.section import PartSection, Section

SESSION_MODULE = "ops_session"  # the trytond module that keeps sessions in Redis
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,62}$")


def _check_database_uri(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("sqlite", "postgresql"):
        raise ValueError(
            "must start with sqlite:// or postgresql:// "
            "(e.g. sqlite:// or postgresql://user@localhost:5432/)"
        )
    if parts.scheme == "postgresql" and parts.path not in ("", "/"):
        raise ValueError(
            "must not name a database in its path: trytond adds the database name itself "
            "(use postgresql://user@host:port/ and set database.name)"
        )
    _check_port(parts)
    return value


def _check_redis_uri(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ValueError(
            "must start with redis://, rediss:// or unix:// (e.g. redis://localhost:6379/0)"
        )
    if parts.scheme == "unix" and not parts.path:
        raise ValueError("unix:// needs a socket path, e.g. unix:///run/redis/redis.sock")
    _check_port(parts)
    return value


def _check_port(parts) -> None:
    try:
        parts.port  # noqa: B018 - property raises on an invalid port
    except ValueError as exc:
        raise ValueError(f"has an invalid port: {exc}") from None


def _check_name(value: str) -> str:
    if not NAME_RE.match(value):
        raise ValueError(
            "must start with a letter or underscore and hold only letters, digits, '_' or '-' "
            "(at most 63 characters)"
        )
    return value


def _check_listen(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("must be HOST:PORT with a port from 1 to 65535, e.g. 127.0.0.1:8000")
    return value


def _check_system_account(value: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", value):
        raise ValueError("must be a system user or group name, e.g. tryton")
    if value == "root":
        raise ValueError("must not be root: the services run as a dedicated system user")
    return value


DatabaseURI = Annotated[str, AfterValidator(_check_database_uri)]
SystemAccount = Annotated[str, AfterValidator(_check_system_account)]
RedisURI = Annotated[str, AfterValidator(_check_redis_uri)]
Name = Annotated[str, AfterValidator(_check_name)]
Listen = Annotated[str, AfterValidator(_check_listen)]


class Paths(Section):
    """Where tryton-ops keeps state; empty means the per-deployment default under XDG dirs."""

    data: Path | None = Field(None, description="SQLite files and attachments ([database] path)")
    run: Path | None = Field(None, description="rendered trytond.conf, pid files and logs")
    templates: Path | None = Field(
        None, description="cached database templates (SQLite files); default <data>/templates"
    )
    backups: Path | None = Field(
        None, description="archives of `db backup` (made 0700); default <data>/backups"
    )


class Database(Section):
    uri: DatabaseURI = "sqlite://"
    name: Name = "demo"
    modules: list[Name] = Field(default_factory=lambda: ["party"])
    language: str = "en"
    admin_password_file: Path | None = Field(
        None, description="file holding the admin password; generated on first init if unset"
    )
    demo_records: int = Field(
        0, ge=0, le=100_000, description="parties created when the database is first made"
    )

    @property
    def backend(self) -> str:
        return urlsplit(self.uri).scheme


class Redis(Section):
    """The deployment's Redis: every part that talks to Redis uses it unless it names its own."""

    uri: RedisURI | None = None
    tls_ca_file: Path | None = Field(
        None, description="CA bundle for rediss:// URIs (default of cache, sessions, perf)"
    )


class Server(Section):
    app_server: Literal["gunicorn", "uwsgi"] = Field(
        "gunicorn", description="WSGI server of the app workers (deploy part)"
    )
    listen: Listen = "127.0.0.1:8000"
    workers: int = Field(1, ge=1, le=256)
    threads: int = Field(1, ge=1, le=64)
    timeout: int = Field(60, ge=1, le=3600, description="request timeout in seconds")
    log_level: str = "INFO"
    user: SystemAccount = Field("tryton", description="system user of the rendered systemd units")
    group: SystemAccount = Field(
        "tryton", description="its group, which may also read the logs (mode 0640)"
    )

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        levels = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
        if value.upper() not in levels:
            raise ValueError(f"must be one of {', '.join(levels)}")
        return value.upper()

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0]

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


def _check_duration(value: str) -> str:
    parse_duration(value)
    return value


Duration = Annotated[str, AfterValidator(_check_duration)]


def _check_time_of_day(value: str) -> str:
    hours, sep, minutes = value.partition(":")
    if not (sep and len(hours) == len(minutes) == 2 and hours.isdigit() and minutes.isdigit()):
        raise ValueError("must be a time of day HH:MM, e.g. 02:30")
    if int(hours) > 23 or int(minutes) > 59:
        raise ValueError("must be a time of day from 00:00 to 23:59")
    return value


TimeOfDay = Annotated[str, AfterValidator(_check_time_of_day)]


class Backup(Section):
    """Scheduled backups and their grandfather-father-son retention (`db backup --prune`)."""

    schedule: bool = Field(
        False, description="back up daily at `at`: a systemd timer, and a program of `up`"
    )
    at: TimeOfDay = Field("02:30", description="local time of the daily backup, HH:MM")
    keep_daily: int = Field(7, ge=0, le=3660, description="newest archive of each of N days")
    keep_weekly: int = Field(4, ge=0, le=520, description="newest archive of each of N weeks")
    keep_monthly: int = Field(12, ge=0, le=1200, description="newest of each of N months")
    max_age: Duration = Field(
        "26h", description="`doctor` warns, `status` flags, when the last backup is older"
    )

    @model_validator(mode="after")
    def _keeps_something(self) -> Backup:
        if not (self.keep_daily or self.keep_weekly or self.keep_monthly):
            raise ValueError(
                "keep_daily, keep_weekly and keep_monthly are all 0: pruning would keep only "
                "the newest archive; set at least one above 0"
            )
        return self


class Perf(PartSection):
    """Performance analyzer (tryton_ops.perf): summary of every RPC call, on-demand capture."""

    TRYTOND_SECTION = "ops_perf"
    enabled: bool = Field(False, description="plug the SQL hook and the RPC middleware in")
    store: Literal["auto", "redis", "file"] = Field(
        "auto", description="auto: redis when a Redis is configured, else files"
    )
    redis_uri: RedisURI | None = Field(None, description="default: [redis] uri")
    max_records: int = Field(100_000, ge=100, le=10_000_000)
    max_age: Duration = "7d"
    fp_key_file: Path | None = Field(
        None,
        description="secret key of the call fingerprints (0600, generated on first use); "
        "default <data>/perf-fp-key",
    )
    max_capture: Duration = Field(
        "7d", description="longest full capture `perf enable` (CLI or RPC) may ask for"
    )
    slow_sql_ms: int = Field(1000, ge=1)
    slow_rpc_ms: int = Field(3000, ge=1)
    stack_ms: int = Field(10, ge=0, description="full capture: stack of statements this slow")
    n1_threshold: int = Field(10, ge=2, description="same statement shape repeated in one call")
    max_statements: int = Field(2000, ge=10, le=100_000, description="per call, full capture")
    buffer_size: int = Field(10_000, ge=10, le=1_000_000)
    flush_interval_ms: int = Field(500, ge=10, le=60_000)
    metrics_token: str | None = Field(
        None, description="bearer token for /-/perf/metrics; unset: front.allowed_networks"
    )
    profile: bool = Field(False, description="full capture: sampling profile (pyinstrument)")
    profile_interval_ms: int = Field(1, ge=1, le=1000, description="profile sampling interval")


class Accel(PartSection):
    """Opt-in accelerators (tryton_ops.accel): verified fixes of trytond hot spots."""

    TRYTOND_SECTION = "ops_accel"
    json_response: bool = Field(
        False, description="encode JSON-RPC responses in one shot with the C encoder"
    )
    view_cache: bool = Field(
        False, description="let trytond cache fields_view_get of forms with sub-views"
    )
    record_init: bool = Field(
        False, description="drop the O(n^2) id check when trytond builds record instances"
    )


def _check_key_prefix(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", value):
        raise ValueError("must be 1 to 64 letters, digits, '_', '.' or '-'")
    return value


class Cache(PartSection):
    """trytond's cache: stock in-process MemoryCache, or tryton_ops RedisCache (docs/cache.md)."""

    TRYTOND_SECTION = "ops_cache"
    backend: Literal["memory", "redis"] = Field(
        "memory", description="memory: stock MemoryCache; redis: L1 in process + shared Redis L2"
    )
    redis_uri: RedisURI | None = Field(None, description="default: [redis] uri")
    key_prefix: Annotated[str, AfterValidator(_check_key_prefix)] = "tryton"
    l1: bool = Field(True, description="false: every lookup goes to Redis (benchmarks only)")
    l1_size: int = Field(1024, ge=1, le=10_000_000, description="entries per cache and database")
    ttl: int = Field(3600, ge=1, description="seconds a value lives in Redis")
    timeout: float = Field(0.5, gt=0, le=30, description="seconds per Redis command")
    connect_timeout: float = Field(0.5, gt=0, le=30)
    retry_interval: float = Field(
        1.0, gt=0, le=300, description="seconds Redis is left alone after a failure"
    )
    commit_lease: float = Field(
        60.0, ge=1, le=3600, description="upper bound of a SQL commit's duration, in seconds"
    )
    max_value_size: int = Field(
        4 * 1024 * 1024, ge=1024, le=512 * 1024 * 1024, description="bytes; larger stay in L1"
    )
    tls_ca_file: Path | None = Field(None, description="CA bundle for rediss:// URIs")
    signing_key_file: Path | None = Field(
        None, description="secret file: values in Redis are signed, unsigned ones ignored"
    )
    clean_timeout: int | None = Field(
        None, ge=0, description="stock MemoryCache only: 0 = PostgreSQL NOTIFY, else polling"
    )


class Sessions(PartSection):
    """Where sessions live: trytond's ir_session table, or Redis (docs/sessions.md)."""

    TRYTOND_SECTION = "ops_sessions"
    store: Literal["database", "redis"] = Field(
        "database", description="redis: the ops_session module keeps sessions in Redis"
    )
    redis_uri: RedisURI | None = Field(None, description="default: [redis] uri")
    key_prefix: Annotated[str, AfterValidator(_check_key_prefix)] = "tryton"
    exclusive: bool = Field(False, description="a new login ends the user's other sessions")
    audit: bool = Field(True, description="per-user daily counters of logins, calls, logouts")
    audit_days: int = Field(30, ge=1, le=3660, description="days the counters are kept")
    max_age: int | None = Field(
        None, ge=1, description="trytond [session] max_age: seconds a session lives"
    )
    timeout: int | None = Field(
        None, ge=1, description="trytond [session] timeout: idle seconds for fresh sessions"
    )
    redis_timeout: float = Field(0.5, gt=0, le=30, description="seconds per Redis command")
    connect_timeout: float = Field(0.5, gt=0, le=30)
    tls_ca_file: Path | None = Field(None, description="CA bundle for rediss:// URIs")


def _check_network(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError("must be an IP network such as 10.0.0.0/8 or ::1/128") from None
    return value


Network = Annotated[str, AfterValidator(_check_network)]


def _check_server_name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9*_.-]{1,253}", value):
        raise ValueError("must be a host name such as erp.example.com")
    return value


class Front(Section):
    """nginx in front of the app workers (deploy part)."""

    enabled: Literal["auto", "on", "off"] = Field(
        "auto", description="auto: nginx in front when installed and server.workers > 1"
    )
    listen: Listen = "127.0.0.1:8080"
    tls: bool = False
    tls_listen: Listen = "127.0.0.1:8443"
    certificate: Path | None = Field(None, description="PEM certificate; unset: self-signed")
    certificate_key: Path | None = None
    server_name: Annotated[str, AfterValidator(_check_server_name)] = "localhost"
    allowed_networks: list[Network] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"],
        description="networks allowed on admin and metrics paths",
    )
    max_body_mb: int = Field(50, ge=1, le=4096)
    login_rate_per_minute: int = Field(30, ge=1, le=100_000)
    rpc_rate_per_second: int = Field(200, ge=1, le=1_000_000)


class Cron(Section):
    enabled: bool = False


class Bus(Section):
    """Long polling (notifications to clients), served by a gevent instance nginx routes to."""

    enabled: bool = False
    listen: Listen = "127.0.0.1:8001"


class Queue(Section):
    workers: int = Field(0, ge=0, le=64, description="trytond-worker processes (0: tasks inline)")


class Debug(PartSection):
    """Developer tools (docs/debug.md): code evaluation is off unless turned on here."""

    TRYTOND_SECTION = "ops_debug"
    eval: bool = Field(False, description="allow `tryton-ops eval` and ops.debug.eval (admins)")
    eval_timeout: int = Field(30, ge=1, le=3600, description="seconds before evaluation stops")
    record_max_depth: int = Field(
        5, ge=0, le=100, description="relation levels `record` may follow at most"
    )
    record_max_records: int = Field(
        500, ge=1, le=1_000_000, description="records one `record` call may read at most"
    )
    record_timeout: float = Field(
        10, gt=0, le=3600, description="seconds one `record` call may read for at most"
    )


class Console(PartSection):
    """The ops console at `/ops/` (tryton_ops.console, docs/ops-console.md): administrators only,
    from the networks of `front.allowed_networks`."""

    TRYTOND_SECTION = "ops_console"
    enabled: bool = Field(True, description="serve the console at /ops/ from trytond")
    refresh_s: int = Field(5, ge=1, le=3600, description="live refresh of the pages, seconds")
    window: Duration = Field("1h", description="traffic shown when the page does not say")


def _check_address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    label = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    if not re.fullmatch(rf"{label}(\.{label})*", value) or len(value) > 253:
        raise ValueError("must be an IP address or a host name, without a port, e.g. 10.0.0.11")
    return value


Address = Annotated[str, AfterValidator(_check_address)]
HostRole = Literal["app", "front", "db", "redis", "cron", "queue", "bus"]


class Host(Section):
    """One machine of a multi-host deployment (`tryton-ops deploy render --host NAME`)."""

    address: Address = Field(description="private address the other hosts reach it at")
    roles: list[HostRole] = Field(default_factory=lambda: ["app"], min_length=1)
    workers: int | None = Field(None, ge=1, le=256, description="app: default server.workers")
    threads: int | None = Field(None, ge=1, le=64, description="app: default server.threads")


class Settings(Section):
    """The whole deployment."""

    name: Name = "default"
    paths: Paths = Field(default_factory=Paths)
    database: Database = Field(default_factory=Database)
    redis: Redis = Field(default_factory=Redis)
    server: Server = Field(default_factory=Server)
    cache: Cache = Field(default_factory=Cache)
    sessions: Sessions = Field(default_factory=Sessions)
    accel: Accel = Field(default_factory=Accel)
    perf: Perf = Field(default_factory=Perf)
    front: Front = Field(default_factory=Front)
    cron: Cron = Field(default_factory=Cron)
    bus: Bus = Field(default_factory=Bus)
    queue: Queue = Field(default_factory=Queue)
    debug: Debug = Field(default_factory=Debug)
    backup: Backup = Field(default_factory=Backup)
    console: Console = Field(default_factory=Console)
    # last: its check reads the sections above
    hosts: dict[Name, Host] = Field(
        default_factory=dict, description="several machines (docs/deploy.md); none: this one"
    )

    def redis_of(self, part: Literal["cache", "sessions", "perf"]) -> RedisSpec | None:
        """How a part reaches its Redis: its own `redis_uri`/`tls_ca_file`, else `[redis]`'s,
        with its own timeouts (perf has no timeouts of its own); None when it has no Redis."""
        own = getattr(self, part)
        uri = own.redis_uri or self.redis.uri
        if not uri:
            return None
        ca_file = getattr(own, "tls_ca_file", None) or self.redis.tls_ca_file
        timeouts = {}
        if part == "cache":
            timeouts = {"socket_timeout": own.timeout, "connect_timeout": own.connect_timeout}
        elif part == "sessions":
            timeouts = {"socket_timeout": own.redis_timeout, "connect_timeout": own.connect_timeout}
        return RedisSpec(uri, str(ca_file) if ca_file else None, **timeouts)

    def redis_uri_of(self, part: Literal["cache", "sessions", "perf"]) -> str | None:
        spec = self.redis_of(part)
        return spec.uri if spec else None

    def with_redis(self, part: Literal["cache", "sessions"]) -> Cache | Sessions:
        """A part's section with its Redis resolved: what its trytond.conf section holds."""
        section = getattr(self, part)
        spec = self.redis_of(part)
        if spec is None:
            return section
        ca_file = Path(spec.tls_ca_file) if spec.tls_ca_file else None
        return section.model_copy(update={"redis_uri": spec.uri, "tls_ca_file": ca_file})

    def redis_specs(self) -> list[RedisSpec]:
        """Every distinct Redis the deployment uses, once per URI (status and doctor probe
        each, with the TLS CA of the first part that names it)."""
        found: dict[str, RedisSpec] = {}
        for part in ("cache", "sessions", "perf"):
            if spec := self.redis_of(part):
                found.setdefault(spec.uri, spec)
        return list(found.values())

    @property
    def perf_store(self) -> Literal["redis", "file"]:
        """Where the analyzer keeps its records: `auto` is Redis when the deployment has one."""
        if self.perf.store == "auto":
            return "redis" if self.redis_uri_of("perf") else "file"
        return self.perf.store

    @field_validator("hosts")
    @classmethod
    def _hosts_consistent(cls, hosts: dict[str, Host], info: ValidationInfo) -> dict[str, Host]:
        if hosts:
            check_hosts(hosts, info.data)
        return hosts

    @model_validator(mode="after")
    def _bus_needs_postgresql(self) -> Settings:
        if self.bus.enabled and self.database.backend != "postgresql":
            raise ValueError(
                "bus.enabled needs a postgresql:// database.uri "
                "(trytond's bus uses PostgreSQL LISTEN/NOTIFY)"
            )
        return self

    @model_validator(mode="after")
    def _redis_where_needed(self) -> Settings:
        needs = (
            ("cache", self.cache.backend == "redis", "cache.backend is 'redis'"),
            ("sessions", self.sessions.store == "redis", "sessions.store is 'redis'"),
            ("perf", self.perf.store == "redis", "perf.store is 'redis'"),
        )
        for part, needed, why in needs:
            if needed and not self.redis_uri_of(part):
                raise ValueError(
                    f"{why} but no Redis is configured: set {part}.redis_uri or redis.uri "
                    "(e.g. redis://127.0.0.1:6379/0)"
                )
        return self

    @model_validator(mode="after")
    def _redis_sessions_need_module(self) -> Settings:
        if self.sessions.store == "redis" and SESSION_MODULE not in self.database.modules:
            raise ValueError(
                f"sessions.store is 'redis' but {SESSION_MODULE!r} is not in database.modules: "
                "add it (then `tryton-ops db update`) so that trytond uses the Redis store"
            )
        return self
