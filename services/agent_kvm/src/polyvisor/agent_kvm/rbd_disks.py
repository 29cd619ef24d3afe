"""Root disks in Ceph RBD (``POLYVISOR_DISK_MODE=rbd``): a copy-on-write clone per server.

    disks = rbd_root_disks(config)                    # None unless disk mode rbd
    spec = disks.clone_root(server_id, base, sha256, size_bytes)
    xml = replace_root_disk(xml, placeholder, disks.disk_element(spec))  # a network disk
    disks.remove_root(server_id)                      # on destroy / failed spawn

The image's raw rendition (verified by the runtime's image cache) is imported once into the
pool as ``pv-base-<sha256 prefix>`` with a protected snapshot ``@base``; content-addressed,
so every server of that image on every host of the cluster shares it and a second import
is never needed. Each server's root disk is ``pv-disk-<server id>``, a clone of that
snapshot grown to the flavor's size: created in constant time whatever the image's size,
and holding only what the guest writes.

QEMU reaches the disk through its own librbd (Debian ``qemu-block-extra``), never the
kernel's rbd module: a libvirt network disk (``protocol='rbd'``) that reads the cluster's
ceph.conf (``<config file>``) and authenticates with a libvirt ``ceph`` secret holding the
cephx key (defined by the agent, value from the keyring; the key never appears in the domain
XML). Blocking: the driver runs in the runtime's executor.
"""

from __future__ import annotations

import base64
import binascii
import configparser
import json
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import libvirt

from polyvisor.agent_kvm.libvirt_host import LibvirtConfig
from polyvisor.common.logging import get_logger
from polyvisor.common.rbd import Rbd, RbdError, RbdNotFound, RbdTarget

__all__ = [
    "BASE_PREFIX",
    "DISK_PREFIX",
    "RbdDiskError",
    "RbdRootDisks",
    "disk_name",
    "rbd_root_disks",
    "replace_root_disk",
    "volume_disk_xml",
]

log = get_logger(__name__)

BASE_PREFIX = "pv-base-"
DISK_PREFIX = "pv-disk-"
SNAPSHOT = "base"
_SECRET_NS = uuid.UUID("3f1e4a52-9c0b-4d7e-8b11-6a2f5c9d0e47")


class RbdDiskError(Exception):
    """An RBD root disk could not be made, found or removed."""


def disk_name(server_id: str) -> str:
    return f"{DISK_PREFIX}{server_id}"


def _key_from_keyring(keyring: Path, user: str) -> str:
    parser = configparser.ConfigParser(strict=False)
    try:
        parser.read_string(keyring.read_text())
    except (OSError, configparser.Error) as exc:
        raise RbdDiskError(f"cannot read the keyring {keyring}: {exc}") from exc
    section = f"client.{user}"
    if not parser.has_option(section, "key"):
        raise RbdDiskError(f"the keyring {keyring} has no key for {section}")
    return parser.get(section, "key").strip()


@dataclass(frozen=True, slots=True)
class _Settings:
    conf: str
    pool: str
    user: str
    keyring: str


class RbdRootDisks:
    """Clones as root disks in one pool (see the module docstring)."""

    def __init__(self, conf: str, pool: str, user: str = "admin", keyring: str = "") -> None:
        self.conf = conf
        self.pool = pool
        self.user = user
        self.keyring = keyring or f"/etc/ceph/ceph.client.{user}.keyring"
        self.rbd = Rbd(RbdTarget(conf, user, keyring))
        self.secret_uuid = str(uuid.uuid5(_SECRET_NS, f"{conf}|{user}"))
        self._base_lock = threading.Lock()

    # ------------------------------------------------------------------ images

    def _spec(self, name: str) -> str:
        return f"{self.pool}/{name}"

    def _exists(self, spec: str) -> bool:
        try:
            self.rbd.run_sync("info", "--format", "json", spec)
        except RbdNotFound:
            return False
        return True

    def ensure_base(self, base: Path, sha256: str) -> str:
        """``pool/pv-base-<sha>@base`` holding the raw rendition at ``base`` (imported once)."""
        name = f"{BASE_PREFIX}{sha256.lower()[:32]}"
        spec = self._spec(name)
        snap = f"{spec}@{SNAPSHOT}"
        with self._base_lock:
            try:
                snaps = [
                    str(x["name"])
                    for x in json.loads(self.rbd.run_sync("snap", "ls", "--format", "json", spec))
                ]
            except RbdNotFound:
                snaps = None
            if snaps is not None and SNAPSHOT in snaps:
                return snap
            if snaps is not None:  # an import interrupted before its snapshot: start over
                self.rbd.run_sync("rm", "--no-progress", spec)
            tmp = self._spec(f"{name}.part-{uuid.uuid4().hex[:8]}")
            try:
                self.rbd.import_file_sync(base, tmp)
                self.rbd.run_sync("snap", "create", "--no-progress", f"{tmp}@{SNAPSHOT}")
                self.rbd.run_sync("snap", "protect", f"{tmp}@{SNAPSHOT}")
                self.rbd.run_sync("rename", tmp, spec)
            except RbdError:
                for argv in (
                    ("snap", "unprotect", f"{tmp}@{SNAPSHOT}"),
                    ("snap", "purge", "--no-progress", tmp),
                    ("rm", "--no-progress", tmp),
                ):
                    try:
                        self.rbd.run_sync(*argv)
                    except RbdError:
                        pass
                if not self._exists(spec):  # another host imported it meanwhile: fine
                    raise
            log.info("image base imported into RBD", spec=spec)
            return snap

    def clone_root(self, server_id: str, base: Path, sha256: str, size_bytes: int) -> str:
        """The server's root disk, a clone of the image's base grown to ``size_bytes``;
        ``pool/pv-disk-<server id>``. A clone left by an interrupted spawn is replaced."""
        try:
            parent = self.ensure_base(base, sha256)
            spec = self._spec(disk_name(server_id))
            if self._exists(spec):
                self.rbd.run_sync("rm", "--no-progress", spec)
            self.rbd.run_sync("clone", parent, spec)
            size = int(base.stat().st_size)
            if size_bytes > size:
                mib = (size_bytes + (1 << 20) - 1) >> 20
                self.rbd.run_sync("resize", "--no-progress", "--size", f"{mib}M", spec)
        except (RbdError, OSError) as exc:
            raise RbdDiskError(f"RBD root disk of server {server_id}: {exc}") from exc
        return spec

    def remove_root(self, server_id: str) -> None:
        """Remove the server's clone (nothing when it is gone already)."""
        try:
            self.rbd.run_sync("rm", "--no-progress", self._spec(disk_name(server_id)))
        except RbdNotFound:
            return
        except RbdError as exc:
            raise RbdDiskError(f"remove the RBD root disk of server {server_id}: {exc}") from exc

    def used_bytes(self, server_id: str) -> int:
        """What the server's clone holds beyond its parent (``rbd du``)."""
        out = self.rbd.run_sync("du", "--format", "json", self._spec(disk_name(server_id)))
        data = json.loads(out)
        return sum(int(i["used_size"]) for i in data.get("images", []) if not i.get("snapshot"))

    # ------------------------------------------------------------------ libvirt

    def ensure_secret(self, conn: libvirt.virConnect, secret_uuid: str = "") -> str:
        """The libvirt ``ceph`` secret holding our cephx key (defined or refreshed); its uuid:
        ours, or ``secret_uuid`` (the one a volume connection names)."""
        key = _key_from_keyring(Path(self.keyring), self.user)
        secret_uuid = secret_uuid or self.secret_uuid
        xml = (
            "<secret ephemeral='no' private='yes'>"
            f"<uuid>{secret_uuid}</uuid>"
            f"<usage type='ceph'><name>polyvisor client.{self.user} {secret_uuid}</name>"
            "</usage></secret>"
        )
        try:
            secret = conn.secretDefineXML(xml, 0)
            # libvirt keeps a ceph secret's raw bytes (what `virsh secret-set-value --base64`
            # decodes) and hands QEMU their base64, which is the keyring's key
            secret.setValue(base64.b64decode(key), 0)
        except (libvirt.libvirtError, binascii.Error) as exc:
            raise RbdDiskError(f"libvirt secret for client.{self.user}: {exc}") from exc
        return secret_uuid

    def disk_element(self, spec: str) -> ET.Element:
        """The network ``<disk>`` of the RBD image ``spec`` (no target: see
        ``replace_root_disk``)."""
        disk = ET.Element("disk", type="network", device="disk")
        ET.SubElement(disk, "driver", name="qemu", type="raw", cache="writeback", discard="unmap")
        ET.SubElement(disk, "auth", username=self.user).append(
            ET.Element("secret", type="ceph", uuid=self.secret_uuid)
        )
        source = ET.SubElement(disk, "source", protocol="rbd", name=spec)
        ET.SubElement(source, "config", file=self.conf)
        return disk


def replace_root_disk(xml: str, placeholder: str, disk: ET.Element) -> str:
    """The domain XML with its file root disk (source ``placeholder``) replaced by ``disk`` (a
    network ``<disk>``), at the same target (with the old serial when ``disk`` has none)."""
    root = ET.fromstring(xml)
    devices = root.find("devices")
    assert devices is not None
    for i, old in enumerate(list(devices)):
        src = old.find("source")
        if old.tag == "disk" and src is not None and src.get("file") == placeholder:
            for child in disk.findall("target"):
                disk.remove(child)
            for name in ("target", "serial"):
                kept = old.find(name)
                if kept is not None and disk.find(name) is None:
                    disk.append(kept)
            devices.remove(old)
            devices.insert(i, disk)
            return ET.tostring(root, encoding="unicode")
    raise RbdDiskError("the domain XML has no root disk to put on RBD")


def volume_disk_xml(
    attrs: Mapping[str, str], target_dev: str, target_bus: str = "virtio", serial: str = ""
) -> str:
    """The libvirt ``<disk>`` of an ``rbd`` volume connection (the volume service's rbd
    backend: ``pool``, ``image``, ``monitors`` as ``host:port,...``, ``user``,
    ``secret_uuid``), for attach and hot-plug. QEMU opens it with its own librbd; the key
    comes from the libvirt secret (``RbdRootDisks.ensure_secret(conn, secret_uuid)``)."""
    try:
        pool, image = attrs["pool"], attrs["image"]
        user, secret_uuid = attrs["user"], attrs["secret_uuid"]
        monitors = [m.strip() for m in attrs["monitors"].split(",") if m.strip()]
    except KeyError as exc:
        raise RbdDiskError(f"an rbd volume connection needs {exc.args[0]!r}") from exc
    disk = ET.Element("disk", type="network", device="disk")
    ET.SubElement(disk, "driver", name="qemu", type="raw", cache="writeback", discard="unmap")
    ET.SubElement(disk, "auth", username=user).append(
        ET.Element("secret", type="ceph", uuid=secret_uuid)
    )
    source = ET.SubElement(disk, "source", protocol="rbd", name=f"{pool}/{image}")
    for m in monitors:
        host, _, port = m.rpartition(":")
        if not host or not port.isdigit():
            raise RbdDiskError(f"monitor {m!r} is not host:port")
        ET.SubElement(source, "host", name=host.strip("[]"), port=port)
    ET.SubElement(disk, "target", dev=target_dev, bus=target_bus)
    if serial:
        ET.SubElement(disk, "serial").text = serial[:20]
    return ET.tostring(disk, encoding="unicode")


_cache: dict[_Settings, RbdRootDisks] = {}
_cache_lock = threading.Lock()


def rbd_root_disks(config: LibvirtConfig) -> RbdRootDisks | None:
    """The RBD root disks of an agent's settings (None unless ``disk_mode`` is ``rbd``)."""
    if config.disk_mode != "rbd":
        return None
    s = _Settings(config.rbd_conf, config.rbd_pool, config.rbd_user, config.rbd_keyring)
    with _cache_lock:
        if s not in _cache:
            _cache[s] = RbdRootDisks(s.conf, s.pool, s.user, s.keyring)
        return _cache[s]
