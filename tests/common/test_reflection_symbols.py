"""Reflection resolves the services themselves (what grpcurl `describe` and every grpcurl call
need), not only their names, even when nothing imported the service's `_pb2` module.

Run in a fresh interpreter: in this test process some other test may already have imported
the module and hidden the bug."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    import grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
    from polyvisor.common.config import ServiceSettings
    from polyvisor.common.grpcserver import GrpcServer
    from polyvisor.compute.v1 import compute_service_pb2_grpc

    NAME = "polyvisor.compute.v1.ComputeService"

    async def main() -> None:
        assert "polyvisor.compute.v1.compute_service_pb2" not in sys.modules
        settings = ServiceSettings(grpc_host="127.0.0.1", grpc_port=0, metrics_port=0)
        server = GrpcServer(settings, [(compute_service_pb2_grpc.add_ComputeServiceServicer_to_server,
                                        compute_service_pb2_grpc.ComputeServiceServicer(), NAME)])
        port = await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
                stub = reflection_pb2_grpc.ServerReflectionStub(ch)
                async def reqs():
                    yield reflection_pb2.ServerReflectionRequest(file_containing_symbol=NAME)
                async for resp in stub.ServerReflectionInfo(reqs()):
                    print("reflection answered:", resp.WhichOneof("message_response"))
                    break
        finally:
            await server.stop()

    asyncio.run(main())
    """
)


def test_reflection_finds_a_service_whose_pb2_module_nobody_imported() -> None:
    r = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True,
                       timeout=60, check=False)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "reflection answered: file_descriptor_response" in r.stdout.splitlines(), (
        r.stdout + r.stderr
    )
