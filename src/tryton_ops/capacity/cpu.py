"""CPU of the servers under test and of the load generator, sampled with psutil.

A server is found by the TCP port it listens on (this host only): the listening process and
all its children, so gunicorn's or PostgreSQL's workers count with their master. The
generator is this process. A group may also be a counter of CPU seconds, e.g. a cgroup
(`capacity.cgroups.CpuGroup`): how servers in other network namespaces, whose sockets this
host's table does not show, are accounted. Figures are percent of one core (200 = two cores
busy).
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Protocol

import psutil

GENERATOR = "generator"


def listening_pids(port: int) -> set[int]:
    """Every process holding a TCP socket listening on `port` (a master and its workers).

    Asked process by process: the system-wide table names one holder per socket.
    """
    found = set()
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            for conn in process.net_connections("tcp"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                    found.add(process.pid)
                    break
    return found


def with_children(pids: set[int]) -> dict[int, psutil.Process]:
    found: dict[int, psutil.Process] = {}
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            found[pid] = process
            for child in process.children(recursive=True):
                found[child.pid] = child
    return found


class CpuCounter(Protocol):
    """CPU seconds a group of processes used so far, and its processes now."""

    def usage_s(self) -> float: ...

    def pids(self) -> list[int]: ...


class CpuSampler:
    """Percent of a core per group since the previous sample; groups are name -> port, or
    name -> counter."""

    def __init__(self, ports: dict[str, int], counters: dict[str, CpuCounter] | None = None):
        self.ports = {name: port for name, port in ports.items() if port}
        self.roots = {name: listening_pids(port) for name, port in self.ports.items()}
        self.counters = dict(counters or {})
        self._last: dict[int, float] = {}
        self._counted: dict[str, float] = {}
        self._at = time.perf_counter()
        self.sample()

    def groups(self) -> dict[str, dict[int, psutil.Process]]:
        found = {GENERATOR: {os.getpid(): psutil.Process()}}
        for name, roots in self.roots.items():
            found[name] = with_children(roots)
        return found

    def sample(self) -> dict[str, float]:
        now = time.perf_counter()
        elapsed = max(now - self._at, 1e-6)
        self._at = now
        usage: dict[str, float] = {}
        seen: dict[int, float] = {}
        for name, processes in self.groups().items():
            total = 0.0
            for pid, process in processes.items():
                with contextlib.suppress(psutil.Error):
                    times = process.cpu_times()
                    spent = times.user + times.system
                    seen[pid] = spent
                    total += spent - self._last.get(pid, spent)
            usage[name] = round(100 * total / elapsed, 1)
        self._last = seen
        for name, counter in self.counters.items():
            spent = counter.usage_s()
            usage[name] = round(100 * (spent - self._counted.get(name, spent)) / elapsed, 1)
            self._counted[name] = spent
        return usage

    def found(self) -> dict[str, int]:
        """How many processes each group has now (0: not on this host)."""
        found = {name: len(processes) for name, processes in self.groups().items()}
        return found | {name: len(c.pids()) for name, c in self.counters.items()}
