"""CPU quota groups: hold a set of processes to a fixed share of this machine's cores.

A measured app host must not borrow the idle cores of its neighbours, or adding a host would
measure nothing: each one runs in a cgroup with a CPU quota (a ceiling, in cores). The kernel
offers that two ways, and which one a machine has is found at run time:

- cgroup v2: the unified hierarchy with the `cpu` controller; `cpu.max` holds
  "QUOTA_US PERIOD_US", `cpu.stat` `usage_usec` and `nr_throttled`.
- cgroup v1: a `cpu` hierarchy with `cpu.cfs_quota_us` / `cpu.cfs_period_us` and `cpu.stat`
  (`nr_throttled`, `throttled_time`), and a `cpuacct` hierarchy (the same mount or another)
  with `cpuacct.usage` in nanoseconds.

Groups live in `tryton-ops-<pid as hex>` below the hierarchy's root, so that groups of a run
that was killed are recognised (their pid is gone) and removed by the next run.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from tryton_ops.errors import OpsError

PREFIX = "tryton-ops-"
PERIOD_US = 100_000  # the kernel's default CFS period: 100 ms
# the weight of a group against its siblings when cores are contended, as a multiple of the
# default (v1 cpu.shares 1024, v2 cpu.weight 100); a process of the root group counts once
DEFAULT_SHARES = {1: 1024, 2: 100}


class CgroupError(OpsError):
    """No usable cgroup CPU controller, or the kernel refused a write."""


@dataclass(frozen=True)
class Layout:
    """Where this machine's CPU controller lives: v2 (one root) or v1 (cpu and cpuacct)."""

    version: int
    cpu_root: Path
    acct_root: Path  # v1: the cpuacct hierarchy (may equal cpu_root); v2: cpu_root


def detect(mounts: str | None = None) -> Layout:
    """The CPU controller of this machine, from /proc/self/mounts (v2 preferred when its
    root offers `cpu`: the controller is bound to one hierarchy at a time)."""
    if mounts is None:
        mounts = Path("/proc/self/mounts").read_text()
    v1_cpu = v1_acct = None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        point, fstype, options = Path(fields[1]), fields[2], fields[3].split(",")
        if fstype == "cgroup2" and "cpu" in _controllers(point):
            return Layout(2, point, point)
        if fstype == "cgroup":
            if "cpu" in options and v1_cpu is None:
                v1_cpu = point
            if "cpuacct" in options and v1_acct is None:
                v1_acct = point
    if v1_cpu is not None and v1_acct is not None:
        return Layout(1, v1_cpu, v1_acct)
    raise CgroupError(
        "no cgroup CPU controller: neither a cgroup2 mount offering 'cpu' nor cgroup v1 "
        "'cpu' and 'cpuacct' mounts (see /proc/self/mounts)"
    )


def _controllers(point: Path) -> list[str]:
    try:
        return (point / "cgroup.controllers").read_text().split()
    except OSError:
        return []


def _write(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError as exc:
        raise CgroupError(f"cannot write {value.strip()!r} to {path}: {exc.strerror}") from None


def _pids(directory: Path) -> list[int]:
    try:
        return [int(p) for p in (directory / "cgroup.procs").read_text().split()]
    except OSError:
        return []


def _empty_and_remove(directory: Path) -> None:
    """SIGKILL what runs in the group, then remove it (children first)."""
    if not directory.is_dir():
        return
    for child in [p for p in directory.iterdir() if p.is_dir()]:
        _empty_and_remove(child)
    deadline = time.monotonic() + 5
    while (pids := _pids(directory)) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    with contextlib.suppress(OSError):
        directory.rmdir()


class CpuGroups:
    """The groups of one run: `group(name, cores)` makes one; `close()` removes them all."""

    def __init__(self, layout: Layout | None = None):
        self.layout = layout or detect()
        self.tag = f"{PREFIX}{os.getpid():x}"
        self._remove_leftovers()
        self.roots = sorted({self.layout.cpu_root, self.layout.acct_root})
        for root in self.roots:
            (root / self.tag).mkdir(exist_ok=True)
        if self.layout.version == 2:
            self._enable_cpu(self.layout.cpu_root)
            self._enable_cpu(self.layout.cpu_root / self.tag)
        self.groups: dict[str, CpuGroup] = {}

    def _enable_cpu(self, directory: Path) -> None:
        if "cpu" not in (directory / "cgroup.subtree_control").read_text().split():
            _write(directory / "cgroup.subtree_control", "+cpu")

    def _remove_leftovers(self) -> None:
        for root in {self.layout.cpu_root, self.layout.acct_root}:
            for directory in root.glob(f"{PREFIX}*"):
                match = re.fullmatch(rf"{PREFIX}([0-9a-f]+)", directory.name)
                if match and not _alive(int(match.group(1), 16)):
                    _empty_and_remove(directory)

    def group(self, name: str, cores: float | None = None, weight: float = 1.0) -> CpuGroup:
        """A group named `name`, held to `cores` (None: no ceiling, only accounted).

        `weight` > 1 lets it take its quota even when other work keeps every core busy: a
        quota is only a ceiling, and a host that gets less than its share on a shared machine
        measures the neighbours, not itself."""
        group = CpuGroup(self, name)
        group.set_quota(cores)
        group.set_weight(weight)
        self.groups[name] = group
        self._weigh_parent()
        return group

    def _weigh_parent(self) -> None:
        """The run's parent group weighs as much as its groups together: otherwise they would
        share one default weight against the rest of the machine."""
        parent = self.layout.cpu_root / self.tag
        weights = [g.weight for g in self.groups.values()]
        if self.layout.version == 2:
            _write(parent / "cpu.weight", f"{min(sum(weights), 10_000)}\n")
        else:
            _write(parent / "cpu.shares", f"{sum(weights)}\n")

    def close(self) -> None:
        for root in self.roots:
            _empty_and_remove(root / self.tag)
        self.groups.clear()

    def __enter__(self) -> CpuGroups:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class Throttling:
    periods: int  # CFS periods in which the group ran
    throttled: int  # periods in which it hit its quota
    throttled_s: float  # time its processes waited for the next period


class CpuGroup:
    """One group: its processes are held to `cores`; `usage_s()` is the CPU they used."""

    def __init__(self, groups: CpuGroups, name: str):
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise CgroupError(f"cgroup name {name!r}: letters, digits, '_', '.', '-' only")
        self.name = name
        self.layout = groups.layout
        self.cpu_dir = self.layout.cpu_root / groups.tag / name
        self.acct_dir = self.layout.acct_root / groups.tag / name
        for directory in {self.cpu_dir, self.acct_dir}:
            directory.mkdir(exist_ok=True)
        self.cores: float | None = None
        self.weight = DEFAULT_SHARES[self.layout.version]

    @property
    def procs_files(self) -> list[Path]:
        return [d / "cgroup.procs" for d in sorted({self.cpu_dir, self.acct_dir})]

    def set_quota(self, cores: float | None) -> None:
        """Change the ceiling at any time (None: none); the processes stay in the group."""
        if cores is not None and cores <= 0:
            raise CgroupError(f"CPU quota of {self.name}: {cores} cores must be positive")
        quota = round(cores * PERIOD_US) if cores else None
        if self.layout.version == 2:
            _write(self.cpu_dir / "cpu.max", f"{quota or 'max'} {PERIOD_US}\n")
        else:
            _write(self.cpu_dir / "cpu.cfs_period_us", f"{PERIOD_US}\n")
            _write(self.cpu_dir / "cpu.cfs_quota_us", f"{quota or -1}\n")
        self.cores = cores

    def set_weight(self, weight: float) -> None:
        if weight <= 0:
            raise CgroupError(f"CPU weight of {self.name}: {weight} must be positive")
        value = max(2, round(DEFAULT_SHARES[self.layout.version] * weight))
        if self.layout.version == 2:
            value = min(value, 10_000)
            _write(self.cpu_dir / "cpu.weight", f"{value}\n")
        else:
            _write(self.cpu_dir / "cpu.shares", f"{value}\n")
        self.weight = value

    def quota(self) -> float | None:
        """The ceiling the kernel holds, read back (cores; None when unlimited)."""
        if self.layout.version == 2:
            quota, period = (self.cpu_dir / "cpu.max").read_text().split()
            return None if quota == "max" else int(quota) / int(period)
        quota = int((self.cpu_dir / "cpu.cfs_quota_us").read_text())
        period = int((self.cpu_dir / "cpu.cfs_period_us").read_text())
        return None if quota < 0 else quota / period

    def wrap(self, argv: list[str]) -> list[str]:
        """`argv` started inside the group: a shell writes its own pid into the group, then
        execs it, so the program and every process it forks are in from their first
        instruction."""
        files = [str(f) for f in self.procs_files]
        script = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1"; shift; n=$((n-1)); done; '
        return ["sh", "-c", script + 'exec "$@"', "sh", str(len(files)), *files, *argv]

    def add(self, pid: int) -> None:
        """Move a running process in (its later children follow it)."""
        for procs in self.procs_files:
            _write(procs, f"{pid}\n")

    def pids(self) -> list[int]:
        return _pids(self.cpu_dir)

    def usage_s(self) -> float:
        """CPU seconds used by the group's processes since it was made."""
        if self.layout.version == 2:
            return self._stat()["usage_usec"] / 1e6
        return int((self.acct_dir / "cpuacct.usage").read_text()) / 1e9

    def throttling(self) -> Throttling:
        stat = self._stat()
        if self.layout.version == 2:
            waited = stat.get("throttled_usec", 0) / 1e6
        else:
            waited = stat.get("throttled_time", 0) / 1e9
        return Throttling(stat.get("nr_periods", 0), stat.get("nr_throttled", 0), waited)

    def _stat(self) -> dict[str, int]:
        pairs = (line.split() for line in (self.cpu_dir / "cpu.stat").read_text().splitlines())
        return {key: int(value) for key, value in pairs}
