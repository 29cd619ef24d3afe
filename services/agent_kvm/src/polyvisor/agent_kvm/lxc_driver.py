"""The LXC driver: system containers through libvirt's LXC driver (``lxc:///``), with the KVM
agent's libvirt code. Every verb blocks.

    driver = LxcDriver(LibvirtConfig(uri="lxc:///", virt_type="lxc", ...))

A container is a libvirt domain of type ``lxc``, named and tagged as a VM is
(``polyvisor-<server id>``, our <metadata>), so the connection, the lookup of our domains,
the lifecycle events, destroy, the metadata service and the network data plane are the KVM
driver's own (``libvirt_host``, ``libvirt_spawn``). What differs:

- the image: a raw disk holding one file system (no partition table), copied into the
  server's directory and loop-mounted by libvirt as the container's ``/`` (``lxc_xml``); the
  host reports ``disk_formats = (raw,)``, so the image service converts a qcow2 or vmdk of
  such a file system to raw before the agent fetches it;
- the guest: its init (``/sbin/init``) runs on the host's kernel; the host reports the
  ``(arch, lxc, exe)`` triples only, and the scheduler places ``vm_mode=exe`` images there
  and nothing else;
- the console: a pty, copied into ``console.log`` by a ``ConsolePump`` (``lxc_console``);
  no VNC;
- power: off is a stop (a container's init rarely honours a shutdown request), reboot is a
  stop and a start (libvirt's LXC driver has no reset), pause freezes the container's
  cgroup; there is no managed save (no ``suspend`` capability), no disk snapshot or rebuild
  and no resize.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import libvirt

from polyvisor.agent_kvm.config_drive import ConfigDrive, meta_data
from polyvisor.agent_kvm.disks import DiskError, create_raw_copy
from polyvisor.agent_kvm.domain_xml import Interface
from polyvisor.agent_kvm.libvirt_driver import LibvirtDriver
from polyvisor.agent_kvm.libvirt_errors import mapped_errors
from polyvisor.agent_kvm.libvirt_host import GiB, LibvirtConfig
from polyvisor.agent_kvm.libvirt_power import PowerVerbs
from polyvisor.agent_kvm.libvirt_spawn import INSTANCE_META, SpawnVerbs
from polyvisor.agent_kvm.lxc_console import ConsolePumps
from polyvisor.agent_kvm.lxc_xml import LxcSpec, build_lxc_xml, console_tty
from polyvisor.agentkit.driver import (
    Console,
    DriverError,
    Features,
    HostInfo,
    HypervisorUnavailable,
    Instance,
    InstanceChange,
    InstanceSpec,
    RenditionWanted,
    SpawnFailed,
    Unsubscribe,
)
from polyvisor.common.logging import get_logger

__all__ = [
    "CONSOLE_LOG",
    "LXC_DISK_FORMATS",
    "ROOTFS",
    "ROOTFS_LINK_DIR",
    "LxcDriver",
    "rootfs_link",
]

log = get_logger(__name__)

#: The renditions a container host boots: a raw file holding one file system.
LXC_DISK_FORMATS = (RenditionWanted("raw"),)
ROOTFS = "rootfs.raw"
CONSOLE_LOG = "console.log"
CONFIG_DIR = "config"
#: libvirt names a loop device's backing file in 64 bytes (LO_NAME_SIZE) and refuses a longer
#: path: the container's root image is given to it through a short symbolic link made here.
ROOTFS_LINK_DIR = Path("/run/polyvisor/lxc")
_EXT_MAGIC_OFFSET = 1024 + 56  # s_magic in the ext2/3/4 superblock
_EXT_MAGIC = b"\x53\xef"


class LxcDriver(SpawnVerbs):
    """Implements ``polyvisor.agentkit.driver.Driver`` for libvirt's LXC driver, with the
    capabilities ``pause``, ``console_log`` and ``guest_metadata``."""

    def __init__(self, config: LibvirtConfig) -> None:
        super().__init__(config)
        self._pumps = ConsolePumps(self._console_tty)

    # ------------------------------------------------------------------ observe

    def host_info(self) -> HostInfo:
        info = LibvirtDriver.host_info(cast(LibvirtDriver, self))
        return replace(
            info,
            disk_formats=LXC_DISK_FORMATS,
            features=Features(
                console_types=("serial",),
                security_groups=self._port_hook is not None,
            ),
        )

    def list_instances(self) -> list[Instance]:
        found = LibvirtDriver.list_instances(cast(LibvirtDriver, self))
        for inst in found:  # after an agent restart: the consoles of running containers
            self._pumps.ensure(inst.server_id, self._log_path(inst.server_id))
        return found

    def console(self, server_id: str) -> Console:
        self._get(server_id)
        raise DriverError(
            f"server {server_id} is a container: it has no VNC console, only its console log"
        )

    def console_output(self, server_id: str, max_bytes: int) -> bytes:
        """The tail of what the container's init wrote on its console."""
        self._get(server_id)
        try:
            with self._log_path(server_id).open("rb") as f:
                f.seek(0, 2)
                size = f.tell()
                f.seek(max(0, size - max_bytes))
                return f.read()
        except FileNotFoundError:
            return b""
        except OSError as exc:
            raise DriverError(f"cannot read the console log of server {server_id}: {exc}") from exc

    def watch(self, emit: Callable[[InstanceChange], None]) -> Unsubscribe:
        self._connection()
        return self._watcher.add(emit)

    def close(self) -> None:
        self._pumps.stop_all()
        self._drop_all()

    def _rootfs_link(self, server_id: str) -> Path:
        return rootfs_link(self.config.host_id, server_id)

    def _link_rootfs(self, server_id: str) -> Path:
        """The short path libvirt loop-mounts (made again after a host reboot empties /run)."""
        link = self._rootfs_link(server_id)
        target = self.instance_dir(server_id) / ROOTFS
        if link.is_symlink() and Path(os.readlink(link)) == target:
            return link
        link.parent.mkdir(parents=True, exist_ok=True)
        tmp = link.with_name(link.name + ".tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        os.replace(tmp, link)
        return link

    def _log_path(self, server_id: str) -> Path:
        return self.instance_dir(server_id) / CONSOLE_LOG

    def _console_tty(self, server_id: str) -> str | None:
        dom = self._find(server_id)
        if dom is None:
            return None
        with mapped_errors(f"read console of server {server_id}"):
            if not dom.isActive():
                return None
            return console_tty(dom.XMLDesc(0))

    # ------------------------------------------------------------------ power

    def _ensure_running(
        self, server_id: str, dom: libvirt.virDomain, *, leave_off: bool = False
    ) -> Instance:
        self._link_rootfs(server_id)
        return super()._ensure_running(server_id, dom, leave_off=leave_off)

    def power_on(self, server_id: str) -> Instance:
        inst = PowerVerbs.power_on(cast(PowerVerbs, self), server_id)
        self._pumps.ensure(server_id, self._log_path(server_id))
        return inst

    def power_off(self, server_id: str) -> Instance:
        return PowerVerbs.power_off(cast(PowerVerbs, self), server_id)

    def reboot(self, server_id: str, *, hard: bool) -> Instance:
        """A stop and a start, soft or hard: a container's init may ignore libvirt's reboot
        request, and the LXC driver has no reset."""
        with self._lock_for(server_id):
            dom = self._get(server_id)
            with mapped_errors(f"reboot server {server_id}"):
                if dom.isActive():
                    dom.destroy()
                self._link_rootfs(server_id)
                dom.create()
            inst = self._instance(server_id, dom, console=False)
        self._pumps.ensure(server_id, self._log_path(server_id))
        return inst

    def pause(self, server_id: str) -> Instance:
        """The container's processes frozen (its freezer cgroup), memory kept."""
        return PowerVerbs.pause(cast(PowerVerbs, self), server_id)

    def unpause(self, server_id: str) -> Instance:
        return PowerVerbs.unpause(cast(PowerVerbs, self), server_id)

    # ------------------------------------------------------------------ spawn, destroy

    def spawn_with_ports(
        self,
        spec: InstanceSpec,
        nics: tuple[Interface, ...] = (),
        network_data: Mapping[str, Any] | None = None,
    ) -> Instance:
        inst = super().spawn_with_ports(spec, nics, network_data)
        self._pumps.ensure(spec.server_id, self._log_path(spec.server_id))
        return inst

    def destroy(self, server_id: str) -> None:
        self._pumps.stop(server_id)
        super().destroy(server_id)
        self._rootfs_link(server_id).unlink(missing_ok=True)

    def _create(
        self, spec: InstanceSpec, nics: tuple[Interface, ...], network_data: Mapping[str, Any]
    ) -> Instance:
        conn = self._connection()
        caps = self._capabilities()
        sid = spec.server_id
        workdir = self.instance_dir(sid)
        dom: libvirt.virDomain | None = None
        try:
            self._fresh_instance_dir(sid)
            rendition = spec.image.rendition.disk_format
            if rendition != "raw":
                raise SpawnFailed(
                    f"a container boots a raw image holding a file system, got {rendition}"
                )
            rootfs = workdir / ROOTFS
            _copy_rootfs(spec.image.path, rootfs, max(0, spec.disk_gb) * GiB)

            if not nics and self._port_hook is not None:
                nics, network_data = self._port_hook.plug_for(sid)
            drive = ConfigDrive(
                instance_id=sid,
                hostname=spec.hostname or spec.name,
                user_data=spec.user_data,
                public_keys=tuple(spec.ssh_public_keys),
                network_data=network_data,
            )
            config_dir = workdir / CONFIG_DIR
            _write_config_dir(config_dir, drive)
            _write_instance_meta(workdir / INSTANCE_META, spec)
            self._log_path(sid).touch()

            arch = spec.image.ref.architecture or caps.host_arch or "x86_64"
            guest = caps.guest(arch, "lxc", os_type="exe")
            if guest is None:
                raise SpawnFailed(f"this host cannot run {arch} containers")
            xml = build_lxc_xml(
                LxcSpec(
                    server_id=sid,
                    display_name=spec.name,
                    vcpus=spec.vcpus,
                    memory_mb=spec.memory_mb,
                    arch=guest.raw_arch,
                    rootfs_image=str(self._link_rootfs(sid)),
                    config_dir=str(config_dir),
                    image_id=spec.image.ref.image_id,
                    host_id=self.config.host_id,
                    interfaces=nics,
                )
            )
            dom = self._define_and_start(conn, sid, xml, start=not spec.powered_off)
            log.info("container spawned", server_id=sid, domain=dom.name())
            return self._instance(sid, dom, console=False)
        except BaseException as exc:
            self._cleanup_failed_spawn(sid, dom, workdir)
            self._rootfs_link(sid).unlink(missing_ok=True)
            if isinstance(exc, HypervisorUnavailable) or not self._alive():
                raise HypervisorUnavailable(f"spawn of server {sid}: {exc}") from exc
            if isinstance(exc, SpawnFailed) or (isinstance(exc, DriverError) and exc.retryable):
                raise  # a retryable one (the network service restarting) is retried in place
            if isinstance(exc, DriverError | DiskError | OSError | ValueError):
                raise SpawnFailed(f"spawn of server {sid}: {exc}") from exc
            raise


def rootfs_link(host_id: str, server_id: str) -> Path:
    """The short link to a server's root image (one per host and server)."""
    digest = hashlib.sha256(f"{host_id}/{server_id}".encode()).hexdigest()
    return ROOTFS_LINK_DIR / f"{digest[:16]}.raw"


def _copy_rootfs(base: Path, dest: Path, size: int) -> None:
    """The server's own copy of the image, grown to the flavor's disk when the file system
    is ext2/3/4 (``resize2fs``); any other file system keeps the image's size."""
    with base.open("rb") as f:
        f.seek(_EXT_MAGIC_OFFSET)
        ext = f.read(2) == _EXT_MAGIC
    create_raw_copy(base, dest, size if ext else 0)
    if ext and dest.stat().st_size > base.stat().st_size:
        resize2fs = shutil.which("resize2fs") or "/usr/sbin/resize2fs"
        r = subprocess.run(
            [resize2fs, "-f", str(dest)], capture_output=True, text=True, check=False, timeout=120
        )
        if r.returncode != 0:
            raise DiskError(f"resize2fs failed: {(r.stderr or r.stdout).strip()}")


def _write_config_dir(path: Path, drive: ConfigDrive) -> None:
    """What a VM's config drive holds, as files (cloud-init's NoCloud seed)."""
    path.mkdir()
    files = {
        "meta-data": meta_data(drive),
        "user-data": drive.user_data,
        "vendor-data": b"",
        "network_data.json": json.dumps(
            dict(drive.network_data) or {"links": [], "networks": [], "services": []},
            sort_keys=True,
        ).encode(),
    }
    for name, data in files.items():
        (path / name).write_bytes(data)
        os.chmod(path / name, 0o644)


def _write_instance_meta(path: Path, spec: InstanceSpec) -> None:
    meta = {
        "uuid": spec.server_id,
        "name": spec.name,
        "hostname": spec.hostname or spec.name,
        "public_keys": list(spec.ssh_public_keys),
        "user_data": base64.b64encode(spec.user_data).decode(),
        "meta": dict(spec.metadata),
    }
    path.write_text(json.dumps(meta))
    os.chmod(path, 0o600)
