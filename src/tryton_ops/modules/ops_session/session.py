"""`ir.session` and `res.user.sessions` on the Redis store, or trytond's own when it is off.

Fail closed: when Redis cannot answer a login, a session check, a logout or the end of a
user's sessions (password or active flag changed), the request is refused with HTTP 503
(werkzeug's ServiceUnavailable, which trytond returns as is); nothing is accepted unchecked.
Only recording activity after a call that already succeeded logs the failure instead.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

from trytond import backend, config
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction
from werkzeug.exceptions import ServiceUnavailable

from tryton_ops.access.redis import RedisUnavailable
from tryton_ops.config.schema import Sessions
from tryton_ops.sessions import options as session_options
from tryton_ops.sessions.service import SessionService
from tryton_ops.sessions.store import SessionStore

logger = logging.getLogger(__name__)

UNAVAILABLE = "Session store unavailable: authenticated calls are refused until it is back."

_services: dict[Sessions, SessionService] = {}
_purged: set[str] = set()
_lock = threading.Lock()


def active_service() -> SessionService | None:
    """The Redis session service of this process; None when stock sessions are configured."""
    options = session_options.from_trytond()
    if options is None:
        return None
    with _lock:
        if options not in _services:
            _services[options] = SessionService(SessionStore(options))
        return _services[options]


@contextlib.contextmanager
def fail_closed(action: str) -> Iterator[None]:
    try:
        yield
    except RedisUnavailable as exc:
        logger.error("session %s refused, session store unavailable: %s", action, exc)
        raise ServiceUnavailable(UNAVAILABLE) from None


def _database() -> str:
    return Transaction().database.name


def _remote_ip() -> str | None:
    ip_address, _ = Transaction().remote_address()
    return str(ip_address) if ip_address else None


def _no_domain(domain) -> None:
    if domain:
        raise ValueError("ops_session: domain filters on sessions are not supported")


class Session(metaclass=PoolMeta):
    __name__ = "ir.session"

    @classmethod
    def new(cls, values=None):
        service = active_service()
        if service is None:
            return super().new(values)
        cls._purge_table()
        ip = (values or {}).get("ip_address", _remote_ip())
        with fail_closed("login"):
            return service.new(
                _database(), Transaction().user, ip, config.getint("session", "max_age")
            )

    @classmethod
    def _purge_table(cls) -> None:
        """Sessions left in ir_session from before must not come back if Redis is turned off."""
        database = _database()
        if database in _purged:
            return
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        if backend.name != "postgresql":  # SQLite writers queue for its lock: no conflict
            cursor.execute(*table.delete())
        else:
            # Fresh workers purge at once; PostgreSQL refuses all but one ("could not serialize
            # access due to concurrent delete") and trytond does not retry a login: the
            # refused purge is undone alone and tried again at this worker's next login.
            cursor.execute("SAVEPOINT ops_session_purge")
            try:
                cursor.execute(*table.delete())
            except backend.DatabaseOperationalError:
                cursor.execute("ROLLBACK TO SAVEPOINT ops_session_purge")
                return
            cursor.execute("RELEASE SAVEPOINT ops_session_purge")
        with _lock:
            _purged.add(database)

    @classmethod
    def check(cls, user, key, domain=None):
        service = active_service()
        if service is None:
            return super().check(user, key, domain=domain)
        _no_domain(domain)
        with fail_closed("check"):
            return service.check(
                _database(), user, key, _remote_ip(), config.getint("session", "max_age")
            )

    @classmethod
    def check_timeout(cls, user, key, domain=None):
        service = active_service()
        if service is None:
            return super().check_timeout(user, key, domain=domain)
        _no_domain(domain)
        with fail_closed("fresh check"):
            return service.check_timeout(
                _database(), user, key, config.getint("session", "timeout")
            )

    @classmethod
    def reset(cls, key, domain=None):
        service = active_service()
        if service is None:
            return super().reset(key, domain=domain)
        _no_domain(domain)
        try:
            service.reset(_database(), key, config.getint("session", "timeout"))
        except RedisUnavailable as exc:
            # the call succeeded and is committed; its session just is not refreshed
            logger.warning("session activity not recorded, session store unavailable: %s", exc)

    @classmethod
    def remove(cls, key, domain=None):
        service = active_service()
        if service is None:
            return super().remove(key, domain=domain)
        _no_domain(domain)
        with fail_closed("logout"):
            uid = service.remove(_database(), key)
        if uid is None:
            return None
        User = Pool().get("res.user")
        return User(uid).login

    @classmethod
    def clear(cls, users, domain=None):
        service = active_service()
        super().clear(users, domain=domain)  # rows from before Redis, if any
        if service is None:
            return
        _no_domain(domain)
        with fail_closed("end"):
            service.clear(_database(), [int(u) for u in users])


class User(metaclass=PoolMeta):
    __name__ = "res.user"

    @classmethod
    def get_sessions(cls, users, name):
        service = active_service()
        if service is None:
            return super().get_sessions(users, name)
        with fail_closed("count"):
            return service.count(_database(), [u.id for u in users])
