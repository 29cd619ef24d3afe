"""The dashboard's lifespan: the API clients, the HTTP site, and a gRPC server that only
serves health (probes, `./dev up`)."""

from __future__ import annotations

from contextlib import AsyncExitStack

from aiohttp import web

from polyvisor.common.grpcserver import GrpcServer
from polyvisor.common.logging import get_logger
from polyvisor.dashboard.clients import Apis
from polyvisor.dashboard.config import DashboardSettings
from polyvisor.dashboard.handlers import Dashboard, make_app
from polyvisor.dashboard.sessions import SessionBox

__all__ = ["lifespan"]

log = get_logger(__name__)


async def lifespan(settings: DashboardSettings, stack: AsyncExitStack) -> GrpcServer:
    apis = Apis(settings.api_address, settings.imagesvc_address, settings.networksvc_address)
    stack.push_async_callback(apis.close)
    dash = Dashboard(apis, SessionBox(settings.session_key), secure_cookies=settings.secure_cookies)
    runner = web.AppRunner(make_app(dash), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    await web.TCPSite(runner, settings.http_host, settings.http_port).start()
    log.info("dashboard ready", http_port=settings.http_port, api=settings.api_address)
    return GrpcServer(settings, [])
