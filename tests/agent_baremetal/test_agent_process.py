"""The bare-metal agent as it runs: one process, one host per enrolled machine, commands on
NATS, machines behind the Redfish emulator. What is asserted is on the machines (libvirt
domains) and in the events the agent publishes."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import libvirt
import pytest

from polyvisor.agent_baremetal.enrollment import Node, save_node, write_secret
from polyvisor.agentkit.bus import command_subject
from polyvisor.agentkit.commands import EventKind
from polyvisor.agentkit.testing import (
    AgentTestServers,
    AssignmentBoard,
    EventTap,
    ImageStore,
    agent_command,
)
from polyvisor.common.bus.client import Bus
from tests.e2e.bootdisk import BANNER, boot_sector
from tests.fixtures.redfish import EmulatedMachine
from tests.support.services import ServiceProcess, free_port

pytestmark = pytest.mark.slow


def _active(uri: str, name: str) -> bool:
    conn = libvirt.open(uri)
    try:
        return bool(conn.lookupByName(name).isActive())
    finally:
        conn.close()


class Agent:
    def __init__(self, bus: Bus, tap: EventTap, hosts: list[str]) -> None:
        self.bus, self.tap, self.hosts = bus, tap, hosts

    async def send(self, host: str, server_id: str, generation: int, verb: str, **kw) -> None:  # type: ignore[no-untyped-def]
        msg = agent_command(host, server_id, generation, verb, **kw)
        await self.bus.publish(command_subject(host), msg, msg_id=msg.command_id)


@pytest.fixture
async def agent(
    machines: list[EmulatedMachine], nats_url: str, machines_dir: Path
) -> AsyncIterator[tuple[Agent, ImageStore]]:
    tag = uuid.uuid4().hex[:6]
    root = machines_dir / f"agent-{tag}"
    nodes_file, secrets = root / "nodes.json", root / "bmc"
    hosts = [f"bm-{tag}-{i}" for i in range(2)]
    for host, m in zip(hosts, machines[:2], strict=True):
        save_node(nodes_file, Node(host, m.bmc_url, m.system_id, "small", str(m.disk_path)))
        write_secret(secrets, f"{host}.username", m.username)
        write_secret(secrets, f"{host}.password", m.password)
    images = ImageStore()
    servers = await AgentTestServers(images, AssignmentBoard()).start()
    bus = await Bus.connect(nats_url, name=f"test-{tag}")
    taps = [await EventTap.start(bus, h) for h in hosts]
    port = free_port()
    proc = ServiceProcess(
        "agent_baremetal",
        {
            "POLYVISOR_NODES_FILE": str(nodes_file),
            "POLYVISOR_BMC_CREDENTIALS_DIR": str(secrets),
            "POLYVISOR_SERVER_ID": f"agent-{tag}",
            "POLYVISOR_NATS_URL": nats_url,
            "POLYVISOR_API_ADDRESS": servers.address,
            "POLYVISOR_IMAGESVC_ADDRESS": servers.address,
            "POLYVISOR_AGENT_TOKEN": "static-test-token",
            "POLYVISOR_CACHE_DIR": str(root / "cache"),
            "POLYVISOR_STATE_DIR": str(root / "state"),
            "POLYVISOR_GRPC_HOST": "127.0.0.1",
            "POLYVISOR_GRPC_PORT": str(port),
            "POLYVISOR_METRICS_HOST": "127.0.0.1",
            "POLYVISOR_METRICS_PORT": "0",
            "POLYVISOR_ACK_WAIT_S": "5",
            "POLYVISOR_RECONCILE_INTERVAL_S": "3600",
            "POLYVISOR_POWER_TIMEOUT_S": "60",
        },
        log_path=root / "agent.log",
    )
    await proc.start(timeout=60)
    try:
        yield Agent(bus, taps[0], hosts), images
    finally:
        code = await proc.stop(timeout=15)
        for tap in taps:
            await tap.close()
        await bus.close()
        await servers.stop()
        assert code == 0, (root / "agent.log").read_text()[-3000:]


async def test_a_server_on_an_enrolled_machine_powers_on_and_its_delete_frees_the_machine(
    agent: tuple[Agent, ImageStore], machines: list[EmulatedMachine], libvirtd: str
) -> None:
    a, images = agent
    host, m = a.hosts[0], machines[0]
    disk = boot_sector() + b"\0" * (1024 * 1024 - 512)
    sha = images.put("img-boot", "raw", disk)

    await a.send(host, "srv-a", 1, "spawn", image_id="img-boot", disk_format="raw", sha256=sha)
    spawned = await a.tap.first(EventKind.SPAWNED, "srv-a", timeout=120)
    assert spawned.power_state == "RUNNING"
    assert _active(libvirtd, m.name)
    assert m.disk_path.read_bytes()[:512] == disk[:512]

    # The machine is taken: another server sent to it fails there, the first one stays.
    await a.send(host, "srv-b", 1, "spawn", image_id="img-boot", disk_format="raw", sha256=sha)
    failed = await a.tap.first(EventKind.SPAWN_FAILED, "srv-b", timeout=120)
    assert "already holds server srv-a" in failed.fault_message
    assert _active(libvirtd, m.name)

    await a.send(host, "srv-a", 2, "power_off")
    await a.tap.first(EventKind.POWERED_OFF, "srv-a", timeout=120)
    assert not _active(libvirtd, m.name)
    await a.send(host, "srv-a", 3, "power_on")
    await a.tap.first(EventKind.POWERED_ON, "srv-a", timeout=120)
    assert _active(libvirtd, m.name)
    # The machine booted the image it was given: the boot sector prints its banner.
    deadline = time.monotonic() + 120
    while BANNER.strip() not in m.serial_log.read_bytes():
        assert time.monotonic() < deadline, "the boot sector's banner never came"
        await asyncio.sleep(0.5)

    await a.send(host, "srv-a", 4, "destroy")
    await a.tap.first(EventKind.DESTROYED, "srv-a", timeout=120)
    assert not _active(libvirtd, m.name)
    data = m.disk_path.read_bytes()
    assert data.count(0) == len(data)  # cleaned for the next server

    await a.send(host, "srv-c", 1, "spawn", image_id="img-boot", disk_format="raw", sha256=sha)
    assert (await a.tap.first(EventKind.SPAWNED, "srv-c", timeout=120)).power_state == "RUNNING"
    await a.send(host, "srv-c", 2, "destroy")
    await a.tap.first(EventKind.DESTROYED, "srv-c", timeout=120)
    assert not _active(libvirtd, m.name)
