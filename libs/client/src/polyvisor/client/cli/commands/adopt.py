"""`polyvisor hypervisor unmanaged list HYPERVISOR` and `polyvisor server adopt HYPERVISOR REF`
(admin): the VMs of a hypervisor no server owns, and one of them made a server as it is (its
size claimed on that hypervisor, a flavor of that size matched or made, the VM tagged)."""

from __future__ import annotations

import argparse
from typing import Any

from polyvisor.client.cli import views
from polyvisor.client.cli.context import Ctx
from polyvisor.client.serialize import to_dict

UNMANAGED_COLUMNS = {
    "ref": "Ref",
    "name": "Name",
    "vcpus": "vCPUs",
    "memory_mb": "RAM MB",
    "disk_gb": "Disk GB",
    "power_state": "Power",
}


def register_unmanaged(sub: Any, out: argparse.ArgumentParser) -> None:
    """Add `unmanaged list` to `polyvisor hypervisor`'s subcommands."""
    p = sub.add_parser("unmanaged", help="VMs of a hypervisor no server owns (admin)")
    verbs = p.add_subparsers(dest="unmanaged_action", metavar="ACTION")
    verbs.required = True
    q = verbs.add_parser("list", parents=[out], help="list the VMs no server owns")
    q.add_argument("hypervisor", help="id, hostname or cluster name")
    q.set_defaults(handler=unmanaged_list)


def register_adopt(sub: Any, out: argparse.ArgumentParser) -> None:
    """Add `adopt` to `polyvisor server`'s subcommands."""
    p = sub.add_parser(
        "adopt",
        parents=[out],
        help="make a VM no server owns a server (admin)",
        description="adopt HYPERVISOR REF: the VM REF (see `hypervisor unmanaged list`) "
        "becomes a server as it is; nothing in the VM changes but its Polyvisor tag.",
    )
    p.add_argument("hypervisor", help="id, hostname or cluster name")
    p.add_argument("ref", help="the VM's ref")
    p.add_argument("--name", default="", help="the server's name (default: the VM's)")
    p.add_argument("--project", default="", help="the owning project (default: yours)")
    p.set_defaults(handler=adopt)


def _row(v: Any) -> dict[str, Any]:
    d = to_dict(v)
    d["power_state"] = str(d.get("power_state", "")).removeprefix("POWER_STATE_")
    return d


async def unmanaged_list(ctx: Ctx, args: argparse.Namespace) -> int:
    api = ctx.client().hypervisors
    h = await api.find(args.hypervisor)
    vms = await api.unmanaged(h.id)
    ctx.out.rows([to_dict(v) for v in vms], [_row(v) for v in vms], UNMANAGED_COLUMNS)
    return 0


async def adopt(ctx: Ctx, args: argparse.Namespace) -> int:
    api = ctx.client().hypervisors
    h = await api.find(args.hypervisor)
    server = await api.adopt(h.id, args.ref, name=args.name, project_id=args.project)
    ctx.out.show(to_dict(server), views.server_view(server))
    return 0
