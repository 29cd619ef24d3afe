"""Every generated module imports, every service is there, and the streaming
shapes work over a real gRPC server."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pool

ROOT = Path(__file__).resolve().parents[2]
PROTOS = ROOT / "protos"

SERVICES = {
    "polyvisor.compute.v1.ComputeService": "polyvisor.compute.v1.compute_service_pb2_grpc",
    "polyvisor.image.v1.ImageService": "polyvisor.image.v1.image_service_pb2_grpc",
    "polyvisor.identity.v1.IdentityService": "polyvisor.identity.v1.identity_service_pb2_grpc",
    "polyvisor.scheduling.v1.SchedulerService": (
        "polyvisor.scheduling.v1.scheduler_service_pb2_grpc"
    ),
    "polyvisor.network.v1.NetworkService": "polyvisor.network.v1.network_service_pb2_grpc",
    "polyvisor.volume.v1.VolumeService": "polyvisor.volume.v1.volume_service_pb2_grpc",
    "polyvisor.consoleauth.v1.ConsoleAuthService": (
        "polyvisor.consoleauth.v1.consoleauth_service_pb2_grpc"
    ),
    "polyvisor.agent.v1.AgentCallbackService": (
        "polyvisor.agent.v1.agent_callback_service_pb2_grpc"
    ),
}

AREAS = [
    "agent",
    "compute",
    "consoleauth",
    "events",
    "identity",
    "image",
    "network",
    "scheduling",
    "types",
    "volume",
]


def _proto_modules() -> list[str]:
    return sorted(
        p.relative_to(PROTOS).with_suffix("").as_posix().replace("/", ".") + "_pb2"
        for p in PROTOS.rglob("*.proto")
    )


def test_every_area_has_protos() -> None:
    areas = sorted({m.split(".")[1] for m in _proto_modules()})
    assert areas == AREAS


@pytest.mark.parametrize("module", _proto_modules())
def test_module_imports_and_registers_its_file(module: str) -> None:
    mod = importlib.import_module(module)
    proto_name = module.removesuffix("_pb2").replace(".", "/") + ".proto"
    assert mod.DESCRIPTOR.name == proto_name
    assert descriptor_pool.Default().FindFileByName(proto_name) is mod.DESCRIPTOR
    assert mod.DESCRIPTOR.package == ".".join(module.split(".")[:3])


@pytest.mark.parametrize("full_name", sorted(SERVICES))
def test_service_descriptor_and_stubs(full_name: str) -> None:
    grpc_mod = importlib.import_module(SERVICES[full_name])
    importlib.import_module(SERVICES[full_name].removesuffix("_grpc"))
    service = descriptor_pool.Default().FindServiceByName(full_name)
    short = service.name
    assert hasattr(grpc_mod, f"{short}Stub")
    assert hasattr(grpc_mod, f"{short}Servicer")
    assert hasattr(grpc_mod, f"add_{short}Servicer_to_server")
    assert service.methods
    for method in service.methods:
        assert method.input_type.name == f"{method.name}Request"
        assert method.output_type.name == f"{method.name}Response"


def test_no_proto_package_collides_with_a_workspace_package() -> None:
    members = {
        p.name
        for group in ("libs", "services")
        for p in (ROOT / group).glob("*/src/polyvisor/*")
        if p.is_dir() and (p / "__init__.py").exists() and "proto" not in p.parts
    }
    assert not members & set(AREAS), members & set(AREAS)


def test_oneof_payloads_round_trip() -> None:
    from polyvisor.agent.v1 import commands_pb2
    from polyvisor.types.v1 import disk_pb2, resources_pb2

    cmd = commands_pb2.AgentCommand(
        command_id="c1",
        server_id="s1",
        generation=3,
        spawn=commands_pb2.SpawnServer(
            name="vm",
            resources=resources_pb2.Resources(vcpus=2, memory_mb=2048, disk_gb=10),
            image=commands_pb2.SpawnImage(
                image_id="i1",
                disk_format=disk_pb2.DISK_FORMAT_VMDK,
                vmware_disktype=disk_pb2.VMWARE_DISK_TYPE_STREAM_OPTIMIZED,
            ),
        ),
    )
    back = commands_pb2.AgentCommand.FromString(cmd.SerializeToString())
    assert back.WhichOneof("command") == "spawn"
    assert back.spawn.resources.memory_mb == 2048
    assert back.spawn.image.vmware_disktype == disk_pb2.VMWARE_DISK_TYPE_STREAM_OPTIMIZED


async def test_streaming_rpcs_over_a_real_server() -> None:
    from polyvisor.compute.v1 import compute_service_pb2_grpc, servers_pb2
    from polyvisor.image.v1 import image_service_pb2_grpc, images_pb2
    from polyvisor.types.v1 import disk_pb2, server_status_pb2

    stored: dict[str, bytes] = {}

    class Images(image_service_pb2_grpc.ImageServiceServicer):
        async def UploadImage(
            self, request_iterator: AsyncIterator[images_pb2.UploadImageRequest], context
        ) -> images_pb2.UploadImageResponse:
            header = None
            data = bytearray()
            async for msg in request_iterator:
                if msg.WhichOneof("payload") == "header":
                    header = msg.header
                else:
                    data += msg.chunk
            assert header is not None
            stored[header.image_id] = bytes(data)
            return images_pb2.UploadImageResponse(
                image=images_pb2.Image(
                    id=header.image_id,
                    size=len(data),
                    status=images_pb2.IMAGE_STATUS_ACTIVE,
                )
            )

        async def DownloadImage(self, request, context):
            data = stored[request.image_id][request.offset :]
            yield images_pb2.DownloadImageResponse(
                metadata=images_pb2.DownloadImageMetadata(
                    image_id=request.image_id, size=len(data), offset=request.offset
                )
            )
            for i in range(0, len(data), 4):
                yield images_pb2.DownloadImageResponse(chunk=data[i : i + 4])

    class Compute(compute_service_pb2_grpc.ComputeServiceServicer):
        async def WatchServers(self, request, context):
            for rev, state in enumerate(
                (server_status_pb2.SERVER_STATE_BUILDING, server_status_pb2.SERVER_STATE_ACTIVE),
                start=request.from_revision + 1,
            ):
                yield servers_pb2.WatchServersResponse(
                    revision=rev,
                    type=servers_pb2.SERVER_CHANGE_TYPE_UPDATED,
                    server=servers_pb2.Server(id=request.server_id, state=state, revision=rev),
                )

    server = grpc.aio.server()
    image_service_pb2_grpc.add_ImageServiceServicer_to_server(Images(), server)
    compute_service_pb2_grpc.add_ComputeServiceServicer_to_server(Compute(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            images = image_service_pb2_grpc.ImageServiceStub(channel)

            async def upload() -> AsyncIterator[images_pb2.UploadImageRequest]:
                yield images_pb2.UploadImageRequest(
                    header=images_pb2.UploadImageHeader(image_id="img", size=10)
                )
                yield images_pb2.UploadImageRequest(chunk=b"01234")
                yield images_pb2.UploadImageRequest(chunk=b"56789")

            uploaded = await images.UploadImage(upload())
            assert uploaded.image.size == 10
            assert uploaded.image.status == images_pb2.IMAGE_STATUS_ACTIVE

            got = [
                r
                async for r in images.DownloadImage(
                    images_pb2.DownloadImageRequest(
                        image_id="img", disk_format=disk_pb2.DISK_FORMAT_RAW, offset=2
                    )
                )
            ]
            assert got[0].WhichOneof("payload") == "metadata"
            assert got[0].metadata.size == 8
            assert b"".join(r.chunk for r in got[1:]) == b"23456789"

            compute = compute_service_pb2_grpc.ComputeServiceStub(channel)
            changes = [
                c
                async for c in compute.WatchServers(
                    servers_pb2.WatchServersRequest(server_id="s1", from_revision=5)
                )
            ]
            assert [c.revision for c in changes] == [6, 7]
            assert changes[-1].server.state == server_status_pb2.SERVER_STATE_ACTIVE
    finally:
        await server.stop(None)
