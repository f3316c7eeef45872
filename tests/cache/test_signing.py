"""Signed values in Redis: what a party able to write Redis but without the secret cannot do."""

from __future__ import annotations

import pytest

from tryton_ops.access.redis import RedisSpec
from tryton_ops.cache.store import RedisStore, StoreSettings, read_signing_key
from tryton_ops.config import load_config, render_trytond_conf
from tryton_ops.config.loader import ConfigError


def store(key: bytes | None) -> RedisStore:
    return RedisStore(StoreSettings(RedisSpec("redis://127.0.0.1:1/0"), signing_key=key))


def key_from(tmp_path, secret: bytes) -> bytes:
    path = tmp_path / secret[:1].decode()
    path.write_bytes(secret)
    return read_signing_key(path)


def test_seal_binds_a_value_to_its_key_and_secret(tmp_path):
    signed = store(key_from(tmp_path, b"a" * 32))
    sealed = signed.seal("P:db:v:e:c:1:k1", b"data")
    assert sealed != b"data"
    assert signed.unseal("P:db:v:e:c:1:k1", sealed) == b"data"
    assert signed.unseal("P:db:v:e:c:1:k2", sealed) is None  # moved to another key
    assert signed.unseal("P:db:v:e:c:2:k1", sealed) is None  # replayed in another generation
    assert signed.unseal("P:db:v:e:c:1:k1", sealed[:-1] + b"X") is None  # tampered
    assert signed.unseal("P:db:v:e:c:1:k1", b"data") is None  # written without the secret
    assert signed.unseal("P:db:v:e:c:1:k1", b"") is None
    other = store(key_from(tmp_path, b"b" * 32))
    assert other.unseal("P:db:v:e:c:1:k1", sealed) is None  # another secret


def test_unsigned_store_is_unchanged():
    plain = store(None)
    assert plain.seal("k", b"data") == b"data"
    assert plain.unseal("k", b"data") == b"data"


def test_key_never_in_repr():
    settings = StoreSettings(RedisSpec("redis://x/0"), signing_key=b"s3cret-bytes-0123456789")
    assert "s3cret" not in repr(settings)


def test_signing_key_file_errors(tmp_path):
    with pytest.raises(ValueError, match="cannot read"):
        read_signing_key(tmp_path / "missing")
    short = tmp_path / "short"
    short.write_text("too short\n")
    with pytest.raises(ValueError, match="at least 16"):
        read_signing_key(short)


def config_with_key(tmp_path, key_file) -> str:
    path = tmp_path / "tryton-ops.toml"
    path.write_text(
        '[cache]\nbackend = "redis"\nredis_uri = "redis://127.0.0.1:6379/0"\n'
        f'signing_key_file = "{key_file}"\n'
    )
    return str(path)


def test_rendered_config_names_the_file_not_the_secret(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("a-secret-of-enough-length-0123456789\n")
    text = render_trytond_conf(load_config(config_with_key(tmp_path, key_file)))
    assert f"redis_signing_key_file = {key_file}" in text
    assert "a-secret-of-enough-length" not in text


def test_unusable_key_file_is_a_config_error(tmp_path):
    config = load_config(config_with_key(tmp_path, tmp_path / "absent"))
    with pytest.raises(ConfigError, match=r"cache\.signing_key_file: cannot read"):
        render_trytond_conf(config)
