"""All NATS of the image service: the outbox publisher putting image events on
`events.image.<id>` (stream EVENTS).

Events are written to the outbox table in the same transaction as the change they describe;
the common publisher (`polyvisor.common.outbox`) publishes them in order and deletes them once
JetStream has acked. Delivery is at least once; the event id is the `Nats-Msg-Id`, so a repeat
within the stream's duplicate window is dropped by JetStream.
"""

from __future__ import annotations

from polyvisor.common.bus.client import Bus
from polyvisor.common.outbox import OutboxMessage, OutboxPublisher
from polyvisor.common.streams import EVENTS, ensure_streams, image_event_subject
from polyvisor.imagesvc.convert import event_to_pb
from polyvisor.imagesvc.store import Store

__all__ = ["EVENTS_STREAM", "ensure_events_stream", "image_subject", "outbox_publisher"]

EVENTS_STREAM = EVENTS.name
image_subject = image_event_subject


async def ensure_events_stream(bus: Bus) -> None:
    await ensure_streams(bus, EVENTS)


def outbox_publisher(store: Store, bus: Bus, poll_s: float = 1.0) -> OutboxPublisher:
    """The common outbox publisher, reading the image outbox."""

    async def fetch(limit: int) -> list[OutboxMessage]:
        return [
            OutboxMessage(
                seq=e.seq,
                subject=image_subject(e.event.image_id),
                msg_id=e.event.event_id,
                message=event_to_pb(e.event),
            )
            for e in await store.outbox_batch(limit)
        ]

    return OutboxPublisher(fetch, store.outbox_done, bus, stream=EVENTS_STREAM, poll_s=poll_s)
