"""Server groups (affinity / anti-affinity) of a project."""

from __future__ import annotations

from polyvisor.api import access, ids, validation
from polyvisor.api.pagination import page_request
from polyvisor.api.store import groups as store
from polyvisor.api.store.db import Pool
from polyvisor.common.auth import Principal
from polyvisor.common.db import db_errors
from polyvisor.common.errors import FailedPrecondition, InvalidArgument, NotFound

POLICIES = ("AFFINITY", "ANTI_AFFINITY")


class ServerGroups:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    async def create(self, p: Principal, name: str, policy: str, request_id: str) -> store.Group:
        p.require_write()
        name = validation.name(name, "server_group.name")
        if policy not in POLICIES:
            raise InvalidArgument(
                "policy must be AFFINITY or ANTI_AFFINITY", {"field": "server_group.policy"}
            )
        request_id = validation.request_id(request_id) or ids.new_id()
        group = store.Group(ids.new_id(), p.project_id, name, policy, create_time=None)  # type: ignore[arg-type]
        with db_errors():
            return await store.insert(self.pool, group, request_id)

    async def get(self, p: Principal, group_id: str) -> store.Group:
        group_id = validation.required(group_id, "server_group_id")
        with db_errors():
            g = await store.get(self.pool, group_id, access.resource_scope(p))
        if g is None:
            raise NotFound(f"server group {group_id} not found", {"server_group_id": group_id})
        return g

    async def list(
        self, p: Principal, page_size: int, page_token: str, all_projects: bool
    ) -> tuple[list[store.Group], str]:
        scope = access.list_scope(p, "", all_projects)
        page = page_request(page_size, page_token, scope=scope)
        with db_errors():
            found = await store.list_page(self.pool, scope, page.after, page.size + 1)
        items = found[: page.size]
        return items, page.next_token(found, items[-1].id if items else "")

    async def delete(self, p: Principal, group_id: str) -> None:
        p.require_write()
        g = await self.get(p, group_id)
        if g.members:
            raise FailedPrecondition(
                f"server group {group_id} still has {len(g.members)} member(s)",
                {"server_group_id": group_id},
            )
        with db_errors():
            await store.delete(self.pool, g.id, access.resource_scope(p))
