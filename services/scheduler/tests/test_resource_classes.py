"""Bare-metal nodes, as Ironic schedules them: one server per node, of a flavor asking for the
node's resource class; and the explanation when none fits."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scheduler_hosts import kvm_report, spec

from polyvisor.scheduler.caps_json import caps_from_json, caps_to_json
from polyvisor.scheduler.explain import explain, run_filters
from polyvisor.scheduler.filters import FilterContext, default_filters
from polyvisor.scheduler.index import HostIndex
from polyvisor.scheduler.model import HostReport, HvType
from polyvisor.scheduler.resource_classes import requested_class, resource_class_name


def node_report(host_id: str, node_class: str) -> HostReport:
    r = kvm_report(host_id, vcpus=4, memory_mb=8192, disk_gb=100, hv=HvType.BAREMETAL)
    return replace(r, capabilities=replace(r.capabilities, resource_class=node_class))


def _index() -> HostIndex:
    index = HostIndex(60.0, clock=lambda: 1000.0)
    for i in range(3):
        index.apply_report(node_report(f"bm-{i}", "small"))
    index.apply_report(kvm_report("kvm-0"))
    return index


def _placed(index: HostIndex, **kw: object) -> list[str]:
    ctx = FilterContext.build(index, spec(vcpus=1, memory_mb=1024, disk_gb=10, **kw))
    ok, _ = run_filters(index, ctx, default_filters())
    return [index.ids[int(r)] for r in np.flatnonzero(ok)]


def test_names_as_ironic_gives_them() -> None:
    assert resource_class_name("small") == "CUSTOM_BAREMETAL_SMALL"
    assert resource_class_name("baremetal-small") == "CUSTOM_BAREMETAL_SMALL"
    assert requested_class({"resources:CUSTOM_BAREMETAL_LARGE": "1"}) == "CUSTOM_BAREMETAL_LARGE"
    assert requested_class({"resources:CUSTOM_BAREMETAL_LARGE": "0"}) is None
    assert requested_class({"hypervisor_type": "kvm"}) is None


def test_a_flavor_of_a_class_goes_to_free_nodes_of_that_class_only() -> None:
    index = _index()
    small = {"resources:CUSTOM_BAREMETAL_SMALL": "1"}
    assert _placed(index, extra_specs=small) == ["bm-0", "bm-1", "bm-2"]
    # A node holding a server is full, whatever the flavor left of its CPUs and memory.
    row = index.row("bm-1")
    assert row is not None
    index.add_pending(row, np.array([1, 1024, 10], np.int64))
    assert _placed(index, extra_specs=small) == ["bm-0", "bm-2"]
    # A flavor naming no class never lands on a node.
    assert _placed(index) == ["kvm-0"]


def test_no_valid_host_says_which_class_the_nodes_are_and_which_the_flavor_asks_for() -> None:
    index = _index()
    s = spec(
        vcpus=1, memory_mb=1024, disk_gb=10, extra_specs={"resources:CUSTOM_BAREMETAL_LARGE": "1"}
    )
    ctx = FilterContext.build(index, s)
    ok, masks = run_filters(index, ctx, default_filters())
    assert not ok.any()
    e = explain(index, ctx, masks)
    assert e.summary == (
        "4 hosts: 3 bare-metal nodes of class small, the flavor asks for large, "
        "1 not bare-metal nodes, the flavor asks for class large"
    )
    rc = next(f for f in e.filters if f.name == "ResourceClassFilter")
    assert rc.examples[0].reason == "a bare-metal node of class small, the flavor asks for large"


def test_resource_class_survives_the_database_round_trip() -> None:
    caps = node_report("bm-0", "small").capabilities
    back = caps_from_json(int(caps.hypervisor_type), "", "", caps_to_json(caps))
    assert back.resource_class == "small"
    assert back.hypervisor_type == HvType.BAREMETAL
