"""Deadlines: a loop that finds servers whose transitional state is overdue and applies
`lifecycle.plan_timeout` (fail the build and clean up, retry the command, or fail visibly).
Replicas share the work: each overdue row is taken with FOR UPDATE SKIP LOCKED."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from polyvisor.api import lifecycle, outcomes
from polyvisor.api.metrics import DEADLINES_PASSED
from polyvisor.api.store import actions, changes, consoles
from polyvisor.api.store import servers as server_store
from polyvisor.api.store.db import Pool
from polyvisor.common.db import db_errors
from polyvisor.common.errors import Unavailable
from polyvisor.common.logging import get_logger

log = get_logger(__name__)


class Reaper:
    def __init__(
        self,
        pool: Pool,
        deadlines: lifecycle.Deadlines,
        *,
        interval_s: float = 2.0,
        change_retention_s: float = 7 * 24 * 3600.0,
        action_retention_s: float = 30 * 24 * 3600.0,
        wake_outbox: Callable[[], None] = lambda: None,
    ) -> None:
        self.pool = pool
        self.deadlines = deadlines
        self.interval_s = interval_s
        self.change_retention_s = change_retention_s
        self.action_retention_s = action_retention_s
        self.wake_outbox = wake_outbox

    async def run(self) -> None:
        housekeeping_every = max(1, int(60 / self.interval_s))
        n = 0
        while True:
            try:
                await self.sweep()
                if n % housekeeping_every == 0:
                    await self.housekeeping()
            except Unavailable as e:
                log.warning("reaper pass failed", error=str(e))
            except Exception:
                log.exception("reaper pass crashed")
            n += 1
            await asyncio.sleep(self.interval_s)

    async def sweep(self) -> int:
        """One pass; the number of servers acted on."""
        with db_errors():
            overdue = await server_store.overdue_ids(self.pool, 200)
        done = 0
        for server_id in overdue:
            with db_errors():
                async with self.pool.acquire() as conn, conn.transaction():
                    server = await server_store.lock_if_overdue(conn, server_id)
                    if server is None:
                        continue  # another replica has it, or it moved on
                    out = lifecycle.plan_timeout(server, datetime.now(UTC), self.deadlines)
                    if out.noop:
                        if server.task_deadline is not None and not server.transitional:
                            # A deadline left behind: cleared, so the row is not read again.
                            await server_store.save(
                                conn, server, lifecycle.Change(task_deadline=None)
                            )
                        continue
                    updated = await outcomes.apply(conn, server, out)
            DEADLINES_PASSED.labels(server.task).inc()
            done += 1
            log.warning(
                "deadline passed",
                server_id=server_id,
                state=updated.state,
                task=updated.task,
                fault=updated.fault.message if updated.fault else "",
            )
        if done:
            self.wake_outbox()
        return done

    async def housekeeping(self) -> None:
        with db_errors():
            async with self.pool.acquire() as conn:
                pruned = await changes.prune(conn, self.change_retention_s)
                expired = await consoles.prune(conn)
                history = await actions.prune(conn, self.action_retention_s)
        if pruned or expired or history:
            log.info("pruned", changes=pruned, console_tokens=expired, actions=history)
