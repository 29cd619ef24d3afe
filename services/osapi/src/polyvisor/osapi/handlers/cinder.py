"""Cinder v3 (under /volume, microversion 3.0): version discovery, volumes (list, detail,
show, create blank or from a snapshot (an imageRef is passed on: the volume service refuses
it while it has no image service), rename and describe, delete, os-extend), volume types (list,
show, default) and snapshots (list, detail, show, create, delete), each a call of the
volume service with the caller's token. The project in the path only names the links: the
volume service decides what the caller's token sees."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from polyvisor.osapi import microversion
from polyvisor.osapi.clients import Stubs
from polyvisor.osapi.convert import cinder as cc
from polyvisor.osapi.errors import ApiError
from polyvisor.osapi.handlers.common import (
    base_url,
    body_of,
    boolean,
    page_after,
    query_int,
    request_id,
    scope_of,
    stubs,
    volume_service,
)
from polyvisor.volume.v1 import volume_service_pb2 as vs
from polyvisor.volume.v1 import volumes_pb2 as vp

__all__ = ["routes"]

P = "/volume/v3/{project_id}"


# ---------------------------------------------------------------------- versions


def _v3(base: str) -> dict[str, Any]:
    return {"id": "v3.0", "status": "CURRENT", "version": str(microversion.VOLUME_MAX),
            "min_version": str(microversion.VOLUME_MIN), "updated": "2023-08-31T00:00:00Z",
            "links": [{"rel": "describedby", "type": "text/html",
                       "href": "https://docs.openstack.org/"},
                      {"rel": "self", "href": f"{base}/volume/v3/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.volume+json;version=3"}]}  # fmt: skip


async def versions(request: web.Request) -> web.Response:
    return web.json_response({"versions": [_v3(base_url(request))]}, status=300)


async def version(request: web.Request) -> web.Response:
    return web.json_response({"versions": [_v3(base_url(request))]})


# ---------------------------------------------------------------------- volumes


def _project(request: web.Request) -> str:
    return request.match_info["project_id"]


async def _multiattach_types(s: Stubs) -> set[str]:
    resp = await volume_service(s).ListVolumeTypes(
        vs.ListVolumeTypesRequest(), metadata=s.md, timeout=s.timeout
    )
    return {t.name for t in resp.volume_types if t.multiattach}


def _all_projects(request: web.Request) -> bool:
    raw = request.query.get("all_tenants") or request.query.get("all_projects")
    return boolean(raw, "all_tenants") if raw else False


async def _page(
    request: web.Request, method: str, req: Any, field: str, statuses: dict[Any, str]
) -> tuple[list[Any], dict[str, Any]]:
    """A Cinder list page: `method` of the volume service called with `req` (its `field` the
    items), Nova-style marker and limit, Cinder's name and status filters (`statuses`: the
    status spellings); and the `{field}_links` next link when more follow."""
    s, q = stubs(request), request.query
    name, status = q.get("name"), q.get("status")

    async def fetch(token: str, size: int) -> tuple[Any, str]:
        req.page_token, req.page_size = token, size
        resp = await getattr(volume_service(s), method)(req, metadata=s.md, timeout=s.timeout)
        return getattr(resp, field), resp.next_page_token

    def keep(x: Any) -> bool:
        return (name is None or x.name == name) and (
            status is None or statuses.get(x.status) == status
        )

    items, more = await page_after(fetch, limit=query_int(request, "limit"), marker=q.get("marker"),
                                   key=lambda x: x.id, keep=keep if name or status else None,
                                   scope=scope_of(request))  # fmt: skip
    links: dict[str, Any] = {}
    if more and items:
        params = {k: v for k, v in q.items() if k != "marker"} | {"marker": items[-1].id}
        href = f"{base_url(request)}{request.path}?{urlencode(params)}"
        links[f"{field}_links"] = [{"rel": "next", "href": href}]
    return items, links


async def _list(request: web.Request, detail: bool) -> web.Response:
    s = stubs(request)
    req = vs.ListVolumesRequest(all_projects=_all_projects(request))
    items, links = await _page(request, "ListVolumes", req, "volumes", cc.STATUS)
    base, project = base_url(request), _project(request)
    if detail:
        multi = await _multiattach_types(s) if items else set()
        shown = [cc.volume(v, base, project, v.volume_type in multi) for v in items]
    else:
        shown = [cc.volume_summary(v, base, project) for v in items]
    return web.json_response({"volumes": shown, **links})


async def list_volumes(request: web.Request) -> web.Response:
    return await _list(request, detail=False)


async def list_volumes_detail(request: web.Request) -> web.Response:
    return await _list(request, detail=True)


async def _shown(request: web.Request, s: Stubs, v: vp.Volume) -> dict[str, Any]:
    multi = await _multiattach_types(s)
    return {"volume": cc.volume(v, base_url(request), _project(request), v.volume_type in multi)}


async def show_volume(request: web.Request) -> web.Response:
    s = stubs(request)
    resp = await volume_service(s).GetVolume(vs.GetVolumeRequest(volume_id=request.match_info["id"]),
                                     metadata=s.md, timeout=s.timeout)  # fmt: skip
    return web.json_response(await _shown(request, s, resp.volume))


def _size(value: Any, name: str) -> int:
    """A size as Cinder's schema takes it: an integer or a string of digits."""
    if isinstance(value, bool) or not (
        isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())
    ):
        raise ApiError(400, f"Invalid input for field/attribute {name}. Value: {value!r}.")
    return int(value)


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ApiError(400, f"{key} must be a string")
    return value


_REFUSED = {
    "source_volid": "volumes cloned from a volume",
    "backup_id": "volumes restored from a backup",
    "consistencygroup_id": "consistency groups",
    "group_id": "volume groups",
    "scheduler_hints": "scheduler hints",
}


async def create_volume(request: web.Request) -> web.Response:
    s = stubs(request)
    body = await body_of(request, "volume")
    for key, what in _REFUSED.items():
        if body.get(key):
            raise ApiError(400, f"{key}: this block storage has no {what}")
    if body.get("metadata"):
        raise ApiError(400, "volume metadata is not kept by this block storage")
    zone = body.get("availability_zone")
    if zone not in (None, "", "nova"):
        raise ApiError(400, f"Availability zone '{zone}' is invalid.")
    snapshot_id = _text(body, "snapshot_id")
    size = body.get("size")
    if size is None and not snapshot_id:
        raise ApiError(400, "Invalid input for field/attribute size: a size is needed.")
    msg = vp.Volume(
        name=_text(body, "name"),
        description=_text(body, "description"),
        size_gb=0 if size is None else _size(size, "size"),
        volume_type=_text(body, "volume_type"),
        source_image_id=_text(body, "imageRef"),
        source_snapshot_id=snapshot_id,
    )
    if msg.size_gb == 0 and size is not None:
        raise ApiError(400, "Invalid input for field/attribute size: it must be at least 1.")
    resp = await volume_service(s).CreateVolume(
        vs.CreateVolumeRequest(volume=msg, request_id=request_id(request)),
        metadata=s.md,
        timeout=s.timeout,
    )
    return web.json_response(await _shown(request, s, resp.volume), status=202)


async def update_volume(request: web.Request) -> web.Response:
    s = stubs(request)
    body = await body_of(request, "volume")
    if body.get("metadata"):
        raise ApiError(400, "volume metadata is not kept by this block storage")
    req = vs.UpdateVolumeRequest(volume_id=request.match_info["id"])
    for key, field in (("name", "name"), ("display_name", "name"),
                       ("description", "description"), ("display_description", "description")):  # fmt: skip
        if key in body:
            setattr(req, field, _text(body, key))
    resp = await volume_service(s).UpdateVolume(req, metadata=s.md, timeout=s.timeout)
    return web.json_response(await _shown(request, s, resp.volume))


async def delete_volume(request: web.Request) -> web.Response:
    s = stubs(request)
    await volume_service(s).DeleteVolume(vs.DeleteVolumeRequest(volume_id=request.match_info["id"]),
                                 metadata=s.md, timeout=s.timeout)  # fmt: skip
    return web.Response(status=202)


async def volume_action(request: web.Request) -> web.Response:
    s = stubs(request)
    body = await body_of(request)
    if len(body) != 1:
        raise ApiError(400, "An action body names exactly one action")
    action, args = next(iter(body.items()))
    if action != "os-extend":
        raise ApiError(400, f"There is no such action: {action}")
    if not isinstance(args, dict) or "new_size" not in args:
        raise ApiError(400, "os-extend needs new_size")
    await volume_service(s).ExtendVolume(
        vs.ExtendVolumeRequest(volume_id=request.match_info["id"],
                               new_size_gb=_size(args["new_size"], "new_size")),
        metadata=s.md, timeout=s.timeout)  # fmt: skip
    return web.Response(status=202)


# ---------------------------------------------------------------------- types


async def _types(request: web.Request) -> list[vp.VolumeType]:
    s = stubs(request)
    resp = await volume_service(s).ListVolumeTypes(
        vs.ListVolumeTypesRequest(), metadata=s.md, timeout=s.timeout
    )
    return list(resp.volume_types)


async def list_types(request: web.Request) -> web.Response:
    return web.json_response({"volume_types": [cc.volume_type(t) for t in await _types(request)]})


async def show_type(request: web.Request) -> web.Response:
    wanted = request.match_info["id"]
    for t in await _types(request):
        if (wanted == "default" and t.is_default) or wanted in (t.id, t.name):
            return web.json_response({"volume_type": cc.volume_type(t)})
    if wanted == "default":
        raise ApiError(404, "Default volume type can not be found.")
    raise ApiError(404, f"Volume type {wanted} could not be found.")


# ---------------------------------------------------------------------- snapshots


async def _list_snapshots(request: web.Request, detail: bool) -> web.Response:
    req = vs.ListSnapshotsRequest(all_projects=_all_projects(request),
                                  volume_id=request.query.get("volume_id", ""))  # fmt: skip
    items, links = await _page(request, "ListSnapshots", req, "snapshots", cc.SNAPSHOT_STATUS)
    return web.json_response({"snapshots": [cc.snapshot(x, detail) for x in items], **links})


async def list_snapshots(request: web.Request) -> web.Response:
    return await _list_snapshots(request, detail=False)


async def list_snapshots_detail(request: web.Request) -> web.Response:
    return await _list_snapshots(request, detail=True)


async def show_snapshot(request: web.Request) -> web.Response:
    s = stubs(request)
    resp = await volume_service(s).GetSnapshot(vs.GetSnapshotRequest(snapshot_id=request.match_info["id"]),
                                       metadata=s.md, timeout=s.timeout)  # fmt: skip
    return web.json_response({"snapshot": cc.snapshot(resp.snapshot)})


async def create_snapshot(request: web.Request) -> web.Response:
    s = stubs(request)
    body = await body_of(request, "snapshot")
    volume_id = _text(body, "volume_id")
    if not volume_id:
        raise ApiError(400, "Invalid input for field/attribute volume_id: a volume is needed.")
    if body.get("metadata"):
        raise ApiError(400, "snapshot metadata is not kept by this block storage")
    force = boolean(body["force"], "force") if body.get("force") is not None else False
    msg = vp.Snapshot(volume_id=volume_id, name=_text(body, "name"),
                      description=_text(body, "description"))  # fmt: skip
    resp = await volume_service(s).CreateSnapshot(
        vs.CreateSnapshotRequest(snapshot=msg, force=force, request_id=request_id(request)),
        metadata=s.md,
        timeout=s.timeout,
    )
    return web.json_response({"snapshot": cc.snapshot(resp.snapshot)}, status=202)


async def delete_snapshot(request: web.Request) -> web.Response:
    s = stubs(request)
    await volume_service(s).DeleteSnapshot(vs.DeleteSnapshotRequest(snapshot_id=request.match_info["id"]),
                                   metadata=s.md, timeout=s.timeout)  # fmt: skip
    return web.Response(status=202)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/volume", versions),
        web.get("/volume/", versions),
        web.get("/volume/v3", version),
        web.get("/volume/v3/", version),
        web.get(f"{P}/volumes", list_volumes),
        web.get(f"{P}/volumes/detail", list_volumes_detail),
        web.post(f"{P}/volumes", create_volume),
        web.get(f"{P}/volumes/{{id}}", show_volume),
        web.put(f"{P}/volumes/{{id}}", update_volume),
        web.delete(f"{P}/volumes/{{id}}", delete_volume),
        web.post(f"{P}/volumes/{{id}}/action", volume_action),
        web.get(f"{P}/types", list_types),
        web.get(f"{P}/types/{{id}}", show_type),
        web.get(f"{P}/snapshots", list_snapshots),
        web.get(f"{P}/snapshots/detail", list_snapshots_detail),
        web.post(f"{P}/snapshots", create_snapshot),
        web.get(f"{P}/snapshots/{{id}}", show_snapshot),
        web.delete(f"{P}/snapshots/{{id}}", delete_snapshot),
    ]
