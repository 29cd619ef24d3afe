"""The console output (the serial log's last lines), pause (libvirt suspend) and suspend
(libvirt managed save) of a real VM: the boot sector
under qemu:///system. Neither reboots the guest; an agent killed in the middle of either comes
back, finishes it (the command is redelivered) and answers once; nothing is left behind."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from polyvisor.agent.v1 import queries_pb2
from polyvisor.agentkit.commands import EventKind
from polyvisor.common.streams import query_subject
from tests.agent_kvm.boot_sector import BOOT_LINE
from tests.agent_kvm.kvm_support import KvmAgent, domains, virsh

pytestmark = pytest.mark.slow


def is_(kind: EventKind, sid: str):  # type: ignore[no-untyped-def]
    return lambda e: e.kind == kind and e.server_id == sid


def managed_save(name: str) -> bool:
    return "Managed save:   yes" in virsh("dominfo", name)


async def test_pause_unpause_suspend_resume_and_a_kill_mid_suspend(
    kvm_agent: KvmAgent, boot_image: tuple[str, str]
) -> None:
    image_id, sha = boot_image
    agent = kvm_agent
    await agent.start()
    sid = str(uuid.uuid4())
    name = f"polyvisor-{sid}"
    await agent.send(sid, 1, "spawn", image_id=image_id, sha256=sha, memory_mb=64, disk_gb=1)
    await agent.tap.wait_for(is_(EventKind.SPAWNED, sid), timeout=120)
    await agent.serial_line(sid, BOOT_LINE)
    # The console output, asked of the agent as the api asks it: the serial log's last lines.
    reply = queries_pb2.ConsoleOutputReply.FromString(
        (
            await agent.bus.request(
                query_subject(agent.host, "console_output"),
                queries_pb2.ConsoleOutputRequest(server_id=sid, lines=1),
                timeout=10,
            )
        ).data
    )
    assert not reply.error and BOOT_LINE.decode().strip() in reply.output
    assert len(reply.output.splitlines()) == 1
    nobody = queries_pb2.ConsoleOutputReply.FromString(
        (
            await agent.bus.request(
                query_subject(agent.host, "console_output"),
                queries_pb2.ConsoleOutputRequest(server_id=str(uuid.uuid4())),
                timeout=10,
            )
        ).data
    )
    assert nobody.error_kind == "not_found"

    await agent.send(sid, 2, "pause")
    paused = await agent.tap.wait_for(is_(EventKind.PAUSED, sid))
    assert paused.power_state == "PAUSED" and paused.generation == 2
    assert virsh("domstate", name).strip() == "paused"

    await agent.send(sid, 3, "unpause")
    unpaused = await agent.tap.wait_for(is_(EventKind.UNPAUSED, sid))
    assert unpaused.power_state == "RUNNING"
    assert virsh("domstate", name).strip() == "running"

    await agent.send(sid, 4, "suspend")
    suspended = await agent.tap.wait_for(is_(EventKind.SUSPENDED, sid), timeout=60)
    assert suspended.power_state == "SUSPENDED"
    assert virsh("domstate", name).strip() == "shut off" and managed_save(name)

    await agent.send(sid, 5, "resume")
    resumed = await agent.tap.wait_for(is_(EventKind.RESUMED, sid), timeout=60)
    assert resumed.power_state == "RUNNING"
    assert virsh("domstate", name).strip() == "running" and not managed_save(name)

    # Killed right after the suspend is sent: whatever the kill interrupted, the restarted
    # agent gets the unacknowledged command again and the VM ends suspended, answered once.
    await agent.send(sid, 6, "suspend")
    await asyncio.sleep(0.05)
    await agent.kill()
    await agent.start()
    again = await agent.tap.wait_for(
        lambda e: e.server_id == sid and e.generation == 6 and e.kind == EventKind.SUSPENDED,
        timeout=90,
    )
    assert again.power_state == "SUSPENDED"
    assert virsh("domstate", name).strip() == "shut off" and managed_save(name)
    await agent.send(sid, 7, "resume")
    await agent.tap.wait_for(is_(EventKind.RESUMED, sid), timeout=60)
    # Restored from memory each time, never booted again.
    assert agent.console_log(sid).read_bytes().count(BOOT_LINE) <= 1

    await agent.send(sid, 8, "suspend")
    await agent.tap.wait_for(lambda e: e.server_id == sid and e.generation == 8, timeout=60)
    await agent.send(sid, 9, "destroy")  # a suspended server deletes with its saved memory
    await agent.tap.wait_for(is_(EventKind.DESTROYED, sid))
    assert name not in domains()
    assert list(agent.instances_dir.iterdir()) == []
    await agent.stop()
