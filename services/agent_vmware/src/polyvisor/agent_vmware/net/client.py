"""The agent's calls to the network service (polyvisor.network.v1.NetworkService).

Only what an agent's identity may call: its host's ports and their binding specs, and a
binding's state for its own host. gRPC errors become DriverError here (UNAVAILABLE and
DEADLINE_EXCEEDED retryable; NOT_FOUND: ``None`` where the caller can live with it).
"""

from __future__ import annotations

from typing import Any, Protocol

import grpc

from polyvisor.agent_vmware.net.convert import binding_from_pb
from polyvisor.agent_vmware.net.model import PortBinding
from polyvisor.agentkit.driver import DriverError
from polyvisor.common.channels import RECONNECT_OPTIONS
from polyvisor.network.v1 import bindings_pb2, network_service_pb2_grpc, networks_pb2

__all__ = ["Credentials", "NetworkClient"]

_TIMEOUT_S = 10.0
_TRANSIENT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


class Credentials(Protocol):
    async def metadata(self) -> Any: ...

    def invalidate(self) -> None: ...


class NetworkClient:
    def __init__(self, address: str, credentials: Credentials) -> None:
        self.address = address
        self.credentials = credentials
        self._channel: grpc.aio.Channel | None = None

    def _stub(self) -> network_service_pb2_grpc.NetworkServiceStub:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self.address, options=RECONNECT_OPTIONS)
        return network_service_pb2_grpc.NetworkServiceStub(self._channel)

    async def _call(self, what: str, method: str, request: object) -> Any:
        metadata = await self.credentials.metadata()
        try:
            return await getattr(self._stub(), method)(
                request, metadata=metadata, timeout=_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                self.credentials.invalidate()
            raise DriverError(
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
        except DriverError as exc:
            cause = exc.__cause__
            if isinstance(cause, grpc.aio.AioRpcError) and cause.code() in (
                grpc.StatusCode.NOT_FOUND,
                grpc.StatusCode.FAILED_PRECONDITION,
            ):
                return None
            raise
        return binding_from_pb(resp.spec)

    async def port_ids(self, *, host: str, device_id: str) -> list[str]:
        """Ports of ``device_id`` bound to ``host`` (all pages), in the service's order."""
        out: list[str] = []
        token = ""
        while True:
            resp = await self._call(
                "list ports",
                "ListPorts",
                networks_pb2.ListPortsRequest(
                    host=host, device_id=device_id, page_size=500, page_token=token,
                    all_projects=True,
                ),
            )  # fmt: skip
            out += [p.id for p in resp.ports if p.binding.host == host]
            token = resp.next_page_token
            if not token:
                return out

    async def report(
        self, port: PortBinding, host: str, *, ok: bool, enforced: bool, message: str = ""
    ) -> None:
        state = networks_pb2.BINDING_STATE_ACTIVE if ok else networks_pb2.BINDING_STATE_FAILED
        await self._call(
            f"report port {port.port_id}",
            "SetPortBindingState",
            bindings_pb2.SetPortBindingStateRequest(
                port_id=port.port_id, host=host, state=state, message=message[:1000],
                port_security_enforced=enforced, revision=port.revision,
            ),
        )  # fmt: skip

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()
