"""What a newcomer meets first in the debug commands (issue 18 item 5): a wrong database name
is an error line, `record` is compact by default with one boolean format. The real command on
real databases."""

from __future__ import annotations

import json
import re

import pytest

from tests.debug.helpers import debug_db
from tests.lifecycle.helpers import cli
from tryton_ops.testing.databases import derive, make_config
from tryton_ops.testing.processes import free_port

ADDRESS = (
    "p = get('party.party')(name='Multi Line', active=True)\n"
    "p.addresses = [get('party.address')(street='1 Rue Haute', postal_code='1000', "
    "city='Liège')]\n"
    "p.save()\np.id\n"
)


def _single_error_line(result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert result.output.startswith("error: ") and result.output.count("\n") == 1
    assert "Error:" not in result.output and "Traceback" not in result.output
    return result.output


def test_wrong_database_is_an_error_line(make_trytond_db):
    database = debug_db(make_trytond_db, "sqlite")
    typo = database.name[:-1] + "x"
    for command in (["record", "party.party", "1"], ["inspect", "party.party"]):
        close = _single_error_line(cli(database.config, *command, "-d", typo), 2)
        assert (
            close == f"error: database {typo!r} does not exist (did you mean: {database.name}?)\n"
        )
        far = _single_error_line(cli(database.config, *command, "-d", "zzzzzz"), 2)
        assert f"databases: {database.name} (`tryton-ops db list`)" in far


@pytest.mark.one_series
def test_wrong_database_on_postgresql_and_a_stopped_server(tmp_path, postgres_server):
    config = make_config(tmp_path, {"database": {"uri": postgres_server.uri}})
    missing = _single_error_line(cli(config, "record", "party.party", "1", "-d", "nosuch"), 2)
    assert "database 'nosuch' does not exist; databases: " in missing
    down = derive(config, {"database": {"uri": f"postgresql://tryton@127.0.0.1:{free_port()}/"}})
    stopped = _single_error_line(cli(down, "inspect", "party.party", "-d", "nosuch"), 1)
    assert "does not exist" not in stopped  # a stopped server is not a missing database


def test_record_is_compact_by_default(make_trytond_db):
    database = debug_db(make_trytond_db, "sqlite", eval_enabled=True)
    config = database.config
    made = cli(config, "eval", "--commit", "--json", ADDRESS)
    party = json.loads(made.stdout)["value"]

    compact = cli(config, "record", "party.party", str(party))
    assert compact.exit_code == 0, compact.output
    lines = compact.output.splitlines()
    assert lines[0] == f"party.party,{party}  'Multi Line'"
    assert "  active                   boolean    true" in lines
    assert any(
        line.startswith("  addresses                one2many   party.address,") for line in lines
    )
    assert "Rue Haute" in compact.output and "city" not in compact.output  # not expanded
    assert "create_date" not in compact.output and "xml_id" not in compact.output
    assert "  readonly: code" in compact.output  # which fields, not their expressions
    assert "-v shows everything" in lines[-1]

    full = cli(config, "record", "party.party", str(party), "-v")
    assert full.exit_code == 0, full.output
    assert (
        "create_date" in full.output and "xml_id                   char       null" in full.output
    )
    assert re.search(r"^  code is readonly: .*Eval\('", full.output, re.M)  # the expression
    city = [line.split() for line in full.output.splitlines() if line.startswith("      city ")]
    assert city == [["city", "char", "Liège"]]  # the address, expanded one level down
    (address,) = [line for line in full.output.splitlines() if "full_address" in line]
    assert address.split(None, 2) == ["full_address", "text", "1 Rue Haute\\n1000 Liège"]
    booleans = [line.split()[-1] for line in full.output.splitlines() if " boolean " in line]
    assert booleans and set(booleans) <= {"true", "false"}  # SQLite's 0/1 never shown

    data = json.loads(cli(config, "record", "party.party", str(party), "--json").output)
    assert data["fields"]["active"]["value"] is True
    empty = cli(config, "record", "party.party", str(party), "--fields", "name,replaced_by")
    assert "replaced_by              many2one   null" in empty.output  # asked for: shown
