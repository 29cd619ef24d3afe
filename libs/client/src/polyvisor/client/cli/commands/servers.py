"""`polyvisor server ...`: create, list, show, delete, start, stop, reboot, pause, unpause,
suspend, resume, console, event list|show, tag add|remove|list."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from polyvisor.client import enums
from polyvisor.client.cli import exitcodes, views
from polyvisor.client.cli.commands import (
    adopt,
    server_groups,
    server_images,
    server_nics,
    server_props,
    server_resize,
    server_tags,
)
from polyvisor.client.cli.context import Ctx, UsageError, parse_kv
from polyvisor.client.cli.progress import ProgressLine
from polyvisor.client.errors import PolyvisorClientError, ServerFault
from polyvisor.client.serialize import to_dict
from polyvisor.client.servers import is_uuid
from polyvisor.compute.v1 import servers_pb2
from polyvisor.types.v1 import server_status_pb2

MAX_USER_DATA = 64 * 1024


def register(groups: Any, out: argparse.ArgumentParser) -> None:
    g = groups.add_parser("server", help="servers (virtual machines)")
    sub = g.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True

    p = sub.add_parser("create", parents=[out], help="create a server")
    p.add_argument("name")
    root = p.add_mutually_exclusive_group(required=True)
    root.add_argument("--image", help="image name or id")
    root.add_argument("--boot-volume", metavar="VOLUME",
                      help="boot from this available volume (name or id): the server's root "
                           "disk, kept (available) when the server is deleted unless "
                           "--delete-on-termination")  # fmt: skip
    p.add_argument("--delete-on-termination", action="store_true")
    p.add_argument("--flavor", required=True, help="flavor name or id")
    p.add_argument("--key-name", default="", help="keypair to inject")
    p.add_argument("--user-data", type=Path, metavar="FILE", help="user data file (≤ 64 KiB)")
    p.add_argument("--availability-zone", default="")
    p.add_argument("--hint", action="append", metavar="KEY=VALUE",
                   help="scheduler hint, e.g. hypervisor_type=vmware (repeatable)")  # fmt: skip
    p.add_argument("--property", action="append", metavar="KEY=VALUE",
                   help="server metadata (repeatable)")  # fmt: skip
    p.add_argument("--network", action="append", default=[], metavar="NETWORK",
                   help="a NIC on this network (name or id; repeatable)")  # fmt: skip
    p.add_argument("--port", action="append", default=[], metavar="PORT",
                   help="a NIC with this existing port (name or id; kept on delete)")  # fmt: skip
    p.add_argument("--nic", action="append", default=[], metavar="net-id=N,v4-fixed-ip=IP",
                   help="a NIC: net-id=NETWORK[,v4-fixed-ip=IP|v6-fixed-ip=IP] or "
                        "port-id=PORT (repeatable; in order after --network and --port)")  # fmt: skip
    p.add_argument("--require-security-groups", action="store_true",
                   help="only on a host that enforces its ports' security groups "
                        "(not vSphere without NSX)")  # fmt: skip
    _wait_args(p, 600, "wait until the server is ACTIVE (exit 1 if it ends in ERROR)")
    p.set_defaults(handler=create)

    p = sub.add_parser("list", parents=[out], help="list servers")
    p.add_argument("--name", default="", help="name contains")
    p.add_argument("--state", help=f"one of {', '.join(enums.choices(enums.SERVER_STATE))}")
    p.add_argument("--host", default="")
    p.add_argument("--hypervisor-type", help="kvm, qemu, vmware, ...")
    p.add_argument("--project", default="", help="another project (admin)")
    p.add_argument("--all-projects", action="store_true", help="every project (admin)")
    p.add_argument("--deleted", action="store_true", help="include deleted servers")
    p.add_argument("--tag", action="append", default=[], dest="tags", metavar="TAG",
                   help="only servers with this tag (repeat: with every one)")  # fmt: skip
    p.add_argument("--limit", type=int)
    p.set_defaults(handler=list_)

    p = sub.add_parser("show", parents=[out], help="show a server")
    p.add_argument("server", help="name or id")
    p.set_defaults(handler=show)

    p = sub.add_parser("delete", parents=[out], help="delete servers")
    p.add_argument("servers", nargs="+", metavar="server", help="name or id")
    _wait_args(p, 300, "wait until they are gone")
    p.set_defaults(handler=delete)

    for action, text in (("start", "power on"), ("stop", "power off")):
        p = sub.add_parser(action, parents=[out], help=f"{text} servers")
        p.add_argument("servers", nargs="+", metavar="server", help="name or id")
        _wait_args(p, 300, "wait until the operation is done")
        p.set_defaults(handler=power, power=action)

    for action, text in (
        ("pause", "freeze servers in memory (ACTIVE -> PAUSED)"),
        ("unpause", "let paused servers run again"),
        ("suspend", "save servers' memory to disk and stop them (ACTIVE -> SUSPENDED)"),
        ("resume", "restore suspended servers"),
    ):
        p = sub.add_parser(action, parents=[out], help=text)
        p.add_argument("servers", nargs="+", metavar="server", help="name or id")
        _wait_args(p, 300, "wait until the operation is done")
        p.set_defaults(handler=power, power=action)

    p = sub.add_parser("reboot", parents=[out], help="reboot servers")
    p.add_argument("servers", nargs="+", metavar="server", help="name or id")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--hard", action="store_true", help="reset the virtual machine")
    kind.add_argument("--soft", action="store_true", help="ask the guest OS (default)")
    _wait_args(p, 300, "wait until the server is ACTIVE again")
    p.set_defaults(handler=power, power="reboot")

    server_tags.register(sub, out)

    ev = sub.add_parser("event", help="the server's action history")
    evs = ev.add_subparsers(dest="event_action", metavar="ACTION")
    evs.required = True
    p = evs.add_parser("list", parents=[out], help="the requests made to a server, newest first")
    p.add_argument("server", help="name or id (a deleted server's id works too)")
    p.set_defaults(handler=event_list)
    p = evs.add_parser("show", parents=[out], help="one request made to a server")
    p.add_argument("server", help="name or id")
    p.add_argument("request_id")
    p.set_defaults(handler=event_show)

    p = sub.add_parser(
        "console",
        parents=[out],
        help="where the server's console listens; `console log SERVER`: its serial output",
    )
    p.add_argument("server", nargs="+", metavar="server", help="name or id (or: log SERVER)")
    p.add_argument("--type", default="vnc", help="vnc (default), spice, serial, webmks")
    p.add_argument("--lines", type=int, default=0, help="console log: the last N lines")
    p.set_defaults(handler=console)

    server_images.register(sub, out, _wait_args)
    server_props.register(sub, out)
    server_groups.register(sub, out)
    server_resize.register(sub, out, _wait_args)
    adopt.register_adopt(sub, out)
    server_nics.register(sub, out, _wait_args)


_ACTIVE = server_status_pb2.SERVER_STATE_ACTIVE
_SHUTOFF = server_status_pb2.SERVER_STATE_SHUTOFF
_DELETED = server_status_pb2.SERVER_STATE_DELETED


@contextmanager
def waiting(ctx: Ctx, name: str, enabled: bool = True) -> Iterator[ProgressLine | None]:
    """The progress line of a `--wait` on server `name` (None when not waiting)."""
    line = ProgressLine(ctx.err, name)
    try:
        yield line if enabled else None
    finally:
        line.done()


def _wait_args(p: argparse.ArgumentParser, default: int, text: str) -> None:
    p.add_argument("--wait", action="store_true", help=text)
    p.add_argument("--wait-timeout", type=float, default=float(default), metavar="S",
                   help=f"give up waiting after S seconds (exit 4; default {default})")  # fmt: skip


def show_server(ctx: Ctx, server: servers_pb2.Server) -> None:
    ctx.out.show(to_dict(server), views.server_view(server))


def _read_user_data(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read user data {path}: {e.strerror}") from None
    if len(data) > MAX_USER_DATA:
        raise UsageError(f"user data {path} is {len(data)} bytes; at most {MAX_USER_DATA}")
    return data


async def create(ctx: Ctx, args: argparse.Namespace) -> int:
    hints = parse_kv(args.hint, "--hint")
    metadata = parse_kv(args.property, "--property")
    user_data = _read_user_data(args.user_data)
    client = ctx.client()
    image_id = (await client.images.find(args.image)).id if args.image else ""
    volume_id = (await client.volumes.find(args.boot_volume)).id if args.boot_volume else ""
    flavor = await client.flavors.find(args.flavor)
    networks = await _nics(client, args)
    server = await client.servers.create(
        args.name,
        image_id=image_id,
        boot_volume_id=volume_id,
        boot_volume_delete_on_termination=args.delete_on_termination,
        flavor_id=flavor.id,
        key_name=args.key_name,
        user_data=user_data,
        availability_zone=args.availability_zone,
        hints=hints,
        metadata=metadata,
        networks=networks,
        require_security_groups=args.require_security_groups,
    )
    if server.state == server_status_pb2.SERVER_STATE_ERROR:
        raise ServerFault(server)
    if args.wait:
        with waiting(ctx, server.name) as line:
            server = await client.servers.wait_for(
                server.id, {_ACTIVE}, wait_timeout=args.wait_timeout, progress=line
            )
    show_server(ctx, server)
    return 0


async def _nics(client: Any, args: argparse.Namespace) -> list[dict[str, str]]:
    """The NICs of `server create`, names resolved to ids (--network, --port, then --nic)."""
    out: list[dict[str, str]] = []
    for name in args.network:
        out.append({"network_id": (await client.networks.find(name)).id})
    for name in args.port:
        out.append({"port_id": (await client.ports.find(name)).id})
    for spec in args.nic:
        fields = parse_kv([p for p in spec.split(",") if p], "--nic")
        unknown = sorted(set(fields) - {"net-id", "port-id", "v4-fixed-ip", "v6-fixed-ip"})
        if unknown or ("net-id" in fields) == ("port-id" in fields):
            raise UsageError(
                f"--nic {spec!r}: give net-id=NETWORK[,v4-fixed-ip=IP] or port-id=PORT"
            )
        if "port-id" in fields:
            out.append({"port_id": (await client.ports.find(fields["port-id"])).id})
            continue
        nic = {"network_id": (await client.networks.find(fields["net-id"])).id}
        ip = fields.get("v4-fixed-ip") or fields.get("v6-fixed-ip")
        if ip:
            nic["fixed_ip"] = ip
        out.append(nic)
    return out


async def list_(ctx: Ctx, args: argparse.Namespace) -> int:
    servers = await ctx.client().servers.list(
        name=args.name,
        state=args.state,
        host=args.host,
        hypervisor_type=args.hypervisor_type,
        project_id=args.project,
        all_projects=args.all_projects,
        show_deleted=args.deleted,
        limit=args.limit,
        tags=args.tags,
    )
    ctx.out.rows(
        [to_dict(s) for s in servers], [views.server_view(s) for s in servers], views.SERVER_COLUMNS
    )
    return 0


async def show(ctx: Ctx, args: argparse.Namespace) -> int:
    server = await ctx.client().servers.find(args.server)
    show_server(ctx, server)
    if server.state == server_status_pb2.SERVER_STATE_ERROR and ctx.out.fmt == "table":
        fault = to_dict(server.fault) if server.HasField("fault") else {}
        if fault:
            exitcodes.print_fault(ctx.out.console, fault)
    return 0


async def _each(ctx: Ctx, names: list[str], action: Any) -> int:
    """Run `action(server)` for each name; report failures; exit code of the first failure."""
    worst = 0
    for name in names:
        try:
            server = await ctx.client().servers.find(name)
            await action(server)
        except (PolyvisorClientError, ValueError) as e:
            code = exitcodes.print_error(ctx.err, e)
            worst = worst or code
    if worst and len(names) > 1:
        ctx.err.print(f"failed for some of {len(names)} servers", markup=False)
    return worst


async def delete(ctx: Ctx, args: argparse.Namespace) -> int:
    async def do(server: servers_pb2.Server) -> None:
        api = ctx.client().servers
        await api.delete(server.id)
        if args.wait:
            with waiting(ctx, server.name) as line:
                await api.wait_for(
                    server.id, {_DELETED}, wait_timeout=args.wait_timeout, progress=line
                )
        ctx.out.message(
            f"deleted {server.name} ({server.id})"
            if args.wait
            else f"deleting {server.name} ({server.id})"
        )

    return await _each(ctx, args.servers, do)


async def power(ctx: Ctx, args: argparse.Namespace) -> int:
    api = ctx.client().servers
    shown: list[servers_pb2.Server] = []

    async def do(server: servers_pb2.Server) -> None:
        with waiting(ctx, server.name, args.wait) as line:
            if args.power in ("start", "stop"):
                result = await getattr(api, args.power)(server.id)
                if args.wait:  # as the SDK's own wait: until it settles where it was asked
                    wanted = _ACTIVE if args.power == "start" else _SHUTOFF
                    result = await api.wait_for(
                        server.id, {wanted}, wait_timeout=args.wait_timeout, settled=True,
                        progress=line,
                    )  # fmt: skip
            elif args.power in ("pause", "unpause", "suspend", "resume"):
                verb = getattr(api, args.power)
                result = await verb(
                    server.id, wait=args.wait, wait_timeout=args.wait_timeout, progress=line
                )
            else:
                result = await api.reboot(server.id, hard=args.hard)
                if args.wait:  # through REBOOTING, back to ACTIVE
                    result = await api.wait_for(
                        server.id, {_ACTIVE}, wait_timeout=args.wait_timeout, settled=True,
                        progress=line,
                    )  # fmt: skip
        shown.append(result)

    code = await _each(ctx, args.servers, do)
    if shown:
        ctx.out.rows(
            [to_dict(s) for s in shown], [views.server_view(s) for s in shown], views.SERVER_COLUMNS
        )
    return code


async def console(ctx: Ctx, args: argparse.Namespace) -> int:
    client = ctx.client()
    if len(args.server) == 2 and args.server[0] == "log":
        server = await client.servers.find(args.server[1])
        text = await client.servers.console_output(server.id, lines=args.lines)
        ctx.out.console.print(text, end="", markup=False, highlight=False, soft_wrap=True)
        return 0
    if len(args.server) != 1:
        raise UsageError("server console SERVER, or server console log SERVER")
    server = await client.servers.find(args.server[0])
    try:
        kind = enums.parse(enums.CONSOLE_TYPE, args.type)
    except enums.EnumValueError as e:
        raise UsageError(f"--type: {e.message}") from None
    info = await client.servers.console(server.id, kind)
    view = views.console_view(server, info)
    ctx.out.show(view, view)
    return 0


async def _server_id(ctx: Ctx, ref: str) -> str:
    """A server's id; an id is taken as it is (a deleted server is not found by name)."""
    return ref if is_uuid(ref) else (await ctx.client().servers.find(ref)).id


async def event_list(ctx: Ctx, args: argparse.Namespace) -> int:
    items = await ctx.client().servers.list_actions(await _server_id(ctx, args.server))
    ctx.out.rows(
        [to_dict(a) for a in items], [views.action_view(a) for a in items], views.ACTION_COLUMNS
    )
    return 0


async def event_show(ctx: Ctx, args: argparse.Namespace) -> int:
    a = await ctx.client().servers.get_action(await _server_id(ctx, args.server), args.request_id)
    ctx.out.show(to_dict(a), views.action_view(a))
    return 0
