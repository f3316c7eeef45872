"""trytond's own `ir`, `res` and `party` test modules, with RedisCache as the cache class.

They run in a subprocess (trytond fixes its cache class at import) on SQLite, with the
trytond.conf that tryton-ops renders, against a private Redis.
"""

from __future__ import annotations

from tryton_ops.config.trytond_conf import trytond_env
from tryton_ops.testing.databases import make_config
from tryton_ops.testing.module_suites import run_suite

MODULES = (
    "trytond.tests.test_ir",
    "trytond.tests.test_res",
    "trytond.modules.party.tests.test_module",
)


def test_ir_res_party_suites_pass_with_redis_cache(tmp_path, redis_server):
    config = make_config(
        tmp_path,
        {
            "database": {"uri": "sqlite://"},
            "cache": {"backend": "redis", "redis_uri": redis_server.uri, "commit_lease": 1},
        },
    )
    env = trytond_env(config, DB_NAME=":memory:")
    (tmp_path / "data" / "db").mkdir(parents=True, exist_ok=True)
    assert run_suite(MODULES, tmp_path, env) > 100
    # the suites really went through Redis: values were stored there
    keys = list(redis_server.client().scan_iter(match="tryton:*:v:*", count=1000))
    assert len(keys) > 50
