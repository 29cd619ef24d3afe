"""Events on NATS, and the database guards that hold across replicas."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest
from imagesvc_client import Service
from imagesvc_forge import Forge

from polyvisor.common.bus.client import Bus
from polyvisor.common.bus.subjects import subject_token
from polyvisor.common.db import close_pool, create_pool
from polyvisor.common.lifespan import serve
from polyvisor.events.v1 import image_events_pb2 as ev
from polyvisor.image.v1 import images_pb2 as pb
from polyvisor.imagesvc.app import SCHEMA, lifespan
from polyvisor.imagesvc.model import RenditionKey, RenditionStatus
from polyvisor.imagesvc.store import Store
from polyvisor.types.v1 import disk_pb2
from tests.support.services import free_port, wait_serving


async def collect_events(
    nats_url: str, image_id: str, kinds: set[int], within: float = 15.0
) -> list[ev.ImageEvent]:
    bus = await Bus.connect(nats_url, name="imagesvc-events-test", connect_timeout=10)
    durable = f"t-{uuid.uuid4().hex[:10]}"
    consumer = await bus.pull_consumer(
        "EVENTS", durable=durable, filter_subject=f"events.image.{subject_token(image_id)}"
    )
    seen: list[ev.ImageEvent] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not kinds <= {e.kind for e in seen} and loop.time() < deadline:
            for m in await consumer.fetch(10, timeout=1.0):
                seen.append(m.parse(ev.ImageEvent))
                await m.ack()
    finally:
        await consumer.close()
        await bus.delete_consumer("EVENTS", durable)
        await bus.close()
    return seen


async def test_lifecycle_events_reach_nats(service: Service, forge: Forge, nats_url: str) -> None:
    alice = service.client("alice")
    image = await alice.create("qcow2")
    await alice.upload(image.id, forge.qcow2())
    got = await alice.download(image.id, "vmdk", disk_pb2.VMWARE_DISK_TYPE_STREAM_OPTIMIZED)
    await alice.delete(image.id)
    events = await collect_events(
        nats_url,
        image.id,
        {
            ev.IMAGE_EVENT_KIND_CREATED,
            ev.IMAGE_EVENT_KIND_ACTIVATED,
            ev.IMAGE_EVENT_KIND_RENDITION_READY,
            ev.IMAGE_EVENT_KIND_DELETED,
        },
    )
    kinds = [e.kind for e in events]
    assert kinds == [
        ev.IMAGE_EVENT_KIND_CREATED,
        ev.IMAGE_EVENT_KIND_ACTIVATED,
        ev.IMAGE_EVENT_KIND_RENDITION_READY,
        ev.IMAGE_EVENT_KIND_DELETED,
    ]
    assert all(e.image_id == image.id and e.owner == "alice" for e in events)
    ready = events[2]
    assert (ready.disk_format, ready.vmware_disktype) == (
        disk_pb2.DISK_FORMAT_VMDK,
        disk_pb2.VMWARE_DISK_TYPE_STREAM_OPTIMIZED,
    )
    assert ready.sha256 == got.sha256

    killed = await alice.create("raw")
    with pytest.raises(Exception):  # noqa: B017 - the refusal itself is tested elsewhere
        await alice.upload(killed.id, forge.qcow2())
    events = await collect_events(nats_url, killed.id, {ev.IMAGE_EVENT_KIND_KILLED})
    assert events[-1].kind == ev.IMAGE_EVENT_KIND_KILLED
    assert "format-mismatch" in events[-1].message


# --------------------------------------------------------------------------- replicas


@pytest.fixture(scope="module")
async def replica(service: Service) -> AsyncIterator[str]:
    """A second image service process-alike on the same database and store."""
    port = free_port()
    settings = service.settings.model_copy(
        update={"grpc_port": port, "server_id": f"imagesvc-replica-{os.getpid()}"}
    )
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, lifespan, stop, handle_signals=False))
    address = f"127.0.0.1:{port}"
    try:
        await wait_serving(address, timeout=30)
        yield address
    finally:
        stop.set()
        assert await task == 0


async def test_two_replicas_convert_a_rendition_once(
    service: Service, replica: str, forge: Forge
) -> None:
    import grpc

    from polyvisor.image.v1 import image_service_pb2_grpc as svc_grpc

    alice = service.client("alice")
    image = await alice.create("qcow2")
    await alice.upload(image.id, forge.qcow2(size=24 * 1024 * 1024))
    before = service.conversions()
    async with grpc.aio.insecure_channel(replica) as channel:
        other = service.client("alice")
        other.stub = svc_grpc.ImageServiceStub(channel)
        results = await asyncio.gather(
            alice.download(image.id, "vmdk", disk_pb2.VMWARE_DISK_TYPE_SPARSE),
            other.download(image.id, "vmdk", disk_pb2.VMWARE_DISK_TYPE_SPARSE),
            alice.download(image.id, "vmdk", disk_pb2.VMWARE_DISK_TYPE_SPARSE),
            other.download(image.id, "vmdk", disk_pb2.VMWARE_DISK_TYPE_SPARSE),
        )
    assert service.conversions() - before == 1
    assert len({r.sha256 for r in results}) == 1


async def test_claims_are_conditional_in_the_database(service: Service, forge: Forge) -> None:
    alice = service.client("alice")
    queued = await alice.create("raw")
    active = await alice.create("raw")
    await alice.upload(active.id, forge.raw())
    pool = await create_pool(service.settings.database_url, SCHEMA, max_size=2)
    try:
        store = Store(pool)
        # Upload: queued -> saving once; the loser is refused.
        assert await store.claim_upload(queued.id, "replica-a")
        assert not await store.claim_upload(queued.id, "replica-b")
        assert not await store.release_upload(queued.id, "replica-b", "not mine")
        assert await store.release_upload(queued.id, "replica-a", "done")
        # Rendition: one claim wins; a lapsed claim is taken over; a finished one is final.
        key = RenditionKey("qcow2")
        won, row = await store.claim_rendition(active.id, key, "replica-a", 60)
        assert won and row is not None and row.status is RenditionStatus.PENDING
        lost, row = await store.claim_rendition(active.id, key, "replica-b", 60)
        assert not lost and row is not None and row.status is RenditionStatus.PENDING
        await asyncio.sleep(0.05)
        took, _ = await store.claim_rendition(active.id, key, "replica-b", 0.01)
        assert took
        assert not await store.rendition_progress(active.id, key, "replica-a")
        done = await store.finish_rendition(
            active.id, key, "replica-a", size=1, virtual_size=1, sha256="x", location="",
            events_for=lambda r: [],
        )  # fmt: skip
        assert done is None  # replica-a lost its claim
        # No rendition of an image that is not active.
        none, row = await store.claim_rendition(queued.id, key, "replica-a", 60)
        assert not none and row is None
        # An upload whose process stopped beating is given back to queued by the reaper.
        assert await store.claim_upload(queued.id, "dead-replica")
        assert queued.id not in await store.requeue_stale_uploads(60)
        await asyncio.sleep(0.05)
        assert queued.id in await store.requeue_stale_uploads(0.01)
        assert (await alice.get(queued.id)).status == pb.IMAGE_STATUS_QUEUED
    finally:
        await close_pool(pool)
