"""What the performance analyzer costs: stock trytond vs analyzer (summary for everyone) vs
analyzer (full capture for the benchmark user) vs full capture with a sampling profile
(pyinstrument), same workload, in one run, side by side.

    .venv/8.2/bin/python benchmarks/perf_overhead.py [--backend sqlite|postgresql]
        [--seconds 5] [--rounds 3]

Four gunicorn stacks (1 sync worker each) serve copies of the same `party` database. A single
client runs the workload (search_read, read, write, fields_view_get) against each stack in
turn, for `--seconds` per stack per round; rounds interleave the stacks so that machine noise
hits all of them alike. Prints calls/s per setting and the ratios to stock.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from tryton_ops.perf import activation
from tryton_ops.testing.databases import DatabaseTemplates
from tryton_ops.testing.servers import PostgresServer
from tryton_ops.testing.stack import TestStack

SETTINGS = {
    "stock": {"enabled": False},
    "summary": {"enabled": True},
    "full capture": {"enabled": True},
    "full + profile": {"enabled": True, "profile": True},
}


def workload(conn, ids: list[int], counter: list[int]) -> None:
    conn.call("model.party.party.search_read", [], 0, 20, None, ["name", "code"], {})
    conn.call("model.party.party.read", ids, ["name", "code", "addresses"], {})
    conn.call("model.party.party.write", ids[:1], {"name": f"bench {counter[0]}"}, {})
    conn.call("model.party.party.fields_view_get", None, "form", {})
    counter[0] += 4


def run(backend: str, seconds: float, rounds: int) -> None:
    base = Path(tempfile.mkdtemp(prefix="perf-bench-"))
    postgres = None

    def get_postgres():
        nonlocal postgres
        if postgres is None:
            postgres = PostgresServer().start()
        return postgres

    stacks: dict[str, TestStack] = {}
    try:
        templates = DatabaseTemplates(base / "templates", postgres=get_postgres)
        for name, perf in SETTINGS.items():
            folder = name.replace(" ", "-").replace("+", "and")
            database = templates.copy(backend, ("party",), base / folder)
            stack = TestStack(database, workers=1, perf=perf)
            stacks[name] = stack.start()
        connections = {name: stack.connect() for name, stack in stacks.items()}
        for name in ("full capture", "full + profile"):
            activation.enable(stacks[name].config, "admin", 3600)
        ids = {}
        for name, conn in connections.items():
            values = [{"name": f"party {i}"} for i in range(20)]
            ids[name] = conn.call("model.party.party.create", values, {})
            workload(conn, ids[name], [0])  # warm caches
        time.sleep(2)  # the workers poll the activation about once a second
        rates: dict[str, list[float]] = {name: [] for name in stacks}
        for round_ in range(rounds):
            for name, conn in connections.items():
                counter = [0]
                started = time.perf_counter()
                while time.perf_counter() - started < seconds:
                    workload(conn, ids[name], counter)
                rates[name].append(counter[0] / (time.perf_counter() - started))
            print(
                f"round {round_ + 1}: " + ", ".join(f"{n} {r[-1]:.0f}/s" for n, r in rates.items())
            )
        stock = statistics.median(rates["stock"])
        print(
            f"\nbackend {backend}, {rounds} rounds x {seconds:.0f} s per setting, median calls/s:"
        )
        for name, values in rates.items():
            rate = statistics.median(values)
            print(f"  {name:<14} {rate:8.1f} calls/s   ratio to stock {rate / stock:6.3f}")
    finally:
        for stack in stacks.values():
            with contextlib.suppress(Exception):
                stack.stop()
        if postgres is not None:
            postgres.destroy()
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    run(args.backend, args.seconds, args.rounds)


if __name__ == "__main__":
    main()
