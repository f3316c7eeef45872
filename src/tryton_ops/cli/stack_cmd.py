"""`tryton-ops up`, `down`, `reload` and `status`: the local stack."""

from __future__ import annotations

import signal

import click

from tryton_ops.access.database import database_exists
from tryton_ops.cli.base import EXIT_FAILED, emit_json, get_config, json_option, table
from tryton_ops.deploy import local_stack
from tryton_ops.deploy.programs import front_enabled, nginx_binary
from tryton_ops.deploy.web_client import FETCHING, ensure_web_client, will_install
from tryton_ops.lifecycle.database import admin_password
from tryton_ops.lifecycle.first_run import undone_on_failure
from tryton_ops.lifecycle.init import init_database
from tryton_ops.lifecycle.password import AdminPassword
from tryton_ops.lifecycle.progress import RichReporter

EXIT_INTERRUPTED = 130  # like a shell for SIGINT


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@click.command()
@click.option("--detach", "-d", is_flag=True, help="Return once the server is ready.")
@click.pass_context
def up(ctx: click.Context, detach: bool) -> None:
    """Create the database on first run, start the server, wait until it answers."""
    config = get_config(ctx)
    # SIGTERM (e.g. `podman stop` of a container whose PID 1 is `up`) at any moment, even
    # while starting, stops what was started instead of being lost
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        code = _up(config, detach)
    except KeyboardInterrupt:
        local_stack.stop(config)
        click.echo("interrupted; stopped.", err=True)
        raise SystemExit(EXIT_INTERRUPTED) from None
    if code:
        click.secho(
            "error: the stack stopped unexpectedly:\n"
            + local_stack.log_tail(config, "supervisord.log"),
            fg="red",
            err=True,
        )
        raise SystemExit(EXIT_FAILED)


def _up(config, detach: bool) -> int:
    settings = config.settings
    name = settings.database.name
    with undone_on_failure(config):  # a run that created nothing leaves nothing
        local_stack.preflight(config)
        web_client_lines(config)  # before the database: `web.client = "sao"` may refuse to start
        if not database_exists(config, name):
            click.echo(f"creating database {name!r} ({settings.database.backend}) ...")
            value, path = admin_password(config)  # the file `up` prints, made on first run
            password = AdminPassword(value, "file", path)
            result = init_database(config, name, password, reporter=RichReporter())
            how = (
                "copied from the template cache"
                if result.from_template
                else "built by trytond-admin"
            )
            click.echo(f"created {name!r}: {how} in {result.seconds:.1f} s")
    click.echo(f"starting {settings.server.workers} worker(s) on {settings.server.listen} ...")
    if settings.front.enabled == "auto" and not front_enabled(config):
        reason = "nginx is not installed" if nginx_binary() is None else "one worker"
        click.echo(
            f"  serving directly ({reason}); for more: server.workers > 1 with nginx installed "
            "(apt-get install nginx) puts nginx in front"
        )
    state = local_stack.start(config, detach=detach)
    _, password_file = admin_password(config, generate=False)
    click.echo(f"ready: {state.url}")
    click.echo(f"  database: {name}")
    click.echo("  login:    admin")
    click.echo(f"  password: in {password_file}")
    click.echo(f"  logs:     {config.run_dir / 'logs'}")
    if detach:
        click.echo("`tryton-ops down` stops it.")
        return 0
    click.echo("Ctrl-C stops it.")
    code = local_stack.wait_foreground(config, state)
    if not code:
        click.echo("stopped.")
    return code


def web_client_lines(config, err: bool = False) -> None:
    """Install sao when it is wanted and missing; say what the URL will show, and why."""
    if will_install(config):
        click.echo(FETCHING, err=err)
    click.echo(ensure_web_client(config).describe(), err=err)


@click.command()
@click.pass_context
def down(ctx: click.Context) -> None:
    """Stop the stack started by `up`; no process is left behind."""
    outcome = local_stack.stop(get_config(ctx))
    click.echo(
        {
            "stopped": "stopped.",
            "cleaned": "the server had already exited; its leftover processes were ended.",
            "absent": "not running.",
        }[outcome]
    )


@click.command()
@json_option
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Processes of the stack with pid, uptime, memory and requests in flight; database size
    and connections, Redis memory, cache hit ratio, last backup age. Exit 1 if it is not
    running or something it shows is broken (a program down, the database missing, a Redis
    not answering)."""
    from tryton_ops.cli.top_cmd import PROCESS_COLUMNS, display_rows, summary_lines
    from tryton_ops.views.status import gather

    config = get_config(ctx)
    state = local_stack.running(config)
    data = gather(config)
    rows = display_rows(data["processes"])
    if as_json:
        emit_json(data)
    elif state is None and rows:
        click.echo("not running: the server exited; `tryton-ops down` ends these leftovers:")
        click.echo(table(rows, PROCESS_COLUMNS))
    elif state is None:
        click.echo("not running.")
    else:
        click.echo(f"running: {state.url} (database {state.database}, config {state.config})")
        click.echo(table(rows, PROCESS_COLUMNS))
    if not as_json:
        click.echo("\n".join(summary_lines(data)))
        for problem in data["problems"]:
            click.secho(f"problem: {problem}", fg="red", err=True)
    if state is None or data["problems"]:
        raise SystemExit(EXIT_FAILED)


@click.command()
@click.pass_context
def reload(ctx: click.Context) -> None:
    """Pick up new config and code with no failed request (graceful worker replacement)."""
    done = local_stack.reload(get_config(ctx))
    click.echo("reloaded: " + ", ".join(done))
