"""WatchServers: a replay (or a resume from a revision) followed by live changes.

Live changes are read from the change log itself: a watcher sleeps until a NOTIFY on
`api_server_changes` (any replica's commit) wakes it, then reads every entry above the last
revision it sent. A missed wake-up only costs the safety poll period; nothing is skipped,
since revisions commit in order (see store.servers)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from polyvisor.api import models as m
from polyvisor.api.errors import OutOfRange
from polyvisor.api.store import changes
from polyvisor.api.store.db import Pool
from polyvisor.common.db import db_errors

BATCH = 500


@dataclass(frozen=True, slots=True)
class Synced:
    """The replay is complete; from here on every item is a live change."""

    revision: int


class ChangeFeed:
    def __init__(self, pool: Pool, poll_s: float = 5.0) -> None:
        self.pool = pool
        self.poll_s = poll_s
        self._waiters: dict[str | None, set[asyncio.Event]] = {}
        self._closed = False

    def close(self) -> None:
        """End every open watch (at the start of a drain). Idempotent."""
        self._closed = True
        self.notify(None)

    def notify(self, project_id: str | None = None) -> None:
        """Wake the watchers of a project (None: every watcher)."""
        if project_id is None:
            targets = [e for events in self._waiters.values() for e in events]
        else:
            targets = [*self._waiters.get(project_id, ()), *self._waiters.get(None, ())]
        for e in targets:
            e.set()

    @property
    def watchers(self) -> int:
        return sum(len(v) for v in self._waiters.values())

    async def watch(
        self, scope: str | None, from_revision: int, server_id: str = ""
    ) -> AsyncIterator[m.ServerChange | Synced]:
        wake = asyncio.Event()
        self._waiters.setdefault(scope, set()).add(wake)
        try:
            if from_revision <= 0:
                with db_errors():
                    async with (
                        self.pool.acquire() as conn,
                        conn.transaction(isolation="repeatable_read", readonly=True),
                    ):
                        servers, last = await changes.snapshot(conn, scope, server_id)
                for s in servers:
                    yield m.ServerChange(s.revision, "CREATED", s)
                yield Synced(last)
            else:
                with db_errors():
                    horizon = await changes.horizon(self.pool, scope)
                if from_revision < horizon:
                    raise OutOfRange(
                        f"revision {from_revision} is older than the retained history "
                        f"(oldest resumable: {horizon}); watch again from 0",
                        {"horizon": horizon},
                    )
                last = from_revision
            while not self._closed:
                wake.clear()
                with db_errors():
                    batch = await changes.after(self.pool, scope, last, server_id, BATCH)
                for c in batch:
                    last = c.revision
                    yield c
                if len(batch) == BATCH:
                    continue
                try:
                    await asyncio.wait_for(wake.wait(), self.poll_s)
                except TimeoutError:
                    pass
        finally:
            waiters = self._waiters.get(scope)
            if waiters is not None:
                waiters.discard(wake)
                if not waiters:
                    del self._waiters[scope]
