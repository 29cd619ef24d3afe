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

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pyVmomi import vim, vmodl

from polyvisor.agent_vmware import specs
from polyvisor.agent_vmware.datastore_http import DatastoreHttp
from polyvisor.agent_vmware.faults import classify, fault_text, is_connection_error
from polyvisor.agent_vmware.guestinfo import guestinfo_options
from polyvisor.agent_vmware.image_store import BaseDisk, DatastoreImages
from polyvisor.agent_vmware.inventory import Placement, cluster_datastores, read_cluster, resolve
from polyvisor.agent_vmware.net.model import PortBinding
from polyvisor.agent_vmware.net.nics import port_key
from polyvisor.agent_vmware.net.plane import NetworkPlane
from polyvisor.agent_vmware.net.portgroups import PortGroups
from polyvisor.agent_vmware.net.source import BindingSource
from polyvisor.agent_vmware.options import VmwareOptions
from polyvisor.agent_vmware.ownership import Owner, Ownership
from polyvisor.agent_vmware.props import container_view, retrieve, retrieve_one, traversal_to
from polyvisor.agent_vmware.report import (
    DISK_FORMATS,
    DatastoreFacts,
    cluster_host_info,
    disconnected_host_info,
)
from polyvisor.agent_vmware.session import Conn, Session
from polyvisor.agent_vmware.tasks import wait_task, wait_task_then_read
from polyvisor.agent_vmware.vnc_ports import VncPorts, VncPortsExhausted
from polyvisor.agent_vmware.watcher import Batch, VmWatcher
from polyvisor.agentkit.capabilities import capabilities_of
from polyvisor.agentkit.disk_capabilities import DiskSnapshot
from polyvisor.agentkit.driver import (
    Console,
    DriverError,
    HostInfo,
    HypervisorUnavailable,
    Instance,
    InstanceChange,
    InstanceNotFound,
    InstanceSpec,
    LocalImage,
    PowerState,
    SpawnFailed,
    Unsubscribe,
)
from polyvisor.common.logging import get_logger

__all__ = ["VmwareDriver", "power_state_of"]

log = get_logger(__name__)

GIB = 1 << 30
_STORES_TTL_S = 10.0
# The name of the temporary VM snapshot a snapshot to image takes (then removes).
_SNAPSHOT_PREFIX = "polyvisor-image-"
_VM_PATHS = (
    "name",
    "runtime.powerState",
    "runtime.host",
    "runtime.connectionState",
    "config.extraConfig",
)
_RUNTIME_PATHS = ("runtime.powerState", "runtime.host", "runtime.connectionState")
_GUEST_IDS = {
    ("linux", "x86_64"): "otherLinux64Guest",
    ("linux", "i686"): "otherLinuxGuest",
    ("windows", "x86_64"): "windows9Server64Guest",
    ("windows", "i686"): "windows9Guest",
}


def power_state_of(power: Any, connection: Any = "connected") -> PowerState:
    """A VM's power state as the driver reports it; UNKNOWN when vCenter cannot vouch for it."""
    if connection not in (None, "connected"):
        return PowerState.UNKNOWN  # host disconnected, VM orphaned or inaccessible
    return {
        "poweredOn": PowerState.RUNNING,
        "poweredOff": PowerState.SHUTDOWN,
        "suspended": PowerState.SUSPENDED,
    }.get(str(power), PowerState.NOSTATE)


def _extra(props: dict[str, Any]) -> dict[str, str]:
    return {str(o.key): str(o.value) for o in props.get("config.extraConfig") or ()}


def _vnc_port(props: dict[str, Any]) -> int:
    try:
        return int(_extra(props).get(specs.VNC_PORT_KEY, "0"))
    except ValueError:
        return 0


@dataclass(slots=True)
class _Vm:
    server_id: str
    vm: vim.VirtualMachine
    generation: int  # session generation the moref was seen in
    vs_power: str  # runtime.powerState as vCenter said it
    vs_connection: str  # runtime.connectionState
    host: str = ""  # ESXi host name
    vnc_port: int = 0
    epoch: int = 0
    stale: bool = False  # vCenter unreachable since we saw it

    @property
    def power(self) -> PowerState:
        if self.stale:
            return PowerState.UNKNOWN
        return power_state_of(self.vs_power, self.vs_connection)


class VmwareDriver:
    """Driver for one vCenter cluster. ``start()`` begins connecting; verbs then block."""

    def __init__(self, options: VmwareOptions) -> None:
        self.options = options
        self._session = Session(options)
        self._session.add_listener(self._on_session)
        self._lock = threading.RLock()
        self._resolve_lock = threading.Lock()
        self._place: Placement | None = None
        self._host_id = options.host_id
        self._owners = Ownership(options.host_id)
        self._vms: dict[str, _Vm] = {}
        self._by_moref: dict[str, str] = {}
        # ESXi host moref -> (name, in our cluster), this generation
        self._hosts: dict[str, tuple[str, bool]] = {}
        self._foreign: set[str] = set()  # morefs of VMs seen not to be ours, this generation
        self._outside_warned: set[tuple[str, str]] = set()  # (server id, ESXi host name)
        self._epoch = 0
        self._last_report: HostInfo | None = None
        self._stores: tuple[int, float, list[DatastoreFacts]] | None = None
        self._vnc = VncPorts(options.vnc_port_min, options.vnc_port_max)
        self.images = DatastoreImages(options)
        self._emitters: list[Callable[[InstanceChange], None]] = []
        self._watcher: VmWatcher | None = None
        self._closed = False
        self._net: NetworkPlane | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self, wait: float | None = None) -> None:
        """Start connecting (in the background); with ``wait``, block until connected."""
        self._session.start()
        if wait is not None and self._session.wait_connected(wait) is None:
            raise HypervisorUnavailable(
                f"could not connect to vCenter within {wait:.0f}s: {self._session.last_error}"
            )

    @property
    def session(self) -> Session:
        return self._session

    @property
    def connected(self) -> bool:
        return self._session.connected

    @property
    def vnc_ports(self) -> VncPorts:
        return self._vnc

    @property
    def host_id(self) -> str:
        """``<vCenter instanceUuid>:<cluster moref>`` unless configured; needs one connection."""
        if not self._host_id:
            self._ready()
        return self._host_id

    def refresh(self) -> None:
        """Read again what another replica may have changed while we stood by: the VNC ports
        VMs hold, the datastores, the base disks on them. Called when we take the lease."""
        conn, place = self._ready()
        with self._guard(conn):
            self._seed(conn, place)
        self.images.forget_all()
        with self._lock:
            self._stores = None

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.close()
        self._session.close()

    # ------------------------------------------------------------------ plumbing

    def _ready(self) -> tuple[Conn, Placement]:
        """The live session and our place in its inventory (resolved once per generation)."""
        if self._closed:
            raise HypervisorUnavailable("driver closed")
        conn = self._session.current()
        with self._lock:
            place = self._place
        if place is not None and place.generation == conn.generation:
            return conn, place
        with self._resolve_lock:
            with self._lock:
                place = self._place
            if place is not None and place.generation == conn.generation:
                return conn, place
            with self._guard(conn):
                place = resolve(conn.content, self.options, conn.generation)
                with self._lock:
                    if not self._host_id:
                        self._host_id = f"{place.instance_uuid}:{place.cluster_moref}"
                        self._owners.host_id = self._host_id
                self._seed(conn, place)
            with self._lock:
                self._place = place
            log.info(
                "vcenter inventory resolved",
                cluster=place.cluster_name,
                cluster_moref=place.cluster_moref,
                datacenter=place.datacenter_path,
                generation=conn.generation,
            )
            return conn, place

    @contextmanager
    def _guard(self, conn: Conn, *, spawning: bool = False) -> Iterator[None]:
        """Map whatever pyvmomi raises; a dead connection also resets the session."""
        try:
            yield
        except DriverError:
            raise
        except Exception as e:
            if is_connection_error(e):
                self._session.broken(conn.generation, e)
            if isinstance(e, (vmodl.MethodFault, OSError)) or is_connection_error(e):
                raise classify(e, spawning=spawning) from e
            raise

    def _seed(self, conn: Conn, place: Placement) -> None:
        """Per generation: our ESXi hosts, and the VNC ports the VMs running on them hold (any
        VM's port is taken, since ESXi serves it; only ours are held in our server's name)."""
        hosts = traversal_to(
            conn.content, place.cluster, "host", vim.ClusterComputeResource, vim.HostSystem,
            ["name", "vm"],
        )  # fmt: skip
        names = {h._moId: (str(p.get("name", "")), True) for h, p in hosts}
        vms = [vm for _, p in hosts for vm in (p.get("vm") or ())]
        used: list[tuple[int, str]] = []
        for vm, p in retrieve(conn.content, vms, vim.VirtualMachine, ["config.extraConfig"]):
            extra = _extra(p)
            try:
                port = int(extra.get(specs.VNC_PORT_KEY, "0"))
            except ValueError:
                continue
            if port:
                used.append((port, self._owners.ours(extra, vm=vm._moId)))
        with self._lock:
            self._hosts = names
            self._foreign = set()
            self._vnc.reset(used)

    def _host_name(self, conn: Conn, host: Any, sid: str = "") -> str:
        """The name of ESXi host ``host``; warns once when our VM ``sid`` runs outside our
        cluster (moved by an admin: still ours, reported where it runs, never destroyed)."""
        if host is None:
            return ""
        with self._lock:
            known = self._hosts.get(host._moId)
            place = self._place
        if known is None:
            props = retrieve_one(conn.content, host, ["name", "parent"]) or {}
            parent = props.get("parent")
            inside = place is None or (parent is not None and parent._moId == place.cluster._moId)
            known = (str(props.get("name", "")), inside)
            with self._lock:
                self._hosts[host._moId] = known
        name, inside = known
        if sid and not inside:
            with self._lock:
                first = (sid, name) not in self._outside_warned
                self._outside_warned.add((sid, name))
            if first:
                log.warning(
                    "VM of ours runs on an ESXi host outside our cluster: still ours, "
                    "reported where it runs",
                    server_id=sid,
                    esxi_host=name,
                    cluster=self.options.cluster_name,
                )
        return name

    def _http(self, conn: Conn) -> DatastoreHttp:
        return DatastoreHttp(self.options, str(getattr(conn.si._stub, "cookie", "") or ""))

    def _wait(self, conn: Conn, task: vim.Task) -> Any:
        return wait_task(conn.content, task, timeout=self.options.task_timeout_s)

    # ------------------------------------------------------------------ registry

    def _register(
        self,
        conn: Conn,
        sid: str,
        vm: vim.VirtualMachine,
        props: dict[str, Any],
        host: str,
        port: int = 0,
    ) -> _Vm:
        """Record what vCenter just told us about ``sid`` (``props``: the _VM_PATHS read)."""
        with self._lock:
            self._epoch += 1
            old = self._vms.get(sid)
            if old is not None and old.vm._moId != vm._moId:
                self._by_moref.pop(old.vm._moId, None)
            same = (
                old is not None and old.generation == conn.generation and old.vm._moId == vm._moId
            )
            rec = _Vm(
                server_id=sid,
                vm=vm,
                generation=conn.generation,
                vs_power=str(props.get("runtime.powerState", old.vs_power if same else "")),
                vs_connection=str(
                    props.get("runtime.connectionState", old.vs_connection if same else "connected")
                ),
                host=host,
                vnc_port=port or (old.vnc_port if old else 0),
                epoch=self._epoch,
            )
            self._vms[sid] = rec
            self._by_moref[vm._moId] = sid
            if rec.vnc_port:
                self._vnc.claim(rec.vnc_port, sid)
            return rec

    def _unregister(self, sid: str) -> None:
        with self._lock:
            rec = self._vms.pop(sid, None)
            if rec is not None:
                self._by_moref.pop(rec.vm._moId, None)
            self._vnc.release(sid)

    def _instance(self, rec: _Vm) -> Instance:
        # The name is the VM's name in vCenter, which is the server id (see specs), so it
        # reads the same after a spawn as after any later observation.
        return Instance(
            server_id=rec.server_id,
            power_state=rec.power,
            name=rec.server_id,
            member_host=rec.host,
            console=Console("vnc", rec.host, rec.vnc_port) if rec.vnc_port and rec.host else None,
        )

    def _observe(self, conn: Conn, sid: str, vm: vim.VirtualMachine) -> _Vm | None:
        """Read ``vm``'s runtime now and record it; None when it is gone."""
        with self._lock:
            rec = self._vms.get(sid)
            known_port = rec.vnc_port if rec is not None and rec.vm._moId == vm._moId else 0
        # The VNC port never changes once set: only a VM we have not seen yet needs its config.
        props = retrieve_one(conn.content, vm, _VM_PATHS if not known_port else _RUNTIME_PATHS)
        if props is None:
            return None
        host = self._host_name(conn, props.get("runtime.host"), sid)
        return self._register(conn, sid, vm, props, host, known_port or _vnc_port(props))

    def _find(self, conn: Conn, place: Placement, sid: str) -> vim.VirtualMachine | None:
        """Our VM tagged with ``sid``, looked up as cheaply as vCenter allows."""
        with self._lock:
            rec = self._vms.get(sid)
        if rec is not None and rec.generation == conn.generation:
            if retrieve_one(conn.content, rec.vm, ["name"]) is not None:
                return rec.vm
        for vm, owner in self._tagged(conn, place, sid):
            if owner is Owner.US:
                return vm
        return None

    def _tagged(
        self, conn: Conn, place: Placement, sid: str, *, thorough: bool = False
    ) -> list[tuple[vim.VirtualMachine, Owner]]:
        """The VMs tagged with server id ``sid`` (ours or not), and whose each is.

        ``thorough``: also a VM named ``sid`` in our folder whose instanceUuid is not ``sid``
        (made by hand, or by another tool): before making a VM of that name or deleting its
        datastore folder."""
        index = conn.content.searchIndex
        candidates = []
        instance_uuid = specs.as_instance_uuid(sid)
        if instance_uuid is not None:
            # We set the instanceUuid of every VM whose id is a UUID: one indexed lookup.
            found = index.FindByUuid(place.datacenter, instance_uuid, True, True)
            if found is not None:
                candidates.append(found)
        if instance_uuid is None or (thorough and not candidates):
            child = index.FindChild(place.folder, sid)
            if isinstance(child, vim.VirtualMachine):
                candidates.append(child)
        found = []
        for vm in candidates:
            props = retrieve_one(conn.content, vm, ["config.extraConfig"])
            extra = _extra(props) if props is not None else {}
            if extra.get(specs.TAG_KEY) == sid:
                found.append((vm, self._owners.owner(extra)))
        return found

    def _not_ours(self, conn: Conn, place: Placement, sid: str) -> Owner | None:
        """Whose VM tagged ``sid`` is, when one exists but is not ours (else None)."""
        owners = [o for _, o in self._tagged(conn, place, sid, thorough=True)]
        return None if not owners or Owner.US in owners else owners[0]

    def _require(self, conn: Conn, place: Placement, sid: str) -> vim.VirtualMachine:
        vm = self._find(conn, place, sid)
        if vm is None:
            self._unregister(sid)
            raise InstanceNotFound(f"no VM tagged {sid} in cluster {place.cluster_name}")
        return vm

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

    def list_instances(self) -> list[Instance]:
        # Not "no VMs" while disconnected: _ready raises HypervisorUnavailable. The watch has
        # already said UNKNOWN for each VM we know; the reconciler must not read absence.
        conn, place = self._ready()
        with self._lock:
            epoch = self._epoch  # what is registered after this is newer than our picture
        with self._guard(conn):
            rows = container_view(conn.content, place.folder, vim.VirtualMachine, _VM_PATHS)
            found: list[Instance] = []
            for vm, props in rows:
                sid = self._owners.ours(_extra(props), vm=vm._moId)
                if not sid:
                    continue  # another cluster's agent's VM in the shared folder, or no one's
                with self._lock:
                    newer = self._vms.get(sid)
                if newer is not None and newer.epoch > epoch and newer.vm._moId == vm._moId:
                    found.append(self._instance(newer))
                    continue
                host = self._host_name(conn, props.get("runtime.host"), sid)
                rec = self._register(conn, sid, vm, props, host, _vnc_port(props))
                found.append(self._instance(rec))
        seen = {i.server_id for i in found}
        with self._lock:
            gone = [s for s, rec in self._vms.items() if s not in seen and rec.epoch <= epoch]
        for sid in gone:  # (a spawn that finished meanwhile is not "gone")
            self._unregister(sid)
        return found

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
        if spec.image.rendition not in DISK_FORMATS:
            r = spec.image.rendition
            raise SpawnFailed(
                f"a cluster boots vmdk renditions (streamOptimized, sparse, preallocated), "
                f"got {r.disk_format} {r.vmware_disktype}".rstrip()
            )

        conn, place = self._ready()
        with self._guard(conn, spawning=True):
            tagged = self._tagged(conn, place, sid, thorough=True)
            existing = next((vm for vm, owner in tagged if owner is Owner.US), None)
            if existing is not None:
                return self._ensure_running(conn, sid, existing)
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
            base = self.images.ensure(
                self._http(conn), place.datacenter_path, datastore, spec.image, adapter
            )
        try:
            port = self._vnc.allocate(sid)
        except VncPortsExhausted as e:
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
            self._vnc.release(sid)
            self._unregister(sid)
            if self._net is not None and isinstance(e, Exception):
                self._net.report(bindings, active=False, message=str(e))
            raise

    def _ensure_running(self, conn: Conn, sid: str, vm: vim.VirtualMachine) -> Instance:
        rec = self._observe(conn, sid, vm)
        if rec is None:
            raise SpawnFailed(f"VM {sid} vanished", retryable=True)
        if rec.power != PowerState.RUNNING:
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
                base = self.images.ensure(
                    self._http(conn),
                    place.datacenter_path,
                    datastore,
                    spec.image,
                    specs.normalize_adapter(spec.image.ref.vmware_adaptertype),
                )
        raise AssertionError("unreachable")

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
            self._wait(conn, vm.Destroy_Task())
        except vmodl.fault.ManagedObjectNotFound:
            return

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

    # ------------------------------------------------------------------ Driver: power

    def _power(self, conn: Conn, vm: vim.VirtualMachine, *, on: bool) -> None:
        try:
            self._wait(conn, vm.PowerOnVM_Task() if on else vm.PowerOffVM_Task())
        except vim.fault.InvalidPowerState:
            pass  # already there

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

    def rebuild(self, server_id: str, image: LocalImage, disk_gb: int) -> Instance:
        """The VM keeps its identity (moref, NICs, VNC port); its disk is a new copy of the
        image's base disk, grown to the flavor; then it runs."""
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
            adapter = specs.normalize_adapter(image.ref.vmware_adaptertype)
            base = self.images.ensure(
                self._http(conn), place.datacenter_path, datastore, image, adapter
            )
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
            self._power(conn, vm, on=True)
            rec = self._observe(conn, server_id, vm)
        if rec is None:
            raise InstanceNotFound(f"VM {server_id} vanished")
        log.info("rebuilt", server_id=server_id, image_id=image.ref.image_id, disk=path)
        return self._instance(rec)

    # ------------------------------------------------------------------ Driver: watch

    def watch(self, emit: Callable[[InstanceChange], None]) -> Unsubscribe:
        with self._lock:
            self._emitters.append(emit)
            if self._watcher is None and not self._closed:
                self._watcher = VmWatcher(
                    self._session,
                    self._ready,
                    self._on_batch,
                    lambda: self._epoch,
                    self.options.watch_wait_s,
                    overdue_s=self.options.probe_timeout_s,
                )
                self._watcher.start()

        def unsubscribe() -> None:
            with self._lock:
                if emit in self._emitters:
                    self._emitters.remove(emit)
                watcher = self._watcher if not self._emitters else None
                if watcher is not None:
                    self._watcher = None
            if watcher is not None:
                watcher.close()

        return unsubscribe

    def _emit(self, changes: list[InstanceChange]) -> None:
        with self._lock:
            emitters = list(self._emitters)
        for change in changes:
            for emit in emitters:
                try:
                    emit(change)
                except Exception:
                    log.exception("emitting an instance change failed", server_id=change.server_id)

    def _on_session(self, connected: bool, generation: int) -> None:
        if connected:
            self.images.forget_all()  # a rebuilt vCenter may have lost the datastore files
            return
        with self._lock:
            for rec in self._vms.values():
                rec.stale = True
            changes = [
                InstanceChange(sid, PowerState.UNKNOWN, rec.host) for sid, rec in self._vms.items()
            ]
        self._emit(changes)

    def _on_batch(self, batch: Batch) -> None:
        try:
            conn = self._session.current()
        except HypervisorUnavailable:
            return
        if conn.generation != batch.generation:
            return
        # What the batch says is as old as the question: never newer than a verb's answer
        # that ended after it was asked (the runtime looks again instead).
        seen = batch.observed_at
        out: list[InstanceChange] = []
        with self._guard(conn):
            current = self._by_moref_current(conn)
            with self._lock:
                foreign = set(self._foreign)
            unknown = [
                c.vm
                for c in batch.changes
                if c.kind != "leave" and c.vm._moId not in current and c.vm._moId not in foreign
            ]
            tags: dict[str, str] = {}
            not_ours: set[str] = set()
            for vm, props in retrieve(conn.content, unknown, vim.VirtualMachine, _VM_PATHS):
                extra = _extra(props)
                sid: str | None = self._owners.ours(extra, vm=vm._moId)
                if sid:
                    tags[vm._moId] = sid
                elif self._owners.owner(extra) is not Owner.NOBODY:
                    # Tagged, and not ours: skip it from now on. A VM without our tags yet
                    # may be one of our spawns half made (its extraConfig still empty):
                    # looked at again on its next change.
                    not_ours.add(vm._moId)
            with self._lock:
                self._foreign |= not_ours
                self._foreign -= {c.vm._moId for c in batch.changes if c.kind == "leave"}
            present: set[str] = set()
            for change in batch.changes:
                moref = change.vm._moId
                with self._lock:
                    sid = self._by_moref.get(moref) if moref not in tags else tags[moref]
                    rec = self._vms.get(sid) if sid else None
                if not sid:
                    continue
                if change.kind == "leave":
                    if rec is not None and rec.vm._moId == moref:
                        self._unregister(sid)
                        out.append(
                            InstanceChange(
                                sid, PowerState.NOSTATE, rec.host, vanished=True, observed_at=seen
                            )
                        )
                    continue
                present.add(sid)
                props = change.props
                host = rec.host if rec is not None else ""
                if "runtime.host" in props:
                    host = self._host_name(conn, props["runtime.host"], sid)
                before = rec.power if rec is not None else None
                new = self._register(conn, sid, change.vm, props, host)
                if batch.initial or before != new.power or rec is None or rec.host != host:
                    out.append(InstanceChange(sid, new.power, host, observed_at=seen))
            if batch.initial:
                with self._lock:
                    gone = [
                        rec for sid, rec in self._vms.items()
                        if sid not in present and rec.epoch <= batch.epoch
                    ]  # fmt: skip
                for rec in gone:
                    self._unregister(rec.server_id)
                    sid = rec.server_id
                    out.append(InstanceChange(sid, PowerState.NOSTATE, rec.host, True, seen))
        self._emit(out)

    def _by_moref_current(self, conn: Conn) -> set[str]:
        with self._lock:
            return {
                moref
                for moref, sid in self._by_moref.items()
                if (rec := self._vms.get(sid)) is not None and rec.generation == conn.generation
            }
