"""Deployment shapes side by side: stock `trytond` vs gunicorn (1, 2, 4 workers) directly vs the
same behind nginx, on PostgreSQL, in one run.

    .venv/8.2/bin/python benchmarks/deploy.py [--seconds 5] [--clients 1,8,32]
        [--workers 1,2,4] [--parties 100]

One private PostgreSQL and one `party` database (`--parties` parties). Servers, one at a time:
- `stock`: trytond's own server (`trytond -c trytond.conf -d DB`: one process, werkzeug threads);
- `gunicorn-N`: the local stack (`local_stack.start`, supervisord, `tryton_ops.deploy.wsgi:app`)
  with N sync workers and nginx in front (front on, rate limits raised out of the way); each
  cell is measured twice back to back, once on gunicorn's own port (`direct`) and once through
  nginx (`+nginx`), so both paths hit the very same workers.

Workload: `search_read` of 80 parties with 4 fields (name, code, lang, active), and
`fields_view_get` of the party form.
Each of 1, 8 and 32 client threads has its own keep-alive HTTP connection and its own session
(logged in once per client, sessions reused on every server since they live in the database).
A cell runs `--seconds` after one warm-up call per client.

Per cell: req/s, p50/p99 latency, errors, and CPU per call measured with psutil cpu_times
before/after: `app` (trytond or gunicorn master + workers), `nginx` (through-nginx cells only),
`pg` (postmaster, its live backends, and reaped backends via the postmaster's children times)
and `client` (this process). The CPU ceiling of an operation is 2 cores / machine CPU per call
(app + nginx + pg + client) of the least contended gunicorn cell (1 worker, 1 client, direct);
"ceil%" is req/s divided by that ceiling. Other load on the machine is shown as "other%"
(machine busy time not spent by the processes above), to tell a noisy run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tryton_ops.client import Connection, RPCError
from tryton_ops.config.trytond_conf import trytond_env
from tryton_ops.deploy import local_stack
from tryton_ops.testing.databases import DatabaseTemplates, TestDatabase, derive
from tryton_ops.testing.processes import ManagedProcess, free_port, port_open
from tryton_ops.testing.servers import PostgresServer
from tryton_ops.testing.stack import TestStack

CORES = psutil.cpu_count() or 2
FIELDS = ["name", "code", "lang", "active"]
OPERATIONS: dict[str, Callable[[Connection], object]] = {
    "search_read": lambda conn: conn.call(
        "model.party.party.search_read", [], 0, 80, [["id", "ASC"]], FIELDS, {}
    ),
    "fields_view_get": lambda conn: conn.call(
        "model.party.party.fields_view_get", None, "form", {}
    ),
}


# --- CPU accounting -------------------------------------------------------------------------


def _own_cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def _tree_cpu(root: psutil.Process, include_root: bool, reaped: bool) -> float:
    """CPU seconds of `root`'s live descendants (and root), plus reaped children if asked."""
    total = 0.0
    with contextlib.suppress(psutil.Error):
        if include_root:
            total += _own_cpu(root)
        if reaped:
            times = root.cpu_times()
            total += times.children_user + times.children_system
        for child in root.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += _own_cpu(child)
    return total


def _machine_busy() -> float:
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


@dataclass
class CPUProbe:
    """What to sum for each role; every function returns CPU seconds so far."""

    roles: dict[str, Callable[[], float]]

    def snapshot(self) -> dict[str, float]:
        values = {name: read() for name, read in self.roles.items()}
        values["machine"] = _machine_busy()
        return values


def _named(root: psutil.Process, names: tuple[str, ...], exclude: bool) -> float:
    total = 0.0
    with contextlib.suppress(psutil.Error):
        for child in root.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if (child.name() in names) != exclude:
                    total += _own_cpu(child)
    return total


# --- load generation ------------------------------------------------------------------------


@dataclass
class Cell:
    setup: str
    operation: str
    clients: int
    calls: int
    errors: int
    seconds: float
    latencies: list[float]
    cpu: dict[str, float] = field(default_factory=dict)  # seconds per role over the cell

    @property
    def rate(self) -> float:
        return self.calls / self.seconds

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def ms_per_call(self, *roles: str) -> float:
        return 1000 * sum(self.cpu.get(role, 0.0) for role in roles) / max(self.calls, 1)

    @property
    def machine_ms(self) -> float:
        return self.ms_per_call("app", "nginx", "pg", "client")

    @property
    def other_pct(self) -> float:
        ours = sum(self.cpu.get(role, 0.0) for role in ("app", "nginx", "pg", "client"))
        return 100 * max(self.cpu.get("machine", 0.0) - ours, 0.0) / (CORES * self.seconds)


def run_cell(
    setup: str,
    operation: str,
    connections: list[Connection],
    seconds: float,
    probe: CPUProbe,
) -> Cell:
    call = OPERATIONS[operation]
    for conn in connections:  # warm-up: one call per client (connection, caches)
        call(conn)
    latencies: list[list[float]] = [[] for _ in connections]
    errors = [0] * len(connections)
    barrier = threading.Barrier(len(connections) + 1)
    stop_at = [0.0]

    def client(index: int) -> None:
        conn = connections[index]
        mine = latencies[index]
        barrier.wait()
        while (started := time.perf_counter()) < stop_at[0]:
            try:
                call(conn)
            except RPCError:
                errors[index] += 1
                continue
            mine.append(time.perf_counter() - started)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(connections))]
    for thread in threads:
        thread.start()
    before = probe.snapshot()
    started = time.perf_counter()
    stop_at[0] = started + seconds
    barrier.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    after = probe.snapshot()
    merged = [value for values in latencies for value in values]
    return Cell(
        setup=setup,
        operation=operation,
        clients=len(connections),
        calls=len(merged),
        errors=sum(errors),
        seconds=elapsed,
        latencies=merged,
        cpu={name: after[name] - before[name] for name in after},
    )


def clone(conn: Connection, url: str) -> Connection:
    """A new keep-alive connection to `url` reusing `conn`'s session."""
    other = Connection(url, conn.database, timeout=120)
    other.user_id, other.session, other.login_name = conn.user_id, conn.session, conn.login_name
    return other


# --- servers --------------------------------------------------------------------------------


def start_stock(database: TestDatabase, base: Path) -> ManagedProcess:
    port = free_port()
    config = derive(
        database.config,
        {"server": {"listen": f"127.0.0.1:{port}"}, "paths": {"run": str(base / "stock")}},
    )
    env = trytond_env(config, TRYTOND_DATABASE_NAMES=database.name)
    trytond = str(Path(sys.executable).with_name("trytond"))
    server = ManagedProcess(
        name="trytond",
        argv=[trytond, "-c", env["TRYTOND_CONFIG"], "-d", database.name],
        ready=lambda: port_open("127.0.0.1", port),
        log_path=base / "stock.log",
        env=env,
        start_timeout=120,
    )
    server.url = f"http://127.0.0.1:{port}/"
    return server.start()


def start_gunicorn(database: TestDatabase, workers: int) -> TestStack:
    front = {
        "enabled": "on",
        "listen": f"127.0.0.1:{free_port()}",
        "rpc_rate_per_second": 1_000_000,  # the benchmark is one address: no rate limits
        "login_rate_per_minute": 100_000,
    }
    return TestStack(database, workers=workers, front=front).start()


# --- report ---------------------------------------------------------------------------------

HEADER = (
    f"{'setup':<17}{'op':<16}{'cl':>3}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'err':>5}"
    f"{'app':>7}{'nginx':>7}{'pg':>6}{'client':>7}{'total':>7}  {'x stock':>7}{'ceil%':>6}"
    f"{'other%':>7}"
)


def print_cell(cell: Cell, stock: Cell | None, ceiling: float | None) -> None:
    ratio = f"{cell.rate / stock.rate:7.2f}" if stock else f"{'-':>7}"
    reached = f"{100 * cell.rate / ceiling:6.0f}" if ceiling else f"{'-':>6}"
    print(
        f"{cell.setup:<17}{cell.operation:<16}{cell.clients:>3}{cell.rate:8.1f}"
        f"{cell.percentile(0.5):8.1f}{cell.percentile(0.99):8.1f}{cell.errors:>5}"
        f"{cell.ms_per_call('app'):7.2f}{cell.ms_per_call('nginx'):7.2f}"
        f"{cell.ms_per_call('pg'):6.2f}{cell.ms_per_call('client'):7.2f}"
        f"{cell.machine_ms:7.2f}  {ratio}{reached}{cell.other_pct:7.0f}",
        flush=True,
    )


def summarize(cells: list[Cell], workers: Iterable[int], clients: list[int]) -> None:
    by_key = {(c.setup, c.operation, c.clients): c for c in cells}
    print("\nCPU ms per call = CPU seconds of the role over the cell / calls served.")
    print("ceiling = cores / machine CPU per call of gunicorn-1 direct with 1 client.\n")
    for operation in OPERATIONS:
        ref = by_key.get(("gunicorn-1", operation, 1))
        if ref is None:
            continue
        ceiling = CORES * 1000 / ref.machine_ms
        print(
            f"{operation}: {ref.machine_ms:.2f} ms of machine CPU per call "
            f"(app {ref.ms_per_call('app'):.2f}, pg {ref.ms_per_call('pg'):.2f}, "
            f"client {ref.ms_per_call('client'):.2f}) -> ceiling {CORES} cores / "
            f"{ref.machine_ms:.2f} ms = {ceiling:.0f} req/s"
        )
        for setup in ["stock"] + [f"gunicorn-{w}{s}" for w in workers for s in ("", "+nginx")]:
            row = [by_key.get((setup, operation, n)) for n in clients]
            best = max((c for c in row if c), key=lambda c: c.rate, default=None)
            if best is None:
                continue
            stock = by_key.get(("stock", operation, best.clients))
            ratio = f", {best.rate / stock.rate:.2f}x stock at {best.clients}" if stock else ""
            print(
                f"  {setup:<17} best {best.rate:7.1f} req/s with {best.clients:>2} clients = "
                f"{100 * best.rate / ceiling:4.0f}% of ceiling{ratio}"
            )
    print("\nnginx p50 overhead vs the same workers directly:")
    for cell in cells:
        if not cell.setup.endswith("+nginx"):
            continue
        direct = by_key.get((cell.setup.removesuffix("+nginx"), cell.operation, cell.clients))
        if direct:
            p50, base = cell.percentile(0.5), direct.percentile(0.5)
            print(
                f"  {cell.setup:<17}{cell.operation:<16}{cell.clients:>3} clients: "
                f"p50 {base:7.1f} -> {p50:7.1f} ms ({100 * (p50 / base - 1):+5.1f}%)"
            )


# --- main -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--parties", type=int, default=100)
    args = parser.parse_args()
    clients = [int(n) for n in args.clients.split(",")]
    workers = [int(n) for n in args.workers.split(",")]

    base = Path(tempfile.mkdtemp(prefix="deploy-bench-"))
    postgres = PostgresServer().start()
    cells: list[Cell] = []
    started_run = time.monotonic()
    try:
        templates = DatabaseTemplates(base / "templates", postgres=lambda: postgres)
        database = templates.copy("postgresql", ("party",), base / "db")
        postmaster = psutil.Process(postgres.pid)
        me = psutil.Process()
        pg_cpu = lambda: _tree_cpu(postmaster, include_root=True, reaped=True)  # noqa: E731

        stock = start_stock(database, base)
        seed = Connection(stock.url, database.name, timeout=120)
        seed.login("admin", database.password)
        values = [
            {"name": f"Party {i}", "addresses": [["create", [{"city": f"City {i}"}]]]}
            for i in range(args.parties)
        ]
        seed.call("model.party.party.create", values, {})
        with ThreadPoolExecutor(4) as pool:  # one session per client, logged in once
            sessions = list(
                pool.map(
                    lambda _: _login(stock.url, database),
                    range(max(clients)),
                )
            )
        print(
            f"PostgreSQL, {args.parties} parties, {CORES} cores, "
            f"{args.seconds:.0f} s per cell; CPU columns are ms per call\n"
        )
        print(HEADER, flush=True)
        stock_cells: dict[tuple[str, int], Cell] = {}
        try:
            proc = psutil.Process(stock.pid)
            probe = CPUProbe(
                {
                    "app": lambda: _tree_cpu(proc, include_root=True, reaped=False),
                    "pg": pg_cpu,
                    "client": lambda: _own_cpu(me),
                }
            )
            conns = [clone(s, stock.url) for s in sessions]
            for operation in OPERATIONS:
                for n in clients:
                    cell = run_cell("stock", operation, conns[:n], args.seconds, probe)
                    stock_cells[(operation, n)] = cell
                    cells.append(cell)
                    print_cell(cell, None, None)
            for conn in conns:
                conn.close()
        finally:
            stock.stop()

        for count in workers:
            stack = start_gunicorn(database, count)
            try:
                supervisor = psutil.Process(stack.state.pid)
                direct_probe = CPUProbe(
                    {
                        "app": lambda s=supervisor: _named(s, ("nginx",), exclude=True),
                        "pg": pg_cpu,
                        "client": lambda: _own_cpu(me),
                    }
                )
                nginx_probe = CPUProbe(
                    {
                        **direct_probe.roles,
                        "nginx": lambda s=supervisor: _named(s, ("nginx",), exclude=False),
                    }
                )
                direct_url = local_stack.server_url(stack.config)
                paths = [
                    (f"gunicorn-{count}", direct_url, direct_probe),
                    (f"gunicorn-{count}+nginx", stack.url, nginx_probe),
                ]
                paths = [
                    (name, [clone(s, url) for s in sessions], probe) for name, url, probe in paths
                ]
                for operation in OPERATIONS:
                    for n in clients:
                        for setup, conns, probe in paths:
                            cell = run_cell(setup, operation, conns[:n], args.seconds, probe)
                            cells.append(cell)
                            print_cell(cell, stock_cells.get((operation, n)), None)
                for _, conns, _ in paths:
                    for conn in conns:
                        conn.close()
            finally:
                stack.stop()

        print("\nwith ratios to the CPU ceiling:\n" + HEADER)
        refs = {c.operation: c for c in cells if c.setup == "gunicorn-1" and c.clients == 1}
        for cell in cells:
            ref = refs.get(cell.operation)
            ceiling = CORES * 1000 / ref.machine_ms if ref else None
            print_cell(cell, stock_cells.get((cell.operation, cell.clients)), ceiling)
        summarize(cells, workers, clients)
        print(f"\ntotal run time {time.monotonic() - started_run:.0f} s")
    finally:
        postgres.destroy()
        shutil.rmtree(base, ignore_errors=True)


def _login(url: str, database: TestDatabase) -> Connection:
    conn = Connection(url, database.name, timeout=120)
    conn.login("admin", database.password)
    return conn


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
