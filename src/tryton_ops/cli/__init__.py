"""The `tryton-ops` command: thin command groups calling the library parts.

Exit codes: 0 success, 1 the operation failed, 2 bad usage or invalid configuration.
"""

from __future__ import annotations

import click

from tryton_ops.cli.accel_cmd import accel_group
from tryton_ops.cli.base import TrytonOpsGroup
from tryton_ops.cli.cache_cmd import cache_group
from tryton_ops.cli.config_cmd import config_group
from tryton_ops.cli.db_cmd import db_group
from tryton_ops.cli.debug_cmd import COMMANDS as DEBUG_COMMANDS
from tryton_ops.cli.demo_cmd import demo_group
from tryton_ops.cli.deploy_cmd import deploy_group
from tryton_ops.cli.doctor_cmd import doctor
from tryton_ops.cli.loadtest_cmd import loadtest_group
from tryton_ops.cli.logs_cmd import logs
from tryton_ops.cli.perf_cmd import perf_group
from tryton_ops.cli.sessions_cmd import sessions_group
from tryton_ops.cli.stack_cmd import down, reload, status, up
from tryton_ops.cli.top_cmd import top


@click.group(cls=TrytonOpsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def main(ctx: click.Context) -> None:
    """Operate a Tryton deployment described by one tryton-ops.toml.

    The global options (-c, -V) work before or after the command.
    """
    ctx.ensure_object(dict)


main.add_command(cache_group)
main.add_command(accel_group)
main.add_command(config_group)
main.add_command(db_group)
main.add_command(demo_group)
main.add_command(deploy_group)
main.add_command(perf_group)
main.add_command(loadtest_group)
main.add_command(sessions_group)
main.add_command(up)
main.add_command(down)
main.add_command(status)
main.add_command(reload)
main.add_command(top)
main.add_command(logs)
main.add_command(doctor)
for _command in DEBUG_COMMANDS:
    main.add_command(_command)
