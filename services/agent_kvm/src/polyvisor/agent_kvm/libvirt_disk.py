"""Verbs on a server's root disk and its serial log: a snapshot of the disk at one instant
(see ``snapshots``), a rebuild from another image in place, and the tail of the console log.
"""

from __future__ import annotations

import os
from pathlib import Path

import libvirt

from polyvisor.agent_kvm.disks import DiskError, create_overlay, create_raw_copy
from polyvisor.agent_kvm.domain_xml import parse_domain_xml
from polyvisor.agent_kvm.libvirt_errors import mapped_errors
from polyvisor.agent_kvm.libvirt_host import GiB, LibvirtHost, inside
from polyvisor.agent_kvm.snapshots import (
    RootDisk,
    commit_overlay,
    copy_disk,
    root_disk,
    snapshot_xml,
)
from polyvisor.agentkit.disk_capabilities import DiskSnapshot
from polyvisor.agentkit.driver import (
    DriverError,
    Instance,
    LocalImage,
    PowerState,
)
from polyvisor.common.logging import get_logger

__all__ = ["DiskVerbs"]

log = get_logger(__name__)

# In the name of the temporary overlay that takes a running guest's writes during a snapshot.
_SNAPSHOT_OVERLAY = ".snapshot-"


class DiskVerbs(LibvirtHost):
    """Capabilities snapshot, rebuild and console_log."""

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

    def rebuild(
        self, server_id: str, image: LocalImage, disk_gb: int, *, powered_off: bool = False
    ) -> Instance:
        """A new root disk from ``image`` in place of the old one (same file, same domain),
        then start it (``powered_off``: leave it off, it was stopped)."""
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
            log.info("server rebuilt", server_id=server_id, image_id=image.ref.image_id,
                     powered_off=powered_off)  # fmt: skip
            return self._ensure_running(server_id, dom, leave_off=powered_off)

    def console_output(self, server_id: str, max_bytes: int) -> bytes:
        """The tail of the serial log the domain writes (its serial port and console, to a
        file in the server's own directory, appended across boots)."""
        dom = self._get(server_id)
        with mapped_errors(f"read definition of server {server_id}"):
            info = parse_domain_xml(dom.XMLDesc(0))
        workdir = self.instance_dir(server_id)
        logs = [Path(p) for p in info.serial_logs if inside(Path(p), workdir)]
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
