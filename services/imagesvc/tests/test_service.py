"""The image service over real gRPC, PostgreSQL, NATS, qemu-img and a filesystem store."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import uuid
from pathlib import Path

import grpc
import pytest
from imagesvc_client import Client, Service
from imagesvc_forge import Forge

from polyvisor.common.bus.client import Bus
from polyvisor.common.interceptors import error_details
from polyvisor.image.v1 import images_pb2 as pb
from polyvisor.types.v1 import disk_pb2, hypervisor_pb2
from tests.support.auth import grant_image

STREAM_OPTIMIZED = disk_pb2.VMWARE_DISK_TYPE_STREAM_OPTIMIZED


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def wait_status(client: Client, image_id: str, status: int, within: float = 10.0) -> pb.Image:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        image = await client.get(image_id)
        if image.status == status or loop.time() > deadline:
            return image
        await asyncio.sleep(0.05)


async def rpc_error(coro) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await coro
    return info.value


# --------------------------------------------------------------------------- upload/download


async def test_upload_then_download_returns_identical_bytes(service: Service, forge: Forge) -> None:
    alice = service.client("alice")
    for disk_format, path in (
        ("raw", forge.raw(3 * 1024 * 1024 + 17)),
        ("qcow2", forge.qcow2()),
        ("vmdk", forge.vmdk("monolithicSparse")),
        ("iso", forge.iso()),
    ):
        data = path.read_bytes()
        image = await alice.create(disk_format, name=f"{disk_format} image")
        assert image.status == pb.IMAGE_STATUS_QUEUED
        active = await alice.upload(image.id, data, size=len(data), sha256=sha256(data))
        assert active.status == pb.IMAGE_STATUS_ACTIVE
        assert (active.size, active.os_hash_algo, active.os_hash_value) == (
            len(data),
            "sha256",
            sha256(data),
        )
        got = await alice.download(image.id)
        assert got.data == data
        assert (got.metadata.size, got.metadata.sha256) == (len(data), sha256(data))
        assert got.metadata.rendition.original
        assert service.stray_temp_files() == []
        if disk_format == "vmdk":  # the sub-format found is recorded
            assert active.vmware_disktype == disk_pb2.VMWARE_DISK_TYPE_SPARSE


async def test_vmdk_subformat_must_match_the_declared_disktype(
    service: Service, forge: Forge
) -> None:
    alice = service.client("alice")
    image = await alice.create("vmdk", vmware_disktype=disk_pb2.VMWARE_DISK_TYPE_SPARSE)
    err = await rpc_error(alice.upload(image.id, forge.vmdk("streamOptimized")))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "rule vmware-disktype" in err.details()
    err = await rpc_error(
        alice.create("vmdk", vmware_disktype=disk_pb2.VMWARE_DISK_TYPE_PREALLOCATED)
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_download_resumes_at_an_offset(service: Service, forge: Forge) -> None:
    alice = service.client("alice")
    data = forge.raw(2 * 1024 * 1024 + 5).read_bytes()
    image = await alice.create("raw")
    await alice.upload(image.id, data)
    offset = 1024 * 1024 + 3
    got = await alice.download(image.id, offset=offset)
    assert got.data == data[offset:]
    assert (got.metadata.offset, got.metadata.size, got.metadata.sha256) == (
        offset,
        len(data),
        sha256(data),
    )
    assert (await alice.download(image.id, offset=len(data))).data == b""
    err = await rpc_error(alice.download(image.id, offset=len(data) + 1))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_interrupted_upload_leaves_no_active_image_and_no_files(
    service: Service, forge: Forge
) -> None:
    alice = service.client("alice")
    data = forge.raw(8 * 1024 * 1024).read_bytes()
    image = await alice.create("raw")
    sent = asyncio.Event()

    async def half_then_stall():
        async for message in alice.requests(image.id, data[: 3 * 1024 * 1024], size=len(data)):
            yield message
        sent.set()
        await asyncio.Event().wait()  # never finishes: the client goes away instead

    call = alice.stub.UploadImage(half_then_stall(), metadata=alice.metadata)
    await sent.wait()
    saving = await wait_status(alice, image.id, pb.IMAGE_STATUS_SAVING)
    assert saving.status == pb.IMAGE_STATUS_SAVING
    await asyncio.sleep(0.2)  # let the server write what it received
    call.cancel()
    back = await wait_status(alice, image.id, pb.IMAGE_STATUS_QUEUED)
    assert back.status == pb.IMAGE_STATUS_QUEUED
    assert back.size == 0 and not back.renditions
    assert service.stray_temp_files() == []
    assert service.image_files(image.id) == []
    # ... and the image takes a complete upload afterwards.
    assert (await alice.upload(image.id, data)).status == pb.IMAGE_STATUS_ACTIVE


async def test_short_or_long_upload_leaves_no_files(service: Service, forge: Forge) -> None:
    alice = service.client("alice")
    data = forge.raw(2 * 1024 * 1024).read_bytes()
    image = await alice.create("raw")
    # Fewer bytes than announced: an interrupted stream, the image is queued again.
    err = await rpc_error(alice.upload(image.id, data[:1000], size=len(data)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "interrupted" in err.details()
    queued = await alice.get(image.id)
    assert queued.status == pb.IMAGE_STATUS_QUEUED
    assert service.stray_temp_files() == []
    assert service.image_files(image.id) == []
    # More bytes than announced: refused, the image is killed.
    err = await rpc_error(alice.upload(image.id, data, size=1000))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "rule size" in err.details()
    killed = await alice.get(image.id)
    assert killed.status == pb.IMAGE_STATUS_KILLED
    assert "announced" in killed.status_message
    assert service.stray_temp_files() == []
    bad_sum = await alice.create("raw")
    err = await rpc_error(alice.upload(bad_sum.id, data, sha256="0" * 64))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "rule checksum" in err.details()


async def test_upload_only_from_queued_and_one_at_a_time(service: Service, forge: Forge) -> None:
    alice = service.client("alice")
    data = forge.raw(2 * 1024 * 1024).read_bytes()
    image = await alice.create("raw")
    release = asyncio.Event()

    async def slow():
        async for message in alice.requests(image.id, data):
            yield message
            await release.wait()

    first = asyncio.ensure_future(alice.stub.UploadImage(slow(), metadata=alice.metadata))
    assert (await wait_status(alice, image.id, pb.IMAGE_STATUS_SAVING)).status == (
        pb.IMAGE_STATUS_SAVING
    )
    err = await rpc_error(alice.upload(image.id, data))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "another upload" in err.details()
    release.set()
    assert (await first).image.status == pb.IMAGE_STATUS_ACTIVE
    err = await rpc_error(alice.upload(image.id, data))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "only while queued" in err.details()


# --------------------------------------------------------------------------- malicious images


MALICIOUS = [
    ("qcow2", "qcow2_backing_file", "qcow2-backing-file"),
    ("qcow2", "qcow2_backing_passwd", "qcow2-backing-file"),
    ("qcow2", "qcow2_data_file", "qcow2-data-file"),
    ("qcow2", "qcow2_data_extension_only", "qcow2-data-file"),
    ("qcow2", "qcow2_unknown_feature", "qcow2-unknown-incompatible-features"),
    ("vmdk", "vmdk_flat", "vmdk-create-type"),
    ("vmdk", "vmdk_two_gb", "vmdk-create-type"),
    ("vmdk", "vmdk_descriptor_naming", "vmdk-extent"),
    ("vmdk", "vmdk_zero_capacity_naming", "vmdk-header"),
    ("raw", "raw_that_is_qcow2", "format-mismatch"),
    ("qcow2", "qcow2_and_iso", "ambiguous-format"),
    ("qcow2", "qcow2_bomb", "virtual-size-limit"),
]


def build(forge: Forge, name: str) -> Path:
    if name == "vmdk_flat":
        return forge.vmdk_descriptor("monolithicFlat")
    if name == "vmdk_two_gb":
        return forge.vmdk_descriptor("twoGbMaxExtentSparse")
    return getattr(forge, name)()


@pytest.mark.parametrize(("declared", "builder", "rule"), MALICIOUS)
async def test_malicious_image_is_refused_naming_the_rule(
    service: Service, forge: Forge, declared: str, builder: str, rule: str
) -> None:
    alice = service.client("alice")
    data = build(forge, builder).read_bytes()
    image = await alice.create(declared)
    err = await rpc_error(alice.upload(image.id, data))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"rule {rule}" in err.details()
    killed = await alice.get(image.id)
    assert killed.status == pb.IMAGE_STATUS_KILLED
    assert f"rule {rule}" in killed.status_message
    assert not killed.renditions
    assert service.stray_temp_files() == []
    assert service.image_files(image.id) == []
    if builder == "vmdk_descriptor_naming":
        assert "/etc/passwd" in killed.status_message


# --------------------------------------------------------------------------- renditions


def qemu_info(path: Path) -> dict:
    out = subprocess.run(
        ["qemu-img", "info", "--output=json", "-f", "vmdk", str(path)],
        check=True,
        capture_output=True,
    )
    return json.loads(out.stdout)


async def test_qcow2_downloaded_as_stream_optimized_vmdk(
    service: Service, forge: Forge, tmp_path: Path
) -> None:
    alice = service.client("alice")
    source = forge.qcow2(size=4 * 1024 * 1024)
    image = await alice.create("qcow2", vmware_adaptertype=disk_pb2.VMWARE_ADAPTER_TYPE_LSI_LOGIC)
    active = await alice.upload(image.id, source)
    got = await alice.download(image.id, "vmdk", STREAM_OPTIMIZED)
    assert got.metadata.rendition.disk_format == disk_pb2.DISK_FORMAT_VMDK
    assert got.metadata.rendition.vmware_disktype == STREAM_OPTIMIZED
    assert not got.metadata.rendition.original
    assert (got.metadata.size, got.metadata.sha256) == (len(got.data), got.sha256)
    out = tmp_path / "out.vmdk"
    out.write_bytes(got.data)
    info = qemu_info(out)
    assert info["format"] == "vmdk"
    assert info["format-specific"]["data"]["create-type"] == "streamOptimized"
    assert info["virtual-size"] == active.virtual_size == 4 * 1024 * 1024
    # Same guest bytes as the original.
    await asyncio.to_thread(
        subprocess.run,
        ["qemu-img", "compare", "-f", "qcow2", "-F", "vmdk", str(source), str(out)],
        check=True,
        capture_output=True,
    )
    renditions = (await alice.get(image.id)).renditions
    vmdk = [r for r in renditions if r.disk_format == disk_pb2.DISK_FORMAT_VMDK]
    assert len(vmdk) == 1 and vmdk[0].status == pb.RENDITION_STATUS_ACTIVE
    assert vmdk[0].sha256 == got.sha256


async def test_five_concurrent_downloads_run_qemu_img_once(service: Service, forge: Forge) -> None:
    alice = service.client("alice")
    image = await alice.create("qcow2")
    await alice.upload(image.id, forge.qcow2(size=16 * 1024 * 1024))
    before = service.conversions()
    results = await asyncio.gather(
        *(alice.download(image.id, "vmdk", STREAM_OPTIMIZED) for _ in range(5))
    )
    assert service.conversions() - before == 1
    assert len({r.sha256 for r in results}) == 1
    assert all(r.metadata.sha256 == r.sha256 for r in results)
    # Served from the stored rendition from now on.
    await alice.download(image.id, "vmdk", STREAM_OPTIMIZED)
    assert service.conversions() - before == 1


async def test_raw_qcow2_and_back_and_list_renditions(service: Service, forge: Forge) -> None:
    alice = service.client("alice")
    raw = forge.raw(2 * 1024 * 1024).read_bytes()
    image = await alice.create("raw")
    await alice.upload(image.id, raw)
    qcow2 = await alice.download(image.id, "qcow2")
    assert qcow2.data[:4] == b"QFI\xfb"
    sparse = await alice.download(image.id, "vmdk", disk_pb2.VMWARE_DISK_TYPE_SPARSE)
    assert sparse.data[:4] == b"KDMV"
    listed = await alice.stub.ListRenditions(
        pb.ListRenditionsRequest(image_id=image.id), metadata=alice.metadata
    )
    kinds = {(r.disk_format, r.vmware_disktype, r.status, r.original) for r in listed.renditions}
    assert kinds == {
        (disk_pb2.DISK_FORMAT_RAW, 0, pb.RENDITION_STATUS_ACTIVE, True),
        (disk_pb2.DISK_FORMAT_QCOW2, 0, pb.RENDITION_STATUS_ACTIVE, False),
        (
            disk_pb2.DISK_FORMAT_VMDK,
            disk_pb2.VMWARE_DISK_TYPE_SPARSE,
            pb.RENDITION_STATUS_ACTIVE,
            False,
        ),
    }
    # A qcow2 image converted back to raw gives the same bytes.
    q = await alice.create("qcow2")
    await alice.upload(q.id, qcow2.data)
    assert (await alice.download(q.id, "raw")).data == raw
    err = await rpc_error(alice.download(image.id, "vmdk", disk_pb2.VMWARE_DISK_TYPE_PREALLOCATED))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    created = await alice.stub.CreateRendition(
        pb.CreateRenditionRequest(image_id=image.id, disk_format=disk_pb2.DISK_FORMAT_QCOW2),
        metadata=alice.metadata,
    )
    assert created.rendition.status == pb.RENDITION_STATUS_ACTIVE


# --------------------------------------------------------------------------- delete


async def test_delete_during_download_does_not_corrupt_the_stream(
    service: Service, forge: Forge
) -> None:
    alice = service.client("alice")
    data = forge.raw(24 * 1024 * 1024).read_bytes()
    image = await alice.create("raw")
    await alice.upload(image.id, data)
    await alice.download(image.id, "qcow2")  # a second rendition, deleted too
    assert len(service.image_files(image.id)) == 2
    call = alice.stub.DownloadImage(
        pb.DownloadImageRequest(image_id=image.id), metadata=alice.metadata
    )
    first = await call.read()
    assert first.metadata.sha256 == sha256(data)
    parts = [(await call.read()).chunk]
    await alice.delete(image.id)
    assert service.image_files(image.id) == []
    # The stream still reads the unlinked file through its open descriptor.
    open_deleted = _open_files_under(service.store_dir / "images" / image.id)
    assert open_deleted and all(t.endswith("(deleted)") for t in open_deleted)
    while (message := await call.read()) is not grpc.aio.EOF:
        parts.append(message.chunk)
    assert sha256(b"".join(parts)) == sha256(data)
    err = await rpc_error(alice.get(image.id))
    assert err.code() == grpc.StatusCode.NOT_FOUND


def _open_files_under(directory: Path) -> list[str]:
    """What this process (the in-process service) has open under `directory`."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(directory)):
            found.append(target)
    return found


async def test_protected_image_refuses_deletion(service: Service, forge: Forge) -> None:
    alice = service.client("alice")
    image = await alice.create("raw", protected=True)
    err = await rpc_error(alice.delete(image.id))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "protected" in err.details()
    image.protected = False
    await alice.update(image, ["protected"])
    await alice.delete(image.id)
    assert (await rpc_error(alice.get(image.id))).code() == grpc.StatusCode.NOT_FOUND


# --------------------------------------------------------------------------- access


async def test_visibility_rules_hold_across_projects(service: Service, forge: Forge) -> None:
    p1, p2, p3 = (f"proj-{uuid.uuid4().hex[:6]}" for _ in range(3))
    owner = service.client(p1)
    other = service.client(p2)
    friend = service.client(p3)
    reader = service.client(p1, roles=("reader",))
    admin = service.client("admin-project", roles=("admin",))
    agent = service.client("kvm-1", roles=(), kind="agent")
    data = forge.raw(1024 * 1024).read_bytes()

    private = await owner.create("raw", name="private")
    await owner.upload(private.id, data)
    shared = await owner.create(
        "raw", name="shared", visibility=pb.VISIBILITY_SHARED, shared_with=[p3]
    )
    public = await admin.create("raw", name="public", visibility=pb.VISIBILITY_PUBLIC)

    # Only an admin makes an image public.
    err = await rpc_error(owner.create("raw", visibility=pb.VISIBILITY_PUBLIC))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED

    # Private: the owner project (any role), admin and agents; nobody else even sees it.
    assert (await reader.get(private.id)).id == private.id
    assert (await admin.get(private.id)).id == private.id
    # An agent only once the api granted its host the image (before a spawn).
    err = await rpc_error(agent.download(private.id))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    bus = await Bus.connect(service.settings.nats_url, name="grants")
    try:
        await grant_image(bus, "kvm-1", private.id)
    finally:
        await bus.close()
    assert (await agent.download(private.id)).data == data
    assert (await rpc_error(agent.get(public.id))).code() == grpc.StatusCode.NOT_FOUND
    for c in (other, friend):
        assert (await rpc_error(c.get(private.id))).code() == grpc.StatusCode.NOT_FOUND
        assert (await rpc_error(c.download(private.id))).code() == grpc.StatusCode.NOT_FOUND
        assert (await rpc_error(c.delete(private.id))).code() == grpc.StatusCode.NOT_FOUND

    # Shared: the listed project sees it, another does not.
    assert (await friend.get(shared.id)).id == shared.id
    assert (await rpc_error(other.get(shared.id))).code() == grpc.StatusCode.NOT_FOUND

    # Public: everyone sees it; only the owner (or admin) changes it.
    assert (await other.get(public.id)).id == public.id
    public.name = "renamed"
    err = await rpc_error(other.update(public, ["name"]))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await rpc_error(other.delete(public.id))).code() == grpc.StatusCode.PERMISSION_DENIED

    # A reader of the owner project changes nothing.
    private.name = "renamed"
    err = await rpc_error(reader.update(private, ["name"]))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await rpc_error(reader.delete(private.id))).code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await rpc_error(reader.create("raw"))).code() == grpc.StatusCode.PERMISSION_DENIED
    # Agents read everything but change nothing.
    assert (await rpc_error(agent.delete(private.id))).code() == grpc.StatusCode.PERMISSION_DENIED

    def ids(images):
        return {i.id for i in images}

    mine = {private.id, shared.id, public.id}
    assert ids(await owner.list()) >= mine
    assert private.id not in ids(await other.list()) and public.id in ids(await other.list())
    assert shared.id in ids(await friend.list()) and private.id not in ids(await friend.list())
    assert private.id not in ids(await admin.list())  # its own project's view...
    assert mine <= ids(await admin.list(all_projects=True))  # ...or everything
    err = await rpc_error(other.list(all_projects=True))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED

    # Un-sharing takes the friend's view away.
    shared.visibility = pb.VISIBILITY_PRIVATE
    await owner.update(shared, ["visibility"])
    assert (await rpc_error(friend.get(shared.id))).code() == grpc.StatusCode.NOT_FOUND

    # No token, no service.
    err = await rpc_error(owner.stub.GetImage(pb.GetImageRequest(image_id=private.id)))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_list_pages_and_filters(service: Service) -> None:
    project = f"proj-{uuid.uuid4().hex[:6]}"
    c = service.client(project)
    made = [(await c.create("qcow2" if i % 2 else "raw", name=f"img-{i}")).id for i in range(5)]
    seen: list[str] = []
    token = ""
    while True:
        resp = await c.stub.ListImages(
            pb.ListImagesRequest(page_size=2, page_token=token, owner=project),
            metadata=c.metadata,
        )
        seen += [i.id for i in resp.images]
        token = resp.next_page_token
        if not token:
            break
    assert seen == made
    qcow2 = await c.list(owner=project, disk_format=disk_pb2.DISK_FORMAT_QCOW2)
    assert [i.id for i in qcow2] == [made[1], made[3]]
    err = await rpc_error(c.list(page_token="garbage!"))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


# --------------------------------------------------------------------------- validation


async def test_unknown_property_values_name_the_property_and_the_allowed_values(
    service: Service,
) -> None:
    alice = service.client("alice")
    err = await rpc_error(alice.create("raw", hypervisor_type=99))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "hypervisor_type" in err.details() and "kvm" in err.details()
    assert error_details(err.trailing_metadata())["property"] == "hypervisor_type"
    err = await rpc_error(alice.create("raw", architecture="pdp11"))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "architecture" in err.details() and "x86_64" in err.details()
    err = await rpc_error(alice.create("raw", properties={"hypervisor_type": "kvm"}))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    err = await rpc_error(alice.create(disk_format="raw", vmware_adaptertype=42))
    assert "vmware_adaptertype" in err.details() and "lsiLogic" in err.details()
    err = await rpc_error(
        alice.stub.CreateImage(pb.CreateImageRequest(image=pb.Image()), metadata=alice.metadata)
    )
    assert "disk_format" in err.details() and "qcow2" in err.details()

    image = await alice.create(
        "raw", architecture="amd64", hypervisor_type=hypervisor_pb2.HYPERVISOR_TYPE_KVM
    )
    assert image.architecture == "x86_64"  # normalised
    image.vm_mode = "bogus"
    err = await rpc_error(alice.update(image, ["vm_mode"]))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "vm_mode" in err.details() and "hvm" in err.details()
    err = await rpc_error(alice.update(image, ["status"]))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    image.properties["os_distro"] = "debian"
    image.vm_mode = "hvm"
    updated = await alice.update(image, ["properties", "vm_mode"])
    assert dict(updated.properties) == {"os_distro": "debian"} and updated.vm_mode == "hvm"


async def test_request_id_makes_create_idempotent(service: Service) -> None:
    alice = service.client("alice")
    request = pb.CreateImageRequest(
        request_id=uuid.uuid4().hex, image=pb.Image(disk_format=disk_pb2.DISK_FORMAT_RAW)
    )
    a = await alice.stub.CreateImage(request, metadata=alice.metadata)
    b = await alice.stub.CreateImage(request, metadata=alice.metadata)
    assert a.image.id == b.image.id
