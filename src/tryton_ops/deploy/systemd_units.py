"""Rendering systemd units, one per program, from the same program list as the local stack.

Each unit runs as the deployment's system user ([server] user/group), in a sandbox: the file
system read-only but for the data and run directories, no privileges, no devices, no kernel
knobs. docs/deploy.md lists every setting with the `systemd-analyze security` scores.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from tryton_ops.config import LoadedConfig
from tryton_ops.deploy.programs import Program

RELOADABLE = {"app", "front", "bus"}
TMP_DIRS = (Path("/tmp"), Path("/var/tmp"))
HOME_DIRS = (Path("/home"), Path("/root"), Path("/run/user"))

SANDBOX = (
    "NoNewPrivileges=true",
    "ProtectSystem=strict",
    "PrivateDevices=true",
    "ProtectKernelTunables=true",
    "ProtectKernelModules=true",
    "ProtectKernelLogs=true",
    "ProtectControlGroups=true",
    "ProtectClock=true",
    "ProtectHostname=true",
    "ProtectProc=invisible",
    "RestrictSUIDSGID=true",
    "RestrictRealtime=true",
    "RestrictNamespaces=true",
    "LockPersonality=true",
    "RemoveIPC=true",
    "PrivateMounts=true",
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
    "SystemCallArchitectures=native",
    "SystemCallFilter=@system-service",
    # files the programs create (logs, sockets) are not for other users: 0640 / 0750
    "UMask=0027",
)


def unit_name(config: LoadedConfig, program: Program) -> str:
    return f"tryton-{config.settings.name}-{program.name}.service"


def _paths_read(config: LoadedConfig, program: Program) -> list[Path]:
    """What the program reads or writes: its binary (symlinks resolved, its Python lives there),
    the absolute paths of its command line and environment, the data and run directories."""
    words = [*program.argv, *program.env.values()]
    found = [Path(program.argv[0]).resolve()]
    found += [Path(word) for word in words[1:] if word.startswith("/")]
    return [*found, config.data_dir, config.run_dir]


def _under(paths: list[Path], roots: tuple[Path, ...]) -> bool:
    return any(path.is_relative_to(root) for path in paths for root in roots)


def _binds_low_port(config: LoadedConfig, program: Program) -> bool:
    front = config.settings.front
    listens = [front.listen, *([front.tls_listen] if front.tls else [])]
    return program.name == "front" and any(int(x.rpartition(":")[2]) < 1024 for x in listens)


def _sandbox(config: LoadedConfig, program: Program) -> list[str]:
    paths = _paths_read(config, program)
    lines = [*SANDBOX, f"ReadWritePaths={config.data_dir} {config.run_dir}"]
    # a private /tmp would hide files the unit reads from there; home dirs stay readable then
    if not _under(paths, TMP_DIRS):
        lines.append("PrivateTmp=true")
    lines.append(f"ProtectHome={'read-only' if _under(paths, HOME_DIRS) else 'true'}")
    if _binds_low_port(config, program):
        lines += [
            "AmbientCapabilities=CAP_NET_BIND_SERVICE",
            "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        ]
    else:
        lines.append("CapabilityBoundingSet=")
    return lines


def render_unit(config: LoadedConfig, program: Program) -> str:
    server = config.settings.server
    lines = [
        f"# Rendered by tryton-ops from {config.source}; edit that file, not this one.",
        "[Unit]",
        f"Description=Tryton {config.settings.name}: {program.name}",
        "After=network-online.target postgresql.service redis-server.service",
        "Wants=network-online.target",
        # back-off: at most 10 starts in 5 minutes, then systemd gives up and alerts
        "StartLimitIntervalSec=300",
        "StartLimitBurst=10",
        "",
        "[Service]",
        "Type=exec",
        f"User={server.user}",
        f"Group={server.group}",
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
        f"WorkingDirectory={config.run_dir}",
        *_sandbox(config, program),
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ]
    return "\n".join(lines)
