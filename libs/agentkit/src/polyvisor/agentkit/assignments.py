"""The servers the api has assigned to this host (AgentCallbackService.ListAssignedServers).

    client = AssignmentsClient("api:50051", credentials)
    assigned = await client.list(host)        # every page, as Assigned dataclasses
    stale = await client.evacuated(host)      # ids of servers rebuilt elsewhere meanwhile

Agents hold no database credentials: this RPC is how the reconciler learns what the api
wants. gRPC errors become ``Unavailable`` (the reconciler skips that pass).
"""

from __future__ import annotations

import grpc

from polyvisor.agent.v1 import agent_callback_service_pb2_grpc, callback_pb2
from polyvisor.agentkit.convert import assigned_from_proto
from polyvisor.agentkit.credentials import AgentCredentials
from polyvisor.agentkit.reconcile_plan import Assigned
from polyvisor.common.channels import RECONNECT_OPTIONS
from polyvisor.common.errors import Unavailable

__all__ = ["AssignmentsClient"]

_PAGE = 500
_MAX_PAGES = 10_000


class AssignmentsClient:
    def __init__(
        self, address: str, credentials: AgentCredentials, timeout_s: float = 15.0
    ) -> None:
        self.address = address
        self.credentials = credentials
        self.timeout_s = timeout_s
        self._channel: grpc.aio.Channel | None = None

    def _stub(self) -> agent_callback_service_pb2_grpc.AgentCallbackServiceStub:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self.address, options=RECONNECT_OPTIONS)
        return agent_callback_service_pb2_grpc.AgentCallbackServiceStub(self._channel)

    async def list(self, host: str) -> list[Assigned]:
        out: list[Assigned] = []
        token = ""
        for _ in range(_MAX_PAGES):
            request = callback_pb2.ListAssignedServersRequest(
                host=host, page_size=_PAGE, page_token=token
            )
            try:
                resp = await self._stub().ListAssignedServers(
                    request, metadata=await self.credentials.metadata(), timeout=self.timeout_s
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                    self.credentials.invalidate()
                raise Unavailable(
                    f"ListAssignedServers at {self.address}: {exc.code().name}: {exc.details()}"
                ) from exc
            out.extend(assigned_from_proto(s) for s in resp.servers)
            token = resp.next_page_token
            if not token:
                return out
        raise Unavailable("ListAssignedServers: too many pages")

    async def evacuated(self, host: str) -> set[str]:
        """The servers evacuated from `host` (rebuilt elsewhere while it was down)."""
        request = callback_pb2.ListEvacuatedServersRequest(host=host)
        try:
            resp = await self._stub().ListEvacuatedServers(
                request, metadata=await self.credentials.metadata(), timeout=self.timeout_s
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                self.credentials.invalidate()
            raise Unavailable(
                f"ListEvacuatedServers at {self.address}: {exc.code().name}: {exc.details()}"
            ) from exc
        return set(resp.server_ids)

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()
