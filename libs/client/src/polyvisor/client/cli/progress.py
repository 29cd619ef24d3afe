"""A rich progress bar for uploads and downloads, on stderr (stdout stays for the result)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from polyvisor.client.images import Progress as ProgressCallback

__all__ = ["transfer_bar"]


class _Bar:
    def __init__(self, progress: Progress, task: TaskID, done_text: str) -> None:
        self._progress = progress
        self._task = task
        self._done_text = done_text
        self.last = (0, 0)

    def __call__(self, done: int, total: int) -> None:
        self.last = (done, total)
        self._progress.update(self._task, completed=done, total=total or None)
        if total and done >= total:
            self._progress.update(self._task, description=self._done_text)


@contextmanager
def transfer_bar(
    console: Console, label: str, done_text: str, *, enabled: bool = True
) -> Iterator[ProgressCallback]:
    """A progress callback drawing a bar while the block runs (a no-op when not enabled or
    when the console is not a terminal)."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not enabled or not console.is_terminal,
    )
    with progress:
        task = progress.add_task(label, total=None)
        yield _Bar(progress, task, done_text)
