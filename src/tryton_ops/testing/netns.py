"""Hosts as network namespaces on one machine: a bridge, a namespace per host, servers inside.

    root namespace: nginx, the clients, bridge <tag>br at 10.251.N.1
      |-- veth -- namespace <tag>-<role> at 10.251.N.<last byte>   (one per host)

The /24 is one that no address or route of this machine overlaps; no traffic leaves it.
`<tag>` holds the pid of the process that built it, so namespaces and links left by a killed
run are recognised (their pid is gone) and removed by the next one. One network per process
at a time. Needs root (`ip netns`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from tryton_ops.client import Connection, RPCError
from tryton_ops.config import LoadedConfig
from tryton_ops.config.trytond_conf import trytond_env
from tryton_ops.deploy.gunicorn_conf import write_gunicorn_conf
from tryton_ops.deploy.local_stack import public_url
from tryton_ops.deploy.nginx_conf import write_nginx_conf
from tryton_ops.deploy.programs import nginx_argv, nginx_binary
from tryton_ops.testing.databases import TestDatabase
from tryton_ops.testing.processes import ManagedProcess, port_open
from tryton_ops.testing.servers import HOST, PostgresServer, RedisServer

PREFIX = "tom6"
APP_PORT = 8000

Wrap = Callable[[list[str]], list[str]]  # a command made to start another way (in a cgroup)

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
    """Namespaces and links of earlier runs whose process is gone."""
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
    """roles: name (at most 3 characters: link names are short) -> last byte of its address."""
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
    """PostgreSQL in a namespace, listening on its veth address, trusting the private subnet.

    `wrap` prefixes the command (e.g. `CpuGroup.wrap`: start it inside a cgroup)."""

    def __init__(self, network: Network, role: str, wrap: Wrap | None = None):
        super().__init__(port=5432)
        self.address = network.hosts[role]
        self.subnet = network.subnet
        argv = [
            a.replace(f"listen_addresses={HOST}", f"listen_addresses={self.address}")
            for a in self.argv
        ]
        # `ip netns exec` needs root; setpriv then drops to the service user
        argv = [
            *network.exec_prefix(role),
            "setpriv", f"--reuid={self.user}", f"--regid={self.user}", "--init-groups",
            *argv,
        ]  # fmt: skip
        self.argv = wrap(argv) if wrap else argv

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
    def __init__(self, network: Network, role: str, wrap: Wrap | None = None):
        # not on loopback: Redis' protected mode refuses clients unless a password is set
        super().__init__(port=6379, password="multihost-test")
        self.address = network.hosts[role]
        argv = list(self.argv)
        argv[argv.index("--bind") + 1] = self.address
        argv = [*network.exec_prefix(role), *argv]
        self.argv = wrap(argv) if wrap else argv

    @property
    def uri(self) -> str:
        return f"redis://:{self.password}@{self.address}:{self.port}/0"


class AppHost(ManagedProcess):
    """gunicorn (the deployment's app program) inside one namespace."""

    def __init__(
        self,
        network: Network,
        role: str,
        config: LoadedConfig,
        database: str,
        wrap: Wrap | None = None,
    ):
        self.address = network.hosts[role]
        self.netloc = f"{self.address}:{APP_PORT}"
        self.url = f"http://{self.netloc}/"
        env = trytond_env(config, TRYTOND_DATABASE_NAMES=database)
        conf = write_gunicorn_conf(config)
        argv = [
            *network.exec_prefix(role),
            sys.executable, "-m", "gunicorn", "-c", str(conf), "tryton_ops.deploy.wsgi:app",
        ]  # fmt: skip
        super().__init__(
            name=f"app-{role}",
            argv=wrap(argv) if wrap else argv,
            ready=self._answers,
            log_path=config.run_dir / "logs" / "stdout.log",
            env=env,
            start_timeout=120,
        )
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


def start_together(hosts: list[AppHost]) -> None:
    """Boot every host at once, then wait for each: they load trytond in parallel."""
    for host in hosts:
        host.ready, wait = (lambda: True), host.ready
        host.start()
        host.ready = wait
    for host in hosts:
        host._wait_ready()


class Front(ManagedProcess):
    """nginx with the front host's rendered nginx.conf, in the root namespace.

    `upstream_header` adds an `X-Upstream` response header naming the host that answered (a
    test's view; a production config does not tell clients its upstreams)."""

    def __init__(
        self, config: LoadedConfig, upstream_header: bool = False, wrap: Wrap | None = None
    ):
        conf = write_nginx_conf(config)
        if upstream_header:
            marker = "            proxy_next_upstream_tries 2;\n"
            text = conf.read_text()
            if marker not in text:
                raise RuntimeError(f"{conf}: no {marker.strip()!r} to add X-Upstream after")
            header = "            add_header X-Upstream $upstream_addr always;\n"
            conf.write_text(text.replace(marker, marker + header))
        self.url = public_url(config)
        self.access_log = config.run_dir / "logs" / "nginx-access.log"
        host, _, port = config.settings.front.listen.rpartition(":")
        argv = nginx_argv(nginx_binary(), config, conf)
        super().__init__(
            name="front",
            argv=wrap(argv) if wrap else argv,
            ready=lambda: port_open(host, int(port)),
            log_path=config.run_dir / "logs" / "front.log",
        )


def copy_database(source: TestDatabase, source_pg: PostgresServer, target: PostgresServer) -> str:
    """pg_dump a database into another server (faster than installing modules again)."""
    import psycopg

    name = source.name
    bindir = Path(source_pg.bindir / "postgres").resolve().parent  # /usr/local/bin: symlinks
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
