"""A real system container: a raw ext4 image holding busybox, uploaded to the image service,
spawned by the agent with ``virt_type=lxc`` on ``lxc:///``. Its init and its user data write
on its console, which lands in its console log; power off, on, reboot and delete work, and
nothing is left behind (no domain, no file, no link, no loop device)."""

from __future__ import annotations

import hashlib
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from polyvisor.agent_kvm.lxc_driver import ROOTFS_LINK_DIR, rootfs_link
from polyvisor.agentkit.commands import EventKind
from polyvisor.agentkit.testing import AgentTestServers, AssignmentBoard, EventTap, ImageStore
from polyvisor.common.bus.client import Bus
from polyvisor.image.v1 import image_service_pb2_grpc, images_pb2
from polyvisor.types.v1 import disk_pb2, hypervisor_pb2
from tests.agent_kvm.kvm_support import ImageService, Keys, KvmAgent
from tests.fixtures.container_image import (
    CONTAINER_SCRIPT,
    ContainerImageUnavailable,
    container_image,
)
from tests.fixtures.libvirt import LXC_URI, LibvirtUnavailable, ensure_libvirtd

pytestmark = pytest.mark.slow


def virsh(*args: str) -> str:
    r = subprocess.run(["virsh", "-c", LXC_URI, *args], capture_output=True, text=True, check=False)
    return r.stdout


def containers() -> set[str]:
    return {line.strip() for line in virsh("list", "--all", "--name").splitlines() if line.strip()}


def loop_backings() -> str:
    return subprocess.run(["losetup", "-a"], capture_output=True, text=True, check=False).stdout


@pytest.fixture(scope="module")
def lxc_libvirtd() -> str:
    try:
        return ensure_libvirtd(LXC_URI)
    except LibvirtUnavailable as exc:
        if subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip() != "0":
            pytest.skip(f"containers need root or a running libvirtd: {exc}")
        raise


@pytest.fixture(scope="module")
async def container_image_id(imagesvc: ImageService, world_dir: Path) -> tuple[str, str]:
    """The busybox container image, uploaded as raw with vm_mode=exe: (image id, sha256)."""
    try:
        raw = container_image(world_dir / "container.raw", CONTAINER_SCRIPT)
    except ContainerImageUnavailable as exc:
        pytest.fail(f"cannot build the container image: {exc}")
    payload = raw.read_bytes()
    md = [("authorization", f"Bearer {imagesvc.token}")]
    async with grpc.aio.insecure_channel(imagesvc.address) as channel:
        stub = image_service_pb2_grpc.ImageServiceStub(channel)
        created = await stub.CreateImage(
            images_pb2.CreateImageRequest(
                image=images_pb2.Image(
                    name="busybox-container",
                    disk_format=disk_pb2.DISK_FORMAT_RAW,
                    container_format=disk_pb2.CONTAINER_FORMAT_BARE,
                    architecture="x86_64",
                    vm_mode="exe",
                    hypervisor_type=hypervisor_pb2.HYPERVISOR_TYPE_LXC,
                )
            ),
            metadata=md,
        )
        image_id = created.image.id

        async def chunks() -> AsyncIterator[images_pb2.UploadImageRequest]:
            yield images_pb2.UploadImageRequest(
                header=images_pb2.UploadImageHeader(image_id=image_id, size=len(payload))
            )
            for i in range(0, len(payload), 1 << 20):
                yield images_pb2.UploadImageRequest(chunk=payload[i : i + (1 << 20)])

        done = await stub.UploadImage(chunks(), metadata=md)
        assert done.image.status == images_pb2.IMAGE_STATUS_ACTIVE, done.image.status_message
    return image_id, hashlib.sha256(payload).hexdigest()


@pytest.fixture
async def lxc_agent(
    lxc_libvirtd: str, nats_url: str, world_dir: Path, keys: Keys, imagesvc: ImageService
) -> AsyncIterator[KvmAgent]:
    host = f"lxc-{uuid.uuid4().hex[:8]}"
    root = world_dir / host
    root.mkdir()
    board = AssignmentBoard()
    callback = await AgentTestServers(ImageStore(), board).start()
    env = {
        "POLYVISOR_HOST_ID": host,
        "POLYVISOR_SERVER_ID": f"agent-{host}",
        "POLYVISOR_NATS_URL": nats_url,
        "POLYVISOR_API_ADDRESS": callback.address,
        "POLYVISOR_IMAGESVC_ADDRESS": imagesvc.address,
        "POLYVISOR_AGENT_TOKEN": keys.service_token(host),
        "POLYVISOR_LIBVIRT_URI": lxc_libvirtd,
        "POLYVISOR_VIRT_TYPE": "lxc",
        "POLYVISOR_INSTANCES_DIR": str(root / "instances"),
        "POLYVISOR_CACHE_DIR": str(root / "cache"),
        "POLYVISOR_STATE_DIR": str(root / "state"),
        "POLYVISOR_GRPC_HOST": "127.0.0.1",
        "POLYVISOR_METRICS_HOST": "127.0.0.1",
        "POLYVISOR_METRICS_PORT": "0",
        "POLYVISOR_ACK_WAIT_S": "3",
        "POLYVISOR_RECONCILE_INTERVAL_S": "3600",
        "POLYVISOR_LOG_LEVEL": "DEBUG",
    }
    bus = await Bus.connect(nats_url, name=f"test-{host}")
    tap = await EventTap.start(bus, host)
    agent = KvmAgent(host, root, env, bus, tap, board)
    made: set[str] = set()
    try:
        yield agent
    finally:
        if agent.proc is not None:
            await agent.proc.stop(timeout=10)
        for name in containers():
            if name.startswith("polyvisor-") and host in virsh("dumpxml", name):
                made.add(name)
                virsh("destroy", name)
                virsh("undefine", name)
        for link in ROOTFS_LINK_DIR.glob("*.raw") if ROOTFS_LINK_DIR.is_dir() else ():
            if link.is_symlink() and str(root) in str(link.readlink()):
                link.unlink()
        await tap.close()
        await bus.close()
        await callback.stop()


def is_(kind: EventKind, sid: str):  # type: ignore[no-untyped-def]
    return lambda e: e.kind == kind and e.server_id == sid


async def test_a_container_runs_its_init_and_user_data_and_leaves_nothing_behind(
    lxc_agent: KvmAgent, container_image_id: tuple[str, str]
) -> None:
    image_id, sha = container_image_id
    agent = lxc_agent
    await agent.start()
    sid = str(uuid.uuid4())
    name = f"polyvisor-{sid}"

    await agent.send(
        sid, 1, "spawn", image_id=image_id, sha256=sha, disk_format="raw", memory_mb=64,
        disk_gb=1, user_data=b"echo ANSWER-$((6 * 7)) from $(cat /proc/1/comm)\n",
    )  # fmt: skip
    spawned = await agent.tap.wait_for(is_(EventKind.SPAWNED, sid), timeout=120)
    assert spawned.power_state == "RUNNING" and spawned.instance_name == name
    # Output of processes inside the container, computed there, in its console log.
    await agent.serial_line(sid, b"CONTAINER-UP pid=1 ")
    await agent.serial_line(sid, b"ANSWER-42 from init")
    await agent.serial_line(sid, b"CONTAINER-IDLE")
    xml = virsh("dumpxml", name)
    assert "type='lxc'" in xml and "<privnet/>" in xml
    assert virsh("domstate", name).strip() == "running"
    rootfs = agent.instances_dir / sid / "rootfs.raw"
    assert rootfs.stat().st_size == 1 << 30  # grown to the flavor's disk
    link = rootfs_link(agent.host, sid)
    assert link.readlink() == rootfs
    assert str(rootfs) in loop_backings()  # libvirt loop-mounted it as the container's /

    await agent.send(sid, 2, "power_off")
    off = await agent.tap.wait_for(is_(EventKind.POWERED_OFF, sid))
    assert off.power_state == "SHUTDOWN"
    assert virsh("domstate", name).strip() == "shut off"

    await agent.send(sid, 3, "power_on")
    await agent.tap.wait_for(is_(EventKind.POWERED_ON, sid))
    await agent.serial_line(sid, b"CONTAINER-UP pid=1 ", count=2)  # its init ran again

    await agent.send(sid, 4, "reboot", hard=False)
    await agent.tap.wait_for(is_(EventKind.REBOOTED, sid))
    await agent.serial_line(sid, b"CONTAINER-UP pid=1 ", count=3)

    await agent.send(sid, 5, "destroy")
    await agent.tap.wait_for(is_(EventKind.DESTROYED, sid))
    assert name not in containers()
    assert list(agent.instances_dir.iterdir()) == []
    assert not link.is_symlink()
    assert str(agent.root) not in loop_backings()
    assert not [e for e in agent.tap.of(sid) if e.kind == EventKind.VANISHED]
    await agent.stop()
