"""What `status` and `top` show: processes, requests in flight, database, Redis, caches, last
backup.

Every probe is bounded (short timeouts) and reports its own failure as an `error` field
instead of failing the whole status: an operator asks for status precisely when things break.
"""

from __future__ import annotations

import time
from typing import Any

from tryton_ops.access.database import DatabaseError, database_exists, is_sqlite, sqlite_file
from tryton_ops.access.redis import RedisSpec, RedisUnavailable, connect, translate_errors
from tryton_ops.config import LoadedConfig
from tryton_ops.config.durations import parse_duration
from tryton_ops.config.masking import mask_uri
from tryton_ops.deploy.workers import in_flight
from tryton_ops.lifecycle.backup import filestore_dir, last_backup

PROBE_TIMEOUT = 2.0  # seconds a Redis may take to answer a status probe


def _dir_size(path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def database_status(config: LoadedConfig, name: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "backend": config.settings.database.backend}
    try:
        if not database_exists(config, name):
            return {**out, "exists": False}
        out["exists"] = True
        out["filestore_bytes"] = _dir_size(filestore_dir(config, name))
        if is_sqlite(config):
            path = sqlite_file(config, name)
            wal = path.with_name(path.name + "-wal")
            out["size_bytes"] = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
            out["connections"] = None  # SQLite has no server-side view of its users
        else:
            from tryton_ops.access.database import server_connect

            with server_connect(config.settings.database.uri) as conn:
                out["size_bytes"] = conn.execute("SELECT pg_database_size(%s)", (name,)).fetchone()[
                    0
                ]
                rows = conn.execute(
                    "SELECT state, count(*) FROM pg_stat_activity WHERE datname = %s "
                    "GROUP BY state",
                    (name,),
                ).fetchall()
                out["connections"] = sum(count for _, count in rows)
                out["connections_by_state"] = {str(state): count for state, count in rows}
                out["max_connections"] = int(conn.execute("SHOW max_connections").fetchone()[0])
    except DatabaseError as exc:
        out["error"] = str(exc)
    return out


def backup_status(config: LoadedConfig, name: str) -> dict[str, Any] | None:
    """The last backup of `name` with its age, flagged `stale` when older than backup.max_age
    (what `doctor` warns about); None when tryton-ops never backed it up."""
    last = last_backup(config, name)
    if last is None:
        return None
    max_age = parse_duration(config.settings.backup.max_age)
    return {**last, "max_age_s": max_age, "stale": last["age_s"] > max_age}


QUEUE_SQL = (
    "SELECT name, SUM(CASE WHEN dequeued_at IS NULL THEN 1 ELSE 0 END), "
    "SUM(CASE WHEN dequeued_at IS NULL THEN 0 ELSE 1 END) "
    "FROM ir_queue WHERE finished_at IS NULL GROUP BY name ORDER BY name"
)
# ir_cron_log gets a row per successful run only (a failed run is logged by trytond-cron and
# its next call moves on): the last log is the last success
CRON_SQL = (
    "SELECT c.id, c.method, c.active, c.interval_number, c.interval_type, c.next_call, "
    "MAX(l.started), MAX(l.ended) FROM ir_cron c LEFT JOIN ir_cron_log l ON l.cron = c.id "
    "GROUP BY c.id, c.method, c.active, c.interval_number, c.interval_type, c.next_call "
    "ORDER BY c.id"
)


def jobs_status(config: LoadedConfig, name: str) -> dict[str, Any]:
    """The queue and cron: `ir.queue` tasks not finished, by name (pending: not taken yet;
    unfinished: taken by a worker, running or failed), and each cron job's last successful run
    and next run."""
    from tryton_ops.access.database import connect

    try:
        with connect(config, name) as session:
            tasks = session.execute(QUEUE_SQL)
            cron = session.execute(CRON_SQL)
    except DatabaseError as exc:
        return {"error": str(exc)}
    return {
        "tasks": [
            {"name": task, "pending": int(pending), "unfinished": int(taken)}
            for task, pending, taken in tasks
        ],
        "cron": [
            {
                "id": cron_id,
                "method": method,
                "active": bool(active),
                "interval": f"{number} {unit}",
                "next_call": str(next_call) if next_call else None,
                "last_started": str(started) if started else None,
                "last_ended": str(ended) if ended else None,
            }
            for cron_id, method, active, number, unit, next_call, started, ended in cron
        ],
    }


def redis_status(spec: RedisSpec) -> dict[str, Any]:
    """Memory use and eviction policy of one Redis, within PROBE_TIMEOUT."""
    out: dict[str, Any] = {"uri": mask_uri(spec.uri)}
    probe = spec.with_timeout(PROBE_TIMEOUT)
    client = connect(probe)
    try:
        with translate_errors(probe):
            info = client.info("memory")
    except RedisUnavailable as exc:
        return {**out, "error": exc.detail}
    finally:
        client.close()
    return {
        **out,
        "used_memory": info.get("used_memory"),
        "used_memory_human": info.get("used_memory_human"),
        "maxmemory": info.get("maxmemory"),
        "maxmemory_policy": info.get("maxmemory_policy"),
    }


def _ratios(rows: list[dict[str, Any]]) -> dict[str, Any]:
    hits = sum(row["hit"] for row in rows)
    lookups = hits + sum(row["miss"] for row in rows)
    return {"hit_ratio": round(hits / lookups, 4) if lookups else None, "lookups": lookups}


def worker_cache_status(caches: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Hit ratios of trytond's in-process caches, summed over the workers' status reports."""
    if not caches:
        return None
    by_name: dict[str, list[dict[str, Any]]] = {}
    for row in caches:
        by_name.setdefault(row["name"], []).append(row)
    per_cache = {name: _ratios(rows)["hit_ratio"] for name, rows in sorted(by_name.items())}
    return {
        "source": "workers",
        **_ratios(caches),
        "caches": {name: ratio for name, ratio in per_cache.items() if ratio is not None},
    }


def cache_status(config: LoadedConfig) -> dict[str, Any] | None:
    """Hit ratios of the shared cache (RedisCache counts them in Redis); None for stock."""
    if config.settings.cache.backend != "redis":
        return None
    from tryton_ops.cache.admin import CacheError, stats

    try:
        data = stats(config)
    except (CacheError, RedisUnavailable) as exc:
        return {"error": str(exc)}
    return {
        "source": "redis",
        **_ratios(data["caches"]),
        "caches": {
            row["name"]: row["hit_ratio"] for row in data["caches"] if row["hit_ratio"] is not None
        },
    }


def gather(config: LoadedConfig) -> dict[str, Any]:
    """Everything `status --json` prints."""
    from tryton_ops.accel import accel_status
    from tryton_ops.deploy import local_stack

    state = local_stack.running(config)
    name = state.database if state is not None else config.settings.database.name
    rows = local_stack.processes(config)
    workers = in_flight(config, [row["pid"] for row in rows])
    for row in rows:  # None: this process has not reported (yet)
        reported = workers["by_pid"].get(row["pid"])
        row["in_flight"] = None if reported is None else len(reported)
    requests = [{"pid": pid, **r} for pid, rs in workers["by_pid"].items() for r in rs]
    data = {
        "time": time.time(),
        "running": state is not None,
        "url": state and state.url,
        "processes": rows,
        "requests": sorted(requests, key=lambda r: -r["since_s"]),
        "requests_source": {"available": workers["available"], "reason": workers["reason"]},
        "database": database_status(config, name),
        "redis": [redis_status(spec) for spec in config.settings.redis_specs()],
        "cache": cache_status(config) or worker_cache_status(workers["caches"]),
        "last_backup": backup_status(config, name),
        "backup_schedule": config.settings.backup.at if config.settings.backup.schedule else None,
        "jobs": jobs_status(config, name),
        "accelerators": [
            {"name": row["name"], "state": row["state"]} for row in accel_status(config.settings)
        ],
    }
    data["problems"] = problems(data, state.programs if state is not None else [])
    return data


def problems(data: dict[str, Any], programs: list[str]) -> list[str]:
    """What is broken in what `status` shows (its exit code is 1 when any): a program of the
    running stack down, the database missing or unreachable, a Redis not answering."""
    found = []
    if data["running"]:
        up = {row["role"] for row in data["processes"] if row["state"] == "RUNNING"}
        found += [f"program {name!r} is not running" for name in programs if name not in up]
    db = data["database"]
    if "error" in db:
        found.append(f"database {db['name']!r} unreachable")
    elif not db.get("exists"):
        found.append(f"database {db['name']!r} does not exist")
    found += [f"redis {redis['uri']} unreachable" for redis in data["redis"] if "error" in redis]
    return found
