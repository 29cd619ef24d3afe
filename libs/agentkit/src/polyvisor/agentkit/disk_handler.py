"""The disk verbs of a command (``snapshot``, ``rebuild``) applied to the driver's disk
capabilities (``disk_capabilities``): the command handler's part for them. A host without the
capability fails the command naming the verb (the command handler answers COMMAND_FAILED)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Protocol

from polyvisor.agentkit.commands import Command
from polyvisor.agentkit.disk_capabilities import Rebuild, Snapshot
from polyvisor.agentkit.driver import (
    Driver,
    DriverError,
    ImageRef,
    Instance,
    PowerState,
    RenditionWanted,
)
from polyvisor.agentkit.errors import ImageUnavailable
from polyvisor.agentkit.executor import DriverCalls
from polyvisor.agentkit.image_cache import ImageCache
from polyvisor.common.logging import get_logger

__all__ = ["ImageSink", "apply_rebuild", "rebuild_rendition", "upload_snapshot"]

log = get_logger(__name__)


class ImageSink(Protocol):
    """Where snapshots go (the image service; see ``image_source.GrpcImageSink``)."""

    async def status(self, image_id: str) -> str: ...

    async def upload(self, image_id: str, path: Path, properties: dict[str, str]) -> None: ...

    async def fail(self, image_id: str, reason: str) -> None: ...


def rebuild_rendition(image: ImageRef, host: tuple[RenditionWanted, ...]) -> RenditionWanted:
    """The image as it is when this host boots its format, else the host's first rendition
    (the image service converts)."""
    for r in host:
        if r.disk_format == image.disk_format and r.vmware_disktype in ("", image.vmware_disktype):
            return RenditionWanted(image.disk_format, image.vmware_disktype)
    if not host:
        raise DriverError("this host reports no disk format it boots")
    return host[0]


async def upload_snapshot(
    driver: Driver,
    calls: DriverCalls,
    sink: ImageSink | None,
    scratch_dir: Path | None,
    cmd: Command,
) -> PowerState | None:
    """Take the server's snapshot and upload it to the command's image, unless an earlier
    delivery did; the power state the snapshot reports (None when nothing was taken)."""
    req = cmd.snapshot
    assert req is not None
    if not isinstance(driver, Snapshot):
        raise DriverError(f"this host ({type(driver).__name__}) cannot take snapshots")
    if sink is None:
        raise DriverError("this agent has no image service to upload snapshots to")
    status = await sink.status(req.image_id)
    power: PowerState | None = None
    if status == "SAVING":
        # An upload of ours that died with its process: the image service queues the
        # image again once that upload stops beating.
        raise ImageUnavailable(f"image {req.image_id} is still saving", retryable=True)
    if status in ("KILLED", "DELETED"):
        raise DriverError(f"image {req.image_id} is {status.lower()}: nothing to upload to")
    if status == "QUEUED":
        if scratch_dir is not None:
            scratch_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (local, instant)
        work = Path(tempfile.mkdtemp(prefix=f"snapshot-{cmd.server_id}-", dir=scratch_dir))
        try:
            snap = await calls.run("snapshot", driver.snapshot, cmd.server_id, work)
            properties = {
                "snapshot_consistency": "quiesced" if snap.quiesced else "crash-consistent",
                **({"snapshot_method": snap.method} if snap.method else {}),
                **snap.properties,
            }
            await sink.upload(req.image_id, snap.path, properties)
            power = snap.power_state
        finally:
            await asyncio.to_thread(shutil.rmtree, work, True)
        log.info("snapshot uploaded", image_id=req.image_id, quiesced=snap.quiesced)
    # ACTIVE: uploaded by an earlier delivery of this command; only the answer is left.
    return power


async def apply_rebuild(
    driver: Driver, calls: DriverCalls, cache: ImageCache, cmd: Command
) -> Instance:
    """Rebuild the server from the command's image; the server as it is then."""
    req = cmd.rebuild
    assert req is not None
    if not isinstance(driver, Rebuild):
        raise DriverError(f"this host ({type(driver).__name__}) cannot rebuild servers")
    # Rebuild stays on this host: of the renditions it reports, the one it boots the
    # image from (the rule the scheduler applies to a placement, `scheduler.renditions`).
    info = await calls.run("host_info", driver.host_info)
    rendition = rebuild_rendition(req.image, info.disk_formats)
    local = await cache.fetch(
        req.image, rendition, user=cmd.server_id, expected_sha256=req.expected_sha256
    )
    return await calls.run(
        "rebuild",
        lambda: driver.rebuild(cmd.server_id, local, req.disk_gb, powered_off=req.powered_off),
    )
