"""All NATS of the network service: events encoded for the outbox, and the outbox publisher
putting them on `events.network.port.<id>` and `events.network.security_group.<id>` (stream
NETWORK_EVENTS)."""

from __future__ import annotations

from polyvisor.common.bus.client import Bus
from polyvisor.common.outbox import OutboxPublisher
from polyvisor.common.streams import (
    NETWORK_EVENTS,
    ensure_streams,
    network_port_subject,
    network_security_group_subject,
)
from polyvisor.networksvc.convert import group_event_to_pb, port_event_to_pb
from polyvisor.networksvc.events import NetworkEvent, PortEvent
from polyvisor.networksvc.store import Store

__all__ = ["encode_event", "ensure_events_stream", "outbox_publisher"]


def encode_event(event: NetworkEvent) -> tuple[str, bytes]:
    """(subject, serialised protobuf) of an event, as the store writes it to the outbox."""
    if isinstance(event, PortEvent):
        return network_port_subject(event.port.id), port_event_to_pb(event).SerializeToString()
    return (
        network_security_group_subject(event.security_group_id),
        group_event_to_pb(event).SerializeToString(),
    )


async def ensure_events_stream(bus: Bus) -> None:
    await ensure_streams(bus, NETWORK_EVENTS)


def outbox_publisher(store: Store, bus: Bus, poll_s: float) -> OutboxPublisher:
    return OutboxPublisher(
        store.outbox_batch, store.outbox_done, bus, stream=NETWORK_EVENTS.name, poll_s=poll_s
    )
