"""vmdk volumes on the cluster's VMs (the agentkit ``volume_vmdk`` capability): the volume
service's disk on a datastore, added to a VM by ReconfigVM and removed from it the same way,
its file never created, copied or deleted here (``volume_disks`` builds the device changes).

Both verbs work on a running VM (SCSI hot-add and hot-remove) and on a stopped one, and are
idempotent: an attached volume (found by the file recorded under its id, or the file itself)
answers an attach as done, a detached one a detach. A VM's volumes are removed from it before
the VM is destroyed (``Spawning._destroy_vm``): Destroy_Task deletes every disk the VM has.

vSphere's refusals become driver errors that say what is wrong with the volume (its file
missing, its datastore not reachable from the VM's ESXi host, the file locked by another
VM), never an InstanceNotFound: the server is still there.

The capability is the driver's only when the agent is configured for it
(``POLYVISOR_VMDK_VOLUMES``: the cluster mounts the volume service's datastores): see
``driver_kinds``.
"""

from __future__ import annotations

from typing import Any

from pyVmomi import vim, vmodl

from polyvisor.agent_vmware.driver_core import _extra
from polyvisor.agent_vmware.driver_registry import Registry
from polyvisor.agent_vmware.faults import classify, fault_text
from polyvisor.agent_vmware.inventory import Placement
from polyvisor.agent_vmware.props import retrieve_one
from polyvisor.agent_vmware.session import Conn
from polyvisor.agent_vmware.volume_disks import (
    attach_spec,
    detach_spec,
    find_volume_disk,
    free_slot,
    volume_key,
)
from polyvisor.agentkit.driver import DriverError, InstanceNotFound
from polyvisor.agentkit.volume_capabilities import VolumeConnection
from polyvisor.common.logging import get_logger

__all__ = ["VmdkVolumeVerbs", "volume_fault"]

log = get_logger(__name__)

_PATHS = ["config.hardware.device", "config.extraConfig", "runtime.powerState"]


def volume_fault(exc: BaseException, volume: VolumeConnection, path: str) -> DriverError:
    """What vSphere's refusal to attach or detach ``volume`` means, as a driver error."""
    text = fault_text(exc)
    if isinstance(exc, vim.fault.FileNotFound):
        return DriverError(
            f"volume {volume.volume_id}: its disk {path} is not on the datastore ({text})"
        )
    if isinstance(exc, (vim.fault.InvalidDatastore, vim.fault.InvalidDatastorePath)):
        return DriverError(
            f"volume {volume.volume_id}: the datastore of {path} is not reachable from the "
            f"VM's ESXi host ({text})"
        )
    if isinstance(exc, vim.fault.FileLocked):
        return DriverError(
            f"volume {volume.volume_id}: {path} is locked, in use by another VM ({text})",
            retryable=True,
        )
    if isinstance(exc, vim.fault.InvalidDeviceSpec):
        # The controller slot taken meanwhile: a retry reads the devices again.
        return DriverError(f"volume {volume.volume_id}: {text}", retryable=True)
    return classify(exc)


class VmdkVolumeVerbs(Registry):
    """Capability volume_vmdk (mixed into the driver classes of ``driver_kinds``)."""

    def _vm_state(
        self, conn: Conn, place: Placement, sid: str, *, required: bool
    ) -> tuple[vim.VirtualMachine | None, dict[str, Any]]:
        """Our VM of ``sid`` and its devices, extraConfig and power state: one read when we
        know the VM (as ``_find`` checks a known VM is still there, with these paths)."""
        with self._lock:
            rec = self._vms.get(sid)
        if rec is not None and rec.generation == conn.generation:
            props = retrieve_one(conn.content, rec.vm, _PATHS)
            if props is not None:
                return rec.vm, props
        vm = self._require(conn, place, sid) if required else self._find(conn, place, sid)
        return vm, (retrieve_one(conn.content, vm, _PATHS) or {}) if vm is not None else {}

    def attach_vmdk_volume(self, server_id: str, volume: VolumeConnection) -> None:
        path = volume.attr("path")
        conn, place = self._ready()
        with self._guard(conn):
            vm, props = self._vm_state(conn, place, server_id, required=True)
            if vm is None:  # (_require raised already; for the type checker)
                raise InstanceNotFound(f"no VM tagged {server_id}")
            devices = props.get("config.hardware.device") or ()
            if find_volume_disk(devices, _extra(props), volume.volume_id, path) is not None:
                return  # attached already (a repeated command)
            running = props.get("runtime.powerState") == "poweredOn"
            slot = free_slot(devices, volume.attrs.get("adapter_type", ""), running=running)
            spec = attach_spec(volume.volume_id, path, slot, volume.attrs.get("disk_type", ""))
            try:
                self._wait(conn, vm.ReconfigVM_Task(spec=spec))
            except vmodl.MethodFault as e:
                raise volume_fault(e, volume, path) from e
        log.info(
            "volume attached",
            server_id=server_id,
            volume_id=volume.volume_id,
            path=path,
            controller=slot.controller_key,
            unit=slot.unit,
        )

    def detach_vmdk_volume(self, server_id: str, volume: VolumeConnection) -> None:
        path = volume.attrs.get("path", "")
        conn, place = self._ready()
        with self._guard(conn):
            vm, props = self._vm_state(conn, place, server_id, required=False)
            if vm is None:
                return  # the VM is gone (and it let its volumes go before)
            extra = _extra(props)
            disk = find_volume_disk(
                props.get("config.hardware.device") or (), extra, volume.volume_id, path
            )
            spec = detach_spec(
                volume.volume_id, disk, bool(extra.get(volume_key(volume.volume_id)))
            )
            if spec is None:
                return  # not attached: done
            try:
                self._wait(conn, vm.ReconfigVM_Task(spec=spec))
            except vmodl.MethodFault as e:
                raise volume_fault(e, volume, path) from e
        log.info("volume detached", server_id=server_id, volume_id=volume.volume_id, path=path)
