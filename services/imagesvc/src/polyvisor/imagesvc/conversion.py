"""One conversion of an image to a rendition, under the claim this replica holds (see
`renditions` for who converts when): qemu-img within the project's quotas (a file size limit,
the time left) and the service's limit of conversions at once, the output inspected again,
stored with its size and sha256 and announced; a heartbeat keeps the claim while it runs and
cancels the conversion when the claim or the image is gone."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from polyvisor.common.errors import FailedPrecondition, NotFound, ResourceExhausted
from polyvisor.common.logging import get_logger
from polyvisor.common.rbd import RbdError
from polyvisor.imagesvc.blobstore import FilesystemStore, hash_file
from polyvisor.imagesvc.events import EventKind, rendition_event
from polyvisor.imagesvc.inspector import Refusal
from polyvisor.imagesvc.metrics import CONVERSION_SECONDS, CONVERSIONS, CONVERSIONS_RUNNING
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

__all__ = ["CLAIM_LOST", "DELETED", "STOPPING", "ConversionBase", "output_bound"]

log = get_logger(__name__)

#: qemu-img's vmdk adapter_type for the image property vmware_adaptertype (the descriptor's
#: ddb.adapterType; vSphere attaches the controller the VM spec names).
QEMU_ADAPTER = {
    "": "lsilogic",
    "lsiLogic": "lsilogic",
    "lsiLogicsas": "lsilogic",
    "paraVirtual": "lsilogic",
    "busLogic": "buslogic",
    "ide": "ide",
}
#: Cancellation reasons of a conversion (asyncio cancellation carries no reason of its own).
DELETED = "the image was deleted"
CLAIM_LOST = "the rendition was taken over or its image deleted"
STOPPING = "stopping"


def output_bound(key: RenditionKey, virtual_size: int) -> int:
    """The most a conversion to `key` writes: a raw file is exactly the virtual size; qcow2
    and vmdk add their metadata (well under 1/64 of the disk) to at most all of its data."""
    if key.disk_format == "raw":
        return (virtual_size + 511) // 512 * 512
    return virtual_size + virtual_size // 64 + 16 * 1024 * 1024


class ConversionBase:
    """What a conversion needs (the store, the blobs, qemu-img, the limits) and the
    conversion itself; `renditions.Renditions` decides when one runs."""

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
            reason = self._cancelled.get(k, STOPPING)
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
            if reason == STOPPING:
                raise
            me.uncancel()
            log.info("conversion cancelled", image_id=image.id, target=str(key), reason=reason)
            if reason == DELETED:
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
        bound = output_bound(key, original.virtual_size)
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
        try:
            source, staged = await self._blobs.stage(original.location)
        except (OSError, RbdError) as e:  # the original is gone, or its store does not answer
            await self._fail(image, key, f"reading the original failed: {e}")
            raise FailedPrecondition(f"rendition {key} failed: the original is unreadable") from e
        target = self._blobs.temp_path()
        options: list[str] = []
        if key.disk_format == "vmdk":
            options = [
                f"subformat={qemu_subformat(key.vmware_disktype)}",
                f"adapter_type={QEMU_ADAPTER.get(image.properties.vmware_adaptertype, 'lsiLogic')}",
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
            if staged:
                with contextlib.suppress(FileNotFoundError):
                    source.unlink()

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
                self._cancelled.setdefault(k, DELETED if deleted else CLAIM_LOST)
                conversion.cancel()
                return
