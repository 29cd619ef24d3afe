"""The cluster as one host: sums over usable ESXi hosts, max_unit the largest one."""

from __future__ import annotations

from polyvisor.agent_vmware.report import (
    ClusterFacts,
    DatastoreFacts,
    HostFacts,
    cluster_host_info,
    disconnected_host_info,
)

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
    assert info.connected and info.drs_enabled and info.cluster_name == "C1"
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
    assert [h.name for h in info.esxi_hosts] == ["esx-a", "esx-b", "esx-c", "esx-d"]
    c = info.esxi_hosts[2]
    assert c.in_maintenance and c.cpu_threads == 64 and c.memory_mb == 512 * 1024
    assert info.esxi_hosts[3].connection_state == "notResponding"
    assert info.native_disk_formats == ("vmdk",)
    assert info.vnc_port_range == (5900, 6105)
    assert info.features.key_injection and info.features.user_data


def test_disconnected_keeps_the_last_report_and_says_so() -> None:
    last = cluster_host_info(FACTS)
    down = disconnected_host_info(last, "C1")
    assert not down.connected and down.vcpus == last.vcpus
    cold = disconnected_host_info(None, "C1")
    assert not cold.connected and cold.vcpus.total == 0 and cold.cluster_name == "C1"
