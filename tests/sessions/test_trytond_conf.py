"""`[sessions]` of tryton-ops.toml rendered into trytond.conf, and what the module reads back."""

from __future__ import annotations

import configparser

import pytest

from tryton_ops.config import ConfigError, load_config, render_trytond_conf
from tryton_ops.config.schema import Sessions
from tryton_ops.sessions.options import redis_sessions

SECTION = Sessions.TRYTOND_SECTION

BASE = '[paths]\ndata = "d"\nrun = "r"\n[database]\nmodules = ["party", "ops_session"]\n'


def render(tmp_path, toml: str) -> configparser.ConfigParser:
    path = tmp_path / "tryton-ops.toml"
    path.write_text(toml)
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(render_trytond_conf(load_config(path, environ={})))
    return parser


def test_default_is_stock_sessions(tmp_path):
    parser = render(tmp_path, BASE)
    assert not parser.has_section(SECTION)
    assert not parser.has_option("session", "max_age")


def test_redis_store_shares_the_redis_uri(tmp_path):
    parser = render(
        tmp_path,
        BASE + '[redis]\nuri = "redis://10.0.0.5:6379/0"\n'
        '[sessions]\nstore = "redis"\nexclusive = true\nmax_age = 3600\ntimeout = 600\n',
    )
    assert parser["session"]["max_age"] == "3600" and parser["session"]["timeout"] == "600"
    options = redis_sessions(Sessions.from_mapping(parser[SECTION]))
    assert options == Sessions(
        store="redis",
        redis_uri="redis://10.0.0.5:6379/0",
        exclusive=True,
        audit=True,
        audit_days=30,
        max_age=3600,
        timeout=600,
    )


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (BASE + '[sessions]\nstore = "redis"\n', "no Redis is configured"),
        (
            '[redis]\nuri = "redis://h:6379/0"\n[sessions]\nstore = "redis"\n',
            "'ops_session' is not in database.modules",
        ),
    ],
)
def test_redis_store_misconfigured(tmp_path, toml, message):
    with pytest.raises(ConfigError, match=message):
        render(tmp_path, toml)


def test_unknown_store_is_a_schema_error(tmp_path):
    with pytest.raises(ConfigError, match=r"sessions\.store"):
        render(tmp_path, BASE + '[sessions]\nstore = "memcached"\n')
