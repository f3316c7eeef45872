"""The supervisor's control socket stays usable whatever the length of the run directory."""

from __future__ import annotations

from tryton_ops.deploy.supervisor_conf import MAX_SOCKET_PATH, socket_path
from tryton_ops.testing.databases import make_config


def test_short_run_dir_keeps_socket_inside(tmp_path):
    config = make_config(tmp_path, {"paths": {"run": "/tmp/r"}})
    assert socket_path(config).parent == config.run_dir


def test_long_run_dir_gets_a_short_stable_socket(tmp_path):
    long_dir = tmp_path / ("x" * 120)
    config = make_config(tmp_path, {"paths": {"run": str(long_dir)}})
    other = make_config(tmp_path, {"paths": {"run": str(long_dir) + "y"}})
    path = socket_path(config)
    assert len(str(path)) <= MAX_SOCKET_PATH
    assert path == socket_path(config)  # the same stack finds it again
    assert path != socket_path(other)  # two stacks never share one
