"""The KVM driver: polyvisor.agentkit.driver.Driver over libvirt. Every verb blocks.

    driver = LibvirtDriver(LibvirtConfig(uri="qemu:///system", virt_type="kvm", ...))
    driver.open()
    instance = driver.spawn(spec)
    driver.close()

One directory per server under ``instances_dir`` holds everything a server leaves on the
host: its root disk (a qcow2 overlay on the cached base, or a raw copy), its config drive and
its serial log. The domain is named ``polyvisor-<server id>`` and carries the server id and
our host id in its <metadata>: domains without both are never listed, watched or touched. Spawn writes the files first, then defines and starts the domain; any failure
undefines the domain and deletes the directory, so nothing is left behind. Because the files
are complete before the domain exists, a spawn interrupted by a crash and run again either
finds the domain (and only makes sure it runs) or finds no domain and starts over.

``test:///default`` (libvirt's in-process test driver) runs the same code: it only differs in
its capabilities (domain type "test") and in that nothing really listens on VNC ports.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import libvirt

from polyvisor.agent_kvm.capabilities import HostCapabilities, disk_formats, parse_capabilities
from polyvisor.agent_kvm.config_drive import ConfigDrive, write_config_drive
from polyvisor.agent_kvm.disks import DiskError, create_overlay, create_raw_copy
from polyvisor.agent_kvm.domain_xml import (
    METADATA_NS,
    NAME_PREFIX,
    VIF_MODELS,
    DomainSpec,
    DomainTag,
    Interface,
    build_domain_xml,
    domain_name,
    find_interface,
    find_interface_by_tap,
    interface_models,
    interface_xml,
    new_vnc_password,
    parse_domain_xml,
    parse_metadata,
    vnc_password_xml,
)
from polyvisor.agent_kvm.libvirt_errors import is_no_domain, mapped_errors, to_driver_error
from polyvisor.agent_kvm.libvirt_events import EventLoop
from polyvisor.agent_kvm.lifecycle import LifecycleWatcher, power_of
from polyvisor.agent_kvm.net.metadata import InstanceMeta
from polyvisor.agent_kvm.net.names import tap_name
from polyvisor.agent_kvm.snapshots import (
    RootDisk,
    commit_overlay,
    copy_disk,
    root_disk,
    snapshot_xml,
)
from polyvisor.agent_kvm.vnc_ports import VncPorts
from polyvisor.agentkit.capabilities import capabilities_of
from polyvisor.agentkit.disk_capabilities import DiskSnapshot
from polyvisor.agentkit.driver import (
    Console,
    DriverError,
    Features,
    HostInfo,
    HypervisorUnavailable,
    Instance,
    InstanceChange,
    InstanceNotFound,
    InstanceSpec,
    Inventory,
    LocalImage,
    PowerState,
    SpawnFailed,
    Unsubscribe,
)
from polyvisor.common.logging import get_logger

__all__ = ["LibvirtConfig", "LibvirtDriver", "PortHook", "PortsLibvirtDriver"]

log = get_logger(__name__)

GiB = 1024**3
#: Beside the config drive: what the metadata service tells the server about itself.
INSTANCE_META = "instance.json"
# In the name of the temporary overlay that takes a running guest's writes during a snapshot.
_SNAPSHOT_OVERLAY = ".snapshot-"
_DISK_BUSES = ("virtio", "scsi", "ide", "sata", "usb")


class PortHook(Protocol):
    """The network data plane as the (blocking) driver sees it."""

    def plug_for(self, server_id: str) -> tuple[tuple[Interface, ...], Mapping[str, Any]]: ...

    def unplug_for(self, server_id: str) -> None: ...

    def plug_port(self, server_id: str, port_id: str) -> Interface: ...

    def unplug_port(self, port_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class LibvirtConfig:
    uri: str
    virt_type: str  # kvm or qemu
    instances_dir: Path
    host_id: str  # tags our domains; also the hostname the report shows
    vnc_listen: str = "127.0.0.1"
    vnc_port_range: tuple[int, int] = (5900, 6000)
    disk_mode: str = "overlay"  # or "copy"
    reserved_host_memory_mb: int = 512
    reserved_host_disk_gb: int = 0
    cpu_allocation_ratio: float = 16.0
    ram_allocation_ratio: float = 1.5
    disk_allocation_ratio: float = 1.0
    # The physical networks this host maps (reported: the scheduler places by them).
    physical_networks: tuple[str, ...] = ()
    clean_shutdown_timeout_s: float = 0.0


class LibvirtDriver:
    """Implements ``polyvisor.agentkit.driver.Driver`` with libvirt-python."""

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
            _make_traversable(self.instances_dir)
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
                return None
            raise to_driver_error(exc, f"look up server {server_id}") from exc
        if self._tag_of(dom) != DomainTag(server_id, self.config.host_id):
            raise DriverError(
                f"a domain named {domain_name(server_id)} exists but is not tagged as server "
                f"{server_id} of host {self.config.host_id}; refusing to touch it"
            )
        return dom

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
        if not name.startswith(NAME_PREFIX):
            return ""
        tag = self._tag_of(dom)
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

    # ------------------------------------------------------------------ Driver: observe

    def host_info(self) -> HostInfo:
        conn = self._connection()
        caps = self._capabilities()
        with mapped_errors("read node info"):
            _model, memory_mb, cpus, *_ = conn.getInfo()
            version = conn.getVersion()
            used_vcpus = 0
            used_mem_mb = 0
            for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE):
                try:
                    _state, max_mem_kib, _mem, nr_vcpu, _cpu_time = dom.info()
                except libvirt.libvirtError:
                    continue  # gone meanwhile
                used_vcpus += nr_vcpu
                used_mem_mb += max_mem_kib // 1024
        st = os.statvfs(self.instances_dir)
        disk_total_gb = st.f_blocks * st.f_frsize // GiB
        disk_used_gb = (st.f_blocks - st.f_bavail) * st.f_frsize // GiB
        virt = self.config.virt_type
        return HostInfo(
            hypervisor_type=virt,
            hypervisor_version=_version_string(version),
            hostname=self.config.host_id,
            connected=True,
            vcpus=Inventory(total=int(cpus), allocation_ratio=self.config.cpu_allocation_ratio),
            memory_mb=Inventory(
                total=int(memory_mb),
                reserved=min(self.config.reserved_host_memory_mb, int(memory_mb)),
                allocation_ratio=self.config.ram_allocation_ratio,
            ),
            disk_gb=Inventory(
                total=int(disk_total_gb),
                reserved=min(self.config.reserved_host_disk_gb, int(disk_total_gb)),
                allocation_ratio=self.config.disk_allocation_ratio,
            ),
            supported_instances=caps.supported_instances(virt),
            disk_formats=disk_formats(self.config.disk_mode),
            features=Features(console_types=("vnc",)),
            vnc_port_range=self.config.vnc_port_range,
            used_vcpus=used_vcpus,
            used_memory_mb=used_mem_mb,
            used_disk_gb=int(disk_used_gb),
            capabilities=capabilities_of(self),
            physical_networks=tuple(sorted(self.config.physical_networks)),
        )

    def list_instances(self) -> list[Instance]:
        conn = self._connection()
        out: list[Instance] = []
        with mapped_errors("list domains"):
            domains = conn.listAllDomains(0)
        for dom in domains:
            try:
                name = dom.name()
                server_id = self._server_id_of_name(name, dom)
                if not server_id:
                    continue  # not ours: another agent's, or no Polyvisor VM at all
                state, _ = dom.state(0)
                power = power_of(dom, state)
            except libvirt.libvirtError as exc:
                if is_no_domain(exc):
                    continue  # undefined while we listed
                raise to_driver_error(exc, "list domains") from exc
            out.append(Instance(server_id=server_id, power_state=power, name=name))
        return out

    def console(self, server_id: str) -> Console:
        dom = self._get(server_id)
        with mapped_errors(f"read console of server {server_id}"):
            con = self._console_from(dom)
        if con is None:
            raise DriverError(f"server {server_id} has no VNC console")
        return con

    def set_console_password(self, server_id: str, password: str, valid_for_s: float) -> None:
        """Give the running server's VNC server a console session's password, valid for
        `valid_for_s` seconds (QEMU then accepts no password until the next session); the
        console proxy authenticates with it. The defined domain keeps its own random one."""
        if not 1 <= len(password) <= 8 or not password.isascii() or not password.isprintable():
            raise DriverError("a VNC password is 1 to 8 printable ASCII characters")
        dom = self._get(server_id)
        with mapped_errors(f"set the console password of server {server_id}"):
            info = parse_domain_xml(dom.XMLDesc(0))
            if info.vnc_port is None:
                raise DriverError(f"server {server_id} has no VNC console")
            until = datetime.now(UTC) + timedelta(seconds=valid_for_s)
            dom.updateDeviceFlags(
                vnc_password_xml(
                    info.vnc_port,
                    info.vnc_listen or self.config.vnc_listen,
                    password,
                    until.strftime("%Y-%m-%dT%H:%M:%S"),
                ),
                libvirt.VIR_DOMAIN_AFFECT_LIVE,
            )

    # ------------------------------------------------------------------ Driver: spawn

    def spawn(self, spec: InstanceSpec) -> Instance:
        return self.spawn_with_ports(spec)

    def spawn_with_ports(
        self,
        spec: InstanceSpec,
        nics: tuple[Interface, ...] = (),
        network_data: Mapping[str, Any] | None = None,
    ) -> Instance:
        """Spawn with a NIC per plugged port (``NetworkPlane.plug`` made their bridges) and the
        ports' network_data.json on the config drive and for the metadata service."""
        with self._lock_for(spec.server_id):
            existing = self._find(spec.server_id)
            if existing is not None:
                return self._ensure_running(spec.server_id, existing)
            return self._create(spec, nics, network_data or {})

    def instance_meta(self, server_id: str) -> InstanceMeta | None:
        """What the metadata service tells the server about itself (None: not ours)."""
        try:
            raw = json.loads((self.instance_dir(server_id) / INSTANCE_META).read_text())
        except (OSError, ValueError):
            return None
        return InstanceMeta(
            uuid=raw["uuid"],
            name=raw.get("name", ""),
            hostname=raw.get("hostname", ""),
            public_keys=tuple(raw.get("public_keys", ())),
            user_data=base64.b64decode(raw.get("user_data", "")),
            meta=dict(raw.get("meta", {})),
        )

    def _ensure_running(self, server_id: str, dom: libvirt.virDomain) -> Instance:
        with mapped_errors(f"start server {server_id}"):
            if not dom.isActive():
                dom.create()
        return self._instance(server_id, dom, console=True)

    def _create(
        self, spec: InstanceSpec, nics: tuple[Interface, ...], network_data: Mapping[str, Any]
    ) -> Instance:
        conn = self._connection()
        caps = self._capabilities()
        sid = spec.server_id
        workdir = self.instance_dir(sid)
        dom: libvirt.virDomain | None = None
        try:
            if workdir.exists():
                log.info("removing leftovers of an earlier spawn", server_id=sid)
                shutil.rmtree(workdir)
            workdir.mkdir(parents=True)
            _make_traversable(workdir)

            base = spec.image.path
            rendition = spec.image.rendition.disk_format
            size = max(0, spec.disk_gb) * GiB
            bootable = [r.disk_format for r in disk_formats(self.config.disk_mode)]
            if rendition not in bootable:
                raise SpawnFailed(
                    f"disk mode {self.config.disk_mode} boots {' or '.join(bootable)} "
                    f"renditions, got {rendition}"
                )
            if self.config.disk_mode == "copy":
                disk_path, disk_format = workdir / "disk.raw", "raw"
                create_raw_copy(base, disk_path, size)
            else:
                disk_path, disk_format = workdir / "disk.qcow2", "qcow2"
                create_overlay(base, rendition, disk_path, size)

            if not nics and self._port_hook is not None:
                nics, network_data = self._port_hook.plug_for(sid)
            vif_model = spec.image.ref.hw_vif_model
            if vif_model and vif_model not in VIF_MODELS:
                raise SpawnFailed(
                    f"unsupported hw_vif_model {vif_model!r} (one of {', '.join(VIF_MODELS)})"
                )
            nics = tuple(replace(n, model=vif_model or n.model) for n in nics)
            config_drive = workdir / "config-drive.iso"
            write_config_drive(
                config_drive,
                ConfigDrive(
                    instance_id=sid,
                    hostname=spec.hostname or spec.name,
                    user_data=spec.user_data,
                    public_keys=tuple(spec.ssh_public_keys),
                    network_data=network_data,
                ),
            )
            os.chmod(config_drive, 0o644)
            meta = {
                "uuid": sid,
                "name": spec.name,
                "hostname": spec.hostname or spec.name,
                "public_keys": list(spec.ssh_public_keys),
                "user_data": base64.b64encode(spec.user_data).decode(),
                "meta": dict(spec.metadata),
            }
            meta_path = workdir / INSTANCE_META
            meta_path.write_text(json.dumps(meta))
            os.chmod(meta_path, 0o600)
            serial_log = workdir / "console.log"

            arch = spec.image.ref.architecture or caps.host_arch or "x86_64"
            guest = caps.guest(arch, self.config.virt_type)
            if guest is None:
                raise SpawnFailed(
                    f"this host cannot run {arch} guests with virt type {self.config.virt_type}"
                )
            bus = spec.image.ref.hw_disk_bus or "virtio"
            if bus not in _DISK_BUSES:
                raise SpawnFailed(f"unsupported hw_disk_bus {bus!r}")
            port = self._ports.take(domain_name(sid))
            xml = build_domain_xml(
                DomainSpec(
                    server_id=sid,
                    display_name=spec.name,
                    vcpus=spec.vcpus,
                    memory_mb=spec.memory_mb,
                    domain_type=caps.domain_type(self.config.virt_type),
                    arch=guest.raw_arch,
                    disk_path=str(disk_path),
                    disk_format=disk_format,
                    disk_bus=bus,
                    config_drive_path=str(config_drive),
                    serial_log=str(serial_log),
                    vnc_port=port,
                    vnc_listen=self.config.vnc_listen,
                    # Known to nobody: until a console session sets its own, the VNC
                    # server accepts no one.
                    vnc_password=new_vnc_password(),
                    image_id=spec.image.ref.image_id,
                    host_id=self.config.host_id,
                    interfaces=nics,
                )
            )
            dom = self._define_and_start(conn, sid, xml)
            log.info("server spawned", server_id=sid, domain=dom.name(), vnc_port=port)
            return self._instance(sid, dom, console=True)
        except BaseException as exc:
            self._cleanup_failed_spawn(sid, dom, workdir)
            if isinstance(exc, HypervisorUnavailable) or not self._alive():
                raise HypervisorUnavailable(f"spawn of server {sid}: {exc}") from exc
            if isinstance(exc, SpawnFailed):
                raise
            if isinstance(exc, DriverError | DiskError | OSError | ValueError):
                raise SpawnFailed(f"spawn of server {sid}: {exc}") from exc
            raise

    def _define_and_start(self, conn: libvirt.virConnect, sid: str, xml: str) -> libvirt.virDomain:
        with mapped_errors(f"define server {sid}"):
            dom = conn.defineXML(xml)
        self._watcher.remember(dom.name(), sid)
        with mapped_errors(f"start server {sid}"):
            dom.create()
        return dom

    def _cleanup_failed_spawn(
        self, server_id: str, dom: libvirt.virDomain | None, workdir: Path
    ) -> None:
        try:
            if dom is None:
                dom = self._find(server_id)
            if dom is not None:
                self._undefine(dom)
        except (DriverError, libvirt.libvirtError) as exc:
            log.warning("cleanup after failed spawn: domain", server_id=server_id, error=str(exc))
        shutil.rmtree(workdir, ignore_errors=True)
        self._ports.give_back(domain_name(server_id))
        try:
            self._unplug(server_id)
        except DriverError as exc:
            log.warning("cleanup after failed spawn: ports", server_id=server_id, error=str(exc))

    def _unplug(self, server_id: str) -> None:
        if self._port_hook is not None:
            self._port_hook.unplug_for(server_id)

    def attach_ports(self, hook: PortHook) -> None:
        """Plug each server's ports at spawn, unplug them at destroy (the network data plane)."""
        self._port_hook = hook

    def _alive(self) -> bool:
        conn = self._conn
        if conn is None:
            return False
        try:
            return bool(conn.isAlive())
        except libvirt.libvirtError:
            return False

    # ------------------------------------------------------------------ Driver: destroy

    def destroy(self, server_id: str) -> None:
        with self._lock_for(server_id):
            dom = self._find(server_id)
            files: list[str] = []
            if dom is not None:
                with mapped_errors(f"read definition of server {server_id}"):
                    info = parse_domain_xml(dom.XMLDesc(0))
                files = [*info.disk_paths, *info.serial_logs]
                if info.nvram:
                    files.append(info.nvram)
                self._undefine(dom)
            workdir = self.instance_dir(server_id)
            for f in files:
                p = Path(f)
                # Only what lives in the server's own directory: never a cached base image.
                if _inside(p, workdir):
                    p.unlink(missing_ok=True)
            shutil.rmtree(workdir, ignore_errors=True)
            self._ports.give_back(domain_name(server_id))
            self._unplug(server_id)
            log.info("server destroyed", server_id=server_id, had_domain=dom is not None)

    def _undefine(self, dom: libvirt.virDomain) -> None:
        try:
            if dom.isActive():
                dom.destroy()
        except libvirt.libvirtError as exc:
            if not is_no_domain(exc):
                raise to_driver_error(exc, "stop domain") from exc
        flags = (
            libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
            | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
            | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
        )
        try:
            dom.undefineFlags(flags)
        except libvirt.libvirtError as exc:
            if is_no_domain(exc):
                return
            if exc.get_error_code() in (
                libvirt.VIR_ERR_NO_SUPPORT,
                libvirt.VIR_ERR_INVALID_ARG,
                libvirt.VIR_ERR_ARGUMENT_UNSUPPORTED,
            ):
                with mapped_errors("undefine domain"):
                    try:
                        dom.undefine()
                    except libvirt.libvirtError as again:
                        if not is_no_domain(again):
                            raise
                return
            raise to_driver_error(exc, "undefine domain") from exc

    # ------------------------------------------------------------------ Driver: power

    def power_on(self, server_id: str) -> Instance:
        with self._lock_for(server_id):
            return self._ensure_running(server_id, self._get(server_id))

    def power_off(self, server_id: str) -> Instance:
        with self._lock_for(server_id):
            dom = self._get(server_id)
            with mapped_errors(f"power off server {server_id}"):
                if dom.isActive():
                    if self.config.clean_shutdown_timeout_s > 0:
                        self._shutdown_cleanly(dom, self.config.clean_shutdown_timeout_s)
                    if dom.isActive():
                        dom.destroy()
            return self._instance(server_id, dom, console=False)

    @staticmethod
    def _shutdown_cleanly(dom: libvirt.virDomain, timeout_s: float) -> None:
        try:
            dom.shutdown()
        except libvirt.libvirtError:
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            time.sleep(0.25)
            try:
                if not dom.isActive():
                    return
            except libvirt.libvirtError:
                return

    def reboot(self, server_id: str, *, hard: bool) -> Instance:
        with self._lock_for(server_id):
            dom = self._get(server_id)
            with mapped_errors(f"reboot server {server_id}"):
                if not dom.isActive():
                    dom.create()
                elif hard:
                    try:
                        dom.reset(0)
                    except libvirt.libvirtError as exc:
                        if exc.get_error_code() != libvirt.VIR_ERR_NO_SUPPORT:
                            raise
                        dom.destroy()  # drivers without reset: power cycle
                        dom.create()
                else:
                    dom.reboot(0)
            return self._instance(server_id, dom, console=False)

    # ------------------------------------------------------------------ Snapshot, Rebuild

    def snapshot(self, server_id: str, dest_dir: Path) -> DiskSnapshot:
        """A standalone qcow2 of the root disk at one instant (see ``snapshots``)."""
        with self._lock_for(server_id):
            dom = self._get(server_id)
            with mapped_errors(f"read definition of server {server_id}"):
                disk = root_disk(dom.XMLDesc(0))
                running = bool(dom.isActive())
            if running and _SNAPSHOT_OVERLAY in disk.path.name:
                # An agent killed half way through a snapshot left the guest on its overlay:
                # fold it back first, so that the disk is the server's own file again.
                log.warning("committing a snapshot overlay left behind", server_id=server_id)
                with mapped_errors(f"commit the leftover overlay of server {server_id}"):
                    commit_overlay(dom, disk.target)
                    leftover, disk = disk.path, root_disk(dom.XMLDesc(0))
                leftover.unlink(missing_ok=True)
            dest = dest_dir / "disk.qcow2"
            if not running:
                copy_disk(disk.path, disk.fmt, dest)
                return DiskSnapshot(
                    dest, "qcow2", quiesced=True, power_state=PowerState.SHUTDOWN,
                    method="copy of the stopped server's disk",
                )  # fmt: skip
            overlay = disk.path.with_name(f"{disk.path.name}{_SNAPSHOT_OVERLAY}{os.getpid()}.qcow2")
            overlay.unlink(missing_ok=True)  # left by a process that died half way
            quiesced = self._external_snapshot(dom, server_id, disk, overlay)
            try:
                copy_disk(disk.path, disk.fmt, dest)
            finally:
                try:
                    with mapped_errors(f"commit the snapshot overlay of server {server_id}"):
                        commit_overlay(dom, disk.target)
                finally:
                    overlay.unlink(missing_ok=True)
            log.info("disk snapshot taken", server_id=server_id, quiesced=quiesced)
            return DiskSnapshot(
                dest, "qcow2", quiesced=quiesced,
                power_state=self._instance(server_id, dom, console=False).power_state,
                method="external disk snapshot, copy, active block commit",
            )  # fmt: skip

    @staticmethod
    def _external_snapshot(dom: libvirt.virDomain, sid: str, disk: RootDisk, overlay: Path) -> bool:
        """Move the guest's writes to ``overlay``; True when the guest agent froze its file
        systems for it (quiesced), False when it did not answer (crash-consistent)."""
        xml = snapshot_xml(disk, overlay)
        base = (
            libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
            | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC
            | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA
        )
        try:
            dom.snapshotCreateXML(xml, base | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE)
            return True
        except libvirt.libvirtError as exc:
            log.info("no guest agent to quiesce; crash-consistent snapshot", server_id=sid,
                     reason=str(exc).splitlines()[0])  # fmt: skip
        overlay.unlink(missing_ok=True)
        with mapped_errors(f"snapshot the disk of server {sid}"):
            dom.snapshotCreateXML(xml, base)
        return False

    def rebuild(self, server_id: str, image: LocalImage, disk_gb: int) -> Instance:
        """A new root disk from ``image`` in place of the old one (same file, same domain),
        then start it."""
        with self._lock_for(server_id):
            dom = self._get(server_id)
            with mapped_errors(f"stop server {server_id} for its rebuild"):
                disk = root_disk(dom.XMLDesc(0))
                if dom.isActive():
                    dom.destroy()
            fresh = disk.path.with_name(disk.path.name + ".rebuild")
            size = max(0, disk_gb) * GiB
            try:
                if disk.fmt == "raw":
                    if image.rendition.disk_format != "raw":
                        raise DriverError(
                            f"this server's raw disk needs a raw rendition, got "
                            f"{image.rendition.disk_format}"
                        )
                    create_raw_copy(image.path, fresh, size)
                else:
                    create_overlay(image.path, image.rendition.disk_format, fresh, size)
                os.replace(fresh, disk.path)
            except DiskError as exc:
                raise DriverError(f"rebuild of server {server_id}: {exc}") from exc
            finally:
                fresh.unlink(missing_ok=True)
            log.info("server rebuilt", server_id=server_id, image_id=image.ref.image_id)
            return self._ensure_running(server_id, dom)

    # ------------------------------------------------------------------ capabilities: pause, suspend

    def pause(self, server_id: str) -> Instance:
        """libvirt suspend: the vCPUs stop, the memory stays where it is."""
        with self._lock_for(server_id):
            dom = self._get(server_id)
            with mapped_errors(f"pause server {server_id}"):
                state, _ = dom.state(0)
                if state != libvirt.VIR_DOMAIN_PAUSED:
                    if not dom.isActive():
                        raise DriverError(f"server {server_id} is not running: cannot pause it")
                    dom.suspend()
            return self._instance(server_id, dom, console=False)

    def unpause(self, server_id: str) -> Instance:
        with self._lock_for(server_id):
            dom = self._get(server_id)
            with mapped_errors(f"unpause server {server_id}"):
                state, _ = dom.state(0)
                if state == libvirt.VIR_DOMAIN_PAUSED:
                    dom.resume()
                elif not dom.isActive():
                    raise DriverError(f"server {server_id} is not running: cannot unpause it")
            return self._instance(server_id, dom, console=False)

    def suspend(self, server_id: str) -> Instance:
        """libvirt managed save: the memory goes to a file libvirt keeps with the domain, the
        domain stops; starting it again restores the saved state."""
        with self._lock_for(server_id):
            dom = self._get(server_id)
            with mapped_errors(f"suspend server {server_id}"):
                if dom.isActive():
                    dom.managedSave(libvirt.VIR_DOMAIN_SAVE_RUNNING)
                elif not dom.hasManagedSaveImage(0):
                    raise DriverError(f"server {server_id} is shut off: cannot suspend it")
            return self._instance(server_id, dom, console=False)

    def resume(self, server_id: str) -> Instance:
        with self._lock_for(server_id):
            dom = self._get(server_id)
            with mapped_errors(f"resume server {server_id}"):
                if not dom.isActive():
                    if not dom.hasManagedSaveImage(0):
                        raise DriverError(f"server {server_id} has no saved state to resume")
                    dom.create()  # restores the managed save image
            return self._instance(server_id, dom, console=False)

    # ------------------------------------------------------------------ capability: console_log

    def console_output(self, server_id: str, max_bytes: int) -> bytes:
        """The tail of the serial log the domain writes (its serial port and console, to a
        file in the server's own directory, appended across boots)."""
        dom = self._get(server_id)
        with mapped_errors(f"read definition of server {server_id}"):
            info = parse_domain_xml(dom.XMLDesc(0))
        workdir = self.instance_dir(server_id)
        logs = [Path(p) for p in info.serial_logs if _inside(Path(p), workdir)]
        if not logs:
            raise DriverError(f"server {server_id} has no serial log")
        try:
            with logs[0].open("rb") as f:
                f.seek(0, 2)
                size = f.tell()
                f.seek(max(0, size - max_bytes))
                return f.read()
        except FileNotFoundError:
            return b""  # nothing written yet
        except OSError as exc:
            raise DriverError(f"cannot read the serial log of server {server_id}: {exc}") from exc

    # ------------------------------------------------------------------ Driver: watch, close

    def watch(self, emit: Callable[[InstanceChange], None]) -> Unsubscribe:
        self._connection()  # events flow once connected
        return self._watcher.add(emit)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._conn_lock:
            self._drop_connection()
        self._watcher.close()
        if self._loop is not None:
            self._loop.release()
            self._loop = None


def _version_string(v: int) -> str:
    major, rest = divmod(int(v), 1_000_000)
    minor, release = divmod(rest, 1000)
    return f"{major}.{minor}.{release}"


def _inside(path: Path, directory: Path) -> bool:
    try:
        path.resolve().relative_to(directory.resolve())
    except ValueError:
        return False
    return True


def _make_traversable(path: Path) -> None:
    """QEMU runs as another user: it must reach the files under the instances dir."""
    try:
        mode = path.stat().st_mode & 0o777
        if mode & 0o055 != 0o055:
            path.chmod(mode | 0o755)
    except OSError:
        pass


class PortsLibvirtDriver(LibvirtDriver):
    """The libvirt driver on a host with a network data plane: it also has the ``ports``
    capability (polyvisor.agentkit.capabilities.Ports), hot-plugging a port's NIC."""

    def _hook(self) -> PortHook:
        if self._port_hook is None:
            raise DriverError("this host's network data plane is not running")
        return self._port_hook

    def _device_flags(self, dom: libvirt.virDomain) -> int:
        with mapped_errors("read domain state"):
            live = bool(dom.isActive())
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        return flags | libvirt.VIR_DOMAIN_AFFECT_LIVE if live else flags

    def attach_port(self, server_id: str, port_id: str) -> None:
        with self._lock_for(server_id):
            dom = self._find(server_id)
            if dom is None:
                raise InstanceNotFound(f"no server {server_id} on this host")
            nic = self._hook().plug_port(server_id, port_id)
            with mapped_errors(f"read definition of server {server_id}"):
                xml = dom.XMLDesc(0)
            if find_interface(xml, nic.mac_address) is not None:
                return
            models = [m for m in interface_models(xml) if m]
            nic = replace(nic, model=models[0] if models else nic.model)
            try:
                with mapped_errors(f"attach port {port_id} to server {server_id}"):
                    dom.attachDeviceFlags(interface_xml(nic), self._device_flags(dom))
            except DriverError:
                self._hook().unplug_port(port_id)
                raise
            log.info("port attached", server_id=server_id, port_id=port_id, tap=nic.tap)

    def detach_port(self, server_id: str, port_id: str) -> None:
        with self._lock_for(server_id):
            dom = self._find(server_id)
            if dom is not None:
                with mapped_errors(f"read definition of server {server_id}"):
                    xml = dom.XMLDesc(0)
                found = find_interface_by_tap(xml, tap_name(port_id))
                if found is not None:
                    with mapped_errors(f"detach port {port_id} from server {server_id}"):
                        dom.detachDeviceFlags(found, self._device_flags(dom))
            self._hook().unplug_port(port_id)
            log.info("port detached", server_id=server_id, port_id=port_id)
