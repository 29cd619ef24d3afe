"""The image service's events as plain data (bus.py turns them into protobuf on NATS)."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from polyvisor.imagesvc.model import Image, Rendition

__all__ = ["EventKind", "ImageEvent", "image_event", "rendition_event"]


class EventKind(StrEnum):
    CREATED = "created"
    ACTIVATED = "activated"
    KILLED = "killed"
    UPDATED = "updated"
    DELETED = "deleted"
    RENDITION_READY = "rendition_ready"
    RENDITION_FAILED = "rendition_failed"


@dataclass(frozen=True, slots=True)
class ImageEvent:
    kind: EventKind
    image_id: str
    owner: str
    disk_format: str = ""
    vmware_disktype: str = ""
    sha256: str = ""
    size: int = 0
    message: str = ""
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["kind"] = self.kind.value
        d["occurred_at"] = self.occurred_at.isoformat()
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ImageEvent:
        return cls(
            **{
                **d,
                "kind": EventKind(d["kind"]),
                "occurred_at": datetime.fromisoformat(d["occurred_at"]),
            }
        )


def image_event(kind: EventKind, image: Image, message: str = "") -> ImageEvent:
    return ImageEvent(
        kind=kind,
        image_id=image.id,
        owner=image.owner,
        disk_format=image.disk_format,
        sha256=image.os_hash_value,
        size=image.size,
        message=message,
    )


def rendition_event(kind: EventKind, image: Image, rendition: Rendition) -> ImageEvent:
    return ImageEvent(
        kind=kind,
        image_id=image.id,
        owner=image.owner,
        disk_format=rendition.key.disk_format,
        vmware_disktype=rendition.key.vmware_disktype,
        sha256=rendition.sha256,
        size=rendition.size,
        message=rendition.status_message,
    )
