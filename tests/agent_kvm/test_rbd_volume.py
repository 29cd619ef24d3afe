"""An RBD volume hot-plugged into a real running guest (QEMU's librbd through a libvirt
network disk reaching the monitor by host:port, as a volume connection names it); its
content intact once the guest is gone."""

from __future__ import annotations

import json
import os
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from polyvisor.agent_kvm.rbd_disks import RbdRootDisks, volume_disk_xml
from tests.agent_kvm.boot_sector import BOOT_LINE, boot_sector
from tests.agent_kvm.kvm_support import SYSTEM_URI, virt_type
from tests.fixtures.ceph import CephCluster

pytestmark = pytest.mark.slow

MiB = 1 << 20
MARK = b"POLYVISOR-VOLUME-MARKER"


@pytest.fixture
def guest(libvirtd: str, world_dir: Path) -> Iterator[tuple[libvirt.virDomain, Path]]:
    """A running boot-sector guest on a file disk (transient: gone once destroyed)."""
    work = world_dir / f"rbdvol-{uuid.uuid4().hex[:8]}"
    work.mkdir()
    work.chmod(0o755)
    disk = work / "boot.raw"
    disk.write_bytes(boot_sector())
    os.truncate(disk, MiB)
    disk.chmod(0o644)
    log = work / "console.log"
    xml = f"""<domain type='{virt_type()}'><name>pvtest-{work.name}</name>
<memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type><boot dev='hd'/></os>
<features><acpi/><apic/></features>
<devices><disk type='file' device='disk'><driver name='qemu' type='raw'/>
<source file='{disk}'/><target dev='vda' bus='virtio'/></disk>
<serial type='file'><source path='{log}'/></serial></devices></domain>"""
    conn = libvirt.open(SYSTEM_URI)
    dom = conn.createXML(xml, 0)
    try:
        deadline = time.monotonic() + 120
        while not (log.exists() and BOOT_LINE in log.read_bytes()):
            assert time.monotonic() < deadline, "the guest did not boot"
            time.sleep(0.1)
        yield dom, work
    finally:
        try:
            if dom.isActive():
                dom.destroy()
        except libvirt.libvirtError:
            pass  # destroyed by the test already (transient: gone)
        finally:
            conn.close()


def test_rbd_volume_hot_plugs_into_a_running_guest_and_keeps_its_bytes(
    ceph_cluster: CephCluster, guest: tuple[libvirt.virDomain, Path]
) -> None:
    dom, work = guest
    pool = ceph_cluster.pool
    image = f"volume-{uuid.uuid4().hex[:12]}"
    src = work / "vol.raw"
    with src.open("wb") as f:
        f.truncate(64 * MiB)
        f.seek(MiB)
        f.write(MARK)
    ceph_cluster.rbd("import", "--no-progress", str(src), f"{pool}/{image}")
    disks = RbdRootDisks(str(ceph_cluster.conf), pool, "admin", str(ceph_cluster.keyring))
    secret_uuid = str(uuid.uuid4())
    disks.ensure_secret(dom.connect(), secret_uuid)
    attrs = {
        "pool": pool,
        "image": image,
        "monitors": ceph_cluster.mon_v1,
        "user": "admin",
        "secret_uuid": secret_uuid,
    }
    try:
        xml = volume_disk_xml(attrs, "vdb", serial=image)
        dom.attachDeviceFlags(xml, libvirt.VIR_DOMAIN_AFFECT_LIVE)
        live = ET.fromstring(dom.XMLDesc(0))
        vdb = live.find("devices/disk/target[@dev='vdb']/..")
        assert vdb is not None and vdb.get("type") == "network"
        assert vdb.find("source").get("name") == f"{pool}/{image}"  # type: ignore[union-attr]
        # QEMU opened it through librbd: it answers the volume's size
        capacity, _, _ = dom.blockInfo("vdb")
        assert capacity == 64 * MiB
        # and Ceph sees QEMU as a client watching the image
        status = json.loads(ceph_cluster.rbd("status", "--format", "json", f"{pool}/{image}"))
        assert status["watchers"]

        # A hot unplug needs a guest OS that answers the ACPI eject; the boot sector only
        # halts. The guest goes away instead: QEMU closes the image, its bytes stay.
        dom.destroy()
        deadline = time.monotonic() + 60
        while json.loads(ceph_cluster.rbd("status", "--format", "json", f"{pool}/{image}"))[
            "watchers"
        ]:
            assert time.monotonic() < deadline, "QEMU still watches the volume"
            time.sleep(0.5)
        out = work / "back.raw"
        ceph_cluster.rbd("export", "--no-progress", f"{pool}/{image}", str(out))
        with out.open("rb") as f:
            f.seek(MiB)
            assert f.read(len(MARK)) == MARK
    finally:
        dom.connect().secretLookupByUUIDString(secret_uuid).undefine()
        ceph_cluster.rbd("rm", "--no-progress", f"{pool}/{image}")
