"""The in-process CLI: readable output, exit codes, editor hooks."""

from __future__ import annotations

import json

from tests.debug.helpers import debug_db, line_of
from tests.lifecycle.helpers import cli
from tryton_ops.cli.debug_cmd import editor_command


def test_cli_in_process(make_trytond_db, tmp_path):
    database = debug_db(make_trytond_db, "sqlite", eval_enabled=True)
    config = database.config

    result = cli(config, "inspect", "party.party.name")
    assert result.exit_code == 0, result.output
    assert "name                     char" in result.output
    assert "declared by party:" in result.output

    result = cli(config, "inspect", "party.party.wrte")
    assert result.exit_code == 1
    assert "error: unknown method or field of party.party 'wrte' (did you mean: write" in (
        result.output
    )

    script = tmp_path / "script.py"
    script.write_text(
        "Party = get('party.party')\nprint('before', Party.search_count([]))\n"
        "Party.create([{'name': 'From a file'}])\nParty.search_count([])\n"
    )
    result = cli(config, "eval", "-f", str(script))
    assert result.exit_code == 0, result.output
    assert "before 0\n1\n" in result.output and "(rolled back" in result.output

    result = cli(
        config, "eval", "--json", "--commit", "get('party.party').create([{'name': 'Kept'}])[0].id"
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output[: result.output.rindex("}") + 1])
    assert payload["committed"] is True
    record_id = payload["value"]

    result = cli(config, "eval", "get('party.party').search_count([]) / 0")
    assert result.exit_code == 1 and "ZeroDivisionError" in result.output

    result = cli(config, "record", "party.party", str(record_id), "--fields", "name,full_name")
    assert result.exit_code == 0, result.output
    assert f"party.party,{record_id}  'Kept'" in result.output
    assert "full_name                char       Kept" in result.output

    result = cli(config, "pyson", "encode", "Eval('state') == 'done'")
    assert result.exit_code == 0
    encoded = result.output.strip()
    result = cli(config, "pyson", "decode", encoded)
    assert result.output.strip() == "Eval('state') == 'done'"

    result = cli(config, "edit", "--print", "party.party.get_full_name")
    file, line = result.output.strip().rsplit(":", 1)
    assert int(line) == line_of(file, r"def get_full_name\(")


def test_editor_command_line_syntax():
    assert editor_command("vim", "/x.py", 12) == ["vim", "+12", "/x.py"]
    assert editor_command("emacs -nw", "/x.py", 3) == ["emacs", "-nw", "+3", "/x.py"]
    assert editor_command("/usr/bin/code --wait", "/x.py", 7) == [
        "/usr/bin/code",
        "--wait",
        "--goto",
        "/x.py:7",
    ]
    assert editor_command("nvim", "/x.py", None) == ["nvim", "+1", "/x.py"]
