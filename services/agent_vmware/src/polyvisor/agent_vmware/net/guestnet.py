"""A server's network configuration for cloud-init, in netplan v2 form. Pure.

vSphere has no DHCP agent of ours: every address is static, from the binding specs. Each NIC
is matched by its MAC (the guest's names are its own business) and named ``eth<i>`` in port
order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from polyvisor.agent_vmware.net.model import PortBinding

__all__ = ["netplan_config"]


def _ethernet(spec: PortBinding, name: str) -> dict[str, Any]:
    eth: dict[str, Any] = {
        "match": {"macaddress": spec.mac_address},
        "set-name": name,
    }
    if spec.mtu:
        eth["mtu"] = spec.mtu
    addresses: list[str] = []
    routes: list[dict[str, Any]] = []
    dns: list[str] = []
    for ip in spec.ips:
        addresses.append(f"{ip.ip_address}/{ip.prefix_length}")
        if ip.gateway_ip:
            to = "::/0" if ip.version == 6 else "0.0.0.0/0"
            routes.append({"to": to, "via": ip.gateway_ip})
        routes.extend({"to": r.destination, "via": r.nexthop} for r in ip.host_routes)
        dns.extend(d for d in ip.dns_nameservers if d not in dns)
    if addresses:
        eth["addresses"] = addresses
    else:
        eth["dhcp4"] = False
        eth["dhcp6"] = False
    if routes:
        eth["routes"] = routes
    if dns:
        eth["nameservers"] = {"addresses": dns}
    return eth


def netplan_config(specs: Sequence[PortBinding]) -> dict[str, Any]:
    """The ``network`` key of ``guestinfo.metadata`` (netplan v2); only the first NIC with a
    gateway keeps its default routes, so a guest on two networks has one default route per
    IP version."""
    ethernets: dict[str, Any] = {}
    defaults: set[str] = set()
    for i, spec in enumerate(specs):
        eth = _ethernet(spec, f"eth{i}")
        kept = []
        for r in eth.get("routes", ()):
            if r["to"] in ("0.0.0.0/0", "::/0"):
                if r["to"] in defaults:
                    continue
                defaults.add(r["to"])
            kept.append(r)
        if kept:
            eth["routes"] = kept
        else:
            eth.pop("routes", None)
        ethernets[f"eth{i}"] = eth
    return {"version": 2, "ethernets": ethernets}
