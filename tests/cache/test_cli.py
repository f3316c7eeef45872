"""`tryton-ops cache stats` and `cache flush` against a private Redis."""

from __future__ import annotations

import json
import uuid

from click.testing import CliRunner

from tryton_ops.cache.admin import open_store
from tryton_ops.cache.store import pack_entry
from tryton_ops.cli import main
from tryton_ops.config import load_config


def write_config(tmp_path, redis_uri: str | None, backend: str = "redis"):
    path = tmp_path / "tryton-ops.toml"
    lines = [
        'name = "clitest"',
        "[paths]",
        f'data = "{tmp_path / "data"}"',
        f'run = "{tmp_path / "run"}"',
        "[database]",
        'name = "shop"',
        "[cache]",
        f'backend = "{backend}"',
    ]
    if redis_uri:
        lines.append(f'redis_uri = "{redis_uri}"')
    path.write_text("\n".join(lines) + "\n")
    return path


def run(path, *args):
    return CliRunner().invoke(main, ["-c", str(path), "cache", *args], catch_exceptions=False)


def test_stats_and_flush(tmp_path, redis_server):
    path = write_config(tmp_path, redis_server.unix_uri)  # unix:// socket URI
    store = open_store(load_config(path))
    result = store.sync("shop", None, None)
    token = uuid.uuid4().hex
    store.bump("shop", ["ir.model"], token, "pre")
    store.bump("shop", ["ir.model"], token, "post")
    epoch = store.sync("shop", None, None).epoch
    for i in range(3):  # two values of the current generation, one dead
        gen = 2 if i else 0
        key = store.value_key("shop", epoch, "ir.model", gen, f"d{i}")
        store.set_value(key, pack_entry(b"k", None, b"\xc0"), 60_000)
    store.add_stats("shop", {"ir.model\x00hit": 9, "ir.model\x00miss": 1}, {"ir.model": 5})
    assert result.epoch

    out = run(path, "stats", "--json")
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    (row,) = [r for r in data["caches"] if r["name"] == "ir.model"]
    assert (row["hit"], row["miss"], row["hit_ratio"]) == (9, 1, 0.9)
    assert (row["l1_size"], row["l2_keys"]) == (5, 2)
    assert data["processes"] == 1 and data["memory"]["used_memory"] > 0

    text = run(path, "stats")
    assert text.exit_code == 0 and "ir.model" in text.output and "90.0%" in text.output

    flushed = run(path, "flush", "--json")
    assert flushed.exit_code == 0, flushed.output
    info = json.loads(flushed.output)
    assert info["deleted_keys"] == 3 and info["epoch"] != epoch
    after = json.loads(run(path, "stats", "--json").output)
    assert all(r["l2_keys"] == 0 for r in after["caches"])
    assert not list(redis_server.client().scan_iter(match="tryton:shop:v:*"))


def test_flush_other_database_only(tmp_path, redis_server):
    path = write_config(tmp_path, redis_server.uri)
    store = open_store(load_config(path))
    for db in ("shop", "other"):
        epoch = store.sync(db, None, None).epoch
        store.set_value(store.value_key(db, epoch, "c", 0, "x"), b"v", 60_000)
    assert run(path, "flush", "-d", "other").exit_code == 0
    keys = {k.decode() for k in redis_server.client().scan_iter(match="tryton:*:v:*")}
    assert len(keys) == 1 and keys.pop().startswith("tryton:shop:")


def test_errors_are_messages_not_tracebacks(tmp_path, redis_factory):
    memory = write_config(tmp_path, None, backend="memory")
    out = run(memory, "stats")
    assert out.exit_code == 1 and "error:" in out.output and "not enabled" in out.output

    server = redis_factory(password="s3cret-pass")
    path = write_config(tmp_path, server.uri)
    server.kill()
    out = run(path, "flush")
    assert out.exit_code == 1 and "unavailable" in out.output
    assert "s3cret-pass" not in out.output  # the password never reaches the output
