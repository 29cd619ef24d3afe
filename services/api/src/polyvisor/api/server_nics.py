"""Adding a NIC to a server that exists, and taking one off (AddServerPort,
RemoveServerPort): the checks, the port, then the action (`lifecycle`, ADD_PORT and
REMOVE_PORT).

An add is refused before anything is made when the server is busy or in a state that
cannot take it, when its host's driver lacks the `ports` capability (reported by the agent,
read from the scheduler), or when the NIC asked for is not the caller's to use (another
project's port or network: NOT_FOUND; a port in use: FAILED_PRECONDITION). Then the port is
made (on a network; idempotent on the NIC's index) or the user's taken, bound to the server's
host, and the host is told to plug it. A refusal after the port was made frees it again.

A remove frees the port once the host has unplugged it: deleted when the api made it, else
unbound and kept (`lifecycle.interfaces`).
"""

from __future__ import annotations

from dataclasses import replace

from polyvisor.api import lifecycle, validation
from polyvisor.api import models as m
from polyvisor.api.lifecycle import Action
from polyvisor.api.ports import ServerPorts, port_request_id
from polyvisor.api.servers import Servers
from polyvisor.api.spawnspec import Nic, SpawnSpec
from polyvisor.api.store import servers as server_store
from polyvisor.common.auth import Principal
from polyvisor.common.db import db_errors
from polyvisor.common.errors import FailedPrecondition, PolyvisorError
from polyvisor.common.logging import get_logger

__all__ = ["PORTS_CAPABILITY", "ServerNics"]

log = get_logger(__name__)

#: The capability a host's driver reports when it plugs ports into existing servers.
PORTS_CAPABILITY = "ports"


class ServerNics:
    def __init__(self, servers: Servers) -> None:
        self.servers = servers

    def _ports(self) -> ServerPorts:
        if self.servers.ports is None:
            raise FailedPrecondition("this cloud has no network service: servers have no ports")
        return self.servers.ports

    async def _spec(self, server: m.Server) -> SpawnSpec:
        with db_errors():
            spec, _ = await server_store.spawn_data(self.servers.pool, server.id)
        if spec is None:
            raise FailedPrecondition(f"server {server.id} has no build record to add a NIC to")
        return spec

    async def _host_can(self, server: m.Server, what: str) -> None:
        await self.servers.require_host_capability(server, PORTS_CAPABILITY, what)

    async def _ready(self, p: Principal, server_id: str, action: Action) -> m.Server:
        p.require_write()
        server = await self.servers.get(p, validation.required(server_id, "server_id"))
        lifecycle.ACTIONS[action].check(server)  # busy or wrong state: nothing is made
        what = "add a port" if action == Action.ADD_PORT else "remove a port"
        await self._host_can(server, what)
        return server

    async def add(
        self, p: Principal, bearer: str, server_id: str, asked: Nic, request_id: str = ""
    ) -> tuple[m.Server, str]:
        """Give the server the NIC `asked` (a network, with a fixed IP or not, or the
        caller's port): (the server, ATTACHING_PORT, and the port's id)."""
        ports = self._ports()
        request_id = validation.request_id(request_id)
        if request_id:
            seen = await self.servers.get(p, validation.required(server_id, "server_id"))
            if seen.last_request_id == request_id:  # a retry of the call that took effect
                return seen, str(seen.action_args.get("port_id", ""))
        server = await self._ready(p, server_id, Action.ADD_PORT)
        [nic] = await ports.resolve(bearer, [asked])
        spec = await self._spec(server)
        index = len(spec.nics)
        made = not nic.port_id
        if made:
            port = await ports.network.create_port(
                server.project_id,
                nic.network_id,
                nic.fixed_ip,
                server.id,
                port_request_id(server.id, index),
            )
            port_id = port.id
            nic = replace(nic, made_port_id=port_id)
        else:
            port_id = nic.port_id
        try:
            vmware = server.hypervisor_type.upper() == "VMWARE"
            binding, addresses = await ports.network.bind_port(
                port_id, server.host, vmware, server.id
            )
            args = {
                "port_id": port_id,
                "made": made,
                "nic_index": index,
                "mac_address": str(binding.mac_address),
                "addresses": lifecycle.addresses_arg(tuple(addresses)),
            }
            updated = await self.servers.act(p, server.id, Action.ADD_PORT, request_id, args)
        except PolyvisorError:
            await ports.release_one(port_id, delete=made)
            raise
        with db_errors():
            async with self.servers.pool.acquire() as conn, conn.transaction():
                await server_store.add_nic(conn, server.id, nic)
        log.info("port being added", server_id=server.id, port_id=port_id, made=made)
        return updated, port_id

    async def remove(
        self, p: Principal, bearer: str, server_id: str, port_id: str, request_id: str = ""
    ) -> m.Server:
        """Take the port `port_id` off the server (DETACHING_PORT until its host answers)."""
        ports = self._ports()
        port_id = validation.required(port_id, "port_id")
        server = await self._ready(p, server_id, Action.REMOVE_PORT)
        port = await ports.network.get_port(port_id, bearer)  # another project's: NOT_FOUND
        if port.device_id != server.id:
            raise FailedPrecondition(
                f"port {port_id} is not a port of server {server.id}",
                {"port_id": port_id, "server_id": server.id, "device_id": port.device_id},
            )
        spec = await self._spec(server)
        index = await self._index(server, spec, port)
        made = port_id not in spec.user_ports()
        args = {
            "port_id": port_id,
            "made": made,
            "nic_index": -1 if index is None else index,
            "mac_address": port.mac_address,
        }
        updated = await self.servers.act(p, server.id, Action.REMOVE_PORT, request_id, args)
        log.info("port being removed", server_id=server.id, port_id=port_id, made=made)
        return updated

    async def _index(self, server: m.Server, spec: SpawnSpec, port: m.PortRef) -> int | None:
        """Which of the server's NICs the port is: the user's by id, one the api made by
        its request id (made again idempotently: the port exists, so this finds it)."""
        for i, n in enumerate(spec.nics):
            if not n.removed and port.id in (n.port_id, n.made_port_id):
                return i
        for i, n in enumerate(spec.nics):
            if n.removed or n.port_id or n.made_port_id or n.network_id != port.network_id:
                continue
            found = await self._ports().network.create_port(
                server.project_id,
                n.network_id,
                n.fixed_ip,
                server.id,
                port_request_id(server.id, i),
            )
            if found.id == port.id:
                return i
        return None
