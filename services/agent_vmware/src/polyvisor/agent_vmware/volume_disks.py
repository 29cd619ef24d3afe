"""The device changes of vmdk volumes on a VM, built from the VM's devices and extraConfig (no
vCenter needed to test them).

A volume is a VirtualDisk whose backing is the volume service's existing vmdk file
(``[datastore] volumes/<id>.vmdk``): added with no ``fileOperation`` (the file is never created,
copied or replaced) and removed with none (never ``destroy``: the file stays on its datastore).
The disk carries no serial on vSphere, so the attach records ``polyvisor.volume.<id>`` = the
file in the VM's extraConfig, in the same ReconfigVM as the device: the detach, and the destroy
of the VM, find the volume's disk by it (or by the file the connection names).

Where the disk goes: a controller of the volume's adapter type with a free unit (SCSI units
0-15 but 7, the controller's own; IDE units 0-1); else a new SCSI controller of that type on a
free bus (0-3); else any SCSI controller with a free unit. IDE has no hot-plug: a running VM
is refused, clearly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pyVmomi import vim

from polyvisor.agent_vmware.specs import SCSI_CONTROLLERS, normalize_adapter
from polyvisor.agentkit.driver import DriverError

__all__ = [
    "VOLUME_KEY_PREFIX",
    "Slot",
    "attach_spec",
    "detach_spec",
    "find_volume_disk",
    "free_slot",
    "release_all_spec",
    "volume_disk_locators",
    "volume_key",
]

VOLUME_KEY_PREFIX = "polyvisor.volume."
_SCSI_UNITS = tuple(u for u in range(16) if u != 7)  # 7 is the controller's own unit
_IDE_UNITS = (0, 1)
_SCSI_BUSES = range(4)
_NEW_CONTROLLER_KEY = -301
_NEW_DISK_KEY = -302


def volume_key(volume_id: str) -> str:
    """The extraConfig key recording the file of volume ``volume_id`` on the VM."""
    return f"{VOLUME_KEY_PREFIX}{volume_id}"


def _disks(devices: Iterable[vim.vm.device.VirtualDevice]) -> list[vim.vm.device.VirtualDisk]:
    return [d for d in devices if isinstance(d, vim.vm.device.VirtualDisk)]


def _file(disk: vim.vm.device.VirtualDisk) -> str:
    return str(getattr(disk.backing, "fileName", "") or "")


def find_volume_disk(
    devices: Sequence[vim.vm.device.VirtualDevice],
    extra: Mapping[str, str],
    volume_id: str,
    path: str = "",
) -> vim.vm.device.VirtualDisk | None:
    """The VM's disk of volume ``volume_id``: the file recorded for it, or ``path``."""
    files = {extra.get(volume_key(volume_id), ""), path} - {""}
    return next((d for d in _disks(devices) if _file(d) in files), None)


@dataclass(frozen=True, slots=True)
class Slot:
    controller_key: int
    unit: int
    #: a controller to add in the same ReconfigVM (None: an existing one has room)
    new_controller: vim.vm.device.VirtualDevice | None = None


def _used_units(devices: Sequence[vim.vm.device.VirtualDevice], key: int) -> set[int]:
    return {
        int(d.unitNumber)
        for d in devices
        if getattr(d, "controllerKey", None) == key and d.unitNumber is not None
    }


def _room(
    devices: Sequence[vim.vm.device.VirtualDevice],
    controller: vim.vm.device.VirtualDevice,
    units: Sequence[int],
) -> int | None:
    used = _used_units(devices, controller.key)
    own = getattr(controller, "scsiCtlrUnitNumber", None)
    if own is not None:
        used.add(int(own))
    return next((u for u in units if u not in used), None)


def free_slot(
    devices: Sequence[vim.vm.device.VirtualDevice], adapter_type: str, *, running: bool
) -> Slot:
    """Where a new disk of ``adapter_type`` goes on a VM with ``devices``."""
    try:
        adapter = normalize_adapter(adapter_type)
    except ValueError as e:
        raise DriverError(str(e)) from e
    if adapter == "ide":
        if running:
            raise DriverError(
                "an IDE disk cannot be added to a running VM (vSphere has no IDE hot-plug): "
                "stop the server first, or use a volume type with a SCSI adapter"
            )
        for c in devices:
            if isinstance(c, vim.vm.device.VirtualIDEController):
                unit = _room(devices, c, _IDE_UNITS)
                if unit is not None:
                    return Slot(c.key, unit)
        raise DriverError("the VM's IDE controllers have no free unit left")
    scsi = [c for c in devices if isinstance(c, vim.vm.device.VirtualSCSIController)]
    kind = SCSI_CONTROLLERS[adapter]
    for c in (c for c in scsi if isinstance(c, kind)):
        unit = _room(devices, c, _SCSI_UNITS)
        if unit is not None:
            return Slot(c.key, unit)
    buses = {int(c.busNumber) for c in scsi}
    bus = next((b for b in _SCSI_BUSES if b not in buses), None)
    if bus is not None:
        new = kind(key=_NEW_CONTROLLER_KEY, busNumber=bus, sharedBus="noSharing")
        return Slot(_NEW_CONTROLLER_KEY, 0, new)
    for c in scsi:  # four buses taken, none of this type with room: any with room
        unit = _room(devices, c, _SCSI_UNITS)
        if unit is not None:
            return Slot(c.key, unit)
    raise DriverError("the VM's four SCSI controllers have no free unit left")


def attach_spec(volume_id: str, path: str, slot: Slot, disk_type: str = "") -> vim.vm.ConfigSpec:
    """Add the existing disk ``path`` at ``slot`` (no fileOperation: the file is the
    volume's) and record it under the volume's id. ``disk_type``: how the volume service made
    it (CreateVirtualDisk's thin, preallocated or eagerZeroedThick), said on the backing as
    Nova's attach spec does ("": left to vSphere, which reads it from the file)."""
    changes: list[vim.vm.device.VirtualDeviceSpec] = []
    if slot.new_controller is not None:
        changes.append(vim.vm.device.VirtualDeviceSpec(operation="add", device=slot.new_controller))
    disk = vim.vm.device.VirtualDisk(
        key=_NEW_DISK_KEY,
        controllerKey=slot.controller_key,
        unitNumber=slot.unit,
        capacityInKB=0,  # an existing disk: vSphere reads its size from the file
        backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
            fileName=path, diskMode="independent_persistent"
        ),
    )
    if disk_type:
        disk.backing.thinProvisioned = disk_type == "thin"
        disk.backing.eagerlyScrub = disk_type == "eagerZeroedThick"
    changes.append(vim.vm.device.VirtualDeviceSpec(operation="add", device=disk))
    return vim.vm.ConfigSpec(
        deviceChange=changes,
        extraConfig=[vim.option.OptionValue(key=volume_key(volume_id), value=path)],
    )


def _remove(disk: vim.vm.device.VirtualDisk) -> vim.vm.device.VirtualDeviceSpec:
    # No fileOperation: "destroy" would delete the volume's file with the device.
    return vim.vm.device.VirtualDeviceSpec(operation="remove", device=disk)


def detach_spec(
    volume_id: str, disk: vim.vm.device.VirtualDisk | None, recorded: bool
) -> vim.vm.ConfigSpec | None:
    """Remove the volume's disk, keeping its file, and forget the record (None: nothing to
    do)."""
    if disk is None and not recorded:
        return None
    return vim.vm.ConfigSpec(
        deviceChange=[_remove(disk)] if disk is not None else [],
        extraConfig=[vim.option.OptionValue(key=volume_key(volume_id), value="")],
    )


def _recorded(extra: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in extra.items() if k.startswith(VOLUME_KEY_PREFIX) and v}


def volume_disk_locators(
    devices: Sequence[vim.vm.device.VirtualDevice], extra: Mapping[str, str]
) -> list[vim.vm.RelocateSpec.DiskLocator]:
    """For a RelocateSpec that names a datastore (which moves every disk it has no locator
    for): each volume's disk stays on its own datastore, under the name the volume service
    knows it by."""
    files = set(_recorded(extra).values())
    return [
        vim.vm.RelocateSpec.DiskLocator(diskId=d.key, datastore=d.backing.datastore)
        for d in _disks(devices)
        if _file(d) in files and getattr(d.backing, "datastore", None) is not None
    ]


def release_all_spec(
    devices: Sequence[vim.vm.device.VirtualDevice], extra: Mapping[str, str]
) -> tuple[vim.vm.ConfigSpec | None, list[str]]:
    """Before the VM is destroyed (Destroy_Task deletes the file of every disk it still has):
    remove every volume's disk, keeping the files. The spec (None: no volume) and the files."""
    recorded = _recorded(extra)
    files = set(recorded.values())
    disks = [d for d in _disks(devices) if _file(d) in files]
    if not recorded:
        return None, []
    spec = vim.vm.ConfigSpec(
        deviceChange=[_remove(d) for d in disks],
        extraConfig=[vim.option.OptionValue(key=k, value="") for k in recorded],
    )
    return spec, [_file(d) for d in disks]
