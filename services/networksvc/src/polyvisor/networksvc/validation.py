"""Input rules of the network service, as pure functions (no I/O): what a network, subnet,
fixed IP, MAC or address pair may be, normalised (security group rules: `rules`).

Every refusal is an `InvalidArgument` whose message names the field and the value.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from polyvisor.common.errors import InvalidArgument
from polyvisor.networksvc.model import (
    AddressPair,
    AllocationPool,
    HostRoute,
    NetworkType,
)

__all__ = [
    "DEFAULT_MTU",
    "MAC_PREFIX",
    "MATERIALISE_LIMIT",
    "SubnetPlan",
    "VlanRanges",
    "check_fixed_ip",
    "check_name",
    "check_network",
    "generate_mac",
    "in_cidr",
    "normalise_mac",
    "parse_address_pairs",
    "parse_ip",
    "parse_net",
    "parse_vlan_ranges",
    "plan_subnet",
]

DEFAULT_MTU = 1500
VLAN_MIN, VLAN_MAX = 1, 4094
MTU_MIN, MTU_MAX = 68, 9216
#: Neutron's base MAC: generated MACs are fa:16:3e:xx:xx:xx (locally administered, unicast).
MAC_PREFIX = "fa:16:3e"
#: Subnets whose pools hold at most this many addresses get one row per address (IPAM by
#: SKIP LOCKED); larger ones are allocated sparsely.
MATERIALISE_LIMIT = 65536
MAX_NAME = 255
MAX_DNS = 5
MAX_ROUTES = 20
MAX_PAIRS = 10

_PHYSNET_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")

#: physical network -> (min, max) VLAN range for automatic ids, or None (no range given).
VlanRanges = Mapping[str, tuple[int, int] | None]


def parse_vlan_ranges(text: str) -> dict[str, tuple[int, int] | None]:
    """`"physnet1:100:199,physnet2"` (Neutron's network_vlan_ranges) -> {name: range}."""
    out: dict[str, tuple[int, int] | None] = {}
    for item in (p.strip() for p in text.split(",")):
        if not item:
            continue
        name, *rng = item.split(":")
        if not _PHYSNET_RE.match(name):
            raise ValueError(f"bad physical network name {name!r} in {text!r}")
        if not rng:
            out[name] = None
            continue
        if len(rng) != 2:
            raise ValueError(f"expected name:min:max, got {item!r}")
        lo, hi = int(rng[0]), int(rng[1])
        if not VLAN_MIN <= lo <= hi <= VLAN_MAX:
            raise ValueError(f"VLAN range {lo}:{hi} of {name} is not within 1-4094, min <= max")
        out[name] = (lo, hi)
    return out


def check_name(value: str, what: str = "name") -> str:
    if len(value) > MAX_NAME:
        raise InvalidArgument(f"{what} is longer than {MAX_NAME} characters")
    if any(ord(c) < 32 for c in value):
        raise InvalidArgument(f"{what} must not contain control characters")
    return value


def check_network(
    network_type: NetworkType | None,
    physical_network: str,
    segmentation_id: int,
    mtu: int,
    known: VlanRanges,
) -> tuple[NetworkType, int]:
    """(type, mtu) once the provider attributes are valid. `segmentation_id` 0 on a VLAN
    network is left for the store to allocate from the range."""
    if network_type is None:
        raise InvalidArgument("network_type is required: flat or vlan")
    if not physical_network:
        raise InvalidArgument("physical_network is required")
    if not _PHYSNET_RE.match(physical_network):
        raise InvalidArgument(f"physical_network {physical_network!r} is not a valid name")
    if known and physical_network not in known:
        raise InvalidArgument(
            f"unknown physical network {physical_network!r} (known: {', '.join(sorted(known))})"
        )
    if network_type is NetworkType.FLAT and segmentation_id:
        raise InvalidArgument("a flat network has no segmentation_id")
    if network_type is NetworkType.VLAN:
        if segmentation_id and not VLAN_MIN <= segmentation_id <= VLAN_MAX:
            raise InvalidArgument(f"VLAN id {segmentation_id} is out of range 1-4094")
        if not segmentation_id and known.get(physical_network) is None:
            raise InvalidArgument(
                f"segmentation_id is required: physical network {physical_network!r} "
                "has no VLAN range to allocate from"
            )
    mtu = mtu or DEFAULT_MTU
    if not MTU_MIN <= mtu <= MTU_MAX:
        raise InvalidArgument(f"mtu {mtu} is out of range {MTU_MIN}-{MTU_MAX}")
    return network_type, mtu


# --------------------------------------------------------------------------- subnets


@dataclass(frozen=True, slots=True)
class SubnetPlan:
    ip_version: int
    cidr: str
    gateway_ip: str
    allocation_pools: tuple[AllocationPool, ...]
    dns_nameservers: tuple[str, ...]
    host_routes: tuple[HostRoute, ...]
    pool_size: int

    @property
    def materialised(self) -> bool:
        return self.pool_size <= MATERIALISE_LIMIT


def parse_ip(value: str, what: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        raise InvalidArgument(f"{what} {value!r} is not an IP address") from None


def parse_net(
    value: str, what: str, *, strict: bool = True
) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(value.strip(), strict=strict)
    except ValueError as e:
        raise InvalidArgument(f"{what} {value!r} is not a valid CIDR: {e}") from None


def _reserved(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> set[object]:
    """Addresses never handed out: the network address, and for IPv4 the broadcast."""
    out: set[object] = {net.network_address}
    if net.version == 4:
        out.add(net.broadcast_address)
    return out


def plan_subnet(
    cidr: str,
    *,
    gateway_ip: str,
    no_gateway: bool,
    pools: Sequence[AllocationPool],
    dns_nameservers: Sequence[str],
    host_routes: Sequence[HostRoute],
    existing_cidrs: Iterable[str] = (),
) -> SubnetPlan:
    """A subnet's normalised plan, or InvalidArgument / the overlap with an existing CIDR."""
    if not cidr:
        raise InvalidArgument("cidr is required")
    net = parse_net(cidr, "cidr")
    if net.version == 4 and net.prefixlen > 30:
        raise InvalidArgument(f"cidr {net} is too small: an IPv4 subnet needs at least a /30")
    if net.version == 6 and net.prefixlen > 126:
        raise InvalidArgument(f"cidr {net} is too small: an IPv6 subnet needs at least a /126")
    for other in existing_cidrs:
        o = ipaddress.ip_network(other)
        if o.version == net.version and o.overlaps(net):  # type: ignore[arg-type]
            raise InvalidArgument(f"cidr {net} overlaps subnet {o} of the same network")
    reserved = _reserved(net)
    if no_gateway:
        if gateway_ip:
            raise InvalidArgument("gateway_ip and no_gateway are exclusive")
        gw = None
    elif gateway_ip:
        gw = parse_ip(gateway_ip, "gateway_ip")
        if gw not in net or gw in reserved:
            raise InvalidArgument(f"gateway_ip {gw} is not a usable address of {net}")
    else:
        gw = net.network_address + 1
    ranges: list[tuple[int, int]] = []
    if pools:
        for p in pools:
            start, end = (
                parse_ip(p.start, "allocation pool start"),
                parse_ip(p.end, "allocation pool end"),
            )
            if start.version != net.version or end.version != net.version:
                raise InvalidArgument(f"allocation pool {p.start}-{p.end} is not IPv{net.version}")
            if start not in net or end not in net or start > end:  # type: ignore[operator]
                raise InvalidArgument(f"allocation pool {start}-{end} is not a range inside {net}")
            if start in reserved or end in reserved:
                raise InvalidArgument(
                    f"allocation pool {start}-{end} includes the network or broadcast address"
                )
            if gw is not None and start <= gw <= end:  # type: ignore[operator]
                raise InvalidArgument(f"allocation pool {start}-{end} includes the gateway {gw}")
            ranges.append((int(start), int(end)))
        ranges.sort()
        for (_, a_end), (b_start, _) in itertools.pairwise(ranges):
            if b_start <= a_end:
                raise InvalidArgument("allocation pools overlap")
    else:
        first = int(net.network_address) + 1
        last = int(net.broadcast_address) - (1 if net.version == 4 else 0)
        g = int(gw) if gw is not None else None
        if g is None or not first <= g <= last:
            ranges = [(first, last)]
        else:
            ranges = [r for r in ((first, g - 1), (g + 1, last)) if r[0] <= r[1]]
        if not ranges:
            raise InvalidArgument(f"cidr {net} leaves no address to allocate")
    cls = ipaddress.IPv4Address if net.version == 4 else ipaddress.IPv6Address
    if len(dns_nameservers) > MAX_DNS:
        raise InvalidArgument(f"at most {MAX_DNS} dns_nameservers")
    dns = tuple(str(parse_ip(d, "dns nameserver")) for d in dns_nameservers)
    if len(set(dns)) != len(dns):
        raise InvalidArgument("dns_nameservers has duplicates")
    if len(host_routes) > MAX_ROUTES:
        raise InvalidArgument(f"at most {MAX_ROUTES} host_routes")
    routes = []
    for r in host_routes:
        dest = parse_net(r.destination, "host route destination")
        hop = parse_ip(r.nexthop, "host route nexthop")
        if dest.version != net.version or hop.version != net.version:
            raise InvalidArgument(f"host route {dest} via {hop} is not IPv{net.version}")
        routes.append(HostRoute(str(dest), str(hop)))
    return SubnetPlan(
        ip_version=net.version,
        cidr=str(net),
        gateway_ip=str(gw) if gw is not None else "",
        allocation_pools=tuple(AllocationPool(str(cls(a)), str(cls(b))) for a, b in ranges),
        dns_nameservers=dns,
        host_routes=tuple(routes),
        pool_size=sum(b - a + 1 for a, b in ranges),
    )


def check_fixed_ip(ip: str, cidr: str, gateway_ip: str, subnet_id: str) -> str:
    """The normalised address if a port may hold it on that subnet."""
    addr = parse_ip(ip, "fixed IP")
    net = ipaddress.ip_network(cidr)
    if addr.version != net.version or addr not in net:
        raise InvalidArgument(f"fixed IP {addr} is outside subnet {subnet_id} ({net})")
    if addr in _reserved(net):
        raise InvalidArgument(f"fixed IP {addr} is the network or broadcast address of {net}")
    if gateway_ip and addr == ipaddress.ip_address(gateway_ip):
        raise InvalidArgument(f"fixed IP {addr} is the gateway of subnet {subnet_id}")
    return str(addr)


def in_cidr(ip: str, cidr: str) -> bool:
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(cidr)
    except ValueError:
        return False


# --------------------------------------------------------------------------- ports


def generate_mac() -> str:
    return MAC_PREFIX + "".join(f":{b:02x}" for b in secrets.token_bytes(3))


def normalise_mac(value: str) -> str:
    mac = value.strip().lower().replace("-", ":")
    if not _MAC_RE.match(mac):
        raise InvalidArgument(f"MAC address {value!r} is not six hex octets")
    first = int(mac[:2], 16)
    if first & 1:
        raise InvalidArgument(f"MAC address {mac} is multicast; a port needs a unicast MAC")
    if mac == "00:00:00:00:00:00":
        raise InvalidArgument("MAC address 00:00:00:00:00:00 is not usable")
    return mac


def parse_address_pairs(pairs: Sequence[AddressPair]) -> tuple[AddressPair, ...]:
    if len(pairs) > MAX_PAIRS:
        raise InvalidArgument(f"at most {MAX_PAIRS} allowed_address_pairs")
    out = []
    for p in pairs:
        if "/" in p.ip_address:
            ip = str(parse_net(p.ip_address, "allowed address pair", strict=False))
        else:
            ip = str(parse_ip(p.ip_address, "allowed address pair"))
        mac = normalise_mac(p.mac_address) if p.mac_address else ""
        pair = AddressPair(ip, mac)
        if pair in out:
            raise InvalidArgument(f"allowed address pair {ip} {mac} is listed twice")
        out.append(pair)
    return tuple(out)


# --------------------------------------------------------------------------- rules
