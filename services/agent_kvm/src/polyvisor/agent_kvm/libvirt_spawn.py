"""Spawn and destroy on libvirt.

One directory per server under ``instances_dir`` holds everything a server leaves on the
host: its root disk (a qcow2 overlay on the cached base, or a raw copy), its config drive, the
metadata service's ``instance.json`` and its serial log. Spawn writes the files first, then
defines and starts the domain; any failure undefines the domain and deletes the directory, so
nothing is left behind. Because the files are complete before the domain exists, a spawn
interrupted by a crash and run again either finds the domain (and only makes sure it runs) or
finds no domain and starts over. Destroy removes the domain and only the files inside the
server's own directory (never a cached base image).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import libvirt

from polyvisor.agent_kvm.capabilities import disk_formats
from polyvisor.agent_kvm.config_drive import ConfigDrive, write_config_drive
from polyvisor.agent_kvm.disks import DiskError, create_overlay, create_raw_copy
from polyvisor.agent_kvm.domain_xml import (
    VIF_MODELS,
    DomainSpec,
    Interface,
    build_domain_xml,
    domain_name,
    new_vnc_password,
    parse_domain_xml,
)
from polyvisor.agent_kvm.libvirt_errors import is_no_domain, mapped_errors, to_driver_error
from polyvisor.agent_kvm.libvirt_host import GiB, LibvirtHost, PortHook, inside, make_traversable
from polyvisor.agent_kvm.libvirt_volumes import RootDisk, root_volume_disk
from polyvisor.agent_kvm.net.metadata import InstanceMeta
from polyvisor.agent_kvm.rbd_disks import RbdDiskError, rbd_root_disks, replace_root_disk
from polyvisor.agentkit.driver import (
    DriverError,
    GuestSpec,
    HypervisorUnavailable,
    ImageRef,
    Instance,
    InstanceNotFound,
    InstanceSpec,
    SpawnFailed,
)
from polyvisor.agentkit.volume_capabilities import VolumeConnection
from polyvisor.common.logging import get_logger

__all__ = ["INSTANCE_META", "SpawnVerbs"]

log = get_logger(__name__)

#: Beside the config drive: what the metadata service tells the server about itself.
INSTANCE_META = "instance.json"
_DISK_BUSES = ("virtio", "scsi", "ide", "sata", "usb")


class SpawnVerbs(LibvirtHost):
    """Driver verbs spawn and destroy, and the network data plane's hook into them."""

    def spawn(self, spec: InstanceSpec) -> Instance:
        return self.spawn_with_ports(spec)

    def _spawn_from_volume(self, spec: GuestSpec, root: VolumeConnection) -> Instance:
        """Spawn with the volume ``root`` as the boot disk (the ``boot_volume`` capability of the
        KVM driver; not of the LXC driver that shares these verbs)."""
        with self._lock_for(spec.server_id):
            existing = self._find(spec.server_id)
            if existing is not None:
                return self._ensure_running(spec.server_id, existing, leave_off=spec.powered_off)
            return self._build(spec, (), {}, root)

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
                return self._ensure_running(spec.server_id, existing, leave_off=spec.powered_off)
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

    def set_metadata(self, server_id: str, metadata: Mapping[str, str]) -> None:
        """What the metadata service says is the server's metadata from now on (the file
        beside its config drive, replaced whole so a reader never sees half of it)."""
        with self._lock_for(server_id):
            path = self.instance_dir(server_id) / INSTANCE_META
            try:
                raw = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise InstanceNotFound(f"server {server_id} is not on this host") from exc
            raw["meta"] = dict(metadata)
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(raw))
            tmp.chmod(path.stat().st_mode & 0o777)
            os.replace(tmp, path)

    def _fresh_instance_dir(self, server_id: str) -> Path:
        """The server's instance directory, made anew (an earlier spawn's leftovers removed)."""
        workdir = self.instance_dir(server_id)
        if workdir.exists():
            log.info("removing leftovers of an earlier spawn", server_id=server_id)
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True)
        return workdir

    def _create(
        self, spec: InstanceSpec, nics: tuple[Interface, ...], network_data: Mapping[str, Any]
    ) -> Instance:
        return self._build(spec, nics, network_data)

    def _build(
        self,
        spec: GuestSpec,
        nics: tuple[Interface, ...],
        network_data: Mapping[str, Any],
        root: VolumeConnection | None = None,
    ) -> Instance:
        """Spawn from the spec's image (an InstanceSpec), or with the volume ``root`` as its
        boot disk, used as it is (``libvirt_volumes.root_volume_disk``)."""
        conn = self._connection()
        caps = self._capabilities()
        sid = spec.server_id
        workdir = self.instance_dir(sid)
        dom: libvirt.virDomain | None = None
        try:
            self._fresh_instance_dir(sid)
            make_traversable(workdir)
            ref: ImageRef | None = None
            if root is not None:
                disk = self._root_volume(root, workdir)
            else:
                assert isinstance(spec, InstanceSpec)
                ref = spec.image.ref
                disk = self._root_image_disk(conn, spec, workdir)

            if not nics and self._port_hook is not None:
                nics, network_data = self._port_hook.plug_for(sid)
            vif_model = ref.hw_vif_model if ref else ""
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

            arch = (ref.architecture if ref else "") or caps.host_arch or "x86_64"
            guest = caps.guest(arch, self.config.virt_type)
            if guest is None:
                raise SpawnFailed(
                    f"this host cannot run {arch} guests with virt type {self.config.virt_type}"
                )
            bus = (ref.hw_disk_bus if ref else "") or "virtio"
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
                    disk_path=str(disk.path),
                    disk_format=disk.format,
                    disk_bus=bus,
                    config_drive_path=str(config_drive),
                    serial_log=str(serial_log),
                    vnc_port=port,
                    vnc_listen=self.config.vnc_listen,
                    # Known to nobody: until a console session sets its own, the VNC
                    # server accepts no one.
                    vnc_password=new_vnc_password(),
                    image_id=ref.image_id if ref else "",
                    host_id=self.config.host_id,
                    interfaces=nics,
                )
            )
            if disk.network is not None:
                xml = replace_root_disk(xml, str(disk.path), disk.network)
            dom = self._define_and_start(conn, sid, xml, start=not spec.powered_off)
            log.info("server spawned", server_id=sid, domain=dom.name(), vnc_port=port,
                     powered_off=spec.powered_off)  # fmt: skip
            return self._instance(sid, dom, console=True)
        except BaseException as exc:
            self._cleanup_failed_spawn(sid, dom, workdir)
            if isinstance(exc, HypervisorUnavailable) or not self._alive():
                raise HypervisorUnavailable(f"spawn of server {sid}: {exc}") from exc
            if isinstance(exc, SpawnFailed) or (isinstance(exc, DriverError) and exc.retryable):
                raise  # a retryable one (the network service restarting) is retried in place
            if isinstance(exc, DriverError | DiskError | RbdDiskError | OSError | ValueError):
                raise SpawnFailed(f"spawn of server {sid}: {exc}") from exc
            raise

    def _root_volume(self, root: VolumeConnection, workdir: Path) -> RootDisk:
        """The boot disk of a server booting from the volume ``root`` (file volumes here)."""
        return root_volume_disk(root)

    def _root_image_disk(
        self, conn: libvirt.virConnect, spec: InstanceSpec, workdir: Path
    ) -> RootDisk:
        """The server's own root disk, made from the image in its directory (a qcow2 overlay
        on the cached base, a raw copy), or an RBD clone of the image in disk mode rbd."""
        base = spec.image.path
        rendition = spec.image.rendition.disk_format
        size = max(0, spec.disk_gb) * GiB
        bootable = [r.disk_format for r in disk_formats(self.config.disk_mode)]
        if rendition not in bootable:
            raise SpawnFailed(
                f"disk mode {self.config.disk_mode} boots {' or '.join(bootable)} "
                f"renditions, got {rendition}"
            )
        rbd = rbd_root_disks(self.config)
        if rbd is not None:  # the root disk is an RBD clone: a network disk in the XML
            rbd.ensure_secret(conn)
            rbd_spec = rbd.clone_root(spec.server_id, base, spec.image.sha256, size)
            return RootDisk(workdir / "disk.rbd", "raw", rbd.disk_element(rbd_spec))
        if self.config.disk_mode == "copy":
            disk_path = workdir / "disk.raw"
            create_raw_copy(base, disk_path, size)
            return RootDisk(disk_path, "raw")
        disk_path = workdir / "disk.qcow2"
        create_overlay(base, rendition, disk_path, size)
        return RootDisk(disk_path, "qcow2")

    def _define_and_start(
        self, conn: libvirt.virConnect, sid: str, xml: str, *, start: bool = True
    ) -> libvirt.virDomain:
        """Define the domain, then start it (unless not ``start``: a server to stay off)."""
        with mapped_errors(f"define server {sid}"):
            dom = conn.defineXML(xml)
        self._watcher.remember(dom.name(), sid)
        if start:
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
        self._remove_rbd_root(server_id)
        self._ports.give_back(domain_name(server_id))
        try:
            self._unplug(server_id)
        except DriverError as exc:
            log.warning("cleanup after failed spawn: ports", server_id=server_id, error=str(exc))

    def _remove_rbd_root(self, server_id: str) -> None:
        rbd = rbd_root_disks(self.config)
        if rbd is not None:
            try:
                rbd.remove_root(server_id)
            except RbdDiskError as exc:
                log.warning("RBD root disk left behind", server_id=server_id, error=str(exc))

    def _unplug(self, server_id: str) -> None:
        if self._port_hook is not None:
            self._port_hook.unplug_for(server_id)

    def attach_ports(self, hook: PortHook) -> None:
        """Plug each server's ports at spawn, unplug them at destroy (the network data plane)."""
        self._port_hook = hook

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
                if inside(p, workdir):
                    p.unlink(missing_ok=True)
            shutil.rmtree(workdir, ignore_errors=True)
            self._remove_rbd_root(server_id)
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
