"""Hypervisors (admin only): KVM hosts and VMware clusters with their ESXi hosts."""

from __future__ import annotations

from collections.abc import Sequence

from polyvisor.client import enums
from polyvisor.client.errors import AmbiguousName, ApiError, NotFound
from polyvisor.client.session import Session
from polyvisor.compute.v1 import hypervisors_pb2, servers_pb2

__all__ = ["HypervisorsApi"]


class HypervisorsApi:
    def __init__(self, session: Session) -> None:
        self._s = session

    async def list(
        self,
        *,
        hypervisor_type: str | int | None = None,
        state: str | int | None = None,
        status: str | int | None = None,
        availability_zone: str = "",
        page_size: int = 0,
    ) -> list[hypervisors_pb2.Hypervisor]:
        req = hypervisors_pb2.ListHypervisorsRequest(
            page_size=page_size,
            hypervisor_type=enums.coerce(enums.HYPERVISOR_TYPE, hypervisor_type),
            state=enums.coerce(enums.HOST_STATE, state),
            status=enums.coerce(enums.HOST_STATUS, status),
            availability_zone=availability_zone,
        )
        out: list[hypervisors_pb2.Hypervisor] = []
        while True:
            resp = await self._s.call(self._s.compute.ListHypervisors, req)
            out.extend(resp.hypervisors)
            if not resp.next_page_token:
                return out
            req.page_token = resp.next_page_token

    async def get(self, hypervisor_id: str) -> hypervisors_pb2.Hypervisor:
        resp = await self._s.call(
            self._s.compute.GetHypervisor,
            hypervisors_pb2.GetHypervisorRequest(hypervisor_id=hypervisor_id),
        )
        return resp.hypervisor

    async def find(self, id_or_name: str) -> hypervisors_pb2.Hypervisor:
        """By id, else by hostname or VMware cluster name."""
        try:
            return await self.get(id_or_name)
        except ApiError as e:
            if e.code.name not in ("NOT_FOUND", "INVALID_ARGUMENT"):
                raise
        matches = [h for h in await self.list() if id_or_name in (h.hostname, h.cluster_name)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise NotFound(f"no hypervisor with id or name {id_or_name!r}")
        raise AmbiguousName(f"{len(matches)} hypervisors are named {id_or_name!r}: use an id")

    async def enable(self, hypervisor_id: str) -> hypervisors_pb2.Hypervisor:
        resp = await self._s.call(
            self._s.compute.EnableHypervisor,
            hypervisors_pb2.EnableHypervisorRequest(hypervisor_id=hypervisor_id),
        )
        return resp.hypervisor

    async def disable(self, hypervisor_id: str, reason: str = "") -> hypervisors_pb2.Hypervisor:
        resp = await self._s.call(
            self._s.compute.DisableHypervisor,
            hypervisors_pb2.DisableHypervisorRequest(hypervisor_id=hypervisor_id, reason=reason),
        )
        return resp.hypervisor

    async def drain(
        self, hypervisor_id: str, reason: str = ""
    ) -> hypervisors_pb2.DrainHypervisorResponse:
        """Disable the hypervisor and start moving every server off it (ACTIVE ones live,
        SHUTOFF ones cold); each server's outcome (live, cold, skipped, failed) is in
        ``servers``. Cold ones then wait in VERIFY_RESIZE for a confirm."""
        return await self._s.call(
            self._s.compute.DrainHypervisor,
            hypervisors_pb2.DrainHypervisorRequest(hypervisor_id=hypervisor_id, reason=reason),
        )

    async def evacuate(
        self, hypervisor_id: str, reason: str = ""
    ) -> hypervisors_pb2.EvacuateHypervisorResponse:
        """Rebuild the servers of a hypervisor that is down on other hosts (refused while it is
        up or its agent answers): each from its image, keeping its id, name, flavor, ports and
        addresses; the hypervisor is disabled. Each server's outcome (rebuilding, skipped,
        failed) is in ``servers``."""
        return await self._s.call(
            self._s.compute.EvacuateHypervisor,
            hypervisors_pb2.EvacuateHypervisorRequest(hypervisor_id=hypervisor_id, reason=reason),
        )

    async def unmanaged(self, hypervisor_id: str) -> Sequence[hypervisors_pb2.UnmanagedVm]:
        """The VMs of a hypervisor that no server owns (what ``adopt`` takes)."""
        resp = await self._s.call(
            self._s.compute.ListUnmanagedVms,
            hypervisors_pb2.ListUnmanagedVmsRequest(hypervisor_id=hypervisor_id),
        )
        return list(resp.vms)

    async def adopt(
        self, hypervisor_id: str, vm_ref: str, *, name: str = "", project_id: str = ""
    ) -> servers_pb2.Server:
        """Make the unmanaged VM ``vm_ref`` of a hypervisor a server (its size claimed, a
        flavor of that size matched or made, the VM tagged; nothing else in it changes)."""
        resp = await self._s.call(
            self._s.compute.AdoptServer,
            servers_pb2.AdoptServerRequest(
                hypervisor_id=hypervisor_id, vm_ref=vm_ref, name=name, project_id=project_id
            ),
        )
        return resp.server
