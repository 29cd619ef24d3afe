"""What the scheduler is asked for a move (a resize, or a cold migration): the
destination of the server's new flavor, claimed as the move's own consumer
(`lifecycle.move_consumer`) so that the server's claim stays where it is until the move is
confirmed.

A move to another hypervisor type asks for any host of that type, for the image its disk
travels as (of no type, in the snapshot format of the source's type).

A resize asks for its host first (forced: the new flavor on top of the old, both held until
the confirm), then for any host of the server's hypervisor type; a cold migration asks for
any other host of that type, or only the host an admin named (the filters still apply to it).
The answer of the last request is the one used, so a move that
fits nowhere carries the scheduler's explanation over every host of the type.
"""

from __future__ import annotations

from dataclasses import replace

from polyvisor.api import image_checks, lifecycle
from polyvisor.api import models as m
from polyvisor.api.lifecycle.resize import MoveKind
from polyvisor.api.placement import PlacementRequest, request_from_spawn
from polyvisor.api.spawnspec import SpawnSpec

__all__ = ["move_requests"]


def move_requests(
    server: m.Server,
    spec: SpawnSpec,
    members: tuple[str, ...],
    generation: int,
    kind: MoveKind | None = None,
) -> list[PlacementRequest]:
    """The requests to try in order (idempotent on "<server>:<generation>:move:<n>"); `kind`
    defaults to the one the server's resize records."""
    assert server.resize is not None
    if kind is None:
        kind = MoveKind(server.resize.kind or MoveKind.RESIZE)
    source = server.resize.source_host
    base = request_from_spawn(server, spec, request_id="", members=members, max_alternates=0)
    hypervisor_type = server.resize.old_hypervisor_type or server.hypervisor_type
    if kind == MoveKind.CROSS:
        # Another type: the disk travels as an image of no type (a snapshot's), in the format
        # the source's snapshots take, converted for the destination by the image service.
        hypervisor_type = server.resize.new_hypervisor_type
        fmt = image_checks.SNAPSHOT_FORMAT.get(server.hypervisor_type, "QCOW2")
        base = replace(
            base, image=replace(spec.image, hypervisor_type="", disk_format=fmt, renditions=())
        )
    base = replace(
        base,
        server_id=lifecycle.move_consumer(server.id),
        flavor=server.flavor,
        # Of the same kind as the host it is on (its disk and definition carry over), unless
        # the move is to another type.
        hypervisor_type=hypervisor_type,
        force_host="",
        ignore_hosts=(),
        max_alternates=0,
    )
    anywhere = replace(
        base,
        request_id=f"{server.id}:{generation}:move:any",
        ignore_hosts=(source,) if kind != MoveKind.RESIZE else (),
    )
    if kind != MoveKind.RESIZE:  # a migration, cold or live: another host
        if server.resize.requested_host:
            named = replace(
                anywhere,
                request_id=f"{server.id}:{generation}:move:host",
                force_host=server.resize.requested_host,
            )
            return [named]
        return [anywhere]
    here = replace(base, request_id=f"{server.id}:{generation}:move:here", force_host=source)
    return [here, anywhere]
