"""Stock (ir_session table) vs Redis sessions: authenticated search_read throughput, one run.

    .venv/8.2/bin/python benchmarks/sessions.py [--backend postgresql] [--calls 300] [--rounds 5]

Two stacks run at once, each gunicorn with 2 sync workers on its own copy of a database with
`party` and `ops_session` activated and 20 parties: one with `sessions.store = "database"`
(trytond's own sessions), one with `sessions.store = "redis"` on a private Redis. Each stack is
warmed up, then 2 client threads (one per worker) call `party.party.search_read` (10 parties,
name) `--calls` times each, with the session of one login per thread; throughput is the best
of `--rounds`, the rounds alternate between the stacks so that other load hits both alike.
Sizes are small for a 2-core machine; not run in CI.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from pathlib import Path

from tryton_ops.testing.databases import DatabaseTemplates
from tryton_ops.testing.servers import PostgresServer, RedisServer
from tryton_ops.testing.stack import TestStack

MODULES = ("party", "ops_session")
SEARCH_READ = ("model.party.party.search_read", [], 0, 10, None, ["name"], {})
CLIENTS = 2


def throughput(stack: TestStack, calls: int) -> float:
    """Calls per second of CLIENTS threads, each with its own session."""
    conns = [stack.connect() for _ in range(CLIENTS)]
    barrier = threading.Barrier(CLIENTS + 1)

    def work(conn):
        barrier.wait()
        for _ in range(calls):
            conn.call(*SEARCH_READ)

    threads = [threading.Thread(target=work, args=(c,)) for c in conns]
    for thread in threads:
        thread.start()
    barrier.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    for conn in conns:
        conn.close()
    return CLIENTS * calls / elapsed


def start(templates, base: Path, backend: str, name: str, sessions: dict, redis) -> TestStack:
    database = templates.copy(backend, MODULES, base / name)
    extra = {"redis": {"uri": redis.uri}} if redis else {}
    stack = TestStack(database, workers=2, sessions=sessions, **extra).start()
    admin = stack.connect()
    if not admin.call("model.party.party.search_count", [], {}):
        admin.call("model.party.party.create", [{"name": f"p{i}"} for i in range(20)], {})
    throughput(stack, 20)  # both workers warm
    return stack


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--calls", type=int, default=300, help="calls per client and round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="sessions-bench-"))
    postgres = PostgresServer().start() if args.backend == "postgresql" else None
    redis = RedisServer().start()
    stacks: dict[str, TestStack] = {}
    try:
        templates = DatabaseTemplates(base / "templates", postgres=lambda: postgres)
        for name, sessions, server in (
            ("stock sessions", {"store": "database"}, None),
            ("Redis sessions", {"store": "redis"}, redis),
        ):
            print(f"... starting {name}", flush=True)
            stacks[name] = start(templates, base, args.backend, name.split()[0], sessions, server)
        best = dict.fromkeys(stacks, 0.0)
        for round_ in range(args.rounds):
            order = list(stacks) if round_ % 2 == 0 else list(stacks)[::-1]
            for name in order:
                best[name] = max(best[name], throughput(stacks[name], args.calls))
    finally:
        for stack in stacks.values():
            stack.stop()
        redis.destroy()
        if postgres is not None:
            postgres.destroy()
        shutil.rmtree(base, ignore_errors=True)
    print(f"\n{args.backend}, 2 workers, {CLIENTS} clients, best of {args.rounds} rounds")
    for name, value in best.items():
        print(f"  {name:15} search_read {value:8.1f} calls/s")
    ratio = best["Redis sessions"] / best["stock sessions"]
    print(f"ratio Redis / stock: {ratio:.2f}x")


if __name__ == "__main__":
    main()
