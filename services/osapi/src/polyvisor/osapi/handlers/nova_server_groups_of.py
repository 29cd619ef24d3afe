"""The server group a server is in: Nova's `server_groups` in a server's show, update and
rebuild answers from microversion 2.71 (at most one id; Tempest's schema requires the key).
The compute service keeps the members on the groups, so the caller's groups are read."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from polyvisor.compute.v1 import server_groups_pb2 as gp
from polyvisor.osapi.handlers.common import MV, WALK_PAGE, every_page, stubs, whoami

__all__ = ["SINCE", "groups_of"]

SINCE = (2, 71)


async def groups_of(request: web.Request, server: Any) -> list[str] | None:
    """[the id of the group `server` is in] or []; None before 2.71 (no key to add). An admin
    looking at another project's server reads every project's groups."""
    if request[MV] < SINCE:
        return None
    s = stubs(request)
    who = await whoami(request)
    every = who.admin and server.project_id != who.project_id
    async for resp in every_page(lambda token: s.compute.ListServerGroups(
            gp.ListServerGroupsRequest(page_size=WALK_PAGE, page_token=token, all_projects=every),
            metadata=s.md, timeout=s.timeout)):  # fmt: skip
        for group in resp.server_groups:
            if server.id in group.members:
                return [group.id]
    return []
