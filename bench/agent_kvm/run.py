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

from polyvisor.agent_kvm.capabilities import parse_capabilities  # noqa: E402
from polyvisor.agent_kvm.config_drive import ConfigDrive, write_config_drive  # noqa: E402
from polyvisor.agent_kvm.disks import create_overlay  # noqa: E402
from polyvisor.agent_kvm.domain_xml import DomainSpec, build_domain_xml  # noqa: E402
from polyvisor.agentkit.bus import command_subject  # noqa: E402
from polyvisor.agentkit.commands import EventKind  # noqa: E402
from polyvisor.agentkit.testing import (  # noqa: E402
    AgentTestServers,
    AssignmentBoard,
    EventTap,
    ImageStore,
    agent_command,
)
from polyvisor.common.bus.client import Bus  # noqa: E402
from polyvisor.common.embedded import EmbeddedNats  # noqa: E402
from tests.agent_kvm.boot_sector import BOOT_LINE, boot_sector  # noqa: E402
from tests.fixtures.libvirt import LibvirtUnavailable, ensure_libvirtd  # noqa: E402
from tests.support.services import ServiceProcess, free_port  # noqa: E402

SPAWN_TARGET = 0.5
BOOT_TARGET = 1.5
TEST_URI = "test:///default"
SYSTEM_URI = "qemu:///system"
KVM = os.path.exists("/dev/kvm")


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def qcow2_bytes(workdir: Path, raw: bytes, name: str) -> bytes:
    src, dst = workdir / f"{name}.raw", workdir / f"{name}.qcow2"
    src.write_bytes(raw)
    subprocess.run(
        ["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(src), str(dst)], check=True
    )
    return dst.read_bytes()


class AgentUnderTest:
    """The KVM agent process with NATS, a tap on its events and a test image server."""

    def __init__(self, root: Path, nats_url: str, uri: str, images: ImageStore) -> None:
        self.root = root
        self.nats_url = nats_url
        self.uri = uri
        self.images = images
        self.host = f"bench-kvm-{uuid.uuid4().hex[:6]}"
        self.proc: ServiceProcess | None = None
        self.servers: AgentTestServers | None = None
        self.bus: Bus | None = None
        self.tap: EventTap | None = None

    async def start(self, **extra: str) -> None:
        self.servers = await AgentTestServers(self.images, AssignmentBoard()).start()
        virt = "kvm" if self.uri == SYSTEM_URI and KVM else "qemu"
        env = {
            "POLYVISOR_HOST_ID": self.host,
            "POLYVISOR_SERVER_ID": f"agent-{self.host}",
            "POLYVISOR_NATS_URL": self.nats_url,
            "POLYVISOR_API_ADDRESS": self.servers.address,
            "POLYVISOR_IMAGESVC_ADDRESS": self.servers.address,
            "POLYVISOR_LIBVIRT_URI": self.uri,
            "POLYVISOR_VIRT_TYPE": virt,
            "POLYVISOR_INSTANCES_DIR": str(self.root / "instances"),
            "POLYVISOR_CACHE_DIR": str(self.root / "cache"),
            "POLYVISOR_STATE_DIR": str(self.root / "state"),
            "POLYVISOR_GRPC_HOST": "127.0.0.1",
            "POLYVISOR_GRPC_PORT": str(free_port()),
            "POLYVISOR_METRICS_HOST": "127.0.0.1",
            "POLYVISOR_METRICS_PORT": "0",
            "POLYVISOR_RECONCILE_INTERVAL_S": "0",
            "POLYVISOR_LOG_LEVEL": "WARNING",
            **extra,
        }
        self.proc = ServiceProcess("agent_kvm", env, log_path=self.root / "agent.log")
        await self.proc.start(timeout=60)
        self.bus = await Bus.connect(self.nats_url, name=f"bench-{self.host}")
        self.tap = await EventTap.start(self.bus, self.host)

    async def spawn(self, sid: str, image_id: str, sha: str, **kw: object) -> None:
        assert self.bus is not None
        msg = agent_command(self.host, sid, 1, "spawn", image_id=image_id, sha256=sha, **kw)  # type: ignore[arg-type]
        await self.bus.publish(command_subject(self.host), msg, msg_id=msg.command_id)

    async def destroy(self, sid: str) -> None:
        assert self.bus is not None and self.tap is not None
        msg = agent_command(self.host, sid, 2, "destroy")
        await self.bus.publish(command_subject(self.host), msg, msg_id=msg.command_id)
        await self.tap.wait_for(lambda e: e.server_id == sid and e.kind == EventKind.DESTROYED)

    def spawned(self) -> int:
        assert self.tap is not None
        return sum(1 for e in self.tap.events if e.kind == EventKind.SPAWNED)

    async def stop(self) -> None:
        if self.tap is not None:
            await self.tap.close()
        if self.bus is not None:
            await self.bus.close()
        if self.proc is not None:
            await self.proc.stop()
        if self.servers is not None:
            await self.servers.stop()


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


async def wait_line(path: Path, timeout: float = 120.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if BOOT_LINE in _read(path):
            return
        await asyncio.sleep(0.005)
    raise TimeoutError(f"no boot line in {path}")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def virsh(*args: str) -> str:
    return subprocess.run(
        ["virsh", "-c", SYSTEM_URI, *args], capture_output=True, text=True, check=True
    ).stdout


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


def _remove_domains_under(root: Path) -> None:
    """After a failure: the domains this run made (their files live under ``root``)."""
    names = subprocess.run(
        ["virsh", "-c", SYSTEM_URI, "list", "--all", "--name"], capture_output=True, text=True
    ).stdout.split()
    for name in names:
        xml = subprocess.run(
            ["virsh", "-c", SYSTEM_URI, "dumpxml", name], capture_output=True, text=True
        ).stdout
        if str(root) in xml:
            subprocess.run(["virsh", "-c", SYSTEM_URI, "destroy", name], capture_output=True)
            subprocess.run(["virsh", "-c", SYSTEM_URI, "undefine", name], capture_output=True)


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
        await asyncio.to_thread(_remove_domains_under, root)
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


# ---------------------------------------------------------------------- 3. snapshot


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
        await asyncio.to_thread(_remove_domains_under, root)
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
