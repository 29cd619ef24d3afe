"""`polyvisor flavor ...`: create, list, show, set, unset, delete."""

from __future__ import annotations

import argparse
from typing import Any

from polyvisor.client.cli import exitcodes, views
from polyvisor.client.cli.context import Ctx, UsageError, parse_kv
from polyvisor.client.errors import PolyvisorClientError
from polyvisor.client.serialize import to_dict


def register(groups: Any, out: argparse.ArgumentParser) -> None:
    g = groups.add_parser("flavor", help="flavors (server sizes)")
    sub = g.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True

    p = sub.add_parser("create", parents=[out], help="create a flavor (admin)")
    p.add_argument("name")
    p.add_argument("--vcpus", type=int, required=True)
    p.add_argument("--ram", type=int, required=True, metavar="MB")
    p.add_argument("--disk", type=int, default=0, metavar="GB")
    p.add_argument("--id", default="", help="flavor id (default: a UUID)")
    p.add_argument("--property", action="append", metavar="KEY=VALUE",
                   help="extra spec, e.g. hypervisor_type=vmware (repeatable)")  # fmt: skip
    v = p.add_mutually_exclusive_group()
    v.add_argument("--public", dest="public", action="store_true", default=True, help="default")
    v.add_argument("--private", dest="public", action="store_false")
    p.add_argument(
        "--project", action="append", default=[], help="project allowed a private flavor"
    )
    p.add_argument("--description", default="")
    p.set_defaults(handler=create)

    p = sub.add_parser("list", parents=[out], help="list flavors")
    p.add_argument("--all", action="store_true", help="include private flavors (admin)")
    p.add_argument("--min-vcpus", type=int, default=0)
    p.add_argument("--min-ram", type=int, default=0, metavar="MB")
    p.add_argument("--min-disk", type=int, default=0, metavar="GB")
    p.set_defaults(handler=list_)

    p = sub.add_parser("show", parents=[out], help="show a flavor")
    p.add_argument("flavor", help="name or id")
    p.set_defaults(handler=show)

    p = sub.add_parser("set", parents=[out], help="change a flavor's properties or access (admin)")
    p.add_argument("flavor", help="name or id")
    p.add_argument("--property", action="append", default=[], metavar="KEY=VALUE",
                   help="set an extra spec (repeatable)")  # fmt: skip
    p.add_argument("--project", action="append", default=[], metavar="PROJECT",
                   help="give a project access to the private flavor (name or id)")  # fmt: skip
    p.add_argument("--description")
    p.set_defaults(handler=set_)

    p = sub.add_parser("unset", parents=[out], help="remove a flavor's properties or access")
    p.add_argument("flavor", help="name or id")
    p.add_argument("--property", action="append", default=[], metavar="KEY",
                   help="remove an extra spec (repeatable)")  # fmt: skip
    p.add_argument("--project", action="append", default=[], metavar="PROJECT",
                   help="end a project's access to the private flavor (name or id)")  # fmt: skip
    p.set_defaults(handler=unset)

    p = sub.add_parser("delete", parents=[out], help="delete flavors (admin)")
    p.add_argument("flavors", nargs="+", metavar="flavor", help="name or id")
    p.set_defaults(handler=delete)


async def create(ctx: Ctx, args: argparse.Namespace) -> int:
    flavor = await ctx.client().flavors.create(
        args.name,
        vcpus=args.vcpus,
        ram_mb=args.ram,
        disk_gb=args.disk,
        flavor_id=args.id,
        extra_specs=parse_kv(args.property, "--property"),
        is_public=args.public,
        project_ids=args.project,
        description=args.description,
    )
    ctx.out.show(to_dict(flavor), views.flavor_view(flavor))
    return 0


async def list_(ctx: Ctx, args: argparse.Namespace) -> int:
    flavors = await ctx.client().flavors.list(
        min_vcpus=args.min_vcpus,
        min_ram_mb=args.min_ram,
        min_disk_gb=args.min_disk,
        include_private=args.all,
    )
    ctx.out.rows(
        [to_dict(f) for f in flavors], [views.flavor_view(f) for f in flavors], views.FLAVOR_COLUMNS
    )
    return 0


async def show(ctx: Ctx, args: argparse.Namespace) -> int:
    flavor = await ctx.client().flavors.find(args.flavor)
    ctx.out.show(to_dict(flavor), views.flavor_view(flavor))
    return 0


async def _project_ids(ctx: Ctx, names: list[str]) -> list[str]:
    return [(await ctx.client().identity.get_project(n)).id for n in names]


async def _update(ctx: Ctx, ref: str, **change: Any) -> int:
    client = ctx.client()
    flavor = await client.flavors.update((await client.flavors.find(ref)).id, **change)
    ctx.out.show(to_dict(flavor), views.flavor_view(flavor))
    return 0


async def set_(ctx: Ctx, args: argparse.Namespace) -> int:
    if not (args.property or args.project) and args.description is None:
        raise UsageError("nothing to change: give --property, --project or --description")
    return await _update(
        ctx,
        args.flavor,
        description=args.description,
        set_extra_specs=parse_kv(args.property, "--property"),
        add_project_ids=await _project_ids(ctx, args.project),
    )


async def unset(ctx: Ctx, args: argparse.Namespace) -> int:
    if not (args.property or args.project):
        raise UsageError("nothing to remove: give --property or --project")
    return await _update(
        ctx,
        args.flavor,
        unset_extra_specs=args.property,
        remove_project_ids=await _project_ids(ctx, args.project),
    )


async def delete(ctx: Ctx, args: argparse.Namespace) -> int:
    client = ctx.client()
    worst = 0
    for name in args.flavors:
        try:
            flavor = await client.flavors.find(name)
            await client.flavors.delete(flavor.id)
            ctx.out.message(f"deleted {flavor.name} ({flavor.id})")
        except (PolyvisorClientError, ValueError) as e:
            worst = worst or exitcodes.print_error(ctx.err, e)
    return worst
