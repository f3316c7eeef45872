"""The Redis side of the cache: generation counters, pending commits, values, breaker.

Per database, three kinds of keys (`P` is the key prefix, `D` the database name):

- `P:{D}:g`, a hash: `epoch` (random id of this namespace's life), `v` (bumped with every
  generation change, lets a process skip re-reading the hash), `fresh` (ms timestamp until
  which the namespace is too young to be trusted, see docs/cache.md) and `g:<cache name>`
  generation counters.
- `P:{D}:p`, a sorted set of commits in progress: member `<token>:<cache name>`, score = the
  lease deadline in ms (Redis clock).
- `P:{D}:s`, a summary string `<epoch>|<v>|<commits in progress>|<fresh>` rewritten by every
  script, so that a process whose view is current learns it with one GET (the common case)
  instead of running the sync script.
- `P:D:v:<epoch>:<cache name>:<generation>:<key digest>`, one value, with a TTL.
- `P:D:v:<epoch>:<cache name>:<generation>:i`, the batch index of that generation: a list of
  `<key digest>:<size>` of the values written, newest last, capped; a process's first L2 read
  of a generation fetches the newest of them in one `MGET` (see `load_batch`).

Every call either succeeds or raises `RedisUnavailable` within the configured timeouts; after
a failure the circuit breaker short-circuits calls for `cooldown` seconds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import msgpack

from tryton_ops.access.redis import ForkSafeRedis, RedisSpec, RedisUnavailable

if TYPE_CHECKING:
    from tryton_ops.config.schema import Cache as CacheSection

logger = logging.getLogger(__name__)

T = TypeVar("T")

FORMAT_VERSION = 1
MAC_SIZE = 16  # bytes of the keyed BLAKE2b tag in front of a signed value
MIN_SIGNING_KEY = 16  # bytes of secret a signing key file must hold
POOL_NAME = "@pool"  # pseudo cache name bumped by refresh_pool()
BATCH_INDEX = "i"  # in place of a key digest: the batch index of a generation
BATCH_ENTRIES = 512  # newest values a batch index remembers and a batch load may fetch
BATCH_BYTES = 1024 * 1024  # most value bytes one batch load fetches (kept until used)

# Heals keys of the wrong type (planted garbage): dropping the generation hash, or losing the
# pending set, is handled like a Redis data loss (new epoch, young namespace).
_PROLOGUE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
local tp = redis.call('TYPE', KEYS[2]).ok
if tp ~= 'zset' and tp ~= 'none' then
  redis.call('DEL', KEYS[2])
  redis.call('DEL', KEYS[1])
end
local tg = redis.call('TYPE', KEYS[1]).ok
if tg ~= 'hash' and tg ~= 'none' then
  redis.call('DEL', KEYS[1])
end
if tg == 'hash' then
  local meta = redis.call('HMGET', KEYS[1], 'epoch', 'v', 'fresh')
  if not meta[1] or not tonumber(meta[2]) or not tonumber(meta[3]) then
    redis.call('DEL', KEYS[1])
  end
end
if redis.call('HSETNX', KEYS[1], 'epoch', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'fresh', now + lease, 'v', 0)
end
local fresh = tonumber(redis.call('HGET', KEYS[1], 'fresh'))
if fresh ~= 0 and now >= fresh then
  redis.call('HSET', KEYS[1], 'fresh', 0)
end
"""

# Ends every script: the summary a current process checks with one GET (KEYS[3]).
# A pending set of the wrong type counts as -1: readers then run the script, which heals it.
_SUMMARY = """
local s = redis.call('HMGET', KEYS[1], 'epoch', 'v', 'fresh')
local tpn = redis.call('TYPE', KEYS[2]).ok
local n = -1
if tpn == 'none' then
  n = 0
elseif tpn == 'zset' then
  n = redis.call('ZCARD', KEYS[2])
end
redis.call('SET', KEYS[3], s[1] .. '|' .. s[2] .. '|' .. n .. '|' .. s[3])
"""

# KEYS: gens, pending, summary. ARGV: candidate epoch, lease ms, known epoch, known v.
SYNC_LUA = (
    _PROLOGUE
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local pending = redis.call('ZRANGE', KEYS[2], 0, -1)
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'v', 'fresh')
local full = false
if meta[1] ~= ARGV[3] or meta[2] ~= ARGV[4] then
  full = redis.call('HGETALL', KEYS[1])
end
"""
    + _SUMMARY
    + """
return {now, meta[1], meta[2], meta[3], pending, full}
"""
)

# KEYS: gens, pending, summary. ARGV: candidate epoch, lease ms, token, phase, names...
BUMP_LUA = (
    _PROLOGUE
    + """
for i = 5, #ARGV do
  local field = 'g:' .. ARGV[i]
  local current = redis.call('HGET', KEYS[1], field)
  if current and not tonumber(current) then
    redis.call('DEL', KEYS[1])
    redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'fresh', now + lease, 'v', 0)
  end
  redis.call('HINCRBY', KEYS[1], field, 1)
  local member = ARGV[3] .. ':' .. ARGV[i]
  if ARGV[4] == 'pre' then
    redis.call('ZADD', KEYS[2], now + lease, member)
  else
    redis.call('ZREM', KEYS[2], member)
  end
end
redis.call('HINCRBY', KEYS[1], 'v', 1)
"""
    + _SUMMARY
    + """
return redis.call('HGET', KEYS[1], 'epoch')
"""
)

# KEYS: gens, pending, summary. ARGV: new epoch. A new, immediately trusted namespace (pending
# set kept).
DROP_LUA = (
    """
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'v', 0, 'fresh', 0)
"""
    + _SUMMARY
    + """
return ARGV[1]
"""
)


class Breaker:
    """Open after a failure, for `cooldown` seconds; then calls are tried again."""

    def __init__(self, cooldown: float):
        self.cooldown = cooldown
        self.open_until = 0.0
        self.failures = 0
        self.last_error: RedisUnavailable | None = None

    def allow(self) -> bool:
        return time.monotonic() >= self.open_until

    def success(self) -> None:
        if self.failures:
            logger.warning("Redis cache is reachable again after %d failure(s)", self.failures)
        self.failures = 0
        self.open_until = 0.0

    def failure(self, error: RedisUnavailable) -> None:
        self.failures += 1
        self.last_error = error
        self.open_until = time.monotonic() + self.cooldown
        if self.failures == 1:
            logger.warning(
                "%s; caches bypassed, writes that must invalidate a cache are refused, "
                "retrying in %.1fs",
                error,
                self.cooldown,
            )

    def refusal(self) -> RedisUnavailable:
        """What a call gets while the breaker is open: the last failure, said as such."""
        last = self.last_error
        return RedisUnavailable(
            last.uri, f"not tried for {self.cooldown:g}s after: {last.reason}", last.hint
        )


@dataclass(frozen=True)
class StoreSettings:
    """What the store needs of `[cache]`, built from the section (where its defaults live)."""

    redis: RedisSpec
    prefix: str
    ttl: int
    cooldown: float
    lease: float
    max_value_size: int
    signing_key: bytes | None = dataclasses.field(default=None, repr=False)  # never logged

    @classmethod
    def from_section(cls, cache: CacheSection, **overrides: Any) -> StoreSettings:
        """From the `[cache]` section whose Redis is resolved (see Settings.redis_of)."""
        if not cache.redis_uri:
            raise ValueError("the cache section names no Redis (redis_uri)")
        redis = RedisSpec(
            uri=cache.redis_uri,
            tls_ca_file=str(cache.tls_ca_file) if cache.tls_ca_file else None,
            socket_timeout=cache.timeout,
            connect_timeout=cache.connect_timeout,
        )
        values: dict[str, Any] = {
            "redis": redis,
            "prefix": cache.key_prefix,
            "ttl": cache.ttl,
            "cooldown": cache.retry_interval,
            "lease": cache.commit_lease,
            "max_value_size": cache.max_value_size,
        }
        return cls(**(values | overrides))


def read_signing_key(path: str | Path) -> bytes:
    """The value-signing key derived from a secret file; ValueError says what is wrong."""
    try:
        secret = Path(path).read_bytes().strip()
    except OSError as exc:
        raise ValueError(f"cannot read the cache signing key file {path}: {exc.strerror}") from None
    if len(secret) < MIN_SIGNING_KEY:
        raise ValueError(
            f"the cache signing key file {path} holds {len(secret)} bytes; put at least "
            f"{MIN_SIGNING_KEY} random bytes in it (e.g. `openssl rand -hex 32 > {path}`)"
        )
    return hashlib.blake2b(secret, digest_size=32, person=b"tryton-ops-cache").digest()


@dataclass(frozen=True)
class SyncResult:
    now_ms: int
    epoch: str
    version: str
    fresh_until_ms: int
    pending: frozenset[str]
    gens: dict[str, int] | None  # None: unchanged since the known version


def digest(key_bytes: bytes) -> str:
    return hashlib.blake2b(key_bytes, digest_size=16).hexdigest()


class RedisStore:
    """One per process (the client is recreated after fork); thread-safe."""

    def __init__(self, settings: StoreSettings):
        self.settings = settings
        self.breaker = Breaker(settings.cooldown)
        # no retries: after a failure the breaker decides when Redis is tried again
        self.redis = ForkSafeRedis(
            settings.redis, scripts={"sync": SYNC_LUA, "bump": BUMP_LUA, "drop": DROP_LUA}
        )

    # -- plumbing -------------------------------------------------------------------------
    def client(self):
        return self.redis.client()

    def _call(self, fn: Callable[[], T]) -> T:
        if not self.breaker.allow():
            raise self.breaker.refusal()
        try:
            result = self.redis.call(fn)
        except RedisUnavailable as exc:  # down, slow, or e.g. OOM, READONLY replica
            self.breaker.failure(exc)
            raise
        self.breaker.success()
        return result

    def _script(self, name: str):
        return self.redis.script(name)

    # -- keys -----------------------------------------------------------------------------
    def gens_key(self, db: str) -> str:
        return f"{self.settings.prefix}:{{{db}}}:g"

    def pending_key(self, db: str) -> str:
        return f"{self.settings.prefix}:{{{db}}}:p"

    def summary_key(self, db: str) -> str:
        return f"{self.settings.prefix}:{{{db}}}:s"

    def _control_keys(self, db: str) -> list[str]:
        return [self.gens_key(db), self.pending_key(db), self.summary_key(db)]

    def value_prefix(self, db: str, epoch: str) -> str:
        return f"{self.settings.prefix}:{db}:v:{epoch}:"

    def value_key(self, db: str, epoch: str, name: str, gen: int, key_digest: str) -> str:
        return f"{self.value_prefix(db, epoch)}{name}:{gen}:{key_digest}"

    def batch_index_key(self, db: str, epoch: str, name: str, gen: int) -> str:
        return self.value_key(db, epoch, name, gen, BATCH_INDEX)

    def stats_key(self, db: str) -> str:
        return f"{self.settings.prefix}:{db}:stats"

    # -- generations ----------------------------------------------------------------------
    def sync(self, db: str, known_epoch: str | None, known_version: str | None) -> SyncResult:
        if known_epoch and known_version:
            current = f"{known_epoch}|{known_version}|0|0".encode()
            if self._call(lambda: self.client().get(self.summary_key(db))) == current:
                # what the script would answer: same view, nothing in progress, not young
                return SyncResult(0, known_epoch, known_version, 0, frozenset(), None)
        lease_ms = int(self.settings.lease * 1000)

        def run():
            return self._script("sync")(
                keys=self._control_keys(db),
                args=[uuid.uuid4().hex, lease_ms, known_epoch or "", known_version or ""],
            )

        reply = self._call(run)
        try:
            now_ms, epoch, version, fresh, pending, full = reply
            gens = None
            if full:
                fields = dict(zip(full[0::2], full[1::2], strict=True))
                gens = {k[2:].decode(): int(v) for k, v in fields.items() if k.startswith(b"g:")}
            names = frozenset(m.decode().partition(":")[2] for m in pending)
            return SyncResult(
                int(now_ms), epoch.decode(), version.decode(), int(fresh), names, gens
            )
        except (ValueError, TypeError, AttributeError, UnicodeDecodeError) as exc:
            # A generation field holding garbage: start a new, young namespace.
            logger.warning("Redis cache generations of %r unreadable (%s); resetting", db, exc)
            self.reset(db)
            raise RedisUnavailable(
                self.settings.redis.uri,
                "the cache's generation hash was corrupt and has been reset",
                "nothing to do: the cache starts a new namespace",
            ) from None

    def bump(self, db: str, names: Iterable[str], token: str, phase: str) -> str:
        lease_ms = int(self.settings.lease * 1000)
        names = sorted(names)

        def run():
            return self._script("bump")(
                keys=self._control_keys(db),
                args=[uuid.uuid4().hex, lease_ms, token, phase, *names],
            )

        return self._call(run).decode()

    def drop(self, db: str) -> str:
        """A new namespace for `db`, trusted at once: every cached value of it is gone."""
        epoch = uuid.uuid4().hex
        self._call(lambda: self._script("drop")(keys=self._control_keys(db), args=[epoch]))
        return epoch

    def reset(self, db: str) -> None:
        """Like a data loss: the namespace is recreated young (commits may be in flight)."""
        self._call(lambda: self.client().delete(self.gens_key(db), self.summary_key(db)))

    # -- values ---------------------------------------------------------------------------
    def seal(self, key: str, data: bytes) -> bytes:
        """`data` as stored under `key`: prefixed by a tag binding it to that key when signing."""
        if self.settings.signing_key is None:
            return data
        return self._tag(key, data) + data

    def unseal(self, key: str, stored: bytes) -> bytes | None:
        """The data of a value read from `key`; None when its tag is missing or wrong."""
        if self.settings.signing_key is None:
            return stored
        tag, data = stored[:MAC_SIZE], stored[MAC_SIZE:]
        if len(tag) != MAC_SIZE or not hmac.compare_digest(tag, self._tag(key, data)):
            return None
        return data

    def _tag(self, key: str, data: bytes) -> bytes:
        mac = hashlib.blake2b(key=self.settings.signing_key, digest_size=MAC_SIZE)
        mac.update(key.encode())
        mac.update(b"\0")
        mac.update(data)
        return mac.digest()

    def get_value(self, key: str) -> bytes | None:
        return self._call(lambda: self.client().get(key))

    def set_value(self, key: str, data: bytes, ttl_ms: int, index: str | None = None) -> None:
        """Store a value; with `index` (its generation's batch index) record it there too."""
        ttl_ms = max(ttl_ms, 1)
        if index is None:
            self._call(lambda: self.client().set(key, data, px=ttl_ms))
            return
        entry = f"{key.rpartition(':')[2]}:{len(data)}"

        def run():
            pipe = self.client().pipeline(transaction=False)
            pipe.set(key, data, px=ttl_ms)
            pipe.rpush(index, entry)
            pipe.ltrim(index, -BATCH_ENTRIES, -1)
            pipe.pexpire(index, self.settings.ttl * 1000)
            # a planted index of another type fails alone; the value is stored all the same
            pipe.execute(raise_on_error=False)

        self._call(run)

    def load_batch(self, index: str) -> dict[str, bytes]:
        """The newest values a batch index lists, up to BATCH_BYTES: {key digest: stored data}.

        Two round trips (one when the index is empty) instead of one per value; values that
        expired or were evicted are simply absent, an unreadable index is an empty batch.
        """
        prefix = index[: -len(BATCH_INDEX)]

        def listed():
            pipe = self.client().pipeline(transaction=False)
            pipe.lrange(index, 0, -1)
            (entries,) = pipe.execute(raise_on_error=False)
            return entries if isinstance(entries, list) else []

        digests: dict[str, None] = {}  # newest first, each once
        budget = BATCH_BYTES
        for entry in reversed(self._call(listed)):
            key_digest, _, size = entry.decode("ascii", "replace").partition(":")
            if not size.isdigit() or key_digest in digests:
                continue
            if int(size) > budget:
                break
            budget -= int(size)
            digests[key_digest] = None
        if not digests:
            return {}
        values = self._call(lambda: self.client().mget([prefix + d for d in digests]))
        return {d: v for d, v in zip(digests, values, strict=True) if v is not None}

    def add_stats(self, db: str, counters: dict[str, int], sizes: dict[str, int]) -> None:
        """Add hit/miss counters and publish this process's L1 sizes (expire with it)."""
        client = self.client()
        proc_key = f"{self.settings.prefix}:{db}:proc:{os.uname().nodename}:{os.getpid()}"

        def run():
            pipe = client.pipeline(transaction=False)
            for field, delta in counters.items():
                pipe.hincrby(self.stats_key(db), field, delta)
            if sizes:
                pipe.hset(proc_key, mapping=sizes)
                pipe.expire(proc_key, 120)
            pipe.execute()

        self._call(run)


def pack_entry(key_bytes: bytes, expire: float | None, value_bytes: bytes) -> bytes:
    return msgpack.packb([FORMAT_VERSION, key_bytes, expire, value_bytes], use_bin_type=True)


def unpack_entry(data: bytes, key_bytes: bytes) -> tuple[float | None, bytes] | None:
    """(expire, value bytes) if `data` is an entry this code wrote for this key, else None."""
    try:
        entry = msgpack.unpackb(data, raw=False, use_list=False, strict_map_key=False)
    except Exception:
        return None
    if (
        type(entry) is not tuple
        or len(entry) != 4
        or entry[0] != FORMAT_VERSION
        or entry[1] != key_bytes
        or not (entry[2] is None or type(entry[2]) in (int, float))
        or type(entry[3]) is not bytes
    ):
        return None
    return entry[2], entry[3]
