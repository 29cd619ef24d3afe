"""The agent's hold on libvirt: one connection (opened lazily, reopened when it dies), the host's
capabilities, and the lookup of *our* domains (named ``polyvisor-<server id>`` and tagged with
the server id and our host id in their <metadata>; any other domain is never touched).

``LibvirtHost`` is the base every group of driver verbs builds on (``libvirt_spawn``,
``libvirt_power``, ``libvirt_disk``); ``libvirt_driver.LibvirtDriver`` puts them together.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import libvirt

from polyvisor.agent_kvm.capabilities import HostCapabilities, parse_capabilities
from polyvisor.agent_kvm.domain_xml import (
    METADATA_NS,
    NAME_PREFIX,
    DomainTag,
    Interface,
    domain_name,
    parse_domain_xml,
    parse_metadata,
)
from polyvisor.agent_kvm.libvirt_errors import is_no_domain, mapped_errors, to_driver_error
from polyvisor.agent_kvm.libvirt_events import EventLoop
from polyvisor.agent_kvm.lifecycle import LifecycleWatcher, power_of
from polyvisor.agentkit.driver import (
    Console,
    DriverError,
    HypervisorUnavailable,
    Instance,
    InstanceNotFound,
)
from polyvisor.agentkit.vnc_ports import VncPorts
from polyvisor.common.logging import get_logger

__all__ = ["GiB", "LibvirtConfig", "LibvirtHost", "PortHook", "inside", "make_traversable"]

log = get_logger(__name__)

GiB = 1024**3


class PortHook(Protocol):
    """The network data plane as the (blocking) driver sees it."""

    def plug_for(self, server_id: str) -> tuple[tuple[Interface, ...], Mapping[str, Any]]: ...

    def unplug_for(self, server_id: str) -> None: ...

    def plug_port(self, server_id: str, port_id: str) -> Interface: ...

    def unplug_port(self, port_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class MigrationPeer:
    """Another KVM host this one moves servers to (and takes them back from)."""

    host_id: str
    uri: str  # its libvirtd, as this host's libvirtd reaches it
    instances_dir: Path  # its instance directories' parent
    # The address its QEMU listens on for the migration stream ("": its hostname).
    address: str = ""


@dataclass(frozen=True, slots=True)
class LibvirtConfig:
    uri: str
    virt_type: str  # kvm or qemu
    instances_dir: Path
    host_id: str  # tags our domains; also the hostname the report shows
    vnc_listen: str = "127.0.0.1"
    vnc_port_range: tuple[int, int] = (5900, 6000)
    disk_mode: str = "overlay"  # or "copy", or "rbd" (rbd_disks; the rbd_* fields below)
    reserved_host_memory_mb: int = 512
    reserved_host_disk_gb: int = 0
    cpu_allocation_ratio: float = 16.0
    ram_allocation_ratio: float = 1.5
    disk_allocation_ratio: float = 1.0
    # The physical networks this host maps (reported: the scheduler places by them).
    physical_networks: tuple[str, ...] = ()
    clean_shutdown_timeout_s: float = 0.0
    rbd_conf: str = ""
    rbd_pool: str = ""
    rbd_user: str = "admin"
    rbd_keyring: str = ""
    # The hosts servers move to (migrate.py), and the migration stream's cap (0: none).
    migration_peers: tuple[MigrationPeer, ...] = ()
    migration_bandwidth_mib_s: int = 0


class LibvirtHost:
    """The connection, the host's capabilities and the lookup of our domains; every verb of
    the driver (the subclasses) goes through it."""

    def __init__(self, config: LibvirtConfig) -> None:
        self.config = config
        self.instances_dir = Path(config.instances_dir)
        self._conn: libvirt.virConnect | None = None
        self._conn_lock = threading.RLock()
        self._caps: HostCapabilities | None = None
        self._loop: EventLoop | None = None
        self._watcher = LifecycleWatcher(self._server_id_of_name)
        self._server_locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self._ports = VncPorts(
            config.vnc_port_range,
            listen=config.vnc_listen,
            probe=not config.uri.startswith("test:"),
        )
        self._closed = False
        self._port_hook: PortHook | None = None

    # ------------------------------------------------------------------ connection

    def open(self) -> None:
        """Connect (also done lazily by every verb); raises HypervisorUnavailable."""
        self._connection()

    def _connection(self) -> libvirt.virConnect:
        if self._closed:
            raise DriverError("driver closed")
        with self._conn_lock:
            conn = self._conn
            if conn is not None:
                try:
                    if conn.isAlive():
                        return conn
                except libvirt.libvirtError:
                    pass
                self._drop_connection()
            if self._loop is None:
                self._loop = EventLoop.acquire()
            try:
                conn = libvirt.open(self.config.uri)
            except libvirt.libvirtError as exc:
                raise HypervisorUnavailable(
                    f"cannot connect to {self.config.uri}: {exc.get_error_message() or exc}"
                ) from exc
            if not self.config.uri.startswith("test:"):
                try:
                    conn.setKeepAlive(5, 3)
                except libvirt.libvirtError:
                    pass
            self._conn = conn
            self._caps = None
            self.instances_dir.mkdir(parents=True, exist_ok=True)
            make_traversable(self.instances_dir)
            self._watcher.attach(conn)
            self._ports.reset(self._scan_ports(conn))
            log.info("libvirt connected", uri=self.config.uri)
            return conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        self._watcher.detach(conn)
        try:
            conn.close()
        except libvirt.libvirtError:
            pass

    def _scan_ports(self, conn: libvirt.virConnect) -> dict[int, str]:
        used: dict[int, str] = {}
        with mapped_errors("list domains"):
            for dom in conn.listAllDomains(0):
                try:
                    info = parse_domain_xml(dom.XMLDesc(0))
                except libvirt.libvirtError:
                    continue
                if info.vnc_port is not None:
                    used[info.vnc_port] = info.name
                if info.server_id and info.tag.host_id == self.config.host_id:
                    self._watcher.remember(info.name, info.server_id)
        return used

    def _capabilities(self) -> HostCapabilities:
        if self._caps is None:
            conn = self._connection()
            with mapped_errors("read capabilities"):
                self._caps = parse_capabilities(conn.getCapabilities())
        return self._caps

    # ------------------------------------------------------------------ lookup helpers

    def _lock_for(self, server_id: str) -> threading.Lock:
        with self._locks_lock:
            lock = self._server_locks.get(server_id)
            if lock is None:
                lock = self._server_locks[server_id] = threading.Lock()
            return lock

    def _find(self, server_id: str) -> libvirt.virDomain | None:
        """Our domain for ``server_id``, or None. A same-named domain not tagged with this
        server id is not ours: it is never touched."""
        conn = self._connection()
        try:
            dom = conn.lookupByName(domain_name(server_id))
        except libvirt.libvirtError as exc:
            if is_no_domain(exc):
                return self._find_adopted(server_id)
            raise to_driver_error(exc, f"look up server {server_id}") from exc
        if self._tag_of(dom) != DomainTag(server_id, self.config.host_id):
            raise DriverError(
                f"a domain named {domain_name(server_id)} exists but is not tagged as server "
                f"{server_id} of host {self.config.host_id}; refusing to touch it"
            )
        return dom

    def _find_adopted(self, server_id: str) -> libvirt.virDomain | None:
        """An adopted domain (``adopt``): its UUID is the server id, its name is its own."""
        try:
            dom = self._connection().lookupByUUIDString(server_id)
        except libvirt.libvirtError:
            return None  # no such domain, or the server id is not a UUID
        return dom if self._tag_of(dom) == DomainTag(server_id, self.config.host_id) else None

    def _get(self, server_id: str) -> libvirt.virDomain:
        dom = self._find(server_id)
        if dom is None:
            raise InstanceNotFound(f"no domain for server {server_id}")
        return dom

    @staticmethod
    def _tag_of(dom: libvirt.virDomain) -> DomainTag:
        try:
            return parse_metadata(dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, METADATA_NS))
        except libvirt.libvirtError:
            return DomainTag()

    def _server_id_of_name(self, name: str, dom: libvirt.virDomain) -> str:
        """The server id of one of *our* domains ("" for anyone else's)."""
        tag = self._tag_of(dom)
        if not name.startswith(NAME_PREFIX) and tag.server_id.lower() != dom.UUIDString():
            return ""  # neither named as ours nor an adopted domain (its UUID its server id)
        return tag.server_id if tag.host_id == self.config.host_id else ""

    def _instance(self, server_id: str, dom: libvirt.virDomain, *, console: bool) -> Instance:
        with mapped_errors(f"read state of server {server_id}"):
            state, _reason = dom.state(0)
            con = None
            if console:
                con = self._console_from(dom)
            return Instance(
                server_id=server_id,
                power_state=power_of(dom, state),
                name=dom.name(),
                console=con,
            )

    def _console_from(self, dom: libvirt.virDomain) -> Console | None:
        info = parse_domain_xml(dom.XMLDesc(0))
        if info.vnc_port is None:
            return None
        host = info.vnc_listen or self.config.vnc_listen
        return Console("vnc", host, info.vnc_port)

    def instance_dir(self, server_id: str) -> Path:
        safe = server_id.replace("/", "_")
        return self.instances_dir / safe

    def _ensure_running(
        self, server_id: str, dom: libvirt.virDomain, *, leave_off: bool = False
    ) -> Instance:
        """Start the domain unless it runs, or (``leave_off``: a server to stay stopped) leave
        it as it is."""
        with mapped_errors(f"start server {server_id}"):
            if not leave_off and not dom.isActive():
                dom.create()
        return self._instance(server_id, dom, console=True)

    def _alive(self) -> bool:
        conn = self._conn
        if conn is None:
            return False
        try:
            return bool(conn.isAlive())
        except libvirt.libvirtError:
            return False

    def _drop_all(self) -> None:
        """Close for good: the connection, the lifecycle watcher, the event loop."""
        if self._closed:
            return
        self._closed = True
        with self._conn_lock:
            self._drop_connection()
        self._watcher.close()
        if self._loop is not None:
            self._loop.release()
            self._loop = None


def inside(path: Path, directory: Path) -> bool:
    try:
        path.resolve().relative_to(directory.resolve())
    except ValueError:
        return False
    return True


def make_traversable(path: Path) -> None:
    """QEMU runs as another user: it must reach the files under the instances dir."""
    try:
        mode = path.stat().st_mode & 0o777
        if mode & 0o055 != 0o055:
            path.chmod(mode | 0o755)
    except OSError:
        pass
