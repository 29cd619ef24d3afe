"""Optional driver verbs on a server's disk: snapshot to an image, rebuild from one.

Each is a small runtime-checkable protocol a driver implements or does not (never a stub
raising NotImplementedError), registered as a capability (``polyvisor.agentkit.capabilities``)
that hosts report: the runtime asks ``isinstance(driver, Snapshot)`` before it calls
``driver.snapshot`` and answers a host that cannot with a failure naming the verb.
Shelve needs no verb of its own: it is a snapshot, then the core ``destroy``.

Both block, like every driver verb; the runtime calls them in its executor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from polyvisor.agentkit.capabilities import capability
from polyvisor.agentkit.driver import Instance, LocalImage, PowerState

__all__ = ["DiskSnapshot", "Rebuild", "Snapshot"]


@dataclass(frozen=True, slots=True)
class DiskSnapshot:
    """A point-in-time copy of a server's disk, in a file the runtime uploads then removes."""

    path: Path
    disk_format: str  # qcow2, raw, vmdk: the format the image was made with
    # The guest's file systems were frozen while it was taken (guest agent, VMware Tools);
    # otherwise it is crash-consistent, as after a power cut.
    quiesced: bool
    # The power state the server is in once the copy is taken.
    power_state: PowerState
    # How it was taken, for the image's properties (e.g. "external disk snapshot").
    method: str = ""
    # Facts worth keeping with the image (driver-specific; strings).
    properties: dict[str, str] = field(default_factory=dict)


@capability("snapshot")
@runtime_checkable
class Snapshot(Protocol):
    def snapshot(self, server_id: str, dest_dir: Path) -> DiskSnapshot:
        """Copy the server's disk, consistent at one instant, into a new file under
        ``dest_dir``; the server keeps running (or stays off) as it was. Removes whatever it
        made on the hypervisor side before it returns or raises (no half snapshot is left)."""
        ...


@capability("rebuild")
@runtime_checkable
class Rebuild(Protocol):
    def rebuild(
        self, server_id: str, image: LocalImage, disk_gb: int, *, powered_off: bool = False
    ) -> Instance:
        """Replace the server's disk with a new one made from ``image`` (grown to
        ``disk_gb``), keep the VM itself (its id, NICs, console) and start it; with
        ``powered_off`` leave it off (it was stopped), never started on the new disk."""
        ...
