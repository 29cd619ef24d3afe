"""`polyvisor quota show|set`."""

from __future__ import annotations

import argparse
from typing import Any

from polyvisor.client.cli import views
from polyvisor.client.cli.context import Ctx, UsageError
from polyvisor.client.serialize import to_dict


def register(groups: Any, out: argparse.ArgumentParser) -> None:
    g = groups.add_parser("quota", help="project quotas")
    sub = g.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True

    p = sub.add_parser("show", parents=[out], help="limits and usage of a project")
    p.add_argument("--project", default="", help="project id (default: yours)")
    p.set_defaults(handler=show)

    p = sub.add_parser("set", parents=[out], help="change limits (admin; -1 = unlimited)")
    p.add_argument("--project", default="", help="project id (default: yours)")
    p.add_argument("--instances", type=int)
    p.add_argument("--cores", "--vcpus", dest="vcpus", type=int)
    p.add_argument("--ram", type=int, metavar="MB")
    p.set_defaults(handler=set_)


async def show(ctx: Ctx, args: argparse.Namespace) -> int:
    quota = await ctx.client().quotas.get(args.project)
    ctx.out.show(to_dict(quota), views.quota_view(quota))
    return 0


async def set_(ctx: Ctx, args: argparse.Namespace) -> int:
    if args.instances is None and args.vcpus is None and args.ram is None:
        raise UsageError("nothing to change: give --instances, --cores or --ram")
    client = ctx.client()
    project = args.project
    if not project:
        # UpdateQuota names its project: default to the one the token is scoped to.
        project = (await client.authenticate()).project_id
        if not project:
            raise UsageError("give --project (the token does not say which project it is for)")
    quota = await client.quotas.update(
        project, instances=args.instances, vcpus=args.vcpus, ram_mb=args.ram
    )
    ctx.out.show(to_dict(quota), views.quota_view(quota))
    return 0
