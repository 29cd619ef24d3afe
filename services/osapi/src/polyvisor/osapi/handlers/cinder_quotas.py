"""Cinder v3 beside volumes: limits, os-quota-sets (show with or without usage, update), the
one availability zone and the (empty) extension list. What `openstack quota show`,
`limits show` and `availability zone list` ask of a catalog with block storage in it.

The volume service keeps three limits per project (volumes, gigabytes, snapshots; -1: none);
there are no backups or groups, so their limits are 0. A project's defaults and a quota's
revert (DELETE) have no call in the volume service and are not answered."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from polyvisor.osapi.errors import ApiError
from polyvisor.osapi.handlers.common import body_of, boolean, stubs, volume_service
from polyvisor.volume.v1 import volume_service_pb2 as vs
from polyvisor.volume.v1 import volumes_pb2 as vp

__all__ = ["routes"]

P = "/volume/v3/{project_id}"
#: The quota_set keys the volume service keeps: key -> (limit field, usage field).
KEPT = {
    "volumes": ("volumes", "volumes_used"),
    "gigabytes": ("gigabytes", "gigabytes_used"),
    "snapshots": ("snapshots", "snapshots_used"),
}
#: What Cinder has and Polyvisor does not: none may be made.
NONE = ("backups", "backup_gigabytes", "groups")


async def _quota(request: web.Request, project_id: str) -> vp.VolumeQuota:
    s = stubs(request)
    resp = await volume_service(s).GetVolumeQuota(vs.GetVolumeQuotaRequest(project_id=project_id),
                                          metadata=s.md, timeout=s.timeout)  # fmt: skip
    return resp.quota


def _quota_set(q: vp.VolumeQuota, usage: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"id": q.project_id}
    for key, (limit, used) in KEPT.items():
        value, in_use = getattr(q, limit), getattr(q, used)
        out[key] = (
            {"limit": value, "in_use": in_use, "reserved": 0, "allocated": 0} if usage else value
        )
    for key in NONE:
        out[key] = {"limit": 0, "in_use": 0, "reserved": 0, "allocated": 0} if usage else 0
    out["per_volume_gigabytes"] = (
        {"limit": -1, "in_use": 0, "reserved": 0, "allocated": 0} if usage else -1
    )
    return out


async def limits(request: web.Request) -> web.Response:
    q = await _quota(request, request.query.get("project_id", ""))
    absolute = {
        "maxTotalVolumes": q.volumes, "totalVolumesUsed": q.volumes_used,
        "maxTotalVolumeGigabytes": q.gigabytes, "totalGigabytesUsed": q.gigabytes_used,
        "maxTotalSnapshots": q.snapshots, "totalSnapshotsUsed": q.snapshots_used,
        "maxTotalBackups": 0, "totalBackupsUsed": 0,
        "maxTotalBackupGigabytes": 0, "totalBackupGigabytesUsed": 0,
    }  # fmt: skip
    return web.json_response({"limits": {"rate": [], "absolute": absolute}})


async def show_quota(request: web.Request) -> web.Response:
    raw = request.query.get("usage")
    usage = boolean(raw, "usage") if raw else False
    q = await _quota(request, request.match_info["target"])
    return web.json_response({"quota_set": _quota_set(q, usage)})


async def update_quota(request: web.Request) -> web.Response:
    body = await body_of(request, "quota_set")
    bad = sorted(k for k in body if k not in KEPT and k != "id")
    if bad:
        raise ApiError(400, f"Bad key(s) in quota set: {', '.join(bad)}")
    q = await _quota(request, request.match_info["target"])
    new = vp.VolumeQuota(project_id=q.project_id, volumes=q.volumes, gigabytes=q.gigabytes,
                         snapshots=q.snapshots)  # fmt: skip
    for key, value in body.items():
        if key == "id":
            continue
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ApiError(400, f"{key} must be an integer")
        try:
            setattr(new, KEPT[key][0], int(value))
        except ValueError:
            raise ApiError(400, f"{key} must be an integer") from None
    s = stubs(request)
    resp = await volume_service(s).UpdateVolumeQuota(vs.UpdateVolumeQuotaRequest(quota=new),
                                             metadata=s.md, timeout=s.timeout)  # fmt: skip
    shown = _quota_set(resp.quota, usage=False)
    del shown["id"]
    return web.json_response({"quota_set": shown})


async def availability_zones(request: web.Request) -> web.Response:
    stubs(request)  # a token is needed, as for every Cinder call
    zone = {"zoneName": "nova", "zoneState": {"available": True}}
    return web.json_response({"availabilityZoneInfo": [zone]})


async def extensions(request: web.Request) -> web.Response:
    stubs(request)
    return web.json_response({"extensions": []})


def routes() -> list[web.RouteDef]:
    return [
        web.get(f"{P}/limits", limits),
        web.get(f"{P}/os-quota-sets/{{target}}", show_quota),
        web.put(f"{P}/os-quota-sets/{{target}}", update_quota),
        web.get(f"{P}/os-availability-zone", availability_zones),
        web.get(f"{P}/extensions", extensions),
    ]
