"""`polyvisor keypair ...`: create (prints or saves the private key), import, list, show,
delete."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from polyvisor.client.cli import exitcodes, views
from polyvisor.client.cli.context import Ctx, UsageError
from polyvisor.client.errors import PolyvisorClientError
from polyvisor.client.serialize import to_dict


def register(groups: Any, out: argparse.ArgumentParser) -> None:
    g = groups.add_parser("keypair", help="SSH keypairs")
    sub = g.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True

    p = sub.add_parser("create", parents=[out], help="generate a keypair")
    p.add_argument("name")
    p.add_argument("--type", default=None, help="ssh (default) or x509")
    p.add_argument("--algorithm", default=None, help="ed25519 (default) or rsa-4096")
    p.add_argument("--private-key", type=Path, metavar="FILE",
                   help="write the private key here (mode 0600) instead of printing it")  # fmt: skip
    p.set_defaults(handler=create)

    p = sub.add_parser("import", parents=[out], help="import a public key")
    p.add_argument("name")
    p.add_argument("--public-key", type=Path, required=True, metavar="FILE")
    p.add_argument("--type", default=None, help="ssh (default) or x509")
    p.set_defaults(handler=import_)

    p = sub.add_parser("list", parents=[out], help="list your keypairs")
    p.add_argument("--user", default="", help="another user's (admin)")
    p.set_defaults(handler=list_)

    p = sub.add_parser("show", parents=[out], help="show a keypair")
    p.add_argument("name")
    p.add_argument("--user", default="", help="another user's (admin)")
    p.set_defaults(handler=show)

    p = sub.add_parser("delete", parents=[out], help="delete keypairs")
    p.add_argument("names", nargs="+", metavar="name")
    p.add_argument("--user", default="", help="another user's (admin)")
    p.set_defaults(handler=delete)


def _write_private(path: Path, key: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key if key.endswith("\n") else key + "\n")


async def create(ctx: Ctx, args: argparse.Namespace) -> int:
    if args.private_key is not None and args.private_key.exists():
        raise UsageError(f"--private-key {args.private_key} exists; not overwriting it")
    keypair, private = await ctx.client().keypairs.create(
        args.name, key_type=args.type, algorithm=args.algorithm
    )
    full = to_dict(keypair)
    view = views.keypair_view(keypair)
    if args.private_key is not None:
        _write_private(args.private_key, private)
        view["private_key_file"] = full["private_key_file"] = str(args.private_key)
        ctx.out.show(full, view)
    elif ctx.out.fmt == "table":
        # Like `openstack keypair create`: the private key alone, ready to redirect to a file.
        ctx.out.console.file.write(private if private.endswith("\n") else private + "\n")
    else:
        full["private_key"] = view["private_key"] = private
        ctx.out.show(full, view)
    return 0


async def import_(ctx: Ctx, args: argparse.Namespace) -> int:
    try:
        public = args.public_key.read_text()
    except OSError as e:
        raise UsageError(f"cannot read {args.public_key}: {e.strerror}") from None
    keypair = await ctx.client().keypairs.import_key(args.name, public, key_type=args.type)
    ctx.out.show(to_dict(keypair), views.keypair_view(keypair))
    return 0


async def list_(ctx: Ctx, args: argparse.Namespace) -> int:
    items = await ctx.client().keypairs.list(user_id=args.user)
    ctx.out.rows(
        [to_dict(k) for k in items], [views.keypair_view(k) for k in items], views.KEYPAIR_COLUMNS
    )
    return 0


async def show(ctx: Ctx, args: argparse.Namespace) -> int:
    keypair = await ctx.client().keypairs.get(args.name, user_id=args.user)
    ctx.out.show(to_dict(keypair), views.keypair_view(keypair))
    return 0


async def delete(ctx: Ctx, args: argparse.Namespace) -> int:
    worst = 0
    for name in args.names:
        try:
            await ctx.client().keypairs.delete(name, user_id=args.user)
            ctx.out.message(f"deleted {name}")
        except (PolyvisorClientError, ValueError) as e:
            worst = worst or exitcodes.print_error(ctx.err, e)
    return worst
