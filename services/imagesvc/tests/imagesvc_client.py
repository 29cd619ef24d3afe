"""A thin test client of polyvisor.image.v1.ImageService (real gRPC) and the in-process
service fixture's handle. Not a test module."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.field_mask_pb2 import FieldMask

from polyvisor.common.auth import TokenSigner, generate_keypair
from polyvisor.common.lifespan import serve
from polyvisor.image.v1 import image_service_pb2_grpc as svc_grpc
from polyvisor.image.v1 import images_pb2 as pb
from polyvisor.imagesvc.app import lifespan
from polyvisor.imagesvc.config import ImageSettings
from polyvisor.types.v1 import disk_pb2
from tests.support.services import free_port, wait_serving

CHUNK = 1024 * 1024
GiB = 1 << 30

FORMATS = {
    "raw": disk_pb2.DISK_FORMAT_RAW,
    "qcow2": disk_pb2.DISK_FORMAT_QCOW2,
    "vmdk": disk_pb2.DISK_FORMAT_VMDK,
    "iso": disk_pb2.DISK_FORMAT_ISO,
}


@dataclass
class Downloaded:
    metadata: pb.DownloadImageMetadata
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class Client:
    stub: svc_grpc.ImageServiceStub
    token: str
    project: str
    metadata: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.metadata = [("authorization", f"Bearer {self.token}")]

    async def create(self, disk_format: str = "raw", **fields: Any) -> pb.Image:
        image = pb.Image(disk_format=FORMATS[disk_format], **fields)
        resp = await self.stub.CreateImage(
            pb.CreateImageRequest(image=image), metadata=self.metadata
        )
        return resp.image

    async def get(self, image_id: str) -> pb.Image:
        return (
            await self.stub.GetImage(pb.GetImageRequest(image_id=image_id), metadata=self.metadata)
        ).image

    async def list(self, **filters: Any) -> list[pb.Image]:
        resp = await self.stub.ListImages(pb.ListImagesRequest(**filters), metadata=self.metadata)
        return list(resp.images)

    async def update(self, image: pb.Image, paths: Iterable[str]) -> pb.Image:
        resp = await self.stub.UpdateImage(
            pb.UpdateImageRequest(image=image, update_mask=FieldMask(paths=list(paths))),
            metadata=self.metadata,
        )
        return resp.image

    async def delete(self, image_id: str) -> None:
        await self.stub.DeleteImage(
            pb.DeleteImageRequest(image_id=image_id), metadata=self.metadata
        )

    @staticmethod
    async def requests(
        image_id: str, data: bytes, size: int = 0, sha256: str = "", chunk: int = CHUNK
    ) -> AsyncIterator[pb.UploadImageRequest]:
        yield pb.UploadImageRequest(
            header=pb.UploadImageHeader(image_id=image_id, size=size, sha256=sha256)
        )
        for i in range(0, len(data), chunk):
            yield pb.UploadImageRequest(chunk=data[i : i + chunk])

    async def upload(self, image_id: str, data: bytes | Path, **header: Any) -> pb.Image:
        if isinstance(data, Path):
            data = await asyncio.to_thread(data.read_bytes)
        resp = await self.stub.UploadImage(
            self.requests(image_id, data, **header), metadata=self.metadata
        )
        return resp.image

    async def download(
        self, image_id: str, disk_format: str = "", vmware_disktype: int = 0, offset: int = 0
    ) -> Downloaded:
        call = self.stub.DownloadImage(
            pb.DownloadImageRequest(
                image_id=image_id,
                disk_format=FORMATS.get(disk_format, 0),
                vmware_disktype=vmware_disktype,
                offset=offset,
            ),
            metadata=self.metadata,
        )
        metadata = None
        parts: list[bytes] = []
        async for message in call:
            if message.WhichOneof("payload") == "metadata":
                assert metadata is None, "metadata must come once, first"
                metadata = message.metadata
            else:
                assert metadata is not None, "the first message must be the metadata"
                parts.append(message.chunk)
        assert metadata is not None
        return Downloaded(metadata, b"".join(parts))


@dataclass
class Service:
    address: str
    root: Path
    store_dir: Path
    signer: TokenSigner
    qemu_calls: Path
    channel: grpc.aio.Channel
    settings: Any

    def client(
        self, project: str, roles: Iterable[str] = ("member",), kind: str = "user"
    ) -> Client:
        token, _ = self.signer.issue(
            user_id=f"user-{project}",
            project_id=project,
            roles=roles,
            kind=kind,
            host=project if kind == "agent" else "",
        )
        return Client(svc_grpc.ImageServiceStub(self.channel), token, project)

    def conversions(self) -> int:
        if not self.qemu_calls.exists():
            return 0
        return sum(
            1 for line in self.qemu_calls.read_text().splitlines() if line.startswith("convert")
        )

    def stray_temp_files(self) -> list[Path]:
        return sorted((self.store_dir / "tmp").glob("*"))

    def image_files(self, image_id: str) -> list[Path]:
        return sorted((self.store_dir / "images" / image_id).glob("*"))


def write_counting_qemu_img(path: Path, log: Path) -> None:
    """A qemu-img that records each invocation (one line: its arguments) and runs the real one."""
    real = shutil.which("qemu-img")
    assert real, "qemu-img (Debian qemu-utils) is required"
    path.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{real}" "$@"\n')
    path.chmod(0o755)


@contextlib.asynccontextmanager
async def running_service(
    pg_url: str,
    nats_url: str,
    root: Path,
    *,
    qemu_img: Path | None = None,
    server_id: str = "",
    store_dir: Path | None = None,
    **overrides: object,
) -> AsyncIterator[Service]:
    """The image service running in this process on an ephemeral port, on real PostgreSQL,
    NATS, qemu-img and a filesystem store (settings `overrides` on top of the tests')."""
    private, public = generate_keypair()
    (root / "token.pub").write_bytes(public)
    calls = root / "qemu-img.calls"
    if qemu_img is None:
        qemu_img = root / "qemu-img"
        write_counting_qemu_img(qemu_img, calls)
    port = free_port()
    settings = ImageSettings(
        **{
            "database_url": pg_url,
            "nats_url": nats_url,
            "grpc_host": "127.0.0.1",
            "grpc_port": port,
            "metrics_host": "127.0.0.1",
            "metrics_port": 0,
            "server_id": server_id or f"imagesvc-test-{os.getpid()}",
            "store_dir": store_dir or root / "store",
            "store_fsync": False,
            "token_public_key": root / "token.pub",
            "max_virtual_size": 1 * GiB,
            "qemu_img": str(qemu_img),
            "heartbeat_s": 0.5,
            "shutdown_grace_s": 1.0,
            **overrides,
        }
    )
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, lifespan, stop, handle_signals=False))
    address = f"127.0.0.1:{port}"
    try:
        await wait_serving(address, timeout=30)
    except BaseException:
        stop.set()
        await task
        raise
    channel = grpc.aio.insecure_channel(
        address,
        options=[
            ("grpc.max_receive_message_length", 16 << 20),
            ("grpc.max_send_message_length", 16 << 20),
        ],
    )
    try:
        yield Service(
            address=address,
            root=root,
            store_dir=settings.store_dir,
            signer=TokenSigner(private),
            qemu_calls=calls,
            channel=channel,
            settings=settings,
        )
    finally:
        await channel.close()
        stop.set()
        assert await task == 0
