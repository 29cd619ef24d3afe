"""Spawns through the VMware agent against vcsim, beside a plain pyvmomi loop, in one run.

    .venv/bin/python bench/agent_vmware/run.py [--spawns 100] [--rounds 4] [--snapshots 3] [--quick]

Starts vcsim (2 clusters x 3 ESXi hosts), NATS and the VMware agent as a real process
(``python -m polyvisor.agent_vmware``), then measures N spawns each way:

- agent: spawn commands published on ``agent.<host>.cmd`` at once, timed until the last
  SPAWNED event (image fetch and its one upload to the datastore, disk copy, CreateVM with
  controller, guestinfo and VNC, PowerOn, events), on cluster DC0_C0;
- baseline: a direct pyvmomi loop of CreateVM (a SCSI controller and a new disk) + PowerOn,
  each waited for with pyVim's WaitForTask, on cluster DC0_C1 of the same vcsim.

The N spawns of each side run in ``--rounds`` chunks, interleaved A B B A A B B A ..., so
that the load of a shared machine and vcsim's growing inventory (its calls slow down with
the objects it holds) weigh on both sides alike. The last line printed is one JSON object
with the figures (target: agent rate at least 0.5 of the direct loop's).

Then ``--snapshots`` rounds of snapshot to image of one of the agent's VMs, alternating:
through the agent (SnapshotServer command to SNAPSHOTTED: VM snapshot, CopyVirtualDisk of the
disk it froze, download of the flat extent, removal of both, upload to the test image server
over gRPC) and the same vSphere calls made with plain pyvmomi and http.client in this process
(no upload). Medians are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "services" / "agent_vmware" / "tests"))
sys.path.insert(0, str(REPO / "tests" / "agent_vmware"))

from pyVim.task import WaitForTask  # noqa: E402
from pyVmomi import vim  # noqa: E402
from vmware_agents import agent_env, agent_process  # noqa: E402
from vmware_fixtures import Direct, make_images  # noqa: E402

from polyvisor.agentkit.testing import (  # noqa: E402
    AgentTestServers,
    AssignmentBoard,
    EventTap,
    ImageStore,
    agent_command,
)
from polyvisor.common.bus.client import Bus  # noqa: E402
from polyvisor.common.bus.subjects import subject_token  # noqa: E402
from polyvisor.common.embedded import EmbeddedNats  # noqa: E402
from polyvisor.types.v1 import disk_pb2  # noqa: E402
from tests.fixtures.vcsim import Vcsim, VcsimEndpoint  # noqa: E402

TARGET_RATIO = 0.5


class DirectLoop:
    """CreateVM + PowerOn with plain pyvmomi, one after the other."""

    def __init__(self, endpoint: VcsimEndpoint) -> None:
        self.d = Direct(endpoint)
        dc = self.d.content.rootFolder.childEntity[0]
        self.folder = dc.vmFolder.CreateFolder(f"direct-{uuid.uuid4().hex[:6]}")
        self.pool = self.d.cluster("DC0_C1").resourcePool
        self.made = 0

    def run(self, n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            name = f"direct-{self.made}"
            self.made += 1
            ctrl = vim.vm.device.VirtualLsiLogicController(
                key=-101, busNumber=0, sharedBus="noSharing"
            )
            disk = vim.vm.device.VirtualDisk(
                key=-102, controllerKey=-101, unitNumber=0, capacityInKB=1024,
                backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(diskMode="persistent", thinProvisioned=True),
            )  # fmt: skip
            spec = vim.vm.ConfigSpec(
                name=name, numCPUs=1, memoryMB=64, guestId="otherGuest64",
                files=vim.vm.FileInfo(vmPathName=f"[LocalDS_0] {name}/{name}.vmx"),
                deviceChange=[
                    vim.vm.device.VirtualDeviceSpec(operation="add", device=ctrl),
                    vim.vm.device.VirtualDeviceSpec(operation="add", fileOperation="create", device=disk),
                ],
            )  # fmt: skip
            task = self.folder.CreateVM_Task(config=spec, pool=self.pool)
            WaitForTask(task)
            WaitForTask(task.info.result.PowerOnVM_Task())
        return time.perf_counter() - start

    def close(self) -> None:
        self.d.close()


class AgentLoop:
    """Spawn commands to the agent process over NATS, timed until their SPAWNED events."""

    def __init__(self, bus: Bus, events: EventTap, host: str) -> None:
        self.bus = bus
        self.events = events
        self.host = host

    async def run(self, n: int) -> float:
        sids = [str(uuid.uuid4()) for _ in range(n)]
        subject = f"agent.{subject_token(self.host)}.cmd"
        start = time.perf_counter()
        for sid in sids:
            cmd = agent_command(self.host, sid, 1, "spawn", image_id="img-bench", disk_format="vmdk",
                                vmware_disktype="streamOptimized", vcpus=1, memory_mb=64, disk_gb=0, name=sid[:8])  # fmt: skip
            cmd.spawn.image.vmware_adaptertype = disk_pb2.VMWARE_ADAPTER_TYPE_LSI_LOGIC
            await self.bus.publish(subject, cmd)
        for sid in sids:
            await self.events.first("SPAWNED", sid, timeout=600)
        return time.perf_counter() - start


def _wait_state(content: Any, task: vim.Task) -> Any:
    """Wait for a task by its info.state alone (vcsim's disk-manager tasks name an entity
    pyVmomi refuses to decode, so pyVim's WaitForTask cannot read them)."""
    spec = vim.PropertyCollector.FilterSpec(
        objectSet=[vim.PropertyCollector.ObjectSpec(obj=task)],
        propSet=[vim.PropertyCollector.PropertySpec(type=vim.Task, pathSet=["info.state"])],
    )
    while True:
        state = content.propertyCollector.RetrieveContents([spec])[0].propSet[0].val
        if state in ("success", "error"):
            assert state == "success", f"task {task} failed"
            spec.propSet[0].pathSet = ["info.result"]
            found = content.propertyCollector.RetrieveContents([spec])[0].propSet
            return found[0].val if found else None
        time.sleep(0.01)


def bare_snapshot(d: Direct, endpoint: VcsimEndpoint, vm: vim.VirtualMachine, work: Path) -> float:
    """A snapshot's vSphere work with plain pyvmomi and http.client: seconds."""
    import http.client
    from urllib.parse import quote, urlencode, urlparse

    content = d.content
    dc = content.rootFolder.childEntity[0]
    t0 = time.perf_counter()
    snap = _wait_state(
        content,
        vm.CreateSnapshot_Task(name="bare", description="", memory=False, quiesce=False),
    )
    disk = next(
        dev for dev in snap.config.hardware.device if isinstance(dev, vim.vm.device.VirtualDisk)
    )
    source = disk.backing.fileName
    ds, path = source[1:].split("] ", 1)
    folder = path.rsplit("/", 1)[0]
    export = f"[{ds}] {folder}/bare-export.vmdk"
    _wait_state(
        content,
        content.virtualDiskManager.CopyVirtualDisk_Task(
            sourceName=source, sourceDatacenter=dc, destName=export, destDatacenter=dc, force=True
        ),
    )
    url = urlparse(endpoint.url)
    query = urlencode({"dcPath": dc.name, "dsName": ds})
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=300)
    conn.request(
        "GET",
        f"/folder/{quote(folder + '/bare-export-flat.vmdk')}?{query}",
        headers={"Cookie": d.si._stub.cookie.split(";", 1)[0]},
    )
    resp = conn.getresponse()
    with (work / "bare.raw").open("wb") as f:
        while chunk := resp.read(1 << 20):
            f.write(chunk)
    conn.close()
    for name in (export, export.replace(".vmdk", "-flat.vmdk")):
        _wait_state(content, content.fileManager.DeleteDatastoreFile_Task(name=name, datacenter=dc))
    _wait_state(content, snap.RemoveSnapshot_Task(removeChildren=False, consolidate=True))
    return time.perf_counter() - t0


def chunks(n: int, rounds: int) -> list[int]:
    base, extra = divmod(n, rounds)
    return [base + (1 if i < extra else 0) for i in range(rounds) if base or i < extra]


async def measure(
    endpoint: VcsimEndpoint, nats_url: str, stream_vmdk: bytes, n: int, rounds: int,
    root: Path, concurrency: int, snapshots: int,
) -> tuple[float, float, int, dict[str, object]]:  # fmt: skip
    host = f"bench:{uuid.uuid4().hex[:8]}"
    store = ImageStore()
    store.put("img-bench", "vmdk", stream_vmdk)
    bus = await Bus.connect([nats_url], name="bench-agent-vmware")
    events = await EventTap.start(bus, host)
    reports = await bus.subscribe(f"hosts.report.{subject_token(host)}")
    direct = await asyncio.to_thread(DirectLoop, endpoint)
    agent_s = direct_s = 0.0
    async with AgentTestServers(store, AssignmentBoard()) as servers:
        env = agent_env(
            endpoint=endpoint, nats_url=nats_url, root=root, server_id="bench-agent",
            host_id=host, folder="bench", services_address=servers.address,
        )  # fmt: skip
        env["POLYVISOR_LOG_LEVEL"] = "WARNING"
        env["POLYVISOR_COMMAND_CONCURRENCY"] = str(concurrency)
        env["POLYVISOR_DRIVER_WORKERS"] = str(concurrency)
        agent = agent_process(env, root / "agent.log")
        await agent.start(timeout=60)
        try:
            # The replica took the lease and its runtime is up once it reports the cluster.
            await reports.next(timeout=60)
            loop = AgentLoop(bus, events, host)
            for i, size in enumerate(chunks(n, rounds)):
                order = ("agent", "direct") if i % 2 == 0 else ("direct", "agent")
                for side in order:
                    if side == "agent":
                        agent_s += await loop.run(size)
                    else:
                        direct_s += await asyncio.to_thread(direct.run, size)
            failed = sum(1 for e in events.events if e.kind == "SPAWN_FAILED")
            snap = await snapshot_rounds(bus, events, host, store, direct.d, endpoint, root,
                                         snapshots)  # fmt: skip
        finally:
            await agent.stop()
            await reports.unsubscribe()
            await events.close()
            await bus.close()
            direct.close()
    return agent_s, direct_s, failed, snap


async def snapshot_rounds(
    bus: Bus, events: EventTap, host: str, store: ImageStore, d: Direct,
    endpoint: VcsimEndpoint, root: Path, rounds: int,
) -> dict[str, object]:  # fmt: skip
    import statistics

    if rounds < 1:
        return {"skipped": "--snapshots 0"}
    sid = next(e.server_id for e in events.events if e.kind == "SPAWNED")
    vm = await asyncio.to_thread(lambda: d.content.searchIndex.FindByUuid(None, sid, True, True))
    agent_s: list[float] = []
    bare_s: list[float] = []
    subject = f"agent.{subject_token(host)}.cmd"
    for n in range(rounds):
        image_id = f"snap-{n}"
        store.expect_snapshot(image_id, "raw")
        cmd = agent_command(host, sid, 2 + n, "snapshot", image_id=image_id)
        t0 = time.perf_counter()
        await bus.publish(subject, cmd)
        await events.wait_for(
            lambda e, g=2 + n: e.server_id == sid and e.generation == g
            and e.kind in ("SNAPSHOTTED", "COMMAND_FAILED"),
            timeout=300,
        )  # fmt: skip
        agent_s.append(time.perf_counter() - t0)
        assert image_id in store.uploaded, f"snapshot failed: {store.killed}"
        bare_s.append(await asyncio.to_thread(bare_snapshot, d, endpoint, vm, root))
    a, b = statistics.median(agent_s), statistics.median(bare_s)
    return {
        "rounds": rounds,
        "image_bytes": len(store.uploaded[f"snap-{rounds - 1}"][0]),
        "agent_snapshot_s": round(a, 3),
        "bare_pyvmomi_snapshot_s": round(b, 3),
        "agent_samples_s": [round(x, 3) for x in agent_s],
        "bare_samples_s": [round(x, 3) for x in bare_s],
        "ratio": round(a / b, 3),
        "note": "the agent also uploads the image over gRPC; the bare calls do not",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spawns", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=4, help="interleaved chunks per side")
    parser.add_argument("--quick", action="store_true", help="5 spawns: checks the bench runs")
    parser.add_argument(
        "--concurrency", type=int, default=8, help="the agent's commands and driver threads"
    )
    parser.add_argument("--snapshots", type=int, default=3, help="snapshot rounds per side")
    args = parser.parse_args()
    n = 5 if args.quick else args.spawns
    rounds = 1 if args.quick else max(1, args.rounds)
    root = Path(tempfile.mkdtemp(prefix="polyvisor-bench-vmware-"))
    sim = Vcsim(root / "vcsim", die_with_parent=True)
    nats = EmbeddedNats(root / "nats", die_with_parent=True)
    try:
        endpoint = sim.start()
        nats_url = nats.start()
        images = make_images(root / "images")
        stream = images["streamOptimized"].read_bytes()
        snapshots = 1 if args.quick else args.snapshots
        agent_s, direct_s, failed, snap = asyncio.run(
            measure(endpoint, nats_url, stream, n, rounds, root, args.concurrency, snapshots)
        )
    finally:
        nats.stop()
        sim.stop()
        shutil.rmtree(root, ignore_errors=True)
    agent_rate = n / agent_s
    direct_rate = n / direct_s
    ratio = agent_rate / direct_rate
    print(f"agent:  {n} spawns in {agent_s:.2f}s ({agent_rate:.1f}/s), {failed} failed")
    print(f"direct: {n} CreateVM+PowerOn in {direct_s:.2f}s ({direct_rate:.1f}/s)")
    print(
        json.dumps(
            {
                "bench": "agent_vmware",
                "spawns": n,
                "rounds": rounds,
                "agent_concurrency": args.concurrency,
                "agent_seconds": round(agent_s, 3),
                "agent_spawns_per_s": round(agent_rate, 2),
                "direct_seconds": round(direct_s, 3),
                "direct_spawns_per_s": round(direct_rate, 2),
                "ratio": round(ratio, 3),
                "target_ratio": TARGET_RATIO,
                "meets_target": ratio >= TARGET_RATIO,
                "spawn_failures": failed,
                "snapshot": snap,
            }
        )
    )


if __name__ == "__main__":
    main()
