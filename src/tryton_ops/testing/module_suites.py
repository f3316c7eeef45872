"""Run trytond test suites (ModuleTestCase...) as trytond's docs do: `python -m unittest` in a
subprocess, outside the source tree, because trytond fixes its config and cache class at import."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path


class SuiteFailed(AssertionError):
    """The suite did not pass; the message ends with what unittest printed."""


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment without trytond's settings (`TRYTOND_*`, `DB_*`), plus `extra`: a suite
    must not inherit the database or config of whoever runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRYTOND_", "DB_"))}
    env.update(extra or {})
    return env


def run_suite(args: Sequence[str], cwd: Path, env: Mapping[str, str], timeout: float = 600) -> int:
    """Run `python -m unittest *args`; the number of tests it ran, or SuiteFailed (also if none)."""
    done = subprocess.run(
        [sys.executable, "-m", "unittest", *args],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    ran = [int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("Ran ")]
    # a suite that ran nothing passes in unittest, but it tested nothing: a wrong name or path
    if done.returncode != 0 or "\nOK" not in done.stderr or not ran or not ran[0]:
        raise SuiteFailed(f"unittest {' '.join(args)} failed:\n{done.stderr[-4000:]}")
    return ran[0]


def run_module_suite(
    module: str, cwd: Path, extra_env: Mapping[str, str] | None = None, *only: str
) -> int:
    """Discover and run the tests of a trytond module (`module` is its package)."""
    return run_suite(["discover", "-s", f"{module}.tests", *only], cwd, clean_env(extra_env))
