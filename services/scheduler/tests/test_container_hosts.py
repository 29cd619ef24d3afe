"""Container hosts (libvirt's LXC driver, vm_mode exe only): container images go there and
nowhere else, VM images never go there, and "no valid host" says which rule refused."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scheduler_hosts import kvm_report, spec, vmware_report

from polyvisor.scheduler.explain import explain, run_filters
from polyvisor.scheduler.filters import ContainerHostFilter, FilterContext, default_filters
from polyvisor.scheduler.index import HostIndex
from polyvisor.scheduler.model import DiskFormat, HostReport, HvType, ImageRequirements


def lxc_report(host_id: str) -> HostReport:
    r = kvm_report(host_id, hv=HvType.LXC, formats=(DiskFormat.RAW,))
    caps = replace(
        r.capabilities,
        supported_instances=(("x86_64", HvType.LXC, "exe"), ("i686", HvType.LXC, "exe")),
    )
    return replace(r, capabilities=caps)


def _index(*, kvm: bool = True) -> HostIndex:
    index = HostIndex(60.0, clock=lambda: 1000.0)
    if kvm:
        index.apply_report(kvm_report("kvm-1"))
    index.apply_report(vmware_report("vc-1", [("esx-a", 16384, 0)]))
    index.apply_report(lxc_report("lxc-1"))
    index.apply_report(lxc_report("lxc-2"))
    return index


def placeable(index: HostIndex, image: ImageRequirements) -> list[str]:
    ctx = FilterContext.build(index, spec(image=image))
    ok, _ = run_filters(index, ctx, default_filters())
    return sorted(index.ids[i] for i in np.flatnonzero(ok))


def test_a_vm_image_never_lands_on_a_container_host() -> None:
    index = _index()
    for image in (
        ImageRequirements(),
        ImageRequirements(vm_mode="hvm"),
        ImageRequirements(architecture="x86_64"),
    ):
        assert placeable(index, image) == ["kvm-1", "vc-1"], image


def test_a_container_image_lands_on_container_hosts_only() -> None:
    index = _index()
    assert placeable(index, ImageRequirements(vm_mode="exe")) == ["lxc-1", "lxc-2"]
    assert placeable(index, ImageRequirements(hypervisor_type=HvType.LXC)) == ["lxc-1", "lxc-2"]


def test_no_valid_host_says_the_hosts_run_containers_only() -> None:
    index = _index(kvm=False)
    s = spec(image=ImageRequirements(hypervisor_type=HvType.KVM))
    ctx = FilterContext.build(index, s)
    ok, masks = run_filters(index, ctx, default_filters())
    assert not ok.any()
    e = explain(index, ctx, masks)
    assert e.summary == "3 hosts: 3 wrong hypervisor_type"

    s = spec(image=ImageRequirements(architecture="x86_64"), memory_mb=65536)
    ctx = FilterContext.build(index, s)
    ok, masks = run_filters(index, ctx, default_filters())
    e = explain(index, ctx, masks)
    assert e.summary == "3 hosts: 2 container host, image not vm_mode=exe, 1 not enough RAM"
    container = next(f for f in e.filters if f.name == "ContainerHostFilter")
    assert container.examples[0].reason == (
        "runs containers only (vm_mode exe); the image's vm_mode is unset: set vm_mode=exe on "
        "a root file system image to run it here"
    )


def test_the_filter_keeps_hosts_that_also_run_vms() -> None:
    # A host running both (a libvirt host reporting hvm and exe triples) is no container host.
    r = kvm_report("both")
    both = replace(
        r,
        capabilities=replace(
            r.capabilities,
            supported_instances=(("x86_64", HvType.KVM, "hvm"), ("x86_64", HvType.LXC, "exe")),
        ),
    )
    index = HostIndex(60.0, clock=lambda: 1000.0)
    index.apply_report(both)
    index.apply_report(lxc_report("lxc-1"))
    ctx = FilterContext.build(index, spec())
    assert ContainerHostFilter().passes(index, ctx).tolist() == [True, False]
