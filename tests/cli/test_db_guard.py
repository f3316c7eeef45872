"""The database a running stack serves: guarded against drop and replace, its loss shown by
`status` and `doctor`; `db drop` removes what Redis holds of a database. The real command,
real servers."""

from __future__ import annotations

import json
import time

import pytest

from tests.deploy.test_up_down import cli, write_config
from tests.deploy.test_up_down import down_after as down_after  # the fixture
from tryton_ops.access.database import connect, database_exists, sqlite_file
from tryton_ops.access.redis import RedisSpec
from tryton_ops.access.redis import connect as redis_connect
from tryton_ops.cache.store import RedisStore, StoreSettings
from tryton_ops.config.loader import load_config
from tryton_ops.deploy import local_stack
from tryton_ops.lifecycle.templates import settle
from tryton_ops.perf.activation import enable_user
from tryton_ops.perf.options import PerfOptions
from tryton_ops.perf.store import open_store
from tryton_ops.sessions.admin import options as session_options
from tryton_ops.sessions.store import SessionStore

pytestmark = pytest.mark.one_series  # our guard and Redis clean-up: the same on every series


def party_count(config, name: str) -> int:
    with connect(config, name) as session:
        return session.scalar("SELECT count(*) FROM party_party")


def test_served_database_is_guarded_and_its_loss_is_shown(tmp_path, make_trytond_db, down_after):
    db = make_trytond_db("sqlite")
    config = write_config(tmp_path, db, workers=1)
    loaded = load_config(config)
    down_after(config)
    assert cli(config, "db", "copy", "-d", db.name, "spare").returncode == 0
    with connect(loaded, "spare") as session:
        session.execute("INSERT INTO party_party (name, active) VALUES ('only in spare', true)")
    assert cli(config, "up", "--detach").returncode == 0
    assert cli(config, "status").returncode == 0
    doctor = json.loads(cli(config, "doctor", "--json").stdout)
    assert not {f["code"] for f in doctor["findings"]} & {
        "database.missing",
        "database.unreachable",
    }

    refused = [
        cli(config, "db", "drop", "-d", db.name, "--yes"),
        cli(config, "db", "copy", "-d", "spare", db.name, "--replace", "--yes"),
        cli(config, "db", "restore", str(tmp_path / "any.tar"), "-d", db.name, "--replace", "-y"),
    ]
    for result, action in zip(refused, ("drop it", "replace it", "replace it"), strict=True):
        assert result.returncode == 1
        assert f"database {db.name!r} is served by the running stack" in result.stderr
        assert f"refusing to {action}" in result.stderr and "--force" in result.stderr
        assert "Traceback" not in result.stderr
    assert database_exists(loaded, db.name) and party_count(loaded, db.name) == 0

    # not served: replaced by a copy (the source's new row is in the target now)
    assert cli(config, "db", "copy", "-d", db.name, "other").returncode == 0
    replaced = cli(config, "db", "copy", "-d", "spare", "other", "--replace", "--yes")
    assert replaced.returncode == 0, replaced.stderr
    assert party_count(loaded, "other") == 1
    exists = cli(config, "db", "copy", "-d", "spare", "other")
    assert exists.returncode == 1 and "(--replace replaces it)" in exists.stderr

    forced = cli(config, "db", "drop", "-d", db.name, "--yes", "--force")
    assert forced.returncode == 0, forced.stderr
    assert f"dropped {db.name}" in forced.stdout
    status = cli(config, "status")
    assert status.returncode == 1
    assert f"problem: database {db.name!r} does not exist" in status.stderr
    assert json.loads(cli(config, "status", "--json").stdout)["problems"] == [
        f"database {db.name!r} does not exist"
    ]
    doctor = cli(config, "doctor")
    assert doctor.returncode == 1 and "[database.missing]" in doctor.stdout

    # a program down is a problem too, even with the database back
    assert cli(config, "db", "copy", "-d", "spare", db.name).returncode == 0
    assert cli(config, "status").returncode == 0
    local_stack.supervisor(loaded).supervisor.stopProcess("stat")
    status = cli(config, "status")
    assert status.returncode == 1 and "problem: program 'stat' is not running" in status.stderr


def test_doctor_reports_a_database_that_does_not_answer(tmp_path, make_trytond_db):
    db = make_trytond_db("sqlite")
    config = write_config(tmp_path, db)
    path = sqlite_file(load_config(config), db.name)
    settle(path)
    with path.open("r+b") as fh:  # a disk that lost the end of the file
        fh.truncate(path.stat().st_size // 2)
    doctor = cli(config, "doctor")
    assert doctor.returncode == 1 and "[database.unanswered]" in doctor.stdout
    assert "malformed" in doctor.stdout


def test_drop_removes_what_redis_holds_of_the_database(tmp_path, make_trytond_db, redis_server):
    db = make_trytond_db("sqlite")
    config = write_config(tmp_path, db)
    text = config.read_text().replace("[database]\n", '[database]\nmodules = ["ops_session"]\n')
    config.write_text(text)  # as the config check asks (not activated: not needed to drop)
    with config.open("a") as fh:
        fh.write(
            f'[redis]\nuri = "{redis_server.uri}"\n[cache]\nbackend = "redis"\n'
            '[sessions]\nstore = "redis"\n[perf]\nenabled = true\n'
        )
    loaded = load_config(config)
    assert cli(config, "db", "copy", "-d", db.name, "gone").returncode == 0
    # what the workers of both databases leave in Redis
    cache = RedisStore(StoreSettings.from_section(loaded.settings.with_redis("cache")))
    sessions = SessionStore(session_options(loaded))
    perf = PerfOptions.from_config(loaded)
    for name in ("gone", db.name):
        cache.client().hset(cache.gens_key(name), "epoch", "e1")
        cache.client().set(cache.value_key(name, "e1", "ir.model", 1, "k"), b"x")
        cache.client().hset(cache.stats_key(name), "ir.model\x00hit", 3)
        for _ in range(2):
            sessions.create(name, 1, "127.0.0.1", 3600, False, time.time())
        open_store(perf).write([{"db": name, "ts": time.time(), "method": "m"}] * 3)
        enable_user(perf, name, 1, "admin", 600)
    client = redis_connect(RedisSpec(redis_server.uri))
    keys_before = set(client.keys("*"))

    result = cli(config, "db", "drop", "-d", "gone", "--yes")
    assert result.returncode == 0, result.stderr
    assert "removed from Redis (cache): 3 cached key(s)" in result.stdout
    assert "removed from Redis (perf): 3 call record(s), 1 capture activation(s)" in result.stdout
    assert "removed from Redis (sessions): 2 session(s)" in result.stdout
    left = set(client.keys("*"))
    assert not [key for key in left if b"gone" in key]
    assert {key for key in keys_before if b"gone" not in key} <= left  # the other's kept
    records = list(open_store(perf).read(since=0))
    assert len(records) == 3 and {r["db"] for r in records} == {db.name}
    assert [a["db"] for a in open_store(perf).load_active()] == [db.name]

    # a replaced database starts clean too: the old one's cache and sessions are wrong for it
    sessions.create("gone", 1, "127.0.0.1", 3600, False, time.time())
    cache.client().set(cache.value_key("gone", "e1", "ir.model", 1, "k"), b"x")
    assert cli(config, "db", "copy", "-d", db.name, "gone").returncode == 0
    replaced = cli(config, "db", "copy", "-d", db.name, "gone", "--replace", "--yes")
    assert replaced.returncode == 0, replaced.stderr
    assert f"copied {db.name} to gone (sqlite backup) replacing it" in replaced.stdout
    assert "removed from Redis (cache): 1 cached key(s)" in replaced.stdout
    assert "removed from Redis (sessions): 1 session(s)" in replaced.stdout
    assert not [key for key in client.keys("*") if b"gone" in key]


def test_drop_says_what_it_left_in_an_unreachable_redis(tmp_path, make_trytond_db, redis_factory):
    db = make_trytond_db("sqlite")
    redis = redis_factory()
    config = write_config(tmp_path, db)
    with config.open("a") as fh:
        fh.write(f'[redis]\nuri = "{redis.uri}"\n[cache]\nbackend = "redis"\n')
    assert cli(config, "db", "copy", "-d", db.name, "gone").returncode == 0
    redis.stop()
    result = cli(config, "db", "drop", "-d", "gone", "--yes")
    assert result.returncode == 0 and "dropped gone" in result.stdout
    assert "warning: cache data of gone left in Redis:" in result.stderr
    assert "Traceback" not in result.stderr
