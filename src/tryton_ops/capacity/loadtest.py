"""`tryton-ops loadtest`: Locust driven as a library, sampled once a second, saved at the end.

Headless: users are spawned at the given rate and the run stops after `duration`. With the web
UI, Locust's own page starts and stops the users; the run ends at `duration` or on Ctrl-C.
Every second a sample records users, request rate, current p50/p95, errors and the CPU of the
servers and of the generator, which gives the chart over time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from tryton_ops.capacity.cpu import GENERATOR, CpuCounter, CpuSampler
from tryton_ops.capacity.users import RPC, STEP, Workload, user_class
from tryton_ops.errors import OpsError

SAMPLE_INTERVAL = 1.0
PERCENTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True)
class LoadRun:
    url: str
    workload: Workload
    users: int
    spawn_rate: float
    duration: float
    cpu_ports: dict[str, int] = field(default_factory=dict)
    cpu_counters: dict[str, CpuCounter] = field(default_factory=dict)  # e.g. cgroups
    web: tuple[str, int] | None = None
    # None: measure from the first user on. A number: wait until every user is spawned, then
    # that many seconds more, then forget the figures so far and measure for `duration`
    # (what a capacity step needs: the load of `users` users, not of the ramp up to them).
    warmup: float | None = None


def run(plan: LoadRun, on_sample=None) -> dict[str, Any]:
    """Run the load; the results as a JSON-able dict (see `summary`)."""
    import gevent
    from locust.env import Environment

    env = Environment(user_classes=[user_class(plan.workload, plan.url)])
    env.create_local_runner()
    steps_kind = {
        f"{scenario.name}: {step.name}": step.kind
        for scenario, _ in plan.workload.scenarios
        for step in scenario.steps
    }
    sampler = CpuSampler(plan.cpu_ports, plan.cpu_counters)
    timeline: list[dict[str, Any]] = []
    started = time.time()

    def sample_forever() -> None:
        while True:
            gevent.sleep(SAMPLE_INTERVAL)
            point = _point(env, sampler, started)
            timeline.append(point)
            if on_sample is not None:
                on_sample(point)

    sampler_greenlet = gevent.spawn(sample_forever)
    web_ui = env.create_web_ui(*plan.web) if plan.web else None
    try:
        if web_ui is None:
            env.runner.start(plan.users, spawn_rate=plan.spawn_rate)
        if plan.warmup is not None:
            _warm_up(env, plan)
            started = time.time()
            timeline.clear()
        gevent.sleep(plan.duration)
    except KeyboardInterrupt:
        pass
    finally:
        env.runner.quit()
        sampler_greenlet.kill()
        if web_ui is not None:
            web_ui.stop()
    return summary(plan, env, timeline, steps_kind, started, sampler.found())


def _warm_up(env, plan: LoadRun) -> None:
    """Until every user is spawned (at most twice the nominal ramp), `warmup` more, then reset."""
    import gevent

    deadline = time.time() + 2 * plan.users / plan.spawn_rate + 5
    while env.runner.user_count < plan.users and time.time() < deadline:
        gevent.sleep(0.2)
    gevent.sleep(plan.warmup)
    if env.runner.user_count == 0:  # every login failed: say why instead of measuring nothing
        errors = "; ".join(f"{e.name}: {str(e.error)[:200]}" for e in env.stats.errors.values())
        raise OpsError(f"no simulated user could log in at {plan.url}: {errors or 'no answer'}")
    env.stats.reset_all()


def replay_once(url: str, workload: Workload) -> list[dict[str, Any]]:
    """Each scenario of the workload once, by one user without think time: steps and errors.

    What `loadtest check` prints: a scenario recorded elsewhere that does not fit this
    database fails here on its first step that needs something the database lacks.
    """
    from locust.env import Environment
    from locust.exception import StopUser

    env = Environment(user_classes=[user_class(workload, url)])
    outcome: list[dict[str, Any]] = []

    def on_request(request_type, name, response_time, exception=None, **_kw) -> None:
        if request_type == STEP:
            error = None if exception is None else str(exception)[:500]
            outcome[-1]["steps"].append({"name": name, "ms": round(response_time), "error": error})
        elif exception is not None and outcome:
            outcome[-1]["errors"].append(f"{name}: {str(exception)[:300]}")

    env.events.request.add_listener(on_request)
    user = env.user_classes[0](env)
    outcome.append({"scenario": "(login)", "steps": [], "errors": []})
    try:
        user.on_start()
    except StopUser:
        raise OpsError(f"login as {workload.login} failed: {outcome[0]['errors']}") from None
    outcome.pop()
    for scenario, _ in workload.scenarios:
        outcome.append({"scenario": scenario.name, "steps": [], "errors": []})
        outcome[-1]["passed"] = user.play(scenario, think=False)
    return outcome


def _point(env, sampler: CpuSampler, started: float) -> dict[str, Any]:
    total = env.stats.total
    steps = [e for (name, kind), e in env.stats.entries.items() if kind == STEP]
    return {
        "t": round(time.time() - started, 1),
        "users": env.runner.user_count,
        "rps": round(_current_rps(env, RPC), 2),
        "steps_per_s": round(_current_rps(env, STEP), 2),
        "p50_ms": total.get_current_response_time_percentile(0.5) or 0,
        "p95_ms": total.get_current_response_time_percentile(0.95) or 0,
        "errors": total.num_failures,
        "step_errors": sum(e.num_failures for e in steps),
        "cpu": sampler.sample(),
    }


def _current_rps(env, kind: str) -> float:
    return sum(e.current_rps for (_, k), e in env.stats.entries.items() if k == kind)


def _entry(entry, elapsed: float) -> dict[str, Any]:
    return {
        "name": entry.name,
        "count": entry.num_requests,
        "errors": entry.num_failures,
        "per_s": round(entry.num_requests / elapsed, 3) if elapsed else 0.0,
        **{
            f"p{int(p * 100)}_ms": entry.get_response_time_percentile(p)
            if entry.num_requests
            else None
            for p in PERCENTILES
        },
        "mean_ms": round(entry.avg_response_time, 1),
        "max_ms": round(entry.max_response_time or 0, 1),
    }


def summary(plan, env, timeline, steps_kind, started, found) -> dict[str, Any]:
    elapsed = max(time.time() - started, 1e-6)
    methods, steps = [], []
    for (_, kind), entry in sorted(env.stats.entries.items()):
        row = _entry(entry, elapsed)
        if kind == STEP:
            row["kind"] = steps_kind.get(entry.name, "read")
            steps.append(row)
        else:
            methods.append(row)
    rpc_total = sum(m["count"] for m in methods)
    rpc_errors = sum(m["errors"] for m in methods)
    peak_users = max((p["users"] for p in timeline), default=0)
    cpu = _cpu_summary(timeline, peak_users, found)
    return {
        "run": {
            "url": plan.url,
            "database": plan.workload.database,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "duration_s": round(elapsed, 1),
            "users": plan.users,
            "spawn_rate": plan.spawn_rate,
            "think": str(plan.workload.think),
            "client_cache": plan.workload.client_cache,
            "mix": {s.name: w for s, w in plan.workload.scenarios},
            "web_ui": bool(plan.web),
        },
        "totals": {
            "rpc_calls": rpc_total,
            # answered by the simulated clients' own caches, never sent (not in rpc_calls)
            "client_cache_hits": env.user_classes[0].tally["client_cache_hits"],
            "rpc_errors": rpc_errors,
            "error_rate": round(rpc_errors / rpc_total, 5) if rpc_total else 0.0,
            "rpc_per_s": round(rpc_total / elapsed, 2),
            **{  # over every call and step together (Locust's total entry)
                f"all_p{int(p * 100)}_ms": env.stats.total.get_response_time_percentile(p)
                for p in PERCENTILES
            },
            "steps": sum(s["count"] for s in steps),
            "step_errors": sum(s["errors"] for s in steps),
            "peak_users": peak_users,
        },
        "kinds": _kinds(env, steps_kind),
        "steps": steps,
        "methods": methods,
        "errors": [
            {"name": e.name, "count": e.occurrences, "error": str(e.error)[:500]}
            for e in env.stats.errors.values()
        ],
        "cpu": cpu,
        "timeline": timeline,
    }


def _kinds(env, steps_kind: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Percentiles over every read step, every saving step and every RPC call of the run.

    What the capacity targets are about ("p95 of read steps"): the steps' response times
    merged into one histogram per kind, not a mean of per-step percentiles.
    """
    from locust.stats import StatsEntry

    merged = {
        kind: StatsEntry(env.stats, kind, kind, use_response_times_cache=False)
        for kind in ("read", "save", "rpc")
    }
    for (name, kind), entry in env.stats.entries.items():
        merged[steps_kind.get(name, "read") if kind == STEP else "rpc"].extend(entry)
    return {
        kind: {
            "count": entry.num_requests,
            "errors": entry.num_failures,
            **{
                f"p{int(p * 100)}_ms": entry.get_response_time_percentile(p)
                if entry.num_requests
                else None
                for p in PERCENTILES
            },
        }
        for kind, entry in merged.items()
    }


def _cpu_summary(timeline, peak_users: int, found: dict[str, int]) -> dict[str, Any]:
    """Mean and max percent of a core per group over the samples with users running."""
    loaded = [p for p in timeline if p["users"]] or timeline
    groups: dict[str, Any] = {}
    for name, processes in found.items():
        values = [p["cpu"].get(name, 0.0) for p in loaded]
        groups[name] = {
            "processes": processes,
            "mean_pct": round(sum(values) / len(values), 1) if values else 0.0,
            "max_pct": max(values, default=0.0),
        }
    generator = groups.get(GENERATOR, {})
    if peak_users and generator:
        generator["mean_pct_per_100_users"] = round(generator["mean_pct"] * 100 / peak_users, 1)
    return groups
