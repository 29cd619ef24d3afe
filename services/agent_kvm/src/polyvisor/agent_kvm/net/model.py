"""The port binding spec and security group state, as the data plane uses them. Pure.

These mirror polyvisor.network.v1.PortBindingSpec (docs/networking.md); ``convert`` builds
them from the wire messages.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "AddressPair",
    "BoundIp",
    "Direction",
    "HostRoute",
    "PortBinding",
    "RemoteGroup",
    "Rule",
]


class Direction(enum.StrEnum):
    INGRESS = "ingress"
    EGRESS = "egress"


@dataclass(frozen=True, slots=True)
class HostRoute:
    destination: str
    nexthop: str


@dataclass(frozen=True, slots=True)
class BoundIp:
    ip_address: str
    ip_version: int  # 4 or 6
    subnet_id: str
    cidr: str
    prefix_length: int
    gateway_ip: str = ""
    dns_nameservers: tuple[str, ...] = ()
    host_routes: tuple[HostRoute, ...] = ()
    enable_dhcp: bool = True


@dataclass(frozen=True, slots=True)
class AddressPair:
    ip_address: str  # an address or a CIDR
    mac_address: str = ""  # "" means the port's


@dataclass(frozen=True, slots=True)
class Rule:
    """One allow rule of a security group."""

    direction: Direction
    ethertype: int  # 4 or 6
    protocol: str = ""  # "" any, tcp, udp, icmp, icmpv6, sctp, or a number
    port_range_min: int | None = None
    port_range_max: int | None = None
    remote_ip_prefix: str = ""
    remote_group_id: str = ""
    security_group_id: str = ""


@dataclass(frozen=True, slots=True)
class RemoteGroup:
    security_group_id: str
    addresses: tuple[str, ...]
    revision: int = 0


@dataclass(frozen=True, slots=True)
class PortBinding:
    """Everything one port needs on this host (polyvisor.network.v1.PortBindingSpec)."""

    port_id: str
    network_id: str
    mac_address: str
    network_type: str = "flat"  # flat or vlan
    physical_network: str = ""
    segmentation_id: int = 0
    mtu: int = 1500
    admin_state_up: bool = True
    ips: tuple[BoundIp, ...] = ()
    port_security_enabled: bool = True
    allowed_address_pairs: tuple[AddressPair, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()
    remote_groups: tuple[RemoteGroup, ...] = ()
    project_id: str = ""
    device_id: str = ""
    device_owner: str = ""
    host: str = ""
    revision: int = 0
