"""A service whose peer died and came back reaches it again within seconds, whatever it
tried meanwhile: the channels between services cap gRPC's reconnect backoff (which grows to
120 s by default, and every call fails at once until its next attempt)."""

from __future__ import annotations

import asyncio
import socket

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from polyvisor.api.clients import CHANNEL_OPTIONS

pytestmark = pytest.mark.timeout(180)

#: Long enough for gRPC's default backoff to grow past BACK_WITHIN_S (1 s x 1.6 per try).
AWAY_S = 30.0
#: The peer is back: a call must succeed within this (the cap is 2 s, plus a loaded machine).
BACK_WITHIN_S = 8.0


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _serve(port: int) -> grpc.aio.Server:
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server


async def _check(stub: health_pb2_grpc.HealthStub) -> bool:
    try:
        await stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
    except grpc.aio.AioRpcError:
        return False
    return True


async def test_a_peer_that_came_back_is_reached_again_within_seconds() -> None:
    port = _port()
    server = await _serve(port)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=CHANNEL_OPTIONS) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        assert await _check(stub)
        await server.stop(None)
        loop = asyncio.get_running_loop()
        away_until = loop.time() + AWAY_S
        while loop.time() < away_until:  # callers keep trying while it is away
            assert not await _check(stub)
            await asyncio.sleep(0.5)
        server = await _serve(port)
        try:
            back_by = loop.time() + BACK_WITHIN_S
            reached = False
            while not reached and loop.time() < back_by:
                reached = await _check(stub)
                if not reached:
                    await asyncio.sleep(0.2)
            assert reached, f"the peer was back, the channel still failed after {BACK_WITHIN_S}s"
        finally:
            await server.stop(None)
