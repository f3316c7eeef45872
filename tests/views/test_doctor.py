"""doctor: every finding provoked by a real misconfiguration, then cleared by its fix."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator

import pytest

from tests.lifecycle.helpers import cli
from tryton_ops.config.trytond_conf import render_trytond_conf
from tryton_ops.lifecycle.backup import backup
from tryton_ops.perf.trytond_conf import has_database_mixins
from tryton_ops.testing.databases import derive, make_config
from tryton_ops.views.doctor import Context, Finding, exit_code, run
from tryton_ops.views.doctor.pgbouncer import pool_mode
from tryton_ops.views.doctor.startup import missing_database_names

CLEAN_ENV: dict[str, str] = {}


def codes(config, conf: str | None = None, environ=None, tmp_path=None) -> set[str]:
    path = None
    if conf is not None:
        path = tmp_path / "trytond.conf"
        path.write_text(conf)
    findings = run(Context(config, trytond_conf=path, environ=environ or CLEAN_ENV))
    # these configs name a database nobody created: that finding has its own test
    # (tests/cli/test_db_guard.py)
    return {f.code for f in findings} - {"database.missing"}


def test_layout_findings(tmp_path, postgres_server):
    sqlite = make_config(tmp_path / "a", {"server": {"workers": 3}, "front": {"enabled": "off"}})
    found = codes(sqlite)
    assert {"server.sqlite-workers", "cache.stale-multiworker", "server.no-front"} <= found
    assert not codes(derive(sqlite, {"server": {"workers": 1}}))

    pg = derive(sqlite, {"database": {"uri": postgres_server.uri}})
    found = codes(pg)
    assert "server.sqlite-workers" not in found
    assert {"cache.stale-multiworker", "server.no-front"} <= found
    fixed = derive(pg, {"cache": {"clean_timeout": 0}, "front": {"enabled": "on"}})
    assert not codes(fixed)
    assert "pgbouncer.notify" not in codes(fixed)  # plain PostgreSQL: no pgbouncer console
    assert pool_mode(postgres_server.uri) is None

    noisy = derive(fixed, {"server": {"log_level": "DEBUG"}})
    assert codes(noisy) == {"server.debug-logging"}
    evaluating = derive(fixed, {"debug": {"eval": True}})
    assert codes(evaluating) == {"server.debug-eval"}
    development = derive(sqlite, {"server": {"workers": 1}, "debug": {"eval": True}})
    assert not codes(development)  # one worker, no front: eval is fine there


def test_backend_checks_fire_with_the_analyzer_on(tmp_path):
    """On trytond 8.0 the analyzer renders `sqliteops:`: the backend comes from the settings."""
    config = make_config(
        tmp_path, {"server": {"workers": 3}, "front": {"enabled": "off"}, "perf": {"enabled": True}}
    )
    conf = render_trytond_conf(config)
    if not has_database_mixins():
        assert "uri = sqliteops:" in conf  # the case that hid these findings on 8.0
    found = codes(config, conf, tmp_path=tmp_path)
    assert {"server.sqlite-workers", "cache.stale-multiworker"} <= found


def test_trytond_conf_findings(tmp_path):
    config = make_config(tmp_path, {"front": {"enabled": "off"}})
    base = render_trytond_conf(config)
    assert not codes(config, base, tmp_path=tmp_path)

    def with_(extra: str) -> set[str]:
        return codes(config, base + "\n" + extra, tmp_path=tmp_path)

    assert with_("[wsgi ops]\nargs = (1,)\n") == {"startup.wsgi-section"}
    proxies = base.replace("[web]\n", "[web]\nnum_proxies = 1\n")
    assert codes(config, proxies, tmp_path=tmp_path) == {"server.num-proxies"}
    front = derive(config, {"front": {"enabled": "on"}})
    assert codes(front, base, tmp_path=tmp_path) == {"server.num-proxies"}
    assert not codes(front, proxies, tmp_path=tmp_path)

    assert with_("[queue]\nworker = True\n") == {"server.queue-flag"}
    queued = derive(config, {"queue": {"workers": 1}})
    assert codes(queued, base, tmp_path=tmp_path) == {"server.queue-flag"}
    assert not codes(queued, base + "\n[queue]\nworker = True\n", tmp_path=tmp_path)

    assert with_("[bus]\nallow_subscribe = True\n") == {"server.bus-sqlite", "server.bus-gevent"}
    assert with_("[session]\nmax_age = 60\n") == {"sessions.max-age-short"}
    assert with_("[session]\ntimeout = 10\n") == {"sessions.timeout-short"}
    assert with_("[session]\nmax_age = 100000000\n") == {"sessions.max-age-long"}
    assert with_("[session]\nmax_age = 600\ntimeout = 900\n") == {"sessions.max-age-below-timeout"}
    assert with_("[session]\ntimeout = soon\n") == {"sessions.invalid"}


def test_environment_findings(tmp_path):
    config = make_config(tmp_path, {})
    found = codes(config, environ={"TRYTOND_WEB__LISTEN": "0.0.0.0:1", "PATH": "/bin"})
    assert found == {"startup.env-ignored"}
    found = codes(config, environ={"TRYTOND_WSGI_OPS__ARGS": "(1,)"})
    assert found == {"startup.wsgi-section", "startup.env-ignored"}
    assert missing_database_names([{"TRYTOND_DATABASE_NAMES": "a,demo"}, {}], "demo") == 1
    assert missing_database_names([{"TRYTOND_DATABASE_NAMES": "demo"}], "demo") == 0


def test_backup_and_redis_findings(make_trytond_db, redis_server, tmp_path):
    db = make_trytond_db("sqlite")
    config = derive(db.config, {"redis": {"uri": redis_server.uri}})
    found = codes(config)
    # a fresh Redis: no memory limit, and noeviction (Redis' default) refuses writes when full
    assert {"backups.none-recent", "redis.no-maxmemory", "redis.eviction-policy"} == found
    severity = {f.code: f.severity for f in run(Context(config, environ=CLEAN_ENV))}
    assert severity["redis.eviction-policy"] == "error"
    result = cli(config, "doctor", "--json")
    assert result.exit_code == 1
    assert json.loads(result.output)["exit_code"] == 1

    backup(config, db.name)
    client = redis_server.client()
    client.config_set("maxmemory", "64mb")
    client.config_set("maxmemory-policy", "allkeys-lru")
    assert not codes(config)
    result = cli(config, "doctor")
    assert result.exit_code == 0 and "no known pitfall found" in result.output

    redis_server.kill()
    assert codes(config) == {"redis.unreachable"}
    assert exit_code(run(Context(config, environ=CLEAN_ENV))) == 1


def test_redis_over_tls_with_the_deployments_private_ca(make_trytond_db, redis_factory):
    redis = redis_factory(tls=True)
    db = make_trytond_db("sqlite")
    untrusted = derive(db.config, {"redis": {"uri": redis.tls_uri}})
    assert "redis.unreachable" in codes(untrusted)
    result = cli(untrusted, "doctor")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "set tls_ca_file" in result.output

    trusted = derive(untrusted, {"redis": {"tls_ca_file": str(redis.ca_file)}})
    found = codes(trusted)
    assert "redis.unreachable" not in found
    assert "redis.eviction-policy" in found  # it did read the server's settings
    assert cli(trusted, "doctor").exit_code == 1  # noeviction is an error finding


def test_database_server_down(postgres_factory, tmp_path):
    server = postgres_factory()
    uri = server.uri.replace("postgres@", "postgres:s3cret@")  # trust auth ignores it
    masked = uri.replace("s3cret", "***")
    config = make_config(tmp_path, {"database": {"uri": uri}})
    assert "database.unreachable" not in codes(config)
    result = cli(config, "db", "backup", "-d", "demo")  # server up: the database is really missing
    assert result.exit_code == 1 and "database 'demo' does not exist" in result.output
    server.stop()
    assert "database.unreachable" in codes(config)
    result = cli(config, "status", "--json")
    assert result.exit_code == 1  # nothing runs; the probe failure is reported, not raised
    error = json.loads(result.output)["database"]["error"]
    assert f"PostgreSQL server unreachable at {masked}" in error
    for args in (
        ("backup", "-d", "demo"),
        ("update", "-d", "demo"),
        ("update", "-d", "demo", "--dry-run"),
    ):
        result = cli(config, "db", *args)
        assert result.exit_code == 1, args
        (line,) = result.output.strip().splitlines()  # one clear line, no traceback
        assert line.startswith(f"error: PostgreSQL server unreachable at {masked}: "), line
        assert "start it, or fix database.uri in tryton-ops.toml" in line
        assert "s3cret" not in line and "does not exist" not in line


def test_redis_sessions_configured_but_module_not_activated(make_trytond_db, redis_server):
    def with_redis_sessions(db):
        modules = ["party", "ops_session"]
        sections = {"database": {"modules": modules}, "redis": {"uri": redis_server.uri}}
        return derive(db.config, {**sections, "sessions": {"store": "redis"}})

    party_only = with_redis_sessions(make_trytond_db("sqlite"))
    found = run(Context(party_only, environ=CLEAN_ENV))
    inactive = [f for f in found if f.code == "sessions.store-inactive"]
    assert inactive and inactive[0].severity == "error"
    assert "tryton-ops db update" in inactive[0].fix and "ops_session" in inactive[0].fix

    activated = with_redis_sessions(make_trytond_db("sqlite", ("ops_session",)))
    assert "sessions.store-inactive" not in codes(activated)
    stock = derive(party_only, {"sessions": {"store": "database"}})
    assert "sessions.store-inactive" not in codes(stock)


def test_readable_backups_and_admin_password_file(make_trytond_db, tmp_path):
    db = make_trytond_db("sqlite")
    made = backup(db.config, db.name)
    password_file = db.config.settings.database.admin_password_file
    assert not codes(db.config) & {"backups.readable", "database.password-file-readable"}

    made.path.chmod(0o644)  # as tryton-ops wrote them before, or a copy by hand
    password_file.chmod(0o640)
    findings = {f.code: f for f in run(Context(db.config, environ=CLEAN_ENV))}
    readable = findings["backups.readable"]
    assert readable.severity == "error" and str(made.path) in readable.explanation
    assert "chmod 600" in readable.fix
    secret = findings["database.password-file-readable"]
    assert secret.severity == "error" and str(password_file) in secret.title
    assert f"chmod 600 {password_file}" in secret.fix
    result = cli(db.config, "doctor")
    assert result.exit_code == 1 and "no known pitfall found" not in result.output

    made.path.chmod(0o600)
    made.path.parent.chmod(0o755)  # the directory lists the archives' names and sizes
    password_file.chmod(0o600)
    found = codes(db.config)
    assert "backups.readable" in found and "database.password-file-readable" not in found
    made.path.parent.chmod(0o700)
    assert not codes(db.config) & {"backups.readable", "database.password-file-readable"}


def _redis_findings(config) -> dict[str, Finding]:
    return {
        f.code: f for f in run(Context(config, environ=CLEAN_ENV)) if f.code.startswith("redis.")
    }


def test_redis_eviction_advice_per_use(make_trytond_db, redis_factory):
    """Sessions must never be evicted (users logged out at random), a cache should be."""
    db = make_trytond_db("sqlite")
    shared, sessions_only = redis_factory(), redis_factory()
    for redis in (shared, sessions_only):
        redis.client().config_set("maxmemory", "64mb")
    cache_and_sessions = derive(
        db.config,
        {
            "database": {"modules": ["party", "ops_session"]},
            "redis": {"uri": shared.uri},
            "cache": {"backend": "redis"},
            "sessions": {"store": "redis"},
        },
    )
    for policy in ("allkeys-lru", "volatile-lru", "noeviction"):
        shared.client().config_set("maxmemory-policy", policy)
        found = _redis_findings(cache_and_sessions)
        assert set(found) == {"redis.cache-and-sessions"}, (policy, found)
        assert found["redis.cache-and-sessions"].severity == "error"
        assert "sessions.redis_uri" in found["redis.cache-and-sessions"].fix
        assert "TTL" in found["redis.cache-and-sessions"].explanation  # why volatile-* won't do

    separate = derive(cache_and_sessions, {"sessions": {"redis_uri": sessions_only.uri}})
    shared.client().config_set("maxmemory-policy", "allkeys-lru")
    sessions_only.client().config_set("maxmemory-policy", "allkeys-lru")
    found = _redis_findings(separate)
    assert set(found) == {"redis.evicts-sessions"}
    evicts = found["redis.evicts-sessions"]
    assert evicts.severity == "error" and sessions_only.uri in evicts.title
    assert "logged out" in evicts.explanation and "noeviction" in evicts.fix
    sessions_only.client().config_set("maxmemory-policy", "noeviction")
    assert _redis_findings(separate) == {}  # each Redis evicts as its use wants

    shared.client().config_set("maxmemory-policy", "noeviction")
    found = _redis_findings(separate)  # the cache's Redis: noeviction refuses writes when full
    assert (
        set(found) == {"redis.eviction-policy"}
        and shared.uri in found["redis.eviction-policy"].title
    )
    assert "allkeys-lru" in found["redis.eviction-policy"].fix


@contextlib.contextmanager
def _nginx_answers(base, sao) -> Iterator[Callable[[], tuple[int, str]]]:
    """A real nginx serving `sao` as the rendered front does (try_files, then trytond, here a
    fixed answer), its master as this user: as root, its workers are nobody."""
    import signal
    import subprocess
    import time
    import urllib.error
    import urllib.request

    from tryton_ops.deploy.programs import nginx_binary
    from tryton_ops.testing.processes import free_port

    port = free_port()
    (base / "nginx.conf").write_text(
        f"pid {base}/nginx.pid; error_log {base}/error.log; daemon on;\nevents {{}}\n"
        f"http {{ access_log off; server {{ listen 127.0.0.1:{port};\n"
        f"  location / {{ root {sao}; try_files $uri $uri/ @tryton; }}\n"
        '  location @tryton { return 299 "trytond"; } } }\n'
    )
    subprocess.run([nginx_binary(), "-c", f"{base}/nginx.conf", "-p", str(base)], check=True)

    def get() -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html") as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, ""

    try:
        yield get
    finally:
        pid = int((base / "nginx.pid").read_text())
        os.kill(pid, signal.SIGQUIT)
        for _ in range(50):
            if not (base / "nginx.pid").exists():
                break
            time.sleep(0.1)


WEB_CLIENT = {"web.root-unreadable", "web.pages-unreadable"}


@pytest.mark.one_series
def test_web_root_nginx_cannot_read(tmp_path):
    """A real sao directory, its modes broken the ways a copy by hand breaks them, and a real
    nginx: its workers (nobody, as the configured service user here) pass every request to
    trytond when a directory is closed, answer 403 when a page is unreadable. The runner is root
    (as for the deploy tests), so nginx's workers are nobody."""
    import shutil
    import stat
    import tempfile
    from pathlib import Path

    from tryton_ops.deploy.web_client import REQUIRED

    # outside pytest's directory, which only root may enter
    base = Path(tempfile.mkdtemp(prefix="tryton-ops-doctor-web-"))
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, base)
        base.chmod(0o755)
        sao = base / "sao"
        for name in REQUIRED:
            (sao / name).parent.mkdir(parents=True, exist_ok=True)
            (sao / name).write_text("// sao\n")
            (sao / name).chmod(0o644)
        for folder in [sao, *(p for p in sao.rglob("*") if p.is_dir())]:
            folder.chmod(0o755)
        web = {"client": "sao", "sao_dir": str(sao)}
        config = make_config(
            tmp_path,
            {"web": web, "server": {"workers": 2, "user": "nobody"}, "front": {"enabled": "on"}},
        )
        assert "web.root-unreadable" not in codes(config)
        # the run directory, in pytest's, is root's alone: nobody cannot see the flags either
        (flags,) = [f for f in run(Context(config, environ=CLEAN_ENV)) if "maintenance" in f.code]
        assert (flags.code, flags.severity) == ("web.maintenance-unreachable", "error")
        closed_dir = flags.title.removeprefix("nginx's workers (nobody) cannot enter ")
        closed_dir = closed_dir.removesuffix(", on the way to the maintenance flags")
        assert Path(closed_dir) in config.run_dir.parents, flags.title
        assert "instead of answering 503" in flags.explanation and "user root;" in flags.fix
        get = cleanup.enter_context(_nginx_answers(base, sao))
        assert get() == (200, "// sao\n")  # from nginx

        sao.chmod(0o700)  # root's umask 077, or a copy with cp -a from root's home
        assert get() == (299, "trytond")  # silently from "trytond"
        findings = {f.code: f for f in run(Context(config, environ=CLEAN_ENV))}
        found = findings["web.root-unreadable"]
        assert found.severity == "warning" and found.title == (
            f"nginx's workers (nobody) cannot enter {sao}, on the way to the web client"
        )
        assert "passes every request to trytond" in found.explanation
        assert f"chown -R nobody {sao}" in found.fix and "deploy install" in found.fix
        assert "web.root-unreadable" not in codes(derive(config, {"front": {"enabled": "off"}}))

        sao.chmod(0o755)
        (sao / "index.html").chmod(0o600)
        assert get()[0] == 403  # the web client does not load
        (found,) = [f for f in run(Context(config, environ=CLEAN_ENV)) if f.code in WEB_CLIENT]
        assert (found.code, found.severity) == ("web.pages-unreadable", "error")
        assert found.explanation.startswith(f"{sao / 'index.html'}: nginx finds them")
        assert "403 Forbidden" in found.explanation

        (sao / "index.html").chmod(stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)
        assert not codes(config) & WEB_CLIENT
        assert get() == (200, "// sao\n")
