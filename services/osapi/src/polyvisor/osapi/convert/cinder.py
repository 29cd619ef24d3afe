"""Cinder v3's JSON (microversion 3.0): volumes, their attachments, volume types and
snapshots, from the volume service's messages (cinder/api/v3/views, cinder/api/views)."""

from __future__ import annotations

from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from polyvisor.osapi.convert.common import iso_us, stable_uuid
from polyvisor.volume.v1 import volumes_pb2 as vp

__all__ = [
    "SNAPSHOT_STATUS",
    "STATUS",
    "attachment_id",
    "snapshot",
    "volume",
    "volume_summary",
    "volume_type",
]

#: Cinder's spellings of a volume's status.
STATUS = {
    vp.VOLUME_STATUS_CREATING: "creating",
    vp.VOLUME_STATUS_AVAILABLE: "available",
    vp.VOLUME_STATUS_ATTACHING: "attaching",
    vp.VOLUME_STATUS_IN_USE: "in-use",
    vp.VOLUME_STATUS_DETACHING: "detaching",
    vp.VOLUME_STATUS_EXTENDING: "extending",
    vp.VOLUME_STATUS_DELETING: "deleting",
    vp.VOLUME_STATUS_ERROR: "error",
}
SNAPSHOT_STATUS = {
    vp.SNAPSHOT_STATUS_CREATING: "creating",
    vp.SNAPSHOT_STATUS_AVAILABLE: "available",
    vp.SNAPSHOT_STATUS_DELETING: "deleting",
    vp.SNAPSHOT_STATUS_ERROR: "error",
}


def _time(ts: Timestamp) -> str | None:
    """Cinder's `2026-12-07T01:02:03.000000` (no zone: its times are UTC)."""
    out = iso_us(ts)
    return out.removesuffix("Z") if out else None


def _links(base: str, project_id: str, kind: str, item_id: str) -> list[dict[str, str]]:
    return [
        {"rel": "self", "href": f"{base}/volume/v3/{project_id}/{kind}/{item_id}"},
        {"rel": "bookmark", "href": f"{base}/volume/{project_id}/{kind}/{item_id}"},
    ]


def attachment_id(volume_id: str, server_id: str) -> str:
    """The id of a volume's attachment to a server (the volume service keeps none: one
    attachment per server and volume, so the pair names it)."""
    return stable_uuid("attachment", volume_id, server_id)


def _attachments(v: vp.Volume) -> list[dict[str, Any]]:
    """The volume's attachments that are made (Cinder lists those `attached`)."""
    return [
        {
            "id": v.id,
            "attachment_id": attachment_id(v.id, a.server_id),
            "volume_id": v.id,
            "server_id": a.server_id,
            "host_name": a.host or None,
            "device": None,
            "attached_at": _time(a.attach_time),
        }
        for a in v.attachments
        if a.state == "attached"
    ]


def volume_summary(v: vp.Volume, base: str, project_id: str) -> dict[str, Any]:
    """A volume in GET /volumes (not detail)."""
    return {"id": v.id, "name": v.name or None, "links": _links(base, project_id, "volumes", v.id)}


def volume(v: vp.Volume, base: str, project_id: str, multiattach: bool = False) -> dict[str, Any]:
    """A volume's detail (show, detail list, create). `multiattach`: its type allows it."""
    return {
        "id": v.id,
        "name": v.name or None,
        "description": v.description or None,
        "status": STATUS.get(v.status, "error"),
        "size": v.size_gb,
        "availability_zone": "nova",
        "bootable": "true" if v.bootable else "false",
        "encrypted": False,
        "multiattach": multiattach,
        "volume_type": v.volume_type or None,
        "snapshot_id": v.source_snapshot_id or None,
        "source_volid": None,
        "consistencygroup_id": None,
        "replication_status": None,
        "migration_status": None,
        "metadata": {},
        "user_id": None,
        "os-vol-tenant-attr:tenant_id": v.project_id,
        "attachments": _attachments(v),
        "created_at": _time(v.create_time),
        "updated_at": _time(v.update_time),
        "links": _links(base, project_id, "volumes", v.id),
        **({"volume_image_metadata": {"image_id": v.source_image_id}} if v.source_image_id else {}),
    }


def volume_type(t: vp.VolumeType) -> dict[str, Any]:
    """A volume type; its backend and multi-attach as the extra specs Cinder's admins set
    for them (`volume_backend_name`, `multiattach="<is> True"`)."""
    specs = {"volume_backend_name": t.backend, **dict(t.extra_specs)}
    if t.multiattach:
        specs["multiattach"] = "<is> True"
    return {
        "id": t.id,
        "name": t.name,
        "description": t.description or None,
        "is_public": True,
        "os-volume-type-access:is_public": True,
        "extra_specs": specs,
        "qos_specs_id": None,
    }


def snapshot(s: vp.Snapshot, detail: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": s.id,
        "name": s.name or None,
        "description": s.description or None,
        "status": SNAPSHOT_STATUS.get(s.status, "error"),
        "size": s.size_gb,
        "volume_id": s.volume_id,
        "metadata": {},
        "created_at": _time(s.create_time),
        "updated_at": _time(s.create_time),
    }
    if detail:
        out["os-extended-snapshot-attributes:progress"] = (
            "100%" if s.status == vp.SNAPSHOT_STATUS_AVAILABLE else "0%"
        )
        out["os-extended-snapshot-attributes:project_id"] = s.project_id
    return out
