"""The bare-metal driver against machines it only reaches over Redfish: sushy-tools' emulator
is their BMC, libvirt domains are the machines. Everything is observed on the machines
themselves (the domain's state in libvirt, its disk's bytes, its serial output)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import libvirt
import pytest

from polyvisor.agent_baremetal.driver import NodeDriver
from polyvisor.agent_baremetal.enrollment import Node
from polyvisor.agent_baremetal.media import MediaServer
from polyvisor.agent_baremetal.redfish import Bmc
from polyvisor.agentkit.driver import (
    DriverError,
    ImageRef,
    InstanceNotFound,
    InstanceSpec,
    LocalImage,
    PowerState,
    RenditionWanted,
    SpawnFailed,
)
from tests.e2e.bootdisk import BANNER, make_disk
from tests.fixtures.redfish import EmulatedMachine

pytestmark = pytest.mark.slow


def _driver(m: EmulatedMachine, state: Path, *, password: str = "", media=None) -> NodeDriver:
    node = Node(m.name, m.bmc_url, m.system_id, "small", root_device=str(m.disk_path))
    bmc = Bmc(m.bmc_url, m.system_id, m.username, password or m.password, timeout_s=20)
    return NodeDriver(node, bmc, state, media=media, power_timeout_s=60, poll_interval_s=0.5)


def _spec(server_id: str, image: Path, fmt: str = "raw") -> InstanceSpec:
    data = image.read_bytes()
    ref = ImageRef(image_id="img-" + server_id, disk_format=fmt)
    local = LocalImage(
        ref, RenditionWanted(fmt), image, len(data), hashlib.sha256(data).hexdigest()
    )
    return InstanceSpec(server_id, server_id, server_id, 1, 128, 1, image=local)


def _domain_active(uri: str, name: str) -> bool:
    conn = libvirt.open(uri)
    try:
        return bool(conn.lookupByName(name).isActive())
    finally:
        conn.close()


def _wait_for(pred, what: str, timeout: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def test_inspection_reads_cpu_memory_and_disk_over_redfish(
    machines: list[EmulatedMachine], tmp_path: Path
) -> None:
    small, big = machines[0], machines[2]
    info = _driver(small, tmp_path / "a").host_info()
    assert info.hypervisor_type == "baremetal"
    assert info.connected
    assert (info.vcpus.total, info.memory_mb.total, info.disk_gb.total) == (1, 1024, 1)
    assert info.resource_class == "small"
    assert info.used_vcpus == 0
    assert [s.architecture for s in info.supported_instances] == ["x86_64"]
    assert [r.disk_format for r in info.disk_formats] == ["raw", "iso"]
    big_info = _driver(big, tmp_path / "b").host_info()
    assert (big_info.vcpus.total, big_info.memory_mb.total, big_info.disk_gb.total) == (2, 2048, 2)


def test_wrong_bmc_password_is_refused(machines: list[EmulatedMachine], tmp_path: Path) -> None:
    driver = _driver(machines[0], tmp_path, password="not-the-password")
    with pytest.raises(DriverError, match="refused our credentials"):
        driver.bmc.inspect()


def test_server_powers_on_through_the_bmc_and_delete_cleans_the_machine_for_reuse(
    machines: list[EmulatedMachine], libvirtd: str, tmp_path: Path
) -> None:
    m = machines[1]
    driver = _driver(m, tmp_path / "state")
    image = make_disk(tmp_path / "img", "boot", "raw")
    assert not _domain_active(libvirtd, m.name)

    inst = driver.spawn(_spec("srv-1", image))
    assert inst.power_state == PowerState.RUNNING
    assert _domain_active(libvirtd, m.name)  # the machine runs ...
    assert m.disk_path.read_bytes()[:512] == image.read_bytes()[:512]  # ... the written image
    _wait_for(lambda: BANNER.strip() in m.serial_log.read_bytes(), "the boot sector's banner")
    assert [i.server_id for i in driver.list_instances()] == ["srv-1"]
    info = driver.host_info()
    assert (info.used_vcpus, info.used_memory_mb) == (info.vcpus.total, info.memory_mb.total)

    # One server per machine: another is refused while this one is here.
    with pytest.raises(SpawnFailed, match="already holds server srv-1"):
        driver.spawn(_spec("srv-2", image))
    # Spawning the same server again is the same server.
    assert driver.spawn(_spec("srv-1", image)).server_id == "srv-1"

    assert driver.power_off("srv-1").power_state == PowerState.SHUTDOWN
    assert not _domain_active(libvirtd, m.name)
    assert driver.power_on("srv-1").power_state == PowerState.RUNNING
    assert _domain_active(libvirtd, m.name)
    assert driver.reboot("srv-1", hard=True).power_state == PowerState.RUNNING

    driver.destroy("srv-1")
    assert not _domain_active(libvirtd, m.name)  # powered off
    assert m.disk_path.read_bytes().count(0) == m.disk_path.stat().st_size  # erased
    assert driver.list_instances() == []
    assert driver.host_info().used_vcpus == 0
    with pytest.raises(InstanceNotFound):
        driver.power_on("srv-1")
    driver.destroy("srv-1")  # already gone: success

    # Free for the next server.
    assert driver.spawn(_spec("srv-2", image)).power_state == PowerState.RUNNING
    assert _domain_active(libvirtd, m.name)
    driver.destroy("srv-2")
    assert not _domain_active(libvirtd, m.name)
    driver.close()


def test_an_image_larger_than_the_disk_fails_and_leaves_the_machine_free(
    machines: list[EmulatedMachine], libvirtd: str, tmp_path: Path
) -> None:
    m = machines[0]
    driver = _driver(m, tmp_path / "state")
    big = tmp_path / "big.raw"
    with big.open("wb") as f:
        f.truncate(m.disk_path.stat().st_size + 1)
    with pytest.raises(SpawnFailed, match="larger than the root device"):
        driver.spawn(_spec("srv-big", big))
    assert driver.deployment() is None
    assert not _domain_active(libvirtd, m.name)


def test_iso_boots_from_virtual_media(
    machines: list[EmulatedMachine], libvirtd: str, tmp_path: Path
) -> None:
    m = machines[2]
    media = MediaServer("127.0.0.1")
    try:
        driver = _driver(m, tmp_path / "state", media=media)
        iso = tmp_path / "boot.iso"
        iso.write_bytes(make_disk(tmp_path / "img", "boot", "raw").read_bytes())
        inst = driver.spawn(_spec("srv-iso", iso, "iso"))
        assert inst.power_state == PowerState.RUNNING
        assert _domain_active(libvirtd, m.name)
        conn = libvirt.open(libvirtd)
        try:
            xml = conn.lookupByName(m.name).XMLDesc(0)
        finally:
            conn.close()
        assert "device='cdrom'" in xml
        driver.destroy("srv-iso")
        assert not _domain_active(libvirtd, m.name)
        assert driver.deployment() is None
    finally:
        media.close()
