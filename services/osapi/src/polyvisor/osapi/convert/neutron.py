"""Neutron v2.0's JSON for networks, subnets, ports, security groups and their rules."""

from __future__ import annotations

from typing import Any

from polyvisor.network.v1 import networks_pb2 as npb
from polyvisor.network.v1 import security_groups_pb2 as sgpb
from polyvisor.osapi.convert.common import iso

__all__ = ["network", "port", "rule", "security_group", "subnet"]

_TYPES = {npb.NETWORK_TYPE_FLAT: "flat", npb.NETWORK_TYPE_VLAN: "vlan"}
NETWORK_TYPES_IN = {v: k for k, v in _TYPES.items()}
_VIF = {npb.VIF_TYPE_UNBOUND: "unbound", npb.VIF_TYPE_BRIDGE: "bridge",
        npb.VIF_TYPE_VMWARE_PORTGROUP: "dvs"}  # fmt: skip
DIRECTIONS_IN = {"ingress": sgpb.DIRECTION_INGRESS, "egress": sgpb.DIRECTION_EGRESS}
ETHERTYPES_IN = {"IPv4": sgpb.ETHERTYPE_IPV4, "IPv6": sgpb.ETHERTYPE_IPV6}


def _common(
    project_id: str, created: Any, updated: Any = None, revision: int = 0
) -> dict[str, Any]:
    return {"tenant_id": project_id, "project_id": project_id, "created_at": iso(created),
            "updated_at": iso(updated) if updated is not None and iso(updated) else iso(created),
            "revision_number": revision, "tags": [], "description": ""}  # fmt: skip


def network(n: Any) -> dict[str, Any]:
    return {
        "id": n.id,
        "name": n.name,
        "status": "ACTIVE",
        "admin_state_up": n.admin_state_up if n.HasField("admin_state_up") else True,
        "shared": n.shared,
        "subnets": list(n.subnet_ids),
        "mtu": n.mtu or 1500,
        "provider:network_type": _TYPES.get(n.network_type, "flat"),
        "provider:physical_network": n.physical_network or None,
        "provider:segmentation_id": n.segmentation_id or None,
        "router:external": False,
        "port_security_enabled": True,
        "availability_zones": ["nova"],
        "availability_zone_hints": [],
        "ipv4_address_scope": None,
        "ipv6_address_scope": None,
        "is_default": False,
        **_common(n.project_id, n.create_time, n.update_time),
    }


def subnet(s: Any) -> dict[str, Any]:
    return {
        "id": s.id,
        "name": s.name,
        "network_id": s.network_id,
        "ip_version": int(s.ip_version) or 4,
        "cidr": s.cidr,
        "gateway_ip": None if s.no_gateway else (s.gateway_ip or None),
        "allocation_pools": [{"start": p.start, "end": p.end} for p in s.allocation_pools],
        "dns_nameservers": list(s.dns_nameservers),
        "host_routes": [
            {"destination": r.destination, "nexthop": r.nexthop} for r in s.host_routes
        ],
        "enable_dhcp": s.enable_dhcp if s.HasField("enable_dhcp") else True,
        "ipv6_address_mode": None,
        "ipv6_ra_mode": None,
        "subnetpool_id": None,
        "service_types": [],
        "segment_id": None,
        **_common(s.project_id, s.create_time),
    }


def port(p: Any) -> dict[str, Any]:
    bound = p.binding.state == npb.BINDING_STATE_ACTIVE
    return {
        "id": p.id,
        "name": p.name,
        "network_id": p.network_id,
        "mac_address": p.mac_address,
        "fixed_ips": [{"subnet_id": f.subnet_id, "ip_address": f.ip_address} for f in p.fixed_ips],
        "device_id": p.device_id,
        "device_owner": p.device_owner,
        "status": "ACTIVE" if bound else "DOWN",
        "admin_state_up": p.admin_state_up if p.HasField("admin_state_up") else True,
        "security_groups": list(p.security_group_ids),
        "port_security_enabled": p.port_security_enabled
        if p.HasField("port_security_enabled")
        else True,
        "allowed_address_pairs": [
            {"ip_address": a.ip_address, "mac_address": a.mac_address}
            for a in p.allowed_address_pairs
        ],
        "binding:host_id": p.binding.host,
        "binding:vif_type": _VIF.get(p.binding.vif_type, "unbound"),
        "binding:vnic_type": "normal",
        "binding:profile": {},
        "binding:vif_details": {},
        "extra_dhcp_opts": [],
        **_common(p.project_id, p.create_time, p.update_time, int(p.revision)),
    }


def rule(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "security_group_id": r.security_group_id,
        "direction": "egress" if r.direction == sgpb.DIRECTION_EGRESS else "ingress",
        "ethertype": "IPv6" if r.ethertype == sgpb.ETHERTYPE_IPV6 else "IPv4",
        "protocol": r.protocol or None,
        "port_range_min": r.port_range_min if r.HasField("port_range_min") else None,
        "port_range_max": r.port_range_max if r.HasField("port_range_max") else None,
        "remote_ip_prefix": r.remote_ip_prefix or None,
        "remote_group_id": r.remote_group_id or None,
        "remote_address_group_id": None,
        "normalized_cidr": r.remote_ip_prefix or None,
        **_common(r.project_id, r.create_time),
        "description": r.description,
    }


def security_group(g: Any) -> dict[str, Any]:
    return {
        "id": g.id,
        "name": g.name,
        "stateful": True,
        "shared": False,
        "security_group_rules": [rule(r) for r in g.rules],
        **_common(g.project_id, g.create_time, None, int(g.revision)),
        "description": g.description,
    }
