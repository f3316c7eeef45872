"""`db backup --prune`: grandfather-father-son retention on both backends, as a user runs it.

Old archives are real archives of the database (the one the CLI just wrote) copied under the
names `db backup` gives at earlier dates; beside them, files the pruning must never touch.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tarfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tryton_ops.config.schema import Backup
from tryton_ops.lifecycle.backup import backup
from tryton_ops.lifecycle.restore import read_manifest
from tryton_ops.lifecycle.retention import STAMP, Archive, archives, plan
from tryton_ops.testing.databases import derive

from .helpers import cli

NOW = datetime(2026, 12, 2, 2, 30, tzinfo=UTC)


def _archives(days: list[int]) -> list[Archive]:
    """Archives made `days` ago, newest first, like `archives()` returns them."""
    return [Archive(Path(f"a{d}"), NOW - timedelta(days=d)) for d in sorted(days)]


def _kept(decisions) -> list[int]:
    return [(NOW - d.archive.created).days for d in decisions if d.keep]


@pytest.mark.one_series
def test_policy_keeps_newest_of_each_day_week_month():
    daily_for_a_year = _archives(list(range(365)))
    policy = Backup(keep_daily=7, keep_weekly=4, keep_monthly=3)
    kept = _kept(plan(daily_for_a_year, policy))
    # 2026-12-02 is a Wednesday: days 0-6, then the Sundays ending the weeks before (days 3,
    # 10, 17), then the last day of the months before (Nov 30 = day 2, Oct 31 = day 32)
    assert kept == [0, 1, 2, 3, 4, 5, 6, 10, 17, 32]
    # several archives on one day: only that day's newest counts
    same_day = [Archive(Path(f"h{h}"), NOW - timedelta(hours=h)) for h in range(0, 3)]
    decisions = plan(same_day, Backup(keep_daily=1, keep_weekly=0, keep_monthly=1))
    assert [d.keep for d in decisions] == [True, False, False]
    assert decisions[0].reasons == ["newest", "daily 2026-12-02", "monthly 2026-12"]


@pytest.mark.one_series
def test_newest_is_kept_whatever_the_policy():
    old = _archives([400, 800])  # older than any bucket the policy keeps
    decisions = plan(old, Backup(keep_daily=1, keep_weekly=0, keep_monthly=0))
    assert [d.keep for d in decisions] == [True, False]
    assert plan([], Backup()) == []


def _plant(folder: Path, name: str, archive: Path, days_ago: list[int]) -> list[Path]:
    """Copies of `archive` named as `db backup` would have named them `days_ago`."""
    made = []
    for days in days_ago:
        when = datetime.now(UTC) - timedelta(days=days, hours=1)
        path = folder / f"{name}-{when.strftime(STAMP)}.tar.gz"
        shutil.copy2(archive, path)
        made.append(path)
    return made


def _foreign(folder: Path, name: str, archive: Path) -> list[Path]:
    """Files in the backups directory that are not our archives of `name`: never removed."""
    old = (datetime.now(UTC) - timedelta(days=900)).strftime(STAMP)
    notes = folder / "notes.txt"
    notes.write_text("keep me")
    partial = folder / f"{name}-{old}.tar.gz.part"
    partial.write_bytes(b"interrupted")
    foreign = folder / f"{name}-{(datetime.now(UTC) - timedelta(days=901)).strftime(STAMP)}.tar.gz"
    with tarfile.open(foreign, "w:gz") as tar:  # our name, someone else's tar
        tar.add(notes, "manifest.json")
    link = folder / f"{name}-{(datetime.now(UTC) - timedelta(days=902)).strftime(STAMP)}.tar.gz"
    link.symlink_to(archive)
    other = folder / f"other-{old}.tar.gz"
    shutil.copy2(archive, other)
    return [notes, partial, foreign, link, other]


def test_prune_dry_run_then_prune(trytond_db):
    config = derive(trytond_db.config, {"backup": {"keep_daily": 3, "keep_weekly": 2}})
    name = trytond_db.name
    first = cli(config, "db", "backup", "-d", name, "--json")
    assert first.exit_code == 0, first.output
    newest = Path(json.loads(first.output)["path"])
    folder = newest.parent
    old = _plant(folder, name, newest, [1, 2, 3, 4, 9, 16, 23, 40, 70, 400])
    untouchable = _foreign(folder, name, newest)
    before = sorted(p.name for p in folder.iterdir())

    rehearsal = cli(config, "db", "backup", "-d", name, "--prune", "--dry-run", "--json")
    assert rehearsal.exit_code == 0, rehearsal.output
    pruned = json.loads(rehearsal.output)["pruned"]
    assert "path" not in json.loads(rehearsal.output)  # no backup made
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing removed
    would_go = set(pruned["removed"])
    assert str(newest) in pruned["kept"] and "newest" in pruned["kept"][str(newest)]
    # newest + days 1, 2 (daily: 3 days); two weeks' newest; 12 months' newest (monthly default)
    assert would_go and would_go < {str(p) for p in old}
    text = cli(config, "db", "backup", "-d", name, "--prune", "--dry-run")
    assert text.exit_code == 0 and "would remove" in text.output, text.output

    done = cli(config, "db", "backup", "-d", name, "--prune", "--json")
    assert done.exit_code == 0, done.output
    result = json.loads(done.output)
    fresh = Path(result["path"])
    assert str(fresh) in result["pruned"]["kept"]
    assert set(result["pruned"]["removed"]) <= would_go | {str(newest)}
    for path in untouchable:
        assert path.is_symlink() or path.exists(), path
    assert newest.exists() or str(newest) in result["pruned"]["removed"]
    for removed in result["pruned"]["removed"]:
        assert not Path(removed).exists()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600

    again = cli(config, "db", "backup", "-d", name, "--prune", "--dry-run")
    assert again.exit_code == 0 and "would remove 0" in again.output, again.output


@pytest.mark.one_series
@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("keep_daily = -1", "backup.keep_daily"),
        ('keep_weekly = "four"', "backup.keep_weekly"),
        ("keep_monthly = 100000", "backup.keep_monthly"),
        ("keep_daily = 0\nkeep_weekly = 0\nkeep_monthly = 0", "set at least one above 0"),
        ('at = "25:00"', "backup.at"),
        ('at = "2:30"', "backup.at"),
        ('max_age = "soon"', "backup.max_age"),
        ("keep_yearly = 3", "keep_yearly"),
    ],
)
def test_bad_policy_is_a_clear_error(tmp_path, text, key):
    from click.testing import CliRunner

    from tryton_ops.cli import main

    path = tmp_path / "tryton-ops.toml"
    path.write_text(f'[paths]\ndata = "{tmp_path}/data"\n[backup]\n{text}\n')
    result = CliRunner().invoke(main, ["-c", str(path), "db", "backup", "--prune"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error:") and key in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "data").exists()  # nothing written


def test_backups_directory_missing_or_unusable(make_trytond_db, tmp_path):
    db = make_trytond_db("sqlite")
    elsewhere = tmp_path / "disk" / "tryton-backups"  # does not exist yet
    config = derive(db.config, {"paths": {"backups": str(elsewhere)}})
    empty = cli(config, "db", "backup", "-d", db.name, "--prune", "--dry-run")
    assert empty.exit_code == 0 and "would remove 0, kept 0" in empty.output, empty.output
    assert not elsewhere.exists()  # a rehearsal creates nothing

    made = cli(config, "db", "backup", "-d", db.name, "--prune")
    assert made.exit_code == 0, made.output
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o700
    assert len(list(elsewhere.glob(f"{db.name}-*.tar.gz"))) == 1

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    bad = derive(db.config, {"paths": {"backups": str(blocker / "backups")}})
    result = cli(bad, "db", "backup", "-d", db.name, "--prune")
    assert result.exit_code == 1, result.output
    assert f"error: cannot use the backups directory {blocker / 'backups'}" in result.output
    assert "paths.backups" in result.output and "Traceback" not in result.output

    missing = tmp_path / "no" / "such" / "dir" / "x.tar.gz"
    result = cli(db.config, "db", "backup", "-d", db.name, "--out", str(missing))
    assert result.exit_code == 1 and "does not exist" in result.output, result.output
    assert not (tmp_path / "no").exists()

    dry = cli(db.config, "db", "backup", "-d", db.name, "--dry-run")
    assert dry.exit_code == 2 and "error: --dry-run goes with --prune" in dry.output


def test_status_and_doctor_follow_the_policy(make_trytond_db):
    db = make_trytond_db("sqlite")
    never = cli(db.config, "doctor", "--json")
    assert "never backed up" in never.output and "backup.schedule = true" in never.output
    assert cli(db.config, "db", "backup", "-d", db.name).exit_code == 0

    fresh = json.loads(cli(db.config, "status", "--json").output)["last_backup"]
    assert fresh["stale"] is False and fresh["max_age_s"] == 26 * 3600
    assert "backups.none-recent" not in cli(db.config, "doctor", "--json").output

    strict = derive(db.config, {"backup": {"max_age": "1s", "schedule": True, "at": "03:15"}})
    time.sleep(1.2)
    status = cli(strict, "status")
    assert "older than backup.max_age" in status.output and "daily at 03:15" in status.output
    assert json.loads(cli(strict, "status", "--json").output)["last_backup"]["stale"] is True
    findings = json.loads(cli(strict, "doctor", "--json").output)["findings"]
    (finding,) = [f for f in findings if f["code"] == "backups.none-recent"]
    assert "older than backup.max_age (1s)" in finding["title"]
    assert "did not succeed" in finding["fix"] and "logs backup" in finding["fix"]


def test_no_backups_dir_at_all_prunes_nothing(make_trytond_db):
    db = make_trytond_db("sqlite")
    folder = db.config.backups_dir
    if folder.exists():
        shutil.rmtree(folder)
    assert os.path.exists(db.config.data_dir)
    result = cli(db.config, "db", "backup", "-d", db.name, "--prune", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["pruned"] == {"dry_run": True, "removed": [], "kept": {}}


@pytest.mark.one_series
def test_backups_in_the_same_second_keep_each_other(trytond_db, monkeypatch):
    """An update retried at once backs up twice within one second: neither archive may replace
    the other, and the later one counts as the newer."""
    instant = time.gmtime()
    monkeypatch.setattr(time, "gmtime", lambda *_: instant)
    made = [backup(trytond_db.config, trytond_db.name).path for _ in range(3)]
    stamp = time.strftime(STAMP, instant)
    assert [path.name for path in made] == [
        f"{trytond_db.name}-{stamp}.tar.gz",
        f"{trytond_db.name}-{stamp}-2.tar.gz",
        f"{trytond_db.name}-{stamp}-3.tar.gz",
    ]
    assert all(read_manifest(path)["database"] == trytond_db.name for path in made)
    found = archives(trytond_db.config, trytond_db.name)
    assert [archive.path for archive in found] == made[::-1]
    assert plan(found, Backup())[0].reasons[0] == "newest"
