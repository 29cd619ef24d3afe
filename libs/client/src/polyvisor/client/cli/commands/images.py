"""`polyvisor image ...`: create (upload with a progress bar), list, show, set, renditions,
save (download), delete."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from polyvisor.client import enums
from polyvisor.client.cli import exitcodes, views
from polyvisor.client.cli.context import Ctx, UsageError, parse_kv
from polyvisor.client.cli.progress import transfer_bar
from polyvisor.client.errors import PolyvisorClientError
from polyvisor.client.images import TYPED_PROPERTIES
from polyvisor.client.serialize import to_dict
from polyvisor.image.v1 import images_pb2

PROPERTY_HELP = (
    "image property (repeatable); typed: " + ", ".join(TYPED_PROPERTIES) + "; others are free-form"
)


def _visibility_args(p: argparse.ArgumentParser) -> None:
    v = p.add_mutually_exclusive_group()
    v.add_argument("--public", dest="visibility", action="store_const", const="public",
                   help="every project sees it")  # fmt: skip
    v.add_argument("--private", dest="visibility", action="store_const", const="private",
                   help="only the owner project sees it (default)")  # fmt: skip
    v.add_argument("--shared", dest="visibility", action="store_const", const="shared",
                   help="the owner and the projects it is shared with")  # fmt: skip


def register(groups: Any, out: argparse.ArgumentParser) -> None:
    g = groups.add_parser("image", help="images and their renditions")
    sub = g.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True

    p = sub.add_parser("create", parents=[out], help="create an image and upload its data")
    p.add_argument("name")
    p.add_argument("--file", type=Path, required=True, help="the disk image to upload")
    p.add_argument("--disk-format", required=True,
                   help=f"one of {', '.join(enums.choices(enums.DISK_FORMAT))}")  # fmt: skip
    p.add_argument("--container-format", default="bare", help="bare (default)")
    p.add_argument("--property", action="append", metavar="KEY=VALUE", help=PROPERTY_HELP)
    _visibility_args(p)
    p.add_argument("--min-ram", type=int, default=0, metavar="MB")
    p.add_argument("--min-disk", type=int, default=0, metavar="GB")
    p.add_argument("--protected", action="store_true", help="refuse deletion")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=create)

    p = sub.add_parser("list", parents=[out], help="list images")
    p.add_argument("--name", default="")
    p.add_argument("--status", help=f"one of {', '.join(enums.choices(enums.IMAGE_STATUS))}")
    p.add_argument("--disk-format")
    p.add_argument("--hypervisor-type")
    p.add_argument("--architecture", default="")
    _visibility_args(p)
    p.add_argument("--all-projects", action="store_true", help="every project (admin)")
    p.add_argument("--limit", type=int)
    p.set_defaults(handler=list_)

    p = sub.add_parser("show", parents=[out], help="show an image")
    p.add_argument("image", help="name or id")
    p.set_defaults(handler=show)

    p = sub.add_parser(
        "set", parents=[out], help="change an image's name, visibility or properties"
    )
    p.add_argument("image", help="name or id")
    p.add_argument("--name")
    p.add_argument("--property", action="append", metavar="KEY=VALUE", help=PROPERTY_HELP)
    _visibility_args(p)
    prot = p.add_mutually_exclusive_group()
    prot.add_argument("--protected", dest="protected", action="store_const", const=True)
    prot.add_argument("--unprotected", dest="protected", action="store_const", const=False)
    p.set_defaults(handler=set_)

    p = sub.add_parser("renditions", parents=[out], help="list an image's renditions")
    p.add_argument("image", help="name or id")
    p.set_defaults(handler=renditions)

    p = sub.add_parser("save", parents=[out], help="download an image (any rendition)")
    p.add_argument("image", help="name or id")
    p.add_argument("--file", type=Path, required=True, help="where to write it")
    p.add_argument("--disk-format", help="rendition wanted (default: the original)")
    p.add_argument(
        "--vmware-disktype", help="for vmdk: streamOptimized (default), sparse, preallocated"
    )
    p.add_argument("--resume", action="store_true", help="continue a partial file")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(handler=save)

    p = sub.add_parser("delete", parents=[out], help="delete images")
    p.add_argument("images", nargs="+", metavar="image", help="name or id")
    p.set_defaults(handler=delete)


def show_image(ctx: Ctx, image: images_pb2.Image) -> None:
    ctx.out.show(to_dict(image), views.image_view(image))


async def create(ctx: Ctx, args: argparse.Namespace) -> int:
    props = parse_kv(args.property, "--property")
    if not args.file.is_file():
        raise UsageError(f"--file {args.file}: no such file")
    client = ctx.client()
    image = await client.images.create(
        args.name,
        disk_format=args.disk_format,
        container_format=args.container_format,
        visibility=args.visibility,
        properties=props,
        min_ram=args.min_ram,
        min_disk=args.min_disk,
        protected=args.protected,
    )
    with transfer_bar(ctx.err, f"uploading {args.file.name}", "inspecting",
                      enabled=not args.no_progress) as bar:  # fmt: skip
        image = await client.images.upload(image.id, args.file, progress=bar)
    show_image(ctx, image)
    if image.status == images_pb2.IMAGE_STATUS_KILLED:
        ctx.err.print(f"Error: image {image.id} was refused: {image.status_message}", markup=False)
        return exitcodes.API_ERROR
    return 0


async def list_(ctx: Ctx, args: argparse.Namespace) -> int:
    images = await ctx.client().images.list(
        name=args.name,
        status=args.status,
        disk_format=args.disk_format,
        hypervisor_type=args.hypervisor_type,
        architecture=args.architecture,
        visibility=args.visibility,
        all_projects=args.all_projects,
        limit=args.limit,
    )
    ctx.out.rows(
        [to_dict(i) for i in images], [views.image_row(i) for i in images], views.IMAGE_COLUMNS
    )
    return 0


async def show(ctx: Ctx, args: argparse.Namespace) -> int:
    show_image(ctx, await ctx.client().images.find(args.image))
    return 0


async def set_(ctx: Ctx, args: argparse.Namespace) -> int:
    client = ctx.client()
    image = await client.images.find(args.image)
    props = parse_kv(args.property, "--property") if args.property else None
    if args.name is None and args.visibility is None and props is None and args.protected is None:
        raise UsageError("nothing to change: give --name, --property, a visibility or --protected")
    if props is not None:
        # Free-form properties are replaced as a whole: keep the others.
        merged = dict(image.properties)
        merged.update({k: v for k, v in props.items() if k not in TYPED_PROPERTIES})
        props = {**merged, **{k: v for k, v in props.items() if k in TYPED_PROPERTIES}}
    image = await client.images.update(
        image.id,
        name=args.name,
        visibility=args.visibility,
        properties=props,
        protected=args.protected,
    )
    show_image(ctx, image)
    return 0


async def renditions(ctx: Ctx, args: argparse.Namespace) -> int:
    client = ctx.client()
    image = await client.images.find(args.image)
    items = await client.images.renditions(image.id)
    ctx.out.rows(
        [to_dict(r) for r in items],
        [views.rendition_view(r) for r in items],
        views.RENDITION_COLUMNS,
    )
    return 0


async def save(ctx: Ctx, args: argparse.Namespace) -> int:
    client = ctx.client()
    image = await client.images.find(args.image)
    with transfer_bar(ctx.err, f"downloading {image.name}", "verifying",
                      enabled=not args.no_progress) as bar:  # fmt: skip
        meta = await client.images.download(
            image.id,
            args.file,
            disk_format=args.disk_format,
            vmware_disktype=args.vmware_disktype,
            progress=bar,
            resume=args.resume,
        )
    view = {
        "image_id": meta.image_id,
        "file": str(args.file),
        "disk_format": enums.display(enums.DISK_FORMAT, meta.rendition.disk_format),
        "vmware_disktype": enums.display(enums.VMWARE_DISK_TYPE, meta.rendition.vmware_disktype),
        "size": meta.size,
        "sha256": meta.sha256,
    }
    ctx.out.show(view, view)
    return 0


async def delete(ctx: Ctx, args: argparse.Namespace) -> int:
    client = ctx.client()
    worst = 0
    for name in args.images:
        try:
            image = await client.images.find(name)
            await client.images.delete(image.id)
            ctx.out.message(f"deleted {image.name} ({image.id})")
        except (PolyvisorClientError, ValueError) as e:
            worst = worst or exitcodes.print_error(ctx.err, e)
    return worst
