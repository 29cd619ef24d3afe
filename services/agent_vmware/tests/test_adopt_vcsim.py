"""Adoption on vcsim: a VM made directly with pyvmomi in the agent's cluster is listed as
unmanaged with its size, adopted (tagged, moved into the agent's folder, nothing else changed),
then the agent's like any VM of its own: listed, powered, destroyed."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from pyVim.task import WaitForTask
from pyVmomi import vim
from vmware_fixtures import Direct, options_for

from polyvisor.agent_vmware.driver import VmwareDriver
from polyvisor.agent_vmware.specs import HOST_TAG_KEY, TAG_KEY
from polyvisor.agentkit.capabilities import capabilities_of
from polyvisor.agentkit.driver import InstanceNotFound, PowerState
from tests.fixtures.vcsim import VcsimEndpoint


@pytest.fixture
def driver(vcsim_endpoint: VcsimEndpoint, folder: str) -> Iterator[VmwareDriver]:
    d = VmwareDriver(options_for(vcsim_endpoint, folder=folder, host_id=f"adopter-{folder}"))
    d.start(wait=30)
    try:
        yield d
    finally:
        d.close()


def make_vm(direct: Direct, cluster: str, name: str) -> vim.VirtualMachine:
    """A VM as an operator makes one in vCenter: 2 vCPUs, 192 MB, a 3 GiB disk, running."""
    c = direct.cluster(cluster)
    dc = c.parent.parent
    disk = vim.vm.device.VirtualDeviceSpec(
        operation="add",
        fileOperation="create",
        device=vim.vm.device.VirtualDisk(
            key=-2,
            controllerKey=-1,
            unitNumber=0,
            capacityInKB=3 << 20,
            backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
                diskMode="persistent", fileName=""
            ),
        ),
    )
    scsi = vim.vm.device.VirtualDeviceSpec(
        operation="add",
        device=vim.vm.device.VirtualLsiLogicController(key=-1, busNumber=0, sharedBus="noSharing"),
    )
    config = vim.vm.ConfigSpec(
        name=name,
        numCPUs=2,
        memoryMB=192,
        guestId="otherGuest64",
        files=vim.vm.FileInfo(vmPathName="[LocalDS_0]"),
        deviceChange=[scsi, disk],
    )
    task = dc.vmFolder.CreateVM_Task(config=config, pool=c.resourcePool)
    WaitForTask(task)
    vm = task.info.result
    WaitForTask(vm.PowerOnVM_Task())
    return vm


def test_a_vm_made_by_hand_is_adopted(driver: VmwareDriver, direct: Direct, folder: str) -> None:
    assert "adopt" in capabilities_of(driver)
    vm = make_vm(direct, "DC0_C0", f"legacy-{folder}")
    other = make_vm(direct, "DC0_C1", f"elsewhere-{folder}")  # another cluster's: not listed
    ref = vm.config.instanceUuid
    try:
        listed = {v.ref: v for v in driver.list_unmanaged()}
        assert other.config.instanceUuid not in listed
        found = listed[ref]
        assert (found.name, found.vcpus, found.memory_mb, found.disk_gb, found.power_state) == (
            f"legacy-{folder}",
            2,
            192,
            3,
            PowerState.RUNNING,
        )
        with pytest.raises(InstanceNotFound):
            driver.adopt(other.config.instanceUuid, other.config.instanceUuid)

        inst = driver.adopt(ref, ref)
        assert inst.power_state == PowerState.RUNNING
        extra = direct.extra(vm)
        assert (extra[TAG_KEY], extra[HOST_TAG_KEY]) == (ref, driver.host_id)
        assert vm.parent.name == folder  # where the agent lists its VMs
        assert (vm.name, vm.config.hardware.numCPU, vm.config.hardware.memoryMB) == (
            f"legacy-{folder}",
            2,
            192,
        )
        assert ref not in {v.ref for v in driver.list_unmanaged()}
        assert driver.adopt(ref, ref).power_state == PowerState.RUNNING  # idempotent
        assert ref in {i.server_id for i in driver.list_instances()}

        assert driver.power_off(ref).power_state == PowerState.SHUTDOWN
        driver.destroy(ref)
        assert ref not in {i.server_id for i in driver.list_instances()}
        assert direct.vm_by_tag(ref) is None
    finally:
        for leftover in (vm, other):
            with contextlib.suppress(Exception):  # the test destroyed it already
                WaitForTask(leftover.PowerOffVM_Task())
            with contextlib.suppress(Exception):
                WaitForTask(leftover.Destroy_Task())
