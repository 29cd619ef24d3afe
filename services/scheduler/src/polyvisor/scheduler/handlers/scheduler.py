"""SchedulerService: validate, convert, call the domain, convert back.

Every call needs a token (`SCHEDULER_RULES`, checked before a handler runs): claims are the
api's alone (its service identity), reading and enabling hosts also an admin's; agents and
ordinary users get PERMISSION_DENIED. Every field is validated.
"""

from __future__ import annotations

import grpc

from polyvisor.common.auth import API_IDENTITY, MethodRules
from polyvisor.common.errors import InvalidArgument
from polyvisor.common.logging import bound_context
from polyvisor.scheduler import convert
from polyvisor.scheduler.handlers.validate import (
    check_id,
    decode_page_token,
    encode_page_token,
    page_size,
    validate_spec,
)
from polyvisor.scheduler.model import HvType
from polyvisor.scheduler.scheduling import Scheduler
from polyvisor.scheduling.v1 import scheduler_pb2, scheduler_service_pb2_grpc
from polyvisor.types.v1 import hypervisor_pb2

__all__ = ["SCHEDULER_RULES", "SERVICE_NAME", "SchedulerHandlers"]

SERVICE_NAME = "polyvisor.scheduling.v1.SchedulerService"

_API = f"service:{API_IDENTITY}"
SCHEDULER_RULES = MethodRules(
    {
        f"/{SERVICE_NAME}/SelectDestinations": (_API,),
        f"/{SERVICE_NAME}/ReleaseClaim": (_API,),
        f"/{SERVICE_NAME}/MoveClaim": (_API,),
        f"/{SERVICE_NAME}/CheckHost": (_API,),
        f"/{SERVICE_NAME}/ReplaceClaim": (_API,),
        f"/{SERVICE_NAME}/ListProviders": (_API, "admin"),
        f"/{SERVICE_NAME}/GetProvider": (_API, "admin"),
        f"/{SERVICE_NAME}/SetProviderEnabled": (_API, "admin"),
        f"/{SERVICE_NAME}/ListAllocations": (_API, "admin"),
    }
)

_BUILD_FAILED = scheduler_pb2.RELEASE_REASON_BUILD_FAILED
_MAX_DETAIL = 4096


def _reason(value: int, detail: str) -> tuple[bool, str]:
    if value not in scheduler_pb2.ReleaseReason.values():
        raise InvalidArgument(f"reason: unknown value {value}", {"field": "reason"})
    if len(detail) > _MAX_DETAIL:
        raise InvalidArgument(f"detail: longer than {_MAX_DETAIL} characters", {"field": "detail"})
    return value == _BUILD_FAILED, detail


class SchedulerHandlers(scheduler_service_pb2_grpc.SchedulerServiceServicer):
    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    async def SelectDestinations(
        self, request: scheduler_pb2.SelectDestinationsRequest, context: grpc.aio.ServicerContext
    ) -> scheduler_pb2.SelectDestinationsResponse:
        validate_spec(request)
        spec = convert.spec_from_proto(request.spec)
        with bound_context(schedule_request=spec.request_id):
            placement = await self.scheduler.select_destinations(spec, request.max_alternates)
        return convert.placement_to_proto(placement)

    async def CheckHost(
        self, request: scheduler_pb2.CheckHostRequest, context: grpc.aio.ServicerContext
    ) -> scheduler_pb2.CheckHostResponse:
        check_id("host", request.host)
        validate_spec(scheduler_pb2.SelectDestinationsRequest(spec=request.spec))
        spec = convert.spec_from_proto(request.spec)
        why = self.scheduler.check_host(spec, request.host)
        if why is None:
            return scheduler_pb2.CheckHostResponse(fits=True)
        return scheduler_pb2.CheckHostResponse(
            fits=False, no_valid_host=convert.explanation_to_proto(why)
        )

    async def ReleaseClaim(
        self, request: scheduler_pb2.ReleaseClaimRequest, context: grpc.aio.ServicerContext
    ) -> scheduler_pb2.ReleaseClaimResponse:
        check_id("consumer_id", request.consumer_id)
        failed, detail = _reason(request.reason, request.detail)
        released = await self.scheduler.release_claim(
            request.consumer_id, build_failed=failed, reason=detail
        )
        return scheduler_pb2.ReleaseClaimResponse(released=released)

    async def MoveClaim(
        self, request: scheduler_pb2.MoveClaimRequest, context: grpc.aio.ServicerContext
    ) -> scheduler_pb2.MoveClaimResponse:
        check_id("consumer_id", request.consumer_id)
        check_id("to_host", request.to_host)
        check_id("from_host", request.from_host, required=False)
        failed, detail = _reason(request.reason, request.detail)
        selection = await self.scheduler.move_claim(
            request.consumer_id,
            request.to_host,
            from_host=request.from_host,
            build_failed=failed,
            reason=detail,
        )
        return scheduler_pb2.MoveClaimResponse(selection=convert.selection_to_proto(selection))

    async def ReplaceClaim(
        self, request: scheduler_pb2.ReplaceClaimRequest, context: grpc.aio.ServicerContext
    ) -> scheduler_pb2.ReplaceClaimResponse:
        check_id("consumer_id", request.consumer_id)
        check_id("with_consumer_id", request.with_consumer_id)
        replaced, host = await self.scheduler.replace_claim(
            request.consumer_id, request.with_consumer_id
        )
        return scheduler_pb2.ReplaceClaimResponse(replaced=replaced, host=host)

    async def ListProviders(
        self, request: scheduler_pb2.ListProvidersRequest, context: grpc.aio.ServicerContext
    ) -> scheduler_pb2.ListProvidersResponse:
        limit = page_size(request.page_size)
        after = decode_page_token(request.page_token)
        if request.hypervisor_type not in hypervisor_pb2.HypervisorType.values():
            raise InvalidArgument("hypervisor_type: unknown value", {"field": "hypervisor_type"})
        if request.state not in hypervisor_pb2.HostState.values():
            raise InvalidArgument("state: unknown value", {"field": "state"})
        if request.status not in hypervisor_pb2.HostStatus.values():
            raise InvalidArgument("status: unknown value", {"field": "status"})
        if len(request.availability_zone) > 255:
            raise InvalidArgument("availability_zone: longer than 255 characters")
        up = {hypervisor_pb2.HOST_STATE_UP: True, hypervisor_pb2.HOST_STATE_DOWN: False}.get(
            request.state
        )
        enabled = {
            hypervisor_pb2.HOST_STATUS_ENABLED: True,
            hypervisor_pb2.HOST_STATUS_DISABLED: False,
        }.get(request.status)
        views, more = await self.scheduler.list_providers(
            hypervisor_type=HvType(request.hypervisor_type),
            up=up,
            enabled=enabled,
            availability_zone=request.availability_zone,
            after=after,
            limit=limit,
        )
        return scheduler_pb2.ListProvidersResponse(
            providers=[convert.provider_to_proto(v) for v in views],
            next_page_token=encode_page_token(views[-1].record.id) if more and views else "",
        )

    async def GetProvider(
        self, request: scheduler_pb2.GetProviderRequest, context: grpc.aio.ServicerContext
    ) -> scheduler_pb2.GetProviderResponse:
        check_id("provider_id", request.provider_id)
        view = await self.scheduler.get_provider(request.provider_id)
        return scheduler_pb2.GetProviderResponse(provider=convert.provider_to_proto(view))

    async def SetProviderEnabled(
        self, request: scheduler_pb2.SetProviderEnabledRequest, context: grpc.aio.ServicerContext
    ) -> scheduler_pb2.SetProviderEnabledResponse:
        check_id("provider_id", request.provider_id)
        if len(request.disabled_reason) > 255:
            raise InvalidArgument(
                "disabled_reason: longer than 255 characters", {"field": "disabled_reason"}
            )
        view = await self.scheduler.set_enabled(
            request.provider_id, request.enabled, request.disabled_reason.strip()
        )
        return scheduler_pb2.SetProviderEnabledResponse(provider=convert.provider_to_proto(view))

    async def ListAllocations(
        self, request: scheduler_pb2.ListAllocationsRequest, context: grpc.aio.ServicerContext
    ) -> scheduler_pb2.ListAllocationsResponse:
        limit = page_size(request.page_size)
        after = decode_page_token(request.page_token)
        check_id("provider_id", request.provider_id, required=False)
        check_id("consumer_id", request.consumer_id, required=False)
        allocs = await self.scheduler.list_allocations(
            provider_id=request.provider_id,
            consumer_id=request.consumer_id,
            after=after,
            limit=limit + 1,
        )
        page, more = allocs[:limit], len(allocs) > limit
        return scheduler_pb2.ListAllocationsResponse(
            allocations=[convert.allocation_to_proto(a) for a in page],
            next_page_token=encode_page_token(page[-1].consumer_id) if more and page else "",
        )
