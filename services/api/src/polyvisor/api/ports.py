"""A server's ports (docs/networking.md): which NICs a create asks for (checked with the
caller's token), and, through the lifecycle, making and binding them before the spawn
command leaves and freeing them when the build fails or the server is deleted.

The ports the api makes carry the server as their device (`device_id`) from their create
on (idempotent on "<server>:nic:<index>"), so a retry finds them and a delete frees them all;
the ports the user passed in are unbound and kept."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from polyvisor.api import ids
from polyvisor.api import models as m
from polyvisor.api.clients import NetworkClient
from polyvisor.api.spawnspec import Nic, SpawnSpec
from polyvisor.common.errors import FailedPrecondition, InvalidArgument, NotFound
from polyvisor.common.logging import get_logger

__all__ = ["DEFAULT_NETWORK_NAME", "Bound", "ServerPorts", "port_request_id"]

log = get_logger(__name__)

# With several usable networks and none named, the one of this name is taken.
DEFAULT_NETWORK_NAME = "default"


def _on(net: m.NetworkRef, port_id: str = "", fixed_ip: str = "") -> Nic:
    return Nic(
        network_id=net.id,
        port_id=port_id,
        fixed_ip=fixed_ip,
        network_name=net.name or net.id,
        physical_network=net.physical_network,
    )


def port_request_id(server_id: str, index: int) -> str:
    return f"{server_id}:nic:{index}"


@dataclass(frozen=True, slots=True)
class Bound:
    """The server's ports bound to one host: their binding specs (for the spawn command,
    in NIC order) and the addresses they give the server."""

    specs: tuple[object, ...]
    addresses: tuple[m.Address, ...]


class ServerPorts:
    def __init__(self, network: NetworkClient) -> None:
        self.network = network

    # ------------------------------------------------------------------ create

    async def resolve(self, bearer: str, requested: Sequence[Nic]) -> tuple[Nic, ...]:
        """The NICs of a create, checked as the caller: each network and port exists for
        the caller, a port is free, a fixed IP is an address. None asked: the project's only
        usable network (or the one named "default"); no usable network: no NIC."""
        if not requested:
            usable = await self.network.usable_networks(bearer)
            if not usable:
                return ()
            if len(usable) == 1:
                return (_on(usable[0]),)
            named = [n for n in usable if n.name == DEFAULT_NETWORK_NAME]
            if len(named) == 1:
                return (_on(named[0]),)
            raise InvalidArgument(
                f"{len(usable)} networks are usable and none is named {DEFAULT_NETWORK_NAME!r}: "
                "name the server's network (network_id or port_id)",
                {"field": "server.networks"},
            )
        out: list[Nic] = []
        seen_ports: set[str] = set()
        for i, nic in enumerate(requested):
            where = f"server.networks[{i}]"
            if bool(nic.network_id) == bool(nic.port_id):
                raise InvalidArgument(
                    f"{where}: give a network_id or a port_id (exactly one)", {"field": where}
                )
            if nic.port_id:
                if nic.fixed_ip:
                    raise InvalidArgument(
                        f"{where}: a fixed_ip goes with a network_id, not a port_id",
                        {"field": where},
                    )
                out.append(await self._users_port(bearer, nic.port_id, where))
                if nic.port_id in seen_ports:
                    raise InvalidArgument(
                        f"{where}: port {nic.port_id} is named twice", {"field": where}
                    )
                seen_ports.add(nic.port_id)
                continue
            if not ids.is_uuid(nic.network_id):
                raise NotFound(
                    f"network {nic.network_id} not found", {"network_id": nic.network_id}
                )
            if nic.fixed_ip:
                try:
                    ipaddress.ip_address(nic.fixed_ip)
                except ValueError:
                    raise InvalidArgument(
                        f"{where}: fixed_ip {nic.fixed_ip!r} is not an IP address",
                        {"field": where},
                    ) from None
            net = await self.network.get_network(nic.network_id, bearer)
            if nic.fixed_ip:
                await self.network.check_fixed_ip(net.id, nic.fixed_ip, bearer)
            out.append(_on(net, fixed_ip=nic.fixed_ip))
        return tuple(out)

    async def _users_port(self, bearer: str, port_id: str, where: str) -> Nic:
        if not ids.is_uuid(port_id):
            raise NotFound(f"port {port_id} not found", {"port_id": port_id})
        port = await self.network.get_port(port_id, bearer)
        if port.device_id:
            raise FailedPrecondition(
                f"{where}: port {port_id} is in use by server {port.device_id}",
                {"port_id": port_id, "device_id": port.device_id},
            )
        net = await self.network.get_network(port.network_id, bearer)
        return _on(net, port_id=port.id)

    # ------------------------------------------------------------------ lifecycle

    async def bind(self, server: m.Server, spec: SpawnSpec, host: str) -> Bound:
        """Make the server's ports (once) and bind them all to `host`."""
        specs: list[object] = []
        addresses: list[m.Address] = []
        vmware = server.hypervisor_type.upper() == "VMWARE"
        for i, nic in enumerate(spec.nics):
            if nic.removed:
                continue
            port_id = nic.port_id or nic.made_port_id
            if not port_id:
                made = await self.network.create_port(
                    server.project_id,
                    nic.network_id,
                    nic.fixed_ip,
                    server.id,
                    port_request_id(server.id, i),
                )
                port_id = made.id
            binding, addrs = await self.network.bind_port(port_id, host, vmware, server.id)
            specs.append(binding)
            addresses.extend(addrs)
        return Bound(tuple(specs), tuple(addresses))

    async def release_one(self, port_id: str, *, delete: bool) -> None:
        """Free one port the server no longer has: deleted when the api made it, else
        unbound (device cleared) and kept."""
        if delete:
            await self.network.delete_port(port_id)
        else:
            await self.network.unbind_port(port_id)
        log.info("server port freed", port_id=port_id, deleted=delete)

    async def release(self, server_id: str, user_ports: frozenset[str]) -> list[str]:
        """Free the server's ports: the ones the api made are deleted, the user's unbound
        (kept, free for another server). Returns the ids deleted."""
        deleted: list[str] = []
        for port in await self.network.ports_of(server_id):
            if port.id in user_ports:
                await self.network.unbind_port(port.id)
            else:
                await self.network.delete_port(port.id)
                deleted.append(port.id)
        # A user port the server never bound (its build failed before) has no device.
        log.info("server ports freed", server_id=server_id, deleted=deleted)
        return deleted
