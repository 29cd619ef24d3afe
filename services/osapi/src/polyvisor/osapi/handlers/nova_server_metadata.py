"""Nova v2.1 server metadata (under /compute/v2.1/servers/{id}/metadata): show, replace
(PUT), merge (POST), and one item's show, set and delete.

A write is a metadata patch (keys to set, keys to remove, or a replace that keeps some keys)
the api applies in its own transaction to the metadata as it stands then: writes at once
each apply, none is lost (a read-modify-write of the whole map lost all but the last). The
access addresses the gateway keeps in the metadata (nc.ACCESS_IP_KEYS) are not shown here,
and no write here changes them: a body naming one is refused (400), as on create. Keys and
values are checked with Nova's schema (nova_create_args.metadata): 400."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web

from polyvisor.compute.v1 import servers_pb2 as sp
from polyvisor.osapi.convert import nova as nc
from polyvisor.osapi.errors import ApiError
from polyvisor.osapi.handlers.common import body_of, stubs
from polyvisor.osapi.handlers.nova_create_args import METADATA_ITEMS, user_metadata
from polyvisor.osapi.handlers.nova_servers import get_server_msg

__all__ = ["METADATA_ITEMS", "routes"]

_RESERVED = frozenset(nc.ACCESS_IP_KEYS.values())


def _items(body: dict[str, Any], field: str) -> dict[str, str]:
    return user_metadata(body.get(field), field)


async def _write(
    request: web.Request,
    srv: Any,
    items: dict[str, str],
    remove: Iterable[str] = (),
    *,
    replace: bool = False,
) -> dict[str, str]:
    """Sets `items` and removes `remove` from the server's user metadata (`replace`: the
    user metadata becomes `items`), the access addresses kept; answers the user metadata the
    api stored. Over the quota on the map read: Nova's 403 (the api checks the map as it
    stands again, a 403 too)."""
    remove = [k for k in remove if k in srv.metadata]
    kept = {k: v for k, v in srv.metadata.items() if k in _RESERVED or not replace}
    after = {k: v for k, v in kept.items() if k not in remove} | items
    if len(after) > METADATA_ITEMS:
        raise ApiError(403, f"Quota exceeded for metadata_items: Requested {len(after)}, but "
                            f"the limit is {METADATA_ITEMS}")  # fmt: skip
    if after == dict(srv.metadata):
        return nc.user_metadata(srv.metadata)
    patch = sp.MetadataPatch(set=items, remove=remove, replace=replace, keep=sorted(_RESERVED))
    s = stubs(request)
    req = sp.UpdateServerRequest(server=sp.Server(id=srv.id), metadata_patch=patch)
    srv = (await s.compute.UpdateServer(req, metadata=s.md, timeout=s.timeout)).server
    return nc.user_metadata(srv.metadata)


def _item(srv: Any, key: str) -> str:
    if key in _RESERVED or key not in srv.metadata:
        raise ApiError(404, "Metadata item was not found")
    return str(srv.metadata[key])


async def show_metadata(request: web.Request) -> web.Response:
    srv = await get_server_msg(request, request.match_info["id"])
    return web.json_response({"metadata": nc.user_metadata(srv.metadata)})


async def replace_metadata(request: web.Request) -> web.Response:
    items = _items(await body_of(request), "metadata")
    srv = await get_server_msg(request, request.match_info["id"])
    return web.json_response({"metadata": await _write(request, srv, items, replace=True)})


async def merge_metadata(request: web.Request) -> web.Response:
    items = _items(await body_of(request), "metadata")
    srv = await get_server_msg(request, request.match_info["id"])
    return web.json_response({"metadata": await _write(request, srv, items)})


async def show_item(request: web.Request) -> web.Response:
    srv = await get_server_msg(request, request.match_info["id"])
    key = request.match_info["key"]
    return web.json_response({"meta": {key: _item(srv, key)}})


async def set_item(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    items = _items(await body_of(request), "meta")
    if len(items) != 1:
        raise ApiError(400, "Request body must have exactly one item in meta")
    if key not in items:
        raise ApiError(400, "Request body and URI mismatch")
    srv = await get_server_msg(request, request.match_info["id"])
    await _write(request, srv, items)
    return web.json_response({"meta": items})


async def delete_item(request: web.Request) -> web.Response:
    srv = await get_server_msg(request, request.match_info["id"])
    key = request.match_info["key"]
    _item(srv, key)
    await _write(request, srv, {}, [key])
    return web.Response(status=204)


def routes(p: str) -> list[web.RouteDef]:
    meta = f"{p}/servers/{{id}}/metadata"
    return [
        web.get(meta, show_metadata),
        web.put(meta, replace_metadata),
        web.post(meta, merge_metadata),
        web.get(f"{meta}/{{key}}", show_item),
        web.put(f"{meta}/{{key}}", set_item),
        web.delete(f"{meta}/{{key}}", delete_item),
    ]
