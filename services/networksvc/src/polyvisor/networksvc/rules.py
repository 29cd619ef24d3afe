"""Security group rules as given, normalised (protocol names, port ranges, ICMP type and code,
ethertype from the remote prefix), or an `InvalidArgument` naming the field."""

from __future__ import annotations

from dataclasses import dataclass

from polyvisor.common.errors import InvalidArgument
from polyvisor.networksvc.model import Direction
from polyvisor.networksvc.validation import parse_net

__all__ = ["NormalRule", "normalise_rule"]

_PROTOCOL_NUMBERS = {"icmp": 1, "tcp": 6, "udp": 17, "icmpv6": 58, "sctp": 132}
_PROTOCOL_NAMES = {v: k for k, v in _PROTOCOL_NUMBERS.items()}
_ALIASES = {"ipv6-icmp": "icmpv6", "icmp6": "icmpv6", "any": "", "all": ""}
_PORTED = {"tcp", "udp", "sctp"}


@dataclass(frozen=True, slots=True)
class NormalRule:
    direction: Direction
    ethertype: str
    protocol: str
    port_range_min: int | None
    port_range_max: int | None
    remote_ip_prefix: str
    remote_group_id: str


def _protocol(value: str) -> str:
    p = _ALIASES.get(value.strip().lower(), value.strip().lower())
    if p == "" or p in _PROTOCOL_NUMBERS:
        return p
    if p.isdigit():
        n = int(p)
        if not 0 <= n <= 255:
            raise InvalidArgument(f"protocol number {n} is out of range 0-255")
        return _PROTOCOL_NAMES.get(n, str(n))
    raise InvalidArgument(
        f"protocol {value!r} is not one of tcp, udp, icmp, icmpv6, sctp, or a number 0-255"
    )


def normalise_rule(
    direction: Direction | None,
    ethertype: str,
    protocol: str,
    port_range_min: int | None,
    port_range_max: int | None,
    remote_ip_prefix: str,
    remote_group_id: str,
) -> NormalRule:
    if direction is None:
        raise InvalidArgument("direction is required: ingress or egress")
    proto = _protocol(protocol)
    prefix = ""
    if remote_ip_prefix and remote_group_id:
        raise InvalidArgument("remote_ip_prefix and remote_group_id are exclusive")
    if remote_ip_prefix:
        net = parse_net(remote_ip_prefix, "remote_ip_prefix", strict=False)
        prefix = str(net)
        version = f"IPv{net.version}"
        if ethertype and ethertype != version:
            raise InvalidArgument(f"remote_ip_prefix {prefix} is not {ethertype}")
        ethertype = version
    ethertype = ethertype or "IPv4"
    if proto == "icmp" and ethertype == "IPv6":
        proto = "icmpv6"
    if proto == "icmpv6" and ethertype == "IPv4":
        raise InvalidArgument("protocol icmpv6 needs ethertype IPv6")
    lo, hi = port_range_min, port_range_max
    if proto in _PORTED:
        if lo is None and hi is not None:
            raise InvalidArgument("port_range_max needs port_range_min")
        if lo is not None:
            hi = lo if hi is None else hi
            if not 1 <= lo <= 65535 or not 1 <= hi <= 65535:
                raise InvalidArgument(f"port range {lo}-{hi} is not within 1-65535")
            if lo > hi:
                raise InvalidArgument(f"port_range_min {lo} is greater than port_range_max {hi}")
            if (lo, hi) == (1, 65535):
                lo = hi = None
    elif proto in ("icmp", "icmpv6"):
        if lo is None and hi is not None:
            raise InvalidArgument("an ICMP code (port_range_max) needs a type (port_range_min)")
        for v, what in ((lo, "type"), (hi, "code")):
            if v is not None and not 0 <= v <= 255:
                raise InvalidArgument(f"ICMP {what} {v} is out of range 0-255")
    elif lo is not None or hi is not None:
        raise InvalidArgument(
            f"protocol {proto or 'any'} has no ports: port_range_min/max need tcp, udp, sctp "
            "(ports) or icmp (type/code)"
        )
    return NormalRule(direction, ethertype, proto, lo, hi, prefix, remote_group_id)
