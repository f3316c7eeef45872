"""`tryton-ops db templates list|prune` on both backends; the template names stay reserved."""

from __future__ import annotations

import json
from importlib.metadata import version

import pytest

from tests.lifecycle.helpers import cli
from tryton_ops.lifecycle.templates import list_templates
from tryton_ops.testing.databases import derive, make_config


@pytest.mark.one_series  # the template store is ours: the same on every series
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_list_and_prune_templates(tmp_path, backend, request):
    values = {}
    if backend == "postgresql":  # a private server: prune --all must not see others' templates
        values = {"database": {"uri": request.getfixturevalue("postgres_factory")().uri}}
    config = make_config(tmp_path, values)
    assert cli(config, "db", "templates", "list").output.strip() == "no cached template"
    assert cli(config, "db", "init", "-d", "shop", "-m", "party").exit_code == 0

    (info,) = json.loads(cli(config, "db", "templates", "list", "--json").output)
    assert info["name"].startswith("ops_tmpl_") and info["modules"] == ["party"]
    assert info["trytond"] == version("trytond") and info["size_bytes"] > 100_000
    assert info["current"] is True
    text = cli(config, "db", "templates", "list").output
    assert info["name"] in text and "current" in text
    nothing = cli(config, "db", "templates", "prune")
    assert nothing.exit_code == 0 and "nothing to prune (no stale template" in nothing.output

    # reserved everywhere else, with a pointer to where it is managed
    dropped = cli(config, "db", "drop", "-d", info["name"], "--yes")
    assert dropped.exit_code == 1 and "reserved for the template cache" in dropped.output
    assert "db templates prune" in dropped.output
    assert cli(config, "db", "copy", "-d", "shop", info["name"]).exit_code == 1
    assert list_templates(config) == [info["name"]]

    # another language makes another key: for that config the template is stale
    french = derive(config, {"database": {"language": "fr"}})
    assert "stale" in cli(french, "db", "templates", "list").output
    dry = cli(french, "db", "templates", "prune", "--dry-run")
    assert dry.output.strip() == f"would remove {info['name']} (party, stale)"
    assert list_templates(config) == [info["name"]]
    pruned = cli(french, "db", "templates", "prune")
    assert (
        pruned.exit_code == 0 and pruned.output.strip() == f"removed {info['name']} (party, stale)"
    )
    assert list_templates(config) == []

    # --all removes current ones; the next init builds from scratch again
    made = json.loads(cli(config, "db", "init", "-d", "shop2", "-m", "party", "--json").output)
    assert made["from_template"] is False
    assert cli(config, "db", "templates", "prune").output.startswith("nothing to prune")
    assert "(party, current)" in cli(config, "db", "templates", "prune", "--all").output
    assert list_templates(config) == []
    assert cli(config, "db", "list").output.split() == ["shop", "shop2"]  # databases untouched
