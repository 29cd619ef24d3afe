"""The VMware driver: one vCenter cluster behind the agentkit Driver protocol.

Every verb blocks (pyvmomi) and is called by the runtime in its executor; the session's
supervisor and the PropertyCollector watcher run in threads of their own. vmodl faults and
transport errors become driver errors here, at the boundary (``faults.mapped``).

Agents of several clusters may share one VM folder: a VM is ours only when it carries our host
id beside its server id (``ownership``). Listing, the watch, vanished detection and VNC-port
ownership look at our VMs only; a VM of ours that an admin moved to an ESXi host outside our
cluster is still ours (reported where it runs, logged once), never taken for vanished.

While vCenter is unreachable the host report says so and every VM we know is UNKNOWN (never
SHUTDOWN); after the session comes back the watcher's first answer is the full picture and
each VM is reported again (or as vanished, after a vCenter rebuilt from scratch).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from pyVmomi import vim, vmodl

from polyvisor.agent_vmware import specs
from polyvisor.agent_vmware.driver_adopt import Adopting
from polyvisor.agent_vmware.driver_console import ConsoleLogging
from polyvisor.agent_vmware.driver_core import (
    _SNAPSHOT_PREFIX,
    GIB,
    log,
)
from polyvisor.agent_vmware.driver_image_cache import ImageCacheSweeping
from polyvisor.agent_vmware.driver_metadata import GuestMetadataVerbs
from polyvisor.agent_vmware.driver_spawn import Spawning
from polyvisor.agent_vmware.driver_watch import Watching
from polyvisor.agent_vmware.faults import fault_text
from polyvisor.agent_vmware.image_store import BASE_TAG_KEY, image_key
from polyvisor.agent_vmware.inventory import Placement, read_cluster
from polyvisor.agent_vmware.options import VmwareOptions
from polyvisor.agent_vmware.props import retrieve_one
from polyvisor.agent_vmware.report import (
    cluster_host_info,
    disconnected_host_info,
)
from polyvisor.agent_vmware.session import Conn
from polyvisor.agentkit.capabilities import capabilities_of
from polyvisor.agentkit.disk_capabilities import DiskSnapshot
from polyvisor.agentkit.driver import (
    Console,
    DriverError,
    HostInfo,
    HypervisorUnavailable,
    Instance,
    InstanceNotFound,
    LocalImage,
    PowerState,
)

__all__ = ["VmwareDriver"]


class VmwareDriver(
    Adopting, Spawning, Watching, ConsoleLogging, GuestMetadataVerbs, ImageCacheSweeping
):
    """Driver for one vCenter cluster. ``start()`` begins connecting; verbs then block."""

    def __init__(self, options: VmwareOptions) -> None:
        super().__init__(options)
        self._session.add_listener(self._on_session)

    # ------------------------------------------------------------------ Driver: reading

    def host_info(self) -> HostInfo:
        lo_hi = (self.options.vnc_port_min, self.options.vnc_port_max)
        try:
            conn, place = self._ready()
            with self._guard(conn):
                facts = read_cluster(conn.content, place, self.options.datastore_regex)
        except HypervisorUnavailable:
            down = disconnected_host_info(
                self._last_report, self.options.cluster_name, lo_hi, capabilities_of(self)
            )
            return replace(down, physical_networks=self.options.physical_networks)
        info = cluster_host_info(
            facts,
            vnc_port_range=lo_hi,
            cpu_allocation_ratio=self.options.cpu_allocation_ratio,
            ram_allocation_ratio=self.options.ram_allocation_ratio,
            disk_allocation_ratio=self.options.disk_allocation_ratio,
            capabilities=capabilities_of(self),
        )
        # What the scheduler's reachability check reads: the mapped physical networks.
        info = replace(info, physical_networks=self.options.physical_networks)
        with self._lock:
            members = {h.moref for h in facts.hosts}
            for moref, (name, inside) in list(self._hosts.items()):
                if inside and moref not in members:
                    self._hosts[moref] = (name, False)  # left the cluster
            self._hosts.update({h.moref: (h.name, True) for h in facts.hosts})
            self._last_report = info
        return info

    def console(self, server_id: str) -> Console:
        conn, place = self._ready()
        with self._guard(conn):
            vm = self._require(conn, place, server_id)
            rec = self._observe(conn, server_id, vm)
        if rec is None:
            raise InstanceNotFound(f"no VM tagged {server_id}")
        if not rec.vnc_port:
            raise DriverError(f"VM {server_id} has no VNC console configured")
        return Console("vnc", rec.host, rec.vnc_port)

    def set_console_password(self, server_id: str, password: str, valid_for_s: float) -> None:
        """A console session: the VM's VNC server (RemoteDisplay.vnc on its ESXi host) takes
        the session's password. ESXi has no expiry for it: the next session replaces it."""
        if not 1 <= len(password) <= 8 or not password.isascii() or not password.isprintable():
            raise DriverError("a VNC password is 1 to 8 printable ASCII characters")
        conn, place = self._ready()
        with self._guard(conn):
            vm = self._require(conn, place, server_id)
            spec = vim.vm.ConfigSpec(
                extraConfig=[vim.option.OptionValue(key=specs.VNC_PASSWORD_KEY, value=password)]
            )
            self._wait(conn, vm.ReconfigVM_Task(spec=spec))

    # ------------------------------------------------------------------ Driver: power

    def power_on(self, server_id: str) -> Instance:
        return self._power_verb(server_id, on=True)

    def power_off(self, server_id: str) -> Instance:
        return self._power_verb(server_id, on=False)

    def _power_verb(self, server_id: str, *, on: bool) -> Instance:
        conn, place = self._ready()
        with self._guard(conn):
            vm = self._require(conn, place, server_id)
            self._power(conn, vm, on=on)
            rec = self._observe(conn, server_id, vm)
        if rec is None:
            raise InstanceNotFound(f"VM {server_id} vanished")
        return self._instance(rec)

    def reboot(self, server_id: str, *, hard: bool) -> Instance:
        conn, place = self._ready()
        with self._guard(conn):
            vm = self._require(conn, place, server_id)
            props = (
                retrieve_one(conn.content, vm, ["runtime.powerState", "guest.toolsRunningStatus"])
                or {}
            )
            if props.get("runtime.powerState") != "poweredOn":
                self._power(conn, vm, on=True)  # a reboot of a stopped VM starts it
            elif hard or props.get("guest.toolsRunningStatus") != "guestToolsRunning":
                self._reset(conn, vm)
            else:
                try:
                    vm.RebootGuest()
                except (vim.fault.ToolsUnavailable, vmodl.fault.MethodNotFound,
                        vmodl.fault.NotSupported, vim.fault.InvalidState) as e:  # fmt: skip
                    log.info(
                        "soft reboot not possible, resetting",
                        server_id=server_id,
                        error=fault_text(e),
                    )
                    self._reset(conn, vm)
            rec = self._observe(conn, server_id, vm)
        if rec is None:
            raise InstanceNotFound(f"VM {server_id} vanished")
        return self._instance(rec)

    # ------------------------------------------------------------------ capability: suspend
    # vSphere suspends (SuspendVM_Task: memory to a .vmss file on the datastore, VM stopped)
    # and powers a suspended VM on from that file. It has no pause that keeps the memory in
    # place, so this driver does not implement the pause capability: the host report says so
    # and a pause sent here is answered with a fault naming the missing capability.

    def suspend(self, server_id: str) -> Instance:
        conn, place = self._ready()
        with self._guard(conn):
            vm = self._require(conn, place, server_id)
            state = (retrieve_one(conn.content, vm, ["runtime.powerState"]) or {}).get(
                "runtime.powerState"
            )
            if state == "poweredOn":
                try:
                    self._wait(conn, vm.SuspendVM_Task())
                except vim.fault.InvalidPowerState:
                    pass  # suspended meanwhile
            elif state != "suspended":
                raise DriverError(f"VM {server_id} is {state}: only a running VM suspends")
            rec = self._observe(conn, server_id, vm)
        if rec is None:
            raise InstanceNotFound(f"VM {server_id} vanished")
        return self._instance(rec)

    def resume(self, server_id: str) -> Instance:
        conn, place = self._ready()
        with self._guard(conn):
            vm = self._require(conn, place, server_id)
            state = (retrieve_one(conn.content, vm, ["runtime.powerState"]) or {}).get(
                "runtime.powerState"
            )
            if state == "poweredOff":
                raise DriverError(f"VM {server_id} is powered off: there is nothing to resume")
            if state == "suspended":
                self._power(conn, vm, on=True)  # powering on a suspended VM resumes it
            rec = self._observe(conn, server_id, vm)
        if rec is None:
            raise InstanceNotFound(f"VM {server_id} vanished")
        return self._instance(rec)

    def _reset(self, conn: Conn, vm: vim.VirtualMachine) -> None:
        """Hard reset, ending with the VM running: a reboot's promise. A reset whose power-on
        half did not take (vcsim ignores it when it races the power-off) is completed."""
        self._wait(conn, vm.ResetVM_Task())
        state = (retrieve_one(conn.content, vm, ["runtime.powerState"]) or {}).get(
            "runtime.powerState"
        )
        if state != "poweredOn":
            log.warning("reset left the VM off; powering it on", vm=vm._moId, state=state)
            self._power(conn, vm, on=True)

    # ------------------------------------------------------------------ Snapshot, Rebuild

    def snapshot(self, server_id: str, dest_dir: Path) -> DiskSnapshot:
        """A VM snapshot (quiesced by VMware Tools when they run), a CopyVirtualDisk of the
        snapshot's disk (the parent disk, which nobody writes while the snapshot exists), the
        copy's flat extent downloaded over the datastore's HTTP endpoint; then the copy and
        the snapshot are removed, whatever happened."""
        conn, place = self._ready()
        token = uuid.uuid4().hex[:12]
        dest = dest_dir / "disk.raw"
        with self._guard(conn):
            vm = self._require(conn, place, server_id)
            props = retrieve_one(
                conn.content, vm, ["runtime.powerState", "guest.toolsRunningStatus"]
            ) or {}  # fmt: skip
            running = props.get("runtime.powerState") == "poweredOn"
            quiesce = running and props.get("guest.toolsRunningStatus") == "guestToolsRunning"
            self._remove_leftover_snapshots(conn, server_id, vm)
            snap: Any = None
            export = ""
            try:
                snap = self._wait(
                    conn,
                    vm.CreateSnapshot_Task(
                        name=f"{_SNAPSHOT_PREFIX}{token}",
                        description="temporary: the disk is being copied to an image",
                        memory=False,
                        quiesce=quiesce,
                    ),
                )
                source = self._snapshot_disk(conn, snap)
                datastore, _ = specs.split_datastore_path(source)
                export = specs.datastore_path(datastore, f"{server_id}/image-{token}.vmdk")
                self._wait(
                    conn,
                    conn.content.virtualDiskManager.CopyVirtualDisk_Task(
                        sourceName=source,
                        sourceDatacenter=place.datacenter,
                        destName=export,
                        destDatacenter=place.datacenter,
                        force=True,
                    ),
                )
                size = self._http(conn).download(
                    place.datacenter_path,
                    datastore,
                    f"{server_id}/image-{token}-flat.vmdk",
                    dest,
                    timeout=self.options.call_timeout_s,
                )
            finally:
                self._snapshot_cleanup(conn, place, server_id, snap, export)
            rec = self._observe(conn, server_id, vm)
        log.info("disk snapshot taken", server_id=server_id, bytes=size, quiesced=quiesce)
        return DiskSnapshot(
            dest,
            "raw",
            quiesced=quiesce or not running,
            power_state=rec.power if rec is not None else PowerState.NOSTATE,
            method="VM snapshot, CopyVirtualDisk of its parent disk, datastore download",
        )

    def _remove_leftover_snapshots(self, conn: Conn, sid: str, vm: vim.VirtualMachine) -> None:
        """Our temporary snapshots an agent killed half way left on the VM (their retried
        command converges: the VM ends with none)."""
        tree = (retrieve_one(conn.content, vm, ["snapshot"]) or {}).get("snapshot")
        todo = list(getattr(tree, "rootSnapshotList", None) or ())
        while todo:
            node = todo.pop()
            todo.extend(node.childSnapshotList or ())
            if str(node.name).startswith(_SNAPSHOT_PREFIX):
                log.warning("removing a snapshot left behind", server_id=sid, name=node.name)
                self._wait(
                    conn, node.snapshot.RemoveSnapshot_Task(removeChildren=False, consolidate=True)
                )

    def _snapshot_disk(self, conn: Conn, snap: Any) -> str:
        """The datastore path of the disk a snapshot froze (its first virtual disk)."""
        props = retrieve_one(conn.content, snap, ["config.hardware.device"]) or {}
        for device in props.get("config.hardware.device") or ():
            if isinstance(device, vim.vm.device.VirtualDisk):
                name = str(getattr(device.backing, "fileName", "") or "")
                if name:
                    return name
        raise DriverError("the snapshot has no virtual disk to copy")

    def _snapshot_cleanup(
        self, conn: Conn, place: Placement, sid: str, snap: Any, export: str
    ) -> None:
        """Remove the exported copy and the temporary snapshot (best effort: logged)."""
        if export:
            try:
                self._delete_path(conn, place, export)
                self._delete_path(conn, place, export.replace(".vmdk", "-flat.vmdk"))
            except Exception as e:
                log.warning("could not remove a disk export", server_id=sid, error=fault_text(e))
        if snap is not None:
            try:
                self._wait(conn, snap.RemoveSnapshot_Task(removeChildren=False, consolidate=True))
            except Exception as e:
                log.warning("could not remove a snapshot", server_id=sid, error=fault_text(e))

    def rebuild(
        self, server_id: str, image: LocalImage, disk_gb: int, *, powered_off: bool = False
    ) -> Instance:
        """The VM keeps its identity (moref, NICs, VNC port); its disk is a new copy of the
        image's base disk, grown to the flavor; then it runs (``powered_off``: it stays off,
        as it was)."""
        conn, place = self._ready()
        with self._guard(conn):
            vm = self._require(conn, place, server_id)
            props = retrieve_one(conn.content, vm, ["config.hardware.device"]) or {}
            disks = [
                d
                for d in props.get("config.hardware.device") or ()
                if isinstance(d, vim.vm.device.VirtualDisk)
            ]
            if not disks:
                raise DriverError(f"VM {server_id} has no disk to rebuild")
            current = str(getattr(disks[0].backing, "fileName", "") or "")
            datastore, path = specs.split_datastore_path(current)
            base = self._ensure_base(conn, place, datastore, image)
            self._power(conn, vm, on=False)
            self._wait(
                conn,
                conn.content.virtualDiskManager.CopyVirtualDisk_Task(
                    sourceName=base.datastore_path,
                    sourceDatacenter=place.datacenter,
                    destName=current,
                    destDatacenter=place.datacenter,
                    force=True,
                ),
            )
            want_kb = max(disk_gb * GIB, base.capacity) // 1024
            if want_kb > disks[0].capacityInKB:
                self._grow_disk(conn, vm, want_kb)
            tag = vim.option.OptionValue(key=BASE_TAG_KEY, value=image_key(image))  # its base now
            self._wait(conn, vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(extraConfig=[tag])))
            if not powered_off:
                self._power(conn, vm, on=True)
            rec = self._observe(conn, server_id, vm)
        if rec is None:
            raise InstanceNotFound(f"VM {server_id} vanished")
        log.info("rebuilt", server_id=server_id, image_id=image.ref.image_id, disk=path)
        return self._instance(rec)
