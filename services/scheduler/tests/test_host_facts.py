"""What a host reports it can do decides where a server goes and which rendition it boots:
the features filter and the rendition choice (pure: no database, no network)."""

from __future__ import annotations

import dataclasses

import pytest
from scheduler_hosts import FEATURES, kvm_report, spec, vmware_report

from polyvisor.scheduler import renditions
from polyvisor.scheduler.caps_json import caps_from_json, caps_to_json
from polyvisor.scheduler.explain import explain, run_filters
from polyvisor.scheduler.filters import FilterContext, HostFeaturesFilter, default_filters
from polyvisor.scheduler.index import HostIndex
from polyvisor.scheduler.model import (
    DiskFormat,
    HostCapabilities,
    HostRequirements,
    HvType,
    ImageRequirements,
    Rendition,
    VmdkType,
)

R = Rendition
QCOW2, RAW, VMDK, ISO = DiskFormat.QCOW2, DiskFormat.RAW, DiskFormat.VMDK, DiskFormat.ISO
STREAM, SPARSE, FLAT = VmdkType.STREAM_OPTIMIZED, VmdkType.SPARSE, VmdkType.PREALLOCATED
CONVERTIBLE = (RAW, QCOW2, VMDK)

KVM_OVERLAY = (R(QCOW2), R(RAW))
KVM_COPY = (R(RAW),)
VMWARE = (R(VMDK, STREAM), R(VMDK, SPARSE), R(VMDK, FLAT))


def image(fmt: DiskFormat, vmdk: VmdkType = VmdkType.UNSPECIFIED, **kw: object):
    producible = CONVERTIBLE if fmt in CONVERTIBLE else (fmt,)
    return ImageRequirements(
        disk_format=fmt,
        vmdk_type=vmdk,
        available_disk_formats=(fmt,),
        producible_disk_formats=producible,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("host", "img", "want"),
    [
        (KVM_OVERLAY, image(QCOW2), R(QCOW2)),
        (KVM_OVERLAY, image(RAW), R(RAW)),
        (KVM_OVERLAY, image(VMDK, STREAM), R(QCOW2)),
        # A KVM host in copy disk mode boots raw only: a qcow2 image is converted for it.
        (KVM_COPY, image(QCOW2), R(RAW)),
        (KVM_COPY, image(RAW), R(RAW)),
        (VMWARE, image(QCOW2), R(VMDK, STREAM)),
        (VMWARE, image(RAW), R(VMDK, STREAM)),
        (VMWARE, image(VMDK, SPARSE), R(VMDK, SPARSE)),
        (VMWARE, image(VMDK, FLAT), R(VMDK, FLAT)),
        (VMWARE, image(VMDK), R(VMDK, STREAM)),
        (KVM_OVERLAY, image(ISO), None),
        (VMWARE, image(ISO), None),
    ],
)
def test_rendition_a_host_boots(host, img, want) -> None:
    assert renditions.choose(host, img) == want


def _index(*reports) -> HostIndex:
    index = HostIndex(60.0, clock=lambda: 1000.0)
    for r in reports:
        index.apply_report(r)
    return index


def test_selection_names_the_rendition_of_the_chosen_host() -> None:
    """The disk format is the host's word (its report), not a guess by hypervisor type: a
    copy-mode KVM host gets raw for a qcow2 image, its overlay-mode neighbour qcow2."""
    index = _index(kvm_report("overlay"), kvm_report("copy", formats=(RAW,)))
    img = image(QCOW2)
    for host, want in (("overlay", R(QCOW2)), ("copy", R(RAW))):
        caps = index.caps[index.row(host)]
        assert renditions.choose(caps.disk_formats, img) == want


def test_features_filter_key_injection_user_data_console_and_capabilities() -> None:
    no_keys = dataclasses.replace(FEATURES, key_injection=False)
    no_user_data = dataclasses.replace(FEATURES, user_data=False)
    index = _index(
        kvm_report("full", capabilities=("suspend",)),
        kvm_report("no-keys", features=no_keys),
        kvm_report("no-user-data", features=no_user_data),
        vmware_report("cluster", [("esx-a", 65536, 0)]),
    )
    f = HostFeaturesFilter()

    def kept(requires: HostRequirements) -> list[str]:
        ctx = FilterContext.build(index, spec(requires=requires))
        assert f.applies(ctx)
        return [index.ids[i] for i, ok in enumerate(f.passes(index, ctx)) if ok]

    assert not f.applies(FilterContext.build(index, spec()))
    assert kept(HostRequirements(key_injection=True)) == ["full", "no-user-data", "cluster"]
    assert kept(HostRequirements(user_data=True)) == ["full", "no-keys", "cluster"]
    assert kept(HostRequirements(console_type=1)) == ["full", "no-keys", "no-user-data", "cluster"]
    assert kept(HostRequirements(console_type=2)) == []
    assert kept(HostRequirements(capabilities=("suspend",))) == ["full"]
    assert kept(HostRequirements(capabilities=("teleport",))) == []


def test_features_filter_explains_per_need() -> None:
    no_keys = dataclasses.replace(FEATURES, key_injection=False)
    index = _index(
        *(kvm_report(f"kvm-{i}", features=no_keys) for i in range(3)),
        vmware_report("cluster", [("esx-a", 1024, 0)]),
    )
    s = spec(memory_mb=4096, requires=HostRequirements(key_injection=True))
    ctx = FilterContext.build(index, s)
    ok, masks = run_filters(index, ctx, default_filters())
    assert not ok.any()
    e = explain(index, ctx, masks)
    removing = [(x.name, x.hosts_before, x.hosts_removed) for x in e.filters if x.hosts_removed]
    assert removing == [("HostFeaturesFilter", 4, 3), ("ResourcesFilter", 1, 1)]
    assert e.filters[1].examples[0].reason == "kvm host cannot inject SSH keys"
    assert e.summary.startswith("4 hosts: 3 cannot inject SSH keys, 1 ")


def test_capabilities_round_trip_the_database_with_the_cluster_sub_report() -> None:
    report = vmware_report("vc", [("esx-a", 1024, 10), ("esx-b", 2048, 0)], maintenance=["esx-b"])
    caps = dataclasses.replace(report.capabilities, capabilities=("suspend",))
    back = caps_from_json(
        int(caps.hypervisor_type), caps.hypervisor_version, "az1", caps_to_json(caps)
    )
    assert back == caps
    kvm = kvm_report("kvm").capabilities
    back = caps_from_json(
        int(kvm.hypervisor_type), kvm.hypervisor_version, "az1", caps_to_json(kvm)
    )
    assert back == kvm and back.cluster is None


def test_rows_written_before_the_cluster_sub_report_still_read() -> None:
    old = {
        "supported_instances": [["x86_64", 3, "hvm"]],
        "native_disk_formats": [3],
        "features": {"console_types": ["CONSOLE_TYPE_VNC"], "key_injection": True,
                     "vnc_port_range": {"min": 5900, "max": 6105}},
        "cluster_name": "C1",
        "drs_enabled": True,
        "host_ip": "",
        "esxi_hosts": [{"name": "esx-a", "memory_mb": 1024}],
    }  # fmt: skip
    caps = caps_from_json(3, "8.0", "az1", old)
    assert isinstance(caps, HostCapabilities) and caps.hypervisor_type == HvType.VMWARE
    assert caps.cluster is not None and caps.cluster.name == "C1"
    assert [h.name for h in caps.members] == ["esx-a"]
    assert caps.disk_formats == (R(VMDK),) and caps.features.key_injection
    assert caps.features.vnc_port_range == (5900, 6105)


def _reaching(report, *physnets: str):  # type: ignore[no-untyped-def]
    caps = dataclasses.replace(report.capabilities, physical_networks=physnets)
    return dataclasses.replace(report, capabilities=caps)


def test_a_host_gets_a_server_only_when_it_reaches_all_its_networks() -> None:
    index = _index(
        _reaching(kvm_report("both"), "physnet1", "prod"),
        _reaching(kvm_report("flat-only"), "physnet1"),
        kvm_report("none"),
        _reaching(vmware_report("cluster", [("esx-a", 65536, 0)]), "prod"),
    )
    f = HostFeaturesFilter()

    def kept(*networks: tuple[str, str]) -> list[str]:
        ctx = FilterContext.build(index, spec(requires=HostRequirements(networks=networks)))
        assert f.applies(ctx)
        return [index.ids[i] for i, ok in enumerate(f.passes(index, ctx)) if ok]

    assert kept(("demo", "physnet1")) == ["both", "flat-only"]
    assert kept(("prod-vlan-120", "prod")) == ["both", "cluster"]
    assert kept(("demo", "physnet1"), ("prod-vlan-120", "prod")) == ["both"]
    assert kept(("elsewhere", "physnet9")) == []


def test_unreachable_networks_are_explained_per_network() -> None:
    index = _index(
        _reaching(kvm_report("kvm-1"), "physnet1"),
        _reaching(kvm_report("kvm-2"), "physnet1"),
        _reaching(kvm_report("kvm-3"), "physnet1", "prod"),
    )
    s = spec(requires=HostRequirements(networks=(("prod-vlan-120", "prod"),)))
    ctx = FilterContext.build(index, s)
    ok, masks = run_filters(index, ctx, default_filters())
    assert [index.ids[i] for i, x in enumerate(ok) if x] == ["kvm-3"]

    s = spec(requires=HostRequirements(networks=(("prod-vlan-120", "prod"), ("lab", "lab"))))
    ctx = FilterContext.build(index, s)
    ok, masks = run_filters(index, ctx, default_filters())
    assert not ok.any()
    e = explain(index, ctx, masks)
    assert e.summary == "3 hosts: 2 cannot reach network prod-vlan-120, 1 cannot reach network lab"
    assert "cannot reach network" in e.filters[1].examples[0].reason


def test_physical_networks_round_trip_the_database() -> None:
    caps = dataclasses.replace(kvm_report("kvm").capabilities, physical_networks=("physnet1",))
    back = caps_from_json(
        int(caps.hypervisor_type), caps.hypervisor_version, "az1", caps_to_json(caps)
    )
    assert back == caps


def _enforcing(report, yes: bool = True):  # type: ignore[no-untyped-def]
    caps = report.capabilities
    features = dataclasses.replace(caps.features, security_groups=yes)
    return dataclasses.replace(report, capabilities=dataclasses.replace(caps, features=features))


def test_a_server_that_requires_security_groups_goes_only_where_they_are_enforced() -> None:
    index = _index(
        _enforcing(kvm_report("kvm-1")),
        kvm_report("kvm-2"),
        vmware_report("cluster-a", [("esx-a", 65536, 0)]),
        vmware_report("cluster-b", [("esx-b", 65536, 0)]),
    )
    ctx = FilterContext.build(index, spec(requires=HostRequirements(security_groups=True)))
    ok, _ = run_filters(index, ctx, default_filters())
    assert [index.ids[i] for i, x in enumerate(ok) if x] == ["kvm-1"]
    # Without the requirement every host may take it (its ports say they are not enforced).
    ok, _ = run_filters(index, FilterContext.build(index, spec()), default_filters())
    assert ok.all()

    index = _index(
        kvm_report("kvm-2"),
        vmware_report("cluster-a", [("esx-a", 65536, 0)]),
    )
    ctx = FilterContext.build(index, spec(requires=HostRequirements(security_groups=True)))
    ok, masks = run_filters(index, ctx, default_filters())
    assert not ok.any()
    assert explain(index, ctx, masks).summary == "2 hosts: 2 cannot enforce security groups"


def test_security_group_enforcement_round_trips_the_database() -> None:
    caps = _enforcing(kvm_report("kvm")).capabilities
    back = caps_from_json(
        int(caps.hypervisor_type), caps.hypervisor_version, "az1", caps_to_json(caps)
    )
    assert back == caps and back.features.security_groups
