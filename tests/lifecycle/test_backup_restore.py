"""Backup, verify, restore, copy and drop on both backends, with the failure paths."""

from __future__ import annotations

import gzip
import io
import json
import tarfile

import pytest

from tryton_ops.access.database import DatabaseError, connect, database_exists, list_databases
from tryton_ops.lifecycle.backup import backup, filestore_dir, last_backup
from tryton_ops.lifecycle.lifecycle import drop
from tryton_ops.lifecycle.restore import ArchiveError, restore, verify

from .helpers import add_attachments, cli, read_filestore, table_checksums


def _touch_data(db) -> None:
    """A change made after the backup, which a restore must undo."""
    with connect(db.config, db.name) as session:
        session.execute("UPDATE ir_configuration SET language = %s", ("fr",))
        session.execute("DELETE FROM ir_cron")


def test_restore_of_backup_gives_same_rows_and_attachments(trytond_db, tmp_path):
    files = add_attachments(trytond_db.config, trytond_db.name)
    before = table_checksums(trytond_db.config, trytond_db.name)
    result = backup(trytond_db.config, trytond_db.name, tmp_path / "b.tar.gz")
    assert result.manifest["backend"] == trytond_db.backend
    assert "party" in result.manifest["modules"]
    assert len(result.manifest["members"]) == 1 + len(files)
    assert last_backup(trytond_db.config, trytond_db.name)["path"] == str(result.path)

    _touch_data(trytond_db)
    add_attachments(trytond_db.config, trytond_db.name, count=5)  # more files than backed up
    assert table_checksums(trytond_db.config, trytond_db.name) != before

    restored = restore(trytond_db.config, result.path, trytond_db.name, replace=True)
    assert restored.replaced
    assert table_checksums(trytond_db.config, trytond_db.name) == before
    assert read_filestore(trytond_db.config, trytond_db.name) == files

    # under another name: same rows, own filestore, cron deactivated on request
    restore(trytond_db.config, result.path, "restored_copy", deactivate_cron=True)
    copy_sums = table_checksums(trytond_db.config, "restored_copy")
    assert {k: v for k, v in copy_sums.items() if k != "ir_cron"} == {
        k: v for k, v in before.items() if k != "ir_cron"
    }
    assert read_filestore(trytond_db.config, "restored_copy") == files
    with connect(trytond_db.config, "restored_copy") as session:
        assert session.scalar("SELECT count(*) FROM ir_cron") > 0
        assert session.scalar("SELECT count(*) FROM ir_cron WHERE active = %s", (True,)) == 0
    drop(trytond_db.config, "restored_copy")


def _corruptions(archive, tmp_path):
    raw = archive.read_bytes()
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(raw[: len(raw) // 2])
    tar = bytearray(gzip.decompress(raw))
    tar[len(tar) // 2] ^= 0xFF  # inside the dump: the gzip layer is intact, the data is not
    flipped = tmp_path / "flipped.tar"
    flipped.write_bytes(bytes(tar))
    not_tar = tmp_path / "notes.tar.gz"
    not_tar.write_bytes(b"these are not the backups you are looking for\n")
    foreign = tmp_path / "foreign.tar.gz"
    with tarfile.open(foreign, "w:gz") as out:
        data = json.dumps({"format": "someone-else", "members": {}}).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        out.addfile(info, io.BytesIO(data))
    no_manifest = tmp_path / "plain.tar.gz"
    with tarfile.open(no_manifest, "w:gz") as out:
        out.add(archive, "database.dump")
    return {
        truncated: "truncated",
        flipped: "corrupt",
        not_tar: "not a tryton-ops backup",
        foreign: "not a tryton-ops backup",
        no_manifest: "not a tryton-ops backup",
    }


def test_bad_archives_are_refused_and_the_target_untouched(trytond_db, tmp_path):
    archive = backup(trytond_db.config, trytond_db.name, tmp_path / "good.tar.gz").path
    files = add_attachments(trytond_db.config, trytond_db.name)
    _touch_data(trytond_db)
    before = table_checksums(trytond_db.config, trytond_db.name)
    for bad, message in _corruptions(archive, tmp_path).items():
        with pytest.raises(ArchiveError, match=message):
            verify(bad)
        result = cli(
            trytond_db.config, "db", "restore", str(bad), "-d", trytond_db.name, "--replace", "-y"
        )
        assert result.exit_code == 1, result.output
        assert message in result.output
        assert table_checksums(trytond_db.config, trytond_db.name) == before
        assert read_filestore(trytond_db.config, trytond_db.name) == files
    # no scratch database or work directory left behind
    assert not [n for n in list_databases(trytond_db.config) if n.startswith("ops_restore_")]
    leftovers = [p.name for p in (trytond_db.config.data_dir / "backups").iterdir()]
    assert not [name for name in leftovers if name.startswith(".work-")]


def test_restore_refusals(trytond_db, tmp_path):
    archive = backup(trytond_db.config, trytond_db.name, tmp_path / "good.tar.gz").path
    with pytest.raises(DatabaseError, match="exists: restore under another name, or pass"):
        restore(trytond_db.config, archive, trytond_db.name)
    with pytest.raises(DatabaseError, match="bad database name"):
        restore(trytond_db.config, archive, "../escape")
    other = "postgresql" if trytond_db.backend == "sqlite" else "sqlite"
    with tarfile.open(archive) as src:
        manifest = json.loads(src.extractfile("manifest.json").read())
    manifest["backend"] = other  # a backup of the other backend (re-signed manifest)
    mixed = tmp_path / "other-backend.tar.gz"
    with tarfile.open(archive) as src, tarfile.open(mixed, "w:gz") as out:
        data = json.dumps(manifest).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        out.addfile(info, io.BytesIO(data))
        for member in src.getmembers()[1:]:
            out.addfile(member, src.extractfile(member))
    with pytest.raises(ArchiveError):
        restore(trytond_db.config, mixed, "other_backend")
    assert not database_exists(trytond_db.config, "other_backend")


def test_copy_and_drop(trytond_db):
    files = add_attachments(trytond_db.config, trytond_db.name)
    before = table_checksums(trytond_db.config, trytond_db.name)
    result = cli(trytond_db.config, "db", "copy", "-d", trytond_db.name, "copied")
    assert result.exit_code == 0, result.output
    assert table_checksums(trytond_db.config, "copied") == before
    assert read_filestore(trytond_db.config, "copied") == files

    again = cli(trytond_db.config, "db", "copy", "-d", trytond_db.name, "copied")
    assert again.exit_code == 1 and "already exists" in again.output
    missing = cli(trytond_db.config, "db", "copy", "-d", "nosuch", "other")
    assert missing.exit_code == 1 and "'nosuch' does not exist" in missing.output

    refused = cli(trytond_db.config, "db", "drop", "-d", "copied", input="n\n")
    assert refused.exit_code == 1
    assert database_exists(trytond_db.config, "copied")
    confirmed = cli(trytond_db.config, "db", "drop", "-d", "copied", input="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert not database_exists(trytond_db.config, "copied")
    assert not filestore_dir(trytond_db.config, "copied").exists()
    assert table_checksums(trytond_db.config, trytond_db.name) == before
    gone = cli(trytond_db.config, "db", "drop", "-d", "copied", "--yes")
    assert gone.exit_code == 1 and "does not exist" in gone.output


def test_backup_cli_and_missing_or_bad_names(trytond_db, tmp_path):
    out = tmp_path / "cli.tar.gz"
    result = cli(
        trytond_db.config, "db", "backup", "-d", trytond_db.name, "--out", str(out), "--json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output[result.output.index("{") :])["path"] == str(out)
    verified = cli(trytond_db.config, "db", "verify", str(out))
    assert verified.exit_code == 0 and "ok:" in verified.output
    for args in (
        ["db", "backup", "-d", "nosuch"],
        ["db", "update", "-d", "nosuch"],
        ["db", "restore", str(out), "-d", "bad/name"],
        ["db", "backup", "-d", "x;drop"],
        ["db", "init", "-d", "../up"],
        ["db", "drop", "-d", "template1", "--yes"],
    ):
        result = cli(trytond_db.config, *args)
        assert result.exit_code == 1, (args, result.output)
        assert "error:" in result.output and "Traceback" not in result.output


def test_backups_are_private(trytond_db, tmp_path):
    """Archives hold the whole database with password hashes: 0600, in a 0700 directory,
    whatever the umask and even over a world-readable leftover of an interrupted backup."""
    import os
    import stat

    from tryton_ops.lifecycle.backup import backups_dir, default_archive

    def mode(path):
        return stat.S_IMODE(path.stat().st_mode)

    old = os.umask(0o022)
    try:
        folder = backups_dir(trytond_db.config)
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o755)  # made by an earlier version
        made = backup(trytond_db.config, trytond_db.name)
        assert made.path.parent == folder
        assert mode(made.path) == 0o600 and mode(folder) == 0o700
        assert mode(folder / "index.json") == 0o600

        out = tmp_path / "new-dir" / "b.tar.gz"
        leftover = out.with_name(out.name + ".part")
        leftover.parent.mkdir(mode=0o755)
        leftover.write_bytes(b"an interrupted backup")
        leftover.chmod(0o644)
        made = backup(trytond_db.config, trytond_db.name, out)
        assert mode(made.path) == 0o600
        assert default_archive(trytond_db.config, trytond_db.name).parent == folder
    finally:
        os.umask(old)
