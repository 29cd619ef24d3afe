"""Security groups and anti-spoofing in nftables: the whole host's ruleset, rendered and
applied as one atomic transaction.

Two tables, both named ``polyvisor``:

- ``bridge polyvisor``: layer 2, stateless. Frames a port sends (``iifname`` its tap) go
  through the port's ``<p>_spoof`` chain: only its MAC (and its address pairs' MACs), ARP only
  for its own addresses, IPv4/IPv6 only from its addresses (DHCP discovery from 0.0.0.0 aside),
  never a DHCP server or a router advertisement, nothing but IPv4, IPv6 and ARP. The frame is
  then marked with the port's number (low 16 bits); a frame bridged *to* a port is marked with
  that port's number in the high 16 bits.
- ``inet polyvisor``: the security groups, stateful. Bridged IP traffic reaches the inet hooks
  through br_netfilter (``net.bridge.bridge-nf-call-iptables``), where connection tracking runs:
  replies of an allowed flow pass, and each port has ``<p>_egress`` (its egress rules, default
  drop) and ``<p>_ingress`` (its ingress rules, default drop) chains, entered by mark. Remote
  groups are named sets (``rg<group>v4``/``v6``) of their members' addresses.

Why the split: connection tracking in the bridge family needs the kernel's
``nf_conntrack_bridge``, which not every host kernel has; br_netfilter brings bridged traffic
to the inet hooks on all of them. Ports with port security off have no chains and no mark:
all their traffic passes.

Bridged IP traffic reaches the inet hooks with the bridge as its in and out device, so the
inet dispatch names the port's bridge as well as its mark. Rendering is pure (``render``); ``apply`` replaces both tables at once (``nft -f``), so a
change of rules or members is live for every port in one step and nothing is half applied.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from polyvisor.agent_kvm.net.model import Direction, PortBinding, Rule
from polyvisor.agent_kvm.net.names import bridge_name, short, tap_name
from polyvisor.agent_kvm.net.shell import NetError, run

__all__ = [
    "TABLE",
    "FirewallPort",
    "apply",
    "enable_bridge_netfilter",
    "remove",
    "render",
    "set_name",
]

TABLE = "polyvisor"
METADATA_IP = "169.254.169.254"
_SYSCTLS = (
    Path("/proc/sys/net/bridge/bridge-nf-call-iptables"),
    Path("/proc/sys/net/bridge/bridge-nf-call-ip6tables"),
)


@dataclass(frozen=True, slots=True)
class FirewallPort:
    """A port as the firewall sees it: its binding, its number, its effective rules."""

    binding: PortBinding
    number: int  # 1..65534, unique on the host
    rules: tuple[Rule, ...]

    @property
    def chain(self) -> str:
        return f"p{short(self.binding.port_id, 12)}"


def set_name(group_id: str, version: int) -> str:
    return f"rg{short(group_id, 16)}v{version}"


def _q(name: str) -> str:
    return f'"{name}"'


def _macs(b: PortBinding) -> list[str]:
    macs = [b.mac_address.lower()]
    for pair in b.allowed_address_pairs:
        mac = (pair.mac_address or b.mac_address).lower()
        if mac not in macs:
            macs.append(mac)
    return macs


def _sources(b: PortBinding, version: int) -> list[str]:
    """``mac . address`` elements the port may send from."""
    out = [f"{b.mac_address.lower()} . {ip.ip_address}" for ip in b.ips if ip.ip_version == version]
    for pair in b.allowed_address_pairs:
        net = ipaddress.ip_network(pair.ip_address, strict=False)
        if net.version == version:
            addr = str(net.network_address) if net.num_addresses == 1 else str(net)
            out.append(f"{(pair.mac_address or b.mac_address).lower()} . {addr}")
    return out


def _spoof_chain(p: FirewallPort) -> list[str]:
    b = p.binding
    macs = ", ".join(_macs(b))
    lines = [f"ether saddr != {{ {macs} }} drop"]
    v4 = _sources(b, 4)
    v6 = _sources(b, 6)
    if v4:
        lines.append(f"ether type arp ether saddr . arp saddr ip {{ {', '.join(v4)} }} accept")
    lines.append("ether type arp drop")
    lines.append("ether type ip udp sport 67 drop")  # never a DHCP server
    lines.append("ether type ip ip saddr 0.0.0.0 udp sport 68 udp dport 67 accept")
    if v4:
        lines.append(f"ether type ip ether saddr . ip saddr != {{ {', '.join(v4)} }} drop")
    else:
        lines.append("ether type ip drop")
    lines.append("ether type ip6 icmpv6 type nd-router-advert drop")
    lines.append("ether type ip6 udp sport 547 drop")  # never a DHCPv6 server
    link_local = [f"{m} . fe80::/10" for m in _macs(b)] + [f"{m} . ::" for m in _macs(b)]
    lines.append(
        f"ether type ip6 ether saddr . ip6 saddr != {{ {', '.join(link_local + v6)} }} drop"
    )
    lines.append("ether type != { ip, ip6, arp } drop")
    return lines


def _rule_match(rule: Rule, known_sets: set[str]) -> str | None:
    """The nftables match of one allow rule (None: the rule can never match)."""
    v = rule.ethertype
    ipkw = "ip" if v == 4 else "ip6"
    field = "saddr" if rule.direction == Direction.INGRESS else "daddr"
    parts = [f"meta nfproto ipv{v}"]
    if rule.remote_ip_prefix:
        net = ipaddress.ip_network(rule.remote_ip_prefix, strict=False)
        if net.version != v:
            return None
        if net.prefixlen:
            parts.append(f"{ipkw} {field} {net}")
    elif rule.remote_group_id:
        name = set_name(rule.remote_group_id, v)
        if name not in known_sets:
            return None
        parts.append(f"{ipkw} {field} @{name}")
    proto = rule.protocol.lower()
    lo, hi = rule.port_range_min, rule.port_range_max
    if proto in ("tcp", "udp", "sctp"):
        parts.append(f"meta l4proto {proto}")
        if lo is not None or hi is not None:
            lo = lo if lo is not None else 1
            hi = hi if hi is not None else 65535
            parts.append(f"{proto} dport {lo}" if lo == hi else f"{proto} dport {lo}-{hi}")
    elif proto in ("icmp", "icmpv6", "ipv6-icmp"):
        kw = "icmp" if v == 4 else "icmpv6"
        parts.append(f"meta l4proto {'icmp' if v == 4 else 'ipv6-icmp'}")
        if lo is not None:
            parts.append(f"{kw} type {lo}")
            if hi is not None:
                parts.append(f"{kw} code {hi}")
    elif proto:
        parts.append(f"meta l4proto {int(proto)}")
    return " ".join(parts)


def _sets(remote: Mapping[str, tuple[str, ...]]) -> list[str]:
    lines: list[str] = []
    for gid in sorted(remote):
        for v in (4, 6):
            addrs = [a for a in remote[gid] if ipaddress.ip_network(a, strict=False).version == v]
            body = f"type ipv{v}_addr; flags interval;"
            if addrs:
                body += f" elements = {{ {', '.join(addrs)} }};"
            lines.append(f"  set {set_name(gid, v)} {{ {body} }}")
    return lines


def render(
    ports: Iterable[FirewallPort], remote: Mapping[str, tuple[str, ...]], table: str = TABLE
) -> str:
    """The nft script that replaces both tables with the rules of ``ports``.

    ``remote`` maps every group a rule names as remote group to its members' addresses."""
    ports = sorted((p for p in ports if p.binding.port_security_enabled), key=lambda p: p.number)
    out = [f"table bridge {table}", f"delete table bridge {table}"]
    out += [f"table inet {table}", f"delete table inet {table}"]
    if not ports:
        return "\n".join(out) + "\n"
    # layer 2
    out.append(f"table bridge {table} {{")
    out.append("  chain prerouting {")
    out.append("    type filter hook prerouting priority -300; policy accept;")
    for p in ports:
        tap = _q(tap_name(p.binding.port_id))
        out.append(f"    iifname {tap} meta mark set {p.number:#x} jump {p.chain}_spoof")
    out.append("  }")
    out.append("  chain forward {")
    out.append("    type filter hook forward priority -200; policy accept;")
    for p in ports:
        tap = _q(tap_name(p.binding.port_id))
        out.append(f"    oifname {tap} meta mark set meta mark or {p.number << 16:#x}")
    out.append("  }")
    for p in ports:
        out.append(f"  chain {p.chain}_spoof {{")
        out += [f"    {line}" for line in _spoof_chain(p)]
        out.append("  }")
    out.append("}")
    # layer 3, stateful
    out.append(f"table inet {table} {{")
    out += _sets(remote)
    known = {set_name(g, v) for g in remote for v in (4, 6)}
    out.append("  chain forward {")
    out.append("    type filter hook forward priority 0; policy accept;")
    out.append("    meta mark 0 accept")
    out.append("    ct state established,related accept")
    out.append("    ct state invalid drop")
    for p in ports:
        br = _q(bridge_name(p.binding.network_id))
        out.append(f"    iifname {br} meta mark and 0xffff == {p.number:#x} jump {p.chain}_egress")
    for p in ports:
        br = _q(bridge_name(p.binding.network_id))
        out.append(
            f"    oifname {br} meta mark and 0xffff0000 == {p.number << 16:#x} "
            f"jump {p.chain}_ingress"
        )
    out.append("  }")
    for p in ports:
        egress = ["udp sport 68 udp dport 67 return", f"ip daddr {METADATA_IP} tcp dport 80 return"]
        ingress = [
            "udp sport 67 udp dport 68 accept",
            "meta l4proto ipv6-icmp icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } accept",
        ]
        egress.insert(
            1,
            "meta l4proto ipv6-icmp icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } return",
        )
        for rule in p.rules:
            match = _rule_match(rule, known)
            if match is None:
                continue
            if rule.direction == Direction.INGRESS:
                ingress.append(f"{match} accept")
            else:
                egress.append(f"{match} return")
        out.append(f"  chain {p.chain}_egress {{")
        out += [f"    {line}" for line in egress] + ["    drop", "  }"]
        out.append(f"  chain {p.chain}_ingress {{")
        out += [f"    {line}" for line in ingress] + ["    drop", "  }"]
    out.append("}")
    return "\n".join(out) + "\n"


def _enable_sysctls() -> None:
    for path in _SYSCTLS:
        if path.exists() and path.read_text().strip() != "1":
            path.write_text("1\n")


async def enable_bridge_netfilter() -> None:
    """Send bridged IP traffic through the inet hooks (connection tracking)."""
    import asyncio

    try:
        await asyncio.to_thread(_enable_sysctls)
    except OSError as exc:
        raise NetError(f"cannot enable bridge netfilter (br_netfilter): {exc}") from exc
    if not _SYSCTLS[0].exists():
        raise NetError("this kernel has no br_netfilter: security groups cannot be enforced")


async def apply(script: str) -> None:
    await run("nft", "-f", "-", stdin=script.encode())


async def remove(table: str = TABLE) -> None:
    """Delete both tables (nothing of ours is left in nftables)."""
    await apply(render((), {}, table))
