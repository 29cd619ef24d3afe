"""Nova's volume attachments (under /compute/v2.1/servers/{id}/os-volume_attachments): list
and show from the volume service's volumes of the server, attach and detach through the api's
AttachVolume and DetachVolume (the api reserves the volume in the volume service and the
server's host plugs it); and a server show's `os-extended-volumes:volumes_attached`.

The device a volume gets in the guest is not known to Polyvisor (a KVM guest finds it by the
volume id, `/dev/disk/by-id/scsi-0QEMU_QEMU_HARDDISK_<id>`): `device` is null, and the one
an attach asks for is ignored, as Nova's libvirt driver ignores it."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from aiohttp import web

from polyvisor.common.logging import get_logger
from polyvisor.compute.v1 import servers_pb2 as sp
from polyvisor.osapi.clients import Stubs
from polyvisor.osapi.convert.cinder import attachment_id
from polyvisor.osapi.convert.common import stable_uuid
from polyvisor.osapi.errors import ApiError
from polyvisor.osapi.handlers.common import (
    MV,
    body_of,
    boolean,
    request_id,
    stubs,
    volume_service,
)
from polyvisor.osapi.microversion import Version
from polyvisor.types.v1 import server_status_pb2 as ss
from polyvisor.volume.v1 import volume_service_pb2 as vs
from polyvisor.volume.v1 import volumes_pb2 as vp

__all__ = ["routes", "volumes_attached", "volumes_attached_soon"]

log = get_logger(__name__)


def _attachment(volume_id: str, server_id: str, delete: bool, mv: Version) -> dict[str, Any]:
    out: dict[str, Any] = {"id": volume_id, "serverId": server_id, "volumeId": volume_id,
                           "device": None}  # fmt: skip
    if mv >= (2, 70):
        out["tag"] = None
    if mv >= (2, 79):
        out["delete_on_termination"] = delete
    if mv >= (2, 89):
        del out["id"]
        out["attachment_id"] = attachment_id(volume_id, server_id)
        out["bdm_uuid"] = stable_uuid("bdm", volume_id, server_id)
    return out


def _of_server(v: vp.Volume, server_id: str) -> vp.Attachment | None:
    return next((a for a in v.attachments if a.server_id == server_id), None)


async def _server_volumes(s: Stubs, server_id: str) -> list[vp.Volume]:
    out: list[vp.Volume] = []
    token = ""
    while True:
        resp = await volume_service(s).ListVolumes(
            vs.ListVolumesRequest(server_id=server_id, page_size=1000, page_token=token),
            metadata=s.md,
            timeout=s.timeout,
        )
        out.extend(resp.volumes)
        token = resp.next_page_token
        if not token:
            return out


def volumes_attached_soon(
    request: web.Request, server_id: str
) -> asyncio.Task[list[dict[str, Any]] | None] | None:
    """`volumes_attached` on its way (a task, so that the show's other call goes beside it);
    None, and no task, when the gateway has no volume service."""
    if stubs(request).volumes is None:
        return None
    return asyncio.ensure_future(volumes_attached(request, server_id))


async def volumes_attached(request: web.Request, server_id: str) -> list[dict[str, Any]] | None:
    """A server show's `os-extended-volumes:volumes_attached` (one call of the volume
    service); None when there is none or it did not answer (the show goes on without)."""
    s = stubs(request)
    if s.volumes is None:
        return None
    try:
        vols = await _server_volumes(s, server_id)
    except grpc.aio.AioRpcError as exc:  # a show does not fail for the volume service
        log.warning("volumes of a server not listed", server_id=server_id, code=exc.code().name)
        return None
    out = []
    for v in vols:
        a = _of_server(v, server_id)
        entry: dict[str, Any] = {"id": v.id}
        if request[MV] >= (2, 3):
            entry["delete_on_termination"] = bool(a and a.delete_on_termination)
        out.append(entry)
    return out


async def _live_server(s: Stubs, server_id: str) -> None:
    resp = await s.compute.GetServer(sp.GetServerRequest(server_id=server_id), metadata=s.md,
                                     timeout=s.timeout)  # fmt: skip
    if resp.server.state == ss.SERVER_STATE_DELETED:
        raise ApiError(404, f"Instance {server_id} could not be found.")


async def list_attachments(request: web.Request) -> web.Response:
    s = stubs(request)
    sid = request.match_info["id"]
    await _live_server(s, sid)
    out = []
    for v in await _server_volumes(s, sid):
        a = _of_server(v, sid)
        out.append(_attachment(v.id, sid, bool(a and a.delete_on_termination), request[MV]))
    return web.json_response({"volumeAttachments": out})


async def show_attachment(request: web.Request) -> web.Response:
    s = stubs(request)
    sid, vid = request.match_info["id"], request.match_info["volume_id"]
    resp = await volume_service(s).GetVolume(vs.GetVolumeRequest(volume_id=vid), metadata=s.md,
                                     timeout=s.timeout)  # fmt: skip
    a = _of_server(resp.volume, sid)
    if a is None:
        raise ApiError(404, f"Volume attachment could not be found with filter: "
                            f"instance_uuid = {sid} AND volume_id = {vid}.")  # fmt: skip
    return web.json_response(
        {"volumeAttachment": _attachment(vid, sid, a.delete_on_termination, request[MV])}
    )


async def attach(request: web.Request) -> web.Response:
    s = stubs(request)
    sid = request.match_info["id"]
    body = await body_of(request, "volumeAttachment")
    vid = body.get("volumeId")
    if not isinstance(vid, str) or not vid:
        raise ApiError(400, "volumeAttachment.volumeId is required")
    if body.get("tag"):
        raise ApiError(400, "Volume attachment tags are not kept")
    if "delete_on_termination" in body and boolean(
        body["delete_on_termination"], "delete_on_termination"
    ):
        raise ApiError(400, "delete_on_termination is not supported for an attached volume")
    await s.compute.AttachVolume(
        sp.AttachVolumeRequest(server_id=sid, volume_id=vid, request_id=request_id(request)),
        metadata=s.md,
        timeout=s.timeout,
    )
    return web.json_response({"volumeAttachment": _attachment(vid, sid, False, request[MV])})


async def detach(request: web.Request) -> web.Response:
    s = stubs(request)
    await s.compute.DetachVolume(
        sp.DetachVolumeRequest(server_id=request.match_info["id"],
                               volume_id=request.match_info["volume_id"],
                               request_id=request_id(request)),
        metadata=s.md, timeout=s.timeout)  # fmt: skip
    return web.Response(status=202)


def routes(p: str) -> list[web.RouteDef]:
    many = f"{p}/servers/{{id}}/os-volume_attachments"
    return [
        web.get(many, list_attachments),
        web.post(many, attach),
        web.get(f"{many}/{{volume_id}}", show_attachment),
        web.delete(f"{many}/{{volume_id}}", detach),
    ]
