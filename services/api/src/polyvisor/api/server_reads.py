"""Reading servers: pages of them in the caller's scope (whole, or only id and revision), the
servers placed on a host, and a server's action history."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from polyvisor.api import (
    access,
    validation,
)
from polyvisor.api import models as m
from polyvisor.api.pagination import PageRequest, page_request
from polyvisor.api.server_base import ServerBase
from polyvisor.api.serverindex import ServerIndex
from polyvisor.api.store import actions, evacuations
from polyvisor.api.store import servers as server_store
from polyvisor.common.auth import Principal
from polyvisor.common.db import db_errors
from polyvisor.common.errors import (
    InvalidArgument,
    NotFound,
)

_UNFILTERED = m.ServerFilters()


def _page_request(
    scope: str | None, page_size: int, page_token: str, filters: m.ServerFilters
) -> PageRequest:
    return page_request(
        page_size,
        page_token,
        scope=scope,
        state=filters.state,
        host=filters.host,
        hv=filters.hypervisor_type,
        tags=list(filters.tags),
        name=filters.name,
        deleted=filters.show_deleted,
    )


class ServerReads(ServerBase):
    def _page(
        self,
        p: Principal,
        page_size: int,
        page_token: str,
        filters: m.ServerFilters,
        project_id: str,
        all_projects: bool,
    ) -> tuple[str | None, PageRequest]:
        scope = access.list_scope(p, project_id, all_projects)
        return scope, _page_request(scope, page_size, page_token, filters)

    def index_keys(
        self, scope: str | None, page_size: int, page_token: str, index: ServerIndex
    ) -> tuple[list[tuple[str, int]], str]:
        """An unfiltered page of `scope` (list_scope's answer) from `index`, as `list_keys`
        answers it: call right after `index.current()` said the index is current."""
        page = _page_request(scope, page_size, page_token, _UNFILTERED)
        found = index.keys(scope, page.after, page.size + 1)
        items = found[: page.size]
        return items, page.next_token(found, items[-1][0] if items else "")

    async def list_keys(
        self,
        p: Principal,
        page_size: int,
        page_token: str,
        filters: m.ServerFilters,
        project_id: str = "",
        all_projects: bool = False,
    ) -> tuple[list[tuple[str, int]], str]:
        """One page of the servers in scope, as (id, revision) of each, from the database (see
        `index_keys` for the index): the caller fetches what it does not hold at that revision
        with `fetch`."""
        scope, page = self._page(p, page_size, page_token, filters, project_id, all_projects)
        with db_errors():
            found = await server_store.list_keys(
                self.pool, scope, filters, page.after, page.size + 1
            )
        items = found[: page.size]
        return items, page.next_token(found, items[-1][0] if items else "")

    async def count_on_host(self, host: str) -> int:
        """Servers placed on `host` and not deleted (what a hypervisor shows as running)."""
        with db_errors():
            return await server_store.count_on_host(self.pool, host)

    async def assigned_to_host(
        self, host: str, page_size: int, page_token: str
    ) -> tuple[list[m.Server], str]:
        """One page of the servers placed on `host`, for the agent that drives it."""
        page = page_request(page_size, page_token, host=host)
        with db_errors():
            found = await server_store.assigned_to_host(self.pool, host, page.after, page.size + 1)
        items = found[: page.size]
        return items, page.next_token(found, items[-1].id if items else "")

    async def evacuated_from(self, host: str) -> list[str]:
        """The servers evacuated from `host` and not on it now (their copies there are
        stale), for the agent that drives it."""
        with db_errors():
            return await evacuations.stale_on(self.pool, host)

    async def fetch_shown(self, server_ids: list[str]) -> list[Mapping[str, Any]]:
        """Servers by id as rows of what they show (convert.servers.shown_row_to_proto), after
        `list_keys` scoped them (unscoped: never call with ids a client chose)."""
        with db_errors():
            return await server_store.get_many_shown(self.pool, server_ids)

    # ------------------------------------------------------------------ action history

    async def list_actions(
        self, p: Principal, server_id: str, page_size: int, page_token: str
    ) -> tuple[list[m.ServerAction], str]:
        """The server's actions, newest first (a deleted server's too, until pruned)."""
        server = await self.get(p, server_id)
        page = page_request(page_size, page_token, server_id=server.id, what="actions")
        try:
            offset = int(page.after or 0)
        except ValueError:
            raise InvalidArgument("page_token is not valid", {"field": "page_token"}) from None
        with db_errors():
            async with self.pool.acquire() as conn:
                found = await actions.page(conn, server.id, page.size + 1, max(0, offset))
        items = found[: page.size]
        return items, page.next_token(found, str(offset + len(items)))

    async def get_action(self, p: Principal, server_id: str, request_id: str) -> m.ServerAction:
        server = await self.get(p, server_id)
        request_id = validation.required(request_id, "request_id")
        with db_errors():
            async with self.pool.acquire() as conn:
                found = await actions.get(conn, server.id, request_id)
        if found is None:
            raise NotFound(
                f"server {server_id} has no action with request id {request_id}",
                {"server_id": server_id, "request_id": request_id},
            )
        return found
