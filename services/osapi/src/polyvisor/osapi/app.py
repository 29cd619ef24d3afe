"""The gateway's lifespan: its gRPC clients, the HTTP site, and a gRPC server that only
serves health (probes, `./dev up`)."""

from __future__ import annotations

from contextlib import AsyncExitStack

from aiohttp import web

from polyvisor.common.grpcserver import GrpcServer
from polyvisor.common.logging import get_logger
from polyvisor.osapi.clients import Apis
from polyvisor.osapi.config import OsapiSettings
from polyvisor.osapi.handlers import make_app

__all__ = ["lifespan"]

log = get_logger(__name__)


async def lifespan(settings: OsapiSettings, stack: AsyncExitStack) -> GrpcServer:
    apis = Apis(settings.api_address, settings.imagesvc_address, settings.networksvc_address,
                settings.volumesvc_address, settings.rpc_timeout_s)  # fmt: skip
    stack.push_async_callback(apis.close)
    runner = web.AppRunner(make_app(apis, settings), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    await web.TCPSite(runner, settings.http_host, settings.http_port).start()
    log.info("openstack api gateway ready", http_port=settings.http_port, api=settings.api_address)
    return GrpcServer(settings, [])
