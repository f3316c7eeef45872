"""`RedisCache`: trytond's cache with an in-process L1 in front of a shared Redis L2.

Selected with `[cache] class = tryton_ops.cache.RedisCache`. trytond imports this module
while `trytond.cache` is only partly initialised, so at top level only `MemoryCache`, the
`trytond.cache` module itself, `trytond.config`, `trytond.pool` and `trytond.transaction` are
imported; nothing connects or starts a thread before the first transaction.

Correctness rests on per-(database, cache) generation counters kept in Redis and read once
per transaction (`sync`); every value, in L1 and L2, is tagged with the generation it was
computed under. The protocol and its argument are in docs/cache.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
import uuid
from weakref import WeakKeyDictionary

from trytond import cache as trytond_cache
from trytond.cache import MemoryCache
from trytond.pool import Pool
from trytond.transaction import Transaction

from tryton_ops.access.redis import RedisUnavailable
from tryton_ops.cache import request_scope, serializer
from tryton_ops.cache.store import (
    POOL_NAME,
    RedisStore,
    StoreSettings,
    digest,
    pack_entry,
    read_signing_key,
    unpack_entry,
)

__all__ = ["CacheInvalidationError", "RedisCache"]
logger = logging.getLogger(__name__)

STATS_INTERVAL = 5.0  # seconds between two pushes of a process's counters to Redis
# L1 marker of a key that is a miss for this generation without asking Redis again: Redis had
# no value for it (trytond looks up some keys on every call that nobody ever sets, e.g. the
# estimated count of ir.session on 8.0), or immutable() cannot copy its value (stock's view of
# a form with sub-views). A miss is always correct; setting the key replaces the marker.
_KNOWN_MISS = object()


def _same(current, value) -> bool:
    """Whether a value set again equals the one L1 holds (any doubt: not the same)."""
    if current is _KNOWN_MISS:
        return False
    try:
        return bool(current == value)
    except Exception:  # an __eq__ that raises: write it through
        return False


class CacheInvalidationError(Exception):
    """A commit that must invalidate caches while Redis cannot record it: it is rolled back."""


class _TxState:
    """What a transaction saw in Redis at its start."""

    __slots__ = ("epoch", "gens", "pending", "private", "shared")

    def __init__(self, epoch: str, gens: dict[str, int], pending: frozenset[str], shared: bool):
        self.epoch = epoch
        self.gens = gens
        self.pending = pending
        self.shared = shared  # may write to L1/L2 (false while the namespace is young)
        self.private: set[str] = set()  # caches cleared by this transaction

    def tag(self, name: str) -> tuple[str, int]:
        return (self.epoch, self.gens.get(name, 0))


class _Known:
    __slots__ = ("epoch", "gens", "version")

    def __init__(self, epoch: str, version: str, gens: dict[str, int]):
        self.epoch, self.version, self.gens = epoch, version, gens


class _RequestView:
    """The view read by the first transaction of an HTTP request, reused by its other ones.

    The request is the marker of `request_scope`, else the `_request` context dict trytond
    gives its session transactions; one Redis round trip serves the whole request unless this
    process bumped a generation in between (see docs/cache.md, "One view per request").
    """

    __slots__ = ("bumps", "known", "pending", "request", "young")

    def __init__(self, request: dict, bumps: int, known: _Known, pending, young: bool):
        self.request, self.bumps, self.known = request, bumps, known
        self.pending, self.young = pending, young


class _PostCommit:
    """Data manager whose `tpc_finish` (after the SQL commit) does the second bump."""

    def __init__(self, store: RedisStore, dbname: str, names: frozenset[str], token: str):
        self.store, self.dbname, self.names, self.token = store, dbname, names, token
        self.done = False

    def tpc_begin(self, transaction) -> None:
        pass

    def commit(self, transaction) -> None:
        pass

    def tpc_vote(self, transaction) -> None:
        pass

    def tpc_finish(self, transaction) -> None:
        if self.done:
            return
        self.done = True
        try:
            self.store.bump(self.dbname, self.names, self.token, "post")
        except RedisUnavailable as exc:
            # The pending lease keeps these caches out of L1/L2 until it expires.
            logger.warning(
                "post-commit cache invalidation of %s failed (%s); caching of these names "
                "resumes when their lease expires",
                sorted(self.names),
                exc,
            )

    def tpc_abort(self, transaction) -> None:
        # Outcome of the SQL commit unknown: leave the pending lease to expire.
        self.done = True


def _load_settings() -> tuple[StoreSettings, bool]:
    """The store settings and whether L1 is on, from trytond.conf's `[ops_cache]`."""
    from tryton_ops.config.schema import Cache as CacheSection

    try:
        cache = CacheSection.from_trytond()
    except ValueError as exc:
        raise RuntimeError(f"[{CacheSection.TRYTOND_SECTION}] of trytond.conf: {exc}") from None
    if not cache.redis_uri:
        raise RuntimeError(
            "[cache] class is tryton_ops.cache.RedisCache but "
            f"[{CacheSection.TRYTOND_SECTION}] redis_uri is not set"
        )
    try:
        key = read_signing_key(cache.signing_key_file) if cache.signing_key_file else None
    except ValueError as exc:
        raise RuntimeError(f"[{CacheSection.TRYTOND_SECTION}] signing_key_file: {exc}") from None
    return StoreSettings.from_section(cache, signing_key=key), cache.l1


class RedisCache(MemoryCache):
    """Two-level cache honouring trytond's cache contract (see docs/cache.md)."""

    _states: WeakKeyDictionary = WeakKeyDictionary()  # transaction -> _TxState | None
    _store: RedisStore | None = None
    _store_lock = threading.Lock()
    _known: dict[str, _Known] = {}
    _memory_seen: dict[str, dict[str, tuple]] = {}  # dbname -> name -> signature
    _pool_seen: dict[str, tuple[str, int]] = {}
    _request_views = threading.local()  # .views: dbname -> _RequestView of this thread
    _bumps = 0  # generation bumps made by this process (a request view older than one is void)
    _l1_on = True  # [ops_cache] l1, read with the store (a config lookup per get costs µs)
    _stats_pushed = 0.0
    _stats_lock = threading.Lock()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._l1: dict[str, tuple[tuple[str, int], object]] = {}
        self._batches: dict[str, tuple[tuple[str, int], dict[str, bytes]]] = {}
        self.l1_hit = self.l2_hit = self.l2_error = self.uncacheable = self.corrupt = 0
        self._pushed = {"hit": 0, "miss": 0, "l1_hit": 0, "l2_hit": 0}

    # -- configuration --------------------------------------------------------------------
    @classmethod
    def store(cls) -> RedisStore:
        if cls._store is None:
            with cls._store_lock:
                if cls._store is None:
                    settings, RedisCache._l1_on = _load_settings()
                    cls._store = RedisStore(settings)
        return cls._store

    # -- helpers --------------------------------------------------------------------------
    def _new_lru(self):
        return self._database_cache.default_factory()

    def _private(self, transaction, create: bool):
        cache = self._transaction_cache.get(transaction)
        if cache is None and create:
            cache = self._transaction_cache[transaction] = self._new_lru()
        return cache

    def _shared_l1(self, dbname: str, tag: tuple[str, int]):
        """The L1 for this generation; None for a transaction older than the L1's content."""
        entry = self._l1.get(dbname)
        if entry is not None:
            if entry[0] == tag:
                return entry[1]
            if entry[0][0] == tag[0] and entry[0][1] > tag[1]:
                return None
        lru = self._new_lru()
        self._l1[dbname] = (tag, lru)
        return lru

    @staticmethod
    def _lookup(cache, key):
        """(True, value) for a live entry of an LRU, else (False, None)."""
        try:
            expire, value = cache[key]
        except (KeyError, TypeError):
            return False, None
        if expire is not None and expire < time.time():
            cache.pop(key, None)
            return False, None
        with contextlib.suppress(KeyError):
            cache.move_to_end(key)
        return True, value

    # -- instance API ---------------------------------------------------------------------
    def get(self, key, default=None):
        key = self._key(key)
        transaction = Transaction()
        private = self._transaction_cache.get(transaction)
        if private is not None:
            found, value = self._lookup(private, key)
            if found:
                self.hit += 1
                return value
        state = self._states.get(transaction)
        if state is None or self._name in state.private:
            self.miss += 1
            return default
        dbname = transaction.database.name
        tag = state.tag(self._name)
        l1 = self._shared_l1(dbname, tag) if self._l1_on else None
        if l1 is not None:
            found, value = self._lookup(l1, key)
            if found and value is _KNOWN_MISS:
                self.miss += 1
                return default
            if found:
                self.hit += 1
                self.l1_hit += 1
                return value
        errors = self.l2_error
        found, value = self._l2_get(dbname, tag, key, batch=l1 is not None)
        if found:
            self.hit += 1
            self.l2_hit += 1
        elif self.l2_error == errors:  # an answer from Redis: remember the miss
            value = (None, _KNOWN_MISS)
        if l1 is not None and value is not None:
            with contextlib.suppress(TypeError):
                l1[key] = value
        if found:
            return value[1]
        self.miss += 1
        return default

    def set(self, key, value):
        key = self._key(key)
        transaction = Transaction()
        try:
            # Looked up at call time, as MemoryCache does, so that the accelerator
            # `view_cache` (which replaces trytond.cache.immutable) applies here too.
            stored = trytond_cache.immutable(value)
        except TypeError:
            self._mark_uncacheable(transaction, key)
            return value
        return self._set(transaction, key, stored)

    def _shared_target(self, transaction):
        """(tag, L1 or None) where this transaction may share a value; None: keep it private."""
        state = self._states.get(transaction)
        name = self._name
        if state is None or not state.shared or name in state.private or name in state.pending:
            return None
        tag = state.tag(name)
        if not self._l1_on:
            return tag, None
        l1 = self._shared_l1(transaction.database.name, tag)
        return None if l1 is None else (tag, l1)

    def _mark_uncacheable(self, transaction, key) -> None:
        target = self._shared_target(transaction)
        if target is not None and target[1] is not None:
            with contextlib.suppress(TypeError):
                target[1][key] = (None, _KNOWN_MISS)

    def _set(self, transaction, key, value):
        expire = time.time() + self.duration.total_seconds() if self.duration else None
        target = self._shared_target(transaction)
        if target is None:
            with contextlib.suppress(TypeError):
                self._private(transaction, create=True)[key] = (expire, value)
            return value
        tag, l1 = target
        if l1 is not None:
            found, current = self._lookup(l1, key)
            try:
                l1[key] = (expire, value)
            except TypeError:
                return value
            if found and _same(current, value):
                # trytond sets some keys again on every call with the same value (the session
                # check's reset timestamp): Redis already holds it, skip the round trip
                return value
        self._l2_set(transaction.database.name, tag, key, expire, value)
        return value

    def clear(self):
        super().clear()  # name into _reset[transaction], drops the private cache
        state = self._states.get(Transaction())
        if state is not None:
            state.private.add(self._name)

    # -- L2 -------------------------------------------------------------------------------
    def _batched(self, store: RedisStore, dbname: str, tag: tuple[str, int]) -> dict:
        """The values of this generation fetched in one batch at this process's first L2 read.

        A new or recycled worker would otherwise pay one round trip per lookup while warming
        up (about 250 for the first views of a form); values written after the batch was
        fetched are still found by a GET.
        """
        batch = self._batches.get(dbname)
        if batch is None or batch[0] != tag:
            index = store.batch_index_key(dbname, tag[0], self._name, tag[1])
            batch = self._batches[dbname] = (tag, store.load_batch(index))
        return batch[1]

    def _l2_get(self, dbname, tag, key, batch: bool):
        store = self.store()
        try:
            key_bytes = serializer.encode_key(key)
        except serializer.Unserializable:
            return False, None
        key_digest = digest(key_bytes)
        redis_key = store.value_key(dbname, tag[0], self._name, tag[1], key_digest)
        try:
            data = self._batched(store, dbname, tag).pop(key_digest, None) if batch else None
            if data is None:
                data = store.get_value(redis_key)
        except RedisUnavailable:
            self.l2_error += 1
            return False, None
        if data is None:
            return False, None
        data = store.unseal(redis_key, data)
        entry = None if data is None else unpack_entry(data, key_bytes)
        if entry is None:
            self.corrupt += 1
            return False, None
        expire, value_bytes = entry
        if expire is not None and expire < time.time():
            return False, None
        try:
            value = serializer.decode(value_bytes)
        except serializer.CorruptValue:
            self.corrupt += 1
            return False, None
        return True, (expire, value)

    def _l2_set(self, dbname, tag, key, expire, value) -> None:
        store = self.store()
        try:
            key_bytes = serializer.encode_key(key)
            value_bytes = serializer.encode(value)
        except serializer.Unserializable:
            self.uncacheable += 1
            return
        data = pack_entry(key_bytes, expire, value_bytes)
        if len(data) > store.settings.max_value_size:
            self.uncacheable += 1
            return
        ttl = store.settings.ttl
        if expire is not None:
            ttl = min(ttl, max(expire - time.time(), 0.001))
        redis_key = store.value_key(dbname, tag[0], self._name, tag[1], digest(key_bytes))
        index = store.batch_index_key(dbname, tag[0], self._name, tag[1]) if self._l1_on else None
        try:
            store.set_value(redis_key, store.seal(redis_key, data), int(ttl * 1000), index)
        except RedisUnavailable:
            self.l2_error += 1

    # -- transaction hooks (classmethods called by trytond) -------------------------------
    @classmethod
    def sync(cls, transaction):
        dbname = transaction.database.name
        request = request_scope.current() or transaction.context.get("_request")
        view = cls._request_view(dbname, request)
        if view is None:
            view = cls._read_view(transaction, dbname, request)
            if view is None:
                return
        # A snapshot taken before this read (SELECT ... FOR UPDATE of locked records in
        # Transaction.start) could predate a commit whose generation we now see.
        shared = not view.young and not getattr(transaction, "_locked_records", None)
        known = view.known
        cls._states[transaction] = _TxState(known.epoch, known.gens, view.pending, shared)
        MemoryCache._clean_last = dt.datetime.now()
        cls._maybe_push_stats(dbname)

    @classmethod
    def _request_view(cls, dbname: str, request) -> _RequestView | None:
        """The view an earlier transaction of this request read, if still usable."""
        if request is None:
            return None
        view = getattr(cls._request_views, "views", {}).get(dbname)
        if view is None or view.request is not request or view.bumps != cls._bumps:
            return None
        return view

    @classmethod
    def _read_view(cls, transaction, dbname: str, request) -> _RequestView | None:
        """The view read from Redis (None: unreachable, caches bypassed)."""
        store = cls.store()
        known = cls._known.get(dbname)
        bumps = cls._bumps
        try:
            result = store.sync(
                dbname, known.epoch if known else None, known.version if known else None
            )
        except RedisUnavailable:
            cls._states[transaction] = None
            cls._clear_memory_instances(dbname)
            return None
        if result.gens is not None or known is None:
            known = _Known(result.epoch, result.version, result.gens or {})
            cls._known[dbname] = known
        young = result.now_ms < result.fresh_until_ms
        view = _RequestView(request, bumps, known, result.pending, young)
        if request is not None:
            if not hasattr(cls._request_views, "views"):
                cls._request_views.views = {}
            cls._request_views.views[dbname] = view
        cls._sync_memory_instances(dbname, known, result.pending, young)
        cls._sync_pool(transaction, dbname, known)
        return view

    @classmethod
    def commit(cls, transaction):
        reset = cls._reset.pop(transaction, None)
        if not reset:
            return
        names = frozenset(reset)
        reset.clear()
        dbname = transaction.database.name
        cls._count_bump()
        for name in names:
            inst = cls._instances.get(name)
            if isinstance(inst, RedisCache):
                inst._l1.pop(dbname, None)
            elif isinstance(inst, MemoryCache):
                inst._clear(dbname)
        token = uuid.uuid4().hex
        store = cls.store()
        try:
            store.bump(dbname, names, token, "pre")
        except RedisUnavailable as exc:
            raise CacheInvalidationError(
                "the cache invalidation of this commit could not be recorded in Redis "
                f"({exc}); the transaction is rolled back so that no worker serves stale "
                "data. Retry when Redis is reachable."
            ) from None
        transaction.join(_PostCommit(store, dbname, names, token))

    @classmethod
    def _count_bump(cls) -> None:
        """Voids every request view of this process: later transactions read a new one."""
        with cls._store_lock:
            RedisCache._bumps += 1

    @classmethod
    def rollback(cls, transaction):
        cls._reset.pop(transaction, None)

    @classmethod
    def refresh_pool(cls, transaction):
        # Bumped with the other names when this transaction commits; other processes
        # reload their pool when they see the generation change.
        cls._reset.setdefault(transaction, set()).add(POOL_NAME)

    @classmethod
    def drop(cls, dbname):
        super().drop(dbname)
        for inst in list(cls._instances.values()):
            if isinstance(inst, RedisCache):
                inst._l1.pop(dbname, None)
                inst._batches.pop(dbname, None)
        cls._known.pop(dbname, None)
        cls._memory_seen.pop(dbname, None)
        cls._count_bump()
        try:
            cls.store().drop(dbname)
        except RedisUnavailable as exc:
            logger.error("cache of %r could not be dropped in Redis: %s", dbname, exc)

    # -- helpers of sync ------------------------------------------------------------------
    @classmethod
    def _memory_only_instances(cls):
        return [
            inst
            for inst in list(cls._instances.values())
            if isinstance(inst, MemoryCache) and not isinstance(inst, RedisCache)
        ]

    @classmethod
    def _clear_memory_instances(cls, dbname: str) -> None:
        """Redis unreachable: trytond's hard-coded MemoryCache instances start afresh."""
        cls._memory_seen.pop(dbname, None)
        for inst in cls._memory_only_instances():
            inst._clear(dbname)

    @classmethod
    def _sync_memory_instances(cls, dbname, known, pending, young) -> None:
        """Clear a hard-coded MemoryCache when its generation (or pending state) moved."""
        seen = cls._memory_seen.setdefault(dbname, {})
        for inst in cls._memory_only_instances():
            name = inst._name
            signature = (known.epoch, known.gens.get(name, 0), young or name in pending)
            if seen.get(name) != signature:
                seen[name] = signature
                inst._clear(dbname)

    @classmethod
    def _sync_pool(cls, transaction, dbname: str, known) -> None:
        tag = (known.epoch, known.gens.get(POOL_NAME, 0))
        if cls._pool_seen.get(dbname) == tag:
            return
        first = dbname not in cls._pool_seen
        cls._pool_seen[dbname] = tag
        if first or not Pool().ready:
            return
        from trytond.cache import _get_modules

        # On the transaction's own connection: another connection would be the same one on
        # SQLite (switching it to autocommit), and the snapshot may start now (view is read).
        modules = _get_modules(transaction.connection.cursor())
        Pool.refresh(dbname, modules)

    # -- statistics -----------------------------------------------------------------------
    def counters(self) -> dict[str, int]:
        return {
            "hit": self.hit,
            "miss": self.miss,
            "l1_hit": self.l1_hit,
            "l2_hit": self.l2_hit,
        }

    @classmethod
    def detailed_stats(cls):
        """Per cache: counters of this process and its L1 size for each database."""
        for name, inst in list(cls._instances.items()):
            if isinstance(inst, RedisCache):
                row = {"name": name, **inst.counters()}
                row["l2_error"] = inst.l2_error
                row["uncacheable"] = inst.uncacheable
                row["corrupt"] = inst.corrupt
                row["l1_size"] = {db: len(entry[1]) for db, entry in list(inst._l1.items())}
                yield row

    @classmethod
    def _maybe_push_stats(cls, dbname: str) -> None:
        now = time.monotonic()
        if now - cls._stats_pushed < STATS_INTERVAL or not cls._stats_lock.acquire(False):
            return
        try:
            cls._stats_pushed = now
            deltas: dict[str, int] = {}
            sizes: dict[str, int] = {}
            for name, inst in list(cls._instances.items()):
                if not isinstance(inst, RedisCache):
                    continue
                counters = inst.counters()
                for field, value in counters.items():
                    delta = value - inst._pushed.get(field, 0)
                    if delta:
                        deltas[f"{name}\x00{field}"] = delta
                inst._pushed = counters
                entry = inst._l1.get(dbname)
                if entry is not None:
                    sizes[name] = len(entry[1])
            if deltas or sizes:
                cls.store().add_stats(dbname, deltas, sizes)
        except RedisUnavailable:
            pass
        finally:
            cls._stats_lock.release()
