"""polyvisor.agent.v1.AgentCallbackService: what agents ask the api (agent tokens, each for its own host)."""

from __future__ import annotations

from typing import TypeAlias

import grpc

from polyvisor.agent.v1 import agent_callback_service_pb2_grpc, callback_pb2
from polyvisor.api import access
from polyvisor.api.convert.enums import POWER_STATE, SERVER_STATE, SERVER_TASK
from polyvisor.api.handlers.context import principal
from polyvisor.api.servers import Servers
from polyvisor.common.errors import InvalidArgument

Ctx: TypeAlias = grpc.aio.ServicerContext


class AgentCallbackHandlers(agent_callback_service_pb2_grpc.AgentCallbackServiceServicer):
    def __init__(self, servers: Servers) -> None:
        self.servers = servers

    async def ListAssignedServers(
        self, request: callback_pb2.ListAssignedServersRequest, context: Ctx
    ) -> callback_pb2.ListAssignedServersResponse:
        if not request.host:
            raise InvalidArgument("host is required", {"field": "host"})
        access.require_agent_of(principal(), request.host)
        items, next_token = await self.servers.assigned_to_host(
            request.host, request.page_size, request.page_token
        )
        return callback_pb2.ListAssignedServersResponse(
            servers=[
                callback_pb2.AssignedServer(
                    server_id=s.id,
                    generation=s.generation,
                    desired_power_state=POWER_STATE.value(s.desired_power_state),
                    state=SERVER_STATE.value(s.state),
                    task=SERVER_TASK.value(s.task),
                    instance_name=s.instance_name,
                    metadata=dict(s.metadata),
                )
                for s in items
            ],
            next_page_token=next_token,
        )

    async def ListEvacuatedServers(
        self, request: callback_pb2.ListEvacuatedServersRequest, context: Ctx
    ) -> callback_pb2.ListEvacuatedServersResponse:
        if not request.host:
            raise InvalidArgument("host is required", {"field": "host"})
        access.require_agent_of(principal(), request.host)
        ids = await self.servers.evacuated_from(request.host)
        return callback_pb2.ListEvacuatedServersResponse(server_ids=ids)
