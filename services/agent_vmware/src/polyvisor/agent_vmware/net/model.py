"""What the vSphere data plane uses of a port binding spec (polyvisor.network.v1.PortBindingSpec,
docs/networking.md); ``convert`` builds it from the wire message. Pure."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BoundIp", "HostRoute", "PortBinding"]


@dataclass(frozen=True, slots=True)
class HostRoute:
    destination: str
    nexthop: str


@dataclass(frozen=True, slots=True)
class BoundIp:
    ip_address: str
    prefix_length: int
    gateway_ip: str = ""
    dns_nameservers: tuple[str, ...] = ()
    host_routes: tuple[HostRoute, ...] = ()

    @property
    def version(self) -> int:
        return 6 if ":" in self.ip_address else 4


@dataclass(frozen=True, slots=True)
class PortBinding:
    port_id: str
    network_id: str
    mac_address: str
    network_type: str = "flat"  # flat or vlan
    physical_network: str = ""
    segmentation_id: int = 0
    mtu: int = 0
    ips: tuple[BoundIp, ...] = ()
    port_security_enabled: bool = True
    host: str = ""  # the binding host
    device_id: str = ""  # the server
    revision: int = 0
