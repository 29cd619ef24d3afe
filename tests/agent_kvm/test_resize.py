"""Cold resize of a real VM (the boot sector under qemu:///system): the guest is stopped, its
disk grown and its vCPUs and memory changed, and it boots again on the new size; a revert puts
the old disk and definition back; a confirm drops them. An agent killed in the middle of a
resize comes back, finishes it (the command is redelivered) and answers it."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import uuid
from pathlib import Path

import pytest

from polyvisor.agentkit.commands import EventKind
from tests.agent_kvm.boot_sector import BOOT_LINE
from tests.agent_kvm.kvm_support import KvmAgent, domains, virsh

pytestmark = pytest.mark.slow

GiB = 1024**3


def answer(sid: str, generation: int):  # type: ignore[no-untyped-def]
    return lambda e: e.server_id == sid and e.generation == generation


def size_of(name: str) -> tuple[int, int]:
    """(vCPUs, max memory KiB) of the domain's definition."""
    info = virsh("dominfo", name)
    cpus = int(re.search(r"CPU\(s\):\s+(\d+)", info).group(1))  # type: ignore[union-attr]
    mem = int(re.search(r"Max memory:\s+(\d+) KiB", info).group(1))  # type: ignore[union-attr]
    return cpus, mem


def disk_of(name: str) -> Path:
    for line in virsh("domblklist", name).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].startswith(("vd", "sd", "hd")) and "/" in parts[1]:
            if "config" not in parts[1]:
                return Path(parts[1])
    raise AssertionError(f"no disk in {virsh('domblklist', name)}")


def virtual_size(path: Path) -> int:
    out = subprocess.run(
        ["qemu-img", "info", "-U", "--output=json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(json.loads(out)["virtual-size"])


async def test_resize_revert_resize_again_through_a_kill_then_confirm(
    kvm_agent: KvmAgent, boot_image: tuple[str, str]
) -> None:
    image_id, sha = boot_image
    agent = kvm_agent
    await agent.start()
    sid = str(uuid.uuid4())
    name = f"polyvisor-{sid}"
    await agent.send(sid, 1, "spawn", image_id=image_id, sha256=sha, memory_mb=64, disk_gb=1)
    await agent.tap.wait_for(lambda e: e.server_id == sid and e.kind == EventKind.SPAWNED, 120)
    await agent.serial_line(sid, BOOT_LINE)
    disk = disk_of(name)
    assert size_of(name) == (1, 64 * 1024) and virtual_size(disk) == GiB
    kept = disk.with_name(disk.name + ".pre-resize")

    # resize: stopped, grown, redefined, booted again on the new size
    await agent.send(sid, 2, "resize", vcpus=2, memory_mb=96, disk_gb=2)
    done = await agent.tap.wait_for(answer(sid, 2), timeout=180)
    assert done.kind == EventKind.RESIZED, done.fault_message
    assert done.power_state == "RUNNING"
    assert virsh("domstate", name).strip() == "running"
    assert size_of(name) == (2, 96 * 1024)
    assert virtual_size(disk) == 2 * GiB
    assert kept.exists() and virtual_size(kept) == GiB
    await agent.serial_line(sid, BOOT_LINE, count=2)

    # revert: the old disk and definition back, booted again
    await agent.send(sid, 3, "revert_resize", vcpus=1, memory_mb=64, disk_gb=1)
    back = await agent.tap.wait_for(answer(sid, 3), timeout=180)
    assert back.kind == EventKind.RESIZE_REVERTED, back.fault_message
    assert virsh("domstate", name).strip() == "running"
    assert size_of(name) == (1, 64 * 1024) and virtual_size(disk) == GiB
    assert not kept.exists()
    await agent.serial_line(sid, BOOT_LINE, count=3)

    # resize again, the agent killed right after the command left: the restarted agent gets
    # it again and finishes it, from wherever the kill stopped it
    await agent.send(sid, 4, "resize", vcpus=2, memory_mb=96, disk_gb=3)
    await asyncio.sleep(0.3)
    await agent.kill()
    await agent.start()
    again = await agent.tap.wait_for(
        lambda e: e.server_id == sid and e.generation == 4 and e.kind != EventKind.PROGRESS,
        timeout=180,
    )
    assert again.kind == EventKind.RESIZED, again.fault_message
    assert virsh("domstate", name).strip() == "running"
    assert size_of(name) == (2, 96 * 1024) and virtual_size(disk) == 3 * GiB
    assert kept.exists() and virtual_size(kept) == GiB

    # confirm: what was kept for a revert is gone, the guest keeps running as it is
    await agent.send(sid, 5, "confirm_resize")
    ok = await agent.tap.wait_for(answer(sid, 5), timeout=60)
    assert ok.kind == EventKind.RESIZE_CONFIRMED, ok.fault_message
    assert not kept.exists()
    assert not list(agent.instances_dir.joinpath(sid).glob("pre-resize*"))
    assert size_of(name) == (2, 96 * 1024) and virsh("domstate", name).strip() == "running"

    await agent.send(sid, 6, "destroy")
    await agent.tap.wait_for(lambda e: e.server_id == sid and e.kind == EventKind.DESTROYED)
    assert name not in domains()
    assert list(agent.instances_dir.iterdir()) == []
    await agent.stop()


async def test_a_resize_to_a_host_that_is_no_migration_peer_is_refused_and_leaves_the_guest(
    kvm_agent: KvmAgent, boot_image: tuple[str, str]
) -> None:
    image_id, sha = boot_image
    agent = kvm_agent
    await agent.start()
    sid = str(uuid.uuid4())
    name = f"polyvisor-{sid}"
    await agent.send(sid, 1, "spawn", image_id=image_id, sha256=sha, memory_mb=64, disk_gb=1)
    await agent.tap.wait_for(lambda e: e.server_id == sid and e.kind == EventKind.SPAWNED, 120)
    await agent.send(sid, 2, "resize", vcpus=2, memory_mb=96, disk_gb=2, dest_host="elsewhere")
    refused = await agent.tap.wait_for(answer(sid, 2), timeout=60)
    assert refused.kind == EventKind.COMMAND_FAILED
    assert refused.fault_code == "RESIZE_FAILED" and "no migration peer" in refused.fault_message
    assert size_of(name) == (1, 64 * 1024) and virsh("domstate", name).strip() == "running"
    await agent.send(sid, 3, "destroy")
    await agent.tap.wait_for(lambda e: e.server_id == sid and e.kind == EventKind.DESTROYED)
    assert name not in domains()
    await agent.stop()
