"""Names of what the data plane makes, derived from ids. Pure.

Linux interface names hold at most 15 characters, so ids are cut to their first 11 hex
digits behind a 3-letter prefix that says what the device is (``pvb`` bridge, ``pvt`` a port's
tap, ``pvd`` the bridge end of a DHCP namespace's veth, ``pvv`` a VLAN sub-interface when
``<interface>.<vlan>`` does not fit). Everything starts with ``pv`` so an operator (and the
tests) can tell ours from anything else on the host.
"""

from __future__ import annotations

import hashlib

__all__ = [
    "NS_DEVICE",
    "NS_PREFIX",
    "bridge_name",
    "dhcp_namespace",
    "dhcp_veth",
    "short",
    "tap_name",
    "vlan_device",
]

NS_PREFIX = "pvdhcp-"
#: The DHCP namespace's end of its veth (inside the namespace, so it never collides).
NS_DEVICE = "pvns0"


def short(some_id: str, n: int = 11) -> str:
    return some_id.replace("-", "").lower()[:n]


def bridge_name(network_id: str) -> str:
    return f"pvb{short(network_id)}"


def tap_name(port_id: str) -> str:
    return f"pvt{short(port_id)}"


def dhcp_veth(network_id: str) -> str:
    return f"pvd{short(network_id)}"


def dhcp_namespace(network_id: str) -> str:
    return f"{NS_PREFIX}{network_id}"


def vlan_device(interface: str, vlan: int) -> str:
    name = f"{interface}.{vlan}"
    if len(name) <= 15:
        return name
    digest = hashlib.sha256(interface.encode()).hexdigest()[: 11 - len(str(vlan))]
    return f"pvv{digest}.{vlan}"
