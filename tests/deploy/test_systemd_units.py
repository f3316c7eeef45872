"""The rendered systemd units pass `systemd-analyze verify` and are sandboxed (issue 17 item 13).

`verify` checks the unit as systemd 252 loads it (an option in the wrong section is a warning) and
that every ExecStart binary exists: they do, the units name this machine's Python and nginx.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.test_render import CONFIG, render
from tryton_ops.config import load_config
from tryton_ops.deploy.programs import programs
from tryton_ops.deploy.systemd_units import render_unit

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


def sections(text: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment]  # systemd keys are case-sensitive
    parser.read_string(text)
    return parser


def rendered_units(tmp_path: Path, text: str = CONFIG) -> list[Path]:
    _, out, result = render(tmp_path, text)
    assert result.returncode == 0, result.stderr
    units = sorted((out / "systemd").glob("*.service"))
    assert units
    return units


def test_every_unit_passes_systemd_analyze_verify(tmp_path):
    assert SYSTEMD_ANALYZE, "systemd-analyze is needed: apt-get install systemd"
    for unit in rendered_units(tmp_path):
        proc = subprocess.run(
            [SYSTEMD_ANALYZE, "verify", str(unit)], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0 and proc.stderr == "", (unit.name, proc.stderr)


def test_units_run_as_a_system_user_sandboxed(tmp_path):
    config = load_config(render(tmp_path)[0])
    for unit in rendered_units(tmp_path):
        parsed = sections(unit.read_text())
        unit_section, service = parsed["Unit"], parsed["Service"]
        assert unit_section["StartLimitIntervalSec"] == "300"
        assert unit_section["StartLimitBurst"] == "10"
        assert "StartLimitIntervalSec" not in service and "StartLimitBurst" not in service
        assert service["User"] == "tryton" and service["Group"] == "tryton"
        assert service["ProtectSystem"] == "strict"
        assert service["NoNewPrivileges"] == "true"
        writable = service["ReadWritePaths"].split()
        assert writable == [str(config.data_dir), str(config.run_dir)]
        # the rendered files live under /tmp here: a private /tmp would hide them
        assert "PrivateTmp" not in service
        binary = Path(service["ExecStart"].split()[0]).resolve()
        at_home = binary.is_relative_to("/root") or binary.is_relative_to("/home")
        assert service["ProtectHome"] == ("read-only" if at_home else "true")  # python: pyenv


def test_private_tmp_and_home_when_nothing_lives_there(tmp_path):
    text = (
        CONFIG.replace("{base}/data", "/srv/tryton/data")
        .replace("{base}/run", "/srv/tryton/run")
        .format(base=tmp_path)
    )
    (tmp_path / "tryton-ops.toml").write_text(text)
    config = load_config(tmp_path / "tryton-ops.toml")
    for program in programs(config, conf_dir=Path("/etc/tryton")):
        service = sections(render_unit(config, program))["Service"]
        binary = Path(program.argv[0]).resolve()
        if binary.is_relative_to("/root"):
            assert service["ProtectHome"] == "read-only"
        else:
            assert service["ProtectHome"] == "true"
        if binary.is_relative_to("/tmp"):  # a checkout under /tmp (CI): /tmp must stay visible
            assert "PrivateTmp" not in service
        else:
            assert service["PrivateTmp"] == "true"
        assert service["ReadWritePaths"] == "/srv/tryton/data /srv/tryton/run"


@pytest.mark.parametrize("user", ["root", "bad user"])
def test_service_user_is_validated(tmp_path, user):
    text = CONFIG.replace("[server]\n", f'[server]\nuser = "{user}"\n')
    _, _, result = render(tmp_path, text)
    assert result.returncode == 2 and "server.user" in result.stderr, result.stderr
