"""Neutron v2.0 (under /network): networks, subnets, ports, security groups and rules,
over the network service. Filters Neutron's clients send (name, id, network_id,
device_id, ...) and limit/marker paging are applied here to what the service lists."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from google.protobuf.field_mask_pb2 import FieldMask

from polyvisor.network.v1 import networks_pb2 as npb
from polyvisor.network.v1 import security_groups_pb2 as sgpb
from polyvisor.osapi.convert import neutron as nc
from polyvisor.osapi.errors import ApiError
from polyvisor.osapi.handlers.common import (
    SETTINGS,
    base_url,
    body_of,
    page_after,
    query_int,
    scope_of,
    stubs,
)

__all__ = ["routes"]

_META = ("limit", "marker", "fields", "sort_key", "sort_dir", "page_reverse")


def _matches(item: dict[str, Any], query: Any) -> bool:
    for key in set(query.keys()) - set(_META):
        wanted = query.getall(key)
        have = item.get(key)
        if isinstance(have, bool):
            have = str(have).lower()
            wanted = [w.lower() for w in wanted]
        if isinstance(have, list):
            if not any(w in [str(h) for h in have] for w in wanted):
                return False
        elif str(have) not in wanted and not (have is None and "" in wanted):
            return False
    return True


def _fields(item: dict[str, Any], query: Any) -> dict[str, Any]:
    wanted = query.getall("fields", [])
    return {k: v for k, v in item.items() if k in wanted} if wanted else item


async def _collection(
    request: web.Request, plural: str, fetch: Any, convert: Callable[[Any], dict[str, Any]]
) -> web.Response:
    q = request.query
    items, more = await page_after(
        fetch, scope=scope_of(request), limit=query_int(request, "limit") or None, marker=q.get("marker"),
                                   key=lambda x: x.id, keep=lambda x: _matches(convert(x), q))  # fmt: skip
    body: dict[str, Any] = {plural: [_fields(convert(x), q) for x in items]}
    if more and items:
        params = {k: v for k, v in q.items() if k != "marker"} | {"marker": items[-1].id}
        body[f"{plural}_links"] = [
            {"rel": "next", "href": f"{base_url(request)}{request.path}?{urlencode(params)}"}
        ]
    return web.json_response(body)


def _lister(request: web.Request, rpc: str, req: Any, field: str) -> Any:
    s = stubs(request)

    async def fetch(token: str, size: int) -> tuple[Any, str]:
        req.page_token, req.page_size = token, size
        resp = await getattr(s.network, rpc)(req, metadata=s.md, timeout=s.timeout)
        return getattr(resp, field), resp.next_page_token

    return fetch


def _all(request: web.Request) -> bool:
    return request.query.get("all_tenants", request.query.get("all_projects", "")).lower() in (
        "1",
        "true",
    )


async def versions(request: web.Request) -> web.Response:
    href = f"{base_url(request)}/network/v2.0/"
    return web.json_response({"versions": [{"id": "v2.0", "status": "CURRENT",
                                            "links": [{"rel": "self", "href": href}]}]})  # fmt: skip


_EXTENSIONS = ("security-group", "binding", "port-security", "provider", "allowed-address-pairs",
               "standard-attr-description", "standard-attr-timestamp", "standard-attr-revisions",
               "project-id", "network-mtu")  # fmt: skip


async def extensions(request: web.Request) -> web.Response:
    return web.json_response({"extensions": [
        {"alias": a, "name": a, "description": a, "updated": "2013-01-01T00:00:00-00:00", "links": []}
        for a in _EXTENSIONS]})  # fmt: skip


async def list_networks(request: web.Request) -> web.Response:
    req = npb.ListNetworksRequest(all_projects=_all(request))
    return await _collection(
        request, "networks", _lister(request, "ListNetworks", req, "networks"), nc.network
    )


async def list_subnets(request: web.Request) -> web.Response:
    req = npb.ListSubnetsRequest(
        all_projects=_all(request), network_id=request.query.get("network_id", "")
    )
    return await _collection(
        request, "subnets", _lister(request, "ListSubnets", req, "subnets"), nc.subnet
    )


async def list_ports(request: web.Request) -> web.Response:
    q = request.query
    req = npb.ListPortsRequest(all_projects=_all(request), network_id=q.get("network_id", ""),
                              device_id=q.get("device_id", ""), host=q.get("binding:host_id", ""))  # fmt: skip
    return await _collection(request, "ports", _lister(request, "ListPorts", req, "ports"), nc.port)


async def list_security_groups(request: web.Request) -> web.Response:
    req = sgpb.ListSecurityGroupsRequest(all_projects=_all(request))
    return await _collection(request, "security_groups",
                             _lister(request, "ListSecurityGroups", req, "security_groups"),
                             nc.security_group)  # fmt: skip


async def list_rules(request: web.Request) -> web.Response:
    s = stubs(request)
    resp = await s.network.ListSecurityGroupRules(
        sgpb.ListSecurityGroupRulesRequest(security_group_id=request.query.get("security_group_id", ""),
                                           all_projects=_all(request)),
        metadata=s.md, timeout=s.timeout,
    )  # fmt: skip
    rules = [nc.rule(r) for r in resp.security_group_rules]
    return web.json_response({"security_group_rules": [_fields(r, request.query) for r in rules
                                                       if _matches(r, request.query)]})  # fmt: skip


_GET = {
    "networks": ("GetNetwork", npb.GetNetworkRequest, "network_id", "network", nc.network, "Network"),
    "subnets": ("GetSubnet", npb.GetSubnetRequest, "subnet_id", "subnet", nc.subnet, "Subnet"),
    "ports": ("GetPort", npb.GetPortRequest, "port_id", "port", nc.port, "Port"),
    "security-groups": ("GetSecurityGroup", sgpb.GetSecurityGroupRequest, "security_group_id",
                        "security_group", nc.security_group, "SecurityGroup"),
    "security-group-rules": ("GetSecurityGroupRule", sgpb.GetSecurityGroupRuleRequest,
                             "security_group_rule_id", "security_group_rule", nc.rule,
                             "SecurityGroupRule"),
}  # fmt: skip
_DELETE = {
    "networks": ("DeleteNetwork", npb.DeleteNetworkRequest, "network_id"),
    "subnets": ("DeleteSubnet", npb.DeleteSubnetRequest, "subnet_id"),
    "ports": ("DeletePort", npb.DeletePortRequest, "port_id"),
    "security-groups": ("DeleteSecurityGroup", sgpb.DeleteSecurityGroupRequest, "security_group_id"),
    "security-group-rules": ("DeleteSecurityGroupRule", sgpb.DeleteSecurityGroupRuleRequest,
                             "security_group_rule_id"),
}  # fmt: skip


def _kind(request: web.Request) -> str:
    return request.path.split("/v2.0/", 1)[1].split("/", 1)[0]


async def show(request: web.Request) -> web.Response:
    rpc, cls, id_field, field, convert, name = _GET[_kind(request)]
    s = stubs(request)
    try:
        resp = await getattr(s.network, rpc)(cls(**{id_field: request.match_info["id"]}), metadata=s.md,
                                             timeout=s.timeout)  # fmt: skip
    except Exception as exc:
        if getattr(exc, "code", None) and exc.code().name == "NOT_FOUND":  # type: ignore[attr-defined]
            raise ApiError(
                404, f"{name} {request.match_info['id']} could not be found.", f"{name}NotFound"
            ) from exc
        raise
    return web.json_response({field: _fields(convert(getattr(resp, field)), request.query)})


async def delete(request: web.Request) -> web.Response:
    rpc, cls, id_field = _DELETE[_kind(request)]
    s = stubs(request)
    await getattr(s.network, rpc)(
        cls(**{id_field: request.match_info["id"]}), metadata=s.md, timeout=s.timeout
    )
    return web.Response(status=204)


def _rid() -> str:
    return str(uuid.uuid4())


async def create_network(request: web.Request) -> web.Response:
    s = stubs(request)
    b = await body_of(request, "network")
    physnet = str(b.get("provider:physical_network") or "")
    kind = b.get("provider:network_type")
    if not kind:
        # A project network, as Neutron makes one of its tenant network type: a VLAN on the
        # configured physical network (its id from the range), else flat.
        tenant = request.app[SETTINGS].tenant_physical_network
        kind, physnet = ("vlan", physnet or tenant) if tenant else ("flat", physnet)
    if kind not in nc.NETWORK_TYPES_IN:
        raise ApiError(400, f"Invalid network type {kind}: flat or vlan", "InvalidInput")
    msg = npb.Network(name=str(b.get("name") or ""), shared=bool(b.get("shared", False)),
                      network_type=nc.NETWORK_TYPES_IN[kind],
                      physical_network=physnet,
                      segmentation_id=int(b.get("provider:segmentation_id") or 0),
                      mtu=int(b.get("mtu") or 0))  # fmt: skip
    if "admin_state_up" in b:
        msg.admin_state_up = bool(b["admin_state_up"])
    resp = await s.network.CreateNetwork(npb.CreateNetworkRequest(request_id=_rid(), network=msg),
                                         metadata=s.md, timeout=s.timeout)  # fmt: skip
    return web.json_response({"network": nc.network(resp.network)}, status=201)


async def create_subnet(request: web.Request) -> web.Response:
    s = stubs(request)
    b = await body_of(request, "subnet")
    msg = npb.Subnet(name=str(b.get("name") or ""), network_id=str(b.get("network_id") or ""),
                     ip_version=npb.IpVersion.ValueType(int(b.get("ip_version") or 4)), cidr=str(b.get("cidr") or ""),
                     dns_nameservers=[str(x) for x in b.get("dns_nameservers") or []],
                     allocation_pools=[npb.AllocationPool(start=p["start"], end=p["end"])
                                       for p in b.get("allocation_pools") or []],
                     host_routes=[npb.HostRoute(destination=r["destination"], nexthop=r["nexthop"])
                                  for r in b.get("host_routes") or []])  # fmt: skip
    if "gateway_ip" in b:
        if b["gateway_ip"] is None:
            msg.no_gateway = True
        else:
            msg.gateway_ip = str(b["gateway_ip"])
    if "enable_dhcp" in b:
        msg.enable_dhcp = bool(b["enable_dhcp"])
    resp = await s.network.CreateSubnet(npb.CreateSubnetRequest(request_id=_rid(), subnet=msg),
                                        metadata=s.md, timeout=s.timeout)  # fmt: skip
    return web.json_response({"subnet": nc.subnet(resp.subnet)}, status=201)


def _port_fields(b: dict[str, Any], msg: Any) -> list[str]:
    paths: list[str] = []
    if "name" in b:
        msg.name = str(b["name"] or "")
        paths.append("name")
    if "security_groups" in b:
        msg.security_group_ids.extend(str(x) for x in b["security_groups"] or [])
        paths.append("security_group_ids")
    if "port_security_enabled" in b:
        msg.port_security_enabled = bool(b["port_security_enabled"])
        paths.append("port_security_enabled")
    if "admin_state_up" in b:
        msg.admin_state_up = bool(b["admin_state_up"])
        paths.append("admin_state_up")
    if "allowed_address_pairs" in b:
        msg.allowed_address_pairs.extend(npb.AllowedAddressPair(ip_address=a.get("ip_address", ""),
                                                                mac_address=a.get("mac_address", ""))
                                         for a in b["allowed_address_pairs"] or [])  # fmt: skip
        paths.append("allowed_address_pairs")
    if "device_id" in b:
        msg.device_id = str(b["device_id"] or "")
        paths.append("device_id")
    if "device_owner" in b:
        msg.device_owner = str(b["device_owner"] or "")
        paths.append("device_owner")
    return paths


async def create_port(request: web.Request) -> web.Response:
    s = stubs(request)
    b = await body_of(request, "port")
    msg = npb.Port(network_id=str(b.get("network_id") or ""), mac_address=str(b.get("mac_address") or ""),
                   fixed_ips=[npb.FixedIp(subnet_id=f.get("subnet_id", ""), ip_address=f.get("ip_address", ""))
                              for f in b.get("fixed_ips") or []])  # fmt: skip
    _port_fields(b, msg)
    resp = await s.network.CreatePort(npb.CreatePortRequest(request_id=_rid(), port=msg), metadata=s.md,
                                      timeout=s.timeout)  # fmt: skip
    return web.json_response({"port": nc.port(resp.port)}, status=201)


async def update_port(request: web.Request) -> web.Response:
    s = stubs(request)
    b = await body_of(request, "port")
    msg = npb.Port(id=request.match_info["id"])
    paths = _port_fields(b, msg)
    if not paths:
        raise ApiError(400, "Nothing to update", "InvalidInput")
    resp = await s.network.UpdatePort(npb.UpdatePortRequest(port=msg, update_mask=FieldMask(paths=paths)),
                                      metadata=s.md, timeout=s.timeout)  # fmt: skip
    return web.json_response({"port": nc.port(resp.port)})


async def create_security_group(request: web.Request) -> web.Response:
    s = stubs(request)
    b = await body_of(request, "security_group")
    msg = sgpb.SecurityGroup(
        name=str(b.get("name") or ""), description=str(b.get("description") or "")
    )
    resp = await s.network.CreateSecurityGroup(
        sgpb.CreateSecurityGroupRequest(request_id=_rid(), security_group=msg),
        metadata=s.md,
        timeout=s.timeout,
    )
    return web.json_response({"security_group": nc.security_group(resp.security_group)}, status=201)


async def create_rule(request: web.Request) -> web.Response:
    s = stubs(request)
    b = await body_of(request, "security_group_rule")
    direction, ethertype = b.get("direction", "ingress"), b.get("ethertype", "IPv4")
    if direction not in nc.DIRECTIONS_IN or ethertype not in nc.ETHERTYPES_IN:
        raise ApiError(
            400, "direction must be ingress or egress, ethertype IPv4 or IPv6", "InvalidInput"
        )
    msg = sgpb.SecurityGroupRule(security_group_id=str(b.get("security_group_id") or ""),
                                 direction=nc.DIRECTIONS_IN[direction], ethertype=nc.ETHERTYPES_IN[ethertype],
                                 protocol=str(b.get("protocol") or ""),
                                 remote_ip_prefix=str(b.get("remote_ip_prefix") or ""),
                                 remote_group_id=str(b.get("remote_group_id") or ""),
                                 description=str(b.get("description") or ""))  # fmt: skip
    for key in ("port_range_min", "port_range_max"):
        if b.get(key) is not None:
            setattr(msg, key, int(b[key]))
    resp = await s.network.CreateSecurityGroupRule(
        sgpb.CreateSecurityGroupRuleRequest(security_group_rule=msg),
        metadata=s.md,
        timeout=s.timeout,
    )
    return web.json_response({"security_group_rule": nc.rule(resp.security_group_rule)}, status=201)


def routes() -> list[web.RouteDef]:
    p = "/network/v2.0"
    out = [
        web.get("/network", versions),
        web.get("/network/", versions),
        web.get(f"{p}/extensions", extensions),
        web.get(f"{p}/networks", list_networks),
        web.post(f"{p}/networks", create_network),
        web.get(f"{p}/subnets", list_subnets),
        web.post(f"{p}/subnets", create_subnet),
        web.get(f"{p}/ports", list_ports),
        web.post(f"{p}/ports", create_port),
        web.put(f"{p}/ports/{{id}}", update_port),
        web.get(f"{p}/security-groups", list_security_groups),
        web.post(f"{p}/security-groups", create_security_group),
        web.get(f"{p}/security-group-rules", list_rules),
        web.post(f"{p}/security-group-rules", create_rule),
    ]
    for kind in _GET:
        out += [web.get(f"{p}/{kind}/{{id}}", show), web.delete(f"{p}/{kind}/{{id}}", delete)]
    return out
