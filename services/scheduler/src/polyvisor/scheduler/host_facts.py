"""How a host's report becomes what the index holds: the keys of the boolean masks its discrete
traits set (hypervisor type, zone, supported image triples and their partial patterns, disk
formats, features, console types, capabilities, physical networks), and the inventories the
scheduler enforces (a cluster's max_unit from its largest usable member host)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from itertools import product

from polyvisor.scheduler.model import HostCapabilities, HvType, Inventory
from polyvisor.scheduler.resource_classes import resource_class_name

__all__ = ["TraitKey", "effective_inventories", "host_trait_keys", "image_keys"]

TraitKey = tuple[object, ...]


def image_keys(arch: str, hv: HvType, mode: str) -> Iterator[TraitKey]:
    """Every partial pattern one supported triple satisfies: ("img", arch|None, hv|None,
    mode|None). A kvm triple also satisfies the same patterns with qemu (a KVM host runs
    images that ask for qemu, as Nova's libvirt driver reports)."""
    hvs = [hv, HvType.QEMU] if hv == HvType.KVM else [hv]
    for h in hvs:
        for a, t, m in product((arch, None), (h, None), (mode, None)):
            if a == "" or m == "":
                continue
            yield ("img", a, t, m)


def host_trait_keys(caps: HostCapabilities) -> set[TraitKey]:
    keys: set[TraitKey] = {("az", caps.availability_zone), ("hv", caps.hypervisor_type)}
    for arch, hv, mode in caps.supported_instances:
        keys.update(image_keys(arch, hv, mode))
    for fmt in caps.native_disk_formats:
        keys.add(("fmt", fmt))
    f = caps.features
    if f.key_injection:
        keys.add(("feature", "key_injection"))
    if f.user_data:
        keys.add(("feature", "user_data"))
    if f.security_groups:
        keys.add(("feature", "security_groups"))
    for console in f.console_types:
        keys.add(("console", console))
    for name in caps.capabilities:
        keys.add(("capability", name))
    for physnet in caps.physical_networks:
        keys.add(("physnet", physnet))
    keys.add(("rc", resource_class_name(caps.resource_class) if caps.resource_class else ""))
    return keys


def effective_inventories(
    caps: HostCapabilities, inventories: dict[str, Inventory]
) -> dict[str, Inventory]:
    """The inventories the scheduler enforces: for a cluster reporting its member hosts,
    max_unit comes from the largest single usable member (0 when none is usable: nothing
    fits)."""
    if not caps.members:
        return dict(inventories)
    usable = [h for h in caps.members if h.usable]
    out = dict(inventories)
    limits = {
        "MEMORY_MB": max((h.free_memory_mb for h in usable), default=0),
        "VCPU": max((h.cpu_threads for h in usable), default=0),
    }
    for rc, limit in limits.items():
        inv = out.get(rc)
        if inv is None:
            continue
        if rc == "VCPU" and usable and limit == 0:
            continue  # the agent did not report threads: keep what it said
        max_unit = limit if inv.max_unit is None else min(inv.max_unit, limit)
        out[rc] = replace(inv, max_unit=max_unit)
    return out
