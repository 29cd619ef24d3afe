"""Bytes that are not the method's request message: INVALID_ARGUMENT, whatever the RPC shape,
and no Python exception class in the status message (grpc itself answers UNKNOWN with the
decoder's exception in it)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from polyvisor.common.config import ServiceSettings
from polyvisor.common.grpcserver import GrpcServer

GARBAGE = b"\xff\xff\xff\xff"


@pytest.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    server = GrpcServer(ServiceSettings(grpc_host="127.0.0.1", grpc_port=0, metrics_port=0))
    port = await server.start()
    await server.set_serving()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            yield ch
    finally:
        await server.stop(0)


def refused(err: grpc.aio.AioRpcError) -> None:
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (err.code(), err.details())
    details = err.details() or ""
    assert "class" not in details and "DecodeError" not in details and "Error" not in details


async def test_undecodable_unary_request(channel: grpc.aio.Channel) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await channel.unary_unary("/grpc.health.v1.Health/Check")(GARBAGE)
    refused(info.value)


async def test_undecodable_request_of_a_streaming_response(channel: grpc.aio.Channel) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for _ in channel.unary_stream("/grpc.health.v1.Health/Watch")(GARBAGE):
            pass
    refused(info.value)


async def test_a_valid_request_still_answers(channel: grpc.aio.Channel) -> None:
    from grpc_health.v1 import health_pb2

    raw = await channel.unary_unary("/grpc.health.v1.Health/Check")(
        health_pb2.HealthCheckRequest().SerializeToString()
    )
    assert health_pb2.HealthCheckResponse.FromString(raw).status == 1
