"""A real guest whose root disk is a copy-on-write RBD clone (POLYVISOR_DISK_MODE=rbd) on the
one-node Ceph: QEMU reads it through its own librbd (a libvirt network disk), the clone
holds next to nothing, and destroy removes it."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET

import pytest

from polyvisor.agent_kvm.rbd_disks import RbdRootDisks
from polyvisor.agentkit.commands import EventKind
from tests.agent_kvm.boot_sector import BOOT_LINE
from tests.agent_kvm.kvm_support import KvmAgent, domains, virsh
from tests.fixtures.ceph import CephCluster

pytestmark = pytest.mark.slow

MiB = 1 << 20


def is_(kind: EventKind, sid: str):  # type: ignore[no-untyped-def]
    return lambda e: e.kind == kind and e.server_id == sid


def _rbd_json(cluster: CephCluster, *args: str) -> object:
    return json.loads(cluster.rbd(*args, "--format", "json"))


async def test_guest_boots_from_an_rbd_clone_that_stays_near_empty(
    ceph_cluster: CephCluster, kvm_agent: KvmAgent, boot_image: tuple[str, str]
) -> None:
    image_id, _ = boot_image
    pool = ceph_cluster.pool
    await kvm_agent.start(
        POLYVISOR_DISK_MODE="rbd",
        POLYVISOR_RBD_CONF=str(ceph_cluster.conf),
        POLYVISOR_RBD_POOL=pool,
        POLYVISOR_RBD_KEYRING=str(ceph_cluster.keyring),
    )
    sid = str(uuid.uuid4())
    name = f"polyvisor-{sid}"
    clone = f"pv-disk-{sid}"
    try:
        await _boot_and_destroy(ceph_cluster, kvm_agent, image_id, sid, name, clone)
    finally:  # the libvirt secret the agent defined for this test cluster
        secret = RbdRootDisks(str(ceph_cluster.conf), pool).secret_uuid
        virsh("secret-undefine", secret)


async def _boot_and_destroy(
    ceph_cluster: CephCluster, kvm_agent: KvmAgent, image_id: str, sid: str, name: str, clone: str
) -> None:
    pool = ceph_cluster.pool

    await kvm_agent.send(
        sid, 1, "spawn", image_id=image_id, disk_format="raw", memory_mb=64, disk_gb=1
    )
    spawned = await kvm_agent.tap.wait_for(is_(EventKind.SPAWNED, sid), timeout=180)
    assert spawned.power_state == "RUNNING"
    await kvm_agent.serial_line(sid, BOOT_LINE)  # it booted from the clone

    # the root disk is a network disk on RBD (QEMU's librbd), no file
    root = ET.fromstring(virsh("dumpxml", name)).find("devices/disk[@device='disk']")
    assert root is not None and root.get("type") == "network"
    source = root.find("source")
    assert source is not None
    assert (source.get("protocol"), source.get("name")) == ("rbd", f"{pool}/{clone}")
    secret = root.find("auth/secret")
    assert secret is not None and secret.get("type") == "ceph"
    assert not (kvm_agent.instances_dir / sid / "disk.rbd").exists()

    # a copy-on-write child of the image's base, grown to the flavor, holding ~nothing
    info = _rbd_json(ceph_cluster, "info", f"{pool}/{clone}")
    assert isinstance(info, dict)
    assert info["parent"]["image"].startswith("pv-base-") and info["parent"]["snapshot"] == "base"
    assert info["size"] == 1 << 30
    assert ceph_cluster.used_bytes(clone) <= 4 * MiB

    await kvm_agent.send(sid, 2, "destroy")
    await kvm_agent.tap.wait_for(is_(EventKind.DESTROYED, sid))
    assert name not in domains()
    assert clone not in _rbd_json(ceph_cluster, "ls", pool)  # type: ignore[operator]
