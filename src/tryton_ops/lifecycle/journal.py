"""The journal of an update in progress: what a killed `db update` leaves for the next run.

One small JSON file per database (`<data>/journal/<name>.update.json`, 0600, replaced
atomically) says where the update stands: `rehearsing` (a scratch copy to drop), `backup`
(maintenance on, the live database not yet touched), `applying` (the live database may be half
updated; the backup named in the journal brings it back). The update lock guarantees that a
journal found by the holder of the lock belongs to a run that is gone.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tryton_ops.config import LoadedConfig

STAGES = ("rehearsing", "backup", "applying")


@dataclass(frozen=True)
class Journal:
    database: str
    stage: str
    pid: int
    started: float
    rehearsal: str | None = None  # the scratch copy, while rehearsing
    backup: str | None = None  # the archive that undoes the live update
    run_dir: str | None = None  # where the maintenance flag was written
    watchdog: int | None = None  # pid of the process that recovers if this one dies


def journal_file(config: LoadedConfig, name: str) -> Path:
    return config.data_dir / "journal" / f"{name}.update.json"


def write(config: LoadedConfig, journal: Journal) -> None:
    path = journal_file(config, journal.database)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(json.dumps(asdict(journal)))
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def start(config: LoadedConfig, name: str, stage: str, **details: str | int | None) -> Journal:
    journal = Journal(name, stage, os.getpid(), time.time(), **details)
    write(config, journal)
    return journal


def advance(
    config: LoadedConfig, journal: Journal, stage: str, **details: str | int | None
) -> Journal:
    values = {**asdict(journal), "stage": stage, **details}
    write(config, Journal(**values))
    return Journal(**values)


def read(config: LoadedConfig, name: str) -> Journal | None:
    path = journal_file(config, name)
    try:
        data = json.loads(path.read_text())
        journal = Journal(**data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError):
        return Journal(name, "unreadable", 0, 0.0)
    return journal


def clear(config: LoadedConfig, name: str) -> None:
    journal_file(config, name).unlink(missing_ok=True)
