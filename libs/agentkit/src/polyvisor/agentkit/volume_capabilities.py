"""Optional driver verbs: attach a volume to a server that exists, and detach it.

A volume reaches a host as a *connection*: the volume service's backend kind and what that
kind needs (``file``: a path and a format; ``vmdk``: a datastore path and an adapter type;
``rbd``: pool, image, monitors, user, secret). A driver attaches the kinds it can reach, one
capability per kind (``volume_file``, ``volume_vmdk``, ``volume_rbd``), so that a host
reports exactly which backends it reaches and the scheduler places a server whose volumes
are of a kind only on hosts that report it. A driver implements the two verbs of a kind or
does not (never a stub); the runtime asks ``isinstance(driver, VOLUME_KINDS[kind])``.

Every verb is idempotent: attaching a volume already attached to the server (found by its
serial, the volume id) and detaching one that is not answer as done. Both work on a running
server (hot-plug, where the hypervisor allows it) and on one that is off (its definition).
They block, like every driver verb; the runtime calls them in its executor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from polyvisor.agentkit.capabilities import capability
from polyvisor.agentkit.driver import GuestSpec, Instance

__all__ = [
    "VOLUME_KINDS",
    "FileVolumes",
    "RbdVolumes",
    "VmdkVolumes",
    "VolumeBoot",
    "VolumeConnection",
]


@dataclass(frozen=True, slots=True)
class VolumeConnection:
    """One volume as a host attaches it."""

    volume_id: str
    kind: str
    attrs: Mapping[str, str] = field(default_factory=dict)

    def attr(self, name: str) -> str:
        value = self.attrs.get(name, "")
        if not value:
            raise ValueError(f"volume {self.volume_id} ({self.kind}) has no {name}")
        return value


@capability("volume_file")
@runtime_checkable
class FileVolumes(Protocol):
    def attach_file_volume(self, server_id: str, volume: VolumeConnection) -> None:
        """Attach the file ``volume.attrs['path']`` (``format``: qcow2 or raw) as a disk
        whose serial is the volume id."""
        ...

    def detach_file_volume(self, server_id: str, volume: VolumeConnection) -> None: ...


@capability("volume_vmdk")
@runtime_checkable
class VmdkVolumes(Protocol):
    def attach_vmdk_volume(self, server_id: str, volume: VolumeConnection) -> None:
        """Add the existing disk ``volume.attrs['path']`` (``[datastore] dir/file.vmdk``) to
        the VM on a controller of ``adapter_type``; never create or copy it."""
        ...

    def detach_vmdk_volume(self, server_id: str, volume: VolumeConnection) -> None:
        """Remove the disk from the VM, keeping its file."""
        ...


@capability("volume_rbd")
@runtime_checkable
class RbdVolumes(Protocol):
    def attach_rbd_volume(self, server_id: str, volume: VolumeConnection) -> None:
        """Attach the RBD image ``volume.attrs['pool']/['image']`` (``monitors``, ``user``,
        ``secret_uuid``: the cephx key comes from the host's own keyring) as a network disk
        the hypervisor opens itself (QEMU's librbd); never copy it."""
        ...

    def detach_rbd_volume(self, server_id: str, volume: VolumeConnection) -> None: ...


#: backend kind -> the capability protocol a driver implements to attach it
VOLUME_KINDS: dict[str, type] = {"file": FileVolumes, "vmdk": VmdkVolumes, "rbd": RbdVolumes}


@capability("boot_volume")
@runtime_checkable
class VolumeBoot(Protocol):
    def spawn_from_volume(self, spec: GuestSpec, root: VolumeConnection) -> Instance:
        """Ensure the VM exists and runs with the volume ``root`` as its boot disk (of a kind
        the driver attaches: ``VOLUME_KINDS``), used as it is: never copied, and never removed
        by ``destroy`` or a failed spawn. Idempotent as ``Driver.spawn``; a kind the driver
        cannot boot from is refused with SpawnFailed."""
        ...
