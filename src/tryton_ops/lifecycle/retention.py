"""Grandfather-father-son retention of the archives `db backup` writes (`db backup --prune`).

Candidates are only our archives: regular files of the backups directory named the way
`db backup` names them (NAME-YYYYmmdd-HHMMSS.tar.gz, the time in UTC, with -2, -3... for
later ones in the same second) whose manifest says they
are a tryton-ops backup of NAME. Anything else there (another name, a symlink, an archive of
another database, a foreign or unreadable tar, a `.part` left by an interrupted run) is never
touched, whatever the policy.

The policy keeps, independently, the newest archive of each of the last `keep_daily` days,
`keep_weekly` ISO weeks and `keep_monthly` months that have an archive (UTC calendar); an
archive kept by several rules is kept once. The newest archive is always kept, so a prune can
never leave a database without its latest backup.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tryton_ops.config import LoadedConfig
from tryton_ops.config.schema import Backup
from tryton_ops.lifecycle.names import check_name
from tryton_ops.lifecycle.restore import ArchiveError, read_manifest

STAMP = "%Y%m%d-%H%M%S"

# each rule: its name in the config, and the calendar bucket of an archive's date
RULES: dict[str, Callable[[datetime], str]] = {
    "daily": lambda when: when.strftime("%Y-%m-%d"),
    "weekly": lambda when: "{}-W{:02d}".format(*when.isocalendar()[:2]),
    "monthly": lambda when: when.strftime("%Y-%m"),
}


@dataclass(frozen=True)
class Archive:
    path: Path
    created: datetime  # from the file name, UTC
    number: int = 1  # the second one in the same second is -2


@dataclass
class Decision:
    archive: Archive
    reasons: list[str] = field(default_factory=list)  # why it is kept: empty means removed

    @property
    def keep(self) -> bool:
        return bool(self.reasons)


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"{re.escape(name)}-(\d{{8}}-\d{{6}})(?:-(\d+))?\.tar\.gz")


def archives(config: LoadedConfig, name: str) -> list[Archive]:
    """Our archives of database `name` in the backups directory, newest first."""
    check_name(name)
    folder = config.backups_dir
    if not folder.is_dir():
        return []
    pattern = _pattern(name)
    found = []
    for path in folder.iterdir():
        match = pattern.fullmatch(path.name)
        if match is None or path.is_symlink() or not path.is_file():
            continue
        try:
            created = datetime.strptime(match.group(1), STAMP).replace(tzinfo=UTC)
            manifest = read_manifest(path)
        except (ValueError, ArchiveError):
            continue  # not a date, or not one of ours: never a candidate
        if manifest.get("database") == name:
            found.append(Archive(path, created, int(match.group(2) or 1)))
    return sorted(found, key=lambda archive: (archive.created, archive.number), reverse=True)


def plan(found: list[Archive], policy: Backup) -> list[Decision]:
    """What the policy keeps of `found` (newest first) and why; the rest is removed."""
    decisions = [Decision(archive) for archive in found]
    if decisions:
        decisions[0].reasons.append("newest")
    for rule, bucket_of in RULES.items():
        wanted = getattr(policy, f"keep_{rule}")
        seen: set[str] = set()
        for decision in decisions:
            bucket = bucket_of(decision.archive.created)
            if bucket in seen:
                continue
            if len(seen) == wanted:
                break
            seen.add(bucket)
            decision.reasons.append(f"{rule} {bucket}")
    return decisions


def prune(config: LoadedConfig, name: str, dry_run: bool = False) -> list[Decision]:
    """Apply the configured policy to the archives of `name`; with `dry_run`, remove nothing."""
    decisions = plan(archives(config, name), config.settings.backup)
    if not dry_run:
        for decision in decisions:
            if not decision.keep:
                decision.archive.path.unlink(missing_ok=True)
    return decisions
