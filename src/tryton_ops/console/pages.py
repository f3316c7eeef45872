"""What each console page shows, as JSON-ready dicts, from the parts' own readers.

The analyzer's records (perf.report: load, summarize, find_call, percentile), its capture
switch (perf.activation), the session stores (trytond's `ir.session` model, which ops_session
puts on Redis, and sessions.admin's listing), the cache (status socket reports and the shared
cache's counters), and the CLI's `status --json` / `doctor --json` for what only the operator
views know.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from typing import Any

from tryton_ops.config.durations import parse_duration
from tryton_ops.console.options import ConsoleOptions
from tryton_ops.perf import activation
from tryton_ops.perf.errors import PerfError
from tryton_ops.perf.options import PerfOptions
from tryton_ops.perf.report import Filters, brief, failed, find_call, load, percentile, summarize

CLI_TIMEOUT_S = 30  # status and doctor bound their own probes; this only stops a hung CLI
MAX_POINTS = 120  # points of a traffic chart
TOP_SERIES = 5  # methods drawn one by one on the traffic chart


class PageError(Exception):
    """A page cannot be shown as asked: HTTP `status` and why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


ANALYZER_OFF = "the analyzer is off: set [perf] enabled = true in tryton-ops.toml, then reload"


def window(args: dict[str, str], options: ConsoleOptions, now: float) -> tuple[float, float]:
    """(since, until) from `?since=30m` (a duration ago; default: the console's window)."""
    text = args.get("since") or options.window
    try:
        return now - parse_duration(text), now
    except ValueError:
        raise PageError(400, f"invalid since {text!r}: use a duration: 15m, 1h, 1d") from None


def _records(options: ConsoleOptions, since: float, until: float, **filters: Any) -> list[dict]:
    if not options.perf:
        raise PageError(409, ANALYZER_OFF)
    try:
        return load(PerfOptions.from_trytond(), Filters(since=since, until=until, **filters))
    except PerfError as exc:
        raise PageError(503, str(exc)) from None


def _step(since: float, until: float, asked: str | None) -> float:
    if asked:
        try:
            return max(1.0, float(parse_duration(asked)))
        except ValueError:
            raise PageError(400, f"invalid step {asked!r}: use a duration: 10s, 1m") from None
    return max(1.0, math.ceil((until - since) / MAX_POINTS))


def traffic(options: ConsoleOptions, args: dict[str, str]) -> dict[str, Any]:
    """Calls/s, p50/p95/p99 and errors over time, and calls/s of the busiest methods."""
    since, until = window(args, options, time.time())
    step = _step(since, until, args.get("step"))
    records = _records(options, since, until)
    buckets: dict[int, list[dict]] = defaultdict(list)
    for record in records:
        buckets[int((record["ts"] - since) // step)].append(record)
    counts = Counter(r.get("method") or "?" for r in records)
    busiest = [method for method, _ in counts.most_common(TOP_SERIES)]
    points = []
    for index in range(math.ceil((until - since) / step)):
        calls = buckets.get(index, [])
        durations = [c.get("duration_ms", 0) for c in calls]
        per_method = Counter(c.get("method") or "?" for c in calls)
        points.append(
            {
                "t": round(since + index * step, 3),
                "calls": len(calls),
                "calls_per_s": round(len(calls) / step, 3),
                "p50_ms": round(percentile(durations, 50), 1) if calls else None,
                "p95_ms": round(percentile(durations, 95), 1) if calls else None,
                "p99_ms": round(percentile(durations, 99), 1) if calls else None,
                "errors": sum(1 for c in calls if failed(c)),
                "methods": {m: round(per_method.get(m, 0) / step, 3) for m in busiest},
            }
        )
    durations = [r.get("duration_ms", 0) for r in records]
    return {
        "since": since,
        "until": until,
        "step_s": step,
        "calls": len(records),
        "errors": sum(1 for r in records if failed(r)),
        "p50_ms": round(percentile(durations, 50), 1),
        "p95_ms": round(percentile(durations, 95), 1),
        "p99_ms": round(percentile(durations, 99), 1),
        "methods": busiest,
        "points": points,
    }


def methods(options: ConsoleOptions, args: dict[str, str]) -> dict[str, Any]:
    """Every method with its count, time share and SQL per call (perf report's table)."""
    since, until = window(args, options, time.time())
    records = _records(options, since, until)
    rows = summarize(records, top=len(records) or 1)["methods"]
    total = sum(row["total_ms"] for row in rows) or 1.0
    for row in rows:
        row["time_share"] = round(row["total_ms"] / total, 4)
    return {"since": since, "until": until, "calls": len(records), "methods": rows}


def calls(options: ConsoleOptions, args: dict[str, str]) -> dict[str, Any]:
    """Recorded calls, newest first (or slowest first with `order=slowest`), filtered by
    `method` (a substring) and `user` (login or id)."""
    since, until = window(args, options, time.time())
    try:
        limit = max(1, min(int(args.get("limit", 100)), 1000))
    except ValueError:
        raise PageError(400, "limit must be a number") from None
    user = args.get("user") or None
    records = _records(options, since, until, method=args.get("method") or None, user=user)
    if args.get("order") == "slowest":
        records.sort(key=lambda r: -r.get("duration_ms", 0))
    else:
        records.reverse()
    rows = [
        {**brief(r), "full": bool(r.get("full")), "profile": bool(r.get("profile"))}
        for r in records[:limit]
    ]
    return {"since": since, "until": until, "matched": len(records), "calls": rows}


def call(options: ConsoleOptions, call_id: str) -> dict[str, Any]:
    """One recorded call with all it holds: statements, stacks, caches (no profile: its own
    endpoint, for the flame graph)."""
    if not options.perf:
        raise PageError(409, ANALYZER_OFF)
    record = _find(call_id)
    return {key: value for key, value in record.items() if key != "profile"} | {
        "has_profile": bool(record.get("profile"))
    }


def _find(call_id: str) -> dict:
    try:
        return find_call(PerfOptions.from_trytond(), call_id)
    except PerfError as exc:
        raise PageError(404, str(exc)) from None


def speedscope(options: ConsoleOptions, call_id: str) -> dict[str, Any]:
    """The call's sampling profile as speedscope JSON (full capture with perf.profile)."""
    if not options.perf:
        raise PageError(409, ANALYZER_OFF)
    record = _find(call_id)
    profile = record.get("profile")
    if not profile:
        why = record.get("profile_error") or "it was not fully captured with perf.profile = true"
        raise PageError(404, f"call {call_id} has no profile: {why}")
    return profile


def findings(options: ConsoleOptions, args: dict[str, str]) -> dict[str, Any]:
    """Slowest calls, slow SQL with stacks, N+1 and chatty sessions (perf report's findings)."""
    since, until = window(args, options, time.time())
    data = summarize(_records(options, since, until), top=50)
    keys = ("calls", "errors", "slowest", "slow_sql", "n1", "chatty", "tables")
    return {"since": since, "until": until, **{key: data[key] for key in keys}}


# -- capture ----------------------------------------------------------------------------------
def capture(options: ConsoleOptions) -> dict[str, Any]:
    """Users under full capture, and until when."""
    if not options.perf:
        raise PageError(409, ANALYZER_OFF)
    perf = PerfOptions.from_trytond()
    entries = activation.active_users(perf, options.database)
    return {"max_capture": perf.max_capture, "profile": perf.profile, "active": entries}


def _user_id(database: str, login: str) -> int:
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    with Transaction().start(database, 0, readonly=True):
        users = Pool().get("res.user").search([("login", "=", login)], limit=1)
    if not users:
        raise PageError(404, f"no user with login {login!r} in database {database!r}")
    return users[0].id


def capture_on(options: ConsoleOptions, body: dict[str, Any]) -> dict[str, Any]:
    """Full capture of `login` for `duration` (bounded by perf.max_capture)."""
    if not options.perf:
        raise PageError(409, ANALYZER_OFF)
    login = _text(body, "login")
    try:
        seconds = parse_duration(str(body.get("duration", "30m")))
    except ValueError as exc:
        raise PageError(400, f"invalid duration: {exc}") from None
    perf = PerfOptions.from_trytond()
    try:
        activation.check_duration(perf, seconds)
    except PerfError as exc:
        raise PageError(400, str(exc)) from None
    uid = _user_id(options.database, login)
    return activation.enable_user(perf, options.database, uid, login, seconds)


def capture_off(options: ConsoleOptions, body: dict[str, Any]) -> dict[str, Any]:
    if not options.perf:
        raise PageError(409, ANALYZER_OFF)
    login = _text(body, "login")
    removed = activation.disable_users(PerfOptions.from_trytond(), options.database, login)
    return {"stopped": removed}


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise PageError(400, f"{key!r} is required (a non-empty string)")
    return value.strip()


# -- sessions ---------------------------------------------------------------------------------
def sessions(options: ConsoleOptions) -> dict[str, Any]:
    """Live sessions per user, from the store trytond uses (Redis or `ir_session`)."""
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    from tryton_ops.sessions import options as session_options

    with Transaction().start(options.database, 0, readonly=True):
        logins = {u.id: u.login for u in Pool().get("res.user").search([])}
        redis = session_options.from_trytond()
        if redis is None:
            return {"store": "database", "users": _database_sessions(logins)}
    return {"store": "redis", "users": _redis_sessions(redis, options.database, logins)}


def _database_sessions(logins: dict[int, str]) -> list[dict[str, Any]]:
    from trytond.pool import Pool

    by_user: dict[int, list] = defaultdict(list)
    for session in Pool().get("ir.session").search([]):
        by_user[session.create_uid.id].append(session)
    rows = []
    for uid, found in sorted(by_user.items()):
        rows.append(
            {
                "login": logins.get(uid, f"#{uid}"),
                "uid": uid,
                "sessions": len(found),
                "addresses": sorted({s.ip_address or "-" for s in found}),
                "newest_login": max(s.create_date.timestamp() for s in found),
                "last_activity": max((s.write_date or s.create_date).timestamp() for s in found),
            }
        )
    return rows


def _redis_sessions(redis, database: str, logins: dict[int, str]) -> list[dict[str, Any]]:
    from tryton_ops.sessions.admin import session_rows

    return _with_session_service(
        redis, lambda service: session_rows(service.store, database, logins)
    )


def kill_sessions(options: ConsoleOptions, body: dict[str, Any]) -> dict[str, Any]:
    """End every session of `login`: in the Redis store as `tryton-ops sessions kill` does,
    else through trytond's `ir.session.clear`; the user logs in again on the next call."""
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    from tryton_ops.sessions import options as session_options

    login = _text(body, "login")
    uid = _user_id(options.database, login)
    redis = session_options.from_trytond()
    if redis is not None:
        ended = _with_session_service(redis, lambda service: service.clear(options.database, [uid]))
    else:
        with Transaction().start(options.database, 0) as transaction:
            Session = Pool().get("ir.session")
            ended = Session.search_count([("create_uid", "=", uid)])
            Session.clear([uid])
            transaction.commit()
    return {"login": login, "uid": uid, "ended": ended, "at": time.time()}


def _with_session_service(redis, action):
    from tryton_ops.access.redis import RedisUnavailable
    from tryton_ops.sessions.service import SessionService
    from tryton_ops.sessions.store import SessionStore

    store = SessionStore(redis)
    try:
        return action(SessionService(store))
    except RedisUnavailable as exc:
        raise PageError(503, f"session store unavailable: {exc}") from None
    finally:
        store.close()


# -- the operator views, through the CLI -------------------------------------------------------
def cli_json(options: ConsoleOptions, *command: str) -> Any:
    """`tryton-ops -c <deployment's toml> <command> --json`, parsed; views stay out of trytond."""
    if not options.config_file:
        raise PageError(409, "the deployment has no tryton-ops.toml: status and doctor need one")
    argv = [sys.executable, "-m", "tryton_ops", "-c", options.config_file, *command, "--json"]
    from tryton_ops.deploy.local_stack import MARKER  # (it imports the client: not at start)

    # not trytond's settings of this worker, nor the stack marker (not a tryton-ops setting)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRYTOND_") and k != MARKER}
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=CLI_TIMEOUT_S, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        raise PageError(504, f"`{' '.join(command)}` took over {CLI_TIMEOUT_S} s") from None
    try:
        return json.loads(done.stdout)
    except ValueError:
        message = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        raise PageError(502, f"`tryton-ops {' '.join(command)}` failed: {message[0]}") from None


def system(options: ConsoleOptions) -> dict[str, Any]:
    """Processes, requests in flight, memory, caches, last backup (`status --json`)."""
    return cli_json(options, "status")


def doctor(options: ConsoleOptions) -> dict[str, Any]:
    """Known pitfalls of the deployment with severity and fix (`doctor --json`)."""
    return cli_json(options, "doctor")


def cache(options: ConsoleOptions) -> dict[str, Any]:
    """Hit ratios per cache and the Redis memory: the shared cache's counters (`cache stats`)
    when the cache is on Redis, else the workers' own caches as `status` sums them."""
    status = cli_json(options, "status")
    out: dict[str, Any] = {"summary": status.get("cache"), "redis": status.get("redis", [])}
    if (status.get("cache") or {}).get("source") == "redis":
        out["shared"] = cli_json(options, "cache", "stats")
    return out


def queue(options: ConsoleOptions) -> dict[str, Any]:
    """Pending and unfinished `ir.queue` tasks by name, last and next run of each cron job
    (`status --json`'s `jobs`)."""
    jobs = cli_json(options, "status").get("jobs") or {}
    if "error" in jobs:
        raise PageError(503, jobs["error"])
    return jobs
