"""The local stack behind `tryton-ops up` / `down` / `status` / `reload`.

supervisord runs every program of the deployment (gunicorn or uWSGI, nginx, cron, queue
workers) and restarts them after a crash. Every process of the stack carries the environment
variable `TRYTON_OPS_STACK=<run dir>`, so `down` can find and end all of them even after supervisord
itself was killed. In the foreground, supervisord also gets SIGTERM when `up` dies (Linux
parent-death signal), so no server outlives its `up`.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import xmlrpc.client
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from tryton_ops.client import Connection, RPCError
from tryton_ops.config import LoadedConfig
from tryton_ops.deploy.log_rotation import (
    UMASK,
    current_account,
    logs_dir,
    open_private_log,
    render_logrotate,
)
from tryton_ops.deploy.programs import Program, front_enabled, programs, uwsgi_binary
from tryton_ops.deploy.supervisor_conf import render_supervisor_conf, socket_path
from tryton_ops.errors import OpsError

STATE_FILE = "stack.json"
MARKER = "TRYTON_OPS_STACK"
PR_SET_PDEATHSIG = 1


class StackError(OpsError):
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
    programs: list[str]

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
        """supervisord if it is still the process that was started."""
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


def check_port_free(listen: str, key: str) -> None:
    host, _, port = listen.rpartition(":")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), int(port)))
        except OSError as exc:
            raise StackError(
                f"cannot listen on {listen}: {exc.strerror}; stop what uses it or set "
                f"{key} in tryton-ops.toml"
            ) from None


def _url(listen: str, scheme: str = "http") -> str:
    host, _, port = listen.rpartition(":")
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}/"


def server_url(config: LoadedConfig) -> str:
    """The app workers, directly."""
    return _url(config.settings.server.listen)


def public_url(config: LoadedConfig) -> str:
    """Where users connect: nginx when it is in front, else the app workers."""
    front = config.settings.front
    if not front_enabled(config):
        return server_url(config)
    return _url(front.tls_listen, "https") if front.tls else _url(front.listen)


def listens(config: LoadedConfig) -> list[tuple[str, str]]:
    """Every address the stack binds, with the config key that sets it."""
    found = [(config.settings.server.listen, "server.listen")]
    if front_enabled(config):
        found.append((config.settings.front.listen, "front.listen"))
        if config.settings.front.tls:
            found.append((config.settings.front.tls_listen, "front.tls_listen"))
    if config.settings.bus.enabled:
        found.append((config.settings.bus.listen, "bus.listen"))
    return found


def running(config: LoadedConfig) -> StackState | None:
    """The state of this deployment's stack if its supervisor is alive."""
    state = StackState.load(config.run_dir)
    return state if state is not None and state.process() is not None else None


def _set_parent_death_signal() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def preflight(config: LoadedConfig) -> None:
    """Refuse early, with a clear reason, what would make the start fail."""
    if config.settings.hosts:
        raise StackError(
            "tryton-ops.toml describes several hosts ([hosts]) and `up` runs everything on this "
            "machine; render each host's files with `tryton-ops deploy render --host NAME`"
        )
    if config.settings.server.app_server == "uwsgi":
        uwsgi_binary()  # before anything is created
    if (state := running(config)) is not None:
        raise StackError(
            f"deployment {config.settings.name!r} is already running (pid {state.pid}, "
            f"{state.url}); run `tryton-ops down` first"
        )
    check_run_dir(config.run_dir)
    stop(config)  # a stack that crashed leaves a record and maybe orphaned processes
    check_run_dir(config.data_dir)
    for listen, key in listens(config):
        check_port_free(listen, key)


def write_supervisor_conf(config: LoadedConfig, found: list[Program]) -> Path:
    path = config.run_dir / "supervisord.conf"
    logs_dir(config)
    (config.run_dir / "logrotate.conf").write_text(render_logrotate(config, *current_account()))
    text = render_supervisor_conf(config, found, {MARKER: str(config.run_dir)})
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return path


def start(config: LoadedConfig, detach: bool, ready_timeout: float = 120.0) -> StackState:
    """Start the supervisor and its programs; return once the stack answers JSON-RPC."""
    preflight(config)
    found = programs(config)
    conf = write_supervisor_conf(config, found)
    log = config.run_dir / "logs" / "supervisord.log"
    if log.exists():
        log.replace(log.with_suffix(".log.prev"))  # restart counts are read from this log
    env = {**os.environ, MARKER: str(config.run_dir)}
    env = {k: v for k, v in env.items() if not k.startswith("TRYTOND_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "supervisor.supervisord", "-c", str(conf)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open_private_log(config.run_dir / "logs" / "supervisord.stderr"),
        cwd=config.run_dir,
        start_new_session=True,
        umask=UMASK,  # supervisord creates the log files it captures (nodaemon ignores its umask)
        preexec_fn=None if detach else _set_parent_death_signal,
    )
    state = StackState(
        pid=proc.pid,
        create_time=psutil.Process(proc.pid).create_time(),
        url=public_url(config),
        database=config.settings.database.name,
        config=config.source,
        detached=detach,
        programs=[program.name for program in found],
    )
    state.save(config.run_dir)
    try:
        _wait_ready(state, proc, config, ready_timeout)
    except BaseException:
        stop(config)
        raise
    return state


def supervisor(config: LoadedConfig):
    """An XML-RPC proxy to the stack's supervisord (over its private unix socket)."""
    from supervisor.xmlrpc import SupervisorTransport

    transport = SupervisorTransport(None, None, serverurl=f"unix://{socket_path(config)}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def _program_states(config: LoadedConfig) -> dict[str, dict]:
    try:
        return {info["name"]: info for info in supervisor(config).supervisor.getAllProcessInfo()}
    except (OSError, xmlrpc.client.Error):
        return {}


def _wait_ready(state: StackState, proc: subprocess.Popen, config, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with Connection(state.url, timeout=5, verify=False) as conn:
        while True:
            if proc.poll() is not None:
                raise StackError(
                    f"the supervisor exited with code {proc.returncode} while starting:\n"
                    + log_tail(config, "supervisord.stderr")
                )
            restarted = {name for name, count in restarts(config).items() if count > 0}
            failed = [
                name
                for name, info in _program_states(config).items()
                if info["statename"] in ("FATAL", "BACKOFF", "EXITED") or name in restarted
            ]
            if failed:
                name = failed[0]
                raise StackError(
                    f"program {name!r} keeps failing to start; last lines of its log:\n"
                    + log_tail(config, "server.log" if name == "app" else f"{name}.log")
                )
            if _answers(conn) and _all_running(config, state):
                return
            if time.monotonic() > deadline:
                raise StackError(
                    f"the stack did not answer within {timeout:.0f} s; see "
                    f"{config.run_dir / 'logs'}:\n" + log_tail(config, "server.log")
                )
            time.sleep(0.2)


def _answers(conn: Connection) -> bool:
    try:
        conn.call("common.server.version")
        return True
    except RPCError:
        return False


def _all_running(config: LoadedConfig, state: StackState) -> bool:
    states = _program_states(config)
    return all(states.get(name, {}).get("statename") == "RUNNING" for name in state.programs)


ERROR_LINE = re.compile(r"Error|Exception|Traceback")


def log_tail(config: LoadedConfig, name: str = "server.log", lines: int = 20) -> str:
    """The end of a log, ending a few lines after its last error: a program restarted after a
    failure prints a fresh start-up banner (uWSGI's is 30 lines) that must not push the reason
    out of view."""
    path = config.run_dir / "logs" / name
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no {name})"
    found = text.strip().splitlines()
    errors = [index for index, line in enumerate(found) if ERROR_LINE.search(line)]
    end = min(len(found), errors[-1] + 6) if errors else len(found)
    return "\n".join(found[max(0, end - lines) : end])


def stop(config: LoadedConfig, timeout: float | None = None) -> str:
    """Stop the stack, leaving no process of it behind.

    Returns "stopped" (it was running), "cleaned" (its supervisor had died; leftovers were
    killed) or "absent" (nothing recorded).
    """
    state = StackState.load(config.run_dir)
    if state is None:
        return "absent"
    proc = state.process()
    if proc is not None:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGTERM)  # supervisord stops its programs gracefully
        with contextlib.suppress(psutil.TimeoutExpired):
            proc.wait(timeout or config.settings.server.timeout + 30)
    _kill_leftovers(config.run_dir)
    (config.run_dir / STATE_FILE).unlink(missing_ok=True)
    return "stopped" if proc is not None else "cleaned"


def stack_members(run_dir: Path) -> list[psutil.Process]:
    """Every live process of the stack of `run_dir`.

    Found by the marker in their environment, or their command line naming the run
    directory (nginx rewrites its environment area with its process title), then widened to
    their process groups and those of the pid files the app servers and nginx keep, which also
    catches workers orphaned by a killed master.
    """
    seeds: dict[int, psutil.Process] = {}
    everyone = []
    # the run directory itself or a path under it: `<run>.py` or `<run>-old/` are not ours
    inside = re.compile(re.escape(str(run_dir)) + r"(/|$)")
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            everyone.append(proc)
            if proc.environ().get(MARKER) == str(run_dir) or any(
                inside.search(arg) for arg in proc.cmdline()
            ):
                seeds[proc.pid] = proc
    groups = {_pgid(pid) for pid in seeds} | _pid_file_groups(run_dir)
    groups -= {None, os.getpgid(0)}
    for proc in everyone:
        if proc.pid not in seeds and _pgid(proc.pid) in groups:
            seeds[proc.pid] = proc
    return list(seeds.values())


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def _pid_file_groups(run_dir: Path) -> set[int | None]:
    found: set[int | None] = set()
    pid_files = ("gunicorn.pid", "uwsgi.pid", "bus.pid", "nginx/nginx.pid")
    for path in (run_dir / name for name in pid_files):
        with contextlib.suppress(OSError, ValueError):
            found.add(int(path.read_text().strip()))  # both lead their process group
    return found


def _kill_leftovers(run_dir: Path) -> None:
    members = stack_members(run_dir)
    for proc in members:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(members, timeout=5)


def restarts(config: LoadedConfig) -> dict[str, int]:
    """How often supervisord restarted each program since `up` (spawns after the first)."""
    counts: dict[str, int] = {}
    with contextlib.suppress(OSError):
        log = (config.run_dir / "logs" / "supervisord.log").read_text(errors="replace")
        for name in re.findall(r"spawned: '([^']+)'", log):
            counts[name] = counts.get(name, 0) + 1
    return {name: count - 1 for name, count in counts.items()}


def processes(config: LoadedConfig) -> list[dict]:
    """Every process of the stack (or what is left of it after a crash), for `status`."""
    state = StackState.load(config.run_dir)
    if state is None:
        return []
    roles = {state.pid: ("supervisor", "-")}
    for name, info in _program_states(config).items():
        if info.get("pid"):
            roles[info["pid"]] = (name, info["statename"])
    counts = restarts(config)
    now = time.time()
    rows = []
    for proc in stack_members(config.run_dir):
        with contextlib.suppress(psutil.Error):
            role, program_state = roles.get(proc.pid, (None, None))
            if role is None:
                parent = roles.get(proc.ppid())
                role = f"{parent[0]}-worker" if parent else "leftover"
                program_state = "-"
            rows.append(
                {
                    "role": role,
                    "pid": proc.pid,
                    "state": program_state,
                    "uptime_s": round(now - proc.create_time(), 1),
                    "restarts": counts.get(role, 0),
                    "rss_mib": round(proc.memory_info().rss / 2**20, 1),
                    "cpu_s": round(sum(proc.cpu_times()[:2]), 2),
                }
            )
    order = {"supervisor": 0, "app": 1}
    return sorted(rows, key=lambda row: (order.get(row["role"], 2), row["role"], row["pid"]))


def reload(config: LoadedConfig) -> list[str]:
    """Pick up new config and code without failing a request; returns what was reloaded.

    Configs are rendered again, then the app server, the bus and (if its config or certificate
    changed) nginx are sent SIGHUP: gunicorn and nginx start new workers and let the old ones
    finish the requests in flight; the uWSGI master lets its workers finish, re-executes itself
    and starts new ones, while new requests wait in the socket's backlog. cron and queue
    workers serve no HTTP requests and are restarted. nginx is left alone when nothing of it
    changed: its old workers would close the clients' idle keep-alive connections, and a
    request a client sends on one at that moment fails.
    """
    state = running(config)
    if state is None:
        raise StackError("not running; `tryton-ops up` starts it")
    front_before = _front_fingerprint(config)
    found = programs(config)  # renders trytond.conf, the app server's and nginx's configs again
    front_changed = _front_fingerprint(config) != front_before
    if [program.name for program in found] != state.programs:
        raise StackError(
            "the set of programs changed (front, cron or queue workers); "
            "restart with `tryton-ops down` then `tryton-ops up`"
        )
    write_supervisor_conf(config, found)
    rpc = supervisor(config).supervisor
    done = []
    for program in found:
        if program.name == "front" and not front_changed:
            continue
        if program.name in ("app", "front", "bus"):
            rpc.signalProcess(program.name, program.reload_signal)
        else:
            rpc.stopProcess(program.name)
            rpc.startProcess(program.name)
        done.append(program.name)
    return done


def _front_fingerprint(config: LoadedConfig) -> str:
    """Digest of what nginx reads: its rendered config and the TLS certificate and key."""
    from tryton_ops.deploy.nginx_conf import certificate_paths, nginx_dir

    digest = hashlib.sha256()
    for path in (nginx_dir(config) / "nginx.conf", *certificate_paths(config)):
        with contextlib.suppress(OSError):
            digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def wait_foreground(config: LoadedConfig, state: StackState) -> int:
    """Block until Ctrl-C/SIGTERM (then stop cleanly, return 0) or the stack dies (return 1)."""
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


BACKGROUND = ("cron", "queue")


def pause_background(config: LoadedConfig) -> list[str]:
    """Stop the programs that write to the database on their own (cron, queue workers), so
    nothing changes it while it is updated or restored; returns the ones stopped."""
    state = running(config)
    if state is None:
        return []
    rpc = supervisor(config).supervisor
    stopped = []
    for name in state.programs:
        if name.startswith(BACKGROUND):
            with contextlib.suppress(xmlrpc.client.Fault):  # already stopped
                rpc.stopProcess(name)
            stopped.append(name)
    return stopped


def resume_background(config: LoadedConfig) -> list[str]:
    """Start again every cron and queue program of the running stack that is stopped."""
    state = running(config)
    if state is None:
        return []
    rpc = supervisor(config).supervisor
    started = []
    states = _program_states(config)
    for name in state.programs:
        if name.startswith(BACKGROUND) and states.get(name, {}).get("statename") != "RUNNING":
            with contextlib.suppress(xmlrpc.client.Fault):  # started meanwhile
                rpc.startProcess(name)
            started.append(name)
    return started


def app_worker_pids(config: LoadedConfig) -> set[int]:
    return {row["pid"] for row in processes(config) if row["role"] == "app-worker"}


def wait_workers_replaced(config: LoadedConfig, before: set[int], timeout: float = 60.0) -> bool:
    """After a reload: True once none of the app workers of `before` is left and new ones run
    (they serve the new pool); False when `timeout` passed first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = app_worker_pids(config)
        if now and not (now & before):
            return True
        time.sleep(0.2)
    return False
