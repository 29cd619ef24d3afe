"""Cold resize of a libvirt domain on its host (the agentkit ``resize`` capability).

    resize:  stop -> keep the disk and the definition -> grow the disk -> new vCPUs and
             memory -> start again if it was running
    confirm: drop what was kept
    revert:  stop -> the kept disk and definition back -> start again if it was running

What a revert needs lives beside the root disk, in the server's own directory (so a destroy
removes it with the rest):

    <disk>.pre-resize      the root disk as it was (a copy: a qcow2 overlay copies its own
                           clusters only, the cached base stays shared)
    pre-resize.xml         the domain's inactive definition as it was
    pre-resize.json        {"was_running": ..., "disk_kept": ...}: written first, so a
                           resize killed half way knows, when it is delivered again, whether
                           the guest ran and whether the copy is complete

Each verb is idempotent: a resize delivered again after a crash picks up where the marker
says; a confirm or revert with nothing kept answers as done. The disk grows with
``qemu-img resize`` on the stopped disk (a running domain is never resized: this is a cold
resize, as Nova's libvirt driver does it); it never shrinks.

A resize that moves the server to another host (``resize_move``) is in ``migrate.py``.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import libvirt

from polyvisor.agent_kvm.disks import DiskError, _run, qemu_img, virtual_size
from polyvisor.agent_kvm.libvirt_driver import LibvirtDriver, PortsLibvirtDriver
from polyvisor.agent_kvm.libvirt_errors import mapped_errors
from polyvisor.agent_kvm.libvirt_host import LibvirtHost
from polyvisor.agent_kvm.libvirt_power import PowerVerbs
from polyvisor.agent_kvm.snapshots import root_disk
from polyvisor.agentkit.driver import DriverError, Instance
from polyvisor.agentkit.resize_capabilities import Size
from polyvisor.common.logging import get_logger

__all__ = [
    "ResizeVerbs",
    "ResizingLibvirtDriver",
    "ResizingPortsLibvirtDriver",
    "resized_definition",
]

log = get_logger(__name__)

GiB = 1024**3
_KEPT_DISK = ".pre-resize"
_KEPT_XML = "pre-resize.xml"
_MARKER = "pre-resize.json"


def resized_definition(xml: str, vcpus: int, memory_mb: int) -> str:
    """The domain definition with `vcpus` and `memory_mb` (memory, currentMemory, vcpu)."""
    root = ET.fromstring(xml)
    for tag in ("memory", "currentMemory"):
        el = root.find(tag)
        if el is None:
            el = ET.SubElement(root, tag)
        el.attrib.clear()
        el.set("unit", "KiB")
        el.text = str(memory_mb * 1024)
    vcpu = root.find("vcpu")
    if vcpu is None:
        vcpu = ET.SubElement(root, "vcpu", placement="static")
    vcpu.attrib.pop("current", None)
    vcpu.text = str(vcpus)
    return ET.tostring(root, encoding="unicode")


def _grow(path: Path, fmt: str, size_bytes: int) -> None:
    """Grow the (stopped) disk to `size_bytes`; never shrink it."""
    if size_bytes <= 0 or virtual_size(path, fmt) >= size_bytes:
        return
    _run([qemu_img(), "resize", "-q", "-f", fmt, str(path), str(size_bytes)])


def _copy(src: Path, dest: Path) -> None:
    tmp = dest.with_name(dest.name + ".tmp")
    _run(["cp", "--sparse=always", "--reflink=auto", "--", str(src), str(tmp)])
    os.replace(tmp, dest)


class ResizeVerbs(LibvirtHost):
    """The ``resize`` capability, mixed into the libvirt drivers the agent runs (below)."""

    def _resize_files(self, server_id: str) -> tuple[Path, Path]:
        d = self.instance_dir(server_id)
        return d / _KEPT_XML, d / _MARKER

    def _read_marker(self, marker: Path) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(marker.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise DriverError(f"resize state {marker} unreadable: {exc}") from exc
        return data

    @staticmethod
    def _write_marker(marker: Path, data: dict[str, Any]) -> None:
        tmp = marker.with_name(marker.name + ".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, marker)

    def resize(self, server_id: str, size: Size) -> Instance:
        with self._lock_for(server_id):
            dom = self._get(server_id)
            kept_xml, marker = self._resize_files(server_id)
            with mapped_errors(f"read definition of server {server_id}"):
                xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
                running = bool(dom.isActive())
            disk = root_disk(xml)
            kept_disk = disk.path.with_name(disk.path.name + _KEPT_DISK)
            state = self._read_marker(marker)
            if state is None:
                state = {"was_running": running, "disk_kept": False}
                self._write_marker(marker, state)
            with mapped_errors(f"stop server {server_id} for its resize"):
                if dom.isActive():
                    # A clean shutdown first, then pull the plug (a cold resize).
                    if self.config.clean_shutdown_timeout_s > 0:
                        PowerVerbs._shutdown_cleanly(dom, self.config.clean_shutdown_timeout_s)
                    if dom.isActive():
                        dom.destroy()
            try:
                if not state["disk_kept"]:
                    _copy(disk.path, kept_disk)
                    kept_xml.write_text(xml)
                    state = {**state, "disk_kept": True}
                    self._write_marker(marker, state)
                _grow(disk.path, disk.fmt, size.disk_gb * GiB)
            except DiskError as exc:
                raise DriverError(f"resize of server {server_id}: {exc}") from exc
            conn = self._connection()
            with mapped_errors(f"redefine server {server_id} with its new size"):
                dom = conn.defineXML(resized_definition(xml, size.vcpus, size.memory_mb))
            log.info(
                "server resized",
                server_id=server_id,
                vcpus=size.vcpus,
                memory_mb=size.memory_mb,
                disk_gb=size.disk_gb,
            )
            if state["was_running"]:
                return self._ensure_running(server_id, dom)
            return self._instance(server_id, dom, console=False)

    def confirm_resize(self, server_id: str) -> Instance:
        with self._lock_for(server_id):
            dom = self._get(server_id)
            kept_xml, marker = self._resize_files(server_id)
            with mapped_errors(f"read definition of server {server_id}"):
                disk = root_disk(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
            disk.path.with_name(disk.path.name + _KEPT_DISK).unlink(missing_ok=True)
            kept_xml.unlink(missing_ok=True)
            marker.unlink(missing_ok=True)
            log.info("resize confirmed", server_id=server_id)
            return self._instance(server_id, dom, console=True)

    def revert_resize(self, server_id: str, size: Size) -> Instance:
        with self._lock_for(server_id):
            dom = self._get(server_id)
            kept_xml, marker = self._resize_files(server_id)
            state = self._read_marker(marker)
            if state is None:
                # Reverted already (a repeated command), or never resized here.
                log.info("nothing kept to revert to", server_id=server_id)
                return self._instance(server_id, dom, console=True)
            with mapped_errors(f"stop server {server_id} for its revert"):
                if dom.isActive():
                    dom.destroy()
            if state.get("disk_kept"):
                with mapped_errors(f"read definition of server {server_id}"):
                    disk = root_disk(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
                kept_disk = disk.path.with_name(disk.path.name + _KEPT_DISK)
                if kept_disk.exists():
                    os.replace(kept_disk, disk.path)
                if kept_xml.exists():
                    with mapped_errors(f"redefine server {server_id} as it was"):
                        dom = self._connection().defineXML(kept_xml.read_text())
            else:
                # Killed before the copy was complete: the disk was not touched yet.
                with mapped_errors(f"read definition of server {server_id}"):
                    xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
                with mapped_errors(f"redefine server {server_id} as it was"):
                    dom = self._connection().defineXML(
                        resized_definition(xml, size.vcpus, size.memory_mb)
                    )
            kept_xml.unlink(missing_ok=True)
            marker.unlink(missing_ok=True)
            log.info("resize reverted", server_id=server_id)
            if state.get("was_running", True):
                return self._ensure_running(server_id, dom)
            return self._instance(server_id, dom, console=False)


class ResizingLibvirtDriver(ResizeVerbs, LibvirtDriver):
    """The libvirt driver with the ``resize`` capability."""


class ResizingPortsLibvirtDriver(ResizeVerbs, PortsLibvirtDriver):
    """The libvirt driver that plumbs ports, with the ``resize`` capability."""
