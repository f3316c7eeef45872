"""Scale-out, measured: the capacity of 1, 2 and 3 app hosts behind nginx (docs/capacity.md).

    /work/main/.venv/8.0/bin/python benchmarks/scale_out.py [--hosts 1,2,3] [--cores 0.25]
        [--workers 2] [--think exp:10] [--data demo|seed] [--demo-scale 10] [--mix NAME=W,...]
        [--fresh step|hosts] [--refine 2] [--repeats 1] [--data-cache FILE] [-o DIR]

The topology is `tryton_ops.testing.scale_out` (root, for namespaces and cgroups): each app
host a network namespace held to `--cores` by a cgroup CPU quota, nginx in front, one
PostgreSQL and one Redis in a namespace of their own, every one accounted by its cgroup. The
database is made there once (`demo load --scale N`, which all six scenarios fit with the
sizing table's mix, or with `--data seed` the scenario tests' small seed, which the read and
sales scenarios fit); `--data-cache` keeps it as a dump for the next run.

Then, for each number of hosts: the hosts are warmed without their quota (the mix replayed
unmeasured: trytond's per-process caches), then measured twice under their quota, each
measurement from the same data (`fresh_data`: the dump restored, Redis flushed, the hosts
warmed again; with `--fresh step`, the default, before every step of the capacity search too,
since the mix creates sales and invoices and a search's later steps would otherwise serve a
bigger database than its first):

- saturation: 3 users per worker without think time; steps/s and the CPU of every group.
  The steadiest figure; throughput efficiency = steps/s(n) / (n x steps/s(1)).
- capacity: `find_capacity` (the decisions of `loadtest run --find-capacity`) steps the
  users up, at the think time, until a target breaks; efficiency = users(n) / (n x users(1)).

Each simulated user logs in once (trytond's argon2 hash: --login-cpu seconds of a core); a
step's measurement starts after the logins would have ended on the hosts' quota. Targets are
per core and scaled to the host (a quarter core runs a request's Python four times slower):
read p95 2 s and save p95 5 s per core, so 8 s and 20 s at 0.25. Printed: both efficiencies,
what was busiest, the sizing model and its extrapolation to --extrapolate users. The
scenarios are recorded on trytond 8.0: run it with the 8.0 venv, as root.
"""

from __future__ import annotations

# Locust patches the standard library (gevent) when imported: first, before threads exist
import locust  # noqa: F401  # isort: skip

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

from tryton_ops.access.redis import connect
from tryton_ops.capacity import modules, workload
from tryton_ops.capacity.capacity_search import (
    CapacityResult,
    LoadResult,
    Targets,
    check_repeats,
    check_sweep,
    find_capacity,
    text_summary,
)
from tryton_ops.capacity.loadtest import LoadRun, run
from tryton_ops.capacity.plan import ThinkTime, available_scenarios, parse_mix, select
from tryton_ops.capacity.saturation import saturating, throughput
from tryton_ops.capacity.users import Workload
from tryton_ops.config.redis_spec import RedisSpec
from tryton_ops.config.trytond_conf import trytond_env
from tryton_ops.errors import UsageError
from tryton_ops.lifecycle.init import init_database
from tryton_ops.lifecycle.password import AdminPassword
from tryton_ops.testing.databases import make_config
from tryton_ops.testing.scale_out import ScaleOut, ScaleOutPlan

sys.path.insert(0, str(Path(__file__).parent))
import data_cache

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "tests" / "capacity" / "seed.py"
DATABASE = "scaleout"
PASSWORD = "scale-out-bench"
MIXES = {  # the shipped scenarios that fit each kind of data (docs/capacity.md, Scenarios)
    # the sizing table's mix (docs/capacity.md, Sizing table)
    "demo": "login_menu=1,sales_browse=3,party_lookup=3,product_stock=2,"
    "sale_create=2,invoice_post=1",
    "seed": "login_menu=1,sales_browse=3,party_lookup=3,product_stock=2,sale_create=1",
}


def make_data(scale: ScaleOut, args, password: AdminPassword, dump: Path) -> None:
    """The workload's database on the topology's PostgreSQL (reached through the bridge), or
    the dump a previous run left in --data-cache (its admin password is the constant one);
    kept in `dump` either way, for `fresh_data`."""
    started = time.perf_counter()
    if dump.exists():
        data_cache.restore(scale.postgres, DATABASE, dump)
        print(f"database {DATABASE} restored from {dump} in {time.perf_counter() - started:.0f} s")
        return
    init_database(scale.deployment, DATABASE, password, list(modules.MODULES))
    if args.data == "demo":
        workload.load(scale.deployment, DATABASE, args.demo_scale)
    else:
        env = trytond_env(scale.deployment, PYTHONPATH=str(ROOT / "src"))
        subprocess.run([sys.executable, str(SEED), DATABASE], env=env, check=True, timeout=900)
    print(f"database {DATABASE} ({args.data}) made in {time.perf_counter() - started:.0f} s")
    data_cache.keep(scale.postgres, DATABASE, dump)


def fresh_data(scale: ScaleOut, dump: Path) -> float:
    """Every measurement starts from the same data and an empty Redis: the mix creates sales,
    invoices and stock moves, and with the data kept from one host count to the next, the
    one-host saturation measured last (A-B-A) served 38 % fewer calls/s than the first on an
    idle machine (likely: stock quantities and lists over ever more moves and sales).
    Returns the seconds the next warm-up needs: an emptied Redis cache is young for
    `commit_lease` (docs/cache.md), and serves at about 40 % of its throughput until then."""
    scale.stop_serving()
    data_cache.restore(scale.postgres, DATABASE, dump)
    connect(RedisSpec(scale.redis.uri)).flushall()
    return scale.deployment.settings.cache.commit_lease


def serve_warm(scale: ScaleOut, hosts: int, args, workload_: Workload, young: float = 0) -> str:
    """Serve `hosts` hosts, then replay the mix on them without measuring and without their
    quota: every worker opens every view once (trytond's per-process caches), as in a
    deployment that has been running; then the quota again. `young`: seconds more, past a
    flushed cache's young period."""
    url = scale.serve(hosts).rstrip("/")
    scale.hold(False)
    users = 2 * args.workers * hosts
    warm = LoadRun(
        url=url,
        workload=replace(workload_, think=ThinkTime.parse("const:0.2")),
        users=users,
        spawn_rate=users,
        duration=args.warm + young,
    )
    totals = run(warm)["totals"]
    scale.hold()
    print(
        f"{hosts} host(s) warmed: {totals['rpc_calls']} calls, {totals['rpc_errors']} errors",
        flush=True,
    )
    return url


def warmup_for(args, users: int, hosts: int) -> float:
    """Seconds between the last user started and the measurement: --warmup, plus the logins
    (each simulated user logs in once; trytond's argon2 hash costs --login-cpu seconds of a
    core, four times that on a quarter core), which a step must not measure."""
    return args.warmup + users * args.login_cpu / (hosts * args.cores)


def baseline(scale: ScaleOut, args, workload_: Workload) -> LoadResult:
    """One user on one host with a short think time: the step latencies of an unloaded host
    (reported beside the targets: how far below them a host starts)."""
    url = serve_warm(scale, 1, args, workload_)
    plan = LoadRun(
        url=url,
        workload=replace(workload_, think=ThinkTime.parse("const:0.5")),
        users=1,
        spawn_rate=1,
        duration=args.baseline,
        cpu_counters=scale.groups(),
        warmup=warmup_for(args, 1, 1),
    )
    results = run(plan)
    (args.output / "baseline.json").write_text(json.dumps(results, indent=1))
    result = LoadResult.from_results(1, results)
    print(
        f"baseline, 1 user on 1 host: read p95 {result.read_p95_ms} ms, save p95 "
        f"{result.save_p95_ms} ms, {result.steps} steps, errors {result.error_rate:.2%}",
        flush=True,
    )
    return result


def targets_for(args) -> Targets:
    """The targets per core (--target-read-p95, --target-save-p95) on a host of --cores: a
    quarter core runs a request's Python four times slower, so 8 s and 20 s at 0.25 for
    2 s and 5 s per core."""
    return Targets(
        read_p95_ms=args.target_read_p95 / args.cores,
        save_p95_ms=args.target_save_p95 / args.cores,
        error_rate=0.001,
    )


def saturation(
    scale: ScaleOut, hosts: int, args, workload_: Workload, label: str = ""
) -> dict[str, Any]:
    """The most the hosts serve (`capacity.saturation`): the throughput figure behind the
    efficiency, and what is busiest when the hosts are at their quota."""
    base = LoadRun(
        url=scale.url.rstrip("/"),
        workload=workload_,
        users=1,
        spawn_rate=1,
        duration=args.saturation,
        cpu_counters=scale.groups(),
    )
    plan = saturating(base, args.workers * hosts, args.saturation)
    plan = replace(plan, warmup=warmup_for(args, plan.users, hosts))
    results = run(plan)
    name = f"saturation-{hosts}{label}.json"
    (args.output / name).write_text(json.dumps(results, indent=1))
    found = throughput(results)
    print(f"  {hosts} host(s) saturated: {found}", flush=True)
    return found


def measure(
    scale: ScaleOut,
    hosts: int,
    args,
    workload_: Workload,
    start: int,
    targets: Targets,
    dump: Path,
) -> CapacityResult:
    base = LoadRun(
        url=scale.url.rstrip("/"),
        workload=workload_,
        users=start,
        spawn_rate=1,
        duration=args.duration,
        cpu_counters=scale.groups(),
    )
    steps_dir = args.output / f"hosts-{hosts}"
    steps_dir.mkdir(parents=True, exist_ok=True)

    measured: list[int] = []

    def run_at(users: int) -> LoadResult:
        if args.fresh == "step" and measured and measured[-1] != users:
            serve_warm(scale, hosts, args, workload_, young=fresh_data(scale, dump))
        measured.append(users)  # --repeats: a step's measurements follow one another
        # every step ramps up in about `ramp` seconds, whatever its size
        step = replace(
            base,
            users=users,
            spawn_rate=max(1.0, users / args.ramp),
            warmup=warmup_for(args, users, hosts),
        )
        results = run(step)
        taken = len(list(steps_dir.glob(f"users-{users:04d}*.json")))  # --repeats: each kept
        name = f"users-{users:04d}{f'-{taken + 1}' if taken else ''}.json"
        (steps_dir / name).write_text(json.dumps(results, indent=1))
        return LoadResult.from_results(users, results)

    def on_step(result: LoadResult, broken: list[str]) -> None:
        cpu = ", ".join(f"{k} {v:.0f}%" for k, v in sorted(result.cpu.items()))
        verdict = "; ".join(broken) or "ok"
        print(
            f"  {hosts} host(s) {result.users:4d} users: {result.calls_per_s:6.1f} calls/s, "
            f"read p95 {result.read_p95_ms}, save p95 {result.save_p95_ms}, "
            f"errors {result.error_rate:.2%} [{cpu}] {verdict}",
            flush=True,
        )

    return find_capacity(
        run_at,
        targets,
        start=start,
        growth=args.growth,
        max_users=args.max_users,
        refine=args.refine,
        on_step=on_step,
        repeats=args.repeats,
    )


def step_at(result: CapacityResult, users: int) -> LoadResult | None:
    return next((s for s in result.steps if s.users == users), None)


def first_broken(result: CapacityResult) -> LoadResult | None:
    broken = [s for s in result.steps if not result.passed(s)]
    return min(broken, key=lambda s: s.users) if broken else None


def busiest(step: LoadResult | None, hosts: int, cores: float) -> dict[str, float]:
    """Each group's CPU at a step, as a fraction of what it may use: a host its quota,
    PostgreSQL, Redis, nginx and the generator one core (each is mostly one busy process)."""
    if step is None:
        return {}
    found = {}
    for name, pct in step.cpu.items():
        limit = cores if name.startswith("h") and name[1:].isdigit() else 1.0
        found[name] = round(pct / 100 / limit, 2)
    return dict(sorted(found.items(), key=lambda kv: -kv[1]))


def summarise(
    results: dict[int, CapacityResult], saturated: dict[int, dict[str, Any]], args
) -> dict[str, Any]:
    one, sat_one = results.get(1), saturated.get(1)
    rows = []
    previous = None
    for hosts, result in sorted(results.items()):
        at = step_at(result, result.capacity)
        row: dict[str, Any] = {
            "hosts": hosts,
            "app_cores": hosts * args.cores,
            "capacity_users": result.capacity,
            "reached_max_users": result.reached_max,
            "limited_by": list(result.limited_by),
            "knee_users": result.knee_users,
            "calls_per_s": at.calls_per_s if at else None,
            "cpu_pct_at_capacity": at.cpu if at else {},
            "load_at_first_broken_step": busiest(first_broken(result), hosts, args.cores),
            "saturation": saturated.get(hosts),
        }
        if sat_one and sat_one["steps_per_s"] and saturated.get(hosts):
            for key in ("steps_per_s", "calls_per_s"):
                row[f"efficiency_{key}"] = round(saturated[hosts][key] / (hosts * sat_one[key]), 3)
        if one and one.capacity:
            row["efficiency"] = round(result.capacity / (hosts * one.capacity), 3)
            if previous is not None:
                added = result.capacity - previous.capacity
                row["efficiency_of_added_host"] = round(added / one.capacity, 3)
        rows.append(row)
        previous = result
    return {"rows": rows, "model": sizing_model(rows, args)}


def sizing_model(rows: list[dict[str, Any]], args) -> dict[str, Any]:
    """Users per app core (capacity at the largest host count measured) and PostgreSQL,
    Redis, nginx cores per app core busy (at saturation, where the hosts use all their
    quota: the steadiest ratio), and what --extrapolate users would need, linearly."""
    measured = [r for r in rows if r["capacity_users"]]
    if not measured:
        return {}
    top = measured[-1]
    cpu = (top["saturation"] or {}).get("cpu_pct") or top["cpu_pct_at_capacity"]
    app_busy = sum(v for k, v in cpu.items() if k.startswith("h") and k[1:].isdigit()) / 100

    def per_app_core(name: str) -> float:
        return round(cpu.get(name, 0) / 100 / app_busy, 3) if app_busy else 0.0

    users_per_core = top["capacity_users"] / top["app_cores"]
    app_cores = args.extrapolate / users_per_core
    return {
        "from": f"{top['hosts']} host(s) x {args.cores} core, think {args.think}",
        "users_per_app_core": round(users_per_core, 1),
        "app_cores_busy_at_saturation": round(app_busy, 2),
        "postgresql_cores_per_app_core": per_app_core("postgresql"),
        "redis_cores_per_app_core": per_app_core("redis"),
        "nginx_cores_per_app_core": per_app_core("nginx"),
        "extrapolation": {
            "users": args.extrapolate,
            "app_cores": round(app_cores, 1),
            "postgresql_cores": round(app_cores * per_app_core("postgresql"), 2),
            "note": "linear extrapolation from the measured points, not a measurement",
        },
    }


def print_summary(summary: dict[str, Any]) -> None:
    print(
        "\nhosts  app cores  capacity  calls/s  efficiency  added host  "
        "| saturated steps/s  efficiency   calls/s  efficiency  | busiest at first break"
    )
    for row in summary["rows"]:
        load = row["load_at_first_broken_step"]
        top = ", ".join(f"{k} {v:.0%}" for k, v in list(load.items())[:4])
        capacity = f"{'>=' if row['reached_max_users'] else ''}{row['capacity_users']}"
        sat = row["saturation"] or {}
        print(
            f"{row['hosts']:>5}  {row['app_cores']:>9.2f}  {capacity:>8}  "
            f"{row['calls_per_s'] or 0:>7.1f}  {row.get('efficiency', '-'):>10}  "
            f"{row.get('efficiency_of_added_host', '-'):>10}  "
            f"| {sat.get('steps_per_s', '-'):>17}  {row.get('efficiency_steps_per_s', '-'):>10}  "
            f"{sat.get('calls_per_s', '-'):>8}  {row.get('efficiency_calls_per_s', '-'):>10}  "
            f"| {top}"
        )
    model = summary["model"]
    if model:
        extra = model["extrapolation"]
        print(
            f"\nsizing model ({model['from']}): {model['users_per_app_core']} users per app core; "
            f"PostgreSQL {model['postgresql_cores_per_app_core']} cores per app core"
            f"\nEXTRAPOLATION (not measured): {extra['users']} users -> {extra['app_cores']} "
            f"app cores and {extra['postgresql_cores']} PostgreSQL cores"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", default="1,2,3", help="host counts to measure")
    parser.add_argument("--cores", type=float, default=0.25, help="CPU quota per app host")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per host")
    parser.add_argument("--data", choices=sorted(MIXES), default="demo")
    parser.add_argument("--demo-scale", type=int, default=10)
    parser.add_argument(
        "--fresh",
        choices=("step", "hosts"),
        default="step",
        help="restore the data before every capacity step, or only per host count",
    )
    parser.add_argument("--mix", help="scenario mix (default: the one that fits --data)")
    parser.add_argument("--think", default="exp:10")
    parser.add_argument(
        "--no-client-cache",
        dest="client_cache",
        action="store_false",
        help="every recorded call every time (the simulated users' caches off; before 2026-12-03)",
    )
    parser.add_argument("--start", type=int, default=3, help="users of the first step (1 host)")
    parser.add_argument("--growth", type=float, default=1.6)
    parser.add_argument("--refine", type=int, default=2)
    parser.add_argument("--max-users", type=int, default=150)
    parser.add_argument(
        "--repeats", type=int, default=1, help="measurements per step, judged on the median one"
    )
    parser.add_argument("--duration", type=float, default=45, help="seconds measured per step")
    parser.add_argument("--warmup", type=float, default=8, help="seconds after the ramp")
    parser.add_argument("--login-cpu", type=float, default=0.3, help="CPU s of one login")
    parser.add_argument("--ramp", type=float, default=5, help="seconds to start a step's users")
    parser.add_argument("--warm", type=float, default=30, help="seconds of unmeasured load")
    parser.add_argument("--baseline", type=float, default=40, help="seconds of the 1-user run")
    parser.add_argument("--saturation", type=float, default=40, help="seconds at saturation")
    # per core: the shipped steps are 10 to 90 calls each, and one of ~15 ms of a core each
    # makes the unloaded steps longer than loadtest's 500 ms default (docs/capacity.md)
    parser.add_argument("--target-read-p95", type=float, default=2000, help="ms on one core")
    parser.add_argument("--target-save-p95", type=float, default=5000, help="ms on one core")
    parser.add_argument("--data-cache", type=Path, help="pg_dump of the data: made, then reused")
    parser.add_argument("--extrapolate", type=int, default=1000)
    parser.add_argument("-o", "--output", type=Path)
    args = parser.parse_args()
    try:  # before minutes of setting up: the finder's own checks
        check_sweep(args.start, args.growth, args.max_users, args.refine)
        check_repeats(args.repeats, confirm=False)
    except UsageError as exc:
        parser.error(str(exc))
    args.output = args.output or Path(tempfile.mkdtemp(prefix="scale-out-"))
    args.output.mkdir(parents=True, exist_ok=True)
    return args


def main() -> None:
    args = parse_args()
    counts = sorted(int(n) for n in args.hosts.split(","))
    print(
        f"trytond {version('trytond')}, Python {sys.version.split()[0]}, {len(counts)} "
        f"measurements: {counts} host(s) x {args.cores} core, {args.workers} workers each; "
        f"think {args.think}; results in {args.output}",
        flush=True,
    )
    base = Path(tempfile.mkdtemp(prefix="scale-out-run-"))
    password_file = base / "admin-password"
    password_file.write_text(PASSWORD + "\n")
    password_file.chmod(0o600)
    config = make_config(
        base,
        {
            "database": {
                "uri": "postgresql://postgres@127.0.0.1:5432/",  # replaced by the topology's
                "name": DATABASE,
                "modules": list(modules.MODULES),
                "admin_password_file": str(password_file),
            }
        },
    )
    plan = ScaleOutPlan(hosts=max(counts), cores_per_host=args.cores, workers=args.workers)
    scenarios = available_scenarios([])
    workload_ = Workload(
        database=DATABASE,
        login="admin",
        password=PASSWORD,
        scenarios=tuple(select(parse_mix(args.mix or MIXES[args.data]), scenarios)),
        think=ThinkTime.parse(args.think),
        client_cache=args.client_cache,
    )
    results: dict[int, CapacityResult] = {}
    saturated: dict[int, dict[str, Any]] = {}
    recheck = None
    with ScaleOut(config, base, plan) as scale:
        dump = args.data_cache or base / "data.dump"
        make_data(scale, args, AdminPassword(PASSWORD, "file", password_file), dump)
        # every host once, so that the shared caches (Redis) and PostgreSQL are as warm for
        # the first measurement as for the later ones
        serve_warm(scale, max(counts), args, workload_)
        unloaded = baseline(scale, args, workload_)
        targets = targets_for(args)
        print(f"targets: {targets.to_json()}", flush=True)
        for hosts in counts:
            serve_warm(scale, hosts, args, workload_, young=fresh_data(scale, dump))
            saturated[hosts] = saturation(scale, hosts, args, workload_)
            # start at what fewer hosts served: a start above the capacity that breaks would
            # send the refining steps down to half of it, below what fewer hosts held
            start = max((r.capacity for r in results.values()), default=0) or args.start
            serve_warm(scale, hosts, args, workload_, young=fresh_data(scale, dump))
            results[hosts] = measure(scale, hosts, args, workload_, start, targets, dump)
            print(text_summary(results[hosts], args.think), flush=True)
        if 1 in counts and max(counts) > 1:
            # the one-host saturation again, last, on the same fresh data: what still differs
            # is the machine; the efficiencies use the mean of the first and the last (A-B-A)
            serve_warm(scale, 1, args, workload_, young=fresh_data(scale, dump))
            recheck = saturation(scale, 1, args, workload_, label="-last")
    if recheck is not None:
        first = saturated[1]
        saturated[1] = {
            "first": first,
            "last": recheck,
            **{
                key: round((first[key] + recheck[key]) / 2, 2)
                for key in ("steps_per_s", "calls_per_s")
            },
            "cpu_pct": first["cpu_pct"],
        }
    summary = summarise(results, saturated, args)
    summary["targets"] = targets.to_json()
    summary["baseline"] = unloaded.to_json() if unloaded else None
    summary["settings"] = {k: str(v) for k, v in vars(args).items()}
    summary["capacity"] = {hosts: r.to_json() for hosts, r in results.items()}
    (args.output / "scale_out.json").write_text(json.dumps(summary, indent=1))
    print_summary(summary)
    print(f"\nresults: {args.output / 'scale_out.json'}")


if __name__ == "__main__":
    main()
