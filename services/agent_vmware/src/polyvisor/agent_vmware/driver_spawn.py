"""Spawn and destroy: datastore choice, disks, port groups, the VM and its first boot."""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext

from pyVmomi import vim, vmodl

from polyvisor.agent_vmware import specs
from polyvisor.agent_vmware.driver_core import (
    _GUEST_IDS,
    _RUNTIME_PATHS,
    _STORES_TTL_S,
    GIB,
    _extra,
    log,
)
from polyvisor.agent_vmware.driver_registry import Registry
from polyvisor.agent_vmware.faults import fault_text, is_connection_error
from polyvisor.agent_vmware.guestinfo import guestinfo_options
from polyvisor.agent_vmware.image_store import BASE_TAG_KEY, BaseDisk, image_key
from polyvisor.agent_vmware.inventory import Placement, cluster_datastores
from polyvisor.agent_vmware.net.model import PortBinding
from polyvisor.agent_vmware.net.nics import port_key
from polyvisor.agent_vmware.net.plane import NetworkPlane
from polyvisor.agent_vmware.net.portgroups import PortGroups
from polyvisor.agent_vmware.net.source import BindingSource
from polyvisor.agent_vmware.ownership import Owner
from polyvisor.agent_vmware.props import retrieve_one
from polyvisor.agent_vmware.provisioning import FLAT_DISKTYPES, root_provisioning
from polyvisor.agent_vmware.report import (
    DISK_FORMATS,
    DatastoreFacts,
)
from polyvisor.agent_vmware.session import Conn
from polyvisor.agent_vmware.tasks import wait_task_then_read
from polyvisor.agent_vmware.volume_disks import release_all_spec
from polyvisor.agentkit.driver import (
    HypervisorUnavailable,
    Instance,
    InstanceSpec,
    LocalImage,
    PowerState,
    SpawnFailed,
)
from polyvisor.agentkit.vnc_ports import NoFreePort

#: The serial port's log file, in the VM's directory (its console log).
SERIAL_LOG = "console.log"


class Spawning(Registry):
    # ------------------------------------------------------------------ Driver: spawn

    def _guest_id(self, spec: InstanceSpec) -> str:
        wanted = spec.metadata.get("vmware_ostype", "") if spec.metadata else ""
        if wanted:
            return wanted
        ref = spec.image.ref
        arch = ref.architecture or "x86_64"
        return _GUEST_IDS.get((ref.os_type.lower(), arch), self.options.default_guest_id)

    def _datastores(self, conn: Conn, place: Placement) -> list[DatastoreFacts]:
        """The cluster's matching datastores, read at most every few seconds per session."""
        now = time.monotonic()
        with self._lock:
            cached = self._stores
        if cached is not None and cached[0] == conn.generation and now - cached[1] < _STORES_TTL_S:
            return cached[2]
        stores = [
            d for _, d in cluster_datastores(conn.content, place, self.options.datastore_regex)
        ]
        with self._lock:
            self._stores = (conn.generation, now, stores)
        return stores

    def _pick_datastore(self, conn: Conn, place: Placement, need: int) -> str:
        stores = [d for d in self._datastores(conn, place) if d.accessible]
        if not stores:
            raise SpawnFailed(
                f"no accessible datastore of cluster {place.cluster_name} matches "
                f"{self.options.datastore_regex!r}"
            )
        best = max(stores, key=lambda d: d.free_space)
        if best.free_space < need:
            raise SpawnFailed(
                f"no datastore has {need / GIB:.1f} GiB free (largest: {best.name}, "
                f"{best.free_space / GIB:.1f} GiB)"
            )
        return best.name

    # ------------------------------------------------------------------ network plane

    def attach_ports(self, source: BindingSource) -> None:
        """Give each server NICs for its ports at spawn (the vSphere network data plane)."""
        self._net = NetworkPlane(source)

    def _groups(self, conn: Conn, place: Placement) -> PortGroups:
        return PortGroups(
            conn.content,
            place.datacenter,
            place.cluster,
            self.options.switch_mappings,
            lambda task: self._wait(conn, task),
        )

    def _using(self, bindings: Sequence[PortBinding]) -> AbstractContextManager[None]:
        return self._net.using(bindings) if self._net is not None else nullcontext()

    def _tidy_port_groups(self, conn: Conn, place: Placement) -> None:
        """Best effort: what is left now goes at the next destroy or detach."""
        if self._net is None:
            return
        try:
            with self._guard(conn):
                self._net.tidy(self._groups(conn, place))
        except Exception as e:
            log.warning("removing unused port groups failed", error=fault_text(e))

    # ------------------------------------------------------------------ Driver: spawn

    def spawn(self, spec: InstanceSpec) -> Instance:
        sid = spec.server_id
        bindings: Sequence[PortBinding] = ()
        nic_model = ""
        try:
            adapter = specs.normalize_adapter(spec.image.ref.vmware_adaptertype)
            if self._net is not None:
                bindings = self._net.bindings_for(sid)
                nic_model = self._net.model(spec.image.ref.hw_vif_model)
            extra = guestinfo_options(
                instance_id=sid,
                hostname=spec.hostname or spec.name,
                ssh_public_keys=spec.ssh_public_keys,
                user_data=spec.user_data,
                metadata=spec.metadata,
                network=NetworkPlane.network_config(bindings),
            )
            extra.update({port_key(b.port_id): b.mac_address for b in bindings})
        except ValueError as e:
            raise SpawnFailed(str(e)) from e
        if spec.vcpus < 1 or spec.memory_mb < 4:
            raise SpawnFailed(f"bad flavor: {spec.vcpus} vCPUs, {spec.memory_mb} MiB")
        r = spec.image.rendition
        if r not in DISK_FORMATS and not (
            r.disk_format == "vmdk" and r.vmware_disktype in FLAT_DISKTYPES
        ):
            raise SpawnFailed(
                f"a cluster boots vmdk renditions (streamOptimized, sparse, preallocated, thin, "
                f"eagerZeroedThick), got {r.disk_format} {r.vmware_disktype}".rstrip()
            )
        provisioning = root_provisioning(r.vmware_disktype)
        extra[BASE_TAG_KEY] = image_key(spec.image)

        conn, place = self._ready()
        with self._guard(conn, spawning=True):
            tagged = self._tagged(conn, place, sid, thorough=True)
            existing = next((vm for vm, owner in tagged if owner is Owner.US), None)
            if existing is not None:
                return self._ensure_running(conn, sid, existing, leave_off=spec.powered_off)
            if tagged:
                other = tagged[0][1]
                # Same name in the shared folder, and its datastore folder is that VM's: touch
                # neither.
                raise SpawnFailed(
                    f"a VM tagged as server {sid} exists but is not ours ({other.value}: not "
                    f"tagged with host id {self.host_id}); refusing to make a second one"
                )
            virtual = spec.image.ref.virtual_size or spec.image.size
            need = max(spec.disk_gb * GIB, virtual) + virtual
            datastore = self._pick_datastore(conn, place, need)
            base = self._ensure_base(conn, place, datastore, spec.image)
        try:
            port = self._vnc.take(sid)
        except NoFreePort as e:
            raise SpawnFailed(str(e), retryable=True) from e
        created: vim.VirtualMachine | None = None
        try:
            with self._using(bindings), self._guard(conn, spawning=True):
                disk = self._copy_disk(conn, place, datastore, base, spec, sid)
                plan = specs.VmPlan(
                    server_id=sid,
                    display_name=spec.name,
                    datastore=datastore,
                    directory=sid,
                    disk_file=disk,
                    disk_capacity_kb=base.capacity // 1024,
                    vcpus=spec.vcpus,
                    memory_mb=spec.memory_mb,
                    adapter=adapter,
                    guest_id=self._guest_id(spec),
                    vnc_port=port,
                    # Known to nobody: the ESXi VNC server accepts no one without it.
                    vnc_password=specs.new_vnc_password(),
                    extra_config=extra,
                    host_id=self.host_id,
                    serial_log=f"{sid}/{SERIAL_LOG}",
                    provisioning=provisioning,
                )
                config = specs.vm_config_spec(plan)
                if bindings and self._net is not None:
                    groups = self._groups(conn, place)
                    config.deviceChange.extend(self._net.nic_specs(groups, bindings, nic_model))
                task = place.folder.CreateVM_Task(config=config, pool=place.resource_pool)
                created = self._wait(conn, task)
                want_kb = spec.disk_gb * GIB // 1024
                if want_kb > plan.disk_capacity_kb:
                    self._grow_disk(conn, created, want_kb)
                if spec.powered_off:  # a stopped server evacuated: made, never started
                    props = retrieve_one(conn.content, created, _RUNTIME_PATHS)
                else:
                    _, props = wait_task_then_read(
                        conn.content,
                        created.PowerOnVM_Task(),
                        created,
                        _RUNTIME_PATHS,
                        timeout=self.options.task_timeout_s,
                    )
                rec = None
                if props is not None:
                    host = self._host_name(conn, props.get("runtime.host"), sid)
                    rec = self._register(conn, sid, created, props, host, port)
            if rec is None:
                raise SpawnFailed(f"VM {sid} vanished right after it was created", retryable=True)
            log.info(
                "spawned",
                server_id=sid,
                vm=created._moId,
                esxi_host=rec.host,
                datastore=datastore,
                vnc_port=port,
                ports=len(bindings),
            )
            if self._net is not None:
                self._net.report(bindings, active=True)
            return self._instance(rec)
        except BaseException as e:
            if not (isinstance(e, HypervisorUnavailable) or is_connection_error(e)):
                self._cleanup(conn, place, sid, created, datastore)
                if bindings:
                    self._tidy_port_groups(conn, place)
            self._vnc.give_back(sid)
            self._unregister(sid)
            if self._net is not None and isinstance(e, Exception):
                self._net.report(bindings, active=False, message=str(e))
            raise

    def _ensure_running(
        self, conn: Conn, sid: str, vm: vim.VirtualMachine, *, leave_off: bool = False
    ) -> Instance:
        """The VM started unless it runs, or (``leave_off``: to stay stopped) as it is."""
        rec = self._observe(conn, sid, vm)
        if rec is None:
            raise SpawnFailed(f"VM {sid} vanished", retryable=True)
        if rec.power != PowerState.RUNNING and not leave_off:
            self._power(conn, vm, on=True)
            rec = self._observe(conn, sid, vm) or rec
        return self._instance(rec)

    def _copy_disk(
        self, conn: Conn, place: Placement, datastore: str, base: BaseDisk, spec: InstanceSpec,
        sid: str,
    ) -> str:  # fmt: skip
        """The server's own copy of the base disk, in its folder; returns its datastore path."""
        fm = conn.content.fileManager
        folder = specs.datastore_path(datastore, sid)
        try:
            fm.MakeDirectory(name=folder, datacenter=place.datacenter, createParentDirectories=True)
        except vim.fault.FileAlreadyExists:
            # Left by a spawn that died half way (no VM carries the tag): start clean.
            self._delete_path(conn, place, folder)
            fm.MakeDirectory(name=folder, datacenter=place.datacenter, createParentDirectories=True)
        disk = f"{sid}/{sid}.vmdk"
        for attempt in (1, 2):
            try:
                self._wait(
                    conn,
                    conn.content.virtualDiskManager.CopyVirtualDisk_Task(
                        sourceName=base.datastore_path,
                        sourceDatacenter=place.datacenter,
                        destName=specs.datastore_path(datastore, disk),
                        destDatacenter=place.datacenter,
                        force=True,
                    ),
                )
                return disk
            except (vim.fault.FileNotFound, vim.fault.CannotAccessFile):
                if attempt == 2:
                    raise
                # The cached base was removed behind our back: upload it again, once.
                log.warning("image base disk missing, uploading again", path=base.datastore_path)
                self.images.forget(datastore)
                base = self._ensure_base(conn, place, datastore, spec.image)
        raise AssertionError("unreachable")

    def _ensure_base(
        self, conn: Conn, place: Placement, datastore: str, image: LocalImage
    ) -> BaseDisk:
        """The image's base disk on ``datastore``, uploaded if it is not there."""
        return self.images.ensure(
            self._http(conn),
            place.datacenter_path,
            datastore,
            image,
            specs.normalize_adapter(image.ref.vmware_adaptertype),
            thin=root_provisioning(image.rendition.vmware_disktype).thin,
        )

    def _grow_disk(self, conn: Conn, vm: vim.VirtualMachine, capacity_kb: int) -> None:
        props = retrieve_one(conn.content, vm, ["config.hardware.device"]) or {}
        disks = [
            d
            for d in props.get("config.hardware.device") or ()
            if isinstance(d, vim.vm.device.VirtualDisk)
        ]
        if not disks:
            raise SpawnFailed("the new VM has no disk to grow")
        self._wait(conn, vm.ReconfigVM_Task(spec=specs.grow_disk_spec(disks[0], capacity_kb)))

    def _cleanup(
        self,
        conn: Conn,
        place: Placement,
        sid: str,
        vm: vim.VirtualMachine | None,
        datastore: str,
    ) -> None:
        """Remove what a failed spawn made (best effort: the failure is what we report)."""
        try:
            if vm is not None:
                self._destroy_vm(conn, vm)
            self._delete_path(conn, place, specs.datastore_path(datastore, sid))
        except Exception as e:
            log.warning("cleaning up a failed spawn failed", server_id=sid, error=fault_text(e))

    # ------------------------------------------------------------------ Driver: destroy

    def _delete_path(self, conn: Conn, place: Placement, path: str) -> None:
        """Delete a datastore file or folder; already gone is fine."""
        try:
            self._wait(
                conn,
                conn.content.fileManager.DeleteDatastoreFile_Task(
                    name=path, datacenter=place.datacenter
                ),
            )
        except (vim.fault.FileNotFound, vim.fault.CannotDeleteFile) as e:
            if isinstance(e, vim.fault.CannotDeleteFile):
                log.debug("nothing to delete", path=path)

    def _destroy_vm(self, conn: Conn, vm: vim.VirtualMachine) -> None:
        try:
            self._power(conn, vm, on=False)
            self._release_volumes(conn, vm)
            self._wait(conn, vm.Destroy_Task())
        except vmodl.fault.ManagedObjectNotFound:
            return

    def _release_volumes(self, conn: Conn, vm: vim.VirtualMachine) -> None:
        """Remove the VM's volume disks, keeping their files: Destroy_Task deletes the file of
        every disk the VM still has, and a volume outlives its server. Whatever this driver
        is configured for now: the volumes may have been attached before."""
        props = retrieve_one(conn.content, vm, ["config.hardware.device", "config.extraConfig"])
        devices = (props or {}).get("config.hardware.device") or ()
        spec, files = release_all_spec(devices, _extra(props or {}))
        if spec is not None:
            self._wait(conn, vm.ReconfigVM_Task(spec=spec))
            log.info("volumes detached before the VM is destroyed", vm=vm._moId, files=files)

    def destroy(self, server_id: str) -> None:
        conn, place = self._ready()
        with self._guard(conn):
            vm = self._find(conn, place, server_id)
            stores: list[str] = []
            if vm is not None:
                props = retrieve_one(conn.content, vm, ["config.files.vmPathName"]) or {}
                path = props.get("config.files.vmPathName")
                if path:
                    stores.append(specs.split_datastore_path(str(path))[0])
                self._destroy_vm(conn, vm)
            elif (other := self._not_ours(conn, place, server_id)) is not None:
                # Nothing of ours; the datastore folder named after it is that VM's.
                log.warning(
                    "destroy: the VM tagged with this server id is not ours; left alone",
                    server_id=server_id,
                    owner=other.value,
                )
                self._unregister(server_id)
                return
            if not stores:
                stores = [d.name for d in self._datastores(conn, place)]
            for ds in stores:
                self._delete_path(conn, place, specs.datastore_path(ds, server_id))
        self._tidy_port_groups(conn, place)
        self._unregister(server_id)
        log.info("destroyed", server_id=server_id, existed=vm is not None)
