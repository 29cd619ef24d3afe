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
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from polyvisor.common.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unavailable,
)
from polyvisor.common.logging import get_logger
from polyvisor.imagesvc.blobstore import FilesystemStore, OpenBlob, hash_file
from polyvisor.imagesvc.events import EventKind, rendition_event
from polyvisor.imagesvc.inspector import Refusal
from polyvisor.imagesvc.metrics import (
    CONVERSION_SECONDS,
    CONVERSIONS,
    CONVERSIONS_RUNNING,
    DOWNLOAD_BYTES,
)
from polyvisor.imagesvc.model import (
    Image,
    ImageStatus,
    Rendition,
    RenditionKey,
    RenditionStatus,
    qemu_subformat,
)
from polyvisor.imagesvc.qemu import QemuImg, QemuImgError, QemuImgOutputLimit, QemuImgTimeout
from polyvisor.imagesvc.quotas import (
    RULE_CONVERSION_TIME,
    RULE_STORED_BYTES,
    Quotas,
    conversion_time_exhausted,
    stored_bytes_exhausted,
)
from polyvisor.imagesvc.store import Store
from polyvisor.imagesvc.vetting import vet_file

__all__ = ["CHUNK", "Renditions", "stream_blob", "wanted_key"]

log = get_logger(__name__)

CHUNK = 1024 * 1024
CONVERTIBLE = ("raw", "qcow2", "vmdk")
VMDK_PRODUCIBLE = ("sparse", "streamOptimized")
#: qemu-img's vmdk adapter_type for the image property vmware_adaptertype (the descriptor's
#: ddb.adapterType; vSphere attaches the controller the VM spec names).
_QEMU_ADAPTER = {
    "": "lsilogic",
    "lsiLogic": "lsilogic",
    "lsiLogicsas": "lsilogic",
    "paraVirtual": "lsilogic",
    "busLogic": "buslogic",
    "ide": "ide",
}
_POLL_S = 0.25
#: Cancellation reasons of a conversion (asyncio cancellation carries no reason of its own).
_DELETED = "the image was deleted"
_CLAIM_LOST = "the rendition was taken over or its image deleted"
_STOPPING = "stopping"


def _output_bound(key: RenditionKey, virtual_size: int) -> int:
    """The most a conversion to `key` writes: a raw file is exactly the virtual size; qcow2
    and vmdk add their metadata (well under 1/64 of the disk) to at most all of its data."""
    if key.disk_format == "raw":
        return (virtual_size + 511) // 512 * 512
    return virtual_size + virtual_size // 64 + 16 * 1024 * 1024


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


class Renditions:
    def __init__(
        self,
        store: Store,
        blobs: FilesystemStore,
        qemu: QemuImg,
        *,
        server_id: str,
        max_conversions: int,
        max_virtual_size: int,
        claim_stale_s: float,
        heartbeat_s: float,
        wake_outbox: Callable[[], None],
        quotas: Quotas,
    ) -> None:
        self._store = store
        self._blobs = blobs
        self._qemu = qemu
        self._owner = server_id
        self._sem = asyncio.Semaphore(max_conversions)
        self._max_virtual_size = max_virtual_size
        self._stale_s = claim_stale_s
        self._heartbeat_s = heartbeat_s
        self._wake = wake_outbox
        self._flights: dict[tuple[str, RenditionKey], asyncio.Task[Rendition]] = {}
        self._cancelled: dict[tuple[str, RenditionKey], str] = {}
        self._quotas = quotas
        self._project_slots: dict[str, asyncio.Semaphore] = {}
        self._closed = False

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

    async def cancel_image(self, image_id: str) -> None:
        """The image was deleted: stop its conversions in this process now (qemu-img killed,
        partial files removed; their waiters are told the image is gone)."""
        flights = [(k, t) for k, t in self._flights.items() if k[0] == image_id and not t.done()]
        for k, t in flights:
            self._cancelled[k] = _DELETED
            t.cancel()
        if flights:
            await asyncio.gather(*(t for _, t in flights), return_exceptions=True)

    async def close(self) -> None:
        """Cancel conversions in flight (their claims lapse; temp files are removed)."""
        self._closed = True
        flights = list(self._flights.values())
        for k in self._flights:
            self._cancelled[k] = _STOPPING
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
            need = _output_bound(key, image.virtual_size)
            left = max(0, q.stored_bytes - await self._store.project_stored_bytes(image.owner))
            if need > left:
                raise stored_bytes_exhausted(
                    image.owner, q.stored_bytes, left, need, f"a raw rendition of image {image.id}"
                )

    def _project_slot(self, project: str) -> asyncio.Semaphore:
        slot = self._project_slots.get(project)
        if slot is None:
            if len(self._project_slots) > 10000:  # drop idle ones; stay bounded
                for name, sem in list(self._project_slots.items()):
                    if not sem.locked() and not getattr(sem, "_waiters", None):
                        del self._project_slots[name]
            slot = self._project_slots[project] = asyncio.Semaphore(
                self._quotas.conversions_per_project
            )
        return slot

    # ------------------------------------------------------------------ conversion

    async def _convert(self, image: Image, key: RenditionKey) -> Rendition:
        me = asyncio.current_task()
        assert me is not None
        beat = asyncio.create_task(self._beat(image.id, key, me), name=f"rendition-heartbeat:{key}")
        k = (image.id, key)
        try:
            async with self._project_slot(image.owner), self._sem:
                if not await self._store.rendition_progress(
                    image.id, key, self._owner, RenditionStatus.CONVERTING
                ):
                    raise FailedPrecondition(f"rendition {key} of {image.id} was taken over")
                return await self._convert_claimed(image, key)
        except asyncio.CancelledError:
            reason = self._cancelled.get(k, _STOPPING)
            # Give the claim back at once rather than letting it lapse (a no-op when the
            # image was deleted: its rows are gone).
            with contextlib.suppress(Exception):
                await asyncio.shield(
                    self._store.fail_rendition(
                        image.id,
                        key,
                        self._owner,
                        "conversion interrupted; ask again",
                        lambda r: [],
                    )
                )
            if reason == _STOPPING:
                raise
            me.uncancel()
            log.info("conversion cancelled", image_id=image.id, target=str(key), reason=reason)
            if reason == _DELETED:
                raise NotFound(f"image {image.id} was deleted", {"image_id": image.id}) from None
            raise FailedPrecondition(f"rendition {key} of image {image.id}: {reason}") from None
        finally:
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)

    async def _fail(self, image: Image, key: RenditionKey, message: str) -> None:
        CONVERSIONS.labels("failed").inc()
        await self._store.fail_rendition(
            image.id,
            key,
            self._owner,
            message,
            lambda r: [rendition_event(EventKind.RENDITION_FAILED, image, r)],
        )
        self._wake()
        log.warning("conversion failed", image_id=image.id, target=str(key), error=message)

    async def _convert_claimed(self, image: Image, key: RenditionKey) -> Rendition:
        original = await self._store.original_rendition(image.id)
        if original is None:
            raise FailedPrecondition(f"image {image.id} has no data (deleted?)")
        q = self._quotas
        # Time: what the owner project has left of its window.
        used_s = await self._store.conversion_seconds_used(image.owner, q.window_s)
        time_left = q.conversion_seconds - used_s
        if time_left <= 0:
            e = conversion_time_exhausted(image.owner, q.conversion_seconds, q.window_s, used_s)
            await self._fail(image, key, e.message)
            raise e
        # Bytes: a raw rendition reserves its whole size, others at most what is left.
        bound = _output_bound(key, original.virtual_size)
        reserved, left = await self._store.reserve_rendition_bytes(
            image.id,
            key,
            self._owner,
            project=image.owner,
            quota=q.stored_bytes,
            want=bound,
            at_least=bound if key.disk_format == "raw" else 1,
        )
        if reserved == 0:
            e = stored_bytes_exhausted(
                image.owner, q.stored_bytes, left, bound, f"a {key} rendition of image {image.id}"
            )
            await self._fail(image, key, e.message)
            raise e
        source = self._blobs.local_path(original.location)
        target = self._blobs.temp_path()
        options: list[str] = []
        if key.disk_format == "vmdk":
            options = [
                f"subformat={qemu_subformat(key.vmware_disktype)}",
                f"adapter_type={_QEMU_ADAPTER.get(image.properties.vmware_adaptertype, 'lsiLogic')}",
            ]
        started = time.monotonic()
        log.info(
            "conversion started",
            image_id=image.id,
            source=str(original.key),
            target=str(key),
            max_bytes=reserved,
            max_seconds=round(time_left, 1),
        )
        CONVERSIONS_RUNNING.inc()
        try:
            try:
                try:
                    await self._qemu.convert(
                        source,
                        original.key.disk_format,
                        target,
                        key.disk_format,
                        options,
                        timeout_s=time_left,
                        max_output_bytes=reserved,
                    )
                finally:
                    # Spent whatever happened (cancelled too): deleting the image does not
                    # give the time back.
                    with contextlib.suppress(Exception):
                        await asyncio.shield(
                            self._store.record_conversion(
                                image.owner, image.id, time.monotonic() - started
                            )
                        )
                # Hash while the output is inspected (both only read it).
                hashing = asyncio.ensure_future(asyncio.to_thread(hash_file, target))
                try:
                    inspection = await vet_file(
                        target,
                        key.disk_format,
                        max_virtual_size=self._max_virtual_size,
                        qemu=self._qemu,
                    )
                finally:
                    size, sha256 = await hashing
                want_sub = qemu_subformat(key.vmware_disktype) if key.vmware_disktype else ""
                if inspection.vmdk_subformat != want_sub:
                    raise Refusal(
                        "conversion-output",
                        f"qemu-img wrote {inspection.vmdk_subformat!r}, not {want_sub!r}",
                    )
                if not 0 <= inspection.virtual_size - original.virtual_size < 1024 * 1024:
                    raise Refusal(
                        "conversion-output",
                        f"virtual size {inspection.virtual_size} differs from the original's "
                        f"{original.virtual_size}",
                    )
            except QemuImgOutputLimit as e:
                exhausted = ResourceExhausted(
                    f"refused by rule {RULE_STORED_BYTES}: the {key} rendition of image "
                    f"{image.id} grew past the {reserved} bytes project {image.owner} had left "
                    f"of its {q.stored_bytes} stored bytes (POLYVISOR_PROJECT_MAX_STORED_BYTES)",
                    {"quota": RULE_STORED_BYTES, "project": image.owner, "limit": q.stored_bytes},
                )
                await self._fail(image, key, exhausted.message)
                raise exhausted from e
            except QemuImgTimeout as e:
                if time_left < self._qemu.convert_timeout_s:
                    exhausted = ResourceExhausted(
                        f"refused by rule {RULE_CONVERSION_TIME}: the conversion was stopped "
                        f"after {time_left:.0f} s, all the conversion time project "
                        f"{image.owner} had left; try again later",
                        {"quota": RULE_CONVERSION_TIME, "project": image.owner},
                    )
                    await self._fail(image, key, exhausted.message)
                    raise exhausted from e
                await self._fail(image, key, str(e))
                raise FailedPrecondition(f"rendition {key} failed: {e}") from e
            except (QemuImgError, Refusal) as e:
                message = e.reason if isinstance(e, Refusal) else str(e)
                await self._fail(image, key, message)
                raise FailedPrecondition(f"rendition {key} failed: {message}") from e
            location = await asyncio.to_thread(
                self._blobs.commit_path, target, image.id, key.file_name
            )
            rendition = await self._store.finish_rendition(
                image.id,
                key,
                self._owner,
                size=size,
                virtual_size=inspection.virtual_size,
                sha256=sha256,
                location=location,
                events_for=lambda r: [rendition_event(EventKind.RENDITION_READY, image, r)],
            )
            if rendition is None:
                await self._blobs.delete(location)
                raise FailedPrecondition(
                    f"image {image.id} was deleted (or the rendition taken over) during conversion"
                )
            self._wake()
            CONVERSIONS.labels("ready").inc()
            CONVERSION_SECONDS.observe(time.monotonic() - started)
            log.info(
                "rendition ready",
                image_id=image.id,
                target=str(key),
                size=size,
                seconds=round(time.monotonic() - started, 3),
            )
            return rendition
        finally:
            CONVERSIONS_RUNNING.dec()
            with contextlib.suppress(FileNotFoundError):
                target.unlink()

    async def _beat(self, image_id: str, key: RenditionKey, conversion: asyncio.Task[Any]) -> None:
        """Keep the claim alive; when it is gone (the image deleted here or on another
        replica, or the claim taken over), stop the conversion."""
        while True:
            await asyncio.sleep(self._heartbeat_s)
            try:
                held = await self._store.rendition_progress(image_id, key, self._owner)
            except Exception as e:
                log.warning("rendition heartbeat failed", image_id=image_id, error=repr(e))
                continue
            if not held:
                k = (image_id, key)
                image = await self._store.get_image(image_id, with_renditions=False)
                deleted = image is None or image.status is ImageStatus.DELETED
                self._cancelled.setdefault(k, _DELETED if deleted else _CLAIM_LOST)
                conversion.cancel()
                return
