"""access.redis against real Redis servers: every URI form, TLS with a private CA, the one
error and what it says, fork safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tryton_ops.access.redis import ForkSafeRedis, RedisSpec, RedisUnavailable, connect
from tryton_ops.deploy.certificates import write_self_signed

PASSWORD = "s3cret-pass"
ECHO_LUA = "return ARGV[1]"


@pytest.fixture
def tls_redis(redis_factory):
    return redis_factory(password=PASSWORD, tls=True)


def _ping(spec: RedisSpec) -> bool:
    holder = ForkSafeRedis(spec)
    try:
        return holder.call(lambda: holder.client().ping())
    finally:
        holder.close()


def test_every_uri_form_with_its_password(tls_redis):
    for uri in (tls_redis.uri, tls_redis.unix_uri, tls_redis.tls_uri):
        assert _ping(RedisSpec(uri, str(tls_redis.ca_file))), uri
    # redis-py's other unix:// form: the password as a query parameter
    assert _ping(RedisSpec(f"unix://{tls_redis.socket_path}?password={PASSWORD}"))


def test_rediss_without_the_ca_is_an_error_that_says_what_to_check(tls_redis, tmp_path):
    with pytest.raises(RedisUnavailable) as untrusted:
        _ping(RedisSpec(tls_redis.tls_uri))  # the system's CAs do not know the private one
    message = str(untrusted.value)
    assert message.startswith(f"Redis at rediss://:***@127.0.0.1:{tls_redis.tls_port}/0 ")
    assert "certificate" in message and "set tls_ca_file" in message
    assert PASSWORD not in message

    other_ca, other_key = tmp_path / "other-ca.pem", tmp_path / "other-key.pem"
    write_self_signed(other_ca, other_key, "127.0.0.1")
    with pytest.raises(RedisUnavailable, match=f"check that {other_ca} \\(tls_ca_file\\)"):
        _ping(RedisSpec(tls_redis.tls_uri, str(other_ca)))


def test_killed_redis_is_unavailable_with_the_masked_uri(tls_redis):
    spec = RedisSpec(tls_redis.uri)
    holder = ForkSafeRedis(spec)
    assert holder.call(lambda: holder.client().set("k", "v"))
    tls_redis.kill()
    for uri in (tls_redis.uri, tls_redis.unix_uri):
        holder = ForkSafeRedis(RedisSpec(uri))
        with pytest.raises(RedisUnavailable) as down:
            holder.call(lambda holder=holder: holder.client().get("k"))
        assert str(down.value).startswith(f"Redis at {uri.replace(PASSWORD, '***')} ")
        assert "check that Redis runs and listens at that address" in str(down.value)
        assert PASSWORD not in str(down.value)
        assert down.value.exit_code == 1  # an OpsError: the CLI prints it as `error: ...`


def test_wrong_password_and_a_silent_redis_say_what_to_check(tls_redis):
    wrong = tls_redis.uri.replace(PASSWORD, "not-the-password")
    with pytest.raises(RedisUnavailable, match="check the password in the URI") as refused:
        _ping(RedisSpec(wrong))
    assert "not-the-password" not in str(refused.value)
    tls_redis.pause()
    try:
        with pytest.raises(RedisUnavailable, match=r"no answer within 0\.2s"):
            _ping(RedisSpec(tls_redis.uri, socket_timeout=0.2, connect_timeout=0.2))
    finally:
        tls_redis.resume()


def test_retries_only_when_asked():
    spec = RedisSpec("redis://127.0.0.1:1/0")
    assert connect(spec).get_retry().get_retries() == 0
    assert connect(spec, retries=2).get_retry().get_retries() == 2


def _in_child(work) -> int:
    """Run `work()` in a forked child (bounded by an alarm); its exit status."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        signal.alarm(10)
        try:
            os._exit(0 if work() else 3)
        except BaseException:
            os._exit(4)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_a_forked_child_gets_its_own_client(redis_server):
    holder = ForkSafeRedis(RedisSpec(redis_server.uri), scripts={"echo": ECHO_LUA})
    parent_client = holder.client()
    parent_id = holder.call(lambda: holder.client().client_id())

    def child() -> bool:
        client = holder.client()
        child_id = holder.call(lambda: client.client_id())
        echoed = holder.script("echo")(keys=[], args=["child"])
        holder.close()  # closes the child's client only
        return client is not parent_client and child_id != parent_id and echoed == b"child"

    assert _in_child(child) == 0
    # the parent's connection is intact: the child neither used nor shut down its socket
    assert holder.client() is parent_client
    assert holder.call(lambda: holder.client().client_id()) == parent_id
    assert holder.script("echo")(keys=[], args=["parent"]) == b"parent"


def test_a_lock_held_at_fork_does_not_block_the_child(redis_server):
    holder = ForkSafeRedis(RedisSpec(redis_server.uri))
    with holder._lock:  # as if another thread were building the client when the fork came
        status = _in_child(lambda: holder.call(lambda: holder.client().ping()))
    assert status == 0


def test_importing_it_loads_no_part_nor_pydantic_nor_redis():
    code = (
        "import sys, tryton_ops.access.redis; "
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('pydantic', 'redis') "
        "or m.startswith(('tryton_ops.cache', 'tryton_ops.sessions', 'tryton_ops.perf', "
        "'tryton_ops.lifecycle', 'tryton_ops.config.schema'))]; print(loaded)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
