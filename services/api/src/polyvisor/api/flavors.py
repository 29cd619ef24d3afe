"""Flavors: admins manage them; everyone uses the public ones and those shared with them."""

from __future__ import annotations

from polyvisor.api import access, ids, validation
from polyvisor.api import models as m
from polyvisor.api.pagination import page_request
from polyvisor.api.store import flavors as store
from polyvisor.api.store.db import Pool
from polyvisor.common.auth import Principal
from polyvisor.common.db import db_errors
from polyvisor.common.errors import AlreadyExists, InvalidArgument, NotFound

MAX_VCPUS = 1024
MAX_RAM_MB = 64 * 1024 * 1024
MAX_DISK_GB = 1024 * 1024


class Flavors:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    async def create(self, p: Principal, f: m.Flavor) -> m.Flavor:
        p.require_admin()
        name = validation.name(f.name, "flavor.name")
        flavor_id = f.id.strip() or ids.new_id()
        validation.name(flavor_id, "flavor.id")
        if not 1 <= f.vcpus <= MAX_VCPUS:
            raise InvalidArgument(f"vcpus must be 1-{MAX_VCPUS}", {"field": "flavor.vcpus"})
        if not 1 <= f.ram_mb <= MAX_RAM_MB:
            raise InvalidArgument(f"ram_mb must be 1-{MAX_RAM_MB}", {"field": "flavor.ram_mb"})
        if not 0 <= f.disk_gb <= MAX_DISK_GB:
            raise InvalidArgument(f"disk_gb must be 0-{MAX_DISK_GB}", {"field": "flavor.disk_gb"})
        extra = validation.metadata(f.extra_specs, "flavor.extra_specs")
        new = m.Flavor(
            flavor_id,
            name,
            f.vcpus,
            f.ram_mb,
            f.disk_gb,
            extra,
            f.is_public,
            tuple(dict.fromkeys(f.project_ids)),
            f.description[:1024],
        )
        with db_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                created = await store.insert(conn, new)
        if created is None:
            raise AlreadyExists(
                f"a flavor with id {flavor_id} or name {name} exists", {"name": name}
            )
        return created

    async def get(self, p: Principal, flavor_id: str) -> m.Flavor:
        flavor_id = validation.required(flavor_id, "flavor_id")
        with db_errors():
            f = await store.get(self.pool, flavor_id, access.resource_scope(p))
        if f is None:
            raise NotFound(f"flavor {flavor_id} not found", {"flavor_id": flavor_id})
        return f

    async def list(
        self,
        p: Principal,
        page_size: int,
        page_token: str,
        min_vcpus: int,
        min_ram_mb: int,
        min_disk_gb: int,
        include_private: bool,
    ) -> tuple[list[m.Flavor], str]:
        if include_private:
            p.require_admin()
        scope = None if (include_private and p.is_admin) else p.project_id
        validation.non_negative(min_vcpus, "min_vcpus")
        validation.non_negative(min_ram_mb, "min_ram_mb")
        validation.non_negative(min_disk_gb, "min_disk_gb")
        page = page_request(
            page_size, page_token, scope=scope, v=min_vcpus, r=min_ram_mb, d=min_disk_gb
        )
        with db_errors():
            found = await store.list_page(
                self.pool, scope, min_vcpus, min_ram_mb, min_disk_gb, page.after, page.size + 1
            )
        items = found[: page.size]
        return items, page.next_token(found, items[-1].id if items else "")

    async def delete(self, p: Principal, flavor_id: str) -> None:
        p.require_admin()
        flavor_id = validation.required(flavor_id, "flavor_id")
        with db_errors():
            if not await store.delete(self.pool, flavor_id):
                raise NotFound(f"flavor {flavor_id} not found", {"flavor_id": flavor_id})
