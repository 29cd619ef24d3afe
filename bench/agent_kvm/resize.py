"""Cold resize through the KVM agent beside libvirt used directly, in one run.

    .venv/bin/python bench/agent_kvm/resize.py [--rounds 3]

A running boot-sector guest (qemu:///system: KVM when /dev/kvm exists, else TCG) whose disk is
a qcow2 overlay on a 32 MiB base is resized through the agent (ResizeServer command to
RESIZED: stop, copy of the disk kept for a revert, ``qemu-img resize``, the domain redefined
with more vCPUs and memory, started again; then ConfirmResize drops the copy, not timed),
beside the bare libvirt-python calls doing the same work on the same domain in this process
(destroy, copy of the disk, qemu-img resize, defineXML with the new size, create). Rounds
alternate, each growing the disk by 1 GiB; medians are reported. The last line printed is one
JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import libvirt
import run as kvm

from polyvisor.agent_kvm.resize import resized_definition
from polyvisor.agentkit.bus import command_subject
from polyvisor.agentkit.commands import EventKind
from polyvisor.agentkit.testing import ImageStore, agent_command
from polyvisor.common.embedded import EmbeddedNats
from tests.agent_kvm.boot_sector import boot_sector
from tests.fixtures.libvirt import LibvirtUnavailable, ensure_libvirtd

GiB = 1 << 30


def bare_resize(domain: str, vcpus: int, memory_mb: int, disk_gb: int) -> float:
    """The work of a cold resize with libvirt-python, cp and qemu-img only: seconds."""
    conn = libvirt.open(kvm.SYSTEM_URI)
    try:
        dom = conn.lookupByName(domain)
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        found = re.search(r"<source file='([^']+disk\.qcow2)'", xml)
        assert found
        disk = Path(found.group(1))
        kept = disk.with_name("bare.pre-resize")
        t0 = time.perf_counter()
        if dom.isActive():
            dom.destroy()
        subprocess.run(["cp", "--sparse=always", "--", str(disk), str(kept)], check=True)
        subprocess.run(
            ["qemu-img", "resize", "-q", "-f", "qcow2", str(disk), str(disk_gb * GiB)], check=True
        )
        dom = conn.defineXML(resized_definition(xml, vcpus, memory_mb))
        dom.create()
        elapsed = time.perf_counter() - t0
        kept.unlink(missing_ok=True)
        return elapsed
    finally:
        conn.close()


async def resizes(rounds: int, nats_url: str) -> dict[str, object]:
    try:
        ensure_libvirtd(kvm.SYSTEM_URI)
    except LibvirtUnavailable as exc:
        return {"skipped": str(exc)}
    root = Path(tempfile.mkdtemp(prefix="polyvisor-bench-resize-", dir="/var/tmp"))
    root.chmod(0o755)  # noqa: ASYNC240 - QEMU (libvirt-qemu) must traverse it
    images = ImageStore()
    disk = boot_sector() + os.urandom(32 << 20)
    sha = images.put("rsbase", "qcow2", kvm.qcow2_bytes(root, disk, "rsbase"))
    agent = kvm.AgentUnderTest(root / "agent", nats_url, kvm.SYSTEM_URI, images)
    agent_s: list[float] = []
    bare_s: list[float] = []
    sid = str(uuid.uuid4())
    gen = 1
    try:
        await agent.start()
        assert agent.tap is not None and agent.bus is not None
        await agent.spawn(sid, "rsbase", sha, memory_mb=64)
        await kvm.wait_line(agent.root / "instances" / sid / "console.log")
        size = 1
        for n in range(rounds):
            size += 1
            gen += 1
            msg = agent_command(
                agent.host, sid, gen, "resize", vcpus=2, memory_mb=96 + n, disk_gb=size
            )
            t0 = time.perf_counter()
            await agent.bus.publish(command_subject(agent.host), msg, msg_id=msg.command_id)
            done = await agent.tap.wait_for(
                lambda e, g=gen: e.server_id == sid and e.generation == g, timeout=300
            )
            agent_s.append(time.perf_counter() - t0)
            assert done.kind == EventKind.RESIZED, done.fault_message
            gen += 1
            msg = agent_command(agent.host, sid, gen, "confirm_resize")
            await agent.bus.publish(command_subject(agent.host), msg, msg_id=msg.command_id)
            await agent.tap.wait_for(lambda e, g=gen: e.server_id == sid and e.generation == g)
            size += 1
            bare_s.append(await asyncio.to_thread(bare_resize, f"polyvisor-{sid}", 1, 64 + n, size))
            kvm.log(f"resize round {n}: agent {agent_s[-1]:.3f}s, bare {bare_s[-1]:.3f}s")
        gen += 1
        msg = agent_command(agent.host, sid, gen, "destroy")
        await agent.bus.publish(command_subject(agent.host), msg, msg_id=msg.command_id)
        await agent.tap.wait_for(lambda e: e.server_id == sid and e.kind == EventKind.DESTROYED)
    finally:
        await agent.stop()
        await asyncio.to_thread(kvm.remove_domains_under, root)
        shutil.rmtree(root, ignore_errors=True)
    a, b = statistics.median(agent_s), statistics.median(bare_s)
    return {
        "virt_type": "kvm" if kvm.KVM else "qemu",
        "rounds": rounds,
        "agent_resize_s": round(a, 3),
        "bare_libvirt_resize_s": round(b, 3),
        "agent_samples_s": [round(x, 3) for x in agent_s],
        "bare_samples_s": [round(x, 3) for x in bare_s],
        "ratio": round(a / b, 3),
        "note": "the agent also writes its resize marker and the kept definition, and publishes its events",
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="polyvisor-bench-resize-"))
    nats = EmbeddedNats(root / "nats", die_with_parent=True)
    nats.start()
    try:
        assert nats.url is not None
        kvm.log(f"{args.rounds} resizes of a running guest, agent and bare libvirt...")
        result = await resizes(args.rounds, nats.url)
    finally:
        nats.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps({"bench": "agent_kvm_resize", "resize": result}))


if __name__ == "__main__":
    asyncio.run(main())
