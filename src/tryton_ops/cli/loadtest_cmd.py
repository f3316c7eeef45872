"""`tryton-ops loadtest`: simulated users replaying recorded scenarios (Locust), and recording."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import click

from tryton_ops.cli.base import database_option, emit_json, get_config, json_option, table
from tryton_ops.config.durations import parse_duration
from tryton_ops.errors import UsageError


@click.group("loadtest")
def loadtest_group() -> None:
    """Load tests with simulated users replaying real clients (see docs/capacity.md)."""


@loadtest_group.command("scenarios")
@click.option(
    "--scenario",
    "extra",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Scenario file or directory besides the shipped ones (repeatable).",
)
@json_option
def scenarios_cmd(extra: tuple[Path, ...], as_json: bool) -> None:
    """List the scenarios: name, client recorded from, steps, calls."""
    from tryton_ops.capacity.plan import available_scenarios

    rows = [
        {
            "name": s.name,
            "client": s.recorded.get("client", "?"),
            "recorded": s.recorded.get("date", "?"),
            "steps": len(s.steps),
            "saving": sum(step.kind == "save" for step in s.steps),
            "calls": s.call_count,
        }
        for s in available_scenarios(list(extra)).values()
    ]
    if as_json:
        emit_json(rows)
    else:
        click.echo(table(rows, ["name", "client", "recorded", "steps", "saving", "calls"]))


@loadtest_group.command("record")
@click.argument("recording", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="Scenario name (what --mix refers to).")
@click.option("--client", required=True, help='The client recorded, e.g. "sao 8.0.11".')
@click.option("--description", default="", help="One line saying what the user does.")
@click.option(
    "--gap",
    type=float,
    default=1.0,
    show_default=True,
    help="Seconds without calls that separate two steps.",
)
@click.option("--steps", "step_names", help="Comma-separated step names, one per cut step.")
@click.option(
    "--skip-steps",
    type=int,
    default=0,
    show_default=True,
    help="Leading steps to drop (e.g. 1: the login and menu load).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Scenario file to write (default: print it).",
)
def record_cmd(recording, name, client, description, gap, step_names, skip_steps, output) -> None:
    """Turn RECORDING (the recorder's JSONL, see TRYTON_RECORD) into a scenario file."""
    from tryton_ops.capacity.record import convert, load_recording
    from tryton_ops.capacity.scenario import scenario_to_json

    names = [n.strip() for n in step_names.split(",")] if step_names else None
    scenario = convert(load_recording(recording), name, client, description, gap, names, skip_steps)
    text = json.dumps(scenario_to_json(scenario), indent=1, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    kinds = ", ".join(f"{s.name} ({s.kind}, {len(s.calls)})" for s in scenario.steps)
    click.echo(f"{output}: {len(scenario.steps)} steps: {kinds}")


def _port(listen: str | None) -> int | None:
    if not listen:
        return None
    port = listen.rsplit(":", 1)[-1]
    return int(port) if port.isdigit() else None


def _cpu_ports(config, url: str | None) -> dict[str, int | None]:
    """The local listening ports of the deployment's servers, for the CPU sampler.

    With --url, what listens on its port counts as the app server.
    """
    from urllib.parse import urlsplit

    from tryton_ops.deploy.local_stack import front_enabled

    settings = config.settings
    if url:
        return {"app": urlsplit(url).port or (443 if url.startswith("https") else 80)}
    ports = {"app": _port(settings.server.listen)}
    if front_enabled(config):
        ports["nginx"] = _port(settings.front.listen)
    if settings.database.uri.startswith("postgresql"):
        ports["postgresql"] = urlsplit(settings.database.uri).port or 5432
    redis_uri = settings.cache.redis_uri or settings.redis.uri
    if redis_uri and redis_uri.startswith("redis"):
        ports["redis"] = urlsplit(redis_uri).port or 6379
    return ports


def _password(config, password_file: Path | None) -> str:
    from tryton_ops.lifecycle.database import admin_password

    if password_file is None:
        return admin_password(config, generate=False)[0]
    try:
        return password_file.read_text().strip()
    except OSError as exc:
        raise UsageError(f"cannot read {password_file}: {exc.strerror}") from None


def _target_options(command):
    """The options saying which deployment, database, user and scenarios (run and check)."""
    options = [
        click.option(
            "--mix",
            help="name=weight,... or a file of name=weight lines "
            "(default: every scenario, weight 1).",
        ),
        click.option(
            "--scenario",
            "extra",
            multiple=True,
            type=click.Path(exists=True, path_type=Path),
            help="Scenario file or directory besides the shipped ones (repeatable).",
        ),
        click.option("--url", help="Server URL (default: the deployment's public URL)."),
        database_option(help="Database (default: database.name)."),
        click.option(
            "--login", default="admin", show_default=True, help="Login of the simulated users."
        ),
        click.option(
            "--password-file",
            type=click.Path(dir_okay=False, path_type=Path),
            help="File holding the password (default: the admin password file).",
        ),
        click.option("--yes", is_flag=True, help="Run even though the database is not a demo one."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _load_generator() -> None:
    """Locust and matplotlib come with the `capacity` extra, not with every server."""
    try:
        import locust  # noqa: F401
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise UsageError(
            f"load tests need {exc.name}: pip install 'tryton-ops[capacity]'"
        ) from None


def _workload(ctx, mix, extra, url, database, login, password_file, yes, think="0"):
    """(url, Workload) of a run; refuses a database that is not a demo one without --yes."""
    from tryton_ops.capacity.safety import check_series, server_series
    from tryton_ops.deploy.local_stack import public_url

    config = get_config(ctx)
    workload = build_workload(config, mix, extra, database, login, password_file, yes, think)
    target = (url or public_url(config)).rstrip("/")
    check_series(server_series(target), [scenario for scenario, _ in workload.scenarios])
    return target, workload


def build_workload(config, mix, extra, database, login, password_file, yes, think):
    """What the simulated users run, validated (the server's series is checked apart)."""
    _load_generator()
    from tryton_ops.capacity.plan import ThinkTime, available_scenarios, parse_mix, select
    from tryton_ops.capacity.safety import check_target
    from tryton_ops.capacity.users import Workload

    think_time = ThinkTime.parse(think)
    scenarios = available_scenarios(list(extra))
    selected = select(parse_mix(mix) if mix else dict.fromkeys(scenarios, 1.0), scenarios)
    database = database or config.settings.database.name
    check_target(config, database, yes)
    return Workload(
        database=database,
        login=login,
        password=_password(config, password_file),
        scenarios=tuple(selected),
        think=think_time,
    )


@loadtest_group.command("check")
@_target_options
@json_option
@click.pass_context
def check_cmd(ctx, mix, extra, url, database, login, password_file, yes, as_json) -> None:
    """Replay each scenario once, one user, no think time: does it fit this database?"""
    from tryton_ops.capacity.loadtest import replay_once
    from tryton_ops.errors import OpsError

    target, workload = _workload(ctx, mix, extra, url, database, login, password_file, yes)
    outcome = replay_once(target, workload)
    if as_json:
        emit_json(outcome)
    else:
        for scenario in outcome:
            state = "ok" if scenario["passed"] else "FAILED"
            click.echo(f"{scenario['scenario']}: {state}, {len(scenario['steps'])} steps")
            for error in scenario["errors"]:
                click.echo(f"  {error}")
    failed = [s["scenario"] for s in outcome if not s["passed"]]
    if failed:
        raise OpsError(f"scenario(s) failing on this database: {', '.join(failed)}")


def sweep_options(command):
    """The sweep and targets of a capacity search (run --find-capacity, tune)."""
    from tryton_ops.capacity import capacity_search as cs

    options = [
        click.option(
            "--max-users", type=click.IntRange(1), default=200, show_default=True,
            help="Capacity search: the largest step.",
        ),
        click.option(
            "--growth", type=float, default=2.0, show_default=True,
            help="Capacity search: each step has this many times the users of the last.",
        ),
        click.option(
            "--refine", type=click.IntRange(0), default=2, show_default=True,
            help="Capacity search: bisecting steps after the first broken one.",
        ),
        click.option(
            "--warmup", default="5s", show_default=True,
            help="Capacity search: measured only this long after all users started.",
        ),
        click.option(
            "--confirm",
            is_flag=True,
            help="Capacity search: measure a broken step again before stopping (shared hosts).",
        ),
        click.option(
            "--repeats", type=int, default=1, show_default=True,
            help="Capacity search: measure each step N times, judge it on the median one.",
        ),
        click.option(
            "--target-read-p95", type=float, default=cs.DEFAULT_READ_P95_MS,
            show_default=True, help="ms: p95 of read steps.",
        ),
        click.option(
            "--target-save-p95", type=float, default=cs.DEFAULT_SAVE_P95_MS,
            show_default=True, help="ms: p95 of saving steps.",
        ),
        click.option(
            "--target-errors", type=float, default=cs.DEFAULT_ERROR_RATE * 100,
            show_default=True, help="Percent of RPC calls failing.",
        ),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def _capacity_options(command):
    """--find-capacity and the sweep options."""
    command = sweep_options(command)
    return click.option(
        "--find-capacity",
        is_flag=True,
        help="Step the users up (from --users) until a target is broken; --duration is per step.",
    )(command)


@loadtest_group.command("run")
@click.option(
    "--users",
    type=click.IntRange(1),
    default=10,
    show_default=True,
    help="Simulated users (with --find-capacity: the first step).",
)
@click.option(
    "--spawn-rate",
    type=click.FloatRange(min=0.01),
    default=2.0,
    show_default=True,
    help="Users started per second.",
)
@click.option(
    "--duration",
    default="60s",
    show_default=True,
    help="e.g. 30s, 5m (per step with --find-capacity).",
)
@click.option(
    "--think",
    default="exp:5",
    show_default=True,
    help="Think time between steps: exp:MEAN, uniform:LOW-HIGH or const:SECONDS.",
)
@click.option(
    "--client-cache/--no-client-cache",
    default=True,
    show_default=True,
    help="Keep the answers trytond marks cacheable for the session, as sao and the desktop "
    "client do; --no-client-cache sends every recorded call every time (cold clients).",
)
@_target_options
@click.option("--web", "web", metavar="HOST:PORT", help="Serve Locust's web UI to drive the run.")
@_capacity_options
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for results.json and chart.png (default: ./loadtest-<time>).",
)
@json_option
@click.pass_context
def run_cmd(
    ctx,
    users,
    spawn_rate,
    duration,
    think,
    client_cache,
    mix,
    extra,
    url,
    database,
    login,
    password_file,
    yes,
    web,
    output,
    as_json,
    **capacity,
) -> None:
    """Run simulated users against the deployment; save results.json and chart.png.

    With --find-capacity: steps of users until a target is broken; capacity.json, and each
    step's results under steps/.
    """
    from tryton_ops.capacity import loadtest, report

    seconds = _seconds(duration, "--duration")
    web_address = _web_address(web) if web else None
    if capacity["find_capacity"]:
        if web_address:
            raise UsageError("--find-capacity runs headless: drop --web")
        sweep = sweep_settings(users, capacity)
    target, workload = _workload(ctx, mix, extra, url, database, login, password_file, yes, think)
    plan = loadtest.LoadRun(
        url=target,
        workload=dataclasses.replace(workload, client_cache=client_cache),
        users=users,
        spawn_rate=spawn_rate,
        duration=seconds,
        cpu_ports=_cpu_ports(get_config(ctx), url),
        web=web_address,
    )
    out = output or Path(f"loadtest-{time.strftime('%Y%m%d-%H%M%S')}")
    if capacity["find_capacity"]:
        _find_capacity(plan, sweep, out, think, as_json)
        return
    if web_address and not as_json:
        click.echo(f"Locust web UI on http://{web}/ for {seconds} s (start the users there)")
    results = loadtest.run(plan)
    report.save_json(results, out / "results.json")
    report.save_chart(results, out / "chart.png")
    if as_json:
        emit_json(results["totals"] | {"output": str(out)})
    else:
        click.echo(report.text_summary(results))
        click.echo(f"\nresults: {out / 'results.json'}, chart: {out / 'chart.png'}")


def _web_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter("expected HOST:PORT", param_hint="--web")
    return host, int(port)


def _seconds(text: str, option: str) -> int:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def sweep_settings(users: int, options: dict):
    """The validated capacity search of the sweep options (UsageError before any load)."""
    from tryton_ops.capacity.capacity_search import Sweep, Targets

    warmup = options["warmup"].strip()
    return Sweep(
        targets=Targets(
            read_p95_ms=options["target_read_p95"],
            save_p95_ms=options["target_save_p95"],
            error_rate=options["target_errors"] / 100,
        ),
        start=users,
        growth=options["growth"],
        max_users=options["max_users"],
        refine=options["refine"],
        warmup=0 if warmup in ("0", "0s") else _seconds(warmup, "--warmup"),
        confirm=options["confirm"],
        repeats=options["repeats"],
    )


def step_progress(as_json: bool):
    """A line on stderr per measured step (nothing with --json)."""

    def progress(result, broken) -> None:
        if not as_json:
            verdict = "ok" if not broken else "; ".join(broken)
            click.echo(f"{result.users} users: {verdict}", err=True)

    return progress


def _find_capacity(plan, sweep, out: Path, think: str, as_json: bool) -> None:
    """Run the sweep; print each step as it ends, then the table; save capacity.json."""
    from dataclasses import replace

    from tryton_ops.capacity import capacity_search, report

    def save(users: int, results: dict) -> None:
        report.save_json(results, out / "steps" / f"users-{users:04d}.json")

    plan = replace(plan, warmup=sweep.warmup)
    found = sweep.run(capacity_search.locust_run_at(plan, save), step_progress(as_json))
    data = found.to_json() | {
        "sweep": sweep.to_json(),
        "think": think,
        "step_duration_s": plan.duration,
        "url": plan.url,
        "database": plan.workload.database,
        "mix": {s.name: w for s, w in plan.workload.scenarios},
    }
    report.save_json(data, out / "capacity.json")
    if as_json:
        emit_json(data | {"output": str(out)})
    else:
        click.echo(capacity_search.text_summary(found, think))
        click.echo(f"\nresults: {out / 'capacity.json'}, steps: {out / 'steps'}")
