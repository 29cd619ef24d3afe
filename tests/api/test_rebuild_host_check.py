"""Rebuild keeps the server on its host, so the new image is checked by the scheduler's image
filters against that host: refused with the scheduler's explanation (FAILED_PRECONDITION,
nothing started) when the host cannot run it, accepted otherwise."""

from __future__ import annotations

import grpc
import pytest

from polyvisor.compute.v1 import flavors_pb2, servers_pb2
from polyvisor.image.v1 import images_pb2
from polyvisor.types.v1 import hypervisor_pb2
from polyvisor.types.v1 import server_status_pb2 as st
from tests.api.stack import Stack, wait_hosts
from tests.api.test_lifecycle import HOSTS, Env


@pytest.fixture(scope="module")
async def env(stack: Stack) -> Env:
    agent = await stack.start_agent(*HOSTS)
    admin = await stack.admin()
    await admin.compute.CreateFlavor(
        flavors_pb2.CreateFlavorRequest(
            flavor=flavors_pb2.Flavor(
                id="small", name="small", vcpus=1, ram_mb=512, disk_gb=1, is_public=True
            )
        ),
        metadata=admin.md,
    )
    image = await admin.upload_image("boot", visibility=images_pb2.VISIBILITY_PUBLIC)
    member = await stack.new_project_user(admin, "member")
    await wait_hosts(admin, *HOSTS)
    return Env(stack, admin, member, agent, image.id)


@pytest.mark.parametrize(
    ("props", "reason"),
    [
        ({"architecture": "aarch64"}, "architecture"),
        ({"hypervisor_type": hypervisor_pb2.HYPERVISOR_TYPE_VMWARE}, "hypervisor_type"),
    ],
    ids=["arm-image", "vmware-image"],
)
async def test_a_rebuild_to_an_image_the_host_cannot_run_is_refused_with_why(
    env: Env, props: dict[str, object], reason: str
) -> None:
    c = env.member
    s = await c.wait((await c.create_server(f"rb-{reason}", env.image_id, "small")).id,
                     st.SERVER_STATE_ACTIVE)  # fmt: skip
    other = await c.upload_image(f"other-{reason}", **props)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await c.compute.RebuildServer(
            servers_pb2.RebuildServerRequest(server_id=s.id, image_id=other.id), metadata=c.md
        )
    assert exc.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    text = exc.value.details() or ""
    assert f"stays on {s.host}" in text and f"{s.host} cannot run image {other.id}" in text
    assert reason in text
    after = await c.get(s.id)
    assert (after.state, after.task, after.image_id) == (
        st.SERVER_STATE_ACTIVE,
        st.SERVER_TASK_NONE,
        env.image_id,
    )
    assert not [x for x in env.commands(s.id) if x["verb"] == "rebuild"]
    await c.compute.DeleteServer(servers_pb2.DeleteServerRequest(server_id=s.id), metadata=c.md)
    await c.wait(s.id, st.SERVER_STATE_DELETED)


async def test_a_rebuild_to_an_image_the_host_runs_starts(env: Env) -> None:
    c = env.member
    s = await c.wait((await c.create_server("rb-ok", env.image_id, "small")).id,
                     st.SERVER_STATE_ACTIVE)  # fmt: skip
    other = await c.upload_image("other-ok", architecture="x86_64")
    resp = await c.compute.RebuildServer(
        servers_pb2.RebuildServerRequest(server_id=s.id, image_id=other.id), metadata=c.md
    )
    assert resp.server.task == st.SERVER_TASK_REBUILDING
    await c.compute.DeleteServer(servers_pb2.DeleteServerRequest(server_id=s.id), metadata=c.md)
    await c.wait(s.id, st.SERVER_STATE_DELETED)
