"""`polyvisor server set|unset`: a server's name and its metadata (key=value properties, which
the guest reads from the metadata service's meta_data.json `meta`, as on OpenStack). Properties
are set and removed as a patch: what another writer set meanwhile is kept. An admin's
`set --state active|error` resets the server's state (as `openstack server set --state`)."""

from __future__ import annotations

import argparse
from typing import Any

from polyvisor.client.cli import views
from polyvisor.client.cli.context import Ctx, UsageError, parse_kv
from polyvisor.client.serialize import to_dict

__all__ = ["register"]


def register(sub: Any, out: argparse.ArgumentParser) -> None:
    """Add the commands to `polyvisor server`'s subcommands."""
    p = sub.add_parser("set", parents=[out], help="rename a server or set its properties")
    p.add_argument("server", help="name or id")
    p.add_argument("--name", help="the new name")
    p.add_argument("--property", action="append", default=[], metavar="KEY=VALUE",
                   help="set a metadata property (repeatable; the others are kept)")  # fmt: skip
    p.add_argument("--state", choices=("active", "error"),
                   help="admin: the state the server is in (what was in flight is forgotten)")  # fmt: skip
    p.set_defaults(handler=set_)

    p = sub.add_parser("unset", parents=[out], help="remove properties of a server")
    p.add_argument("server", help="name or id")
    p.add_argument("--property", action="append", default=[], metavar="KEY", required=True,
                   help="a metadata property to remove (repeatable)")  # fmt: skip
    p.set_defaults(handler=unset)


def _show(ctx: Ctx, server: Any) -> None:
    ctx.out.show(to_dict(server), views.server_view(server))


async def set_(ctx: Ctx, args: argparse.Namespace) -> int:
    if args.name is None and not args.property and args.state is None:
        raise UsageError("nothing to change: give --name, --property or --state")
    api = ctx.client().servers
    server = await api.find(args.server)
    if args.name is not None or args.property:
        props = parse_kv(args.property, "--property") if args.property else None
        server = await api.update(server.id, name=args.name, set_metadata=props)
    if args.state is not None:
        server = await api.reset_state(server.id, args.state)
    _show(ctx, server)
    return 0


async def unset(ctx: Ctx, args: argparse.Namespace) -> int:
    api = ctx.client().servers
    server = await api.find(args.server)
    missing = [k for k in args.property if k not in server.metadata]
    if missing:
        raise UsageError(f"server {server.name} has no property {', '.join(missing)}")
    _show(ctx, await api.update(server.id, unset_metadata=args.property))
    return 0
