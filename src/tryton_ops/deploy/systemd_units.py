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


def writable_dirs(config: LoadedConfig, program: Program) -> list[Path]:
    """The data and run directories; for the backup job also the backups directory when it
    lives elsewhere (another disk)."""
    found = [config.data_dir, config.run_dir]
    backups = config.backups_dir
    if program.name == "backup" and not backups.is_relative_to(config.data_dir):
        found.append(backups)
    return found


def _under(paths: list[Path], roots: tuple[Path, ...]) -> bool:
    return any(path.is_relative_to(root) for path in paths for root in roots)


def _binds_low_port(config: LoadedConfig, program: Program) -> bool:
    front = config.settings.front
    listens = [front.listen, *([front.tls_listen] if front.tls else [])]
    return program.name == "front" and any(int(x.rpartition(":")[2]) < 1024 for x in listens)


def _sandbox(config: LoadedConfig, program: Program) -> list[str]:
    paths = _paths_read(config, program)
    writable = " ".join(str(path) for path in writable_dirs(config, program))
    lines = [*SANDBOX, f"ReadWritePaths={writable}"]
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


def _unit_section(config: LoadedConfig, program: Program) -> list[str]:
    return [
        f"# Rendered by tryton-ops from {config.source}; edit that file, not this one.",
        "[Unit]",
        f"Description=Tryton {config.settings.name}: {program.name}",
        "After=network-online.target postgresql.service redis-server.service",
        "Wants=network-online.target",
    ]


def _account(config: LoadedConfig) -> list[str]:
    server = config.settings.server
    return [f"User={server.user}", f"Group={server.group}"]


def _environment(program: Program) -> list[str]:
    return [f'Environment="{key}={value}"' for key, value in sorted(program.env.items())]


def render_unit(config: LoadedConfig, program: Program) -> str:
    if program.daily is not None:
        return _render_job(config, program)
    lines = [
        *_unit_section(config, program),
        # back-off: at most 10 starts in 5 minutes, then systemd gives up and alerts
        "StartLimitIntervalSec=300",
        "StartLimitBurst=10",
        "",
        "[Service]",
        "Type=exec",
        *_account(config),
        f"ExecStart={shlex.join(program.argv)}",
        *_environment(program),
    ]
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


def _render_job(config: LoadedConfig, program: Program) -> str:
    """A daily job: a oneshot service its timer starts, in the same sandbox, at low priority
    (a backup must not slow the users down); not enabled itself, its timer is."""
    assert program.daily is not None
    lines = [
        *_unit_section(config, program),
        "",
        "[Service]",
        "Type=oneshot",
        *_account(config),
        f"ExecStart={shlex.join(program.daily.argv)}",
        *_environment(program),
        "Nice=10",
        "IOSchedulingClass=idle",
        f"WorkingDirectory={config.run_dir}",
        *_sandbox(config, program),
        "",
    ]
    return "\n".join(lines)


def timer_name(config: LoadedConfig, program: Program) -> str:
    return f"tryton-{config.settings.name}-{program.name}.timer"


def render_timer(config: LoadedConfig, program: Program) -> str:
    """Starts the job's service daily at its time (local); Persistent: a run missed while the
    host was off happens at the next boot."""
    assert program.daily is not None
    return "\n".join(
        [
            f"# Rendered by tryton-ops from {config.source}; edit that file, not this one.",
            "[Unit]",
            f"Description=Tryton {config.settings.name}: {program.name} daily at "
            f"{program.daily.at}",
            "",
            "[Timer]",
            f"OnCalendar=*-*-* {program.daily.at}:00",
            "Persistent=true",
            "RandomizedDelaySec=5min",
            f"Unit={unit_name(config, program)}",
            "",
            "[Install]",
            "WantedBy=timers.target",
            "",
        ]
    )
