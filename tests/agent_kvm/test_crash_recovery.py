"""An agent killed (SIGKILL) in the middle of a spawn and started again either finishes the
spawn or cleans up: never two VMs for one server, never files left for nothing.

The kill lands at the start of the spawning step, or a little later: before the disk exists,
while the files exist without a domain, or once the domain runs, depending on the machine.
The outcome must hold in every case."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from polyvisor.agentkit.commands import EventKind
from tests.agent_kvm.boot_sector import BOOT_LINE
from tests.agent_kvm.kvm_support import KvmAgent, domains, virsh

pytestmark = pytest.mark.slow


def tagged_with(server_id: str) -> list[str]:
    """Every domain (any name) whose definition carries this server id."""
    return [d for d in domains() if server_id in virsh("dumpxml", d)]


@pytest.mark.parametrize("kill_after_s", [0.0, 0.08, 0.3])
async def test_killed_mid_spawn_then_restarted(
    kvm_agent: KvmAgent, boot_image: tuple[str, str], kill_after_s: float
) -> None:
    image_id, sha = boot_image
    agent = kvm_agent
    await agent.start()
    sid = str(uuid.uuid4())
    await agent.send(sid, 1, "spawn", image_id=image_id, sha256=sha, memory_mb=64)
    await agent.tap.wait_for(
        lambda e: e.server_id == sid and e.kind == EventKind.PROGRESS and e.task == "SPAWNING",
        timeout=60,
    )
    await asyncio.sleep(kill_after_s)
    await agent.kill()
    at_kill = tagged_with(sid)
    assert len(at_kill) <= 1

    await agent.start()  # the unacknowledged spawn comes back after the ack wait
    outcome = await agent.tap.wait_for(
        lambda e: e.server_id == sid and e.kind in (EventKind.SPAWNED, EventKind.SPAWN_FAILED),
        timeout=120,
    )
    workdir = agent.instances_dir / sid
    if outcome.kind == EventKind.SPAWNED:
        assert tagged_with(sid) == [f"polyvisor-{sid}"]
        assert virsh("domstate", f"polyvisor-{sid}").strip() == "running"
        await agent.serial_line(sid, BOOT_LINE)
        assert {p.name for p in workdir.iterdir()} == {
            "disk.qcow2",
            "config-drive.iso",
            "console.log",
            "instance.json",  # what the metadata service tells the server about itself
        }
    else:
        assert tagged_with(sid) == []
        assert not workdir.exists()
    assert [e.kind for e in agent.tap.of(sid)].count(outcome.kind) == 1

    await agent.send(sid, 2, "destroy")
    await agent.tap.wait_for(lambda e: e.server_id == sid and e.kind == EventKind.DESTROYED)
    assert tagged_with(sid) == []
    assert list(agent.instances_dir.iterdir()) == []
    await agent.stop()
