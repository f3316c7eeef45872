"""The sizing table: capacity in users of stock trytond vs tryton-ops, same workload, one run.

    .venv/8.0/bin/python benchmarks/capacity.py [--scale 1] [--duration 20s] [--think exp:5]
        [--users 2] [--growth 1.5] [--max-users 200] [--refine 1] [--rounds 1] [--repeats 3]
        [--settings stock-own,stock-gunicorn,ours,ours-no-analyzer] [--data-cache FILE] [-o DIR]
        [--settings ...,stock-gunicorn-gthread,ours-gthread] [--cost-from DIR]
        [--saturation SECONDS [--saturation-only]]

One private PostgreSQL and Redis; one database made by `db init` with the workload's modules
(and `ops_session`, which the Redis sessions need; with `sessions.store = "database"` it leaves
trytond's own sessions alone) and `demo load --scale N`, kept as a dump and restored before
each setting (the runs create sales and post invoices: no setting gets a bigger database than
another). Then, one at a time, each setting serves it while simulated users replay the
shipped scenarios (sao's RPC calls, every scenario weight 1 unless `--mix`) and the capacity
finder steps the users up until a target is broken
(p95 of read steps <= 500 ms, of saving steps <= 1.5 s, errors <= 0.1 %; `--target-*`):

- `stock-own`: trytond's own server (`trytond -c trytond.conf -d DB`: werkzeug, threads);
- `stock-gunicorn`: stock trytond behind gunicorn with the usual settings: `gunicorn -w
  2*cores+1 trytond.application:app` (sync workers), nothing of tryton-ops;
- `ours`: the tryton-ops recommended setting: `tryton-ops up` with gunicorn workers
  (`--workers`, default 2*cores+1) behind nginx, the Redis cache, Redis sessions, the
  performance analyzer in summary mode and the accelerators, measured through nginx;
- `ours-no-analyzer`: the same without the analyzer (what its summary mode costs);
- `stock-gunicorn-gthread`, `ours-gthread`: the two gunicorn settings with gthread workers
  (cores + 1 workers x 4 threads, not a default): a long call (posting an invoice holds a sync
  worker for seconds) no longer holds a whole worker. Not run unless named in `--settings`.

Each server first gets `--prewarm` seconds of load (2 x workers users, not measured) so
that every worker's caches are warm: otherwise the first steps of a many-worker setting
measure cold workers and a one-process server looks better than it is.

The Redis settings start from an empty Redis each (flushed), so that the order of the settings
does not matter, and their prewarm starts only once the cache namespace is trusted: a new
namespace is *young* for `[cache] commit_lease` (60 s) and shares no value between
transactions meanwhile (docs/cache.md), which halves throughput. Without this, the first Redis
setting of a run (`ours`) was measured inside that window and looked like a 93 % analyzer cost.

With `--rounds 2` or more, the settings run again in the reverse order (other load on the
machine hits each alike); the capacity of a setting is the median over rounds. Printed per
setting: capacity (users at the think time), p50/p95 of read and saving steps at that
capacity, the knee, resident memory per worker (RSS and USS, sampled at the end of the sweep),
the generator's CPU per 100 users; then the ratios to the targets of issue 15. Load average
is printed before and after: on a shared machine the figures are lower bounds.

With `--saturation SECONDS`, each setting is also measured at saturation after its prewarm
(`capacity.saturation`: 3 users per `--workers`, no think time; `--repeats` measurements),
and `--saturation-only` skips the sweep. Throughput there tells settings a few per cent apart,
which capacities on a 1.5x grid cannot: the analyzer's cost is measured so, with
`--settings ours,ours-no-analyzer --rounds 4` (the rounds alternate the order, and each
round's pair gives one figure of the cost; printed: their median and each of them).

Needs the 8.0 series (the shipped scenarios are recorded from sao 8.0). Not run in CI.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tryton_ops.accel.registry import ACCELERATORS
from tryton_ops.access.redis import connect
from tryton_ops.capacity import capacity_search, loadtest, saturation, workload
from tryton_ops.capacity.capacity_search import Sweep, Targets
from tryton_ops.capacity.modules import MODULES
from tryton_ops.capacity.plan import ThinkTime, available_scenarios, parse_mix, select
from tryton_ops.capacity.safety import check_series, server_series
from tryton_ops.capacity.users import Workload
from tryton_ops.config.durations import parse_duration
from tryton_ops.config.redis_spec import RedisSpec
from tryton_ops.config.trytond_conf import trytond_env
from tryton_ops.errors import OpsError
from tryton_ops.testing.databases import DatabaseTemplates, TestDatabase
from tryton_ops.testing.processes import ManagedProcess, free_port, port_open
from tryton_ops.testing.servers import PostgresServer, RedisServer
from tryton_ops.testing.stack import TestStack

sys.path.insert(0, str(Path(__file__).parent))
import data_cache

from deploy import start_stock  # trytond's own server, as benchmarks/deploy.py starts it

CORES = psutil.cpu_count() or 2
SETTINGS = ("stock-own", "stock-gunicorn", "ours", "ours-no-analyzer")
ACCEL = dict.fromkeys(ACCELERATORS, True)


@dataclass
class Server:
    """A running setting: where to send the users, what to sample, how to stop it."""

    url: str
    ports: dict[str, int]
    workers: Callable[[], list[psutil.Process]]
    stop: Callable[[], object]
    # seconds after the first request before the shared cache is used (young namespace)
    young_s: float = 0.0


@dataclass
class Outcome:
    setting: str
    rounds: list[capacity_search.CapacityResult] = field(default_factory=list)
    memory: list[dict] = field(default_factory=list)
    # per round, its measurements at saturation (capacity.saturation.throughput)
    saturation: dict[int, list[dict]] = field(default_factory=dict)


# --- the settings -----------------------------------------------------------------------------


def _port(url: str) -> int:
    return int(url.rstrip("/").rsplit(":", 1)[1])


def stock_own(db: TestDatabase, base: Path, **_) -> Server:
    process = start_stock(db, base)
    return Server(
        url=process.url,
        ports={"app": _port(process.url)},
        workers=lambda: [psutil.Process(process.pid)],
        stop=process.stop,
    )


def stock_gunicorn(db: TestDatabase, base: Path, workers: int, threads: int = 1, **_) -> Server:
    port = free_port()
    env = trytond_env(db.config, TRYTOND_DATABASE_NAMES=db.name)
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    argv = [gunicorn, "-w", str(workers), "-b", f"127.0.0.1:{port}", "--timeout", "120"]
    argv += ["--threads", str(threads)]  # more than 1: gunicorn's gthread workers
    process = ManagedProcess(
        name="gunicorn-stock",
        argv=[*argv, "trytond.application:app"],
        ready=lambda: port_open("127.0.0.1", port),
        log_path=base / f"gunicorn-stock-{port}.log",
        env=env,
        start_timeout=120,
    ).start()
    return Server(
        url=f"http://127.0.0.1:{port}/",
        ports={"app": port},
        workers=lambda: psutil.Process(process.pid).children(),
        stop=process.stop,
    )


def ours(
    db: TestDatabase, base: Path, workers: int, redis, analyzer: bool = True, threads: int = 1, **_
) -> Server:
    # every Redis setting starts alike (empty shared cache and sessions), whatever ran before
    connect(RedisSpec(redis.uri)).flushall()
    front = {
        "enabled": "on",
        "listen": f"127.0.0.1:{free_port()}",
        "rpc_rate_per_second": 1_000_000,  # one client address: no rate limits
        "login_rate_per_minute": 100_000,
    }
    sections = {
        "front": front,
        "redis": {"uri": redis.uri},
        "cache": {"backend": "redis"},
        "sessions": {"store": "redis"},
        "perf": {"enabled": analyzer, "store": "redis"},
        "accel": ACCEL,
    }
    stack = TestStack(db, workers=workers, threads=threads, **sections).start()
    app_port = stack.config.settings.server.port
    return Server(
        url=stack.url,
        ports={
            "app": app_port,
            "nginx": _port(stack.url),
            "redis": redis.port,
        },
        workers=lambda: [psutil.Process(pid) for pid in stack.worker_pids()],
        stop=stack.stop,
        young_s=stack.config.settings.cache.commit_lease,
    )


GTHREAD = {"workers": CORES + 1, "threads": 4}  # a worker is not held by one long call

STARTERS = {
    "stock-own": stock_own,
    "stock-gunicorn": stock_gunicorn,
    "stock-gunicorn-gthread": lambda *a, **k: stock_gunicorn(*a, **(k | GTHREAD)),
    "ours": ours,
    "ours-gthread": lambda *a, **k: ours(*a, **(k | GTHREAD)),
    "ours-no-analyzer": lambda *a, **k: ours(*a, analyzer=False, **k),
}


# --- measuring --------------------------------------------------------------------------------


def memory_per_worker(processes: list[psutil.Process]) -> dict:
    rss, uss = [], []
    for process in processes:
        try:
            info = process.memory_full_info()
        except psutil.Error:
            continue
        rss.append(info.rss / 2**20)
        uss.append(info.uss / 2**20)
    return {
        "workers": len(rss),
        "rss_mib": round(statistics.mean(rss), 1) if rss else None,
        "uss_mib": round(statistics.mean(uss), 1) if uss else None,
    }


def wait_answering(url: str, timeout: float = 300.0) -> str:
    """The server's series once it answers (gunicorn's workers load trytond after the port
    opens; on a busy machine that takes a while)."""
    deadline = time.time() + timeout
    while True:
        try:
            return server_series(url, timeout=20)
        except OpsError:
            if time.time() > deadline:
                raise
            time.sleep(2)


def measure(setting: str, server: Server, work: Workload, sweep: Sweep, args, pg_port: int):
    check_series(wait_answering(server.url.rstrip("/")), [s for s, _ in work.scenarios])
    plan = loadtest.LoadRun(
        url=server.url.rstrip("/"),
        workload=work,
        users=sweep.start,
        spawn_rate=args.spawn_rate,
        duration=parse_duration(args.duration),
        cpu_ports=server.ports | {"postgresql": pg_port},
        warmup=sweep.warmup,
    )

    def progress(result, broken) -> None:
        verdict = "ok" if not broken else "; ".join(broken)
        print(
            f"  {setting:<17} {result.users:>4} users  read p95 {result.read_p95_ms}  "
            f"save p95 {result.save_p95_ms}  err {result.error_rate:.2%}  {verdict}",
            flush=True,
        )

    # the first transaction creates the cache namespace, trusted `young_s` later: the
    # requested prewarm runs after that
    prewarm = args.prewarm + server.young_s + 1 if server.young_s else args.prewarm
    if prewarm:  # every worker's caches (views, access, pool) warm before any step
        warm = dataclasses.replace(
            plan, users=2 * args.workers, duration=prewarm, warmup=None, spawn_rate=50
        )
        loadtest.run(warm)
    measurements = args.repeats if args.saturation else 0
    saturated = [saturate(setting, plan, args) for _ in range(measurements)]
    found = None
    if not args.saturation_only:
        found = sweep.run(capacity_search.locust_run_at(plan, keep_step(setting, args)), progress)
    return found, memory_per_worker(server.workers()), saturated


def saturate(setting: str, plan: loadtest.LoadRun, args) -> dict:
    """The setting's throughput at saturation (the same users for every setting: 3 per
    --workers), with the CPU per call of the app and Redis, the cost that settings differ by."""
    plan = saturation.saturating(plan, args.workers, args.saturation)
    results = loadtest.run(plan)
    keep_step(setting, args, "saturation")(plan.users, results)
    found = saturation.throughput(results)
    per_call = found["cpu_ms_per_call"]
    found["app_redis_ms_per_call"] = round(
        (per_call.get("app") or 0.0) + (per_call.get("redis") or 0.0), 2
    )
    print(
        f"  {setting:<17} saturated, {found['users']} users: {found['calls_per_s']} calls/s, "
        f"{found['steps_per_s']} steps/s, {found['app_redis_ms_per_call']} ms app+Redis CPU "
        f"per call, {found['errors']} errors",
        flush=True,
    )
    return found


def keep_step(setting: str, args, folder: str = "steps") -> Callable[[int, dict], None]:
    """Each step's full results (per method, the failed calls' messages) as a file under
    `-o DIR/steps/` (saturation measurements: `-o DIR/saturation/`), and the failures printed:
    an error rate alone does not say whose."""

    def keep(users: int, results: dict) -> None:
        for error in results["errors"]:
            print(f"    {error['count']} x {error['name']}: {error['error'][:300]}", flush=True)
        if args.output:
            steps = args.output / folder
            steps.mkdir(parents=True, exist_ok=True)
            taken = len(list(steps.glob(f"{setting}-users-{users:04d}*.json")))
            name = f"{setting}-users-{users:04d}{f'-{taken + 1}' if taken else ''}.json"
            (steps / name).write_text(json.dumps(results, default=str))

    return keep


# --- report -----------------------------------------------------------------------------------


def at_capacity(result: capacity_search.CapacityResult):
    """The step that set the capacity (measured more than once: the median passing one)."""
    sized = [s for s in result.steps if s.users == result.capacity]
    passing = [s for s in sized if result.passed(s)]
    if not passing:
        return sized[0] if sized else None
    return capacity_search.median_measurement(passing, result.targets)


def _kind_ms(step, kind: str, p: str) -> str:
    if step is None:
        return "-"
    value = step.details.get("kinds", {}).get(kind, {}).get(p)
    return "-" if value is None else f"{value:.0f}"


def summary_rows(outcomes: dict[str, Outcome], strict: Targets | None = None) -> list[dict]:
    rows = []
    for setting, outcome in outcomes.items():
        capacities = [r.capacity for r in outcome.rounds]
        best = max(outcome.rounds, key=lambda r: r.capacity)
        step = at_capacity(best)
        generator = None
        if step and step.users:
            generator = round(step.cpu.get("generator", 0.0) * 100 / step.users, 1)
        memory = outcome.memory[-1] if outcome.memory else {}
        rows.append(
            {
                "setting": setting,
                "capacity_users": statistics.median(capacities),
                **(
                    {
                        "strict_capacity_users": statistics.median(
                            [r.under(strict) for r in outcome.rounds]
                        )
                    }
                    if strict
                    else {}
                ),
                "rounds": capacities,
                "reached_max": any(r.reached_max for r in outcome.rounds),
                "limited_by": list(best.limited_by),
                "knee_users": best.knee_users,
                "read_p50_ms": _kind_ms(step, "read", "p50_ms"),
                "read_p95_ms": _kind_ms(step, "read", "p95_ms"),
                "save_p50_ms": _kind_ms(step, "save", "p50_ms"),
                "save_p95_ms": _kind_ms(step, "save", "p95_ms"),
                "calls_per_s": step.calls_per_s if step else None,
                "app_cpu_pct": step.cpu.get("app") if step else None,
                "generator_pct_per_100_users": generator,
                **{f"memory_{k}": v for k, v in memory.items()},
                "steps": best.to_json()["steps"],
            }
        )
    return rows


def print_table(rows: list[dict]) -> None:
    print(
        f"\n{'setting':<18}{'users':>7}{'rounds':>12}{'read p50/p95':>15}{'save p50/p95':>15}"
        f"{'knee':>6}{'calls/s':>9}{'worker MiB rss/uss':>20}{'gen %/100u':>11}"
    )
    for r in rows:
        cap = f"{'>=' if r['reached_max'] else ''}{r['capacity_users']:g}"
        mem = f"{r.get('memory_rss_mib')}/{r.get('memory_uss_mib')} x{r.get('memory_workers')}"
        print(
            f"{r['setting']:<18}{cap:>7}{r['rounds']!s:>12}"
            f"{r['read_p50_ms'] + '/' + r['read_p95_ms']:>15}"
            f"{r['save_p50_ms'] + '/' + r['save_p95_ms']:>15}{r['knee_users'] or '-'!s:>6}"
            f"{r['calls_per_s'] or 0:>9.1f}{mem:>20}{r['generator_pct_per_100_users']!s:>11}"
        )
        print(f"{'':<18}limited by: {'; '.join(r['limited_by']) or 'no target broken'}")
        if "strict_capacity_users" in r:
            print(f"{'':<18}at the issue's targets: {r['strict_capacity_users']:g} users")


def cpu_ms_per_call(steps: list[capacity_search.LoadResult]) -> float | None:
    """CPU of the app workers and Redis per RPC call over `steps` (ms of one core)."""
    calls = sum(s.calls_per_s for s in steps)
    busy = sum(s.cpu.get("app", 0.0) + s.cpu.get("redis", 0.0) for s in steps)
    return busy * 10 / calls if calls else None  # % of a core / (calls/s) -> ms per call


Passing = dict[str, dict[int, list[capacity_search.LoadResult]]]  # setting -> users -> steps


def passing_steps(outcomes: dict[str, Outcome]) -> Passing:
    found: Passing = {}
    for setting, outcome in outcomes.items():
        for result in outcome.rounds:
            for step in result.steps:
                if result.passed(step):
                    found.setdefault(setting, {}).setdefault(step.users, []).append(step)
    return found


def kept_passing_steps(steps_dir: Path, targets: Targets) -> Passing:
    """The same from a run's `-o DIR/steps/` files (`--cost-from DIR`)."""
    found: Passing = {}
    for path in sorted(steps_dir.glob("*-users-*.json")):
        setting, _, rest = path.stem.rpartition("-users-")
        users = int(rest.split("-")[0])
        step = capacity_search.LoadResult.from_results(users, json.loads(path.read_text()))
        if not targets.broken(step):
            found.setdefault(setting, {}).setdefault(users, []).append(step)
    return found


def analyzer_cpu_cost(passing: Passing) -> str | None:
    """The analyzer's cost as CPU per call at the same numbers of users, over every step that
    met the targets with and without it: finer than capacities a grid step apart."""
    on, off = passing.get("ours", {}), passing.get("ours-no-analyzer", {})
    users = sorted(on.keys() & off.keys())
    with_it = cpu_ms_per_call([s for u in users for s in on[u]])
    without = cpu_ms_per_call([s for u in users for s in off[u]])
    if not (with_it and without):
        return None
    return (
        f"{with_it / without - 1:+.1%} ({with_it:.2f} vs {without:.2f} ms of CPU per call, "
        f"app + Redis, at {users} users)"
    )


def ratios(rows: list[dict], outcomes: dict[str, Outcome]) -> dict:
    by = {r["setting"]: r["capacity_users"] for r in rows}
    out = {}

    def ratio(a: str, b: str):
        if a not in by or b not in by:
            return None
        if by[b]:
            return round(by[a] / by[b], 2)
        if not by[a]:
            return None
        # b broke its first step: its capacity is below that step, the ratio above a bound
        first = min(step.users for result in outcomes[b].rounds for step in result.steps)
        return f"> {by[a] / first:.2f} ({b} broke its first step, {first} users: start lower)"

    out["ours / stock-own (target >= 2)"] = ratio("ours", "stock-own")
    out["ours / stock-gunicorn (target >= 1.5)"] = ratio("ours", "stock-gunicorn")
    out["ours-gthread / stock-own"] = ratio("ours-gthread", "stock-own")
    out["ours-gthread / stock-gunicorn-gthread"] = ratio("ours-gthread", "stock-gunicorn-gthread")
    ours_best = max((by[s] for s in ("ours", "ours-gthread") if s in by), default=None)
    stock_best = max((by[s] for s in ("stock-gunicorn", "stock-gunicorn-gthread") if s in by),
                     default=None)  # fmt: skip
    if ours_best is not None and stock_best:
        out["best of ours / best stock gunicorn (tuned)"] = round(ours_best / stock_best, 2)
    out = {name: value for name, value in out.items() if value is not None}
    if "ours" in by and "ours-no-analyzer" in by and by["ours-no-analyzer"]:
        cost = 1 - by["ours"] / by["ours-no-analyzer"]
        out["analyzer summary cost (target <= 3 %)"] = f"{cost:.1%}"
    cpu_cost = analyzer_cpu_cost(passing_steps(outcomes))
    if cpu_cost:
        out["analyzer summary cost in CPU per call"] = cpu_cost
    strict = {r["setting"]: r.get("strict_capacity_users") for r in rows}
    if strict.get("ours") is not None and strict.get("stock-own"):
        out["at the issue's targets: ours / stock-own"] = round(
            strict["ours"] / strict["stock-own"], 2
        )
    if strict.get("ours") is not None and strict.get("stock-gunicorn"):
        out["at the issue's targets: ours / stock-gunicorn"] = round(
            strict["ours"] / strict["stock-gunicorn"], 2
        )
    gens = [r["generator_pct_per_100_users"] for r in rows if r["generator_pct_per_100_users"]]
    if gens:
        out["generator % of a core per 100 users (target <= 50)"] = max(gens)
    return out


def saturation_rows(outcomes: dict[str, Outcome]) -> list[dict]:
    """Per setting: the median and the range of its saturation measurements (every round)."""
    rows = []
    for setting, outcome in outcomes.items():
        each = [m for measured in outcome.saturation.values() for m in measured]
        if not each:
            continue
        calls = [m["calls_per_s"] for m in each]
        per_call = [m["app_redis_ms_per_call"] for m in each]
        rows.append(
            {
                "setting": setting,
                "measurements": len(calls),
                "calls_per_s": statistics.median(calls),
                "calls_per_s_range": [min(calls), max(calls)],
                "steps_per_s": statistics.median(m["steps_per_s"] for m in each),
                "app_redis_ms_per_call": statistics.median(per_call),
                "app_redis_ms_per_call_range": [min(per_call), max(per_call)],
                "errors": sum(m["errors"] for m in each),
                "rounds": outcome.saturation,
            }
        )
    return rows


def print_saturation(rows: list[dict]) -> None:
    print(f"\n{'at saturation':<18}{'n':>3}{'calls/s (range)':>24}{'steps/s':>9}"
          f"{'app+Redis ms/call (range)':>30}{'errors':>8}")  # fmt: skip
    for r in rows:
        low, high = r["calls_per_s_range"]
        cpu_low, cpu_high = r["app_redis_ms_per_call_range"]
        calls = f"{r['calls_per_s']:.1f} ({low:.1f}-{high:.1f})"
        cpu = f"{r['app_redis_ms_per_call']:.2f} ({cpu_low:.2f}-{cpu_high:.2f})"
        print(
            f"{r['setting']:<18}{r['measurements']:>3}{calls:>24}{r['steps_per_s']:>9.2f}"
            f"{cpu:>30}{r['errors']:>8}"
        )


def saturation_ratios(rows: list[dict]) -> dict:
    """The analyzer's cost at saturation: the throughput it takes away (the capacity it costs
    where the app is CPU-bound) and the CPU per call it adds. Each round measures both
    settings one after the other (in alternating order): its pair is the fairest comparison,
    and the spread of the pairs says how far to trust the median."""
    by = {r["setting"]: r for r in rows}
    on, off = by.get("ours"), by.get("ours-no-analyzer")
    if not (on and off):
        return {}

    def median_of(measured: list[dict], key: str) -> float:
        return statistics.median(m[key] for m in measured)

    # rounds where both were measured (a setting that failed in a round has no pair there)
    pairs = [(on["rounds"][n], off["rounds"][n]) for n in on["rounds"] if n in off["rounds"]]
    costs = [1 - median_of(a, "calls_per_s") / median_of(b, "calls_per_s") for a, b in pairs]
    cpu = [
        median_of(a, "app_redis_ms_per_call") / median_of(b, "app_redis_ms_per_call") - 1
        for a, b in pairs
    ]
    each = ", ".join(f"{c:.1%}" for c in costs)
    return {
        "analyzer summary cost at saturation, throughput (target <= 3 %)": (
            f"{statistics.median(costs):.1%} (median of {len(costs)} rounds: {each})"
        ),
        "analyzer summary cost at saturation, app+Redis CPU per call": (
            f"{statistics.median(cpu):+.1%} (rounds: {', '.join(f'{c:+.1%}' for c in cpu)})"
        ),
    }


# --- main -------------------------------------------------------------------------------------


def save(args, outcomes: dict[str, Outcome], load_before, started: float) -> None:
    """What is measured so far, after each setting (a run cut short keeps its figures)."""
    if not args.output:
        return
    args.output.mkdir(parents=True, exist_ok=True)
    done = {name: o for name, o in outcomes.items() if o.rounds}
    saturated = saturation_rows(outcomes)
    report = {
        "args": vars(args) | {"output": str(args.output)},
        "cores": CORES,
        "load_before": load_before,
        "load_now": os.getloadavg(),
        "seconds": round(time.time() - started),
        "rows": summary_rows(done, Targets()),
        "saturation": saturated,
        "ratios": ratios(summary_rows(done, Targets()), done) | saturation_ratios(saturated),
    }
    (args.output / "capacity.json").write_text(json.dumps(report, indent=1, default=str))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--duration", default="20s", help="measured per step")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument(
        "--prewarm", type=float, default=20.0, help="seconds of load before the sweep"
    )
    parser.add_argument("--think", default="exp:5")
    parser.add_argument(
        "--no-client-cache",
        dest="client_cache",
        action="store_false",
        help="every recorded call every time (the simulated users' caches off; before 2026-12-03)",
    )
    parser.add_argument("--mix", default=None)
    parser.add_argument("--users", type=int, default=2)
    parser.add_argument("--growth", type=float, default=1.5)
    parser.add_argument("--max-users", type=int, default=200)
    parser.add_argument("--refine", type=int, default=1)
    parser.add_argument("--spawn-rate", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--confirm", action="store_true", help="measure a broken step again before stopping"
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="measurements per step, judged on the median one"
    )
    parser.add_argument("--workers", type=int, default=2 * CORES + 1, help="gunicorn workers")
    parser.add_argument(
        "--saturation",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="also measure each setting at saturation (3 users per worker, no think time), "
        "--repeats times, SECONDS each, before its sweep",
    )
    parser.add_argument(
        "--saturation-only", action="store_true", help="no capacity sweep (needs --saturation)"
    )
    parser.add_argument("--target-read-p95", type=float, default=500.0)
    parser.add_argument("--target-save-p95", type=float, default=1500.0)
    parser.add_argument("--target-errors", type=float, default=0.1, help="percent")
    parser.add_argument(
        "--data-cache", type=Path, help="pg_dump of the loaded database: made, then reused"
    )
    parser.add_argument("-o", "--output", type=Path, default=None)
    parser.add_argument(
        "--cost-from",
        type=Path,
        metavar="DIR",
        help="measure nothing: the analyzer's CPU cost per call from a run's -o DIR (--target-*)",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    unknown = set(settings) - set(STARTERS)
    if unknown:
        sys.exit(f"unknown settings {sorted(unknown)}; known: {', '.join(SETTINGS)}")
    if args.saturation_only and args.saturation <= 0:
        sys.exit("--saturation-only needs --saturation SECONDS (more than 0)")
    if args.repeats < 1:
        sys.exit("--repeats must be 1 or more")
    targets = Targets(args.target_read_p95, args.target_save_p95, args.target_errors / 100)
    if args.cost_from:
        cost = analyzer_cpu_cost(kept_passing_steps(args.cost_from / "steps", targets))
        if cost is None:
            sys.exit(f"no step in {args.cost_from} met the targets with and without the analyzer")
        print(f"analyzer summary cost in CPU per call: {cost}")
        return
    sweep = Sweep(
        targets=targets,
        start=args.users,
        growth=args.growth,
        max_users=args.max_users,
        refine=args.refine,
        warmup=args.warmup,
        confirm=args.confirm,
        repeats=args.repeats,
    )
    base = Path(tempfile.mkdtemp(prefix="bench-capacity-"))
    load_before = os.getloadavg()
    started = time.time()
    print(f"load average before: {load_before}, {CORES} cores", flush=True)
    postgres, redis = PostgresServer().start(), RedisServer().start()
    try:
        templates = DatabaseTemplates(base / "templates", postgres=lambda: postgres)
        db = templates.copy("postgresql", (*MODULES, "ops_session"), base / "db")
        # every setting starts from the same data: the runs create sales and post invoices
        loaded_dump = args.data_cache or base / "demo.dump"
        if args.data_cache is not None and args.data_cache.exists():
            print(f"demo data from {args.data_cache} (made by a run at its scale)", flush=True)
        else:
            loaded = workload.load(db.config, db.name, args.scale)
            print(f"demo load --scale {args.scale}: {loaded.seconds:.0f} s", flush=True)
            data_cache.keep(postgres, db.name, loaded_dump)
        scenarios = available_scenarios([])
        mix = parse_mix(args.mix) if args.mix else dict.fromkeys(scenarios, 1.0)
        work = Workload(
            database=db.name,
            login="admin",
            password=db.password,
            scenarios=tuple(select(mix, scenarios)),
            think=ThinkTime.parse(args.think),
            client_cache=args.client_cache,
        )
        outcomes = {s: Outcome(s) for s in settings}
        for number in range(args.rounds):
            order = settings if number % 2 == 0 else list(reversed(settings))
            for setting in order:
                print(f"round {number + 1}: {setting} (load {os.getloadavg()[0]:.1f})", flush=True)
                try:
                    data_cache.restore(postgres, db.name, loaded_dump)
                    server = STARTERS[setting](db, base, workers=args.workers, redis=redis)
                    try:
                        found, memory, saturated = measure(
                            setting, server, work, sweep, args, postgres.port
                        )
                    finally:
                        server.stop()
                except Exception as exc:  # one setting failing must not lose the others
                    print(f"  {setting} FAILED: {type(exc).__name__}: {exc}", flush=True)
                    continue
                if found is not None:
                    outcomes[setting].rounds.append(found)
                outcomes[setting].memory.append(memory)
                if saturated:
                    outcomes[setting].saturation[number + 1] = saturated
                save(args, outcomes, load_before, started)
        outcomes = {name: o for name, o in outcomes.items() if o.rounds or o.saturation}
        strict = Targets()  # the issue's: 500 ms, 1.5 s, 0.1 %
        swept = {name: o for name, o in outcomes.items() if o.rounds}
        rows = summary_rows(swept, strict if strict != sweep.targets else None)
        load_after = os.getloadavg()
        print(f"\nscale {args.scale}, think {args.think}, {args.duration} per step, "
              f"targets {sweep.targets.to_json()}, {time.time() - started:.0f} s")  # fmt: skip
        if rows:
            print_table(rows)
        saturated = saturation_rows(outcomes)
        if saturated:
            print_saturation(saturated)
        found_ratios = ratios(rows, swept) | saturation_ratios(saturated)
        print()
        for name, value in found_ratios.items():
            print(f"{name}: {value}")
        print(f"\nload average before {load_before}, after {load_after}")
        save(args, outcomes, load_before, started)
    finally:
        redis.destroy()
        postgres.destroy()


if __name__ == "__main__":
    main()
