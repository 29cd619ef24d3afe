"""Server groups: servers placed together (affinity) or apart (anti-affinity); a server joins
one at create with the scheduler hint `group=<id>`."""

from __future__ import annotations

import uuid

from polyvisor.client.errors import AmbiguousName, ApiError, NotFound
from polyvisor.client.session import Session
from polyvisor.compute.v1 import server_groups_pb2
from polyvisor.types.v1 import server_group_pb2

__all__ = ["ServerGroupsApi", "policy_number"]


def policy_number(policy: str | int) -> int:
    """AFFINITY or ANTI_AFFINITY (any case, - or _) to its enum number."""
    if isinstance(policy, int):
        return policy
    name = policy.strip().upper().replace("-", "_")
    return int(server_group_pb2.ServerGroupPolicy.Value(f"SERVER_GROUP_POLICY_{name}"))


class ServerGroupsApi:
    def __init__(self, session: Session) -> None:
        self._s = session

    async def create(self, name: str, policy: str | int) -> server_groups_pb2.ServerGroup:
        resp = await self._s.call(
            self._s.compute.CreateServerGroup,
            server_groups_pb2.CreateServerGroupRequest(
                request_id=str(uuid.uuid4()),
                server_group=server_groups_pb2.ServerGroup(
                    name=name,
                    policy=policy_number(policy),
                ),
            ),
        )
        return resp.server_group

    async def get(self, group_id: str) -> server_groups_pb2.ServerGroup:
        resp = await self._s.call(
            self._s.compute.GetServerGroup,
            server_groups_pb2.GetServerGroupRequest(server_group_id=group_id),
        )
        return resp.server_group

    async def list(self, *, all_projects: bool = False) -> list[server_groups_pb2.ServerGroup]:
        req = server_groups_pb2.ListServerGroupsRequest(all_projects=all_projects)
        out: list[server_groups_pb2.ServerGroup] = []
        while True:
            resp = await self._s.call(self._s.compute.ListServerGroups, req)
            out.extend(resp.server_groups)
            if not resp.next_page_token:
                return out
            req.page_token = resp.next_page_token

    async def find(self, name_or_id: str) -> server_groups_pb2.ServerGroup:
        """The group with this id, else the one group with exactly this name."""
        try:
            return await self.get(name_or_id)
        except ApiError as e:
            if e.code.name not in ("NOT_FOUND", "INVALID_ARGUMENT"):
                raise
        matches = [g for g in await self.list() if g.name == name_or_id]
        if not matches:
            raise NotFound(f"no server group with name or id {name_or_id!r}")
        if len(matches) > 1:
            ids = ", ".join(g.id for g in matches)
            raise AmbiguousName(f"{len(matches)} server groups are named {name_or_id!r} ({ids})")
        return matches[0]

    async def delete(self, group_id: str) -> None:
        await self._s.call(
            self._s.compute.DeleteServerGroup,
            server_groups_pb2.DeleteServerGroupRequest(server_group_id=group_id),
        )
