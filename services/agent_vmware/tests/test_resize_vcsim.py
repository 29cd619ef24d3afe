"""Resize on vcsim through the driver, read back with plain pyvmomi: ReconfigVM to the new
vCPUs and memory with the disk grown, the old size remembered on the VM until a confirm; a
revert gives the old vCPUs and memory back; each verb is idempotent and a stopped VM stays
stopped."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyVmomi import vim
from vmware_fixtures import Direct, local_image, options_for

from polyvisor.agent_vmware.driver import VmwareDriver
from polyvisor.agent_vmware.driver_resize import OLD_SIZE_KEY
from polyvisor.agentkit.capabilities import capabilities_of
from polyvisor.agentkit.driver import InstanceSpec, PowerState
from polyvisor.agentkit.resize_capabilities import Size
from tests.fixtures.vcsim import VcsimEndpoint

GIB_KB = 1 << 20


@pytest.fixture
def driver(vcsim_endpoint: VcsimEndpoint, folder: str) -> Iterator[VmwareDriver]:
    d = VmwareDriver(
        options_for(vcsim_endpoint, folder=folder, image_cache_folder=f"cache-{folder}")
    )
    d.start(wait=30)
    try:
        yield d
    finally:
        for inst in d.list_instances():
            d.destroy(inst.server_id)
        d.close()


def hardware(direct: Direct, server_id: str) -> tuple[int, int, int, str]:
    """(vCPUs, memory MB, root disk KB, power state) as vCenter shows them."""
    vm = direct.vm_by_tag(server_id)
    assert vm is not None
    disk = next(d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk))
    return (
        vm.config.hardware.numCPU,
        vm.config.hardware.memoryMB,
        int(disk.capacityInKB),
        str(vm.runtime.powerState),
    )


def remembered(direct: Direct, server_id: str) -> str:
    vm = direct.vm_by_tag(server_id)
    assert vm is not None
    return direct.extra(vm).get(OLD_SIZE_KEY, "")


def test_resize_revert_resize_confirm(
    driver: VmwareDriver, direct: Direct, images: dict[str, Path]
) -> None:
    assert {"resize", "resize_move"} <= set(capabilities_of(driver))
    sid = str(uuid.uuid4())
    image = local_image(images["streamOptimized"], "img-resize")
    driver.spawn(
        InstanceSpec(
            server_id=sid, name="rs", hostname="rs", vcpus=2, memory_mb=256, disk_gb=1, image=image
        )
    )
    assert hardware(direct, sid) == (2, 256, GIB_KB, "poweredOn")

    done = driver.resize(sid, Size(4, 512, 2))
    assert done.power_state == PowerState.RUNNING
    assert hardware(direct, sid) == (4, 512, 2 * GIB_KB, "poweredOn")
    assert '"vcpus": 2' in remembered(direct, sid)
    again = driver.resize(sid, Size(4, 512, 2))  # a repeated command: nothing more to do
    assert again.power_state == PowerState.RUNNING
    assert hardware(direct, sid) == (4, 512, 2 * GIB_KB, "poweredOn")
    assert '"vcpus": 2' in remembered(direct, sid)  # still the size before the first

    back = driver.revert_resize(sid, Size(2, 256, 1))
    assert back.power_state == PowerState.RUNNING
    # vSphere never shrinks a disk: the old vCPUs and memory, the grown disk
    assert hardware(direct, sid) == (2, 256, 2 * GIB_KB, "poweredOn")
    assert remembered(direct, sid) == ""
    assert driver.revert_resize(sid, Size(2, 256, 1)).power_state == PowerState.RUNNING

    # a stopped VM is resized stopped and stays so; the confirm forgets the old size
    driver.power_off(sid)
    off = driver.resize(sid, Size(3, 384, 3))
    assert off.power_state == PowerState.SHUTDOWN
    assert hardware(direct, sid) == (3, 384, 3 * GIB_KB, "poweredOff")
    assert driver.confirm_resize(sid).power_state == PowerState.SHUTDOWN
    assert remembered(direct, sid) == ""
    assert driver.confirm_resize(sid).power_state == PowerState.SHUTDOWN  # idempotent
    assert hardware(direct, sid) == (3, 384, 3 * GIB_KB, "poweredOff")
