"""`polyvisor hypervisor ...`: KVM hosts and VMware clusters (with their ESXi hosts)."""

from __future__ import annotations

import argparse
from typing import Any

from polyvisor.client.cli import views
from polyvisor.client.cli.commands import adopt
from polyvisor.client.cli.context import Ctx
from polyvisor.client.serialize import to_dict


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
