"""The SDK's channels: UNAVAILABLE is retried by gRPC's own retry policy, nothing else is;
keepalive pings stay within what Polyvisor's servers accept."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from polyvisor.client import session
from polyvisor.client.config import Endpoint
from polyvisor.common import grpcserver

METHOD = "/polyvisor.test.Flaky/Call"


class Flaky:
    """Answers `code` to the first `failures` calls of each request, then echoes."""

    def __init__(self) -> None:
        self.attempts: dict[bytes, int] = {}

    async def call(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        n = self.attempts[request] = self.attempts.get(request, 0) + 1
        code, _, failures = request.decode().partition(":")
        if n <= int(failures):
            await context.abort(getattr(grpc.StatusCode, code), f"attempt {n}")
        return request


@pytest.fixture
async def flaky() -> AsyncIterator[tuple[Flaky, Endpoint]]:
    servicer = Flaky()
    server = grpc.aio.server()
    handler = grpc.unary_unary_rpc_method_handler(servicer.call)
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("polyvisor.test.Flaky", {"Call": handler})]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield servicer, Endpoint(f"127.0.0.1:{port}")
    await server.stop(0)


async def test_unavailable_is_retried_with_backoff(flaky: tuple[Flaky, Endpoint]) -> None:
    servicer, endpoint = flaky
    channel = session._channel(endpoint)
    try:
        call = channel.unary_unary(METHOD)
        assert await call(b"UNAVAILABLE:3", timeout=30) == b"UNAVAILABLE:3"  # 4th attempt
        assert servicer.attempts[b"UNAVAILABLE:3"] == 4
        with pytest.raises(grpc.aio.AioRpcError) as e:  # maxAttempts 4: then it gives up
            await call(b"UNAVAILABLE:9", timeout=30)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        assert servicer.attempts[b"UNAVAILABLE:9"] == 4
        with pytest.raises(grpc.aio.AioRpcError) as e:  # an answer, not a transient failure
            await call(b"INVALID_ARGUMENT:1", timeout=30)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert servicer.attempts[b"INVALID_ARGUMENT:1"] == 1
    finally:
        await channel.close()


def test_client_keepalive_is_within_what_servers_accept() -> None:
    server = dict(grpcserver.DEFAULT_OPTIONS)
    assert session.KEEPALIVE_MS >= server["grpc.http2.min_ping_interval_without_data_ms"]
    assert server["grpc.http2.max_pings_without_data"] == 0  # a long Watch is never cut
