"""Resize of a VM on its cluster (the agentkit ``resize`` capability): ReconfigVM.

    resize:  remember the old size (extraConfig ``polyvisor.resize.old``, written first, while
             the VM still runs) -> power off -> ReconfigVM numCPUs, memoryMB -> ReconfigVM the
             root disk grown (never shrunk) -> power on if it ran
    confirm: forget the old size
    revert:  power off -> ReconfigVM back to the old numCPUs and memoryMB -> power on if it ran

DRS places the powered-on VM on an ESXi host of the cluster with room for the new size.
vSphere cannot shrink a virtual disk: a revert gives the VM its old vCPUs and memory back, and
its disk keeps the grown capacity (the server's flavor and claims are the old ones again; the
extra space is the guest's). Each verb is idempotent: the remembered size says what a
repeated resize has left to do and what a revert returns to; with nothing remembered a confirm
or a revert answers as done.

A move to another cluster of the vCenter (``resize_move``: RelocateVM to the destination
cluster's resource pool, the VM's ownership tag handed to that cluster's agent) is
``driver_move``'s.
"""

from __future__ import annotations

import json
from typing import Any

from pyVmomi import vim

from polyvisor.agent_vmware import specs
from polyvisor.agent_vmware.driver_core import GIB
from polyvisor.agent_vmware.driver_spawn import Spawning
from polyvisor.agent_vmware.props import retrieve_one
from polyvisor.agent_vmware.session import Conn
from polyvisor.agentkit.driver import DriverError, Instance, InstanceNotFound
from polyvisor.agentkit.resize_capabilities import Size
from polyvisor.common.logging import get_logger

__all__ = ["OLD_SIZE_KEY", "Resizing"]

log = get_logger(__name__)

OLD_SIZE_KEY = "polyvisor.resize.old"
_PATHS = [
    "runtime.powerState",
    "config.hardware.numCPU",
    "config.hardware.memoryMB",
    "config.hardware.device",
    "config.extraConfig",
]


def _root_disk(props: dict[str, Any]) -> vim.vm.device.VirtualDisk | None:
    disks = [
        d
        for d in props.get("config.hardware.device") or ()
        if isinstance(d, vim.vm.device.VirtualDisk)
    ]
    return disks[0] if disks else None


def _remembered(props: dict[str, Any]) -> dict[str, Any] | None:
    # The last entry counts (an emptied key may still be listed before its new value).
    extra = {o.key: o.value for o in props.get("config.extraConfig") or ()}
    value = extra.get(OLD_SIZE_KEY) or ""
    if not value:
        return None
    try:
        data: dict[str, Any] = json.loads(value)
    except ValueError as exc:
        raise DriverError(f"{OLD_SIZE_KEY} is not JSON: {value!r}") from exc
    return data


def _remember(value: str) -> vim.vm.ConfigSpec:
    """Set (or, with "", remove) the remembered old size."""
    return vim.vm.ConfigSpec(extraConfig=[vim.option.OptionValue(key=OLD_SIZE_KEY, value=value)])


class Resizing(Spawning):
    """The ``resize`` capability of ``VmwareDriver`` (mixed into it)."""

    def _resize_props(self, conn: Conn, vm: vim.VirtualMachine) -> dict[str, Any]:
        return retrieve_one(conn.content, vm, _PATHS) or {}

    def _answer_resize(
        self, conn: Conn, sid: str, vm: vim.VirtualMachine, *, run: bool
    ) -> Instance:
        if run:
            return self._ensure_running(conn, sid, vm)
        rec = self._observe(conn, sid, vm)
        if rec is None:
            raise InstanceNotFound(f"VM {sid} vanished")
        return self._instance(rec)

    def resize(self, server_id: str, size: Size) -> Instance:
        conn, place = self._ready()
        with self._guard(conn):
            vm = self._require(conn, place, server_id)
            props = self._resize_props(conn, vm)
            old = _remembered(props)
            if old is None:
                disk = _root_disk(props)
                old = {
                    "vcpus": int(props.get("config.hardware.numCPU") or 0),
                    "memory_mb": int(props.get("config.hardware.memoryMB") or 0),
                    "disk_kb": int(disk.capacityInKB) if disk is not None else 0,
                    "was_running": props.get("runtime.powerState") == "poweredOn",
                }
                self._wait(conn, vm.ReconfigVM_Task(spec=_remember(json.dumps(old))))
            if props.get("runtime.powerState") != "poweredOff":
                self._power(conn, vm, on=False)
            spec = vim.vm.ConfigSpec(numCPUs=size.vcpus, memoryMB=size.memory_mb)
            self._wait(conn, vm.ReconfigVM_Task(spec=spec))
            disk = _root_disk(self._resize_props(conn, vm))
            want_kb = size.disk_gb * GIB // 1024
            if disk is not None and want_kb > int(disk.capacityInKB):
                self._wait(conn, vm.ReconfigVM_Task(spec=specs.grow_disk_spec(disk, want_kb)))
            log.info("VM resized", server_id=server_id, vcpus=size.vcpus, memory_mb=size.memory_mb)
            return self._answer_resize(conn, server_id, vm, run=bool(old.get("was_running")))

    def confirm_resize(self, server_id: str) -> Instance:
        conn, place = self._ready()
        with self._guard(conn):
            vm = self._require(conn, place, server_id)
            if _remembered(self._resize_props(conn, vm)) is not None:
                self._wait(conn, vm.ReconfigVM_Task(spec=_remember("")))
            rec = self._observe(conn, server_id, vm)
        if rec is None:
            raise InstanceNotFound(f"VM {server_id} vanished")
        return self._instance(rec)

    def revert_resize(self, server_id: str, size: Size) -> Instance:
        conn, place = self._ready()
        with self._guard(conn):
            vm = self._require(conn, place, server_id)
            props = self._resize_props(conn, vm)
            old = _remembered(props)
            if old is None:
                log.info("nothing remembered to revert to", server_id=server_id)
                return self._answer_resize(conn, server_id, vm, run=False)
            if props.get("runtime.powerState") != "poweredOff":
                self._power(conn, vm, on=False)
            spec = vim.vm.ConfigSpec(
                numCPUs=int(old.get("vcpus") or size.vcpus),
                memoryMB=int(old.get("memory_mb") or size.memory_mb),
                extraConfig=[vim.option.OptionValue(key=OLD_SIZE_KEY, value="")],
            )
            self._wait(conn, vm.ReconfigVM_Task(spec=spec))
            log.info("VM resize reverted", server_id=server_id)
            return self._answer_resize(conn, server_id, vm, run=bool(old.get("was_running")))
