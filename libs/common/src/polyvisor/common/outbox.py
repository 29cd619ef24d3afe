"""The transactional outbox's publishing half, for any service.

A service writes each event into an outbox table in the same transaction as the change it
describes; `OutboxPublisher` publishes them to JetStream in order and has them deleted once
the stream acked. Delivery is at least once; the message id (`Nats-Msg-Id`) lets JetStream
drop a repeat within its duplicate window. The service supplies two store calls and turns its
rows into messages:

    publisher = OutboxPublisher(store.outbox_batch, store.outbox_done, bus, stream="NETWORK")
    tasks.start("outbox", publisher.run())
    ...  # after a commit that wrote events:
    publisher.wake()

An outbox table with the columns ``seq, event_id, subject, payload`` needs no store code of
its own: `read_outbox` and `drop_outbox` are its two calls.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from polyvisor.common.bus.client import Bus
from polyvisor.common.db import db_errors
from polyvisor.common.errors import PolyvisorError
from polyvisor.common.logging import get_logger

__all__ = ["OutboxMessage", "OutboxPublisher", "drop_outbox", "read_outbox"]

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    seq: int
    subject: str
    msg_id: str
    message: Message | bytes


async def read_outbox(pool: Any, table: str, limit: int) -> list[OutboxMessage]:
    """The oldest ``limit`` rows of ``table`` (schema-qualified, a constant of the service:
    never from a request) as messages."""
    with db_errors():
        rows = await pool.fetch(
            f"SELECT seq, event_id, subject, payload FROM {table} ORDER BY seq LIMIT $1", limit
        )
    return [
        OutboxMessage(r["seq"], r["subject"], str(r["event_id"]), bytes(r["payload"])) for r in rows
    ]


async def drop_outbox(pool: Any, table: str, seqs: Sequence[int]) -> None:
    """Delete the published rows ``seqs`` of ``table``."""
    with db_errors():
        await pool.execute(f"DELETE FROM {table} WHERE seq = ANY($1::bigint[])", list(seqs))


class OutboxPublisher:
    """Owns nothing but its loop; run `run()` under the service's BackgroundTasks."""

    def __init__(
        self,
        fetch: Callable[[int], Awaitable[Sequence[OutboxMessage]]],
        done: Callable[[Sequence[int]], Awaitable[None]],
        bus: Bus,
        *,
        stream: str,
        poll_s: float = 1.0,
        batch: int = 100,
    ) -> None:
        self._fetch = fetch
        self._done = done
        self._bus = bus
        self._stream = stream
        self._poll_s = poll_s
        self._batch = batch
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        backoff = self._poll_s
        task = asyncio.current_task()
        while True:
            # Python 3.11's asyncio.wait_for returns normally when a cancel lands just as the
            # awaited thing completes (and wake() is called often): the cancel is then only
            # visible as task.cancelling(). Honour it here, and wait with asyncio.timeout.
            if task is not None and task.cancelling():
                raise asyncio.CancelledError
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff):
                    await self._wake.wait()
            self._wake.clear()
            try:
                while await self.publish_pending() == self._batch:
                    pass
                backoff = self._poll_s
            except (PolyvisorError, OSError) as e:
                if task is not None and task.cancelling():
                    # A cancel turned into an error on its way up (a library mapping it):
                    # stop, as asked, rather than retry.
                    raise asyncio.CancelledError from e
                backoff = min(backoff * 2, 30.0)
                log.warning("outbox publish failed; will retry", error=repr(e), retry_s=backoff)

    async def publish_pending(self) -> int:
        """Publish one batch in order; the number of entries it held."""
        entries = await self._fetch(self._batch)
        done: list[int] = []
        try:
            for entry in entries:
                await self._bus.publish(
                    entry.subject, entry.message, msg_id=entry.msg_id, stream=self._stream
                )
                done.append(entry.seq)
        finally:
            if done:
                try:
                    await self._done(done)
                except (PolyvisorError, OSError) as e:
                    # Never mask what is propagating (a cancel, a publish error): these entries
                    # are published again later and JetStream drops the repeats by msg id.
                    log.warning("outbox entries not marked published", error=repr(e))
        return len(entries)
