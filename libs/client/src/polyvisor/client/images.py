"""Images: create, upload (client streaming, chunks of at most 1 MiB, with progress), get,
list, update, delete, renditions, download (server streaming, resumable, checked).

Image properties are given as strings, the way operators write them
(`hypervisor_type=vmware`, `vmware_disktype=streamOptimized`, `min_ram=512`); the typed ones
go to their fields of the Image message, the others to its free-form `properties` map.
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import BinaryIO

from google.protobuf.descriptor import EnumDescriptor

from polyvisor.client import enums
from polyvisor.client.errors import (
    AmbiguousName,
    ApiError,
    InvalidValue,
    NotFound,
    PolyvisorClientError,
)
from polyvisor.client.servers import is_uuid
from polyvisor.client.session import Session
from polyvisor.image.v1 import images_pb2

__all__ = [
    "MAX_CHUNK",
    "TYPED_PROPERTIES",
    "ChecksumMismatch",
    "ImagesApi",
    "Progress",
    "apply_properties",
]

#: The contract's limit for one chunk of an upload or download.
MAX_CHUNK = 1024 * 1024

#: progress(bytes_done, bytes_total); total is 0 when unknown.
Progress = Callable[[int, int], None]

_ENUM_PROPS: dict[str, EnumDescriptor] = {
    "hypervisor_type": enums.HYPERVISOR_TYPE,
    "vmware_disktype": enums.VMWARE_DISK_TYPE,
    "vmware_adaptertype": enums.VMWARE_ADAPTER_TYPE,
    "hw_disk_bus": enums.DISK_BUS,
}
_STR_PROPS = ("architecture", "vm_mode", "os_type", "vmware_ostype")
_INT_PROPS = ("min_ram", "min_disk")
TYPED_PROPERTIES = (*_ENUM_PROPS, *_STR_PROPS, *_INT_PROPS)


class ChecksumMismatch(PolyvisorClientError):
    """A download's bytes do not hash to what the service announced."""


def apply_properties(image: images_pb2.Image, properties: Mapping[str, str]) -> list[str]:
    """Set the properties on `image`; returns the update-mask paths they touch."""
    paths: list[str] = []
    for key, value in properties.items():
        if key in _ENUM_PROPS:
            try:
                setattr(image, key, enums.parse(_ENUM_PROPS[key], value))
            except enums.EnumValueError as e:
                raise InvalidValue(f"property {key}: {e.message}") from None
            paths.append(key)
        elif key in _STR_PROPS:
            setattr(image, key, value)
            paths.append(key)
        elif key in _INT_PROPS:
            try:
                setattr(image, key, int(value))
            except ValueError:
                raise InvalidValue(f"property {key} must be an integer, not {value!r}") from None
            paths.append(key)
        else:
            image.properties[key] = value
            if "properties" not in paths:
                paths.append("properties")
    return paths


def _sha256_of(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while block := f.read(MAX_CHUNK):
            h.update(block)
            size += len(block)
    return size, h.hexdigest()


def _resume_offset(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


class ImagesApi:
    def __init__(self, session: Session) -> None:
        self._s = session

    async def create(
        self,
        name: str,
        *,
        disk_format: str | int,
        container_format: str | int = "bare",
        visibility: str | int | None = None,
        properties: Mapping[str, str] | None = None,
        min_ram: int = 0,
        min_disk: int = 0,
        protected: bool = False,
        image_id: str = "",
        request_id: str | None = None,
    ) -> images_pb2.Image:
        """A new image, QUEUED (no data yet)."""
        image = images_pb2.Image(
            id=image_id,
            name=name,
            disk_format=enums.coerce(enums.DISK_FORMAT, disk_format),
            container_format=enums.coerce(enums.CONTAINER_FORMAT, container_format),
            visibility=enums.coerce(enums.VISIBILITY, visibility),
            min_ram=min_ram,
            min_disk=min_disk,
            protected=protected,
        )
        apply_properties(image, properties or {})
        req = images_pb2.CreateImageRequest(request_id=request_id or str(uuid.uuid4()), image=image)
        resp = await self._s.call(self._s.images.CreateImage, req)
        return resp.image

    async def upload(
        self,
        image_id: str,
        source: str | os.PathLike[str] | BinaryIO,
        *,
        progress: Progress | None = None,
        chunk_size: int = MAX_CHUNK,
        checksum: bool = True,
        deadline: float | None = None,
    ) -> images_pb2.Image:
        """Stream the data: a header, then chunks of at most `chunk_size` (≤ 1 MiB). For a
        path, size and SHA-256 are computed first and sent in the header, so the service
        verifies them. Returns the image after inspection (ACTIVE, or KILLED with a reason)."""
        if not 0 < chunk_size <= MAX_CHUNK:
            raise ValueError(f"chunk_size must be in 1..{MAX_CHUNK}")
        if isinstance(source, str | os.PathLike):
            path = Path(source)
            if checksum:
                size, digest = await asyncio.to_thread(_sha256_of, path)
            else:
                size, digest = (await asyncio.to_thread(path.stat)).st_size, ""
            fileobj: BinaryIO = await asyncio.to_thread(open, path, "rb")
            owned = True
        else:
            fileobj, owned, digest = source, False, ""
            try:
                size = os.fstat(fileobj.fileno()).st_size - fileobj.tell()
            except (OSError, AttributeError, ValueError):
                size = 0

        async def requests() -> AsyncIterator[images_pb2.UploadImageRequest]:
            yield images_pb2.UploadImageRequest(
                header=images_pb2.UploadImageHeader(image_id=image_id, size=size, sha256=digest)
            )
            sent = 0
            if progress is not None:
                progress(0, size)
            while True:
                chunk = await asyncio.to_thread(fileobj.read, chunk_size)
                if not chunk:
                    break
                yield images_pb2.UploadImageRequest(chunk=chunk)
                sent += len(chunk)
                if progress is not None:
                    progress(sent, size)

        try:
            resp = await self._s.upload(self._s.images.UploadImage, requests(), deadline=deadline)
        finally:
            if owned:
                fileobj.close()
        return resp.image

    async def create_from_file(
        self,
        name: str,
        path: str | os.PathLike[str],
        *,
        disk_format: str | int,
        progress: Progress | None = None,
        **create_args: object,
    ) -> images_pb2.Image:
        """create() then upload(): the image after inspection."""
        image = await self.create(name, disk_format=disk_format, **create_args)  # type: ignore[arg-type]
        return await self.upload(image.id, path, progress=progress)

    async def get(self, image_id: str) -> images_pb2.Image:
        resp = await self._s.call(
            self._s.images.GetImage, images_pb2.GetImageRequest(image_id=image_id)
        )
        return resp.image

    async def list(
        self,
        *,
        name: str = "",
        status: str | int | None = None,
        visibility: str | int | None = None,
        disk_format: str | int | None = None,
        owner: str = "",
        hypervisor_type: str | int | None = None,
        architecture: str = "",
        all_projects: bool = False,
        page_size: int = 0,
        limit: int | None = None,
    ) -> list[images_pb2.Image]:
        req = images_pb2.ListImagesRequest(
            page_size=page_size,
            name=name,
            status=enums.coerce(enums.IMAGE_STATUS, status),
            visibility=enums.coerce(enums.VISIBILITY, visibility),
            disk_format=enums.coerce(enums.DISK_FORMAT, disk_format),
            owner=owner,
            hypervisor_type=enums.coerce(enums.HYPERVISOR_TYPE, hypervisor_type),
            architecture=architecture,
            all_projects=all_projects,
        )
        out: list[images_pb2.Image] = []
        while True:
            resp = await self._s.call(self._s.images.ListImages, req)
            out.extend(resp.images)
            if not resp.next_page_token or (limit is not None and len(out) >= limit):
                break
            req.page_token = resp.next_page_token
        return out[:limit] if limit is not None else out

    async def find(self, name_or_id: str) -> images_pb2.Image:
        """The image with this id, else the one image with exactly this name."""
        if is_uuid(name_or_id):
            try:
                return await self.get(name_or_id)
            except NotFound:
                pass
        matches = [i for i in await self.list(name=name_or_id) if i.name == name_or_id]
        if not matches:
            raise NotFound(f"no image with name or id {name_or_id!r}")
        if len(matches) > 1:
            ids = ", ".join(i.id for i in matches)
            raise AmbiguousName(
                f"{len(matches)} images are named {name_or_id!r} ({ids}): use an id"
            )
        return matches[0]

    async def update(
        self,
        image_id: str,
        *,
        name: str | None = None,
        visibility: str | int | None = None,
        properties: Mapping[str, str] | None = None,
        protected: bool | None = None,
    ) -> images_pb2.Image:
        """Change fields; `properties` replaces the free-form map and sets the typed ones."""
        image = images_pb2.Image(id=image_id)
        paths: list[str] = []
        if name is not None:
            image.name = name
            paths.append("name")
        if visibility is not None:
            image.visibility = enums.coerce(enums.VISIBILITY, visibility)
            paths.append("visibility")
        if protected is not None:
            image.protected = protected
            paths.append("protected")
        if properties is not None:
            paths.extend(p for p in apply_properties(image, properties) if p not in paths)
        req = images_pb2.UpdateImageRequest(image=image)
        req.update_mask.paths.extend(paths)
        resp = await self._s.call(self._s.images.UpdateImage, req)
        return resp.image

    async def delete(self, image_id: str) -> None:
        await self._s.call(
            self._s.images.DeleteImage, images_pb2.DeleteImageRequest(image_id=image_id)
        )

    # ------------------------------------------------------------------ renditions

    async def renditions(self, image_id: str) -> builtins.list[images_pb2.Rendition]:
        resp = await self._s.call(
            self._s.images.ListRenditions, images_pb2.ListRenditionsRequest(image_id=image_id)
        )
        return list(resp.renditions)

    async def rendition(
        self, image_id: str, disk_format: str | int, vmware_disktype: str | int | None = None
    ) -> images_pb2.Rendition:
        resp = await self._s.call(
            self._s.images.GetRendition,
            images_pb2.GetRenditionRequest(
                image_id=image_id,
                disk_format=enums.coerce(enums.DISK_FORMAT, disk_format),
                vmware_disktype=enums.coerce(enums.VMWARE_DISK_TYPE, vmware_disktype),
            ),
        )
        return resp.rendition

    async def create_rendition(
        self, image_id: str, disk_format: str | int, vmware_disktype: str | int | None = None
    ) -> images_pb2.Rendition:
        resp = await self._s.call(
            self._s.images.CreateRendition,
            images_pb2.CreateRenditionRequest(
                image_id=image_id,
                disk_format=enums.coerce(enums.DISK_FORMAT, disk_format),
                vmware_disktype=enums.coerce(enums.VMWARE_DISK_TYPE, vmware_disktype),
            ),
        )
        return resp.rendition

    async def download(
        self,
        image_id: str,
        dest: str | os.PathLike[str],
        *,
        disk_format: str | int | None = None,
        vmware_disktype: str | int | None = None,
        progress: Progress | None = None,
        resume: bool = False,
        deadline: float | None = None,
    ) -> images_pb2.DownloadImageMetadata:
        """Write the rendition wanted (default: the original) to `dest` and check its SHA-256.
        With `resume`, continue a partial file from its current size."""
        path = Path(dest)
        offset = await asyncio.to_thread(_resume_offset, path) if resume else 0
        req = images_pb2.DownloadImageRequest(
            image_id=image_id,
            disk_format=enums.coerce(enums.DISK_FORMAT, disk_format),
            vmware_disktype=enums.coerce(enums.VMWARE_DISK_TYPE, vmware_disktype),
            offset=offset,
        )
        meta: images_pb2.DownloadImageMetadata | None = None
        done = offset
        f = await asyncio.to_thread(open, path, "r+b" if offset else "wb")
        try:
            await asyncio.to_thread(f.seek, offset)
            async for item in self._s.stream(self._s.images.DownloadImage, req, deadline=deadline):
                if item.WhichOneof("payload") == "metadata":
                    meta = item.metadata
                    if progress is not None:
                        progress(done, meta.size)
                    continue
                await asyncio.to_thread(f.write, item.chunk)
                done += len(item.chunk)
                if progress is not None:
                    progress(done, meta.size if meta is not None else 0)
        finally:
            await asyncio.to_thread(f.close)
        if meta is None:
            raise ApiError(f"download of image {image_id} ended before its metadata")
        if meta.sha256:
            _, digest = await asyncio.to_thread(_sha256_of, path)
            if digest != meta.sha256:
                raise ChecksumMismatch(
                    f"downloaded {path} has SHA-256 {digest}, the service announced {meta.sha256}"
                )
        return meta
