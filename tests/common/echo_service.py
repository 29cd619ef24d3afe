"""A tiny gRPC service for testing polyvisor.common without the project's protos.

Service `polyvisor.testing.v1.Echo` with raw-bytes messages, one method per RPC shape:
Unary, ServerStream (async generator), ServerStreamWrite (`context.write`), ClientStream,
BidiStream. Each request is a command:

    ok:<text>        answer <text>
    raise:<Class>    raise polyvisor.common.errors.<Class>("<Class> happened", {"k": "v"})
    raise:<Class>:<json>   the same with <json> as its details
    boom             raise RuntimeError carrying SECRET (must never reach the client)
    sleep:<seconds>  sleep, then answer b"slept"
    whoami           answer the request id and the principal's user id

Run as a service (for shutdown tests): `python -m tests.common.echo_service`; the settings come
from POLYVISOR_* variables.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import grpc

from polyvisor.common import errors
from polyvisor.common.config import ServiceSettings
from polyvisor.common.grpcserver import GrpcServer
from polyvisor.common.interceptors import current_principal, current_request_id

SERVICE = "polyvisor.testing.v1.Echo"
SECRET = "SECRET-traceback-marker"


async def run_command(data: bytes) -> bytes:
    text = data.decode()
    if text.startswith("ok:"):
        return text[3:].encode()
    if text.startswith("raise:"):
        name, _, given = text[6:].partition(":")
        cls = getattr(errors, name)
        raise cls(f"{name} happened", json.loads(given) if given else {"k": "v"})
    if text == "boom":
        raise RuntimeError(SECRET)
    if text.startswith("sleep:"):
        await asyncio.sleep(float(text[6:]))
        return b"slept"
    if text == "whoami":
        principal = current_principal()
        user = principal.user_id if principal is not None else "-"
        return f"{current_request_id()}|{user}".encode()
    raise errors.InvalidArgument(f"unknown command {text!r}")


class Echo:
    async def Unary(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return await run_command(request)

    async def ServerStream(
        self, request: bytes, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        yield b"first"
        yield await run_command(request)

    async def ServerStreamWrite(self, request: bytes, context: grpc.aio.ServicerContext) -> None:
        await context.write(b"first")
        await context.write(await run_command(request))

    async def ClientStream(
        self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
    ) -> bytes:
        last = b""
        async for r in requests:
            last = r
        return await run_command(last)

    async def BidiStream(
        self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        async for r in requests:
            yield await run_command(r)


def add_echo(servicer: Echo, server: grpc.aio.Server) -> None:
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(servicer.Unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(servicer.ServerStream),
        "ServerStreamWrite": grpc.unary_stream_rpc_method_handler(servicer.ServerStreamWrite),
        "ClientStream": grpc.stream_unary_rpc_method_handler(servicer.ClientStream),
        "BidiStream": grpc.stream_stream_rpc_method_handler(servicer.BidiStream),
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, handlers)])


class EchoSettings(ServiceSettings):
    service_name: str = "echo"
    grpc_host: str = "127.0.0.1"
    metrics_host: str = "127.0.0.1"


async def lifespan(settings: EchoSettings, stack: AsyncExitStack) -> GrpcServer:
    server = GrpcServer(settings, [(add_echo, Echo(), SERVICE)])
    await server.start()
    return server


if __name__ == "__main__":
    from polyvisor.common.lifespan import run_service

    run_service(EchoSettings(), lifespan)
