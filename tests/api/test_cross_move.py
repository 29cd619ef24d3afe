"""A move to another hypervisor type that fails on the destination, through the real api,
scheduler and image service with fake agents: a KVM host that answers its snapshot, a
vSphere host whose spawns fail. The server comes back to its KVM host as it was (ACTIVE,
started again), with the destination's fault; the claims are exact (nothing left on the
destination, no move claim); the transfer image is gone. And what cannot move is refused
before anything is made."""

from __future__ import annotations

import grpc
import pytest

from polyvisor.compute.v1 import flavors_pb2, hypervisors_pb2, servers_pb2
from polyvisor.image.v1 import images_pb2
from polyvisor.types.v1 import hypervisor_pb2
from polyvisor.types.v1 import server_status_pb2 as st
from tests.api.stack import Client, Stack, eventually, wait_hosts

KVM, VMW = "xm-kvm", "xm-vmw"


@pytest.fixture(scope="module")
async def admin(stack: Stack) -> Client:
    await stack.start_agent(KVM, snapshot="ok")
    await stack.start_agent(VMW, hypervisor_type="vmware", spawn="fail")
    admin = await stack.admin()
    await admin.compute.CreateFlavor(
        flavors_pb2.CreateFlavorRequest(
            flavor=flavors_pb2.Flavor(
                id="xm", name="xm", vcpus=1, ram_mb=512, disk_gb=1, is_public=True
            )
        ),
        metadata=admin.md,
    )
    await wait_hosts(admin, KVM, VMW)
    return admin


async def _used(c: Client, host: str) -> tuple[int, int]:
    h = (
        await c.compute.GetHypervisor(
            hypervisors_pb2.GetHypervisorRequest(hypervisor_id=host), metadata=c.md
        )
    ).hypervisor
    return h.used.vcpus, h.used.memory_mb


async def _transfer_images(c: Client) -> list[str]:
    assert c.images is not None
    resp = await c.images.ListImages(images_pb2.ListImagesRequest(), metadata=c.md)
    return [i.id for i in resp.images if "transfer_of" in i.properties]


async def test_a_spawn_that_fails_on_the_destination_brings_it_back(admin: Client) -> None:
    image = await admin.upload_image("xm-boot")
    s = await admin.create_server(
        "xm-1", image.id, "xm", scheduler_hints={"hypervisor_type": "kvm"}
    )
    s = await admin.wait(s.id, st.SERVER_STATE_ACTIVE)
    assert s.host == KVM
    before = (await _used(admin, KVM), await _used(admin, VMW))
    resp = await admin.compute.MigrateServer(
        servers_pb2.MigrateServerRequest(
            server_id=s.id, hypervisor_type=hypervisor_pb2.HYPERVISOR_TYPE_VMWARE
        ),
        metadata=admin.md,
    )
    assert resp.server.task == st.SERVER_TASK_RESIZE_PREP
    back = await eventually(
        lambda: admin.get(s.id),
        lambda x: x.task == st.SERVER_TASK_NONE and x.fault.message != "",
        within=60,
    )
    assert (back.id, back.host, back.hypervisor_type) == (
        s.id,
        KVM,
        hypervisor_pb2.HYPERVISOR_TYPE_KVM,
    )
    assert "spawning on the destination" in back.fault.message and back.fault.host == VMW
    back = await admin.wait(s.id, st.SERVER_STATE_ACTIVE)  # started again on its host
    assert back.power_state == hypervisor_pb2.POWER_STATE_RUNNING
    await eventually(lambda: _transfer_images(admin), lambda found: not found, within=30)
    after = await eventually(lambda: _used_both(admin), lambda u: u == before, within=30)
    assert after == before  # exact: the move's claim on the destination was given back


async def _used_both(c: Client) -> tuple[tuple[int, int], tuple[int, int]]:
    return await _used(c, KVM), await _used(c, VMW)


async def test_a_live_move_across_types_is_refused_before_anything_is_made(
    admin: Client,
) -> None:
    listed = await admin.compute.ListServers(servers_pb2.ListServersRequest(), metadata=admin.md)
    [s] = [x for x in listed.servers if x.name == "xm-1"]
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await admin.compute.MigrateServer(
            servers_pb2.MigrateServerRequest(
                server_id=s.id, live=True, hypervisor_type=hypervisor_pb2.HYPERVISOR_TYPE_VMWARE
            ),
            metadata=admin.md,
        )
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "cold" in (exc.value.details() or "")
    assert await _transfer_images(admin) == []
