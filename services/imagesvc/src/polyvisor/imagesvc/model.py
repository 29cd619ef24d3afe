"""The image service's domain objects: plain dataclasses, no protobuf.

Enumerations are the strings users and operators know (the Glance spellings): disk formats
`raw`, `qcow2`, `vmdk`, `iso`; `vmware_disktype` `sparse`, `streamOptimized`,
`preallocated`; and so on. `convert.py` maps them to and from the protobuf enums.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

__all__ = [
    "KNOWN_PROPERTIES",
    "Image",
    "ImageProperties",
    "ImageStatus",
    "Rendition",
    "RenditionKey",
    "RenditionStatus",
    "Visibility",
    "qemu_subformat",
]


class ImageStatus(StrEnum):
    QUEUED = "queued"
    SAVING = "saving"
    ACTIVE = "active"
    KILLED = "killed"
    DELETED = "deleted"


class Visibility(StrEnum):
    PRIVATE = "private"
    PUBLIC = "public"
    SHARED = "shared"


class RenditionStatus(StrEnum):
    PENDING = "pending"
    CONVERTING = "converting"
    ACTIVE = "active"
    FAILED = "failed"


#: The typed properties of an image (free-form properties may not use these keys).
KNOWN_PROPERTIES = (
    "hypervisor_type",
    "architecture",
    "vm_mode",
    "vmware_disktype",
    "vmware_adaptertype",
    "os_type",
    "hw_disk_bus",
    "vmware_ostype",
)


@dataclass(frozen=True, slots=True)
class ImageProperties:
    """Known properties ("" means unset), already validated and normalised."""

    hypervisor_type: str = ""
    architecture: str = ""
    vm_mode: str = ""
    vmware_disktype: str = ""
    vmware_adaptertype: str = ""
    os_type: str = ""
    hw_disk_bus: str = ""
    vmware_ostype: str = ""

    def as_dict(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in KNOWN_PROPERTIES}


@dataclass(frozen=True, slots=True)
class RenditionKey:
    """Which rendition: a disk format, and for vmdk its sub-format (else "")."""

    disk_format: str
    vmware_disktype: str = ""

    def __str__(self) -> str:
        return (
            f"{self.disk_format}/{self.vmware_disktype}"
            if self.vmware_disktype
            else self.disk_format
        )

    @property
    def file_name(self) -> str:
        return (
            f"{self.disk_format}-{self.vmware_disktype}"
            if self.vmware_disktype
            else self.disk_format
        )


def qemu_subformat(vmware_disktype: str) -> str:
    """qemu-img's vmdk subformat for a vmware_disktype."""
    return {"sparse": "monolithicSparse", "streamOptimized": "streamOptimized"}[vmware_disktype]


@dataclass(frozen=True, slots=True)
class Rendition:
    image_id: str
    key: RenditionKey
    status: RenditionStatus
    original: bool = False
    size: int = 0
    virtual_size: int = 0
    sha256: str = ""
    status_message: str = ""
    location: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Image:
    id: str
    name: str
    owner: str
    visibility: Visibility = Visibility.PRIVATE
    shared_with: tuple[str, ...] = ()
    status: ImageStatus = ImageStatus.QUEUED
    status_message: str = ""
    disk_format: str = ""
    container_format: str = "bare"
    size: int = 0
    virtual_size: int = 0
    os_hash_algo: str = ""
    os_hash_value: str = ""
    min_ram: int = 0
    min_disk: int = 0
    protected: bool = False
    properties: ImageProperties = field(default_factory=ImageProperties)
    extra_properties: dict[str, str] = field(default_factory=dict)
    renditions: tuple[Rendition, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    deleted_at: datetime | None = None

    def with_renditions(self, renditions: tuple[Rendition, ...]) -> Image:
        return replace(self, renditions=renditions)
