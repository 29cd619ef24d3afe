"""Agents' observations of one server are applied in the order the agent made them, with the
api applying events concurrently, with redeliveries, and with two replicas sharing the
durable consumer: the README's `server reboot --hard` on a VMware server ends ACTIVE."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import nats
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from polyvisor.agent.v1 import agent_callback_service_pb2_grpc, callback_pb2
from polyvisor.common.streams import server_event_subject, server_events_filter
from polyvisor.compute.v1 import flavors_pb2, servers_pb2
from polyvisor.events.v1 import server_events_pb2 as ev_pb
from polyvisor.identity.v1 import identity_pb2, identity_requests_pb2
from polyvisor.image.v1 import images_pb2
from polyvisor.types.v1 import hypervisor_pb2
from polyvisor.types.v1 import server_status_pb2 as st
from tests.api.stack import Client, FakeAgentProcess, Stack, agent_key, eventually, wait_hosts

HOST = "vc-flicker"
BURSTS = 5
DURABLE = "api-server-events"


@pytest.fixture(scope="module")
def api_settings() -> dict[str, str]:
    return {"POLYVISOR_EVENT_CONCURRENCY": "8"}


@dataclass
class Env:
    stack: Stack
    admin: Client
    user: Client
    agent: FakeAgentProcess
    image_id: str


@pytest.fixture(scope="module")
async def env(stack: Stack) -> Env:
    agent = await stack.start_agent(HOST, hypervisor_type="vmware")
    admin = await stack.admin()
    await admin.compute.CreateFlavor(
        flavors_pb2.CreateFlavorRequest(
            flavor=flavors_pb2.Flavor(
                id="tiny", name="tiny", vcpus=1, ram_mb=256, disk_gb=1, is_public=True
            )
        ),
        metadata=admin.md,
    )
    image = await admin.upload_image("img", visibility=images_pb2.VISIBILITY_PUBLIC)
    user = await stack.new_project_user(admin)
    await wait_hosts(admin, HOST)
    return Env(stack, admin, user, agent, image.id)


async def unsettled_events(nats_url: str) -> int:
    """Events the api replicas have not yet applied and acknowledged."""
    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().consumer_info("EVENTS", DURABLE)
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)
    finally:
        await nc.close()


async def power_reports(nats_url: str, server_id: str) -> list[ev_pb.ServerEvent]:
    """The POWER_STATE_CHANGED events of a server in the stream, in stream order."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        sub = await js.subscribe(server_events_filter(server_id), ordered_consumer=True)
        out = []
        while True:
            try:
                msg = await sub.next_msg(timeout=0.5)
            except nats.errors.TimeoutError:
                break
            ev = ev_pb.ServerEvent.FromString(msg.data)
            if ev.kind == ev_pb.SERVER_EVENT_KIND_POWER_STATE_CHANGED:
                out.append(ev)
        await sub.unsubscribe()
        return out
    finally:
        await nc.close()


async def desired_power(env: Env, server: servers_pb2.Server) -> int:
    """What the host's reconciler is told the server should be (the agents' callback)."""
    auth = await env.admin.identity.Authenticate(
        identity_requests_pb2.AuthenticateRequest(
            api_key=identity_pb2.ApiKeyCredentials(secret=agent_key(server.host))
        )
    )
    callback = agent_callback_service_pb2_grpc.AgentCallbackServiceStub(env.stack.channel())
    listed = await callback.ListAssignedServers(
        callback_pb2.ListAssignedServersRequest(host=server.host, page_size=1000),
        metadata=(("authorization", f"Bearer {auth.token}"),),
    )
    (mine,) = [x for x in listed.servers if x.server_id == server.id]
    return int(mine.desired_power_state)


async def hard_reboot_bursts(env: Env, clients: list[Client], bursts: int) -> None:
    """Hard-reboot a flickering server `bursts` times; after each, once every event the agent
    published is applied, it must be ACTIVE, RUNNING and meant to run."""
    user = clients[0]
    created = await user.create_server(
        "web-vmw", env.image_id, "tiny", metadata={"fake.reboot": "flicker"}
    )
    await user.wait(created.id, st.SERVER_STATE_ACTIVE)
    for i in range(1, bursts + 1):
        await clients[i % len(clients)].compute.RebootServer(
            servers_pb2.RebootServerRequest(
                server_id=created.id, type=servers_pb2.REBOOT_TYPE_HARD
            ),
            metadata=user.md,
        )
        # The burst is in the stream (SHUTDOWN then RUNNING, one generation) and applied.
        want = 2 * i
        reports = await eventually(
            lambda: power_reports(env.stack.nats_url, created.id),
            lambda r: len(r) == want,  # noqa: B023 (used before the next iteration)
        )
        await eventually(lambda: unsettled_events(env.stack.nats_url), lambda n: n == 0)
        assert [r.power_state for r in reports[-2:]] == [
            hypervisor_pb2.POWER_STATE_SHUTDOWN,
            hypervisor_pb2.POWER_STATE_RUNNING,
        ]
        assert reports[-2].generation == reports[-1].generation
        after = await user.get(created.id)
        assert (after.state, after.task, after.power_state) == (
            st.SERVER_STATE_ACTIVE,
            st.SERVER_TASK_NONE,
            hypervisor_pb2.POWER_STATE_RUNNING,
        ), f"burst {i}: {after}"
        assert after.generation == reports[-1].generation
        assert await desired_power(env, after) == hypervisor_pb2.POWER_STATE_RUNNING


async def test_hard_reboot_flicker_ends_active_every_time(env: Env) -> None:
    await hard_reboot_bursts(env, [env.user], BURSTS)


def _stamp(t: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(t)
    return ts


async def test_an_older_observation_delivered_after_a_newer_one_is_ignored(env: Env) -> None:
    user = env.user
    s = await user.wait(
        (await user.create_server("late", env.image_id, "tiny")).id, st.SERVER_STATE_ACTIVE
    )
    base = datetime.now(UTC)
    agent_id = f"test-agent-{uuid.uuid4().hex[:6]}"
    nc = await nats.connect(env.stack.nats_url)
    js = nc.jetstream()

    async def observe(power: int, seen: datetime) -> None:
        ev = ev_pb.ServerEvent(
            event_id=uuid.uuid4().hex,
            server_id=s.id,
            generation=s.generation,
            host=s.host,
            kind=ev_pb.SERVER_EVENT_KIND_POWER_STATE_CHANGED,
            power_state=power,
            occurred_at=_stamp(seen),
            agent_id=agent_id,
        )
        await js.publish(
            server_event_subject(s.host, s.id),
            ev.SerializeToString(),
            headers={"Nats-Msg-Id": ev.event_id},
        )
        await eventually(lambda: unsettled_events(env.stack.nats_url), lambda n: n == 0)

    try:
        # RUNNING seen at +2 s is applied first (it changes nothing visible) ...
        await observe(hypervisor_pb2.POWER_STATE_RUNNING, base + timedelta(seconds=2))
        confirmed = await user.get(s.id)
        assert confirmed.revision == s.revision
        # ... then the SHUTDOWN seen at +1 s arrives, as a redelivery after a nak would: it
        # is older than what was applied, and ignored.
        await observe(hypervisor_pb2.POWER_STATE_SHUTDOWN, base + timedelta(seconds=1))
        late = await user.get(s.id)
        assert (late.state, late.power_state, late.revision) == (
            st.SERVER_STATE_ACTIVE,
            hypervisor_pb2.POWER_STATE_RUNNING,
            s.revision,
        )
        # A SHUTDOWN seen later than the RUNNING is applied: the server was turned off.
        await observe(hypervisor_pb2.POWER_STATE_SHUTDOWN, base + timedelta(seconds=3))
        off = await user.get(s.id)
        assert (off.state, off.power_state) == (
            st.SERVER_STATE_SHUTOFF,
            hypervisor_pb2.POWER_STATE_SHUTDOWN,
        )
        assert off.revision > s.revision
    finally:
        await nc.close()


async def test_two_replicas_keep_the_order_too(env: Env) -> None:
    """With a second replica on the same durable consumer a burst may be split between the
    two: the order then rests on the observation recorded on the row."""
    await env.stack.start_api()
    await hard_reboot_bursts(env, [env.user, env.user.on(1)], BURSTS)
