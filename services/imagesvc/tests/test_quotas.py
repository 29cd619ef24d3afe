"""What renditions may cost a project: stored bytes and conversion time, and conversions that
stop when their image is deleted (here or on another replica).

qemu-img here is a wrapper around the real one: for `convert` it records its pid, writes a
first MiB into the target (a partial file, as a running conversion has), then waits for the
gate file to exist before exec'ing the real qemu-img (same pid). With the gate closed a
conversion is held "in progress" for as long as a test needs, without depending on speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from imagesvc_client import Client, Service, running_service
from imagesvc_forge import Forge, qemu_img

from polyvisor.common.db import close_pool, create_pool
from polyvisor.common.interceptors import error_details
from polyvisor.image.v1 import images_pb2 as pb
from polyvisor.imagesvc.app import SCHEMA
from polyvisor.imagesvc.model import RenditionKey
from polyvisor.imagesvc.store import Store
from polyvisor.types.v1 import disk_pb2

MiB = 1 << 20
GiB = 1 << 30
QUOTA = 40 * MiB
STREAM_OPTIMIZED = disk_pb2.VMWARE_DISK_TYPE_STREAM_OPTIMIZED


def write_gated_qemu_img(path: Path, gate: Path, pids: Path) -> None:
    real = shutil.which("qemu-img")
    assert real
    path.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = convert ]; then\n'
        f'  echo $$ >> "{pids}"\n'
        "  for last; do :; done\n"
        '  head -c 1048576 /dev/zero > "$last"\n'
        f'  while [ ! -e "{gate}" ]; do sleep 0.05; done\n'
        "fi\n"
        f'exec "{real}" "$@"\n'
    )
    path.chmod(0o755)


class Gated:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.gate = root / "gate"
        self.pids = root / "convert.pids"
        self.binary = root / "gated-qemu-img"
        write_gated_qemu_img(self.binary, self.gate, self.pids)
        self.open()

    def open(self) -> None:
        self.gate.touch()

    def close(self) -> None:
        self.gate.unlink(missing_ok=True)

    def started(self) -> list[int]:
        if not self.pids.exists():
            return []
        return [int(x) for x in self.pids.read_text().split()]

    async def wait_started(self, count: int, within: float = 20.0) -> int:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while len(self.started()) < count:
            assert loop.time() < deadline, "the conversion never started"
            await asyncio.sleep(0.05)
        return self.started()[count - 1]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped) is not running.
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ", 1)[1][0] != "Z"
    return False


async def until(predicate, within: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        assert loop.time() < deadline
        await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> Gated:
    return Gated(tmp_path_factory.mktemp("gated"))


@pytest.fixture(scope="module")
async def tight(
    pg_url: str, nats_url: str, tmp_path_factory: pytest.TempPathFactory, gated: Gated
) -> AsyncIterator[Service]:
    """Projects may store QUOTA bytes; virtual sizes up to 8 GiB are accepted."""
    async with running_service(
        pg_url,
        nats_url,
        tmp_path_factory.mktemp("imagesvc-tight"),
        qemu_img=gated.binary,
        server_id=f"imagesvc-tight-{uuid.uuid4().hex[:6]}",
        max_virtual_size=8 * GiB,
        project_max_stored_bytes=QUOTA,
    ) as svc:
        yield svc


def project() -> str:
    return f"proj-{uuid.uuid4().hex[:8]}"


async def rpc_error(coro) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await coro
    return info.value


async def rendition_request(client: Client, image_id: str, disk_format: int, disktype: int = 0):
    return await client.stub.CreateRendition(
        pb.CreateRenditionRequest(
            image_id=image_id, disk_format=disk_format, vmware_disktype=disktype
        ),
        metadata=client.metadata,
    )


def sparse_qcow2(forge: Forge, virtual: str) -> Path:
    p = forge.root / f"sparse-{uuid.uuid4().hex[:6]}.qcow2"
    qemu_img("create", "-f", "qcow2", str(p), virtual)
    return p


def no_path(text: str, svc: Service) -> None:
    assert str(svc.root) not in text and "/tmp/" not in text


async def test_raw_rendition_costs_its_virtual_size_against_the_quota(
    tight: Service, forge: Forge, gated: Gated
) -> None:
    """A 200 KiB qcow2 of 4 GiB virtual size: uploading it costs 200 KiB; its raw rendition
    (4 GiB to store and to stream) is refused before any work, as the quota cannot hold it;
    a compact vmdk rendition of it fits and is made."""
    alice = tight.client(project())
    path = sparse_qcow2(forge, "4G")
    assert path.stat().st_size < 256 * 1024
    image = await alice.create("qcow2")
    await alice.upload(image.id, path)
    before = len(gated.started())

    err = await rpc_error(alice.download(image.id, "raw"))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "rule stored-bytes-quota" in err.details()
    assert str(4 * GiB) in err.details() and str(QUOTA) in err.details()
    assert error_details(err.trailing_metadata())["quota"] == "stored-bytes-quota"
    no_path(err.details(), tight)
    err = await rpc_error(rendition_request(alice, image.id, disk_pb2.DISK_FORMAT_RAW))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert len(gated.started()) == before, "qemu-img ran for a refused rendition"
    assert tight.stray_temp_files() == []

    vmdk = await alice.download(image.id, "vmdk", STREAM_OPTIMIZED)
    assert vmdk.metadata.rendition.virtual_size == 4 * GiB
    assert len(vmdk.data) < MiB


async def test_a_conversion_stops_at_what_the_quota_has_left(tight: Service, forge: Forge) -> None:
    """A raw image of 24 MiB of real data leaves 16 MiB of a 40 MiB quota; its qcow2
    rendition (about 24 MiB) is cut off by the kernel's file size limit at those 16 MiB."""
    alice = tight.client(project())
    image = await alice.create("raw")
    await alice.upload(image.id, forge.raw(24 * MiB))

    err = await rpc_error(alice.download(image.id, "qcow2"))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "rule stored-bytes-quota" in err.details()
    assert "grew past" in err.details()
    no_path(err.details(), tight)
    renditions = {
        r.disk_format: r
        for r in (
            await alice.stub.ListRenditions(
                pb.ListRenditionsRequest(image_id=image.id), metadata=alice.metadata
            )
        ).renditions
    }
    failed = renditions[disk_pb2.DISK_FORMAT_QCOW2]
    assert failed.status == pb.RENDITION_STATUS_FAILED
    assert "rule stored-bytes-quota" in failed.status_message
    assert tight.stray_temp_files() == []
    assert [p.name.split("-")[0] for p in tight.image_files(image.id)] == ["raw"]


async def test_an_upload_past_the_quota_is_refused_and_the_image_stays_queued(
    tight: Service, forge: Forge
) -> None:
    alice = tight.client(project())
    data = forge.raw(QUOTA + MiB).read_bytes()
    announced = await alice.create("raw")
    err = await rpc_error(alice.upload(announced.id, data, size=len(data)))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "rule stored-bytes-quota" in err.details()
    unannounced = await alice.create("raw")
    err = await rpc_error(alice.upload(unannounced.id, data))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    for image_id in (announced.id, unannounced.id):
        assert (await alice.get(image_id)).status == pb.IMAGE_STATUS_QUEUED
        assert tight.image_files(image_id) == []
    assert tight.stray_temp_files() == []
    # Another project's quota is its own.
    bob = tight.client(project())
    image = await bob.create("raw")
    assert (await bob.upload(image.id, data[: 8 * MiB])).status == pb.IMAGE_STATUS_ACTIVE


async def test_deleting_the_image_kills_its_conversion(
    tight: Service, forge: Forge, gated: Gated
) -> None:
    alice = tight.client(project())
    image = await alice.create("raw")
    await alice.upload(image.id, forge.raw(4 * MiB))
    gated.close()
    try:
        started = len(gated.started())
        waiting = asyncio.create_task(alice.download(image.id, "qcow2"))
        pid = await gated.wait_started(started + 1)
        await until(lambda: len(tight.stray_temp_files()) == 1)  # the partial output
        assert alive(pid)
        await alice.delete(image.id)
        # At once: qemu-img killed, the partial file removed, the waiter told.
        assert not alive(pid)
        assert tight.stray_temp_files() == []
        err = await rpc_error(waiting)
        assert err.code() == grpc.StatusCode.NOT_FOUND
        assert "deleted" in err.details()
    finally:
        gated.open()


async def test_deleting_on_another_replica_kills_the_conversion(
    tight: Service,
    forge: Forge,
    gated: Gated,
    pg_url: str,
    nats_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The conversion runs on a second replica (same database and store); the delete goes
    to the first. The converting replica's heartbeat finds its claim gone and stops."""
    alice = tight.client(project())
    image = await alice.create("raw")
    await alice.upload(image.id, forge.raw(4 * MiB))
    gated.close()
    try:
        async with running_service(
            pg_url,
            nats_url,
            tmp_path_factory.mktemp("imagesvc-replica"),
            qemu_img=gated.binary,
            server_id=f"imagesvc-replica-{uuid.uuid4().hex[:6]}",
            store_dir=tight.store_dir,
            max_virtual_size=8 * GiB,
            project_max_stored_bytes=QUOTA,
        ) as replica:
            # The replica trusts its own signing key: a client of it.
            on_replica = replica.client(alice.project)
            started = len(gated.started())
            await rendition_request(on_replica, image.id, disk_pb2.DISK_FORMAT_QCOW2)
            pid = await gated.wait_started(started + 1)
            assert alive(pid)
            await alice.delete(image.id)
            await until(lambda: not alive(pid), within=10)
            await until(lambda: tight.stray_temp_files() == [], within=10)
    finally:
        gated.open()


async def test_conversion_time_quota(
    pg_url: str,
    nats_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    forge: Forge,
    gated: Gated,
) -> None:
    """A project with 2 s of conversion time an hour: a conversion held past it is killed
    with RESOURCE_EXHAUSTED, and the next one is refused before it starts."""
    async with running_service(
        pg_url,
        nats_url,
        tmp_path_factory.mktemp("imagesvc-timed"),
        qemu_img=gated.binary,
        server_id=f"imagesvc-timed-{uuid.uuid4().hex[:6]}",
        project_conversion_seconds=2.0,
    ) as timed:
        alice = timed.client(project())
        image = await alice.create("raw")
        await alice.upload(image.id, forge.raw(2 * MiB))
        gated.close()
        try:
            started = len(gated.started())
            err = await rpc_error(alice.download(image.id, "qcow2"))
            assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "rule conversion-time-quota" in err.details()
            pid = await gated.wait_started(started + 1)
            assert not alive(pid)
            assert timed.stray_temp_files() == []
        finally:
            gated.open()
        err = await rpc_error(alice.download(image.id, "vmdk", STREAM_OPTIMIZED))
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "rule conversion-time-quota" in err.details()
        assert len(gated.started()) == started + 1
        # The time is spent even though the image is deleted.
        await alice.delete(image.id)
        pool = await create_pool(pg_url, SCHEMA)
        try:
            used = await Store(pool).conversion_seconds_used(alice.project, 3600)
        finally:
            await close_pool(pool)
        assert used >= 2.0


async def test_reservations_never_pass_the_quota(tight: Service, pg_url: str) -> None:
    """Two replicas reserving for one project at once: the advisory lock serialises them."""
    pool = await create_pool(pg_url, SCHEMA)
    try:
        store = Store(pool)
        alice = tight.client(project())
        keys = [RenditionKey("raw"), RenditionKey("qcow2")]
        images = [await alice.create("raw") for _ in keys]
        for image in images:
            await pool.execute(
                "UPDATE imagesvc.images SET status = 'active' WHERE id = $1",
                uuid.UUID(image.id),
            )
        claims = []
        for i, (image, key) in enumerate(zip(images, keys, strict=True)):
            claimed, _ = await store.claim_rendition(image.id, key, f"replica-{i}", 60)
            assert claimed
            claims.append((image, key, f"replica-{i}"))
        results = await asyncio.gather(
            *(
                store.reserve_rendition_bytes(
                    image.id,
                    key,
                    owner,
                    project=alice.project,
                    quota=QUOTA,
                    want=30 * MiB,
                    at_least=30 * MiB,
                )
                for image, key, owner in claims
            )
        )
        reserved = sorted(r for r, _left in results)
        assert reserved == [0, 30 * MiB]
        assert await store.project_stored_bytes(alice.project) == 30 * MiB
    finally:
        await close_pool(pool)


async def test_a_refused_upload_reports_its_reason_every_time(tight: Service) -> None:
    """The refusal comes while the client still sends: it must read the reason, not INTERNAL.

    grpc.aio turns a write that fails after the server ended the call into INTERNAL
    (grpc/grpc#36066); the service reads the rest of a refused upload within a bound so the
    sender half-closes and gets the real status.
    """
    alice = tight.client(project())
    data = b"\0" * (8 * MiB)
    codes = []
    for _ in range(40):
        image = await alice.create("raw")
        sent = alice.requests(image.id, data, size=QUOTA + MiB, chunk=16 * 1024)
        err = await rpc_error(alice.stub.UploadImage(sent, metadata=alice.metadata))
        codes.append(err.code())
    assert codes == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 40
