"""`polyvisor server tag add|remove|list`: a server's tags."""

from __future__ import annotations

import argparse
from typing import Any

from polyvisor.client.cli.context import Ctx

__all__ = ["register"]


def register(sub: Any, out: argparse.ArgumentParser) -> None:
    """Add `tag` to `polyvisor server`'s subcommands."""
    tg = sub.add_parser("tag", help="the server's tags")
    tgs = tg.add_subparsers(dest="tag_action", metavar="ACTION")
    tgs.required = True
    for action, text in (("add", "tag a server"), ("remove", "untag a server")):
        p = tgs.add_parser(action, parents=[out], help=text)
        p.add_argument("server", help="name or id")
        p.add_argument("tags", nargs="+", metavar="tag")
        p.set_defaults(handler=tag_change, tag_add=action == "add")
    p = tgs.add_parser("list", parents=[out], help="a server's tags")
    p.add_argument("server", help="name or id")
    p.set_defaults(handler=tag_list)


async def tag_change(ctx: Ctx, args: argparse.Namespace) -> int:
    api = ctx.client().servers
    server = await api.find(args.server)
    for tag in args.tags:
        server = await (api.add_tag if args.tag_add else api.remove_tag)(server.id, tag)
    ctx.out.rows([{"tag": t} for t in server.tags], [{"tag": t} for t in server.tags],
                 {"tag": "Tag"})  # fmt: skip
    return 0


async def tag_list(ctx: Ctx, args: argparse.Namespace) -> int:
    server = await ctx.client().servers.find(args.server)
    ctx.out.rows([{"tag": t} for t in server.tags], [{"tag": t} for t in server.tags],
                 {"tag": "Tag"})  # fmt: skip
    return 0
