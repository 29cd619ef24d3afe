"""The fuzz harness finds what it is for: a handler that fails on some inputs, served the way
every service serves gRPC (polyvisor.common's GrpcServer, reflection on), is found through
reflection alone, and its INTERNAL answer is reported; a handler that maps its errors is not."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from polyvisor.common.config import ServiceSettings
from polyvisor.common.errors import InvalidArgument
from polyvisor.common.grpcserver import GrpcServer
from polyvisor.identity.v1 import identity_requests_pb2 as pb
from polyvisor.identity.v1 import identity_service_pb2_grpc
from tests.fuzz.protofuzz import discover
from tests.fuzz.test_rpcs import Finding, fuzz_rpc

SERVICE = "polyvisor.identity.v1.IdentityService"


class Identity(identity_service_pb2_grpc.IdentityServiceServicer):
    """ValidateToken fails unmapped on tokens longer than 3 characters; CreateProject maps any
    request that sets a field to INVALID_ARGUMENT and answers the empty one (a refusal of named
    projects only left a run with no refusal at all: 25 examples without a project name)."""

    async def ValidateToken(self, request: pb.ValidateTokenRequest, context: Any) -> Any:
        if len(request.token) > 3:
            raise ValueError("a bug: no token is that long")
        return pb.ValidateTokenResponse()

    async def CreateProject(self, request: pb.CreateProjectRequest, context: Any) -> Any:
        if request.ByteSize():
            raise InvalidArgument("only the empty request is answered here")
        return pb.CreateProjectResponse()


class _Env:
    ids = {"project": ["p-1"]}

    def tokens_for(self, service: str) -> tuple[str, ...]:
        return ("no-auth-here",)


@pytest.fixture
async def address() -> Any:
    server = GrpcServer(
        ServiceSettings(grpc_host="127.0.0.1", grpc_port=0, log_level="WARNING"),
        [(identity_service_pb2_grpc.add_IdentityServiceServicer_to_server, Identity(), SERVICE)],
    )
    await server.start()
    await server.set_serving()
    try:
        yield server.address
    finally:
        await server.stop(0)


def _fuzz(address: str, method: str) -> Counter[str]:
    import grpc

    seen: Counter[str] = Counter()
    with grpc.insecure_channel(address) as channel:
        rpc = next(r for r in discover(channel) if r.name == method)
        fuzz_rpc(_Env(), channel, rpc, seen)  # type: ignore[arg-type]
    return seen


async def test_an_unmapped_error_is_found(address: str) -> None:
    with pytest.raises(Finding, match="ValidateToken answered INTERNAL"):
        await asyncio.to_thread(_fuzz, address, "ValidateToken")


async def test_a_mapped_error_is_an_answer(address: str) -> None:
    seen = await asyncio.to_thread(_fuzz, address, "CreateProject")
    assert seen["INVALID_ARGUMENT"] > 0 and seen["OK"] > 0, seen
