"""`tryton-ops sessions list | kill`: the operator's view of the Redis sessions.

Users are named by login and resolved to ids in the database (ids differ between databases).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from tryton_ops.access import database as sql
from tryton_ops.access.redis import delete_prefixed
from tryton_ops.config import LoadedConfig
from tryton_ops.config.schema import Sessions
from tryton_ops.sessions.errors import SessionsError
from tryton_ops.sessions.options import for_deployment
from tryton_ops.sessions.service import SessionService
from tryton_ops.sessions.store import COUNTERS, SessionStore, today


def options(config: LoadedConfig) -> Sessions:
    """The options the trytond processes of this deployment get."""
    found = for_deployment(config.settings)
    if found is None:
        raise SessionsError(
            "sessions.store is 'database': sessions are trytond's ir_session rows, "
            'not in Redis (set sessions.store = "redis", see docs/sessions.md)'
        )
    return found


@contextlib.contextmanager
def _service(config: LoadedConfig) -> Iterator[SessionService]:
    store = SessionStore(options(config))
    try:
        yield SessionService(store)  # a Redis it cannot reach: RedisUnavailable, an `error:`
    finally:
        store.close()


def _logins(config: LoadedConfig, database: str) -> dict[int, str]:
    with sql.connect(config, database) as session:
        return {int(uid): login for uid, login in session.execute("SELECT id, login FROM res_user")}


def list_sessions(config: LoadedConfig, database: str | None = None) -> list[dict]:
    """One row per user with live sessions or activity today (UTC)."""
    database = database or config.settings.database.name
    logins = _logins(config, database)
    with _service(config) as service:
        return session_rows(service.store, database, logins)


def session_rows(store: SessionStore, database: str, logins: dict[int, str]) -> list[dict]:
    """The rows of `list_sessions` from a store (the CLI's, or a trytond process's own)."""
    found = store.sessions_of(database, store.users(database))
    live = {uid: records for uid, records in found.items() if records}
    counters = store.audit(database, today())
    rows = []
    for uid in sorted(set(live) | set(counters)):
        records = live.get(uid, [])
        rows.append(
            {
                "login": logins.get(uid, f"#{uid}"),
                "uid": uid,
                "sessions": len(records),
                "addresses": sorted({r.ip or "-" for r in records}),
                "newest_login": max((r.created for r in records), default=None),
                "last_activity": max((r.last for r in records), default=None),
                "today": counters.get(uid, dict.fromkeys(COUNTERS, 0)),
            }
        )
    return rows


def kill(config: LoadedConfig, login: str, database: str | None = None) -> dict:
    """End every session of `login`; the user logs in again on the next call."""
    database = database or config.settings.database.name
    uids = [uid for uid, name in _logins(config, database).items() if name == login]
    if not uids:
        raise SessionsError(f"no user with login {login!r} in database {database!r}")
    with _service(config) as service:
        ended = service.clear(database, uids)
    return {"database": database, "login": login, "uid": uids[0], "ended": ended, "at": time.time()}


def forget(config: LoadedConfig, database: str) -> int:
    """Delete the sessions, user sets and counters of `database` (dropped); returns how many
    sessions were ended."""
    store = SessionStore(options(config))
    try:
        client = store.client()

        def delete() -> int:
            ended = delete_prefixed(client, store.session_key(database, ""))
            for prefix in (store.user_key(database, ""), store.audit_key(database, "")):
                delete_prefixed(client, prefix)
            return ended

        return store._call(delete)
    finally:
        store.close()
