"""Where a volume's disk goes on a VM, and the device changes of attach, detach and destroy,
from the VM's devices alone: a free unit of a controller of the volume's adapter type (never
7), a new controller on a free bus when those are full, IDE refused on a running VM; the
device changes never carry a fileOperation; a moved VM's volumes stay on their datastore;
the driver class by configuration."""

from __future__ import annotations

import pytest
from pyVmomi import vim

from polyvisor.agent_vmware.driver import VmwareDriver
from polyvisor.agent_vmware.driver_kinds import (
    PortsVolumesVmwareDriver,
    VolumesVmwareDriver,
    driver_class,
)
from polyvisor.agent_vmware.ports_driver import PortsVmwareDriver
from polyvisor.agent_vmware.volume_disks import (
    attach_spec,
    detach_spec,
    find_volume_disk,
    free_slot,
    release_all_spec,
    volume_disk_locators,
    volume_key,
)
from polyvisor.agentkit.capabilities import CAPABILITIES
from polyvisor.agentkit.driver import DriverError

dev = vim.vm.device
ROOT = "[ds] s1/s1.vmdk"


def lsi(key: int, bus: int) -> dev.VirtualDevice:
    return dev.VirtualLsiLogicController(key=key, busNumber=bus, scsiCtlrUnitNumber=7)


def disk(key: int, controller: int, unit: int, file: str) -> dev.VirtualDisk:
    return dev.VirtualDisk(
        key=key,
        controllerKey=controller,
        unitNumber=unit,
        capacityInKB=1024,
        backing=dev.VirtualDisk.FlatVer2BackingInfo(fileName=file, diskMode="persistent"),
    )


def test_a_free_unit_of_a_controller_of_the_adapter_type_never_7() -> None:
    devices = [lsi(1000, 0), disk(2000, 1000, 0, ROOT)]
    assert (s := free_slot(devices, "lsiLogic", running=True)).unit == 1
    assert s.controller_key == 1000 and s.new_controller is None
    full = [lsi(1000, 0), *(disk(2000 + u, 1000, u, f"[ds] d{u}.vmdk") for u in range(7))]
    assert free_slot(full, "lsiLogic", running=True).unit == 8  # 7 is the controller's


def test_a_new_controller_when_none_of_the_type_has_room() -> None:
    full = [lsi(1000, 0)] + [
        disk(2000 + u, 1000, u, f"[ds] d{u}.vmdk") for u in range(16) if u != 7
    ]
    slot = free_slot(full, "lsiLogic", running=True)
    assert slot.new_controller is not None and slot.new_controller.busNumber == 1
    assert slot.unit == 0 and slot.controller_key == slot.new_controller.key
    # a VM with no SCSI controller (an IDE root disk): one of the volume's type is added
    ide = [dev.VirtualIDEController(key=200, busNumber=0), disk(3000, 200, 0, ROOT)]
    slot = free_slot(ide, "paraVirtual", running=False)
    assert isinstance(slot.new_controller, dev.ParaVirtualSCSIController)
    assert slot.new_controller.busNumber == 0
    # four buses taken: any SCSI controller with room; none: refused
    four = [*full[1:], lsi(1000, 0)] + [
        dev.ParaVirtualSCSIController(key=1000 + b, busNumber=b) for b in (1, 2, 3)
    ]
    assert free_slot(four, "lsiLogic", running=True).controller_key == 1001
    packed = [lsi(1000 + b, b) for b in range(4)] + [
        disk(2000 + b * 16 + u, 1000 + b, u, f"[ds] {b}-{u}.vmdk")
        for b in range(4)
        for u in range(16)
        if u != 7
    ]
    with pytest.raises(DriverError, match="no free unit"):
        free_slot(packed, "lsiLogic", running=True)


def test_ide_only_on_a_stopped_vm() -> None:
    ide = [dev.VirtualIDEController(key=200, busNumber=0), disk(3000, 200, 0, ROOT)]
    with pytest.raises(DriverError, match="running VM"):
        free_slot(ide, "ide", running=True)
    assert free_slot(ide, "ide", running=False).unit == 1
    with pytest.raises(DriverError, match="vmware_adaptertype"):
        free_slot(ide, "floppy", running=False)


def test_attach_and_detach_never_touch_the_file() -> None:
    path = "[ds] volumes/v1.vmdk"
    slot = free_slot([lsi(1000, 0), disk(2000, 1000, 0, ROOT)], "lsiLogic", running=True)
    spec = attach_spec("v1", path, slot)
    (add,) = spec.deviceChange
    assert add.operation == "add" and not add.fileOperation
    assert add.device.backing.fileName == path and add.device.unitNumber == 1
    assert [(o.key, o.value) for o in spec.extraConfig] == [(volume_key("v1"), path)]
    assert add.device.backing.thinProvisioned is None  # no disk type: vSphere reads the file
    for kind, flags in {
        "thin": (True, False),
        "preallocated": (False, False),
        "eagerZeroedThick": (False, True),
    }.items():
        (add,) = attach_spec("v1", path, slot, kind).deviceChange
        assert (add.device.backing.thinProvisioned, add.device.backing.eagerlyScrub) == flags

    attached = [lsi(1000, 0), disk(2000, 1000, 0, ROOT), disk(2001, 1000, 1, path)]
    extra = {volume_key("v1"): path}
    found = find_volume_disk(attached, extra, "v1")
    assert found is not None and found.key == 2001
    assert find_volume_disk(attached, {}, "v1", path) is found  # by the file alone
    assert find_volume_disk(attached, {}, "v2") is None
    out = detach_spec("v1", found, recorded=True)
    assert out is not None
    (remove,) = out.deviceChange
    assert remove.operation == "remove" and not remove.fileOperation
    assert detach_spec("v1", None, recorded=False) is None  # not attached: nothing to do

    release, files = release_all_spec(attached, {**extra, "other": "x"})
    assert release is not None and files == [path]
    assert [(c.operation, c.fileOperation) for c in release.deviceChange] == [("remove", None)]
    assert release_all_spec(attached[:2], {}) == (None, [])


def test_a_moved_vm_leaves_its_volumes_on_their_datastore() -> None:
    path = "[vols] volumes/v1.vmdk"
    vol = disk(2001, 1000, 1, path)
    vol.backing.datastore = vim.Datastore("datastore-7")
    devices = [lsi(1000, 0), disk(2000, 1000, 0, ROOT), vol]
    (locator,) = volume_disk_locators(devices, {volume_key("v1"): path})
    assert locator.diskId == 2001 and locator.datastore._moId == "datastore-7"
    assert volume_disk_locators(devices, {}) == []  # no volume: every disk moves with the VM


def test_the_capability_only_when_configured() -> None:
    vmdk = CAPABILITIES["volume_vmdk"]
    assert driver_class(ports=False, vmdk_volumes=False) is VmwareDriver
    assert driver_class(ports=True, vmdk_volumes=False) is PortsVmwareDriver
    assert driver_class(ports=False, vmdk_volumes=True) is VolumesVmwareDriver
    assert driver_class(ports=True, vmdk_volumes=True) is PortsVolumesVmwareDriver
    assert not issubclass(VmwareDriver, vmdk) and not issubclass(PortsVmwareDriver, vmdk)
    assert issubclass(PortsVolumesVmwareDriver, PortsVmwareDriver)
    for kind in (VolumesVmwareDriver, PortsVolumesVmwareDriver):
        assert all(
            callable(getattr(kind, v, None)) for v in ("attach_vmdk_volume", "detach_vmdk_volume")
        )
