"""The outbox: events written in the transaction of the change, published after it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg

from polyvisor.imagesvc.events import ImageEvent
from polyvisor.imagesvc.store.rows import (
    OutboxEntry,
    Queries,
    map_db_errors,
)


async def emit(conn: asyncpg.Connection, events: Sequence[ImageEvent]) -> None:
    """Queue `events` in the transaction of `conn` (the publisher sends them after commit)."""
    for e in events:
        await conn.execute(
            "INSERT INTO imagesvc.outbox (event_id, image_id, payload) VALUES ($1, $2, $3::jsonb)",
            uuid.UUID(e.event_id),
            uuid.UUID(e.image_id),
            e.to_json(),
        )


@map_db_errors
class OutboxQueries(Queries):
    async def outbox_batch(self, limit: int = 100) -> list[OutboxEntry]:
        rows = await self._pool.fetch(
            "SELECT seq, payload FROM imagesvc.outbox ORDER BY seq LIMIT $1", limit
        )
        return [OutboxEntry(r["seq"], ImageEvent.from_json(r["payload"])) for r in rows]

    async def outbox_done(self, seqs: Sequence[int]) -> None:
        await self._pool.execute(
            "DELETE FROM imagesvc.outbox WHERE seq = ANY($1::bigint[])", list(seqs)
        )
