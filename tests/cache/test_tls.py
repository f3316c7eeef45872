"""RedisCache over TLS (`rediss://`) with signed values, against a private Redis with a
self-signed certificate."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tryton_ops.access.redis import RedisSpec, RedisUnavailable
from tryton_ops.cache.store import RedisStore, StoreSettings
from tryton_ops.config.trytond_conf import trytond_env
from tryton_ops.testing.databases import derive

from .test_cli import run, write_config
from .test_contract import CASES, cache_config

pytestmark = pytest.mark.one_series  # our Redis connections over TLS: the same on every series


@pytest.fixture
def tls_redis(redis_factory):
    return redis_factory(tls=True)


def settings(uri: str, ca_file: str | None) -> StoreSettings:
    return StoreSettings(
        redis=RedisSpec(uri, ca_file, socket_timeout=0.5, connect_timeout=0.5),
        prefix="t",
        ttl=60,
        cooldown=0.1,
        lease=1.0,
        max_value_size=1024,
    )


def test_store_talks_tls_when_the_certificate_is_trusted(tls_redis):
    store = RedisStore(settings(tls_redis.tls_uri, str(tls_redis.ca_file)))
    first = store.sync("db", None, None)
    store.bump("db", frozenset({"c"}), "token", "pre")
    store.bump("db", frozenset({"c"}), "token", "post")
    after = store.sync("db", first.epoch, first.version)
    assert after.epoch == first.epoch
    assert after.gens["c"] == 2
    key = store.value_key("db", after.epoch, "c", 2, "digest")
    store.set_value(key, b"value", 10_000)
    assert store.get_value(key) == b"value"
    # the plain port of the same server sees what went over TLS
    assert tls_redis.client().get(key) == b"value"


def test_untrusted_certificate_is_unavailable_not_a_crash(tls_redis):
    store = RedisStore(settings(tls_redis.tls_uri, None))  # system CAs: self-signed refused
    began = time.monotonic()
    with pytest.raises(RedisUnavailable):
        store.sync("db", None, None)
    assert time.monotonic() - began < 5
    with pytest.raises(RedisUnavailable):  # the breaker answers at once
        store.get_value("any")


def test_contract_over_tls_with_signed_values(make_trytond_db, tls_redis, tmp_path):
    """The whole contract; its case of a forged value checks the signature is enforced."""
    database = make_trytond_db("sqlite")
    key_file = tmp_path / "signing-key"
    key_file.write_text("0123456789abcdef0123456789abcdef\n")
    config = cache_config(
        database, tls_redis, redis_uri=tls_redis.tls_uri, signing_key_file=str(key_file)
    )
    # the deployment's CA ([redis] tls_ca_file) reaches RedisCache inside trytond
    config = derive(config, {"redis": {"tls_ca_file": str(tls_redis.ca_file)}})
    env = trytond_env(config, OPS_TEST_DB=database.name, OPS_TEST_REDIS_PID=str(tls_redis.pid))
    proc = subprocess.run(
        [sys.executable, str(CASES)], env=env, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stderr[-6000:]
    assert " ... ok" in proc.stderr


def test_cache_commands_verify_the_server_with_the_deployments_ca(tmp_path, tls_redis):
    path = write_config(tmp_path, tls_redis.tls_uri)
    untrusted = run(path, "stats")
    assert untrusted.exit_code == 1
    assert f"error: Redis at {tls_redis.tls_uri} is unavailable" in untrusted.output
    assert "set tls_ca_file" in untrusted.output

    path.write_text(path.read_text() + f'[redis]\ntls_ca_file = "{tls_redis.ca_file}"\n')
    trusted = run(path, "stats", "--json")
    assert trusted.exit_code == 0, trusted.output
    assert json.loads(trusted.output)["memory"]["used_memory"] > 0
