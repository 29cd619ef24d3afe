"""Concurrency: duplicate creates, quota races, metadata writes at once (through the api and
through the OpenStack gateway), and two api replicas sharing the work."""

from __future__ import annotations

import asyncio
import collections
import uuid
from dataclasses import dataclass
from typing import Any

import grpc
import nats
import pytest
from aiohttp.test_utils import TestClient, TestServer

from polyvisor.compute.v1 import flavors_pb2, quotas_pb2, servers_pb2
from polyvisor.events.v1 import server_events_pb2
from polyvisor.image.v1 import images_pb2
from polyvisor.osapi.clients import Apis
from polyvisor.osapi.config import OsapiSettings
from polyvisor.osapi.handlers import make_app
from polyvisor.types.v1 import server_status_pb2 as st
from tests.api.stack import Client, FakeAgentProcess, Stack, eventually, wait_hosts

HOSTS = ("c-1", "c-2")


@pytest.fixture(scope="module")
def api_settings() -> dict[str, str]:
    return {"POLYVISOR_OUTBOX_LEASE_S": "5"}


@dataclass
class Env:
    stack: Stack
    admin: Client
    agent: FakeAgentProcess
    image_id: str


@pytest.fixture(scope="module")
async def env(stack: Stack) -> Env:
    await stack.start_api()  # a second replica on the same database and NATS
    agent = await stack.start_agent(*HOSTS)
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
    await wait_hosts(admin, *HOSTS)
    return Env(stack, admin, agent, image.id)


async def set_quota(admin: Client, project_id: str, instances: int) -> None:
    await admin.compute.UpdateQuota(
        quotas_pb2.UpdateQuotaRequest(
            project_id=project_id,
            limits=quotas_pb2.QuotaLimits(instances=instances),
            update_mask={"paths": ["instances"]},
        ),
        metadata=admin.md,
    )


async def test_concurrent_duplicate_creates_make_one_server(env: Env) -> None:
    user = await env.stack.new_project_user(env.admin)
    clients = [user, user.on(1)]  # both replicas
    request_id = uuid.uuid4().hex
    results = await asyncio.gather(
        *(
            clients[i % 2].create_server("dup", env.image_id, "tiny", request_id=request_id)
            for i in range(12)
        )
    )
    assert len({s.id for s in results}) == 1
    server_id = results[0].id
    await user.wait(server_id, st.SERVER_STATE_ACTIVE)
    listed = await user.compute.ListServers(servers_pb2.ListServersRequest(), metadata=user.md)
    assert [s.id for s in listed.servers] == [server_id]
    quota = (await user.compute.GetQuota(quotas_pb2.GetQuotaRequest(), metadata=user.md)).quota
    assert quota.usage.instances == 1 and quota.usage.vcpus == 1
    spawns = [c for c in env.agent.commands() if c["server_id"] == server_id]
    assert [c["verb"] for c in spawns] == ["spawn"]
    # A retry after the fact still returns the same server.
    again = await user.create_server("dup", env.image_id, "tiny", request_id=request_id)
    assert again.id == server_id


async def test_quota_holds_under_concurrent_creates(env: Env) -> None:
    user = await env.stack.new_project_user(env.admin)
    await set_quota(env.admin, user.project_id, 3)
    clients = [user, user.on(1)]

    async def attempt(i: int) -> str:
        try:
            s = await clients[i % 2].create_server(f"q{i}", env.image_id, "tiny")
        except grpc.aio.AioRpcError as e:
            assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e
            assert "instances" in (e.details() or "")
            return ""
        return s.id

    outcomes = await asyncio.gather(*(attempt(i) for i in range(12)))
    created = [o for o in outcomes if o]
    assert len(created) == 3
    quota = (await user.compute.GetQuota(quotas_pb2.GetQuotaRequest(), metadata=user.md)).quota
    assert quota.usage.instances == 3 and quota.limits.instances == 3
    listed = await user.compute.ListServers(servers_pb2.ListServersRequest(), metadata=user.md)
    assert sorted(s.id for s in listed.servers) == sorted(created)
    # Deleting one frees room for exactly one more.
    await user.compute.DeleteServer(
        servers_pb2.DeleteServerRequest(server_id=created[0]), metadata=user.md
    )
    await user.wait(created[0], st.SERVER_STATE_DELETED)
    outcomes = await asyncio.gather(*(attempt(100 + i) for i in range(4)))
    assert len([o for o in outcomes if o]) == 1


async def event_stream_pending(nats_url: str) -> int:
    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().consumer_info("EVENTS", "api-server-events")
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)
    finally:
        await nc.close()


async def test_two_replicas_apply_the_same_event_stream_to_the_same_state(env: Env) -> None:
    user = await env.stack.new_project_user(env.admin)
    clients = [user, user.on(1)]
    ids = [(await clients[i % 2].create_server(f"r{i}", env.image_id, "tiny")).id for i in range(6)]
    for i, sid in enumerate(ids):
        await clients[i % 2].wait(sid, st.SERVER_STATE_ACTIVE)
    for i, sid in enumerate(ids[:3]):  # half of them stopped, through either replica
        await clients[i % 2].compute.StopServer(
            servers_pb2.StopServerRequest(server_id=sid), metadata=user.md
        )
    for sid in ids[:3]:
        await user.wait(sid, st.SERVER_STATE_SHUTOFF)
    await eventually(lambda: event_stream_pending(env.stack.nats_url), lambda n: n == 0)

    def snapshot(servers: list[servers_pb2.Server]) -> list[tuple[str, int, int, int, int]]:
        return [(s.id, s.state, s.task, s.power_state, s.generation) for s in servers]

    before = [await clients[i % 2].get(sid) for i, sid in enumerate(ids)]
    # Each event was applied once: one command per (server, generation, verb) reached the
    # agent, and each server has one spawn.
    commands = [c for c in env.agent.commands() if c["server_id"] in ids]
    keys = collections.Counter((c["server_id"], c["generation"], c["verb"]) for c in commands)
    assert set(keys.values()) == {1}
    assert sum(1 for k in keys if k[2] == "spawn") == len(ids)

    # Replay every event these servers ever got, twice, in reverse order, with new message
    # ids (so JetStream does not drop them): both replicas consume the replay.
    nc = await nats.connect(env.stack.nats_url)
    js = nc.jetstream()
    try:
        sub = await js.subscribe("events.server.>", ordered_consumer=True)
        history = []
        while True:
            try:
                msg = await sub.next_msg(timeout=1.0)
            except nats.errors.TimeoutError:
                break
            ev = server_events_pb2.ServerEvent.FromString(msg.data)
            if ev.server_id in ids:
                history.append((msg.subject, ev))
        await sub.unsubscribe()
        assert len(history) == 3 * len(ids) + 3  # progress x2 + spawned each, 3 powered off
        for _ in range(2):
            for subject, ev in reversed(history):
                copy = server_events_pb2.ServerEvent()
                copy.CopyFrom(ev)
                copy.event_id = uuid.uuid4().hex
                await js.publish(
                    subject, copy.SerializeToString(), headers={"Nats-Msg-Id": copy.event_id}
                )
    finally:
        await nc.close()
    await eventually(lambda: event_stream_pending(env.stack.nats_url), lambda n: n == 0)
    after_0 = [await user.get(sid) for sid in ids]
    after_1 = [await user.on(1).get(sid) for sid in ids]
    assert snapshot(after_0) == snapshot(after_1) == snapshot(before)
    assert [s.revision for s in after_0] == [s.revision for s in before]  # nothing re-applied


async def test_an_api_crash_loses_no_create(env: Env) -> None:
    user = await env.stack.new_project_user(env.admin)
    doomed = env.stack.apis[0]
    s = await user.create_server("survivor", env.image_id, "tiny")
    await doomed.kill()  # SIGKILL right after the create returned: its outbox entry remains
    try:
        survivor = await user.on(1).wait(s.id, st.SERVER_STATE_ACTIVE, within=30)
        assert survivor.state == st.SERVER_STATE_ACTIVE
    finally:
        await doomed.start(60)  # same port, same settings


async def test_sigterm_drains_cleanly_with_an_open_watch(env: Env) -> None:
    user = await env.stack.new_project_user(env.admin)
    replica = env.stack.apis[1]
    watch = user.on(1).compute.WatchServers(servers_pb2.WatchServersRequest(), metadata=user.md)
    synced = await asyncio.wait_for(watch.read(), 10)
    assert synced.type == servers_pb2.SERVER_CHANGE_TYPE_SYNCED
    try:
        assert await replica.stop() == 0  # exit 0: drained and closed within the budget
        assert await asyncio.wait_for(watch.read(), 10) is grpc.aio.EOF
        assert await watch.code() == grpc.StatusCode.OK
    finally:
        await replica.start(60)


async def test_a_server_made_through_one_replica_is_listed_at_once_by_the_other(env: Env) -> None:
    # ListServers pages come from each replica's in-memory index, which checks it has applied
    # every committed change before answering (api.serverindex): no notification to wait for.
    user = await env.stack.new_project_user(env.admin)
    await set_quota(env.admin, user.project_id, 10)
    made: list[str] = []
    for i in range(4):
        made.append((await user.on(i % 2).create_server(f"l{i}", env.image_id, "tiny")).id)
        listed = await user.on((i + 1) % 2).compute.ListServers(
            servers_pb2.ListServersRequest(page_size=2), metadata=user.md
        )
        walked = [s.id for s in listed.servers]
        token = listed.next_page_token
        while token:
            listed = await user.on(i % 2).compute.ListServers(
                servers_pb2.ListServersRequest(page_size=2, page_token=token), metadata=user.md
            )
            walked += [s.id for s in listed.servers]
            token = listed.next_page_token
        assert walked == sorted(made)


async def test_a_kept_page_is_checked_with_either_replica_and_a_commit_moves_it_at_once(
    env: Env,
) -> None:
    # A client keeping a page (the OpenStack gateway does) asks GetServersRevision whether it
    # still stands: equal while nothing changed, moved at once by a commit through any replica.
    user = await env.stack.new_project_user(env.admin)
    await set_quota(env.admin, user.project_id, 10)
    await user.on(0).create_server("kept", env.image_id, "tiny")

    async def page_and_check() -> tuple[int, int]:
        page = await user.on(1).compute.ListServers(
            servers_pb2.ListServersRequest(page_size=5), metadata=user.md
        )
        now = await user.on(0).compute.GetServersRevision(
            servers_pb2.GetServersRevisionRequest(), metadata=user.md
        )
        return page.revision, now.revision

    # equal once the build's own changes (the fake agent's reports) have stopped coming
    kept, _ = await eventually(page_and_check, lambda r: r[0] > 0 and r[0] == r[1])
    await user.on(0).create_server("moves-it", env.image_id, "tiny")
    after = await user.on(1).compute.GetServersRevision(
        servers_pb2.GetServersRevisionRequest(), metadata=user.md
    )
    assert after.revision > kept
    filtered = await user.on(1).compute.ListServers(
        servers_pb2.ListServersRequest(page_size=5, name="kept"), metadata=user.md
    )
    assert [s.name for s in filtered.servers] == ["kept"] and filtered.revision == 0


def _patch(server_id: str, **patch: Any) -> servers_pb2.UpdateServerRequest:
    return servers_pb2.UpdateServerRequest(
        server=servers_pb2.Server(id=server_id),
        metadata_patch=servers_pb2.MetadataPatch(**patch),
    )


async def test_metadata_patches_at_once_through_both_replicas_all_apply(env: Env) -> None:
    """Each patch applies to the metadata as it stands in the api's transaction: 20 keys set
    and 2 removed at once, through either replica, all land (a whole-map write of what each
    writer read would keep one)."""
    user = await env.stack.new_project_user(env.admin)
    s = await user.create_server("meta", env.image_id, "tiny", metadata={"a": "1", "b": "2"})
    patches = [_patch(s.id, set={f"k{n}": str(n)}) for n in range(20)]
    patches += [_patch(s.id, remove=["a"]), _patch(s.id, remove=["b", "not-there"])]
    await asyncio.gather(
        *(user.on(n % 2).compute.UpdateServer(p, metadata=user.md) for n, p in enumerate(patches))
    )
    want = {f"k{n}": str(n) for n in range(20)}
    assert dict((await user.get(s.id)).metadata) == want
    # A replace keeps the keys it is told to keep; nothing changed is no new revision.
    replaced = await user.compute.UpdateServer(
        _patch(s.id, set={"x": "1"}, replace=True, keep=["k1", "gone"]), metadata=user.md
    )
    assert dict(replaced.server.metadata) == {"k1": "1", "x": "1"}
    again = await user.on(1).compute.UpdateServer(_patch(s.id, set={"x": "1"}), metadata=user.md)
    assert again.server.revision == replaced.server.revision
    renamed = await user.compute.UpdateServer(  # a rename with a patch: one update
        servers_pb2.UpdateServerRequest(
            server=servers_pb2.Server(id=s.id, name="meta2"),
            update_mask={"paths": ["name"]},
            metadata_patch=servers_pb2.MetadataPatch(remove=["x"]),
        ),
        metadata=user.md,
    )
    assert (renamed.server.name, dict(renamed.server.metadata)) == ("meta2", {"k1": "1"})
    bad = [
        (_patch(s.id, set={"y": "1"}, remove=["y"]), grpc.StatusCode.INVALID_ARGUMENT),
        (_patch(s.id, set={"": "1"}), grpc.StatusCode.INVALID_ARGUMENT),
        (_patch(s.id, set={f"n{n}": "" for n in range(128)}), grpc.StatusCode.RESOURCE_EXHAUSTED),
    ]
    both = _patch(s.id, set={"y": "1"})
    both.update_mask.paths.append("metadata")  # a whole map and a patch: one or the other
    bad.append((both, grpc.StatusCode.INVALID_ARGUMENT))
    for req, code in bad:
        with pytest.raises(grpc.aio.AioRpcError) as exc:
            await user.compute.UpdateServer(req, metadata=user.md)
        assert exc.value.code() == code, exc.value.details()
    assert dict((await user.get(s.id)).metadata) == {"k1": "1"}


async def test_metadata_writes_at_once_through_the_openstack_gateway_all_survive(env: Env) -> None:
    """The gateway's metadata API over this api: 20 items PUT at once, a merge and a delete
    beside them; every one is there after (the gateway sends patches, not the map it read)."""
    user = await env.stack.new_project_user(env.admin)
    s = await user.create_server("nova-meta", env.image_id, "tiny", metadata={"a": "1"})
    apis = Apis(env.stack.apis[0].address, "127.0.0.1:9", "127.0.0.1:9", timeout_s=30)
    h = {"X-Auth-Token": user.token}
    m = f"/compute/v2.1/servers/{s.id}/metadata"
    async with TestClient(TestServer(make_app(apis, OsapiSettings()))) as c:
        writes = [
            c.put(f"{m}/k{n}", json={"meta": {f"k{n}": str(n)}}, headers=h) for n in range(20)
        ]
        writes += [
            c.post(m, json={"metadata": {"m": "x"}}, headers=h),
            c.delete(f"{m}/a", headers=h),
        ]
        answers = await asyncio.gather(*writes)
        assert [r.status for r in answers] == [200] * 21 + [204]
        shown = await (await c.get(m, headers=h)).json()
    await apis.close()
    assert shown == {"metadata": {**{f"k{n}": str(n) for n in range(20)}, "m": "x"}}
