"""Two replicas of the VMware agent for one cluster: one acts, the other takes over when it dies.

Real processes (``python -m polyvisor.agent_vmware``), real NATS (commands, events, the
lease bucket), vcsim. Images come from agentkit's test image server.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from pyVmomi import vim
from vmware_agents import agent_env, agent_process
from vmware_fixtures import Direct

from polyvisor.agentkit.testing import (
    AgentTestServers,
    AssignmentBoard,
    EventTap,
    ImageStore,
    agent_command,
)
from polyvisor.common.bus.client import Bus
from polyvisor.common.bus.subjects import subject_token
from polyvisor.types.v1 import disk_pb2
from tests.fixtures.vcsim import Vcsim

pytestmark = pytest.mark.slow

TTL = 3.0


def spawn_command(host: str, server_id: str, image_id: str) -> object:
    cmd = agent_command(host, server_id, 1, "spawn", image_id=image_id, disk_format="vmdk",
                        vmware_disktype="streamOptimized", vcpus=1, memory_mb=64, disk_gb=0, name=f"vm-{server_id[:6]}")  # fmt: skip
    cmd.spawn.image.vmware_adaptertype = disk_pb2.VMWARE_ADAPTER_TYPE_LSI_LOGIC
    return cmd


async def holder(bus: Bus, bucket: str, host: str) -> str | None:
    kv = await bus.key_value(bucket, ttl=TTL)
    entry = await kv.get(subject_token(host))
    return entry.value.decode() if entry is not None else None


async def wait_holder(bus: Bus, bucket: str, host: str, who: str, within: float) -> None:
    async with asyncio.timeout(within):
        for _ in iter(int, 1):  # until the holder is `who` (bounded by the timeout)
            if await holder(bus, bucket, host) == who:
                return
            await asyncio.sleep(0.1)


async def test_lease_failover_executes_each_command_once(
    nats_url: str, vcsim: Vcsim, images: dict[str, Path], tmp_path: Path
) -> None:
    endpoint = vcsim.endpoint
    assert endpoint is not None
    host = f"vc-test:{uuid.uuid4().hex[:8]}"
    folder = f"ha-{uuid.uuid4().hex[:8]}"
    bucket = f"leases_{uuid.uuid4().hex[:8]}"
    store = ImageStore()
    store.put("img-ha", "vmdk", images["streamOptimized"].read_bytes())
    bus = await Bus.connect([nats_url], name="failover-test")
    events = await EventTap.start(bus, host)
    async with AgentTestServers(store, AssignmentBoard()) as servers:

        def replica(name: str) -> object:
            env = agent_env(
                endpoint=endpoint, nats_url=nats_url, root=tmp_path, server_id=name,
                host_id=host, folder=folder, services_address=servers.address,
                lease_bucket=bucket, lease_ttl_s=TTL,
            )  # fmt: skip
            return agent_process(env, tmp_path / f"{name}.log")

        a, b = replica("replica-a"), replica("replica-b")
        try:
            await a.start(timeout=60)
            await wait_holder(bus, bucket, host, "replica-a", within=30)
            await b.start(timeout=60)

            first = [str(uuid.uuid4()) for _ in range(3)]
            for sid in first:
                await bus.publish(
                    f"agent.{subject_token(host)}.cmd", spawn_command(host, sid, "img-ha")
                )
            for sid in first:
                ev = await events.first("SPAWNED", sid)
                assert ev.agent_id == "replica-a"
            assert await holder(bus, bucket, host) == "replica-a"
            assert not [e for e in events.events if e.agent_id == "replica-b"]  # b never acted

            await a.kill()  # the holder dies (no clean release)
            await wait_holder(bus, bucket, host, "replica-b", within=TTL * 4)

            second = [str(uuid.uuid4()) for _ in range(2)]
            for sid in second:
                await bus.publish(
                    f"agent.{subject_token(host)}.cmd", spawn_command(host, sid, "img-ha")
                )
            destroy = agent_command(host, first[0], 2, "destroy")
            await bus.publish(f"agent.{subject_token(host)}.cmd", destroy)
            for sid in second:
                assert (await events.first("SPAWNED", sid)).agent_id == "replica-b"
            assert (await events.first("DESTROYED", first[0])).agent_id == "replica-b"

            # No command ran twice: one SPAWNED per server, from one replica, and one VM each.
            for sid in first + second:
                assert len(events.of_kind("SPAWNED", sid)) == 1
            direct = Direct(endpoint)
            try:
                vms = direct.objects(vim.VirtualMachine)
                names = [v.name for v in vms]
                ports = [
                    Direct.extra(v).get("RemoteDisplay.vnc.port")
                    for v in vms
                    if v.name in first + second
                ]
            finally:
                direct.close()
            # b learnt the VNC ports a handed out when it took over: no console is shared.
            assert len(ports) == 4 and len(set(ports)) == 4
            for sid in first[1:] + second:
                assert names.count(sid) == 1
            assert first[0] not in names
            assert await b.stop() == 0  # SIGTERM: drains, gives the lease back, exits cleanly
            assert await holder(bus, bucket, host) is None
        finally:
            await events.close()
            await a.stop()
            await b.stop()
            await bus.close()
