"""Nova v2.1 server metadata (under /compute/v2.1/servers/{id}/metadata): show, replace
(PUT), merge (POST), and one item's show, set and delete.

The api's UpdateServer replaces the whole map, so a write reads the server and writes back
the map it makes. The access addresses the gateway keeps in the metadata (nc.ACCESS_IP_KEYS)
are not shown here, and no write here changes them: a body naming one is refused (400), as on
create. Keys and values are checked with Nova's schema (nova_create_args.metadata): 400.
UpdateServer takes no precondition: two writes to one server's
metadata at once, the last one's map wins whole."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from google.protobuf.field_mask_pb2 import FieldMask

from polyvisor.compute.v1 import servers_pb2 as sp
from polyvisor.osapi.convert import nova as nc
from polyvisor.osapi.errors import ApiError
from polyvisor.osapi.handlers.common import body_of, stubs
from polyvisor.osapi.handlers.nova_create_args import METADATA_ITEMS, metadata
from polyvisor.osapi.handlers.nova_servers import get_server_msg

__all__ = ["METADATA_ITEMS", "routes"]

_RESERVED = frozenset(nc.ACCESS_IP_KEYS.values())


def _items(body: dict[str, Any], field: str) -> dict[str, str]:
    """The body's `field` object as Nova's schema takes it, no reserved key; 400 otherwise."""
    items = metadata(body.get(field), field)
    if reserved := sorted(set(items) & _RESERVED):
        raise ApiError(400, f"metadata key {reserved[0]} is reserved (set accessIPv4/accessIPv6)")
    return items


async def _write(request: web.Request, srv: Any, user: dict[str, str]) -> dict[str, str]:
    """Makes `user` the server's user metadata, keeping its access addresses; answers the
    user metadata the api stored."""
    full = {**user, **{k: v for k, v in srv.metadata.items() if k in _RESERVED}}
    if len(full) > METADATA_ITEMS:
        raise ApiError(403, f"Quota exceeded for metadata_items: Requested {len(full)}, but "
                            f"the limit is {METADATA_ITEMS}")  # fmt: skip
    if full != dict(srv.metadata):
        s = stubs(request)
        req = sp.UpdateServerRequest(server=sp.Server(id=srv.id, metadata=full),
                                     update_mask=FieldMask(paths=["metadata"]))  # fmt: skip
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
    return web.json_response({"metadata": await _write(request, srv, items)})


async def merge_metadata(request: web.Request) -> web.Response:
    items = _items(await body_of(request), "metadata")
    srv = await get_server_msg(request, request.match_info["id"])
    user = nc.user_metadata(srv.metadata) | items
    return web.json_response({"metadata": await _write(request, srv, user)})


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
    user = await _write(request, srv, nc.user_metadata(srv.metadata) | items)
    return web.json_response({"meta": {key: user[key]}})


async def delete_item(request: web.Request) -> web.Response:
    srv = await get_server_msg(request, request.match_info["id"])
    key = request.match_info["key"]
    _item(srv, key)
    user = nc.user_metadata(srv.metadata)
    del user[key]
    await _write(request, srv, user)
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
