"""trytond's session semantics (trytond/ir/session.py, 8.0 and 8.2) on the Redis store.

Each method answers like the `ir.session` method of the same name, with the same meaning of
`[session] max_age` (lifetime since login, checked on every call) and `[session] timeout`
(idle time, checked only by `fresh_session` RPCs; activity is recorded at most every
timeout/10, and never revives a session already idle past the timeout). A session is bound
to the address it logged in from, as trytond's `check` does.

Store errors are not handled here: `RedisUnavailable` reaches the caller, which must refuse.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from tryton_ops.sessions.store import SessionStore, digest

RESET_MEMORY = 10_000  # sessions whose last recorded activity a process remembers


class SessionService:
    def __init__(self, store: SessionStore, clock: Callable[[], float] = time.time):
        self.store = store
        self.clock = clock
        self._last_reset: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def new(self, db: str, uid: int, ip: str | None, max_age: int) -> str:
        """Log `uid` in: the new session's token (with `exclusive`, its only session)."""
        token, _ended = self.store.create(
            db, uid, ip, max_age, self.store.options.exclusive, self.clock()
        )
        return token

    def check(self, db: str, uid: int, token: str, ip: str | None, max_age: int) -> bool | None:
        """True: valid; False: expired (and removed); None: unknown for this user and address."""
        record = self.store.get(db, token)
        if record is None or record.uid != uid or record.ip != ip:
            return None
        now = self.clock()
        if abs(now - record.created) >= max_age:
            self.store.remove_digest(db, record)
            self.store.count(db, uid, "expired", now)
            return False
        self._remember(record.digest, record.last)
        return True

    def check_timeout(self, db: str, uid: int, token: str, timeout: int) -> bool:
        """Fresh enough for a `fresh_session` RPC; a stale session is removed."""
        record = self.store.get(db, token)
        if record is None or record.uid != uid:
            return False
        now = self.clock()
        if abs(now - record.last) < timeout:
            return True
        self.store.remove_digest(db, record)
        self.store.count(db, uid, "timeouts", now)
        return False

    def reset(self, db: str, token: str, timeout: int) -> None:
        """After a successful call: count it, and record activity at most every timeout/10."""
        now = self.clock()
        key_digest = digest(token)
        with self._lock:
            last = self._last_reset.get(key_digest)
        touch = last is None or now - timeout / 10 > last
        if not touch and not self.store.options.audit:
            return
        if self.store.activity(db, token, now, timeout, touch):
            self._remember(key_digest, now)

    def remove(self, db: str, token: str) -> int | None:
        """Log out: the uid of the removed session, None if unknown."""
        uid = self.store.remove(db, token)
        with self._lock:
            self._last_reset.pop(digest(token), None)
        if uid is not None:
            self.store.count(db, uid, "logouts", self.clock())
        return uid

    def clear(self, db: str, uids: Iterable[int]) -> int:
        """End every session of these users (password or active flag changed, kill)."""
        ended = self.store.clear(db, uids)
        now = self.clock()
        for uid, count in ended.items():
            self.store.count(db, uid, "ended", now, count)
        return sum(ended.values())

    def count(self, db: str, uids: Iterable[int]) -> dict[int, int]:
        """Live sessions per user (res.user's `sessions` field)."""
        return {uid: len(found) for uid, found in self.store.sessions_of(db, uids).items()}

    def _remember(self, key_digest: str, last: float) -> None:
        with self._lock:
            self._last_reset[key_digest] = last
            self._last_reset.move_to_end(key_digest)
            while len(self._last_reset) > RESET_MEMORY:
                self._last_reset.popitem(last=False)
