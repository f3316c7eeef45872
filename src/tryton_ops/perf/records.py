"""Turning what a request collected into the stored record (run off the request path).

A stored record never holds a value from the call: SQL is reduced to its shape, parameters
only enter a keyed fingerprint after secret-named keys are masked, and the session key only
enters a one-way hash. Login and other `common.*` calls get no fingerprint at all.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from tryton_ops.config.masking import is_secret_key
from tryton_ops.perf import profiler, shapes

SHAPE_CACHE_SIZE = 4096
_shape_cache: dict[str, tuple[str, list[str]]] = {}


def session_id(token: str) -> str:
    """A stable, non-reversible id for a session key (never store the key itself)."""
    return hashlib.sha256(b"tryton-ops-perf-session\0" + token.encode()).hexdigest()[:16]


def _shape_of(sql: str) -> tuple[str, list[str]]:
    found = _shape_cache.get(sql)
    if found is None:
        found = (shapes.shape(sql), shapes.tables(sql))
        if len(_shape_cache) >= SHAPE_CACHE_SIZE:
            _shape_cache.clear()
        _shape_cache[sql] = found
    return found


def _masked(value: Any, depth: int = 0) -> Any:
    if depth > 20:
        return "…"
    if isinstance(value, dict):
        return {
            str(k): ("***" if is_secret_key(str(k)) else _masked(v, depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_masked(v, depth + 1) for v in value]
    return value


def fingerprint(method: str, params: Any, key: bytes | None) -> str | None:
    """Same method and parameters -> same fingerprint, to find identical repeated calls.

    None without a key (`fp_key`: the deployment's secret, never one that can be guessed).
    """
    if key is None or params is None or method.startswith(("common.", "system.")):
        return None
    try:
        text = json.dumps(_masked(params), sort_keys=True, default=repr, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        return None
    return hmac.new(key, f"{method}\0{text}".encode(), hashlib.sha256).hexdigest()[:16]


def finish(raw: dict, n1_threshold: int, fp_key: bytes | None) -> dict:
    """The stored record from the raw one the middleware queued."""
    collector = raw.pop("_collector")
    params = raw.pop("_params", None)
    record = dict(raw)
    record["fp"] = fingerprint(record.get("method") or "", params, fp_key)
    record["cache_hits"] = sum(hits for hits, _ in collector.caches.values())
    record["cache_misses"] = sum(misses for _, misses in collector.caches.values())
    by_shape: dict[str, list] = {}
    table_counts: dict[str, int] = {}
    for sql, (count, seconds) in collector.stats.items():
        shape, tables = _shape_of(sql)
        entry = by_shape.get(shape)
        if entry is None:
            by_shape[shape] = [count, seconds, tables]
        else:
            entry[0] += count
            entry[1] += seconds
        for table in tables:
            table_counts[table] = table_counts.get(table, 0) + count
    record["tables"] = table_counts
    record["n1"] = [
        {"shape": shape, "count": count, "ms": round(seconds * 1000, 3), "tables": tables}
        for shape, (count, seconds, tables) in sorted(
            by_shape.items(), key=lambda item: -item[1][0]
        )
        if count >= n1_threshold
    ]
    record["slow_sql"] = [
        {"shape": _shape_of(sql)[0], "ms": round(elapsed * 1000, 3), "stack": stack}
        for sql, elapsed, stack in collector.slow
    ]
    if collector.full:
        statements = []
        for offset, elapsed, sql, rows, stack in collector.statements:
            shape, tables = _shape_of(sql)
            statements.append(
                {
                    "at_ms": round(offset * 1000, 3),
                    "ms": round(elapsed * 1000, 3),
                    "shape": shape,
                    "rows": rows,
                    "tables": tables,
                    "stack": stack,
                }
            )
        record["statements"] = statements
        record["statements_dropped"] = collector.truncated
        record["caches"] = {name: list(counts) for name, counts in collector.caches.items()}
        if isinstance(collector.profile, str):
            record["profile_error"] = collector.profile
        elif collector.profile is not None:
            record["profile"] = profiler.speedscope(collector.profile)
    return record
