"""The per-request collector: the SQL hook and the middleware report into it.

The request path only counts and appends; shapes, tables, N+1 findings and serialization are
computed later by the store's background thread (`records.finish`). One collector lives in a
context variable for the duration of one WSGI request, so statements from every transaction
the RPC opens (session check, the call itself, retries, session reset) are counted.
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Callable
from time import perf_counter

from tryton_ops.perf.stack import app_stack

current: contextvars.ContextVar[Collector | None] = contextvars.ContextVar(
    "tryton_ops_perf_collector", default=None
)


class Collector:
    """What one request did in SQL; `full` adds every statement with its timing."""

    __slots__ = (
        "before_full",
        "caches",
        "error",
        "full",
        "full_uid",
        "max_statements",
        "on_user",
        "profile",
        "sampling",
        "slow",
        "slow_s",
        "sql_count",
        "sql_time",
        "stack_s",
        "started",
        "statements",
        "stats",
        "track_user",
        "transactions",
        "truncated",
        "user",
    )

    def __init__(
        self,
        full: bool = False,
        slow_sql_ms: float = 1000,
        stack_ms: float = 10,
        max_statements: int = 2000,
    ) -> None:
        self.started = perf_counter()
        self.full = full
        self.slow_s = slow_sql_ms / 1000
        self.stack_s = stack_ms / 1000
        self.max_statements = max_statements
        self.sql_count = 0
        self.sql_time = 0.0
        self.transactions = 0
        # raw SQL text -> [count, seconds]; shapes are derived off the request path
        self.stats: dict[str, list] = {}
        self.statements: list[tuple] = []
        self.slow: list[tuple] = []
        self.truncated = 0
        self.error: str | None = None
        # cache name -> [hits, misses], reported by the counting cache classes (cache_hooks)
        self.caches: dict[str, list[int]] = {}
        # full capture with [perf] profile: the finished pyinstrument session, or why none
        self.profile = None
        # REST calls: no session names the user; the SQL they run tells it (`note_user`)
        self.track_user = False
        self.user: int | None = None
        # REST calls while some user is under full capture: called once with the verified user
        self.on_user: Callable[[Collector, int], None] | None = None
        # the user whose verification switched full capture on mid-call, and the statements
        # run before (the key check: counted in the summary, not detailed)
        self.full_uid: int | None = None
        self.before_full = 0
        # a profiler started mid-call (at the verification), stopped by the middleware
        self.sampling = None

    def on_connection(self) -> None:
        self.transactions += 1

    def on_sql(self, sql: str, started: float, elapsed: float, rows: int) -> None:
        if self.track_user:
            self.note_user()
        self.sql_count += 1
        self.sql_time += elapsed
        entry = self.stats.get(sql)
        if entry is None:
            self.stats[sql] = [1, elapsed]
        else:
            entry[0] += 1
            entry[1] += elapsed
        stack = None
        if elapsed >= self.slow_s:
            stack = app_stack(3)
            self.slow.append((sql, elapsed, stack))
        if self.full:
            if len(self.statements) >= self.max_statements:
                self.truncated += 1
                return
            if stack is None and elapsed >= self.stack_s:
                stack = app_stack(3)
            self.statements.append((started - self.started, elapsed, sql, rows, stack))

    def note_user(self) -> None:
        """The first user the call's trytond transaction runs as (read only: never start one).

        A REST transaction starts as user 0 and checks the application key as such; trytond
        switches it to the key's user only once the key is valid, so the first non-zero user
        is the verified one. Later switches (code running as root or another user for a
        moment) do not change whose call it is; tracking stops there.
        """
        module = sys.modules.get("trytond.transaction")
        transactions = module.Transaction._local.transactions if module is not None else ()
        if transactions and transactions[-1].user:
            self.user = transactions[-1].user
            self.track_user = False
            if self.on_user is not None:
                self.on_user(self, self.user)

    def start_full(self, uid: int) -> None:
        """Detail every statement from now on: the call's user `uid` was verified mid-call."""
        self.full = True
        self.full_uid = uid
        self.before_full = self.sql_count

    def on_cache(self, name: str, hit: bool) -> None:
        if self.track_user:  # a call doing no SQL once verified still learns its user
            self.note_user()
        entry = self.caches.get(name)
        if entry is None:
            entry = self.caches[name] = [0, 0]
        entry[0 if hit else 1] += 1

    def on_exception(self, exc: BaseException) -> None:
        self.error = type(exc).__name__
