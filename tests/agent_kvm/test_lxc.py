"""A real system container: a raw ext4 image holding busybox, uploaded to the image service,
spawned by the agent with ``virt_type=lxc`` on ``lxc:///``. Its init and its user data write
on its console, which lands in its console log; power off, on, reboot and delete work, and
nothing is left behind (no domain, no file, no link, no loop device)."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from polyvisor.agent_kvm.lxc_driver import ROOTFS_LINK_DIR, rootfs_link
from polyvisor.agent_kvm.net.names import bridge_name, tap_name
from polyvisor.agent_kvm.net.plane import NetworkPlane
from polyvisor.agentkit.commands import EventKind
from polyvisor.agentkit.testing import AgentTestServers, AssignmentBoard, EventTap, ImageStore
from polyvisor.common.auth import API_IDENTITY
from polyvisor.common.bus.client import Bus
from polyvisor.common.lifespan import serve
from polyvisor.image.v1 import image_service_pb2_grpc, images_pb2
from polyvisor.network.v1 import bindings_pb2 as bpb
from polyvisor.network.v1 import network_service_pb2_grpc as svc_grpc
from polyvisor.network.v1 import networks_pb2 as npb
from polyvisor.networksvc.app import lifespan
from polyvisor.networksvc.config import NetworkSettings
from polyvisor.types.v1 import disk_pb2, hypervisor_pb2
from tests.agent_kvm.kvm_support import ImageService, Keys, KvmAgent
from tests.agent_kvm.test_network_spawn import md
from tests.fixtures.container_image import (
    CONTAINER_SCRIPT,
    ContainerImageUnavailable,
    container_image,
)
from tests.fixtures.libvirt import LXC_URI, LibvirtUnavailable, ensure_libvirtd
from tests.network.guests import run
from tests.support.services import free_port, wait_serving

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


@pytest.fixture(scope="module")
async def lxc_network(pg_url: str, nats_url: str, keys: Keys) -> AsyncIterator[str]:
    """The network service, in process (as test_network_spawn starts it)."""
    port = free_port()
    settings = NetworkSettings(
        database_url=pg_url, nats_url=nats_url, grpc_host="127.0.0.1", grpc_port=port,
        metrics_host="127.0.0.1", metrics_port=0, server_id=f"network-{uuid.uuid4().hex[:6]}",
        token_public_key=keys.public_path, physical_networks="", shutdown_grace_s=1.0,
        outbox_poll_s=0.2,
    )  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, lifespan, stop, handle_signals=False))
    try:
        await wait_serving(f"127.0.0.1:{port}", timeout=30)
        yield f"127.0.0.1:{port}"
    finally:
        stop.set()
        await task


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


async def test_a_container_gets_its_port_on_the_bridge_with_dhcp_and_rules(
    lxc_agent: KvmAgent, container_image_id: tuple[str, str], lxc_network: str, keys: Keys
) -> None:
    """The same data plane as a VM's: the port's bridge, DHCP in its namespace, the
    anti-spoofing and security group rules on the port's tap (here the veth's host end)."""
    image_id, sha = container_image_id
    agent = lxc_agent
    physnet = f"phys{uuid.uuid4().hex[:8]}"
    admin = md(keys, user_id="admin", project_id="admin", roles=("admin", "member"))
    api = md(keys, user_id=API_IDENTITY, project_id="", roles=(), kind="service")
    sid = str(uuid.uuid4())
    nft_table = f"pvlxc{uuid.uuid4().hex[:6]}"
    async with grpc.aio.insecure_channel(lxc_network) as ch:
        stub = svc_grpc.NetworkServiceStub(ch)
        net = (
            await stub.CreateNetwork(
                npb.CreateNetworkRequest(
                    network=npb.Network(
                        name="n", network_type=npb.NETWORK_TYPE_FLAT, physical_network=physnet
                    )
                ),
                metadata=admin,
            )
        ).network
        await stub.CreateSubnet(
            npb.CreateSubnetRequest(subnet=npb.Subnet(network_id=net.id, cidr="10.81.0.0/24")),
            metadata=admin,
        )
        port = (
            await stub.CreatePort(
                npb.CreatePortRequest(port=npb.Port(network_id=net.id)), metadata=admin
            )
        ).port
        address = port.fixed_ips[0].ip_address
        await stub.BindPort(
            bpb.BindPortRequest(
                port_id=port.id, host=agent.host, vif_type=npb.VIF_TYPE_BRIDGE, device_id=sid,
                device_owner="compute:lxc",
            ),
            metadata=api,
        )  # fmt: skip
        await agent.start(
            POLYVISOR_PHYSICAL_INTERFACE_MAPPINGS=f"{physnet}:",
            POLYVISOR_NETWORK_ADDRESS=lxc_network,
            POLYVISOR_NFT_TABLE=nft_table,
        )
        try:
            await agent.send(
                sid, 1, "spawn", image_id=image_id, sha256=sha, disk_format="raw", memory_mb=64
            )
            ev = await agent.tap.wait_for(
                lambda e: (
                    e.server_id == sid and e.kind in (EventKind.SPAWNED, EventKind.SPAWN_FAILED)
                ),
                timeout=120,
            )
            assert ev.kind == EventKind.SPAWNED, ev
            xml = virsh("dumpxml", f"polyvisor-{sid}")
            assert f"<mac address='{port.mac_address}'/>" in xml
            assert f"<source bridge='{bridge_name(net.id)}'/>" in xml
            assert f"<target dev='{tap_name(port.id)}'/>" in xml
            # The container asked the network's dnsmasq and got its port's address.
            await agent.serial_line(sid, f"LEASE {address}/24".encode(), timeout=120)
            got = (await stub.GetPort(npb.GetPortRequest(port_id=port.id), metadata=admin)).port
            assert got.binding.state == npb.BINDING_STATE_ACTIVE
            assert got.binding.port_security_enforced
            _, master = await run("ip", "-o", "link", "show", tap_name(port.id))
            assert f"master {bridge_name(net.id)}" in master
            _, rules = await run("nft", "list", "table", "bridge", nft_table)
            assert tap_name(port.id) in rules  # the port's anti-spoofing and group rules

            await agent.send(sid, 2, "destroy")
            await agent.tap.wait_for(lambda e: e.server_id == sid and e.kind == EventKind.DESTROYED)
            _, links = await run("ip", "-o", "link", "show")
            assert bridge_name(net.id) not in links and tap_name(port.id) not in links
            await agent.stop()
        finally:
            plane = NetworkPlane(
                mappings={}, state_dir=agent.root / "state" / "network", table=nft_table
            )
            await plane.remove_orphans()
