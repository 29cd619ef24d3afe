"""Every filter on its own, over a real HostIndex (pure: no database, no network)."""

from __future__ import annotations

import numpy as np
import pytest
from scheduler_hosts import kvm_report, spec, vmware_report

from polyvisor.scheduler.filters import (
    AvailabilityZoneFilter,
    ComputeFilter,
    DifferentHostFilter,
    DiskFormatFilter,
    FilterContext,
    ForceHostFilter,
    HypervisorTypeFilter,
    IgnoreHostsFilter,
    ImagePropertiesFilter,
    ResourcesFilter,
    SameHostFilter,
    ServerGroupAffinityFilter,
    ServerGroupAntiAffinityFilter,
    fmt_mib,
)
from polyvisor.scheduler.index import FIT32_MAX, HostIndex
from polyvisor.scheduler.model import (
    DiskFormat,
    GroupPolicy,
    HvType,
    ImageRequirements,
    Resources,
)

NOW = 1010.0


def make_index(*reports, timeout: float = 60.0) -> HostIndex:
    index = HostIndex(timeout, clock=lambda: NOW, initial_capacity=2)
    for r in reports:
        index.apply_report(r)
    return index


def kept(index: HostIndex, f, s, hosts_of=None) -> list[str]:
    ctx = FilterContext.build(index, s, hosts_of=hosts_of)
    assert f.applies(ctx)
    mask = f.passes(index, ctx)
    assert mask.dtype == bool and mask.shape == (index.n,)
    return [index.ids[i] for i in np.flatnonzero(mask)]


def reason(index: HostIndex, f, s, host: str, hosts_of=None) -> str:
    ctx = FilterContext.build(index, s, hosts_of=hosts_of)
    return f.reason(index, ctx, index.row(host))


def test_compute_filter_drops_stale_disconnected_and_disabled_hosts() -> None:
    index = make_index(
        kvm_report("fresh", received_at=1000.0),
        kvm_report("stale", received_at=900.0),
        kvm_report("lost", connected=False),
        kvm_report("off"),
    )
    index.set_enabled(index.row("off"), False, "hardware maintenance")
    assert kept(index, ComputeFilter(), spec()) == ["fresh"]
    assert reason(index, ComputeFilter(), spec(), "stale") == (
        "down: last report 110 s ago (timeout 60 s)"
    )
    assert reason(index, ComputeFilter(), spec(), "lost") == (
        "down: its agent cannot reach the hypervisor"
    )
    assert reason(index, ComputeFilter(), spec(), "off") == "disabled: hardware maintenance"


def test_host_goes_stale_as_time_passes_and_comes_back_with_a_report() -> None:
    now = [1000.0]
    index = HostIndex(60.0, clock=lambda: now[0])
    index.apply_report(kvm_report("h1", received_at=1000.0))
    f = ComputeFilter()
    assert f.passes(index, FilterContext.build(index, spec())).tolist() == [True]
    now[0] = 1061.0
    assert f.passes(index, FilterContext.build(index, spec())).tolist() == [False]
    index.apply_report(kvm_report("h1", received_at=1060.0, sequence=2))
    assert f.passes(index, FilterContext.build(index, spec())).tolist() == [True]


def test_report_interval_stretches_the_timeout() -> None:
    from dataclasses import replace

    index = HostIndex(10.0, clock=lambda: NOW)
    index.apply_report(replace(kvm_report("slow", received_at=990.0), report_interval_s=30.0))
    assert index.timeout[0] == 90.0
    assert index.alive().tolist() == [True]


def test_older_report_from_the_same_agent_is_dropped() -> None:
    index = make_index(kvm_report("h1", memory_mb=8192, sequence=5))
    assert not index.apply_report(kvm_report("h1", memory_mb=1024, sequence=4))
    assert index.capacity[0, 1] == 8192
    # a new agent process starts its sequence again
    assert index.apply_report(kvm_report("h1", memory_mb=4096, sequence=1, agent_id="agent-2"))
    assert index.capacity[0, 1] == 4096


def test_reports_are_ordered_within_one_incarnation_of_an_agent() -> None:
    index = make_index(kvm_report("h1", memory_mb=8192, sequence=74, incarnation="run-1"))
    assert index.drop_reason(kvm_report("h1", sequence=74, incarnation="run-1")) == "duplicate"
    assert index.drop_reason(kvm_report("h1", sequence=73, incarnation="run-1")) == "stale"
    # the same agent id restarted (or took its lease again): its sequence starts at 1 again
    restarted = kvm_report(
        "h1", memory_mb=4096, sequence=1, incarnation="run-2", received_at=1005.0
    )
    assert index.apply_report(restarted)
    assert index.capacity[0, 1] == 4096
    assert index.last_report[0] == 1005.0
    assert index.last_applied("h1") == ("agent-1", "run-2", 1)
    assert index.apply_report(kvm_report("h1", sequence=2, incarnation="run-2"))
    assert not index.apply_report(kvm_report("h1", sequence=2, incarnation="run-2"))


def test_availability_zone_filter() -> None:
    index = make_index(kvm_report("a", az="az1"), kvm_report("b", az="az2"))
    s = spec(availability_zone="az2")
    assert kept(index, AvailabilityZoneFilter(), s) == ["b"]
    assert reason(index, AvailabilityZoneFilter(), s, "a") == (
        "in availability zone az1, request asks for az2"
    )
    assert not AvailabilityZoneFilter().applies(FilterContext.build(index, spec()))


def test_image_properties_filter_matches_triples_like_nova() -> None:
    index = make_index(
        kvm_report("kvm-x86"),
        kvm_report("kvm-arm", arch="aarch64"),
        kvm_report("qemu-x86", hv=HvType.QEMU),
        vmware_report("vc", [("esx1", 65536, 0)]),
    )
    f = ImagePropertiesFilter()
    vmware = spec(image=ImageRequirements(hypervisor_type=HvType.VMWARE))
    assert kept(index, f, vmware) == ["vc"]
    assert reason(index, f, vmware, "kvm-x86") == (
        "hypervisor_type kvm does not match image's vmware"
    )
    # a kvm host also runs images asking for qemu; a qemu host does not run kvm images
    qemu = spec(image=ImageRequirements(hypervisor_type=HvType.QEMU))
    assert kept(index, f, qemu) == ["kvm-x86", "kvm-arm", "qemu-x86"]
    kvm = spec(image=ImageRequirements(hypervisor_type=HvType.KVM))
    assert kept(index, f, kvm) == ["kvm-x86", "kvm-arm"]
    arm = spec(image=ImageRequirements(architecture="aarch64"))
    assert kept(index, f, arm) == ["kvm-arm"]
    assert reason(index, f, arm, "vc") == "architecture i686, x86_64 does not match image's aarch64"
    x86 = spec(image=ImageRequirements(architecture="x86_64"))
    assert kept(index, f, x86) == ["kvm-x86", "qemu-x86", "vc"]  # never the aarch64 host
    assert reason(index, f, x86, "kvm-arm") == "architecture aarch64 does not match image's x86_64"
    # every property must hold in one triple
    combo = spec(image=ImageRequirements(architecture="i686", hypervisor_type=HvType.KVM))
    assert kept(index, f, combo) == []
    assert reason(index, f, combo, "vc") == "hypervisor_type vmware does not match image's kvm"
    assert reason(index, f, combo, "kvm-x86") == ("architecture x86_64 does not match image's i686")
    mode = spec(image=ImageRequirements(vm_mode="xen"))
    assert kept(index, f, mode) == []
    assert reason(index, f, mode, "kvm-x86") == "vm_mode hvm does not match image's xen"
    # no property set: the filter does not run
    assert not f.applies(FilterContext.build(index, spec()))


def test_image_hypervisor_version_requirement() -> None:
    index = make_index(kvm_report("old", version="6.2.0"), kvm_report("new", version="8.2.1"))
    f = ImagePropertiesFilter()
    s = spec(image=ImageRequirements(hypervisor_version_requires=">=7.0,<9"))
    assert kept(index, f, s) == ["new"]
    assert reason(index, f, s, "old") == (
        "hypervisor version 6.2.0 does not satisfy image's >=7.0,<9"
    )


def test_hypervisor_type_hint_filter() -> None:
    index = make_index(kvm_report("k"), vmware_report("v", [("esx1", 65536, 0)]))
    f = HypervisorTypeFilter()
    assert kept(index, f, spec(hypervisor_type=HvType.VMWARE)) == ["v"]
    assert kept(index, f, spec(hypervisor_type=HvType.QEMU)) == ["k"]
    assert reason(index, f, spec(hypervisor_type=HvType.VMWARE), "k") == (
        "hypervisor_type kvm does not match the requested vmware"
    )


def test_disk_format_filter_native_or_producible() -> None:
    index = make_index(
        kvm_report("kvm"),
        vmware_report("vc", [("esx1", 65536, 0)]),
        kvm_report("raw-only", formats=(DiskFormat.RAW,)),
    )
    f = DiskFormatFilter()
    qcow2_only = spec(image=ImageRequirements(disk_format=DiskFormat.QCOW2))
    assert kept(index, f, qcow2_only) == ["kvm"]
    assert reason(index, f, qcow2_only, "vc") == (
        "boots vmdk natively; the image is qcow2 and can only be had as qcow2"
    )
    convertible = spec(
        image=ImageRequirements(
            disk_format=DiskFormat.QCOW2,
            producible_disk_formats=(DiskFormat.RAW, DiskFormat.VMDK),
        )
    )
    assert kept(index, f, convertible) == ["kvm", "vc", "raw-only"]
    existing = spec(
        image=ImageRequirements(
            disk_format=DiskFormat.VMDK, available_disk_formats=(DiskFormat.VMDK, DiskFormat.RAW)
        )
    )
    assert kept(index, f, existing) == ["kvm", "vc", "raw-only"]


def test_resources_filter_free_capacity_with_ratio_and_reserved() -> None:
    index = make_index(
        kvm_report("big", vcpus=8, memory_mb=16384),
        kvm_report("reserved", vcpus=8, memory_mb=16384, reserved_mb=14336),
        kvm_report("overcommit", vcpus=2, cpu_ratio=4.0),
    )
    f = ResourcesFilter()
    s = spec(vcpus=6, memory_mb=4096, disk_gb=10)
    assert kept(index, f, s) == ["big", "overcommit"]
    assert reason(index, f, s, "reserved") == "needs 4 GiB RAM, 2 GiB free"
    # used amounts count
    index.set_usage(index.row("big"), 1, Resources(4, 1024, 0))
    assert kept(index, f, s) == ["overcommit"]
    assert reason(index, f, s, "big") == "needs 6 vCPUs, 4 vCPUs free"
    assert reason(index, f, spec(disk_gb=5000), "big") == "needs 5000 GiB disk, 1000 GiB free"


def test_resources_filter_amounts_beyond_int32() -> None:
    """The filter compares an int32 copy of fit when the amount allows; amounts that do not
    fit in it, and hosts whose room does not, still compare exactly."""
    index = make_index(
        kvm_report("huge", disk_gb=2**33),
        kvm_report("edge", disk_gb=FIT32_MAX),
        kvm_report("below", disk_gb=FIT32_MAX - 1),
    )
    f = ResourcesFilter()
    assert kept(index, f, spec(disk_gb=FIT32_MAX - 1)) == ["huge", "edge", "below"]
    assert kept(index, f, spec(disk_gb=FIT32_MAX)) == ["huge", "edge"]
    assert kept(index, f, spec(disk_gb=FIT32_MAX + 1)) == ["huge"]
    assert kept(index, f, spec(disk_gb=2**33)) == ["huge"]
    assert kept(index, f, spec(disk_gb=2**33 + 1)) == []
    index.set_usage(index.row("huge"), 1, Resources(0, 0, 2**33 - 2**31))
    assert kept(index, f, spec(disk_gb=FIT32_MAX + 1)) == ["huge"]
    assert kept(index, f, spec(disk_gb=FIT32_MAX + 2)) == []


def test_resources_filter_max_unit_and_pending_claims() -> None:
    index = make_index(kvm_report("h", memory_mb=65536, max_unit_mb=8192))
    f = ResourcesFilter()
    assert kept(index, f, spec(memory_mb=16384)) == []
    assert reason(index, f, spec(memory_mb=16384), "h") == (
        "needs 16 GiB RAM, more than one server may take here (max_unit 8 GiB)"
    )
    index.add_pending(0, np.array([0, 60000, 0]))
    assert kept(index, f, spec(memory_mb=8192)) == []
    index.remove_pending(0, np.array([0, 60000, 0]))
    assert kept(index, f, spec(memory_mb=8192)) == ["h"]


def test_vmware_cluster_fits_the_total_but_no_single_esxi_host() -> None:
    # 3 ESXi hosts with 32 GiB each, 8 + 8 + 12 GiB in use by VMs: 68 GiB free in total,
    # the roomiest single host has 24 GiB free.
    index = make_index(
        vmware_report(
            "vmware:vc1:C1",
            [("esx-1", 32768, 8192), ("esx-2", 32768, 8192), ("esx-3", 32768, 12288)],
        )
    )
    f = ResourcesFilter()
    assert index.capacity[0, 1] == 69632
    assert index.max_unit[0, 1] == 24576
    assert kept(index, f, spec(memory_mb=24576)) == ["vmware:vc1:C1"]
    big = spec(memory_mb=48 * 1024)
    assert kept(index, f, big) == []
    assert reason(index, f, big, "vmware:vc1:C1") == (
        "cluster C1: 68 GiB free in total but no single ESXi host has 48 GiB "
        "(largest free: 24 GiB on esx-1)"
    )


def test_vmware_hosts_in_maintenance_do_not_count() -> None:
    index = make_index(
        vmware_report("vc", [("esx-1", 65536, 0), ("esx-2", 16384, 0)], maintenance=("esx-1",))
    )
    assert index.max_unit[0, 1] == 16384
    assert kept(index, ResourcesFilter(), spec(memory_mb=32768)) == []
    all_down = make_index(vmware_report("vc", [("esx-1", 65536, 0)], maintenance=("esx-1",)))
    assert reason(all_down, ResourcesFilter(), spec(), "vc") == (
        "cluster C1: no usable ESXi host (all 1 disconnected or in maintenance)"
    )


def test_force_and_ignore_hosts() -> None:
    index = make_index(kvm_report("a"), kvm_report("b"), kvm_report("c"))
    assert kept(index, ForceHostFilter(), spec(force_host="b")) == ["b"]
    assert kept(index, ForceHostFilter(), spec(force_host="nope")) == []
    assert reason(index, ForceHostFilter(), spec(force_host="b"), "a") == "not the forced host b"
    assert kept(index, IgnoreHostsFilter(), spec(ignore_hosts=("a", "c", "zz"))) == ["b"]


def test_same_and_different_host() -> None:
    index = make_index(kvm_report("a"), kvm_report("b"), kvm_report("c"))
    hosts_of = {"s1": "a", "s2": "b"}
    assert kept(index, SameHostFilter(), spec(same_host=("s1",)), hosts_of) == ["a"]
    assert kept(index, SameHostFilter(), spec(same_host=("unknown",)), hosts_of) == []
    assert kept(index, DifferentHostFilter(), spec(different_host=("s1", "s2")), hosts_of) == ["c"]
    assert reason(
        index, DifferentHostFilter(), spec(different_host=("s1", "s2")), "b", hosts_of
    ) == ("hosts server s2 (different_host)")


def test_server_group_affinity_and_anti_affinity() -> None:
    index = make_index(kvm_report("a"), kvm_report("b"), kvm_report("c"))
    hosts_of = {"m1": "b"}
    aff = spec(group_id="g1", group_policy=GroupPolicy.AFFINITY, group_members=("m1",))
    assert kept(index, ServerGroupAffinityFilter(), aff, hosts_of) == ["b"]
    assert reason(index, ServerGroupAffinityFilter(), aff, "a", hosts_of) == (
        "server group g1 (affinity): its members run on b"
    )
    # the first member may go anywhere
    first = spec(group_id="g1", group_policy=GroupPolicy.AFFINITY)
    assert kept(index, ServerGroupAffinityFilter(), first) == ["a", "b", "c"]
    anti = spec(group_id="g2", group_policy=GroupPolicy.ANTI_AFFINITY, group_members=("m1",))
    assert kept(index, ServerGroupAntiAffinityFilter(), anti, hosts_of) == ["a", "c"]
    assert reason(index, ServerGroupAntiAffinityFilter(), anti, "b", hosts_of) == (
        "runs member m1 of server group g2 (anti-affinity)"
    )
    # instances already placed by the same request count as members
    ctx = FilterContext.build(index, anti, hosts_of=hosts_of)
    ctx.placed_rows.append(index.row("a"))
    assert np.flatnonzero(ServerGroupAntiAffinityFilter().passes(index, ctx)).tolist() == [2]


@pytest.mark.parametrize(
    ("mib", "text"), [(700, "700 MiB"), (1024, "1 GiB"), (1536, "1.5 GiB"), (65536, "64 GiB")]
)
def test_fmt_mib(mib: int, text: str) -> None:
    assert fmt_mib(mib) == text


def test_index_grows_and_keeps_masks() -> None:
    index = HostIndex(60.0, clock=lambda: NOW, initial_capacity=1)
    for i in range(100):
        index.apply_report(kvm_report(f"h{i:03d}", az="az1" if i % 2 else "az2"))
    assert index.n == 100
    assert int(index.mask(("az", "az1")).sum()) == 50
    # a host moving zones leaves its old mask
    index.apply_report(kvm_report("h001", az="az3", sequence=2))
    assert int(index.mask(("az", "az1")).sum()) == 49
    assert index.mask(("az", "az3")).tolist().index(True) == 1
