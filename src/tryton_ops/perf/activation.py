"""Full capture for chosen users, with an expiry, seen by every worker within seconds.

Activations are stored beside the records (Redis hash or `<run>/perf/active.json`); each worker's
writer thread polls them about once a second, so enabling needs no restart. A user is named by
login and resolved to its id here, once (ids differ between databases: never guess them).
"""

from __future__ import annotations

import math
import time

from tryton_ops.config.durations import format_duration
from tryton_ops.perf.errors import CaptureTooLong, PerfError
from tryton_ops.perf.options import PerfOptions
from tryton_ops.perf.store import open_store, store_errors


def resolve_user(config, login: str, database: str | None = None) -> int:
    """The id of the active user `login` in the deployment's database."""
    from tryton_ops.access.database import DatabaseError, connect

    database = database or config.settings.database.name
    try:
        with connect(config, database) as session:
            uid = session.scalar("SELECT id FROM res_user WHERE login = %s AND active", (login,))
    except DatabaseError as exc:
        raise PerfError(f"cannot look up user {login!r}: {exc}") from None
    if uid is None:
        raise PerfError(f"no active user with login {login!r} in database {database!r}")
    return int(uid)


def check_duration(options: PerfOptions, seconds: int) -> None:
    """Refuse a capture longer than `[perf] max_capture`, before anything is stored."""
    if seconds > options.max_capture_s:
        raise CaptureTooLong(
            f"full capture for {format_duration(seconds)} is longer than perf.max_capture "
            f"({options.max_capture}): ask for less, or raise perf.max_capture"
        )


def _until(entry: dict) -> float | None:
    """An entry's end, or None when it is not a finite number."""
    try:
        until = float(entry.get("until", 0))
    except (TypeError, ValueError):
        return None
    return until if math.isfinite(until) else None


def in_range(entry: dict, now: float, options: PerfOptions) -> bool:
    """Whether an activation ends within `max_capture` from now: the only ones applied.

    Anything else (an older version's unbounded entry, a hand edit) is listed as out of range
    and ignored by the workers until `perf disable` removes it.
    """
    until = _until(entry)
    return until is not None and until <= now + options.max_capture_s


def _live(entries: list[dict], now: float) -> list[dict]:
    """Entries not yet ended; one whose end is unreadable stays (listed, then disabled)."""
    return [e for e in entries if (_until(e) or math.inf) > now]


def enable_user(options: PerfOptions, database: str, uid: int, login: str, seconds: int) -> dict:
    """Full capture of user `uid` (already resolved) for `seconds`; replaces an earlier one."""
    check_duration(options, seconds)
    now = time.time()
    entry = {"db": database, "uid": uid, "login": login, "since": now, "until": now + seconds}

    def change(entries):
        kept = [e for e in _live(entries, now) if (e.get("db"), e.get("uid")) != (database, uid)]
        return [*kept, entry]

    with store_errors(options):
        open_store(options).update_active(change)
    return entry


def disable_users(options: PerfOptions, database: str, login: str | None) -> list[dict]:
    """Stop full capture of `login` (None: of everybody); returns what was stopped."""
    now = time.time()
    removed: list[dict] = []

    def change(entries):
        kept = []
        for entry in _live(entries, now):
            if entry.get("db") == database and (login is None or entry.get("login") == login):
                removed.append(entry)
            else:
                kept.append(entry)
        return kept

    with store_errors(options):
        open_store(options).update_active(change)
    return removed


def active_users(options: PerfOptions, database: str | None = None) -> list[dict]:
    """Live activations (of `database` only, if given), by database and login.

    Each carries `out_of_range`: true for one the workers ignore (see `in_range`).
    """
    with store_errors(options):
        entries = open_store(options).load_active()
    now = time.time()
    live = [
        {**e, "out_of_range": not in_range(e, now, options)}
        for e in _live(entries, now)
        if database in (None, e.get("db"))
    ]
    return sorted(live, key=lambda e: (str(e.get("db")), str(e.get("login"))))


# -- tryton-ops side: a LoadedConfig, the login resolved straight in the database ------------
def enable(config, login: str, seconds: int, database: str | None = None) -> dict:
    options = PerfOptions.from_config(config)
    check_duration(options, seconds)
    database = database or config.settings.database.name
    uid = resolve_user(config, login, database)
    return enable_user(options, database, uid, login, seconds)


def disable(config, login: str | None, database: str | None = None) -> list[dict]:
    database = database or config.settings.database.name
    return disable_users(PerfOptions.from_config(config), database, login)


def list_active(config) -> list[dict]:
    return active_users(PerfOptions.from_config(config))
