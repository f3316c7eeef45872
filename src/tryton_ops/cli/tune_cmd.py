"""`tryton-ops tune`: measure app server settings with the capacity finder, keep the best."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import click

from tryton_ops.cli.base import database_option, emit_json, get_config, json_option
from tryton_ops.cli.loadtest_cmd import (
    build_workload,
    step_progress,
    sweep_options,
    sweep_settings,
)
from tryton_ops.errors import UsageError


@click.command("tune")
@click.option(
    "--candidates",
    help="APP_SERVER:WORKERSxTHREADS,... e.g. gunicorn:4x1,gunicorn:2x4,uwsgi:2x2 "
    "(default: a grid around this host's cores; uWSGI when installed).",
)
@database_option(help="Demo database to load (default: database.name).")
@click.option("--users", type=click.IntRange(1), default=2, show_default=True, help="First step.")
@click.option(
    "--spawn-rate", type=click.FloatRange(min=0.01), default=10.0, show_default=True,
    help="Users started per second.",
)  # fmt: skip
@click.option("--duration", default="30s", show_default=True, help="Measured time per step.")
@click.option("--think", default="exp:5", show_default=True, help="Think time between steps.")
@click.option("--mix", help="name=weight,... or a file (default: every scenario, weight 1).")
@click.option(
    "--scenario", "extra", multiple=True, type=click.Path(exists=True, path_type=Path),
    help="Scenario file or directory besides the shipped ones (repeatable).",
)  # fmt: skip
@click.option("--login", default="admin", show_default=True, help="Login of the simulated users.")
@click.option(
    "--password-file", type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the password (default: the admin password file).",
)  # fmt: skip
@sweep_options
@click.option(
    "-o", "--output", type=click.Path(file_okay=False, path_type=Path),
    help="Directory for tune.json and each candidate's steps (default: ./tune-<time>).",
)  # fmt: skip
@click.option(
    "--yes", is_flag=True,
    help="Write without asking (and load a database that is not a demo one).",
)  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Measure and show the diff; write nothing.")
@json_option
@click.pass_context
def tune(ctx, candidates, database, users, spawn_rate, duration, think, mix, extra, login,
         password_file, output, yes, dry_run, as_json, **sweep_opts) -> None:  # fmt: skip
    """Measure app server settings on this host; write the best into tryton-ops.toml.

    Each candidate runs as its own stack beside the deployment (free ports, the deployment's
    database) under simulated users stepped up to its capacity (see loadtest --find-capacity).
    """
    from tryton_ops.capacity import tune as tuning
    from tryton_ops.cli.loadtest_cmd import _seconds

    try:
        import tomlkit  # noqa: F401  (the capacity extra)
    except ImportError:
        raise UsageError("tune needs tomlkit: pip install 'tryton-ops[capacity]'") from None
    config = get_config(ctx)
    if config.path is None and not dry_run:
        raise UsageError("tune writes into tryton-ops.toml: give it with -c FILE (or --dry-run)")
    seconds = _seconds(duration, "--duration")
    sweep = sweep_settings(users, sweep_opts)
    listed = (
        tuning.parse_candidates(candidates)
        if candidates
        else tuning.default_candidates(os.cpu_count() or 1, tuning.uwsgi_available())
    )
    workload = build_workload(config, mix, extra, database, login, password_file, yes, think)
    if any(c.app_server == "uwsgi" for c in listed) and not tuning.uwsgi_available():
        raise UsageError("uwsgi candidates need uWSGI: pip install 'tryton-ops[uwsgi]'")
    fit, refused = tuning.split_by_pool(
        listed, tuning.postgres_max_connections(config, workload.database)
    )
    for candidate, why in refused:
        click.echo(f"skipped {candidate.label}: {why}", err=True)
    if not fit:
        raise UsageError("no candidate fits PostgreSQL's max_connections")
    out = output or Path(f"tune-{time.strftime('%Y%m%d-%H%M%S')}")
    measured = _measure_all(config, fit, workload, sweep, seconds, spawn_rate, out, as_json)
    chosen, result = tuning.best(measured)
    report = _report(measured, refused, chosen, sweep, think, seconds)
    _save(out / "tune.json", report)
    _apply(config, chosen, result, report, yes, dry_run, as_json)


def _measure_all(config, candidates, workload, sweep, seconds, spawn_rate, out, as_json):
    """[(candidate, CapacityResult)] in the order given; one stack at a time."""
    from dataclasses import replace

    from tryton_ops.capacity import capacity_search, loadtest, report
    from tryton_ops.capacity import tune as tuning
    from tryton_ops.capacity.safety import check_series, server_series

    measured = []
    for candidate in candidates:
        if not as_json:
            click.echo(f"== {candidate.label}", err=True)
        folder = out / f"{candidate.app_server}-{candidate.workers}x{candidate.threads}"

        def find(url: str, folder: Path = folder):
            url = url.rstrip("/")
            check_series(server_series(url), [s for s, _ in workload.scenarios])
            port = int(url.rsplit(":", 1)[1])
            plan = loadtest.LoadRun(
                url=url, workload=workload, users=sweep.start, spawn_rate=spawn_rate,
                duration=seconds, cpu_ports={"app": port}, warmup=sweep.warmup,
            )  # fmt: skip

            def save(users: int, results: dict) -> None:
                report.save_json(results, folder / f"users-{users:04d}.json")

            run_at = capacity_search.locust_run_at(replace(plan), save)
            return sweep.run(run_at, step_progress(as_json))

        result = tuning.measure_candidate(config, candidate, find, tuning.free_port)
        measured.append((candidate, result))
        if not as_json:
            click.echo(f"   capacity {result.capacity} users", err=True)
    return measured


def _report(measured, refused, chosen, sweep, think: str, seconds: int) -> dict:
    """What tune.json holds and what is printed: every candidate, the chosen one."""
    return {
        "chosen": chosen.to_json() | {"label": chosen.label},
        "think": think,
        "step_duration_s": seconds,
        "sweep": sweep.to_json(),
        "targets": sweep.targets.to_json(),
        "candidates": [
            candidate.to_json()
            | {
                "label": candidate.label,
                "capacity_users": result.capacity,
                "reached_max_users": result.reached_max,
                "knee_users": result.knee_users,
                "limited_by": list(result.limited_by),
                "steps": result.to_json()["steps"],
            }
            for candidate, result in measured
        ],
        "skipped": [c.to_json() | {"label": c.label, "why": why} for c, why in refused],
    }


def _save(path: Path, report: dict) -> None:
    from tryton_ops.capacity import report as reports

    reports.save_json(report, path)


def _table(report: dict) -> str:
    lines = [f"{'candidate':<26} {'capacity':>9} {'knee':>5}  limited by"]
    for row in report["candidates"]:
        capacity = f"{'>=' if row['reached_max_users'] else ''}{row['capacity_users']}"
        knee = row["knee_users"] or "-"
        limit = "; ".join(row["limited_by"]) or "no target broken"
        lines.append(f"{row['label']:<26} {capacity:>9} {knee!s:>5}  {limit}")
    return "\n".join(lines)


def _apply(config, chosen, result, report: dict, yes: bool, dry_run: bool, as_json: bool):
    """Show the change to tryton-ops.toml; write it (checked to load) unless told not to."""
    from tryton_ops.capacity import tune as tuning

    path = config.path
    old, new = tuning.updated_toml(path, chosen)
    name = str(path) if path else "tryton-ops.toml"
    change = tuning.diff(old, new, name)
    if not as_json:
        click.echo(_table(report))
        click.echo(f"\nbest: {chosen.label}, {result.capacity} users at think time "
                   f"{report['think']}")  # fmt: skip
        click.echo(change or f"{name} already has this setting")
    written = False
    if change and not dry_run:
        _check_loads(new, path)
        if yes or click.confirm(f"write {name}?", default=False):
            tuning.write_atomically(path, new)
            written = True
    if as_json:
        emit_json(report | {"diff": change, "written": written})
    elif written:
        click.echo(f"wrote {name}; apply it with `tryton-ops reload` (or down and up)")


def _check_loads(text: str, path: Path) -> None:
    """The new file must load like the old one: a proposal that would not is a bug, not a write."""
    from tryton_ops.config.loader import load_config

    with tempfile.NamedTemporaryFile(
        "w", suffix=".toml", dir=path.parent, delete=False, encoding="utf-8"
    ) as handle:
        handle.write(text)
    try:
        load_config(handle.name)
    finally:
        os.unlink(handle.name)
