"""Rendering systemd units, one per program, from the same program list as the local stack."""

from __future__ import annotations

import shlex

from tryton_ops.config import LoadedConfig
from tryton_ops.deploy.programs import Program

RELOADABLE = {"app", "front", "bus"}


def unit_name(config: LoadedConfig, program: Program) -> str:
    return f"tryton-{config.settings.name}-{program.name}.service"


def render_unit(config: LoadedConfig, program: Program) -> str:
    lines = [
        f"# Rendered by tryton-ops from {config.source}; edit that file, not this one.",
        "[Unit]",
        f"Description=Tryton {config.settings.name}: {program.name}",
        "After=network-online.target postgresql.service redis-server.service",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=exec",
        f"ExecStart={shlex.join(program.argv)}",
    ]
    lines += [f'Environment="{key}={value}"' for key, value in sorted(program.env.items())]
    if program.name in RELOADABLE:
        lines.append(f"ExecReload=/bin/kill -{program.reload_signal} $MAINPID")
    lines += [
        f"KillSignal=SIG{program.stop_signal}",
        f"TimeoutStopSec={program.stop_wait_s}",
        "Restart=always",
        "RestartSec=2",
        # back-off: at most 10 restarts in 5 minutes, then systemd gives up and alerts
        "StartLimitIntervalSec=300",
        "StartLimitBurst=10",
        f"WorkingDirectory={config.run_dir}",
        "NoNewPrivileges=true",
        "PrivateTmp=true",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ]
    return "\n".join(lines)
