"""ComputeService: hypervisors (admin only, through the scheduler's providers), the availability
zones they are in (any user), and quotas."""

from __future__ import annotations

from typing import TypeAlias

import grpc

from polyvisor.api import draining
from polyvisor.api import models as m
from polyvisor.api.adoption import Adoption
from polyvisor.api.clients import SchedulerClient
from polyvisor.api.convert import compute as convert
from polyvisor.api.convert.enums import SERVER_STATE
from polyvisor.api.convert.hypervisors import hypervisor_from_provider
from polyvisor.api.convert.servers import server_to_proto
from polyvisor.api.evacuation import Evacuation
from polyvisor.api.handlers.context import bearer, principal
from polyvisor.api.quotas import Quotas
from polyvisor.api.readcache import ReadCache
from polyvisor.api.servers import Servers
from polyvisor.common.errors import FailedPrecondition, InvalidArgument
from polyvisor.compute.v1 import hypervisors_pb2, quotas_pb2, servers_pb2
from polyvisor.scheduling.v1 import scheduler_pb2
from polyvisor.types.v1 import hypervisor_pb2

Ctx: TypeAlias = grpc.aio.ServicerContext


class AdminHandlers:
    servers: Servers
    scheduler: SchedulerClient
    quotas: Quotas
    adoption: Adoption | None
    evacuation: Evacuation | None
    cache: ReadCache

    def _adoption(self) -> Adoption:
        if self.adoption is None:
            raise FailedPrecondition("this api cannot reach the agents: no adoption")
        return self.adoption

    async def ListUnmanagedVms(
        self, request: hypervisors_pb2.ListUnmanagedVmsRequest, context: Ctx
    ) -> hypervisors_pb2.ListUnmanagedVmsResponse:
        vms = await self._adoption().list_unmanaged(principal(), request.hypervisor_id)
        return hypervisors_pb2.ListUnmanagedVmsResponse(
            vms=[
                hypervisors_pb2.UnmanagedVm(
                    ref=v.ref,
                    name=v.name,
                    vcpus=v.vcpus,
                    memory_mb=v.memory_mb,
                    disk_gb=v.disk_gb,
                    power_state=hypervisor_pb2.PowerState.Value(f"POWER_STATE_{v.power_state}"),
                )
                for v in vms
            ]
        )

    async def AdoptServer(
        self, request: servers_pb2.AdoptServerRequest, context: Ctx
    ) -> servers_pb2.AdoptServerResponse:
        server = await self._adoption().adopt(
            principal(), request.hypervisor_id, request.vm_ref, request.name, request.project_id
        )
        return servers_pb2.AdoptServerResponse(server=server_to_proto(server))

    async def _hypervisor(self, provider) -> hypervisors_pb2.Hypervisor:  # type: ignore[no-untyped-def]
        running = await self.servers.count_on_host(provider.id)
        return hypervisor_from_provider(provider, running)

    async def ListAvailabilityZones(
        self, request: hypervisors_pb2.ListAvailabilityZonesRequest, context: Ctx
    ) -> hypervisors_pb2.ListAvailabilityZonesResponse:
        """Every zone some hypervisor is in and whether one there is enabled, for any caller
        with a token: a zone's name says nothing of the hosts in it."""
        principal()
        available: dict[str, bool] = {}
        token = ""
        while True:
            resp = await self.scheduler.list_providers(
                scheduler_pb2.ListProvidersRequest(page_size=1000, page_token=token)
            )
            for p in resp.providers:
                enabled = p.status != hypervisor_pb2.HOST_STATUS_DISABLED
                available[p.availability_zone] = (
                    available.get(p.availability_zone, False) or enabled
                )
            token = resp.next_page_token
            if not token:
                break
        return hypervisors_pb2.ListAvailabilityZonesResponse(
            availability_zones=[
                hypervisors_pb2.AvailabilityZone(name=name, available=up)
                for name, up in sorted(available.items())
            ]
        )

    async def ListHypervisors(
        self, request: hypervisors_pb2.ListHypervisorsRequest, context: Ctx
    ) -> hypervisors_pb2.ListHypervisorsResponse:
        principal().require_admin()
        if request.page_size < 0:
            raise InvalidArgument("page_size must not be negative", {"field": "page_size"})
        resp = await self.scheduler.list_providers(
            scheduler_pb2.ListProvidersRequest(
                page_size=request.page_size,
                page_token=request.page_token,
                hypervisor_type=request.hypervisor_type,
                state=request.state,
                status=request.status,
                availability_zone=request.availability_zone,
            )
        )
        return hypervisors_pb2.ListHypervisorsResponse(
            hypervisors=[await self._hypervisor(p) for p in resp.providers],
            next_page_token=resp.next_page_token,
        )

    async def GetHypervisor(
        self, request: hypervisors_pb2.GetHypervisorRequest, context: Ctx
    ) -> hypervisors_pb2.GetHypervisorResponse:
        principal().require_admin()
        if not request.hypervisor_id:
            raise InvalidArgument("hypervisor_id is required", {"field": "hypervisor_id"})
        provider = await self.scheduler.get_provider(request.hypervisor_id)
        return hypervisors_pb2.GetHypervisorResponse(hypervisor=await self._hypervisor(provider))

    async def EnableHypervisor(
        self, request: hypervisors_pb2.EnableHypervisorRequest, context: Ctx
    ) -> hypervisors_pb2.EnableHypervisorResponse:
        principal().require_admin()
        if not request.hypervisor_id:
            raise InvalidArgument("hypervisor_id is required", {"field": "hypervisor_id"})
        provider = await self.scheduler.set_provider_enabled(request.hypervisor_id, True, "")
        return hypervisors_pb2.EnableHypervisorResponse(hypervisor=await self._hypervisor(provider))

    async def DisableHypervisor(
        self, request: hypervisors_pb2.DisableHypervisorRequest, context: Ctx
    ) -> hypervisors_pb2.DisableHypervisorResponse:
        principal().require_admin()
        if not request.hypervisor_id:
            raise InvalidArgument("hypervisor_id is required", {"field": "hypervisor_id"})
        provider = await self.scheduler.set_provider_enabled(
            request.hypervisor_id, False, request.reason[:255]
        )
        return hypervisors_pb2.DisableHypervisorResponse(
            hypervisor=await self._hypervisor(provider)
        )

    async def DrainHypervisor(
        self, request: hypervisors_pb2.DrainHypervisorRequest, context: Ctx
    ) -> hypervisors_pb2.DrainHypervisorResponse:
        p = principal()
        p.require_admin()
        if not request.hypervisor_id:
            raise InvalidArgument("hypervisor_id is required", {"field": "hypervisor_id"})
        provider = await self.scheduler.set_provider_enabled(
            request.hypervisor_id, False, (request.reason or "draining")[:255]
        )
        moves = await draining.drain(self.servers, p, request.hypervisor_id)
        return hypervisors_pb2.DrainHypervisorResponse(
            hypervisor=await self._hypervisor(provider),
            servers=[
                hypervisors_pb2.DrainedServer(
                    server_id=d.server_id, name=d.name, outcome=d.outcome, detail=d.detail
                )
                for d in moves
            ],
        )

    async def EvacuateHypervisor(
        self, request: hypervisors_pb2.EvacuateHypervisorRequest, context: Ctx
    ) -> hypervisors_pb2.EvacuateHypervisorResponse:
        p = principal()
        p.require_admin()
        if not request.hypervisor_id:
            raise InvalidArgument("hypervisor_id is required", {"field": "hypervisor_id"})
        if self.evacuation is None:
            raise FailedPrecondition("this api cannot reach the agents: no evacuation")
        host = request.hypervisor_id
        provider = await self.scheduler.get_provider(host)
        await self.evacuation.check_down(
            p, host, up=provider.state != hypervisor_pb2.HOST_STATE_DOWN
        )
        provider = await self.scheduler.set_provider_enabled(
            host, False, (request.reason or "evacuated")[:255]
        )
        done = await self.evacuation.evacuate(p, bearer(context), host)
        for e in done:
            self.cache.invalidate(e.server_id)
        return hypervisors_pb2.EvacuateHypervisorResponse(
            hypervisor=await self._hypervisor(provider),
            servers=[
                hypervisors_pb2.EvacuatedServer(
                    server_id=e.server_id, name=e.name, outcome=e.outcome, detail=e.detail
                )
                for e in done
            ],
        )

    async def EvacuateServer(
        self, request: servers_pb2.EvacuateServerRequest, context: Ctx
    ) -> servers_pb2.EvacuateServerResponse:
        p = principal()
        p.require_admin()
        if self.evacuation is None:
            raise FailedPrecondition("this api cannot reach the agents: no evacuation")
        server = await self.servers.get(p, request.server_id)
        if not server.host:
            raise FailedPrecondition(
                f"server {server.id} is on no host: nothing to evacuate",
                {"server_id": server.id, "state": server.state},
            )
        provider = await self.scheduler.get_provider(server.host)
        await self.evacuation.check_down(
            p, server.host, up=provider.state != hypervisor_pb2.HOST_STATE_DOWN
        )
        moved = await self.evacuation.evacuate_server(p, bearer(context), server, request.host)
        self.cache.invalidate(moved.id)
        return servers_pb2.EvacuateServerResponse(server=server_to_proto(moved))

    async def ResetServerState(
        self, request: servers_pb2.ResetServerStateRequest, context: Ctx
    ) -> servers_pb2.ResetServerStateResponse:
        if not request.state:
            raise InvalidArgument("state: ACTIVE or ERROR", {"field": "state"})
        state = m.State(SERVER_STATE.name(request.state))
        s = await self.servers.reset_state(
            principal(), request.server_id, state, request.request_id
        )
        self.cache.invalidate(s.id)
        return servers_pb2.ResetServerStateResponse(server=server_to_proto(s))

    async def GetQuota(
        self, request: quotas_pb2.GetQuotaRequest, context: Ctx
    ) -> quotas_pb2.GetQuotaResponse:
        q = await self.quotas.get(principal(), request.project_id)
        return quotas_pb2.GetQuotaResponse(quota=convert.quota(q))

    async def UpdateQuota(
        self, request: quotas_pb2.UpdateQuotaRequest, context: Ctx
    ) -> quotas_pb2.UpdateQuotaResponse:
        lim = request.limits
        q = await self.quotas.update(
            principal(),
            request.project_id,
            m.QuotaLimits(lim.instances, lim.vcpus, lim.ram_mb),
            list(request.update_mask.paths),
        )
        return quotas_pb2.UpdateQuotaResponse(quota=convert.quota(q))
