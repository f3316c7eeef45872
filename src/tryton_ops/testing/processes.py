"""Real server processes for tests: start, stop, kill, pause, resume, restart.

Each server runs in its own process group so a kill takes its children too, and every started
process is registered for cleanup at interpreter exit, so a failing or interrupted test run
leaves nothing behind.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import signal
import socket
import subprocess
import time
import weakref
from collections.abc import Callable
from pathlib import Path

_LIVE: weakref.WeakSet[ManagedProcess] = weakref.WeakSet()


class ServerStartError(RuntimeError):
    """A server did not become ready; the message holds the end of its log."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def service_user() -> str | None:
    """The user servers that refuse root (PostgreSQL) run as, when we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise ServerStartError("running as root, but neither user 'postgres' nor 'nobody' exists")


class ManagedProcess:
    """One long-running server process owned by a test."""

    stop_signal = signal.SIGTERM  # the server's graceful-but-prompt shutdown signal

    def __init__(
        self,
        name: str,
        argv: list[str],
        ready: Callable[[], bool],
        log_path: Path,
        user: str | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        start_timeout: float = 30.0,
    ):
        self.name = name
        self.argv = argv
        self.ready = ready
        self.log_path = log_path
        self.user = user
        self.env = env
        self.cwd = cwd
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> ManagedProcess:
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.cwd,
            user=self.user,
            start_new_session=True,
        )
        log.close()
        _LIVE.add(self)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerStartError(
                    f"{self.name} exited with code {self.proc.returncode}:\n{self.log_tail()}"
                )
            if self.ready():
                return
            time.sleep(0.05)
        self.kill()
        raise ServerStartError(
            f"{self.name} not ready after {self.start_timeout} s:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _signal_group(self, sig: int) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful stop (`stop_signal`), then SIGKILL if it does not exit in time."""
        if self.proc is None:
            return
        self.resume()  # a paused process cannot handle the stop signal
        self._signal_group(self.stop_signal)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self._reap_group()

    def kill(self) -> None:
        """SIGKILL the whole process group: the crash a test wants to see handled."""
        if self.proc is None:
            return
        self._signal_group(signal.SIGKILL)
        self.proc.wait()
        self._reap_group()

    def _reap_group(self, timeout: float = 5.0) -> None:
        """SIGKILL what is left of the group and wait until it is gone: a killed server's
        workers (nginx's, gunicorn's) hold its sockets until the kernel has ended them."""
        self._signal_group(signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while self.proc is not None and time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.01)

    def pause(self) -> None:
        """SIGSTOP: the server keeps its sockets but answers nothing (a hung server)."""
        self._signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal_group(signal.SIGCONT)

    def restart(self) -> ManagedProcess:
        self.stop()
        return self.start()

    def __enter__(self) -> ManagedProcess:
        return self.start() if not self.running else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@atexit.register
def _cleanup() -> None:
    for process in list(_LIVE):
        with contextlib.suppress(Exception):
            process.kill()
