"""Stand-in guests for the data plane tests: a network namespace behind a veth named like the
port's tap (the host end on the port's bridge), running busybox's udhcpc, wget and ping.

    g = await NsGuest.create(busybox, port_id, bridge, mac)
    ip = await g.dhcp()                      # the leased address, configured (option 121 too)
    await g.sh("wget -qO- http://169.254.169.254/openstack/latest/meta_data.json")
    await g.remove()
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from polyvisor.agent_kvm.libvirt_driver import LibvirtConfig, PortsLibvirtDriver
from polyvisor.agent_kvm.net.agent import DriverPorts, NetworkAgent
from polyvisor.agent_kvm.net.client import NetworkClient
from polyvisor.agent_kvm.net.metadata import InstanceMeta
from polyvisor.agent_kvm.net.names import short, tap_name
from polyvisor.agent_kvm.net.plane import NetworkPlane
from polyvisor.agentkit.credentials import AgentCredentials
from polyvisor.agentkit.driver import ImageRef, InstanceSpec, LocalImage, RenditionWanted
from polyvisor.common.bus.client import Bus
from tests.fixtures.guest_image import UDHCPC_SCRIPT

__all__ = ["UDHCPC_SCRIPT", "Console", "KvmHost", "NsGuest", "instance_spec", "kvm_host", "run"]


async def run(*argv: str, check: bool = True) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {text}")
    return proc.returncode or 0, text


@dataclass
class NsGuest:
    busybox: Path
    namespace: str
    tap: str
    script: Path

    @classmethod
    async def create(
        cls, busybox: Path, port_id: str, bridge: str, mac: str, workdir: Path
    ) -> NsGuest:
        ns = f"pvtest-{short(port_id, 8)}"
        tap = tap_name(port_id)
        script = workdir / f"udhcpc-{short(port_id, 8)}.sh"
        script.write_text(f"#!{busybox} sh\n{UDHCPC_SCRIPT}")
        script.chmod(0o755)
        await run("ip", "netns", "add", ns)
        await run("ip", "link", "add", tap, "type", "veth", "peer", "name", "eth0", "netns", ns)
        await run("ip", "-n", ns, "link", "set", "eth0", "address", mac, "up")
        await run("ip", "-n", ns, "link", "set", "lo", "up")
        await run("ip", "link", "set", tap, "master", bridge, "up")
        return cls(busybox, ns, tap, script)

    async def sh(self, command: str, check: bool = True) -> tuple[int, str]:
        return await run(
            "ip", "netns", "exec", self.namespace, str(self.busybox), "sh", "-c",
            f"export PATH=/usr/sbin:/usr/bin:/sbin:/bin; {command}", check=check,
        )  # fmt: skip

    async def dhcp(self) -> str:
        _, out = await self.sh(
            f"{self.busybox} udhcpc -i eth0 -n -q -f -t 5 -T 1 -O staticroutes -s {self.script}"
        )
        lease = [line.split()[1] for line in out.splitlines() if line.startswith("LEASE ")]
        assert lease, out
        return lease[-1]

    async def ping(self, ip: str) -> bool:
        code, _ = await self.sh(f"{self.busybox} ping -c 1 -W 2 {ip}", check=False)
        return code == 0

    async def remove(self) -> None:
        await run("ip", "link", "del", self.tap, check=False)
        await run("ip", "netns", "del", self.namespace, check=False)


class Console:
    """A guest's serial log, read as lines."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def lines(self) -> list[str]:
        try:
            text = self.path.read_text(errors="replace")
        except OSError:
            return []
        return [line.strip().replace("\r", "") for line in text.splitlines()]

    async def wait(self, prefix: str, count: int = 1, timeout: float = 240.0) -> list[str]:  # noqa: ASYNC109
        """The lines starting with ``prefix`` once there are ``count`` of them."""

        async def poll() -> list[str]:
            while True:
                found = [line for line in self.lines() if line.startswith(prefix)]
                if len(found) >= count:
                    return found
                await asyncio.sleep(0.2)

        try:
            return await asyncio.wait_for(poll(), timeout)
        except TimeoutError:
            tail = "\n".join(self.lines()[-30:])
            raise AssertionError(f"no {prefix!r} on {self.path}; console ends:\n{tail}") from None


def instance_spec(server_id: str, name: str, disk: Path, memory_mb: int = 192) -> InstanceSpec:
    """A server booting the raw guest disk ``disk``."""
    data = disk.read_bytes()
    ref = ImageRef(image_id=f"guest-{name}", disk_format="raw", architecture="x86_64")
    image = LocalImage(
        ref, RenditionWanted("raw"), disk, len(data), hashlib.sha256(data).hexdigest()
    )
    return InstanceSpec(
        server_id=server_id, name=name, hostname=name, vcpus=1, memory_mb=memory_mb, disk_gb=1,
        image=image,
    )  # fmt: skip


@dataclass
class KvmHost:
    host: str
    physnet: str
    agent: NetworkAgent
    driver: PortsLibvirtDriver


@contextlib.asynccontextmanager
async def kvm_host(
    *, network_address: str, agent_token: str, nats_url: str, libvirt_uri: str, world: Path,
    host: str = "",
) -> AsyncIterator[KvmHost]:  # fmt: skip
    """A KVM host's agent parts, as the agent process wires them (agent_kvm.app): the libvirt
    driver (TCG), the data plane on a physical network of its own without uplink, the
    network service client and its event subscriptions. Everything it made is removed after."""
    host = host or f"kvm-net-{uuid.uuid4().hex[:6]}"
    physnet = f"phys{uuid.uuid4().hex[:8]}"
    driver = PortsLibvirtDriver(
        LibvirtConfig(
            uri=libvirt_uri, virt_type="qemu", instances_dir=world / "instances", host_id=host
        )
    )
    await asyncio.to_thread(driver.open)

    async def meta(server_id: str) -> InstanceMeta | None:
        return await asyncio.to_thread(driver.instance_meta, server_id)

    plane = NetworkPlane(
        mappings={physnet: ""},
        state_dir=world / "state",
        instance_meta=meta,
        table=f"pvtest{uuid.uuid4().hex[:8]}",  # tests on one machine keep their own tables
    )
    bus = await Bus.connect(nats_url, name=f"test-{host}")
    agent = NetworkAgent(
        host=host,
        plane=plane,
        client=NetworkClient(network_address, AgentCredentials(static_token=agent_token)),
        bus=bus,
        resync_interval_s=3600,
    )
    driver.attach_ports(DriverPorts(agent, asyncio.get_running_loop()))
    await agent.start()
    try:
        yield KvmHost(host, physnet, agent, driver)
    finally:
        for inst in await asyncio.to_thread(driver.list_instances):
            await asyncio.to_thread(driver.destroy, inst.server_id)
        await plane.teardown()
        await agent.close()
        await bus.close()
        await asyncio.to_thread(driver.close)
