"""Stores bounded by count and age, on files and on a real Redis; the writer never blocks."""

import os
import time

import pytest

from tryton_ops.access.redis import RedisUnavailable
from tryton_ops.perf.collector import Collector
from tryton_ops.perf.options import PerfOptions
from tryton_ops.perf.store import FileStore, RedisStore, store_errors
from tryton_ops.perf.writer import Writer
from tryton_ops.testing.databases import make_config


def record(i: int, ts: float | None = None) -> dict:
    return {"id": f"c{i}", "ts": time.time() if ts is None else ts, "method": "m"}


def test_file_store_bounded_by_count(tmp_path):
    store = FileStore(PerfOptions(directory=str(tmp_path), max_records=100))
    for start in range(0, 350, 7):
        store.write([record(i) for i in range(start, start + 7)])
    ids = [r["id"] for r in store.read()]
    assert 90 <= len(ids) <= 100
    assert ids[-1] == "c349"
    assert ids == sorted(ids, key=lambda x: int(x[1:]))


def test_file_store_bounded_by_age(tmp_path):
    store = FileStore(PerfOptions(directory=str(tmp_path), max_records=100, max_age="60s"))
    store.write([record(1, ts=time.time() - 120), record(2)])
    assert [r["id"] for r in store.read()] == ["c2"]
    store.write([record(i) for i in range(3, 11)])  # fills the first segment (10 records)
    first = store.segments()[0]
    os.utime(first, (time.time() - 3600, time.time() - 3600))
    store._last_age_check = 0
    store.write([record(11)])  # goes to a new segment; the old one is deleted
    assert not first.exists()
    assert [r["id"] for r in store.read()] == ["c11"]


def test_file_store_skips_torn_lines(tmp_path):
    store = FileStore(PerfOptions(directory=str(tmp_path)))
    store.write([record(1)])
    with store.segments()[-1].open("a") as fh:
        fh.write('{"id": "torn"')
    store.write([record(2)])
    assert [r["id"] for r in store.read()] == ["c1", "c2"]


def test_redis_store_bounded_and_windowed(redis_server):
    options = PerfOptions(store="redis", redis_uri=redis_server.uri, max_records=100)
    store = RedisStore(options)
    now = time.time()
    store.write([record(i, ts=now - 10 + i / 100) for i in range(250)])
    assert store.count() == 100
    ids = [r["id"] for r in store.read()]
    assert ids[0] == "c150" and ids[-1] == "c249"
    window = [r["id"] for r in store.read(since=now - 10 + 2.0, until=now - 10 + 2.095)]
    assert window == [f"c{i}" for i in range(200, 210)]


def test_redis_store_trims_by_age(redis_server):
    options = PerfOptions(store="redis", redis_uri=redis_server.uri, max_age="60s")
    store = RedisStore(options)
    store.write([record(1)])
    # an entry older than max_age, with an old stream id, is trimmed by MINID
    old = int((time.time() - 600) * 1000)
    store.client.delete(store.key)
    store.client.xadd(store.key, {"r": '{"id": "old", "ts": 1}'}, id=f"{old}-0")
    store._last_age_check = 0
    store.write([record(2)])
    assert [r["id"] for r in store.read()] == ["c2"]
    assert store.count() == 1


def test_store_errors_name_the_store(redis_server):
    options = PerfOptions(store="redis", redis_uri=redis_server.uri)
    redis_server.kill()
    message = f"Redis at {redis_server.uri} is unavailable"
    with pytest.raises(RedisUnavailable, match=message), store_errors(options):
        list(RedisStore(options).read())


def test_redis_store_over_tls_with_the_deployments_private_ca(redis_factory, tmp_path):
    redis = redis_factory(password="s3cret-pass", tls=True)
    config = make_config(
        tmp_path,
        {
            "redis": {"uri": redis.tls_uri, "tls_ca_file": str(redis.ca_file)},
            "perf": {"enabled": True},
        },
    )
    # what a trytond worker reads back from the rendered [ops_perf] section
    options = PerfOptions.from_mapping(PerfOptions.from_config(config).trytond_items())
    assert options.redis_tls_ca_file == str(redis.ca_file)
    store = RedisStore(options)
    store.write([record(1), record(2)])
    assert [r["id"] for r in store.read()] == ["c1", "c2"]

    untrusted = options.model_copy(update={"redis_tls_ca_file": None})
    refusal = pytest.raises(RedisUnavailable, match="set tls_ca_file")
    with refusal as refused, store_errors(untrusted):
        RedisStore(untrusted).count()
    assert "s3cret-pass" not in str(refused.value)


def _raw(i: int) -> dict:
    return {"id": f"r{i}", "ts": time.time(), "method": "x", "_collector": Collector()}


def wait(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.05)


def test_writer_drops_with_counter_when_buffer_full(tmp_path):
    writer = Writer(PerfOptions(directory=str(tmp_path), buffer_size=10, flush_interval_ms=50))
    for i in range(25):  # not started: nothing drains the buffer
        writer.submit(_raw(i))
    assert writer.counters.dropped_full == 15
    writer.ensure_started()  # a new process (pid) starts with an empty buffer
    assert len(writer.buffer) == 0


def test_writer_survives_store_down_and_recovers(redis_server):
    options = PerfOptions(store="redis", redis_uri=redis_server.uri, flush_interval_ms=50)
    writer = Writer(options)
    writer.ensure_started()
    writer.submit(_raw(1))
    wait(lambda: writer.counters.written == 1)
    redis_server.pause()  # SIGSTOP: connections hang, the writer times out
    try:
        started = time.monotonic()
        for i in range(2, 50):
            writer.submit(_raw(i))
        assert time.monotonic() - started < 1.0  # submit never waits on the store
        wait(lambda: writer.counters.dropped_store > 0 and writer.counters.store_errors > 0)
    finally:
        redis_server.resume()
    writer._paused_until = 0  # skip the back-off instead of waiting it out
    writer.submit(_raw(100))
    wait(lambda: any(r["id"] == "r100" for r in RedisStore(options).read()))
