"""`polyvisor server group list|show|create|delete`: servers kept together (affinity) or apart
(anti-affinity); a server joins one at create: `--hint group=<id>`."""

from __future__ import annotations

import argparse
from typing import Any

from polyvisor.client.cli.context import Ctx
from polyvisor.client.serialize import to_dict

__all__ = ["register"]

COLUMNS = {"id": "ID", "name": "Name", "policy": "Policy", "members": "Members"}


def _flat(group: Any) -> dict[str, Any]:
    data = to_dict(group)
    data["policy"] = str(data.get("policy", "")).removeprefix("SERVER_GROUP_POLICY_").lower()
    data.setdefault("members", [])
    return data


def register(sub: Any, out: argparse.ArgumentParser) -> None:
    """Add `group` to `polyvisor server`'s subcommands."""
    g = sub.add_parser("group", help="server groups (affinity, anti-affinity)")
    gs = g.add_subparsers(dest="group_action", metavar="ACTION")
    gs.required = True
    p = gs.add_parser("list", parents=[out], help="list server groups")
    p.add_argument("--all-projects", action="store_true", help="every project (admin)")
    p.set_defaults(handler=list_)
    p = gs.add_parser("show", parents=[out], help="show a server group")
    p.add_argument("group", help="name or id")
    p.set_defaults(handler=show)
    p = gs.add_parser("create", parents=[out], help="create a server group")
    p.add_argument("name")
    p.add_argument("--policy", required=True, choices=("affinity", "anti-affinity"))
    p.set_defaults(handler=create)
    p = gs.add_parser("delete", parents=[out], help="delete server groups")
    p.add_argument("groups", nargs="+", metavar="group", help="name or id")
    p.set_defaults(handler=delete)


async def list_(ctx: Ctx, args: argparse.Namespace) -> int:
    items = [
        _flat(g) for g in await ctx.client().server_groups.list(all_projects=args.all_projects)
    ]
    ctx.out.rows(items, items, COLUMNS)
    return 0


async def show(ctx: Ctx, args: argparse.Namespace) -> int:
    data = _flat(await ctx.client().server_groups.find(args.group))
    ctx.out.show(data, data)
    return 0


async def create(ctx: Ctx, args: argparse.Namespace) -> int:
    data = _flat(await ctx.client().server_groups.create(args.name, args.policy))
    ctx.out.show(data, data)
    return 0


async def delete(ctx: Ctx, args: argparse.Namespace) -> int:
    api = ctx.client().server_groups
    for ref in args.groups:
        group = await api.find(ref)
        await api.delete(group.id)
        ctx.out.message(f"deleted server group {group.name} ({group.id})")
    return 0
