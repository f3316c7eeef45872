"""The watchdog of a live update: if `db update` dies in the middle (SIGKILL, OOM), undo it.

`python -m tryton_ops.lifecycle.watchdog CONFIG NAME PID CREATED` is started by the apply step
in a session of its own and waits for the process PID (started at CREATED, so a reused pid is
not mistaken for it). When that process is gone and its journal is still there, the update did
not finish: the watchdog takes the update lock (released with the dead process) and runs the
same recovery as `db update --recover` - restores the backup, switches maintenance off. A run
that ends normally clears its journal and stops the watchdog. Its output goes to
`<data>/journal/<name>.watchdog.log`.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

from tryton_ops.config import LoadedConfig
from tryton_ops.lifecycle import journal

POLL_S = 0.2
LOCK_WAIT_S = 30.0


def start(config: LoadedConfig, name: str) -> subprocess.Popen | None:
    """Watch this process while it changes database `name`; None without a config file to
    hand over (the watchdog reads the deployment's config as the command did)."""
    if config.path is None:
        return None
    log = journal.journal_file(config, name).with_suffix(".watchdog.log")
    log.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    me = psutil.Process()
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tryton_ops.lifecycle.watchdog", str(config.path), name,
             str(me.pid), repr(me.create_time())],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
        )  # fmt: skip


def stop(watchdog: subprocess.Popen | None) -> None:
    if watchdog is None:
        return
    with contextlib.suppress(ProcessLookupError):
        watchdog.terminate()
    watchdog.wait(10)


def _alive(pid: int, created: float) -> bool:
    try:
        proc = psutil.Process(pid)
        return abs(proc.create_time() - created) < 1 and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def watch(config_path: str, name: str, pid: int, created: float) -> int:
    from tryton_ops.config import load_config
    from tryton_ops.lifecycle.lock import LockBusy, exclusive
    from tryton_ops.lifecycle.safe_update import recover

    while _alive(pid, created):
        time.sleep(POLL_S)
    config = load_config(Path(config_path))
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        entry = journal.read(config, name)
        if entry is None or entry.pid != pid:
            return 0  # it finished, or another run took over
        try:
            with exclusive(config, name, "update"):
                done = recover(config, name)
        except LockBusy:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)  # the lock of the dead process is being released
            continue
        print(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} update of {name} by pid "
              f"{pid} died: {done}", flush=True)  # fmt: skip
        return 0


if __name__ == "__main__":
    os.umask(0o077)
    sys.exit(watch(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
