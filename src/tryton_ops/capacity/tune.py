"""`tryton-ops tune`: which app server setting serves the most users on this host.

Each candidate (app server, workers, threads) is started as its own stack next to the
deployment (free ports, its own run directory, the deployment's database) and measured with
the capacity finder; the best one is what `tune` proposes for tryton-ops.toml. Candidates
whose database connections cannot fit PostgreSQL's `max_connections` are not run: trytond
holds up to one connection per worker thread (plus the bus, cron and queue processes), so a
setting that needs more would fail under load rather than be slow.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tryton_ops.capacity.capacity_search import CapacityResult
from tryton_ops.config import LoadedConfig
from tryton_ops.errors import UsageError

APP_SERVERS = ("gunicorn", "uwsgi")
CANDIDATE = re.compile(r"^(gunicorn|uwsgi):(\d+)x(\d+)$")
MAX_WORKERS = 256  # the bounds of [server] workers and threads in config/schema.py
MAX_THREADS = 64
# connections kept aside from the app workers: the bus, cron and queue workers, psql sessions
RESERVED_CONNECTIONS = 10


@dataclass(frozen=True, order=True)
class Candidate:
    """One app server setting: what [server] app_server, workers and threads would say."""

    app_server: str
    workers: int
    threads: int

    @property
    def label(self) -> str:
        kind = "threads" if self.threads > 1 else "sync"
        if self.app_server == "gunicorn":
            kind = "gthread" if self.threads > 1 else "sync"
        return f"{self.app_server} {self.workers}x{self.threads} ({kind})"

    @property
    def connections(self) -> int:
        """Database connections the app workers may hold at once."""
        return self.workers * self.threads

    def to_json(self) -> dict[str, Any]:
        return {"app_server": self.app_server, "workers": self.workers, "threads": self.threads}


def parse_candidates(text: str) -> list[Candidate]:
    """`gunicorn:4x1,gunicorn:2x4,uwsgi:2x2`: app server, workers x threads."""
    found = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        match = CANDIDATE.match(item)
        if not match:
            raise UsageError(
                f"candidate {item!r}: expected APP_SERVER:WORKERSxTHREADS "
                "with APP_SERVER gunicorn or uwsgi, e.g. gunicorn:4x2"
            )
        server, workers, threads = match.group(1), int(match.group(2)), int(match.group(3))
        if not (1 <= workers <= MAX_WORKERS and 1 <= threads <= MAX_THREADS):
            raise UsageError(
                f"candidate {item!r}: workers must be 1 to {MAX_WORKERS}, "
                f"threads 1 to {MAX_THREADS}"
            )
        found.append(Candidate(server, workers, threads))
    if not found:
        raise UsageError("no candidate given")
    return sorted(set(found), key=found.index)


def default_candidates(cores: int, uwsgi: bool) -> list[Candidate]:
    """The usual grid around the core count: sync workers, gthread workers, uWSGI if present.

    trytond requests mostly wait on PostgreSQL a fraction of the time, so a few more workers
    than cores, or threads, can pay; far more only adds memory and contention.
    """
    cores = max(1, cores)
    grid = [
        Candidate("gunicorn", cores, 1),
        Candidate("gunicorn", 2 * cores, 1),
        Candidate("gunicorn", 2 * cores + 1, 1),
        Candidate("gunicorn", cores, 2),
        Candidate("gunicorn", cores, 4),
        Candidate("gunicorn", 2 * cores, 2),
    ]
    if uwsgi:
        grid += [Candidate("uwsgi", 2 * cores, 1), Candidate("uwsgi", cores, 2)]
    return grid


def split_by_pool(
    candidates: list[Candidate], max_connections: int | None
) -> tuple[list[Candidate], list[tuple[Candidate, str]]]:
    """(candidates that fit PostgreSQL's max_connections, [(refused, why)])."""
    if max_connections is None:
        return list(candidates), []
    room = max_connections - RESERVED_CONNECTIONS
    fit, refused = [], []
    for candidate in candidates:
        if candidate.connections > room:
            refused.append(
                (
                    candidate,
                    f"needs {candidate.connections} database connections, PostgreSQL allows "
                    f"{max_connections} ({RESERVED_CONNECTIONS} kept for bus, cron, queue)",
                )
            )
        else:
            fit.append(candidate)
    return fit, refused


def best(measured: list[tuple[Candidate, CapacityResult]]) -> tuple[Candidate, CapacityResult]:
    """The most users; on a tie, the fewest worker threads (less memory, fewer connections),
    then the lower median latency at the capacity."""
    if not measured:
        raise UsageError("no candidate could be measured")

    def key(item: tuple[Candidate, CapacityResult]):
        candidate, result = item
        at_capacity = [s for s in result.steps if s.users == result.capacity]
        median = at_capacity[0].median_ms if at_capacity and at_capacity[0].median_ms else 1e9
        return (-result.capacity, candidate.connections, median)

    return min(measured, key=key)


def candidate_config(config: LoadedConfig, candidate: Candidate, run_dir: Path, ports) -> Any:
    """The deployment's config running `candidate` beside it: free ports, its own run dir.

    `ports()` returns a free TCP port. nginx is left out: it is the same for every candidate.
    """
    settings = config.settings
    host = settings.server.host or "127.0.0.1"
    server = settings.server.model_copy(
        update={
            "app_server": candidate.app_server,
            "workers": candidate.workers,
            "threads": candidate.threads,
            "listen": f"{host}:{ports()}",
        }
    )
    front = settings.front.model_copy(update={"enabled": "off"})
    bus = settings.bus.model_copy(update={"listen": f"127.0.0.1:{ports()}"})
    paths = settings.paths.model_copy(update={"run": run_dir})
    update = {"server": server, "front": front, "bus": bus, "paths": paths}
    return dataclasses.replace(config, settings=settings.model_copy(update=update))


def measure_candidate(
    config: LoadedConfig,
    candidate: Candidate,
    find: Callable[[str], CapacityResult],
    ports: Callable[[], int],
) -> CapacityResult:
    """Start the candidate's stack, run `find(url)` against it, stop it whatever happens."""
    from tryton_ops.deploy import local_stack

    run_dir = Path(tempfile.mkdtemp(prefix="tryton-ops-tune-"))
    stack_config = candidate_config(config, candidate, run_dir, ports)
    local_stack.start(stack_config, detach=True)
    try:
        return find(local_stack.server_url(stack_config))
    finally:
        local_stack.stop(stack_config)


def updated_toml(path: Path | None, candidate: Candidate) -> tuple[str, str]:
    """(old text, new text) of the config file with [server] set to `candidate`.

    tomlkit keeps the file's comments, order and formatting; only the three keys change.
    """
    import tomlkit

    old = path.read_text(encoding="utf-8") if path is not None and path.exists() else ""
    document = tomlkit.parse(old)
    server = document.get("server")
    if server is None:
        server = tomlkit.table()
        document["server"] = server
    for key, value in candidate.to_json().items():
        server[key] = value
    return old, tomlkit.dumps(document)


def diff(old: str, new: str, name: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), name, name
        )
    )


def write_atomically(path: Path, text: str) -> None:
    """Replace the file in one rename: a config is never seen half written."""
    tmp = path.with_name(f".{path.name}.tune-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    if path.exists():
        os.chmod(tmp, path.stat().st_mode & 0o7777)
    tmp.replace(path)


def postgres_max_connections(config: LoadedConfig, database: str) -> int | None:
    """PostgreSQL's max_connections (None on SQLite: no server-side limit to fit)."""
    from tryton_ops.access.database import connect, is_sqlite

    if is_sqlite(config):
        return None
    with connect(config, database) as session:
        return int(session.scalar("SHOW max_connections"))


def uwsgi_available() -> bool:
    from tryton_ops.deploy.local_stack import StackError
    from tryton_ops.deploy.programs import uwsgi_binary

    try:
        uwsgi_binary()
    except StackError:
        return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now, for a candidate's server and bus."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
