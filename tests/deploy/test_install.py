"""`tryton-ops deploy install`, rehearsed into a staged root (`--root`), as root would run it.

The staged tree gets what a host gets: the system user in its /etc/passwd (useradd --root), the
directories with their owners and modes, the configs, the systemd units enabled with
`systemctl --root` (the wants symlinks), logrotate and tmpfiles.d. Nothing can be started in a
tree, so the check that the services answer is run against a real running stack on its own.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.test_render import cli_interpreter
from tests.deploy.test_up_down import cli
from tryton_ops.deploy.install import InstallError, answers, closed_directory, database_notes
from tryton_ops.testing.databases import derive
from tryton_ops.testing.processes import free_port

pytestmark = pytest.mark.one_series

CONFIG = """\
name = "erp"
[paths]
data = "/srv/tryton-erp/data"
run = "/run/tryton-erp"
backups = "/var/backups/tryton-erp"
[database]
uri = "postgresql://tryton:s3cret@db.internal:5432/"
name = "erp"
[server]
workers = 2
user = "erp"
group = "erp"
[front]
enabled = "on"
[cron]
enabled = true
[queue]
workers = 1
[backup]
schedule = true
"""

HOSTS = '[hosts.a]\naddress = "10.0.0.1"\nroles = ["app", "front", "cron", "queue"]\n'

UNITS = {
    "tryton-erp-app.service": "multi-user.target.wants",
    "tryton-erp-stat.service": "multi-user.target.wants",
    "tryton-erp-front.service": "multi-user.target.wants",
    "tryton-erp-cron.service": "multi-user.target.wants",
    "tryton-erp-queue0.service": "multi-user.target.wants",
    "tryton-erp-backup.timer": "timers.target.wants",
}


@pytest.fixture
def staged(tmp_path) -> tuple[Path, Path]:
    """A root with only root in its account files, and the deployment's tryton-ops.toml."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    for name in ("passwd", "group", "shadow", "gshadow"):
        lines = Path("/etc", name).read_text().splitlines()
        (root / "etc" / name).write_text("".join(f"{x}\n" for x in lines if x.startswith("root:")))
    config = tmp_path / "tryton-ops.toml"
    config.write_text(CONFIG)
    return root, config


def install(config: Path, root: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return cli(config, "deploy", "install", "--root", str(root), *args, **kwargs)


def tree(root: Path) -> dict[str, tuple]:
    """Every path under `root` with its mode, owner, and content or link target."""
    found = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if path.is_symlink():
            body: str | None = os.readlink(path)
        elif path.is_file():
            body = path.read_text()
        else:
            body = None
        found[str(path.relative_to(root))] = (
            st.st_mode,
            st.st_uid,
            st.st_gid,
            st.st_mtime_ns,
            body,
        )
    return found


def account(root: Path, database: str, name: str) -> list[str]:
    lines = (root / "etc" / database).read_text().splitlines()
    return next(line.split(":") for line in lines if line.startswith(f"{name}:"))


def assert_node(root: Path, path: str, mode: int, user: str, group: str) -> None:
    st = (root / path.lstrip("/")).lstat()
    uid = 0 if user == "root" else int(account(root, "passwd", user)[2])
    gid = 0 if group == "root" else int(account(root, "group", group)[2])
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (mode, uid, gid), path


def test_dry_run_install_then_nothing_to_change(staged):
    root, config = staged
    before = tree(root)
    rehearsal = install(config, root, "--dry-run")
    assert rehearsal.returncode == 0, rehearsal.stderr
    assert tree(root) == before  # a dry run changes nothing
    planned = [line for line in rehearsal.stdout.splitlines() if line.startswith("would ")]
    assert "would create system user erp" in rehearsal.stdout
    assert "would write /etc/systemd/system/tryton-erp-backup.timer" in rehearsal.stdout

    done = install(config, root, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert ["would " + change for change in result["changes"]] == planned  # every change shown
    assert result["started"] is False and result["not_started"].startswith("a staged tree (--root)")
    # a Python the service user cannot reach is only a note for a staged tree (an error on /)
    closed = closed_directory(Path(cli_interpreter()).resolve()) is not None
    assert any("closed to other users" in note for note in result["notes"]) == closed

    user = account(root, "passwd", "erp")
    assert int(user[2]) < 1000 and user[5] == "/srv/tryton-erp/data" and user[6].endswith("nologin")
    assert account(root, "group", "erp")[2] == user[3]
    assert_node(root, "/srv/tryton-erp/data", 0o750, "erp", "erp")
    assert_node(root, "/var/backups/tryton-erp", 0o700, "erp", "erp")
    assert_node(root, "/var/backups", 0o755, "root", "root")  # a parent it had to make
    assert_node(root, "/run/tryton-erp/logs", 0o750, "erp", "erp")
    assert_node(root, "/etc/tryton/erp", 0o750, "root", "erp")
    for name in ("trytond.conf", "gunicorn.conf.py", "nginx.conf", "tryton-ops.toml"):
        assert_node(root, f"/etc/tryton/erp/{name}", 0o640, "root", "erp")
    assert "s3cret" in (root / "etc/tryton/erp/trytond.conf").read_text()
    units = root / "etc/systemd/system"
    for unit, target in UNITS.items():
        assert_node(root, f"/etc/systemd/system/{unit}", 0o644, "root", "root")
        assert os.readlink(units / target / unit) == f"/etc/systemd/system/{unit}"  # enabled
    assert (units / "tryton-erp-backup.service").exists()  # started by its timer only
    assert not list(units.rglob("*.wants/tryton-erp-backup.service"))
    app = (units / "tryton-erp-app.service").read_text()
    assert "TRYTOND_CONFIG=/etc/tryton/erp/trytond.conf" in app and "User=erp" in app
    job = (units / "tryton-erp-backup.service").read_text()
    assert "-c /etc/tryton/erp/tryton-ops.toml db backup --prune" in job
    assert "/var/backups/tryton-erp" in job  # writable by the job, outside the data dir
    assert "su erp erp" in (root / "etc/logrotate.d/tryton-erp").read_text()
    assert (
        "d /run/tryton-erp 0750 erp erp -" in (root / "etc/tmpfiles.d/tryton-erp.conf").read_text()
    )

    installed = tree(root)
    again = install(config, root)
    assert again.returncode == 0, again.stderr
    assert "nothing to change: erp is installed as rendered" in again.stdout
    assert tree(root) == installed  # not even a rewrite


def test_drift_is_repaired_and_removed_programs_uninstalled(staged):
    root, config = staged
    assert install(config, root).returncode == 0
    conf = root / "etc/tryton/erp/trytond.conf"
    conf.chmod(0o644)  # someone made it world-readable: it holds the database password
    (root / "etc/systemd/system/tryton-erp-app.service").write_text("edited by hand\n")
    fixed = install(config, root)
    assert fixed.returncode == 0, fixed.stderr
    assert fixed.stdout.splitlines()[:2] == [
        "set /etc/tryton/erp/trytond.conf to 0640 root:erp",
        "update /etc/systemd/system/tryton-erp-app.service (0644 root:root)",
    ]
    assert stat.S_IMODE(conf.stat().st_mode) == 0o640

    config.write_text(CONFIG.replace("[queue]\nworkers = 1", "[queue]\nworkers = 0"))
    fewer = install(config, root)
    assert fewer.returncode == 0, fewer.stderr
    assert "disable and remove /etc/systemd/system/tryton-erp-queue0.service" in fewer.stdout
    assert not list((root / "etc/systemd/system").rglob("tryton-erp-queue0.service"))
    assert "nothing to change" in install(config, root).stdout


def test_refused_when_not_root(staged, monkeypatch):
    """As an ordinary user. The runner is root here and the venv's Python lives under /root,
    which no other user may enter: the effective uid the command checks is then made 1000."""
    from click.testing import CliRunner

    from tryton_ops.cli import main
    from tryton_ops.deploy import install as module

    root, config = staged
    if os.geteuid() == 0:
        monkeypatch.setattr(module.os, "geteuid", lambda: 1000)
    for args in ((), ("--dry-run",)):
        result = CliRunner().invoke(
            main, ["-c", str(config), "deploy", "install", "--root", str(root), *args]
        )
        assert result.exit_code == 1, result.output
        assert result.output.startswith("error: deploy install must run as root"), result.output
    assert len(list(root.rglob("*"))) == 5  # etc and its 4 files: nothing written


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda text: text.replace('data = "/srv/tryton-erp/data"\n', ""), "set paths.data"),
        (lambda text: text.replace("[front]\n", "[front]\ntls = true\n"),
         "front.tls is on without front.certificate"),
        (lambda text: text.replace('user = "erp"', 'user = "root"'), "server.user"),
        (lambda text: text.replace('"/run/tryton-erp"', '"run"'), "paths.run must be absolute"),
        (lambda text: text + HOSTS, "deploy render --host NAME"),
    ],
)  # fmt: skip
def test_bad_input_is_a_clear_error(staged, edit, message):
    root, config = staged
    config.write_text(edit(CONFIG))
    result = install(config, root)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert result.stderr.startswith("error:") and "Traceback" not in result.stderr
    assert len(list(root.rglob("*"))) == 5  # etc and its 4 files: nothing written


def test_missing_root_is_a_clear_error(staged, tmp_path):
    _, config = staged
    result = install(config, tmp_path / "no-such-root")
    assert result.returncode == 2 and "not an existing absolute directory" in result.stderr


def test_answer_check_against_a_real_server(make_trytond_db, tryton_stack):
    stack = tryton_stack(make_trytond_db("sqlite"), workers=1)
    assert answers(stack.url, timeout=30) in ("8.0", "8.2")
    with pytest.raises(InstallError, match="does not answer after 2 s"):
        answers(f"http://127.0.0.1:{free_port()}/", timeout=2)


def test_database_notes_say_what_is_left_to_do(make_trytond_db):
    db = make_trytond_db("sqlite")
    conf_dir = Path("/etc/tryton/erp")
    assert database_notes(db.config, conf_dir) == []
    missing = derive(db.config, {"database": {"name": "not_created"}, "server": {"user": "erp"}})
    (note,) = database_notes(missing, conf_dir)
    assert note == (
        "database 'not_created' does not exist yet: create it as the service user, "
        f"`runuser -u erp -- {Path(sys.executable).with_name('tryton-ops')} "
        "-c /etc/tryton/erp/tryton-ops.toml db init`"
    )
    down = derive(db.config, {"database": {"uri": f"postgresql://u:pw@127.0.0.1:{free_port()}/"}})
    (note,) = database_notes(down, conf_dir)
    assert note.startswith("database server not reachable") and "pw" not in note


def test_missing_system_tools_are_a_clear_error(staged, tmp_path):
    root, config = staged
    result = install(config, root, env={"PATH": str(tmp_path / "empty")})
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("error: groupadd not found: deploy install needs systemd")
    assert len(list(root.rglob("*"))) == 5  # nothing written
