"""Protobuf <-> domain for the volume service."""

from __future__ import annotations

from datetime import UTC, datetime

from polyvisor.common.convert import ts
from polyvisor.volume.v1 import volumes_pb2 as pb
from polyvisor.volumesvc.backends.base import Connection
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

__all__ = [
    "connection_to_pb",
    "event_to_pb",
    "quota_from_pb",
    "quota_to_pb",
    "snapshot_to_pb",
    "type_from_pb",
    "type_to_pb",
    "volume_draft_from_pb",
    "volume_to_pb",
]

_STATUS = {s: getattr(pb, f"VOLUME_STATUS_{s.name}") for s in VolumeStatus}
_SNAP_STATUS = {s: getattr(pb, f"SNAPSHOT_STATUS_{s.name}") for s in SnapshotStatus}


def type_to_pb(t: VolumeType) -> pb.VolumeType:
    return pb.VolumeType(
        id=t.id,
        name=t.name,
        backend=t.backend,
        backend_kind=t.backend_kind,
        hypervisor_types=list(t.hypervisor_types),
        multiattach=t.multiattach,
        description=t.description,
        extra_specs=dict(t.extra_specs),
        is_default=t.is_default,
    )


def type_from_pb(t: pb.VolumeType) -> VolumeType:
    return VolumeType(
        id="",
        name=t.name.strip(),
        backend=t.backend.strip(),
        hypervisor_types=tuple(h.strip().lower() for h in t.hypervisor_types if h.strip()),
        multiattach=t.multiattach,
        description=t.description,
        extra_specs=dict(t.extra_specs),
    )


def _attachment_to_pb(a: Attachment) -> pb.Attachment:
    return pb.Attachment(
        server_id=a.server_id,
        host=a.host,
        state=a.state,
        root=a.root,
        delete_on_termination=a.delete_on_termination,
        attach_time=ts(a.created_at),
    )


def volume_to_pb(v: Volume) -> pb.Volume:
    return pb.Volume(
        id=v.id,
        name=v.name,
        project_id=v.project_id,
        size_gb=v.size_gb,
        volume_type=v.type.name,
        status=_STATUS[v.status],
        bootable=v.bootable,
        source_image_id=v.source_image_id,
        source_snapshot_id=v.source_snapshot_id,
        description=v.description,
        attachments=[_attachment_to_pb(a) for a in v.attachments],
        fault=v.fault,
        create_time=ts(v.created_at),
        update_time=ts(v.updated_at),
    )


def volume_draft_from_pb(v: pb.Volume) -> VolumeDraft:
    return VolumeDraft(
        name=v.name,
        size_gb=v.size_gb,
        volume_type=v.volume_type.strip(),
        description=v.description,
        project_id=v.project_id,
        source_image_id=v.source_image_id.strip(),
        source_snapshot_id=v.source_snapshot_id.strip(),
        bootable=v.bootable,
    )


def snapshot_to_pb(s: Snapshot) -> pb.Snapshot:
    return pb.Snapshot(
        id=s.id,
        volume_id=s.volume_id,
        name=s.name,
        project_id=s.project_id,
        size_gb=s.size_gb,
        status=_SNAP_STATUS[s.status],
        description=s.description,
        create_time=ts(s.created_at),
    )


def quota_to_pb(q: Quota) -> pb.VolumeQuota:
    return pb.VolumeQuota(
        project_id=q.project_id,
        volumes=q.volumes,
        gigabytes=q.gigabytes,
        snapshots=q.snapshots,
        volumes_used=q.volumes_used,
        gigabytes_used=q.gigabytes_used,
        snapshots_used=q.snapshots_used,
    )


def quota_from_pb(q: pb.VolumeQuota) -> Quota:
    return Quota(q.project_id, q.volumes, q.gigabytes, q.snapshots)


def connection_to_pb(c: Connection) -> pb.Connection:
    return pb.Connection(kind=c.kind, attrs=dict(c.attrs))


def event_to_pb(kind: str, v: Volume, snapshot_id: str, server_id: str) -> pb.VolumeEvent:
    return pb.VolumeEvent(
        kind=kind,
        volume=volume_to_pb(v),
        snapshot_id=snapshot_id,
        server_id=server_id,
        time=ts(datetime.now(UTC)),
        sequence=v.sequence,
    )
