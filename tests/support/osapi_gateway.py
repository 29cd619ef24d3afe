"""The OpenStack gateway's whole app served on an ephemeral port over in-memory compute and
volume stand-ins: for handler tests that drive it through HTTP and read what the stand-ins
keep; and `update`, what the api's UpdateServer does to a server, for the stand-ins to share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from polyvisor.compute.v1 import servers_pb2 as sp
from polyvisor.osapi.clients import Stubs
from polyvisor.osapi.config import OsapiSettings
from polyvisor.osapi.handlers import make_app
from tests.support.volume_standin import Volumes

__all__ = ["gateway", "update"]


class _Apis:
    """What the app calls for its stubs: `compute` and `volumes` are the stand-ins, the
    other services none."""

    def __init__(self, compute: Any, volumes: Any) -> None:
        self.compute = compute
        self.volumes = volumes

    def as_user(self, token: str = "") -> Stubs:
        return Stubs(self.compute, None, None, None, self.volumes, (), 1.0)  # type: ignore[arg-type]

    async def close(self) -> None:
        pass


@asynccontextmanager
async def gateway(
    compute: Any, volumes: Any = None, settings: OsapiSettings | None = None
) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    """A client of the gateway whose compute calls go to `compute`, its volume service
    calls to `volumes` (without: a volume service that has no volumes; none at all when
    `settings` names no volume service)."""
    settings = settings or OsapiSettings()
    if not settings.volumesvc_address:
        volumes = None
    elif volumes is None:
        volumes = Volumes()
    app = make_app(_Apis(compute, volumes), settings)  # type: ignore[arg-type]
    c = TestClient(TestServer(app))
    await c.start_server()
    try:
        yield c
    finally:
        await c.close()


def update(srv: sp.Server, req: sp.UpdateServerRequest) -> sp.Server:
    """`srv` changed as the api's UpdateServer changes it: the fields update_mask names
    replaced, then metadata_patch applied to the metadata as it stands (the api does it in
    one transaction)."""
    if "name" in req.update_mask.paths:
        srv.name = req.server.name
    if "metadata" in req.update_mask.paths:
        srv.metadata.clear()
        srv.metadata.update(dict(req.server.metadata))
    if req.HasField("metadata_patch"):
        patch = req.metadata_patch
        assert not set(patch.set) & set(patch.remove)
        for k in list(srv.metadata):
            if k in patch.remove or (patch.replace and k not in patch.keep):
                del srv.metadata[k]
        srv.metadata.update(dict(patch.set))
    return srv
