"""Scale-out on one machine: app hosts held to a CPU quota each, behind nginx, sharing one
PostgreSQL and one Redis; every host a network namespace.

    root namespace: nginx (127.0.0.1:<free port>; cgroup `nginx`), the load generator
      |-- namespace db : PostgreSQL and Redis      (cgroups `postgresql`, `redis`: no ceiling)
      |-- namespace h1 : gunicorn, W workers        (cgroup `h1`: a quota of C cores)
      |-- ...
      `-- namespace hN

Without quotas the app hosts would share this machine's cores freely and a second host would
only add processes, not capacity. With them each host is a machine of C cores; PostgreSQL,
Redis and nginx have no ceiling but are accounted, so what saturates first shows. A quota is
only a ceiling: on a machine shared with other work every group also weighs more than one
process (`ScaleOutPlan.weight`), so a host does get its quota.

The deployment is one tryton-ops.toml with `[hosts]` (front, h1..hN, db): each app host runs
what `deploy render --host hK` gives it, nginx runs the front host's rendered nginx.conf, which
balances over the app hosts in service (`serve(n)`: the first n). Everything (processes,
namespaces, links, cgroups, data directories) is removed by `close()`, also when starting
failed; leftovers of a killed run are removed by the next one (netns, cgroups).
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tryton_ops.capacity.cgroups import CpuGroup, CpuGroups, Throttling
from tryton_ops.client import Connection, RPCError
from tryton_ops.config import LoadedConfig
from tryton_ops.deploy.hosts import host_config
from tryton_ops.testing.databases import derive
from tryton_ops.testing.netns import (
    APP_PORT,
    AppHost,
    Front,
    NetnsPostgres,
    NetnsRedis,
    Network,
    build_network,
    start_together,
)
from tryton_ops.testing.processes import ManagedProcess, free_port

DB_ROLE = "db"
UPSTREAM = re.compile(r"upstream=(\S+(?:, \S+)*) urt=")


@dataclass(frozen=True)
class ScaleOutPlan:
    """The machine each app host stands for, and how many of them exist."""

    hosts: int = 3
    cores_per_host: float = 0.25
    workers: int = 2  # gunicorn workers per host
    threads: int = 1  # threads per worker (gthread when > 1)
    # every group weighs this many processes when the machine's cores are contended, so a
    # host gets its quota and PostgreSQL what the hosts ask of it, despite other work
    weight: float = 4.0

    def __post_init__(self) -> None:
        if not 1 <= self.hosts <= 9:
            raise ValueError(f"hosts: 1 to 9, not {self.hosts}")
        if self.cores_per_host <= 0:
            raise ValueError(f"cores_per_host must be positive, not {self.cores_per_host}")


def app_role(index: int) -> str:
    return f"h{index}"


class ScaleOut:
    """The topology; `start()` brings up the network, PostgreSQL and Redis, `serve(n)` the
    first n app hosts and nginx in front of them.

    `config` gives the database (name, modules, admin password file) and the paths; its
    database need not exist yet: `deployment` points at the namespace's PostgreSQL, so
    `init_database(scale.deployment, ...)` or `demo load` run from this process create it
    there (the root namespace reaches every host through the bridge)."""

    def __init__(self, config: LoadedConfig, base: Path, plan: ScaleOutPlan):
        self.config = config
        self.base = base
        self.plan = plan
        self.roles = [app_role(i) for i in range(1, plan.hosts + 1)]
        self.cgroups: CpuGroups | None = None
        self.network: Network | None = None
        self.postgres: NetnsPostgres | None = None
        self.redis: NetnsRedis | None = None
        self.front: Front | None = None
        self.apps: dict[str, AppHost] = {}
        self.serving = 0
        self.deployment: LoadedConfig | None = None
        self._front_listen = f"127.0.0.1:{free_port()}"

    # --- lifetime ---------------------------------------------------------------------------

    def start(self) -> ScaleOut:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        self.cgroups = CpuGroups()
        roles = {DB_ROLE: 2} | {role: 10 + i for i, role in enumerate(self.roles, 1)}
        self.network = build_network(roles)
        for role in self.roles:  # no ceiling while trytond loads; see _bring_up
            self.cgroups.group(role, weight=self.plan.weight)
        for name in ("postgresql", "redis", "nginx"):
            self.cgroups.group(name, weight=self.plan.weight)
        groups = self.cgroups.groups
        self.postgres = NetnsPostgres(self.network, DB_ROLE, groups["postgresql"].wrap)
        self.postgres.start()
        self.redis = NetnsRedis(self.network, DB_ROLE, groups["redis"].wrap)
        self.redis.start()
        self.deployment = self._deployment(len(self.roles))

    def close(self) -> None:
        """Stop everything, in reverse order; safe to call twice and after a failed start."""
        processes: list[ManagedProcess | None] = [self.front, *self.apps.values()]
        for process in [*processes, self.redis, self.postgres]:
            if process is not None:
                with contextlib.suppress(Exception):
                    process.kill()
        if self.network is not None:
            self.network.teardown()
        for server in (self.postgres, self.redis):
            if server is not None:
                with contextlib.suppress(Exception):
                    server.destroy()  # its data directory
        if self.cgroups is not None:
            self.cgroups.close()
        self.front, self.apps, self.network = None, {}, None
        self.postgres = self.redis = self.cgroups = None
        self.serving = 0

    def __enter__(self) -> ScaleOut:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the deployment ---------------------------------------------------------------------

    def _deployment(self, count: int) -> LoadedConfig:
        """The one tryton-ops.toml of the cluster, with the first `count` app hosts."""
        hosts = {
            "front": {"address": "127.0.0.1", "roles": ["front"]},
            DB_ROLE: {"address": self.network.hosts[DB_ROLE], "roles": ["db", "redis"]},
        }
        for role in self.roles[:count]:
            hosts[role] = {"address": self.network.hosts[role]}
        return derive(
            self.config,
            {
                "database": {"uri": self.postgres.uri},
                "server": {
                    "listen": f"127.0.0.1:{APP_PORT}",
                    "workers": self.plan.workers,
                    "threads": self.plan.threads,
                },
                "cache": {"backend": "redis", "redis_uri": self.redis.uri},
                # every simulated user comes from one address: no per-address rate limit
                "front": {
                    "enabled": "on",
                    "listen": self._front_listen,
                    "rpc_rate_per_second": 100_000,
                    "login_rate_per_minute": 100_000,
                },
                "paths": {"run": str(self.base / "front")},
                "hosts": hosts,
            },
        )

    @property
    def database(self) -> str:
        return self.config.settings.database.name

    @property
    def url(self) -> str:
        """nginx's URL (valid once `serve` ran)."""
        if self.front is None:
            raise RuntimeError("nothing served yet: call serve(n)")
        return self.front.url

    def serve(self, count: int) -> str:
        """The first `count` app hosts in service (started or stopped as needed), each held to
        its quota, and nginx (restarted) balancing over exactly them. Returns nginx's URL."""
        if not 1 <= count <= len(self.roles):
            raise ValueError(f"serve: 1 to {len(self.roles)} hosts, not {count}")
        self._retire(count)
        self._bring_up([r for r in self.roles[:count] if r not in self.apps])
        deployment = self._deployment(count)
        self.front = Front(host_config(deployment, "front"), wrap=self.cgroups.groups["nginx"].wrap)
        self.front.start()
        self.serving = count
        return self.front.url

    def stop_serving(self) -> None:
        """nginx and every app host stopped: no worker holds a connection to the database, so
        that it can be replaced (a benchmark restores its data between measurements)."""
        self._retire(0)

    def _retire(self, keep: int) -> None:
        """nginx and the app hosts after the first `keep` stopped."""
        if self.front is not None:
            self.front.stop()
            self.front = None
        for role in self.roles[keep:]:
            if role in self.apps:
                self.apps.pop(role).stop()
        self.serving = 0

    def _bring_up(self, roles: list[str]) -> None:
        """Start app hosts without a ceiling, let every worker load trytond's pool, then hold
        each to its quota: loading the modules is not what a capacity run measures."""
        deployment = self._deployment(len(self.roles))
        hosts = []
        for role in roles:
            group = self.cgroups.groups[role]
            group.set_quota(None)
            config = derive(
                host_config(deployment, role), {"paths": {"run": str(self.base / role)}}
            )
            hosts.append(AppHost(self.network, role, config, self.database, wrap=group.wrap))
        self.apps.update(zip(roles, hosts, strict=True))
        start_together(hosts)
        threads = [threading.Thread(target=self._warm, args=(h,)) for h in hosts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for role in roles:
            self.cgroups.groups[role].set_quota(self.plan.cores_per_host)

    def hold(self, held: bool = True) -> None:
        """Hold the hosts in service to their quota (the default), or let them run free for a
        while: warming a quarter-core host with the measured workload (trytond's per-process
        caches of views and records) takes minutes under its quota, seconds without."""
        for role in self.roles[: self.serving]:
            self.cgroups.groups[role].set_quota(self.plan.cores_per_host if held else None)

    def _warm(self, host: AppHost) -> None:
        """Concurrent logins on the host, more than it has workers, twice: each worker loads
        the database's pool on its first request."""
        password = self.config.settings.database.admin_password_file.read_text().strip()

        def login() -> None:
            with contextlib.suppress(RPCError), Connection(host.url, self.database) as conn:
                conn.login("admin", password)
                conn.call("model.res.user.get_preferences", True, {})

        for _ in range(2):
            threads = [
                threading.Thread(target=login)
                for _ in range(2 * self.plan.workers * self.plan.threads)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

    # --- what was measured ------------------------------------------------------------------

    def groups(self) -> dict[str, CpuGroup]:
        """The cgroups of the hosts in service and of PostgreSQL, Redis and nginx."""
        groups = self.cgroups.groups
        names = [*self.roles[: self.serving], "postgresql", "redis", "nginx"]
        return {name: groups[name] for name in names}

    def usage_s(self) -> dict[str, float]:
        """CPU seconds used so far, per group."""
        return {name: group.usage_s() for name, group in self.groups().items()}

    def throttling(self) -> dict[str, Throttling]:
        return {role: self.cgroups.groups[role].throttling() for role in self.roles[: self.serving]}

    def host_of(self, netloc: str) -> str | None:
        for role, address in self.network.hosts.items():
            if netloc == f"{address}:{APP_PORT}":
                return role
        return None

    def log_offset(self) -> int:
        """Where nginx's access log ends now: `served(since=...)` counts what comes after."""
        log = self.front.access_log if self.front else None
        return log.stat().st_size if log is not None and log.exists() else 0

    def served(self, since: int = 0) -> Counter[str]:
        """Requests per app host (by nginx's access log), from byte offset `since`."""
        counts: Counter[str] = Counter()
        with self.front.access_log.open("rb") as fh:
            fh.seek(since)
            for line in fh.read().decode(errors="replace").splitlines():
                match = UPSTREAM.search(line)
                if match:
                    last = match.group(1).split(", ")[-1]  # after a retry, who answered
                    counts[self.host_of(last) or last] += 1
        return counts
