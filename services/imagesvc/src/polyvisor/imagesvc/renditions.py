"""Renditions: the formats an image is stored in, made on demand by qemu-img, once.

The uploaded original is a rendition. Any other (qcow2, raw, vmdk streamOptimized or sparse)
is produced when first wanted:

- single flight in this process: concurrent requests for one rendition share one task;
- single flight across replicas: the producer claims the rendition row in the database
  (conditional insert, or takeover of a failed or abandoned one) and beats while it works;
  others wait for the row to become active;
- bounded: at most `max_conversions` qemu-img processes at once, at most
  `conversions_per_project` of them for one project; each within its project's quotas of
  stored bytes and conversion time (see `quotas`): a raw rendition's whole size is reserved
  before it starts, any other is cut off by a file size limit at what the quota has left,
  and qemu-img is killed when the project's time runs out;
- cancelled: deleting the image (here, or on another replica: the claim's heartbeat finds
  the row gone) kills qemu-img and removes the partial file at once;
- checked: the output is inspected again (inspector and qemu-img) before it is stored with
  its own size and sha256.

The conversion itself is in `conversion`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from polyvisor.common.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from polyvisor.common.rbd import RbdError
from polyvisor.imagesvc.blobstore import OpenBlob
from polyvisor.imagesvc.conversion import DELETED, STOPPING, ConversionBase, output_bound
from polyvisor.imagesvc.metrics import DOWNLOAD_BYTES
from polyvisor.imagesvc.model import (
    Image,
    ImageStatus,
    Rendition,
    RenditionKey,
    RenditionStatus,
)
from polyvisor.imagesvc.quotas import conversion_time_exhausted, stored_bytes_exhausted

__all__ = ["CHUNK", "Renditions", "stream_blob", "wanted_key"]

CHUNK = 1024 * 1024
CONVERTIBLE = ("raw", "qcow2", "vmdk")
VMDK_PRODUCIBLE = ("sparse", "streamOptimized")
_POLL_S = 0.25


def wanted_key(original: Rendition, disk_format: str, vmware_disktype: str) -> RenditionKey:
    """The rendition a request names ("" format: the original)."""
    if not disk_format:
        if vmware_disktype:
            raise InvalidArgument("vmware_disktype needs disk_format vmdk")
        return original.key
    if disk_format == "vmdk":
        disktype = vmware_disktype or "streamOptimized"
        if disktype not in VMDK_PRODUCIBLE:
            raise InvalidArgument(
                f"vmdk rendition {disktype!r} is not produced (a flat vmdk is two files); "
                f"allowed values: {', '.join(VMDK_PRODUCIBLE)}",
                {"property": "vmware_disktype"},
            )
        key = RenditionKey("vmdk", disktype)
    else:
        if vmware_disktype:
            raise InvalidArgument("vmware_disktype is only for disk_format vmdk")
        key = RenditionKey(disk_format)
    if key == original.key:
        return key
    if original.key.disk_format == "iso" or key.disk_format == "iso":
        raise InvalidArgument("an ISO image has no other rendition, and nothing converts to ISO")
    if key.disk_format not in CONVERTIBLE:
        raise InvalidArgument(
            f"no {key.disk_format} rendition; allowed values: {', '.join(CONVERTIBLE)}"
        )
    return key


async def stream_blob(blob: OpenBlob, offset: int, chunk: int = CHUNK) -> AsyncIterator[bytes]:
    """The bytes of an open blob from `offset`, reading the next chunk while one is sent."""
    position = offset
    loop = asyncio.get_running_loop()
    nxt: asyncio.Future[bytes] | None = None
    try:
        if position < blob.size:
            nxt = loop.run_in_executor(None, blob.pread, min(chunk, blob.size - position), position)
        while nxt is not None:
            data = await nxt
            nxt = None
            if not data:
                raise Unavailable("the rendition ended early (truncated on disk?)")
            position += len(data)
            if position < blob.size:
                nxt = loop.run_in_executor(
                    None, blob.pread, min(chunk, blob.size - position), position
                )
            DOWNLOAD_BYTES.inc(len(data))
            yield data
    finally:
        if nxt is not None:
            nxt.cancel()
            with contextlib.suppress(BaseException):
                await nxt


class Renditions(ConversionBase):
    """Renditions asked for, each produced once (single flight here and across replicas)."""

    # ------------------------------------------------------------------ public

    async def resolve(
        self, image: Image, disk_format: str, vmware_disktype: str
    ) -> tuple[RenditionKey, Rendition | None]:
        """(key wanted, its row if any); the image must be active."""
        if image.status is not ImageStatus.ACTIVE:
            raise FailedPrecondition(
                f"image {image.id} is {image.status.value}; renditions exist only for active images"
            )
        original = await self._store.original_rendition(image.id)
        if original is None:
            raise NotFound(f"image {image.id} has no data")
        key = wanted_key(original, disk_format, vmware_disktype)
        if key == original.key:
            return key, original
        return key, await self._store.get_rendition(image.id, key)

    async def ensure(self, image: Image, disk_format: str, vmware_disktype: str) -> Rendition:
        """The active rendition, produced first if needed (waits for it)."""
        key, row = await self.resolve(image, disk_format, vmware_disktype)
        if row is not None and row.status is RenditionStatus.ACTIVE:
            return row
        await self._preflight(image, key)
        # Shielded: a caller that goes away does not stop the conversion others wait for.
        return await asyncio.shield(self._flight(image, key))

    async def request(self, image: Image, disk_format: str, vmware_disktype: str) -> Rendition:
        """Start producing the rendition if needed; its state now (CreateRendition)."""
        key, row = await self.resolve(image, disk_format, vmware_disktype)
        if row is not None and row.status is RenditionStatus.ACTIVE:
            return row
        await self._preflight(image, key)
        task = self._flight(image, key)
        for _ in range(3):  # let the flight claim the row
            await asyncio.sleep(0)
        row = await self._store.get_rendition(image.id, key)
        if row is None or (row.status is RenditionStatus.FAILED and not task.done()):
            return Rendition(image_id=image.id, key=key, status=RenditionStatus.PENDING)
        return row

    async def list(self, image_id: str) -> list[Rendition]:
        return await self._store.list_renditions(image_id)

    async def open(self, rendition: Rendition) -> OpenBlob:
        try:
            return await self._blobs.open(rendition.location)
        except FileNotFoundError as e:
            raise NotFound(f"image {rendition.image_id} was deleted") from e
        except RbdError as e:
            raise Unavailable(f"the image store does not answer: {e}") from e

    async def cancel_image(self, image_id: str) -> None:
        """The image was deleted: stop its conversions in this process now (qemu-img killed,
        partial files removed; their waiters are told the image is gone)."""
        flights = [(k, t) for k, t in self._flights.items() if k[0] == image_id and not t.done()]
        for k, t in flights:
            self._cancelled[k] = DELETED
            t.cancel()
        if flights:
            await asyncio.gather(*(t for _, t in flights), return_exceptions=True)

    async def close(self) -> None:
        """Cancel conversions in flight (their claims lapse; temp files are removed)."""
        self._closed = True
        flights = list(self._flights.values())
        for k in self._flights:
            self._cancelled[k] = STOPPING
        for t in flights:
            t.cancel()
        if flights:
            await asyncio.gather(*flights, return_exceptions=True)
        self._flights.clear()

    # ------------------------------------------------------------------ single flight

    def _flight(self, image: Image, key: RenditionKey) -> asyncio.Task[Rendition]:
        if self._closed:
            raise Unavailable("the image service is shutting down")
        k = (image.id, key)
        task = self._flights.get(k)
        if task is None:
            task = asyncio.get_running_loop().create_task(
                self._produce(image, key), name=f"rendition:{image.id}:{key}"
            )
            self._flights[k] = task

            def done(t: asyncio.Task[Rendition]) -> None:
                if self._flights.get(k) is t:
                    del self._flights[k]
                    self._cancelled.pop(k, None)
                if not t.cancelled() and t.exception() is not None:
                    t.exception()  # retrieved: the waiters report it

            task.add_done_callback(done)
        return task

    async def _produce(self, image: Image, key: RenditionKey) -> Rendition:
        while True:
            claimed, row = await self._store.claim_rendition(
                image.id, key, self._owner, self._stale_s
            )
            if claimed:
                return await self._convert(image, key)
            if row is None:
                raise FailedPrecondition(f"image {image.id} is no longer active")
            if row.status is RenditionStatus.ACTIVE:
                return row
            if row.status is RenditionStatus.FAILED:
                raise FailedPrecondition(f"rendition {key} failed: {row.status_message}")
            # Another replica is producing it: wait for its result (or for its claim to lapse).
            await asyncio.sleep(_POLL_S)

    # ------------------------------------------------------------------ quotas

    async def _preflight(self, image: Image, key: RenditionKey) -> None:
        """Refuse at once what the owner's quotas cannot hold (the conversion checks again,
        under the quota lock): a raw rendition needs its whole size; any conversion needs time
        left."""
        q = self._quotas
        used_s = await self._store.conversion_seconds_used(image.owner, q.window_s)
        if used_s >= q.conversion_seconds:
            raise conversion_time_exhausted(image.owner, q.conversion_seconds, q.window_s, used_s)
        if key.disk_format == "raw":
            need = output_bound(key, image.virtual_size)
            left = max(0, q.stored_bytes - await self._store.project_stored_bytes(image.owner))
            if need > left:
                raise stored_bytes_exhausted(
                    image.owner, q.stored_bytes, left, need, f"a raw rendition of image {image.id}"
                )
