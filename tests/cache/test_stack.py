"""RedisCache on real gunicorn stacks: coherence across processes, Redis failures under load.

Two stacks serve the same PostgreSQL database and share one Redis: stack A with 2 workers
and stack B with 1 worker (a second "host"). A write through A followed by a read through B
always crosses processes; reads through A land on either of its workers.

The observed cache is `modelview.fields_view_get` (plus `ir.ui.view`'s own caches and the
hard-coded RelaxNG validator MemoryCache): each write changes an extension view of the party
form, each read checks that `fields_view_get` shows that very version.
"""

from __future__ import annotations

import re
import threading
import time

import pytest

from tryton_ops.client import ServerError, TransportError

PAIRS = 40

ARCH = (
    '<data><xpath expr="/form" position="inside">'
    '<separator id="ops_probe" string="v{version}"/></xpath></data>'
)
VERSION_RE = re.compile(r'id="ops_probe" string="v(\d+)"|string="v(\d+)" id="ops_probe"')

CACHE = {
    "backend": "redis",
    "timeout": 0.3,
    "connect_timeout": 0.3,
    "retry_interval": 0.5,
    "commit_lease": 3,
}


def read_version(conn) -> int:
    view = conn.call("model.party.party.fields_view_get", None, "form", {})
    match = VERSION_RE.search(view["arch"])
    assert match, view["arch"][:500]
    return int(match.group(1) or match.group(2))


def make_probe_view(conn) -> int:
    (base,) = conn.call(
        "model.ir.ui.view.search",
        [("model", "=", "party.party"), ("type", "=", "form"), ("inherit", "=", None)],
        0,
        1,
        None,
        {},
    )
    (view_id,) = conn.call(
        "model.ir.ui.view.create",
        [{"model": "party.party", "inherit": base, "data": ARCH.format(version=0)}],
        {},
    )
    return view_id


def write_version(conn, view_id: int, version: int) -> None:
    conn.call("model.ir.ui.view.write", [view_id], {"data": ARCH.format(version=version)}, {})


@pytest.fixture
def two_stacks(make_trytond_db, redis_server, tryton_stack):
    database = make_trytond_db("postgresql")
    cache = {**CACHE, "redis_uri": redis_server.uri}
    stack_a = tryton_stack(database, workers=2, cache=cache)
    stack_b = tryton_stack(database, workers=1, cache=cache)
    return stack_a, stack_b


def test_write_then_read_elsewhere_is_never_stale(two_stacks, redis_server):
    stack_a, stack_b = two_stacks
    writer, reader_b, reader_a = stack_a.connect(), stack_b.connect(), stack_a.connect()
    view_id = make_probe_view(writer)
    for conn in (reader_a, reader_b):  # warm every L1
        for _ in range(3):
            assert read_version(conn) == 0
    stale = []
    for version in range(1, PAIRS + 1):
        write_version(writer, view_id, version)
        for name, conn in (("B", reader_b), ("A", reader_a)):
            seen = read_version(conn)
            if seen != version:
                stale.append((name, version, seen))
    assert stale == []

    # views are shared through L2 (once the namespace is older than the commit lease)
    def stored() -> bool:
        read_version(reader_a)
        keys = redis_server.client().scan_iter(match="tryton:*:v:*", count=1000)
        return any(b"modelview.fields_view_get" in key for key in keys)

    wait_until(stored)

    # garbage planted in every value and in the generation hash is never served
    client = redis_server.client()
    for key in client.scan_iter(count=1000):
        if b":v:" in key:
            client.set(key, b"\x93\x01\xc4\x00garbage")
        elif key.endswith(b":g"):
            client.hset(key, "g:modelview.fields_view_get", "garbage")
    write_version(writer, view_id, PAIRS + 1)
    for _ in range(3):
        assert read_version(reader_b) == PAIRS + 1
        assert read_version(reader_a) == PAIRS + 1


def test_a_warm_rpc_costs_one_redis_round_trip(make_trytond_db, redis_server, tryton_stack):
    """The session check, the call and the session reset of an RPC share one view."""
    cache = {**CACHE, "redis_uri": redis_server.uri, "commit_lease": 1}
    conn = tryton_stack(make_trytond_db("postgresql"), workers=1, cache=cache).connect()
    client = redis_server.client()
    call = ("model.party.party.search_read", [], 0, 5, None, ["name"], {})
    ignored = {"info", "hincrby", "hset", "expire"}  # this count and the 5 s statistics push

    def commands() -> dict[str, int]:
        stats = client.info("commandstats")
        return {k[8:]: v["calls"] for k, v in stats.items() if k[8:] not in ignored}

    time.sleep(1.2)  # a new namespace is trusted once older than the commit lease
    for _ in range(5):
        conn.call(*call)
    before = commands()
    for _ in range(20):
        conn.call(*call)
    after = commands()
    delta = {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}
    assert delta == {"get": 20}


class Load:
    """Reads and plain writes in a thread, recording every failure."""

    def __init__(self, stack):
        self.conn = stack.connect()
        self.errors: list[str] = []
        self.calls = 0
        self.slowest = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        (party,) = self.conn.call("model.party.party.create", [{"name": "load"}], {})
        n = 0
        while not self._stop.is_set():
            n += 1
            began = time.monotonic()
            try:
                self.conn.call("model.party.party.fields_view_get", None, "tree", {})
                self.conn.call("model.party.party.search_read", [], 0, 5, None, ["name"], {})
                self.conn.call("model.party.party.write", [party], {"name": f"load {n}"}, {})
                names = self.conn.call("model.party.party.read", [party], ["name"], {})
                if names[0]["name"] != f"load {n}":
                    self.errors.append(f"read {names[0]['name']!r} after writing 'load {n}'")
            except (ServerError, TransportError) as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self.calls += 1
            self.slowest = max(self.slowest, time.monotonic() - began)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def wait_until(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.1)


def try_write(conn, view_id: int, version: int) -> bool:
    try:
        write_version(conn, view_id, version)
    except ServerError as exc:
        assert "CacheInvalidationError" in str(exc) or "could not be recorded" in str(exc), exc
        return False
    return True


def test_redis_killed_paused_restarted_under_load(two_stacks, redis_server):
    stack_a, stack_b = two_stacks
    writer, reader = stack_a.connect(), stack_b.connect()
    view_id = make_probe_view(writer)
    version = 1
    write_version(writer, view_id, version)
    for _ in range(3):
        assert read_version(reader) == version
        assert read_version(writer) == version

    with Load(stack_a) as load_a, Load(stack_b) as load_b:
        wait_until(lambda: load_a.calls > 3 and load_b.calls > 3)

        # -- killed: reads and plain writes go on; cache-invalidating writes are refused
        redis_server.kill()
        calls = load_a.calls, load_b.calls
        wait_until(lambda: load_a.calls > calls[0] + 5 and load_b.calls > calls[1] + 5)
        assert not try_write(writer, view_id, version + 1)
        assert read_version(reader) == version  # the refused write changed nothing
        assert read_version(writer) == version

        # -- restarted empty: the generations restart at the values they had (ABA), old L1
        #    entries must still not be served
        redis_server.start()
        wait_until(lambda: try_write(writer, view_id, version + 1))
        version += 1
        for _ in range(5):
            assert read_version(reader) == version
            assert read_version(writer) == version

        # -- paused: requests are answered (cache bypassed) within the timeouts
        redis_server.pause()
        try:
            calls = load_a.calls, load_b.calls
            wait_until(lambda: load_a.calls > calls[0] + 5 and load_b.calls > calls[1] + 5)
            assert read_version(reader) == version
            assert not try_write(writer, view_id, version + 1)
        finally:
            redis_server.resume()
        wait_until(lambda: try_write(writer, view_id, version + 1))
        version += 1
        for _ in range(5):
            assert read_version(reader) == version
            assert read_version(writer) == version
        calls = load_a.calls, load_b.calls
        wait_until(lambda: load_a.calls > calls[0] + 3 and load_b.calls > calls[1] + 3)

    assert load_a.errors == [] and load_b.errors == []
    # no request waited on Redis beyond its timeouts (generous bound for a busy 2-core box)
    assert max(load_a.slowest, load_b.slowest) < 20
