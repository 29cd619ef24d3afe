"""`polyvisor hypervisor ...`: KVM hosts and VMware clusters (with their ESXi hosts)."""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from polyvisor.client.cli import views
from polyvisor.client.cli.commands import adopt
from polyvisor.client.cli.context import Ctx
from polyvisor.client.serialize import to_dict
from polyvisor.types.v1 import server_status_pb2 as st


def register(groups: Any, out: argparse.ArgumentParser) -> None:
    g = groups.add_parser("hypervisor", help="compute hosts: KVM hosts and VMware clusters (admin)")
    sub = g.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True

    p = sub.add_parser("list", parents=[out], help="list hypervisors")
    p.add_argument("--type", dest="hypervisor_type", help="kvm, qemu, vmware, ...")
    p.add_argument("--state", help="up or down")
    p.add_argument("--status", help="enabled or disabled")
    p.add_argument("--availability-zone", default="")
    p.set_defaults(handler=list_)

    p = sub.add_parser(
        "show", parents=[out], help="show a hypervisor (a VMware cluster with its ESXi hosts)"
    )
    p.add_argument("hypervisor", help="id, hostname or cluster name")
    p.set_defaults(handler=show)

    adopt.register_unmanaged(sub, out)

    for action in ("enable", "disable"):
        p = sub.add_parser(action, parents=[out], help=f"{action} scheduling onto a hypervisor")
        p.add_argument("hypervisor", help="id, hostname or cluster name")
        if action == "disable":
            p.add_argument("--reason", default="")
        p.set_defaults(handler=toggle, toggle=action)

    p = sub.add_parser(
        "drain",
        parents=[out],
        help="disable a hypervisor and move every server off it (ACTIVE live, SHUTOFF cold)",
    )
    p.add_argument("hypervisor", help="id, hostname or cluster name")
    p.add_argument("--reason", default="")
    p.add_argument(
        "--wait",
        action="store_true",
        help="wait for every move (confirming the cold ones) and say where each server is",
    )
    p.add_argument("--wait-timeout", type=float, default=1800.0)
    p.set_defaults(handler=drain)

    p = sub.add_parser(
        "evacuate",
        parents=[out],
        help="rebuild the servers of a hypervisor that is down on other hosts, from their images",
    )
    p.add_argument("hypervisor", help="id, hostname or cluster name")
    p.add_argument("--reason", default="")
    p.add_argument(
        "--wait", action="store_true", help="wait for every rebuild and say where each server is"
    )
    p.add_argument("--wait-timeout", type=float, default=1800.0)
    p.set_defaults(handler=evacuate)


async def drain(ctx: Ctx, args: argparse.Namespace) -> int:
    client = ctx.client()
    h = await client.hypervisors.find(args.hypervisor)
    resp = await client.hypervisors.drain(h.id, args.reason)
    rows = [
        {"server": d.name or d.server_id, "outcome": d.outcome, "detail": d.detail}
        for d in resp.servers
    ]
    failed = any(d.outcome == "failed" for d in resp.servers)
    if args.wait:
        for row, d in zip(rows, resp.servers, strict=True):
            if d.outcome not in ("live", "cold"):
                continue
            where = await _settled(client.servers, d.server_id, h.id, args.wait_timeout)
            row["detail"] = where
            failed = failed or not where.startswith("on ")
    ctx.out.rows(
        [to_dict(d) for d in resp.servers],
        rows,
        {"server": "Server", "outcome": "Outcome", "detail": "Detail"},
    )
    return 1 if failed else 0


async def evacuate(ctx: Ctx, args: argparse.Namespace) -> int:
    client = ctx.client()
    h = await client.hypervisors.find(args.hypervisor)
    resp = await client.hypervisors.evacuate(h.id, args.reason)
    rows = [
        {"server": e.name or e.server_id, "outcome": e.outcome, "detail": e.detail}
        for e in resp.servers
    ]
    failed = any(e.outcome == "failed" for e in resp.servers)
    if args.wait:
        for row, e in zip(rows, resp.servers, strict=True):
            if e.outcome != "rebuilding":
                continue
            where = await _rebuilt(client.servers, e.server_id, args.wait_timeout)
            row["detail"] = where
            failed = failed or not where.startswith("on ")
    ctx.out.rows(
        [to_dict(e) for e in resp.servers],
        rows,
        {"server": "Server", "outcome": "Outcome", "detail": "Detail"},
    )
    return 1 if failed else 0


async def _rebuilt(servers: Any, server_id: str, within: float) -> str:
    """Wait for one evacuated server's build elsewhere; where it ended up."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        s = await servers.find(server_id)
        if s.state != st.SERVER_STATE_BUILDING and s.task == st.SERVER_TASK_NONE:
            # Running, or stopped when it was (made powered off there).
            if s.state in (st.SERVER_STATE_ACTIVE, st.SERVER_STATE_SHUTOFF):
                return f"on {s.host}"
            return f"{st.ServerState.Name(s.state)}: {s.fault.message or 'not rebuilt'}"
        await asyncio.sleep(1.0)
    return "still building"


async def _settled(servers: Any, server_id: str, source: str, within: float) -> str:
    """Wait for one drained server's move; where it ended up (a cold move confirmed)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        s = await servers.find(server_id)
        if s.state == st.SERVER_STATE_VERIFY_RESIZE and s.task == st.SERVER_TASK_NONE:
            await servers.confirm_resize(server_id)
        elif not s.HasField("resize") and s.task == st.SERVER_TASK_NONE:
            if s.host != source:
                return f"on {s.host}"
            return f"still on {s.host}: {s.fault.message or 'not moved'}"
        await asyncio.sleep(1.0)
    return "still moving"


async def list_(ctx: Ctx, args: argparse.Namespace) -> int:
    items = await ctx.client().hypervisors.list(
        hypervisor_type=args.hypervisor_type,
        state=args.state,
        status=args.status,
        availability_zone=args.availability_zone,
    )
    ctx.out.rows(
        [to_dict(h) for h in items],
        [views.hypervisor_view(h) for h in items],
        views.HYPERVISOR_COLUMNS,
    )
    return 0


async def show(ctx: Ctx, args: argparse.Namespace) -> int:
    h = await ctx.client().hypervisors.find(args.hypervisor)
    ctx.out.show(to_dict(h), views.hypervisor_view(h))
    if h.esxi_hosts and not ctx.out.columns:
        ctx.out.table(
            views.ESXI_HEADERS,
            views.esxi_rows(h),
            title=f"ESXi hosts of {h.cluster_name or h.hostname}",
        )
    return 0


async def toggle(ctx: Ctx, args: argparse.Namespace) -> int:
    api = ctx.client().hypervisors
    h = await api.find(args.hypervisor)
    if args.toggle == "enable":
        h = await api.enable(h.id)
    else:
        h = await api.disable(h.id, args.reason)
    ctx.out.show(to_dict(h), views.hypervisor_view(h))
    return 0
