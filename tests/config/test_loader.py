"""Config loading: defaults, file, environment overrides, and errors that name key and source."""

from __future__ import annotations

import tomllib
from importlib.resources import files
from pathlib import Path

import pytest

from tryton_ops.config import ConfigError, Settings, load_config

pytestmark = pytest.mark.one_series  # the same on every trytond series


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tryton-ops.toml"
    path.write_text(text)
    return path


def test_embedded_default_without_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(environ={})
    assert config.path is None
    assert config.settings.database.uri == "sqlite://"
    assert config.settings.database.modules == ["party"]
    assert config.settings.server.listen == "127.0.0.1:8000"


def test_file_values_and_relative_paths(tmp_path):
    path = write(
        tmp_path,
        """
        name = "prod"
        [paths]
        data = "state/data"
        [database]
        uri = "postgresql://tryton@db.example:5433/"
        modules = ["party", "company"]
        [server]
        workers = 4
        """,
    )
    config = load_config(path, environ={})
    assert config.settings.name == "prod"
    assert config.settings.database.backend == "postgresql"
    assert config.settings.server.workers == 4
    assert config.data_dir == tmp_path / "state" / "data"


def test_default_dirs_follow_xdg_and_name(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    config = load_config(write(tmp_path, 'name = "erp"'), environ={})
    assert config.run_dir == tmp_path / "state" / "tryton-ops" / "erp"
    assert config.data_dir == tmp_path / "share" / "tryton-ops" / "erp"


def test_environment_overrides_file(tmp_path):
    path = write(tmp_path, "[server]\nworkers = 2\n")
    env = {
        "TRYTON_OPS_SERVER__WORKERS": "6",
        "TRYTON_OPS_DATABASE__MODULES": "party, company",
        "TRYTON_OPS_NAME": "fromenv",
    }
    config = load_config(path, environ=env)
    assert config.settings.server.workers == 6
    assert config.settings.database.modules == ["party", "company"]
    assert config.settings.name == "fromenv"
    assert set(config.env_overrides) == set(env)


def test_config_file_from_environment_variable(tmp_path, monkeypatch):
    path = write(tmp_path, "[server]\nworkers = 3\n")
    monkeypatch.setenv("TRYTON_OPS_CONFIG", str(path))
    assert load_config().settings.server.workers == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[server]\nwrokers = 2\n", "server.wrokers: unknown key"),
        ("[sever]\nworkers = 2\n", "sever: unknown key"),
        ('[server]\nworkers = "many"\n', "server.workers: Input should be a valid integer"),
        ("[server]\nworkers = 0\n", "server.workers: Input should be greater than or equal to 1"),
        ('[database]\nuri = "mysql://x/"\n', "database.uri: must start with sqlite://"),
        ('[database]\nuri = "postgresql://h/db"\n', "database.uri: must not name a database"),
        ('[database]\nuri = "postgresql://h:99999/"\n', "database.uri: has an invalid port"),
        ('[redis]\nuri = "http://h/"\n', "redis.uri: must start with redis://"),
        ('[server]\nlisten = "8000"\n', "server.listen: must be HOST:PORT"),
        ('[database]\nname = "my db"\n', "database.name: must start with a letter"),
        ('[server]\nlog_level = "LOUD"\n', "server.log_level: must be one of"),
        ("name = [1, 2]\n", "name: Input should be a valid string"),
    ],
)
def test_invalid_values_name_file_and_key(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    message = str(info.value)
    assert str(path) in message
    assert expected in message


def test_invalid_environment_value_names_the_variable(tmp_path):
    path = write(tmp_path, "")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={"TRYTON_OPS_SERVER__THREADS": "lots"})
    assert "environment variable TRYTON_OPS_SERVER__THREADS: server.threads" in str(info.value)


def test_unknown_environment_key_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"TRYTON_OPS_SERVER__WROKERS: server\.wrokers: unknown"):
        load_config(write(tmp_path, ""), environ={"TRYTON_OPS_SERVER__WROKERS": "2"})


def test_invalid_toml_is_reported_with_file(tmp_path):
    path = write(tmp_path, "[server\nworkers = 2\n")
    with pytest.raises(ConfigError, match=f"{path}: not valid TOML"):
        load_config(path, environ={})


def test_missing_explicit_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist; create one with"):
        load_config(tmp_path / "nope.toml", environ={})


def test_error_never_shows_a_password(tmp_path):
    path = write(tmp_path, '[database]\nuri = "postgresql://u:hunter2@h:0x/"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert "hunter2" not in str(info.value)


def test_sample_file_is_valid_and_matches_defaults():
    sample = tomllib.loads(files("tryton_ops.config").joinpath("sample.toml").read_text())
    assert Settings.model_validate(sample) == Settings()


def test_each_part_uses_its_redis_or_the_deployments(tmp_path):
    path = tmp_path / "tryton-ops.toml"
    path.write_text(
        '[redis]\nuri = "redis://10.0.0.1:6379/0"\n'
        '[sessions]\nredis_uri = "redis://10.0.0.2:6379/1"\n'
    )
    settings = load_config(path).settings
    assert settings.redis_of("cache").uri == "redis://10.0.0.1:6379/0"
    assert settings.redis_of("sessions").uri == "redis://10.0.0.2:6379/1"
    assert settings.redis_of("perf").uri == "redis://10.0.0.1:6379/0"
    uris = [spec.uri for spec in settings.redis_specs()]
    assert uris == ["redis://10.0.0.1:6379/0", "redis://10.0.0.2:6379/1"]
    path.write_text("")
    assert load_config(path).settings.redis_specs() == []
    assert load_config(path).settings.redis_of("cache") is None


def test_each_part_uses_the_deployments_tls_ca_unless_it_names_its_own(tmp_path):
    path = tmp_path / "tryton-ops.toml"
    path.write_text(
        '[redis]\nuri = "rediss://10.0.0.1:6379/0"\ntls_ca_file = "/etc/ca.pem"\n'
        "[cache]\ntimeout = 0.2\nconnect_timeout = 0.3\n"
        '[sessions]\nredis_uri = "rediss://10.0.0.2:6379/1"\ntls_ca_file = "/etc/own.pem"\n'
        "redis_timeout = 0.4\n"
    )
    settings = load_config(path).settings
    cache, sessions, perf = (settings.redis_of(p) for p in ("cache", "sessions", "perf"))
    assert (cache.tls_ca_file, cache.socket_timeout, cache.connect_timeout) == (
        "/etc/ca.pem",
        0.2,
        0.3,
    )
    assert (sessions.uri, sessions.tls_ca_file, sessions.socket_timeout) == (
        "rediss://10.0.0.2:6379/1",
        "/etc/own.pem",
        0.4,
    )
    assert (perf.uri, perf.tls_ca_file) == ("rediss://10.0.0.1:6379/0", "/etc/ca.pem")
    assert settings.redis_specs() == [cache, sessions]
