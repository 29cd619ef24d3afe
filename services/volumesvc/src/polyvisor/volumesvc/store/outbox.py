"""The outbox: events written in the transaction of the change, published after it."""

from __future__ import annotations

from collections.abc import Sequence

from polyvisor.common.db import db_errors
from polyvisor.common.outbox import OutboxMessage
from polyvisor.volumesvc.store.rows import Queries


class OutboxQueries(Queries):
    async def outbox_batch(self, limit: int = 100) -> list[OutboxMessage]:
        with db_errors():
            rows = await self._pool.fetch(
                "SELECT seq, event_id, subject, payload FROM volume.outbox ORDER BY seq LIMIT $1",
                limit,
            )
        return [
            OutboxMessage(r["seq"], r["subject"], str(r["event_id"]), bytes(r["payload"]))
            for r in rows
        ]

    async def outbox_done(self, seqs: Sequence[int]) -> None:
        with db_errors():
            await self._pool.execute(
                "DELETE FROM volume.outbox WHERE seq = ANY($1::bigint[])", list(seqs)
            )
