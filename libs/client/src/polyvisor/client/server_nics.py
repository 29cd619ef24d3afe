"""A server's NICs after its create: add one (a new port on a network, or your own port)
and remove one (`ServersApi.add_port`, `ServersApi.remove_port`)."""

from __future__ import annotations

import uuid

from polyvisor.client.errors import ServerFault
from polyvisor.client.server_waiting import ServerWatching
from polyvisor.compute.v1 import servers_pb2
from polyvisor.types.v1 import fault_pb2
from polyvisor.types.v1 import server_status_pb2 as st

__all__ = ["ServerNics"]

_SETTLED = (st.SERVER_STATE_ACTIVE, st.SERVER_STATE_SHUTOFF)
_FAILED = {fault_pb2.FAULT_CODE_ATTACH_FAILED, fault_pb2.FAULT_CODE_DETACH_FAILED}


class ServerNics(ServerWatching):
    """Part of ServersApi."""

    async def add_port(
        self,
        server_id: str,
        *,
        network_id: str = "",
        port_id: str = "",
        fixed_ip: str = "",
        wait: bool = True,
        wait_timeout: float = 120.0,
    ) -> tuple[servers_pb2.Server, str]:
        """Give the server (ACTIVE or SHUTOFF) a NIC: a new port on `network_id` (at
        `fixed_ip` if given) or your free port `port_id`. Returns the server and the port's
        id; with `wait`, once its host has plugged it (ServerFault if it could not)."""
        resp = await self._s.call(
            self._s.compute.AddServerPort,
            servers_pb2.AddServerPortRequest(
                server_id=server_id,
                network=servers_pb2.ServerNetwork(
                    network_id=network_id, port_id=port_id, fixed_ip=fixed_ip
                ),
                request_id=str(uuid.uuid4()),
            ),
        )
        if not wait:
            return resp.server, str(resp.port_id)
        return await self._settled(server_id, wait_timeout), str(resp.port_id)

    async def remove_port(
        self, server_id: str, port_id: str, *, wait: bool = True, wait_timeout: float = 120.0
    ) -> servers_pb2.Server:
        """Take the NIC of `port_id` off the server: a port the server made is deleted, yours
        is kept (unbound). With `wait`, once its host has unplugged it."""
        resp = await self._s.call(
            self._s.compute.RemoveServerPort,
            servers_pb2.RemoveServerPortRequest(
                server_id=server_id, port_id=port_id, request_id=str(uuid.uuid4())
            ),
        )
        if not wait:
            server: servers_pb2.Server = resp.server
            return server
        return await self._settled(server_id, wait_timeout)

    async def _settled(self, server_id: str, wait_timeout: float) -> servers_pb2.Server:
        server = await self.wait_for(server_id, _SETTLED, wait_timeout=wait_timeout, settled=True)
        # The action cleared the fault when it started: one now is its own failure.
        if server.HasField("fault") and server.fault.code in _FAILED:
            raise ServerFault(server)
        return server
