"""The gateway's routes: Keystone v3 under /identity, Nova v2.1 under /compute, Glance v2
under /image, Neutron v2.0 under /network, all on one port."""

from __future__ import annotations

from aiohttp import web

from polyvisor.osapi import microversion
from polyvisor.osapi.clients import Apis
from polyvisor.osapi.config import OsapiSettings
from polyvisor.osapi.handlers import (
    glance,
    keystone,
    neutron,
    nova_actions,
    nova_catalog,
    nova_hosts,
    nova_servers,
)
from polyvisor.osapi.handlers.common import APIS, SETTINGS, WHO_CACHE, base_url, error_middleware

__all__ = ["make_app"]


async def root(request: web.Request) -> web.Response:
    base = base_url(request)
    return web.json_response(
        {
            "services": {
                kind: f"{base}/{kind}" for kind in ("identity", "compute", "image", "network")
            }
        }
    )


def make_app(apis: Apis, settings: OsapiSettings) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=1 << 20)
    app[APIS] = apis
    app[SETTINGS] = settings
    app[WHO_CACHE] = {}
    # Nova's v2.0 endpoint is the same API without microversions (see microversion).
    novas = ("/compute/v2.1", microversion.LEGACY_V2)
    app.add_routes(
        [
            web.get("/", root),
            *keystone.routes(),
            *(r for nova in novas for r in nova_catalog.routes(nova)),
            *(r for nova in novas for r in nova_hosts.routes(nova)),
            *(r for nova in novas for r in nova_servers.routes(nova)),
            *(r for nova in novas for r in nova_actions.routes(nova)),
            *glance.routes(),
            *neutron.routes(),
        ]
    )
    return app
