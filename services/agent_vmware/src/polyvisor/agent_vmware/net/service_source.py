"""``BindingSource`` over the network service, for the blocking driver: each call runs on
the agent's event loop and the driver's worker thread waits for it (bounded)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from polyvisor.agent_vmware.net.client import NetworkClient
from polyvisor.agent_vmware.net.model import PortBinding
from polyvisor.agentkit.driver import DriverError

__all__ = ["NetworkServiceBindings"]

T = TypeVar("T")
_WAIT_S = 60.0


class NetworkServiceBindings:
    def __init__(self, client: NetworkClient, host: str, loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self.host = host
        self.loop = loop

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout=_WAIT_S)
        except TimeoutError:
            fut.cancel()
            raise DriverError("network service: no answer", retryable=True) from None

    async def _bindings(self, server_id: str) -> list[PortBinding]:
        out = []
        for port_id in await self.client.port_ids(host=self.host, device_id=server_id):
            spec = await self.client.spec(port_id)
            if spec is not None and spec.host == self.host and spec.device_id == server_id:
                out.append(spec)
        return out

    def bindings_for(self, server_id: str) -> Sequence[PortBinding]:
        return self._run(self._bindings(server_id))

    def binding(self, server_id: str, port_id: str) -> PortBinding:
        spec = self._run(self.client.spec(port_id))
        if spec is None or spec.host != self.host or spec.device_id != server_id:
            raise DriverError(f"port {port_id} is not bound to server {server_id} on this host")
        return spec

    def report(
        self, port: PortBinding, *, active: bool, port_security_enforced: bool, message: str = ""
    ) -> None:
        self._run(
            self.client.report(
                port, self.host, ok=active, enforced=port_security_enforced, message=message
            )
        )
