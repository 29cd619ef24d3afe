"""Evacuating a host whose agent stopped (EvacuateHypervisor), through the public gRPC API with
the real scheduler, network and image services and fake agents: refused while the host is up;
once it is down, its servers are rebuilt on the other host from their images (same id, name,
flavor, port and address; a stopped one stays stopped, made powered off), the claims follow exactly (one per server, none left on the down
host), a server whose image is gone stays with a fault saying why; and the agent that comes
back (the agentkit runtime, its reconciler asking the real api) destroys its stale copies of
the evacuated servers and keeps the one still assigned to it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from polyvisor.agentkit.fake import FakeDriver
from polyvisor.agentkit.runtime import AgentRuntime
from polyvisor.agentkit.settings import AgentSettings
from polyvisor.compute.v1 import flavors_pb2, hypervisors_pb2, server_actions_pb2, servers_pb2
from polyvisor.image.v1 import images_pb2
from polyvisor.scheduling.v1 import scheduler_pb2, scheduler_service_pb2_grpc
from polyvisor.types.v1 import fault_pb2, hypervisor_pb2
from polyvisor.types.v1 import server_status_pb2 as st
from tests.api.stack import Client, FakeAgentProcess, Stack, agent_key, eventually, wait_hosts
from tests.api.test_ports import Net

DOWN, UP = "evac-down", "evac-up"
FLAVOR = ("ev2", 2, 512, 1)


@pytest.fixture(scope="module")
async def stack(
    module_root: Path, module_nats: str, make_database: Callable[..., str]
) -> AsyncIterator[Stack]:
    s = Stack(module_root, make_database("api"), module_nats)
    try:
        address = await s.start_network("physnet1:100:199")
        # A host is down 4 s after its agent's last report (the fake agents report each 1 s).
        await s.start_control_plane(
            {"POLYVISOR_NETWORK_ADDRESS": address},
            scheduler_env={"POLYVISOR_HOST_TIMEOUT_S": "4"},
        )
        yield s
    finally:
        await s.stop()


@dataclass
class Env:
    stack: Stack
    admin: Client
    down: FakeAgentProcess
    scheduler: scheduler_service_pb2_grpc.SchedulerServiceStub

    async def used_vcpus(self, host: str) -> int:
        p = await self.scheduler.GetProvider(
            scheduler_pb2.GetProviderRequest(provider_id=host), metadata=self.admin.md
        )
        return int(p.provider.inventories[0].used)

    async def claims(self, server_id: str) -> list[tuple[str, int]]:
        out = []
        for consumer in (server_id, f"{server_id}/move"):
            resp = await self.scheduler.ListAllocations(
                scheduler_pb2.ListAllocationsRequest(consumer_id=consumer),
                metadata=self.admin.md,
            )
            out += [(a.provider_id, a.resources.vcpus) for a in resp.allocations]
        return out

    async def evacuate(self, host: str) -> hypervisors_pb2.EvacuateHypervisorResponse:
        return await self.admin.compute.EvacuateHypervisor(
            hypervisors_pb2.EvacuateHypervisorRequest(hypervisor_id=host), metadata=self.admin.md
        )

    async def state(self, host: str) -> int:
        resp = await self.admin.compute.GetHypervisor(
            hypervisors_pb2.GetHypervisorRequest(hypervisor_id=host), metadata=self.admin.md
        )
        return int(resp.hypervisor.state)


async def cli(env: Env, tmp: Path, *argv: str) -> tuple[int, Any, str]:
    """The `polyvisor` CLI as the admin: exit code, its JSON out, stderr."""
    stack = env.stack
    os_env = {
        **os.environ,
        "POLYVISOR_API_URL": stack.apis[0].address,
        "POLYVISOR_IMAGE_URL": stack.imagesvc.address if stack.imagesvc else "127.0.0.1:1",
        "POLYVISOR_TOKEN": env.admin.token,
        "POLYVISOR_CONFIG": str(tmp / "config.yaml"),
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [str(Path(sys.executable).parent / "polyvisor"), *argv, "-f", "json"],
        capture_output=True,
        text=True,
        env=os_env,
    )
    return done.returncode, json.loads(done.stdout or "null"), done.stderr


@pytest.fixture(scope="module")
async def env(stack: Stack) -> Env:
    admin = await stack.admin()
    fid, vcpus, ram, disk = FLAVOR
    await admin.compute.CreateFlavor(
        flavors_pb2.CreateFlavorRequest(
            flavor=flavors_pb2.Flavor(
                id=fid, name=fid, vcpus=vcpus, ram_mb=ram, disk_gb=disk, is_public=True
            )
        ),
        metadata=admin.md,
    )
    # Only the host to be evacuated is there when the servers are made: they all land on it.
    down = await stack.start_agent(DOWN, physical_networks="physnet1")
    await wait_hosts(admin, DOWN)
    assert stack.scheduler is not None
    channel = grpc.aio.insecure_channel(stack.scheduler.address)
    stack.channels.append(channel)
    return Env(stack, admin, down, scheduler_service_pb2_grpc.SchedulerServiceStub(channel))


async def test_a_down_hosts_servers_are_rebuilt_elsewhere_and_its_agent_drops_the_stale_copies(
    env: Env, tmp_path: Path
) -> None:
    admin = env.admin
    image = await admin.upload_image("ev-boot", visibility=images_pb2.VISIBILITY_PUBLIC)
    doomed = await admin.upload_image("ev-doomed", visibility=images_pb2.VISIBILITY_PUBLIC)
    net = Net(env.stack, admin)
    network_id = await net.network("ev-net", "10.88.0.0/24")
    plain = await admin.create_server("ev-plain", image.id, FLAVOR[0])
    wired = await admin.create_server(
        "ev-wired",
        image.id,
        FLAVOR[0],
        networks=[servers_pb2.ServerNetwork(network_id=network_id)],
    )
    stays = await admin.create_server("ev-stays", doomed.id, FLAVOR[0])
    before = {s.id: await admin.wait(s.id, st.SERVER_STATE_ACTIVE) for s in (plain, wired, stays)}
    assert {s.host for s in before.values()} == {DOWN}
    [port] = await net.ports_of(wired.id)
    assert port.binding.host == DOWN
    await admin.compute.StopServer(
        servers_pb2.StopServerRequest(server_id=plain.id), metadata=admin.md
    )
    await admin.wait(plain.id, st.SERVER_STATE_SHUTOFF)
    assert env.stack.imagesvc is not None
    assert admin.images is not None
    await admin.images.DeleteImage(
        images_pb2.DeleteImageRequest(image_id=doomed.id), metadata=admin.md
    )

    # Refused while the host is up: its agent reports, and its servers run there.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await env.evacuate(DOWN)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "is up" in (refused.value.details() or "")

    up = await env.stack.start_agent(UP, physical_networks="physnet1")
    await wait_hosts(admin, UP)
    await env.down.stop()
    await eventually(
        lambda: env.state(DOWN), lambda s: s == hypervisor_pb2.HOST_STATE_DOWN, within=30
    )

    code, said, err = await cli(env, tmp_path, "hypervisor", "evacuate", DOWN, "--wait")
    assert code == 1, err  # one server could not be rebuilt
    outcomes = {e["server_id"]: (e["outcome"], e.get("detail", "")) for e in said}
    assert outcomes[plain.id] == ("rebuilding", "")
    assert outcomes[wired.id] == ("rebuilding", "")
    assert outcomes[stays.id][0] == "failed"
    assert doomed.id in outcomes[stays.id][1]
    hv = await env.admin.compute.GetHypervisor(
        hypervisors_pb2.GetHypervisorRequest(hypervisor_id=DOWN), metadata=env.admin.md
    )
    assert hv.hypervisor.status == hypervisor_pb2.HOST_STATUS_DISABLED

    # Each comes back as it was: the stopped one stopped (as Nova's evacuate keeps it), the
    # running one running.
    for s, state, power in (
        (plain, st.SERVER_STATE_SHUTOFF, hypervisor_pb2.POWER_STATE_SHUTDOWN),
        (wired, st.SERVER_STATE_ACTIVE, hypervisor_pb2.POWER_STATE_RUNNING),
    ):
        moved = await admin.wait(s.id, state, within=60)
        assert moved.power_state == power
        was = before[s.id]
        assert moved.host == UP
        assert (moved.id, moved.name, moved.flavor.id) == (was.id, was.name, was.flavor.id)
        assert list(moved.addresses) == list(was.addresses)
        assert await env.claims(s.id) == [(UP, FLAVOR[1])]
    [moved_port] = await net.ports_of(wired.id)
    assert moved_port.id == port.id and moved_port.binding.host == UP
    assert list(moved_port.fixed_ips) == list(port.fixed_ips)
    spawned_up = [c for c in up.commands() if c["verb"] == "spawn"]
    assert {c["server_id"] for c in spawned_up} == {plain.id, wired.id}
    assert {c["image_id"] for c in spawned_up} == {image.id}
    # The new host was told to make the stopped one powered off (never started), and sent
    # nothing else for either: no power-on, no power-off after a start.
    assert {(c["server_id"], c["powered_off"]) for c in spawned_up} == {
        (plain.id, True),
        (wired.id, False),
    }
    assert {c["verb"] for c in up.commands() if c["server_id"] in (plain.id, wired.id)} == {"spawn"}
    history = await admin.compute.ListServerActions(
        server_actions_pb2.ListServerActionsRequest(server_id=plain.id), metadata=admin.md
    )
    assert [a.action for a in history.actions] == ["evacuate", "stop", "create"]
    assert history.actions[0].result == server_actions_pb2.SERVER_ACTION_RESULT_SUCCESS

    left = await admin.get(stays.id)
    assert left.host == DOWN and left.state == st.SERVER_STATE_ACTIVE
    assert left.fault.code == fault_pb2.FAULT_CODE_HOST_UNREACHABLE
    assert doomed.id in left.fault.message
    assert await env.claims(stays.id) == [(DOWN, FLAVOR[1])]
    # Exact on both hosts: the down host holds only the server that stayed.
    assert await env.used_vcpus(DOWN) == FLAVOR[1]
    assert await env.used_vcpus(UP) == 2 * FLAVOR[1]

    # The agent of the down host comes back with the copies it had: the evacuated ones are
    # stale and destroyed on its first pass; the one still assigned to it stays.
    api = env.stack.apis[0]
    assert env.stack.imagesvc is not None
    driver = FakeDriver(DOWN)
    for s in (plain, wired, stays):
        driver.add_foreign(s.id)
    settings = AgentSettings(
        host_id=DOWN,
        server_id=f"back-{uuid.uuid4().hex[:6]}",
        nats_url=env.stack.nats_url,
        api_address=api.address,
        imagesvc_address=env.stack.imagesvc.address,
        agent_api_key=agent_key(DOWN),
        cache_dir=tmp_path / "cache",
        state_dir=tmp_path / "state",
        report_interval_s=60.0,
        reconcile_interval_s=0.0,
        serve_health=False,
    )
    runtime = AgentRuntime(settings, driver)
    await runtime.start()
    try:
        reconciler = runtime.reconciler
        assert reconciler is not None
        actions = await reconciler.reconcile_once()
        await runtime.dispatcher.wait_idle()
        kinds = {a.server_id: a.kind.value for a in actions}
        assert kinds == {plain.id: "evacuated", wired.id: "evacuated"}
        assert driver.snapshot(plain.id) is None
        assert driver.snapshot(wired.id) is None
        assert driver.snapshot(stays.id) is not None

        # Its hypervisor unreachable (as a VMware agent cut from its vCenter says): the host
        # is down again at the scheduler, but the agent answers, and the servers it keeps may
        # run: not evacuated.
        driver.connected = False
        assert runtime.reporter is not None
        await runtime.reporter.report_once("test")
        await eventually(
            lambda: env.state(DOWN), lambda s: s == hypervisor_pb2.HOST_STATE_DOWN, within=30
        )
        with pytest.raises(grpc.aio.AioRpcError) as answering:
            await env.evacuate(DOWN)
        assert answering.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "still answers" in (answering.value.details() or "")
        assert (await admin.get(stays.id)).host == DOWN
    finally:
        await runtime.close()
    assert (await admin.get(plain.id)).state == st.SERVER_STATE_SHUTOFF
    assert (await admin.get(wired.id)).state == st.SERVER_STATE_ACTIVE
    for s in (plain, wired):
        assert await env.claims(s.id) == [(UP, FLAVOR[1])]


async def test_one_server_of_a_down_host_is_rebuilt_on_the_host_named(
    env: Env, tmp_path: Path
) -> None:
    admin, gone, there = env.admin, "evac-one-down", "evac-one-there"
    image = await admin.upload_image("ev-one", visibility=images_pb2.VISIBILITY_PUBLIC)
    # (the admin's project has a network since the test above: every host reaches it)
    agent = await env.stack.start_agent(gone, physical_networks="physnet1")
    await env.stack.start_agent(there, physical_networks="physnet1")
    await wait_hosts(admin, gone, there)
    s, off = [
        await admin.create_server(name, image.id, FLAVOR[0], scheduler_hints={"force_host": gone})
        for name in ("ev-one", "ev-one-off")
    ]
    was = await admin.wait(s.id, st.SERVER_STATE_ACTIVE)
    assert was.host == gone
    await admin.wait(off.id, st.SERVER_STATE_ACTIVE)
    await admin.compute.StopServer(
        servers_pb2.StopServerRequest(server_id=off.id), metadata=admin.md
    )
    await admin.wait(off.id, st.SERVER_STATE_SHUTOFF)

    code, _, err = await cli(env, tmp_path, "server", "evacuate", s.id, "--host", there)
    assert code != 0 and "is up" in err  # its host runs it

    await agent.stop()
    await eventually(
        lambda: env.state(gone), lambda x: x == hypervisor_pb2.HOST_STATE_DOWN, within=30
    )
    with pytest.raises(grpc.aio.AioRpcError) as same:
        await admin.compute.EvacuateServer(
            servers_pb2.EvacuateServerRequest(server_id=s.id, host=gone), metadata=admin.md
        )
    assert same.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    # Waiting for each ends as it was: the running one ACTIVE, the stopped one SHUTOFF.
    for server, state in ((s, "ACTIVE"), (off, "SHUTOFF")):
        code, moved, err = await cli(
            env, tmp_path, "server", "evacuate", server.id, "--host", there, "--wait"
        )
        assert code == 0, err
        assert moved["host"] == there and moved["state"] == state
        assert moved["id"] == server.id
        assert await env.claims(server.id) == [(there, FLAVOR[1])]
    assert moved["name"] == "ev-one-off" and moved["power_state"] == "shutdown"
    assert await env.used_vcpus(gone) == 0
    assert await env.used_vcpus(there) == 2 * FLAVOR[1]
    # A per-server evacuation leaves the hypervisor as it was (enabled).
    hv = await admin.compute.GetHypervisor(
        hypervisors_pb2.GetHypervisorRequest(hypervisor_id=gone), metadata=admin.md
    )
    assert hv.hypervisor.status == hypervisor_pb2.HOST_STATUS_ENABLED
