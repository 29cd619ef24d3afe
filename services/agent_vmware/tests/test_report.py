"""The cluster as one host: sums over usable ESXi hosts, max_unit the largest one."""

from __future__ import annotations

import dataclasses

from polyvisor.agent_vmware.report import (
    ClusterFacts,
    DatastoreFacts,
    HostFacts,
    cluster_host_info,
    disconnected_host_info,
)
from polyvisor.agentkit.convert import host_report_to_proto

GIB = 1 << 30


def host(
    name: str, threads: int, mem_gib: int, state: str = "connected", maint: bool = False
) -> HostFacts:
    return HostFacts(
        moref=f"host-{name}", name=name, connection_state=state, in_maintenance=maint,
        cpu_cores=threads // 2, cpu_threads=threads, cpu_hz=2_000_000_000,
        memory_bytes=mem_gib * GIB, memory_used_mb=100,
    )  # fmt: skip


FACTS = ClusterFacts(
    name="C1",
    moref="domain-c7",
    api_version="8.0.2.0",
    drs_enabled=True,
    hosts=(
        host("esx-a", 16, 64),
        host("esx-b", 32, 128),
        host("esx-c", 64, 512, maint=True),
        host("esx-d", 64, 512, state="notResponding"),
    ),
    datastores=(
        DatastoreFacts("ds-1", 1000 * GIB, 400 * GIB),
        DatastoreFacts("ds-2", 500 * GIB, 450 * GIB),
        DatastoreFacts("ds-3", 9000 * GIB, 9000 * GIB, accessible=False),
    ),
)


def test_only_usable_hosts_count() -> None:
    info = cluster_host_info(FACTS)
    assert info.hypervisor_type == "vmware" and info.hypervisor_version == "8.0.2.0"
    assert info.connected and info.cluster is not None
    assert info.cluster.drs_enabled and info.cluster.name == "C1"
    assert (info.vcpus.total, info.vcpus.max_unit) == (48, 32)
    assert (info.memory_mb.total, info.memory_mb.max_unit) == (192 * 1024, 128 * 1024)
    assert info.used_memory_mb == 200


def test_disk_is_the_matching_accessible_datastores() -> None:
    info = cluster_host_info(FACTS)
    assert info.disk_gb.total == 1500
    assert info.used_disk_gb == 650
    assert info.disk_gb.max_unit == 450  # one disk lives on one datastore


def test_every_esxi_host_is_listed_with_its_state() -> None:
    info = cluster_host_info(FACTS)
    assert info.cluster is not None
    hosts = info.cluster.hosts
    assert [h.name for h in hosts] == ["esx-a", "esx-b", "esx-c", "esx-d"]
    c = hosts[2]
    assert c.in_maintenance and c.cpu_threads == 64 and c.memory_mb == 512 * 1024
    assert hosts[3].connection_state == "notResponding"
    # VMDKs boot as they are; anything else is converted to streamOptimized, named first.
    assert [(r.disk_format, r.vmware_disktype) for r in info.disk_formats] == [
        ("vmdk", "streamOptimized"),
        ("vmdk", "sparse"),
        ("vmdk", "preallocated"),
    ]
    assert info.vnc_port_range == (5900, 6105)
    assert info.features.key_injection and info.features.user_data
    # Without NSX nothing on vSphere enforces a port's security groups: the report says so.
    assert not info.features.security_groups


def test_disconnected_keeps_the_last_report_and_says_so() -> None:
    last = cluster_host_info(FACTS)
    down = disconnected_host_info(last, "C1")
    assert not down.connected and down.vcpus == last.vcpus
    cold = disconnected_host_info(None, "C1")
    assert not cold.connected and cold.vcpus.total == 0
    assert cold.cluster is not None and cold.cluster.name == "C1"


def test_esxi_detail_reaches_the_host_report() -> None:
    facts = ClusterFacts(
        name="C1", moref="domain-c7", api_version="8.0", drs_enabled=True, datastores=(),
        hosts=(
            HostFacts(
                moref="host-9", name="esx-a", connection_state="connected", in_maintenance=False,
                cpu_cores=8, cpu_threads=16, cpu_hz=2_400_000_000, memory_bytes=64 * GIB,
                cpu_used_mhz=67, memory_used_mb=900, core_mhz=2394, vm_count=3,
                vcpus_allocated=6, memory_allocated_mb=4096,
            ),
        ),
    )  # fmt: skip
    report = host_report_to_proto(
        cluster_host_info(facts),
        host_id="vc:domain-c7", agent_id="a", sequence=1, interval_s=10, server_count=0,
    )  # fmt: skip
    assert report.cluster.name == "C1" and report.cluster.drs_enabled
    (esx,) = report.cluster.hosts
    assert (esx.name, esx.cpu_cores, esx.cpu_threads) == ("esx-a", 8, 16)
    assert (esx.cpu_mhz, esx.cpu_used_mhz) == (8 * 2394, 67)
    assert (esx.memory_mb, esx.memory_used_mb) == (64 * 1024, 900)
    assert (esx.vm_count, esx.vcpus_allocated, esx.memory_allocated_mb) == (3, 6, 4096)
    assert esx.moref == ""  # hypervisor ids stay in the driver
    # Without vCenter's per-core speed, the hardware clock stands in.
    assert dataclasses.replace(facts.hosts[0], core_mhz=0).cpu_mhz == 8 * 2400
