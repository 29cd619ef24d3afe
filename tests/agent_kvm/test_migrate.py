"""Moving servers between two real KVM hosts on this machine: the first libvirtd and a second
one in its own mount namespace (tests/fixtures/libvirt_peer.py), each with its own driver
(host id, instances directory), as two agents would have them.

The guest is a boot sector that prints "TICK nnnn" twice a second, nnnn a counter held in a
CPU register: after a live migration the destination's serial log goes on counting from where
the source was (same guest, never rebooted); after a cold move it starts again at 0000.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import libvirt
import pytest

from polyvisor.agent_kvm.domain_xml import domain_name
from polyvisor.agent_kvm.libvirt_host import LibvirtConfig, MigrationPeer
from polyvisor.agent_kvm.migrate import MigratingLibvirtDriver
from polyvisor.agentkit.capabilities import capabilities_of
from polyvisor.agentkit.driver import (
    DriverError,
    ImageRef,
    InstanceSpec,
    LocalImage,
    PowerState,
    RenditionWanted,
)
from polyvisor.agentkit.migrate_capabilities import MigrationProgress, MigrationTarget
from polyvisor.agentkit.resize_capabilities import Size
from tests.agent_kvm.boot_sector import ticker_sector
from tests.agent_kvm.kvm_support import SYSTEM_URI, virt_type
from tests.fixtures.libvirt import LibvirtUnavailable
from tests.fixtures.libvirt_peer import PeerLibvirtd

GiB = 1024**3
TICK = re.compile(rb"TICK ([0-9A-F]{4})")


@pytest.fixture(scope="module")
def peer(libvirtd: str, world_dir: Path) -> Iterator[PeerLibvirtd]:
    root = world_dir / "peer-libvirtd"
    root.mkdir()
    try:
        with PeerLibvirtd.start(root) as p:
            yield p
    except LibvirtUnavailable as exc:
        pytest.fail(f"no second libvirtd: {exc}")


@pytest.fixture(scope="module")
def ticker(world_dir: Path) -> LocalImage:
    raw, path = world_dir / "ticker.raw", world_dir / "ticker.qcow2"
    raw.write_bytes(ticker_sector())
    subprocess.run(
        ["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw), str(path)], check=True
    )
    path.chmod(0o644)
    ref = ImageRef(image_id="ticker", disk_format="qcow2")
    return LocalImage(ref, RenditionWanted("qcow2"), path, path.stat().st_size, "0" * 64)


@pytest.fixture(scope="module")
def hosts(
    libvirtd: str, peer: PeerLibvirtd, world_dir: Path
) -> Iterator[tuple[MigratingLibvirtDriver, MigratingLibvirtDriver]]:
    """(the driver of host a, on the first libvirtd; of host b, on the second)."""
    tag = uuid.uuid4().hex[:6]
    a_id, b_id = f"kvm-a-{tag}", f"kvm-b-{tag}"
    a_dir, b_dir = world_dir / "a" / "instances", world_dir / "b" / "instances"
    for d in (a_dir, b_dir):
        d.mkdir(parents=True)
        d.parent.chmod(0o755)
    common = {"virt_type": virt_type(), "vnc_listen": "127.0.0.1"}
    a = MigratingLibvirtDriver(
        LibvirtConfig(
            uri=SYSTEM_URI,
            instances_dir=a_dir,
            host_id=a_id,
            vnc_port_range=(5960, 5979),
            migration_peers=(MigrationPeer(b_id, peer.uri, b_dir, "127.0.0.1"),),
            **common,  # type: ignore[arg-type]
        )
    )
    b = MigratingLibvirtDriver(
        LibvirtConfig(
            uri=peer.uri,
            instances_dir=b_dir,
            host_id=b_id,
            vnc_port_range=(5980, 5999),
            migration_peers=(MigrationPeer(a_id, SYSTEM_URI, a_dir, "127.0.0.1"),),
            **common,  # type: ignore[arg-type]
        )
    )
    try:
        yield a, b
    finally:
        for d in (a, b):
            for inst in d.list_instances():
                d.destroy(inst.server_id)
            d.close()


def spawn(driver: MigratingLibvirtDriver, image: LocalImage) -> str:
    sid = str(uuid.uuid4())
    spec = InstanceSpec(
        server_id=sid,
        name="mover",
        hostname="mover",
        vcpus=1,
        memory_mb=128,
        disk_gb=1,
        image=image,
    )
    assert driver.spawn(spec).power_state == PowerState.RUNNING
    return sid


def ticks(driver: MigratingLibvirtDriver, sid: str) -> list[int]:
    log = driver.instance_dir(sid) / "console.log"
    return [int(m, 16) for m in TICK.findall(log.read_bytes())] if log.exists() else []


def wait_ticks(
    driver: MigratingLibvirtDriver, sid: str, more_than: int, timeout: float = 90
) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = ticks(driver, sid)
        if len(seen) > more_than:
            return seen
        time.sleep(0.2)
    raise AssertionError(
        f"fewer than {more_than + 1} ticks in {driver.instance_dir(sid)}: {ticks(driver, sid)}"
    )


def domain_on(uri: str, sid: str) -> libvirt.virDomain | None:
    conn = libvirt.open(uri)
    try:
        return conn.lookupByName(domain_name(sid))
    except libvirt.libvirtError:
        return None
    finally:
        conn.close()


def test_both_hosts_report_the_move_capabilities(
    hosts: tuple[MigratingLibvirtDriver, MigratingLibvirtDriver], peer: PeerLibvirtd
) -> None:
    a, _b = hosts
    assert {"resize", "resize_move", "live_migrate"} <= set(capabilities_of(a))
    # libvirt tells hosts apart by this uuid (it refuses a migration "to the same host").
    conn = libvirt.open(SYSTEM_URI)
    try:
        assert peer.host_uuid not in conn.getCapabilities()
    finally:
        conn.close()


def test_a_live_migration_keeps_the_guest_running_and_an_abort_leaves_it_where_it_was(
    hosts: tuple[MigratingLibvirtDriver, MigratingLibvirtDriver],
    ticker: LocalImage,
    peer: PeerLibvirtd,
) -> None:
    a, b = hosts
    sid = spawn(a, ticker)
    before = wait_ticks(a, sid, 2)
    seen: list[MigrationProgress] = []

    inst = a.live_migrate(sid, MigrationTarget(b.config.host_id), seen.append)

    assert inst.power_state == PowerState.RUNNING
    assert domain_on(SYSTEM_URI, sid) is None and not a.instance_dir(sid).exists()
    assert [i.server_id for i in b.list_instances()] == [sid]  # tagged as b's now
    assert seen and seen[-1].percent == 100
    # The same guest goes on counting on b: no reboot (it would start again at 0000).
    # (the log came along as it was when the move began; the lines the source printed while
    # the memory was copied stayed there, hence one gap in the count).
    copied = len(ticks(b, sid))
    after = wait_ticks(b, sid, copied + 3)
    assert after[: len(before)] == before
    assert all(y > x for x, y in itertools.pairwise(after)), after
    new = after[copied:]
    assert new == list(range(new[0], new[0] + len(new))) and new[0] > before[-1]
    assert b.console(sid).port != 0

    # Back towards a, slowed down, then aborted: it keeps running on b, a has nothing.
    slow = MigratingLibvirtDriver(replace(b.config, migration_bandwidth_mib_s=1))
    started = threading.Event()
    failure: list[BaseException] = []

    def move() -> None:
        def progress(p: MigrationProgress) -> None:
            started.set()

        try:
            slow.live_migrate(sid, MigrationTarget(a.config.host_id), progress)
        except BaseException as exc:
            failure.append(exc)

    t = threading.Thread(target=move)
    t.start()
    try:
        assert started.wait(60), "no progress reported"
        assert slow.abort_migration(sid) is True
    finally:
        t.join(120)
        slow.close()
    assert len(failure) == 1 and isinstance(failure[0], DriverError)
    assert "still runs on" in str(failure[0])
    assert slow.abort_migration(sid) is False  # nothing under way any more
    assert domain_on(SYSTEM_URI, sid) is None
    assert not a.instance_dir(sid).exists(), list(a.instance_dir(sid).iterdir())
    count = len(ticks(b, sid))
    wait_ticks(b, sid, count + 1)  # still counting on b
    b.destroy(sid)


def test_a_cold_move_is_reverted_then_confirmed(
    hosts: tuple[MigratingLibvirtDriver, MigratingLibvirtDriver],
    ticker: LocalImage,
    peer: PeerLibvirtd,
) -> None:
    a, b = hosts
    sid = spawn(a, ticker)
    wait_ticks(a, sid, 1)
    size = Size(vcpus=2, memory_mb=192, disk_gb=2)

    moved = a.resize_to(sid, size, b.config.host_id)
    assert moved.power_state == PowerState.RUNNING
    there = domain_on(peer.uri, sid)
    assert there is not None and there.isActive()
    assert there.info()[1] == 192 * 1024 and there.info()[3] == 2
    assert there.blockInfo("vda")[0] == 2 * GiB
    kept = domain_on(SYSTEM_URI, sid)
    assert kept is not None and not kept.isActive()  # kept on a for a revert
    assert [i.server_id for i in b.list_instances()] == [sid]
    # The serial log came along, and the guest booted again there (a cold move): it counts
    # from 0000 again after what it printed on a.
    copied = ticks(b, sid)
    assert copied == ticks(a, sid) and copied
    assert wait_ticks(b, sid, len(copied))[len(copied)] == 0

    back = b.revert_resize_to(sid, Size(1, 128, 1), a.config.host_id)
    assert back.power_state == PowerState.RUNNING
    assert domain_on(peer.uri, sid) is None and not b.instance_dir(sid).exists()
    again = domain_on(SYSTEM_URI, sid)
    assert again is not None and again.isActive() and again.info()[1] == 128 * 1024
    assert not (a.instance_dir(sid) / "moved.json").exists()

    a.resize_to(sid, size, b.config.host_id)
    confirmed = a.confirm_resize(sid)
    assert confirmed.power_state == PowerState.RUNNING
    assert domain_on(SYSTEM_URI, sid) is None and not a.instance_dir(sid).exists()
    there = domain_on(peer.uri, sid)
    assert there is not None and there.isActive()
    b.destroy(sid)
