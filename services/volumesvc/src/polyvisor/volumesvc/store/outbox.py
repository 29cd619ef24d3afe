"""The outbox: events written in the transaction of the change, published after it."""

from __future__ import annotations

from collections.abc import Sequence

from polyvisor.common.outbox import OutboxMessage, drop_outbox, read_outbox
from polyvisor.volumesvc.store.rows import Queries


class OutboxQueries(Queries):
    async def outbox_batch(self, limit: int = 100) -> list[OutboxMessage]:
        return await read_outbox(self._pool, "volume.outbox", limit)

    async def outbox_done(self, seqs: Sequence[int]) -> None:
        await drop_outbox(self._pool, "volume.outbox", seqs)
