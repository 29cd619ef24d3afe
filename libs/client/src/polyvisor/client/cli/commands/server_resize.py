"""`polyvisor server resize SERVER FLAVOR`, `server resize confirm SERVER`, `server resize
revert SERVER`, `server migrate SERVER [--host H] [--live] [--hypervisor-type T]` (admin;
confirmed or reverted as a resize; to another hypervisor type: a cold move that ends on the
destination, nothing to confirm). Each takes `--wait`; while it waits a progress line on stderr says where the
server is (state and task) and for how long. A resize that settled elsewhere (no host fits the
flavor: the scheduler's explanation) exits 1 with the server's fault."""

from __future__ import annotations

import argparse
from typing import Any

from polyvisor.client.cli import views
from polyvisor.client.cli.context import Ctx
from polyvisor.client.cli.progress import ProgressLine
from polyvisor.client.serialize import to_dict

_VERBS = ("confirm", "revert")


def register(sub: Any, out: argparse.ArgumentParser, wait_args: Any) -> None:
    """Add `resize` to `polyvisor server`'s subcommands."""
    p = sub.add_parser(
        "resize",
        parents=[out],
        help="move a server to another flavor (then: resize confirm|revert SERVER)",
        description="resize SERVER FLAVOR: move SERVER to FLAVOR (on its host when it fits "
        "there, else on another host of its hypervisor type); it then waits in VERIFY_RESIZE. "
        "resize confirm SERVER keeps the new flavor; resize revert SERVER goes back to the "
        "old flavor and host.",
    )
    p.add_argument("first", metavar="SERVER|confirm|revert")
    p.add_argument("second", metavar="FLAVOR|SERVER")
    wait_args(p, 1800, "wait until the resize has settled (exit 1 if it failed)")
    p.set_defaults(handler=resize)
    m = sub.add_parser(
        "migrate",
        parents=[out],
        help="admin: move a server to another host (then: resize confirm|revert SERVER)",
        description="migrate SERVER [--host H] [--live]: move SERVER to another host of its "
        "hypervisor type, on the same flavor (H still checked by the scheduler's filters; "
        "without it the scheduler picks one). A cold migration then waits in VERIFY_RESIZE: "
        "resize confirm SERVER keeps it there, resize revert SERVER takes it back. "
        "--hypervisor-type T (another type than the server's, e.g. vmware for a KVM server): "
        "a cold move across types: the server is stopped, its root disk carried as an image "
        "(converted for the destination), spawned there with the same id, ports and "
        "addresses, and removed from the source; nothing to confirm. The guest must have the "
        "drivers for the destination's devices (virtio on KVM; pvscsi/vmxnet3, or the "
        "IDE/e1000 fallbacks, on vSphere): that is the operator's concern.",
    )
    m.add_argument("server", metavar="SERVER")
    m.add_argument("--host", default="", help="the destination host (default: scheduler's)")
    m.add_argument("--live", action="store_true", help="move it running (live migration)")
    m.add_argument(
        "--hypervisor-type",
        default="",
        help="move it cold to a host of this type (kvm, qemu, vmware); the guest's drivers "
        "for the new devices are yours to provide",
    )
    wait_args(m, 1800, "wait until the migration has settled (exit 1 if it failed)")
    m.set_defaults(handler=migrate)
    e = sub.add_parser(
        "evacuate",
        parents=[out],
        help="admin: rebuild a server whose host is down on another host, from its image",
        description="evacuate SERVER [--host H]: SERVER's host is down (its agent answers "
        "nothing): rebuild it from its image on H (still checked by the scheduler's filters; "
        "without it the scheduler picks one), keeping its id, name, flavor, ports and "
        "addresses. hypervisor evacuate does it for every server of a host.",
    )
    e.add_argument("server", metavar="SERVER")
    e.add_argument("--host", default="", help="the host to rebuild it on (default: scheduler's)")
    wait_args(e, 1800, "wait until it is ACTIVE there (exit 1 if the rebuild failed)")
    e.set_defaults(handler=evacuate)
    g = sub.add_parser(
        "migration",
        parents=[out],
        help="admin: migration list | migration abort SERVER",
        description="migration list: servers with a move in flight or waiting for its "
        "confirm; migration abort SERVER: cancel its live migration (it stays where it is).",
    )
    g.add_argument("verb", choices=("list", "abort"))
    g.add_argument("server", nargs="?", metavar="SERVER")
    g.set_defaults(handler=migration)


async def migration(ctx: Ctx, args: argparse.Namespace) -> int:
    api = ctx.client().servers
    if args.verb == "abort":
        if not args.server:
            ctx.err.print("Error: migration abort needs a SERVER", markup=False)
            return 2
        server = await api.find(args.server)
        result = await api.abort_migration(server.id)
        ctx.out.show(to_dict(result), views.server_view(result))
        return 0
    items = await api.migrations()
    rows = []
    for x in items:
        r = x.resize
        rows.append({**views.server_view(x), "source": r.source_host, "dest": r.dest_host})
    headers = {"id": "ID", "name": "Name", "state": "State", "task": "Task"}
    ctx.out.rows([to_dict(x) for x in items], rows, {**headers, "source": "From", "dest": "To"})
    return 0


async def migrate(ctx: Ctx, args: argparse.Namespace) -> int:
    api = ctx.client().servers
    server = await api.find(args.server)
    if args.hypervisor_type:
        ctx.err.print(
            f"Moving {server.name} to a {args.hypervisor_type} host: it is stopped, its disk "
            "carried over; its guest needs the drivers of the new hypervisor's devices.",
            markup=False,
        )
    line = ProgressLine(ctx.err, server.name)
    try:
        result = await api.migrate(
            server.id,
            host=args.host,
            live=args.live,
            hypervisor_type=args.hypervisor_type,
            wait=args.wait,
            wait_timeout=args.wait_timeout,
            progress=line if args.wait else None,
        )
    finally:
        line.done()
    view = views.server_view(result)
    if result.HasField("resize"):
        view = {**view, "migrated from host": result.resize.source_host}
    ctx.out.show(to_dict(result), view)
    return 0


async def evacuate(ctx: Ctx, args: argparse.Namespace) -> int:
    api = ctx.client().servers
    server = await api.find(args.server)
    line = ProgressLine(ctx.err, server.name)
    try:
        result = await api.evacuate(
            server.id,
            host=args.host,
            wait=args.wait,
            wait_timeout=args.wait_timeout,
            progress=line if args.wait else None,
        )
    finally:
        line.done()
    ctx.out.show(to_dict(result), {**views.server_view(result), "evacuated from host": server.host})
    return 0


async def resize(ctx: Ctx, args: argparse.Namespace) -> int:
    api = ctx.client().servers
    verb, name = ("", args.first) if args.first not in _VERBS else (args.first, args.second)
    server = await api.find(name)
    line = ProgressLine(ctx.err, server.name)
    progress = line if args.wait else None
    try:
        if verb == "confirm":
            result = await api.confirm_resize(
                server.id, wait=args.wait, wait_timeout=args.wait_timeout, progress=progress
            )
        elif verb == "revert":
            result = await api.revert_resize(
                server.id, wait=args.wait, wait_timeout=args.wait_timeout, progress=progress
            )
        else:
            flavor = await ctx.client().flavors.find(args.second)
            result = await api.resize(
                server.id,
                flavor.id,
                wait=args.wait,
                wait_timeout=args.wait_timeout,
                progress=progress,
            )
    finally:
        line.done()
    view = views.server_view(result)
    if result.HasField("resize"):
        r = result.resize
        view = {
            **view,
            "old flavor": r.old_flavor.name or r.old_flavor.id,
            "resized from host": r.source_host,
        }
    ctx.out.show(to_dict(result), view)
    return 0
