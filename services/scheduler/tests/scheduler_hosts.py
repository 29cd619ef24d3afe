"""Host reports and request specs for the scheduler's tests (plain domain objects)."""

from __future__ import annotations

from collections.abc import Sequence

from polyvisor.scheduler.model import (
    Cluster,
    DiskFormat,
    HostCapabilities,
    HostFeatures,
    HostReport,
    HvType,
    ImageRequirements,
    Inventory,
    MemberHost,
    Rendition,
    RequestSpec,
    Resources,
    VmdkType,
)

KVM_FORMATS = (DiskFormat.QCOW2, DiskFormat.RAW)
VMWARE_FORMATS = (DiskFormat.VMDK,)
#: What the VMware agent reports: VMDKs, streamOptimized first.
VMWARE_RENDITIONS = tuple(
    Rendition(DiskFormat.VMDK, t)
    for t in (VmdkType.STREAM_OPTIMIZED, VmdkType.SPARSE, VmdkType.PREALLOCATED)
)
#: What the KVM agent reports (overlay disk mode).
FEATURES = HostFeatures(
    console_types=(1,),
    key_injection=True,
    user_data=True,
    power_on=True,
    power_off=True,
    reboot_soft=True,
    reboot_hard=True,
    vnc_port_range=(5900, 6000),
)


def kvm_report(
    host_id: str,
    *,
    vcpus: int = 16,
    memory_mb: int = 65536,
    disk_gb: int = 1000,
    az: str = "az1",
    arch: str = "x86_64",
    hv: HvType = HvType.KVM,
    version: str = "8.2.0",
    formats: Sequence[DiskFormat] = KVM_FORMATS,
    features: HostFeatures = FEATURES,
    capabilities: Sequence[str] = (),
    cpu_ratio: float = 1.0,
    reserved_mb: int = 0,
    max_unit_mb: int | None = None,
    connected: bool = True,
    received_at: float = 1000.0,
    sequence: int = 1,
    agent_id: str = "agent-1",
    incarnation: str = "",
) -> HostReport:
    caps = HostCapabilities(
        hypervisor_type=hv,
        hypervisor_version=version,
        supported_instances=((arch, hv, "hvm"),),
        disk_formats=tuple(Rendition(f) for f in formats),
        availability_zone=az,
        features=features,
        capabilities=tuple(capabilities),
        host_ip="192.0.2.1",
    )
    return HostReport(
        host_id=host_id,
        hostname=host_id,
        capabilities=caps,
        inventories={
            "VCPU": Inventory(total=vcpus, allocation_ratio=cpu_ratio),
            "MEMORY_MB": Inventory(total=memory_mb, reserved=reserved_mb, max_unit=max_unit_mb),
            "DISK_GB": Inventory(total=disk_gb),
        },
        connected=connected,
        agent_id=agent_id,
        incarnation=incarnation,
        sequence=sequence,
        received_at=received_at,
    )


def vmware_report(
    host_id: str,
    esxi: Sequence[tuple[str, int, int]],
    *,
    cluster: str = "C1",
    az: str = "az1",
    threads: int = 32,
    disk_gb: int = 10000,
    maintenance: Sequence[str] = (),
    received_at: float = 1000.0,
) -> HostReport:
    """`esxi`: (name, memory_mb, memory_allocated_mb) per ESXi host. The cluster's total is the
    sum of the hosts' memory, its used part what vCenter says the VMs hold."""
    hosts = tuple(
        MemberHost(
            name=name,
            moref=f"host-{i}",
            in_maintenance=name in maintenance,
            cpu_threads=threads,
            memory_mb=mem,
            memory_allocated_mb=alloc,
        )
        for i, (name, mem, alloc) in enumerate(esxi)
    )
    caps = HostCapabilities(
        hypervisor_type=HvType.VMWARE,
        hypervisor_version="8.0.2",
        supported_instances=(("x86_64", HvType.VMWARE, "hvm"), ("i686", HvType.VMWARE, "hvm")),
        disk_formats=VMWARE_RENDITIONS,
        availability_zone=az,
        features=FEATURES,
        cluster=Cluster(name=cluster, drs_enabled=True, hosts=hosts),
    )
    total_mem = sum(h.memory_mb for h in hosts)
    allocated = sum(h.memory_allocated_mb for h in hosts)
    return HostReport(
        host_id=host_id,
        hostname=cluster,
        capabilities=caps,
        inventories={
            "VCPU": Inventory(total=threads * len(hosts), allocation_ratio=4.0),
            # What the VMs already hold outside the scheduler is reserved.
            "MEMORY_MB": Inventory(total=total_mem, reserved=allocated),
            "DISK_GB": Inventory(total=disk_gb),
        },
        received_at=received_at,
    )


def spec(
    *consumers: str,
    vcpus: int = 2,
    memory_mb: int = 4096,
    disk_gb: int = 20,
    **kw: object,
) -> RequestSpec:
    image = kw.pop("image", ImageRequirements())
    return RequestSpec(
        consumer_ids=consumers or ("c1",),
        resources=Resources(vcpus, memory_mb, disk_gb),
        image=image,  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )
