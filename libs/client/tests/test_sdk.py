"""The async SDK against the fake cloud: tokens, errors, waiting, paging, streaming."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import grpc
import pytest

from libs.client.tests.fake_cloud import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    API_KEY,
    PROJECT,
    FakeCloud,
    FakeEndpoints,
    MiB,
)
from polyvisor.client import AsyncClient
from polyvisor.client.config import ClientConfig, Credentials
from polyvisor.client.errors import (
    ConfigError,
    InvalidArgument,
    InvalidValue,
    NotFound,
    ServerFault,
    Unauthenticated,
    WaitTimeout,
)
from polyvisor.client.images import MAX_CHUNK, apply_properties
from polyvisor.image.v1 import images_pb2
from polyvisor.types.v1 import disk_pb2, fault_pb2, hypervisor_pb2, server_status_pb2

S = server_status_pb2


def client_for(fake: FakeEndpoints, **kwargs) -> AsyncClient:
    kwargs.setdefault("username", ADMIN_USER)
    kwargs.setdefault("password", ADMIN_PASSWORD)
    kwargs.setdefault("project", PROJECT)
    kwargs.setdefault("use_config_file", False)
    kwargs.setdefault("poll_interval", 0.02)
    return AsyncClient(api_url=fake.api_url, image_url=fake.image_url, **kwargs)


async def upload_image(
    client: AsyncClient, tmp_path: Path, name: str = "cirros", size: int = 4096
) -> images_pb2.Image:
    path = tmp_path / f"{name}.qcow2"
    path.write_bytes(os.urandom(size))
    return await client.images.create_from_file(name, path, disk_format="qcow2")


# ---------------------------------------------------------------------- tokens


async def test_every_call_carries_the_bearer_token_and_authenticates_once(
    fake: FakeEndpoints,
) -> None:
    async with client_for(fake) as client:
        await client.flavors.list()
        await client.quotas.get()
        await client.images.list()
    cloud = fake.cloud
    assert cloud.auth_count == 1
    assert [m for m, _ in cloud.calls] == ["ListFlavors", "GetQuota", "ListImages"]
    tokens = {md["authorization"] for md in cloud.metadata_seen}
    assert len(tokens) == 1 and next(iter(tokens)).startswith("Bearer tok-1-")


async def test_api_key_authenticates(fake: FakeEndpoints) -> None:
    async with client_for(fake, username=None, password=None, project=None, api_key=API_KEY) as c:
        token = await c.authenticate()
        assert token.user == ADMIN_USER and token.project == PROJECT and token.roles == ("admin",)


async def test_token_is_cached_in_the_config_file_and_reused(
    fake: FakeEndpoints, isolated_env: Path
) -> None:
    ClientConfig(
        credentials=Credentials(username=ADMIN_USER, password=ADMIN_PASSWORD, project=PROJECT),
        path=isolated_env,
    ).save()
    async with AsyncClient(api_url=fake.api_url, image_url=fake.image_url) as c:
        await c.flavors.list()
    saved = ClientConfig.load(isolated_env)
    assert saved.token is not None and saved.token.valid()
    assert saved.credentials.username == ADMIN_USER  # credentials kept beside the token
    async with AsyncClient(api_url=fake.api_url, image_url=fake.image_url) as c:
        await c.flavors.list()
    assert fake.cloud.auth_count == 1  # the second client used the saved token


async def test_expired_token_is_renewed_before_the_call(
    fake: FakeEndpoints, isolated_env: Path
) -> None:
    fake.cloud.token_ttl = 10.0  # inside the client's 30 s renewal margin: never "valid"
    async with client_for(fake) as c:
        await c.flavors.list()
        await c.flavors.list()
    assert fake.cloud.auth_count == 2


async def test_revoked_token_is_replaced_and_the_call_retried_once(fake: FakeEndpoints) -> None:
    async with client_for(fake) as c:
        await c.flavors.list()
        fake.cloud.revoke_all()
        flavors = await c.flavors.list()
    assert [f.name for f in flavors] == ["m1.small", "m1.large", "m1.huge"]
    assert fake.cloud.auth_count == 2


async def test_a_bare_token_that_is_refused_is_an_unauthenticated_error(
    fake: FakeEndpoints,
) -> None:
    async with client_for(fake, username=None, password=None, project=None, token="forged") as c:
        with pytest.raises(Unauthenticated) as e:
            await c.flavors.list()
    assert e.value.code == grpc.StatusCode.UNAUTHENTICATED
    assert fake.cloud.auth_count == 0


async def test_no_credentials_is_a_config_error(fake: FakeEndpoints) -> None:
    async with client_for(fake, username=None, password=None, project=None) as c:
        with pytest.raises(ConfigError, match="polyvisor login"):
            await c.flavors.list()


async def test_wrong_password_is_unauthenticated(fake: FakeEndpoints) -> None:
    async with client_for(fake, password="nope") as c:
        with pytest.raises(Unauthenticated, match="invalid user name"):
            await c.authenticate()


# ---------------------------------------------------------------------- errors


async def test_errors_carry_status_message_details_and_request_id(fake: FakeEndpoints) -> None:
    async with client_for(fake) as c:
        with pytest.raises(NotFound) as e:
            await c.images.get("0b7c0cde-0000-4000-8000-000000000000")
        err = e.value
        assert err.code == grpc.StatusCode.NOT_FOUND
        assert "not found" in err.message
        assert err.details == {"image_id": "0b7c0cde-0000-4000-8000-000000000000"}
        assert err.request_id == "req-fake-1"
        with pytest.raises(InvalidArgument) as e2:
            await c.flavors.create("bad", vcpus=0, ram_mb=0)
        assert e2.value.details == {"field": "flavor.vcpus"}


async def test_close_is_idempotent_and_a_closed_client_refuses_calls(fake: FakeEndpoints) -> None:
    c = client_for(fake)
    await c.flavors.list()
    await c.close()
    await c.close()
    with pytest.raises(ConfigError, match="closed"):
        await c.flavors.list()


# ---------------------------------------------------------------------- servers


async def test_create_and_wait_uses_the_watch_stream(fake: FakeEndpoints, tmp_path: Path) -> None:
    async with client_for(fake) as c:
        image = await upload_image(c, tmp_path)
        server = await c.servers.create(
            "web-1", image_id=image.id, flavor_id="1", hints={"hypervisor_type": "vmware"},
            user_data=b"#cloud-config\n", key_name="k", wait=True,
        )  # fmt: skip
    assert server.state == S.SERVER_STATE_ACTIVE
    assert server.host == "vmware:DC0_C0"
    methods = [m for m, _ in fake.cloud.calls]
    assert "WatchServers" in methods and "GetServer" not in methods
    create = next(r for m, r in fake.cloud.calls if m == "CreateServer")
    assert create.server.scheduler_hints == {"hypervisor_type": "vmware"}
    assert create.server.user_data == b"#cloud-config\n"
    assert create.request_id  # always sent, for idempotency


async def test_wait_falls_back_to_polling_without_watch(
    fake: FakeEndpoints, tmp_path: Path
) -> None:
    fake.cloud.watch_enabled = False
    fake.cloud.advance_on_get = True
    async with client_for(fake) as c:
        image = await upload_image(c, tmp_path)
        server = await c.servers.create("web-2", image_id=image.id, flavor_id="1", wait=True)
        assert server.state == S.SERVER_STATE_ACTIVE
        stopped = await c.servers.stop(server.id, wait=True)
        assert stopped.state == S.SERVER_STATE_SHUTOFF
        started = await c.servers.start(server.id, wait=True)
        assert started.state == S.SERVER_STATE_ACTIVE
        await c.servers.delete(server.id, wait=True)
        with pytest.raises(NotFound):
            await c.servers.get(server.id)
    assert sum(1 for m, _ in fake.cloud.calls if m == "GetServer") >= 4


async def test_a_server_ending_in_error_raises_server_fault(
    fake: FakeEndpoints, tmp_path: Path
) -> None:
    async with client_for(fake) as c:
        image = await upload_image(c, tmp_path, name="broken")
        with pytest.raises(ServerFault) as e:
            await c.servers.create("doomed", image_id=image.id, flavor_id="1", wait=True)
    assert e.value.fault.code == fault_pb2.FAULT_CODE_SPAWN_FAILED
    assert e.value.server.state == S.SERVER_STATE_ERROR
    assert "disk is unreadable" in str(e.value)


async def test_waiting_runs_out_with_wait_timeout_and_the_last_state(
    fake: FakeEndpoints, tmp_path: Path
) -> None:
    fake.cloud.watch_enabled = False  # and GetServer never advances: stuck in BUILDING
    async with client_for(fake) as c:
        image = await upload_image(c, tmp_path)
        server = await c.servers.create("stuck", image_id=image.id, flavor_id="1")
        with pytest.raises(WaitTimeout) as e:
            await c.servers.wait_until_active(server.id, wait_timeout=0.2)
    assert e.value.last.state == S.SERVER_STATE_BUILDING
    assert "BUILDING" in str(e.value)


async def test_reboot_wait_returns_once_active_and_settled(
    fake: FakeEndpoints, tmp_path: Path
) -> None:
    async with client_for(fake) as c:
        image = await upload_image(c, tmp_path)
        server = await c.servers.create("r", image_id=image.id, flavor_id="1", wait=True)
        rebooted = await c.servers.reboot(server.id, hard=True, wait=True)
    assert rebooted.state == S.SERVER_STATE_ACTIVE and rebooted.task == S.SERVER_TASK_NONE
    req = next(r for m, r in fake.cloud.calls if m == "RebootServer")
    assert req.type == 2  # REBOOT_TYPE_HARD


async def test_list_follows_pages_and_find_resolves_names(
    fake: FakeEndpoints, tmp_path: Path
) -> None:
    fake.cloud.page_size = 1
    async with client_for(fake) as c:
        image = await upload_image(c, tmp_path)
        ids = [
            (await c.servers.create(f"s{i}", image_id=image.id, flavor_id="1")).id for i in range(3)
        ]
        servers = await c.servers.list()
        assert [s.id for s in servers] == ids
        assert len(await c.servers.list(limit=2)) == 2
        assert (await c.servers.find("s1")).id == ids[1]
        assert (await c.servers.find(ids[2])).name == "s2"
        with pytest.raises(NotFound):
            await c.servers.find("nope")
        assert (await c.flavors.find("m1.large")).id == "2"
        assert (await c.hypervisors.find("DC0_C0")).id == "vmware:DC0_C0"
    assert sum(1 for m, _ in fake.cloud.calls if m == "ListServers") >= 3


async def test_watch_yields_replay_synced_then_changes(fake: FakeEndpoints, tmp_path: Path) -> None:
    async with client_for(fake) as c:
        image = await upload_image(c, tmp_path)
        server = await c.servers.create("w", image_id=image.id, flavor_id="1")
        seen = [
            (ch.type, ch.server.state if ch.server else None)
            async for ch in c.servers.watch(server_id=server.id)
        ]
    assert seen == [
        ("CREATED", S.SERVER_STATE_BUILDING),
        ("SYNCED", None),
        ("UPDATED", S.SERVER_STATE_BUILDING),
        ("UPDATED", S.SERVER_STATE_ACTIVE),
    ]


async def test_console_and_quota_update(fake: FakeEndpoints, tmp_path: Path) -> None:
    async with client_for(fake) as c:
        image = await upload_image(c, tmp_path)
        server = await c.servers.create("c", image_id=image.id, flavor_id="2", wait=True)
        console = await c.servers.console(server.id, "vnc")
        assert (console.host, console.port, console.type) == (
            "127.0.0.1",
            5901,
            hypervisor_pb2.CONSOLE_TYPE_VNC,
        )
        quota = await c.quotas.update("p-demo", instances=5)
        assert quota.limits.instances == 5 and quota.limits.vcpus == 20
        usage = (await c.quotas.get()).usage
        assert (usage.instances, usage.vcpus, usage.ram_mb) == (1, 4, 8192)
    req = next(r for m, r in fake.cloud.calls if m == "UpdateQuota")
    assert list(req.update_mask.paths) == ["instances"]


# ---------------------------------------------------------------------- images


async def test_upload_streams_chunks_of_at_most_one_mib_with_progress(
    fake: FakeEndpoints, tmp_path: Path
) -> None:
    data = os.urandom(2 * MiB + MiB // 2)
    path = tmp_path / "disk.qcow2"
    path.write_bytes(data)
    progress: list[tuple[int, int]] = []
    async with client_for(fake) as c:
        image = await c.images.create(
            "disk", disk_format="qcow2", properties={"architecture": "x86_64"}
        )
        assert image.status == images_pb2.IMAGE_STATUS_QUEUED
        image = await c.images.upload(image.id, path, progress=lambda d, t: progress.append((d, t)))
    assert image.status == images_pb2.IMAGE_STATUS_ACTIVE
    assert image.os_hash_value == hashlib.sha256(data).hexdigest()  # the header's checksum matched
    assert fake.cloud.upload_chunks == [MiB, MiB, MiB // 2]
    assert fake.cloud.image_data[image.id] == data
    assert progress[0] == (0, len(data)) and progress[-1] == (len(data), len(data))
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)


async def test_upload_with_smaller_chunks_and_from_a_file_object(
    fake: FakeEndpoints, tmp_path: Path
) -> None:
    path = tmp_path / "d.raw"
    path.write_bytes(b"x" * 10_000)
    async with client_for(fake) as c:
        image = await c.images.create("d", disk_format="raw")
        f = path.open("rb")
        try:
            image = await c.images.upload(image.id, f, chunk_size=4096)
        finally:
            f.close()
        with pytest.raises(ValueError):
            await c.images.upload(image.id, path, chunk_size=MAX_CHUNK + 1)
    assert fake.cloud.upload_chunks == [4096, 4096, 1808]
    assert image.size == 10_000


async def test_a_refused_upload_returns_the_killed_image(
    fake: FakeEndpoints, tmp_path: Path
) -> None:
    path = tmp_path / "evil.qcow2"
    path.write_bytes(b"BAD" + b"\0" * 100)
    async with client_for(fake) as c:
        image = await c.images.create_from_file("evil", path, disk_format="qcow2")
    assert image.status == images_pb2.IMAGE_STATUS_KILLED
    assert "backing file" in image.status_message


async def test_download_checks_and_resumes(fake: FakeEndpoints, tmp_path: Path) -> None:
    data = os.urandom(MiB + 123)
    src = tmp_path / "src.qcow2"
    src.write_bytes(data)
    out = tmp_path / "out.qcow2"
    async with client_for(fake) as c:
        image = await c.images.create_from_file("dl", src, disk_format="qcow2")
        meta = await c.images.download(image.id, out)
        assert out.read_bytes() == data and meta.sha256 == hashlib.sha256(data).hexdigest()
        out.write_bytes(data[:1000])  # a partial file
        await c.images.download(image.id, out, resume=True)
        assert out.read_bytes() == data
        vmdk = tmp_path / "out.vmdk"
        meta = await c.images.download(image.id, vmdk, disk_format="vmdk")
        assert meta.rendition.vmware_disktype == disk_pb2.VMWARE_DISK_TYPE_STREAM_OPTIMIZED
        formats = {r.disk_format for r in await c.images.renditions(image.id)}
    assert formats == {disk_pb2.DISK_FORMAT_QCOW2, disk_pb2.DISK_FORMAT_VMDK}
    req = [r for m, r in fake.cloud.calls if m == "DownloadImage"][1]
    assert req.offset == 1000


def test_properties_go_to_typed_fields_or_the_free_form_map() -> None:
    image = images_pb2.Image()
    paths = apply_properties(image, {
        "hypervisor_type": "vmware", "vmware_disktype": "streamOptimized", "vmware_adaptertype": "lsiLogic",
        "architecture": "x86_64", "min_ram": "512", "hw_disk_bus": "virtio", "owner_team": "infra",
    })  # fmt: skip
    assert image.hypervisor_type == hypervisor_pb2.HYPERVISOR_TYPE_VMWARE
    assert image.vmware_disktype == disk_pb2.VMWARE_DISK_TYPE_STREAM_OPTIMIZED
    assert image.vmware_adaptertype == disk_pb2.VMWARE_ADAPTER_TYPE_LSI_LOGIC
    assert (image.architecture, image.min_ram) == ("x86_64", 512)
    assert dict(image.properties) == {"owner_team": "infra"}
    assert set(paths) == {"hypervisor_type", "vmware_disktype", "vmware_adaptertype", "architecture",
                          "min_ram", "hw_disk_bus", "properties"}  # fmt: skip
    with pytest.raises(InvalidValue):
        apply_properties(images_pb2.Image(), {"hypervisor_type": "virtualbox"})
    with pytest.raises(InvalidValue):
        apply_properties(images_pb2.Image(), {"min_ram": "lots"})


async def test_update_image_sends_a_mask(fake: FakeEndpoints, tmp_path: Path) -> None:
    async with client_for(fake) as c:
        image = await upload_image(c, tmp_path)
        image = await c.images.update(
            image.id, name="renamed", properties={"os_type": "linux", "team": "x"}
        )
    assert (
        image.name == "renamed"
        and image.os_type == "linux"
        and dict(image.properties) == {"team": "x"}
    )
    req = next(r for m, r in fake.cloud.calls if m == "UpdateImage")
    assert list(req.update_mask.paths) == ["name", "os_type", "properties"]


async def test_keypairs_round_trip(fake: FakeEndpoints, cloud: FakeCloud) -> None:
    async with client_for(fake) as c:
        kp, private = await c.keypairs.create("mine", algorithm="ed25519")
        assert "PRIVATE KEY" in private and kp.fingerprint
        imported = await c.keypairs.import_key("other", "ssh-ed25519 AAAA other\n")
        assert imported.public_key == "ssh-ed25519 AAAA other"
        assert sorted(k.name for k in await c.keypairs.list()) == ["mine", "other"]
        await c.keypairs.delete("mine")
        with pytest.raises(NotFound):
            await c.keypairs.get("mine")
    assert set(cloud.keypairs) == {"other"}
