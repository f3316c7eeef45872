"""`tryton-ops logs`: the stack's log files under `<run>/logs`, per program, merged by time.

Every program writes its own files (supervisord.conf, gunicorn.conf.py, uwsgi.ini and nginx.conf
put them there) in its own time format; a line's time is read from the first format found in
it, and a line without one (a traceback, a continued message) belongs with the line before.
Files are read from the end (only what `-n` and `--since` ask for) and followed by polling
their sizes, which also sees a file rotated or truncated by its program.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tryton_ops.config import LoadedConfig
from tryton_ops.errors import OpsError, UsageError

# files of a program that are not named after it: app server (gunicorn/uWSGI), nginx, supervisord
FILE_PROGRAM = {
    "server.log": "app",
    "access.log": "app",
    "nginx-error.log": "front",
    "nginx-access.log": "front",
    "supervisord.log": "supervisor",
    "supervisord.stderr": "supervisor",
}
LOG_SUFFIXES = (".log", ".stderr")  # rotated copies (.log.1, .log.prev) are left out

# (pattern, strptime format); the first that matches a line gives its time
TIME_FORMATS = [
    # gunicorn error log, nginx/gunicorn access logs: with their UTC offset
    (re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4})\]"), "%Y-%m-%d %H:%M:%S %z"),
    (re.compile(r"\[(\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\]"), "%d/%b/%Y:%H:%M:%S %z"),
    # trytond (cron, queue, workers) and supervisord: local time with milliseconds
    (re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})"), "%Y-%m-%d %H:%M:%S,%f"),
    # nginx error log, uWSGI request log: local time
    (re.compile(r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d)"), "%Y/%m/%d %H:%M:%S"),
    (re.compile(r"\[(\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4})\]"), "%a %b %d %H:%M:%S %Y"),
]
READ_BLOCK = 64 * 1024
WHOLE_SECOND = 0.999


class UnknownProgram(UsageError):
    """A program name that has no log here."""


class NoLogs(OpsError):
    """No program of this deployment wrote a log yet."""


@dataclass(frozen=True)
class LogLine:
    ts: float  # epoch seconds; the time of the line above for a line without one
    program: str
    text: str


@dataclass
class LogFile:
    program: str
    path: Path
    offset: int = 0  # bytes read so far
    last_ts: float = 0.0  # time of the last line read, for lines without their own
    partial: bytes = field(default=b"", repr=False)


def logs_dir(config: LoadedConfig) -> Path:
    return config.run_dir / "logs"


def program_of(path: Path) -> str:
    return FILE_PROGRAM.get(path.name, path.stem)


def log_files(config: LoadedConfig) -> dict[str, list[Path]]:
    """The current log files of every program that wrote some, by program name."""
    found: dict[str, list[Path]] = {}
    folder = logs_dir(config)
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.suffix in LOG_SUFFIXES:
                found.setdefault(program_of(path), []).append(path)
    return found


def select(config: LoadedConfig, program: str | None) -> list[LogFile]:
    """The files of `program` (None: of every program); an unknown name lists the known ones."""
    files = log_files(config)
    if not files:
        raise NoLogs(f"no logs in {logs_dir(config)}: the stack has not run here (tryton-ops up)")
    if program is None:
        return [LogFile(name, path) for name, paths in files.items() for path in paths]
    if program not in files:
        known = ", ".join(sorted(files))
        raise UnknownProgram(
            f"no program {program!r} in {logs_dir(config)}; programs with logs: {known}"
        )
    return [LogFile(program, path) for path in files[program]]


def line_time(text: str) -> float | None:
    for pattern, fmt in TIME_FORMATS:
        match = pattern.search(text)
        if match is None:
            continue
        try:
            moment = datetime.strptime(match.group(1), fmt)
        except ValueError:
            continue
        # a naive time is local time, as the programs wrote it; a time to the second is put
        # at the end of its second, after the finer-timed lines of that second (supervisord's
        # "spawned", a worker's request) that usually cause it
        return moment.timestamp() + (0 if "%f" in fmt else WHOLE_SECOND)
    return None


def _lines(log: LogFile, data: bytes) -> list[LogLine]:
    """Whole lines of `data` (after what was left over last time); keeps the unfinished end."""
    data = log.partial + data
    *complete, log.partial = data.split(b"\n")
    out = []
    for raw in complete:
        text = raw.decode(errors="replace").rstrip("\r")
        if not text:
            continue
        log.last_ts = line_time(text) or log.last_ts
        out.append(LogLine(log.last_ts, log.program, text))
    return out


def _tail_start(path: Path, wanted: int) -> int:
    """Offset from which `path` holds at least `wanted` lines (reading backwards in blocks)."""
    size = path.stat().st_size
    start, newlines = size, 0
    with path.open("rb") as fh:
        while start > 0 and newlines <= wanted:
            step = min(READ_BLOCK, start)
            start -= step
            fh.seek(start)
            newlines += fh.read(step).count(b"\n")
    return start


def _read_from(log: LogFile, start: int, mid_line: bool = False) -> list[LogLine]:
    """The lines from `start` on; `mid_line`: the first one is a fragment, left out."""
    with log.path.open("rb") as fh:
        fh.seek(start)
        data = fh.read()
    log.offset = start + len(data)
    if mid_line:
        data = data[data.find(b"\n") + 1 :] if b"\n" in data else b""
    return _lines(log, data)


def recent(files: list[LogFile], lines: int | None, since: float | None) -> list[LogLine]:
    """The last `lines` lines (None: all) at or after `since`, merged by time."""
    merged: list[LogLine] = []
    for log in files:
        try:
            start = 0 if lines is None or since is not None else _tail_start(log.path, lines)
            merged += _read_from(log, start, mid_line=start > 0)
        except OSError:
            continue  # removed meanwhile
    merged.sort(key=lambda line: line.ts)  # stable: a file's own order is kept for equal times
    if since is not None:
        merged = [line for line in merged if line.ts >= since]
    return merged if lines is None else merged[-lines:] if lines else []


def follow(
    config: LoadedConfig, program: str | None, files: list[LogFile], interval: float = 0.5
) -> Iterator[list[LogLine]]:
    """New lines as they are written, in batches merged by time (files appearing later, e.g.
    a program started after, are picked up; a truncated or rotated file is read anew)."""
    known = {log.path: log for log in files}
    while True:
        time.sleep(interval)
        for log in select(config, program):
            known.setdefault(log.path, log)  # a new file is read from its start
        batch: list[LogLine] = []
        for log in known.values():
            try:
                size = log.path.stat().st_size
            except OSError:
                continue
            if size < log.offset:
                log.offset, log.partial = 0, b""
            if size > log.offset:
                batch += _read_from(log, log.offset)
        if batch:
            batch.sort(key=lambda line: line.ts)
            yield batch
