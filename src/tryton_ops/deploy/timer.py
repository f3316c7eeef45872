"""A daily job for the local stack: what a systemd timer is for a production host.

supervisord only runs long-lived programs, so `up` runs this loop as one: it runs a command
every day at HH:MM (local time) and, like a timer with `Persistent=true`, at once when the last
due time passed without a successful run (first start, or the stack was down at that hour).
A stamp file records the last successful run. A failed run is retried after RETRY_S, so a
database server that was down at 02:30 does not cost a whole day of backups.

    python -m tryton_ops.deploy.timer --at 02:30 --stamp <run>/backup.stamp -- COMMAND...
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

RETRY_S = 600
TICK_S = 30  # sleep in short steps: a clock change or suspend is noticed within a tick


def last_due(at: str, now: datetime) -> datetime:
    """The most recent time of day `at` (HH:MM, local) at or before `now`."""
    hours, minutes = (int(part) for part in at.split(":"))
    today = now.replace(hour=hours, minute=minutes, second=0, microsecond=0)
    return today if today <= now else today - timedelta(days=1)


def last_success(stamp: Path) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(stamp.read_text().strip()))
    except (OSError, ValueError):
        return None


def due(at: str, stamp: Path, now: datetime) -> bool:
    """Whether the command should run now: no success since the last due time."""
    done = last_success(stamp)
    return done is None or done < last_due(at, now)


def say(text: str) -> None:
    """A line of the log, stamped like trytond's lines (`tryton-ops logs` merges by time)."""
    print(f"{datetime.now().strftime('%Y-%m-%d %H:%M:%S,%f')[:-3]} {text}", flush=True)


def run_once(command: list[str], stamp: Path) -> bool:
    started = time.time()
    say(f"running: {' '.join(command)}")
    code = subprocess.run(command, check=False).returncode
    if code == 0:
        tmp = stamp.with_name(stamp.name + ".tmp")
        tmp.write_text(f"{started}\n")
        tmp.replace(stamp)
        say("done")
        return True
    say(f"failed (exit {code}); retrying in {RETRY_S} s")
    return False


def loop(at: str, stamp: Path, command: list[str]) -> None:
    retry_at = 0.0
    while True:
        waiting = time.monotonic() < retry_at
        if not waiting and due(at, stamp, datetime.now()) and not run_once(command, stamp):
            retry_at = time.monotonic() + RETRY_S
        time.sleep(TICK_S)


def _stop(signum, frame) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--at", required=True, help="local time of day, HH:MM")
    parser.add_argument("--stamp", required=True, type=Path, help="file of the last success")
    parser.add_argument("command", nargs="+", help="the command to run (after --)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)
    loop(args.at, args.stamp, args.command)


if __name__ == "__main__":
    main(sys.argv[1:])
