"""What the api keeps of a resize on the server (`Server.resize`, column `resize`): the old
flavor and host a revert returns to, the destination, the confirm window. A domain object like
those of `models` (plain dataclass, no protobuf)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from polyvisor.api.models import ServerFlavor

__all__ = ["Resize"]


@dataclass(frozen=True, slots=True)
class Resize:
    """A move of a server to another flavor (and maybe host) not yet confirmed or reverted:
    what a revert returns to, and where it goes.

    The new flavor's claim is the scheduler consumer `<server id>/move` until the resize is
    confirmed (then it replaces the server's own claim) or reverted (then it is released);
    the server's own claim stays on the old host meanwhile."""

    old_flavor: ServerFlavor
    source_host: str
    # "" until the scheduler has chosen; the source host when the new flavor fits there.
    dest_host: str = ""
    # Whether the server ran before: a revert leaves it as it was.
    was_running: bool = True
    # When a resize waiting for confirmation is confirmed on its own.
    auto_confirm_time: datetime | None = None
    # A move to another host: the image that carries the disk there, and which step of the
    # hand-over is in flight ("" same host; "power_off", "snapshot", "spawn").
    transfer_image_id: str = ""
    step: str = ""
    old_hypervisor_type: str = ""
    # "resize", or "migrate": a cold migration (the same flavor, another host), maybe to the
    # host an admin named (`requested_host`, still checked by the scheduler's filters).
    kind: str = "resize"
    requested_host: str = ""
    # A move to another hypervisor type ("cross"): the type it goes to, and the rendition of
    # the transfer image the destination boots, as the scheduler named it.
    new_hypervisor_type: str = ""
    dest_disk_format: str = ""
    dest_vmware_disktype: str = ""

    @property
    def moves(self) -> bool:
        return bool(self.dest_host) and self.dest_host != self.source_host

    def to_json(self) -> dict[str, Any]:
        f = self.old_flavor
        return {
            "old_flavor": {
                "id": f.id,
                "name": f.name,
                "vcpus": f.vcpus,
                "ram_mb": f.ram_mb,
                "disk_gb": f.disk_gb,
                "extra_specs": dict(f.extra_specs),
            },
            "source_host": self.source_host,
            "dest_host": self.dest_host,
            "was_running": self.was_running,
            "auto_confirm_time": (
                self.auto_confirm_time.isoformat() if self.auto_confirm_time else None
            ),
            "transfer_image_id": self.transfer_image_id,
            "step": self.step,
            "old_hypervisor_type": self.old_hypervisor_type,
            "kind": self.kind,
            "requested_host": self.requested_host,
            "new_hypervisor_type": self.new_hypervisor_type,
            "dest_disk_format": self.dest_disk_format,
            "dest_vmware_disktype": self.dest_vmware_disktype,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Resize | None:
        if not data:
            return None
        f = data.get("old_flavor") or {}
        when = data.get("auto_confirm_time")
        return cls(
            old_flavor=ServerFlavor(
                id=str(f.get("id", "")),
                name=str(f.get("name", "")),
                vcpus=int(f.get("vcpus", 0)),
                ram_mb=int(f.get("ram_mb", 0)),
                disk_gb=int(f.get("disk_gb", 0)),
                extra_specs=dict(f.get("extra_specs") or {}),
            ),
            source_host=str(data.get("source_host") or ""),
            dest_host=str(data.get("dest_host") or ""),
            was_running=bool(data.get("was_running", True)),
            auto_confirm_time=datetime.fromisoformat(when) if when else None,
            transfer_image_id=str(data.get("transfer_image_id") or ""),
            step=str(data.get("step") or ""),
            old_hypervisor_type=str(data.get("old_hypervisor_type") or ""),
            kind=str(data.get("kind") or "resize"),
            requested_host=str(data.get("requested_host") or ""),
            new_hypervisor_type=str(data.get("new_hypervisor_type") or ""),
            dest_disk_format=str(data.get("dest_disk_format") or ""),
            dest_vmware_disktype=str(data.get("dest_vmware_disktype") or ""),
        )
