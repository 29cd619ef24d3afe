"""The console proxy's lifespan: its api client, the HTTP (WebSocket) site, and a gRPC server
that only serves health (probes, `./dev up`)."""

from __future__ import annotations

from contextlib import AsyncExitStack

from aiohttp import web

from polyvisor.common.grpcserver import GrpcServer
from polyvisor.common.logging import get_logger
from polyvisor.console.clients import ConsoleAuth
from polyvisor.console.config import ConsoleSettings
from polyvisor.console.proxy import ConsoleProxy, make_app

__all__ = ["lifespan"]

log = get_logger(__name__)


async def lifespan(settings: ConsoleSettings, stack: AsyncExitStack) -> GrpcServer:
    auth = ConsoleAuth(settings.api_address, settings.console_api_key)
    stack.push_async_callback(auth.close)
    proxy = ConsoleProxy(
        auth,
        login_wait_s=settings.vnc_login_wait_s,
        connect_timeout_s=settings.vnc_connect_timeout_s,
        origins=settings.origins,
    )
    runner = web.AppRunner(make_app(proxy), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    site = web.TCPSite(runner, settings.http_host, settings.http_port)
    await site.start()
    log.info("console proxy ready", http_port=settings.http_port, api=settings.api_address)
    return GrpcServer(settings, [])
