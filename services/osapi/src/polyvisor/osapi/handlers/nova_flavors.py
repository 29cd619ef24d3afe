"""Nova's flavors: list, show, create, delete; a flavor's description (PUT, 2.55), its extra
specs (os-extra_specs) and the projects that may use a private one (os-flavor-access,
addTenantAccess / removeTenantAccess), mapped onto the compute service's flavor calls
(UpdateFlavor changes the description, extra specs and access list in one transaction).
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from polyvisor.compute.v1 import flavors_pb2 as fp
from polyvisor.osapi.convert import nova as nc
from polyvisor.osapi.errors import ApiError
from polyvisor.osapi.handlers.common import (
    MV,
    base_url,
    body_of,
    boolean,
    page_after,
    query_int,
    scope_of,
    stubs,
)

__all__ = ["routes"]

#: Nova's limits of an extra spec (schemas/flavors_extraspecs.py).
MAX_SPEC = 255

# ---------------------------------------------------------------------- flavors


async def _flavors(request: web.Request, detail: bool) -> web.Response:
    s = stubs(request)
    q = request.query
    public = q.get("is_public", "true").lower()
    req = fp.ListFlavorsRequest(min_ram_mb=query_int(request, "minRam") or 0,
                                min_disk_gb=query_int(request, "minDisk") or 0,
                                include_private=public in ("none", "false", "0"))  # fmt: skip

    async def fetch(token: str, size: int) -> tuple[Any, str]:
        req.page_token, req.page_size = token, size
        resp = await s.compute.ListFlavors(req, metadata=s.md, timeout=s.timeout)
        return resp.flavors, resp.next_page_token

    def keep(f: Any) -> bool:
        # Nova: by default the public flavors and the private ones the caller's project may
        # use (what the api lists without include_private); is_public=false: private only.
        return public not in ("false", "0") or not f.is_public

    flavors, _ = await page_after(
        fetch, scope=scope_of(request), limit=query_int(request, "limit"), marker=q.get("marker"),
                                  key=lambda f: f.id, keep=keep)  # fmt: skip
    base, mv = base_url(request), request[MV]
    if detail:
        items = [nc.flavor(f, base, mv) for f in flavors]
    else:
        items = [{k: v for k, v in nc.flavor(f, base, mv).items()
                  if k in ("id", "name", "links", "description")} for f in flavors]  # fmt: skip
    return web.json_response({"flavors": items})


async def list_flavors(request: web.Request) -> web.Response:
    return await _flavors(request, detail=False)


async def list_flavors_detail(request: web.Request) -> web.Response:
    return await _flavors(request, detail=True)


async def _flavor(request: web.Request) -> Any:
    s = stubs(request)
    resp = await s.compute.GetFlavor(fp.GetFlavorRequest(flavor_id=request.match_info["id"]),
                                     metadata=s.md, timeout=s.timeout)  # fmt: skip
    return resp.flavor


async def show_flavor(request: web.Request) -> web.Response:
    f = await _flavor(request)
    return web.json_response({"flavor": nc.flavor(f, base_url(request), request[MV])})


async def flavor_extra_specs(request: web.Request) -> web.Response:
    f = await _flavor(request)
    return web.json_response({"extra_specs": dict(f.extra_specs)})


async def create_flavor(request: web.Request) -> web.Response:
    s = stubs(request)
    b = await body_of(request, "flavor")
    try:
        msg = fp.Flavor(id=str(b.get("id") or ""), name=str(b.get("name") or ""),
                        vcpus=int(b.get("vcpus") or 0), ram_mb=int(b.get("ram") or 0),
                        disk_gb=int(b.get("disk") or 0),
                        is_public=boolean(b.get("os-flavor-access:is_public", True),
                                          "os-flavor-access:is_public"),
                        description=str(b.get("description") or ""))  # fmt: skip
    except (TypeError, ValueError):
        raise ApiError(400, "vcpus, ram and disk must be integers") from None
    resp = await s.compute.CreateFlavor(
        fp.CreateFlavorRequest(request_id=str(uuid.uuid4()), flavor=msg), metadata=s.md,
        timeout=s.timeout,
    )  # fmt: skip
    return web.json_response({"flavor": nc.flavor(resp.flavor, base_url(request), request[MV])})


async def delete_flavor(request: web.Request) -> web.Response:
    s = stubs(request)
    await s.compute.DeleteFlavor(fp.DeleteFlavorRequest(flavor_id=request.match_info["id"]),
                                 metadata=s.md, timeout=s.timeout)  # fmt: skip
    return web.Response(status=202)


async def _update(request: web.Request, **change: Any) -> Any:
    s = stubs(request)
    resp = await s.compute.UpdateFlavor(
        fp.UpdateFlavorRequest(flavor_id=request.match_info["id"], **change), metadata=s.md,
        timeout=s.timeout,
    )  # fmt: skip
    return resp.flavor


async def update_flavor(request: web.Request) -> web.Response:
    if request[MV] < (2, 55):
        raise ApiError(404, "Updating a flavor needs microversion 2.55 or later")
    b = await body_of(request, "flavor")
    if set(b) != {"description"}:
        raise ApiError(400, "Only the description of a flavor can be updated")
    text = b["description"]
    if text is not None and not isinstance(text, str):
        raise ApiError(400, "description must be a string or null")
    f = await _update(request, description=text or "")
    return web.json_response({"flavor": nc.flavor(f, base_url(request), request[MV])})


# ---------------------------------------------------------------------- extra specs


def _specs(body: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in body.items():
        if not isinstance(k, str) or not 1 <= len(k) <= MAX_SPEC:
            raise ApiError(400, f"extra spec key {str(k)[:40]!r} must be 1 to 255 characters")
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise ApiError(400, f"extra spec {k} must be a string or a number")
        value = str(v)
        if len(value) > MAX_SPEC:
            raise ApiError(400, f"extra spec {k} is longer than 255 characters")
        out[k] = value
    return out


async def create_extra_specs(request: web.Request) -> web.Response:
    specs = _specs(await body_of(request, "extra_specs"))
    if not specs:
        raise ApiError(400, "extra_specs must not be empty")
    await _update(request, set_extra_specs=specs)
    return web.json_response({"extra_specs": specs})


async def show_extra_spec(request: web.Request) -> web.Response:
    f = await _flavor(request)
    key = request.match_info["key"]
    if key not in f.extra_specs:
        raise ApiError(404, f"Flavor {f.id} has no extra specs with key {key}.")
    return web.json_response({key: f.extra_specs[key]})


async def update_extra_spec(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    specs = _specs(await body_of(request))
    if key not in specs:
        raise ApiError(400, "Request body and URI mismatch")
    if len(specs) > 1:
        raise ApiError(400, "Request body contains too many items")
    await _update(request, set_extra_specs=specs)
    return web.json_response(specs)


async def delete_extra_spec(request: web.Request) -> web.Response:
    await _update(request, unset_extra_specs=[request.match_info["key"]])
    return web.Response(status=200)


# ---------------------------------------------------------------------- access


def _access(f: Any) -> dict[str, Any]:
    return {"flavor_access": [{"flavor_id": f.id, "tenant_id": p} for p in f.project_ids]}


async def list_access(request: web.Request) -> web.Response:
    f = await _flavor(request)
    if f.is_public:
        raise ApiError(404, "Access list not available for public flavors.")
    return web.json_response(_access(f))


async def flavor_action(request: web.Request) -> web.Response:
    body = await body_of(request)
    if len(body) != 1:
        raise ApiError(400, "One action per request: addTenantAccess or removeTenantAccess")
    [(name, args)] = body.items()
    if name not in ("addTenantAccess", "removeTenantAccess"):
        raise ApiError(400, f"There is no such action: {name}")
    if not isinstance(args, dict) or not isinstance(args.get("tenant"), str) or not args["tenant"]:
        raise ApiError(400, f"{name} needs a 'tenant' string")
    field = "add_project_ids" if name == "addTenantAccess" else "remove_project_ids"
    f = await _update(request, **{field: [args["tenant"]]})
    return web.json_response(_access(f))


def routes(p: str) -> list[web.RouteDef]:
    one = f"{p}/flavors/{{id}}"
    return [
        web.get(f"{p}/flavors", list_flavors),
        web.post(f"{p}/flavors", create_flavor),
        web.get(f"{p}/flavors/detail", list_flavors_detail),
        web.get(one, show_flavor),
        web.put(one, update_flavor),
        web.delete(one, delete_flavor),
        web.post(f"{one}/action", flavor_action),
        web.get(f"{one}/os-flavor-access", list_access),
        web.get(f"{one}/os-extra_specs", flavor_extra_specs),
        web.post(f"{one}/os-extra_specs", create_extra_specs),
        web.get(f"{one}/os-extra_specs/{{key}}", show_extra_spec),
        web.put(f"{one}/os-extra_specs/{{key}}", update_extra_spec),
        web.delete(f"{one}/os-extra_specs/{{key}}", delete_extra_spec),
    ]
