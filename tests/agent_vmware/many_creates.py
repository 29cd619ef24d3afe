"""Many creates at once through a real VMware agent process on vcsim, and what it told the api.

    outcome = await run_creates(n, endpoint=..., nats_url=..., root=..., stream_vmdk=...)
    outcome.shut_off       # servers an observation reported SHUTDOWN after they were spawned

Every spawn command is published at once; each server must be answered SPAWNED and RUNNING.
Then one more server is made and powered off from outside (plain pyvmomi) and its
POWER_STATE_CHANGED awaited: the agent hands over the watch's changes in order, so every
change observed before it has been handled by then. A server that got an observed SHUTDOWN (or CRASHED) after its
SPAWNED would have been turned SHUTOFF by the api, with desired power off, and the reconciler
would then really power its VM off. Used by the test suite (a few dozen creates) and by
``bench/agent_vmware/creates.py`` (hundreds).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from pyVmomi import vim
from vmware_agents import agent_env, agent_process
from vmware_fixtures import Direct

from polyvisor.agent_vmware.props import container_view
from polyvisor.agentkit.testing import (
    AgentTestServers,
    AssignmentBoard,
    EventTap,
    ImageStore,
    agent_command,
)
from polyvisor.common.bus.client import Bus
from polyvisor.common.bus.subjects import subject_token
from polyvisor.types.v1 import disk_pb2
from tests.fixtures.vcsim import VcsimEndpoint

__all__ = ["CreatesOutcome", "run_creates"]


@dataclass
class CreatesOutcome:
    servers: list[str]
    spawned_running: int = 0
    spawn_failed: list[str] = field(default_factory=list)
    shut_off: dict[str, list[str]] = field(default_factory=dict)  # server -> its power events
    powered_on_in_vcenter: int = 0
    seconds: float = 0.0
    marker_reported: bool = False  # the marker's outside power-off came through the watch


def _spawn(host: str, server_id: str) -> object:
    cmd = agent_command(host, server_id, 1, "spawn", image_id="img-many", disk_format="vmdk",
                        vmware_disktype="streamOptimized", vcpus=1, memory_mb=64, disk_gb=0, name=f"vm-{server_id[:6]}")  # fmt: skip
    cmd.spawn.image.vmware_adaptertype = disk_pb2.VMWARE_ADAPTER_TYPE_LSI_LOGIC
    return cmd


async def run_creates(
    n: int,
    *,
    endpoint: VcsimEndpoint,
    nats_url: str,
    root: Path,
    stream_vmdk: bytes,
    concurrency: int = 8,
    spawn_timeout_s: float = 600.0,
    marker_wait_s: float = 180.0,
) -> CreatesOutcome:
    host = f"many:{uuid.uuid4().hex[:8]}"
    folder = f"many-{uuid.uuid4().hex[:8]}"
    store = ImageStore()
    store.put("img-many", "vmdk", stream_vmdk)
    bus = await Bus.connect([nats_url], name="many-creates")
    events = await EventTap.start(bus, host)
    outcome = CreatesOutcome([str(uuid.uuid4()) for _ in range(n)])
    try:
        async with AgentTestServers(store, AssignmentBoard()) as servers:
            env = agent_env(
                endpoint=endpoint, nats_url=nats_url, root=root, server_id="many-agent",
                host_id=host, folder=folder, services_address=servers.address,
                lease_ttl_s=15.0,  # a loaded machine must not flap the lease mid-burst
            )  # fmt: skip
            env["POLYVISOR_LOG_LEVEL"] = "INFO"
            # Under a burst vcsim can leave a call unanswered for good while it answers the
            # rest (its property collector stalls): such a call then fails and the session
            # starts anew (UNKNOWN, then a resync), instead of holding a server's queue.
            env["POLYVISOR_VCENTER_CALL_TIMEOUT_S"] = "30"
            env["POLYVISOR_COMMAND_CONCURRENCY"] = str(concurrency)
            env["POLYVISOR_DRIVER_WORKERS"] = str(concurrency)
            agent = agent_process(env, root / "many-agent.log")
            await agent.start(timeout=60)
            try:
                await _create_all(
                    outcome, bus, events, host, endpoint, spawn_timeout_s, marker_wait_s
                )
            finally:
                await agent.stop()
    finally:
        await events.close()
        await bus.close()
    return outcome


async def _create_all(
    outcome: CreatesOutcome,
    bus: Bus,
    events: EventTap,
    host: str,
    endpoint: VcsimEndpoint,
    spawn_timeout_s: float,
    marker_wait_s: float,
) -> None:
    subject = f"agent.{subject_token(host)}.cmd"
    start = time.perf_counter()
    for sid in outcome.servers:
        await bus.publish(subject, _spawn(host, sid))

    def answered(e: object) -> bool:
        return getattr(e, "kind", "") in ("SPAWNED", "SPAWN_FAILED")

    for sid in outcome.servers:
        ev = await events.wait_for(lambda e, s=sid: e.server_id == s and answered(e),  # type: ignore[misc]
                                   spawn_timeout_s)  # fmt: skip
        if ev.kind == "SPAWNED" and ev.power_state == "RUNNING":
            outcome.spawned_running += 1
        elif ev.kind == "SPAWN_FAILED":
            outcome.spawn_failed.append(f"{sid}: {ev.fault_message}")
    outcome.seconds = time.perf_counter() - start

    # A marker, made once the burst is over and then powered off from outside: once its
    # change is published, every change the watch saw before it has been handled.
    marker = str(uuid.uuid4())
    await bus.publish(subject, _spawn(host, marker))
    ev = await events.wait_for(lambda e: e.server_id == marker and answered(e), spawn_timeout_s)
    assert ev.kind == "SPAWNED", f"the marker was not spawned: {ev.fault_message}"
    direct = await asyncio.to_thread(Direct, endpoint)
    try:
        vms = await asyncio.to_thread(_vms, direct)
        vm = vms[marker][0]
        task = await asyncio.to_thread(vm.PowerOffVM_Task)
        await asyncio.to_thread(_wait_task, task)
        try:
            await events.wait_for(
                lambda e: e.server_id == marker and e.kind == "POWER_STATE_CHANGED"
                and e.power_state == "SHUTDOWN",
                marker_wait_s,
            )  # fmt: skip
            outcome.marker_reported = True
        except TimeoutError:  # the check below still runs, on what was published by now
            outcome.marker_reported = False
        for sid in outcome.servers:
            mine = events.of(sid)
            spawned = next((i for i, e in enumerate(mine) if e.kind == "SPAWNED"), None)
            if spawned is None:
                continue
            after = [e.power_state for e in mine[spawned + 1 :] if e.kind == "POWER_STATE_CHANGED"]
            if any(p in ("SHUTDOWN", "CRASHED") for p in after):
                outcome.shut_off[sid] = after
        vms = await asyncio.to_thread(_vms, direct)
        outcome.powered_on_in_vcenter = sum(
            1 for sid, (_, power) in vms.items() if sid in outcome.servers and power == "poweredOn"
        )  # fmt: skip
    finally:
        await asyncio.to_thread(direct.close)


def _wait_task(task: vim.Task) -> None:
    from pyVim.task import WaitForTask

    WaitForTask(task)


def _vms(direct: Direct) -> dict[str, tuple[vim.VirtualMachine, str]]:
    """Every VM by name (our VMs are named after their server), with its power state."""
    rows = container_view(
        direct.content, direct.content.rootFolder, vim.VirtualMachine,
        ["name", "runtime.powerState"],
    )  # fmt: skip
    return {str(p.get("name")): (vm, str(p.get("runtime.powerState"))) for vm, p in rows}
