"""Spawns through the VMware agent against vcsim, beside a plain pyvmomi loop, in one run.

    .venv/bin/python bench/agent_vmware/run.py [--spawns 100] [--quick]

Starts vcsim (2 clusters x 3 ESXi hosts), NATS and the VMware agent as a real process
(``python -m polyvisor.agent_vmware``), then measures:

- agent: N spawn commands published on ``agent.<host>.cmd`` at once, timed until the N-th
  SPAWNED event (image fetch and its one upload to the datastore, disk copy, CreateVM with
  controller, guestinfo and VNC, PowerOn, events), on cluster DC0_C0;
- baseline: a direct pyvmomi loop of CreateVM (a SCSI controller and a new disk) + PowerOn,
  each waited for, N times, on the same vcsim restarted empty (both start from the same
  inventory: vcsim's calls slow down as it holds more objects).

The last line printed is one JSON object with the figures (target ratio: at least 0.5).
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

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "services" / "agent_vmware" / "tests"))
sys.path.insert(0, str(REPO / "tests" / "agent_vmware"))

from pyVim.task import WaitForTask  # noqa: E402
from pyVmomi import vim  # noqa: E402
from vmware_agents import Events, agent_env, agent_process  # noqa: E402
from vmware_fixtures import Direct, make_images  # noqa: E402

from polyvisor.agentkit.testing import (  # noqa: E402
    AgentTestServers,
    AssignmentBoard,
    ImageStore,
    agent_command,
)
from polyvisor.common.bus import Bus, subject_token  # noqa: E402
from polyvisor.common.embedded import EmbeddedNats  # noqa: E402
from polyvisor.types.v1 import disk_pb2  # noqa: E402
from tests.fixtures.vcsim import Vcsim, VcsimEndpoint  # noqa: E402

TARGET_RATIO = 0.5


def direct_loop(endpoint: VcsimEndpoint, n: int) -> float:
    """Seconds for n sequential CreateVM + PowerOn through plain pyvmomi."""
    d = Direct(endpoint)
    try:
        cluster = d.cluster("DC0_C1")
        dc = d.content.rootFolder.childEntity[0]
        folder = dc.vmFolder.CreateFolder(f"direct-{uuid.uuid4().hex[:6]}")
        pool = cluster.resourcePool
        start = time.perf_counter()
        for i in range(n):
            name = f"direct-{i}"
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
            task = folder.CreateVM_Task(config=spec, pool=pool)
            WaitForTask(task)
            WaitForTask(task.info.result.PowerOnVM_Task())
        return time.perf_counter() - start
    finally:
        d.close()


async def through_agent(
    endpoint: VcsimEndpoint, nats_url: str, stream_vmdk: bytes, n: int, root: Path, concurrency: int
) -> tuple[float, int]:
    host = f"bench:{uuid.uuid4().hex[:8]}"
    store = ImageStore()
    store.put("img-bench", "vmdk", stream_vmdk)
    bus = await Bus.connect([nats_url], name="bench-agent-vmware")
    events = await Events.start(bus, host)
    reports = await bus.subscribe(f"hosts.report.{subject_token(host)}")
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
            sids = [str(uuid.uuid4()) for _ in range(n)]
            subject = f"agent.{subject_token(host)}.cmd"
            start = time.perf_counter()
            for sid in sids:
                cmd = agent_command(host, sid, 1, "spawn", image_id="img-bench", disk_format="qcow2",
                                    vcpus=1, memory_mb=64, disk_gb=0, name=sid[:8])  # fmt: skip
                cmd.spawn.image.vmware_adaptertype = disk_pb2.VMWARE_ADAPTER_TYPE_LSI_LOGIC
                await bus.publish(subject, cmd)
            for sid in sids:
                await events.wait("SPAWNED", sid, within=600)
            elapsed = time.perf_counter() - start
            failed = len(events.of("SPAWN_FAILED"))
        finally:
            await agent.stop()
            await reports.unsubscribe()
            await events.close()
            await bus.close()
    return elapsed, failed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spawns", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="5 spawns: checks the bench runs")
    parser.add_argument(
        "--concurrency", type=int, default=8, help="the agent's commands and driver threads"
    )
    args = parser.parse_args()
    n = 5 if args.quick else args.spawns
    root = Path(tempfile.mkdtemp(prefix="polyvisor-bench-vmware-"))
    sim = Vcsim(root / "vcsim", die_with_parent=True)
    nats = EmbeddedNats(root / "nats", die_with_parent=True)
    try:
        endpoint = sim.start()
        nats_url = nats.start()
        images = make_images(root / "images")
        stream = images["streamOptimized"].read_bytes()
        agent_s, failed = asyncio.run(
            through_agent(endpoint, nats_url, stream, n, root, args.concurrency)
        )
        # The baseline starts from the same empty inventory (vcsim's calls slow down with the
        # number of objects it holds): a fresh vcsim on the same port.
        endpoint = sim.restart()
        direct_s = direct_loop(endpoint, n)
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
                "agent_concurrency": args.concurrency,
                "agent_seconds": round(agent_s, 3),
                "agent_spawns_per_s": round(agent_rate, 2),
                "direct_seconds": round(direct_s, 3),
                "direct_spawns_per_s": round(direct_rate, 2),
                "ratio": round(ratio, 3),
                "target_ratio": TARGET_RATIO,
                "meets_target": ratio >= TARGET_RATIO,
                "spawn_failures": failed,
            }
        )
    )


if __name__ == "__main__":
    main()
