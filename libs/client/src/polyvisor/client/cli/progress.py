"""Progress on stderr (stdout stays for the result): a rich bar for uploads and downloads, and
the line that says where a server is while a `--wait` waits."""

from __future__ import annotations

import time
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

from polyvisor.client import enums
from polyvisor.client.images import Progress as ProgressCallback
from polyvisor.compute.v1 import servers_pb2

__all__ = ["ProgressLine", "transfer_bar"]


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


class ProgressLine:
    """`server <name>: <STATE> (<task>) 12s` on stderr, rewritten in place on a terminal,
    one line per change otherwise."""

    def __init__(self, console: Console, name: str) -> None:
        self.console = console
        self.name = name
        self.started = time.monotonic()
        self.last = ""

    def __call__(self, server: servers_pb2.Server) -> None:
        state = enums.display(enums.SERVER_STATE, server.state)
        task = enums.display(enums.SERVER_TASK, server.task)
        text = f"server {self.name}: {state}" + (f" ({task})" if task not in ("", "NONE") else "")
        if text == self.last and not self.console.is_terminal:
            return
        self.last = text
        elapsed = f"{time.monotonic() - self.started:.0f}s"
        if self.console.is_terminal:
            self.console.print(f"\r{text} {elapsed}", end="", markup=False, highlight=False)
        else:
            self.console.print(f"{text} {elapsed}", markup=False, highlight=False)

    def done(self) -> None:
        if self.console.is_terminal and self.last:
            self.console.print("")
