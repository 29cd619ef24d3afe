"""Inputs an attacker controls, through the real service: ids chosen on create, property keys,
undecodable messages, empty and inconsistent images, and what error messages may say."""

from __future__ import annotations

import uuid

import grpc
import pytest
from imagesvc_client import Service
from imagesvc_forge import Forge

from polyvisor.image.v1 import images_pb2 as pb


async def rpc_error(coro) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await coro
    return info.value


def project() -> str:
    return f"proj-{uuid.uuid4().hex[:8]}"


def no_internals(text: str, service: Service) -> None:
    """A message a client reads: no host path, no Python exception class, no traceback."""
    assert str(service.root) not in text
    assert "/tmp" not in text and "store/" not in text
    assert "Traceback" not in text and "<class" not in text and "Error:" not in text


async def test_another_projects_image_id_is_unavailable_not_already_existing(
    service: Service, forge: Forge
) -> None:
    owner, other = service.client(project()), service.client(project())
    private = await owner.create("raw", name="private")
    deleted = await owner.create("raw", name="deleted")
    await owner.delete(deleted.id)

    # Another project cannot tell a live private image from a deleted one, nor learn whose.
    answers = []
    for image_id in (private.id, deleted.id):
        err = await rpc_error(other.create("raw", id=image_id))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "unavailable" in err.details()
        answers.append(err.details().replace(image_id, "<id>"))
    assert answers[0] == answers[1]
    # Deleted ids are never reused, not even by their own project.
    err = await rpc_error(owner.create("raw", id=deleted.id))
    assert err.details().replace(deleted.id, "<id>") == answers[0]
    # The owner, who sees the image, is told plainly.
    err = await rpc_error(owner.create("raw", id=private.id))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    # A free id is created as asked.
    free = str(uuid.uuid4())
    assert (await other.create("raw", id=free)).id == free


@pytest.mark.parametrize("key", ["owner", "Owner", "STATUS", "os_hash_value", "Architecture"])
async def test_reserved_property_keys_refused_on_create_and_update(
    service: Service, key: str
) -> None:
    alice = service.client(project())
    err = await rpc_error(alice.create("raw", properties={key: "x"}))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert key in err.details()
    image = await alice.create("raw", properties={"os_distro": "debian"})
    image.properties[key] = "x"
    err = await rpc_error(alice.update(image, ["properties"]))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "x" not in (await alice.get(image.id)).properties.values()


async def test_undecodable_requests_are_invalid_argument(service: Service) -> None:
    alice = service.client(project())
    garbage = b"\xff\xff\xff\xff"
    unary = service.channel.unary_unary("/polyvisor.image.v1.ImageService/GetImage")
    err = await rpc_error(unary(garbage, metadata=alice.metadata))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    no_internals(err.details(), service)
    assert "DecodeError" not in err.details()

    image = await alice.create("raw")
    upload = service.channel.stream_unary("/polyvisor.image.v1.ImageService/UploadImage")

    async def messages():
        yield pb.UploadImageRequest(
            header=pb.UploadImageHeader(image_id=image.id)
        ).SerializeToString()
        yield garbage

    err = await rpc_error(upload(messages(), metadata=alice.metadata))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    no_internals(err.details(), service)
    # Nothing was wrong with the image: it may be uploaded again.
    assert (await alice.get(image.id)).status == pb.IMAGE_STATUS_QUEUED


async def test_zero_byte_image_refused(service: Service) -> None:
    alice = service.client(project())
    for disk_format in ("raw", "qcow2", "iso"):
        image = await alice.create(disk_format)
        err = await rpc_error(alice.upload(image.id, b""))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "rule empty-image" in err.details()
        assert (await alice.get(image.id)).status == pb.IMAGE_STATUS_KILLED


async def test_qcow2_refused_by_qemu_img_check(service: Service, forge: Forge) -> None:
    alice = service.client(project())
    image = await alice.create("qcow2")
    err = await rpc_error(alice.upload(image.id, forge.qcow2_corrupt_refcounts()))
    assert "rule qemu-img-check" in err.details()
    assert "corruptions" in err.details()
    killed = await alice.get(image.id)
    assert killed.status == pb.IMAGE_STATUS_KILLED
    assert not killed.renditions


async def test_qemu_img_errors_name_no_host_path(service: Service, forge: Forge) -> None:
    """qemu-img refuses a qcow2 the inspector let through (a refcount width it does not
    support); its message names the file it opened, a path in the store: never shown."""
    path = forge.qcow2_refcount_order(7)  # 128-bit refcounts
    alice = service.client(project())
    image = await alice.create("qcow2")
    err = await rpc_error(alice.upload(image.id, path))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "rule qemu-img-second-opinion" in err.details()
    no_internals(err.details(), service)
    killed = await alice.get(image.id)
    assert "qemu-img" in killed.status_message
    no_internals(killed.status_message, service)
