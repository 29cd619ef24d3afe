"""Which switch carries each physical network on this cluster (agent config). Pure.

``POLYVISOR_PHYSICAL_SWITCH_MAPPINGS=physnet1:vSwitch0,physnet2:dvs:DSwitch-prod``: a standard
vSwitch of that name on every ESXi host of the cluster, or (``dvs:``) a distributed switch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["SwitchMapping", "parse_switch_mappings", "port_group_name"]

_PHYSNET = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True, slots=True)
class SwitchMapping:
    physical_network: str
    switch: str  # the vSwitch's or the distributed switch's name
    distributed: bool = False


def parse_switch_mappings(value: str) -> dict[str, SwitchMapping]:
    """``physnet:vSwitch`` or ``physnet:dvs:Name`` items, comma separated; raises ValueError."""
    out: dict[str, SwitchMapping] = {}
    for raw in value.split(","):
        item = raw.strip()
        if not item:
            continue
        physnet, sep, rest = item.partition(":")
        distributed = rest.startswith("dvs:")
        switch = rest[4:] if distributed else rest
        if not sep or not _PHYSNET.match(physnet) or not switch.strip():
            raise ValueError(
                f"physical_switch_mappings: {item!r} is not physnet:vSwitch or physnet:dvs:Name"
            )
        if physnet in out:
            raise ValueError(f"physical_switch_mappings: {physnet} is mapped twice")
        out[physnet] = SwitchMapping(physnet, switch.strip(), distributed)
    return out


def port_group_name(network_id: str) -> str:
    """Our port group of a network: one name on every host (and on the distributed switch)."""
    return f"polyvisor-{network_id}"
