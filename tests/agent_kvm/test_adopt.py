"""Adoption on real libvirtd: a domain defined directly with virsh (not ours: no Polyvisor
tag, not named polyvisor-*) is listed as unmanaged with its size, adopted under its UUID
(tagged, nothing else changed), then the agent's like any domain of its own: listed, powered
through its UUID, destroyed (undefined; its disk, not the agent's, stays)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from polyvisor.agent_kvm.domain_xml import parse_domain_xml
from polyvisor.agent_kvm.libvirt_driver import LibvirtConfig, LibvirtDriver
from polyvisor.agentkit.capabilities import capabilities_of
from polyvisor.agentkit.driver import InstanceNotFound, PowerState
from tests.agent_kvm.kvm_support import SYSTEM_URI, domains, virsh, virt_type


@pytest.fixture
def driver(libvirtd: str, world_dir: Path) -> Iterator[LibvirtDriver]:
    d = LibvirtDriver(
        LibvirtConfig(
            uri=SYSTEM_URI,
            virt_type=virt_type(),
            instances_dir=world_dir / "adopt-instances",
            host_id=f"adopter-{uuid.uuid4().hex[:8]}",
        )
    )
    d.open()
    try:
        yield d
    finally:
        d.close()


@pytest.fixture
def legacy(world_dir: Path) -> Iterator[tuple[str, str, Path]]:
    """A domain as an operator defines one by hand: 2 vCPUs, 192 MiB, a 2 GiB qcow2 disk."""
    name, ref = f"legacy-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    disk = world_dir / f"{name}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "2G"], check=True)
    xml = world_dir / f"{name}.xml"
    xml.write_text(
        f"<domain type='{virt_type()}'><name>{name}</name><uuid>{ref}</uuid>"
        "<memory unit='MiB'>192</memory><vcpu>2</vcpu><os><type arch='x86_64'>hvm</type></os>"
        "<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        f"<source file='{disk}'/><target dev='vda' bus='virtio'/></disk></devices></domain>"
    )
    virsh("define", str(xml))
    assert name in domains()
    try:
        yield name, ref, disk
    finally:
        virsh("undefine", ref)
        disk.unlink(missing_ok=True)


def test_a_domain_defined_by_hand_is_adopted(
    driver: LibvirtDriver, legacy: tuple[str, str, Path]
) -> None:
    name, ref, disk = legacy
    assert "adopt" in capabilities_of(driver)
    found = {v.ref: v for v in driver.list_unmanaged()}[ref]
    assert (found.name, found.vcpus, found.memory_mb, found.disk_gb, found.power_state) == (
        name,
        2,
        192,
        2,
        PowerState.SHUTDOWN,
    )
    with pytest.raises(InstanceNotFound):
        driver.adopt(str(uuid.uuid4()), ref)  # adopted under its own UUID only

    inst = driver.adopt(ref, ref)
    assert inst.power_state == PowerState.SHUTDOWN and inst.name == name
    assert ref not in {v.ref for v in driver.list_unmanaged()}
    assert driver.adopt(ref, ref).name == name  # idempotent
    assert ref in {i.server_id for i in driver.list_instances()}
    dumped = virsh("dumpxml", "--inactive", ref)
    info = parse_domain_xml(dumped)
    assert (info.name, info.tag.server_id, info.tag.host_id) == (name, ref, driver.config.host_id)

    driver.destroy(ref)
    assert ref not in {i.server_id for i in driver.list_instances()}
    assert name not in domains()  # undefined
    assert disk.exists()  # the operator's disk, not in the agent's instance directory
