"""Resize through the public gRPC API, with the real scheduler and fake agents: the claims
are checked against the scheduler's own view (each provider's usage, each consumer's
allocation) after every step: resize on the same host, a move to another host, confirm,
revert, a flavor that fits nowhere, a delete in VERIFY_RESIZE, an agent that was down."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from polyvisor.compute.v1 import flavors_pb2, quotas_pb2, servers_pb2
from polyvisor.image.v1 import images_pb2
from polyvisor.scheduling.v1 import scheduler_pb2, scheduler_service_pb2_grpc
from polyvisor.types.v1 import fault_pb2
from polyvisor.types.v1 import server_status_pb2 as st
from tests.api.stack import Client, FakeAgentProcess, Stack, eventually, wait_hosts

HOSTS = ("rz-1", "rz-2")
HOST_VCPUS = 8
# (name, vcpus, ram_mb, disk_gb)
FLAVORS = (("r2", 2, 1024, 10), ("r4", 4, 2048, 20), ("r7", 7, 1024, 20), ("r16", 16, 1024, 20))
WAIT_S = 120.0


@pytest.fixture(scope="module")
def api_settings() -> dict[str, str]:
    return {
        # Each resize step may be retried (a silent agent); confirm only by hand here.
        "POLYVISOR_RESIZE_TIMEOUT_S": "3",
        "POLYVISOR_MAX_COMMAND_ATTEMPTS": "1000",
        "POLYVISOR_RESIZE_CONFIRM_WINDOW_S": "86400",
    }


@dataclass
class Env:
    stack: Stack
    admin: Client
    member: Client
    agent: FakeAgentProcess
    image_id: str
    scheduler: scheduler_service_pb2_grpc.SchedulerServiceStub

    def commands(self, server_id: str, verb: str) -> list[dict]:  # type: ignore[type-arg]
        return [
            c for c in self.agent.commands() if c["server_id"] == server_id and c["verb"] == verb
        ]

    async def used_vcpus(self) -> dict[str, int]:
        """Each host's vCPUs in use, as the scheduler counts them."""
        out = {}
        for h in HOSTS:
            p = await self.scheduler.GetProvider(
                scheduler_pb2.GetProviderRequest(provider_id=h), metadata=self.admin.md
            )
            out[h] = p.provider.inventories[0].used
        return out

    async def claims(self, server_id: str) -> dict[str, tuple[str, int]]:
        """consumer -> (host, vcpus) of the server's claim and of its move's."""
        out = {}
        for consumer in (server_id, f"{server_id}/move"):
            resp = await self.scheduler.ListAllocations(
                scheduler_pb2.ListAllocationsRequest(consumer_id=consumer),
                metadata=self.admin.md,
            )
            for a in resp.allocations:
                out[a.consumer_id] = (a.provider_id, a.resources.vcpus)
        return out


@pytest.fixture(scope="module")
async def env(stack: Stack) -> Env:
    agent = await stack.start_agent(*HOSTS, vcpus=str(HOST_VCPUS))
    admin = await stack.admin()
    for fid, vcpus, ram, disk in FLAVORS:
        await admin.compute.CreateFlavor(
            flavors_pb2.CreateFlavorRequest(
                flavor=flavors_pb2.Flavor(
                    id=fid, name=fid, vcpus=vcpus, ram_mb=ram, disk_gb=disk, is_public=True
                )
            ),
            metadata=admin.md,
        )
    image = await admin.upload_image("boot", visibility=images_pb2.VISIBILITY_PUBLIC)
    member = await stack.new_project_user(admin, "member")
    await admin.compute.UpdateQuota(
        quotas_pb2.UpdateQuotaRequest(
            project_id=member.project_id,
            limits=quotas_pb2.QuotaLimits(instances=10, vcpus=40, ram_mb=65536),
        ),
        metadata=admin.md,
    )
    await wait_hosts(admin, *HOSTS)
    assert stack.scheduler is not None
    channel = grpc.aio.insecure_channel(stack.scheduler.address)
    stack.channels.append(channel)
    sched = scheduler_service_pb2_grpc.SchedulerServiceStub(channel)
    return Env(stack, admin, member, agent, image.id, sched)


async def resize(c: Client, server_id: str, flavor: str) -> servers_pb2.Server:
    resp = await c.compute.ResizeServer(
        servers_pb2.ResizeServerRequest(server_id=server_id, flavor_id=flavor), metadata=c.md
    )
    return resp.server


async def confirm(c: Client, server_id: str) -> None:
    await c.compute.ConfirmResize(
        servers_pb2.ConfirmResizeRequest(server_id=server_id), metadata=c.md
    )


async def revert(c: Client, server_id: str) -> None:
    await c.compute.RevertResize(
        servers_pb2.RevertResizeRequest(server_id=server_id), metadata=c.md
    )


async def delete_all(env: Env, ids: Iterable[str]) -> None:
    c = env.member
    for i in ids:
        await c.compute.DeleteServer(servers_pb2.DeleteServerRequest(server_id=i), metadata=c.md)
    for i in ids:
        await c.wait(i, st.SERVER_STATE_DELETED, within=WAIT_S)
    # Every claim given back: nothing of these servers is left on any host.
    await eventually(env.used_vcpus, lambda u: set(u.values()) == {0}, within=WAIT_S)


async def claims_become(env: Env, server_id: str, want: dict[str, tuple[str, int]]) -> None:
    """The scheduler's claims of the server end up exactly `want` (claims are given back and
    replaced from the outbox, right after the server's state is saved)."""
    await eventually(lambda: env.claims(server_id), lambda got: got == want, within=WAIT_S)


async def usage_becomes(env: Env, want: dict[str, int]) -> None:
    await eventually(env.used_vcpus, lambda got: got == want, within=WAIT_S)


async def vcpus_used(c: Client) -> int:
    q = await c.compute.GetQuota(quotas_pb2.GetQuotaRequest(), metadata=c.md)
    return q.quota.usage.vcpus


async def active(env: Env, name: str, flavor: str = "r2") -> servers_pb2.Server:
    c = env.member
    s = await c.create_server(name, env.image_id, flavor)
    return await c.wait(s.id, st.SERVER_STATE_ACTIVE, within=WAIT_S)


def other(host: str) -> str:
    return next(h for h in HOSTS if h != host)


async def test_resize_on_its_host_holds_both_claims_until_confirmed(env: Env) -> None:
    c = env.member
    s = await active(env, "same-host")
    host = s.host
    await usage_becomes(env, {host: 2, other(host): 0})
    assert await vcpus_used(c) == 2

    started = await resize(c, s.id, "r4")
    assert started.flavor.name == "r4"
    v = await c.wait(s.id, st.SERVER_STATE_VERIFY_RESIZE, within=WAIT_S)
    # 2 + 4 fit on its host: it stays there, both flavors claimed until the confirm
    assert v.host == host and v.flavor.resources.vcpus == 4
    assert v.resize.old_flavor.name == "r2" and v.resize.old_flavor.resources.vcpus == 2
    assert (v.resize.source_host, v.resize.dest_host) == (host, host)
    assert v.resize.HasField("auto_confirm_time")
    await claims_become(env, s.id, {s.id: (host, 2), f"{s.id}/move": (host, 4)})
    await usage_becomes(env, {host: 6, other(host): 0})
    [cmd] = env.commands(s.id, "resize")[-1:]
    assert (cmd["host"], cmd["vcpus"], cmd["memory_mb"], cmd["disk_gb"]) == (host, 4, 2048, 20)
    assert cmd["dest_host"] == ""
    assert await vcpus_used(c) == 4

    await confirm(c, s.id)
    done = await c.wait(s.id, st.SERVER_STATE_ACTIVE, within=WAIT_S)
    assert done.flavor.name == "r4" and done.host == host and not done.HasField("resize")
    await claims_become(env, s.id, {s.id: (host, 4)})
    await usage_becomes(env, {host: 4, other(host): 0})
    assert [x["host"] for x in env.commands(s.id, "confirm_resize")] == [host]
    assert await vcpus_used(c) == 4
    await delete_all(env, [s.id])


async def test_revert_restores_the_old_flavor_and_releases_the_new_claim(env: Env) -> None:
    c = env.member
    s = await active(env, "revert-same")
    host = s.host
    await resize(c, s.id, "r4")
    await c.wait(s.id, st.SERVER_STATE_VERIFY_RESIZE, within=WAIT_S)
    await revert(c, s.id)
    back = await c.wait(s.id, st.SERVER_STATE_ACTIVE, within=WAIT_S)
    assert back.flavor.name == "r2" and back.flavor.resources.vcpus == 2
    assert back.host == host and not back.HasField("resize")
    await claims_become(env, s.id, {s.id: (host, 2)})
    await usage_becomes(env, {host: 2, other(host): 0})
    [cmd] = env.commands(s.id, "revert_resize")
    assert (cmd["host"], cmd["vcpus"], cmd["memory_mb"], cmd["disk_gb"]) == (host, 2, 1024, 10)
    assert await vcpus_used(c) == 2
    await delete_all(env, [s.id])


async def test_a_resize_that_does_not_fit_its_host_moves_and_reverts_exactly(env: Env) -> None:
    c = env.member
    s = await active(env, "mover")
    src = s.host
    dst = other(src)
    # 2 + 7 do not fit the 8 vCPUs of its host: the other host takes the new flavor
    await resize(c, s.id, "r7")
    v = await c.wait(s.id, st.SERVER_STATE_VERIFY_RESIZE, within=WAIT_S)
    assert v.host == dst and (v.resize.source_host, v.resize.dest_host) == (src, dst)
    await claims_become(env, s.id, {s.id: (src, 2), f"{s.id}/move": (dst, 7)})
    await usage_becomes(env, {src: 2, dst: 7})
    [cmd] = env.commands(s.id, "resize")[-1:]
    assert (cmd["host"], cmd["dest_host"], cmd["vcpus"]) == (src, dst, 7)

    # revert: back on its old host and flavor, the destination's claim gone
    await revert(c, s.id)
    back = await c.wait(s.id, st.SERVER_STATE_ACTIVE, within=WAIT_S)
    assert back.host == src and back.flavor.name == "r2"
    await claims_become(env, s.id, {s.id: (src, 2)})
    await usage_becomes(env, {src: 2, dst: 0})
    [rev] = env.commands(s.id, "revert_resize")
    assert (rev["host"], rev["dest_host"]) == (dst, src)

    # again, confirmed this time: only the destination's claim is left
    await resize(c, s.id, "r7")
    await c.wait(s.id, st.SERVER_STATE_VERIFY_RESIZE, within=WAIT_S)
    await confirm(c, s.id)
    done = await c.wait(s.id, st.SERVER_STATE_ACTIVE, within=WAIT_S)
    assert done.host == dst and done.flavor.name == "r7"
    await claims_become(env, s.id, {s.id: (dst, 7)})
    await usage_becomes(env, {src: 0, dst: 7})
    assert [x["host"] for x in env.commands(s.id, "confirm_resize")] == [src]
    await delete_all(env, [s.id])


async def test_a_flavor_that_fits_nowhere_gives_the_schedulers_explanation(env: Env) -> None:
    c = env.member
    s = await active(env, "too-big")
    await resize(c, s.id, "r16")
    back = await eventually(
        lambda: c.get(s.id),
        lambda x: x.task == st.SERVER_TASK_NONE and x.fault.code != 0,
        within=WAIT_S,
    )
    assert back.state == st.SERVER_STATE_ACTIVE and back.flavor.name == "r2"
    assert back.fault.code == fault_pb2.FAULT_CODE_NO_VALID_HOST
    assert "not enough" in back.fault.message.lower() or "vcpu" in back.fault.message.lower()
    assert back.fault.message.startswith("no host fits flavor r16")
    assert back.fault.HasField("no_valid_host") and back.fault.no_valid_host.filters
    assert not back.HasField("resize")
    await claims_become(env, s.id, {s.id: (s.host, 2)})
    await usage_becomes(env, {s.host: 2, other(s.host): 0})
    assert await vcpus_used(c) == 2
    await delete_all(env, [s.id])


async def test_resize_confirm_and_revert_in_the_wrong_state(env: Env) -> None:
    c = env.member
    s = await active(env, "wrong-state")
    for call in (confirm, revert):
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await call(c, s.id)
        assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "ACTIVE" in (exc.value.details() or "")
        assert "VERIFY_RESIZE" in (exc.value.details() or "")
    for bad, code in (
        ("r2", grpc.StatusCode.INVALID_ARGUMENT),  # the flavor it has
        ("nope", grpc.StatusCode.NOT_FOUND),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await resize(c, s.id, bad)
        assert exc.value.code() == code, exc.value.details()
    await resize(c, s.id, "r4")
    await c.wait(s.id, st.SERVER_STATE_VERIFY_RESIZE, within=WAIT_S)
    for call in (
        lambda: resize(c, s.id, "r7"),
        lambda: c.compute.StopServer(servers_pb2.StopServerRequest(server_id=s.id), metadata=c.md),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await call()
        assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "VERIFY_RESIZE" in (exc.value.details() or "")
    # a delete in VERIFY_RESIZE gives both claims back
    await delete_all(env, [s.id])
    await claims_become(env, s.id, {})


async def test_an_agent_down_during_a_resize_converges_once_it_is_back(env: Env) -> None:
    c = env.member
    s = await active(env, "agent-down")
    host = s.host
    await env.agent.stop()
    try:
        before = await c.get(s.id)
        await resize(c, s.id, "r4")
        # the resize command is sent again at a new generation while nobody answers
        await eventually(
            lambda: c.get(s.id),
            lambda x: (
                x.task == st.SERVER_TASK_RESIZE_MIGRATING and x.generation >= before.generation + 2
            ),
            within=WAIT_S,
        )
    finally:
        await env.agent.start()
    v = await c.wait(s.id, st.SERVER_STATE_VERIFY_RESIZE, within=WAIT_S)
    assert v.host == host and v.flavor.name == "r4"
    await claims_become(env, s.id, {s.id: (host, 2), f"{s.id}/move": (host, 4)})
    await confirm(c, s.id)
    await c.wait(s.id, st.SERVER_STATE_ACTIVE, within=WAIT_S)
    await claims_become(env, s.id, {s.id: (host, 4)})
    await usage_becomes(env, {host: 4, other(host): 0})
    await delete_all(env, [s.id])


async def migrate(c: Client, server_id: str, host: str = "", live: bool = False) -> None:
    await c.compute.MigrateServer(
        servers_pb2.MigrateServerRequest(server_id=server_id, host=host, live=live),
        metadata=c.md,
    )


async def test_cold_and_live_migrations_move_the_claim_exactly(env: Env) -> None:
    c, admin = env.member, env.admin
    s = await active(env, "migrant")
    src = s.host
    dst = other(src)
    # Only an admin migrates, never to the host it is on.
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await migrate(c, s.id)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as same:
        await migrate(admin, s.id, host=src)
    assert same.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    # Cold: the scheduler must pick the other host; the same flavor claimed there until the
    # confirm, then only there.
    await migrate(admin, s.id)
    v = await c.wait(s.id, st.SERVER_STATE_VERIFY_RESIZE, within=WAIT_S)
    assert v.host == dst and v.flavor.name == "r2"
    assert (v.resize.source_host, v.resize.dest_host) == (src, dst)
    await claims_become(env, s.id, {s.id: (src, 2), f"{s.id}/move": (dst, 2)})
    await usage_becomes(env, {src: 2, dst: 2})
    [cmd] = env.commands(s.id, "resize")[-1:]
    assert (cmd["host"], cmd["dest_host"], cmd["vcpus"]) == (src, dst, 2)
    await confirm(c, s.id)
    done = await c.wait(s.id, st.SERVER_STATE_ACTIVE, within=WAIT_S)
    assert done.host == dst and not done.HasField("resize")
    await claims_become(env, s.id, {s.id: (dst, 2)})
    await usage_becomes(env, {src: 0, dst: 2})
    assert await vcpus_used(c) == 2

    # Live, to the host named: one LiveMigrate to the source, the claim moves when it is there.
    await migrate(admin, s.id, host=src, live=True)
    await eventually(
        lambda: c.get(s.id), lambda x: x.host == src and not x.HasField("resize"), within=WAIT_S
    )
    back = await c.wait(s.id, st.SERVER_STATE_ACTIVE, within=WAIT_S)
    assert back.host == src and back.task == st.SERVER_TASK_NONE
    await claims_become(env, s.id, {s.id: (src, 2)})
    await usage_becomes(env, {src: 2, dst: 0})
    [lm] = env.commands(s.id, "live_migrate")
    assert (lm["host"], lm["dest_host"]) == (dst, src)
    # No live migration in flight: nothing to abort.
    with pytest.raises(grpc.aio.AioRpcError) as nothing:
        await admin.compute.AbortServerMigration(
            servers_pb2.AbortServerMigrationRequest(server_id=s.id), metadata=admin.md
        )
    assert nothing.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    await delete_all(env, [s.id])


async def run_cli(env: Env, tmp: Path, *argv: str) -> tuple[int, Any, str]:
    """The `polyvisor` CLI as the admin, JSON out."""
    cli = Path(sys.executable).parent / "polyvisor"
    stack = env.stack
    os_env = {
        **os.environ,
        "POLYVISOR_API_URL": stack.apis[0].address,
        "POLYVISOR_IMAGE_URL": stack.imagesvc.address if stack.imagesvc else "127.0.0.1:1",
        "POLYVISOR_TOKEN": env.admin.token,
        "POLYVISOR_CONFIG": str(tmp / "config.yaml"),
    }
    done = await asyncio.to_thread(
        subprocess.run, [str(cli), *argv, "-f", "json"], capture_output=True, text=True, env=os_env
    )
    out = json.loads(done.stdout) if done.returncode == 0 and done.stdout.strip() else None
    return done.returncode, out, done.stderr


async def test_drain_moves_every_server_off_and_says_what_it_did(env: Env, tmp_path: Path) -> None:
    from polyvisor.compute.v1 import hypervisors_pb2

    c, admin = env.member, env.admin
    a = await active(env, "drain-a")
    src = a.host
    b = await active(env, "drain-b")
    if b.host != src:  # both on one host: one running, one stopped
        await migrate(admin, b.id, host=src)
        await c.wait(b.id, st.SERVER_STATE_VERIFY_RESIZE, within=WAIT_S)
        await confirm(c, b.id)
        await c.wait(b.id, st.SERVER_STATE_ACTIVE, within=WAIT_S)
    await c.compute.StopServer(servers_pb2.StopServerRequest(server_id=b.id), metadata=c.md)
    await c.wait(b.id, st.SERVER_STATE_SHUTOFF, within=WAIT_S)
    await usage_becomes(env, {src: 4, other(src): 0})
    try:
        # The CLI drains it and waits: the cold move confirmed, each server said where it is.
        code, out, err = await run_cli(
            env, tmp_path, "hypervisor", "drain", src, "--reason", "patching", "--wait"
        )
        assert code == 0, err
        assert {d["server_id"]: d["outcome"] for d in out} == {a.id: "live", b.id: "cold"}
        h = await admin.compute.GetHypervisor(
            hypervisors_pb2.GetHypervisorRequest(hypervisor_id=src), metadata=admin.md
        )
        assert h.hypervisor.disabled_reason == "patching"
        for x, state in ((a, st.SERVER_STATE_ACTIVE), (b, st.SERVER_STATE_SHUTOFF)):
            moved = await c.get(x.id)
            assert moved.host == other(src) and not moved.HasField("resize")
            assert moved.task == st.SERVER_TASK_NONE
            assert moved.state == state  # the running one kept running, the stopped one off
        # The drained host holds nothing any more; every claim is on the other one.
        await usage_becomes(env, {src: 0, other(src): 4})
        for x in (a, b):
            await claims_become(env, x.id, {x.id: (other(src), 2)})
    finally:
        await admin.compute.EnableHypervisor(
            hypervisors_pb2.EnableHypervisorRequest(hypervisor_id=src), metadata=admin.md
        )
    await delete_all(env, [a.id, b.id])
