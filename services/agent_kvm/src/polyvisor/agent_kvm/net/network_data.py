"""OpenStack's ``network_data.json`` for an instance, from its ports' binding specs. Pure.

The same document is served by the metadata service and written to the config drive, so a
guest configures the same addresses whichever source its cloud-init reads.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from polyvisor.agent_kvm.net.model import PortBinding
from polyvisor.agent_kvm.net.names import tap_name

__all__ = ["network_data"]


def _route(destination: str, gateway: str) -> dict[str, str]:
    net = ipaddress.ip_network(destination, strict=False)
    return {"network": str(net.network_address), "netmask": str(net.netmask), "gateway": gateway}


def network_data(ports: Iterable[PortBinding]) -> dict[str, Any]:
    links: list[dict[str, Any]] = []
    networks: list[dict[str, Any]] = []
    services: list[dict[str, str]] = []
    for b in ports:
        link = tap_name(b.port_id)
        links.append(
            {
                "id": link,
                "vif_id": b.port_id,
                "type": "bridge",
                "ethernet_mac_address": b.mac_address.lower(),
                "mtu": b.mtu,
            }
        )
        for ip in b.ips:
            net = ipaddress.ip_network(ip.cidr, strict=False)
            routes = [_route(r.destination, r.nexthop) for r in ip.host_routes]
            if ip.gateway_ip:
                any_net = "0.0.0.0/0" if ip.ip_version == 4 else "::/0"
                routes.append(_route(any_net, ip.gateway_ip))
            dns = [{"type": "dns", "address": d} for d in ip.dns_nameservers]
            networks.append(
                {
                    "id": f"network{len(networks)}",
                    "type": f"ipv{ip.ip_version}",
                    "link": link,
                    "ip_address": ip.ip_address,
                    "netmask": str(net.netmask) if ip.ip_version == 4 else str(net.prefixlen),
                    "routes": routes,
                    "network_id": b.network_id,
                    "services": dns,
                }
            )
            for d in dns:
                if d not in services:
                    services.append(d)
    return {"links": links, "networks": networks, "services": services}
