"""An RBD volume hot-plugged into a real running guest (QEMU's librbd through a libvirt
network disk reaching the monitor by host:port, as a volume connection names it); its
content intact once the guest is gone. The KVM agent with the volume_rbd capability attaches
and detaches one on a running guest."""

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
from polyvisor.agentkit.commands import EventKind
from tests.agent_kvm.boot_sector import BOOT_LINE, boot_sector
from tests.agent_kvm.kvm_support import SYSTEM_URI, KvmAgent, virsh, virt_type
from tests.fixtures.ceph import CephCluster, CephError

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


async def test_the_kvm_agent_attaches_and_detaches_an_rbd_volume_on_a_running_guest(
    ceph_cluster: CephCluster, kvm_agent: KvmAgent, boot_image: tuple[str, str], world_dir: Path
) -> None:
    """The volume_rbd capability (POLYVISOR_RBD_VOLUMES): the volume service's connection
    (monitors, user, secret uuid) becomes a network disk on the guest's SCSI controller, the
    cephx key from the host's keyring; detached without the guest's help; bytes kept."""
    image_id, sha = boot_image
    agent = kvm_agent
    await agent.start(
        POLYVISOR_RBD_VOLUMES="true",
        POLYVISOR_RBD_CONF=str(ceph_cluster.conf),
        POLYVISOR_RBD_POOL=ceph_cluster.pool,
        POLYVISOR_RBD_KEYRING=str(ceph_cluster.keyring),
    )
    pool, image = ceph_cluster.pool, f"volume-{uuid.uuid4().hex[:12]}"
    src = world_dir / f"{image}.raw"
    with src.open("wb") as f:
        f.truncate(64 * MiB)
        f.seek(MiB)
        f.write(MARK)
    ceph_cluster.rbd("import", "--no-progress", str(src), f"{pool}/{image}")
    secret_uuid = str(uuid.uuid4())
    attrs = {"pool": pool, "image": image, "monitors": ceph_cluster.mon_v1, "user": "admin",
             "secret_uuid": secret_uuid}  # fmt: skip
    vol = {"volume_id": str(uuid.uuid4()), "volume_kind": "rbd", "volume_attrs": attrs}
    sid = str(uuid.uuid4())
    dom = f"polyvisor-{sid}"

    def watchers() -> list[object]:
        out = ceph_cluster.rbd("status", "--format", "json", f"{pool}/{image}")
        return list(json.loads(out)["watchers"])

    try:
        await agent.send(sid, 1, "spawn", image_id=image_id, sha256=sha, memory_mb=64)
        await agent.tap.wait_for(lambda e: e.kind == EventKind.SPAWNED, timeout=180)
        await agent.serial_line(sid, BOOT_LINE)
        await agent.send(sid, 2, "attach_volume", **vol)
        await agent.tap.wait_for(lambda e: e.kind == EventKind.VOLUME_ATTACHED, timeout=60)
        assert f"name='{pool}/{image}'" in virsh("dumpxml", dom).replace('"', "'")
        assert watchers()  # QEMU opened it through librbd
        await agent.send(sid, 3, "detach_volume", **vol)
        await agent.tap.wait_for(lambda e: e.kind == EventKind.VOLUME_DETACHED, timeout=60)
        assert f"{pool}/{image}" not in virsh("dumpxml", dom)
        await agent.send(sid, 4, "destroy")
        await agent.tap.wait_for(lambda e: e.kind == EventKind.DESTROYED, timeout=60)
        out = world_dir / f"{image}.back"
        ceph_cluster.rbd("export", "--no-progress", f"{pool}/{image}", str(out))
        with out.open("rb") as f:
            f.seek(MiB)
            assert f.read(len(MARK)) == MARK

        # the same host boots a server from an rbd volume holding a boot sector
        with src.open("r+b") as f:
            f.write(boot_sector(b"BOOTED FROM RBD"))
        ceph_cluster.rbd("import", "--no-progress", str(src), f"{pool}/{image}-boot")
        boot = {**vol, "volume_attrs": {**attrs, "image": f"{image}-boot"}}
        sid2 = str(uuid.uuid4())
        await agent.send(sid2, 1, "spawn", memory_mb=64, **boot)
        await agent.tap.wait_for(
            lambda e: e.kind == EventKind.SPAWNED and e.server_id == sid2, timeout=180
        )
        await agent.serial_line(sid2, b"BOOTED FROM RBD")
        await agent.send(sid2, 2, "destroy")
        await agent.tap.wait_for(lambda e: e.kind == EventKind.DESTROYED, timeout=60)
        ceph_cluster.rbd("info", f"{pool}/{image}-boot")  # kept
    finally:
        for name in (image, f"{image}-boot"):
            try:
                ceph_cluster.rbd("rm", "--no-progress", f"{pool}/{name}")
            except CephError:  # never imported: the test stopped before
                pass
        conn = libvirt.open(SYSTEM_URI)
        try:
            conn.secretLookupByUUIDString(secret_uuid).undefine()
        except libvirt.libvirtError:
            pass  # never defined: the attach did not get that far
        finally:
            conn.close()
