"""Nova v2.1 servers (under /compute/v2.1): create with networks, list and detail with
filters and paging markers, show, update, delete, addresses, tags (their metadata is in
nova_server_metadata)."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

import orjson
from aiohttp import web
from google.protobuf.field_mask_pb2 import FieldMask

from polyvisor.compute.v1 import servers_pb2 as sp
from polyvisor.osapi.convert import nova as nc
from polyvisor.osapi.errors import ApiError
from polyvisor.osapi.handlers.common import (
    CHECKS,
    KEPT,
    MV,
    base_url,
    body_of,
    page_after,
    query_int,
    request_id,
    scope_of,
    stubs,
    token_of,
)
from polyvisor.osapi.handlers.nova_create_args import (
    METADATA_ITEMS,
    boot_source,
    hints,
    networks,
    ref,
    user_metadata,
)
from polyvisor.osapi.handlers.nova_list_filters import deleted_only, list_filter, query
from polyvisor.osapi.handlers.nova_server_groups_of import groups_of
from polyvisor.osapi.handlers.nova_volumes import volumes_attached_soon
from polyvisor.types.v1 import server_status_pb2 as ss

__all__ = ["get_server_msg", "routes"]

TRUE = ("1", "true", "yes", "on", "")


async def get_server_msg(request: web.Request, server_id: str) -> Any:
    s = stubs(request)
    resp = await s.compute.GetServer(sp.GetServerRequest(server_id=server_id), metadata=s.md,
                                     timeout=s.timeout)  # fmt: skip
    if resp.server.state == ss.SERVER_STATE_DELETED:
        # The api keeps a deleted server readable for a while; Nova answers 404 at once (a
        # client's wait for the delete ends on it).
        raise ApiError(404, f"Instance {server_id} could not be found.")
    return resp.server


async def create_server(request: web.Request) -> web.Response:
    s = stubs(request)
    body = await body_of(request)
    srv = body.get("server")
    if not isinstance(srv, dict):
        raise ApiError(400, "The request body must have a 'server' object")
    name = str(srv.get("name") or "").strip()
    if not name:
        raise ApiError(400, "Invalid input for field/attribute name: a name is required")
    user_data = b""
    if srv.get("user_data"):
        try:
            user_data = base64.b64decode(str(srv["user_data"]), validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "user_data must be base64") from None
    meta = dict(user_metadata(srv.get("metadata", {}), "metadata"))
    if len(meta) > METADATA_ITEMS:
        raise ApiError(403, f"Quota exceeded for metadata_items: Requested {len(meta)}, but "
                            f"the limit is {METADATA_ITEMS}")  # fmt: skip
    meta.update({k: v for k, v in nc.access_ips(srv).items() if v})
    image, boot_volume, delete_boot = boot_source(srv)  # both given: the api refuses it
    spec = sp.ServerSpec(
        name=name,
        image_id=image,
        boot_volume_id=boot_volume,
        boot_volume_delete_on_termination=delete_boot,
        flavor_id=ref(srv.get("flavorRef"), "flavorRef"),
        key_name=str(srv.get("key_name") or ""),
        user_data=user_data,
        availability_zone=str(srv.get("availability_zone") or ""),
        scheduler_hints=hints(body),
        metadata=meta,
        networks=networks(srv.get("networks")),
    )
    lo = _count(srv, "min_count", 1)
    hi = _count(srv, "max_count", lo)
    if hi < lo:
        raise ApiError(400, "min_count must be <= max_count")
    rid = request_id(request)
    resp = await s.compute.CreateServer(
        sp.CreateServerRequest(request_id=rid, server=spec, min_count=lo, max_count=hi),
        metadata=s.md, timeout=s.timeout,
    )  # fmt: skip
    first = resp.servers[0]
    base = base_url(request)
    out = {"id": first.id, "links": nc.server_link(first, base)["links"],
           "OS-DCF:diskConfig": "MANUAL", "security_groups": [{"name": "default"}]}  # fmt: skip
    if srv.get("return_reservation_id"):
        return web.json_response({"reservation_id": f"r-{rid[:8]}"}, status=202)
    return web.json_response({"server": out}, status=202,
                             headers={"Location": out["links"][0]["href"]})  # fmt: skip


def _count(srv: dict[str, Any], field: str, default: int) -> int:
    """min_count or max_count as Nova's schema takes them: an integer, or a string of digits,
    at least 1."""
    value = srv.get(field, default)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ApiError(400, f"Invalid input for field/attribute {field}: {value!r} is not an "
                            "integer of at least 1")  # fmt: skip
    return value


async def _list(request: web.Request, detail: bool) -> web.Response:
    s = stubs(request)
    q = await query(request)
    base, mv = base_url(request), request[MV]
    token, kept_pages = token_of(request), request.app[KEPT]
    key = (token, request.path_qs, base, mv)
    kept = kept_pages.get(key)
    if kept is not None:  # answered again while no server changed (see kept_pages)
        if await request.app[CHECKS].get(token) == kept[0]:
            kept_pages.count(True)
            return web.Response(body=kept[1], content_type="application/json")
        kept_pages.drop(key)
    kept_pages.count(False)
    req = sp.ListServersRequest()
    if "status" in q:
        state = nc.status_to_state(q["status"])
        if state is None:
            return web.json_response({"servers": []})
        req.state = state  # type: ignore[assignment]
    if q.get("all_tenants", "0").lower() in TRUE:
        # tenant_id (project_id, the gateway's alias) narrows all_tenants; without it Nova
        # ignores it, for an admin too: the caller's own project is listed.
        req.all_projects = True
        req.project_id = q.get("project_id") or q.get("tenant_id") or ""
    if q.get("host"):
        req.host = q["host"]
    if q.get("tags"):
        req.tags.extend(t for t in q["tags"].split(",") if t)
    # changes-since without `deleted`: Nova lists the servers deleted since then too (how a
    # client syncs); list_filter keeps those deleted at or after the time. An admin's
    # deleted=true lists the deleted servers only, as Nova's.
    deleted = q.get("deleted", "true" if "changes-since" in q else "")
    if deleted.lower() in ("1", "true", "yes"):
        req.show_deleted = True
    keep = list_filter(request, q)
    if "deleted" in q and req.show_deleted:
        keep = deleted_only(keep)

    revisions: set[int] = set()  # of the api pages the page is made of

    async def fetch(token: str, size: int) -> tuple[Any, str]:
        req.page_token, req.page_size = token, size
        resp = await s.compute.ListServers(req, metadata=s.md, timeout=s.timeout)
        revisions.add(resp.revision)
        return resp.servers, resp.next_page_token

    servers, more = await page_after(
        fetch, scope=scope_of(request), limit=query_int(request, "limit"),
                                     marker=q.get("marker"), key=lambda x: x.id,
                                     keep=keep)  # fmt: skip
    if detail:
        items = encoded_servers(servers, base, mv)
    else:
        items = [orjson.dumps(nc.server_link(x, base)) for x in servers]
    tail = b"]"
    if more and servers:
        params = {k: v for k, v in q.items() if k != "marker"} | {"marker": servers[-1].id}
        path = "/servers/detail" if detail else "/servers"
        links = [{"rel": "next", "href": f"{base}/compute/v2.1{path}?{urlencode(params)}"}]
        tail += b',"servers_links":' + orjson.dumps(links)
    # One copy of the page's bytes: the head and the tail join the first and the last item.
    items = items or [b""]
    items[0] = b'{"servers":[' + items[0]
    items[-1] += tail + b"}"
    body = b",".join(items)
    if len(revisions) == 1:  # from api pages of one revision: a page a check can confirm
        kept_pages.keep(key, revisions.pop(), body)
    return web.Response(body=body, content_type="application/json")


async def list_servers(request: web.Request) -> web.Response:
    return await _list(request, detail=False)


async def list_servers_detail(request: web.Request) -> web.Response:
    return await _list(request, detail=True)


async def show_server(request: web.Request) -> web.Response:
    sid = request.match_info["id"]
    # A show names the server's volumes: one call of the volume service, sent beside the
    # server's (it lists only the caller's own volumes, found or not); a list answers [] each.
    volumes = volumes_attached_soon(request, sid)  # None: a cloud without block storage
    try:
        srv = await get_server_msg(request, sid)
    except BaseException:
        if volumes is not None:
            volumes.cancel()  # ends with the server's refusal (a cancelled task warns of nothing)
        raise
    body = encoded_servers([srv], base_url(request), request[MV])[0]
    if volumes is not None and (vols := await volumes):
        body = body.replace(nc.NO_VOLUMES, nc.VOLUMES_KEY + orjson.dumps(vols), 1)
    if (groups := await groups_of(request, srv)) is not None:  # kept out of the cached body
        body = body[:-1] + b',"server_groups":' + orjson.dumps(groups) + b"}"
    body = b'{"server":' + body + b"}"
    return web.Response(body=body, content_type="application/json")


#: A server's Nova JSON by (id, revision, variant): a server read again unchanged (every list
#: page, every poll of `--wait`) is not converted again. A variant is a (base URL,
#: microversion) the body was made for, numbered in _VARIANTS: the key stays a small tuple
#: (half the cost of a page's lookups when the pair was in it).
_ENCODED: OrderedDict[tuple[str, int, int], bytes] = OrderedDict()
_ENCODED_MAX = 20_000
_VARIANTS: dict[tuple[str, Any], int] = {}
#: The base URL comes from the Host header when no public URL is set: what clients can fill
#: stays bounded.
_VARIANTS_MAX = 64


def encoded_servers(servers: Iterable[Any], base: str, mv: Any) -> list[bytes]:
    """The servers' Nova JSON. orjson: when a server is read for the first time (or changed),
    json.dumps was a third of its cost and orjson is a tenth of json.dumps."""
    variant = _VARIANTS.get((base, mv))
    if variant is None:
        if len(_VARIANTS) >= _VARIANTS_MAX:
            _VARIANTS.clear()
            _ENCODED.clear()
        variant = _VARIANTS[(base, mv)] = len(_VARIANTS)
    out = []
    for srv in servers:
        key = (srv.id, srv.revision, variant)
        hit = _ENCODED.get(key) if key[1] else None
        if hit is None:
            hit = orjson.dumps(nc.server(srv, base, mv))
            if key[1]:  # no revision (an older api): nothing tells a change, made every time
                _ENCODED[key] = hit
                while len(_ENCODED) > _ENCODED_MAX:
                    _ENCODED.popitem(last=False)
        out.append(hit)
    return out


async def update_server(request: web.Request) -> web.Response:
    s = stubs(request)
    body = await body_of(request, "server")
    sid = request.match_info["id"]
    update, paths, patch = sp.Server(id=sid), [], None
    if "name" in body:
        update.name, paths = str(body["name"]), ["name"]
    if access := nc.access_ips(body):  # kept in the metadata: patched there, as the api holds it
        srv = await get_server_msg(request, sid)
        sets = {k: v for k, v in access.items() if v and srv.metadata.get(k) != v}
        if (gone := [k for k, v in access.items() if not v and k in srv.metadata]) or sets:
            patch = sp.MetadataPatch(set=sets, remove=gone)
    if paths or patch is not None:
        req = sp.UpdateServerRequest(server=update, update_mask=FieldMask(paths=paths),
                                     metadata_patch=patch)  # fmt: skip
        srv = (await s.compute.UpdateServer(req, metadata=s.md, timeout=s.timeout)).server
    elif not access:
        srv = await get_server_msg(request, sid)
    out = nc.server_updated(srv, base_url(request), request[MV])
    if (groups := await groups_of(request, srv)) is not None:
        out["server_groups"] = groups
    return web.json_response({"server": out})


async def delete_server(request: web.Request) -> web.Response:
    s = stubs(request)
    await s.compute.DeleteServer(
        sp.DeleteServerRequest(server_id=request.match_info["id"], request_id=str(uuid.uuid4())),
        metadata=s.md, timeout=s.timeout,
    )  # fmt: skip
    return web.Response(status=204)


async def server_ips(request: web.Request) -> web.Response:
    srv = await get_server_msg(request, request.match_info["id"])
    addrs = nc.addresses(srv)
    if net := request.match_info.get("network"):
        if net not in addrs:
            raise ApiError(404, f"Instance is not a member of specified network {net}")
        return web.json_response({net: addrs[net]})
    return web.json_response({"addresses": addrs})


def _tags_allowed(request: web.Request) -> None:
    if request[MV] < (2, 26):
        raise ApiError(404, "Server tags need microversion 2.26 or later")


async def list_tags(request: web.Request) -> web.Response:
    _tags_allowed(request)
    srv = await get_server_msg(request, request.match_info["id"])
    return web.json_response({"tags": list(srv.tags)})


async def check_tag(request: web.Request) -> web.Response:
    _tags_allowed(request)
    srv = await get_server_msg(request, request.match_info["id"])
    if request.match_info["tag"] not in srv.tags:
        raise ApiError(404, f"Tag {request.match_info['tag']} not found")
    return web.Response(status=204)


async def _add_tag(request: web.Request, sid: str, tag: str) -> Any:
    s = stubs(request)
    resp = await s.compute.AddServerTag(sp.AddServerTagRequest(server_id=sid, tag=tag),
                                        metadata=s.md, timeout=s.timeout)  # fmt: skip
    return resp.server


async def _remove_tag(request: web.Request, sid: str, tag: str) -> Any:
    s = stubs(request)
    resp = await s.compute.RemoveServerTag(sp.RemoveServerTagRequest(server_id=sid, tag=tag),
                                           metadata=s.md, timeout=s.timeout)  # fmt: skip
    return resp.server


async def add_tag(request: web.Request) -> web.Response:
    _tags_allowed(request)
    sid, tag = request.match_info["id"], request.match_info["tag"]
    before = await get_server_msg(request, sid)
    if tag in before.tags:
        return web.Response(status=204)
    await _add_tag(request, sid, tag)
    href = f"{base_url(request)}/compute/v2.1/servers/{sid}/tags/{tag}"
    return web.Response(status=201, headers={"Location": href})


async def remove_tag(request: web.Request) -> web.Response:
    _tags_allowed(request)
    await _remove_tag(request, request.match_info["id"], request.match_info["tag"])
    return web.Response(status=204)


async def replace_tags(request: web.Request) -> web.Response:
    _tags_allowed(request)
    sid = request.match_info["id"]
    wanted = (await body_of(request)).get("tags")
    if not isinstance(wanted, list) or not all(isinstance(t, str) for t in wanted):
        raise ApiError(400, "tags must be a list of strings")
    srv = await get_server_msg(request, sid)
    for tag in [t for t in srv.tags if t not in wanted]:
        srv = await _remove_tag(request, sid, tag)
    for tag in [t for t in dict.fromkeys(wanted) if t not in srv.tags]:
        srv = await _add_tag(request, sid, tag)
    return web.json_response({"tags": list(srv.tags)})


async def remove_all_tags(request: web.Request) -> web.Response:
    _tags_allowed(request)
    sid = request.match_info["id"]
    srv = await get_server_msg(request, sid)
    for tag in list(srv.tags):
        await _remove_tag(request, sid, tag)
    return web.Response(status=204)


def routes(p: str) -> list[web.RouteDef]:
    one = f"{p}/servers/{{id}}"
    return [
        web.get(f"{p}/servers", list_servers),
        web.post(f"{p}/servers", create_server),
        web.get(f"{p}/servers/detail", list_servers_detail),
        web.get(one, show_server),
        web.put(one, update_server),
        web.delete(one, delete_server),
        web.get(f"{one}/ips", server_ips),
        web.get(f"{one}/ips/{{network}}", server_ips),
        web.get(f"{one}/tags", list_tags),
        web.put(f"{one}/tags", replace_tags),
        web.delete(f"{one}/tags", remove_all_tags),
        web.get(f"{one}/tags/{{tag}}", check_tag),
        web.put(f"{one}/tags/{{tag}}", add_tag),
        web.delete(f"{one}/tags/{{tag}}", remove_tag),
    ]
