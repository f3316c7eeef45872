"""The harness itself: servers are real, private, and really gone when killed."""

from __future__ import annotations

import os
import time

import psycopg
import pytest
import redis

from tryton_ops.testing.processes import port_open


def test_redis_killed_is_gone_and_restarts(redis_server):
    client = redis_server.client()
    client.set("k", "v")
    pid = redis_server.pid
    redis_server.kill()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not port_open("127.0.0.1", redis_server.port)
    with pytest.raises(redis.ConnectionError):
        client.ping()
    redis_server.start()
    assert redis_server.pid != pid
    assert client.ping()
    assert client.get("k") is None  # no persistence: a restart loses the data


def test_redis_paused_times_out_then_resumes(redis_server):
    client = redis_server.client()  # socket_timeout=2
    redis_server.pause()
    started = time.monotonic()
    with pytest.raises(redis.TimeoutError):
        client.ping()
    assert time.monotonic() - started < 5
    redis_server.resume()
    assert client.ping()


def test_redis_unix_socket_and_password(redis_factory):
    server = redis_factory(password="s3cret")
    assert redis.Redis.from_url(server.unix_uri).ping()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host="127.0.0.1", port=server.port, password="wrong").ping()


def test_private_redis_uses_no_default_port(redis_server):
    assert redis_server.port != 6379


def test_postgres_private_server_stop_and_restart(postgres_factory):
    server = postgres_factory()
    assert server.port != 5432
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE kept")
    server.kill()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.dsn(), connect_timeout=2)
    server.start()  # data survives a crash
    with psycopg.connect(server.dsn("kept")) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_postgres_paused_blocks_connections(postgres_factory):
    server = postgres_factory()
    server.pause()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(server.dsn(), connect_timeout=1)
    server.resume()
    with psycopg.connect(server.dsn(), connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_nginx_proxies_to_a_real_stack(nginx_factory, make_trytond_db, tryton_stack):
    stack = tryton_stack(make_trytond_db("sqlite"), workers=1)
    upstream = stack.url.removeprefix("http://").rstrip("/")
    nginx = nginx_factory(
        f"server {{ listen 127.0.0.1:{{port}}; location / {{ proxy_pass http://{upstream}; }} }}"
    )
    from tryton_ops.client import Connection

    with Connection(nginx.url) as conn:
        assert conn.call("common.server.version") in ("8.0", "8.2")
    nginx.kill()
    assert not port_open("127.0.0.1", nginx.port)
