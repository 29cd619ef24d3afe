"""The KVM driver: polyvisor.agentkit.driver.Driver over libvirt. Every verb blocks.

    driver = LibvirtDriver(LibvirtConfig(uri="qemu:///system", virt_type="kvm", ...))
    driver.open()
    instance = driver.spawn(spec)
    driver.close()

One directory per server under ``instances_dir`` holds everything a server leaves on the
host: its root disk (a qcow2 overlay on the cached base, or a raw copy), its config drive and
its serial log. The domain is named ``polyvisor-<server id>`` and carries the server id and
our host id in its <metadata>: domains without both are never listed, watched or touched.

The verbs come in groups, each a module: the connection and the lookup of our domains
(``libvirt_host``), spawn and destroy (``libvirt_spawn``), power (``libvirt_power``), the root
disk and serial log (``libvirt_disk``); this module adds what observes the host (its report,
its instances, consoles, the event watch) and puts them together.

``test:///default`` (libvirt's in-process test driver) runs the same code: it only differs in
its capabilities (domain type "test") and in that nothing really listens on VNC ports.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import libvirt

from polyvisor.agent_kvm.adopt import AdoptVerbs
from polyvisor.agent_kvm.capabilities import disk_formats
from polyvisor.agent_kvm.domain_xml import (
    find_interface,
    find_interface_by_tap,
    interface_models,
    interface_xml,
    parse_domain_xml,
    vnc_password_xml,
)
from polyvisor.agent_kvm.libvirt_disk import DiskVerbs
from polyvisor.agent_kvm.libvirt_errors import is_no_domain, mapped_errors, to_driver_error
from polyvisor.agent_kvm.libvirt_host import GiB, LibvirtConfig, PortHook
from polyvisor.agent_kvm.libvirt_power import PowerVerbs
from polyvisor.agent_kvm.libvirt_spawn import SpawnVerbs
from polyvisor.agent_kvm.libvirt_volumes import VolumeVerbs
from polyvisor.agent_kvm.lifecycle import power_of
from polyvisor.agent_kvm.net.names import tap_name
from polyvisor.agentkit.capabilities import capabilities_of
from polyvisor.agentkit.driver import (
    Console,
    DriverError,
    Features,
    GuestSpec,
    HostInfo,
    Instance,
    InstanceChange,
    InstanceNotFound,
    Inventory,
    Unsubscribe,
)
from polyvisor.agentkit.volume_capabilities import VolumeConnection
from polyvisor.common.logging import get_logger

__all__ = ["LibvirtConfig", "LibvirtDriver", "PortHook", "PortsLibvirtDriver"]

log = get_logger(__name__)


class LibvirtDriver(SpawnVerbs, PowerVerbs, DiskVerbs, AdoptVerbs, VolumeVerbs):
    """Implements ``polyvisor.agentkit.driver.Driver`` with libvirt-python."""

    def spawn_from_volume(self, spec: GuestSpec, root: VolumeConnection) -> Instance:
        """The ``boot_volume`` capability: the volume's file is the boot disk, as it is."""
        return self._spawn_from_volume(spec, root)

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
            # The data plane (nftables) enforces the groups of every port it plugs.
            features=Features(console_types=("vnc",), security_groups=self._port_hook is not None),
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

    # ------------------------------------------------------------------ Driver: watch, close

    def watch(self, emit: Callable[[InstanceChange], None]) -> Unsubscribe:
        self._connection()  # events flow once connected
        return self._watcher.add(emit)

    def close(self) -> None:
        self._drop_all()


def _version_string(v: int) -> str:
    major, rest = divmod(int(v), 1_000_000)
    minor, release = divmod(rest, 1000)
    return f"{major}.{minor}.{release}"


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
