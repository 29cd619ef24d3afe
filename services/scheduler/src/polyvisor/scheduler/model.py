"""The scheduler's domain types: plain dataclasses, no protobuf.

Enumerations are small `IntEnum`s whose values equal the contract's enum numbers, so
`convert.py` maps them with a cast and the index stores them in integer arrays.

One concern: the scheduler's vocabulary. Every type here is a frozen dataclass or an enum with
no behaviour beyond a derived property; hosts (capabilities, reports, inventories) and
requests (spec, requirements, placements) refer to each other's enums and values, and every
module of the scheduler imports them from this one place.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = [
    "RESOURCE_CLASSES",
    "Allocation",
    "ClaimOutcome",
    "Cluster",
    "DiskFormat",
    "Explanation",
    "FilterReport",
    "GroupPolicy",
    "HostCapabilities",
    "HostFeatures",
    "HostReport",
    "HostRequirements",
    "HvType",
    "ImageRequirements",
    "InstancePlacement",
    "Inventory",
    "MemberHost",
    "Placement",
    "ProviderRecord",
    "ProviderUsage",
    "Rejection",
    "Rendition",
    "RequestSpec",
    "Resources",
    "Selection",
    "VmdkType",
]


class HvType(enum.IntEnum):
    UNSPECIFIED = 0
    KVM = 1
    QEMU = 2
    VMWARE = 3
    XEN = 4
    LXC = 5
    HYPERV = 6
    BAREMETAL = 7

    @property
    def label(self) -> str:
        return self.name.lower()


class DiskFormat(enum.IntEnum):
    UNSPECIFIED = 0
    RAW = 1
    QCOW2 = 2
    VMDK = 3
    ISO = 4

    @property
    def label(self) -> str:
        return self.name.lower()


class VmdkType(enum.IntEnum):
    """The contract's VmwareDiskType: the sub-format of a VMDK."""

    UNSPECIFIED = 0
    SPARSE = 1
    STREAM_OPTIMIZED = 2
    PREALLOCATED = 3


@dataclass(frozen=True, slots=True)
class Rendition:
    """A disk format and, for VMDK, its sub-format."""

    disk_format: DiskFormat
    vmdk_type: VmdkType = VmdkType.UNSPECIFIED

    @property
    def label(self) -> str:
        if self.vmdk_type == VmdkType.UNSPECIFIED:
            return self.disk_format.label
        return f"{self.disk_format.label} ({self.vmdk_type.name.lower()})"


class GroupPolicy(enum.IntEnum):
    UNSPECIFIED = 0
    AFFINITY = 1
    ANTI_AFFINITY = 2


#: Column order of every per-resource array: VCPU, MEMORY_MB, DISK_GB (the contract's
#: ResourceClass numbers minus one).
RESOURCE_CLASSES: tuple[str, ...] = ("VCPU", "MEMORY_MB", "DISK_GB")


@dataclass(frozen=True, slots=True)
class Resources:
    vcpus: int = 0
    memory_mb: int = 0
    disk_gb: int = 0

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.vcpus, self.memory_mb, self.disk_gb)

    @classmethod
    def of(cls, values: tuple[int, int, int] | list[int]) -> Resources:
        return cls(int(values[0]), int(values[1]), int(values[2]))


@dataclass(frozen=True, slots=True)
class Inventory:
    """One resource class of one host. Capacity = (total - reserved) * allocation_ratio."""

    total: int
    reserved: int = 0
    allocation_ratio: float = 1.0
    min_unit: int = 1
    #: None means no limit beyond capacity (the contract's 0); 0 means nothing fits.
    max_unit: int | None = None
    step_size: int = 1

    @property
    def capacity(self) -> int:
        return max(0, int((self.total - self.reserved) * self.allocation_ratio))


@dataclass(frozen=True, slots=True)
class MemberHost:
    """One member of a cluster scheduled as one host (for VMware: an ESXi host)."""

    name: str
    moref: str = ""
    connected: bool = True
    in_maintenance: bool = False
    cpu_threads: int = 0
    memory_mb: int = 0
    memory_allocated_mb: int = 0
    vcpus_allocated: int = 0
    vm_count: int = 0
    #: The contract's EsxiConnectionState number (connected above says whether it is usable).
    connection_state: int = 0
    cpu_cores: int = 0
    cpu_mhz: int = 0
    cpu_used_mhz: int = 0
    memory_used_mb: int = 0

    @property
    def usable(self) -> bool:
        return self.connected and not self.in_maintenance

    @property
    def free_memory_mb(self) -> int:
        return max(0, self.memory_mb - self.memory_allocated_mb)


@dataclass(frozen=True, slots=True)
class Cluster:
    """A host's optional cluster sub-report: it is a cluster scheduled as one (a vCenter
    cluster), and a server lands on one of its members."""

    name: str = ""
    drs_enabled: bool = False
    hosts: tuple[MemberHost, ...] = ()


@dataclass(frozen=True, slots=True)
class HostFeatures:
    """What a host's driver can do for a server (the hypervisor API's feature matrix)."""

    #: The contract's ConsoleType numbers.
    console_types: tuple[int, ...] = ()
    key_injection: bool = False
    user_data: bool = False
    power_on: bool = False
    power_off: bool = False
    reboot_soft: bool = False
    reboot_hard: bool = False
    vnc_port_range: tuple[int, int] = (0, 0)
    #: Enforces the security groups of the ports it plugs (not a vCenter cluster without NSX).
    security_groups: bool = False


@dataclass(frozen=True, slots=True)
class HostCapabilities:
    """What a host can run and do: the discrete traits the index keys on."""

    hypervisor_type: HvType
    hypervisor_version: str = ""
    #: (architecture, hypervisor_type, vm_mode) triples, normalised.
    supported_instances: tuple[tuple[str, HvType, str], ...] = ()
    #: Renditions the host boots, preferred first (see renditions.choose).
    disk_formats: tuple[Rendition, ...] = ()
    availability_zone: str = ""
    features: HostFeatures = field(default_factory=HostFeatures)
    #: Optional driver verbs the host implements ("suspend", ...).
    capabilities: tuple[str, ...] = ()
    #: Set when the host is a cluster scheduled as one.
    cluster: Cluster | None = None
    host_ip: str = ""
    #: The physical networks the host reaches (its agent's mappings).
    physical_networks: tuple[str, ...] = ()
    #: A bare-metal node's resource class ("small"); "" for hosts shared between servers.
    resource_class: str = ""

    @property
    def native_disk_formats(self) -> tuple[DiskFormat, ...]:
        """The formats of `disk_formats`, each once, in order."""
        return tuple(dict.fromkeys(r.disk_format for r in self.disk_formats))

    @property
    def members(self) -> tuple[MemberHost, ...]:
        return self.cluster.hosts if self.cluster is not None else ()


@dataclass(frozen=True, slots=True)
class HostReport:
    """One agent report, as the bus hands it to the domain."""

    host_id: str
    hostname: str
    capabilities: HostCapabilities
    #: VCPU, MEMORY_MB, DISK_GB (missing classes are absent).
    inventories: dict[str, Inventory]
    connected: bool = True
    agent_id: str = ""
    #: The agent's reporter run (process start, lease term); sequence orders within it.
    incarnation: str = ""
    sequence: int = 0
    #: Seconds between reports the agent promises (0: unknown).
    report_interval_s: float = 0.0
    #: Wall-clock time (epoch seconds) the report was sent or stored by the broker.
    received_at: float = 0.0


@dataclass(frozen=True, slots=True)
class ProviderRecord:
    """A provider as the database keeps it (loaded at start, listed by the api)."""

    id: str
    hostname: str
    capabilities: HostCapabilities
    inventories: dict[str, Inventory]
    enabled: bool = True
    disabled_reason: str = ""
    generation: int = 0
    used: Resources = Resources()
    allocation_count: int = 0
    #: Epoch seconds of the last report the database saw (0: never).
    last_report_at: float = 0.0
    connected: bool = True


@dataclass(frozen=True, slots=True)
class ProviderUsage:
    """A provider's generation and the sum of its allocations, as the database has them."""

    provider_id: str
    generation: int
    used: Resources
    allocation_count: int = 0


@dataclass(frozen=True, slots=True)
class Allocation:
    consumer_id: str
    provider_id: str
    resources: Resources
    project_id: str = ""
    user_id: str = ""
    request_id: str = ""
    created_at: float = 0.0


@dataclass(frozen=True, slots=True)
class ImageRequirements:
    image_id: str = ""
    hypervisor_type: HvType = HvType.UNSPECIFIED
    architecture: str = ""
    vm_mode: str = ""
    disk_format: DiskFormat = DiskFormat.UNSPECIFIED
    available_disk_formats: tuple[DiskFormat, ...] = ()
    producible_disk_formats: tuple[DiskFormat, ...] = ()
    #: A version predicate such as ">=8.0,<10" on the host's hypervisor_version ("" = any).
    hypervisor_version_requires: str = ""
    #: Sub-format of a VMDK original.
    vmdk_type: VmdkType = VmdkType.UNSPECIFIED

    @property
    def original(self) -> Rendition:
        return Rendition(self.disk_format, self.vmdk_type)

    @property
    def bootable_formats(self) -> frozenset[DiskFormat]:
        """Formats the image exists in or can be converted to."""
        formats = {*self.available_disk_formats, *self.producible_disk_formats}
        if self.disk_format != DiskFormat.UNSPECIFIED:
            formats.add(self.disk_format)
        formats.discard(DiskFormat.UNSPECIFIED)
        return frozenset(formats)


@dataclass(frozen=True, slots=True)
class HostRequirements:
    """What the servers need from their host's driver beyond resources and the image."""

    key_injection: bool = False
    user_data: bool = False
    #: The contract's ConsoleType number (0: none in particular).
    console_type: int = 0
    capabilities: tuple[str, ...] = ()
    #: (network name, physical network) of each network the server's ports are on.
    networks: tuple[tuple[str, str], ...] = ()
    #: The host must enforce the security groups of the server's ports.
    security_groups: bool = False

    def __bool__(self) -> bool:
        return bool(
            self.security_groups
            or self.key_injection
            or self.user_data
            or self.console_type
            or self.capabilities
            or self.networks
        )


@dataclass(frozen=True, slots=True)
class RequestSpec:
    consumer_ids: tuple[str, ...]
    resources: Resources
    request_id: str = ""
    project_id: str = ""
    user_id: str = ""
    image: ImageRequirements = field(default_factory=ImageRequirements)
    availability_zone: str = ""
    force_host: str = ""
    same_host: tuple[str, ...] = ()
    different_host: tuple[str, ...] = ()
    group_id: str = ""
    group_policy: GroupPolicy = GroupPolicy.UNSPECIFIED
    group_members: tuple[str, ...] = ()
    hypervisor_type: HvType = HvType.UNSPECIFIED
    ignore_hosts: tuple[str, ...] = ()
    extra_specs: dict[str, str] = field(default_factory=dict)
    requires: HostRequirements = field(default_factory=HostRequirements)


@dataclass(frozen=True, slots=True)
class Rejection:
    host: str
    reason: str


@dataclass(frozen=True, slots=True)
class FilterReport:
    """What one filter did: hosts in, hosts removed, a few examples with reasons."""

    name: str
    hosts_before: int
    hosts_removed: int
    examples: tuple[Rejection, ...] = ()
    #: Removed hosts counted per short label ("wrong hypervisor_type": 7), for the summary.
    breakdown: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Explanation:
    total_hosts: int
    filters: tuple[FilterReport, ...]
    summary: str


@dataclass(frozen=True, slots=True)
class Selection:
    host: str
    hostname: str
    hypervisor_type: HvType
    availability_zone: str
    allocation: Resources
    provider_generation: int
    weight: float
    #: The image rendition this host boots (None when the image is not known here).
    rendition: Rendition | None = None


@dataclass(frozen=True, slots=True)
class InstancePlacement:
    consumer_id: str
    primary: Selection
    alternates: tuple[Selection, ...] = ()


@dataclass(frozen=True, slots=True)
class Placement:
    """The outcome of SelectDestinations: every instance placed, or an explanation."""

    instances: tuple[InstancePlacement, ...] = ()
    no_valid_host: Explanation | None = None


class ClaimOutcome(enum.Enum):
    CLAIMED = "claimed"
    #: The provider's generation moved on (another claim, a release, an inventory change).
    CONFLICT = "conflict"
    #: The provider has not the capacity (checked against the summed allocations).
    NO_CAPACITY = "no_capacity"
    #: The consumer already holds an allocation (a repeat, or another replica won).
    EXISTS = "exists"
    #: The provider is unknown to the database.
    NO_PROVIDER = "no_provider"
