"""`polyvisor network|subnet|port|security group|security group rule ...`: create, list, show,
delete (the network service)."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from polyvisor.client.cli import exitcodes, views
from polyvisor.client.cli.context import Ctx, UsageError
from polyvisor.client.errors import PolyvisorClientError
from polyvisor.client.serialize import to_dict


@dataclass(frozen=True, slots=True)
class _Kind:
    """One resource of the network service as the CLI shows it: list, show and delete are
    the same for all of them, built from this."""

    what: str
    api: Callable[[Any], Any]  # client -> its API object (client.networks, ...)
    view: Callable[[Any], Any]
    columns: Any
    #: list filters from the arguments (names resolved to ids)
    filters: Callable[[Any, argparse.Namespace], Awaitable[dict[str, Any]]]
    lookup: str = "find"  # by name or id; rules have no name: "get"


async def _all_projects(client: Any, args: argparse.Namespace) -> dict[str, Any]:
    return {"all_projects": args.all_projects}


async def _named(client: Any, args: argparse.Namespace) -> dict[str, Any]:
    return {"name": args.name, "all_projects": args.all_projects}


async def _on_network(client: Any, args: argparse.Namespace) -> dict[str, Any]:
    network_id = (await client.networks.find(args.network)).id if args.network else ""
    return {"network_id": network_id, "all_projects": args.all_projects}


async def _port_filters(client: Any, args: argparse.Namespace) -> dict[str, Any]:
    return {**await _on_network(client, args), "device_id": args.device_id, "host": args.host}


async def _of_group(client: Any, args: argparse.Namespace) -> dict[str, Any]:
    group_id = (await client.security_groups.find(args.group)).id if args.group else ""
    return {"security_group_id": group_id, "all_projects": args.all_projects}


NETWORK = _Kind("network", lambda c: c.networks, views.network_view, views.NETWORK_COLUMNS, _named)
SUBNET = _Kind("subnet", lambda c: c.subnets, views.subnet_view, views.SUBNET_COLUMNS, _on_network)
PORT = _Kind("port", lambda c: c.ports, views.port_view, views.PORT_COLUMNS, _port_filters)
GROUP = _Kind(
    "security group",
    lambda c: c.security_groups,
    views.group_view,
    views.SECURITY_GROUP_COLUMNS,
    _named,
)
RULE = _Kind(
    "rule",
    lambda c: c.security_group_rules,
    views.rule_view,
    views.SECURITY_GROUP_RULE_COLUMNS,
    _of_group,
    lookup="get",
)


def _handlers(kind: _Kind) -> tuple[Any, Any, Any]:
    """list, show and delete of `kind`."""

    async def list_(ctx: Ctx, args: argparse.Namespace) -> int:
        client = ctx.client()
        items = await kind.api(client).list(**await kind.filters(client, args))
        ctx.out.rows([to_dict(i) for i in items], [kind.view(i) for i in items], kind.columns)
        return 0

    async def show(ctx: Ctx, args: argparse.Namespace) -> int:
        item = await getattr(kind.api(ctx.client()), kind.lookup)(args.name)
        ctx.out.show(to_dict(item), kind.view(item))
        return 0

    async def delete(ctx: Ctx, args: argparse.Namespace) -> int:
        api = kind.api(ctx.client())
        worst = 0
        for name in args.names:
            try:
                await api.delete(name if kind.lookup == "get" else (await api.find(name)).id)
                ctx.out.message(f"deleted {name}")
            except (PolyvisorClientError, ValueError) as e:
                worst = worst or exitcodes.print_error(ctx.err, e)
        return worst

    return list_, show, delete


def _group(groups: Any, name: str, help: str, dest: str = "action") -> Any:
    g = groups.add_parser(name, help=help)
    sub = g.add_subparsers(dest=dest, metavar="ACTION")
    sub.required = True
    return sub


def _resource(
    sub: Any, out: argparse.ArgumentParser, kind: _Kind, create: Any, create_help: str
) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The create, list, show and delete commands of `kind`: (create's parser, list's parser)
    for the arguments of their own."""
    list_, show, delete = _handlers(kind)
    key = "ID" if kind.lookup == "get" else "NAME_OR_ID"
    made = sub.add_parser("create", parents=[out], help=create_help)
    made.set_defaults(handler=create)
    listed = sub.add_parser("list", parents=[out], help=f"list {kind.what}s")
    listed.add_argument("--all-projects", action="store_true")
    listed.set_defaults(handler=list_)
    p = sub.add_parser("show", parents=[out], help=f"show a {kind.what}")
    p.add_argument("name", metavar=key)
    p.set_defaults(handler=show)
    p = sub.add_parser("delete", parents=[out], help=f"delete {kind.what}s")
    p.add_argument("names", nargs="+", metavar=key)
    p.set_defaults(handler=delete)
    return made, listed


def register(groups: Any, out: argparse.ArgumentParser) -> None:
    sub = _group(groups, "network", "networks (flat or VLAN on a physical network)")
    p, listed = _resource(sub, out, NETWORK, network_create, "create a network")
    p.add_argument("name")
    p.add_argument("--type", dest="network_type", default="vlan", help="flat or vlan (default)")
    p.add_argument("--physical-network", required=True, metavar="NAME")
    p.add_argument("--segmentation-id", type=int, default=0, metavar="VLAN",
                   help="VLAN id (default: one from the physical network's range)")  # fmt: skip
    p.add_argument("--mtu", type=int, default=0)
    p.add_argument("--shared", action="store_true", help="usable by every project (admin)")
    p.add_argument("--disable", action="store_true", help="admin state down")
    listed.add_argument("--name", default="")

    sub = _group(groups, "subnet", "subnets (IPv4 or IPv6) of a network")
    p, listed = _resource(sub, out, SUBNET, subnet_create, "create a subnet")
    p.add_argument("name")
    p.add_argument("--network", required=True, metavar="NAME_OR_ID")
    p.add_argument("--cidr", required=True)
    gw = p.add_mutually_exclusive_group()
    gw.add_argument("--gateway", default="", metavar="IP", help="default: the first address")
    gw.add_argument("--no-gateway", action="store_true")
    p.add_argument("--pool", action="append", default=[], metavar="START-END",
                   help="allocation pool (repeatable; default: the whole CIDR)")  # fmt: skip
    p.add_argument("--dns", action="append", default=[], metavar="IP")
    p.add_argument("--route", action="append", default=[], metavar="DEST=NEXTHOP")
    p.add_argument("--no-dhcp", action="store_true")
    listed.add_argument("--network", default="", metavar="NAME_OR_ID")

    sub = _group(groups, "port", "ports: a MAC and addresses on a network")
    p, listed = _resource(sub, out, PORT, port_create, "create a port")
    p.add_argument("name", nargs="?", default="")
    p.add_argument("--network", required=True, metavar="NAME_OR_ID")
    p.add_argument("--fixed-ip", action="append", default=[], metavar="subnet=S,ip=A",
                   help="an address (repeatable; default: one per IP version)")  # fmt: skip
    p.add_argument("--mac", default="", metavar="MAC")
    p.add_argument("--security-group", action="append", default=[], metavar="NAME_OR_ID",
                   help="repeatable; default: the project's default group")  # fmt: skip
    p.add_argument("--disable-port-security", action="store_true",
                   help="no anti-spoofing and no security groups")  # fmt: skip
    p.add_argument("--allowed-address", action="append", default=[], metavar="IP[,mac=M]")
    p.add_argument("--device-id", default="")
    p.add_argument("--device-owner", default="")
    listed.add_argument("--network", default="", metavar="NAME_OR_ID")
    listed.add_argument("--device-id", default="")
    listed.add_argument("--host", default="")

    # security group [rule]
    sub = _group(groups, "security", "security groups and their rules", dest="kind")
    gsub = _group(sub, "group", "security groups")
    p, listed = _resource(gsub, out, GROUP, group_create, "create a security group")
    p.add_argument("name")
    p.add_argument("--description", default="")
    listed.add_argument("--name", default="")

    rsub = _group(gsub, "rule", "security group rules", dest="rule_action")
    p, listed = _resource(rsub, out, RULE, rule_create, "add a rule (an allow) to a group")
    p.add_argument("group", metavar="GROUP")
    d = p.add_mutually_exclusive_group()
    d.add_argument("--ingress", dest="direction", action="store_const", const="ingress")
    d.add_argument("--egress", dest="direction", action="store_const", const="egress")
    p.add_argument("--ethertype", default=None, help="IPv4 (default) or IPv6")
    p.add_argument("--protocol", default="", help="tcp, udp, icmp, icmpv6, sctp or 0-255")
    p.add_argument("--port", default="", metavar="MIN[:MAX]", help="tcp/udp/sctp port range")
    p.add_argument("--icmp-type", type=int, default=None)
    p.add_argument("--icmp-code", type=int, default=None)
    r = p.add_mutually_exclusive_group()
    r.add_argument("--remote-ip", default="", metavar="CIDR")
    r.add_argument("--remote-group", default="", metavar="GROUP")
    p.add_argument("--description", default="")
    p.set_defaults(direction="ingress")
    listed.add_argument("group", nargs="?", default="", metavar="GROUP")


def _kv(text: str, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep:
            raise UsageError(f"{what} must be key=value[,key=value], not {text!r}")
        out[key.strip()] = value.strip()
    return out


async def network_create(ctx: Ctx, args: argparse.Namespace) -> int:
    net = await ctx.client().networks.create(
        args.name,
        network_type=args.network_type,
        physical_network=args.physical_network,
        segmentation_id=args.segmentation_id,
        shared=args.shared,
        mtu=args.mtu,
        admin_state_up=not args.disable,
    )
    ctx.out.show(to_dict(net), views.network_view(net))
    return 0


async def subnet_create(ctx: Ctx, args: argparse.Namespace) -> int:
    client = ctx.client()
    net = await client.networks.find(args.network)
    pools = []
    for pool in args.pool:
        start, sep, end = pool.partition("-")
        if not sep:
            raise UsageError(f"--pool must be START-END, not {pool!r}")
        pools.append((start.strip(), end.strip()))
    routes = []
    for route in args.route:
        dest, sep, hop = route.partition("=")
        if not sep:
            raise UsageError(f"--route must be DEST=NEXTHOP, not {route!r}")
        routes.append((dest.strip(), hop.strip()))
    subnet = await client.subnets.create(
        args.name,
        network_id=net.id,
        cidr=args.cidr,
        gateway_ip=args.gateway,
        no_gateway=args.no_gateway,
        allocation_pools=pools,
        dns_nameservers=args.dns,
        host_routes=routes,
        enable_dhcp=not args.no_dhcp,
    )
    ctx.out.show(to_dict(subnet), views.subnet_view(subnet))
    return 0


async def port_create(ctx: Ctx, args: argparse.Namespace) -> int:
    client = ctx.client()
    net = await client.networks.find(args.network)
    fixed = []
    for item in args.fixed_ip:
        kv = _kv(item, "--fixed-ip")
        bad = set(kv) - {"subnet", "ip"}
        if bad:
            raise UsageError(f"--fixed-ip knows subnet= and ip=, not {', '.join(sorted(bad))}")
        entry = {}
        if kv.get("subnet"):
            entry["subnet_id"] = (await client.subnets.find(kv["subnet"])).id
        if kv.get("ip"):
            entry["ip_address"] = kv["ip"]
        fixed.append(entry)
    groups = [(await client.security_groups.find(g)).id for g in args.security_group]
    pairs = []
    for item in args.allowed_address:
        ip, _, rest = item.partition(",")
        pair = {"ip_address": ip.strip()}
        if rest:
            pair["mac_address"] = _kv(rest, "--allowed-address").get("mac", "")
        pairs.append(pair)
    port = await client.ports.create(
        net.id,
        name=args.name,
        fixed_ips=fixed,
        mac_address=args.mac,
        security_group_ids=groups,
        port_security_enabled=not args.disable_port_security,
        allowed_address_pairs=pairs,
        device_id=args.device_id,
        device_owner=args.device_owner,
    )
    ctx.out.show(to_dict(port), views.port_view(port))
    return 0


async def group_create(ctx: Ctx, args: argparse.Namespace) -> int:
    group = await ctx.client().security_groups.create(args.name, description=args.description)
    ctx.out.show(to_dict(group), views.group_view(group))
    return 0


async def rule_create(ctx: Ctx, args: argparse.Namespace) -> int:
    client = ctx.client()
    group = await client.security_groups.find(args.group)
    lo: int | None = None
    hi: int | None = None
    if args.port:
        if args.icmp_type is not None or args.icmp_code is not None:
            raise UsageError("--port and --icmp-type/--icmp-code are exclusive")
        first, _, last = args.port.partition(":")
        try:
            lo = int(first)
            hi = int(last) if last else lo
        except ValueError:
            raise UsageError(f"--port must be MIN[:MAX], not {args.port!r}") from None
    elif args.icmp_type is not None or args.icmp_code is not None:
        lo, hi = args.icmp_type, args.icmp_code
    remote_group = (
        (await client.security_groups.find(args.remote_group)).id if args.remote_group else ""
    )
    rule = await client.security_group_rules.create(
        group.id,
        direction=args.direction,
        ethertype=args.ethertype,
        protocol=args.protocol,
        port_range_min=lo,
        port_range_max=hi,
        remote_ip_prefix=args.remote_ip,
        remote_group_id=remote_group,
        description=args.description,
    )
    ctx.out.show(to_dict(rule), views.rule_view(rule))
    return 0
