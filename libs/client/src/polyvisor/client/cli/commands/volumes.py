"""`polyvisor volume create|list|show|set|delete|extend`, `volume snapshot create|list|delete`,
`volume type create|list` (the volume service), and `polyvisor server add|remove volume`."""

from __future__ import annotations

import argparse
from typing import Any

from polyvisor.client.cli import exitcodes, views
from polyvisor.client.cli.context import Ctx
from polyvisor.client.errors import PolyvisorClientError
from polyvisor.client.serialize import to_dict
from polyvisor.volume.v1 import volumes_pb2 as vpb

__all__ = ["register", "register_server_verbs"]

VOLUME_COLUMNS = {
    "id": "ID",
    "name": "Name",
    "size_gb": "Size (GiB)",
    "volume_type": "Type",
    "status": "Status",
    "bootable": "Bootable",
    "attached_to": "Attached to",
}
SNAPSHOT_COLUMNS = {"id": "ID", "name": "Name", "volume_id": "Volume", "size_gb": "Size (GiB)",
                    "status": "Status"}  # fmt: skip
TYPE_COLUMNS = {"id": "ID", "name": "Name", "backend": "Backend", "backend_kind": "Kind",
                "hypervisor_types": "Hypervisors", "multiattach": "Multi-attach",
                "is_default": "Default"}  # fmt: skip


def _status(value: int, enum: Any, prefix: str) -> str:
    return str(enum.Name(value)).removeprefix(prefix).lower().replace("_", "-")


def volume_view(v: vpb.Volume) -> dict[str, Any]:
    return {
        "id": v.id,
        "name": v.name,
        "size_gb": v.size_gb,
        "volume_type": v.volume_type,
        "status": _status(v.status, vpb.VolumeStatus, "VOLUME_STATUS_"),
        "bootable": v.bootable,
        "attached_to": [a.server_id for a in v.attachments],
        "project_id": v.project_id,
        "source_image_id": v.source_image_id,
        "source_snapshot_id": v.source_snapshot_id,
        "description": v.description,
        "fault": v.fault,
    }


def snapshot_view(s: vpb.Snapshot) -> dict[str, Any]:
    return {
        "id": s.id,
        "name": s.name,
        "volume_id": s.volume_id,
        "size_gb": s.size_gb,
        "status": _status(s.status, vpb.SnapshotStatus, "SNAPSHOT_STATUS_"),
        "description": s.description,
    }


def type_view(t: vpb.VolumeType) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "backend": t.backend,
        "backend_kind": t.backend_kind,
        "hypervisor_types": list(t.hypervisor_types),
        "multiattach": t.multiattach,
        "is_default": t.is_default,
        "description": t.description,
    }


def register(groups: Any, out: argparse.ArgumentParser) -> None:
    g = groups.add_parser("volume", help="volumes: block storage that outlives servers")
    sub = g.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True

    p = sub.add_parser("create", parents=[out], help="create a volume")
    p.add_argument("name")
    p.add_argument("--size", type=int, default=0, metavar="GIB", help="size in GiB")
    p.add_argument(
        "--type", dest="volume_type", default="", help="volume type (default: the default)"
    )
    p.add_argument("--image", default="", help="copy this image in (bootable)")
    p.add_argument("--snapshot", default="", help="copy this snapshot in")
    p.add_argument("--description", default="")
    p.set_defaults(handler=create)

    p = sub.add_parser("list", parents=[out], help="list volumes")
    p.add_argument("--all-projects", action="store_true")
    p.add_argument("--server", default="", help="only the volumes of this server")
    p.set_defaults(handler=list_)

    p = sub.add_parser("show", parents=[out], help="show a volume")
    p.add_argument("name", metavar="NAME_OR_ID")
    p.set_defaults(handler=show)

    p = sub.add_parser("delete", parents=[out], help="delete volumes")
    p.add_argument("names", nargs="+", metavar="NAME_OR_ID")
    p.set_defaults(handler=delete)

    p = sub.add_parser("set", parents=[out], help="rename a volume or change its description")
    p.add_argument("name", metavar="NAME_OR_ID")
    p.add_argument("--name", dest="new_name", help="its new name")
    p.add_argument("--description")
    p.set_defaults(handler=set_volume)

    p = sub.add_parser("extend", parents=[out], help="grow a volume that is not attached")
    p.add_argument("name", metavar="NAME_OR_ID")
    p.add_argument("size", type=int, metavar="NEW_SIZE_GIB")
    p.set_defaults(handler=extend)

    snap = sub.add_parser("snapshot", help="volume snapshots")
    ssub = snap.add_subparsers(dest="snapshot_action", metavar="ACTION")
    ssub.required = True
    p = ssub.add_parser("create", parents=[out], help="snapshot a volume")
    p.add_argument("volume", metavar="VOLUME")
    p.add_argument("--name", default="")
    p.add_argument("--force", action="store_true", help="of an attached volume (crash-consistent)")
    p.set_defaults(handler=snapshot_create)
    p = ssub.add_parser("list", parents=[out], help="list snapshots")
    p.add_argument("--volume", default="")
    p.set_defaults(handler=snapshot_list)
    p = ssub.add_parser("delete", parents=[out], help="delete snapshots")
    p.add_argument("ids", nargs="+", metavar="ID")
    p.set_defaults(handler=snapshot_delete)

    typ = sub.add_parser("type", help="volume types")
    tsub = typ.add_subparsers(dest="type_action", metavar="ACTION")
    tsub.required = True
    p = tsub.add_parser("create", parents=[out], help="create a volume type (admin)")
    p.add_argument("name")
    p.add_argument("--backend", required=True, help="a configured backend's name")
    p.add_argument("--hypervisor", dest="hypervisors", action="append", required=True,
                   metavar="TYPE", help="a hypervisor type that can attach it (repeat)")  # fmt: skip
    p.add_argument("--multiattach", action="store_true")
    p.add_argument("--description", default="")
    p.set_defaults(handler=type_create)
    p = tsub.add_parser("list", parents=[out], help="list volume types")
    p.set_defaults(handler=type_list)


def register_server_verbs(
    add: Any, remove: Any, out: argparse.ArgumentParser, wait_args: Any
) -> None:
    """`server add volume` and `server remove volume` (beside `port`)."""
    p = add.add_parser("volume", parents=[out], help="attach a volume to a server")
    p.add_argument("server", help="name or id")
    p.add_argument("volume", help="volume name or id")
    wait_args(p, 120, "wait until the server's host has attached it")
    p.set_defaults(handler=server_add_volume)
    p = remove.add_parser("volume", parents=[out], help="detach a volume from a server")
    p.add_argument("server", help="name or id")
    p.add_argument("volume", help="volume name or id")
    wait_args(p, 120, "wait until the server's host has detached it")
    p.set_defaults(handler=server_remove_volume)


async def create(ctx: Ctx, args: argparse.Namespace) -> int:
    client = ctx.client()
    image_id = (await client.images.find(args.image)).id if args.image else ""
    v = await client.volumes.create(
        args.name,
        size_gb=args.size,
        volume_type=args.volume_type,
        description=args.description,
        image_id=image_id,
        snapshot_id=args.snapshot,
    )
    ctx.out.show(to_dict(v), volume_view(v))
    return 0


async def list_(ctx: Ctx, args: argparse.Namespace) -> int:
    client = ctx.client()
    server_id = (await client.servers.find(args.server)).id if args.server else ""
    items = await client.volumes.list(all_projects=args.all_projects, server_id=server_id)
    ctx.out.rows([to_dict(v) for v in items], [volume_view(v) for v in items], VOLUME_COLUMNS)
    return 0


async def show(ctx: Ctx, args: argparse.Namespace) -> int:
    v = await ctx.client().volumes.find(args.name)
    ctx.out.show(to_dict(v), volume_view(v))
    return 0


async def delete(ctx: Ctx, args: argparse.Namespace) -> int:
    api = ctx.client().volumes
    worst = 0
    for name in args.names:
        try:
            await api.delete((await api.find(name)).id)
            ctx.out.message(f"deleted {name}")
        except (PolyvisorClientError, ValueError) as e:
            worst = worst or exitcodes.print_error(ctx.err, e)
    return worst


async def set_volume(ctx: Ctx, args: argparse.Namespace) -> int:
    api = ctx.client().volumes
    v = await api.update((await api.find(args.name)).id, name=args.new_name,
                         description=args.description)  # fmt: skip
    ctx.out.show(to_dict(v), volume_view(v))
    return 0


async def extend(ctx: Ctx, args: argparse.Namespace) -> int:
    api = ctx.client().volumes
    v = await api.extend((await api.find(args.name)).id, args.size)
    ctx.out.show(to_dict(v), volume_view(v))
    return 0


async def snapshot_create(ctx: Ctx, args: argparse.Namespace) -> int:
    api = ctx.client().volumes
    s = await api.snapshot((await api.find(args.volume)).id, args.name, force=args.force)
    ctx.out.show(to_dict(s), snapshot_view(s))
    return 0


async def snapshot_list(ctx: Ctx, args: argparse.Namespace) -> int:
    api = ctx.client().volumes
    volume_id = (await api.find(args.volume)).id if args.volume else ""
    items = await api.snapshots(volume_id=volume_id)
    ctx.out.rows([to_dict(s) for s in items], [snapshot_view(s) for s in items], SNAPSHOT_COLUMNS)
    return 0


async def snapshot_delete(ctx: Ctx, args: argparse.Namespace) -> int:
    api = ctx.client().volumes
    worst = 0
    for sid in args.ids:
        try:
            await api.delete_snapshot(sid)
            ctx.out.message(f"deleted {sid}")
        except (PolyvisorClientError, ValueError) as e:
            worst = worst or exitcodes.print_error(ctx.err, e)
    return worst


async def type_create(ctx: Ctx, args: argparse.Namespace) -> int:
    t = await ctx.client().volumes.create_type(
        args.name,
        backend=args.backend,
        hypervisor_types=args.hypervisors,
        multiattach=args.multiattach,
        description=args.description,
    )
    ctx.out.show(to_dict(t), type_view(t))
    return 0


async def type_list(ctx: Ctx, args: argparse.Namespace) -> int:
    items = await ctx.client().volumes.types()
    ctx.out.rows([to_dict(t) for t in items], [type_view(t) for t in items], TYPE_COLUMNS)
    return 0


async def server_add_volume(ctx: Ctx, args: argparse.Namespace) -> int:
    client = ctx.client()
    server = await client.servers.find(args.server)
    vol = await client.volumes.find(args.volume)
    updated = await client.volumes.attach(
        server.id, vol.id, wait=args.wait, wait_timeout=args.wait_timeout
    )
    ctx.out.message(f"volume {vol.id} attached to server {updated.name or updated.id}")
    ctx.out.show(to_dict(updated), views.server_view(updated))
    return 0


async def server_remove_volume(ctx: Ctx, args: argparse.Namespace) -> int:
    client = ctx.client()
    server = await client.servers.find(args.server)
    vol = await client.volumes.find(args.volume)
    updated = await client.volumes.detach(
        server.id, vol.id, wait=args.wait, wait_timeout=args.wait_timeout
    )
    ctx.out.message(f"volume {vol.id} detached from server {updated.name or updated.id}")
    ctx.out.show(to_dict(updated), views.server_view(updated))
    return 0
