"""The vSphere specs of a server's VM, built from plain values (no vCenter needed to test them).

A VM is named by our server id (unique in our folder, and its instanceUuid when the id is a
UUID, so vCenter's SearchIndex finds it in one call), tagged in extraConfig with
``polyvisor.server_id`` and with the host id of the agent that made it
(``polyvisor.host_id``: agents of several clusters may share one VM folder, and each owns only
the VMs carrying its own host id), and carries its VNC port and cloud-init guestinfo there too.
"""

from __future__ import annotations

import secrets
import string
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from pyVmomi import vim

from polyvisor.agent_vmware.provisioning import Provisioning

__all__ = [
    "ADAPTER_TYPES",
    "DEFAULT_ADAPTER",
    "HOST_TAG_KEY",
    "IDE_CONTROLLER_KEY",
    "SCSI_CONTROLLERS",
    "TAG_KEY",
    "VNC_ENABLED_KEY",
    "VNC_PASSWORD_KEY",
    "VNC_PORT_KEY",
    "VmPlan",
    "as_instance_uuid",
    "datastore_path",
    "grow_disk_spec",
    "normalize_adapter",
    "split_datastore_path",
    "vm_config_spec",
]

TAG_KEY = "polyvisor.server_id"
HOST_TAG_KEY = "polyvisor.host_id"
VNC_ENABLED_KEY = "RemoteDisplay.vnc.enabled"
VNC_PORT_KEY = "RemoteDisplay.vnc.port"
VNC_PASSWORD_KEY = "RemoteDisplay.vnc.password"
_VNC_PASSWORD_CHARS = string.ascii_letters + string.digits


def new_vnc_password() -> str:
    """A random VNC password: 8 characters, all VNC authentication (DES) uses of one."""
    return "".join(secrets.choice(_VNC_PASSWORD_CHARS) for _ in range(8))


IDE_CONTROLLER_KEY = 200  # the first IDE controller vSphere gives every new VM
DEFAULT_ADAPTER = "lsiLogic"
_CONTROLLER_KEY = -101
_DISK_KEY = -102
_SERIAL_KEY = -103

SCSI_CONTROLLERS: dict[str, type] = {
    "lsiLogic": vim.vm.device.VirtualLsiLogicController,
    "busLogic": vim.vm.device.VirtualBusLogicController,
    "lsiLogicsas": vim.vm.device.VirtualLsiLogicSASController,
    "paraVirtual": vim.vm.device.ParaVirtualSCSIController,
}
ADAPTER_TYPES = (*SCSI_CONTROLLERS, "ide")
_BY_LOWER = {a.lower(): a for a in ADAPTER_TYPES}


def normalize_adapter(value: str) -> str:
    """The vmware_adaptertype spelled as vSphere does; "" means lsiLogic."""
    if not value:
        return DEFAULT_ADAPTER
    key = value.strip().replace("_", "").replace("-", "").lower()
    key = {"lsilogicsas": "lsilogicsas", "pvscsi": "paravirtual"}.get(key, key)
    try:
        return _BY_LOWER[key]
    except KeyError:
        raise ValueError(
            f"unknown vmware_adaptertype {value!r} (one of {', '.join(ADAPTER_TYPES)})"
        ) from None


def datastore_path(datastore: str, path: str) -> str:
    return f"[{datastore}] {path}"


def split_datastore_path(value: str) -> tuple[str, str]:
    """``"[ds] a/b.vmdk"`` -> ``("ds", "a/b.vmdk")``."""
    if not value.startswith("[") or "]" not in value:
        raise ValueError(f"not a datastore path: {value!r}")
    ds, _, rest = value[1:].partition("]")
    return ds, rest.strip()


def as_instance_uuid(server_id: str) -> str | None:
    try:
        return str(uuid.UUID(server_id))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class VmPlan:
    server_id: str
    display_name: str
    datastore: str
    directory: str  # folder on the datastore holding the .vmx and the disk
    disk_file: str  # path on the datastore of the VM's own disk (already there)
    disk_capacity_kb: int
    vcpus: int
    memory_mb: int
    adapter: str
    guest_id: str
    vnc_port: int
    #: The VM's VNC password (RemoteDisplay.vnc.password): VNC is never enabled without one.
    vnc_password: str = ""
    extra_config: Mapping[str, str] = field(default_factory=dict)
    host_id: str = ""  # the owning agent's host id (HOST_TAG_KEY)
    #: Path on the datastore (in `directory`) of the serial port's log file ("": no port).
    serial_log: str = ""
    #: How the disk is provisioned (the FlatVer2 backing's thinProvisioned / eagerlyScrub).
    provisioning: Provisioning = Provisioning.THICK

    @property
    def vmx_path(self) -> str:
        return datastore_path(self.datastore, f"{self.directory}/{self.server_id}.vmx")


def _controller(adapter: str) -> vim.vm.device.VirtualDevice | None:
    cls = SCSI_CONTROLLERS.get(adapter)
    if cls is None:
        return None
    return cls(key=_CONTROLLER_KEY, busNumber=0, sharedBus="noSharing")


def vm_config_spec(plan: VmPlan) -> vim.vm.ConfigSpec:
    if not plan.vnc_password:
        raise ValueError("a VM's VNC console needs a password (a VNC server open to anyone)")
    adapter = normalize_adapter(plan.adapter)
    changes: list[vim.vm.device.VirtualDeviceSpec] = []
    controller = _controller(adapter)
    if controller is not None:
        changes.append(vim.vm.device.VirtualDeviceSpec(operation="add", device=controller))
        controller_key = _CONTROLLER_KEY
    else:
        controller_key = IDE_CONTROLLER_KEY
    disk = vim.vm.device.VirtualDisk(
        key=_DISK_KEY,
        controllerKey=controller_key,
        unitNumber=0,
        capacityInKB=plan.disk_capacity_kb,
        backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
            fileName=datastore_path(plan.datastore, plan.disk_file),
            diskMode="persistent",
            thinProvisioned=plan.provisioning.thin,
            eagerlyScrub=plan.provisioning.eagerly_scrub,
        ),
    )
    # The disk file exists (copied from the image cache): no fileOperation.
    changes.append(vim.vm.device.VirtualDeviceSpec(operation="add", device=disk))
    if plan.serial_log:
        changes.append(
            vim.vm.device.VirtualDeviceSpec(
                operation="add", device=serial_log_device(plan.datastore, plan.serial_log)
            )
        )

    extra = {
        TAG_KEY: plan.server_id,
        **({HOST_TAG_KEY: plan.host_id} if plan.host_id else {}),
        VNC_ENABLED_KEY: "true",
        VNC_PORT_KEY: str(plan.vnc_port),
        **plan.extra_config,
        # Last: nothing in extra_config replaces or removes it.
        VNC_PASSWORD_KEY: plan.vnc_password,
    }
    spec = vim.vm.ConfigSpec(
        name=plan.server_id,
        annotation=f"polyvisor server {plan.server_id}: {plan.display_name}"[:1024],
        guestId=plan.guest_id,
        numCPUs=plan.vcpus,
        numCoresPerSocket=1,
        memoryMB=plan.memory_mb,
        files=vim.vm.FileInfo(vmPathName=plan.vmx_path),
        deviceChange=changes,
        extraConfig=[vim.option.OptionValue(key=k, value=v) for k, v in extra.items()],
    )
    instance_uuid = as_instance_uuid(plan.server_id)
    if instance_uuid is not None:
        spec.instanceUuid = instance_uuid
    return spec


def serial_log_device(datastore: str, path: str) -> vim.vm.device.VirtualSerialPort:
    """A serial port writing what the guest sends to it into a file on the datastore (the
    console log, read back by `driver_console`)."""
    return vim.vm.device.VirtualSerialPort(
        key=_SERIAL_KEY,
        backing=vim.vm.device.VirtualSerialPort.FileBackingInfo(
            fileName=datastore_path(datastore, path)
        ),
        connectable=vim.vm.device.VirtualDevice.ConnectInfo(
            startConnected=True, allowGuestControl=False, connected=True
        ),
        yieldOnPoll=True,
    )


def grow_disk_spec(disk: vim.vm.device.VirtualDisk, capacity_kb: int) -> vim.vm.ConfigSpec:
    """Reconfigure ``disk`` to ``capacity_kb`` (growing only; the guest grows its filesystem)."""
    disk.capacityInKB = capacity_kb
    if hasattr(disk, "capacityInBytes"):
        disk.capacityInBytes = capacity_kb * 1024  # type: ignore[assignment]  # stub says None
    return vim.vm.ConfigSpec(
        deviceChange=[vim.vm.device.VirtualDeviceSpec(operation="edit", device=disk)]
    )
