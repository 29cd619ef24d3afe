"""The volume service's domain objects (plain dataclasses; protobuf stops at convert)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = [
    "Attachment",
    "Quota",
    "Snapshot",
    "SnapshotStatus",
    "Volume",
    "VolumeDraft",
    "VolumeStatus",
    "VolumeType",
]


class VolumeStatus(StrEnum):
    CREATING = "creating"
    AVAILABLE = "available"
    ATTACHING = "attaching"
    IN_USE = "in-use"
    DETACHING = "detaching"
    EXTENDING = "extending"
    DELETING = "deleting"
    ERROR = "error"


class SnapshotStatus(StrEnum):
    CREATING = "creating"
    AVAILABLE = "available"
    DELETING = "deleting"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class VolumeType:
    id: str
    name: str
    backend: str
    hypervisor_types: tuple[str, ...]
    multiattach: bool = False
    description: str = ""
    extra_specs: dict[str, str] = field(default_factory=dict)
    backend_kind: str = ""
    is_default: bool = False

    def usable_by(self, hypervisor_type: str) -> bool:
        return hypervisor_type.lower() in {h.lower() for h in self.hypervisor_types}


@dataclass(frozen=True, slots=True)
class Attachment:
    server_id: str
    host: str
    hypervisor_type: str
    state: str  # attaching, attached, detaching
    root: bool = False
    delete_on_termination: bool = False
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class VolumeDraft:
    """What a create asks for."""

    name: str
    size_gb: int
    volume_type: str  # id or name; "" = the default type
    description: str = ""
    project_id: str = ""  # admin only; "" = the caller's
    source_image_id: str = ""
    source_snapshot_id: str = ""
    bootable: bool = False


@dataclass(frozen=True, slots=True)
class Volume:
    id: str
    name: str
    project_id: str
    size_gb: int
    type: VolumeType
    status: VolumeStatus
    bootable: bool = False
    description: str = ""
    source_image_id: str = ""
    source_snapshot_id: str = ""
    location: str = ""
    fault: str = ""
    attachments: tuple[Attachment, ...] = ()
    sequence: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def attachment(self, server_id: str) -> Attachment | None:
        return next((a for a in self.attachments if a.server_id == server_id), None)


@dataclass(frozen=True, slots=True)
class Snapshot:
    id: str
    volume_id: str
    project_id: str
    name: str
    size_gb: int
    status: SnapshotStatus
    description: str = ""
    location: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Quota:
    project_id: str
    volumes: int
    gigabytes: int
    snapshots: int
    volumes_used: int = 0
    gigabytes_used: int = 0
    snapshots_used: int = 0
