"""Server lifecycle through the public gRPC API, with the real scheduler and image service and
fake agents answering on NATS."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

import asyncpg
import grpc
import pytest

from polyvisor.agent.v1 import agent_callback_service_pb2_grpc, callback_pb2
from polyvisor.api.store import actions as action_store
from polyvisor.compute.v1 import (
    flavors_pb2,
    keypairs_pb2,
    quotas_pb2,
    server_actions_pb2,
    servers_pb2,
)
from polyvisor.identity.v1 import identity_pb2, identity_requests_pb2
from polyvisor.image.v1 import images_pb2
from polyvisor.types.v1 import fault_pb2, hypervisor_pb2
from polyvisor.types.v1 import server_status_pb2 as st
from tests.api.stack import Client, FakeAgentProcess, Stack, agent_key, eventually, wait_hosts

HOSTS = ("kvm-1", "kvm-2", "kvm-3")
MAX_COMMAND_ATTEMPTS = 2
MAX_BUILD_ATTEMPTS = 3


@pytest.fixture(scope="module")
def api_settings() -> dict[str, str]:
    return {
        # Long enough for a fake agent's build on a loaded 2-core machine (4 s was not); the
        # silent-agent test waits it out once.
        "POLYVISOR_BUILD_TIMEOUT_S": "8",
        "POLYVISOR_POWER_TIMEOUT_S": "1.5",
        "POLYVISOR_REBOOT_TIMEOUT_S": "3",
        "POLYVISOR_DELETE_TIMEOUT_S": "3",
        "POLYVISOR_MAX_COMMAND_ATTEMPTS": str(MAX_COMMAND_ATTEMPTS),
        "POLYVISOR_MAX_BUILD_ATTEMPTS": str(MAX_BUILD_ATTEMPTS),
    }


@dataclass
class Env:
    stack: Stack
    admin: Client
    member: Client
    agent: FakeAgentProcess
    image_id: str

    def commands(self, server_id: str) -> list[dict]:  # type: ignore[type-arg]
        return [c for c in self.agent.commands() if c["server_id"] == server_id]


@pytest.fixture(scope="module")
async def env(stack: Stack) -> Env:
    agent = await stack.start_agent(*HOSTS, slow_s="2")
    admin = await stack.admin()
    for fid, vcpus, ram in (("small", 1, 512), ("huge", 1000, 512)):
        await admin.compute.CreateFlavor(
            flavors_pb2.CreateFlavorRequest(
                flavor=flavors_pb2.Flavor(
                    id=fid, name=fid, vcpus=vcpus, ram_mb=ram, disk_gb=1, is_public=True
                )
            ),
            metadata=admin.md,
        )
    # The admin's own project may boot anything (to reach the scheduler's limits).
    await admin.compute.UpdateQuota(
        quotas_pb2.UpdateQuotaRequest(
            project_id=admin.project_id
            or (
                await admin.compute.GetQuota(quotas_pb2.GetQuotaRequest(), metadata=admin.md)
            ).quota.project_id,
            limits=quotas_pb2.QuotaLimits(instances=-1, vcpus=-1, ram_mb=-1),
        ),
        metadata=admin.md,
    )
    image = await admin.upload_image("boot", visibility=images_pb2.VISIBILITY_PUBLIC)
    member = await stack.new_project_user(admin, "member")
    await wait_hosts(admin, *HOSTS)
    return Env(stack, admin, member, agent, image.id)


def squeeze(items: Iterable[str]) -> list[str]:
    """Consecutive repeats folded into one."""
    out: list[str] = []
    for item in items:
        if not out or out[-1] != item:
            out.append(item)
    return out


async def quota_usage(c: Client) -> quotas_pb2.QuotaUsage:
    resp = await c.compute.GetQuota(quotas_pb2.GetQuotaRequest(), metadata=c.md)
    return resp.quota.usage


async def test_create_power_cycle_and_delete(env: Env) -> None:
    c = env.member
    created = await c.create_server("web-1", env.image_id, "small")
    assert created.state == st.SERVER_STATE_BUILDING
    assert created.task == st.SERVER_TASK_SCHEDULING
    assert created.HasField("task_deadline")

    s = await c.wait(created.id, st.SERVER_STATE_ACTIVE, st.SERVER_STATE_ERROR)
    assert s.state == st.SERVER_STATE_ACTIVE, s.fault.message
    assert s.power_state == hypervisor_pb2.POWER_STATE_RUNNING
    assert s.host in HOSTS and s.attempts == 1
    assert s.HasField("launch_time") and s.instance_name
    assert s.console.port > 0 and not s.HasField("fault")
    assert (await quota_usage(c)).instances == 1

    stopping = (
        await c.compute.StopServer(servers_pb2.StopServerRequest(server_id=s.id), metadata=c.md)
    ).server
    assert stopping.task == st.SERVER_TASK_POWERING_OFF
    off = await c.wait(s.id, st.SERVER_STATE_SHUTOFF)
    assert off.power_state == hypervisor_pb2.POWER_STATE_SHUTDOWN

    await c.compute.StartServer(servers_pb2.StartServerRequest(server_id=s.id), metadata=c.md)
    on = await c.wait(s.id, st.SERVER_STATE_ACTIVE)
    assert on.power_state == hypervisor_pb2.POWER_STATE_RUNNING

    for kind in (servers_pb2.REBOOT_TYPE_SOFT, servers_pb2.REBOOT_TYPE_HARD):
        rebooting = (
            await c.compute.RebootServer(
                servers_pb2.RebootServerRequest(server_id=s.id, type=kind), metadata=c.md
            )
        ).server
        assert rebooting.state == st.SERVER_STATE_REBOOTING
        await c.wait(s.id, st.SERVER_STATE_ACTIVE)

    deleting = (
        await c.compute.DeleteServer(servers_pb2.DeleteServerRequest(server_id=s.id), metadata=c.md)
    ).server
    assert deleting.state == st.SERVER_STATE_DELETING
    gone = await c.wait(s.id, st.SERVER_STATE_DELETED)
    assert gone.HasField("delete_time")

    verbs = [(x["verb"], x["generation"]) for x in env.commands(s.id)]
    # (A command retried after its deadline on a loaded machine shows up twice in a row.)
    assert squeeze(v for v, _ in verbs) == ["spawn", "power_off", "power_on", "reboot", "destroy"]
    assert sum(1 for v, _ in verbs if v == "reboot") >= 2  # soft, then hard
    assert [g for _, g in verbs] == sorted({g for _, g in verbs})  # each a new generation
    assert (await quota_usage(c)).instances == 0

    listed = await c.compute.ListServers(servers_pb2.ListServersRequest(), metadata=c.md)
    assert s.id not in {x.id for x in listed.servers}
    with_deleted = await c.compute.ListServers(
        servers_pb2.ListServersRequest(show_deleted=True), metadata=c.md
    )
    assert s.id in {x.id for x in with_deleted.servers}


async def test_actions_in_the_wrong_state_are_failed_precondition(env: Env) -> None:
    c = env.member
    s = await c.wait(
        (await c.create_server("web-2", env.image_id, "small")).id, st.SERVER_STATE_ACTIVE
    )
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await c.compute.StartServer(servers_pb2.StartServerRequest(server_id=s.id), metadata=c.md)
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "SHUTOFF" in (exc.value.details() or "")
    # Console: available while ACTIVE, with a short-lived token.
    console = await c.compute.GetServerConsole(
        servers_pb2.GetServerConsoleRequest(server_id=s.id), metadata=c.md
    )
    assert console.type == hypervisor_pb2.CONSOLE_TYPE_VNC and console.port == s.console.port
    assert len(console.token) >= 20 and console.HasField("expire_time")
    await c.compute.StopServer(servers_pb2.StopServerRequest(server_id=s.id), metadata=c.md)
    await c.wait(s.id, st.SERVER_STATE_SHUTOFF)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await c.compute.GetServerConsole(
            servers_pb2.GetServerConsoleRequest(server_id=s.id), metadata=c.md
        )
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    await c.compute.DeleteServer(servers_pb2.DeleteServerRequest(server_id=s.id), metadata=c.md)
    await c.wait(s.id, st.SERVER_STATE_DELETED)


async def test_spawn_command_carries_what_the_agent_needs(env: Env) -> None:
    c = env.member
    kp = await c.compute.CreateKeypair(
        keypairs_pb2.CreateKeypairRequest(name="mykey"), metadata=c.md
    )
    assert kp.private_key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    s = await c.create_server(
        "My App_01",
        env.image_id,
        "small",
        key_name="mykey",
        user_data=b"#cloud-config\nhostname: x\n",
        metadata={"role": "app"},
    )
    s = await c.wait(s.id, st.SERVER_STATE_ACTIVE)
    assert s.key_name == "mykey" and s.has_user_data
    (spawn,) = [x for x in env.commands(s.id) if x["verb"] == "spawn"]
    assert spawn["public_keys"] == [kp.keypair.public_key]
    assert spawn["user_data"] == "#cloud-config\nhostname: x\n"
    assert (spawn["vcpus"], spawn["memory_mb"], spawn["disk_gb"]) == (1, 512, 1)
    assert spawn["image_id"] == env.image_id and spawn["disk_format"] == "DISK_FORMAT_RAW"
    assert spawn["hostname"] == "my-app-01" and spawn["metadata"]["role"] == "app"
    assert spawn["project_id"] == c.project_id and spawn["command_id"].startswith(s.id)


async def test_failed_spawn_is_rescheduled_on_another_host(env: Env) -> None:
    c = env.member
    s = await c.create_server(
        "resched", env.image_id, "small", metadata={"fake.spawn": "fail_first"}
    )
    s = await c.wait(s.id, st.SERVER_STATE_ACTIVE, st.SERVER_STATE_ERROR)
    assert s.state == st.SERVER_STATE_ACTIVE, s.fault.message
    assert s.attempts == 2
    spawns = [x for x in env.commands(s.id) if x["verb"] == "spawn"]
    assert [x["attempt"] for x in spawns] == [1, 2]
    assert spawns[0]["host"] != spawns[1]["host"] == s.host
    assert spawns[1]["generation"] > spawns[0]["generation"]


async def test_every_host_failing_ends_in_error_with_a_fault(env: Env) -> None:
    c = env.member
    s = await c.create_server("doomed", env.image_id, "small", metadata={"fake.spawn": "fail"})
    s = await c.wait(s.id, st.SERVER_STATE_ERROR, st.SERVER_STATE_ACTIVE)
    assert s.state == st.SERVER_STATE_ERROR
    assert s.fault.code in (
        fault_pb2.FAULT_CODE_RESCHEDULE_LIMIT,
        fault_pb2.FAULT_CODE_NO_VALID_HOST,
    )
    assert "fake agent: spawn failed" in s.fault.message
    hosts = [x["host"] for x in env.commands(s.id) if x["verb"] == "spawn"]
    assert 1 < len(hosts) <= MAX_BUILD_ATTEMPTS and len(set(hosts)) == len(hosts)
    # An ERROR server still counts against the quota until it is deleted.
    await c.compute.DeleteServer(servers_pb2.DeleteServerRequest(server_id=s.id), metadata=c.md)
    await c.wait(s.id, st.SERVER_STATE_DELETED)


async def test_no_valid_host_says_why(env: Env) -> None:
    c = env.admin
    s = await c.create_server("too-big", env.image_id, "huge")
    s = await c.wait(s.id, st.SERVER_STATE_ERROR, st.SERVER_STATE_ACTIVE)
    assert s.state == st.SERVER_STATE_ERROR
    assert s.fault.code == fault_pb2.FAULT_CODE_NO_VALID_HOST
    assert s.fault.no_valid_host.total_hosts >= len(HOSTS)
    assert s.fault.no_valid_host.filters and s.fault.no_valid_host.summary
    assert s.fault.no_valid_host.summary in s.fault.message
    assert not env.commands(s.id)


async def test_build_deadline_with_a_silent_agent(env: Env) -> None:
    c = env.member
    s = await c.create_server("silent", env.image_id, "small", metadata={"fake.spawn": "silent"})
    s = await c.wait(s.id, st.SERVER_STATE_ERROR, st.SERVER_STATE_ACTIVE, within=30)
    assert s.state == st.SERVER_STATE_ERROR
    assert s.fault.code == fault_pb2.FAULT_CODE_TIMEOUT and s.fault.host in HOSTS
    assert s.host == ""
    # The host was told to clean up.
    verbs = await eventually(
        lambda: asyncio.sleep(0, [x["verb"] for x in env.commands(s.id)]),
        lambda v: "destroy" in v,
    )
    assert verbs == ["spawn", "destroy"]
    await c.compute.DeleteServer(servers_pb2.DeleteServerRequest(server_id=s.id), metadata=c.md)
    gone = await c.get(s.id)
    assert gone.state == st.SERVER_STATE_DELETED  # nothing on any host: gone at once


async def test_delete_while_building(env: Env) -> None:
    c = env.member
    s = await c.create_server("short-lived", env.image_id, "small", metadata={"fake.spawn": "slow"})
    await eventually(lambda: c.get(s.id), lambda x: x.host != "")
    deleting = (
        await c.compute.DeleteServer(servers_pb2.DeleteServerRequest(server_id=s.id), metadata=c.md)
    ).server
    assert deleting.state in (st.SERVER_STATE_DELETING, st.SERVER_STATE_DELETED)
    gone = await c.wait(s.id, st.SERVER_STATE_DELETED, within=20)
    assert gone.state == st.SERVER_STATE_DELETED
    await asyncio.sleep(2.5)  # the slow spawn's late SPAWNED arrives: it must not revive it
    assert (await c.get(s.id)).state == st.SERVER_STATE_DELETED
    assert squeeze(x["verb"] for x in env.commands(s.id)) == ["spawn", "destroy"]


async def test_unanswered_power_command_is_retried_then_fails_visibly(env: Env) -> None:
    c = env.member
    s = await c.create_server("deaf", env.image_id, "small", metadata={"fake.power": "silent"})
    s = await c.wait(s.id, st.SERVER_STATE_ACTIVE)
    await c.compute.StopServer(servers_pb2.StopServerRequest(server_id=s.id), metadata=c.md)
    after = await c.wait(s.id, st.SERVER_STATE_ACTIVE, st.SERVER_STATE_SHUTOFF, within=30)
    assert after.state == st.SERVER_STATE_ACTIVE
    assert after.fault.code == fault_pb2.FAULT_CODE_TIMEOUT
    assert after.power_state == hypervisor_pb2.POWER_STATE_UNKNOWN
    offs = [x for x in env.commands(s.id) if x["verb"] == "power_off"]
    assert len(offs) == MAX_COMMAND_ATTEMPTS
    assert offs[0]["generation"] < offs[1]["generation"]


async def test_agents_list_their_assigned_servers_with_their_own_key(env: Env) -> None:
    c = env.member
    s = await c.wait(
        (await c.create_server("assigned", env.image_id, "small", metadata={"role": "web"})).id,
        st.SERVER_STATE_ACTIVE,
    )
    # Metadata changed after the spawn reaches the host with the list (its metadata service).
    update = servers_pb2.UpdateServerRequest(
        server=servers_pb2.Server(id=s.id, metadata={"role": "db"})
    )
    update.update_mask.paths.append("metadata")
    await c.compute.UpdateServer(update, metadata=c.md)
    auth = await env.admin.identity.Authenticate(
        identity_requests_pb2.AuthenticateRequest(
            api_key=identity_pb2.ApiKeyCredentials(secret=agent_key(s.host))
        )
    )
    callback = agent_callback_service_pb2_grpc.AgentCallbackServiceStub(env.stack.channel())
    md = (("authorization", f"Bearer {auth.token}"),)
    listed = await callback.ListAssignedServers(
        callback_pb2.ListAssignedServersRequest(host=s.host, page_size=1000), metadata=md
    )
    mine = [x for x in listed.servers if x.server_id == s.id]
    assert len(mine) == 1
    assert mine[0].generation == s.generation
    assert mine[0].desired_power_state == hypervisor_pb2.POWER_STATE_RUNNING
    assert mine[0].state == st.SERVER_STATE_ACTIVE
    assert dict(mine[0].metadata) == {"role": "db"}
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await callback.ListAssignedServers(
            callback_pb2.ListAssignedServersRequest(host=s.host), metadata=c.md
        )
    assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # Another host's key names that host: it cannot list this host's servers.
    other = await env.admin.identity.Authenticate(
        identity_requests_pb2.AuthenticateRequest(
            api_key=identity_pb2.ApiKeyCredentials(secret=agent_key(f"not-{s.host}"))
        )
    )
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await callback.ListAssignedServers(
            callback_pb2.ListAssignedServersRequest(host=s.host),
            metadata=(("authorization", f"Bearer {other.token}"),),
        )
    assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def read_until(call, stop, within: float = 30.0) -> list[servers_pb2.WatchServersResponse]:  # type: ignore[no-untyped-def]
    """Messages of a WatchServers stream up to and including the first one `stop` accepts."""
    out = []
    while True:
        msg = await asyncio.wait_for(call.read(), within)
        assert msg is not grpc.aio.EOF, "watch stream ended"
        out.append(msg)
        if stop(msg):
            return out


async def test_watch_delivers_every_transition_in_order_and_resumes(env: Env) -> None:
    c = await env.stack.new_project_user(env.admin, "member")
    watch = c.compute.WatchServers(servers_pb2.WatchServersRequest(), metadata=c.md)
    replay = await read_until(watch, lambda m: m.type == servers_pb2.SERVER_CHANGE_TYPE_SYNCED)
    assert [m.type for m in replay] == [servers_pb2.SERVER_CHANGE_TYPE_SYNCED]  # empty project

    s = await c.create_server("watched", env.image_id, "small")
    await c.wait(s.id, st.SERVER_STATE_ACTIVE)
    await c.compute.StopServer(servers_pb2.StopServerRequest(server_id=s.id), metadata=c.md)
    await c.wait(s.id, st.SERVER_STATE_SHUTOFF)
    await c.compute.StartServer(servers_pb2.StartServerRequest(server_id=s.id), metadata=c.md)
    await c.wait(s.id, st.SERVER_STATE_ACTIVE)
    await c.compute.DeleteServer(servers_pb2.DeleteServerRequest(server_id=s.id), metadata=c.md)
    live = await read_until(watch, lambda m: m.type == servers_pb2.SERVER_CHANGE_TYPE_DELETED)
    watch.cancel()

    revisions = [m.revision for m in live]
    assert revisions == sorted(set(revisions)) and revisions[0] > replay[-1].revision
    assert all(m.server.id == s.id and m.server.revision == m.revision for m in live)
    assert live[0].type == servers_pb2.SERVER_CHANGE_TYPE_CREATED
    states: list[int] = []
    for m in live:
        if not states or states[-1] != m.server.state:
            states.append(m.server.state)
    assert states == [
        st.SERVER_STATE_BUILDING,
        st.SERVER_STATE_ACTIVE,
        st.SERVER_STATE_SHUTOFF,
        st.SERVER_STATE_ACTIVE,
        st.SERVER_STATE_DELETING,
        st.SERVER_STATE_DELETED,
    ]
    tasks = [m.server.task for m in live]
    for task in (
        st.SERVER_TASK_SCHEDULING,
        st.SERVER_TASK_SPAWNING,
        st.SERVER_TASK_POWERING_OFF,
        st.SERVER_TASK_POWERING_ON,
        st.SERVER_TASK_DELETING,
    ):
        assert task in tasks

    # Resume from the middle: exactly what followed, in the same order.
    middle = next(i for i, m in enumerate(live) if m.server.state == st.SERVER_STATE_SHUTOFF)
    resumed_call = c.compute.WatchServers(
        servers_pb2.WatchServersRequest(from_revision=live[middle].revision), metadata=c.md
    )
    resumed = await read_until(
        resumed_call, lambda m: m.type == servers_pb2.SERVER_CHANGE_TYPE_DELETED
    )
    resumed_call.cancel()
    assert [(m.revision, m.server.state, m.server.task) for m in resumed] == [
        (m.revision, m.server.state, m.server.task) for m in live[middle + 1 :]
    ]


async def test_watch_replays_live_servers_then_syncs(env: Env) -> None:
    c = await env.stack.new_project_user(env.admin, "member")
    a = await c.wait((await c.create_server("a", env.image_id, "small")).id, st.SERVER_STATE_ACTIVE)
    b = await c.wait((await c.create_server("b", env.image_id, "small")).id, st.SERVER_STATE_ACTIVE)
    watch = c.compute.WatchServers(servers_pb2.WatchServersRequest(), metadata=c.md)
    replay = await read_until(watch, lambda m: m.type == servers_pb2.SERVER_CHANGE_TYPE_SYNCED)
    assert [(m.type, m.server.id) for m in replay[:-1]] == [
        (servers_pb2.SERVER_CHANGE_TYPE_CREATED, a.id),
        (servers_pb2.SERVER_CHANGE_TYPE_CREATED, b.id),
    ]
    assert replay[-1].revision >= b.revision
    await c.compute.StopServer(servers_pb2.StopServerRequest(server_id=a.id), metadata=c.md)
    (first, *_) = await read_until(watch, lambda m: True)
    assert first.server.id == a.id and first.server.task == st.SERVER_TASK_POWERING_OFF
    assert first.revision > replay[-1].revision
    watch.cancel()


async def test_pause_unpause_suspend_resume_through_the_api(env: Env) -> None:
    c = env.member
    s = await c.wait(
        (await c.create_server("web-pause", env.image_id, "small")).id, st.SERVER_STATE_ACTIVE
    )
    for rpc, req, held, power in (
        ("PauseServer", servers_pb2.PauseServerRequest, st.SERVER_STATE_PAUSED,
         hypervisor_pb2.POWER_STATE_PAUSED),
        ("UnpauseServer", servers_pb2.UnpauseServerRequest, st.SERVER_STATE_ACTIVE,
         hypervisor_pb2.POWER_STATE_RUNNING),
        ("SuspendServer", servers_pb2.SuspendServerRequest, st.SERVER_STATE_SUSPENDED,
         hypervisor_pb2.POWER_STATE_SUSPENDED),
        ("ResumeServer", servers_pb2.ResumeServerRequest, st.SERVER_STATE_ACTIVE,
         hypervisor_pb2.POWER_STATE_RUNNING),
    ):  # fmt: skip
        await getattr(c.compute, rpc)(req(server_id=s.id), metadata=c.md)
        done = await c.wait(s.id, held)
        assert done.power_state == power and done.task == st.SERVER_TASK_NONE
        if held == st.SERVER_STATE_PAUSED:
            # Paused: neither stop nor a second pause; the error names both states.
            for again in (
                c.compute.StopServer(servers_pb2.StopServerRequest(server_id=s.id), metadata=c.md),
                c.compute.PauseServer(
                    servers_pb2.PauseServerRequest(server_id=s.id), metadata=c.md
                ),
            ):
                with pytest.raises(grpc.aio.AioRpcError) as exc:
                    await again
                assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
                assert "is PAUSED" in (exc.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await c.compute.ResumeServer(servers_pb2.ResumeServerRequest(server_id=s.id), metadata=c.md)
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "ACTIVE; resume needs SUSPENDED" in (exc.value.details() or "")
    verbs = squeeze(x["verb"] for x in env.commands(s.id))
    assert verbs == ["spawn", "pause", "unpause", "suspend", "resume"]
    await c.compute.DeleteServer(
        servers_pb2.DeleteServerRequest(server_id=s.id, request_id="req-bye"), metadata=c.md
    )
    await c.wait(s.id, st.SERVER_STATE_DELETED)

    # The action history: every request that started something, newest first, each closed
    # with its result; the refused resume is not there. Kept after the delete.
    async def history() -> list[server_actions_pb2.ServerAction]:
        out: list[server_actions_pb2.ServerAction] = []
        token = ""
        while True:
            resp = await c.compute.ListServerActions(
                server_actions_pb2.ListServerActionsRequest(
                    server_id=s.id, page_size=4, page_token=token
                ),
                metadata=c.md,
            )
            out.extend(resp.actions)
            if not (token := resp.next_page_token):
                return out

    actions = await eventually(
        history, lambda got: len(got) == 6 and all(a.HasField("finish_time") for a in got)
    )
    assert [a.action for a in actions] == [
        "delete", "resume", "suspend", "unpause", "pause", "create",
    ]  # fmt: skip
    ok = server_actions_pb2.SERVER_ACTION_RESULT_SUCCESS
    assert {a.result for a in actions} == {ok}
    me = (await c.get(s.id)).user_id
    assert {(a.user_id, a.project_id) for a in actions} == {(me, s.project_id)}
    assert all(a.start_time.ToDatetime() <= a.finish_time.ToDatetime() for a in actions)
    assert len({a.request_id for a in actions}) == 6
    one = await c.compute.GetServerAction(
        server_actions_pb2.GetServerActionRequest(server_id=s.id, request_id="req-bye"),
        metadata=c.md,
    )
    assert one.action.action == "delete" and one.action.result == ok
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await env.admin.compute.ListServerActions(
            server_actions_pb2.ListServerActionsRequest(server_id="nope"), metadata=env.admin.md
        )
    assert exc.value.code() == grpc.StatusCode.NOT_FOUND

    # Past the retention, a deleted server's history goes.
    conn = await asyncpg.connect(env.stack.database_url, server_settings={"search_path": "api"})
    try:
        assert await action_store.prune(conn, 3600.0) == 0
        assert await action_store.prune(conn, 0.0) >= 6
    finally:
        await conn.close()
    assert await history() == []


async def test_a_refused_pause_is_in_the_history_with_its_fault(env: Env) -> None:
    c = env.member
    s = await c.create_server("web-nopause", env.image_id, "small", metadata={"fake.power": "fail"})
    s = await c.wait(s.id, st.SERVER_STATE_ACTIVE)
    await c.compute.PauseServer(
        servers_pb2.PauseServerRequest(server_id=s.id, request_id="req-p"), metadata=c.md
    )

    async def refused() -> server_actions_pb2.ServerAction:
        return (
            await c.compute.GetServerAction(
                server_actions_pb2.GetServerActionRequest(server_id=s.id, request_id="req-p"),
                metadata=c.md,
            )
        ).action

    a = await eventually(
        refused, lambda a: a.result == server_actions_pb2.SERVER_ACTION_RESULT_ERROR
    )
    assert a.fault.message == "fake agent: pause failed"
    after = await c.get(s.id)
    assert (after.state, after.task) == (st.SERVER_STATE_ACTIVE, st.SERVER_TASK_NONE)
    await c.compute.DeleteServer(servers_pb2.DeleteServerRequest(server_id=s.id), metadata=c.md)
    await c.wait(s.id, st.SERVER_STATE_DELETED)


async def test_tags_add_remove_and_filter_the_list(env: Env) -> None:
    c = env.member
    a = await c.wait((await c.create_server("tag-a", env.image_id, "small")).id,
                     st.SERVER_STATE_ACTIVE)  # fmt: skip
    b = await c.wait((await c.create_server("tag-b", env.image_id, "small")).id,
                     st.SERVER_STATE_ACTIVE)  # fmt: skip

    async def tag(sid: str, t: str, add: bool = True) -> servers_pb2.Server:
        if add:
            req = servers_pb2.AddServerTagRequest(server_id=sid, tag=t)
            return (await c.compute.AddServerTag(req, metadata=c.md)).server
        req2 = servers_pb2.RemoveServerTagRequest(server_id=sid, tag=t)
        return (await c.compute.RemoveServerTag(req2, metadata=c.md)).server

    async def listed(*tags: str) -> set[str]:
        resp = await c.compute.ListServers(
            servers_pb2.ListServersRequest(tags=list(tags)), metadata=c.md
        )
        return {s.name for s in resp.servers if s.name.startswith("tag-")}

    await tag(a.id, "web")
    await tag(a.id, "prod")
    assert list((await tag(a.id, "web")).tags) == ["web", "prod"]  # already there: unchanged
    await tag(b.id, "web")
    assert await listed("web") == {"tag-a", "tag-b"}
    assert await listed("web", "prod") == {"tag-a"}
    assert await listed("db") == set()
    assert list((await c.get(a.id)).tags) == ["web", "prod"]
    assert list((await tag(a.id, "web", add=False)).tags) == ["prod"]
    assert await listed("web") == {"tag-b"}
    for bad, code in (("a,b", grpc.StatusCode.INVALID_ARGUMENT),
                      ("", grpc.StatusCode.INVALID_ARGUMENT)):  # fmt: skip
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await tag(a.id, bad)
        assert exc.value.code() == code
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await tag(a.id, "never", add=False)
    assert exc.value.code() == grpc.StatusCode.NOT_FOUND
    for s in (a, b):
        await c.compute.DeleteServer(servers_pb2.DeleteServerRequest(server_id=s.id), metadata=c.md)
        await c.wait(s.id, st.SERVER_STATE_DELETED)


async def test_console_output_is_asked_of_the_host(env: Env) -> None:
    c = env.member
    s = await c.wait((await c.create_server("web-log", env.image_id, "small")).id,
                     st.SERVER_STATE_ACTIVE)  # fmt: skip
    out = await c.compute.GetServerConsoleOutput(
        servers_pb2.GetServerConsoleOutputRequest(server_id=s.id, lines=3), metadata=c.md
    )
    assert out.output.splitlines() == [f"boot {s.id[:8]} line {i}" for i in (28, 29, 30)]
    every = await c.compute.GetServerConsoleOutput(
        servers_pb2.GetServerConsoleOutputRequest(server_id=s.id), metadata=c.md
    )
    assert len(every.output.splitlines()) == 30
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await c.compute.GetServerConsoleOutput(
            servers_pb2.GetServerConsoleOutputRequest(server_id=s.id, lines=-1), metadata=c.md
        )
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    await c.compute.DeleteServer(servers_pb2.DeleteServerRequest(server_id=s.id), metadata=c.md)
    await c.wait(s.id, st.SERVER_STATE_DELETED)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await c.compute.GetServerConsoleOutput(
            servers_pb2.GetServerConsoleOutputRequest(server_id=s.id), metadata=c.md
        )
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
