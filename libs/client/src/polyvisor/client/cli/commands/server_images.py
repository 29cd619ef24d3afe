"""`polyvisor server image create|rebuild|shelve|unshelve`: a server's disk to an image and
back. Each takes `--wait`, and while it waits a progress line on stderr says where the
server is (state and task) and for how long."""

from __future__ import annotations

import argparse
from typing import Any

from polyvisor.client.cli import views
from polyvisor.client.cli.context import Ctx, parse_kv
from polyvisor.client.cli.progress import ProgressLine
from polyvisor.client.serialize import to_dict
from polyvisor.compute.v1 import servers_pb2


def register(sub: Any, out: argparse.ArgumentParser, wait_args: Any) -> None:
    """Add the commands to `polyvisor server`'s subcommands."""
    g = sub.add_parser("image", help="images of servers (snapshots)")
    isub = g.add_subparsers(dest="image_action", metavar="ACTION")
    isub.required = True
    p = isub.add_parser("create", parents=[out], help="snapshot a server's disk to a new image")
    p.add_argument("server", help="name or id")
    p.add_argument("--name", default="", help="the image's name (default: <server>-snapshot)")
    p.add_argument("--property", action="append", metavar="KEY=VALUE",
                   help="image property (repeatable)")  # fmt: skip
    wait_args(p, 1800, "wait until the image is ACTIVE (exit 1 if the snapshot failed)")
    p.set_defaults(handler=create_image)

    p = sub.add_parser("rebuild", parents=[out], help="reinstall a server from another image")
    p.add_argument("server", help="name or id")
    p.add_argument("--image", required=True, help="image name or id")
    wait_args(p, 900, "wait until the server is ACTIVE again")
    p.set_defaults(handler=rebuild)

    p = sub.add_parser("shelve", parents=[out], help="snapshot a server and free its host")
    p.add_argument("server", help="name or id")
    wait_args(p, 1800, "wait until the server is SHELVED_OFFLOADED")
    p.set_defaults(handler=shelve)

    p = sub.add_parser("unshelve", parents=[out], help="boot a shelved server again")
    p.add_argument("server", help="name or id")
    wait_args(p, 600, "wait until the server is ACTIVE")
    p.set_defaults(handler=unshelve)


def _show(ctx: Ctx, server: servers_pb2.Server, extra: dict[str, str] | None = None) -> None:
    view = views.server_view(server)
    data = to_dict(server)
    if extra:
        view = {**view, **extra}
        data = {"server": data, **extra}
    ctx.out.show(data, view)


async def create_image(ctx: Ctx, args: argparse.Namespace) -> int:
    api = ctx.client().servers
    server = await api.find(args.server)
    line = ProgressLine(ctx.err, server.name)
    try:
        result, image_id = await api.create_image(
            server.id,
            args.name,
            properties=parse_kv(args.property or [], "--property"),
            wait=args.wait,
            wait_timeout=args.wait_timeout,
            progress=line if args.wait else None,
        )
    finally:
        line.done()
    _show(ctx, result, {"image_id": image_id})
    return 0


async def rebuild(ctx: Ctx, args: argparse.Namespace) -> int:
    client = ctx.client()
    server = await client.servers.find(args.server)
    image = await client.images.find(args.image)
    line = ProgressLine(ctx.err, server.name)
    try:
        result = await client.servers.rebuild(
            server.id, image.id, wait=args.wait, wait_timeout=args.wait_timeout,
            progress=line if args.wait else None,
        )  # fmt: skip
    finally:
        line.done()
    _show(ctx, result)
    return 0


async def shelve(ctx: Ctx, args: argparse.Namespace) -> int:
    api = ctx.client().servers
    server = await api.find(args.server)
    line = ProgressLine(ctx.err, server.name)
    try:
        result, image_id = await api.shelve(
            server.id, wait=args.wait, wait_timeout=args.wait_timeout,
            progress=line if args.wait else None,
        )  # fmt: skip
    finally:
        line.done()
    _show(ctx, result, {"image_id": image_id})
    return 0


async def unshelve(ctx: Ctx, args: argparse.Namespace) -> int:
    api = ctx.client().servers
    server = await api.find(args.server)
    line = ProgressLine(ctx.err, server.name)
    try:
        result = await api.unshelve(
            server.id, wait=args.wait, wait_timeout=args.wait_timeout,
            progress=line if args.wait else None,
        )  # fmt: skip
    finally:
        line.done()
    _show(ctx, result)
    return 0
