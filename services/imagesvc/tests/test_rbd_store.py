"""The RBD image store on the one-node Ceph: two replicas of the image service, each with
only a scratch directory of its own, behind one address, share every image."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from imagesvc_client import Service, running_service
from imagesvc_forge import Forge

from polyvisor.common.lifespan import serve
from polyvisor.image.v1 import image_service_pb2_grpc as svc_grpc
from polyvisor.imagesvc.app import lifespan
from tests.fixtures.ceph import CephCluster
from tests.support.services import free_port, wait_serving

MiB = 1 << 20


@dataclass
class RoundRobin:
    """One address in front of several: each new TCP connection goes to the next backend
    (what a Kubernetes Service or any L4 balancer does); it records where each went."""

    backends: list[str]
    address: str = ""
    chosen: list[str] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _pipes: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.address = f"127.0.0.1:{port}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        backend = self.backends[len(self.chosen) % len(self.backends)]
        self.chosen.append(backend)
        host, port = backend.rsplit(":", 1)
        up_reader, up_writer = await asyncio.open_connection(host, int(port))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(1 << 16):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.close()

        for t in (pipe(reader, up_writer), pipe(up_reader, writer)):
            task = asyncio.create_task(t)
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for t in list(self._pipes):
            t.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        await self._server.wait_closed()


@pytest.fixture(scope="module")
async def replica_a(
    ceph_cluster: CephCluster, pg_url: str, nats_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Service]:
    root = tmp_path_factory.mktemp("imagesvc-rbd")
    async with running_service(
        pg_url,
        nats_url,
        root,
        server_id="imagesvc-rbd-a",
        store_dir=root / "scratch-a",
        store_backend="rbd",
        store_rbd_pool=ceph_cluster.pool,
        store_rbd_conf=str(ceph_cluster.conf),
        store_rbd_keyring=str(ceph_cluster.keyring),
    ) as svc:
        yield svc


@pytest.fixture(scope="module")
async def replica_b(replica_a: Service) -> AsyncIterator[str]:
    """A second replica: same database, same pool, its own scratch directory."""
    port = free_port()
    settings = replica_a.settings.model_copy(
        update={
            "grpc_port": port,
            "server_id": "imagesvc-rbd-b",
            "store_dir": replica_a.root / "scratch-b",
        }
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


def _rbd_images(cluster: CephCluster, image_id: str) -> list[str]:
    names = json.loads(cluster.rbd("ls", "--format", "json", cluster.pool))
    return [n for n in names if n.startswith(f"img-{image_id}-")]


def _local_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


async def test_an_upload_to_one_replica_downloads_from_the_other_behind_one_address(
    ceph_cluster: CephCluster, replica_a: Service, replica_b: str, forge: Forge
) -> None:
    lb = RoundRobin([replica_a.address, replica_b])
    await lb.start()
    try:
        # two connections to the one address: the first reaches replica a, the second b
        # (each its own subchannel: gRPC would otherwise share one connection per address)
        own = [("grpc.use_local_subchannel_pool", 1)]
        first = grpc.aio.insecure_channel(lb.address, options=own)
        second = grpc.aio.insecure_channel(lb.address, options=own)
        try:
            await first.channel_ready()
            await second.channel_ready()
            assert lb.chosen == [replica_a.address, replica_b]
            via_a = replica_a.client("alice")
            via_a.stub = svc_grpc.ImageServiceStub(first)
            via_b = replica_a.client("alice")
            via_b.stub = svc_grpc.ImageServiceStub(second)

            source = forge.qcow2(size=24 * MiB)
            data = source.read_bytes()
            image = await via_a.create("qcow2")
            await via_a.upload(image.id, source)

            got = await via_b.download(image.id)
            assert got.data == data
            assert got.metadata.sha256 == hashlib.sha256(data).hexdigest()
            # a raw rendition asked of b: converted there from the original in Ceph
            raw = await via_b.download(image.id, "raw")
            assert len(raw.data) == 24 * MiB
            again = await via_a.download(image.id, "raw")
            assert again.data == raw.data
        finally:
            await first.close()
            await second.close()
    finally:
        await lb.stop()

    # the bytes are RBD images (original and raw rendition), each with its clone snapshot;
    # neither replica kept an image file (only scratch, now empty)
    names = _rbd_images(ceph_cluster, image.id)
    assert len(names) == 2
    for name in names:
        snaps = json.loads(
            ceph_cluster.rbd("snap", "ls", "--format", "json", f"{ceph_cluster.pool}/{name}")
        )
        assert [(s["name"], s["protected"]) for s in snaps] == [("base", "true")]
    assert _local_files(replica_a.store_dir) == []
    assert _local_files(replica_a.root / "scratch-b") == []

    await replica_a.client("alice").delete(image.id)
    assert _rbd_images(ceph_cluster, image.id) == []


async def test_download_of_an_image_gone_from_ceph_is_not_found(
    ceph_cluster: CephCluster, replica_a: Service, forge: Forge
) -> None:
    alice = replica_a.client("alice")
    image = await alice.create("raw")
    await alice.upload(image.id, forge.raw(size=1 * MiB))
    for name in _rbd_images(ceph_cluster, image.id):  # someone removed it behind our back
        spec = f"{ceph_cluster.pool}/{name}"
        ceph_cluster.rbd("snap", "unprotect", f"{spec}@base")
        ceph_cluster.rbd("snap", "purge", spec)
        ceph_cluster.rbd("rm", "--no-progress", spec)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await alice.download(image.id)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    await alice.delete(image.id)
