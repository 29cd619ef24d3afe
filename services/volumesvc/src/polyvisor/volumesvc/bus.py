"""All NATS of the volume service: its events, encoded for the outbox and published on
`events.volume.<volume_id>` (stream VOLUME_EVENTS) by the outbox publisher."""

from __future__ import annotations

from polyvisor.common.bus.client import Bus
from polyvisor.common.outbox import OutboxPublisher
from polyvisor.common.streams import VOLUME_EVENTS, ensure_streams, volume_subject
from polyvisor.volumesvc.convert import event_to_pb
from polyvisor.volumesvc.model import Volume
from polyvisor.volumesvc.store import Store

__all__ = ["encode_event", "ensure_events_stream", "outbox_publisher"]


def encode_event(kind: str, volume: Volume, snapshot_id: str, server_id: str) -> tuple[str, bytes]:
    pb = event_to_pb(kind, volume, snapshot_id, server_id)
    return volume_subject(volume.id), pb.SerializeToString()


async def ensure_events_stream(bus: Bus) -> None:
    await ensure_streams(bus, VOLUME_EVENTS)


def outbox_publisher(store: Store, bus: Bus, poll_s: float) -> OutboxPublisher:
    return OutboxPublisher(
        store.outbox_batch, store.outbox_done, bus, stream=VOLUME_EVENTS.name, poll_s=poll_s
    )
