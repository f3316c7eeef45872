"""Saving a load test: the results JSON, a PNG chart over time, and the text summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tryton_ops.capacity.cpu import GENERATOR


def save_json(results: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return path


def save_chart(results: dict[str, Any], path: Path) -> Path:
    """Three panels over time: users and request rate, p50/p95, CPU per group."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timeline = results["timeline"]
    t = [p["t"] for p in timeline]
    fig, (load, latency, cpu) = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    run = results["run"]
    fig.suptitle(
        f"tryton-ops loadtest: {run['users']} users, think {run['think']}, {run['database']}"
    )
    load.plot(t, [p["rps"] for p in timeline], label="RPC calls/s")
    load.plot(t, [p["steps_per_s"] for p in timeline], label="steps/s")
    users = load.twinx()
    users.plot(t, [p["users"] for p in timeline], color="grey", linestyle="--", label="users")
    users.set_ylabel("users")
    users.set_ylim(bottom=0)
    load.set_ylabel("per second")
    load.legend(loc="upper left")
    latency.plot(t, [p["p50_ms"] for p in timeline], label="p50")
    latency.plot(t, [p["p95_ms"] for p in timeline], label="p95")
    latency.set_ylabel("RPC latency (ms)")
    latency.legend(loc="upper left")
    for group in sorted(results["cpu"]):
        cpu.plot(t, [p["cpu"].get(group, 0.0) for p in timeline], label=group)
    cpu.set_ylabel("CPU (% of a core)")
    cpu.set_xlabel("seconds")
    cpu.legend(loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def text_summary(results: dict[str, Any]) -> str:
    totals, cpu = results["totals"], results["cpu"]
    lines = [
        f"{totals['peak_users']} users, {results['run']['duration_s']} s: "
        f"{totals['rpc_calls']} calls ({totals['rpc_per_s']}/s; "
        f"{totals.get('client_cache_hits', 0)} more answered by the clients' caches), "
        f"{totals['rpc_errors']} errors ({totals['error_rate']:.2%}), "
        f"{totals['steps']} steps ({totals['step_errors']} failed)",
        "",
        f"{'step':<48} {'kind':<5} {'count':>6} {'err':>4} {'p50':>6} {'p95':>6} {'p99':>6}",
    ]
    for s in results["steps"]:
        lines.append(
            f"{s['name'][:48]:<48} {s['kind']:<5} {s['count']:>6} {s['errors']:>4} "
            f"{_ms(s['p50_ms']):>6} {_ms(s['p95_ms']):>6} {_ms(s['p99_ms']):>6}"
        )
    if results["errors"]:
        lines.append("")
        lines.append("errors:")
        for error in results["errors"][:10]:
            lines.append(f"  {error['count']} x {error['name']}: {error['error'][:200]}")
    lines.append("")
    lines.append("CPU, % of one core (mean / max):")
    for name, group in sorted(cpu.items()):
        note = ""
        if name == GENERATOR and "mean_pct_per_100_users" in group:
            note = f"  ({group['mean_pct_per_100_users']} per 100 users)"
        elif not group["processes"]:
            note = "  (not found on this host)"
        lines.append(f"  {name:<12} {group['mean_pct']:>6} / {group['max_pct']:<6}{note}")
    return "\n".join(lines)
