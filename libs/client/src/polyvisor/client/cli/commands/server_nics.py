"""`polyvisor server add port` and `polyvisor server remove port`: a NIC added to, or taken
off, a server that exists (ACTIVE or SHUTOFF; its host plugs it live)."""

from __future__ import annotations

import argparse
from typing import Any

from polyvisor.client.cli import views
from polyvisor.client.cli.commands import volumes
from polyvisor.client.cli.context import Ctx
from polyvisor.client.serialize import to_dict


def register(sub: Any, out: argparse.ArgumentParser, wait_args: Any) -> None:
    """Add the commands to `polyvisor server`'s subcommands."""
    add = sub.add_parser("add", help="add to a server: port, volume")
    asub = add.add_subparsers(dest="add_what", metavar="port|volume")
    asub.required = True
    p = asub.add_parser("port", parents=[out], help="give a server a NIC")
    p.add_argument("server", help="name or id")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--network", metavar="NETWORK", help="a new port on this network")
    which.add_argument("--port", metavar="PORT", help="your own free port")
    p.add_argument("--fixed-ip", default="", metavar="IP", help="with --network: its address")
    wait_args(p, 120, "wait until the server's host has plugged it")
    p.set_defaults(handler=add_port)

    rm = sub.add_parser("remove", help="remove from a server: port, volume")
    rsub = rm.add_subparsers(dest="remove_what", metavar="port|volume")
    rsub.required = True
    p = rsub.add_parser(
        "port", parents=[out], help="take a NIC off a server (a port it made is deleted)"
    )
    p.add_argument("server", help="name or id")
    p.add_argument("port", help="port name or id")
    wait_args(p, 120, "wait until the server's host has unplugged it")
    p.set_defaults(handler=remove_port)
    volumes.register_server_verbs(asub, rsub, out, wait_args)


async def add_port(ctx: Ctx, args: argparse.Namespace) -> int:
    client = ctx.client()
    server = await client.servers.find(args.server)
    network_id = (await client.networks.find(args.network)).id if args.network else ""
    port_id = (await client.ports.find(args.port)).id if args.port else ""
    updated, port_id = await client.servers.add_port(
        server.id,
        network_id=network_id,
        port_id=port_id,
        fixed_ip=args.fixed_ip,
        wait=args.wait,
        wait_timeout=args.wait_timeout,
    )
    ctx.out.message(f"port {port_id} added to server {updated.name or updated.id}")
    ctx.out.show(to_dict(updated), views.server_view(updated))
    return 0


async def remove_port(ctx: Ctx, args: argparse.Namespace) -> int:
    client = ctx.client()
    server = await client.servers.find(args.server)
    port = await client.ports.find(args.port)
    updated = await client.servers.remove_port(
        server.id, port.id, wait=args.wait, wait_timeout=args.wait_timeout
    )
    ctx.out.message(f"port {port.id} removed from server {updated.name or updated.id}")
    ctx.out.show(to_dict(updated), views.server_view(updated))
    return 0
