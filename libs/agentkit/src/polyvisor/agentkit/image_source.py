"""Renditions from the image service (ImageService.DownloadImage, server streaming).

The image cache's ``ImageSource``: yields the download's metadata, then its chunks, from the
offset asked for (a resume). gRPC errors are mapped to ``ImageUnavailable`` here: NOT_FOUND,
INVALID_ARGUMENT and FAILED_PRECONDITION are final, the rest may pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc

from polyvisor.agentkit.convert import disk_format_to_proto, vmware_disktype_to_proto
from polyvisor.agentkit.credentials import AgentCredentials
from polyvisor.agentkit.driver import RenditionWanted
from polyvisor.agentkit.errors import ImageUnavailable
from polyvisor.agentkit.image_download import DownloadMeta
from polyvisor.common.channels import RECONNECT_OPTIONS
from polyvisor.image.v1 import image_service_pb2_grpc, images_pb2

__all__ = ["GrpcImageSink", "GrpcImageSource"]

_FINAL = {
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.PERMISSION_DENIED,
}
_OPTIONS = (
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 30_000),
    *RECONNECT_OPTIONS,
)


class GrpcImageSource:
    def __init__(self, address: str, credentials: AgentCredentials) -> None:
        self.address = address
        self.credentials = credentials
        self._channel: grpc.aio.Channel | None = None

    def _stub(self) -> image_service_pb2_grpc.ImageServiceStub:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self.address, options=_OPTIONS)
        return image_service_pb2_grpc.ImageServiceStub(self._channel)

    async def download(
        self, image_id: str, rendition: RenditionWanted, offset: int
    ) -> AsyncIterator[DownloadMeta | bytes]:
        request = images_pb2.DownloadImageRequest(
            image_id=image_id,
            disk_format=disk_format_to_proto(rendition.disk_format),
            vmware_disktype=vmware_disktype_to_proto(rendition.vmware_disktype),
            offset=offset,
        )
        metadata = await self.credentials.metadata()
        call = self._stub().DownloadImage(request, metadata=metadata)
        try:
            async for resp in call:
                which = resp.WhichOneof("payload")
                if which == "metadata":
                    m = resp.metadata
                    yield DownloadMeta(size=m.size, sha256=m.sha256.lower(), offset=m.offset)
                elif which == "chunk":
                    yield resp.chunk
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.UNAUTHENTICATED:
                self.credentials.invalidate()
            raise ImageUnavailable(
                f"image {image_id} ({rendition.disk_format}): {code.name}: {exc.details()}",
                retryable=code not in _FINAL,
            ) from exc
        finally:
            call.cancel()

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()


_UPLOAD_CHUNK = 1024 * 1024


class GrpcImageSink:
    """Snapshot images to the image service (ImageService.UploadImage, client streaming), with
    the agent's own identity: the image service lets it upload only the snapshot images that
    name its host. Errors are ``ImageUnavailable`` (retryable when the call may pass later)."""

    def __init__(self, address: str, credentials: AgentCredentials) -> None:
        self.address = address
        self.credentials = credentials
        self._channel: grpc.aio.Channel | None = None

    def _stub(self) -> image_service_pb2_grpc.ImageServiceStub:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self.address, options=_OPTIONS)
        return image_service_pb2_grpc.ImageServiceStub(self._channel)

    def _error(self, image_id: str, what: str, exc: grpc.aio.AioRpcError) -> ImageUnavailable:
        code = exc.code()
        if code == grpc.StatusCode.UNAUTHENTICATED:
            self.credentials.invalidate()
        return ImageUnavailable(
            f"{what} image {image_id}: {code.name}: {exc.details()}",
            retryable=code not in _FINAL,
        )

    async def status(self, image_id: str) -> str:
        """The image's status name (QUEUED, SAVING, ACTIVE, KILLED, DELETED)."""
        try:
            resp = await self._stub().GetImage(
                images_pb2.GetImageRequest(image_id=image_id),
                metadata=await self.credentials.metadata(),
            )
        except grpc.aio.AioRpcError as exc:
            raise self._error(image_id, "read", exc) from exc
        return str(images_pb2.ImageStatus.Name(resp.image.status)).removeprefix("IMAGE_STATUS_")

    async def upload(self, image_id: str, path: Path, properties: dict[str, str]) -> None:
        """Stream the file at ``path`` into the (QUEUED) image."""
        size = (await asyncio.to_thread(path.stat)).st_size
        header = images_pb2.UploadImageHeader(image_id=image_id, size=size, properties=properties)

        async def requests() -> AsyncIterator[images_pb2.UploadImageRequest]:
            yield images_pb2.UploadImageRequest(header=header)
            with path.open("rb") as f:
                while chunk := await asyncio.to_thread(f.read, _UPLOAD_CHUNK):
                    yield images_pb2.UploadImageRequest(chunk=chunk)

        try:
            await self._stub().UploadImage(requests(), metadata=await self.credentials.metadata())
        except grpc.aio.AioRpcError as exc:
            raise self._error(image_id, "upload", exc) from exc

    async def fail(self, image_id: str, reason: str) -> None:
        """Tell the image service the snapshot cannot be made: the image is KILLED with the
        reason (never left QUEUED for ever, never half uploaded)."""
        header = images_pb2.UploadImageHeader(image_id=image_id, failure=reason[:900] or "failed")

        async def requests() -> AsyncIterator[images_pb2.UploadImageRequest]:
            yield images_pb2.UploadImageRequest(header=header)

        try:
            await self._stub().UploadImage(requests(), metadata=await self.credentials.metadata())
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                return  # killed, with the reason: what we asked for
            raise self._error(image_id, "kill", exc) from exc

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()
