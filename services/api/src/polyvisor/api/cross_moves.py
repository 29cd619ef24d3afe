"""MigrateServer to a host of another hypervisor type (admin): what may move, the image the
disk travels in, then the move itself (`lifecycle.cross_move`, a resize of kind "cross").

Refused up front, with the reason: a live move (the guest's devices change: it moves
stopped), a server with volumes attached (they are another backend's, attached through the
source's hypervisor), a server of a type that has no disk image to carry (containers, bare
metal), a host named that is not of the type asked for (the scheduler's filters say why).
Whether the destination reaches the server's networks is the scheduler's network filter's
to say (no host of the type reaches them: NO_VALID_HOST with its explanation).

The transfer image is made as the caller (the project of the admin asking), private, of type
"snapshot" with the property `transfer_of` naming the server; the api deletes it when the
move ends, whatever the end. Drivers inside the guest (virtio on KVM, pvscsi/vmxnet3 or the
IDE/e1000 fallbacks on vSphere) are the operator's concern.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Final

from polyvisor.api import ids, lifecycle, outcomes, validation
from polyvisor.api import models as m
from polyvisor.api.convert import images as image_convert
from polyvisor.api.lifecycle import Action
from polyvisor.api.lifecycle.resize import MoveKind
from polyvisor.api.models import State
from polyvisor.api.servers import Servers
from polyvisor.api.store import actions
from polyvisor.common.auth import Principal
from polyvisor.common.db import db_errors
from polyvisor.common.errors import FailedPrecondition, InvalidArgument, NotFound
from polyvisor.common.logging import get_logger

__all__ = ["MOVABLE_TYPES", "TRANSFER_PROPERTY", "migrate_across"]

log = get_logger(__name__)

#: The hypervisor types whose servers have a root disk image to carry.
MOVABLE_TYPES: Final = frozenset({"KVM", "QEMU", "VMWARE"})
#: The transfer image's property naming the server it carries.
TRANSFER_PROPERTY: Final = "transfer_of"


def _check(server: m.Server, hypervisor_type: str, live: bool) -> None:
    sid = server.id
    if live:
        raise InvalidArgument(
            f"server {sid} cannot move live from {server.hypervisor_type} to "
            f"{hypervisor_type}: a move across hypervisor types is cold (migrate it without "
            "--live)",
            {"field": "live", "hypervisor_type": hypervisor_type},
        )
    for what, t in (("runs on", server.hypervisor_type.upper()), ("asked for", hypervisor_type)):
        if t not in MOVABLE_TYPES:
            raise FailedPrecondition(
                f"server {sid} cannot move from {server.hypervisor_type or 'no host'} to "
                f"{hypervisor_type}: the type it {what} has no disk image to carry (only "
                f"{', '.join(sorted(MOVABLE_TYPES))} servers move across types)",
                {"server_id": sid, "hypervisor_type": hypervisor_type},
            )
    if server.state not in (State.ACTIVE, State.SHUTOFF) or server.task != lifecycle.Task.NONE:
        raise FailedPrecondition(
            f"server {sid} is {server.state} ({server.task}): a move to another hypervisor "
            "type needs ACTIVE or SHUTOFF, nothing in flight",
            {"server_id": sid, "state": server.state, "allowed_states": "ACTIVE, SHUTOFF"},
        )


async def migrate_across(
    servers: Servers,
    p: Principal,
    bearer: str,
    server_id: str,
    hypervisor_type: str,
    host: str = "",
    live: bool = False,
    request_id: str = "",
) -> m.Server:
    """Start the cold move of `server_id` to a host of `hypervisor_type` (or `host`, which
    must be of that type)."""
    p.require_admin()
    request_id = validation.request_id(request_id)
    server = await servers.get(p, server_id)
    if request_id and server.last_request_id == request_id:
        return server  # a retry of a call that already took effect
    _check(server, hypervisor_type, live)
    if servers.volumes is not None and (attached := await servers.volumes.of_server(server.id)):
        raise FailedPrecondition(
            f"server {server.id} has {len(attached)} volume(s) attached "
            f"({', '.join(v.volume_id for v in attached)}): a move to another hypervisor type "
            "carries the root disk only; detach them first",
            {"server_id": server.id, "volumes": ",".join(v.volume_id for v in attached)},
        )
    draft = image_convert.snapshot_draft(
        f"move of {server.name} to {hypervisor_type.lower()}",
        server,
        None,
        {TRANSFER_PROPERTY: server.id},
    )
    image_id = await servers.images.create_image(
        draft, f"move:{server.id}:{request_id}" if request_id else "", bearer
    )
    try:
        updated = await _start(servers, p, server.id, hypervisor_type, host, image_id, request_id)
    except BaseException:
        try:
            await servers.images.delete_image(image_id, bearer)
        except Exception as e:
            log.warning(
                "could not remove an unused transfer image", image_id=image_id, error=str(e)
            )
        raise
    log.info(
        "move to another hypervisor type requested",
        server_id=server.id,
        hypervisor_type=hypervisor_type,
        image_id=image_id,
    )
    return updated


async def _start(
    servers: Servers,
    p: Principal,
    server_id: str,
    hypervisor_type: str,
    host: str,
    image_id: str,
    request_id: str,
) -> m.Server:
    with db_errors():
        async with servers.pool.acquire() as conn, conn.transaction():
            server = await servers._locked(conn, p, server_id)
            if server.state == State.DELETED:
                raise NotFound(f"server {server_id} is deleted", {"server_id": server_id})
            lifecycle.ACTIONS[Action.RESIZE].check(server)
            _check(server, hypervisor_type, False)
            now = datetime.now(UTC)
            rid = request_id or f"req-{ids.new_id()}"
            args = {
                "flavor": asdict(server.flavor),
                "kind": MoveKind.CROSS.value,
                "host": host,
                "hypervisor_type": hypervisor_type,
                "image_id": image_id,
            }
            out = lifecycle.plan(Action.RESIZE, server, now, servers.deadlines, rid, args)
            await actions.start(conn, server, "migrate", rid, p.user_id, now)
            updated = await outcomes.apply(conn, server, out)
    servers.wake_outbox()
    return updated
