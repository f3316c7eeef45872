"""Progress reporting for long operations, kept out of the library's logic.

The library announces stages (and bytes or items where it knows a total); the CLI shows them
with rich progress bars, tests pass nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol


class Stage(Protocol):
    def advance(self, amount: float = 1) -> None: ...


class _NullStage:
    def advance(self, amount: float = 1) -> None:
        pass


class Reporter:
    """Does nothing; subclasses show the stages."""

    @contextlib.contextmanager
    def stage(self, description: str, total: float | None = None) -> Iterator[Stage]:
        yield _NullStage()

    def note(self, message: str) -> None:
        pass


NULL = Reporter()


class RichReporter(Reporter):
    """rich progress bars on stderr: a spinner per stage, a bar when the total is known."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)

    @contextlib.contextmanager
    def stage(self, description: str, total: float | None = None) -> Iterator[Stage]:
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        columns = [SpinnerColumn(), TextColumn("{task.description}")]
        if total is not None:
            columns += [BarColumn(), TaskProgressColumn()]
        columns.append(TimeElapsedColumn())
        with Progress(*columns, console=self.console, transient=False) as progress:
            task = progress.add_task(description, total=total)

            class _Stage:
                def advance(self, amount: float = 1) -> None:
                    progress.advance(task, amount)

            yield _Stage()
            if total is None:
                progress.update(task, total=1, completed=1)
            else:
                progress.update(task, completed=total)

    def note(self, message: str) -> None:
        self.console.print(message)
