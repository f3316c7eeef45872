"""The options every command shares (issue 18 item 4): global options before or after the
command, the database as -d/--database everywhere, the old spellings kept with a note."""

from __future__ import annotations

import json
import re

import click
import pytest
from click.testing import CliRunner, Result

from tests.lifecycle.helpers import write_toml
from tryton_ops import __version__
from tryton_ops.access.database import database_exists
from tryton_ops.cli import main

pytestmark = pytest.mark.one_series  # command-line parsing: the same on every series

DEPRECATED_ARGUMENT = "note: the database as an argument is deprecated"


def run(*args: str, env: dict | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env or {})


def commands(group: click.Group = main, path: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))


def test_the_database_option_is_the_same_on_every_command():
    run("--help")  # the root adopts its subcommands when it makes its context
    with_database = []
    for path, command in commands():
        for param in command.params:
            names = set(param.opts) | set(param.secondary_opts)
            if param.name == "database":
                assert param.opts == ["-d", "--database"], path
                with_database.append(" ".join(path))
            elif names & {"--database", "--db", "-d"}:
                # only the hidden alias of the shared option, or `up --detach`
                assert (param.name, param.hidden) == ("db_alias", True) or path == ("up",), path
    # the commands that name a database (a survey, not a whitelist: more may come)
    for expected in ("db init", "db update", "db backup", "db restore", "db copy", "db drop"):
        assert expected in with_database
    for expected in ("cache stats", "perf enable", "sessions kill", "loadtest run", "record"):
        assert expected in with_database
    assert "demo load" in with_database and "pyson eval" in with_database


def _configs(tmp_path):
    alpha, beta = tmp_path / "alpha.toml", tmp_path / "beta.toml"
    alpha.write_text('name = "alpha"\n')
    beta.write_text('name = "beta"\n')
    return str(alpha), str(beta)


def _name(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["settings"]["name"]


def test_global_options_work_before_or_after_the_command(tmp_path):
    alpha, beta = _configs(tmp_path)
    assert _name(run("-c", alpha, "config", "show", "--json")) == "alpha"
    assert _name(run("config", "show", "--json", "-c", alpha)) == "alpha"
    assert _name(run("config", "-c", alpha, "show", "--json")) == "alpha"  # on a group too
    assert _name(run("config", "show", f"--config={beta}", "--json")) == "beta"
    assert _name(run("-c", alpha, "config", "show", "--json", "-c", beta)) == "beta"  # last wins
    env = {"TRYTON_OPS_CONFIG": alpha}
    assert _name(run("config", "show", "--json", env=env)) == "alpha"
    assert _name(run("config", "show", "--json", "-c", beta, env=env)) == "beta"
    for args in (["-V"], ["db", "list", "-V"], ["db", "templates", "prune", "--version"]):
        result = run(*args)
        assert result.exit_code == 0 and result.output == f"tryton-ops, version {__version__}\n"


def test_global_options_after_the_command_fail_like_before(tmp_path):
    missing = run("db", "list", "-c", str(tmp_path / "absent.toml"))
    assert missing.exit_code == 2 and missing.output.startswith("error: config file ")
    assert "Traceback" not in missing.output
    no_value = run("config", "show", "-c")
    assert no_value.exit_code == 2 and "'-c' requires an argument" in no_value.output
    # shown once, on the root's help, not repeated on every command's
    assert "before or after the command" in run("--help").output
    assert "--config" not in run("db", "list", "--help").output
    assert "--db " not in run("cache", "stats", "--help").output


def _summaries(help_text: str) -> dict[str, str]:
    """The Commands section of a --help, wrapped lines joined."""
    section = help_text.split("Commands:\n", 1)[1]
    found: dict[str, str] = {}
    name = ""
    for line in section.splitlines():
        entry = re.match(r"^  (\S+)\s+(.*)$", line)
        if entry:
            name = entry.group(1)
            found[name] = entry.group(2)
        elif line.strip():
            found[name] += " " + line.strip()
    return found


def test_command_lists_show_whole_sentences():
    groups = [()] + [path for path, command in commands() if isinstance(command, click.Group)]
    for path in groups:
        listed = _summaries(run(*path, "--help").output)
        assert listed, path
        for name, text in listed.items():
            assert text.endswith((".", ".)", "?")) and not text.endswith("..."), (path, name)
    pyson = _summaries(run("pyson", "--help").output)
    assert pyson["encode"].startswith("Turn the Python form")


def test_database_spellings_on_a_real_database(tmp_path, make_trytond_db):
    db = make_trytond_db("sqlite")
    toml = str(write_toml(db.config, tmp_path / "tryton-ops.toml"))

    def cli(*args: str) -> Result:
        return CliRunner().invoke(main, [*args, "-c", toml], input="n\n")

    new = cli("db", "backup", "-d", db.name, "-o", str(tmp_path / "new.tar"))
    assert new.exit_code == 0 and new.stderr.count("note:") == 0, new.output
    old = cli("db", "backup", db.name, "-o", str(tmp_path / "old.tar"))
    assert old.exit_code == 0 and old.stdout.startswith(f"backed up {db.name} to ")
    assert DEPRECATED_ARGUMENT in old.stderr and f"use -d {db.name}" in old.stderr
    alias = cli("db", "backup", "--db", db.name, "-o", str(tmp_path / "alias.tar"))
    assert alias.exit_code == 0 and "note: --db is deprecated" in alias.stderr
    assert {p.name for p in tmp_path.glob("*.tar")} == {"new.tar", "old.tar", "alias.tar"}

    twice = cli("db", "backup", "-d", db.name, db.name)
    assert twice.exit_code == 2 and "the database is given twice" in twice.output
    nameless = cli("db", "drop", "--yes")
    assert nameless.exit_code == 2 and "which database? give it with -d" in nameless.output
    assert database_exists(db.config, db.name)

    assert cli("db", "copy", "-d", db.name, "copy1").exit_code == 0
    old_copy = cli("db", "copy", db.name, "copy2")
    assert old_copy.exit_code == 0 and "source database as an argument is dep" in old_copy.stderr
    assert cli("db", "copy", "copy3").exit_code == 0  # from database.name
    assert cli("db", "copy", "a", "b", "c").exit_code == 2
    assert cli("db", "copy").exit_code == 2
    assert "copy1" in cli("db", "list").stdout.split()

    # db update: MODULE arguments; the old NAME first still works when it names a database
    old_update = cli("db", "update", "copy1", "--dry-run", "--json")
    assert old_update.exit_code == 0 and DEPRECATED_ARGUMENT in old_update.stderr
    assert json.loads(old_update.stdout)["name"] == "copy1"
    plan = json.loads(cli("db", "update", "-d", "copy1", "party", "--dry-run", "--json").stdout)
    assert (plan["name"], plan["modules"]) == ("copy1", ["party"])
    configured = cli("db", "update", "party", "--dry-run", "--json")  # a module, not a database
    assert configured.exit_code == 0 and configured.stderr == ""
    assert json.loads(configured.stdout)["name"] == db.name

    archive = str(tmp_path / "new.tar")
    assert cli("db", "restore", archive, "-d", "restored1").exit_code == 0
    old_restore = cli("db", "restore", archive, "restored2")
    assert old_restore.exit_code == 0 and DEPRECATED_ARGUMENT in old_restore.stderr
    assert cli("db", "drop", "-d", "restored1", "--yes").exit_code == 0
    old_drop = cli("db", "drop", "restored2", "--yes")
    assert old_drop.exit_code == 0 and DEPRECATED_ARGUMENT in old_drop.stderr
    left = cli("db", "list").stdout.split()
    assert "restored1" not in left and "restored2" not in left and db.name in left
