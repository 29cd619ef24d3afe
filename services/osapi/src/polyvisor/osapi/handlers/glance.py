"""Glance v2 (under /image): version discovery, schemas, images (create, list with
filters and paging, show, JSON-patch update, delete) and their data, streamed both ways
(PUT and GET /v2/images/{id}/file) through the image service's Upload and Download."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import grpc
from aiohttp import web
from google.protobuf.field_mask_pb2 import FieldMask

from polyvisor.image.v1 import images_pb2 as im
from polyvisor.osapi.convert import glance as gc
from polyvisor.osapi.convert.common import enum_in
from polyvisor.osapi.errors import ApiError
from polyvisor.osapi.handlers.common import (
    base_url,
    body_of,
    page_after,
    query_int,
    request_id,
    scope_of,
    stubs,
)
from polyvisor.osapi.handlers.glance_schemas import image_schema, images_schema
from polyvisor.types.v1 import disk_pb2 as dk
from polyvisor.types.v1 import hypervisor_pb2 as hv

__all__ = ["routes"]

CHUNK = 1 << 20
PATCH_TYPES = (
    "application/openstack-images-v2.1-json-patch",
    "application/openstack-images-v2.0-json-patch",
)


async def versions(request: web.Request) -> web.Response:
    href = f"{base_url(request)}/image/v2/"
    values = [{"id": f"v2.{n}", "status": "CURRENT" if n == 16 else "SUPPORTED",
               "links": [{"rel": "self", "href": href}]} for n in range(16, -1, -1)]  # fmt: skip
    return web.json_response({"versions": values}, status=300)


async def schema_image(request: web.Request) -> web.Response:
    return web.json_response(image_schema())


async def schema_images(request: web.Request) -> web.Response:
    return web.json_response(images_schema())


async def _get(request: web.Request, image_id: str) -> Any:
    s = stubs(request)
    resp = await s.images.GetImage(
        im.GetImageRequest(image_id=image_id), metadata=s.md, timeout=s.timeout
    )
    return resp.image


_SERVER_FILTERS = ("name", "status", "visibility", "owner", "disk_format", "hypervisor_type",
                   "architecture")  # fmt: skip
_IGNORED = ("limit", "marker", "sort", "sort_key", "sort_dir", "member_status", "os_hidden")


async def list_images(request: web.Request) -> web.Response:
    s = stubs(request)
    q = request.query
    # Glance's `in:` operator (`id=in:a,b`, as `openstack server list` asks for the names of
    # its servers' images): a filter over the listed images, never a server-side name.
    multi = {k: set(_split_in(v)) for k, v in q.items() if v.startswith("in:")}
    req = im.ListImagesRequest(name="" if "name" in multi else q.get("name", ""),
                               owner=q.get("owner", ""),
                               architecture=q.get("architecture", ""))  # fmt: skip
    if "status" in q and "status" not in multi:
        if q["status"] not in gc.STATUS_IN:
            raise ApiError(400, f"Invalid status value: {q['status']}")
        req.status = gc.STATUS_IN[q["status"]]
    if "visibility" in q and q["visibility"] != "all":
        if q["visibility"] not in gc.VISIBILITY_IN:
            raise ApiError(400, f"Invalid visibility value: {q['visibility']}")
        req.visibility = gc.VISIBILITY_IN[q["visibility"]]
    if "disk_format" in q and "disk_format" not in multi:
        req.disk_format = enum_in(dk.DiskFormat.DESCRIPTOR, q["disk_format"], "disk_format")  # type: ignore[assignment]
    if "hypervisor_type" in q:
        req.hypervisor_type = enum_in(  # type: ignore[assignment]
            hv.HypervisorType.DESCRIPTOR, q["hypervisor_type"], "hypervisor_type"
        )
    extra = {k: v for k, v in q.items()
             if k not in _SERVER_FILTERS and k not in _IGNORED and k not in multi}  # fmt: skip

    async def fetch(token: str, size: int) -> tuple[Any, str]:
        req.page_token, req.page_size = token, size
        resp = await s.images.ListImages(req, metadata=s.md, timeout=s.timeout)
        return resp.images, resp.next_page_token

    def keep(i: Any) -> bool:
        if not extra and not multi:
            return True
        shown = gc.image(i)
        return all(str(shown.get(k)) == v for k, v in extra.items()) and all(
            str(shown.get(k)) in vs for k, vs in multi.items()
        )

    images, more = await page_after(
        fetch, scope=scope_of(request), limit=query_int(request, "limit") or 25,
                                    marker=q.get("marker"), key=lambda i: i.id, keep=keep)  # fmt: skip
    body: dict[str, Any] = {"images": [gc.image(i) for i in images], "first": "/v2/images",
                            "schema": "/v2/schemas/images"}  # fmt: skip
    if more and images:
        params = {k: v for k, v in q.items() if k != "marker"} | {"marker": images[-1].id}
        body["next"] = f"/v2/images?{urlencode(params)}"
    return web.json_response(body)


def _split_in(value: str) -> list[str]:
    """The values of `in:a,b,"c,d"` (a quoted value may hold a comma)."""
    out, cur, quoted = [], "", False
    for ch in value[3:]:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [v for v in out if v]


async def create_image(request: web.Request) -> web.Response:
    s = stubs(request)
    body = await body_of(request)
    msg = gc.image_in(body)
    if not msg.container_format and msg.disk_format:
        msg.container_format = dk.CONTAINER_FORMAT_BARE
    rid = request_id(request)
    resp = await s.images.CreateImage(im.CreateImageRequest(request_id=rid, image=msg), metadata=s.md,
                                      timeout=s.timeout)  # fmt: skip
    image_id = resp.image.id
    return web.json_response(gc.image(resp.image), status=201,
                             headers={"Location": f"{base_url(request)}/image/v2/images/{image_id}"})  # fmt: skip


async def show_image(request: web.Request) -> web.Response:
    return web.json_response(gc.image(await _get(request, request.match_info["id"])))


async def update_image(request: web.Request) -> web.Response:
    if request.content_type not in PATCH_TYPES:
        raise ApiError(
            415, f"Unsupported Content-Type {request.content_type}; use {PATCH_TYPES[0]}"
        )
    ops = json.loads(await request.read() or b"null")
    if not isinstance(ops, list):
        raise ApiError(400, "The request body must be a JSON-patch list")
    current = await _get(request, request.match_info["id"])
    msg = im.Image(id=current.id)
    msg.properties.update(current.properties)
    paths: set[str] = set()
    for op in ops:
        if not isinstance(op, dict) or op.get("op") not in ("add", "replace", "remove"):
            raise ApiError(400, f"Invalid JSON-patch operation: {op!r}")
        key = str(op.get("path", "")).lstrip("/")
        if not key or "/" in key:
            raise ApiError(400, f"Invalid path {op.get('path')!r}")
        if op["op"] == "remove":
            if key not in gc.image(current):
                raise ApiError(409, f"Property {key} does not exist.")
            paths.add(gc.set_field(msg, key, None))
        else:
            paths.add(gc.set_field(msg, key, op.get("value")))
    if not paths:
        return web.json_response(gc.image(current))
    s = stubs(request)
    resp = await s.images.UpdateImage(im.UpdateImageRequest(image=msg, update_mask=FieldMask(paths=sorted(paths))),
                                      metadata=s.md, timeout=s.timeout)  # fmt: skip
    return web.json_response(gc.image(resp.image))


async def delete_image(request: web.Request) -> web.Response:
    s = stubs(request)
    await s.images.DeleteImage(im.DeleteImageRequest(image_id=request.match_info["id"]), metadata=s.md,
                               timeout=s.timeout)  # fmt: skip
    return web.Response(status=204)


async def upload(request: web.Request) -> web.Response:
    s = stubs(request)
    image_id = request.match_info["id"]

    async def messages() -> Any:
        yield im.UploadImageRequest(header=im.UploadImageHeader(image_id=image_id,
                                                                size=request.content_length or 0))  # fmt: skip
        buf = bytearray()
        async for piece in request.content.iter_chunked(CHUNK):
            buf += piece
            while len(buf) >= CHUNK:
                yield im.UploadImageRequest(chunk=bytes(buf[:CHUNK]))
                del buf[:CHUNK]
        if buf:
            yield im.UploadImageRequest(chunk=bytes(buf))

    resp = await s.images.UploadImage(messages(), metadata=s.md)
    if resp.image.status == im.IMAGE_STATUS_KILLED:
        raise ApiError(400, f"The image data was refused: {resp.image.status_message}")
    return web.Response(status=204)


async def download(request: web.Request) -> web.StreamResponse:
    s = stubs(request)
    call = s.images.DownloadImage(
        im.DownloadImageRequest(image_id=request.match_info["id"]), metadata=s.md
    )
    try:
        first = await call.read()
    except grpc.aio.AioRpcError as exc:
        # Glance answers 204 for an image that has no data yet (queued); the image service
        # refuses a download of it (FAILED_PRECONDITION).
        if exc.code() == grpc.StatusCode.FAILED_PRECONDITION and (
            (await _get(request, request.match_info["id"])).status == im.IMAGE_STATUS_QUEUED
        ):
            return web.Response(status=204)
        raise
    if not first or not first.HasField("metadata"):
        return web.Response(status=204)
    meta = first.metadata
    resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream",
                                       "Content-Length": str(meta.size)})  # fmt: skip
    await resp.prepare(request)
    while True:  # read() only: a stream's reads and iteration cannot be mixed
        msg = await call.read()
        if msg is grpc.aio.EOF:
            break
        await resp.write(msg.chunk)
    await resp.write_eof()
    return resp


def routes() -> list[web.RouteDef]:
    p = "/image/v2"
    return [
        web.get("/image", versions),
        web.get("/image/", versions),
        web.get(f"{p}/schemas/image", schema_image),
        web.get(f"{p}/schemas/images", schema_images),
        web.get(f"{p}/images", list_images),
        web.post(f"{p}/images", create_image),
        web.get(f"{p}/images/{{id}}", show_image),
        web.patch(f"{p}/images/{{id}}", update_image),
        web.delete(f"{p}/images/{{id}}", delete_image),
        web.put(f"{p}/images/{{id}}/file", upload),
        web.get(f"{p}/images/{{id}}/file", download),
    ]
