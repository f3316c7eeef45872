"""What the analyzer keeps about a database that was dropped: its records and activations."""

from __future__ import annotations

import json

from tryton_ops.perf.activation import disable_users
from tryton_ops.perf.options import PerfOptions
from tryton_ops.perf.store import RedisStore, open_store, store_errors

BATCH = 1000


def forget(options: PerfOptions, database: str) -> dict[str, int]:
    """Remove the activations of `database` and, in a Redis store, its call records.

    A file store's records age out with their segments (rewriting them would race the
    workers appending to them), so only its activations are removed.
    """
    activations = len(disable_users(options, database, None))
    records = 0
    store = open_store(options)
    try:
        if isinstance(store, RedisStore):
            with store_errors(options):
                records = _delete_records(store, database)
    finally:
        store.close()
    return {"records": records, "activations": activations}


def _delete_records(store: RedisStore, database: str) -> int:
    client = store.client
    deleted = 0
    start = "-"
    while batch := client.xrange(store.key, min=start, max="+", count=BATCH):
        ids = [entry_id for entry_id, fields in batch if _database_of(fields) == database]
        if ids:
            deleted += client.xdel(store.key, *ids)
        start = "(" + batch[-1][0].decode()
    return deleted


def _database_of(fields: dict[bytes, bytes]) -> str | None:
    try:
        return json.loads(fields[b"r"]).get("db")
    except (KeyError, ValueError, AttributeError):
        return None
