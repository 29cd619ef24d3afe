"""The driver's shared state: the session, the placement, the VMs it knows; what every verb uses."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pyVmomi import vim, vmodl

from polyvisor.agent_vmware import specs
from polyvisor.agent_vmware.datastore_http import DatastoreHttp
from polyvisor.agent_vmware.faults import classify, fault_text, is_connection_error
from polyvisor.agent_vmware.image_store import DatastoreImages
from polyvisor.agent_vmware.inventory import Placement, resolve
from polyvisor.agent_vmware.net.plane import NetworkPlane
from polyvisor.agent_vmware.options import VmwareOptions
from polyvisor.agent_vmware.ownership import Ownership
from polyvisor.agent_vmware.peers import announce
from polyvisor.agent_vmware.props import retrieve, retrieve_one, traversal_to
from polyvisor.agent_vmware.report import (
    DatastoreFacts,
)
from polyvisor.agent_vmware.session import Conn, Session
from polyvisor.agent_vmware.tasks import wait_task
from polyvisor.agent_vmware.watcher import VmWatcher
from polyvisor.agentkit.driver import (
    DriverError,
    HostInfo,
    HypervisorUnavailable,
    InstanceChange,
    PowerState,
)
from polyvisor.agentkit.vnc_ports import VncPorts
from polyvisor.common.logging import get_logger

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


class DriverCore:
    """The session, the cluster's placement, and the plumbing every verb uses."""

    def __init__(self, options: VmwareOptions) -> None:
        self.options = options
        self._session = Session(options)
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
        self._vnc = VncPorts((options.vnc_port_min, options.vnc_port_max), rotate=True)
        self.images = DatastoreImages(options)
        self._emitters: list[Callable[[InstanceChange], None]] = []
        self._watcher: VmWatcher | None = None
        self._closed = False
        self._net: NetworkPlane | None = None
        # server id -> (its relocation task once started, abort asked): live migrations here
        self._motions: dict[str, tuple[Any, threading.Event]] = {}

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
                self._announce(conn, place)
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

    def _announce(self, conn: Conn, place: Placement) -> None:
        """Say on our cluster which host id drives it, so that a peer handing a VM over to us
        finds it (``peers``); without the privilege to, moves to us are what fails."""
        try:
            announce(conn.content, place.cluster, self._host_id, self.options.folder_path)
        except vmodl.MethodFault as e:
            log.warning("could not announce this agent on its cluster", error=fault_text(e))

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

    def _power(self, conn: Conn, vm: vim.VirtualMachine, *, on: bool) -> None:
        try:
            self._wait(conn, vm.PowerOnVM_Task() if on else vm.PowerOffVM_Task())
        except vim.fault.InvalidPowerState:
            pass  # already there
