"""polyvisor.network.v1 messages into the data plane's dataclasses (the only protobuf here)."""

from __future__ import annotations

from polyvisor.agent_kvm.net.model import (
    AddressPair,
    BoundIp,
    Direction,
    HostRoute,
    PortBinding,
    RemoteGroup,
    Rule,
)
from polyvisor.network.v1 import (
    bindings_pb2,
    networks_pb2,
    security_groups_pb2,
)

__all__ = ["binding_from_pb", "remote_group_from_pb", "rule_from_pb"]

_NETWORK_TYPES = {networks_pb2.NETWORK_TYPE_FLAT: "flat", networks_pb2.NETWORK_TYPE_VLAN: "vlan"}


def rule_from_pb(r: security_groups_pb2.SecurityGroupRule) -> Rule:
    direction = (
        Direction.EGRESS
        if r.direction == security_groups_pb2.DIRECTION_EGRESS
        else Direction.INGRESS
    )
    ethertype = 6 if r.ethertype == security_groups_pb2.ETHERTYPE_IPV6 else 4
    return Rule(
        direction=direction,
        ethertype=ethertype,
        protocol=r.protocol,
        port_range_min=r.port_range_min if r.HasField("port_range_min") else None,
        port_range_max=r.port_range_max if r.HasField("port_range_max") else None,
        remote_ip_prefix=r.remote_ip_prefix,
        remote_group_id=r.remote_group_id,
        security_group_id=r.security_group_id,
    )


def remote_group_from_pb(g: bindings_pb2.RemoteGroup) -> RemoteGroup:
    return RemoteGroup(g.security_group_id, tuple(g.addresses), g.revision)


def binding_from_pb(s: bindings_pb2.PortBindingSpec) -> PortBinding:
    return PortBinding(
        port_id=s.port_id,
        network_id=s.network_id,
        mac_address=s.mac_address,
        network_type=_NETWORK_TYPES.get(s.network_type, "flat"),
        physical_network=s.physical_network,
        segmentation_id=s.segmentation_id,
        mtu=s.mtu or 1500,
        admin_state_up=s.admin_state_up,
        ips=tuple(
            BoundIp(
                ip_address=i.ip_address,
                ip_version=6 if i.ip_version == networks_pb2.IP_VERSION_6 else 4,
                subnet_id=i.subnet_id,
                cidr=i.cidr,
                prefix_length=i.prefix_length,
                gateway_ip=i.gateway_ip,
                dns_nameservers=tuple(i.dns_nameservers),
                host_routes=tuple(HostRoute(h.destination, h.nexthop) for h in i.host_routes),
                enable_dhcp=i.enable_dhcp,
            )
            for i in s.ips
        ),
        port_security_enabled=s.port_security_enabled,
        allowed_address_pairs=tuple(
            AddressPair(p.ip_address, p.mac_address) for p in s.allowed_address_pairs
        ),
        security_group_ids=tuple(s.security_group_ids),
        rules=tuple(rule_from_pb(r) for r in s.rules),
        remote_groups=tuple(remote_group_from_pb(g) for g in s.remote_groups),
        project_id=s.project_id,
        device_id=s.device_id,
        device_owner=s.device_owner,
        host=s.host,
        revision=s.revision,
    )
