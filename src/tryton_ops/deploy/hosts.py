"""Multi-host deployments: the `[hosts.NAME]` sections, and the deployment as one host sees it.

Every host reads the same tryton-ops.toml. An app host serves on its own address with its own
worker count; the front host balances over every app host; cron, the bus and queue workers run
on the hosts given those roles; the db and redis hosts only get the access rules the others
need. Without `[hosts]` the deployment is this machine, as before.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any
from urllib.parse import unquote, urlsplit

from tryton_ops.config import LoadedConfig
from tryton_ops.config.schema import Host

# programs bound to a role; every other program of a host that runs trytond is an "app" one
PROGRAM_ROLES = {"front": "front", "cron": "cron", "bus": "bus"}
TRYTOND_ROLES = {"app", "cron", "queue", "bus"}


def netloc(address: str, port: int) -> str:
    try:
        if ipaddress.ip_address(address).version == 6:
            return f"[{address}]:{port}"
    except ValueError:
        pass  # a host name
    return f"{address}:{port}"


def get_host(config: LoadedConfig, name: str) -> Host:
    from tryton_ops.deploy.render import RenderError

    hosts = config.settings.hosts
    if not hosts:
        raise RenderError(
            f"--host {name}: tryton-ops.toml describes no hosts; add [hosts.NAME] sections "
            "(docs/deploy.md) or render this machine without --host"
        )
    if name not in hosts:
        raise RenderError(f"unknown host {name!r}; known hosts: {', '.join(sorted(hosts))}")
    return hosts[name]


def runs_trytond(host: Host) -> bool:
    return bool(TRYTOND_ROLES & set(host.roles))


def runs_program(host: Host, program: str) -> bool:
    role = "queue" if program.startswith("queue") else PROGRAM_ROLES.get(program, "app")
    return role in host.roles


def app_upstreams(config: LoadedConfig) -> list[str]:
    """Where nginx sends requests: every app host, or this machine's app server."""
    settings = config.settings
    port = settings.server.port
    found = [netloc(h.address, port) for h in settings.hosts.values() if "app" in h.roles]
    return found or [settings.server.listen]


def host_config(config: LoadedConfig, name: str) -> LoadedConfig:
    """The deployment as host `name` runs it: its address, workers and threads, nginx in front
    (trytond trusts one proxy), the bus on the bus host's address."""
    settings = config.settings
    host = get_host(config, name)
    server = settings.server.model_copy(
        update={
            "listen": netloc(host.address, settings.server.port),
            "workers": host.workers or settings.server.workers,
            "threads": host.threads or settings.server.threads,
        }
    )
    # nginx runs on the front host only; every host's trytond.conf trusts it (see trytond_conf)
    front = "on" if "front" in host.roles else "off"
    update: dict[str, Any] = {
        "server": server,
        "front": settings.front.model_copy(update={"enabled": front}),
    }
    bus_hosts = [h for h in settings.hosts.values() if "bus" in h.roles]
    if bus_hosts:
        port = int(settings.bus.listen.rpartition(":")[2])
        bus = settings.bus.model_copy(update={"listen": netloc(bus_hosts[0].address, port)})
        update["bus"] = bus
    return dataclasses.replace(config, settings=settings.model_copy(update=update))


def render_pg_hba(config: LoadedConfig) -> str:
    """pg_hba.conf lines letting every host that runs trytond reach the database."""
    settings = config.settings
    user = urlsplit(settings.database.uri).username or "all"
    lines = [
        f"# Rendered by tryton-ops from {config.source}; add these lines to pg_hba.conf.",
        "# The hosts that run trytond reach the deployment's database, with a password.",
    ]
    for name, host in sorted(settings.hosts.items()):
        if runs_trytond(host):
            lines.append(
                f"host  {settings.database.name}  {user}  {_cidr(host.address)}  "
                f"scram-sha-256  # {name}"
            )
    return "\n".join(lines) + "\n"


def _cidr(address: str) -> str:
    try:
        return str(ipaddress.ip_network(address))  # a single address: /32 or /128
    except ValueError:
        return address  # a host name, which pg_hba.conf also accepts


def render_redis_conf(config: LoadedConfig, host: Host) -> str:
    """Redis listening on the private address only, with the password of the configured URI."""
    settings = config.settings
    parts = urlsplit(settings.cache.redis_uri or settings.redis.uri or "redis://")
    lines = [
        f"# Rendered by tryton-ops from {config.source}; include it from redis.conf.",
        f"bind {host.address}",
        f"port {parts.port or 6379}",
        "protected-mode yes",
    ]
    if parts.password:
        lines.append(f"requirepass {unquote(parts.password)}")
    return "\n".join(lines) + "\n"
