"""Upload: stream bytes into the store, inspect, and only then make the image active.

An image is claimed for an upload with a conditional update (`queued -> saving`) in the
database, so a second upload of the same image is refused whichever replica it reaches. The
bytes go to a temp file in the store, hashed and counted while they arrive; the image
becomes active only after the inspector and qemu-img accept the complete file, which is
then renamed into place. Whatever goes wrong, the temp file is removed: a client that goes
away leaves the image queued (try again), bad bytes leave it killed with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field

from polyvisor.common.auth import Principal
from polyvisor.common.errors import (
    FailedPrecondition,
    InvalidArgument,
    PolyvisorError,
    Unavailable,
)
from polyvisor.common.logging import get_logger
from polyvisor.common.rbd import RbdError
from polyvisor.imagesvc import access
from polyvisor.imagesvc.blobstore import FilesystemStore, StreamWriter, TempBlob
from polyvisor.imagesvc.events import EventKind, image_event
from polyvisor.imagesvc.inspector import Refusal
from polyvisor.imagesvc.metrics import UPLOAD_BYTES, UPLOADS
from polyvisor.imagesvc.model import Image, ImageStatus, RenditionKey
from polyvisor.imagesvc.properties import validate_extra_properties
from polyvisor.imagesvc.qemu import QemuImg
from polyvisor.imagesvc.quotas import stored_bytes_exhausted
from polyvisor.imagesvc.store import Store
from polyvisor.imagesvc.vetting import vet_file

__all__ = ["MAX_CHUNK", "UploadHeader", "Uploads"]

log = get_logger(__name__)

MAX_CHUNK = 1024 * 1024
_SHA256_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class UploadHeader:
    image_id: str
    size: int = 0
    sha256: str = ""
    # The uploader could not produce the data: the image is killed with this reason.
    failure: str = ""
    # Added to the image's properties once it is active (validated like CreateImage's).
    properties: Mapping[str, str] = field(default_factory=dict)


class _Kill(Exception):
    """The upload's bytes are unacceptable: the image is killed with this reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Interrupted(Exception):
    """The stream ended early: the image goes back to queued."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Uploads:
    def __init__(
        self,
        store: Store,
        blobs: FilesystemStore,
        qemu: QemuImg,
        *,
        server_id: str,
        max_virtual_size: int,
        max_upload_bytes: int,
        heartbeat_s: float,
        wake_outbox: Callable[[], None],
        max_project_bytes: int,
    ) -> None:
        self._store = store
        self._max_project_bytes = max_project_bytes
        self._blobs = blobs
        self._qemu = qemu
        self._owner = server_id
        self._max_virtual_size = max_virtual_size
        self._max_upload_bytes = max_upload_bytes
        self._heartbeat_s = heartbeat_s
        self._wake = wake_outbox

    async def upload(
        self,
        p: Principal | None,
        header: UploadHeader,
        chunks: AsyncIterator[bytes],
        cancelled: Callable[[], bool] = lambda: False,
    ) -> Image:
        """Stream `chunks` into the image. `cancelled()` tells whether the client went away
        (gRPC ends a cancelled request stream as if it were complete)."""
        if header.size < 0:
            raise InvalidArgument("header.size must not be negative")
        expected_sha = header.sha256.lower()
        if expected_sha and (len(expected_sha) != 64 or not set(expected_sha) <= _SHA256_HEX):
            raise InvalidArgument("header.sha256 must be 64 hex digits")
        extra = validate_extra_properties(header.properties) if header.properties else {}
        image = access.require_upload(
            p,
            await self._store.get_image(header.image_id, with_renditions=False),
            header.image_id,
            failure=bool(header.failure),
        )
        if image.status is not ImageStatus.QUEUED:
            raise FailedPrecondition(_not_queued(image))
        # The owner project's stored-bytes quota (an upload that would pass it is refused
        # before or while the bytes come, and the image stays queued).
        quota_left = max(
            0, self._max_project_bytes - await self._store.project_stored_bytes(image.owner)
        )
        if header.size > quota_left:
            raise self._over_quota(image, quota_left, header.size)
        if not await self._store.claim_upload(image.id, self._owner):
            again = await self._store.get_image(image.id, with_renditions=False)
            raise FailedPrecondition(_not_queued(again or image))
        log.info("upload started", image_id=image.id, expected_size=header.size)
        temp = await self._blobs.new_temp()
        beat = asyncio.create_task(self._beat(image.id), name=f"upload-heartbeat:{image.id}")
        outcome = "interrupted"
        started = time.monotonic()
        timings: dict[str, float] = {}
        try:
            try:
                if header.failure:
                    raise _Kill(
                        f"the uploader could not produce the image: {header.failure}"[:1000]
                    )
                await self._receive(temp, header, chunks, quota_left, image)
                timings["receive_s"] = time.monotonic() - started
                if expected_sha and temp.sha256 != expected_sha:
                    raise _Kill(
                        f"refused by rule checksum: sha256 {temp.sha256} differs from the "
                        f"header's {expected_sha}"
                    )
                await asyncio.to_thread(temp.close, False)
                if cancelled():
                    raise _Interrupted("the client cancelled the upload")
                try:
                    inspection = await vet_file(
                        temp.path,
                        image.disk_format,
                        max_virtual_size=self._max_virtual_size,
                        qemu=self._qemu,
                    )
                except Refusal as r:
                    raise _Kill(r.reason) from r
                timings["inspect_s"] = time.monotonic() - started - timings["receive_s"]
                declared = image.properties.vmware_disktype
                disktype = {"monolithicSparse": "sparse", "streamOptimized": "streamOptimized"}.get(
                    inspection.vmdk_subformat, ""
                )
                if disktype and declared and declared != disktype:
                    raise _Kill(
                        f"refused by rule vmware-disktype: declared vmware_disktype {declared}, "
                        f"but the vmdk is {disktype}"
                    )
            except _Kill as k:
                reason = k.reason
                # Shielded: once decided, the kill is recorded even if the RPC is cancelled.
                killed = await asyncio.shield(
                    self._store.kill_upload(
                        image.id,
                        self._owner,
                        reason,
                        lambda img: [image_event(EventKind.KILLED, img, reason)],
                    )
                )
                outcome = "killed"
                self._wake()
                log.info("upload refused", image_id=image.id, reason=reason)
                if killed is None:
                    raise FailedPrecondition(
                        f"image {image.id} changed during the upload (deleted?)"
                    ) from k
                raise InvalidArgument(reason, {"image_id": image.id}) from k
            if cancelled():
                raise _Interrupted("the client cancelled the upload")
            key = RenditionKey(image.disk_format, disktype)
            mark = time.monotonic()
            try:
                location = await self._blobs.commit(temp, image.id, key.file_name)
            except RbdError as e:  # the RBD store's cluster refused or did not answer
                log.warning("upload commit failed", image_id=image.id, error=str(e))
                raise Unavailable(
                    f"the image store could not keep image {image.id}; the image is queued "
                    "again, retry the upload"
                ) from e
            timings["commit_s"] = time.monotonic() - mark
            active = await asyncio.shield(
                self._store.activate(
                    image.id,
                    self._owner,
                    size=temp.size,
                    virtual_size=inspection.virtual_size,
                    sha256=temp.sha256,
                    vmware_disktype=disktype,
                    key=key,
                    location=location,
                    events_for=lambda img: [image_event(EventKind.ACTIVATED, img)],
                    extra_properties=extra,
                )
            )
            if active is None:
                await self._blobs.delete(location)
                raise FailedPrecondition(f"image {image.id} changed during the upload (deleted?)")
            self._wake()
            outcome = "active"
            UPLOAD_BYTES.inc(temp.size)
            log.info(
                "image active",
                image_id=image.id,
                size=temp.size,
                sha256=temp.sha256,
                **{k: round(v, 3) for k, v in timings.items()},
            )
            return active
        except _Interrupted as i:
            # Short or cancelled: nothing wrong with the image, the bytes just did not all come.
            raise InvalidArgument(
                f"upload interrupted: {i.reason}; the image is queued again", {"image_id": image.id}
            ) from i
        finally:
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)
            # Runs to its end even when the RPC is cancelled (the client went away).
            await asyncio.shield(self._cleanup(image.id, temp, outcome))
            UPLOADS.labels(outcome).inc()

    def _over_quota(self, image: Image, left: int, need: int) -> PolyvisorError:
        return stored_bytes_exhausted(
            image.owner, self._max_project_bytes, left, need, f"the upload of image {image.id}"
        )

    async def _receive(
        self,
        temp: TempBlob,
        header: UploadHeader,
        chunks: AsyncIterator[bytes],
        quota_left: int,
        image: Image,
    ) -> None:
        writer = StreamWriter(temp)
        try:
            async for chunk in chunks:
                if len(chunk) > MAX_CHUNK:
                    raise InvalidArgument(f"chunks are at most {MAX_CHUNK} bytes")
                total = writer.queued + len(chunk)
                if header.size and total > header.size:
                    raise _Kill(
                        f"refused by rule size: more than the announced {header.size} bytes"
                    )
                if total > self._max_upload_bytes:
                    raise _Kill(
                        f"refused by rule size: more than the maximum {self._max_upload_bytes} "
                        "bytes"
                    )
                if total > quota_left:
                    raise self._over_quota(image, quota_left, total)
                await writer.write(chunk)
            await writer.finish()
        finally:
            # Stops the writer thread whatever happened (a no-op after finish()).
            await asyncio.shield(writer.abort())
        if header.size and temp.size < header.size:
            raise _Interrupted(f"the stream ended after {temp.size} of {header.size} bytes")

    async def _cleanup(self, image_id: str, temp: TempBlob, outcome: str) -> None:
        if not temp.done:
            await asyncio.to_thread(temp.discard)
        if outcome == "interrupted":
            with contextlib.suppress(PolyvisorError, OSError):
                released = await self._store.release_upload(
                    image_id, self._owner, "upload interrupted; upload again"
                )
                if released:
                    log.info("upload interrupted, image queued again", image_id=image_id)

    async def _beat(self, image_id: str) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_s)
            try:
                await self._store.upload_heartbeat(image_id, self._owner)
            except Exception as e:  # a missed beat is not fatal; the next one may pass
                log.warning("upload heartbeat failed", image_id=image_id, error=repr(e))


def _not_queued(image: Image) -> str:
    if image.status is ImageStatus.SAVING:
        return f"image {image.id} is saving: another upload is in progress"
    return f"image {image.id} is {image.status.value}: uploads are accepted only while queued"
