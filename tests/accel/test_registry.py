"""The registry, the config switches, trytond.conf rendering and `tryton-ops accel list`."""

from __future__ import annotations

import configparser
import json
import tomllib

import pytest
from click.testing import CliRunner

from tryton_ops.accel import ACCELERATORS, accel_status
from tryton_ops.accel.registry import installed_trytond, series
from tryton_ops.cli import main
from tryton_ops.cli.config_cmd import sample_text
from tryton_ops.config import ConfigError, load_config, render_trytond_conf
from tryton_ops.config.schema import Accel, Settings
from tryton_ops.testing.databases import make_config


def test_one_switch_per_accelerator_off_by_default():
    assert set(Accel.model_fields) == set(ACCELERATORS)
    assert not any(getattr(Settings().accel, name) for name in ACCELERATORS)


def test_sample_lists_every_switch():
    sample = tomllib.loads(sample_text())
    assert set(sample["accel"]) == set(ACCELERATORS)


def test_unknown_switch_is_a_config_error(tmp_path):
    path = tmp_path / "tryton-ops.toml"
    path.write_text("[accel]\njson_responses = true\n")
    with pytest.raises(ConfigError, match="json_responses"):
        load_config(str(path))


def _rendered(tmp_path, **accel) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(render_trytond_conf(make_config(tmp_path, {"accel": accel})))
    return parser


def test_nothing_rendered_when_all_off(tmp_path):
    parser = _rendered(tmp_path)
    assert not parser.has_section(Accel.TRYTOND_SECTION)
    assert not parser.has_option("wsgi middleware", "tryton_ops_accel")


def test_rendered_switches_and_middleware(tmp_path):
    parser = _rendered(tmp_path, json_response=True)
    assert parser.getboolean(Accel.TRYTOND_SECTION, "json_response") is True
    assert parser.get("wsgi middleware", "tryton_ops_accel") == (
        "tryton_ops.accel.middleware.install"
    )
    # never a [wsgi <name>] section: trytond's has_option on it crashes both versions
    assert not [s for s in parser.sections() if s.startswith("wsgi ") and s != "wsgi middleware"]


def test_status_states():
    on = Settings(accel={"json_response": True})
    rows = {row["name"]: row for row in accel_status(on, trytond_version="8.2.1")}
    assert list(rows) == list(ACCELERATORS)
    row = rows["json_response"]
    assert (row["enabled"], row["state"], row["verified"]) == (True, "on", ["8.0.x", "8.2.x"])
    assert (rows["view_cache"]["enabled"], rows["view_cache"]["state"]) == (False, "off")

    def state(settings, version, name="json_response"):
        return {r["name"]: r for r in accel_status(settings, version)}[name]["state"]

    assert state(on, "8.0.12") == "on"
    assert state(on, "8.4.0") == "refused"
    assert state(on, "7.0.30") == "refused"
    assert state(Settings(), "8.4.0") == "off"
    assert accel_status(on)[0]["trytond"] == installed_trytond()


def test_series():
    assert series("8.2.1") == "8.2"
    assert series("8.0") == "8.0"
    assert ACCELERATORS["json_response"].verifies("8.0.99")
    assert not ACCELERATORS["json_response"].verifies("8.1.0")


def test_cli_list(tmp_path, monkeypatch):
    path = tmp_path / "tryton-ops.toml"
    path.write_text("[accel]\njson_response = true\n")
    runner = CliRunner()
    result = runner.invoke(main, ["-c", str(path), "accel", "list"])
    assert result.exit_code == 0, result.output
    header, *rows = result.output.splitlines()
    assert header.split() == ["NAME", "STATE", "TRYTOND", "VERIFIED", "SUMMARY"]
    states = [row.split()[:2] for row in rows]
    assert states == [["json_response", "on"]] + [[name, "off"] for name in list(ACCELERATORS)[1:]]

    result = runner.invoke(main, ["-c", str(path), "accel", "list", "--json"])
    assert result.exit_code == 0, result.output
    data, *others = json.loads(result.output)
    assert data["state"] == "on" and data["enabled"] is True
    assert {o["name"]: o["state"] for o in others} == dict.fromkeys(list(ACCELERATORS)[1:], "off")
    assert "Content-Encoding" in data["changes"] and data["safety"]

    monkeypatch.setenv("TRYTON_OPS_ACCEL__JSON_RESPONSE", "false")
    result = runner.invoke(main, ["-c", str(path), "accel", "list", "--json"])
    assert json.loads(result.output)[0]["state"] == "off"

    result = runner.invoke(main, ["-c", str(path), "accel", "list", "-v"])
    assert "patches trytond.protocols.jsonrpc:JSONProtocol.response" in result.output
