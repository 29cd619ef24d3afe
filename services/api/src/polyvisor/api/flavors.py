"""Flavors: admins manage them; everyone uses the public ones and those shared with them.

A flavor's sizes never change once made (servers copied them when they were built; Nova's
flavors are immutable too): an update changes its description, its extra specs and who may use
a private one, in one transaction, all of it or nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

from polyvisor.api import access, ids, validation
from polyvisor.api import models as m
from polyvisor.api.pagination import page_request
from polyvisor.api.store import flavors as store
from polyvisor.api.store import identity
from polyvisor.api.store.db import Pool
from polyvisor.common.auth import Principal
from polyvisor.common.db import db_errors
from polyvisor.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound

MAX_VCPUS = 1024
MAX_RAM_MB = 64 * 1024 * 1024
MAX_DISK_GB = 1024 * 1024
MAX_DESCRIPTION = 1024


@dataclass(frozen=True, slots=True)
class FlavorChange:
    """What an update changes (UpdateFlavorRequest): None / empty is unchanged."""

    description: str | None = None
    set_extra_specs: dict[str, str] = field(default_factory=dict)
    unset_extra_specs: tuple[str, ...] = ()
    add_project_ids: tuple[str, ...] = ()
    remove_project_ids: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return self.description is None and not (
            self.set_extra_specs
            or self.unset_extra_specs
            or self.add_project_ids
            or self.remove_project_ids
        )


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

    async def update(self, p: Principal, flavor_id: str, change: FlavorChange) -> m.Flavor:
        p.require_admin()
        flavor_id = validation.required(flavor_id, "flavor_id")
        _check_change(change)
        with db_errors():
            async with self.pool.acquire() as conn, conn.transaction():
                f = await store.lock(conn, flavor_id)
                if f is None:
                    raise NotFound(f"flavor {flavor_id} not found", {"flavor_id": flavor_id})
                specs = _extra_specs(f, change)
                add, remove = list(change.add_project_ids), list(change.remove_project_ids)
                _check_access_change(f, add, remove)
                for project_id in add:
                    found = await identity.get_project(conn, project_id)
                    if found is None or found.id != project_id:
                        raise InvalidArgument(
                            f"project {project_id} does not exist (give a project id)",
                            {"field": "add_project_ids", "project_id": project_id},
                        )
                description = f.description if change.description is None else change.description
                await store.update(conn, f.id, description, specs, add, remove)
                updated = await store.get(conn, f.id, None)
        assert updated is not None  # the row is locked until the commit
        return updated


def _check_change(change: FlavorChange) -> None:
    if change.is_empty():
        raise InvalidArgument("nothing to change: give a description, extra specs or projects")
    if both := sorted(set(change.set_extra_specs) & set(change.unset_extra_specs)):
        raise InvalidArgument(
            f"extra spec {both[0]} is both set and unset", {"field": "unset_extra_specs"}
        )
    if both := sorted(set(change.add_project_ids) & set(change.remove_project_ids)):
        raise InvalidArgument(
            f"project {both[0]} is both added and removed", {"field": "remove_project_ids"}
        )
    for name, values in (
        ("add_project_ids", change.add_project_ids),
        ("remove_project_ids", change.remove_project_ids),
        ("unset_extra_specs", change.unset_extra_specs),
    ):
        if any(not v.strip() for v in values):
            raise InvalidArgument(f"{name} has an empty value", {"field": name})
    if change.description is not None and len(change.description) > MAX_DESCRIPTION:
        raise InvalidArgument(
            f"description is longer than {MAX_DESCRIPTION} characters", {"field": "description"}
        )


def _extra_specs(f: m.Flavor, change: FlavorChange) -> dict[str, str]:
    if missing := sorted(set(change.unset_extra_specs) - set(f.extra_specs)):
        raise NotFound(
            f"flavor {f.id} has no extra spec {missing[0]}",
            {"flavor_id": f.id, "key": missing[0]},
        )
    specs = {k: v for k, v in f.extra_specs.items() if k not in change.unset_extra_specs}
    specs.update(change.set_extra_specs)
    return validation.metadata(specs, "flavor.extra_specs")


def _check_access_change(f: m.Flavor, add: list[str], remove: list[str]) -> None:
    if (add or remove) and f.is_public:
        raise FailedPrecondition(
            f"flavor {f.id} is public: every project may use it (access lists are for "
            "private flavors)",
            {"flavor_id": f.id},
        )
    have = set(f.project_ids)
    if dup := [x for x in add if x in have]:
        raise AlreadyExists(
            f"project {dup[0]} already has access to flavor {f.id}",
            {"flavor_id": f.id, "project_id": dup[0]},
        )
    if absent := [x for x in remove if x not in have]:
        raise NotFound(
            f"project {absent[0]} has no access to flavor {f.id}",
            {"flavor_id": f.id, "project_id": absent[0]},
        )
