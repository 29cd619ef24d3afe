"""The one-node Ceph fixture: it runs what the volume and image tests need, and leaves
nothing behind when it stops."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.fixtures.ceph import CephCluster, ceph_unavailable


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def test_one_mon_one_mgr_one_bluestore_osd_pool_size_one(ceph_cluster: CephCluster) -> None:
    pids = ceph_cluster.pids()
    assert set(pids) == {"mon.a", "mgr.x", "osd.0"}
    assert all(_alive(p) for p in pids.values())
    status = json.loads(ceph_cluster.ceph("status", "--format", "json"))
    assert status["monmap"]["num_mons"] == 1
    assert status["osdmap"]["num_up_osds"] == 1
    meta = json.loads(ceph_cluster.ceph("osd", "metadata", "0", "--format", "json"))
    assert meta["osd_objectstore"] == "bluestore"
    assert meta["bluestore_bdev_type"] == "hdd" or "bluestore_bdev_path" in meta
    size = json.loads(
        ceph_cluster.ceph("osd", "pool", "get", ceph_cluster.pool, "size", "--format", "json")
    )
    assert size["size"] == 1
    # the monitor listens on 127.0.0.1 only
    assert ceph_cluster.mon_addr.startswith("v2:127.0.0.1:")


def test_rbd_image_round_trip(ceph_cluster: CephCluster, tmp_path: Path) -> None:
    name = f"t-{uuid.uuid4().hex[:8]}"
    data = os.urandom(1 << 20)
    src = tmp_path / "in"
    src.write_bytes(data)
    ceph_cluster.rbd("import", "--no-progress", str(src), f"{ceph_cluster.pool}/{name}")
    try:
        out = tmp_path / "out"
        ceph_cluster.rbd("export", "--no-progress", f"{ceph_cluster.pool}/{name}", str(out))
        assert out.read_bytes() == data
        assert ceph_cluster.used_bytes(name) >= len(data)
    finally:
        ceph_cluster.rbd("rm", "--no-progress", f"{ceph_cluster.pool}/{name}")


@pytest.mark.slow
def test_stop_ends_every_daemon_and_removes_its_directory() -> None:
    reason = ceph_unavailable()
    if reason is not None:
        pytest.skip(f"no one-node Ceph here: {reason}")
    root = Path(tempfile.mkdtemp(prefix="polyvisor-ceph-stop-", dir="/var/tmp")) / "c"
    cluster = CephCluster(root, die_with_parent=True)
    try:
        cluster.start()
        pids = cluster.pids()
        assert len(pids) == 3
        mon_port = int(cluster.mon_addr.rsplit(":", 1)[1])
    finally:
        cluster.stop(remove=True)
    assert not any(_alive(p) for p in pids.values())
    assert not root.exists()
    root.parent.rmdir()
    # and nothing of it listens any more
    r = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True)
    assert f"127.0.0.1:{mon_port} " not in r.stdout
    assert not any(f"pid={p}," in r.stdout for p in pids.values())


def test_the_monitor_answers_messenger_v1_on_its_bare_address(
    ceph_cluster: CephCluster, tmp_path: Path
) -> None:
    """A libvirt disk's <host> (and a volume connection's monitors) is a bare host:port,
    which librados reads as messenger v1: the monitor answers there too."""
    conf = tmp_path / "v1.conf"
    conf.write_text(f"[global]\nmon host = {ceph_cluster.mon_v1}\n")
    r = subprocess.run(
        ["ceph", "-c", str(conf), "--keyring", str(ceph_cluster.keyring),
         "--connect-timeout", "15", "mon", "stat"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "1 mons" in r.stdout or "e1:" in r.stdout
