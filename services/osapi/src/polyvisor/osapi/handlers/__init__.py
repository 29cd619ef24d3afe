"""The gateway's routes: Keystone v3 under /identity, Nova v2.1 under /compute, Glance v2
under /image, Neutron v2.0 under /network, Cinder v3 under /volume, all on one port."""

from __future__ import annotations

from aiohttp import web

from polyvisor.compute.v1 import servers_pb2 as sp
from polyvisor.osapi import microversion
from polyvisor.osapi.clients import Apis
from polyvisor.osapi.config import OsapiSettings
from polyvisor.osapi.handlers import (
    cinder,
    cinder_quotas,
    glance,
    keystone,
    neutron,
    nova_actions,
    nova_catalog,
    nova_flavors,
    nova_hosts,
    nova_server_metadata,
    nova_servers,
    nova_volumes,
)
from polyvisor.osapi.handlers.common import (
    APIS,
    CHECKS,
    KEPT,
    SETTINGS,
    WHO_CACHE,
    base_url,
    error_middleware,
)
from polyvisor.osapi.kept_pages import KeptPages, revision_checks

__all__ = ["make_app"]


async def root(request: web.Request) -> web.Response:
    base = base_url(request)
    return web.json_response(
        {
            "services": {
                kind: f"{base}/{kind}"
                for kind in ("identity", "compute", "image", "network", "volume")
                if kind != "volume" or request.app[SETTINGS].volumesvc_address
            }
        }
    )


def make_app(apis: Apis, settings: OsapiSettings) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=1 << 20)
    app[APIS] = apis
    app[SETTINGS] = settings
    app[WHO_CACHE] = {}
    app[KEPT] = KeptPages(settings.kept_pages_bytes)

    async def servers_revision(token: str) -> int:
        s = apis.as_user(token)
        resp = await s.compute.GetServersRevision(
            sp.GetServersRevisionRequest(), metadata=s.md, timeout=s.timeout
        )
        return int(resp.revision)

    app[CHECKS] = checks = revision_checks(servers_revision)

    async def stop_checks(_: web.Application) -> None:
        await checks.close()

    app.on_cleanup.append(stop_checks)
    # Nova's v2.0 endpoint is the same API without microversions (see microversion).
    novas = ("/compute/v2.1", microversion.LEGACY_V2)
    app.add_routes(
        [
            web.get("/", root),
            *keystone.routes(),
            *(r for nova in novas for r in nova_catalog.routes(nova)),
            *(r for nova in novas for r in nova_flavors.routes(nova)),
            *(r for nova in novas for r in nova_hosts.routes(nova)),
            *(r for nova in novas for r in nova_servers.routes(nova)),
            *(r for nova in novas for r in nova_server_metadata.routes(nova)),
            *(r for nova in novas for r in nova_actions.routes(nova)),
            *(r for nova in novas for r in nova_volumes.routes(nova)),
            *glance.routes(),
            *neutron.routes(),
            *((*cinder.routes(), *cinder_quotas.routes()) if settings.volumesvc_address else ()),
        ]
    )
    return app
