"""`tryton-ops cache`: statistics and flush of the shared Redis cache."""

from __future__ import annotations

import click

from tryton_ops.cli.base import database_option, emit_json, get_config, json_option, table


@click.group("cache")
def cache_group() -> None:
    """The shared cache (RedisCache, docs/cache.md)."""


@cache_group.command("stats")
@database_option()
@json_option
@click.pass_context
def stats(ctx: click.Context, database: str | None, as_json: bool) -> None:
    """Hits, misses, L1/L2 sizes and hit ratios per cache, summed over all processes."""
    from tryton_ops.cache.admin import stats as cache_stats

    data = cache_stats(get_config(ctx), database)
    if as_json:
        emit_json(data)
        return
    memory = data["memory"]
    click.echo(
        f"database {data['database']} on {data['redis']}: {data['processes']} live process(es), "
        f"Redis memory {memory['used_memory_human']} "
        f"(maxmemory {memory['maxmemory'] or 'unlimited'}, {memory['maxmemory_policy']})"
    )
    rows = []
    for row in data["caches"]:
        ratio = "-" if row["hit_ratio"] is None else f"{row['hit_ratio']:.1%}"
        l1 = "-" if row["l1_ratio"] is None else f"{row['l1_ratio']:.1%}"
        rows.append({**row, "hit_ratio": ratio, "l1_ratio": l1})
    columns = ["name", "hit", "miss", "hit_ratio", "l1_hit", "l1_ratio", "l2_hit"]
    click.echo(table(rows, [*columns, "l1_size", "l2_keys"]))


@cache_group.command("flush")
@database_option()
@json_option
@click.pass_context
def flush(ctx: click.Context, database: str | None, as_json: bool) -> None:
    """Drop every cached value of a database (all processes, all hosts)."""
    from tryton_ops.cache.admin import flush as cache_flush

    data = cache_flush(get_config(ctx), database)
    if as_json:
        emit_json(data)
    else:
        click.echo(
            f"flushed the cache of {data['database']} "
            f"(new namespace {data['epoch']}, {data['deleted_keys']} old key(s) deleted)"
        )
