"""Nova v2.1 beside servers: version discovery, keypairs, limits, os-quota-sets,
os-server-groups (flavors: nova_flavors).

One concern: Nova's routes beside servers, one handler each, mapped onto the compute
service.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from google.protobuf.field_mask_pb2 import FieldMask

from polyvisor.compute.v1 import keypairs_pb2 as kp
from polyvisor.compute.v1 import quotas_pb2 as qp
from polyvisor.compute.v1 import server_groups_pb2 as gp
from polyvisor.osapi import microversion
from polyvisor.osapi.convert import nova as nc
from polyvisor.osapi.errors import ApiError
from polyvisor.osapi.handlers.common import (
    MV,
    base_url,
    body_of,
    stubs,
    whoami,
)
from polyvisor.osapi.handlers.nova_server_metadata import METADATA_ITEMS
from polyvisor.types.v1 import server_group_pb2 as sgp

__all__ = ["routes"]


def _v21(base: str) -> dict[str, Any]:
    return {"id": "v2.1", "status": "CURRENT", "version": str(microversion.MAX_VERSION),
            "min_version": str(microversion.MIN_VERSION), "updated": "2013-07-23T11:33:21Z",
            "links": [{"rel": "self", "href": f"{base}/compute/v2.1/"}]}  # fmt: skip


def _v20(base: str) -> dict[str, Any]:
    return {"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "",
            "updated": "2011-01-21T11:33:21Z",
            "links": [{"rel": "self", "href": f"{base}/compute/v2/"}]}  # fmt: skip


async def versions(request: web.Request) -> web.Response:
    base = base_url(request)
    return web.json_response({"versions": [_v20(base), _v21(base)]})


async def version(request: web.Request) -> web.Response:
    if microversion.is_legacy_v2(request.path):
        return web.json_response({"version": _v20(base_url(request)) | {"media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2"}
        ]}})  # fmt: skip
    v = _v21(base_url(request))
    v["media-types"] = [{"base": "application/json",
                         "type": "application/vnd.openstack.compute+json;version=2.1"}]  # fmt: skip
    return web.json_response({"version": v})


# ---------------------------------------------------------------------- keypairs


async def list_keypairs(request: web.Request) -> web.Response:
    s = stubs(request)
    resp = await s.compute.ListKeypairs(
        kp.ListKeypairsRequest(page_size=1000, user_id=request.query.get("user_id", "")),
        metadata=s.md, timeout=s.timeout,
    )  # fmt: skip
    return web.json_response(
        {"keypairs": [{"keypair": nc.keypair(k, request[MV])} for k in resp.keypairs]}
    )


async def create_keypair(request: web.Request) -> web.Response:
    s = stubs(request)
    b = await body_of(request, "keypair")
    name = str(b.get("name") or "")
    kind = kp.KEYPAIR_TYPE_X509 if b.get("type") == "x509" else kp.KEYPAIR_TYPE_SSH
    private = ""
    if b.get("public_key"):
        resp = await s.compute.ImportKeypair(
            kp.ImportKeypairRequest(name=name, public_key=str(b["public_key"]), type=kind),
            metadata=s.md, timeout=s.timeout,
        )  # fmt: skip
        key = resp.keypair
    else:
        if request[MV] >= (2, 92):
            raise ApiError(400, "public_key is required from microversion 2.92")
        made = await s.compute.CreateKeypair(kp.CreateKeypairRequest(name=name, type=kind),
                                             metadata=s.md, timeout=s.timeout)  # fmt: skip
        key, private = made.keypair, made.private_key
    out = nc.keypair(key, request[MV])
    out["user_id"] = key.user_id
    if private:
        out["private_key"] = private
    return web.json_response({"keypair": out}, status=201 if request[MV] >= (2, 2) else 200)


async def show_keypair(request: web.Request) -> web.Response:
    s = stubs(request)
    resp = await s.compute.GetKeypair(kp.GetKeypairRequest(name=request.match_info["name"],
                                                           user_id=request.query.get("user_id", "")),
                                      metadata=s.md, timeout=s.timeout)  # fmt: skip
    return web.json_response({"keypair": nc.keypair(resp.keypair, request[MV], detail=True)})


async def delete_keypair(request: web.Request) -> web.Response:
    s = stubs(request)
    await s.compute.DeleteKeypair(kp.DeleteKeypairRequest(name=request.match_info["name"],
                                                          user_id=request.query.get("user_id", "")),
                                  metadata=s.md, timeout=s.timeout)  # fmt: skip
    return web.Response(status=204 if request[MV] >= (2, 2) else 202)


# ---------------------------------------------------------------------- limits and quotas

_FIXED = {
    "metadata_items": METADATA_ITEMS,
    "key_pairs": 100,
    "server_groups": 10,
    "server_group_members": 10,
}
_FILES = {
    "injected_files": 5,
    "injected_file_content_bytes": 10240,
    "injected_file_path_bytes": 255,
}
_NET = {"fixed_ips": -1, "floating_ips": 10, "security_groups": 10, "security_group_rules": 20}


async def _quota(request: web.Request, project_id: str) -> Any:
    s = stubs(request)
    resp = await s.compute.GetQuota(qp.GetQuotaRequest(project_id=project_id), metadata=s.md,
                                    timeout=s.timeout)  # fmt: skip
    return resp.quota


async def limits(request: web.Request) -> web.Response:
    mv = request[MV]
    q = await _quota(request, request.query.get("tenant_id", ""))
    lim, use = q.limits, q.usage
    absolute: dict[str, int] = {
        "maxTotalInstances": lim.instances, "maxTotalCores": lim.vcpus, "maxTotalRAMSize": lim.ram_mb,
        "totalInstancesUsed": use.instances, "totalCoresUsed": use.vcpus, "totalRAMUsed": use.ram_mb,
        "maxServerMeta": 128, "maxImageMeta": 128, "maxTotalKeypairs": 100,
        "maxServerGroups": 10, "maxServerGroupMembers": 10, "totalServerGroupsUsed": 0,
    }  # fmt: skip
    if mv < (2, 36):
        absolute.update({"maxSecurityGroups": 10, "maxSecurityGroupRules": 20,
                         "maxTotalFloatingIps": 10, "totalFloatingIpsUsed": 0,
                         "totalSecurityGroupsUsed": 0})  # fmt: skip
    if mv < (2, 57):
        absolute.update({"maxPersonality": 5, "maxPersonalitySize": 10240})
    return web.json_response({"limits": {"rate": [], "absolute": absolute}})


def _quota_set(q: Any, mv: Any, detail: bool = False) -> dict[str, Any]:
    values: dict[str, Any] = {"instances": q.limits.instances, "cores": q.limits.vcpus,
                              "ram": q.limits.ram_mb, **_FIXED}  # fmt: skip
    if mv < (2, 57):
        values |= _FILES
    if mv < (2, 36):
        values |= _NET
    if detail:
        used = {"instances": q.usage.instances, "cores": q.usage.vcpus, "ram": q.usage.ram_mb}
        values = {
            k: {"limit": v, "in_use": used.get(k, 0), "reserved": 0} for k, v in values.items()
        }
    return values


async def show_quota(request: web.Request) -> web.Response:
    pid = request.match_info["project_id"]
    q = await _quota(request, pid)
    detail = request.path.endswith("/detail")
    return web.json_response({"quota_set": {"id": pid, **_quota_set(q, request[MV], detail)}})


async def update_quota(request: web.Request) -> web.Response:
    s = stubs(request)
    b = await body_of(request, "quota_set")
    fields = {"instances": "instances", "cores": "vcpus", "ram": "ram_mb"}
    limits_msg, paths = qp.QuotaLimits(), []
    for key, field in fields.items():
        if key in b:
            try:
                setattr(limits_msg, field, int(b[key]))
            except (TypeError, ValueError):
                raise ApiError(400, f"{key} must be an integer") from None
            paths.append(field)
    resp = await s.compute.UpdateQuota(
        qp.UpdateQuotaRequest(project_id=request.match_info["project_id"], limits=limits_msg,
                              update_mask=FieldMask(paths=paths)),
        metadata=s.md, timeout=s.timeout,
    )  # fmt: skip
    return web.json_response({"quota_set": _quota_set(resp.quota, request[MV])})


# ---------------------------------------------------------------------- server groups

_POLICIES = {"affinity": sgp.SERVER_GROUP_POLICY_AFFINITY,
             "anti-affinity": sgp.SERVER_GROUP_POLICY_ANTI_AFFINITY}  # fmt: skip


def _group(g: Any, mv: Any, user_id: str = "") -> dict[str, Any]:
    policy = {v: k for k, v in _POLICIES.items()}.get(g.policy, "")
    out: dict[str, Any] = {"id": g.id, "name": g.name, "members": list(g.members)}
    if mv >= (2, 64):
        out.update({"policy": policy, "rules": {}})
    else:
        out.update({"policies": [policy], "metadata": {}})
    if mv >= (2, 13):
        out.update({"project_id": g.project_id, "user_id": user_id})
    return out


async def list_groups(request: web.Request) -> web.Response:
    s = stubs(request)
    all_projects = request.query.get("all_projects", "").lower() in ("1", "true", "")
    all_projects = all_projects and "all_projects" in request.query
    resp = await s.compute.ListServerGroups(gp.ListServerGroupsRequest(page_size=1000,
                                                                       all_projects=all_projects),
                                            metadata=s.md, timeout=s.timeout)  # fmt: skip
    return web.json_response(
        {"server_groups": [_group(g, request[MV]) for g in resp.server_groups]}
    )


async def create_group(request: web.Request) -> web.Response:
    s = stubs(request)
    b = await body_of(request, "server_group")
    policy = b.get("policy") or (b.get("policies") or [None])[0]
    if policy not in _POLICIES:
        raise ApiError(400, f"Invalid server group policy {policy!r}: affinity or anti-affinity")
    msg = gp.ServerGroup(name=str(b.get("name") or ""), policy=_POLICIES[policy])
    resp = await s.compute.CreateServerGroup(
        gp.CreateServerGroupRequest(request_id=str(uuid.uuid4()), server_group=msg),
        metadata=s.md, timeout=s.timeout,
    )  # fmt: skip
    who = await whoami(request)
    return web.json_response({"server_group": _group(resp.server_group, request[MV], who.user_id)})


async def show_group(request: web.Request) -> web.Response:
    s = stubs(request)
    resp = await s.compute.GetServerGroup(gp.GetServerGroupRequest(server_group_id=request.match_info["id"]),
                                          metadata=s.md, timeout=s.timeout)  # fmt: skip
    return web.json_response({"server_group": _group(resp.server_group, request[MV])})


async def delete_group(request: web.Request) -> web.Response:
    s = stubs(request)
    await s.compute.DeleteServerGroup(gp.DeleteServerGroupRequest(server_group_id=request.match_info["id"]),
                                      metadata=s.md, timeout=s.timeout)  # fmt: skip
    return web.Response(status=204)


#: (name, alias, description) of the extensions whose APIs the gateway serves, as Nova's
#: frozen extension list names them.
_EXTENSIONS = (
    ("AvailabilityZone", "os-availability-zone", "1. Add availability_zone to the Create Server "
     "API. 2. Add availability zones describing."),
    ("ConsoleOutput", "os-console-output", "Console log output support, with tailing ability."),
    ("Consoles", "os-consoles", "Interactive Console support."),
    ("ExtendedServerAttributes", "OS-EXT-SRV-ATTR", "Extended Server Attributes support."),
    ("ExtendedStatus", "OS-EXT-STS", "Extended Status support."),
    ("FlavorExtraSpecs", "os-flavor-extra-specs", "Flavors extra specs support."),
    ("Hosts", "os-hosts", "Admin-only host administration."),
    ("Hypervisors", "os-hypervisors", "Admin-only hypervisor administration."),
    ("InstanceActions", "os-instance-actions", "View a log of actions and events taken on an "
     "instance."),
    ("Keypairs", "os-keypairs", "Keypair Support."),
    ("PauseServer", "os-pause-server", "Enable pause/unpause server actions."),
    ("Quotas", "os-quota-sets", "Quotas management support."),
    ("RemoteConsoles", "os-remote-consoles", "Interactive Console support."),
    ("ServerGroups", "os-server-groups", "Server group support."),
    ("ServerStartStop", "os-server-start-stop", "Start/Stop instance compute API support."),
    ("Shelve", "os-shelve", "Instance shelve mode."),
    ("SuspendServer", "os-suspend-server", "Enable suspend/resume server actions."),
    ("UsedLimits", "os-used-limits", "Provide data on limited resources that are being used."),
)  # fmt: skip


def _extension(name: str, alias: str, description: str) -> dict[str, Any]:
    return {"name": name, "alias": alias, "description": description, "links": [],
            "namespace": "http://docs.openstack.org/compute/ext/fake_xml",
            "updated": "2014-12-03T00:00:00Z"}  # fmt: skip


async def list_extensions(request: web.Request) -> web.Response:
    await whoami(request)
    return web.json_response({"extensions": [_extension(*e) for e in _EXTENSIONS]})


async def show_extension(request: web.Request) -> web.Response:
    await whoami(request)
    alias = request.match_info["alias"]
    for e in _EXTENSIONS:
        if e[1] == alias:
            return web.json_response({"extension": _extension(*e)})
    raise ApiError(404, "Unable to find requested extension")


def routes(p: str) -> list[web.RouteDef]:
    top = [web.get("/compute", versions), web.get("/compute/", versions)]
    return [
        *(top if p.endswith("v2.1") else []),
        web.get(p, version),
        web.get(f"{p}/", version),
        web.get(f"{p}/extensions", list_extensions),
        web.get(f"{p}/extensions/{{alias}}", show_extension),
        web.get(f"{p}/os-keypairs", list_keypairs),
        web.post(f"{p}/os-keypairs", create_keypair),
        web.get(f"{p}/os-keypairs/{{name}}", show_keypair),
        web.delete(f"{p}/os-keypairs/{{name}}", delete_keypair),
        web.get(f"{p}/limits", limits),
        web.get(f"{p}/os-quota-sets/{{project_id}}", show_quota),
        web.get(f"{p}/os-quota-sets/{{project_id}}/detail", show_quota),
        web.get(f"{p}/os-quota-sets/{{project_id}}/defaults", show_quota),
        web.put(f"{p}/os-quota-sets/{{project_id}}", update_quota),
        web.get(f"{p}/os-server-groups", list_groups),
        web.post(f"{p}/os-server-groups", create_group),
        web.get(f"{p}/os-server-groups/{{id}}", show_group),
        web.delete(f"{p}/os-server-groups/{{id}}", delete_group),
    ]
