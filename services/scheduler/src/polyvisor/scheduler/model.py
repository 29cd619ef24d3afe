"""The scheduler's domain types: plain dataclasses, no protobuf.

Enumerations are small `IntEnum`s whose values equal the contract's enum numbers, so
`convert.py` maps them with a cast and the index stores them in integer arrays.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = [
    "RESOURCE_CLASSES",
    "Allocation",
    "ClaimOutcome",
    "DiskFormat",
    "EsxiHost",
    "Explanation",
    "FilterReport",
    "GroupPolicy",
    "HostCapabilities",
    "HostReport",
    "HvType",
    "ImageRequirements",
    "InstancePlacement",
    "Inventory",
    "Placement",
    "ProviderRecord",
    "ProviderUsage",
    "Rejection",
    "RequestSpec",
    "Resources",
    "Selection",
]


class HvType(enum.IntEnum):
    UNSPECIFIED = 0
    KVM = 1
    QEMU = 2
    VMWARE = 3
    XEN = 4
    LXC = 5
    HYPERV = 6

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
class EsxiHost:
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
class HostCapabilities:
    """What a host can run: the discrete traits the index keys on."""

    hypervisor_type: HvType
    hypervisor_version: str = ""
    #: (architecture, hypervisor_type, vm_mode) triples, normalised.
    supported_instances: tuple[tuple[str, HvType, str], ...] = ()
    native_disk_formats: tuple[DiskFormat, ...] = ()
    availability_zone: str = ""
    #: Feature matrix, kept as a plain dict for listing (console types, key injection, ...).
    features: dict[str, object] = field(default_factory=dict)
    cluster_name: str = ""
    drs_enabled: bool = False
    esxi_hosts: tuple[EsxiHost, ...] = ()
    host_ip: str = ""


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

    @property
    def bootable_formats(self) -> frozenset[DiskFormat]:
        """Formats the image exists in or can be converted to."""
        formats = {*self.available_disk_formats, *self.producible_disk_formats}
        if self.disk_format != DiskFormat.UNSPECIFIED:
            formats.add(self.disk_format)
        formats.discard(DiskFormat.UNSPECIFIED)
        return frozenset(formats)


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
