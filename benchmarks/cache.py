"""RedisCache vs stock MemoryCache vs pure-Redis mode, side by side in one run (PostgreSQL).

    .venv/8.2/bin/python benchmarks/cache.py [--calls 50] [--rounds 12] [--fresh 5] [--pairs 500]
        [--accel]

For each setting, on its own copy of a `party` database on one private PostgreSQL:

- stack A: gunicorn with 2 sync workers; warmed up, then the warm throughput of
  `fields_view_get` (party form), `search_read` (5 parties) and `res.user.get_preferences` is
  measured with one client, `--calls` calls per round, best of `--rounds`; all stacks run at
  once and the rounds alternate between settings, so other load hits every setting alike (many
  short rounds: on a shared VM whole seconds run 30 % slower, and the best round is the one
  such a phase did not hit);
- stack B: 1 worker started while A is warm ("a freshly started worker, another worker already
  warm"); the time of its first `fields_view_get` of a set of views is measured, on `--fresh`
  successive new stacks B (median);
- `--pairs` write-then-read pairs: a write of an extension view of the party form through A,
  then `fields_view_get` through B (always another process); a read not showing the write just
  acknowledged is a stale read.

Settings: stock MemoryCache with `clean_timeout = 0` (NOTIFY) and with the default 300 s
(polling; stale reads only), RedisCache in pure-Redis mode (`l1 = false`, every lookup a round
trip) and RedisCache (L1 + L2). With `--accel`, every setting runs with the accelerators on
(the recommended production setting, as in benchmarks/deploy.py): trytond then caches the party
form itself and encodes responses in one shot, so the cache is a larger part of each call.
Sizes are small for a 2-core machine; not run in CI.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from tryton_ops.accel.registry import ACCELERATORS
from tryton_ops.testing.databases import DatabaseTemplates
from tryton_ops.testing.servers import PostgresServer, RedisServer
from tryton_ops.testing.stack import TestStack

ACCEL = dict.fromkeys(ACCELERATORS, True)  # every accelerator on
VIEWS = [
    ("party.party", "form"),
    ("party.party", "tree"),
    ("party.address", "form"),
    ("party.address", "tree"),
    ("party.contact_mechanism", "form"),
    ("party.category", "form"),
    ("party.identifier", "form"),
    ("res.user", "form"),
]
ARCH = (
    '<data><xpath expr="/form" position="inside">'
    '<separator id="ops_probe" string="v{version}"/></xpath></data>'
)
VERSION_RE = re.compile(r'string="v(\d+)"')

SETTINGS = {
    "stock clean_timeout=0": {"backend": "memory", "clean_timeout": 0},
    "stock clean_timeout=300": {"backend": "memory", "clean_timeout": 300},
    "pure Redis (no L1)": {"backend": "redis", "l1": False},
    "RedisCache": {"backend": "redis"},
}
OPS = {
    "fields_view_get": ("model.party.party.fields_view_get", None, "form", {}),
    "search_read": ("model.party.party.search_read", [], 0, 5, None, ["name"], {}),
    "get_preferences": ("model.res.user.get_preferences", False, {}),
}


def rate(conn, call: tuple, calls: int) -> float:
    began = time.perf_counter()
    for _ in range(calls):
        conn.call(*call)
    return calls / (time.perf_counter() - began)


def first_views(conn) -> float:
    began = time.perf_counter()
    for model, view_type in VIEWS:
        conn.call(f"model.{model}.fields_view_get", None, view_type, {})
    return time.perf_counter() - began


def probe_view(conn) -> int:
    (base,) = conn.call(
        "model.ir.ui.view.search",
        [("model", "=", "party.party"), ("type", "=", "form"), ("inherit", "=", None)],
        0,
        1,
        None,
        {},
    )
    (view_id,) = conn.call(
        "model.ir.ui.view.create",
        [{"model": "party.party", "inherit": base, "data": ARCH.format(version=0)}],
        {},
    )
    return view_id


def stale_reads(writer, reader, view_id: int, pairs: int) -> int:
    stale = 0
    for version in range(1, pairs + 1):
        writer.call("model.ir.ui.view.write", [view_id], {"data": ARCH.format(version=version)}, {})
        arch = reader.call("model.party.party.fields_view_get", None, "form", {})["arch"]
        match = VERSION_RE.search(arch)
        if not match or int(match.group(1)) != version:
            stale += 1
    return stale


class Setting:
    """One cache setting: its own database copy, Redis, warm stack A and fresh stacks B."""

    def __init__(self, templates, base: Path, name: str, cache: dict, accel: bool):
        self.name, self.cache = name, cache
        self.sections = {"accel": ACCEL} if accel else {}
        self.polling = cache.get("clean_timeout") == 300  # only its stale reads are measured
        self.redis = None
        self.stack_b: TestStack | None = None
        if cache["backend"] == "redis":
            self.redis = RedisServer().start()
            self.cache = {**cache, "redis_uri": self.redis.uri, "commit_lease": 1}
        slug = re.sub(r"\W+", "-", name)
        self.database = templates.copy("postgresql", ("party",), base / slug)
        self.stack_a = TestStack(self.database, workers=2, cache=self.cache, **self.sections)
        self.stack_a.start()
        time.sleep(1.2)  # a new Redis namespace is trusted after commit_lease
        self.conn_a = self.stack_a.connect()
        self.view_id = probe_view(self.conn_a)
        for _ in range(10):  # both workers warm
            first_views(self.conn_a)
            for call in OPS.values():
                self.conn_a.call(*call)
        self.result: dict = {"firsts": []}

    def fresh_worker(self):
        """A new stack B (1 worker) while A is warm; returns its admin session."""
        if self.stack_b is not None:
            self.stack_b.stop()
        self.stack_b = TestStack(self.database, workers=1, cache=self.cache, **self.sections)
        self.stack_b.start()
        return self.stack_b.connect()

    def stop(self) -> None:
        for stack in (self.stack_b, self.stack_a):
            if stack is not None:
                stack.stop()
        if self.redis is not None:
            self.redis.destroy()


def run(settings: list[Setting], args) -> None:
    """Timed phases interleave the settings, so load from elsewhere hits them alike."""
    timed = [s for s in settings if not s.polling]
    for round_ in range(args.rounds):
        for setting in timed if round_ % 2 == 0 else timed[::-1]:
            for op, call in OPS.items():
                best = setting.result.get(op, 0.0)
                setting.result[op] = max(best, rate(setting.conn_a, call, args.calls))
    for round_ in range(args.fresh):
        for setting in timed if round_ % 2 == 0 else timed[::-1]:
            conn_b = setting.fresh_worker()
            setting.result["firsts"].append(first_views(conn_b))
            if round_ == args.fresh - 1:
                setting.result["warm views (s)"] = first_views(conn_b)
    for setting in settings:
        print(f"... stale reads, {setting.name}", flush=True)
        conn_b = setting.fresh_worker() if setting.stack_b is None else setting.stack_b.connect()
        pairs = min(args.pairs, 100) if setting.polling else args.pairs
        setting.result["stale reads"] = stale_reads(setting.conn_a, conn_b, setting.view_id, pairs)
        setting.result["pairs"] = pairs
        if setting.result["firsts"]:
            setting.result["first views (s)"] = statistics.median(setting.result["firsts"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--fresh", type=int, default=5, help="fresh workers measured (median)")
    parser.add_argument("--pairs", type=int, default=500)
    parser.add_argument("--accel", action="store_true", help="accelerators on in every setting")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="cache-bench-"))
    postgres = PostgresServer().start()
    settings: list[Setting] = []
    try:
        templates = DatabaseTemplates(base / "templates", postgres=lambda: postgres)
        for name, cache in SETTINGS.items():
            print(f"... starting {name}", flush=True)
            settings.append(Setting(templates, base, name, cache, args.accel))
        run(settings, args)
    finally:
        for setting in settings:
            setting.stop()
        postgres.destroy()
        shutil.rmtree(base, ignore_errors=True)
    report({s.name: s.result for s in settings})


def report(results: dict) -> None:
    names = list(results)
    rows = ["fields_view_get", "search_read", "get_preferences", "first views (s)"]
    rows += ["warm views (s)", "stale reads", "pairs"]
    width = max(len(n) for n in names) + 2
    print(f"\n{'':18}" + "".join(n.rjust(width) for n in names))
    for row in rows:
        cells = []
        for name in names:
            value = results[name].get(row)
            cells.append(
                (
                    "-"
                    if value is None
                    else f"{value:.3f}"
                    if isinstance(value, float)
                    else str(value)
                ).rjust(width)
            )
        label = row if row.endswith(("(s)", "reads", "pairs")) else f"{row} /s"
        print(f"{label:18}" + "".join(cells))
    stock, pure, redis = (
        results["stock clean_timeout=0"],
        results["pure Redis (no L1)"],
        results["RedisCache"],
    )
    print("\nratios")
    for op in OPS:
        print(f"  {op}: RedisCache / stock = {redis[op] / stock[op]:.2f}x")
    print(
        "  first views in a fresh worker: stock / RedisCache = "
        f"{stock['first views (s)'] / redis['first views (s)']:.1f}x faster"
    )
    print(
        "  fields_view_get: RedisCache / pure Redis = "
        f"{redis['fields_view_get'] / pure['fields_view_get']:.2f}x"
    )
    for name in names:
        print(f"  stale reads, {name}: {results[name]['stale reads']} / {results[name]['pairs']}")


if __name__ == "__main__":
    main()
