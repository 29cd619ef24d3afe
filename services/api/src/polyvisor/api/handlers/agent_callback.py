"""polyvisor.agent.v1.AgentCallbackService: what agents ask the api (agent tokens, each for its own host)."""

from __future__ import annotations

from typing import TypeAlias

import grpc

from polyvisor.agent.v1 import agent_callback_service_pb2_grpc, callback_pb2
from polyvisor.api import access
from polyvisor.api.convert.enums import POWER_STATE, SERVER_STATE, SERVER_TASK
from polyvisor.api.handlers.context import principal
from polyvisor.api.pagination import page_request
from polyvisor.api.store import servers as server_store
from polyvisor.api.store.db import Pool
from polyvisor.common.db import db_errors
from polyvisor.common.errors import InvalidArgument

Ctx: TypeAlias = grpc.aio.ServicerContext


class AgentCallbackHandlers(agent_callback_service_pb2_grpc.AgentCallbackServiceServicer):
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    async def ListAssignedServers(
        self, request: callback_pb2.ListAssignedServersRequest, context: Ctx
    ) -> callback_pb2.ListAssignedServersResponse:
        if not request.host:
            raise InvalidArgument("host is required", {"field": "host"})
        access.require_agent_of(principal(), request.host)
        page = page_request(request.page_size, request.page_token, host=request.host)
        with db_errors():
            found = await server_store.assigned_to_host(
                self.pool, request.host, page.after, page.size + 1
            )
        items = found[: page.size]
        return callback_pb2.ListAssignedServersResponse(
            servers=[
                callback_pb2.AssignedServer(
                    server_id=s.id,
                    generation=s.generation,
                    desired_power_state=POWER_STATE.value(s.desired_power_state),
                    state=SERVER_STATE.value(s.state),
                    task=SERVER_TASK.value(s.task),
                    instance_name=s.instance_name,
                )
                for s in items
            ],
            next_page_token=page.next_token(found, items[-1].id if items else ""),
        )
