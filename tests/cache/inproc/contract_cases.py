"""trytond's cache contract, checked against RedisCache inside one trytond process.

Run by tests/cache/test_contract.py in a subprocess (trytond fixes its cache class at import):
TRYTOND_CONFIG selects RedisCache; OPS_TEST_DB names a database with `party`;
OPS_TEST_REDIS_PID is the private Redis server's pid (paused and resumed here).
Another process is simulated by bumping generations in Redis directly, the way a writer's
commit would, and by emptying this process's L1 to force reads from L2.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import unittest
import uuid
from types import MappingProxyType

import trytond.cache
from trytond.cache import MemoryCache
from trytond.pool import Pool
from trytond.transaction import Transaction

from tryton_ops.cache.redis_cache import CacheInvalidationError, RedisCache
from tryton_ops.cache.serializer import encode_key
from tryton_ops.cache.store import BATCH_BYTES, digest

DB = os.environ["OPS_TEST_DB"]
REDIS_PID = int(os.environ["OPS_TEST_REDIS_PID"])

cache = RedisCache("ops.test.cache")
cache_ctx = RedisCache("ops.test.context", context=True)
cache_expire = RedisCache("ops.test.expire", duration=1)
memory = MemoryCache("ops.test.memory", context=False)


def start(**kwargs) -> Transaction:
    return Transaction().start(DB, 0, **kwargs)


def forget_l1() -> None:
    """What another process sees: an empty L1 (and no batch fetched yet), the shared L2."""
    for inst in RedisCache._instances.values():
        if isinstance(inst, RedisCache):
            inst._l1.clear()
            inst._batches.clear()


def other_process_commit(*names: str) -> None:
    """The two bumps a writer in another process makes around its SQL commit."""
    token = uuid.uuid4().hex
    RedisCache.store().bump(DB, names, token, "pre")
    RedisCache.store().bump(DB, names, token, "post")


def cache_tag() -> tuple[str, int]:
    """The (epoch, generation) of `cache` in the current transaction's view."""
    return RedisCache._states[Transaction()].tag(cache._name)


def l2_key_parts(inst: RedisCache, transaction: Transaction) -> tuple[str, str, int]:
    epoch, gen = RedisCache._states[transaction].tag(inst._name)
    return epoch, inst._name, gen


def l2_key(inst: RedisCache, key, transaction: Transaction) -> str:
    key_digest = digest(encode_key(inst._key(key)))
    return RedisCache.store().value_key(DB, *l2_key_parts(inst, transaction), key_digest)


def redis_calls(*commands: str) -> tuple[int, ...]:
    """How many of each command Redis has served so far (default: GETs, script calls)."""
    stats = RedisCache.store().client().info("commandstats")
    commands = commands or ("get", "evalsha")
    return tuple(stats.get(f"cmdstat_{c}", {}).get("calls", 0) for c in commands)


class Contract(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        Pool(DB).init()

    def setUp(self):
        RedisCache.drop(DB)
        MemoryCache.drop(DB)
        RedisCache.store().breaker.success()

    def test_configured_class_is_redis_cache(self):
        self.assertIs(trytond.cache.Cache, RedisCache)

    def test_set_returns_immutable_value(self):
        with start():
            self.assertEqual(cache.set("list", [1, 2]), (1, 2))
            value = cache.set("dict", {"a": [1]})
            self.assertIsInstance(value, MappingProxyType)
            self.assertEqual(value["a"], (1,))
            self.assertEqual(cache.set("set", {1}), frozenset({1}))
        forget_l1()
        with start():
            self.assertEqual(cache.get("list"), (1, 2))
            self.assertIsInstance(cache.get("dict"), MappingProxyType)
            self.assertEqual(cache.get("set"), frozenset({1}))

    def test_value_embedding_a_cached_value(self):
        """Stock immutable() cannot copy a MappingProxyType: such a value is returned, not
        stored (as MemoryCache does); with the accelerator view_cache it is stored in both
        levels, because RedisCache uses trytond.cache.immutable as patched."""
        from tryton_ops.accel import view_cache

        nested = {"sub": MappingProxyType({"a": 1})}
        with start():
            self.assertEqual(cache.set("nested", nested)["sub"]["a"], 1)
            self.assertIsNone(cache.get("nested"))
        view_cache.apply()
        try:
            with start():
                cache.set("nested", nested)
                self.assertEqual(cache.get("nested")["sub"], {"a": 1})
            forget_l1()
            with start():
                self.assertEqual(cache.get("nested")["sub"]["a"], 1)
        finally:
            trytond.cache.immutable = trytond.cache.immutable.__wrapped__

    def test_uncacheable_value_is_not_looked_up_in_redis_again(self):
        """A value immutable() cannot copy is remembered as such in L1 for its generation."""
        nested = {"sub": MappingProxyType({"a": 1})}
        looked_up = self.value_reads()

        def redis_gets() -> int:
            return len(looked_up)

        with start():
            self.assertIsNone(cache.get("uncacheable"))  # a miss in L1 and in Redis
            cache.set("uncacheable", nested)
            before, misses = redis_gets(), cache.miss
            self.assertIsNone(cache.get("uncacheable"))
        with start():
            self.assertIsNone(cache.get("uncacheable"))
            self.assertEqual(redis_gets(), before)  # answered by the L1 marker
            self.assertEqual(cache.miss, misses + 2)
        other_process_commit(cache._name)
        with start():
            self.assertIsNone(cache.get("uncacheable"))  # a new generation asks Redis again
            self.assertEqual(redis_gets(), before + 1)

    def value_reads(self) -> list[str]:
        """The keys of the single value reads (GET) from Redis made from now on."""
        store = RedisCache.store()
        read = store.get_value
        looked_up: list[str] = []
        store.get_value = lambda key: looked_up.append(key) or read(key)
        self.addCleanup(delattr, store, "get_value")
        return looked_up

    def test_key_missing_in_redis_is_asked_once_per_generation(self):
        """trytond looks up some keys on every call that nobody sets (8.0: ir.session count)."""
        looked_up = self.value_reads()
        with start():
            self.assertIsNone(cache.get("never-set"))
        with start():
            self.assertIsNone(cache.get("never-set"))
        self.assertEqual(len(looked_up), 1)
        with start():
            cache.set("never-set", 1)  # replaces the marker
        with start():
            self.assertEqual(cache.get("never-set"), 1)
        other_process_commit(cache._name)
        with start():
            self.assertIsNone(cache.get("never-set"))
            self.assertIsNone(cache.get("never-set"))
        self.assertEqual(len(looked_up), 2)

    def test_setting_an_equal_value_again_skips_redis(self):
        """trytond sets some keys again with the same value on every call: one write only."""
        store = RedisCache.store()
        write = store.set_value
        written: list[str] = []
        store.set_value = lambda key, *rest: written.append(key) or write(key, *rest)
        self.addCleanup(delattr, store, "set_value")
        with start():
            cache.set("again", ("a", 1))
        with start():
            cache.set("again", ["a", 1])  # equal once made immutable
            self.assertEqual(len(written), 1)
            cache.set("again", ("a", 2))
            self.assertEqual(len(written), 2)
        forget_l1()
        with start():
            self.assertEqual(cache.get("again"), ("a", 2))  # the changed value reached Redis

    def test_mutating_the_original_does_not_change_the_cache(self):
        with start():
            value = ["a"]
            cache.set("k", value)
            value.append("b")
            self.assertEqual(cache.get("k"), ("a",))

    def test_value_shared_through_l2(self):
        with start():
            cache.set("k", "v")
        forget_l1()
        hits = cache.l2_hit
        with start():
            self.assertEqual(cache.get("k"), "v")
        self.assertEqual(cache.l2_hit, hits + 1)

    def test_context_is_part_of_the_key(self):
        with start(context={"language": "en"}):
            cache_ctx.set("k", "en")
        with start(context={"language": "fr"}):
            self.assertIsNone(cache_ctx.get("k"))
        forget_l1()
        with start(context={"language": "en"}):
            self.assertEqual(cache_ctx.get("k"), "en")

    def test_clear_is_private_until_commit(self):
        with start():
            cache.set("k", "old")
        transaction1 = start()
        try:
            cache.clear()
            self.assertIsNone(cache.get("k"))
            cache.set("k", "new")
            self.assertEqual(cache.get("k"), "new")
            with Transaction().new_transaction() as transaction2:
                self.assertEqual(cache.get("k"), "old")
                transaction2.rollback()
        finally:
            transaction1.rollback()
            transaction1.stop(False)
        # rolled back: the clear never happened
        with start():
            self.assertEqual(cache.get("k"), "old")
        forget_l1()
        with start():
            self.assertEqual(cache.get("k"), "old")

    def test_committed_clear_reaches_l1_and_l2(self):
        with start():
            cache.set("k", "old")
        with start() as transaction:
            cache.clear()
            transaction.commit()
            # the committing transaction keeps what it set privately (trytond's contract)
        with start():
            self.assertIsNone(cache.get("k"))
        forget_l1()
        with start():
            self.assertIsNone(cache.get("k"))

    def test_committing_transaction_keeps_its_private_value(self):
        transaction1 = start()
        try:
            with Transaction().new_transaction() as transaction2:
                cache.clear()
                cache.set("k", "baz")
                transaction2.commit()
                self.assertEqual(cache.get("k"), "baz")
        finally:
            transaction1.stop(False)

    def test_old_transaction_does_not_refill(self):
        transaction1 = start()
        try:
            with Transaction().new_transaction() as transaction2:
                cache.clear()
                transaction2.commit()
            Transaction().set_current_transaction(transaction1)
            cache.set("k", "stale")
            with Transaction().new_transaction():
                self.assertIsNone(cache.get("k"))
        finally:
            transaction1.stop(False)  # once per time it was made current
            transaction1.stop(False)
        forget_l1()
        with start():
            self.assertIsNone(cache.get("k"))

    def test_other_process_commit_invalidates_l1(self):
        with start():
            cache.set("k", "old")
        other_process_commit(cache._name)
        with start():
            self.assertIsNone(cache.get("k"))

    def test_commit_in_flight_elsewhere_blocks_shared_writes(self):
        token = uuid.uuid4().hex
        RedisCache.store().bump(DB, [cache._name], token, "pre")
        with start():
            cache.set("k", "maybe-stale")
            self.assertEqual(cache.get("k"), "maybe-stale")  # private to the transaction
        with start():
            self.assertIsNone(cache.get("k"))
        RedisCache.store().bump(DB, [cache._name], token, "post")
        with start():
            cache.set("k", "fresh")
        forget_l1()
        with start():
            self.assertEqual(cache.get("k"), "fresh")

    def test_duration(self):
        with start():
            cache_expire.set("k", "v")
            self.assertEqual(cache_expire.get("k"), "v")
        time.sleep(1.1)
        with start():
            self.assertIsNone(cache_expire.get("k"))
        forget_l1()
        with start():
            self.assertIsNone(cache_expire.get("k"))

    def test_drop(self):
        with start():
            cache.set("k", "v")
        RedisCache.drop(DB)
        with start():
            self.assertIsNone(cache.get("k"))
        forget_l1()
        with start():
            self.assertIsNone(cache.get("k"))

    def test_unserializable_value_stays_in_l1_and_is_invalidated(self):
        before = cache.uncacheable
        with start():
            marker = cache.set("obj", object())
        self.assertEqual(cache.uncacheable, before + 1)
        with start():
            self.assertIs(cache.get("obj"), marker)
        other_process_commit(cache._name)
        with start():
            self.assertIsNone(cache.get("obj"))

    def test_garbage_value_in_redis_is_a_miss(self):
        client = RedisCache.store().client()
        for garbage in (b"\xc1garbage", b"cos\nsystem\n(S'true'\ntR.", b""):
            with start() as transaction:
                cache.set("k", "v")
                key = l2_key(cache, "k", transaction)
            client.set(key, garbage)
            forget_l1()
            corrupt = cache.corrupt
            with start():
                self.assertIsNone(cache.get("k"))
            if garbage:
                self.assertEqual(cache.corrupt, corrupt + 1)

    def test_value_planted_under_another_key_is_not_served(self):
        with start() as transaction:
            cache.set("a", "value-of-a")
            cache.set("b", "value-of-b")
            key_a, key_b = l2_key(cache, "a", transaction), l2_key(cache, "b", transaction)
        client = RedisCache.store().client()
        client.set(key_b, client.get(key_a))
        forget_l1()
        with start():
            self.assertIsNone(cache.get("b"))
            self.assertEqual(cache.get("a"), "value-of-a")

    def test_value_forged_for_the_right_key(self):
        """A well-formed entry written by someone else: served unless values are signed."""
        from tryton_ops.cache import serializer
        from tryton_ops.cache.store import pack_entry

        with start() as transaction:
            cache.set("forged", "genuine")
            key = l2_key(cache, "forged", transaction)
            entry = pack_entry(encode_key(cache._key("forged")), None, serializer.encode("forged"))
        RedisCache.store().client().set(key, entry)
        forget_l1()
        signed = RedisCache.store().settings.signing_key is not None
        corrupt = cache.corrupt
        with start():
            self.assertEqual(cache.get("forged"), None if signed else "forged")
        self.assertEqual(cache.corrupt, corrupt + (1 if signed else 0))

    def test_garbage_generation_hash_is_healed_without_stale_reads(self):
        """Garbage written straight into the hash is healed by the next script that reads it: a
        writer's bump (the summary then names a new epoch), or the sync script of a reader that
        finds no summary or knows no version yet; nothing cached before is served afterwards.
        (A garbage field under an unchanged version is not read by a process whose view is
        current; what it keeps is not stale: no commit happened.)"""
        client = RedisCache.store().client()
        store = RedisCache.store()
        cases = [
            ("string", "writer"),
            ("string", "reader"),
            ("list", "writer"),
            ("list", "reader"),
            ("field", "writer"),
            ("field", "new process"),
        ]
        for garbage, healer in cases:
            RedisCache.drop(DB)  # a trusted namespace (a healed one is young)
            with start():
                cache.set("k", "old")
            with start():
                self.assertEqual(cache.get("k"), "old")  # served before the garbage
            if garbage == "string":
                client.set(store.gens_key(DB), "garbage")
            elif garbage == "list":
                client.delete(store.gens_key(DB))
                client.rpush(store.gens_key(DB), "garbage")
            else:
                client.hset(store.gens_key(DB), f"g:{cache._name}", "not-a-number")
            if healer == "writer":
                other_process_commit(cache._name)
            elif healer == "reader":
                client.delete(store.summary_key(DB))
            else:
                RedisCache._known.pop(DB, None)
            with start():
                self.assertIsNone(cache.get("k"), (garbage, healer))
            store.breaker.success()
            with start():
                self.assertIsNone(cache.get("k"), (garbage, healer))

    def test_current_view_costs_one_get(self):
        """The common sync is one GET of the summary; any change sends the script again."""
        with start():
            cache.set("k", "v")
        with start():
            pass  # learns the current version
        before = redis_calls()
        with start():
            self.assertEqual(cache.get("k"), "v")  # an L1 hit: no lookup in Redis either
        self.assertEqual(redis_calls(), (before[0] + 1, before[1]))
        other_process_commit("ops.other.cache")
        before = redis_calls()
        with start():
            self.assertEqual(cache.get("k"), "v")  # another cache's generation moved
        self.assertEqual(redis_calls(), (before[0] + 1, before[1] + 1))

    def test_a_new_process_reads_a_generation_in_one_batch(self):
        with start():
            for i in range(20):
                cache.set(f"k{i}", {"n": i})
        forget_l1()
        with start():
            pass  # this process knows the view: the next transaction's sync is one GET
        before = redis_calls("get", "lrange", "mget")
        with start():
            for i in range(20):
                self.assertEqual(cache.get(f"k{i}"), {"n": i})
        self.assertEqual(redis_calls("get", "lrange", "mget"), tuple(n + 1 for n in before))
        forget_l1()
        with start():
            self.assertEqual(cache.get("k0"), {"n": 0})  # fetches the batch
        with start():
            cache.set("later", 1)
        cache._l1.clear()  # the batch fetched above stays, and predates "later"
        with start():
            self.assertEqual(cache.get("later"), 1)

    def test_batch_is_bounded_and_garbage_in_its_index_is_ignored(self):
        big = "x" * (BATCH_BYTES // 3)
        with start() as transaction:
            for i in range(4):
                cache.set(f"big{i}", big)
            index = RedisCache.store().batch_index_key(DB, *l2_key_parts(cache, transaction))
        client = RedisCache.store().client()
        client.rpush(index, "not-an-entry", b"\xff\xfe", "digest:notasize")
        forget_l1()
        with start():
            self.assertEqual(len(cache._batched(RedisCache.store(), DB, cache_tag())), 2)
            for i in range(4):  # the older two beyond the byte budget come from single GETs
                self.assertEqual(cache.get(f"big{i}"), big)
        client.delete(index)
        client.set(index, "planted string")  # wrong type: an empty batch, Redis still used
        forget_l1()
        with start():
            self.assertEqual(cache.get("big0"), big)
            self.assertEqual(cache._batched(RedisCache.store(), DB, cache_tag()), {})
            cache.set("after", 2)
        self.assertTrue(RedisCache.store().breaker.allow())

    def test_transactions_of_one_request_share_its_view(self):
        """trytond passes the request's context dict to each transaction of an RPC."""
        request = {"remote_addr": "127.0.0.1"}
        with start(context={"_request": request}):
            cache.set("k", "old")
        other_process_commit(cache._name)  # acknowledged while that request is running
        before = redis_calls()
        with start(context={"_request": request}):
            self.assertEqual(cache.get("k"), "old")  # concurrent with the commit: same view
        self.assertEqual(redis_calls(), before)  # no round trip at all
        with start(context={"_request": dict(request)}):  # a request sent after the commit
            self.assertIsNone(cache.get("k"))

    def test_own_commit_voids_the_request_view(self):
        request = {"remote_addr": "127.0.0.1"}
        with start(context={"_request": request}):
            cache.set("k", "old")
        with start(context={"_request": request}) as transaction:
            cache.clear()
            transaction.commit()
        before = redis_calls()
        with start(context={"_request": request}):
            self.assertIsNone(cache.get("k"))
        self.assertGreater(redis_calls(), before)

    def test_request_view_keeps_commits_in_progress_private(self):
        token = uuid.uuid4().hex
        request = {"remote_addr": "127.0.0.1"}
        RedisCache.store().bump(DB, [cache._name], token, "pre")
        with start(context={"_request": request}):
            pass
        RedisCache.store().bump(DB, [cache._name], token, "post")
        with start(context={"_request": request}):
            cache.set("k", "maybe-stale")  # the request's view still shows the commit pending
        forget_l1()
        with start():
            self.assertIsNone(cache.get("k"))

    def test_data_loss_makes_the_namespace_young(self):
        with start():
            cache.set("k", "old")
        RedisCache.store().client().flushall()
        with start():
            self.assertIsNone(cache.get("k"))
            cache.set("k", "new")  # young namespace: kept private
        forget_l1()
        with start():
            self.assertIsNone(cache.get("k"))

    def test_hard_coded_memory_cache_follows_generations(self):
        with start():
            pass  # first sight of the generations clears it (transactions started before
            # a clear keep a private cache, as with MemoryCache)
        with start():
            memory.set("k", "old")
        with start():
            self.assertEqual(memory.get("k"), "old")
        other_process_commit(memory._name)
        with start():
            self.assertIsNone(memory.get("k"))

    def test_memory_cache_clear_is_propagated_through_redis(self):
        gens = RedisCache.store().client().hget
        store = RedisCache.store()
        before = int(gens(store.gens_key(DB), f"g:{memory._name}") or 0)
        with start() as transaction:
            memory.clear()
            transaction.commit()
        after = int(gens(store.gens_key(DB), f"g:{memory._name}"))
        self.assertEqual(after, before + 2)

    def test_redis_paused(self):
        with start():
            cache.set("k", "v")
        os.kill(REDIS_PID, signal.SIGSTOP)
        try:
            began = time.monotonic()
            with start():
                self.assertIsNone(cache.get("k"))  # cannot validate L1: bypassed
                self.assertEqual(cache.set("k2", [1]), (1,))
                self.assertEqual(cache.get("k2"), (1,))  # private to the transaction
            # one timeout, then the breaker answers at once
            self.assertLess(time.monotonic() - began, 5)
            with self.assertRaises(CacheInvalidationError), start() as transaction:
                cache.clear()
                transaction.commit()
            with start() as transaction:
                transaction.commit()  # nothing to invalidate: commits fine
        finally:
            os.kill(REDIS_PID, signal.SIGCONT)
        time.sleep(RedisCache.store().settings.cooldown + 0.1)
        with start():
            self.assertEqual(cache.get("k"), "v")
            cache.set("k3", "after")
        forget_l1()
        with start():
            self.assertEqual(cache.get("k3"), "after")

    def test_refused_commit_rolls_back_the_data(self):
        Party = Pool(DB).get("party.party")
        with start() as transaction:
            (party,) = Party.create([{"name": "before"}])
            party_id = party.id
            transaction.commit()
        os.kill(REDIS_PID, signal.SIGSTOP)
        try:
            with self.assertRaises(CacheInvalidationError), start() as transaction:
                Party.write([Party(party_id)], {"name": "after"})
                cache.clear()
                transaction.commit()
        finally:
            os.kill(REDIS_PID, signal.SIGCONT)
        with start():
            self.assertEqual(Party(party_id).name, "before")


if __name__ == "__main__":
    result = unittest.main(module=__name__, exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() and result.testsRun else 1)
