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
import ipaddress
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psutil
import pytest

from tryton_ops.client import Connection, RPCError
from tryton_ops.config.trytond_conf import trytond_env
from tryton_ops.deploy.gunicorn_conf import write_gunicorn_conf
from tryton_ops.deploy.hosts import host_config
from tryton_ops.deploy.local_stack import public_url
from tryton_ops.deploy.nginx_conf import nginx_dir, write_nginx_conf
from tryton_ops.deploy.programs import nginx_binary
from tryton_ops.testing.databases import TestDatabase, derive
from tryton_ops.testing.processes import ManagedProcess, free_port, port_open
from tryton_ops.testing.servers import HOST, PostgresServer, RedisServer

PREFIX = "tom6"
APP_PORT = 8000
CLIENTS = 4

# --- network ----------------------------------------------------------------------------------


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def _tag_pid(name: str) -> int | None:
    match = re.match(rf"^{PREFIX}([0-9a-f]{{7}})", name)
    return int(match.group(1), 16) if match else None


def _orphaned(name: str) -> bool:
    pid = _tag_pid(name)
    return pid is not None and pid != os.getpid() and not psutil.pid_exists(pid)


def kill_netns_processes(netns: str) -> None:
    pids = ip("netns", "pids", netns, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    deadline = time.monotonic() + 5
    while pids and time.monotonic() < deadline:
        pids = ip("netns", "pids", netns, check=False).stdout.split()
        time.sleep(0.05)


def remove_leftovers() -> None:
    """Namespaces and links of earlier runs whose pytest process is gone."""
    for line in ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        if _orphaned(name):
            kill_netns_processes(name)
            ip("netns", "del", name, check=False)
    for line in ip("-o", "link", "show", check=False).stdout.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if _orphaned(name):
            ip("link", "del", name, check=False)


def free_subnet() -> ipaddress.IPv4Network:
    """A 10.251.N.0/24 that no address or route on this machine overlaps."""
    used = ip("-4", "-o", "addr", "show", check=False).stdout
    used += ip("-4", "route", "show", "table", "all", check=False).stdout
    for offset in range(200):
        third = 20 + (os.getpid() + offset) % 230
        net = ipaddress.ip_network(f"10.251.{third}.0/24")
        if f"10.251.{third}." not in used and "10.251.0.0/16" not in used:
            return net
    raise RuntimeError("no free 10.251.N.0/24 subnet")


@dataclass
class Network:
    """A bridge in the root namespace and one namespace per host, each with a veth on it."""

    tag: str
    subnet: ipaddress.IPv4Network
    hosts: dict[str, str]  # role -> address
    namespaces: list[str]
    links: list[str]

    def netns(self, role: str) -> str:
        return f"{self.tag}-{role}"

    def exec_prefix(self, role: str) -> list[str]:
        return ["ip", "netns", "exec", self.netns(role)]

    def teardown(self) -> None:
        for netns in self.namespaces:
            kill_netns_processes(netns)
            ip("netns", "del", netns, check=False)
        for link in self.links:
            ip("link", "del", link, check=False)


def build_network(roles: dict[str, int]) -> Network:
    """roles: name -> last byte of its address."""
    remove_leftovers()
    tag = f"{PREFIX}{os.getpid():07x}"
    subnet = free_subnet()
    base = subnet.network_address
    network = Network(tag, subnet, {}, [], [])
    try:
        bridge = f"{tag}br"
        ip("link", "add", bridge, "type", "bridge")
        network.links.append(bridge)
        ip("addr", "add", f"{base + 1}/24", "dev", bridge)
        ip("link", "set", bridge, "up")
        for role, last in roles.items():
            netns = network.netns(role)
            ip("netns", "add", netns)
            network.namespaces.append(netns)
            outer, inner = f"{tag}{role}", f"{tag}{role}1"
            ip("link", "add", outer, "type", "veth", "peer", "name", inner, "netns", netns)
            network.links.append(outer)
            ip("link", "set", outer, "master", bridge, "up")
            address = str(base + last)
            ip("-n", netns, "addr", "add", f"{address}/24", "dev", inner)
            ip("-n", netns, "link", "set", inner, "up")
            ip("-n", netns, "link", "set", "lo", "up")
            network.hosts[role] = address
    except BaseException:
        network.teardown()
        raise
    return network


# --- servers inside namespaces ----------------------------------------------------------------


class NetnsPostgres(PostgresServer):
    """PostgreSQL in a namespace, listening on its veth address, trusting the private subnet."""

    def __init__(self, network: Network, role: str):
        super().__init__(port=5432)
        self.address = network.hosts[role]
        self.subnet = network.subnet
        argv = [
            a.replace(f"listen_addresses={HOST}", f"listen_addresses={self.address}")
            for a in self.argv
        ]
        # `ip netns exec` needs root; setpriv then drops to the service user
        self.argv = [
            *network.exec_prefix(role),
            "setpriv", f"--reuid={self.user}", f"--regid={self.user}", "--init-groups",
            *argv,
        ]  # fmt: skip

    @property
    def uri(self) -> str:
        return f"postgresql://postgres@{self.address}:{self.port}/"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@{self.address}:{self.port}/{dbname}"

    def start(self) -> NetnsPostgres:
        if not (self.data / "PG_VERSION").exists():
            self._initdb()
            with (self.data / "pg_hba.conf").open("a") as fh:
                fh.write(f"host all all {self.subnet} trust\n")
        user, self.user = self.user, None
        try:
            ManagedProcess.start(self)
        finally:
            self.user = user
        return self

    def _accepts_connections(self) -> bool:
        import psycopg

        if not port_open(self.address, self.port):
            return False
        try:
            with psycopg.connect(self.dsn(), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False


class NetnsRedis(RedisServer):
    def __init__(self, network: Network, role: str):
        # not on loopback: Redis' protected mode refuses clients unless a password is set
        super().__init__(port=6379, password="multihost-test")
        self.address = network.hosts[role]
        argv = list(self.argv)
        argv[argv.index("--bind") + 1] = self.address
        self.argv = [*network.exec_prefix(role), *argv]

    @property
    def uri(self) -> str:
        return f"redis://:{self.password}@{self.address}:{self.port}/0"


class AppHost(ManagedProcess):
    """gunicorn (the deployment's app program) inside one namespace."""

    def __init__(self, network: Network, role: str, config, database: str):
        self.address = network.hosts[role]
        self.netloc = f"{self.address}:{APP_PORT}"
        self.url = f"http://{self.netloc}/"
        env = trytond_env(config, TRYTOND_DATABASE_NAMES=database)
        conf = write_gunicorn_conf(config)
        super().__init__(
            name=f"app-{role}",
            argv=[
                *network.exec_prefix(role),
                sys.executable, "-m", "gunicorn", "-c", str(conf), "tryton_ops.deploy.wsgi:app",
            ],
            ready=self._answers,
            log_path=config.run_dir / "logs" / "stdout.log",
            env=env,
            start_timeout=120,
        )  # fmt: skip
        self.server_log = config.run_dir / "logs" / "server.log"

    def _answers(self) -> bool:
        try:
            with Connection(self.url, timeout=2) as conn:
                conn.call("common.server.version")
            return True
        except RPCError:
            return False

    def log_tail(self, lines: int = 30) -> str:
        text = self.server_log.read_text(errors="replace") if self.server_log.exists() else ""
        return super().log_tail(lines) + "\n" + "\n".join(text.splitlines()[-lines:])


class Front(ManagedProcess):
    """nginx with the front host's rendered nginx.conf, plus the test's X-Upstream header."""

    def __init__(self, config):
        conf = write_nginx_conf(config)
        marker = "            proxy_next_upstream_tries 2;\n"
        text = conf.read_text()
        assert marker in text
        # which host answered; a production config does not tell clients its upstreams
        header = "            add_header X-Upstream $upstream_addr always;\n"
        conf.write_text(text.replace(marker, marker + header))
        self.url = public_url(config)
        host, _, port = config.settings.front.listen.rpartition(":")
        super().__init__(
            name="front",
            argv=[nginx_binary(), "-p", str(nginx_dir(config)), "-c", str(conf),
                  "-g", "daemon off;"],
            ready=lambda: port_open(host, int(port)),
            log_path=config.run_dir / "logs" / "front.log",
        )  # fmt: skip


def copy_database(source: TestDatabase, source_pg: PostgresServer, target: PostgresServer) -> str:
    """pg_dump the test database into the database host (faster than installing modules)."""
    import psycopg

    name = source.name
    bindir = (source_pg.bindir / "postgres").resolve().parent  # /usr/local/bin may be symlinks
    with psycopg.connect(target.dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dump = subprocess.run(
        [str(bindir / "pg_dump"), "-Fc", "--no-owner", source_pg.dsn(name)],
        capture_output=True,
        check=True,
    )
    subprocess.run(
        [str(bindir / "pg_restore"), "--no-owner", "-d", target.dsn(name)],
        input=dump.stdout,
        capture_output=True,
        check=True,
    )
    return name


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
        for host in hosts:  # boot both at once, then wait for each
            host.ready, wait = (lambda: True), host.ready
            host.start()
            host.ready = wait
        for host in hosts:
            host._wait_ready()
        front = Front(host_config(deployment, "front"))
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
