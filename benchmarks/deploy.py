"""Deployment shapes side by side: stock `trytond` vs gunicorn (1, 2, 4 workers) directly vs the
same behind nginx, on PostgreSQL, in one run; uWSGI beside gunicorn with `--app-servers`.

    .venv/8.2/bin/python benchmarks/deploy.py [--seconds 5] [--clients 1,8,32]
        [--workers 1,2,4] [--parties 100] [--app-servers gunicorn,uwsgi] [--accel]

One private PostgreSQL and one `party` database (`--parties` parties). Servers, one at a time:
- `stock`: trytond's own server (`trytond -c trytond.conf -d DB`: one process, werkzeug threads);
- `gunicorn-N`: the local stack (`local_stack.start`, supervisord, `tryton_ops.deploy.wsgi:app`)
  with N sync workers and nginx in front (front on, rate limits raised out of the way), measured
  on gunicorn's own port (`gunicorn-N`) and through nginx (`gunicorn-N+nginx`): both paths hit
  the very same workers. `uwsgi-N` and `uwsgi-N+nginx`: the same with `server.app_server =
  "uwsgi"`. With `--accel`, each app server also with the accelerators on (`gunicorn-N+accel`,
  `gunicorn-N+accel+nginx`): the recommended production setting.

Workload: `search_read` of 80 parties with 4 fields (name, code, lang, active), and
`fields_view_get` of the party form.
Each of 1, 8 and 32 client threads has its own keep-alive HTTP connection and its own session
(logged in once per client, sessions reused on every server since they live in the database).
A cell runs `--seconds` after one warm-up call per client.

All servers run side by side for the whole run (idle ones cost nothing); each cell is cut into
`--rounds` slices, interleaved across setups (alternating order), so that noise from other load
on the machine hits every setup alike.

Per cell: req/s, p50/p99 latency, errors, and CPU per call measured with psutil cpu_times
before/after: `app` (trytond or gunicorn master + workers), `nginx` (through-nginx cells only),
`pg` (postmaster, its live backends, and reaped backends via the postmaster's children times)
and `client` (this process). The CPU ceiling of an operation is 2 cores / machine CPU per call
(app + nginx + pg + client) of the app server cell running the same code (stock code, or with
the accelerators) that served it most cheaply (the lowest cost seen: a demanding ceiling);
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

from tryton_ops.accel.registry import ACCELERATORS
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
    other.auth = conn.auth
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


ACCEL = dict.fromkeys(ACCELERATORS, True)  # every accelerator on


def start_app_server(
    database: TestDatabase, app_server: str, workers: int, accel: bool = False
) -> TestStack:
    front = {
        "enabled": "on",
        "listen": f"127.0.0.1:{free_port()}",
        "rpc_rate_per_second": 1_000_000,  # the benchmark is one address: no rate limits
        "login_rate_per_minute": 100_000,
    }
    server = {"app_server": app_server}
    sections = {"front": front, "server": server} | ({"accel": ACCEL} if accel else {})
    return TestStack(database, workers=workers, **sections).start()


# --- report ---------------------------------------------------------------------------------

HEADER = (
    f"{'setup':<23}{'op':<16}{'cl':>3}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'err':>5}"
    f"{'app':>7}{'nginx':>7}{'pg':>6}{'client':>7}{'total':>7}  {'x stock':>7}{'ceil%':>6}"
    f"{'other%':>7}"
)


def print_cell(cell: Cell, stock: Cell | None, ceiling: float | None) -> None:
    ratio = f"{cell.rate / stock.rate:7.2f}" if stock else f"{'-':>7}"
    reached = f"{100 * cell.rate / ceiling:6.0f}" if ceiling else f"{'-':>6}"
    print(
        f"{cell.setup:<23}{cell.operation:<16}{cell.clients:>3}{cell.rate:8.1f}"
        f"{cell.percentile(0.5):8.1f}{cell.percentile(0.99):8.1f}{cell.errors:>5}"
        f"{cell.ms_per_call('app'):7.2f}{cell.ms_per_call('nginx'):7.2f}"
        f"{cell.ms_per_call('pg'):6.2f}{cell.ms_per_call('client'):7.2f}"
        f"{cell.machine_ms:7.2f}  {ratio}{reached}{cell.other_pct:7.0f}",
        flush=True,
    )


def family(setup: str) -> str:
    """Setups that run the same application code share a CPU ceiling (accelerators or not)."""
    return "accel" if "+accel" in setup else "stock code"


def references(cells: list[Cell]) -> dict[tuple[str, str], Cell]:
    """Per operation and family, the app server cell with the lowest machine CPU per call."""
    found: dict[tuple[str, str], Cell] = {}
    for cell in cells:
        if cell.setup != "stock" and cell.calls:
            key = (cell.operation, family(cell.setup))
            best = found.get(key)
            if best is None or cell.machine_ms < best.machine_ms:
                found[key] = cell
    return found


def ceiling_of(refs: dict[tuple[str, str], Cell], cell: Cell) -> float | None:
    ref = refs.get((cell.operation, family(cell.setup)))
    return CORES * 1000 / ref.machine_ms if ref else None


def summarize(cells: list[Cell], servers: Iterable[str], clients: list[int]) -> None:
    by_key = {(c.setup, c.operation, c.clients): c for c in cells}
    print("\nCPU ms per call = CPU seconds of the role over the cell / calls served.")
    print(
        "ceiling = cores / lowest machine CPU per call of any app server cell running the same "
        "code (stock code, or with the accelerators).\n"
    )
    refs = references(cells)
    for (operation, kind), ref in refs.items():
        ceiling = CORES * 1000 / ref.machine_ms
        print(
            f"{operation}, {kind}: {ref.machine_ms:.2f} ms of machine CPU per call "
            f"(app {ref.ms_per_call('app'):.2f}, pg {ref.ms_per_call('pg'):.2f}, "
            f"client {ref.ms_per_call('client'):.2f}; {ref.setup}, {ref.clients} clients) -> "
            f"ceiling {CORES} cores / "
            f"{ref.machine_ms:.2f} ms = {ceiling:.0f} req/s"
        )
        for setup in ["stock", *servers]:
            if setup != "stock" and family(setup) != kind:
                continue
            row = [by_key.get((setup, operation, n)) for n in clients]
            best = max((c for c in row if c), key=lambda c: c.rate, default=None)
            if best is None:
                continue
            stock = by_key.get(("stock", operation, best.clients))
            ratio = f", {best.rate / stock.rate:.2f}x stock at {best.clients}" if stock else ""
            reached = 100 * best.rate / ceiling
            free = max(1 - best.other_pct / 100, 0.01)  # share of the CPU other load left us
            print(
                f"  {setup:<23} best {best.rate:7.1f} req/s with {best.clients:>2} clients = "
                f"{reached:4.0f}% of ceiling ({reached / free:4.0f}% of the CPU left by other "
                f"load){ratio}"
            )
    print("\nnginx p50 overhead vs the same workers directly:")
    for cell in cells:
        if not cell.setup.endswith("+nginx"):
            continue
        direct = by_key.get((cell.setup.removesuffix("+nginx"), cell.operation, cell.clients))
        if direct:
            p50, base = cell.percentile(0.5), direct.percentile(0.5)
            print(
                f"  {cell.setup:<23}{cell.operation:<16}{cell.clients:>3} clients: "
                f"p50 {base:7.1f} -> {p50:7.1f} ms ({100 * (p50 / base - 1):+5.1f}%)"
            )


# --- main -----------------------------------------------------------------------------------


def merge(cells: list[Cell]) -> Cell:
    """One cell from the rounds of the same setup, operation and client count."""
    first = cells[0]
    cpu: dict[str, float] = {}
    for cell in cells:
        for name, value in cell.cpu.items():
            cpu[name] = cpu.get(name, 0.0) + value
    return Cell(
        setup=first.setup,
        operation=first.operation,
        clients=first.clients,
        calls=sum(c.calls for c in cells),
        errors=sum(c.errors for c in cells),
        seconds=sum(c.seconds for c in cells),
        latencies=[value for c in cells for value in c.latencies],
        cpu=cpu,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per cell, all rounds")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved slices per cell")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--parties", type=int, default=100)
    parser.add_argument("--app-servers", default="gunicorn", help="gunicorn, uwsgi or both")
    parser.add_argument(
        "--accel",
        action="store_true",
        help="also each app server with the accelerators on (json_response, view_cache, "
        "record_init): setups named <server>-N+accel",
    )
    args = parser.parse_args()
    clients = [int(n) for n in args.clients.split(",")]
    workers = [int(n) for n in args.workers.split(",")]
    app_servers = args.app_servers.split(",")

    base = Path(tempfile.mkdtemp(prefix="deploy-bench-"))
    postgres = PostgresServer().start()
    cells: list[Cell] = []
    started_run = time.monotonic()
    stock: ManagedProcess | None = None
    stacks: list[TestStack] = []
    try:
        templates = DatabaseTemplates(base / "templates", postgres=lambda: postgres)
        database = templates.copy("postgresql", ("party",), base / "db")
        postmaster = psutil.Process(postgres.pid)
        me = psutil.Process()
        common = {
            "pg": lambda: _tree_cpu(postmaster, include_root=True, reaped=True),
            "client": lambda: _own_cpu(me),
        }

        stock = start_stock(database, base)
        seed = Connection(stock.url, database.name, timeout=120)
        seed.login("admin", database.password)
        values = [{"name": f"Party {i}", "code": f"P{i:05d}"} for i in range(args.parties)]
        seed.call("model.party.party.create", values, {})
        with ThreadPoolExecutor(4) as pool:  # one session per client, logged in once
            sessions = list(pool.map(lambda _: _login(stock.url, database), range(max(clients))))

        stock_proc = psutil.Process(stock.pid)
        setups: list[tuple[str, list[Connection], CPUProbe]] = [
            (
                "stock",
                [clone(s, stock.url) for s in sessions],
                CPUProbe(
                    {"app": lambda: _tree_cpu(stock_proc, include_root=True, reaped=False)} | common
                ),
            )
        ]
        # every server runs for the whole run; idle ones cost nothing
        variants = [False, True] if args.accel else [False]
        for app_server, count, accel in (
            (a, w, x) for w in workers for a in app_servers for x in variants
        ):
            stack = start_app_server(database, app_server, count, accel)
            stacks.append(stack)
            name = f"{app_server}-{count}" + ("+accel" if accel else "")
            supervisor = psutil.Process(stack.state.pid)
            app = {"app": lambda s=supervisor: _named(s, ("nginx",), exclude=True)}
            front = {"nginx": lambda s=supervisor: _named(s, ("nginx",), exclude=False)}
            direct_url = local_stack.server_url(stack.config)
            setups.append(
                (
                    name,
                    [clone(s, direct_url) for s in sessions],
                    CPUProbe(app | common),
                )
            )
            setups.append(
                (
                    f"{name}+nginx",
                    [clone(s, stack.url) for s in sessions],
                    CPUProbe(app | front | common),
                )
            )
        print(
            f"PostgreSQL, {args.parties} parties, {CORES} cores, {args.seconds:.0f} s per cell "
            f"in {args.rounds} interleaved rounds; CPU columns are ms per call\n"
        )
        print(HEADER, flush=True)
        stock_cells: dict[tuple[str, int], Cell] = {}
        for operation in OPERATIONS:
            for n in clients:
                slices: dict[str, list[Cell]] = {name: [] for name, _, _ in setups}
                for round_ in range(args.rounds):
                    order = setups if round_ % 2 == 0 else setups[::-1]
                    for name, conns, probe in order:
                        slices[name].append(
                            run_cell(name, operation, conns[:n], args.seconds / args.rounds, probe)
                        )
                for name, _, _ in setups:
                    cell = merge(slices[name])
                    if name == "stock":
                        stock_cells[(operation, n)] = cell
                    cells.append(cell)
                    print_cell(cell, stock_cells.get((operation, n)), None)

        print("\nwith ratios to the CPU ceiling:\n" + HEADER)
        refs = references(cells)
        for cell in cells:
            print_cell(
                cell, stock_cells.get((cell.operation, cell.clients)), ceiling_of(refs, cell)
            )
        summarize(cells, [name for name, _, _ in setups[1:]], clients)
        print(f"\ntotal run time {time.monotonic() - started_run:.0f} s")
    finally:
        for stack in stacks:
            with contextlib.suppress(Exception):
                stack.stop()
        if stock is not None:
            stock.stop()
        postgres.destroy()
        shutil.rmtree(base, ignore_errors=True)


def _login(url: str, database: TestDatabase) -> Connection:
    conn = Connection(url, database.name, timeout=120)
    conn.login("admin", database.password)
    return conn


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
