"""The per-request marker RedisCache uses to read one generation view per HTTP request."""

from __future__ import annotations

import configparser

import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Response

from tryton_ops.cache import request_scope
from tryton_ops.cache.request_scope import RequestScope
from tryton_ops.config import load_config, render_trytond_conf


def recording_app(seen: list):
    def app(environ, start_response):
        seen.append(request_scope.current())
        if environ["PATH_INFO"] == "/boom":
            raise RuntimeError("boom")
        return Response("ok")(environ, start_response)

    return app


def test_each_request_has_its_own_marker_only_while_it_runs():
    seen: list = []
    client = Client(RequestScope(recording_app(seen)))
    assert request_scope.current() is None
    assert client.get("/").status_code == 200
    assert client.get("/").status_code == 200
    assert seen[0] is not None and seen[1] is not None
    assert seen[0] is not seen[1]
    assert request_scope.current() is None


def test_marker_removed_when_the_application_raises():
    seen: list = []
    client = Client(RequestScope(recording_app(seen)))
    with pytest.raises(RuntimeError):
        client.get("/boom")
    assert seen[0] is not None
    assert request_scope.current() is None


@pytest.mark.parametrize(("backend", "installed"), [("redis", True), ("memory", False)])
def test_rendered_with_the_redis_cache_only(tmp_path, backend, installed):
    path = tmp_path / "tryton-ops.toml"
    path.write_text(
        f'[paths]\nrun = "run"\n[cache]\nbackend = "{backend}"\n'
        'redis_uri = "redis://127.0.0.1:6379/0"\n'
    )
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(render_trytond_conf(load_config(path, environ={})))
    middleware = parser.get("wsgi middleware", "tryton_ops_cache", fallback=None)
    assert middleware == ("tryton_ops.cache.request_scope.RequestScope" if installed else None)
