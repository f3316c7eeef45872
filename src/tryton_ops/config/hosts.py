"""The rule a `[hosts]` table must follow: checked when the config is loaded."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tryton_ops.config.schema import Host


def check_hosts(hosts: dict[str, Host], data: dict[str, Any]) -> None:
    """Refuse a host list the rendered files could not run (raised as a config error)."""

    def having(role: str) -> list[str]:
        return [name for name, host in hosts.items() if role in host.roles]

    problems = []
    if len(having("front")) != 1:
        problems.append(f"exactly one host needs role 'front' (found {_names(having('front'))})")
    if not having("app"):
        problems.append("at least one host needs role 'app'")
    for role in ("db", "redis"):
        if len(having(role)) > 1:
            problems.append(f"at most one host may have role {role!r} ({_names(having(role))})")
    wanted = {
        "cron": ("cron.enabled", bool(data.get("cron") and data["cron"].enabled)),
        "bus": ("bus.enabled", bool(data.get("bus") and data["bus"].enabled)),
    }
    for role, (key, enabled) in wanted.items():
        if enabled and len(having(role)) != 1:
            problems.append(f"{key} needs exactly one host with role {role!r}")
        if not enabled and having(role):
            problems.append(f"{_names(having(role))} has role {role!r} but {key} is false")
    queue_workers = data["queue"].workers if data.get("queue") else 0
    if queue_workers and not having("queue"):
        problems.append("queue.workers needs at least one host with role 'queue'")
    if not queue_workers and having("queue"):
        problems.append(f"{_names(having('queue'))} has role 'queue' but queue.workers is 0")
    database = data.get("database")
    if database is not None and database.backend != "postgresql":
        problems.append("several hosts share one database: database.uri must be postgresql://")
    if problems:
        raise ValueError("; ".join(problems))


def _names(names: list[str]) -> str:
    return ", ".join(names) or "none"
