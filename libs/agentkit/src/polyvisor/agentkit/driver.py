"""The Driver protocol: the whole boundary between the agent runtime and a hypervisor.

A handful of typed, idempotent verbs over plain dataclasses, the ones every hypervisor has.
Verbs only some have (ports, volumes, snapshot, resize, migrate, suspend) are not here: each
is a small capability protocol a driver opts into (see ``polyvisor.agentkit.capabilities``),
so no driver carries a stub that raises NotImplementedError. Hypervisor ids (libvirt
UUIDs, vSphere morefs) never leave a driver: everything is keyed by our server id, which
the driver records on the VM itself (libvirt metadata, vSphere extraConfig) so that it can
find its VMs again after a restart.

Drivers are synchronous: libvirt and pyvmomi block. The runtime calls every verb in a
bounded executor, never on the event loop. A driver raises only the errors below; it maps
libvirtError and vmodl faults into them at its own boundary.

Idempotency, verb by verb:
- ``spawn`` ensures: if a VM tagged with the server id already exists it is returned (and
  started if it should be running, i.e. unless ``spec.powered_off``), never created twice.
- ``destroy`` of a VM that is already gone succeeds.
- ``power_on`` of a running VM and ``power_off`` of a stopped one succeed.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable


class PowerState(enum.StrEnum):
    RUNNING = "RUNNING"
    SHUTDOWN = "SHUTDOWN"
    PAUSED = "PAUSED"
    # Memory saved to disk, stopped (libvirt managed save, a suspended vSphere VM).
    SUSPENDED = "SUSPENDED"
    CRASHED = "CRASHED"
    NOSTATE = "NOSTATE"
    # The hypervisor cannot be reached: never guess SHUTDOWN.
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True)
class Inventory:
    """One resource class of a host, as Placement models it."""

    total: int
    reserved: int = 0
    allocation_ratio: float = 1.0
    min_unit: int = 1
    max_unit: int = 0  # 0: same as total
    step_size: int = 1


@dataclass(frozen=True, slots=True)
class SupportedInstance:
    """One (architecture, hypervisor_type, vm_mode) triple the host can run."""

    architecture: str
    hypervisor_type: str
    vm_mode: str


@dataclass(frozen=True, slots=True)
class MemberHost:
    """One member host of a cluster scheduled as one (for VMware: an ESXi host)."""

    name: str
    connection_state: str  # connected, disconnected, notResponding
    in_maintenance: bool
    cpu_cores: int
    cpu_threads: int
    memory_mb: int
    memory_used_mb: int = 0
    cpu_used_mhz: int = 0
    cpu_mhz: int = 0  # total CPU capacity: per-core MHz x physical cores
    vcpus_allocated: int = 0  # configured vCPUs of the powered-on VMs on the host
    memory_allocated_mb: int = 0  # configured memory of the powered-on VMs on the host
    vm_count: int = 0  # VMs registered on the host


@dataclass(frozen=True, slots=True)
class ClusterReport:
    """Sub-report of a host that is a cluster of hypervisor hosts scheduled as one (a vCenter
    cluster). Only such drivers set it; the others know nothing of it."""

    name: str
    hosts: tuple[MemberHost, ...] = ()
    drs_enabled: bool | None = None  # VMware: whether DRS picks the member host


@dataclass(frozen=True, slots=True)
class Features:
    """What this hypervisor type can do, for the hypervisor API's feature matrix."""

    console_types: tuple[str, ...] = ("vnc",)
    key_injection: bool = True
    user_data: bool = True
    power_on_off: bool = True
    reboot_soft: bool = True
    reboot_hard: bool = True
    # Enforces the security groups of the ports it plugs (a KVM host's nftables data plane).
    security_groups: bool = False


@dataclass(frozen=True, slots=True)
class RenditionWanted:
    """A rendition of an image: a disk format and, for vmdk, its sub-format."""

    disk_format: str  # raw, qcow2, vmdk
    vmware_disktype: str = ""  # streamOptimized, sparse, preallocated (vmdk only)


@dataclass(frozen=True, slots=True)
class HostInfo:
    """What the host reporter sends to the scheduler (and the api shows admins).

    Every driver fills the neutral fields. Detail only some hypervisors have travels in
    optional, typed sub-reports (``cluster``), never as fields every driver must know.
    """

    hypervisor_type: str  # kvm, qemu, vmware
    hypervisor_version: str
    hostname: str
    connected: bool
    vcpus: Inventory
    memory_mb: Inventory
    disk_gb: Inventory
    supported_instances: tuple[SupportedInstance, ...]
    # Renditions this host boots, preferred first: an image whose own format is listed boots
    # as it is; any other is converted to the first one it can be had in. The scheduler
    # chooses from this list and the spawn command names its choice: drivers never guess.
    disk_formats: tuple[RenditionWanted, ...]
    features: Features = field(default_factory=Features)
    vnc_port_range: tuple[int, int] = (5900, 6000)
    used_vcpus: int = 0
    used_memory_mb: int = 0
    used_disk_gb: int = 0
    cluster: ClusterReport | None = None
    # Optional verbs this driver implements, by name: ``capabilities_of(driver)`` (see
    # polyvisor.agentkit.capabilities).
    capabilities: tuple[str, ...] = ()
    # The physical networks this host reaches (from the agent's config), sorted.
    physical_networks: tuple[str, ...] = ()
    # A bare-metal node's resource class ("small"): the node takes one server of a flavor
    # asking for it. "" for hosts that share themselves between servers.
    resource_class: str = ""


@dataclass(frozen=True, slots=True)
class ImageRef:
    """An image as the spawn command names it, before any bytes are fetched."""

    image_id: str
    disk_format: str  # the format of the rendition to boot (the spawn command's choice)
    vmware_disktype: str = ""  # its sub-format (vmdk only)
    vmware_adaptertype: str = ""
    hw_disk_bus: str = ""
    hw_vif_model: str = ""  # the image's NIC model ("" = the driver's default)
    architecture: str = ""
    os_type: str = ""
    min_disk_gb: int = 0
    virtual_size: int = 0


@dataclass(frozen=True, slots=True)
class LocalImage:
    """A rendition the runtime's image cache holds on local disk, checksum verified."""

    ref: ImageRef
    rendition: RenditionWanted
    path: Path
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class GuestSpec:
    """What a driver needs to create one VM, its root disk aside (an image's, ``InstanceSpec``;
    or a volume's, the ``boot_volume`` capability)."""

    server_id: str
    name: str
    hostname: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    ssh_public_keys: tuple[str, ...] = ()
    user_data: bytes = b""
    metadata: Mapping[str, str] = field(default_factory=dict)
    # Make the VM but leave it powered off, never started (a stopped server evacuated).
    powered_off: bool = False


@dataclass(frozen=True, slots=True)
class InstanceSpec(GuestSpec):
    """Everything a driver needs to create one VM from an image."""

    image: LocalImage = field(kw_only=True)


@dataclass(frozen=True, slots=True)
class Console:
    type: str  # "vnc"
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class Instance:
    """A VM as the driver observes it, keyed by our server id."""

    server_id: str
    power_state: PowerState
    name: str = ""
    # For a host that is a cluster (its host_info has a ``cluster`` sub-report): the member
    # host the VM runs on (VMware: the ESXi host DRS chose). "" elsewhere.
    member_host: str = ""
    console: Console | None = None


@dataclass(frozen=True, slots=True)
class InstanceChange:
    """A change the hypervisor tells us about (a VM stopped outside us, moved, vanished).

    ``observed_at``: ``time.monotonic()`` when the hypervisor was asked for what it says (a
    watch answer can arrive, or be handled, well after that); 0 means "as it is emitted". The
    runtime never lets an observation older than a command's end override that command."""

    server_id: str
    power_state: PowerState
    member_host: str = ""  # as Instance.member_host
    vanished: bool = False
    observed_at: float = 0.0


class DriverError(Exception):
    """A driver verb failed. ``retryable`` says whether trying again may help."""

    retryable: bool = False

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        if retryable is not None:
            self.retryable = retryable


class InstanceNotFound(DriverError):
    """No VM tagged with this server id exists on the host."""


class HypervisorUnavailable(DriverError):
    """The hypervisor (libvirtd, vCenter) cannot be reached right now."""

    retryable = True


class SpawnFailed(DriverError):
    """The VM could not be created; whatever was made has been removed."""


class Unsubscribe(Protocol):
    def __call__(self) -> None: ...


@runtime_checkable
class ConsoleSessions(Protocol):
    """Capability: console sessions with their own short-lived VNC password.

    A driver that has it never leaves a VNC server open to anyone: the console proxy
    authenticates with the session's password, the browser never sees it."""

    def set_console_password(self, server_id: str, password: str, valid_for_s: float) -> None:
        """Let the server's VNC server accept `password` (1 to 8 printable ASCII
        characters) for `valid_for_s` seconds. Blocks."""
        ...


@runtime_checkable
class Driver(Protocol):
    """The verbs every hypervisor driver implements. All of them block."""

    def host_info(self) -> HostInfo:
        """Capabilities and resources of this host (for VMware: the whole cluster)."""
        ...

    def list_instances(self) -> list[Instance]:
        """Every VM tagged as ours, observed now."""
        ...

    def spawn(self, spec: InstanceSpec) -> Instance:
        """Ensure the VM exists and runs (exists, never started, when ``spec.powered_off``).
        On failure remove what was made, then raise.

        ``spec.image.rendition`` is one of the renditions ``host_info`` lists (the scheduler
        chose it); a driver refuses one it cannot boot with SpawnFailed."""
        ...

    def destroy(self, server_id: str) -> None:
        """Remove the VM and all its files. Already gone is success."""
        ...

    def power_on(self, server_id: str) -> Instance: ...

    def power_off(self, server_id: str) -> Instance: ...

    def reboot(self, server_id: str, *, hard: bool) -> Instance: ...

    def console(self, server_id: str) -> Console: ...

    def watch(self, emit: Callable[[InstanceChange], None]) -> Unsubscribe:
        """Call ``emit`` (from any thread) on each change the hypervisor reports.

        Returns a callable that stops watching. The runtime hops ``emit`` onto its loop.
        """
        ...

    def close(self) -> None:
        """Release connections and threads. Idempotent."""
        ...
