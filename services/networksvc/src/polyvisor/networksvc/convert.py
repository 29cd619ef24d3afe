"""Protobuf <-> the network service's plain data (the only module besides handlers and bus
that knows the contract's types)."""

from __future__ import annotations

from polyvisor.common.convert import ts
from polyvisor.common.errors import InvalidArgument
from polyvisor.network.v1 import bindings_pb2 as bpb
from polyvisor.network.v1 import network_events_pb2 as epb
from polyvisor.network.v1 import networks_pb2 as pb
from polyvisor.network.v1 import security_groups_pb2 as spb
from polyvisor.networksvc.events import (
    GroupEventKind,
    GroupMember,
    PortEvent,
    PortEventKind,
    SecurityGroupEvent,
)
from polyvisor.networksvc.model import (
    AddressPair,
    AllocationPool,
    BindingState,
    BoundIp,
    Direction,
    FixedIp,
    HostRoute,
    Network,
    NetworkType,
    Port,
    PortBindingSpec,
    RemoteGroup,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
    VifType,
)
from polyvisor.networksvc.networks import NetworkInput, SubnetInput
from polyvisor.networksvc.ports import PortInput

_NETWORK_TYPE = {NetworkType.FLAT: pb.NETWORK_TYPE_FLAT, NetworkType.VLAN: pb.NETWORK_TYPE_VLAN}
_VIF = {
    VifType.UNBOUND: pb.VIF_TYPE_UNBOUND,
    VifType.BRIDGE: pb.VIF_TYPE_BRIDGE,
    VifType.VMWARE_PORTGROUP: pb.VIF_TYPE_VMWARE_PORTGROUP,
}
_STATE = {
    BindingState.UNBOUND: pb.BINDING_STATE_UNBOUND,
    BindingState.PENDING: pb.BINDING_STATE_PENDING,
    BindingState.ACTIVE: pb.BINDING_STATE_ACTIVE,
    BindingState.FAILED: pb.BINDING_STATE_FAILED,
}
_DIRECTION = {Direction.INGRESS: spb.DIRECTION_INGRESS, Direction.EGRESS: spb.DIRECTION_EGRESS}
_ETHERTYPE = {"IPv4": spb.ETHERTYPE_IPV4, "IPv6": spb.ETHERTYPE_IPV6}
_PORT_EVENT = {
    PortEventKind.CREATED: epb.PORT_EVENT_KIND_CREATED,
    PortEventKind.UPDATED: epb.PORT_EVENT_KIND_UPDATED,
    PortEventKind.BOUND: epb.PORT_EVENT_KIND_BOUND,
    PortEventKind.UNBOUND: epb.PORT_EVENT_KIND_UNBOUND,
    PortEventKind.BINDING_STATE: epb.PORT_EVENT_KIND_BINDING_STATE,
    PortEventKind.DELETED: epb.PORT_EVENT_KIND_DELETED,
}
_GROUP_EVENT = {
    GroupEventKind.CREATED: epb.SECURITY_GROUP_EVENT_KIND_CREATED,
    GroupEventKind.RULES_CHANGED: epb.SECURITY_GROUP_EVENT_KIND_RULES_CHANGED,
    GroupEventKind.MEMBERS_CHANGED: epb.SECURITY_GROUP_EVENT_KIND_MEMBERS_CHANGED,
    GroupEventKind.DELETED: epb.SECURITY_GROUP_EVENT_KIND_DELETED,
}


def _reverse(d: dict) -> dict:  # type: ignore[type-arg]
    return {v: k for k, v in d.items()}


_NETWORK_TYPE_IN = _reverse(_NETWORK_TYPE)
_VIF_IN = _reverse(_VIF)
_STATE_IN = _reverse(_STATE)
_DIRECTION_IN = _reverse(_DIRECTION)
_ETHERTYPE_IN = _reverse(_ETHERTYPE)


def _enum_in(table: dict, value: int, what: str):  # type: ignore[no-untyped-def,type-arg]
    if value == 0:
        return None
    try:
        return table[value]
    except KeyError:
        raise InvalidArgument(f"{what} {value} is not a known value") from None


# --------------------------------------------------------------------------- out


def network_to_pb(n: Network) -> pb.Network:
    return pb.Network(
        id=n.id,
        name=n.name,
        project_id=n.project_id,
        network_type=_NETWORK_TYPE[n.network_type],
        physical_network=n.physical_network,
        segmentation_id=n.segmentation_id,
        shared=n.shared,
        admin_state_up=n.admin_state_up,
        mtu=n.mtu,
        subnet_ids=list(n.subnet_ids),
        create_time=ts(n.created_at),
        update_time=ts(n.updated_at),
    )


def _routes(routes: tuple[HostRoute, ...]) -> list[pb.HostRoute]:
    return [pb.HostRoute(destination=r.destination, nexthop=r.nexthop) for r in routes]


def subnet_to_pb(s: Subnet) -> pb.Subnet:
    return pb.Subnet(
        id=s.id,
        name=s.name,
        project_id=s.project_id,
        network_id=s.network_id,
        ip_version=pb.IP_VERSION_4 if s.ip_version == 4 else pb.IP_VERSION_6,
        cidr=s.cidr,
        gateway_ip=s.gateway_ip,
        no_gateway=not s.gateway_ip,
        allocation_pools=[pb.AllocationPool(start=p.start, end=p.end) for p in s.allocation_pools],
        dns_nameservers=list(s.dns_nameservers),
        host_routes=_routes(s.host_routes),
        enable_dhcp=s.enable_dhcp,
        create_time=ts(s.created_at),
    )


def _pairs(pairs: tuple[AddressPair, ...]) -> list[pb.AllowedAddressPair]:
    return [
        pb.AllowedAddressPair(ip_address=p.ip_address, mac_address=p.mac_address) for p in pairs
    ]


def port_to_pb(p: Port) -> pb.Port:
    return pb.Port(
        id=p.id,
        name=p.name,
        project_id=p.project_id,
        network_id=p.network_id,
        mac_address=p.mac_address,
        fixed_ips=[pb.FixedIp(subnet_id=f.subnet_id, ip_address=f.ip_address) for f in p.fixed_ips],
        device_owner=p.device_owner,
        device_id=p.device_id,
        binding=pb.PortBinding(
            host=p.binding_host,
            vif_type=_VIF[p.vif_type],
            state=_STATE[p.binding_state],
            message=p.binding_message,
            port_security_enforced=p.port_security_enforced,
        ),
        security_group_ids=list(p.security_group_ids),
        port_security_enabled=p.port_security_enabled,
        allowed_address_pairs=_pairs(p.allowed_address_pairs),
        admin_state_up=p.admin_state_up,
        revision=p.revision,
        create_time=ts(p.created_at),
        update_time=ts(p.updated_at),
    )


def rule_to_pb(r: SecurityGroupRule) -> spb.SecurityGroupRule:
    return spb.SecurityGroupRule(
        id=r.id,
        security_group_id=r.security_group_id,
        direction=_DIRECTION[r.direction],
        ethertype=_ETHERTYPE[r.ethertype],
        protocol=r.protocol,
        port_range_min=r.port_range_min,
        port_range_max=r.port_range_max,
        remote_ip_prefix=r.remote_ip_prefix,
        remote_group_id=r.remote_group_id,
        description=r.description,
        project_id=r.project_id,
        create_time=ts(r.created_at),
    )


def group_to_pb(g: SecurityGroup) -> spb.SecurityGroup:
    return spb.SecurityGroup(
        id=g.id,
        name=g.name,
        description=g.description,
        project_id=g.project_id,
        is_default=g.is_default,
        rules=[rule_to_pb(r) for r in g.rules],
        revision=g.revision,
        create_time=ts(g.created_at),
    )


def _bound_ip(b: BoundIp) -> bpb.BoundIp:
    return bpb.BoundIp(
        ip_address=b.ip_address,
        ip_version=pb.IP_VERSION_4 if b.ip_version == 4 else pb.IP_VERSION_6,
        subnet_id=b.subnet_id,
        cidr=b.cidr,
        prefix_length=b.prefix_length,
        gateway_ip=b.gateway_ip,
        dns_nameservers=list(b.dns_nameservers),
        host_routes=_routes(b.host_routes),
        enable_dhcp=b.enable_dhcp,
    )


def remote_group_to_pb(r: RemoteGroup) -> bpb.RemoteGroup:
    return bpb.RemoteGroup(
        security_group_id=r.security_group_id, addresses=list(r.addresses), revision=r.revision
    )


def spec_to_pb(s: PortBindingSpec) -> bpb.PortBindingSpec:
    p, n = s.port, s.network
    return bpb.PortBindingSpec(
        port_id=p.id,
        project_id=p.project_id,
        network_id=n.id,
        network_type=_NETWORK_TYPE[n.network_type],
        physical_network=n.physical_network,
        segmentation_id=n.segmentation_id,
        mtu=n.mtu,
        admin_state_up=p.admin_state_up and n.admin_state_up,
        mac_address=p.mac_address,
        ips=[_bound_ip(b) for b in s.ips],
        port_security_enabled=p.port_security_enabled,
        allowed_address_pairs=_pairs(p.allowed_address_pairs),
        security_group_ids=list(p.security_group_ids),
        rules=[rule_to_pb(r) for r in s.rules],
        remote_groups=[remote_group_to_pb(r) for r in s.remote_groups],
        host=p.binding_host,
        vif_type=_VIF[p.vif_type],
        device_id=p.device_id,
        device_owner=p.device_owner,
        revision=p.revision,
    )


def port_event_to_pb(e: PortEvent) -> epb.PortEvent:
    return epb.PortEvent(
        event_id=e.event_id,
        kind=_PORT_EVENT[e.kind],
        port=port_to_pb(e.port),
        host=e.host,
        occurred_at=ts(e.occurred_at),
    )


def group_member_to_pb(m: GroupMember) -> bpb.GroupMember:
    return bpb.GroupMember(
        port_id=m.port_id, port_revision=m.port_revision, addresses=list(m.addresses)
    )


def group_event_to_pb(e: SecurityGroupEvent) -> epb.SecurityGroupEvent:
    return epb.SecurityGroupEvent(
        event_id=e.event_id,
        kind=_GROUP_EVENT[e.kind],
        security_group_id=e.security_group_id,
        project_id=e.project_id,
        revision=e.revision,
        rules=[rule_to_pb(r) for r in e.rules],
        members=(
            bpb.RemoteGroup(
                security_group_id=e.security_group_id,
                addresses=list(e.members),
                revision=e.revision,
            )
            if e.members is not None
            else None
        ),
        member=group_member_to_pb(e.member) if e.member is not None else None,
        occurred_at=ts(e.occurred_at),
    )


# --------------------------------------------------------------------------- in


def network_from_pb(n: pb.Network) -> NetworkInput:
    return NetworkInput(
        name=n.name,
        project_id=n.project_id,
        network_type=_enum_in(_NETWORK_TYPE_IN, n.network_type, "network_type"),
        physical_network=n.physical_network.strip(),
        segmentation_id=n.segmentation_id,
        shared=n.shared,
        admin_state_up=n.admin_state_up if n.HasField("admin_state_up") else True,
        mtu=n.mtu,
    )


def subnet_from_pb(s: pb.Subnet) -> SubnetInput:
    return SubnetInput(
        name=s.name,
        project_id=s.project_id,
        network_id=s.network_id,
        cidr=s.cidr,
        gateway_ip=s.gateway_ip,
        no_gateway=s.no_gateway,
        allocation_pools=[AllocationPool(p.start, p.end) for p in s.allocation_pools],
        dns_nameservers=list(s.dns_nameservers),
        host_routes=[HostRoute(r.destination, r.nexthop) for r in s.host_routes],
        enable_dhcp=s.enable_dhcp if s.HasField("enable_dhcp") else True,
    )


def pairs_from_pb(pairs: list[pb.AllowedAddressPair]) -> tuple[AddressPair, ...]:
    return tuple(AddressPair(p.ip_address, p.mac_address) for p in pairs)


def port_from_pb(p: pb.Port) -> PortInput:
    return PortInput(
        name=p.name,
        project_id=p.project_id,
        network_id=p.network_id,
        mac_address=p.mac_address,
        fixed_ips=tuple(FixedIp(f.subnet_id, f.ip_address) for f in p.fixed_ips),
        device_owner=p.device_owner,
        device_id=p.device_id,
        security_group_ids=tuple(p.security_group_ids),
        port_security_enabled=(
            p.port_security_enabled if p.HasField("port_security_enabled") else True
        ),
        allowed_address_pairs=pairs_from_pb(list(p.allowed_address_pairs)),
        admin_state_up=p.admin_state_up if p.HasField("admin_state_up") else True,
    )


def port_changes_from_pb(p: pb.Port, paths: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for path in paths:
        if path in ("name", "device_owner", "device_id", "port_security_enabled", "admin_state_up"):
            out[path] = getattr(p, path)
        elif path == "security_group_ids":
            out[path] = tuple(p.security_group_ids)
        elif path == "allowed_address_pairs":
            out[path] = pairs_from_pb(list(p.allowed_address_pairs))
        else:
            raise InvalidArgument(f"update_mask path {path!r} cannot be updated on a port")
    return out


def vif_type_from_pb(value: int) -> VifType | None:
    return _enum_in(_VIF_IN, value, "vif_type")


def binding_state_from_pb(value: int) -> BindingState | None:
    return _enum_in(_STATE_IN, value, "state")


def direction_from_pb(value: int) -> Direction | None:
    return _enum_in(_DIRECTION_IN, value, "direction")


def ethertype_from_pb(value: int) -> str:
    return _enum_in(_ETHERTYPE_IN, value, "ethertype") or ""
