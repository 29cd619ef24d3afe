"""The agent's calls to the network service (polyvisor.network.v1.NetworkService).

Only what an agent's identity may call (services/networksvc NETWORK_RULES): read its host's
ports and their binding specs, report a binding's state for its own host. gRPC errors become
``NetError`` here (NOT_FOUND: ``None`` where the caller can live with it).
"""

from __future__ import annotations

import grpc

from polyvisor.agent_kvm.net.convert import binding_from_pb
from polyvisor.agent_kvm.net.model import PortBinding
from polyvisor.agent_kvm.net.shell import NetError
from polyvisor.agentkit.credentials import AgentCredentials
from polyvisor.common.channels import RECONNECT_OPTIONS
from polyvisor.network.v1 import (
    bindings_pb2,
    network_service_pb2_grpc,
    networks_pb2,
)

__all__ = ["NetworkClient", "PortRef"]

_TIMEOUT_S = 10.0
_TRANSIENT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}

PortRef = tuple[str, str, int]  # port id, binding host, revision


class NetworkClient:
    def __init__(self, address: str, credentials: AgentCredentials) -> None:
        self.address = address
        self.credentials = credentials
        self._channel: grpc.aio.Channel | None = None

    def _stub(self) -> network_service_pb2_grpc.NetworkServiceStub:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self.address, options=RECONNECT_OPTIONS)
        return network_service_pb2_grpc.NetworkServiceStub(self._channel)

    async def _call(self, what: str, method: str, request: object) -> object:
        metadata = await self.credentials.metadata()
        try:
            return await getattr(self._stub(), method)(
                request, metadata=metadata, timeout=_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                self.credentials.invalidate()
            raise NetError(
                f"network service: {what}: {exc.code().name}: {exc.details()}",
                retryable=exc.code() in _TRANSIENT,
            ) from exc

    async def spec(self, port_id: str) -> PortBinding | None:
        """The port's binding spec; None when the port is gone or not bound."""
        try:
            resp = await self._call(
                f"binding spec of port {port_id}",
                "GetPortBindingSpec",
                bindings_pb2.GetPortBindingSpecRequest(port_id=port_id),
            )
        except NetError as exc:
            cause = exc.__cause__
            if isinstance(cause, grpc.aio.AioRpcError) and cause.code() in (
                grpc.StatusCode.NOT_FOUND,
                grpc.StatusCode.FAILED_PRECONDITION,
            ):
                return None
            raise
        return binding_from_pb(resp.spec)  # type: ignore[attr-defined]

    async def ports(self, *, host: str = "", device_id: str = "") -> list[PortRef]:
        """Ports bound to ``host`` and/or of ``device_id`` (all pages)."""
        out: list[PortRef] = []
        token = ""
        while True:
            resp = await self._call(
                "list ports",
                "ListPorts",
                networks_pb2.ListPortsRequest(
                    host=host,
                    device_id=device_id,
                    page_size=500,
                    page_token=token,
                    all_projects=True,
                ),
            )
            out += [(p.id, p.binding.host, p.revision) for p in resp.ports]  # type: ignore[attr-defined]
            token = resp.next_page_token  # type: ignore[attr-defined]
            if not token:
                return out

    async def report(
        self, port_id: str, host: str, *, ok: bool, message: str = "", revision: int = 0
    ) -> None:
        await self._call(
            f"report port {port_id}",
            "SetPortBindingState",
            bindings_pb2.SetPortBindingStateRequest(
                port_id=port_id,
                host=host,
                state=networks_pb2.BINDING_STATE_ACTIVE
                if ok
                else networks_pb2.BINDING_STATE_FAILED,
                message=message[:1000],
                port_security_enforced=ok,
                revision=revision,
            ),
        )

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()
