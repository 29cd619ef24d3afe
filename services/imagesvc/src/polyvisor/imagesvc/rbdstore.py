"""The Ceph RBD backend of the image store: every committed rendition is an RBD image.

Why RBD rather than S3 on radosgw: a KVM host on the same cluster boots a server from an
RBD *clone* of the image's raw rendition (copy-on-write, constant time whatever the image's
size, as Nova's RBD image backend does with Glance's RBD store); objects in S3 cannot be
cloned, so every boot would download the bytes again. RBD also needs no extra daemon
(radosgw) beside the mon/mgr/OSDs the volumes use anyway.

Layout in the pool (POLYVISOR_STORE_RBD_POOL):

    img-<image id>-<rendition file name>-<8 hex>      one per committed rendition
        @base                                         a protected snapshot: clone parent

The location recorded in the catalogue is `rbd:<pool>/<name>` (renditions committed before the
store moved to RBD keep their file locations and are still read from the scratch root's
`images/`); every replica reaches the
same pool, so an upload committed by one is downloadable from any other. Uploads and
conversions still write to a local scratch directory first (the store root's `tmp/`):
qemu-img and the inspector vet a local file before it is committed; a conversion reads its
source staged from RBD into that scratch directory (`stage`). Reading streams the image's
bytes in order from `rbd export` (`RbdReader`).

Deleting a rendition whose snapshot still has clones (servers booted from it) moves the
image to the pool's trash instead: Ceph keeps the bytes the clones need and the image is
gone from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path

from polyvisor.common.logging import get_logger
from polyvisor.common.rbd import Rbd, RbdBusy, RbdNotFound, RbdReader, enoent
from polyvisor.imagesvc.blobstore import FilesystemStore, OpenBlob, TempBlob

__all__ = ["RBD_PREFIX", "SNAPSHOT", "RbdStore", "is_rbd_location"]

log = get_logger(__name__)

RBD_PREFIX = "rbd:"
SNAPSHOT = "base"


def is_rbd_location(location: str) -> bool:
    return location.startswith(RBD_PREFIX)


class _RbdBlob(OpenBlob):
    """An OpenBlob over an RbdReader (pread in order, close ends the export)."""

    __slots__ = ("_reader",)
    _reader: RbdReader

    def __init__(self, reader: RbdReader) -> None:
        super().__init__(file=None, size=reader.size)  # type: ignore[arg-type]
        object.__setattr__(self, "_reader", reader)  # a frozen dataclass underneath

    def pread(self, length: int, offset: int) -> bytes:
        return self._reader.pread(length, offset)

    def close(self) -> None:
        self._reader.close()


class RbdStore(FilesystemStore):
    """Renditions in an RBD pool; scratch files under `scratch` (see the module docstring)."""

    def __init__(self, scratch: Path | str, rbd: Rbd, pool: str, *, fsync: bool = True) -> None:
        super().__init__(scratch, fsync=fsync)
        self.rbd = rbd
        self.pool = pool

    def spec(self, location: str) -> str:
        if not is_rbd_location(location):
            raise ValueError(f"location {location!r} is not in the RBD store")
        spec = location[len(RBD_PREFIX) :]
        pool, _, name = spec.partition("/")
        if pool != self.pool or not name.startswith("img-") or "@" in name or "/" in name:
            raise ValueError(f"location {location!r} is outside the store's pool {self.pool}")
        return spec

    def _name(self, image_id: str, name: str) -> str:
        return f"img-{image_id}-{name}-{uuid.uuid4().hex[:8]}"

    # -- writing

    async def commit(self, temp: TempBlob, image_id: str, name: str) -> str:
        return await asyncio.to_thread(self._commit, temp, image_id, name)

    def _commit(self, temp: TempBlob, image_id: str, name: str) -> str:
        temp.close(fsync=False)  # the bytes go to Ceph, whose writes are durable when acked
        try:
            location = self.commit_path(temp.path, image_id, name)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.path.unlink()
        temp.done = True
        return location

    def commit_path(self, path: Path, image_id: str, name: str) -> str:
        """Blocking: import a complete local file as a new RBD image (with its clone
        snapshot); the file is left for the caller to remove."""
        spec = f"{self.pool}/{self._name(image_id, name)}"
        try:
            self.rbd.import_file_sync(path, spec)
            self.rbd.run_sync("snap", "create", "--no-progress", f"{spec}@{SNAPSHOT}")
            self.rbd.run_sync("snap", "protect", f"{spec}@{SNAPSHOT}")
        except BaseException:
            with contextlib.suppress(Exception):
                self.rbd.run_sync("snap", "unprotect", f"{spec}@{SNAPSHOT}")
            with contextlib.suppress(Exception):
                self.rbd.run_sync("snap", "purge", "--no-progress", spec)
            with contextlib.suppress(Exception):
                self.rbd.run_sync("rm", "--no-progress", spec)
            raise
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return f"{RBD_PREFIX}{spec}"

    # -- reading

    def local_path(self, location: str) -> Path:
        if is_rbd_location(location):
            raise ValueError(f"location {location!r} is in Ceph RBD: stage it first")
        return super().local_path(location)  # kept on disk before the store moved to RBD

    async def stage(self, location: str) -> tuple[Path, bool]:
        """A local file with the rendition's bytes (exported into scratch): (path, True:
        the caller removes it)."""
        if not is_rbd_location(location):
            return await super().stage(location)
        path = self.temp_path()
        try:
            await self.rbd.export_file(self.spec(location), path)
        except RbdNotFound as e:
            raise enoent(e) from e
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            raise
        return path, True

    async def open(self, location: str) -> OpenBlob:
        if not is_rbd_location(location):
            return await super().open(location)
        spec = self.spec(location)
        try:
            size = await self.rbd.size(spec)
        except RbdNotFound as e:
            raise enoent(e) from e
        return _RbdBlob(RbdReader(self.rbd, spec, size))

    async def clone_source(self, location: str) -> str | None:
        """`pool/image@snapshot`: what a KVM host on this cluster clones."""
        if not is_rbd_location(location):
            return None
        return f"{self.spec(location)}@{SNAPSHOT}"

    # -- deleting

    async def delete(self, location: str) -> None:
        if not is_rbd_location(location):
            await super().delete(location)
            return
        spec = self.spec(location)
        try:
            await self.rbd.remove(spec)
        except RbdBusy:
            # clones (servers booted from it) still need its snapshot: to the trash
            log.info("rendition still has clones: moved to the pool's trash", spec=spec)
            with contextlib.suppress(RbdNotFound):
                await self.rbd.trash(spec)

    async def delete_image(self, image_id: str) -> None:
        await super().delete_image(image_id)
        prefix = f"img-{image_id}-"
        for name in await self.rbd.images(self.pool):
            if name.startswith(prefix):
                await self.delete(f"{RBD_PREFIX}{self.pool}/{name}")
