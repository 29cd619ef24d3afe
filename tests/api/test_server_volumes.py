"""AttachVolume and DetachVolume through the api, with the real volume service (file
backends on real qemu-img), scheduler and image service and fake agents: a volume attached to
a running server (its host gets the file connection), detached, released when the server is
deleted; refusals that leave nothing half done (another project's volume, a volume in use,
a type the server's hypervisor cannot use, a host without the volume_file capability). A
server booted from a volume (CreateServer boot_volume_id): its host gets the volume's
connection instead of an image, the volume is in use while the server exists and available
again once it is deleted; the refusals of such a create."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import pytest

from polyvisor.client.cli.app import build_parser, run
from polyvisor.compute.v1 import flavors_pb2, servers_pb2
from polyvisor.image.v1 import images_pb2
from polyvisor.types.v1 import server_status_pb2 as st
from polyvisor.volume.v1 import volume_service_pb2 as vpb
from polyvisor.volume.v1 import volume_service_pb2_grpc, volumes_pb2
from tests.api.stack import Client, FakeAgentProcess, Stack, eventually, wait_hosts

CAPABLE, INCAPABLE = "vol-kvm-1", "vol-kvm-2"


@pytest.fixture(scope="module")
async def stack(
    module_root: Path, module_nats: str, make_database: Callable[..., str]
) -> AsyncIterator[Stack]:
    s = Stack(module_root, make_database("api"), module_nats)
    try:
        address = await s.start_volume(
            {
                "file": {"kind": "file", "directory": str(module_root / "volumes")},
                "vmwonly": {
                    "kind": "file",
                    "directory": str(module_root / "vmw"),
                    "hypervisor_types": "vmware",
                },
            }
        )
        await s.start_control_plane({"POLYVISOR_VOLUME_ADDRESS": address})
        await s.start_agent(CAPABLE, capabilities="volume_file,boot_volume")
        await s.start_agent(INCAPABLE)
        yield s
    finally:
        await s.stop()


class User:
    def __init__(self, stack: Stack, c: Client) -> None:
        assert stack.volume is not None
        self.c = c
        self.volumes = volume_service_pb2_grpc.VolumeServiceStub(
            grpc.aio.insecure_channel(stack.volume.address)
        )

    async def volume(self, **fields: object) -> volumes_pb2.Volume:
        resp = await self.volumes.CreateVolume(
            vpb.CreateVolumeRequest(volume=volumes_pb2.Volume(size_gb=1, **fields)),
            metadata=self.c.md,
        )
        return resp.volume

    async def get(self, volume_id: str) -> volumes_pb2.Volume:
        resp = await self.volumes.GetVolume(
            vpb.GetVolumeRequest(volume_id=volume_id), metadata=self.c.md
        )
        return resp.volume

    async def attach(self, server_id: str, volume_id: str) -> servers_pb2.Server:
        resp = await self.c.compute.AttachVolume(
            servers_pb2.AttachVolumeRequest(server_id=server_id, volume_id=volume_id),
            metadata=self.c.md,
        )
        return resp.server

    async def detach(self, server_id: str, volume_id: str) -> servers_pb2.Server:
        resp = await self.c.compute.DetachVolume(
            servers_pb2.DetachVolumeRequest(server_id=server_id, volume_id=volume_id),
            metadata=self.c.md,
        )
        return resp.server


async def _refused(code: grpc.StatusCode, call: object) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await call  # type: ignore[misc]
    assert err.value.code() == code, err.value.details()
    return err.value.details() or ""


async def _server(u: User, image_id: str, host: str) -> servers_pb2.Server:
    """An ACTIVE server of `u` on `host` (the scheduler picks among two: a server on the
    other one makes the next land here, with the different_host hint)."""
    first = await u.c.create_server(f"v-{uuid.uuid4().hex[:6]}", image_id, "vol-small")
    first = await u.c.wait(first.id, st.SERVER_STATE_ACTIVE)
    if first.host == host:
        return first
    second = await u.c.create_server(
        f"v-{uuid.uuid4().hex[:6]}", image_id, "vol-small",
        scheduler_hints={"different_host": first.id},
    )  # fmt: skip
    second = await u.c.wait(second.id, st.SERVER_STATE_ACTIVE)
    assert second.host == host
    await u.c.compute.DeleteServer(
        servers_pb2.DeleteServerRequest(server_id=first.id), metadata=u.c.md
    )
    return second


@pytest.fixture(scope="module")
async def image_id(stack: Stack) -> str:
    admin = await stack.admin()
    await admin.compute.CreateFlavor(
        flavors_pb2.CreateFlavorRequest(
            flavor=flavors_pb2.Flavor(
                id="vol-small", name="vol-small", vcpus=1, ram_mb=256, disk_gb=1, is_public=True
            )
        ),
        metadata=admin.md,
    )
    image = await admin.upload_image("vol-boot", visibility=images_pb2.VISIBILITY_PUBLIC)
    await wait_hosts(admin, CAPABLE, INCAPABLE)
    return str(image.id)


async def test_attach_detach_release_and_refusals(stack: Stack, image_id: str) -> None:
    admin = await stack.admin()
    u = User(stack, await stack.new_project_user(admin, "member"))
    other = User(stack, await stack.new_project_user(admin, "member"))
    agent: FakeAgentProcess = stack.agents[0]

    s = await _server(u, image_id, CAPABLE)
    vol = await u.volume(name="data")
    attaching = await u.attach(s.id, vol.id)
    assert attaching.task == st.SERVER_TASK_ATTACHING_VOLUME
    await u.c.wait(s.id, st.SERVER_STATE_ACTIVE)
    got = await eventually(
        lambda: u.get(vol.id), lambda v: v.status == volumes_pb2.VOLUME_STATUS_IN_USE
    )
    assert [a.server_id for a in got.attachments] == [s.id]
    [cmd] = [c for c in agent.commands() if c.get("verb") == "attach_volume"]
    assert cmd["volume_id"] == vol.id and cmd["volume_kind"] == "file"
    assert cmd["volume_attrs"]["path"].endswith(f"{vol.id}.qcow2")

    # refused, and nothing is left half done
    t = await _server(u, image_id, CAPABLE)
    assert "in use" in await _refused(grpc.StatusCode.FAILED_PRECONDITION, u.attach(t.id, vol.id))
    mine_elsewhere = await _server(other, image_id, CAPABLE)
    await _refused(grpc.StatusCode.NOT_FOUND, other.attach(mine_elsewhere.id, vol.id))
    vmw = await u.volume(volume_type="vmwonly")
    assert "cannot use" in await _refused(
        grpc.StatusCode.FAILED_PRECONDITION, u.attach(t.id, vmw.id)
    )
    spare = await u.volume()
    far = await _server(u, image_id, INCAPABLE)
    assert "volume_file" in await _refused(
        grpc.StatusCode.FAILED_PRECONDITION, u.attach(far.id, spare.id)
    )
    for v in (vmw, spare):
        again = await u.get(v.id)
        assert again.status == volumes_pb2.VOLUME_STATUS_AVAILABLE and not again.attachments
    assert [a.server_id for a in (await u.get(vol.id)).attachments] == [s.id]
    assert (await u.c.get(t.id)).task == st.SERVER_TASK_NONE

    await u.detach(s.id, vol.id)
    await u.c.wait(s.id, st.SERVER_STATE_ACTIVE)
    await eventually(
        lambda: u.get(vol.id), lambda v: v.status == volumes_pb2.VOLUME_STATUS_AVAILABLE
    )
    await _refused(grpc.StatusCode.FAILED_PRECONDITION, u.detach(s.id, vol.id))

    # attached to the second server, which is then deleted: the volume is kept, available
    await u.attach(t.id, vol.id)
    await eventually(lambda: u.get(vol.id), lambda v: v.status == volumes_pb2.VOLUME_STATUS_IN_USE)
    await u.c.compute.DeleteServer(servers_pb2.DeleteServerRequest(server_id=t.id), metadata=u.c.md)
    kept = await eventually(
        lambda: u.get(vol.id), lambda v: v.status == volumes_pb2.VOLUME_STATUS_AVAILABLE
    )
    assert not kept.attachments


async def test_the_cli_makes_attaches_and_detaches_a_volume(
    stack: Stack,
    image_id: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`polyvisor volume create|list|set|extend|snapshot`, `server add|remove volume`, `server
    create --boot-volume` (names)."""
    u = User(stack, await stack.new_project_user(await stack.admin(), "member"))
    server = await _server(u, image_id, CAPABLE)
    assert stack.volume is not None
    monkeypatch.setenv("POLYVISOR_CONFIG", str(tmp_path / "config.yaml"))
    monkeypatch.setenv("POLYVISOR_TOKEN", u.c.token)
    base = ["--api-url", stack.apis[0].address, "--volume-url", stack.volume.address]

    async def polyvisor(*argv: str) -> tuple[int, str]:
        capsys.readouterr()
        code = await run(build_parser().parse_args([*base, *argv]))
        got = capsys.readouterr()
        return code, got.out + got.err

    code, out = await polyvisor("volume", "create", "cli-data", "--size", "1", "-f", "json")
    assert code == 0, out
    vol_id = json.loads(out)["id"]
    code, out = await polyvisor("volume", "extend", "cli-data", "2", "-f", "json")
    assert code == 0 and json.loads(out)["size_gb"] == 2, out
    code, out = await polyvisor("volume", "extend", "cli-data", "1")
    assert code != 0 and "never shrink" in out
    code, out = await polyvisor(
        "volume", "set", "cli-data", "--description", "scratch", "-f", "json"
    )
    assert code == 0 and json.loads(out)["description"] == "scratch", out
    assert json.loads(out)["name"] == "cli-data"
    code, out = await polyvisor("server", "add", "volume", server.name, "cli-data", "--wait")
    assert code == 0, out
    code, out = await polyvisor("volume", "list", "--server", server.name, "-f", "json")
    assert [(v["id"], v["status"]) for v in json.loads(out)] == [(vol_id, "in_use")]
    code, out = await polyvisor("volume", "snapshot", "create", "cli-data", "--force")
    assert code == 0, out
    code, out = await polyvisor("server", "remove", "volume", server.name, "cli-data", "--wait")
    assert code == 0 and f"volume {vol_id} detached" in out, out
    code, out = await polyvisor("volume", "delete", "cli-data")
    assert code != 0  # it has a snapshot
    assert (await u.get(vol_id)).status == volumes_pb2.VOLUME_STATUS_AVAILABLE

    # `server create --boot-volume`: the volume is the server's root disk
    await polyvisor("volume", "create", "cli-root", "--size", "1")
    code, out = await polyvisor("server", "create", "cli-boot", "--boot-volume", "cli-root",
                                "--flavor", "vol-small", "--delete-on-termination", "--wait",
                                "-f", "json")  # fmt: skip
    assert code == 0, out  # --wait: ACTIVE (exit 1 on ERROR)
    code, out = await polyvisor("volume", "list", "--server", "cli-boot", "-f", "json")
    [root] = json.loads(out)
    assert root["name"] == "cli-root"
    [a] = (await u.get(root["id"])).attachments
    assert a.root and a.delete_on_termination


async def test_boot_from_volume_and_its_refusals(stack: Stack, image_id: str) -> None:
    admin = await stack.admin()
    u = User(stack, await stack.new_project_user(admin, "member"))
    other = User(stack, await stack.new_project_user(admin, "member"))
    agent: FakeAgentProcess = stack.agents[0]
    vol = await u.volume(name="root")

    async def boot(who: User, volume_id: str, **spec: object) -> servers_pb2.Server:
        return await who.c.create_server(f"b-{uuid.uuid4().hex[:6]}", "", "vol-small",
                                         boot_volume_id=volume_id, **spec)  # fmt: skip

    s = await u.c.wait((await boot(u, vol.id)).id, st.SERVER_STATE_ACTIVE)
    assert s.host == CAPABLE and not s.image_id
    [cmd] = [c for c in agent.commands() if c.get("verb") == "spawn" and c["server_id"] == s.id]
    assert (cmd["root_volume_id"], cmd["root_kind"], cmd["image_id"]) == (vol.id, "file", "")
    got = await u.get(vol.id)
    assert got.status == volumes_pb2.VOLUME_STATUS_IN_USE
    assert [(a.server_id, a.root) for a in got.attachments] == [(s.id, True)]

    # refused, and nothing is left half done
    spare = await u.volume()
    both = u.c.create_server("x", image_id, "vol-small", boot_volume_id=spare.id)
    assert "not both" in await _refused(grpc.StatusCode.INVALID_ARGUMENT, both)
    await _refused(grpc.StatusCode.INVALID_ARGUMENT, u.c.create_server("x", "", "vol-small"))
    many = u.c.compute.CreateServer(
        servers_pb2.CreateServerRequest(
            server=servers_pb2.ServerSpec(name="x", flavor_id="vol-small",
                                          boot_volume_id=spare.id),
            max_count=2,
        ),
        metadata=u.c.md,
    )  # fmt: skip
    assert "one server" in await _refused(grpc.StatusCode.INVALID_ARGUMENT, many)
    assert "in use" in await _refused(grpc.StatusCode.FAILED_PRECONDITION, boot(u, vol.id))
    await _refused(grpc.StatusCode.NOT_FOUND, boot(other, spare.id))
    assert "root disk" in await _refused(
        grpc.StatusCode.FAILED_PRECONDITION, u.detach(s.id, vol.id)
    )
    for call in (
        u.c.compute.RebuildServer(
            servers_pb2.RebuildServerRequest(server_id=s.id, image_id=image_id), metadata=u.c.md
        ),
        u.c.compute.ResizeServer(
            servers_pb2.ResizeServerRequest(server_id=s.id, flavor_id="vol-small"),
            metadata=u.c.md,
        ),
    ):
        assert "boots from volume" in await _refused(grpc.StatusCode.FAILED_PRECONDITION, call)
    again = await u.get(spare.id)
    assert again.status == volumes_pb2.VOLUME_STATUS_AVAILABLE and not again.attachments

    # no host left that boots from volumes: the scheduler says which capability is missing
    far = await boot(u, spare.id, scheduler_hints={"different_host": s.id})
    far = await u.c.wait(far.id, st.SERVER_STATE_ERROR)
    assert "boot_volume" in far.fault.message or "volume_file" in far.fault.message, far.fault

    # deleted: both volumes kept, available
    for sid in (s.id, far.id):
        await u.c.compute.DeleteServer(
            servers_pb2.DeleteServerRequest(server_id=sid), metadata=u.c.md
        )
    for v in (vol, spare):
        kept = await eventually(
            lambda v=v: u.get(v.id), lambda x: x.status == volumes_pb2.VOLUME_STATUS_AVAILABLE
        )
        assert not kept.attachments

    # asked for: the boot volume goes with its server (Nova's delete_on_termination)
    no_volume = u.c.create_server(
        "x", image_id, "vol-small", boot_volume_delete_on_termination=True
    )
    assert "boot_volume_id" in await _refused(grpc.StatusCode.INVALID_ARGUMENT, no_volume)
    doomed = await boot(u, vol.id, boot_volume_delete_on_termination=True)
    doomed = await u.c.wait(doomed.id, st.SERVER_STATE_ACTIVE)
    [a] = (await u.get(vol.id)).attachments
    assert (a.server_id, a.root, a.delete_on_termination) == (doomed.id, True, True)
    await u.c.compute.DeleteServer(
        servers_pb2.DeleteServerRequest(server_id=doomed.id), metadata=u.c.md
    )
    await u.c.wait(doomed.id, st.SERVER_STATE_DELETED)

    async def status_of(volume_id: str) -> str:
        try:
            return volumes_pb2.VolumeStatus.Name((await u.get(volume_id)).status)
        except grpc.aio.AioRpcError as e:
            return e.code().name

    assert await eventually(lambda: status_of(vol.id), lambda x: x == "NOT_FOUND") == "NOT_FOUND"
    assert (await u.get(spare.id)).status == volumes_pb2.VOLUME_STATUS_AVAILABLE
