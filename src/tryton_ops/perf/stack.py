"""The application stack of a statement: frames of trytond and its modules, not ours."""

from __future__ import annotations

import sys

_SKIP = (
    "/tryton_ops/perf/",
    "/psycopg/",
    "/psycopg_pool/",
    "/sqlite3/",
    "/werkzeug/",
    "/gunicorn/",
    "/threading.py",
    "/contextlib.py",
    "/sql/__init__.py",
)
MAX_FRAMES = 25


def _short(filename: str) -> str:
    for marker in ("/site-packages/", "/dist-packages/", "/src/"):
        index = filename.rfind(marker)
        if index >= 0:
            return filename[index + len(marker) :]
    return filename


def app_stack(skip: int = 1) -> list[str]:
    """Innermost first: `path:line function`, at most MAX_FRAMES frames."""
    frames = []
    frame = sys._getframe(skip)
    while frame is not None and len(frames) < MAX_FRAMES:
        filename = frame.f_code.co_filename
        if not any(part in filename for part in _SKIP):
            frames.append(f"{_short(filename)}:{frame.f_lineno} {frame.f_code.co_name}")
        frame = frame.f_back
    return frames
