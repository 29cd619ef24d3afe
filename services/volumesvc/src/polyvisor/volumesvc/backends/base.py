"""The protocol every volume backend implements (file, vmdk, rbd, ...).

A backend provisions bytes; it never attaches them. The volume service calls a backend to
create, grow, copy and delete a volume's storage, and hands the ``Connection`` it answers to
the api, which passes it to the agent of the server's host in the attach command. The agent
turns a connection into a disk of its hypervisor (a libvirt ``<disk>``, a vSphere
VirtualDisk); the backend never knows which server uses it.

A backend is registered by its ``kind`` in ``polyvisor.volumesvc.backends.BACKENDS`` (a
factory from the backend's settings); a volume type names a configured backend, and the
hypervisor types that can reach it (``reachable_from``).

Rules every backend keeps:

- every method is idempotent: called again after a crash with the same ``VolumeRef`` it
  answers as done (create of an existing volume of the same size, delete of a gone one);
- nothing half done: a call that raises leaves nothing behind it made;
- bad input and foreign failures are raised as ``polyvisor.common.errors`` (never a bare
  OSError, libvirt or vim fault): ``InvalidArgument`` for input, ``FailedPrecondition`` for a
  state that forbids it, ``Unavailable`` when the storage does not answer;
- methods are async; blocking work (qemu-img, pyvmomi, librbd) runs in an executor or a
  subprocess, never on the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = [
    "BackendCapacity",
    "Connection",
    "ImageSource",
    "SnapshotRef",
    "VolumeBackend",
    "VolumeRef",
]


@dataclass(frozen=True, slots=True)
class VolumeRef:
    """Which volume (or snapshot) a call is about. ``location`` is what the backend answered
    when it made it (a path, a datastore path, a pool/image name); empty before creation.
    ``specs``: its volume type's extra specs (e.g. ``vmware:vmdk_type``), what a backend may
    honour when it makes the volume."""

    id: str
    size_gb: int
    location: str = ""
    specs: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class SnapshotRef:
    id: str
    volume_id: str
    size_gb: int
    location: str = ""


@dataclass(frozen=True, slots=True)
class ImageSource:
    """An image's bytes in a local file the volume service downloaded (a rendition of the
    image service), to copy into a new volume. ``disk_format``: raw, qcow2 or vmdk."""

    image_id: str
    path: Path
    disk_format: str
    virtual_size: int


@dataclass(frozen=True, slots=True)
class Connection:
    """What an agent needs to attach a volume, by ``kind`` (the backend's):

    - ``file``: ``path`` (a file on the KVM host), ``format`` (qcow2 or raw);
    - ``vmdk``: ``datastore``, ``path`` (``[ds] volumes/<id>.vmdk``), ``adapter_type``,
      ``disk_type`` (thin, preallocated or eagerZeroedThick: how it was made);
    - ``rbd``: ``pool``, ``image``, ``monitors`` (host:port,...), ``user``, ``secret_uuid``.

    Values are strings, so a connection crosses NATS and gRPC as a map.
    """

    kind: str
    attrs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BackendCapacity:
    total_gb: int
    free_gb: int


@runtime_checkable
class VolumeBackend(Protocol):
    #: the backend kind: "file", "vmdk", "rbd"
    kind: str

    async def create(
        self,
        volume: VolumeRef,
        *,
        image: ImageSource | None = None,
        snapshot: SnapshotRef | None = None,
    ) -> str:
        """Make the volume's storage, blank or a copy of ``image`` / ``snapshot`` (at most
        one), grown to ``volume.size_gb``; answer its location."""
        ...

    async def delete(self, volume: VolumeRef) -> None:
        """Remove the volume's storage (gone already: done)."""
        ...

    async def extend(self, volume: VolumeRef, new_size_gb: int) -> None:
        """Grow the volume to ``new_size_gb`` (the service checked it is larger)."""
        ...

    async def create_snapshot(self, volume: VolumeRef, snapshot: SnapshotRef) -> str:
        """A point-in-time copy of the volume (crash-consistent); answer its location."""
        ...

    async def delete_snapshot(self, snapshot: SnapshotRef) -> None: ...

    def connection(self, volume: VolumeRef) -> Connection:
        """What an agent attaches (pure: no I/O)."""
        ...

    async def capacity(self) -> BackendCapacity: ...
