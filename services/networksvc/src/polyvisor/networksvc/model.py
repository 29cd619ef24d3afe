"""The network service's resources as plain data (convert.py maps them to protobuf)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = [
    "AddressPair",
    "AllocationPool",
    "BindingState",
    "BoundIp",
    "Direction",
    "FixedIp",
    "HostRoute",
    "Network",
    "NetworkType",
    "Port",
    "PortBindingSpec",
    "RemoteGroup",
    "SecurityGroup",
    "SecurityGroupRule",
    "Subnet",
    "VifType",
]


class NetworkType(StrEnum):
    FLAT = "flat"
    VLAN = "vlan"


class VifType(StrEnum):
    UNBOUND = "unbound"
    BRIDGE = "bridge"
    VMWARE_PORTGROUP = "vmware_portgroup"


class BindingState(StrEnum):
    UNBOUND = "unbound"
    PENDING = "pending"
    ACTIVE = "active"
    FAILED = "failed"


class Direction(StrEnum):
    INGRESS = "ingress"
    EGRESS = "egress"


@dataclass(frozen=True, slots=True)
class Network:
    id: str
    name: str
    project_id: str
    network_type: NetworkType
    physical_network: str
    segmentation_id: int
    shared: bool
    admin_state_up: bool
    mtu: int
    subnet_ids: tuple[str, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AllocationPool:
    start: str
    end: str


@dataclass(frozen=True, slots=True)
class HostRoute:
    destination: str
    nexthop: str


@dataclass(frozen=True, slots=True)
class Subnet:
    id: str
    name: str
    project_id: str
    network_id: str
    ip_version: int
    cidr: str
    gateway_ip: str  # "" when none
    allocation_pools: tuple[AllocationPool, ...]
    dns_nameservers: tuple[str, ...]
    host_routes: tuple[HostRoute, ...]
    enable_dhcp: bool
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class FixedIp:
    subnet_id: str
    ip_address: str


@dataclass(frozen=True, slots=True)
class AddressPair:
    ip_address: str
    mac_address: str = ""


@dataclass(frozen=True, slots=True)
class Port:
    id: str
    name: str
    project_id: str
    network_id: str
    mac_address: str
    fixed_ips: tuple[FixedIp, ...]
    device_owner: str
    device_id: str
    binding_host: str
    vif_type: VifType
    binding_state: BindingState
    binding_message: str
    port_security_enforced: bool
    security_group_ids: tuple[str, ...]
    port_security_enabled: bool
    allowed_address_pairs: tuple[AddressPair, ...]
    admin_state_up: bool
    revision: int
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SecurityGroupRule:
    id: str
    security_group_id: str
    project_id: str
    direction: Direction
    ethertype: str  # "IPv4" | "IPv6"
    protocol: str  # "" any, a name, or a decimal number
    port_range_min: int | None
    port_range_max: int | None
    remote_ip_prefix: str  # "" none
    remote_group_id: str  # "" none
    description: str = ""
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SecurityGroup:
    id: str
    name: str
    description: str
    project_id: str
    is_default: bool
    revision: int
    rules: tuple[SecurityGroupRule, ...] = ()
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class BoundIp:
    ip_address: str
    ip_version: int
    subnet_id: str
    cidr: str
    prefix_length: int
    gateway_ip: str
    dns_nameservers: tuple[str, ...]
    host_routes: tuple[HostRoute, ...]
    enable_dhcp: bool


@dataclass(frozen=True, slots=True)
class RemoteGroup:
    security_group_id: str
    addresses: tuple[str, ...]
    revision: int


@dataclass(frozen=True, slots=True)
class PortBindingSpec:
    port: Port
    network: Network
    ips: tuple[BoundIp, ...]
    rules: tuple[SecurityGroupRule, ...] = ()
    remote_groups: tuple[RemoteGroup, ...] = field(default_factory=tuple)
