"""Optional driver verbs of adoption: the VMs of a host that no Polyvisor server owns, and
one of them made a server's (capability ``adopt``).

A VM of the hypervisor without the Polyvisor tags (a vCenter VM of the agent's cluster
without ``polyvisor.server_id``, a libvirt domain without Polyvisor's metadata) is
*unmanaged*. ``adopt`` tags it as server ``server_id`` of this host and changes nothing else in
it, so that from then on every verb (power, delete, ...) and the reconciler treat it as any
other server of the host. The api asks for both at once (core NATS request/reply,
``queries``), claims the VM's size on the host with the scheduler and records the server.

``adopt`` is idempotent: a VM already tagged as ``server_id`` of this host answers as done.
Both block, like every driver verb; the runtime calls them in its executor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from polyvisor.agentkit.capabilities import capability
from polyvisor.agentkit.driver import Instance, PowerState

__all__ = ["Adopt", "UnmanagedVm"]


@dataclass(frozen=True, slots=True)
class UnmanagedVm:
    ref: str  # the hypervisor's id of it: vCenter instance UUID, libvirt domain UUID
    name: str
    vcpus: int
    memory_mb: int
    disk_gb: int  # its first disk, GiB rounded up (0: none)
    power_state: PowerState


@capability("adopt")
@runtime_checkable
class Adopt(Protocol):
    def list_unmanaged(self) -> list[UnmanagedVm]:
        """The VMs of this host that carry no Polyvisor tag."""
        ...

    def adopt(self, server_id: str, ref: str) -> Instance:
        """Tag the unmanaged VM ``ref`` as server ``server_id`` of this host (InstanceNotFound
        when there is no such unmanaged VM here)."""
        ...
