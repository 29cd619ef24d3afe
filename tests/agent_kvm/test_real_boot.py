"""A real VM: the boot sector, uploaded to the image service as qcow2, spawned by the KVM agent
under qemu:///system (KVM when /dev/kvm exists, else TCG), prints its line on the serial port;
stop, start, reboot and delete work and leave no domain and no file behind."""

from __future__ import annotations

import uuid

import pytest

from polyvisor.agentkit.commands import EventKind
from polyvisor.agentkit.driver import PowerState
from polyvisor.agentkit.reconcile_plan import Assigned
from tests.agent_kvm.boot_sector import BOOT_LINE
from tests.agent_kvm.kvm_support import KvmAgent, domains, virsh, virt_type

pytestmark = pytest.mark.slow


def is_(kind: EventKind, sid: str):  # type: ignore[no-untyped-def]
    return lambda e: e.kind == kind and e.server_id == sid


async def test_boot_sector_boots_and_the_lifecycle_leaves_nothing_behind(
    kvm_agent: KvmAgent, boot_image: tuple[str, str]
) -> None:
    image_id, sha = boot_image
    agent = kvm_agent
    await agent.start()
    sid = str(uuid.uuid4())
    name = f"polyvisor-{sid}"

    await agent.send(sid, 1, "spawn", image_id=image_id, sha256=sha, memory_mb=64, disk_gb=1)
    spawned = await agent.tap.wait_for(is_(EventKind.SPAWNED, sid), timeout=120)
    assert spawned.power_state == "RUNNING" and spawned.instance_name == name
    assert 5900 <= spawned.console_port <= 6000
    await agent.serial_line(sid, BOOT_LINE)
    assert virsh("domstate", name).strip() == "running"
    xml = virsh("dumpxml", name)
    assert f"type='{virt_type()}'" in xml
    assert f"port='{spawned.console_port}'" in xml

    await agent.send(sid, 2, "power_off")
    off = await agent.tap.wait_for(is_(EventKind.POWERED_OFF, sid))
    assert off.power_state == "SHUTDOWN"
    assert virsh("domstate", name).strip() == "shut off"

    await agent.send(sid, 3, "power_on")
    await agent.tap.wait_for(is_(EventKind.POWERED_ON, sid))
    await agent.serial_line(sid, BOOT_LINE, count=2)  # it really booted again

    await agent.send(sid, 4, "reboot", hard=True)
    await agent.tap.wait_for(is_(EventKind.REBOOTED, sid))
    await agent.serial_line(sid, BOOT_LINE, count=3)

    await agent.send(sid, 5, "refresh_console")
    console = await agent.tap.wait_for(is_(EventKind.CONSOLE_UPDATED, sid))
    assert console.console_port == spawned.console_port

    await agent.send(sid, 6, "destroy")
    await agent.tap.wait_for(is_(EventKind.DESTROYED, sid))
    assert name not in domains()
    assert list(agent.instances_dir.iterdir()) == []
    # none of that is reported as a change made behind our back
    assert not [e for e in agent.tap.of(sid) if e.kind == EventKind.VANISHED]
    await agent.stop()


async def test_a_vm_stopped_and_removed_behind_the_agents_back_is_reported(
    kvm_agent: KvmAgent, boot_image: tuple[str, str]
) -> None:
    image_id, sha = boot_image
    agent = kvm_agent
    await agent.start()
    watched, unwatched = str(uuid.uuid4()), str(uuid.uuid4())
    for sid in (watched, unwatched):
        await agent.send(sid, 1, "spawn", image_id=image_id, sha256=sha, memory_mb=64)
    for sid in (watched, unwatched):
        await agent.tap.wait_for(is_(EventKind.SPAWNED, sid), timeout=120)

    # While the agent runs, libvirt's lifecycle events tell it at once.
    virsh("destroy", f"polyvisor-{watched}")  # an operator pulls the plug
    changed = await agent.tap.wait_for(is_(EventKind.POWER_STATE_CHANGED, watched))
    assert changed.power_state == "SHUTDOWN" and changed.generation == 1
    virsh("undefine", f"polyvisor-{watched}")  # and removes it
    vanished = await agent.tap.wait_for(is_(EventKind.VANISHED, watched))
    assert vanished.fault_code == "VANISHED"

    # While the agent is down, nobody hears it: the reconciler finds out.
    await agent.stop()
    virsh("destroy", f"polyvisor-{unwatched}")
    virsh("undefine", f"polyvisor-{unwatched}")
    agent.board.assign(agent.host, Assigned(unwatched, 1, PowerState.RUNNING, "ACTIVE"))
    await agent.start(POLYVISOR_RECONCILE_INTERVAL_S="1")
    gone = await agent.tap.wait_for(is_(EventKind.VANISHED, unwatched), timeout=30)
    assert gone.fault_code == "VANISHED" and gone.generation == 1
    await agent.stop()
