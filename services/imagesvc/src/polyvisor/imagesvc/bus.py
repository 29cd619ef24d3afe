"""All NATS of the image service: the outbox publisher putting image events on
`events.image.<id>` (stream EVENTS).

Events are written to the outbox table in the same transaction as the change they describe;
this loop publishes them in order and deletes them once JetStream has acked. Delivery is at
least once; the event id is the `Nats-Msg-Id`, so a repeat within the stream's duplicate
window is dropped by JetStream.
"""

from __future__ import annotations

import asyncio
import contextlib

from polyvisor.common.bus.client import Bus
from polyvisor.common.errors import PolyvisorError
from polyvisor.common.logging import get_logger
from polyvisor.common.streams import EVENTS, ensure_streams, image_event_subject
from polyvisor.imagesvc.convert import event_to_pb
from polyvisor.imagesvc.store import Store

__all__ = ["EVENTS_STREAM", "OutboxPublisher", "ensure_events_stream", "image_subject"]

log = get_logger(__name__)

EVENTS_STREAM = EVENTS.name
image_subject = image_event_subject


async def ensure_events_stream(bus: Bus) -> None:
    await ensure_streams(bus, EVENTS)


class OutboxPublisher:
    """Owns nothing but its loop; run `run()` under the service's BackgroundTasks."""

    def __init__(self, store: Store, bus: Bus, poll_s: float = 1.0, batch: int = 100) -> None:
        self._store = store
        self._bus = bus
        self._poll_s = poll_s
        self._batch = batch
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        backoff = self._poll_s
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), backoff)
            self._wake.clear()
            try:
                while await self.publish_pending() == self._batch:
                    pass
                backoff = self._poll_s
            except (PolyvisorError, OSError) as e:
                backoff = min(backoff * 2, 30.0)
                log.warning("outbox publish failed; will retry", error=repr(e), retry_s=backoff)

    async def publish_pending(self) -> int:
        entries = await self._store.outbox_batch(self._batch)
        done: list[int] = []
        try:
            for entry in entries:
                await self._bus.publish(
                    image_subject(entry.event.image_id),
                    event_to_pb(entry.event),
                    msg_id=entry.event.event_id,
                    stream=EVENTS_STREAM,
                )
                done.append(entry.seq)
        finally:
            if done:
                await self._store.outbox_done(done)
        return len(entries)
