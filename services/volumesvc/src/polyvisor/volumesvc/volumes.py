"""Volumes, snapshots, types and the attachment bookkeeping: the volume service's domain.
Who may do what is in `access`.

A backend call is made between two status changes: the row says what is in flight
(creating, extending, deleting), so a concurrent call is refused instead of racing the
backend. A backend failure undoes the row change (a create that failed leaves no volume; an
extend that failed leaves the size as it was) and is answered with the backend's error.

One concern: `Volumes` is the service's one domain entry point, and every method is the same
steps for one verb: who may do it (the rules in `access`), the row's status change in the
store, the backend call between the two. The SQL lives in `store`, the backends in
`backends`, the wire in `handlers` and `convert`; what is left here is that sequence per
verb, which reads best side by side.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import replace

from polyvisor.common.auth import Principal
from polyvisor.common.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    PolyvisorError,
)
from polyvisor.common.logging import get_logger
from polyvisor.volumesvc.access import principal, require_orchestrator, sees_all
from polyvisor.volumesvc.backends.base import (
    Connection,
    ImageSource,
    SnapshotRef,
    VolumeBackend,
    VolumeRef,
)
from polyvisor.volumesvc.model import (
    Attachment,
    Quota,
    Snapshot,
    SnapshotStatus,
    Volume,
    VolumeDraft,
    VolumeStatus,
    VolumeType,
)
from polyvisor.volumesvc.store import Store

__all__ = ["ImageFetcher", "Volumes"]

log = get_logger(__name__)

MAX_SIZE_GB = 16 * 1024
#: (image_id, bearer) -> a context that holds the image's bytes in a local file meanwhile
ImageFetcher = Callable[[str, str], AbstractAsyncContextManager[ImageSource]]

S = VolumeStatus


def _name(value: str, what: str) -> str:
    if len(value) > 255:
        raise InvalidArgument(f"{what} is longer than 255 characters")
    return value


class Volumes:
    def __init__(
        self,
        store: Store,
        backends: Mapping[str, VolumeBackend],
        default_type: str,
        images: ImageFetcher | None = None,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._backends = dict(backends)
        self._default_type = default_type
        self._images = images
        self._wake = wake

    # -- helpers

    def backend(self, t: VolumeType) -> VolumeBackend:
        b = self._backends.get(t.backend)
        if b is None:
            raise FailedPrecondition(
                f"volume type {t.name} names backend {t.backend!r}, which this volume service"
                " does not have",
                {"volume_type": t.name, "backend": t.backend},
            )
        return b

    def _with_kind(self, t: VolumeType) -> VolumeType:
        b = self._backends.get(t.backend)
        return replace(t, backend_kind=b.kind if b else "", is_default=t.name == self._default_type)

    def present(self, v: Volume) -> Volume:
        return replace(v, type=self._with_kind(v.type))

    async def _visible(self, p: Principal, volume_id: str) -> Volume:
        vol = await self._store.get_volume(volume_id)
        if not (sees_all(p) or vol.project_id == p.project_id):
            raise NotFound(f"volume {volume_id} not found", {"volume_id": volume_id})
        return vol

    @staticmethod
    def _ref(v: Volume) -> VolumeRef:
        return VolumeRef(v.id, v.size_gb, v.location, v.type.extra_specs)

    # -- types

    async def list_types(self, p: Principal | None) -> list[VolumeType]:
        principal(p)
        return [self._with_kind(t) for t in await self._store.list_types()]

    async def create_type(self, p: Principal | None, t: VolumeType) -> VolumeType:
        principal(p).require_admin()
        if not t.name:
            raise InvalidArgument("a volume type needs a name")
        if t.backend not in self._backends:
            raise InvalidArgument(
                f"no backend named {t.backend!r} (configured: {', '.join(sorted(self._backends))})",
                {"backend": t.backend},
            )
        if not t.hypervisor_types:
            raise InvalidArgument("a volume type names the hypervisor types that can use it")
        return self._with_kind(await self._store.create_type(t))

    async def delete_type(self, p: Principal | None, type_id: str) -> None:
        principal(p).require_admin()
        await self._store.delete_type(type_id)

    async def _type(self, asked: str) -> VolumeType:
        name = asked or self._default_type
        t = await self._store.find_type(name)
        if t is None:
            raise NotFound(f"volume type {name} not found", {"volume_type": name})
        return t

    # -- volumes

    async def create(
        self, p: Principal | None, draft: VolumeDraft, request_id: str = "", bearer: str = ""
    ) -> Volume:
        caller = principal(p)
        caller.require_write()
        project = draft.project_id or caller.project_id
        if project != caller.project_id and not sees_all(caller):
            raise PermissionDenied("creating a volume for another project needs the admin role")
        if request_id:
            seen = await self._store.by_request(project, request_id)
            if seen is not None:
                return self.present(seen)
        if draft.source_image_id and draft.source_snapshot_id:
            raise InvalidArgument("a volume comes from an image or a snapshot, not both")
        t = await self._type(draft.volume_type)
        backend = self.backend(t)
        snap: Snapshot | None = None
        size = draft.size_gb
        if draft.source_snapshot_id:
            snap = await self._own_snapshot(caller, draft.source_snapshot_id)
            if snap.status != SnapshotStatus.AVAILABLE:
                raise FailedPrecondition(f"snapshot {snap.id} is {snap.status.value}")
            src_vol = await self._store.get_volume(snap.volume_id)
            if src_vol.type.backend != t.backend:
                raise InvalidArgument(
                    f"snapshot {snap.id} is on backend {src_vol.type.backend}; a volume of type"
                    f" {t.name} is on {t.backend}"
                )
            size = size or snap.size_gb
            if size < snap.size_gb:
                raise InvalidArgument(
                    f"the volume ({size} GiB) is smaller than its snapshot ({snap.size_gb} GiB)"
                )
        if draft.source_image_id and self._images is None:
            raise FailedPrecondition("this volume service has no image service to copy from")
        if not 0 < size <= MAX_SIZE_GB:
            raise InvalidArgument(f"size_gb must be between 1 and {MAX_SIZE_GB}")
        vol = Volume(
            id=str(uuid.uuid4()),
            name=_name(draft.name, "name"),
            description=_name(draft.description, "description"),
            project_id=project,
            size_gb=size,
            type=t,
            status=S.CREATING,
            bootable=draft.bootable or bool(draft.source_image_id),
            source_image_id=draft.source_image_id,
            source_snapshot_id=draft.source_snapshot_id,
        )
        vol = await self._store.insert_volume(vol, request_id)
        try:
            if draft.source_image_id:
                assert self._images is not None
                async with self._images(draft.source_image_id, bearer) as image:
                    location = await backend.create(self._ref(vol), image=image)
            else:
                ref = (
                    SnapshotRef(snap.id, snap.volume_id, snap.size_gb, snap.location)
                    if snap
                    else None
                )
                location = await backend.create(self._ref(vol), snapshot=ref)
        except BaseException as e:
            await self._store.delete_volume(vol.id)
            self._wake()
            if isinstance(e, PolyvisorError):
                log.info("volume create failed", volume_id=vol.id, error=e.message)
            raise
        made = await self._store.transition(
            vol.id, (S.CREATING,), S.AVAILABLE, "available", location=location
        )
        self._wake()
        assert made is not None
        log.info("volume created", volume_id=vol.id, size_gb=size, type=t.name)
        return self.present(made)

    async def get(self, p: Principal | None, volume_id: str) -> Volume:
        return self.present(await self._visible(principal(p), volume_id))

    async def list(
        self, p: Principal | None, *, all_projects: bool, server_id: str, after: str, size: int
    ) -> list[Volume]:
        caller = principal(p)
        if all_projects and not sees_all(caller):
            raise PermissionDenied("all_projects needs the admin role")
        project = None if all_projects or (server_id and sees_all(caller)) else caller.project_id
        items = await self._store.list_volumes(project, server_id, after, size)
        return [self.present(v) for v in items]

    async def describe(
        self, p: Principal | None, volume_id: str, name: str | None, description: str | None
    ) -> Volume:
        """A new name and/or description (None: kept), in any status."""
        caller = principal(p)
        caller.require_write()
        vol = await self._visible(caller, volume_id)
        _name(name or "", "name")
        _name(description or "", "description")
        made = await self._store.describe_volume(vol.id, name, description)
        self._wake()
        return self.present(made)

    async def delete(self, p: Principal | None, volume_id: str) -> None:
        caller = principal(p)
        caller.require_write()
        vol = await self._visible(caller, volume_id)
        if vol.attachments:
            raise FailedPrecondition(
                f"volume {vol.id} is attached to server {vol.attachments[0].server_id}:"
                " detach it first",
                {"volume_id": vol.id, "server_id": vol.attachments[0].server_id},
            )
        snaps = await self._store.snapshot_count(vol.id)
        if snaps:
            raise FailedPrecondition(
                f"volume {vol.id} has {snaps} snapshot(s): delete them first",
                {"volume_id": vol.id, "snapshots": snaps},
            )
        gone = await self._store.transition(vol.id, (S.AVAILABLE, S.ERROR), S.DELETING)
        if gone is None:
            raise FailedPrecondition(
                f"volume {vol.id} is {(await self._store.get_volume(vol.id)).status.value}:"
                " it cannot be deleted now",
                {"volume_id": vol.id},
            )
        try:
            await self.backend(vol.type).delete(self._ref(vol))
        except PolyvisorError:
            await self._store.transition(vol.id, (S.DELETING,), vol.status)
            raise
        await self._store.delete_volume(vol.id)
        self._wake()
        log.info("volume deleted", volume_id=vol.id)

    async def extend(self, p: Principal | None, volume_id: str, new_size_gb: int) -> Volume:
        caller = principal(p)
        caller.require_write()
        vol = await self._visible(caller, volume_id)
        if new_size_gb <= vol.size_gb:
            raise InvalidArgument(
                f"new_size_gb ({new_size_gb}) must be larger than the volume's size"
                f" ({vol.size_gb}): volumes never shrink",
                {"size_gb": vol.size_gb, "new_size_gb": new_size_gb},
            )
        if new_size_gb > MAX_SIZE_GB:
            raise InvalidArgument(f"new_size_gb must be at most {MAX_SIZE_GB}")
        if vol.attachments:
            raise FailedPrecondition(
                f"volume {vol.id} is attached: detach it before extending it",
                {"volume_id": vol.id},
            )
        await self._store.check_extend_quota(vol.project_id, new_size_gb - vol.size_gb)
        if await self._store.transition(vol.id, (S.AVAILABLE,), S.EXTENDING) is None:
            raise FailedPrecondition(
                f"volume {vol.id} is {(await self._store.get_volume(vol.id)).status.value}:"
                " it cannot be extended now",
                {"volume_id": vol.id},
            )
        try:
            await self.backend(vol.type).extend(self._ref(vol), new_size_gb)
        except BaseException:
            await self._store.transition(vol.id, (S.EXTENDING,), S.AVAILABLE)
            raise
        done = await self._store.transition(
            vol.id, (S.EXTENDING,), S.AVAILABLE, "extended", size_gb=new_size_gb
        )
        self._wake()
        assert done is not None
        return self.present(done)

    # -- snapshots

    async def _own_snapshot(self, p: Principal, snapshot_id: str) -> Snapshot:
        snap = await self._store.get_snapshot(snapshot_id)
        if not (sees_all(p) or snap.project_id == p.project_id):
            raise NotFound(f"snapshot {snapshot_id} not found", {"snapshot_id": snapshot_id})
        return snap

    async def create_snapshot(
        self,
        p: Principal | None,
        volume_id: str,
        name: str,
        description: str,
        force: bool,
        request_id: str = "",
    ) -> Snapshot:
        caller = principal(p)
        caller.require_write()
        vol = await self._visible(caller, volume_id)
        if request_id:
            seen = await self._store.snapshot_by_request(vol.project_id, request_id)
            if seen is not None:
                return seen
        ok = (S.AVAILABLE, S.IN_USE) if force else (S.AVAILABLE,)
        if vol.status not in ok:
            hint = (
                " (force takes a crash-consistent copy of an attached one)"
                if (vol.status == S.IN_USE)
                else ""
            )
            raise FailedPrecondition(
                f"volume {vol.id} is {vol.status.value}: it cannot be snapshotted{hint}",
                {"volume_id": vol.id, "status": vol.status.value},
            )
        backend = self.backend(vol.type)
        snap = await self._store.insert_snapshot(
            Snapshot(
                id=str(uuid.uuid4()),
                volume_id=vol.id,
                project_id=vol.project_id,
                name=_name(name, "name"),
                description=_name(description, "description"),
                size_gb=vol.size_gb,
                status=SnapshotStatus.CREATING,
            ),
            request_id,
        )
        ref = SnapshotRef(snap.id, vol.id, snap.size_gb)
        try:
            location = await backend.create_snapshot(self._ref(vol), ref)
        except BaseException:
            await self._store.delete_snapshot(snap)
            self._wake()
            raise
        done = await self._store.set_snapshot(
            snap.id, (SnapshotStatus.CREATING,), SnapshotStatus.AVAILABLE, location
        )
        self._wake()
        assert done is not None
        return done

    async def get_snapshot(self, p: Principal | None, snapshot_id: str) -> Snapshot:
        return await self._own_snapshot(principal(p), snapshot_id)

    async def list_snapshots(
        self, p: Principal | None, *, all_projects: bool, volume_id: str, after: str, size: int
    ) -> builtins.list[Snapshot]:
        caller = principal(p)
        if all_projects and not sees_all(caller):
            raise PermissionDenied("all_projects needs the admin role")
        project = None if all_projects else caller.project_id
        return await self._store.list_snapshots(project, volume_id, after, size)

    async def delete_snapshot(self, p: Principal | None, snapshot_id: str) -> None:
        caller = principal(p)
        caller.require_write()
        snap = await self._own_snapshot(caller, snapshot_id)
        vol = await self._store.get_volume(snap.volume_id)
        if (
            await self._store.set_snapshot(
                snap.id,
                (SnapshotStatus.AVAILABLE, SnapshotStatus.ERROR),
                SnapshotStatus.DELETING,
            )
            is None
        ):
            raise FailedPrecondition(f"snapshot {snap.id} is {snap.status.value}")
        try:
            await self.backend(vol.type).delete_snapshot(
                SnapshotRef(snap.id, snap.volume_id, snap.size_gb, snap.location)
            )
        except BaseException:
            await self._store.set_snapshot(snap.id, (SnapshotStatus.DELETING,), snap.status)
            raise
        await self._store.delete_snapshot(snap)
        self._wake()

    # -- quotas

    async def quota(self, p: Principal | None, project_id: str) -> Quota:
        caller = principal(p)
        project = project_id or caller.project_id
        if project != caller.project_id and not sees_all(caller):
            raise PermissionDenied("another project's quota needs the admin role")
        return await self._store.quota(project)

    async def set_quota(self, p: Principal | None, q: Quota) -> Quota:
        principal(p).require_admin()
        if not q.project_id:
            raise InvalidArgument("a quota names its project")
        for what in (q.volumes, q.gigabytes, q.snapshots):
            if what < -1:
                raise InvalidArgument("a quota limit is -1 (none) or at least 0")
        return await self._store.set_quota(q)

    # -- attachments (the compute api)

    async def reserve(
        self,
        p: Principal | None,
        volume_id: str,
        att: Attachment,
        project_id: str,
    ) -> tuple[Volume, Connection]:
        require_orchestrator(p)
        if not att.server_id:
            raise InvalidArgument("server_id is required")
        vol = await self._store.get_volume(volume_id)
        if vol.project_id != project_id:
            # another project's volume does not exist for the server's owner
            raise NotFound(f"volume {volume_id} not found", {"volume_id": volume_id})
        # A root volume reserved for a server not placed yet (no host, no hypervisor type):
        # the api places the server only on hosts that attach the volume's backend kind.
        unplaced = att.root and not att.host and not att.hypervisor_type
        if not unplaced and not vol.type.usable_by(att.hypervisor_type):
            raise FailedPrecondition(
                f"volume {vol.id} is of type {vol.type.name}, which {att.hypervisor_type} hosts"
                f" cannot use (it is for {', '.join(vol.type.hypervisor_types)})",
                {
                    "volume_id": vol.id,
                    "volume_type": vol.type.name,
                    "hypervisor_type": att.hypervisor_type,
                },
            )
        backend = self.backend(vol.type)
        vol = await self._store.reserve(vol.id, att, vol.type.multiattach)
        self._wake()
        return self.present(vol), backend.connection(self._ref(vol))

    async def complete(self, p: Principal | None, volume_id: str, server_id: str) -> Volume:
        require_orchestrator(p)
        vol = await self._store.set_attachment(volume_id, server_id, "attached", "attached")
        self._wake()
        return self.present(vol)

    async def begin_detach(
        self, p: Principal | None, volume_id: str, server_id: str, server_deleted: bool
    ) -> tuple[Volume, Connection]:
        require_orchestrator(p)
        vol = await self._store.get_volume(volume_id)
        att = vol.attachment(server_id)
        if att is None:
            raise FailedPrecondition(
                f"volume {volume_id} is not attached to server {server_id}",
                {"volume_id": volume_id, "server_id": server_id},
            )
        if att.root and not server_deleted:
            raise FailedPrecondition(
                f"volume {volume_id} is the root disk of server {server_id}: it cannot be"
                " detached (it goes with the server)",
                {"volume_id": volume_id, "server_id": server_id},
            )
        if att.state != "detaching":
            vol = await self._store.set_attachment(volume_id, server_id, "detaching", "detaching")
            self._wake()
        return self.present(vol), self.backend(vol.type).connection(self._ref(vol))

    async def remove_attachment(
        self, p: Principal | None, volume_id: str, server_id: str
    ) -> Volume:
        require_orchestrator(p)
        vol = await self._store.set_attachment(volume_id, server_id, None, "detached")
        self._wake()
        return self.present(vol)
