"""A snapshot that never completes leaves no image behind in a state that promises one: with
fake agents that never answer a snapshot (as a host that died in the middle of one), the
deadlines retry it with the same image, then give up: the server is back where it was with a
TIMEOUT fault and the image is KILLED with the reason, never left QUEUED."""

from __future__ import annotations

import pytest

from polyvisor.compute.v1 import servers_pb2
from polyvisor.image.v1 import images_pb2
from polyvisor.types.v1 import disk_pb2, fault_pb2
from polyvisor.types.v1 import server_status_pb2 as st
from tests.api.stack import Client, Stack, eventually, wait_hosts
from tests.api.test_lifecycle import HOSTS, Env

MAX_COMMAND_ATTEMPTS = 2


@pytest.fixture(scope="module")
def api_settings() -> dict[str, str]:
    return {
        "POLYVISOR_BUILD_TIMEOUT_S": "6",
        "POLYVISOR_SNAPSHOT_TIMEOUT_S": "1.5",
        "POLYVISOR_MAX_COMMAND_ATTEMPTS": str(MAX_COMMAND_ATTEMPTS),
    }


@pytest.fixture(scope="module")
async def env(stack: Stack) -> Env:
    from polyvisor.compute.v1 import flavors_pb2

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


async def _image(c: Client, image_id: str) -> images_pb2.Image:
    assert c.images is not None
    resp = await c.images.GetImage(images_pb2.GetImageRequest(image_id=image_id), metadata=c.md)
    return resp.image


@pytest.mark.parametrize("shelve", [False, True], ids=["image-create", "shelve"])
async def test_a_snapshot_that_never_completes_kills_its_image(env: Env, shelve: bool) -> None:
    c = env.member
    name = "shelve-deaf" if shelve else "snap-deaf"
    s = await c.wait(
        (await c.create_server(name, env.image_id, "small")).id, st.SERVER_STATE_ACTIVE
    )
    if shelve:
        resp = await c.compute.ShelveServer(
            servers_pb2.ShelveServerRequest(server_id=s.id), metadata=c.md
        )
        image_id = resp.image_id
    else:
        image_id = (
            await c.compute.CreateServerImage(
                servers_pb2.CreateServerImageRequest(server_id=s.id, name=f"{name}-img"),
                metadata=c.md,
            )
        ).image_id
    assert (await _image(c, image_id)).status == images_pb2.IMAGE_STATUS_QUEUED
    after = await c.wait(s.id, st.SERVER_STATE_ACTIVE, st.SERVER_STATE_SHELVED_OFFLOADED)
    assert after.state == st.SERVER_STATE_ACTIVE and after.host == s.host
    assert after.fault.code == fault_pb2.FAULT_CODE_TIMEOUT
    snaps = [x for x in env.commands(s.id) if x["verb"] == "snapshot"]
    assert len(snaps) == MAX_COMMAND_ATTEMPTS
    # The kill passes through SAVING (the image service claims the upload, then kills it):
    # wait for the end of it, not for the first change.
    image = await eventually(
        lambda: _image(c, image_id),
        lambda i: i.status not in (images_pb2.IMAGE_STATUS_QUEUED, images_pb2.IMAGE_STATUS_SAVING),
    )
    assert image.status == images_pb2.IMAGE_STATUS_KILLED
    assert "did not complete" in image.status_message
    await c.compute.DeleteServer(servers_pb2.DeleteServerRequest(server_id=s.id), metadata=c.md)
    await c.wait(s.id, st.SERVER_STATE_DELETED)


async def test_the_api_kills_no_image_but_a_snapshot(env: Env) -> None:
    """The api's identity may kill snapshot images only: the image service refuses it any
    other image."""
    import grpc

    from polyvisor.common.auth import API_IDENTITY, KIND_SERVICE, TokenSigner

    signer = TokenSigner.from_file(env.stack.private_key)
    token, _ = signer.issue(
        user_id=API_IDENTITY, project_id="", roles=(), username=API_IDENTITY, kind=KIND_SERVICE
    )
    c = env.member
    assert c.images is not None

    async def kill() -> None:
        header = images_pb2.UploadImageHeader(image_id=env.image_id, failure="no")

        async def reqs():  # type: ignore[no-untyped-def]
            yield images_pb2.UploadImageRequest(header=header)

        await c.images.UploadImage(reqs(), metadata=(("authorization", f"Bearer {token}"),))

    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await kill()
    assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await _image(c, env.image_id)).status == images_pb2.IMAGE_STATUS_ACTIVE


async def test_the_api_deletes_no_image_but_a_transfer_image(env: Env) -> None:
    """The api's identity may delete the images that carried a disk across hypervisor types
    (a snapshot naming the server in `transfer_of`) and no other."""
    import grpc

    from polyvisor.common.auth import API_IDENTITY, KIND_SERVICE, TokenSigner

    signer = TokenSigner.from_file(env.stack.private_key)
    token, _ = signer.issue(
        user_id=API_IDENTITY, project_id="", roles=(), username=API_IDENTITY, kind=KIND_SERVICE
    )
    c = env.member
    assert c.images is not None
    as_api = (("authorization", f"Bearer {token}"),)
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await c.images.DeleteImage(
            images_pb2.DeleteImageRequest(image_id=env.image_id), metadata=as_api
        )
    assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await _image(c, env.image_id)).status == images_pb2.IMAGE_STATUS_ACTIVE
    made = await c.images.CreateImage(
        images_pb2.CreateImageRequest(
            image=images_pb2.Image(
                name="move of vm",
                disk_format=disk_pb2.DISK_FORMAT_QCOW2,
                properties={"image_type": "snapshot", "transfer_of": "s-1"},
            )
        ),
        metadata=c.md,
    )
    await c.images.DeleteImage(
        images_pb2.DeleteImageRequest(image_id=made.image.id), metadata=as_api
    )
    with pytest.raises(grpc.aio.AioRpcError) as exc:
        await _image(c, made.image.id)
    assert exc.value.code() == grpc.StatusCode.NOT_FOUND
