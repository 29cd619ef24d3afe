"""Resize through the VMware agent against vcsim, beside plain pyvmomi, in one run.

    .venv/bin/python bench/agent_vmware/resize.py [--rounds 5]

Starts vcsim, NATS and the VMware agent as a real process; spawns one VM through it, then
alternates rounds of:

- agent: a ResizeServer command timed until its RESIZED event (ReconfigVM remembering the old
  size, PowerOff, ReconfigVM numCPUs and memoryMB, ReconfigVM the disk grown, PowerOn, events),
  then ConfirmResize (not timed);
- bare: the same vSphere calls made with plain pyvmomi in this process (PowerOff, ReconfigVM
  numCPUs and memoryMB, ReconfigVM the disk grown, PowerOn, each waited for).

Medians are reported; the last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
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

GIB_KB = 1 << 20


def bare_resize(vm: vim.VirtualMachine, vcpus: int, memory_mb: int, disk_gb: int) -> float:
    """PowerOff, ReconfigVM (vCPUs, memory), ReconfigVM (disk grown), PowerOn: seconds."""
    t0 = time.perf_counter()
    if vm.runtime.powerState == "poweredOn":
        WaitForTask(vm.PowerOffVM_Task())
    WaitForTask(vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(numCPUs=vcpus, memoryMB=memory_mb)))
    disk = next(d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk))
    disk.capacityInKB = disk_gb * GIB_KB
    edit = vim.vm.device.VirtualDeviceSpec(operation="edit", device=disk)
    WaitForTask(vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(deviceChange=[edit])))
    WaitForTask(vm.PowerOnVM_Task())
    return time.perf_counter() - t0


async def measure(
    endpoint: VcsimEndpoint, nats_url: str, stream_vmdk: bytes, root: Path, rounds: int
) -> dict[str, object]:
    host = f"bench:{uuid.uuid4().hex[:8]}"
    store = ImageStore()
    store.put("img-bench", "vmdk", stream_vmdk)
    bus = await Bus.connect([nats_url], name="bench-agent-vmware-resize")
    events = await EventTap.start(bus, host)
    reports = await bus.subscribe(f"hosts.report.{subject_token(host)}")
    direct = await asyncio.to_thread(Direct, endpoint)
    subject = f"agent.{subject_token(host)}.cmd"
    agent_s: list[float] = []
    bare_s: list[float] = []
    async with AgentTestServers(store, AssignmentBoard()) as servers:
        env = agent_env(
            endpoint=endpoint, nats_url=nats_url, root=root, server_id="bench-agent",
            host_id=host, folder="bench", services_address=servers.address,
        )  # fmt: skip
        env["POLYVISOR_LOG_LEVEL"] = "WARNING"
        agent = agent_process(env, root / "agent.log")
        await agent.start(timeout=60)
        try:
            await reports.next(timeout=60)
            sids = [str(uuid.uuid4()) for _ in range(2)]
            for sid in sids:  # one VM the agent resizes, one the bare calls resize
                cmd = agent_command(host, sid, 1, "spawn", image_id="img-bench",
                                    disk_format="vmdk", vmware_disktype="streamOptimized",
                                    vcpus=1, memory_mb=64, disk_gb=1, name=sid[:8])  # fmt: skip
                cmd.spawn.image.vmware_adaptertype = disk_pb2.VMWARE_ADAPTER_TYPE_LSI_LOGIC
                await bus.publish(subject, cmd)
                await events.first("SPAWNED", sid, timeout=300)
            sid, other = sids
            vm = await asyncio.to_thread(
                lambda: direct.content.searchIndex.FindByUuid(None, other, True, True)
            )
            assert vm is not None
            gen = 1
            for n in range(rounds):
                gen += 1
                cmd = agent_command(host, sid, gen, "resize", vcpus=2 + n % 2,
                                    memory_mb=128 + n, disk_gb=2 + n)  # fmt: skip
                t0 = time.perf_counter()
                await bus.publish(subject, cmd)
                done = await events.wait_for(
                    lambda e, g=gen: e.server_id == sid and e.generation == g, timeout=300
                )
                agent_s.append(time.perf_counter() - t0)
                assert done.kind == "RESIZED", done.fault_message
                gen += 1
                await bus.publish(subject, agent_command(host, sid, gen, "confirm_resize"))
                await events.wait_for(lambda e, g=gen: e.server_id == sid and e.generation == g)
                bare_s.append(await asyncio.to_thread(bare_resize, vm, 2 + n % 2, 128 + n, 2 + n))
                print(f"bench: resize round {n}: agent {agent_s[-1]:.3f}s, bare {bare_s[-1]:.3f}s",
                      file=sys.stderr, flush=True)  # fmt: skip
            for s in sids:
                gen += 1
                await bus.publish(subject, agent_command(host, s, gen, "destroy"))
                await events.first("DESTROYED", s, timeout=120)
        finally:
            await agent.stop()
            await reports.unsubscribe()
            await events.close()
            await bus.close()
            direct.close()
    a, b = statistics.median(agent_s), statistics.median(bare_s)
    return {
        "rounds": rounds,
        "agent_resize_s": round(a, 3),
        "bare_pyvmomi_resize_s": round(b, 3),
        "agent_samples_s": [round(x, 3) for x in agent_s],
        "bare_samples_s": [round(x, 3) for x in bare_s],
        "ratio": round(a / b, 3),
        "note": "the agent also remembers the old size on the VM (one more ReconfigVM)",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="polyvisor-bench-vmware-resize-"))
    sim = Vcsim(root / "vcsim", die_with_parent=True)
    nats = EmbeddedNats(root / "nats", die_with_parent=True)
    try:
        endpoint = sim.start()
        nats_url = nats.start()
        images = make_images(root / "images")
        stream = images["streamOptimized"].read_bytes()
        result = asyncio.run(measure(endpoint, nats_url, stream, root, max(1, args.rounds)))
    finally:
        nats.stop()
        sim.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps({"bench": "agent_vmware_resize", "resize": result}))


if __name__ == "__main__":
    main()
