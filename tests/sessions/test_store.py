"""The store and trytond's semantics on top of it, against a real Redis (no trytond needed)."""

from __future__ import annotations

import pytest

from tryton_ops.access.redis import RedisUnavailable
from tryton_ops.config import load_config
from tryton_ops.config.schema import Sessions
from tryton_ops.sessions.admin import options as rendered_options
from tryton_ops.sessions.service import SessionService
from tryton_ops.sessions.store import SessionStore, digest, today

DB = "shop"
DAY = 86400


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def service(redis, clock: Clock, **options) -> SessionService:
    return SessionService(
        SessionStore(Sessions(store="redis", redis_uri=redis.uri, **options)), clock
    )


def test_semantics_and_hashed_keys(redis_server):
    redis = redis_server
    clock = Clock()
    sessions = service(redis, clock)
    token = sessions.new(DB, 7, "10.0.0.1", max_age=100)
    other = sessions.new(DB, 7, None, max_age=100)
    assert len(token) == 64 and token != other

    # nothing in Redis gives a usable key back: only sha256 digests are stored
    client = redis.client()
    dump = b" ".join(
        [
            k + b"=" + repr(client.hgetall(k) if client.type(k) == b"hash" else b"").encode()
            for k in client.scan_iter()
        ]
    )
    assert token.encode() not in dump and other.encode() not in dump
    assert digest(token).encode() in dump

    assert sessions.check(DB, 7, token, "10.0.0.1", 100) is True
    assert sessions.check(DB, 8, token, "10.0.0.1", 100) is None  # another user's key
    assert sessions.check(DB, 7, token, "10.0.0.2", 100) is None  # bound to its address
    assert sessions.check(DB, 7, other, None, 100) is True
    assert sessions.check("other_db", 7, token, "10.0.0.1", 100) is None
    assert sessions.count(DB, [7, 8]) == {7: 2, 8: 0}

    clock.now += 100  # max_age counts from login, activity or not
    assert sessions.check(DB, 7, token, "10.0.0.1", 100) is False
    assert sessions.check(DB, 7, token, "10.0.0.1", 100) is None
    assert sessions.remove(DB, other) == 7
    assert sessions.remove(DB, other) is None
    counters = sessions.store.audit(DB, today(clock.now))[7]
    assert (counters["logins"], counters["expired"], counters["logouts"]) == (2, 1, 1)


def test_idle_timeout_and_activity(redis_server):
    redis = redis_server
    clock = Clock()
    sessions = service(redis, clock)
    token = sessions.new(DB, 3, None, max_age=DAY)
    assert sessions.check(DB, 3, token, None, DAY)
    clock.now += 250
    sessions.reset(DB, token, timeout=300)  # activity recorded (older than timeout/10)
    clock.now += 250
    assert sessions.check_timeout(DB, 3, token, 300) is True
    assert sessions.check_timeout(DB, 4, token, 300) is False  # not this user's
    clock.now += 301
    sessions.reset(DB, token, timeout=300)  # too late: an idle session is not revived
    assert sessions.check_timeout(DB, 3, token, 300) is False
    assert sessions.check(DB, 3, token, None, DAY) is None  # removed by the failed fresh check
    counters = sessions.store.audit(DB, today(clock.now))[3]
    assert (counters["calls"], counters["timeouts"]) == (2, 1)


def test_exclusive_and_clear(redis_server):
    redis = redis_server
    clock = Clock()
    plain = service(redis, clock)
    exclusive = service(redis, clock, exclusive=True, key_prefix="x")
    first = [plain.new(DB, 5, None, DAY) for _ in range(3)]
    assert plain.count(DB, [5]) == {5: 3}
    assert all(plain.check(DB, 5, t, None, DAY) for t in first)

    one = exclusive.new(DB, 5, None, DAY)
    two = exclusive.new(DB, 5, None, DAY)
    assert exclusive.check(DB, 5, one, None, DAY) is None  # ended by the newer login
    assert exclusive.check(DB, 5, two, None, DAY) is True
    assert exclusive.store.audit(DB, today(clock.now))[5]["ended"] == 1

    assert plain.clear(DB, [5, 6]) == 3
    assert [plain.check(DB, 5, t, None, DAY) for t in first] == [None] * 3
    assert exclusive.check(DB, 5, two, None, DAY) is True  # other prefix, other deployment


def test_audit_off_and_garbage(redis_server):
    redis = redis_server
    clock = Clock()
    sessions = service(redis, clock, audit=False)
    token = sessions.new(DB, 9, None, DAY)
    sessions.reset(DB, token, 300)
    assert sessions.store.audit(DB, today(clock.now)) == {}
    client = redis.client()
    client.hset(sessions.store.session_key(DB, digest("planted")), mapping={"uid": "x"})
    assert sessions.check(DB, 9, "planted", None, DAY) is None


def test_unreachable_raises(redis_factory):
    redis = redis_factory()
    sessions = service(redis, Clock())
    token = sessions.new(DB, 1, None, DAY)
    redis.stop()
    for call in (
        lambda: sessions.check(DB, 1, token, None, DAY),
        lambda: sessions.new(DB, 1, None, DAY),
        lambda: sessions.remove(DB, token),
        lambda: sessions.clear(DB, [1]),
    ):
        with pytest.raises(RedisUnavailable):
            call()


def test_rediss_with_the_deployments_private_ca(redis_factory, tmp_path):
    redis = redis_factory(tls=True)
    path = tmp_path / "tryton-ops.toml"
    path.write_text(
        '[paths]\ndata = "d"\nrun = "r"\n[database]\nmodules = ["party", "ops_session"]\n'
        f'[redis]\nuri = "{redis.tls_uri}"\ntls_ca_file = "{redis.ca_file}"\n'
        '[sessions]\nstore = "redis"\n'
    )
    options = rendered_options(load_config(path, environ={}))  # what trytond.conf says
    assert str(options.tls_ca_file) == str(redis.ca_file)
    sessions = SessionService(SessionStore(options), Clock())
    token = sessions.new(DB, 7, None, DAY)
    assert sessions.check(DB, 7, token, None, DAY) is True

    untrusted = SessionStore(options.model_copy(update={"tls_ca_file": None}))
    with pytest.raises(RedisUnavailable, match="set tls_ca_file"):
        SessionService(untrusted, Clock()).check(DB, 7, token, None, DAY)
