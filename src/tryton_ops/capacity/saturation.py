"""The most a server serves: several users per worker, none of them thinking.

A capacity in users moves on the finder's grid (1.5x a step); the throughput at saturation is
the finer figure for comparing two settings of one server (what the analyzer costs) or one
setting on more hosts (scale-out efficiency): a few per cent apart is visible there.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from tryton_ops.capacity.plan import ThinkTime

if TYPE_CHECKING:  # loadtest imports Locust, which patches the process it is imported in
    from tryton_ops.capacity.loadtest import LoadRun

USERS_PER_WORKER = 3  # every worker has a call queued behind the one it serves


def saturating(plan: LoadRun, workers: int, duration: float) -> LoadRun:
    """`plan` with enough users, without think time, to keep `workers` workers busy."""
    users = USERS_PER_WORKER * workers
    workload = replace(plan.workload, think=ThinkTime.parse("const:0"))
    return replace(plan, workload=workload, users=users, spawn_rate=users, duration=duration)


def throughput(results: dict[str, Any]) -> dict[str, Any]:
    """Steps/s, calls/s, errors and the CPU of every sampled group, from a run's results;
    `cpu_ms_per_call` is the CPU of each group (ms of one core) per RPC call."""
    totals = results["totals"]
    elapsed = max(results["run"]["duration_s"], 1e-6)
    cpu = {name: group["mean_pct"] for name, group in results["cpu"].items()}
    calls = totals["rpc_per_s"]
    return {
        "users": results["run"]["users"],
        "steps_per_s": round(totals["steps"] / elapsed, 2),
        "calls_per_s": calls,
        "errors": totals["rpc_errors"],
        "cpu_pct": cpu,
        "cpu_ms_per_call": {
            name: round(pct * 10 / calls, 2) if calls else None for name, pct in cpu.items()
        },
    }
