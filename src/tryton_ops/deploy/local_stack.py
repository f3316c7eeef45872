"""The local stack behind `tryton-ops up` / `down` / `status`: gunicorn serving trytond.

gunicorn runs in its own session (process group) so that `down` can end every process it
started, even after a crash of `up` or of the gunicorn master. In the foreground, the master
also gets SIGTERM when `up` dies (Linux parent-death signal), so no server outlives its `up`.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from tryton_ops.client import Connection, RPCError
from tryton_ops.config import LoadedConfig
from tryton_ops.config.trytond_conf import trytond_env
from tryton_ops.deploy.gunicorn_conf import write_gunicorn_conf

STATE_FILE = "stack.json"
PR_SET_PDEATHSIG = 1


class StackError(Exception):
    """The stack cannot start or stop; the message says why and what to do."""


@dataclass(frozen=True)
class StackState:
    """What `up` records in the run directory so that `down` and `status` find the stack."""

    pid: int
    create_time: float
    url: str
    database: str
    config: str
    detached: bool

    @classmethod
    def load(cls, run_dir: Path) -> StackState | None:
        path = run_dir / STATE_FILE
        try:
            return cls(**json.loads(path.read_text()))
        except OSError:  # absent, or the run directory is not usable (reported by preflight)
            return None
        except (ValueError, TypeError):
            path.unlink(missing_ok=True)  # unreadable: nothing can be found from it
            return None

    def save(self, run_dir: Path) -> None:
        tmp = run_dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        tmp.replace(run_dir / STATE_FILE)

    def process(self) -> psutil.Process | None:
        """The gunicorn master if it is still the process that was started."""
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.create_time) > 1:
                return None  # the pid was reused
            return proc if proc.status() != psutil.STATUS_ZOMBIE else None
        except psutil.NoSuchProcess:
            return None


def check_run_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise StackError(
            f"directory {path} is not writable ({exc.strerror}); set paths.run and paths.data "
            "in tryton-ops.toml to directories you can write"
        ) from None


def check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise StackError(
                f"cannot listen on {host}:{port}: {exc.strerror}; stop what uses it or set "
                "server.listen in tryton-ops.toml (or TRYTON_OPS_SERVER__LISTEN)"
            ) from None


def server_url(config: LoadedConfig) -> str:
    server = config.settings.server
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(server.host, server.host)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{server.port}/"


def running(config: LoadedConfig) -> StackState | None:
    """The state of this deployment's stack if its gunicorn master is alive."""
    state = StackState.load(config.run_dir)
    return state if state is not None and state.process() is not None else None


def _set_parent_death_signal() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def preflight(config: LoadedConfig) -> None:
    """Refuse early, with a clear reason, what would make the start fail."""
    if (state := running(config)) is not None:
        raise StackError(
            f"deployment {config.settings.name!r} is already running (pid {state.pid}, "
            f"{state.url}); run `tryton-ops down` first"
        )
    stop(config)  # a stack that crashed leaves a record and maybe orphaned workers
    check_run_dir(config.run_dir)
    check_run_dir(config.data_dir)
    check_port_free(config.settings.server.host, config.settings.server.port)


def start(config: LoadedConfig, detach: bool, ready_timeout: float = 120.0) -> StackState:
    """Start gunicorn and return once it answers JSON-RPC; raise StackError otherwise."""
    preflight(config)
    server = config.settings.server
    conf = write_gunicorn_conf(config)
    env = trytond_env(
        config,
        TRYTOND_DATABASE_NAMES=config.settings.database.name,
        TRYTOND_LOGGING_LEVEL=str(logging.getLevelName(server.log_level)),
    )
    cmd = [sys.executable, "-m", "gunicorn", "-c", str(conf), "trytond.application:app"]
    log = (config.run_dir / "logs" / "server.log").open("ab")
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        cwd=config.run_dir,
        start_new_session=True,
        preexec_fn=None if detach else _set_parent_death_signal,
    )
    log.close()
    state = StackState(
        pid=proc.pid,
        create_time=psutil.Process(proc.pid).create_time(),
        url=server_url(config),
        database=config.settings.database.name,
        config=config.source,
        detached=detach,
    )
    state.save(config.run_dir)
    try:
        _wait_ready(state, proc, config, ready_timeout)
    except BaseException:
        stop(config)
        raise
    return state


def _wait_ready(state: StackState, proc: subprocess.Popen, config, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with Connection(state.url, timeout=5) as conn:
        while True:
            if proc.poll() is not None:
                raise StackError(
                    f"the server exited with code {proc.returncode} while starting; "
                    f"last lines of {config.run_dir / 'logs' / 'server.log'}:\n" + log_tail(config)
                )
            try:
                conn.call("common.server.version")
                return
            except RPCError:
                if time.monotonic() > deadline:
                    raise StackError(
                        f"the server did not answer within {timeout:.0f} s; see "
                        f"{config.run_dir / 'logs' / 'server.log'}:\n" + log_tail(config)
                    ) from None
                time.sleep(0.2)


def log_tail(config: LoadedConfig, lines: int = 20) -> str:
    path = config.run_dir / "logs" / "server.log"
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.strip().splitlines()[-lines:])


def stop(config: LoadedConfig, timeout: float = 20.0) -> str:
    """Stop the stack, leaving no process of it behind.

    Returns "stopped" (it was running), "cleaned" (its master had died; leftovers were
    killed) or "absent" (nothing recorded).
    """
    state = StackState.load(config.run_dir)
    if state is None:
        return "absent"
    proc = state.process()
    if proc is not None:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGTERM)  # gunicorn: graceful shutdown of the workers
        with contextlib.suppress(psutil.TimeoutExpired):
            proc.wait(timeout)
    _kill_leftovers(state)
    (config.run_dir / STATE_FILE).unlink(missing_ok=True)
    return "stopped" if proc is not None else "cleaned"


def _group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc)
    return members


def _kill_leftovers(state: StackState) -> None:
    """SIGKILL whatever remains of the process group gunicorn led (orphaned workers)."""
    members = _group_members(state.pid)
    for proc in members:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(members, timeout=5)


def processes(config: LoadedConfig) -> list[dict]:
    """The master and its workers (or what is left of them after a crash), for `status`."""
    state = StackState.load(config.run_dir)
    if state is None:
        return []
    now = time.time()
    rows = []
    for proc in _group_members(state.pid):
        with contextlib.suppress(psutil.Error):
            role = "master" if proc.pid == state.pid else "worker"
            rows.append(
                {
                    "role": role,
                    "pid": proc.pid,
                    "uptime_s": round(now - proc.create_time(), 1),
                    "rss_mib": round(proc.memory_info().rss / 2**20, 1),
                    "cpu_s": round(sum(proc.cpu_times()[:2]), 2),
                }
            )
    return sorted(rows, key=lambda row: (row["role"] != "master", row["pid"]))


def wait_foreground(config: LoadedConfig, state: StackState) -> int:
    """Block until Ctrl-C/SIGTERM (then stop cleanly, return 0) or the server dies (return 1)."""
    stopping = False

    def _on_signal(signum, frame):
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopping:
            if state.process() is None:
                stop(config)
                return 1
            time.sleep(0.5)
        stop(config)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
