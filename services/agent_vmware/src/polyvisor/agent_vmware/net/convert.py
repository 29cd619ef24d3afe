"""Wire messages (polyvisor.network.v1) to the data plane's model."""

from __future__ import annotations

from polyvisor.agent_vmware.net.model import BoundIp, HostRoute, PortBinding
from polyvisor.network.v1 import bindings_pb2, networks_pb2

__all__ = ["binding_from_pb"]


def binding_from_pb(s: bindings_pb2.PortBindingSpec) -> PortBinding:
    vlan = s.network_type == networks_pb2.NETWORK_TYPE_VLAN
    return PortBinding(
        port_id=s.port_id,
        network_id=s.network_id,
        mac_address=s.mac_address.lower(),
        network_type="vlan" if vlan else "flat",
        physical_network=s.physical_network,
        segmentation_id=s.segmentation_id if vlan else 0,
        mtu=s.mtu,
        ips=tuple(
            BoundIp(
                ip_address=ip.ip_address,
                prefix_length=ip.prefix_length,
                gateway_ip=ip.gateway_ip,
                dns_nameservers=tuple(ip.dns_nameservers),
                host_routes=tuple(HostRoute(r.destination, r.nexthop) for r in ip.host_routes),
            )
            for ip in s.ips
        ),
        port_security_enabled=s.port_security_enabled,
        host=s.host,
        device_id=s.device_id,
        revision=s.revision,
    )
