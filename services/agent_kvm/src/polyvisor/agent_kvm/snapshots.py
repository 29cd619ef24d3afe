"""A consistent copy of a domain's root disk, and the XML it takes. Blocking.

A running domain: an external disk-only snapshot moves the guest's writes to a temporary
overlay (quiesced through the guest agent when it answers, crash-consistent otherwise), the
root disk underneath is then a file nobody writes and ``qemu-img convert`` copies it (with its
backing chain) into one standalone qcow2; an active block commit folds the overlay back into
the root disk and pivots the guest onto it again, and the overlay is removed. Whatever fails,
the guest ends on its own root disk and the overlay is gone.

A stopped domain: nothing writes the disk; ``qemu-img convert`` copies it directly.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import libvirt

from polyvisor.agent_kvm.disks import DiskError, flatten_to_qcow2
from polyvisor.agentkit.driver import DriverError
from polyvisor.common.logging import get_logger

__all__ = ["RootDisk", "commit_overlay", "copy_disk", "root_disk", "snapshot_xml"]

log = get_logger(__name__)

_COMMIT_TIMEOUT_S = 300.0


@dataclass(frozen=True, slots=True)
class RootDisk:
    target: str  # vda, sda, hda
    path: Path
    fmt: str  # qcow2, raw
    others: tuple[str, ...]  # the targets of the domain's other disks (config drive)


def root_disk(xml: str) -> RootDisk:
    """The domain's first file-backed disk (device="disk"), which we made its root disk."""
    root = ET.fromstring(xml)
    found: RootDisk | None = None
    others: list[str] = []
    for d in root.findall("devices/disk"):
        target = d.find("target")
        dev = target.get("dev", "") if target is not None else ""
        src = d.find("source")
        path = src.get("file", "") if src is not None else ""
        if found is None and d.get("device", "disk") == "disk" and path and dev:
            drv = d.find("driver")
            fmt = drv.get("type", "raw") if drv is not None else "raw"
            found = RootDisk(dev, Path(path), fmt, ())
        elif dev:
            others.append(dev)
    if found is None:
        raise DriverError("the domain has no file-backed root disk")
    return RootDisk(found.target, found.path, found.fmt, tuple(others))


def snapshot_xml(disk: RootDisk, overlay: Path) -> str:
    """An external disk-only snapshot of the root disk into ``overlay``; no other disk."""
    snap = ET.Element("domainsnapshot")
    ET.SubElement(snap, "description").text = "polyvisor image snapshot (temporary)"
    disks = ET.SubElement(snap, "disks")
    d = ET.SubElement(disks, "disk", name=disk.target, snapshot="external")
    ET.SubElement(d, "driver", type="qcow2")
    ET.SubElement(d, "source", file=str(overlay))
    for other in disk.others:
        ET.SubElement(disks, "disk", name=other, snapshot="no")
    return ET.tostring(snap, encoding="unicode")


def copy_disk(src: Path, fmt: str, dest: Path) -> None:
    """A standalone qcow2 of ``src`` (its backing chain flattened)."""
    try:
        flatten_to_qcow2(src, fmt, dest)
    except DiskError as e:
        raise DriverError(f"copy of the disk failed: {e}") from e


def commit_overlay(dom: libvirt.virDomain, target: str) -> None:
    """Fold the active overlay of ``target`` back into its backing file and pivot onto it."""
    flags = libvirt.VIR_DOMAIN_BLOCK_COMMIT_ACTIVE | libvirt.VIR_DOMAIN_BLOCK_COMMIT_SHALLOW
    dom.blockCommit(target, None, None, 0, flags)
    deadline = time.monotonic() + _COMMIT_TIMEOUT_S
    while True:
        info = dom.blockJobInfo(target, 0)
        # Ready once the whole overlay is copied down: cur == end (and end > 0, or nothing
        # was written to the overlay at all).
        if info and info.get("cur") == info.get("end"):
            break
        if not info:
            raise DriverError(f"the block commit of {target} vanished before it was ready")
        if time.monotonic() > deadline:
            dom.blockJobAbort(target, 0)
            raise DriverError(f"the block commit of {target} took over {_COMMIT_TIMEOUT_S:g}s")
        time.sleep(0.05)
    # cur == end can be seen a moment before libvirt marks the job ready: it then refuses the
    # pivot ("not ready for pivot yet"); ask again until it is ready.
    while True:
        try:
            dom.blockJobAbort(target, libvirt.VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT)
            break
        except libvirt.libvirtError as e:
            if e.get_error_code() != libvirt.VIR_ERR_BLOCK_COPY_ACTIVE:
                raise
            if time.monotonic() > deadline:
                dom.blockJobAbort(target, 0)
                raise DriverError(f"the block commit of {target} never became ready") from e
            time.sleep(0.05)
    # The pivot completes asynchronously: wait until no job is left on the disk.
    deadline = time.monotonic() + 30.0
    while dom.blockJobInfo(target, 0):
        if time.monotonic() > deadline:
            raise DriverError(f"the pivot of {target} did not complete")
        time.sleep(0.05)
