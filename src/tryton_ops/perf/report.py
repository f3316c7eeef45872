"""Reading the store: filters, aggregates and findings behind `tryton-ops perf report/show`."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from tryton_ops.config.durations import parse_duration
from tryton_ops.perf.errors import PerfError
from tryton_ops.perf.options import PerfOptions
from tryton_ops.perf.store import open_store, store_errors

CHATTY_BURST = 10  # calls of one session within one second
CHATTY_REPEAT = 5  # identical calls (same method and parameters) of one session


def parse_time(text: str | None, now: float | None = None) -> float | None:
    """`30m` (ago), an ISO date/time, or epoch seconds."""
    if text is None:
        return None
    now = time.time() if now is None else now
    value = text.strip()
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is not None and number > 1e8:
        return number  # epoch seconds
    try:
        return now - parse_duration(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise PerfError(
            f"invalid time {text!r}: use a duration ago (30m, 2h, 1d), an ISO date/time "
            "(2026-05-01T14:00) or epoch seconds"
        ) from None


@dataclass(frozen=True)
class Filters:
    user: str | None = None  # login, or a numeric user id
    session: str | None = None
    method: str | None = None  # substring of the method
    since: float | None = None
    until: float | None = None
    # (database, uid) of the login `user`: REST calls name no login, only the key's user id
    user_ids: frozenset[tuple[str, int]] = frozenset()

    def match(self, record: dict) -> bool:
        if self.user is not None and not self._match_user(record):
            return False
        if self.session is not None and record.get("session") != self.session:
            return False
        return not (self.method is not None and self.method not in (record.get("method") or ""))

    def _match_user(self, record: dict) -> bool:
        """By the verified user id where the login's id is known; else by the recorded login.

        A session names its login but trytond verifies only its user id and key, so where the
        id can be compared it decides (a user's session naming another login is not theirs).
        """
        if self.user.isdigit():
            return record.get("uid") == int(self.user)
        database, uid = record.get("db"), record.get("uid")
        if uid is not None and any(database == known for known, _ in self.user_ids):
            return (database, uid) in self.user_ids
        return record.get("login") == self.user


def load(options: PerfOptions, filters: Filters) -> list[dict]:
    with store_errors(options):
        store = open_store(options)
        try:
            return [r for r in store.read(filters.since, filters.until) if filters.match(r)]
        finally:
            store.close()


def find_call(options: PerfOptions, call_id: str) -> dict:
    with store_errors(options):
        store = open_store(options)
        try:
            for record in store.read():
                if record.get("id") == call_id:
                    return record
        finally:
            store.close()
    raise PerfError(f"no call {call_id!r} in the perf store (expired, or a wrong id?)")


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def failed(record: dict) -> bool:
    """A call that failed: an exception inside trytond, or a refusal (HTTP status >= 400)."""
    return bool(record.get("error")) or record.get("status", 200) >= 400


def brief(record: dict) -> dict:
    """The fields of a call a listing shows (no statements, no stacks)."""
    keys = ("id", "ts", "login", "uid", "session", "method", "duration_ms", "sql_count")
    out = {key: record.get(key) for key in keys}
    out.update(sql_ms=record.get("sql_ms"), status=record.get("status"), error=record.get("error"))
    return out


def summarize(records: list[dict], top: int = 10) -> dict:
    by_method: dict[str, list[dict]] = defaultdict(list)
    tables: dict[str, int] = defaultdict(int)
    for record in records:
        by_method[record.get("method") or "?"].append(record)
        for table, count in (record.get("tables") or {}).items():
            tables[table] += count
    methods = []
    for method, calls in by_method.items():
        durations = [c.get("duration_ms", 0) for c in calls]
        hits = sum(c.get("cache_hits", 0) for c in calls)
        lookups = hits + sum(c.get("cache_misses", 0) for c in calls)
        methods.append(
            {
                "method": method,
                "count": len(calls),
                "total_ms": round(sum(durations), 1),
                "mean_ms": round(sum(durations) / len(calls), 1),
                "p95_ms": round(percentile(durations, 95), 1),
                "max_ms": round(max(durations), 1),
                "sql_mean": round(sum(c.get("sql_count", 0) for c in calls) / len(calls), 1),
                "cache_hit_pct": round(100 * hits / lookups, 1) if lookups else None,
                "errors": sum(1 for c in calls if failed(c)),
            }
        )
    methods.sort(key=lambda m: -m["total_ms"])
    n1 = [
        {**brief(r), "shape": f["shape"], "repeat": f["count"], "repeat_ms": f["ms"]}
        for r in records
        for f in r.get("n1") or ()
    ]
    n1.sort(key=lambda f: -f["repeat"])
    slow_sql = [
        {**brief(r), "shape": s["shape"], "statement_ms": s["ms"], "stack": s["stack"]}
        for r in records
        for s in r.get("slow_sql") or ()
    ]
    slow_sql.sort(key=lambda s: -s["statement_ms"])
    slowest = sorted(records, key=lambda r: -r.get("duration_ms", 0))[:top]
    return {
        "calls": len(records),
        "since": min((r["ts"] for r in records), default=None),
        "until": max((r["ts"] for r in records), default=None),
        "errors": sum(1 for r in records if failed(r)),
        "methods": methods[:top],
        "tables": [
            {"table": t, "statements": n}
            for t, n in sorted(tables.items(), key=lambda item: -item[1])[:top]
        ],
        "slowest": [brief(r) for r in slowest],
        "n1": n1[:top],
        "slow_sql": slow_sql[:top],
        "chatty": chatty(records)[:top],
    }


def chatty(records: list[dict]) -> list[dict]:
    """Sessions with bursts of calls or identical calls repeated."""
    by_session: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        if record.get("session"):
            by_session[record["session"]].append(record)
    findings = []
    for session, calls in by_session.items():
        stamps = sorted(c["ts"] for c in calls)
        peak, start = 0, 0
        for end, ts in enumerate(stamps):
            while ts - stamps[start] > 1.0:
                start += 1
            peak = max(peak, end - start + 1)
        same: dict[str, list[dict]] = defaultdict(list)
        for call in calls:
            if call.get("fp"):
                same[call["fp"]].append(call)
        repeated = [
            {"method": group[0]["method"], "count": len(group)}
            for group in same.values()
            if len(group) >= CHATTY_REPEAT
        ]
        repeated.sort(key=lambda item: -item["count"])
        if peak >= CHATTY_BURST or repeated:
            findings.append(
                {
                    "session": session,
                    "login": calls[0].get("login"),
                    "calls": len(calls),
                    "peak_per_s": peak,
                    "repeated": repeated,
                }
            )
    findings.sort(key=lambda f: -(f["peak_per_s"] + sum(r["count"] for r in f["repeated"])))
    return findings
