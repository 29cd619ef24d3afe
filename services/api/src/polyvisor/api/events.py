"""Applying agents' events to servers.

Each event is applied in one transaction under the server's row lock, through the pure state
machine (`lifecycle.events`): stale generations and events that do not answer the
state in flight change nothing, so duplicates and late command answers are harmless.

Reordering is not harmless for what agents merely observe: within one generation a power-off
seen just before a power-on must not be applied after it. The consumer hands one server's
events over in the order they were published (`keyed_queue`, the fast path), and the row
records the newest observation applied (`store.observations`), so an older one that arrives
late anyway (a redelivery after a nak, or the other api replica) is ignored. The row lock and
that record are what hold the order across replicas sharing the durable consumer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from polyvisor.api import lifecycle, outcomes
from polyvisor.api import models as m
from polyvisor.api.metrics import EVENTS_APPLIED
from polyvisor.api.store import observations
from polyvisor.api.store.db import Pool
from polyvisor.common.db import db_errors
from polyvisor.common.logging import get_logger

log = get_logger(__name__)


class EventApplier:
    def __init__(
        self,
        pool: Pool,
        deadlines: lifecycle.Deadlines,
        wake_outbox: Callable[[], None] = lambda: None,
    ) -> None:
        self.pool = pool
        self.deadlines = deadlines
        self.wake_outbox = wake_outbox

    async def apply(self, ev: lifecycle.AgentEvent) -> m.Server | None:
        """Apply one event; the server after it (None: unknown server or nothing changed)."""
        with db_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                server, observed = await observations.lock_server(conn, ev.server_id)
                if server is None:
                    log.info("event for an unknown server ignored", server_id=ev.server_id)
                    return None
                out = lifecycle.apply_event(server, ev, datetime.now(UTC), self.deadlines, observed)
                if out.observed is not None:
                    recorded = await observations.record(conn, ev.server_id, out.observed)
                    if not recorded and ev.kind in lifecycle.OBSERVATIONS:
                        # Cannot happen under the row lock; the row's own guard says no.
                        out = lifecycle.Outcome(ignored="a newer observation is recorded")
                if out.noop:
                    EVENTS_APPLIED.labels(ev.kind.value or "UNKNOWN", "ignored").inc()
                    log.debug(
                        "event changes nothing",
                        server_id=ev.server_id,
                        kind=ev.kind,
                        generation=ev.generation,
                        reason=out.ignored,
                    )
                    return None
                updated = await outcomes.apply(conn, server, out)
        EVENTS_APPLIED.labels(ev.kind.value, "applied").inc()
        log.info(
            "event applied",
            server_id=ev.server_id,
            kind=ev.kind,
            generation=ev.generation,
            state=updated.state,
            task=updated.task,
        )
        if out.work:
            self.wake_outbox()
        return updated
