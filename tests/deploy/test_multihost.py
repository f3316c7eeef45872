"""Several hosts in network namespaces: a database host, two app hosts, nginx in front.

Topology (everything is created by the test and deleted in teardown, even on failure):

    root namespace: nginx (127.0.0.1:<free port>), the test's clients, bridge <tag>br 10.251.N.1
      |-- veth -- namespace <tag>-db : PostgreSQL + Redis on 10.251.N.2
      |-- veth -- namespace <tag>-a  : gunicorn, 2 workers, on 10.251.N.11:8000
      `-- veth -- namespace <tag>-b  : gunicorn, 2 workers, on 10.251.N.12:8000

The /24 is private to these namespaces (chosen unused on this machine); no traffic leaves them.
`<tag>` holds the pid of the pytest process, so namespaces left by a killed run are recognised
and removed by the next one.

The deployment is one tryton-ops.toml with `[hosts]` (front, a, b, db): the app hosts run
gunicorn with the config `deploy render --host a|b` gives them, and nginx runs the front host's
rendered nginx.conf (least_conn over both app hosts, keepalive, `max_fails=1 fail_timeout=5s`,
`proxy_next_upstream error timeout http_502 http_503`, 2 tries), plus an `X-Upstream` header so
the test sees which host answered.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tryton_ops.client import Connection
from tryton_ops.deploy.hosts import host_config
from tryton_ops.testing.databases import TestDatabase, derive
from tryton_ops.testing.netns import (
    APP_PORT,
    AppHost,
    Front,
    NetnsPostgres,
    NetnsRedis,
    Network,
    build_network,
    copy_database,
    start_together,
)
from tryton_ops.testing.processes import ManagedProcess, free_port
from tryton_ops.testing.servers import PostgresServer, RedisServer

CLIENTS = 4


# --- load through nginx -----------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    started: float
    ended: float
    ok: bool
    upstream: str  # the host that answered last ("" when nginx answered itself)
    detail: str


class Load:
    """CLIENTS threads calling search_read through nginx, each with its own session."""

    def __init__(self, url: str, database: TestDatabase, sessions: list[str]):
        self.url = f"{url.rstrip('/')}/{database.name}/rpc/"
        self.sessions = sessions
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(header,), daemon=True) for header in sessions
        ]

    def _run(self, header: str) -> None:
        payload = json.dumps(
            {
                "id": 1,
                "method": "model.party.party.search_read",
                "params": [[], 0, 10, None, ["name"], {}],
            }
        )
        headers = {"Authorization": header, "Content-Type": "application/json"}
        deadline = time.monotonic() + 60  # bounded even if the test never stops it
        with httpx.Client(timeout=20) as http:
            while not self._stop.is_set() and time.monotonic() < deadline:
                started = time.monotonic()
                ok, upstream, detail = False, "", ""
                try:
                    # streamed so that the upstream is known even when the body is cut short
                    # (nginx has sent A's headers when A dies before its body)
                    with http.stream(
                        "POST", self.url, content=payload, headers=headers
                    ) as response:
                        upstream = response.headers.get("X-Upstream", "").split(",")[-1].strip()
                        response.read()
                    body = response.json() if response.status_code == 200 else {}
                    ok = response.status_code == 200 and body.get("error") is None
                    detail = f"HTTP {response.status_code} {str(body.get('error'))[:100]}"
                except (httpx.HTTPError, ValueError) as exc:
                    detail = f"{type(exc).__name__}: {exc}"
                with self._lock:
                    self.samples.append(Sample(started, time.monotonic(), ok, upstream, detail))
                time.sleep(0.01)

    def since(self, moment: float) -> list[Sample]:
        with self._lock:
            return [s for s in self.samples if s.started >= moment]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)


def served(samples: list[Sample], host: AppHost) -> int:
    return sum(1 for s in samples if s.ok and s.upstream == host.netloc)


def session_header(conn: Connection) -> str:
    token = f"{conn.login_name}:{conn.user_id}:{conn.session}".encode()
    return "Session " + base64.b64encode(token).decode()


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout} s")


# --- cache probe (as in tests/cache/test_stack.py) ----------------------------------------------

ARCH = (
    '<data><xpath expr="/form" position="inside">'
    '<separator id="ops_probe" string="v{version}"/></xpath></data>'
)
VERSION_RE = re.compile(r'id="ops_probe" string="v(\d+)"|string="v(\d+)" id="ops_probe"')


def read_version(conn: Connection) -> int:
    view = conn.call("model.party.party.fields_view_get", None, "form", {})
    match = VERSION_RE.search(view["arch"])
    assert match, view["arch"][:300]
    return int(match.group(1) or match.group(2))


def make_probe_view(conn: Connection) -> int:
    (base,) = conn.call(
        "model.ir.ui.view.search",
        [("model", "=", "party.party"), ("type", "=", "form"), ("inherit", "=", None)],
        0,
        1,
        None,
        {},
    )
    (view_id,) = conn.call(
        "model.ir.ui.view.create",
        [{"model": "party.party", "inherit": base, "data": ARCH.format(version=0)}],
        {},
    )
    return view_id


def write_version(conn: Connection, view_id: int, version: int) -> None:
    conn.call("model.ir.ui.view.write", [view_id], {"data": ARCH.format(version=version)}, {})


def stale_reads(writer: Connection, reader: Connection, view_id: int, first: int) -> list:
    """Write a new version through one host, read it at once through the other."""
    stale = []
    for version in range(first, first + 10):
        write_version(writer, view_id, version)
        seen = read_version(reader)
        if seen != version:
            stale.append((version, seen))
    return stale


# --- the test ---------------------------------------------------------------------------------


@dataclass
class Cluster:
    network: Network
    database: TestDatabase
    app_a: AppHost
    app_b: AppHost
    nginx_url: str


@pytest.fixture
def cluster(make_trytond_db, postgres_server, tmp_path) -> Iterator[Cluster]:
    network = build_network({"db": 2, "a": 11, "b": 12})
    started: list[ManagedProcess] = []
    try:
        pg = NetnsPostgres(network, "db")
        started.append(pg)
        pg.start()
        redis = NetnsRedis(network, "db")
        started.append(redis)
        redis.start()
        source = make_trytond_db("postgresql")
        name = copy_database(source, postgres_server, pg)
        deployment = derive(
            source.config,
            {
                "database": {"uri": pg.uri, "name": name},
                "server": {"listen": f"127.0.0.1:{APP_PORT}", "workers": 2},
                "cache": {"backend": "redis", "redis_uri": redis.uri},
                # the test's clients all come from one address
                "front": {"listen": f"127.0.0.1:{free_port()}", "rpc_rate_per_second": 100_000},
                "paths": {"run": str(tmp_path / "front")},
                "hosts": {
                    "front": {"address": "127.0.0.1", "roles": ["front"]},
                    "a": {"address": network.hosts["a"]},
                    "b": {"address": network.hosts["b"]},
                    "db": {"address": network.hosts["db"], "roles": ["db", "redis"]},
                },
            },
        )
        database = TestDatabase(config=deployment, name=name)
        hosts = []
        for role in ("a", "b"):
            # what `deploy render --host a|b` gives that host; its own run directory here
            config = derive(host_config(deployment, role), {"paths": {"run": str(tmp_path / role)}})
            hosts.append(AppHost(network, role, config, name))
        started.extend(hosts)
        start_together(hosts)
        front = Front(host_config(deployment, "front"), upstream_header=True)
        started.append(front)
        front.start()
        yield Cluster(network, database, hosts[0], hosts[1], front.url)
    finally:
        for process in reversed(started):
            with contextlib.suppress(Exception):
                process.kill()
        network.teardown()
        for process in started:
            if isinstance(process, PostgresServer | RedisServer):
                process.destroy()  # removes its data directory


def test_app_host_killed_under_load_rejoins_and_cache_crosses_hosts(cluster):
    database, app_a, app_b = cluster.database, cluster.app_a, cluster.app_b
    sessions = []
    for _ in range(CLIENTS):
        with Connection(cluster.nginx_url, database.name) as conn:
            conn.login("admin", database.password)
            sessions.append(session_header(conn))

    with Load(cluster.nginx_url, database, sessions) as load:
        # both hosts serve
        wait_for(
            lambda: served(load.since(0), app_a) >= 5 and served(load.since(0), app_b) >= 5,
            30,
            "both app hosts answering through nginx",
        )
        assert all(s.ok for s in load.samples), [s.detail for s in load.samples if not s.ok]

        # host A dies abruptly (SIGKILL of gunicorn and its workers)
        before_kill = time.monotonic()
        app_a.kill()
        killed = time.monotonic()
        # nginx learns that A is dead from the first request that fails on it (max_fails=1)
        settled = killed + 1.0
        wait_for(lambda: len(load.since(settled)) >= 40, 30, "requests after the kill")
        failed = [s for s in load.since(0) if not s.ok]
        # only requests already sent to A may fail: those in flight when it died, and those
        # nginx had already written to a kept-alive connection to A; POSTs are not replayed
        # on B (they may have committed), so these are the requests the issue allows to fail
        assert all(s.upstream == app_a.netloc and s.ended >= before_kill for s in failed), failed
        assert len(failed) <= CLIENTS
        after = load.since(settled)
        assert all(s.ok for s in after), [s.detail for s in after if not s.ok]
        assert {s.upstream for s in after} == {app_b.netloc}

        # A restarts and rejoins: nginx sends it requests again (after fail_timeout)
        app_a.start()
        back = time.monotonic()
        wait_for(
            lambda: served(load.since(back), app_a) >= 5,
            30,
            "restarted host A receiving requests again",
        )
        rejoined = load.since(back)
        assert all(s.ok for s in rejoined), [s.detail for s in rejoined if not s.ok]

    # cache invalidation crosses hosts: write through one host, read at once through the other
    direct_a, direct_b = Connection(app_a.url, database.name), Connection(app_b.url, database.name)
    with direct_a, direct_b:
        direct_a.login("admin", database.password)
        direct_b.login("admin", database.password)
        view_id = make_probe_view(direct_a)
        for conn in (direct_a, direct_b, direct_a, direct_b):  # warm every worker's L1
            assert read_version(conn) == 0
        assert stale_reads(direct_a, direct_b, view_id, 1) == []
        assert stale_reads(direct_b, direct_a, view_id, 11) == []
