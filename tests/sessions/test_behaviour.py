"""One 2-worker stack with Redis sessions (exclusive, short max_age and timeout), shared by the
module: exclusive login, hashed keys, idle timeout, expiry, the CLI, and Redis going away.
The Redis outage test comes last: it stops and restarts the module's Redis.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tryton_ops.client import Connection
from tryton_ops.client.errors import TransportError
from tryton_ops.sessions.store import digest
from tryton_ops.testing.servers import RedisServer
from tryton_ops.testing.stack import TestStack

from ..perf.helpers import run_cli

MODULES = ("ops_session",)  # ir and res only: the quickest template
MAX_AGE = 8  # seconds a session lives
TIMEOUT = 3  # idle seconds a fresh_session call accepts
PASSWORD = "Session-Test-Pw-5521"
COUNT = "model.ir.lang.search_count"


@pytest.fixture(scope="module")
def redis():
    server = RedisServer().start()
    yield server
    server.destroy()


@pytest.fixture(scope="module")
def stack(db_templates, tmp_path_factory, redis):
    database = db_templates.copy("sqlite", MODULES, tmp_path_factory.mktemp("sessions"))
    sessions = {"store": "redis", "exclusive": True, "max_age": MAX_AGE, "timeout": TIMEOUT}
    stack = TestStack(database, workers=2, redis={"uri": redis.uri}, sessions=sessions).start()
    yield stack
    stack.stop()
    db_templates.drop(database)


def user(stack: TestStack, login: str) -> Connection:
    """A new user, logged in."""
    stack.connect().call(
        "model.res.user.create", [{"name": login, "login": login, "password": PASSWORD}], {}
    )
    return login_as(stack, login)


def login_as(stack: TestStack, login: str) -> Connection:
    conn = Connection(stack.url, stack.database.name)
    conn.login(login, PASSWORD)
    return conn


def status_of(conn: Connection, method: str = COUNT, *params) -> int:
    try:
        conn.call(method, *(params or ([], {})))
    except TransportError as exc:
        return exc.status
    return 200


def test_exclusive_login_and_hashed_keys(stack, redis):
    first = user(stack, "alice")
    bob = user(stack, "bob")
    assert status_of(first) == 200
    second = login_as(stack, "alice")
    assert status_of(first) == 401  # ended by alice's newer login
    assert status_of(second) == 200
    assert status_of(bob) == 200  # exclusive is per user

    client = redis.client()
    dump = []
    for key in client.scan_iter():
        dump.append(key)
        if client.type(key) == b"hash":
            dump += [b for pair in client.hgetall(key).items() for b in pair]
        elif client.type(key) == b"set":
            dump += list(client.smembers(key))
    blob = b"\n".join(dump)
    for token in (first.session, second.session, bob.session):
        assert token.encode() not in blob
    assert digest(second.session).encode() in blob


def test_idle_timeout_on_fresh_session_calls(stack):
    carol = user(stack, "carol")
    prefs = ("model.res.user.set_preferences", {}, {})
    assert status_of(carol, *prefs) == 200
    time.sleep(TIMEOUT / 2)
    assert status_of(carol) == 200  # activity recorded
    time.sleep(TIMEOUT / 2 + 0.2)
    assert status_of(carol, *prefs) == 200  # idle less than TIMEOUT, though older than it
    time.sleep(TIMEOUT + 0.3)
    assert status_of(carol, *prefs) == 401  # idle too long: removed, as trytond does
    assert status_of(carol) == 401
    assert status_of(login_as(stack, "carol"), *prefs) == 200


def test_max_age_then_login_again(stack):
    dave = user(stack, "dave")
    logged_in = time.monotonic()
    assert status_of(dave) == 200
    time.sleep(max(0.0, MAX_AGE + 0.3 - (time.monotonic() - logged_in)))
    assert status_of(dave) == 401  # expired however active it was
    assert status_of(login_as(stack, "dave")) == 200


def test_cli_list_and_kill(stack, tmp_path):
    erin = user(stack, "erin")
    erin.call(COUNT, [], {})
    listed = run_cli(stack.config, tmp_path, "sessions", "list", "--json")
    assert listed.exit_code == 0, listed.output
    [row] = [r for r in json.loads(listed.output) if r["login"] == "erin"]
    assert row["sessions"] == 1 and row["addresses"] == ["127.0.0.1"]
    assert row["today"]["logins"] == 1 and row["today"]["calls"] >= 1

    killed = run_cli(stack.config, tmp_path, "sessions", "kill", "erin")
    assert killed.exit_code == 0 and "1 session(s) of erin ended" in killed.output
    assert status_of(erin) == 401
    table = run_cli(stack.config, tmp_path, "sessions", "list").output
    assert "erin" in table and "LOGINS" in table  # today's counters stay

    unknown = run_cli(stack.config, tmp_path, "sessions", "kill", "nobody")
    assert unknown.exit_code == 1 and unknown.output.startswith("error: no user with login")


def test_redis_down_refused_then_back(stack, redis, tmp_path):
    frank = user(stack, "frank")
    assert status_of(frank) == 200
    redis.stop()
    try:
        # every worker refuses, never accepts unchecked
        for _ in range(4):
            assert status_of(frank) == 503
        response = httpx.post(
            f"{stack.url}{stack.database.name}/rpc/",
            json={"id": 1, "method": "common.db.login", "params": ["frank", {"password": "x"}]},
        )
        assert response.status_code == 401  # a wrong password: checked (and rate limited) first
        with pytest.raises(TransportError) as refused:
            login_as(stack, "frank")
        assert refused.value.status == 503
        response = httpx.post(
            f"{stack.url}{stack.database.name}/rpc/",
            json={"id": 2, "method": COUNT, "params": [[], {}]},
            headers={"Authorization": frank.auth.header()},
        )
        assert response.status_code == 503 and b"Session store unavailable" in response.content
        down = run_cli(stack.config, tmp_path, "sessions", "list")
        assert down.exit_code == 1 and f"error: Redis at {redis.uri} is unavailable" in down.output
    finally:
        redis.start()
    # Redis came back empty: old sessions are unknown, logging in again just works
    assert status_of(frank) == 401
    assert status_of(login_as(stack, "frank")) == 200
