"""A module name trytond would not find (issue 18 item 5): the closest names and the pip
package, exit 2, nothing created. The real command on a real SQLite deployment."""

from __future__ import annotations

from importlib.metadata import version

import pytest

from tests.lifecycle.helpers import cli
from tryton_ops.access.database import list_databases
from tryton_ops.lifecycle.modules import install_hint, pip_requirement
from tryton_ops.testing.databases import make_config

pytestmark = pytest.mark.one_series  # the hints follow the installed series; checked on one

SERIES = ".".join(version("trytond").split(".")[:2])


def test_pip_requirement_follows_the_installed_series():
    assert pip_requirement("sale_opportunity") == f"trytond_sale_opportunity~={SERIES}.0"


def test_install_hints():
    assert install_hint("partyy") == "did you mean party (installed)?"
    assert install_hint("sale_oportunity") == (
        f"did you mean sale_opportunity (pip install 'trytond_sale_opportunity~={SERIES}.0')?"
    )
    assert install_hint("sale_opportunity") == (
        f"pip install 'trytond_sale_opportunity~={SERIES}.0'"
    )
    assert install_hint("zz_in_house") == (
        "not a standard Tryton module: install the package that provides it"
    )


def test_init_with_a_misspelt_module_says_what_was_meant(tmp_path):
    config = make_config(tmp_path, {})
    result = cli(config, "db", "init", "-d", "shop", "-m", "party,compny", "-m", "zz_in_house")
    assert result.exit_code == 2, result.output
    assert result.output == (
        "error: module(s) not installed: compny: did you mean company (installed)?; "
        "zz_in_house: not a standard Tryton module: install the package that provides it\n"
    )
    assert list_databases(config) == []  # nothing created, no password generated
    assert not (config.data_dir / "admin-password").exists()


def test_update_with_a_misspelt_module_says_what_was_meant(make_trytond_db):
    db = make_trytond_db("sqlite")
    result = cli(db.config, "db", "update", "-d", db.name, "prty", "--dry-run")
    assert result.exit_code == 2 and "prty: did you mean party (installed)?" in result.output
    # a misspelt standard module that is not installed here: its pip package, series-pinned
    result = cli(db.config, "db", "update", "-d", db.name, "sale_oportunity", "--dry-run")
    assert result.exit_code == 2, result.output
    assert f"'trytond_sale_opportunity~={SERIES}.0'" in result.output
    assert "Traceback" not in result.output


def test_update_names_the_database_with_d(make_trytond_db):
    """`db update shpo` (the old form with a misspelt database) is read as a module: the
    error says where the database goes."""
    db = make_trytond_db("sqlite")
    result = cli(db.config, "db", "update", db.name + "x", "--dry-run")
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: module(s) not installed: {db.name}x: ")
    assert result.output.endswith("(the arguments are modules; the database is -d NAME)\n")
