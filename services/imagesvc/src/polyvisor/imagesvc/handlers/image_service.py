"""polyvisor.image.v1.ImageService."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import grpc

from polyvisor.common.errors import InvalidArgument, NotFound, PolyvisorError
from polyvisor.common.interceptors import current_principal
from polyvisor.image.v1 import image_service_pb2_grpc as svc_grpc
from polyvisor.image.v1 import images_pb2 as pb
from polyvisor.imagesvc.catalogue import Catalogue
from polyvisor.imagesvc.convert import (
    disk_format_from_pb,
    draft_from_pb,
    filters_from_pb,
    image_to_pb,
    rendition_to_pb,
    update_from_pb,
    vmware_disktype_from_pb,
)
from polyvisor.imagesvc.renditions import Renditions, stream_blob
from polyvisor.imagesvc.uploads import UploadHeader, Uploads

__all__ = ["SERVICE_NAME", "ImageServiceHandlers"]

SERVICE_NAME = "polyvisor.image.v1.ImageService"

# How much of a refused upload is still read (and dropped) before its status is sent.
DRAIN_LIMIT_BYTES = 64 * 1024 * 1024
DRAIN_LIMIT_S = 10.0


async def drain_refused_upload(request_iterator: AsyncIterator[pb.UploadImageRequest]) -> None:
    """Read and drop what the client is still sending, within a bound, before refusing.

    A grpc.aio client whose write fails because the server already ended the call reports
    INTERNAL "Internal error from Core" instead of the server's status (grpc/grpc#36066).
    Letting a refused upload's sender finish (up to DRAIN_LIMIT_BYTES / DRAIN_LIMIT_S)
    means it half-closes normally and reads the real reason (quota, bad checksum, ...).
    Past the bound the call ends anyway: a huge upload is not read to its end to refuse it.
    """
    read = 0

    async def drop() -> None:
        nonlocal read
        async for message in request_iterator:
            read += len(message.chunk)
            if read > DRAIN_LIMIT_BYTES:
                return

    with contextlib.suppress(Exception):
        await asyncio.wait_for(drop(), DRAIN_LIMIT_S)


class ImageServiceHandlers(svc_grpc.ImageServiceServicer):
    def __init__(self, catalogue: Catalogue, uploads: Uploads, renditions: Renditions) -> None:
        self._catalogue = catalogue
        self._uploads = uploads
        self._renditions = renditions

    # -- catalogue

    async def CreateImage(
        self, request: pb.CreateImageRequest, context: Any
    ) -> pb.CreateImageResponse:
        image = await self._catalogue.create(
            current_principal(), draft_from_pb(request.image), request.request_id
        )
        return pb.CreateImageResponse(image=image_to_pb(image))

    async def GetImage(self, request: pb.GetImageRequest, context: Any) -> pb.GetImageResponse:
        image = await self._catalogue.get(current_principal(), request.image_id)
        return pb.GetImageResponse(image=image_to_pb(image))

    async def ListImages(
        self, request: pb.ListImagesRequest, context: Any
    ) -> pb.ListImagesResponse:
        images, token = await self._catalogue.list(
            current_principal(),
            filters_from_pb(request),
            all_projects=request.all_projects,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListImagesResponse(images=[image_to_pb(i) for i in images], next_page_token=token)

    async def UpdateImage(
        self, request: pb.UpdateImageRequest, context: Any
    ) -> pb.UpdateImageResponse:
        changes = update_from_pb(request.image, list(request.update_mask.paths))
        image = await self._catalogue.update(current_principal(), request.image.id, changes)
        return pb.UpdateImageResponse(image=image_to_pb(image))

    async def DeleteImage(
        self, request: pb.DeleteImageRequest, context: Any
    ) -> pb.DeleteImageResponse:
        await self._catalogue.delete(current_principal(), request.image_id)
        return pb.DeleteImageResponse()

    # -- bytes

    async def UploadImage(
        self,
        request_iterator: AsyncIterator[pb.UploadImageRequest],
        context: grpc.aio.ServicerContext,
    ) -> pb.UploadImageResponse:
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("payload") != "header":
            raise InvalidArgument("the first message of an upload must be its header")
        h = first.header
        header = UploadHeader(h.image_id, h.size, h.sha256, h.failure, dict(h.properties))

        async def chunks() -> AsyncIterator[bytes]:
            async for message in request_iterator:
                if message.WhichOneof("payload") != "chunk":
                    raise InvalidArgument("only the first message of an upload is a header")
                yield message.chunk

        try:
            image = await self._uploads.upload(
                current_principal(), header, chunks(), cancelled=context.cancelled
            )
        except PolyvisorError:
            await drain_refused_upload(request_iterator)
            raise
        return pb.UploadImageResponse(image=image_to_pb(image))

    async def DownloadImage(
        self, request: pb.DownloadImageRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.DownloadImageResponse]:
        if request.offset < 0:
            raise InvalidArgument("offset must not be negative")
        disk_format = disk_format_from_pb(request.disk_format)
        disktype = vmware_disktype_from_pb(request.vmware_disktype)
        image = await self._catalogue.get(current_principal(), request.image_id)
        rendition = await self._renditions.ensure(image, disk_format, disktype)
        # Opened before the first byte: a delete from now on does not affect this stream.
        blob = await self._renditions.open(rendition)
        try:
            if request.offset > blob.size:
                raise InvalidArgument(
                    f"offset {request.offset} is past the end ({blob.size} bytes)"
                )
            yield pb.DownloadImageResponse(
                metadata=pb.DownloadImageMetadata(
                    image_id=image.id,
                    rendition=rendition_to_pb(rendition),
                    size=rendition.size,
                    sha256=rendition.sha256,
                    offset=request.offset,
                )
            )
            async for data in stream_blob(blob, request.offset):
                yield pb.DownloadImageResponse(chunk=data)
        finally:
            blob.close()

    # -- renditions

    async def ListRenditions(
        self, request: pb.ListRenditionsRequest, context: Any
    ) -> pb.ListRenditionsResponse:
        image = await self._catalogue.get(current_principal(), request.image_id)
        renditions = await self._renditions.list(image.id)
        return pb.ListRenditionsResponse(renditions=[rendition_to_pb(r) for r in renditions])

    async def GetRendition(
        self, request: pb.GetRenditionRequest, context: Any
    ) -> pb.GetRenditionResponse:
        image = await self._catalogue.get(current_principal(), request.image_id)
        key, row = await self._renditions.resolve(
            image,
            disk_format_from_pb(request.disk_format),
            vmware_disktype_from_pb(request.vmware_disktype),
        )
        if row is None:
            raise NotFound(f"image {image.id} has no {key} rendition yet")
        return pb.GetRenditionResponse(rendition=rendition_to_pb(row))

    async def CreateRendition(
        self, request: pb.CreateRenditionRequest, context: Any
    ) -> pb.CreateRenditionResponse:
        image = await self._catalogue.get(current_principal(), request.image_id)
        row = await self._renditions.request(
            image,
            disk_format_from_pb(request.disk_format),
            vmware_disktype_from_pb(request.vmware_disktype),
        )
        return pb.CreateRenditionResponse(rendition=rendition_to_pb(row))
