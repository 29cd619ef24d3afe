"""Volumes on KVM guests: the ``volume_file`` capability (a qcow2/raw file of the volume
service's ``file`` backend, attached as a file disk).

A volume is a SCSI disk on the domain's virtio-scsi controller (one is added, live, when the
domain has none): a SCSI disk is plugged and unplugged by the controller at once, without
the guest acknowledging an ACPI request, so a detach never waits for a guest that does not
answer (a halted guest, a busy one). The disk's serial is the volume id, so the guest finds
it under /dev/disk/by-id and the agent finds it again (an attach or detach repeated after a
restart answers as done). Both verbs change the live domain and its persistent definition
together (``AFFECT_LIVE | AFFECT_CONFIG``), or the definition only when the server is off.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

import libvirt

from polyvisor.agent_kvm.libvirt_errors import mapped_errors
from polyvisor.agent_kvm.libvirt_host import LibvirtHost
from polyvisor.agentkit.driver import DriverError, InstanceNotFound, SpawnFailed
from polyvisor.agentkit.volume_capabilities import VolumeConnection
from polyvisor.common.logging import get_logger

__all__ = ["RootDisk", "VolumeVerbs", "find_volume_disk", "root_volume_disk", "volume_disk_xml"]

log = get_logger(__name__)

#: How long a live detach may take before the agent says the guest still holds the disk.
DETACH_WAIT_S = 20.0
_FORMATS = ("qcow2", "raw")


def _serial(volume_id: str) -> str:
    return volume_id


def volume_disk_xml(vol: VolumeConnection, target: str) -> str:
    fmt = vol.attrs.get("format", "qcow2")
    if fmt not in _FORMATS:
        raise DriverError(f"volume {vol.volume_id}: unknown file format {fmt!r}")
    return (
        "<disk type='file' device='disk'>"
        f"<driver name='qemu' type={quoteattr(fmt)} cache='none' discard='unmap'/>"
        f"<source file={quoteattr(vol.attr('path'))}/>"
        f"<target dev={quoteattr(target)} bus='scsi'/>"
        f"<serial>{_serial(vol.volume_id)}</serial>"
        "</disk>"
    )


@dataclass(frozen=True, slots=True)
class RootDisk:
    """A domain's boot disk: a file (``path``, ``format``), or a ``network`` disk put in the
    place of the file disk ``path`` names in the XML (an RBD image)."""

    path: Path
    format: str
    network: ET.Element | None = None


def root_volume_disk(vol: VolumeConnection) -> RootDisk:
    """The boot disk of a server booting from ``vol``: the volume's own file, as it is (never
    copied; outside the server's directory, so destroy never removes it)."""
    if vol.kind != "file":
        raise SpawnFailed(f"volume {vol.volume_id}: this host boots from file volumes only")
    fmt = vol.attrs.get("format", "qcow2")
    if fmt not in _FORMATS:
        raise SpawnFailed(f"volume {vol.volume_id}: unknown file format {fmt!r}")
    path = Path(vol.attr("path"))
    if not path.is_file():
        raise SpawnFailed(f"volume {vol.volume_id}: no file {path} on this host")
    return RootDisk(path, fmt)


def find_volume_disk(xml: str, vol: VolumeConnection) -> str | None:
    """The <disk> element (as XML) of the volume in a domain's XML: by its serial, or by
    its file (``path``), or by its RBD image (``pool``/``image``)."""
    path = vol.attrs.get("path", "")
    pool, image = vol.attrs.get("pool", ""), vol.attrs.get("image", "")
    rbd = f"{pool}/{image}" if pool and image else ""
    for d in ET.fromstring(xml).findall("devices/disk"):
        serial = d.findtext("serial") or ""
        src = d.find("source")
        file = src.get("file", "") if src is not None else ""
        name = src.get("name", "") if src is not None else ""
        if serial == _serial(vol.volume_id) or (path and file == path) or (rbd and name == rbd):
            return ET.tostring(d, encoding="unicode")
    return None


def _free_target(xml: str) -> str:
    used = {t.get("dev", "") for t in ET.fromstring(xml).findall("devices/disk/target")}
    for i in range(26 * 27):
        name = "sd" + (chr(97 + i) if i < 26 else chr(96 + i // 26) + chr(97 + i % 26))
        if name not in used:
            return name
    raise DriverError("the domain has no free disk name left")


def _has_scsi_controller(xml: str) -> bool:
    return any(
        c.get("type") == "scsi" and c.get("model", "virtio-scsi") == "virtio-scsi"
        for c in ET.fromstring(xml).findall("devices/controller")
    )


class VolumeVerbs(LibvirtHost):
    """Capability volume_file."""

    def _volume_flags(self, dom: libvirt.virDomain) -> int:
        with mapped_errors("read domain state"):
            live = bool(dom.isActive())
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        return flags | libvirt.VIR_DOMAIN_AFFECT_LIVE if live else flags

    def attach_file_volume(self, server_id: str, volume: VolumeConnection) -> None:
        self._attach_volume(server_id, volume, lambda target: volume_disk_xml(volume, target))

    def detach_file_volume(self, server_id: str, volume: VolumeConnection) -> None:
        self._detach_volume(server_id, volume)

    def _attach_volume(
        self, server_id: str, volume: VolumeConnection, disk_xml: Callable[[str], str]
    ) -> None:
        """Attach the disk ``disk_xml(target)`` (a free SCSI target) unless the volume is there."""
        with self._lock_for(server_id):
            dom = self._find(server_id)
            if dom is None:
                raise InstanceNotFound(f"no server {server_id} on this host")
            with mapped_errors(f"read definition of server {server_id}"):
                xml = dom.XMLDesc(0)
            if find_volume_disk(xml, volume) is not None:
                return
            flags = self._volume_flags(dom)
            if not _has_scsi_controller(xml):
                with mapped_errors(f"add a virtio-scsi controller to server {server_id}"):
                    dom.attachDeviceFlags("<controller type='scsi' model='virtio-scsi'/>", flags)
                    xml = dom.XMLDesc(0)
            disk = disk_xml(_free_target(xml))
            with mapped_errors(f"attach volume {volume.volume_id} to server {server_id}"):
                dom.attachDeviceFlags(disk, flags)
            log.info("volume attached", server_id=server_id, volume_id=volume.volume_id)

    def _detach_volume(self, server_id: str, volume: VolumeConnection) -> None:
        with self._lock_for(server_id):
            dom = self._find(server_id)
            if dom is None:
                return  # the server is gone, and its disks with it
            with mapped_errors(f"read definition of server {server_id}"):
                live = bool(dom.isActive())
                xml = dom.XMLDesc(0)
                inactive = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE) if live else xml
            in_live = find_volume_disk(xml, volume) if live else None
            in_config = find_volume_disk(inactive, volume)
            if in_config is not None:
                with mapped_errors(f"detach volume {volume.volume_id} from server {server_id}"):
                    dom.detachDeviceFlags(in_config, libvirt.VIR_DOMAIN_AFFECT_CONFIG)
            if in_live is not None:
                with mapped_errors(f"detach volume {volume.volume_id} from server {server_id}"):
                    dom.detachDeviceFlags(in_live, libvirt.VIR_DOMAIN_AFFECT_LIVE)
                deadline = time.monotonic() + DETACH_WAIT_S
                while True:
                    with mapped_errors(f"read definition of server {server_id}"):
                        still = find_volume_disk(dom.XMLDesc(0), volume)
                    if still is None:
                        break
                    if time.monotonic() > deadline:
                        raise DriverError(
                            f"server {server_id} still holds volume {volume.volume_id} after"
                            f" {DETACH_WAIT_S:.0f} s"
                        )
                    time.sleep(0.2)
            log.info("volume detached", server_id=server_id, volume_id=volume.volume_id)
