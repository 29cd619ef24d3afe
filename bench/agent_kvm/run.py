"""Spawns through the KVM agent beside libvirt used directly, in one run.

    .venv/bin/python bench/agent_kvm/run.py [--spawns 200] [--boots 3] [--snapshots 3] [--quick]

1. Throughput on libvirt's test driver (test:///default). The KVM agent runs as a real
   process (``python -m polyvisor.agent_kvm``); N spawn commands are published on
   ``agent.<host>.cmd`` at once and timed until the N-th SPAWNED event: per spawn the agent
   pins the cached image, makes a qcow2 overlay (qemu-img) and a config drive (pycdlib),
   defines and starts the domain, and publishes its events. Baselines, in this process on
   its own test driver: ``defineXML`` + ``create`` of the same domain XML, N times; and the
   same with the same disk work (overlay + config drive) done inline, sequentially.
2. A real boot under qemu:///system (KVM when /dev/kvm exists, else TCG): the 512-byte boot
   sector, time from publishing the spawn command to its line in the serial log, beside
   ``virsh create`` of the same domain XML (a fresh overlay on the same cached base) timed
   to the same line. Rounds alternate; medians are reported. Skipped when libvirtd cannot
   run here (or with --quick).
3. Snapshot to image under qemu:///system: a running guest whose disk is an overlay on a
   32 MiB base, snapshotted through the agent (SnapshotServer command to SNAPSHOTTED: external
   disk-only snapshot, qemu-img convert of the chain, active block commit and pivot, then the
   upload of the qcow2 to the test image server over gRPC) beside the bare libvirt-python
   calls doing the same disk work in this process (snapshotCreateXML, qemu-img convert,
   blockCommit + pivot; no upload). Rounds alternate; medians are reported.

The last line printed is one JSON object with the figures (targets: spawn ratio at least
0.5, boot ratio at most 1.5). ``spawn_ratio`` compares with bare ``defineXML`` + ``create``,
which on the test driver costs well under a millisecond and makes no disk: the agent's
per-spawn floor is the qemu-img process that makes the overlay (about 10 ms of CPU), so that
ratio measures mostly qemu-img. ``spawn_ratio_vs_direct_with_disks`` compares with the same
work done directly (the agent runs spawns in parallel, bounded).
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
from snapshots import snapshots  # noqa: E402
from support import (  # noqa: E402
    KVM,
    SYSTEM_URI,
    TEST_URI,
    AgentUnderTest,
    log,
    qcow2_bytes,
    remove_domains_under,
    virsh,
    wait_line,
)

from polyvisor.agent_kvm.capabilities import parse_capabilities  # noqa: E402
from polyvisor.agent_kvm.config_drive import ConfigDrive, write_config_drive  # noqa: E402
from polyvisor.agent_kvm.disks import create_overlay  # noqa: E402
from polyvisor.agent_kvm.domain_xml import DomainSpec, build_domain_xml  # noqa: E402
from polyvisor.agentkit.commands import EventKind  # noqa: E402
from polyvisor.agentkit.testing import (  # noqa: E402
    ImageStore,
)
from polyvisor.common.embedded import EmbeddedNats  # noqa: E402
from tests.agent_kvm.boot_sector import boot_sector  # noqa: E402
from tests.fixtures.libvirt import LibvirtUnavailable, ensure_libvirtd  # noqa: E402

SPAWN_TARGET = 0.5
BOOT_TARGET = 1.5


# ---------------------------------------------------------------------- 1. test driver


async def agent_throughput(n: int, root: Path, nats_url: str) -> dict[str, float]:
    images = ImageStore()
    sha = images.put("img", "qcow2", qcow2_bytes(root, b"\0" * (1 << 20), "base"))
    agent = AgentUnderTest(root / "agent", nats_url, TEST_URI, images)
    await agent.start(POLYVISOR_VNC_PORT_MIN="20000", POLYVISOR_VNC_PORT_MAX=str(20000 + n + 10))
    try:
        assert agent.tap is not None
        await agent.spawn("warm-up", "img", sha)  # the image is fetched once, before timing
        await agent.tap.wait_for(lambda e: e.kind == EventKind.SPAWNED, timeout=60)
        t0 = time.perf_counter()
        await asyncio.gather(*(agent.spawn(f"s{i:04d}", "img", sha) for i in range(n)))
        deadline = time.monotonic() + 600
        while agent.spawned() < n + 1:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {agent.spawned() - 1} of {n} spawned")
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - t0
        failed = [e for e in agent.tap.events if e.kind == EventKind.SPAWN_FAILED]
        if failed:
            raise RuntimeError(f"{len(failed)} spawns failed: {failed[0].fault_message}")
    finally:
        await agent.stop()
    return {"seconds": elapsed, "per_s": n / elapsed}


def direct_throughput(n: int, root: Path, base: Path, with_disks: bool) -> dict[str, float]:
    conn = libvirt.open(TEST_URI)
    caps = parse_capabilities(conn.getCapabilities())
    guest = caps.guest("", "qemu")
    assert guest is not None
    work = root / ("direct-disks" if with_disks else "direct")
    work.mkdir(parents=True, exist_ok=True)
    specs = []
    for i in range(n):
        sid = str(uuid.uuid4())
        d = work / sid
        specs.append(
            DomainSpec(
                server_id=sid,
                display_name=f"d{i}",
                vcpus=1,
                memory_mb=128,
                domain_type=caps.domain_type("qemu"),
                arch=guest.raw_arch,
                disk_path=str(d / "disk.qcow2"),
                disk_format="qcow2",
                serial_log=str(d / "console.log"),
                vnc_port=30000 + i,
                config_drive_path=str(d / "config-drive.iso"),
            )
        )
    xmls = [build_domain_xml(s) for s in specs]
    domains = []
    t0 = time.perf_counter()
    for spec, xml in zip(specs, xmls, strict=True):
        if with_disks:
            d = Path(spec.disk_path).parent
            d.mkdir()
            create_overlay(base, "qcow2", Path(spec.disk_path), 1 << 30)
            write_config_drive(
                Path(spec.config_drive_path), ConfigDrive(spec.server_id, spec.display_name)
            )
        dom = conn.defineXML(xml)
        dom.create()
        domains.append(dom)
    elapsed = time.perf_counter() - t0
    for dom in domains:
        dom.destroy()
        dom.undefine()
    conn.close()
    shutil.rmtree(work, ignore_errors=True)
    return {"seconds": elapsed, "per_s": n / elapsed}


# ---------------------------------------------------------------------- 2. real boot


async def virsh_boot(agent_xml: str, work: Path, n: int) -> float:
    """``virsh create`` of the agent's XML (own name, files) to the serial line: seconds."""
    d = work / f"virsh-{n}"
    d.mkdir(parents=True)
    d.chmod(0o755)
    disk = re.search(r"<source file='([^']+disk\.qcow2)'", agent_xml)
    cdrom = re.search(r"<source file='([^']+config-drive\.iso)'", agent_xml)
    assert disk and cdrom
    info = json.loads(
        subprocess.check_output(  # noqa: ASYNC221 - a short qemu-img info, outside the timing
            ["qemu-img", "info", "-U", "--output=json", disk.group(1)], text=True
        )
    )
    base = info["full-backing-filename"]
    new_disk, new_cd, new_log = d / "disk.qcow2", d / "config-drive.iso", d / "console.log"
    create_overlay(Path(base), "qcow2", new_disk, int(info["virtual-size"]))
    shutil.copy(cdrom.group(1), new_cd)
    new_cd.chmod(0o644)
    xml = re.sub(r"<uuid>[^<]+</uuid>", "", agent_xml)
    xml = re.sub(r"<name>[^<]+</name>", f"<name>bench-virsh-{uuid.uuid4().hex[:8]}</name>", xml)
    xml = xml.replace(disk.group(1), str(new_disk)).replace(cdrom.group(1), str(new_cd))
    xml = re.sub(r"path='[^']+console\.log'", f"path='{new_log}'", xml)
    xml = re.sub(
        r"<graphics type='vnc' port='\d+' autoport='no'", "<graphics type='vnc' autoport='yes'", xml
    )
    xml_path = d / "domain.xml"
    xml_path.write_text(xml)
    name = re.search(r"<name>([^<]+)</name>", xml).group(1)  # type: ignore[union-attr]
    t0 = time.perf_counter()
    await asyncio.to_thread(virsh, "create", str(xml_path))
    await wait_line(new_log)
    elapsed = time.perf_counter() - t0
    await asyncio.to_thread(virsh, "destroy", name)
    return elapsed


async def real_boot(rounds: int, nats_url: str) -> dict[str, object]:
    try:
        ensure_libvirtd(SYSTEM_URI)
    except LibvirtUnavailable as exc:
        return {"skipped": str(exc)}
    root = Path(tempfile.mkdtemp(prefix="polyvisor-bench-kvm-", dir="/var/tmp"))
    root.chmod(0o755)  # noqa: ASYNC240 - QEMU (libvirt-qemu) must traverse it
    images = ImageStore()
    sha = images.put("boot", "qcow2", qcow2_bytes(root, boot_sector(), "boot"))
    agent = AgentUnderTest(root / "agent", nats_url, SYSTEM_URI, images)
    agent_s: list[float] = []
    virsh_s: list[float] = []
    try:
        await agent.start()
        assert agent.tap is not None
        # warm-up: the image is fetched once; libvirtd and QEMU binaries are paged in
        warm = str(uuid.uuid4())
        await agent.spawn(warm, "boot", sha, memory_mb=64)
        await wait_line(agent.root / "instances" / warm / "console.log")
        await agent.destroy(warm)
        for n in range(rounds):
            sid = str(uuid.uuid4())
            t0 = time.perf_counter()
            await agent.spawn(sid, "boot", sha, memory_mb=64)
            await wait_line(agent.root / "instances" / sid / "console.log")
            agent_s.append(time.perf_counter() - t0)
            xml = await asyncio.to_thread(virsh, "dumpxml", "--inactive", f"polyvisor-{sid}")
            virsh_s.append(await virsh_boot(xml, root, n))
            await agent.destroy(sid)
            log(f"boot round {n}: agent {agent_s[-1]:.3f}s, virsh create {virsh_s[-1]:.3f}s")
    finally:
        await agent.stop()
        await asyncio.to_thread(remove_domains_under, root)
        shutil.rmtree(root, ignore_errors=True)
    a, v = statistics.median(agent_s), statistics.median(virsh_s)
    return {
        "virt_type": "kvm" if KVM else "qemu",
        "rounds": rounds,
        "agent_create_to_serial_s": round(a, 3),
        "virsh_create_to_serial_s": round(v, 3),
        "agent_samples_s": [round(x, 3) for x in agent_s],
        "virsh_samples_s": [round(x, 3) for x in virsh_s],
        "ratio": round(a / v, 3),
        "target_max_ratio": BOOT_TARGET,
        "meets_target": a / v <= BOOT_TARGET,
    }


# ---------------------------------------------------------------------- main


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spawns", type=int, default=200)
    parser.add_argument("--boots", type=int, default=3)
    parser.add_argument("--snapshots", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20 spawns, no real boot")
    args = parser.parse_args()
    n = 20 if args.quick else args.spawns

    root = Path(tempfile.mkdtemp(prefix="polyvisor-bench-kvm-"))
    nats = EmbeddedNats(root / "nats", die_with_parent=True)
    nats.start()
    try:
        assert nats.url is not None
        base = root / "base.qcow2"
        await asyncio.to_thread(
            subprocess.run, ["qemu-img", "create", "-q", "-f", "qcow2", str(base), "1M"], check=True
        )
        log(f"{n} spawns through the agent (test:///default)...")
        through_agent = await agent_throughput(n, root, nats.url)
        log(f"{n} direct defineXML+create...")
        direct = await asyncio.to_thread(direct_throughput, n, root, base, False)
        log(f"{n} direct overlay+config drive+defineXML+create...")
        direct_disks = await asyncio.to_thread(direct_throughput, n, root, base, True)
        if args.quick or args.boots < 1:
            boot: dict[str, object] = {"skipped": "--quick" if args.quick else "--boots 0"}
        else:
            boot = await real_boot(args.boots, nats.url)
        if args.quick or args.snapshots < 1:
            snap: dict[str, object] = {"skipped": "--quick" if args.quick else "--snapshots 0"}
        else:
            log(f"{args.snapshots} snapshots of a running guest, agent and bare libvirt...")
            snap = await snapshots(args.snapshots, nats.url)
    finally:
        nats.stop()
        shutil.rmtree(root, ignore_errors=True)

    ratio = through_agent["per_s"] / direct["per_s"]
    result = {
        "bench": "agent_kvm",
        "spawns": n,
        "agent_spawns_per_s": round(through_agent["per_s"], 1),
        "direct_define_create_per_s": round(direct["per_s"], 1),
        "direct_with_disks_per_s": round(direct_disks["per_s"], 1),
        "spawn_ratio": round(ratio, 3),
        "spawn_ratio_vs_direct_with_disks": round(
            through_agent["per_s"] / direct_disks["per_s"], 3
        ),
        "spawn_target_min_ratio": SPAWN_TARGET,
        "spawn_meets_target": ratio >= SPAWN_TARGET,
        "boot": boot,
        "snapshot": snap,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
