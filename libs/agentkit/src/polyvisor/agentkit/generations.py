"""Which command generations this agent has applied, per server (idempotency).

    book = GenerationBook(Path(".../state/generations.json"))
    book.load()
    verdict = book.check(command)       # APPLY, STALE (older generation) or DUPLICATE
    ...                                  # apply it
    book.record(command, applied=True)   # then remember it (journalled to disk)

A command whose generation is lower than one already applied to its server is stale: a newer
command overtook it (a redelivery after a crash, a late retry) and applying it would roll the
server back. A command id already applied is a duplicate. Generation 0 means "unversioned"
and is never stale. The book survives restarts through an append-only journal, compacted now and then.
"""

from __future__ import annotations

import enum
import json
import os
from collections import OrderedDict
from pathlib import Path

from polyvisor.agentkit.commands import Command
from polyvisor.common.logging import get_logger

__all__ = ["GenerationBook", "Verdict"]

log = get_logger(__name__)


class Verdict(enum.StrEnum):
    APPLY = "apply"
    STALE = "stale"
    DUPLICATE = "duplicate"


class GenerationBook:
    """In memory, journalled to ``path`` (one JSON line per applied command, compacted)."""

    def __init__(self, path: Path | None = None, *, remember_ids: int = 10_000) -> None:
        self.path = path
        self.remember_ids = remember_ids
        self._applied: dict[str, int] = {}
        self._done: OrderedDict[str, None] = OrderedDict()
        self._journal_lines = 0

    def load(self) -> None:
        if self.path is None:
            return
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return
        for line in text.splitlines():
            try:
                item = json.loads(line)
                self._apply(str(item["s"]), int(item["g"]), str(item.get("c", "")))
            except (ValueError, KeyError, TypeError):
                log.warning("generation journal: skipping a torn line", path=str(self.path))
        self._compact()

    def check(self, command: Command) -> Verdict:
        if command.command_id and command.command_id in self._done:
            return Verdict.DUPLICATE
        applied = self._applied.get(command.server_id, 0)
        if command.generation and command.generation < applied:
            return Verdict.STALE
        return Verdict.APPLY

    def applied(self, server_id: str) -> int:
        return self._applied.get(server_id, 0)

    def record(self, command: Command, *, applied: bool = True) -> None:
        """Remember the command id; and its generation when it was applied (succeeded).

        A failed command does not advance the server's generation: an older command that
        overtook it on redelivery (a spawn behind a power off) must still run."""
        generation = command.generation if applied else 0
        self._apply(command.server_id, generation, command.command_id)
        if self.path is None:
            return
        line = json.dumps({"s": command.server_id, "g": generation, "c": command.command_id})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as fh:
            fh.write(line + "\n")
        self._journal_lines += 1
        if self._journal_lines > 2 * (len(self._applied) + self.remember_ids):
            self._compact()

    def _apply(self, server_id: str, generation: int, command_id: str) -> None:
        if generation > self._applied.get(server_id, 0):
            self._applied[server_id] = generation
        if command_id:
            self._done[command_id] = None
            self._done.move_to_end(command_id)
            while len(self._done) > self.remember_ids:
                self._done.popitem(last=False)

    def _compact(self) -> None:
        """Rewrite the journal as one line per server plus the remembered command ids."""
        if self.path is None:
            return
        lines = [json.dumps({"s": s, "g": g, "c": ""}) for s, g in self._applied.items()]
        lines += [json.dumps({"s": "", "g": 0, "c": c}) for c in self._done]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(line + "\n" for line in lines))
        os.replace(tmp, self.path)
        self._journal_lines = len(lines)
