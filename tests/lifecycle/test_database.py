"""Database creation, listing and the admin password file, on both backends."""

from __future__ import annotations

import stat

import pytest

from tryton_ops.access.database import DatabaseError, database_exists, list_databases
from tryton_ops.lifecycle.database import admin_password
from tryton_ops.lifecycle.init import init_database
from tryton_ops.testing.databases import make_config


def test_list_finds_tryton_databases_only(trytond_db, tmp_path):
    names = list_databases(trytond_db.config)
    assert trytond_db.name in names
    if trytond_db.backend == "sqlite":
        stray = trytond_db.config.data_dir / "db" / "stray.sqlite"
        stray.write_bytes(b"not a database")
        assert "stray" not in list_databases(trytond_db.config)
    else:
        assert "postgres" not in names


def test_create_refuses_existing_database(trytond_db):
    with pytest.raises(DatabaseError, match="already exists"):
        init_database(trytond_db.config, trytond_db.name)


def test_create_refuses_missing_module_before_touching_anything(tmp_path):
    config = make_config(tmp_path, {"database": {"modules": ["party", "nosuch"]}})
    with pytest.raises(DatabaseError, match="nosuch"):
        init_database(config, "demo")
    assert not database_exists(config, "demo")
    assert not (config.data_dir / "admin-password").exists()


def test_failed_init_leaves_no_half_database(postgres_server, tmp_path):
    # demo parties without the party module: the init succeeds, loading the demo fails
    values = {"uri": postgres_server.uri, "modules": [], "demo_records": 3, "name": "halfmade"}
    config = make_config(tmp_path, {"database": values})
    with pytest.raises(DatabaseError, match="loading demo records into 'halfmade' failed"):
        init_database(config, "halfmade")
    assert "halfmade" not in list_databases(config)


def test_generated_admin_password_is_private_and_stable(tmp_path):
    config = make_config(tmp_path, {})
    password, path = admin_password(config)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(password) >= 16
    assert admin_password(config) == (password, path)


def test_configured_password_file_must_exist(tmp_path):
    config = make_config(tmp_path, {"database": {"admin_password_file": str(tmp_path / "pw")}})
    with pytest.raises(DatabaseError, match="does not exist"):
        admin_password(config)
    (tmp_path / "pw").write_text("\n")
    with pytest.raises(DatabaseError, match="single non-empty line"):
        admin_password(config)


def test_init_never_drops_what_holds_the_name(postgres_server, tmp_path):
    """A database of that name that is not Tryton's is refused and left as it was."""
    import psycopg

    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE theirs")
    config = make_config(tmp_path, {"database": {"uri": postgres_server.uri}})
    try:
        with pytest.raises(DatabaseError, match="exists but is not a Tryton database"):
            init_database(config, "theirs")
        with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
            kept = conn.execute("SELECT 1 FROM pg_database WHERE datname = 'theirs'").fetchone()
        assert kept is not None
    finally:
        with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS theirs")
