"""A vCenter cluster reported as one host, from plain facts read out of vCenter.

- vCPUs and memory: the sum over ESXi hosts that are connected and not in maintenance (the
  others run nothing new); ``max_unit`` is the largest single such host, so a VM that fits the
  cluster total but no single host is refused up front.
- Disk: the datastores matching the configured regex; used = capacity - free space; a disk
  lives on one datastore, so ``max_unit`` is the largest free space of one datastore.
- The cluster and each ESXi host travel in the report's ``cluster`` sub-report, for the
  scheduler's per-host fit and the hypervisor API: its hardware, vCenter's quick stats (CPU MHz and
  memory in use), and what its VMs are configured with. No moref: hypervisor ids stay here.
- While vCenter is unreachable: the last report, marked disconnected (never made up).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from polyvisor.agentkit.driver import (
    ClusterReport,
    Features,
    HostInfo,
    Inventory,
    MemberHost,
    RenditionWanted,
    SupportedInstance,
)

__all__ = [
    "DISK_FORMATS",
    "ClusterFacts",
    "DatastoreFacts",
    "HostFacts",
    "cluster_host_info",
    "disconnected_host_info",
    "schedulable",
]

MIB = 1 << 20
GIB = 1 << 30
HYPERVISOR_TYPE = "vmware"
# The agent expands a hosted VMDK (sparse or streamOptimized) or a flat one into the flat
# extent ESXi attaches, so each boots as it is; any other image is converted to
# streamOptimized (compressed: the least to fetch).
DISK_FORMATS = (
    RenditionWanted("vmdk", "streamOptimized"),
    RenditionWanted("vmdk", "sparse"),
    RenditionWanted("vmdk", "preallocated"),
)
SUPPORTED = (
    SupportedInstance("x86_64", HYPERVISOR_TYPE, "hvm"),
    SupportedInstance("i686", HYPERVISOR_TYPE, "hvm"),
)
FEATURES = Features(
    console_types=("vnc",),
    key_injection=True,  # guestinfo.metadata, read by cloud-init's VMware datasource
    user_data=True,
    power_on_off=True,
    reboot_soft=True,
    reboot_hard=True,
)


@dataclass(frozen=True, slots=True)
class HostFacts:
    moref: str
    name: str
    connection_state: str  # connected, disconnected, notResponding
    in_maintenance: bool
    cpu_cores: int
    cpu_threads: int
    cpu_hz: int
    memory_bytes: int
    cpu_used_mhz: int = 0
    memory_used_mb: int = 0
    core_mhz: int = 0  # summary.hardware.cpuMhz: the speed of one core
    vm_count: int = 0  # VMs registered on the host, any power state
    vcpus_allocated: int = 0  # configured vCPUs of its powered-on VMs (what it commits)
    memory_allocated_mb: int = 0  # configured memory of its powered-on VMs

    @property
    def cpu_mhz(self) -> int:
        """Total CPU capacity, as vSphere counts it: per-core MHz times physical cores."""
        mhz = self.core_mhz or self.cpu_hz // 1_000_000
        return mhz * self.cpu_cores


@dataclass(frozen=True, slots=True)
class DatastoreFacts:
    name: str
    capacity: int
    free_space: int
    accessible: bool = True


@dataclass(frozen=True, slots=True)
class ClusterFacts:
    name: str
    moref: str
    api_version: str
    drs_enabled: bool
    hosts: tuple[HostFacts, ...]
    datastores: tuple[DatastoreFacts, ...]  # those matching the regex


def schedulable(host: HostFacts) -> bool:
    return host.connection_state == "connected" and not host.in_maintenance


def _inventory(values: Sequence[int], ratio: float) -> Inventory:
    total = sum(values)
    return Inventory(
        total=total,
        allocation_ratio=ratio,
        max_unit=max(values, default=0),
        min_unit=1,
    )


def cluster_host_info(
    facts: ClusterFacts,
    *,
    vnc_port_range: tuple[int, int] = (5900, 6105),
    cpu_allocation_ratio: float = 1.0,
    ram_allocation_ratio: float = 1.0,
    disk_allocation_ratio: float = 1.0,
    capabilities: tuple[str, ...] = (),
) -> HostInfo:
    """``capabilities``: what the driver reporting it implements (``capabilities_of``)."""
    usable = [h for h in facts.hosts if schedulable(h)]
    stores = [d for d in facts.datastores if d.accessible]
    return HostInfo(
        hypervisor_type=HYPERVISOR_TYPE,
        hypervisor_version=facts.api_version,
        hostname=facts.name,
        connected=True,
        vcpus=_inventory([h.cpu_threads for h in usable], cpu_allocation_ratio),
        memory_mb=_inventory([h.memory_bytes // MIB for h in usable], ram_allocation_ratio),
        disk_gb=Inventory(
            total=sum(d.capacity for d in stores) // GIB,
            allocation_ratio=disk_allocation_ratio,
            max_unit=max((d.free_space // GIB for d in stores), default=0),
        ),
        supported_instances=SUPPORTED,
        disk_formats=DISK_FORMATS,
        features=FEATURES,
        vnc_port_range=vnc_port_range,
        used_vcpus=0,  # vCPUs are the scheduler's allocations, not a hypervisor reading
        used_memory_mb=sum(h.memory_used_mb for h in usable),
        used_disk_gb=sum(d.capacity - d.free_space for d in stores) // GIB,
        cluster=ClusterReport(
            name=facts.name,
            drs_enabled=facts.drs_enabled,
            hosts=tuple(
                MemberHost(
                    name=h.name,
                    connection_state=h.connection_state,
                    in_maintenance=h.in_maintenance,
                    cpu_cores=h.cpu_cores,
                    cpu_threads=h.cpu_threads,
                    memory_mb=h.memory_bytes // MIB,
                    memory_used_mb=h.memory_used_mb,
                    cpu_used_mhz=h.cpu_used_mhz,
                    cpu_mhz=h.cpu_mhz,
                    vcpus_allocated=h.vcpus_allocated,
                    memory_allocated_mb=h.memory_allocated_mb,
                    vm_count=h.vm_count,
                )
                for h in sorted(facts.hosts, key=lambda h: h.name)
            ),
        ),
        capabilities=capabilities,
    )


def disconnected_host_info(
    last: HostInfo | None,
    cluster_name: str,
    vnc_port_range: tuple[int, int] = (5900, 6105),
    capabilities: tuple[str, ...] = (),
) -> HostInfo:
    """What we know while vCenter is unreachable: the last report, marked disconnected."""
    if last is not None:
        return dataclasses.replace(last, connected=False)
    return HostInfo(
        hypervisor_type=HYPERVISOR_TYPE,
        hypervisor_version="",
        hostname=cluster_name,
        connected=False,
        vcpus=Inventory(total=0),
        memory_mb=Inventory(total=0),
        disk_gb=Inventory(total=0),
        supported_instances=SUPPORTED,
        disk_formats=DISK_FORMATS,
        features=FEATURES,
        vnc_port_range=vnc_port_range,
        cluster=ClusterReport(name=cluster_name),
        capabilities=capabilities,
    )
