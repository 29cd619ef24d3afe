"""A VM handed over to another cluster of the same vCenter (the agentkit ``resize_move``
capability): a resize or cold migration that moves the server to another host.

    resize_to (on the source's agent):
        remember the old size and where it was (extraConfig ``polyvisor.resize.old``)
        -> power off -> ReconfigVM the new vCPUs and memory, the disk grown
        -> tag it with the destination's host id (from then on it is the destination's)
        -> RelocateVM to the destination cluster's resource pool, an ESXi host of it with the
           most free memory, its VM folder, and a datastore of it (the one the VM is on when
           the destination sees it too, else the destination's with the most free space)
        -> power on if it ran
    revert_resize_to (on the destination's agent, the VM is its own then): the same way back,
        to the old vCPUs and memory, the old datastore when the source cluster sees it
    confirm_resize (on the source's agent, where the api sends it): the VM is the
        destination's now; the source only forgets the old size remembered on it

The destination is found by its host id (``peers``). The tag changes before the VM moves, so
the destination's agent, seeing the VM arrive on its ESXi hosts, finds it tagged as its own;
the source forgets it (and stops watching it) at the same moment. A failed relocation tags it
back. Each verb is idempotent: a VM already tagged for the destination with the remembered
size is a move already made, answered again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from pyVmomi import vim

from polyvisor.agent_vmware import specs
from polyvisor.agent_vmware.driver_core import GIB, _extra, _vnc_port, log, power_state_of
from polyvisor.agent_vmware.driver_resize import OLD_SIZE_KEY, Resizing, _remembered, _root_disk
from polyvisor.agent_vmware.inventory import Placement, cluster_datastores
from polyvisor.agent_vmware.ownership import Owner
from polyvisor.agent_vmware.peers import Peer, find_peer
from polyvisor.agent_vmware.props import retrieve_one, traversal_to
from polyvisor.agent_vmware.session import Conn
from polyvisor.agent_vmware.volume_disks import volume_disk_locators
from polyvisor.agentkit.driver import Console, DriverError, Instance, InstanceNotFound
from polyvisor.agentkit.resize_capabilities import Size

__all__ = ["Moving"]

_HOST_PATHS = (
    "name",
    "runtime.connectionState",
    "runtime.inMaintenanceMode",
    "hardware.memorySize",
    "summary.quickStats.overallMemoryUsage",
)
_MOVE_PATHS = (
    "runtime.powerState",
    "runtime.host",
    "config.extraConfig",
    "config.files.vmPathName",
)
_HW_PATHS = ("config.hardware.numCPU", "config.hardware.memoryMB", "config.hardware.device")


class Moving(Resizing):
    """The ``resize_move`` capability of ``VmwareDriver`` (mixed into it)."""

    # ------------------------------------------------------------------ verbs

    def resize_to(self, server_id: str, size: Size, dest_host: str) -> Instance:
        if dest_host == self.host_id:
            return self.resize(server_id, size)
        conn, place = self._ready()
        with self._guard(conn):
            vm = self._find(conn, place, server_id)
            if vm is None:
                return self._moved_already(conn, place, server_id, dest_host)
            peer = find_peer(conn.content, dest_host)
            props = retrieve_one(conn.content, vm, [*_MOVE_PATHS, *_HW_PATHS]) or {}
            old = _remembered(props)
            if old is None:
                disk = _root_disk(props)
                old = {
                    "vcpus": int(props.get("config.hardware.numCPU") or 0),
                    "memory_mb": int(props.get("config.hardware.memoryMB") or 0),
                    "disk_kb": int(disk.capacityInKB) if disk is not None else 0,
                    "was_running": props.get("runtime.powerState") == "poweredOn",
                    "host_id": self.host_id,
                    "datastore": _datastore_of(props),
                }
                self._set_extra(conn, vm, {OLD_SIZE_KEY: json.dumps(old)})
            self._power(conn, vm, on=False)
            spec = vim.vm.ConfigSpec(numCPUs=size.vcpus, memoryMB=size.memory_mb)
            self._wait(conn, vm.ReconfigVM_Task(spec=spec))
            disk = _root_disk(self._resize_props(conn, vm))
            want_kb = size.disk_gb * GIB // 1024
            if disk is not None and want_kb > int(disk.capacityInKB):
                self._wait(conn, vm.ReconfigVM_Task(spec=specs.grow_disk_spec(disk, want_kb)))
            self._hand_over(conn, place, server_id, vm, peer, str(old.get("datastore") or ""))
            if old.get("was_running"):
                self._power(conn, vm, on=True)
            log.info("VM moved", server_id=server_id, dest_host=dest_host, vcpus=size.vcpus)
            return self._read_instance(conn, server_id, vm)

    def revert_resize_to(self, server_id: str, size: Size, dest_host: str) -> Instance:
        if dest_host == self.host_id:
            return self.revert_resize(server_id, size)
        conn, place = self._ready()
        with self._guard(conn):
            vm = self._find(conn, place, server_id)
            if vm is None:
                return self._moved_already(conn, place, server_id, dest_host, reverted=True)
            peer = find_peer(conn.content, dest_host)
            props = self._resize_props(conn, vm)
            old = _remembered(props) or {
                "was_running": props.get("runtime.powerState") == "poweredOn"
            }
            self._power(conn, vm, on=False)
            spec = vim.vm.ConfigSpec(
                numCPUs=int(old.get("vcpus") or size.vcpus),
                memoryMB=int(old.get("memory_mb") or size.memory_mb),
                extraConfig=[vim.option.OptionValue(key=OLD_SIZE_KEY, value="")],
            )
            self._wait(conn, vm.ReconfigVM_Task(spec=spec))
            self._hand_over(conn, place, server_id, vm, peer, str(old.get("datastore") or ""))
            if old.get("was_running"):
                self._power(conn, vm, on=True)
            log.info("VM moved back", server_id=server_id, dest_host=dest_host)
            return self._read_instance(conn, server_id, vm)

    def confirm_resize(self, server_id: str) -> Instance:
        conn, place = self._ready()
        with self._guard(conn):
            if self._find(conn, place, server_id) is not None:
                return super().confirm_resize(server_id)
            # Moved away: the VM is another agent's now; forget the old size it carries.
            for vm, owner in self._tagged(conn, place, server_id):
                if owner is Owner.OTHER:
                    if _remembered(self._resize_props(conn, vm)) is not None:
                        self._set_extra(conn, vm, {OLD_SIZE_KEY: ""})
                    return self._read_instance(conn, server_id, vm)
        raise InstanceNotFound(f"no VM tagged {server_id} in this vCenter's datacenter")

    # ------------------------------------------------------------------ plumbing

    def _moved_already(
        self, conn: Conn, place: Placement, sid: str, dest_host: str, *, reverted: bool = False
    ) -> Instance:
        """A repeated move: the VM is the destination's already (with the size remembered,
        or, after a revert, forgotten)."""
        for vm, _ in self._tagged(conn, place, sid):
            props = retrieve_one(conn.content, vm, _MOVE_PATHS) or {}
            extra = {str(o.key): str(o.value) for o in props.get("config.extraConfig") or ()}
            if extra.get(specs.HOST_TAG_KEY) == dest_host and (
                reverted or _remembered(props) is not None
            ):
                return self._read_instance(conn, sid, vm)
        raise InstanceNotFound(f"no VM tagged {sid} is ours or was moved to {dest_host}")

    def _set_extra(self, conn: Conn, vm: vim.VirtualMachine, values: dict[str, str]) -> None:
        options = [vim.option.OptionValue(key=k, value=v) for k, v in values.items()]
        self._wait(conn, vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(extraConfig=options)))

    def _hand_over(
        self,
        conn: Conn,
        place: Placement,
        sid: str,
        vm: vim.VirtualMachine,
        peer: Peer,
        datastore: str,
        wait: Callable[[vim.Task], object] | None = None,
    ) -> None:
        """Tag the VM with the peer's host id and relocate it into its cluster (stopped, or
        running: a vMotion); ``wait`` waits for the relocation (default: ``_wait``)."""
        spec = self._relocate_spec(conn, place, vm, peer, datastore)
        self._set_extra(conn, vm, {specs.HOST_TAG_KEY: peer.host_id})
        self._unregister(sid)
        with self._lock:
            self._foreign.add(vm._moId)  # the peer's from now on: our watch ignores it
        try:
            task = vm.RelocateVM_Task(spec=spec)
            if wait is None:
                self._wait(conn, task)
            else:
                wait(task)
        except BaseException:
            log.warning("relocation failed: the VM stays ours", server_id=sid, dest=peer.host_id)
            self._set_extra(conn, vm, {specs.HOST_TAG_KEY: self.host_id})
            with self._lock:
                self._foreign.discard(vm._moId)
            self._observe(conn, sid, vm)
            raise

    def _relocate_spec(
        self, conn: Conn, place: Placement, vm: vim.VirtualMachine, peer: Peer, datastore: str
    ) -> vim.vm.RelocateSpec:
        content = conn.content
        pool = (retrieve_one(content, peer.cluster, ["resourcePool"]) or {}).get("resourcePool")
        if pool is None:
            raise DriverError(f"the cluster of host {peer.host_id} has no resource pool")
        members = traversal_to(
            content, peer.cluster, "host", vim.ClusterComputeResource, vim.HostSystem, _HOST_PATHS
        )
        hosts = [
            (h, p)
            for h, p in members
            if p.get("runtime.connectionState") == "connected"
            and not p.get("runtime.inMaintenanceMode")
        ]
        if not hosts:
            raise DriverError(f"the cluster of host {peer.host_id} has no ESXi host to run on")
        host = max(
            hosts,
            key=lambda hp: (
                int(hp[1].get("hardware.memorySize") or 0) // (1 << 20)
                - int(hp[1].get("summary.quickStats.overallMemoryUsage") or 0)
            ),
        )[0]
        there = replace(place, cluster=peer.cluster)
        stores = [
            (ds, facts)
            for ds, facts in cluster_datastores(content, there, self.options.datastore_regex)
            if facts.accessible
        ]
        if not stores:
            raise DriverError(f"the cluster of host {peer.host_id} has no accessible datastore")
        same = [ds for ds, facts in stores if facts.name == datastore]
        if not same:
            current = _datastore_of(retrieve_one(content, vm, _MOVE_PATHS) or {})
            same = [ds for ds, facts in stores if facts.name == current]
        target = same[0] if same else max(stores, key=lambda s: s[1].free_space)[0]
        spec = vim.vm.RelocateSpec(pool=pool, host=host, datastore=target)
        # The VM's volumes stay where the volume service keeps them (the destination cluster
        # must mount their datastores: vSphere refuses the move otherwise).
        props = retrieve_one(content, vm, ["config.hardware.device", "config.extraConfig"]) or {}
        spec.disk = volume_disk_locators(props.get("config.hardware.device") or (), _extra(props))
        if peer.folder and peer.folder != self.options.folder_path:
            folder = self._find_folder(content, place, peer.folder)
            if folder is not None:
                spec.folder = folder
        return spec

    def _find_folder(
        self, content: vim.ServiceInstanceContent, place: Placement, names: tuple[str, ...]
    ) -> vim.Folder | None:
        current = (retrieve_one(content, place.datacenter, ["vmFolder"]) or {}).get("vmFolder")
        for name in names:
            if current is None:
                return None
            current = content.searchIndex.FindChild(current, name)
        return current if isinstance(current, vim.Folder) else None

    def _read_instance(self, conn: Conn, sid: str, vm: vim.VirtualMachine) -> Instance:
        """What vCenter says of a VM that is (now) another agent's: read, never registered."""
        props = retrieve_one(
            conn.content, vm, ["runtime.powerState", "runtime.host", "config.extraConfig"]
        )
        if props is None:
            raise InstanceNotFound(f"VM {sid} vanished")
        host_ref = props.get("runtime.host")
        host = ""
        if host_ref is not None:
            host = str((retrieve_one(conn.content, host_ref, ["name"]) or {}).get("name", ""))
        port = _vnc_port(props)
        return Instance(
            server_id=sid,
            power_state=power_state_of(props.get("runtime.powerState")),
            name=sid,
            member_host=host,
            console=Console("vnc", host, port) if port and host else None,
        )


def _datastore_of(props: dict[str, Any]) -> str:
    path = str(props.get("config.files.vmPathName") or "")
    return specs.split_datastore_path(path)[0] if path.startswith("[") else ""
