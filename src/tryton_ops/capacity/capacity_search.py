"""Capacity finding: step the number of users up until a latency or error target is broken.

The capacity of a setting is the largest number of simulated users (at a given think time)
whose measured step still met every target. `find_capacity` only decides which number of users
to measure next and when to stop; measuring is the caller's `run_at(users)`, so the same logic
serves `loadtest run --find-capacity`, `tune` and the scale-out benchmark (one app host or
several), and its tests feed it real `LoadResult`s.

Steps grow geometrically (start, x growth, ...) to find the first broken step quickly, then
bisect between the last good and the first broken one for `refine` more steps.

One measurement of a step can mislead: a short step holds few saving steps, so their p95 is
nearly their maximum, and one slow call decides it. `repeats` measures each step several times
and judges it on its median measurement (it passes when most measurements do); `confirm`, the
cheaper and more lenient choice for a shared host, measures a broken step once more.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from tryton_ops.errors import UsageError

DEFAULT_READ_P95_MS = 500.0
DEFAULT_SAVE_P95_MS = 1500.0
DEFAULT_ERROR_RATE = 0.001  # 0.1 %
KNEE_FACTOR = 2.0  # the knee: where the median latency has doubled vs the lowest step


@dataclass(frozen=True)
class Targets:
    """What a step must meet to count: p95 of read steps, of saving steps, and error rate."""

    read_p95_ms: float = DEFAULT_READ_P95_MS
    save_p95_ms: float = DEFAULT_SAVE_P95_MS
    error_rate: float = DEFAULT_ERROR_RATE

    def __post_init__(self) -> None:
        if not (self.read_p95_ms > 0 and self.save_p95_ms > 0):
            raise UsageError("latency targets must be positive milliseconds")
        if not 0 <= self.error_rate < 1:
            raise UsageError("the error target must be a rate from 0 up to (not including) 100 %")

    def broken(self, result: LoadResult) -> list[str]:
        """Why `result` misses the targets (empty: it meets them all)."""
        reasons = []
        if not result.steps:
            reasons.append("no step completed")
        if result.read_p95_ms is not None and result.read_p95_ms > self.read_p95_ms:
            reasons.append(f"read p95 {result.read_p95_ms:.0f} ms > {self.read_p95_ms:.0f} ms")
        if result.save_p95_ms is not None and result.save_p95_ms > self.save_p95_ms:
            reasons.append(f"save p95 {result.save_p95_ms:.0f} ms > {self.save_p95_ms:.0f} ms")
        if result.error_rate > self.error_rate:
            reasons.append(f"errors {result.error_rate:.2%} > {self.error_rate:.2%}")
        return reasons

    def to_json(self) -> dict[str, float]:
        return {
            "read_p95_ms": self.read_p95_ms,
            "save_p95_ms": self.save_p95_ms,
            "error_rate": self.error_rate,
        }


@dataclass(frozen=True)
class LoadResult:
    """What one step (a fixed number of users for a while) measured, as the finder needs it."""

    users: int
    read_p95_ms: float | None  # None: no read step ran (e.g. a mix of saving steps only)
    save_p95_ms: float | None
    median_ms: float | None  # p50 of every RPC call: the latency whose doubling is the knee
    error_rate: float  # failed RPC calls / RPC calls
    calls: int
    steps: int
    calls_per_s: float = 0.0
    cpu: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_results(cls, users: int, results: dict[str, Any]) -> LoadResult:
        """From the results of `loadtest.run` (its "kinds" percentiles and totals)."""
        kinds, totals = results["kinds"], results["totals"]
        return cls(
            users=users,
            read_p95_ms=kinds["read"]["p95_ms"],
            save_p95_ms=kinds["save"]["p95_ms"],
            median_ms=kinds["rpc"]["p50_ms"],
            error_rate=totals["error_rate"],
            calls=totals["rpc_calls"],
            steps=totals["steps"],
            calls_per_s=totals["rpc_per_s"],
            cpu={name: group["mean_pct"] for name, group in results["cpu"].items()},
            details=results,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "users": self.users,
            "read_p95_ms": self.read_p95_ms,
            "save_p95_ms": self.save_p95_ms,
            "median_ms": self.median_ms,
            "error_rate": self.error_rate,
            "calls": self.calls,
            "steps": self.steps,
            "calls_per_s": self.calls_per_s,
            "cpu_mean_pct": self.cpu,
        }


@dataclass(frozen=True)
class CapacityResult:
    """The capacity in users, what broke at the next step, the knee, and every step measured."""

    capacity: int  # users of the largest step meeting the targets; 0: even the first broke them
    limited_by: tuple[str, ...]  # the reasons of the smallest broken step; () none broke
    knee_users: int | None  # first step whose median doubled vs the lowest step; None: none
    targets: Targets
    steps: tuple[LoadResult, ...]  # in the order measured
    max_users: int

    @property
    def reached_max(self) -> bool:
        """True when no step broke a target up to `max_users`: the capacity is at least that."""
        return not self.limited_by

    def passed(self, result: LoadResult) -> bool:
        return not self.targets.broken(result)

    def under(self, targets: Targets) -> int:
        """The capacity the same measurements give under other targets, by the finder's rule:
        each step judged on its median measurement, the capacity the largest step below the
        first broken one (a coarser grid than a sweep against those targets)."""
        by_users: dict[int, list[LoadResult]] = {}
        for step in self.steps:
            by_users.setdefault(step.users, []).append(step)
        capacity = 0
        for users in sorted(by_users):
            if targets.broken(median_measurement(by_users[users], targets)):
                break
            capacity = users
        return capacity

    def to_json(self) -> dict[str, Any]:
        return {
            "capacity_users": self.capacity,
            "limited_by": list(self.limited_by),
            "reached_max_users": self.reached_max,
            "max_users": self.max_users,
            "knee_users": self.knee_users,
            "targets": self.targets.to_json(),
            "steps": [
                step.to_json() | {"passed": self.passed(step), "broken": self.targets.broken(step)}
                for step in sorted(self.steps, key=lambda s: s.users)
            ],
        }


@dataclass(frozen=True)
class Sweep:
    """How a capacity search steps: first step, growth, largest step, bisections, warm-up."""

    targets: Targets = field(default_factory=Targets)
    start: int = 1
    growth: float = 2.0
    max_users: int = 200
    refine: int = 2
    warmup: float = 5.0  # seconds after the last user started before a step is measured
    confirm: bool = False  # a broken step is measured again before it ends the sweep
    repeats: int = 1  # measurements per step, judged on their median

    def __post_init__(self) -> None:
        check_sweep(self.start, self.growth, self.max_users, self.refine)
        check_repeats(self.repeats, self.confirm)

    def run(self, run_at: Callable[[int], LoadResult], on_step=None) -> CapacityResult:
        return find_capacity(
            run_at,
            self.targets,
            self.start,
            self.growth,
            self.max_users,
            self.refine,
            on_step,
            self.confirm,
            self.repeats,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "growth": self.growth,
            "max_users": self.max_users,
            "refine": self.refine,
            "warmup_s": self.warmup,
            "confirm": self.confirm,
            "repeats": self.repeats,
        }


def next_users(users: int, growth: float) -> int:
    """The next step up: `users` x growth, at least one more."""
    return max(users + 1, math.ceil(users * growth))


def find_capacity(
    run_at: Callable[[int], LoadResult],
    targets: Targets | None = None,
    start: int = 1,
    growth: float = 2.0,
    max_users: int = 200,
    refine: int = 2,
    on_step: Callable[[LoadResult, list[str]], None] | None = None,
    confirm: bool = False,
    repeats: int = 1,
) -> CapacityResult:
    """Measure steps of users until one breaks a target, then bisect `refine` steps more.

    `run_at(users)` measures one step; `on_step(result, broken_reasons)` sees each step as it
    comes (progress lines). The capacity is the largest step that met the targets.
    With `confirm`, a step that breaks a target is measured once more and counts as broken
    only if it breaks one again: on a machine shared with other work, one burst of someone
    else's load in a short step must not end the sweep. With `repeats` N, each step is measured
    N times and stands for its median measurement (`median_measurement`).
    """
    targets = targets or Targets()
    check_sweep(start, growth, max_users, refine)
    check_repeats(repeats, confirm)
    measured: list[LoadResult] = []

    def measure_once(users: int) -> LoadResult:
        result = run_at(users)
        if result.users != users:
            result = replace(result, users=users)
        measured.append(result)
        if on_step is not None:
            on_step(result, targets.broken(result))
        return result

    def measure(users: int) -> LoadResult:
        if repeats > 1:
            return median_measurement([measure_once(users) for _ in range(repeats)], targets)
        result = measure_once(users)
        if confirm and targets.broken(result):
            again = measure_once(users)
            if not targets.broken(again):
                return again
        return result

    good, bad = _grow(measure, targets, start, growth, max_users)
    for _ in range(refine):
        low = good.users if good else 0
        if bad is None or bad.users - low <= 1:
            break
        result = measure((low + bad.users) // 2)
        if targets.broken(result):
            bad = result
        else:
            good = result
    return CapacityResult(
        capacity=good.users if good else 0,
        limited_by=tuple(targets.broken(bad)) if bad else (),
        knee_users=knee(measured),
        targets=targets,
        steps=tuple(measured),
        max_users=max_users,
    )


def median_measurement(results: list[LoadResult], targets: Targets) -> LoadResult:
    """The middle one of measurements ordered passing first, then by read p95: it passes when
    more than half of them pass (a tie counts as broken), and is a real measurement."""
    ordered = sorted(results, key=lambda r: (bool(targets.broken(r)), r.read_p95_ms or 0.0))
    return ordered[len(ordered) // 2]


def _grow(measure, targets: Targets, start: int, growth: float, max_users: int):
    """(last good, first broken) of the geometric sweep; either may be None."""
    good: LoadResult | None = None
    users = start
    while True:
        result = measure(users)
        if targets.broken(result):
            return good, result
        good = result
        if users >= max_users:
            return good, None
        users = min(max_users, next_users(users, growth))


def knee(results: Iterable[LoadResult]) -> int | None:
    """Users of the first step whose median latency is KNEE_FACTOR x that of the lowest step."""
    ordered = sorted((r for r in results if r.median_ms), key=lambda r: r.users)
    if not ordered:
        return None
    base = ordered[0].median_ms
    return next((r.users for r in ordered[1:] if r.median_ms >= KNEE_FACTOR * base), None)


def check_sweep(start: int, growth: float, max_users: int, refine: int) -> None:
    if start < 1:
        raise UsageError(f"the first step must have at least 1 user, not {start}")
    if max_users < start:
        raise UsageError(f"--max-users ({max_users}) is below the first step ({start})")
    if not growth > 1:
        raise UsageError(f"--growth must be above 1, not {growth:g}")
    if refine < 0:
        raise UsageError(f"--refine must not be negative, not {refine}")


def check_repeats(repeats: int, confirm: bool) -> None:
    if repeats < 1:
        raise UsageError(f"--repeats must be at least 1, not {repeats}")
    if repeats > 1 and confirm:
        raise UsageError("--confirm measures a broken step twice; with --repeats, drop it")


def text_summary(result: CapacityResult, think: str) -> str:
    """The table of steps and the verdict, as `loadtest run --find-capacity` prints it."""
    lines = [
        f"{'users':>6} {'calls/s':>8} {'read p95':>9} {'save p95':>9} {'median':>7} "
        f"{'errors':>7}  verdict",
    ]
    for step in sorted(result.steps, key=lambda s: s.users):
        broken = result.targets.broken(step)
        lines.append(
            f"{step.users:>6} {step.calls_per_s:>8.1f} {_ms(step.read_p95_ms):>9} "
            f"{_ms(step.save_p95_ms):>9} {_ms(step.median_ms):>7} {step.error_rate:>7.2%}  "
            + ("ok" if not broken else "; ".join(broken))
        )
    lines.append("")
    if result.reached_max:
        verdict = f"capacity: at least {result.capacity} users (no target broken up to --max-users)"
    elif result.capacity == 0:
        verdict = (
            f"capacity: 0 users: the first step already broke a target ({result.limited_by[0]})"
        )
    else:
        verdict = f"capacity: {result.capacity} users at think time {think}"
        verdict += f" (next step: {'; '.join(result.limited_by)})"
    lines.append(verdict)
    knee_text = f"{result.knee_users} users" if result.knee_users else "not reached"
    lines.append(f"knee (median latency doubled vs the lowest step): {knee_text}")
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def locust_run_at(plan, save: Callable[[int, dict], None] | None = None):
    """`run_at` measuring each step with `loadtest.run` (plan: a `loadtest.LoadRun`).

    `save(users, results)` receives each step's full results (to keep them as files).
    """
    from tryton_ops.capacity import loadtest

    def run_at(users: int) -> LoadResult:
        results = loadtest.run(replace(plan, users=users))
        if save is not None:
            save(users, results)
        return LoadResult.from_results(users, results)

    return run_at
