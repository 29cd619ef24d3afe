"""A resize left in VERIFY_RESIZE past the confirm window
(`POLYVISOR_RESIZE_CONFIRM_WINDOW_S`) is confirmed on its own: the old host's claim is given
back and the server's claim is the destination's, exactly, as the scheduler counts them."""

from __future__ import annotations

import grpc
import pytest

from polyvisor.compute.v1 import flavors_pb2, servers_pb2
from polyvisor.image.v1 import images_pb2
from polyvisor.scheduling.v1 import scheduler_pb2, scheduler_service_pb2_grpc
from polyvisor.types.v1 import server_status_pb2 as st
from tests.api.stack import Stack, eventually, wait_hosts

HOSTS = ("ac-1", "ac-2")
WAIT_S = 120.0


@pytest.fixture(scope="module")
def api_settings() -> dict[str, str]:
    return {"POLYVISOR_RESIZE_CONFIRM_WINDOW_S": "2"}


async def test_an_unconfirmed_move_is_confirmed_when_its_window_passes(stack: Stack) -> None:
    await stack.start_agent(*HOSTS, vcpus="8")
    admin = await stack.admin()
    for fid, vcpus in (("a2", 2), ("a7", 7)):
        await admin.compute.CreateFlavor(
            flavors_pb2.CreateFlavorRequest(
                flavor=flavors_pb2.Flavor(
                    id=fid, name=fid, vcpus=vcpus, ram_mb=512, disk_gb=1, is_public=True
                )
            ),
            metadata=admin.md,
        )
    image = await admin.upload_image("boot", visibility=images_pb2.VISIBILITY_PUBLIC)
    c = await stack.new_project_user(admin, "member")
    await wait_hosts(admin, *HOSTS)
    assert stack.scheduler is not None
    channel = grpc.aio.insecure_channel(stack.scheduler.address)
    stack.channels.append(channel)
    sched = scheduler_service_pb2_grpc.SchedulerServiceStub(channel)

    async def claims(server_id: str) -> dict[str, tuple[str, int]]:
        out = {}
        for consumer in (server_id, f"{server_id}/move"):
            resp = await sched.ListAllocations(
                scheduler_pb2.ListAllocationsRequest(consumer_id=consumer), metadata=admin.md
            )
            out.update(
                {a.consumer_id: (a.provider_id, a.resources.vcpus) for a in resp.allocations}
            )
        return out

    async def used() -> dict[str, int]:
        out = {}
        for h in HOSTS:
            p = await sched.GetProvider(
                scheduler_pb2.GetProviderRequest(provider_id=h), metadata=admin.md
            )
            out[h] = p.provider.inventories[0].used
        return out

    s = await c.create_server("auto", image.id, "a2")
    s = await c.wait(s.id, st.SERVER_STATE_ACTIVE, within=WAIT_S)
    src = s.host
    dst = next(h for h in HOSTS if h != src)
    await c.compute.ResizeServer(
        servers_pb2.ResizeServerRequest(server_id=s.id, flavor_id="a7"), metadata=c.md
    )
    # VERIFY_RESIZE first (its window set), then ACTIVE with nobody confirming
    seen = await eventually(
        lambda: c.get(s.id),
        lambda x: (
            x.state == st.SERVER_STATE_VERIFY_RESIZE
            or (x.state == st.SERVER_STATE_ACTIVE and x.flavor.name == "a7")
        ),
        within=WAIT_S,
    )
    if seen.state == st.SERVER_STATE_VERIFY_RESIZE:
        assert seen.resize.HasField("auto_confirm_time") and seen.host == dst
    done = await eventually(
        lambda: c.get(s.id),
        lambda x: (
            x.state == st.SERVER_STATE_ACTIVE
            and x.task == st.SERVER_TASK_NONE
            and x.flavor.name == "a7"
        ),
        within=WAIT_S,
    )
    assert done.host == dst and not done.HasField("resize")
    await eventually(lambda: claims(s.id), lambda got: got == {s.id: (dst, 7)}, within=WAIT_S)
    await eventually(used, lambda got: got == {src: 0, dst: 7}, within=WAIT_S)
    await c.compute.DeleteServer(servers_pb2.DeleteServerRequest(server_id=s.id), metadata=c.md)
    await c.wait(s.id, st.SERVER_STATE_DELETED, within=WAIT_S)
    await eventually(used, lambda got: got == {src: 0, dst: 0}, within=WAIT_S)
