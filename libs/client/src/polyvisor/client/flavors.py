"""Flavors: the sizes of servers (create, update and delete are admin only)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping

from polyvisor.client.errors import AmbiguousName, ApiError, NotFound
from polyvisor.client.session import Session
from polyvisor.compute.v1 import flavors_pb2

__all__ = ["FlavorsApi"]


class FlavorsApi:
    def __init__(self, session: Session) -> None:
        self._s = session

    async def create(
        self,
        name: str,
        *,
        vcpus: int,
        ram_mb: int,
        disk_gb: int = 0,
        flavor_id: str = "",
        extra_specs: Mapping[str, str] | None = None,
        is_public: bool = True,
        project_ids: Iterable[str] = (),
        description: str = "",
        request_id: str | None = None,
    ) -> flavors_pb2.Flavor:
        flavor = flavors_pb2.Flavor(
            id=flavor_id,
            name=name,
            vcpus=vcpus,
            ram_mb=ram_mb,
            disk_gb=disk_gb,
            extra_specs=dict(extra_specs or {}),
            is_public=is_public,
            project_ids=list(project_ids),
            description=description,
        )
        req = flavors_pb2.CreateFlavorRequest(
            request_id=request_id or str(uuid.uuid4()), flavor=flavor
        )
        resp = await self._s.call(self._s.compute.CreateFlavor, req)
        return resp.flavor

    async def get(self, flavor_id: str) -> flavors_pb2.Flavor:
        resp = await self._s.call(
            self._s.compute.GetFlavor, flavors_pb2.GetFlavorRequest(flavor_id=flavor_id)
        )
        return resp.flavor

    async def list(
        self,
        *,
        min_vcpus: int = 0,
        min_ram_mb: int = 0,
        min_disk_gb: int = 0,
        include_private: bool = False,
        page_size: int = 0,
    ) -> list[flavors_pb2.Flavor]:
        req = flavors_pb2.ListFlavorsRequest(
            page_size=page_size,
            min_vcpus=min_vcpus,
            min_ram_mb=min_ram_mb,
            min_disk_gb=min_disk_gb,
            include_private=include_private,
        )
        out: list[flavors_pb2.Flavor] = []
        while True:
            resp = await self._s.call(self._s.compute.ListFlavors, req)
            out.extend(resp.flavors)
            if not resp.next_page_token:
                return out
            req.page_token = resp.next_page_token

    async def find(self, name_or_id: str) -> flavors_pb2.Flavor:
        """The flavor with this id, else the one flavor with exactly this name."""
        try:
            return await self.get(name_or_id)
        except ApiError as e:
            if e.code.name not in ("NOT_FOUND", "INVALID_ARGUMENT"):
                raise
        matches = [f for f in await self.list(include_private=False) if f.name == name_or_id]
        if not matches:
            raise NotFound(f"no flavor with name or id {name_or_id!r}")
        if len(matches) > 1:
            ids = ", ".join(f.id for f in matches)
            raise AmbiguousName(
                f"{len(matches)} flavors are named {name_or_id!r} ({ids}): use an id"
            )
        return matches[0]

    async def delete(self, flavor_id: str) -> None:
        await self._s.call(
            self._s.compute.DeleteFlavor, flavors_pb2.DeleteFlavorRequest(flavor_id=flavor_id)
        )

    async def update(
        self,
        flavor_id: str,
        *,
        description: str | None = None,
        set_extra_specs: Mapping[str, str] | None = None,
        unset_extra_specs: Iterable[str] = (),
        add_project_ids: Iterable[str] = (),
        remove_project_ids: Iterable[str] = (),
    ) -> flavors_pb2.Flavor:
        """Change a flavor's description, extra specs or the projects that may use it (a
        private flavor), all in one transaction; its sizes never change."""
        req = flavors_pb2.UpdateFlavorRequest(
            flavor_id=flavor_id,
            set_extra_specs=dict(set_extra_specs or {}),
            unset_extra_specs=list(unset_extra_specs),
            add_project_ids=list(add_project_ids),
            remove_project_ids=list(remove_project_ids),
        )
        if description is not None:
            req.description = description
        resp = await self._s.call(self._s.compute.UpdateFlavor, req)
        return resp.flavor
