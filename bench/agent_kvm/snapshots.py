"""bench/agent_kvm's third part: snapshot to image through the agent beside the bare
libvirt-python calls doing the same disk work (see `run`)."""

from __future__ import annotations

import asyncio
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

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import libvirt  # noqa: E402
from support import (  # noqa: E402
    SYSTEM_URI,
    AgentUnderTest,
    log,
    qcow2_bytes,
    remove_domains_under,
    wait_line,
)

from polyvisor.agentkit.bus import command_subject  # noqa: E402
from polyvisor.agentkit.commands import EventKind  # noqa: E402
from polyvisor.agentkit.testing import (  # noqa: E402
    ImageStore,
    agent_command,
)
from tests.agent_kvm.boot_sector import boot_sector  # noqa: E402
from tests.fixtures.libvirt import LibvirtUnavailable, ensure_libvirtd  # noqa: E402


def bare_snapshot(domain: str, work: Path) -> float:
    """The disk work of a snapshot with libvirt-python and qemu-img only: seconds."""
    conn = libvirt.open(SYSTEM_URI)
    try:
        dom = conn.lookupByName(domain)
        xml = dom.XMLDesc(0)
        disk = re.search(r"<source file='([^']+disk\.qcow2)'", xml)
        assert disk
        path = Path(disk.group(1))
        overlay = path.with_name("bare-overlay.qcow2")
        dest = work / f"bare-{uuid.uuid4().hex[:6]}.qcow2"
        others = re.findall(r"<target dev='(\w+)'", xml)[1:]
        snap = (
            "<domainsnapshot><disks>"
            f"<disk name='vda' snapshot='external'><driver type='qcow2'/>"
            f"<source file='{overlay}'/></disk>"
            + "".join(f"<disk name='{d}' snapshot='no'/>" for d in others)
            + "</disks></domainsnapshot>"
        )
        t0 = time.perf_counter()
        dom.snapshotCreateXML(
            snap,
            libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
            | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC
            | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA,
        )
        subprocess.run(
            ["qemu-img", "convert", "-U", "-q", "-f", "qcow2", "-O", "qcow2", str(path), str(dest)],
            check=True,
        )
        dom.blockCommit(
            "vda",
            None,
            None,
            0,
            libvirt.VIR_DOMAIN_BLOCK_COMMIT_ACTIVE | libvirt.VIR_DOMAIN_BLOCK_COMMIT_SHALLOW,
        )
        while True:
            info = dom.blockJobInfo("vda", 0)
            if info and info["cur"] == info["end"]:
                break
            time.sleep(0.01)
        dom.blockJobAbort("vda", libvirt.VIR_DOMAIN_BLOCK_JOB_ABORT_PIVOT)
        while dom.blockJobInfo("vda", 0):
            time.sleep(0.01)
        elapsed = time.perf_counter() - t0
        overlay.unlink(missing_ok=True)
        dest.unlink(missing_ok=True)
        return elapsed
    finally:
        conn.close()


async def snapshots(rounds: int, nats_url: str) -> dict[str, object]:
    try:
        ensure_libvirtd(SYSTEM_URI)
    except LibvirtUnavailable as exc:
        return {"skipped": str(exc)}
    root = Path(tempfile.mkdtemp(prefix="polyvisor-bench-kvm-", dir="/var/tmp"))
    root.chmod(0o755)  # noqa: ASYNC240 - QEMU (libvirt-qemu) must traverse it
    images = ImageStore()
    disk = boot_sector() + os.urandom(32 << 20)
    sha = images.put("snapbase", "qcow2", qcow2_bytes(root, disk, "snapbase"))
    agent = AgentUnderTest(root / "agent", nats_url, SYSTEM_URI, images)
    agent_s: list[float] = []
    bare_s: list[float] = []
    sid = str(uuid.uuid4())
    try:
        await agent.start()
        assert agent.tap is not None and agent.bus is not None
        await agent.spawn(sid, "snapbase", sha, memory_mb=64)
        await wait_line(agent.root / "instances" / sid / "console.log")
        for n in range(rounds):
            image_id = f"snap-{n}"
            images.expect_snapshot(image_id)
            msg = agent_command(agent.host, sid, 2 + n, "snapshot", image_id=image_id)
            t0 = time.perf_counter()
            await agent.bus.publish(command_subject(agent.host), msg, msg_id=msg.command_id)
            await agent.tap.wait_for(
                lambda e, g=2 + n: (
                    e.server_id == sid
                    and e.generation == g
                    and e.kind in (EventKind.SNAPSHOTTED, EventKind.COMMAND_FAILED)
                ),
                timeout=300,
            )
            agent_s.append(time.perf_counter() - t0)
            assert image_id in images.uploaded, f"snapshot failed: {images.killed}"
            bare_s.append(await asyncio.to_thread(bare_snapshot, f"polyvisor-{sid}", root))
            log(f"snapshot round {n}: agent {agent_s[-1]:.3f}s, bare {bare_s[-1]:.3f}s")
        size = len(images.uploaded[f"snap-{rounds - 1}"][0])
        msg = agent_command(agent.host, sid, 2 + rounds, "destroy")
        await agent.bus.publish(command_subject(agent.host), msg, msg_id=msg.command_id)
        await agent.tap.wait_for(lambda e: e.server_id == sid and e.kind == EventKind.DESTROYED)
    finally:
        await agent.stop()
        await asyncio.to_thread(remove_domains_under, root)
        shutil.rmtree(root, ignore_errors=True)
    a, b = statistics.median(agent_s), statistics.median(bare_s)
    return {
        "rounds": rounds,
        "image_bytes": size,
        "agent_snapshot_s": round(a, 3),
        "bare_libvirt_snapshot_s": round(b, 3),
        "agent_samples_s": [round(x, 3) for x in agent_s],
        "bare_samples_s": [round(x, 3) for x in bare_s],
        "ratio": round(a / b, 3),
        "note": "the agent also uploads the image over gRPC; the bare calls do not",
    }
