"""What a move between KVM hosts does on the destination through its libvirtd alone (no
shared file system): the destination's copy of the domain definition, a transient ``dir``
storage pool to stage files in, uploads into it, and removing a staged directory again.
``migrate`` drives them.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import libvirt

from polyvisor.agent_kvm.domain_xml import METADATA_NS, METADATA_PREFIX
from polyvisor.agent_kvm.libvirt_errors import mapped_errors
from polyvisor.agentkit.driver import DriverError
from polyvisor.common.logging import get_logger

__all__ = [
    "as_qcow2",
    "destination_xml",
    "remove_peer_dir",
    "staged_volume",
    "staging_pool",
    "upload",
]

log = get_logger(__name__)

_CHUNK = 1 << 20


def destination_xml(xml: str, src_dir: Path, dst_dir: Path, dest_host: str) -> str:
    """The domain as the destination defines it: paths under ``src_dir`` moved to ``dst_dir``,
    no backing chain (the destination's disk is whole), tagged with ``dest_host``, VNC port
    chosen there."""
    ET.register_namespace(METADATA_PREFIX, METADATA_NS)
    root = ET.fromstring(xml)
    if root.find("devices/interface") is not None:
        raise DriverError(
            "servers with ports are not moved between KVM hosts yet (their network plumbing "
            "is not built on the destination)"
        )
    prefix = f"{src_dir}/"
    for src in root.iter("source"):
        for attr in ("file", "path"):
            value = src.get(attr, "")
            if value.startswith(prefix):
                src.set(attr, f"{dst_dir}/{value[len(prefix) :]}")
        src.attrib.pop("index", None)
    for disk in root.findall("devices/disk"):
        for chain in disk.findall("backingStore"):
            disk.remove(chain)
    host = root.find(f"metadata/{{{METADATA_NS}}}instance/{{{METADATA_NS}}}host-id")
    if host is None:
        raise DriverError("the domain carries no Polyvisor tag")
    host.text = dest_host
    for gfx in root.findall("devices/graphics"):
        gfx.attrib.pop("port", None)
        gfx.set("autoport", "yes")
    return ET.tostring(root, encoding="unicode")


@contextmanager
def staging_pool(conn: libvirt.virConnect, directory: Path) -> Iterator[libvirt.virStoragePool]:
    """A transient ``dir`` pool over ``directory`` (made if missing) on ``conn``'s host."""
    xml = (
        f"<pool type='dir'><name>polyvisor-move-{uuid.uuid4().hex[:12]}</name><target>"
        f"<path>{directory}</path><permissions><mode>0755</mode></permissions></target></pool>"
    )
    with mapped_errors(f"open {directory} on the peer"):
        pool = conn.storagePoolCreateXML(xml, libvirt.VIR_STORAGE_POOL_CREATE_WITH_BUILD)
    try:
        yield pool
    finally:
        try:
            pool.destroy()
        except libvirt.libvirtError as exc:
            log.warning("transient pool not stopped", path=str(directory), error=str(exc))


def staged_volume(pool: libvirt.virStoragePool, name: str, capacity: int, fmt: str = "raw") -> None:
    with mapped_errors(f"create {name} on the peer"):
        try:
            pool.storageVolLookupByName(name).delete(0)
        except libvirt.libvirtError:
            pass
        pool.createXML(
            f"<volume><name>{name}</name><capacity>{capacity}</capacity><target>"
            f"<format type='{fmt}'/><permissions><mode>0644</mode></permissions></target>"
            "</volume>",
            0,
        )


def upload(conn: libvirt.virConnect, pool: libvirt.virStoragePool, src: Path, name: str) -> None:
    size = src.stat().st_size
    staged_volume(pool, name, size)
    if size == 0:
        return
    with mapped_errors(f"upload {name} to the peer"):
        vol = pool.storageVolLookupByName(name)
        stream = conn.newStream(0)
        vol.upload(stream, 0, size, 0)
        try:
            with src.open("rb") as fh:
                left = size  # a log may grow while it is read: its first `size` bytes
                while left > 0 and (chunk := fh.read(min(_CHUNK, left))):
                    left -= len(chunk)
                    view = memoryview(chunk)
                    while view:
                        sent = stream.send(bytes(view))
                        view = view[sent:]
            stream.finish()
        except BaseException:
            stream.abort()
            raise


def remove_peer_dir(conn: libvirt.virConnect, directory: Path) -> None:
    """Remove ``directory`` (flat) on ``conn``'s host, whatever it holds (a pool that is
    defined for the time of it: only an inactive pool removes its directory)."""
    xml = (
        f"<pool type='dir'><name>polyvisor-move-{uuid.uuid4().hex[:12]}</name><target>"
        f"<path>{directory}</path></target></pool>"
    )
    try:
        pool = conn.storagePoolDefineXML(xml, 0)
    except libvirt.libvirtError as exc:
        log.warning("directory on the peer not removed", path=str(directory), error=str(exc))
        return
    try:
        pool.create(0)
        for vol in pool.listAllVolumes(0):
            vol.delete(0)
        pool.destroy()
        pool.delete(0)
    except libvirt.libvirtError as exc:
        log.warning("directory on the peer not removed", path=str(directory), error=str(exc))
    finally:
        try:
            if pool.isActive():
                pool.destroy()
            pool.undefine()
        except libvirt.libvirtError as exc:
            log.warning("pool left defined on the peer", path=str(directory), error=str(exc))


def as_qcow2(xml: str, target: str) -> str:
    """The root disk (``target``) as the standalone qcow2 a move leaves on the destination."""
    root = ET.fromstring(xml)
    for disk in root.findall("devices/disk"):
        t = disk.find("target")
        if t is not None and t.get("dev") == target:
            drv = disk.find("driver")
            if drv is None:
                drv = ET.SubElement(disk, "driver", name="qemu")
            drv.set("type", "qcow2")
    return ET.tostring(root, encoding="unicode")
