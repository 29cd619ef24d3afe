"""`polyvisor network|subnet|port|security group|security group rule ...`: create, list, show,
delete (the network service)."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any

from polyvisor.client.cli import exitcodes, views
from polyvisor.client.cli.context import Ctx, UsageError
from polyvisor.client.errors import PolyvisorClientError
from polyvisor.client.serialize import to_dict


def _crud(
    sub: Any,
    out: argparse.ArgumentParser,
    what: str,
    show: Callable[..., Awaitable[int]],
    delete: Callable[..., Awaitable[int]],
) -> None:
    p = sub.add_parser("show", parents=[out], help=f"show a {what}")
    p.add_argument("name", metavar="NAME_OR_ID")
    p.set_defaults(handler=show)
    p = sub.add_parser("delete", parents=[out], help=f"delete {what}s")
    p.add_argument("names", nargs="+", metavar="NAME_OR_ID")
    p.set_defaults(handler=delete)


def register(groups: Any, out: argparse.ArgumentParser) -> None:
    # -- network
    g = groups.add_parser("network", help="networks (flat or VLAN on a physical network)")
    sub = g.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    p = sub.add_parser("create", parents=[out], help="create a network")
    p.add_argument("name")
    p.add_argument("--type", dest="network_type", default="vlan", help="flat or vlan (default)")
    p.add_argument("--physical-network", required=True, metavar="NAME")
    p.add_argument("--segmentation-id", type=int, default=0, metavar="VLAN",
                   help="VLAN id (default: one from the physical network's range)")  # fmt: skip
    p.add_argument("--mtu", type=int, default=0)
    p.add_argument("--shared", action="store_true", help="usable by every project (admin)")
    p.add_argument("--disable", action="store_true", help="admin state down")
    p.set_defaults(handler=network_create)
    p = sub.add_parser("list", parents=[out], help="list networks")
    p.add_argument("--name", default="")
    p.add_argument("--all-projects", action="store_true")
    p.set_defaults(handler=network_list)
    _crud(sub, out, "network", network_show, network_delete)

    # -- subnet
    g = groups.add_parser("subnet", help="subnets (IPv4 or IPv6) of a network")
    sub = g.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    p = sub.add_parser("create", parents=[out], help="create a subnet")
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
    p.set_defaults(handler=subnet_create)
    p = sub.add_parser("list", parents=[out], help="list subnets")
    p.add_argument("--network", default="", metavar="NAME_OR_ID")
    p.add_argument("--all-projects", action="store_true")
    p.set_defaults(handler=subnet_list)
    _crud(sub, out, "subnet", subnet_show, subnet_delete)

    # -- port
    g = groups.add_parser("port", help="ports: a MAC and addresses on a network")
    sub = g.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    p = sub.add_parser("create", parents=[out], help="create a port")
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
    p.set_defaults(handler=port_create)
    p = sub.add_parser("list", parents=[out], help="list ports")
    p.add_argument("--network", default="", metavar="NAME_OR_ID")
    p.add_argument("--device-id", default="")
    p.add_argument("--host", default="")
    p.add_argument("--all-projects", action="store_true")
    p.set_defaults(handler=port_list)
    _crud(sub, out, "port", port_show, port_delete)

    # -- security group [rule]
    g = groups.add_parser("security", help="security groups and their rules")
    sub = g.add_subparsers(dest="kind", metavar="group")
    sub.required = True
    sg = sub.add_parser("group", help="security groups")
    gsub = sg.add_subparsers(dest="action", metavar="ACTION")
    gsub.required = True
    p = gsub.add_parser("create", parents=[out], help="create a security group")
    p.add_argument("name")
    p.add_argument("--description", default="")
    p.set_defaults(handler=group_create)
    p = gsub.add_parser("list", parents=[out], help="list security groups")
    p.add_argument("--name", default="")
    p.add_argument("--all-projects", action="store_true")
    p.set_defaults(handler=group_list)
    _crud(gsub, out, "security group", group_show, group_delete)

    rg = gsub.add_parser("rule", help="security group rules")
    rsub = rg.add_subparsers(dest="rule_action", metavar="ACTION")
    rsub.required = True
    p = rsub.add_parser("create", parents=[out], help="add a rule (an allow) to a group")
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
    p.set_defaults(handler=rule_create, direction="ingress")
    p = rsub.add_parser("list", parents=[out], help="list rules")
    p.add_argument("group", nargs="?", default="", metavar="GROUP")
    p.add_argument("--all-projects", action="store_true")
    p.set_defaults(handler=rule_list)
    p = rsub.add_parser("show", parents=[out], help="show a rule")
    p.add_argument("name", metavar="ID")
    p.set_defaults(handler=rule_show)
    p = rsub.add_parser("delete", parents=[out], help="delete rules")
    p.add_argument("names", nargs="+", metavar="ID")
    p.set_defaults(handler=rule_delete)


async def _delete_each(ctx: Ctx, names: list[str], delete: Callable[[str], Awaitable[str]]) -> int:
    worst = 0
    for name in names:
        try:
            ctx.out.message(f"deleted {await delete(name)}")
        except (PolyvisorClientError, ValueError) as e:
            worst = worst or exitcodes.print_error(ctx.err, e)
    return worst


def _kv(text: str, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep:
            raise UsageError(f"{what} must be key=value[,key=value], not {text!r}")
        out[key.strip()] = value.strip()
    return out


# --------------------------------------------------------------------------- networks


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


async def network_list(ctx: Ctx, args: argparse.Namespace) -> int:
    items = await ctx.client().networks.list(name=args.name, all_projects=args.all_projects)
    ctx.out.rows(
        [to_dict(n) for n in items], [views.network_view(n) for n in items], views.NETWORK_COLUMNS
    )
    return 0


async def network_show(ctx: Ctx, args: argparse.Namespace) -> int:
    net = await ctx.client().networks.find(args.name)
    ctx.out.show(to_dict(net), views.network_view(net))
    return 0


async def network_delete(ctx: Ctx, args: argparse.Namespace) -> int:
    api = ctx.client().networks

    async def delete(name: str) -> str:
        net = await api.find(name)
        await api.delete(net.id)
        return name

    return await _delete_each(ctx, args.names, delete)


# --------------------------------------------------------------------------- subnets


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


async def subnet_list(ctx: Ctx, args: argparse.Namespace) -> int:
    client = ctx.client()
    network_id = (await client.networks.find(args.network)).id if args.network else ""
    items = await client.subnets.list(network_id=network_id, all_projects=args.all_projects)
    ctx.out.rows(
        [to_dict(s) for s in items], [views.subnet_view(s) for s in items], views.SUBNET_COLUMNS
    )
    return 0


async def subnet_show(ctx: Ctx, args: argparse.Namespace) -> int:
    subnet = await ctx.client().subnets.find(args.name)
    ctx.out.show(to_dict(subnet), views.subnet_view(subnet))
    return 0


async def subnet_delete(ctx: Ctx, args: argparse.Namespace) -> int:
    api = ctx.client().subnets

    async def delete(name: str) -> str:
        await api.delete((await api.find(name)).id)
        return name

    return await _delete_each(ctx, args.names, delete)


# --------------------------------------------------------------------------- ports


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


async def port_list(ctx: Ctx, args: argparse.Namespace) -> int:
    client = ctx.client()
    network_id = (await client.networks.find(args.network)).id if args.network else ""
    items = await client.ports.list(
        network_id=network_id,
        device_id=args.device_id,
        host=args.host,
        all_projects=args.all_projects,
    )
    ctx.out.rows(
        [to_dict(p) for p in items], [views.port_view(p) for p in items], views.PORT_COLUMNS
    )
    return 0


async def port_show(ctx: Ctx, args: argparse.Namespace) -> int:
    port = await ctx.client().ports.find(args.name)
    ctx.out.show(to_dict(port), views.port_view(port))
    return 0


async def port_delete(ctx: Ctx, args: argparse.Namespace) -> int:
    api = ctx.client().ports

    async def delete(name: str) -> str:
        await api.delete((await api.find(name)).id)
        return name

    return await _delete_each(ctx, args.names, delete)


# --------------------------------------------------------------------------- security groups


async def group_create(ctx: Ctx, args: argparse.Namespace) -> int:
    group = await ctx.client().security_groups.create(args.name, description=args.description)
    ctx.out.show(to_dict(group), views.group_view(group))
    return 0


async def group_list(ctx: Ctx, args: argparse.Namespace) -> int:
    items = await ctx.client().security_groups.list(name=args.name, all_projects=args.all_projects)
    ctx.out.rows(
        [to_dict(g) for g in items],
        [views.group_view(g) for g in items],
        views.SECURITY_GROUP_COLUMNS,
    )
    return 0


async def group_show(ctx: Ctx, args: argparse.Namespace) -> int:
    group = await ctx.client().security_groups.find(args.name)
    ctx.out.show(to_dict(group), views.group_view(group))
    return 0


async def group_delete(ctx: Ctx, args: argparse.Namespace) -> int:
    api = ctx.client().security_groups

    async def delete(name: str) -> str:
        await api.delete((await api.find(name)).id)
        return name

    return await _delete_each(ctx, args.names, delete)


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


async def rule_list(ctx: Ctx, args: argparse.Namespace) -> int:
    client = ctx.client()
    group_id = (await client.security_groups.find(args.group)).id if args.group else ""
    items = await client.security_group_rules.list(
        security_group_id=group_id, all_projects=args.all_projects
    )
    ctx.out.rows(
        [to_dict(r) for r in items],
        [views.rule_view(r) for r in items],
        views.SECURITY_GROUP_RULE_COLUMNS,
    )
    return 0


async def rule_show(ctx: Ctx, args: argparse.Namespace) -> int:
    rule = await ctx.client().security_group_rules.get(args.name)
    ctx.out.show(to_dict(rule), views.rule_view(rule))
    return 0


async def rule_delete(ctx: Ctx, args: argparse.Namespace) -> int:
    api = ctx.client().security_group_rules

    async def delete(rule_id: str) -> str:
        await api.delete(rule_id)
        return rule_id

    return await _delete_each(ctx, args.names, delete)
