"""The Redis side of sessions: one hash per session, a set per user, daily audit counters.

Per database `D` and key prefix `P` (the `{D}` hash tag keeps a database's keys together):

- `P:s:{D}:k:<sha256 of the token>`, a hash `uid`, `ip`, `created`, `last` (epoch seconds),
  kept until an hour past the session's `max_age`. Only the digest of a token is ever written:
  a dump or a SCAN of Redis reveals no usable session key.
- `P:s:{D}:u:<uid>`, the set of the user's session digests (exclusive login, kill, count).
- `P:s:{D}:a:<YYYY-MM-DD>`, a hash `<uid>:<counter>` of the day's (UTC) audit counters.

Every call either succeeds or raises `RedisUnavailable` within the configured timeouts.
Values are plain strings: nothing read from Redis is ever unpickled or evaluated.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from tryton_ops.access.redis import ForkSafeRedis
from tryton_ops.config.schema import Sessions
from tryton_ops.sessions.options import redis_spec

T = TypeVar("T")
DAY = 86400
# an expired session stays an hour past max_age, so a late call is told "expired", as trytond
# tells it, rather than "unknown"
EXPIRED_GRACE = 3600
COUNTERS = ("logins", "calls", "logouts", "expired", "timeouts", "ended")

# KEYS: session, user set, audit day ('' when off). ARGV: digest, uid, ip, now, ttl,
# exclusive (1/0), session key prefix, audit ttl. Drops the user's dead digests; with
# `exclusive` ends the user's other sessions. Returns how many sessions were ended.
CREATE_LUA = """
local ended = 0
for _, d in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local key = ARGV[7] .. d
  if ARGV[6] == '1' then
    ended = ended + redis.call('DEL', key)
    redis.call('SREM', KEYS[2], d)
  elseif redis.call('EXISTS', key) == 0 then
    redis.call('SREM', KEYS[2], d)
  end
end
redis.call('HSET', KEYS[1], 'uid', ARGV[2], 'ip', ARGV[3], 'created', ARGV[4], 'last', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[5])
if KEYS[3] ~= '' then
  redis.call('HINCRBY', KEYS[3], ARGV[2] .. ':logins', 1)
  if ended > 0 then redis.call('HINCRBY', KEYS[3], ARGV[2] .. ':ended', ended) end
  redis.call('EXPIRE', KEYS[3], ARGV[8])
end
return ended
"""

# KEYS: session, audit day ('' when off). ARGV: now, idle timeout, touch (1/0), audit ttl.
# Counts a call and, when asked, records activity; trytond resets only still-fresh sessions.
ACTIVITY_LUA = """
local v = redis.call('HMGET', KEYS[1], 'uid', 'last')
if not v[1] then return 0 end
local touched = 0
if ARGV[3] == '1' and tonumber(ARGV[1]) - tonumber(v[2]) < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'last', ARGV[1])
  touched = 1
end
if KEYS[2] ~= '' then
  redis.call('HINCRBY', KEYS[2], v[1] .. ':calls', 1)
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
return touched
"""

# KEYS: session. ARGV: user set prefix, digest. Returns the uid of the removed session.
REMOVE_LUA = """
local uid = redis.call('HGET', KEYS[1], 'uid')
redis.call('DEL', KEYS[1])
if uid then redis.call('SREM', ARGV[1] .. uid, ARGV[2]) end
return uid
"""

# KEYS: user sets. ARGV: session key prefix. Returns how many sessions each set held.
CLEAR_LUA = """
local ended = {}
for i, set in ipairs(KEYS) do
  ended[i] = 0
  for _, d in ipairs(redis.call('SMEMBERS', set)) do
    ended[i] = ended[i] + redis.call('DEL', ARGV[1] .. d)
  end
  redis.call('DEL', set)
end
return ended
"""


def new_token() -> str:
    """A session key as trytond makes them (`secrets.token_hex()`: 256 random bits)."""
    return secrets.token_hex()


def digest(token: str) -> str:
    """What Redis holds instead of the token (a plain hash suffices for 256 random bits)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def today(now: float | None = None) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now))


@dataclass(frozen=True)
class SessionRecord:
    digest: str
    uid: int
    ip: str | None
    created: float
    last: float

    @classmethod
    def from_hash(cls, key_digest: str, values: dict[bytes, bytes]) -> SessionRecord | None:
        try:
            return cls(
                digest=key_digest,
                uid=int(values[b"uid"]),
                ip=values[b"ip"].decode() or None,
                created=float(values[b"created"]),
                last=float(values[b"last"]),
            )
        except (KeyError, ValueError, UnicodeDecodeError):
            return None  # missing or planted garbage: an unknown session


class SessionStore:
    """Sessions of every database of one deployment; one per process, thread-safe."""

    def __init__(self, options: Sessions):
        self.options = options
        # no retries: a call Redis cannot answer in time is refused (HTTP 503), never accepted
        self.redis = ForkSafeRedis(
            redis_spec(options),
            scripts={
                "create": CREATE_LUA,
                "activity": ACTIVITY_LUA,
                "remove": REMOVE_LUA,
                "clear": CLEAR_LUA,
            },
        )

    # -- plumbing -------------------------------------------------------------------------
    def client(self):
        return self.redis.client()

    def _call(self, fn: Callable[[], T]) -> T:
        return self.redis.call(fn)

    def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        return self._call(lambda: self.redis.script(name)(keys=keys, args=args))

    def close(self) -> None:
        self.redis.close()

    # -- keys -----------------------------------------------------------------------------
    def _base(self, db: str) -> str:
        return f"{self.options.key_prefix}:s:{{{db}}}:"

    def session_key(self, db: str, key_digest: str) -> str:
        return f"{self._base(db)}k:{key_digest}"

    def user_key(self, db: str, uid: int) -> str:
        return f"{self._base(db)}u:{uid}"

    def audit_key(self, db: str, day: str) -> str:
        return f"{self._base(db)}a:{day}"

    # -- sessions -------------------------------------------------------------------------
    def create(
        self, db: str, uid: int, ip: str | None, max_age: int, exclusive: bool, now: float
    ) -> tuple[str, int]:
        """A new session for `uid`; returns its token and how many sessions were ended."""
        token = new_token()
        key_digest = digest(token)
        audit = self.audit_key(db, today(now)) if self.options.audit else ""
        ended = self._script(
            "create",
            [self.session_key(db, key_digest), self.user_key(db, uid), audit],
            [
                key_digest,
                uid,
                ip or "",
                repr(now),
                max(int(max_age), 1) + EXPIRED_GRACE,
                1 if exclusive else 0,
                self.session_key(db, ""),
                self.options.audit_days * DAY,
            ],
        )
        return token, int(ended)

    def get(self, db: str, token: str) -> SessionRecord | None:
        key_digest = digest(token)
        values = self._call(lambda: self.client().hgetall(self.session_key(db, key_digest)))
        return SessionRecord.from_hash(key_digest, values) if values else None

    def activity(self, db: str, token: str, now: float, idle_timeout: int, touch: bool) -> bool:
        """Count a call (audit) and, if `touch`, record activity unless already idle too long."""
        audit = self.audit_key(db, today(now)) if self.options.audit else ""
        return bool(
            self._script(
                "activity",
                [self.session_key(db, digest(token)), audit],
                [repr(now), idle_timeout, 1 if touch else 0, self.options.audit_days * DAY],
            )
        )

    def remove(self, db: str, token: str) -> int | None:
        """End one session; the uid it belonged to, None if there was none."""
        key_digest = digest(token)
        uid = self._script(
            "remove", [self.session_key(db, key_digest)], [self.user_key(db, ""), key_digest]
        )
        return int(uid) if uid is not None else None

    def remove_digest(self, db: str, record: SessionRecord) -> None:
        def run():
            pipe = self.client().pipeline(transaction=True)
            pipe.delete(self.session_key(db, record.digest))
            pipe.srem(self.user_key(db, record.uid), record.digest)
            pipe.execute()

        self._call(run)

    def clear(self, db: str, uids: Iterable[int]) -> dict[int, int]:
        """End every session of these users; how many each one had."""
        uids = list(uids)
        if not uids:
            return {}
        keys = [self.user_key(db, uid) for uid in uids]
        ended = self._script("clear", keys, [self.session_key(db, "")])
        return {uid: int(n) for uid, n in zip(uids, ended, strict=True)}

    def sessions_of(self, db: str, uids: Iterable[int]) -> dict[int, list[SessionRecord]]:
        """The live sessions of each user."""
        uids = list(uids)

        def run():
            client = self.client()
            pipe = client.pipeline(transaction=False)
            for uid in uids:
                pipe.smembers(self.user_key(db, uid))
            members = [sorted(m.decode() for m in found) for found in pipe.execute()]
            for found in members:
                for key_digest in found:
                    pipe.hgetall(self.session_key(db, key_digest))
            values = iter(pipe.execute())
            return {
                uid: [
                    record
                    for key_digest in found
                    if (record := SessionRecord.from_hash(key_digest, next(values)))
                ]
                for uid, found in zip(uids, members, strict=True)
            }

        return self._call(run)

    def users(self, db: str) -> list[int]:
        """Users holding a session set (SCAN: for the operator's commands only)."""
        pattern = self.user_key(db, "*")

        def run():
            found = self.client().scan_iter(match=pattern, count=500)
            return sorted(int(key.decode().rsplit(":", 1)[1]) for key in found)

        return self._call(run)

    # -- audit ----------------------------------------------------------------------------
    def count(self, db: str, uid: int, counter: str, now: float, amount: int = 1) -> None:
        if not self.options.audit or not amount:
            return
        key = self.audit_key(db, today(now))

        def run():
            pipe = self.client().pipeline(transaction=False)
            pipe.hincrby(key, f"{uid}:{counter}", amount)
            pipe.expire(key, self.options.audit_days * DAY)
            pipe.execute()

        self._call(run)

    def audit(self, db: str, day: str) -> dict[int, dict[str, int]]:
        """The day's counters per user: {uid: {counter: n}}."""
        values = self._call(lambda: self.client().hgetall(self.audit_key(db, day)))
        result: dict[int, dict[str, int]] = {}
        for field, value in values.items():
            uid, _, counter = field.decode().partition(":")
            if uid.isdigit() and counter in COUNTERS:
                result.setdefault(int(uid), dict.fromkeys(COUNTERS, 0))[counter] = int(value)
        return result
